//! The verifier: function extents, register counts, and the static rules every instruction
//! must follow before the runtime may execute it.

use crate::isa::Instr;
use crate::module::{Constant, Module};
use crate::operand::{type_name, OperandRef};
use crate::LoadError;

/// Name under which the main program (the code before the first function) is reported.
pub const MAIN_NAME: &str = "<main>";

/// One executable body: the main program or a function.
///
/// The stream is laid out in **ranges**: the main program's instructions before the first
/// function entry, and each function's from its entry to the next larger entry (or the end).
/// A body's own range is `start..end`. Its code is every instruction reachable from `start`:
/// a jump may land in another function's range (the frontend emits such jumps) and execution
/// goes on there in the same frame; falling off the end of whichever range it is in, or jumping
/// to the end of the jumping instruction's own range (or to the end of the stream), returns
/// without a value. [`Body::holds`] tells whether a target is in the own range; `nregs` covers
/// every range the body reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    /// The function's name, or [`MAIN_NAME`].
    pub name: String,
    /// Index into [`Module::functions`], `None` for the main program.
    pub function: Option<usize>,
    /// First instruction index.
    pub start: u32,
    /// One past the last instruction index (falling off the end returns without a value).
    pub end: u32,
    /// Register window size: the highest register named in the body's own range or in any
    /// range it reaches by jumps, plus one.
    pub nregs: u16,
}

impl Body {
    /// True if jump target `t` stays in the body's own range (its end included: jumping there
    /// returns); any other target is an instruction of another range, or the stream's end.
    pub fn holds(&self, t: u32) -> bool {
        self.start <= t && t <= self.end
    }
}

/// The verified shape of a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `bodies[0]` is the main program; `bodies[i + 1]` is `module.functions[i]`.
    pub bodies: Vec<Body>,
    /// The body execution starts in: a function named `main` if the table has one, else the
    /// main program (body 0).
    pub entry_body: usize,
}

impl Layout {
    /// The body holding instruction `index` that starts latest (for error messages).
    pub fn body_at(&self, index: u32) -> Option<&Body> {
        self.bodies
            .iter()
            .filter(|b| b.start <= index && index < b.end)
            .max_by_key(|b| b.start)
    }
}

