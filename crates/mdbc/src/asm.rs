//! Text assembler for `.mdasm`, the assembly language of the corpus' hand-written cases.
//!
//! # Syntax
//!
//! One statement per line; `;` or `#` outside a string literal starts a comment.
//!
//! ```text
//! .module NAME                      module name (default `main`)
//! .func NAME                        a function starts at the next instruction
//! label:                            names the next instruction (may share a line with it)
//! LOAD_CONST_R r0, int 5            inline constants: int -5, float 2.5, float inf, float nan,
//!                                   float 0x3ff0000000000000 (raw bits), str "a\"b\n\u{20ac}",
//!                                   bool true, empty; or a raw pool index k7
//! ADD_R r2, r0, r1                  registers r0..r255
//! JUMP_IF_NOT_R r3, done            jump targets: a label or a raw offset (+N / -N)
//! CALL_R r5, r6, r0, r1             callee register, destination register, arguments
//! RETURN_R r2                       or RETURN_R without a register
//! PHI_R r4, r0@pre, r6@latch        phi sources: register @ label (or @N, a raw block id)
//! CAST_R r1, r0, float              type ids by name (empty bool int float string function
//!                                   url array dict unknown) or number
//! ASSERT_R r3, 0, str "message"     kind 0 (truthy) or 1 (non-empty)
//! ASSERT_R r3, 2, str "msg", -5, 10 kind 2: range [min, max]
//! SCOPE_ENTER_R 3                   scope ids are plain numbers
//! ```
//!
//! Mnemonics are those of [`crate::isa`] (matched case-insensitively); the operands of each are
//! parsed by the instruction table itself ([`Instr::parse_operands`]) through this module's
//! [`OperandSource`]. Code before the first `.func` is the main program. A `.module` or `.func`
//! name is the rest of the line, trimmed, or a string literal (`.func "a;b"`) when it starts
//! with `"`.
//!
//! Inline constants are interned: an operand reuses the first equal pool entry (floats compare
//! by bits) or appends a new one, in the order the operands appear in the text.
//!
//! # Directives for exact round trips
//!
//! The disassembler ([`crate::disassemble`]) needs a few more directives to reproduce any
//! decoded file byte for byte; they are rarely useful by hand:
//!
//! * `.const CONSTANT` appends a pool entry, even one equal to an existing entry;
//! * `kN` as a constant operand names pool index `N` directly (not range-checked here: the
//!   verifier does that when the module is loaded);
//! * `.count N` forces the header's instruction count (default: the real count);
//! * `.flags N` and `.version N` force the header fields (default 1);
//! * `.stored N` forces the stored function-table entry of the last `.func` (default: the
//!   frontend serializer's count of the code before the function, see [`Module::build`]);
//! * `.order I0 I1 ...` lists the function table in another order than the `.func` directives:
//!   table position `p` holds the function of the `Ip`-th `.func` (0-based).

use std::collections::HashMap;

use thiserror::Error;

use crate::isa::{Instr, Opcode};
use crate::module::{Constant, Module};
use crate::operand::{type_from_name, OperandSource};
use crate::repair::EntryMap;

/// An assembly error: what was wrong and on which line.
///
/// Every malformed input gives one of these (the assembler never panics): an unknown
/// mnemonic or directive, a bad register, constant, type or label, an undefined or duplicate
/// label, too few or too many operands, a number out of range, an unterminated string, a
/// function entry the serializer convention cannot write, a full constant pool, ...
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct AsmError {
    /// 1-based line number (the last line for errors about the whole module).
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, AsmError> {
    Err(AsmError { line, message: message.into() })
}

/// Module name used when the text has no `.module` directive.
pub const DEFAULT_MODULE_NAME: &str = "main";

/// Assembles `.mdasm` text (syntax in the [module documentation](self)) into a module.
///
/// The result has the canonical layout [`Module::encode`] writes: the header count is the real
/// instruction count and each stored function entry is the frontend serializer's count (as
/// [`Module::build`] computes it) unless a `.count` or `.stored` directive says otherwise.
/// The module is not verified; see [`crate::verify`].
///
/// Errors: the first [`AsmError`] found, with its 1-based line number.
pub fn assemble(src: &str) -> Result<Module, AsmError> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let lines = split_lines(src);
    let last_line = lines.last().map_or(1, |l| l.line);

    // Pass 1: labels. A label names the index of the next instruction.
    let mut labels: HashMap<&str, (u32, usize)> = HashMap::new();
    let mut count: u64 = 0;
    for l in &lines {
        for &name in &l.labels {
            if let Some(&(_, first)) = labels.get(name) {
                return err(l.line, format!("duplicate label `{name}` (first defined on line {first})"));
            }
            labels.insert(name, (count.min(u32::MAX as u64) as u32, l.line));
        }
        if let Body::Instr(_) = l.body {
            count += 1;
        }
    }
    if count > u32::MAX as u64 {
        return err(last_line, "more than 4294967295 instructions");
    }

    // Pass 2: directives and instructions.
    let mut st = State {
        name: None,
        pool: Pool::default(),
        functions: Vec::new(),
        code: Vec::with_capacity(count as usize),
        count: None,
        flags: None,
        version: None,
        order: None,
    };
    for l in &lines {
        match l.body {
            Body::None => {}
            Body::Directive(d) => st.directive(l.line, d)?,
            Body::Instr(text) => {
                let index = st.code.len() as u32;
                let instr = parse_instr(text, index, &labels, &mut st.pool).or_else(|m| err(l.line, m))?;
                st.code.push(instr);
            }
        }
    }
    st.finish(last_line)
}

