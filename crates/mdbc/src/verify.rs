//! The verifier: function extents, register counts, and the static rules every instruction
//! must follow before the runtime may execute it.

use crate::isa::Instr;
use crate::module::{Constant, Module};
use crate::operand::{type_name, OperandRef};
use crate::LoadError;

/// Name under which the main program (the code before the first function) is reported.
pub const MAIN_NAME: &str = "<main>";

/// One executable body: the main program or a function.
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
    /// Register window size: highest register the body names, plus one.
    pub nregs: u16,
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
/// ids, jump targets inside the body (its end included: jumping there returns), phi shape (at
/// least one source, distinct block ids) and range assertions with `min <= max`.
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
                        if target < b.start as i64 || target > b.end as i64 {
                            problem = Some(format!(
                                "jump to instruction {target} leaves the body (instructions {}..{})",
                                b.start, b.end
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
                if let crate::operand::AssertKind::Range { min, max } = check.kind {
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

    let entry_body = m
        .functions
        .iter()
        .position(|f| f.name == "main")
        .map(|i| i + 1)
        .unwrap_or(0);
    Ok(Layout { bodies, entry_body })
}