/// Verifies `m`: computes each body's extent and register count and checks, per instruction:
/// constant indices in range, string constants where a name or message is needed, valid type
/// ids, jump targets inside the stream (its end included: jumping there returns; see [`Body`]
/// for targets in another function's range), phi shape (at least one source, distinct block
/// ids) and range assertions with `min <= max`.
///
/// Errors: [`LoadError::Invalid`] naming the function, the instruction index and byte offset.
pub fn verify(m: &Module) -> Result<Layout, LoadError> {
    let n = m.code.len() as u32;
    let mut starts: Vec<u32> = m.functions.iter().map(|f| f.entry).collect();
    starts.sort_unstable();
    starts.dedup();
    let next_after = |s: u32| -> u32 { starts.iter().copied().find(|&e| e > s).unwrap_or(n) };

    let mut bodies = Vec::with_capacity(m.functions.len() + 1);
    bodies.push(Body {
        name: MAIN_NAME.to_string(),
        function: None,
        start: 0,
        end: starts.first().copied().unwrap_or(n),
        nregs: 0,
    });
    for (i, f) in m.functions.iter().enumerate() {
        bodies.push(Body {
            name: f.name.clone(),
            function: Some(i),
            start: f.entry,
            end: next_after(f.entry),
            nregs: 0,
        });
    }

    // Instructions are verified once, in the body that starts latest at or before them (bodies
    // with equal entries share code), and register counts are computed per body.
    for b in bodies.iter_mut() {
        let mut max_reg: i32 = -1;
        for idx in b.start..b.end {
            let ins = &m.code[idx as usize];
            let err = |what: String| LoadError::Invalid {
                function: b.name.clone(),
                index: idx,
                offset: m.byte_offset(idx),
                what,
            };
            let mut problem: Option<String> = None;
            ins.visit_operands(&mut |o| {
                if problem.is_some() {
                    return;
                }
                match o {
                    OperandRef::Def(r) | OperandRef::Use(r) | OperandRef::PhiSource { src: r, .. } => {
                        max_reg = max_reg.max(r as i32)
                    }
                    OperandRef::Const(k) => {
                        if k as usize >= m.constants.len() {
                            problem = Some(format!(
                                "constant index {k} out of range ({} constants)",
                                m.constants.len()
                            ));
                        }
                    }
                    OperandRef::Name(k) => match m.constants.get(k as usize) {
                        None => {
                            problem = Some(format!(
                                "constant index {k} out of range ({} constants)",
                                m.constants.len()
                            ))
                        }
                        Some(Constant::Str(_)) => {}
                        Some(c) => {
                            problem = Some(format!(
                                "constant {k} must be a string here, found tag {}",
                                c.tag()
                            ))
                        }
                    },
                    OperandRef::Type(t) => {
                        if type_name(t).is_none() {
                            problem = Some(format!("unknown type id {t}"));
                        }
                    }
                    OperandRef::Jump(off) => {
                        let target = crate::operand::jump_target(idx, off);
                        if target < 0 || target > n as i64 {
                            problem = Some(format!(
                                "jump to instruction {target} leaves the code (instructions 0..{n})"
                            ));
                        }
                    }
                    OperandRef::AssertKind(_)
                    | OperandRef::Bound(_)
                    | OperandRef::Scope(_) => {}
                }
            });
            if let Instr::PhiR { sources, .. } = ins {
                if sources.0.is_empty() {
                    problem.get_or_insert_with(|| "phi without sources".to_string());
                }
                for (i, (_, blk)) in sources.0.iter().enumerate() {
                    if sources.0[..i].iter().any(|(_, b2)| b2 == blk) {
                        problem.get_or_insert_with(|| format!("phi names block {blk} twice"));
                    }
                }
            }
            if let Instr::AssertR { check, .. } = ins {
                if let crate::operand::AssertKind::Range { min, max } = *check.kind {
                    if min > max {
                        problem.get_or_insert_with(|| format!("range assertion with min {min} > max {max}"));
                    }
                }
            }
            if let Some(p) = problem {
                return Err(err(p));
            }
        }
        b.nregs = (max_reg + 1) as u16;
    }

    // Registers of the ranges each body reaches through jumps into other ranges.
    let ranges: Vec<(u32, u32, u16)> = {
        let mut seen = std::collections::BTreeMap::new();
        for b in &bodies {
            if b.start < b.end {
                seen.entry(b.start).or_insert((b.end, b.nregs));
            }
        }
        seen.into_iter().map(|(s, (e, r))| (s, e, r)).collect()
    };
    // Ranges are sorted by start and do not overlap.
    let range_of = |t: u32| {
        let i = ranges.partition_point(|&(s, _, _)| s <= t).checked_sub(1)?;
        (t < ranges[i].1).then_some(i)
    };
    for b in bodies.iter_mut() {
        let Some(own) = range_of(b.start) else { continue };
        let mut reached = vec![own];
        let mut i = 0;
        while i < reached.len() {
            let (s, e, _) = ranges[reached[i]];
            for idx in s..e {
                let Some(t) = m.code[idx as usize].jump_target(idx) else { continue };
                if s <= t && t <= e {
                    continue;
                }
                if let Some(r) = range_of(t) {
                    if !reached.contains(&r) {
                        reached.push(r);
                    }
                }
            }
            i += 1;
        }
        b.nregs = reached.iter().map(|&r| ranges[r].2).max().unwrap_or(b.nregs).max(b.nregs);
    }

    let entry_body = m
        .functions
        .iter()
        .position(|f| f.name == "main")
        .map(|i| i + 1)
        .unwrap_or(0);
    Ok(Layout { bodies, entry_body })
}