/// A function declared by `.func`.
struct FuncDecl {
    name: String,
    entry: u32,
    stored: Option<u32>,
    line: usize,
}

/// Everything pass 2 collects.
struct State {
    name: Option<String>,
    pool: Pool,
    functions: Vec<FuncDecl>,
    code: Vec<Instr>,
    count: Option<u32>,
    flags: Option<u32>,
    version: Option<u32>,
    order: Option<(Vec<usize>, usize)>,
}

impl State {
    fn directive(&mut self, line: usize, text: &str) -> Result<(), AsmError> {
        let (word, rest) = split_word(text);
        let rest = rest.trim();
        match word {
            ".module" => {
                if self.name.is_some() {
                    return err(line, "a second .module directive");
                }
                self.name = Some(parse_name(rest).or_else(|m| err(line, format!(".module: {m}")))?);
            }
            ".func" => {
                let name = parse_name(rest).or_else(|m| err(line, format!(".func: {m}")))?;
                if let Some(f) = self.functions.iter().find(|f| f.name == name) {
                    return err(line, format!("function `{name}` is already declared on line {}", f.line));
                }
                let entry = self.code.len() as u32;
                self.functions.push(FuncDecl { name, entry, stored: None, line });
            }
            ".stored" => {
                let v = parse_u32(rest).or_else(|m| err(line, format!(".stored: {m}")))?;
                match self.functions.last_mut() {
                    Some(f) if f.stored.is_none() => f.stored = Some(v),
                    Some(f) => {
                        return err(line, format!("function `{}` already has a .stored entry", f.name))
                    }
                    None => return err(line, ".stored before any .func"),
                }
            }
            ".const" => {
                let c = parse_constant(rest).or_else(|m| err(line, format!(".const: {m}")))?;
                self.pool.push(c).or_else(|m| err(line, m))?;
            }
            ".count" => set_once(&mut self.count, line, ".count", rest)?,
            ".flags" => set_once(&mut self.flags, line, ".flags", rest)?,
            ".version" => set_once(&mut self.version, line, ".version", rest)?,
            ".order" => {
                if self.order.is_some() {
                    return err(line, "a second .order directive");
                }
                let mut v = Vec::new();
                for w in rest.split_whitespace() {
                    let i = parse_u32(w).or_else(|m| err(line, format!(".order: {m}")))?;
                    v.push(i as usize);
                }
                self.order = Some((v, line));
            }
            _ => {
                return err(
                    line,
                    format!(
                        "unknown directive `{word}` (expected .module, .func, .const, .count, .flags, \
                         .version, .stored or .order)"
                    ),
                )
            }
        }
        Ok(())
    }

