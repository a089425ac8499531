//! Disassembler: a module as `.mdasm` text that [`crate::assemble`] turns back into the same
//! bytes.
//!
//! The output reads like the corpus' hand-written assembly: `.module`, a `.func` directive
//! before each function's first instruction (functions sorted by entry), generated labels
//! `L<index>:` only on instructions that are jump targets or phi block ids, jumps written as
//! labels, constants inline (`int 5`, `str "a\n"`), and the instruction index as a trailing
//! `; N` comment. The directives that exist only for exact round trips (`.const`, `kN`,
//! `.count`, `.flags`, `.version`, `.stored`, `.order`; see [`crate::asm`]) appear only when
//! the module needs them:
//!
//! * `.const` lines when the constant pool is not what interning the inline constants in
//!   first-use order would give (duplicates, unused entries, another order), and `kN` where an
//!   inline constant would resolve to another index (or the index is out of range);
//! * `.count` when the header's instruction count is not the real count (the frontend
//!   serializer's miscount);
//! * `.stored` when a stored function entry is not what [`crate::Module::build`] computes;
//! * `.order` when the function table is not sorted by entry;
//! * raw `+N`/`-N` jump offsets and `@N` block ids only when the target is outside the code.

use std::collections::HashMap;
use std::fmt::Write;

use crate::asm::ConstKey;
use crate::module::{Constant, Module};
use crate::operand::{type_name, OperandRef};
use crate::repair::EntryMap;

/// Column of the trailing `; index` comment.
const COMMENT_COLUMN: usize = 48;

/// Disassembles a module to `.mdasm` text.
///
/// For every module `m` decoded from a file, `assemble(&disassemble(&m))` succeeds and encodes
/// to `m.encode()` byte for byte. (A hand-built module with a function entry past the end of
/// the code, a pool larger than 65536 entries, or a function name used twice cannot be written
/// back exactly; the decoder never produces such modules.)
pub fn disassemble(m: &Module) -> String {
    let n = m.code.len();

    // Labels: in-range jump targets and phi block ids (the end of the code included).
    let mut labelled = vec![false; n + 1];
    let mut uses: Vec<u16> = Vec::new();
    for (i, ins) in m.code.iter().enumerate() {
        ins.visit_operands(&mut |o| match o {
            OperandRef::Jump(off) => {
                if let Some(t) = jump_target(i, off, n) {
                    labelled[t] = true;
                }
            }
            OperandRef::PhiSource { block, .. } if (block as usize) <= n => {
                labelled[block as usize] = true;
            }
            OperandRef::Const(k) | OperandRef::Name(k) => uses.push(k),
            _ => {}
        });
    }

    let plan = plan_constants(&m.constants, &uses);
    let funcs = plan_functions(m);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "; {} instructions, {} constants, {} functions",
        n,
        m.constants.len(),
        m.functions.len()
    );
    let _ = writeln!(out, ".module {}", name_text(&m.name));
    if m.version != 1 {
        let _ = writeln!(out, ".version {}", m.version);
    }
    if m.flags != 1 {
        let _ = writeln!(out, ".flags {}", m.flags);
    }
    if m.header_count as usize != n {
        let _ = writeln!(out, ".count {}    ; the real count is {n}", m.header_count);
    }
    if let Some(order) = &funcs.order {
        let list: Vec<String> = order.iter().map(|i| i.to_string()).collect();
        let _ = writeln!(out, ".order {}", list.join(" "));
    }
    for (k, c) in m.constants[..plan.preload].iter().enumerate() {
        let _ = writeln!(out, ".const {}    ; k{k}", const_text(c));
    }

    let mut next_use = 0usize;
    let mut f_iter = funcs.sorted.iter().peekable();
    for (i, &has_label) in labelled.iter().enumerate() {
        while let Some(&&(fi, pos)) = f_iter.peek() {
            if pos != i {
                break;
            }
            f_iter.next();
            let f = &m.functions[fi];
            let _ = writeln!(out, "\n.func {}", name_text(&f.name));
            if funcs.forced[fi] {
                let _ = writeln!(out, ".stored {}", f.stored_entry);
            }
        }
        let label = if has_label { format!("L{i}:") } else { String::new() };
        let Some(ins) = m.code.get(i) else {
            if !label.is_empty() {
                let _ = writeln!(out, "{label}");
            }
            break;
        };
        let mut line = String::new();
        if label.len() >= 8 {
            let _ = writeln!(out, "{label}");
            line.push_str("        ");
        } else {
            let _ = write!(line, "{label:<8}");
        }
        line.push_str(ins.opcode().mnemonic());
        let mut first = true;
        ins.visit_operands(&mut |o| {
            line.push_str(if first { " " } else { ", " });
            first = false;
            match o {
                OperandRef::Def(r) | OperandRef::Use(r) => {
                    let _ = write!(line, "r{r}");
                }
                OperandRef::Const(k) | OperandRef::Name(k) => {
                    let inline = plan.inline.get(next_use).copied().unwrap_or(false);
                    next_use += 1;
                    match m.constants.get(k as usize) {
                        Some(c) if inline => line.push_str(&const_text(c)),
                        _ => {
                            let _ = write!(line, "k{k}");
                        }
                    }
                }
                OperandRef::Type(t) => match type_name(t) {
                    Some(name) => line.push_str(name),
                    None => {
                        let _ = write!(line, "{t}");
                    }
                },
                OperandRef::Jump(off) => match jump_target(i, off, n) {
                    Some(t) => {
                        let _ = write!(line, "L{t}");
                    }
                    None => {
                        let _ = write!(line, "{off:+}");
                    }
                },
                OperandRef::PhiSource { src, block } => {
                    if (block as usize) <= n {
                        let _ = write!(line, "r{src}@L{block}");
                    } else {
                        let _ = write!(line, "r{src}@{block}");
                    }
                }
                OperandRef::AssertKind(k) => {
                    let _ = write!(line, "{k}");
                }
                OperandRef::Bound(v) => {
                    let _ = write!(line, "{v}");
                }
                OperandRef::Scope(s) => {
                    let _ = write!(line, "{s}");
                }
            }
        });
        let width = line.chars().count();
        let pad = COMMENT_COLUMN.saturating_sub(width).max(1);
        let _ = writeln!(out, "{line}{:pad$}; {i}", "");
    }
    out
}

