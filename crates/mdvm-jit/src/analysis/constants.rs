//! Registers that only ever hold one constant.

use mdbc::cfg::RegSet;
use mdbc::{Constant, Instr, Module};

/// For each register ([`mdbc::operand::REGISTERS`]) of the body `start..end`: the index of the
/// constant it always holds once defined, when every instruction that writes it loads an equal
/// int, float (not NaN), bool or string constant (the first such load's index), and it is not
/// live at the body's start (`entry_live`), so no parameter or earlier value reaches a read.
/// `DEFINE_R` writes nothing. A register written only by such loads is that constant wherever
/// it is live: compiled code uses the value, not the load (and knows a callee name held since
/// before a loop it enters by OSR).
pub(crate) fn single_constants(m: &Module, start: u32, end: u32, entry_live: RegSet) -> Vec<Option<u16>> {
    let mut out: Vec<Option<Option<u16>>> = vec![None; mdbc::operand::REGISTERS];
    for ins in &m.code[start as usize..end as usize] {
        if matches!(ins, Instr::DefineR { .. }) {
            continue;
        }
        let Some(r) = ins.def() else { continue };
        let this = match ins {
            Instr::LoadConstR { k, .. } => match &m.constants[k.0 as usize] {
                Constant::Int(_) | Constant::Bool(_) | Constant::Str(_) => Some(k.0),
                Constant::Float(f) if !f.is_nan() => Some(k.0),
                _ => None,
            },
            _ => None,
        };
        let slot = &mut out[r as usize];
        *slot = match (slot.take(), this) {
            (None, t) => Some(t),
            (Some(Some(a)), Some(b)) if m.constants[a as usize] == m.constants[b as usize] => Some(Some(a)),
            _ => Some(None),
        };
    }
    out.into_iter().enumerate().map(|(r, c)| c.flatten().filter(|_| !entry_live.contains(r as u8))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdbc::asm::assemble;
    use mdbc::verify;

    fn constants_of(src: &str) -> Vec<Option<Constant>> {
        let m = assemble(src).unwrap_or_else(|e| panic!("{e}"));
        let layout = verify(&m).unwrap();
        let b = &layout.bodies[0];
        let cfg = mdbc::cfg::Cfg::build(&m, b);
        let live = cfg.live_out(&m);
        let entry_live = cfg.live_in_at(&m, &live, b.start);
        single_constants(&m, b.start, b.end, entry_live).into_iter().map(|k| k.map(|k| m.constants[k as usize].clone())).collect()
    }

    #[test]
    fn a_register_loaded_with_one_constant_everywhere_is_that_constant() {
        let c = constants_of(
            ".module t
                LOAD_CONST_R r0, int 7
                LOAD_CONST_R r1, float 2.5
                LOAD_CONST_R r2, bool true
                LOAD_CONST_R r0, int 7
                LOAD_CONST_R r3, int 1
                LOAD_CONST_R r3, int 2
                LOAD_CONST_R r4, int 1
                ADD_R r4, r4, r0
                LOAD_CONST_R r5, str \"s\"
                LOAD_CONST_R r5, str \"s\"
                LOAD_CONST_R r8, str \"s\"
                LOAD_CONST_R r8, str \"t\"
                DEFINE_R r0, int
                LOAD_CONST_R r6, float 0.0
                LOAD_CONST_R r6, float -0.0
                DEBUG_PRINT r4
                RETURN_R",
        );
        assert_eq!(c[0], Some(Constant::Int(7)), "loaded twice with 7; DEFINE_R writes nothing");
        assert_eq!(c[1], Some(Constant::Float(2.5)));
        assert_eq!(c[2], Some(Constant::Bool(true)));
        assert_eq!(c[3], None, "two different constants");
        assert_eq!(c[4], None, "also written by an addition");
        assert_eq!(c[5], Some(Constant::Str("s".into())), "loaded twice with equal strings");
        assert_eq!(c[8], None, "two different strings");
        assert_eq!(c[6], None, "0.0 and -0.0 are different constants");
        assert_eq!(c[7], None, "never written");
    }

    #[test]
    fn a_parameter_is_never_a_constant() {
        // r0 is read before the body writes it: whatever the caller passed reaches the read.
        let c = constants_of(
            ".module t
                DEBUG_PRINT r0
                LOAD_CONST_R r0, int 1
                DEBUG_PRINT r0
                RETURN_R",
        );
        assert_eq!(c[0], None);
    }
}