    fn finish(self, last_line: usize) -> Result<Module, AsmError> {
        let State { name, pool, functions, code, count, flags, version, order } = self;

        // Function table order.
        let functions: Vec<FuncDecl> = match order {
            None => functions,
            Some((perm, line)) => {
                let n = functions.len();
                let mut seen = vec![false; n];
                for &i in &perm {
                    if i >= n || seen[i] {
                        return err(
                            line,
                            format!(".order must list each of 0..{n} exactly once (the .func directives in text order)"),
                        );
                    }
                    seen[i] = true;
                }
                if perm.len() != n {
                    return err(line, format!(".order lists {} functions, but {n} are declared", perm.len()));
                }
                let mut slots: Vec<Option<FuncDecl>> = functions.into_iter().map(Some).collect();
                perm.iter().filter_map(|&i| slots[i].take()).collect()
            }
        };

        // A function without `.stored` must be representable in the serializer's count.
        let mut rel = Vec::with_capacity(code.len() + 1);
        let mut bytes = Vec::new();
        for i in &code {
            rel.push(bytes.len() as u32);
            i.encode(&mut bytes);
        }
        rel.push(bytes.len() as u32);
        let map = EntryMap::new(&bytes, &rel, 0);
        for f in functions.iter().filter(|f| f.stored.is_none()) {
            let stored = map.counts[f.entry as usize];
            if map.real_index(stored) != Some(f.entry) {
                return err(
                    f.line,
                    format!(
                        "the entry of function `{}` (instruction {}) cannot be written in the frontend's \
                         instruction count: an earlier instruction has the same count {stored}; insert a \
                         NOP before the function or give its entry with .stored",
                        f.name, f.entry
                    ),
                );
            }
        }

        // Forced entries are built as 0 (always representable), then overwritten.
        let parts = functions
            .iter()
            .map(|f| (f.name.clone(), if f.stored.is_some() { 0 } else { f.entry }))
            .collect();
        let name = name.unwrap_or_else(|| DEFAULT_MODULE_NAME.to_string());
        let mut m = Module::build(name, pool.constants, parts, code).or_else(|e| err(last_line, e))?;
        for (mf, f) in m.functions.iter_mut().zip(&functions) {
            if let Some(s) = f.stored {
                mf.entry = f.entry;
                mf.stored_entry = s;
            }
        }
        if let Some(c) = count {
            m.header_count = c;
        }
        if let Some(f) = flags {
            m.flags = f;
        }
        if let Some(v) = version {
            m.version = v;
        }
        Ok(m)
    }
}

fn set_once(slot: &mut Option<u32>, line: usize, what: &str, rest: &str) -> Result<(), AsmError> {
    if slot.is_some() {
        return err(line, format!("a second {what} directive"));
    }
    *slot = Some(parse_u32(rest).or_else(|m| err(line, format!("{what}: {m}")))?);
    Ok(())
}

/// What a line holds after its labels.
enum Body<'a> {
    None,
    Directive(&'a str),
    Instr(&'a str),
}

/// A source line: its labels and its statement, comment removed.
struct Line<'a> {
    line: usize,
    labels: Vec<&'a str>,
    body: Body<'a>,
}

fn split_lines(src: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let line = i + 1;
        let mut text = strip_comment(raw).trim();
        let mut labels = Vec::new();
        while let Some((label, rest)) = take_label(text) {
            labels.push(label);
            text = rest.trim_start();
        }
        let body = if text.is_empty() {
            Body::None
        } else if text.starts_with('.') {
            Body::Directive(text)
        } else {
            Body::Instr(text)
        };
        out.push(Line { line, labels, body });
    }
    out
}

/// Removes a `;` or `#` comment (outside string literals).
fn strip_comment(s: &str) -> &str {
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if c == ';' || c == '#' {
            return &s[..i];
        }
    }
    s
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// `label:` at the start of `s`: the label and the rest after the colon.
fn take_label(s: &str) -> Option<(&str, &str)> {
    if !s.starts_with(is_ident_start) {
        return None;
    }
    let end = s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
    let rest = s[end..].trim_start();
    rest.strip_prefix(':').map(|r| (&s[..end], r))
}

fn is_label(s: &str) -> bool {
    s.starts_with(is_ident_start) && s.chars().all(is_ident_char)
}

/// The first whitespace-separated word and the rest.
fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// A `.module`/`.func` name: a string literal, or the (already trimmed) text.
fn parse_name(s: &str) -> Result<String, String> {
    if s.starts_with('"') {
        let (v, rest) = parse_string_literal(s)?;
        if !rest.trim().is_empty() {
            return Err(format!("unexpected text `{}` after the quoted name", rest.trim()));
        }
        Ok(v)
    } else if s.is_empty() {
        Err("missing name (write \"\" for an empty name)".into())
    } else {
        Ok(s.to_string())
    }
}

/// Splits operands at commas outside string literals.
fn split_operands(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_str = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if c == ',' {
            out.push(s[start..i].trim());
            start = i + 1;
        }
    }
    out.push(s[start..].trim());
    out
}