/// The absolute target of a jump at `i` with offset `off`, if it lies in `0..=n`.
fn jump_target(i: usize, off: i32, n: usize) -> Option<usize> {
    let t = crate::operand::jump_target(i as u32, off);
    (0..=n as i64).contains(&t).then_some(t as usize)
}

/// How the constant pool is written: `.const` lines for `pool[..preload]`, and for each
/// constant operand (in order) whether it is written inline or as `kN`.
struct ConstPlan {
    preload: usize,
    inline: Vec<bool>,
}

/// Chooses the shortest `.const` prefix (within a few tries) such that the assembler's
/// interning, starting from that prefix, rebuilds exactly `pool`.
fn plan_constants(pool: &[Constant], uses: &[u16]) -> ConstPlan {
    // first[k]: the first index holding a constant equal to pool[k].
    let mut seen: HashMap<ConstKey, usize> = HashMap::new();
    let first: Vec<usize> =
        pool.iter().enumerate().map(|(k, c)| *seen.entry(ConstKey::of(c)).or_insert(k)).collect();

    // The assembler's pool is always a prefix of `pool` here: an inline constant is written only
    // where interning resolves it to its own index, which appends exactly pool[len].
    let simulate = |preload: usize| -> (usize, Vec<bool>) {
        let mut len = preload;
        let mut inline = Vec::with_capacity(uses.len());
        for &k in uses {
            let k = k as usize;
            let ok = match first.get(k) {
                None => false,
                Some(&f) if f < len => f == k,
                Some(_) if k == len => {
                    len += 1;
                    true
                }
                Some(_) => false,
            };
            inline.push(ok);
        }
        (len, inline)
    };

    let mut preload = 0;
    for _ in 0..8 {
        let (len, inline) = simulate(preload);
        if len == pool.len() {
            return ConstPlan { preload, inline };
        }
        preload = len + 1;
    }
    // A full preload always works: every inline constant then resolves to its first index.
    let (_, inline) = simulate(pool.len());
    ConstPlan { preload: pool.len(), inline }
}

/// Where the `.func` directives go and which need `.stored` or a table `.order`.
struct FuncPlan {
    /// (function index, position of its `.func` directive), in text order.
    sorted: Vec<(usize, usize)>,
    /// `forced[i]`: function `i` needs a `.stored` override.
    forced: Vec<bool>,
    /// `.order` permutation, when the table is not in text order.
    order: Option<Vec<usize>>,
}

fn plan_functions(m: &Module) -> FuncPlan {
    let n = m.code.len();
    let mut sorted: Vec<(usize, usize)> =
        m.functions.iter().enumerate().map(|(i, f)| (i, (f.entry as usize).min(n))).collect();
    sorted.sort_by_key(|&(i, pos)| (pos, i));

    let mut decl_of = vec![0usize; m.functions.len()];
    for (d, &(i, _)) in sorted.iter().enumerate() {
        decl_of[i] = d;
    }
    let order = if decl_of.iter().enumerate().all(|(i, &d)| i == d) { None } else { Some(decl_of) };

    // What the assembler computes without `.stored` (see `Module::build`).
    let mut bytes = Vec::new();
    let mut rel = Vec::with_capacity(n + 1);
    for ins in &m.code {
        rel.push(bytes.len() as u32);
        ins.encode(&mut bytes);
    }
    rel.push(bytes.len() as u32);
    let map = EntryMap::new(&bytes, &rel, 0);
    let forced = m
        .functions
        .iter()
        .map(|f| {
            let e = f.entry as usize;
            if e > n {
                return true;
            }
            let stored = map.counts[e];
            map.real_index(stored) != Some(f.entry) || stored != f.stored_entry
        })
        .collect();
    FuncPlan { sorted, forced, order }
}

/// A `.module`/`.func` name: as is when the assembler reads it back unchanged, else quoted.
fn name_text(name: &str) -> String {
    let plain = !name.is_empty()
        && name.trim() == name
        && !name.chars().any(|c| matches!(c, ';' | '#' | '"' | '\\') || c.is_control());
    if plain {
        name.to_string()
    } else {
        quote(name)
    }
}

/// An inline constant as the assembler reads it.
pub(crate) fn const_text(c: &Constant) -> String {
    match c {
        Constant::Int(v) => format!("int {v}"),
        Constant::Float(v) => format!("float {}", float_text(*v)),
        Constant::Str(s) => format!("str {}", quote(s)),
        Constant::Bool(b) => format!("bool {b}"),
        Constant::Empty => "empty".to_string(),
    }
}

/// A float that parses back to the same bits: Rust's shortest round-trip form (`2.5`, `1e20`,
/// `-0.0`, `inf`), `nan` for the canonical NaN, and raw bits (`0x7ff8000000000001`) for other
/// NaNs.
fn float_text(v: f64) -> String {
    if v.is_nan() {
        if v.to_bits() == f64::NAN.to_bits() {
            "nan".to_string()
        } else {
            format!("0x{:016x}", v.to_bits())
        }
    } else {
        format!("{v:?}")
    }
}

/// A string literal with the assembler's escapes.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() || c == '\u{feff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