/// Parses one instruction line (labels and comment already removed).
fn parse_instr(
    text: &str,
    index: u32,
    labels: &HashMap<&str, (u32, usize)>,
    pool: &mut Pool,
) -> Result<Instr, String> {
    let (mnemonic, rest) = split_word(text);
    let op = Opcode::from_mnemonic(&mnemonic.to_ascii_uppercase())
        .ok_or_else(|| format!("unknown mnemonic `{mnemonic}`"))?;
    let rest = rest.trim();
    let ops = if rest.is_empty() { Vec::new() } else { split_operands(rest) };
    if let Some(i) = ops.iter().position(|o| o.is_empty()) {
        return Err(format!("{}: operand {} is empty (stray comma?)", op.mnemonic(), i + 1));
    }
    let mut src = Operands { ops, pos: 0, op, index, labels, pool };
    let instr = Instr::parse_operands(op, &mut src)?;
    if src.pos < src.ops.len() {
        return Err(format!(
            "too many operands for {}: found {}, expected `{}`",
            op.mnemonic(),
            src.ops.len(),
            usage(op)
        ));
    }
    Ok(instr)
}

/// The operand shape of `op`, e.g. `ADD_R dst, a, b`.
pub(crate) fn usage(op: Opcode) -> String {
    let parts: Vec<&str> = op
        .operand_names()
        .iter()
        .map(|n| match *n {
            "args" => "args...",
            "sources" => "src@block...",
            "check" => "kind, str msg[, min, max]",
            "value" => "[src]",
            other => other,
        })
        .collect();
    if parts.is_empty() {
        op.mnemonic().to_string()
    } else {
        format!("{} {}", op.mnemonic(), parts.join(", "))
    }
}

/// The operands of one instruction, consumed left to right by [`Instr::parse_operands`].
struct Operands<'a, 'p> {
    ops: Vec<&'a str>,
    pos: usize,
    op: Opcode,
    index: u32,
    labels: &'p HashMap<&'p str, (u32, usize)>,
    pool: &'p mut Pool,
}

impl<'a> Operands<'a, '_> {
    /// The next operand and its 1-based position.
    fn next(&mut self, what: &str) -> Result<(usize, &'a str), String> {
        match self.ops.get(self.pos) {
            Some(&s) => {
                self.pos += 1;
                Ok((self.pos, s))
            }
            None => Err(format!(
                "too few operands for {}: missing {what} (operand {}), expected `{}`",
                self.op.mnemonic(),
                self.pos + 1,
                usage(self.op)
            )),
        }
    }

    fn ctx(&self, n: usize, msg: String) -> String {
        format!("{} operand {n}: {msg}", self.op.mnemonic())
    }
}

impl OperandSource for Operands<'_, '_> {
    fn reg(&mut self) -> Result<u8, String> {
        let (n, s) = self.next("a register")?;
        parse_reg(s).map_err(|m| self.ctx(n, m))
    }

    fn constant(&mut self) -> Result<u16, String> {
        let (n, s) = self.next("a constant")?;
        if let Some(k) = s.strip_prefix('k') {
            if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) {
                return match k.parse::<u16>() {
                    Ok(v) => Ok(v),
                    Err(_) => Err(self.ctx(n, format!("constant index `{s}` out of range (k0..k65535)"))),
                };
            }
        }
        let c = parse_constant(s).map_err(|m| self.ctx(n, m))?;
        self.pool.intern(c).map_err(|m| self.ctx(n, m))
    }

    fn type_id(&mut self) -> Result<u16, String> {
        let (n, s) = self.next("a type")?;
        if let Some(t) = type_from_name(s) {
            return Ok(t);
        }
        if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
            return s
                .parse::<u16>()
                .map_err(|_| self.ctx(n, format!("type id `{s}` out of range (0..65535)")));
        }
        Err(self.ctx(
            n,
            format!(
                "expected a type (empty, bool, int, float, string, function, url, array, dict, unknown \
                 or a number), found `{s}`"
            ),
        ))
    }

    fn jump(&mut self) -> Result<i32, String> {
        let (n, s) = self.next("a jump target")?;
        if s.starts_with(['+', '-']) {
            return parse_int(s)
                .ok()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| self.ctx(n, format!("bad jump offset `{s}` (expected +N or -N within i32)")));
        }
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(self.ctx(n, format!("raw jump offset `{s}` needs a sign (+{s} or -{s})")));
        }
        if !is_label(s) {
            return Err(self.ctx(n, format!("expected a label or a +N/-N offset, found `{s}`")));
        }
        let &(target, _) = self.labels.get(s).ok_or_else(|| self.ctx(n, format!("undefined label `{s}`")))?;
        let off = crate::operand::jump_offset(self.index, target);
        i32::try_from(off).map_err(|_| self.ctx(n, format!("jump to `{s}` is too far ({off} instructions)")))
    }

    fn phi_source(&mut self) -> Result<(u8, u16), String> {
        let (n, s) = self.next("a phi source")?;
        let (r, b) = s
            .split_once('@')
            .ok_or_else(|| self.ctx(n, format!("expected a phi source `rN@label`, found `{s}`")))?;
        let reg = parse_reg(r.trim()).map_err(|m| self.ctx(n, m))?;
        let b = b.trim();
        let block = if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) {
            b.parse::<u16>().map_err(|_| self.ctx(n, format!("block id `{b}` out of range (0..65535)")))?
        } else if is_label(b) {
            let &(target, _) =
                self.labels.get(b).ok_or_else(|| self.ctx(n, format!("undefined label `{b}`")))?;
            u16::try_from(target).map_err(|_| {
                self.ctx(n, format!("label `{b}` is instruction {target}, beyond the u16 block ids"))
            })?
        } else {
            return Err(self.ctx(n, format!("expected a label or block number after `@`, found `{b}`")));
        };
        Ok((reg, block))
    }

    fn uint(&mut self, max: u64) -> Result<u64, String> {
        let (n, s) = self.next("a number")?;
        match parse_int(s) {
            Ok(v) if v >= 0 && (v as u64) <= max => Ok(v as u64),
            Ok(_) => Err(self.ctx(n, format!("`{s}` out of range (0..{max})"))),
            Err(m) => Err(self.ctx(n, m)),
        }
    }

    fn int(&mut self) -> Result<i64, String> {
        let (n, s) = self.next("an integer")?;
        parse_int(s).map_err(|m| self.ctx(n, m))
    }

    fn has_more(&mut self) -> bool {
        self.pos < self.ops.len()
    }
}

fn parse_reg(s: &str) -> Result<u8, String> {
    let digits = s
        .strip_prefix(['r', 'R'])
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("bad register `{s}` (expected r0..r255)"))?;
    digits.parse::<u8>().map_err(|_| format!("register `{s}` out of range (r0..r255)"))
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let v = parse_int(s)?;
    u32::try_from(v).map_err(|_| format!("`{s}` out of range (0..4294967295)"))
}

/// A decimal integer with optional sign, in `i64`.
fn parse_int(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected an integer, found `{s}`"));
    }
    s.parse::<i64>().map_err(|_| format!("integer `{s}` out of range for i64"))
}

/// An inline constant: `int N`, `float X`, `str "..."`, `bool true|false` or `empty`.
pub(crate) fn parse_constant(s: &str) -> Result<Constant, String> {
    let (kind, rest) = split_word(s);
    let rest = rest.trim();
    match kind {
        "int" => parse_int(rest).map(Constant::Int),
        "float" => parse_float(rest).map(Constant::Float),
        "str" => {
            if !rest.starts_with('"') {
                return Err(format!("expected a string literal after `str`, found `{rest}`"));
            }
            let (v, after) = parse_string_literal(rest)?;
            if !after.trim().is_empty() {
                return Err(format!("unexpected text `{}` after the string literal", after.trim()));
            }
            Ok(Constant::Str(v))
        }
        "bool" => match rest {
            "true" => Ok(Constant::Bool(true)),
            "false" => Ok(Constant::Bool(false)),
            _ => Err(format!("expected `true` or `false` after `bool`, found `{rest}`")),
        },
        "empty" if rest.is_empty() => Ok(Constant::Empty),
        "empty" => Err(format!("unexpected text `{rest}` after `empty`")),
        _ => Err(format!(
            "expected a constant (int N, float X, str \"...\", bool true|false, empty or kN), found `{s}`"
        )),
    }
}

fn parse_float(s: &str) -> Result<f64, String> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("bad float bits `{s}` (expected 0x and up to 16 hex digits)"));
        }
        return u64::from_str_radix(hex, 16).map(f64::from_bits).map_err(|e| e.to_string());
    }
    // Rust's parser also accepts `inf`, `infinity` and `nan` in any case.
    s.parse::<f64>().map_err(|_| format!("expected a float (2.5, -1e10, inf, nan or 0x<bits>), found `{s}`"))
}

/// A string literal at the start of `s` (which starts with `"`): its value and the text after
/// the closing quote.
fn parse_string_literal(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut it = s.char_indices();
    if !matches!(it.next(), Some((_, '"'))) {
        return Err("expected a string literal".into());
    }
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => {
                let Some((_, e)) = it.next() else { break };
                match e {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    'u' => {
                        if !matches!(it.next(), Some((_, '{'))) {
                            return Err("bad escape: expected `\\u{XXXX}`".into());
                        }
                        let mut hex = String::new();
                        loop {
                            match it.next() {
                                Some((_, '}')) => break,
                                Some((_, h)) if h.is_ascii_hexdigit() && hex.len() < 6 => hex.push(h),
                                _ => {
                                    return Err(
                                        "bad escape: expected `\\u{XXXX}` with 1 to 6 hex digits".into()
                                    )
                                }
                            }
                        }
                        let v = u32::from_str_radix(&hex, 16)
                            .map_err(|_| "bad escape: `\\u{}` needs 1 to 6 hex digits".to_string())?;
                        let ch = char::from_u32(v)
                            .ok_or_else(|| format!("bad escape: U+{v:X} is not a Unicode scalar value"))?;
                        out.push(ch);
                    }
                    other => {
                        return Err(format!(
                            "unknown escape `\\{other}` (expected \\\" \\\\ \\n \\t \\r \\0 or \\u{{XXXX}})"
                        ))
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated string literal".into())
}

/// Hashable identity of a constant (floats by bits), for interning.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum ConstKey {
    Int(i64),
    Float(u64),
    Str(String),
    Bool(bool),
    Empty,
}

impl ConstKey {
    pub(crate) fn of(c: &Constant) -> ConstKey {
        match c {
            Constant::Int(v) => ConstKey::Int(*v),
            Constant::Float(v) => ConstKey::Float(v.to_bits()),
            Constant::Str(s) => ConstKey::Str(s.clone()),
            Constant::Bool(b) => ConstKey::Bool(*b),
            Constant::Empty => ConstKey::Empty,
        }
    }
}

/// The constant pool being built, with the first index of each distinct constant.
#[derive(Default)]
struct Pool {
    constants: Vec<Constant>,
    first: HashMap<ConstKey, u16>,
}

impl Pool {
    /// Appends `c` unconditionally (`.const`).
    fn push(&mut self, c: Constant) -> Result<u16, String> {
        let i = u16::try_from(self.constants.len())
            .map_err(|_| "constant pool is full (65536 entries)".to_string())?;
        self.first.entry(ConstKey::of(&c)).or_insert(i);
        self.constants.push(c);
        Ok(i)
    }

    /// The first entry equal to `c`, appended if there is none (inline constants).
    fn intern(&mut self, c: Constant) -> Result<u16, String> {
        match self.first.get(&ConstKey::of(&c)) {
            Some(&i) => Ok(i),
            None => self.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(parse_constant("int -9223372036854775808"), Ok(Constant::Int(i64::MIN)));
        assert!(parse_constant("int 9223372036854775808").unwrap_err().contains("out of range"));
        assert_eq!(parse_constant("float 0x3ff0000000000000"), Ok(Constant::Float(1.0)));
        assert_eq!(parse_constant("float -inf"), Ok(Constant::Float(f64::NEG_INFINITY)));
        assert_eq!(parse_constant("float nan"), Ok(Constant::Float(f64::NAN)));
        assert_eq!(parse_constant("float 1e-7"), Ok(Constant::Float(1e-7)));
        assert_eq!(
            parse_constant(r#"str "a\"b\\c\n\t\r\0\u{20ac};""#),
            Ok(Constant::Str("a\"b\\c\n\t\r\0€;".into()))
        );
        assert!(parse_constant(r#"str "abc"#).unwrap_err().contains("unterminated"));
        assert!(parse_constant(r#"str "\u{d800}""#).is_err());
        assert_eq!(parse_constant("empty"), Ok(Constant::Empty));
        assert_eq!(parse_constant("bool false"), Ok(Constant::Bool(false)));
    }

    #[test]
    fn comments_and_labels() {
        assert_eq!(
            strip_comment(r#"LOAD_CONST_R r0, str "a;#\"b" ; c"#),
            r#"LOAD_CONST_R r0, str "a;#\"b" "#
        );
        assert_eq!(take_label("a.b_1 : NOP"), Some(("a.b_1", " NOP")));
        assert_eq!(take_label("NOP"), None);
        assert_eq!(split_operands(r#"r0, str "a,b", r1"#), vec!["r0", r#"str "a,b""#, "r1"]);
    }
}
