//! Operand kinds: the byte layout and role of every operand in the instruction table.
//!
//! Each kind implements [`Operand`]: decoding (strict, with byte offsets in errors), encoding,
//! a visit that reports the operand's role as an [`OperandRef`], and parsing from assembler text
//! through an [`OperandSource`].

use crate::reader::Reader;
use crate::LoadError;

/// One operand, as seen by analyses (verifier, disassembler, use/def, the JIT).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OperandRef {
    /// A register written by the instruction.
    Def(u8),
    /// A register read by the instruction.
    Use(u8),
    /// A constant-pool index (any constant kind).
    Const(u16),
    /// A constant-pool index that must name a string (global names, assert messages).
    Name(u16),
    /// A type id (see [`TypeId`]).
    Type(u16),
    /// A jump offset in instructions, relative to the next instruction.
    Jump(i32),
    /// A phi source: register `src` when the predecessor's block id is `block`.
    PhiSource {
        /// Register read when this source is selected.
        src: u8,
        /// Block id: instruction index of the predecessor's last instruction.
        block: u16,
    },
    /// The kind byte of `ASSERT_R` (0 truthy, 1 non-empty, 2 range).
    AssertKind(u8),
    /// A bound of a range assertion.
    Bound(i64),
    /// A scope id (`SCOPE_ENTER_R`, `SCOPE_EXIT_R`).
    Scope(u16),
}

/// Where the assembler gets operands from (implemented by the assembler's line parser).
pub trait OperandSource {
    /// A register `rN`.
    fn reg(&mut self) -> Result<u8, String>;
    /// An inline constant (`int 5`, `float 2.5`, `str "x"`, `bool true`, `empty`), as a pool index.
    fn constant(&mut self) -> Result<u16, String>;
    /// A type name (`int`, `float`, ...) or number.
    fn type_id(&mut self) -> Result<u16, String>;
    /// A jump target (label or `+N`/`-N`), as an offset from the next instruction.
    fn jump(&mut self) -> Result<i32, String>;
    /// A phi source `rN@label` (or `rN@N`), as (register, block id).
    fn phi_source(&mut self) -> Result<(u8, u16), String>;
    /// An unsigned integer immediate no larger than `max`.
    fn uint(&mut self, max: u64) -> Result<u64, String>;
    /// A signed 64-bit integer immediate.
    fn int(&mut self) -> Result<i64, String>;
    /// True if another operand follows.
    fn has_more(&mut self) -> bool;
}

/// An operand kind: byte layout plus role.
pub trait Operand: Sized {
    /// Reads the operand; errors name the byte offset.
    fn decode(r: &mut Reader<'_>) -> Result<Self, LoadError>;
    /// Appends the operand's bytes.
    fn encode(&self, out: &mut Vec<u8>);
    /// Encoded size in bytes.
    fn encoded_len(&self) -> usize;
    /// Reports the operand's parts to `f`.
    fn visit(&self, f: &mut dyn FnMut(OperandRef));
    /// Parses the operand from assembler text.
    fn parse(src: &mut dyn OperandSource) -> Result<Self, String>;
}

/// A written register (`u8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dst(pub u8);

/// A read register (`u8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Src(pub u8);

/// A constant-pool index (`u16`), any constant kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Const(pub u16);

/// A constant-pool index (`u16`) that must hold a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Name(pub u16);

/// A type id (`u16`): 0 empty, 1 bool, 2 int, 3 float, 4 string, 5 function, 6 url, 7 array,
/// 8 dict, 255 unknown (matches any value). Other values are rejected by the verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TypeId(pub u16);

/// A jump offset (`i32`) in instructions, relative to the instruction after the jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Jump(pub i32);

/// The instruction index a jump at index `at` with offset `off` (in instructions, relative to
/// the next instruction) goes to; not checked (the verifier rejects a target outside the jump's
/// body, so in verified code it lies in `body.start..=body.end`, the end returning). With
/// [`jump_offset`], the one definition of jump arithmetic:
/// the verifier, the disassembler, the assembler, the CFG, the interpreter's layout, the
/// compiled tier and the program generator all use them.
pub fn jump_target(at: u32, off: i32) -> i64 {
    at as i64 + 1 + off as i64
}

/// The offset a jump at index `at` encodes to go to instruction `target` (the inverse of
/// [`jump_target`]); it may not fit an `i32` (the caller checks).
pub fn jump_offset(at: u32, target: u32) -> i64 {
    target as i64 - (at as i64 + 1)
}

/// Registers a window can name: `r0..r255` (a register operand is a `u8`).
pub const REGISTERS: usize = 256;

/// Call arguments: `u8 argc`, then `argc` registers. (A boxed slice, not a `Vec`: it keeps
/// [`crate::Instr`] at 24 bytes.)
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Args(pub Box<[u8]>);

/// A return value: `u8 has_value` (0 or 1), then the register when 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RetVal(pub Option<u8>);

/// Phi sources: `u8 n`, then `n` times (`u8` register, `u16` block id). (A boxed slice, as
/// for [`Args`].)
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PhiSources(pub Box<[(u8, u16)]>);

/// A scope id (`u16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScopeId(pub u16);

/// What `ASSERT_R` checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssertKind {
    /// Kind 0: the value is truthy.
    Truthy,
    /// Kind 1: the value is not empty.
    NonEmpty,
    /// Kind 2: the value is an int in `[min, max]`.
    Range {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
}

/// The operands of `ASSERT_R` after the register: `u8 kind`, `u16 msg` (a string constant), and
/// for kind 2 `i64 min`, `i64 max`. (The kind is boxed: its range's two `i64`s would make
/// every [`crate::Instr`] 40 bytes instead of 24.)
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AssertCheck {
    /// What is checked.
    pub kind: Box<AssertKind>,
    /// Constant index of the failure message (a string).
    pub msg: u16,
}

impl Operand for Dst {
    fn decode(r: &mut Reader<'_>) -> Result<Self, LoadError> {
        Ok(Dst(r.u8("destination register")?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.0);
    }
    fn encoded_len(&self) -> usize {
        1
    }
    fn visit(&self, f: &mut dyn FnMut(OperandRef)) {
        f(OperandRef::Def(self.0))
    }
    fn parse(src: &mut dyn OperandSource) -> Result<Self, String> {
        src.reg().map(Dst)
    }
}

impl Operand for Src {
    fn decode(r: &mut Reader<'_>) -> Result<Self, LoadError> {
        Ok(Src(r.u8("source register")?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.0);
    }
    fn encoded_len(&self) -> usize {
        1
    }
    fn visit(&self, f: &mut dyn FnMut(OperandRef)) {
        f(OperandRef::Use(self.0))
    }
    fn parse(src: &mut dyn OperandSource) -> Result<Self, String> {
        src.reg().map(Src)
    }
}

impl Operand for Const {
    fn decode(r: &mut Reader<'_>) -> Result<Self, LoadError> {
        Ok(Const(r.u16("constant index")?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }
    fn encoded_len(&self) -> usize {
        2
    }
    fn visit(&self, f: &mut dyn FnMut(OperandRef)) {
        f(OperandRef::Const(self.0))
    }
    fn parse(src: &mut dyn OperandSource) -> Result<Self, String> {
        src.constant().map(Const)
    }
}

impl Operand for Name {
    fn decode(r: &mut Reader<'_>) -> Result<Self, LoadError> {
        Ok(Name(r.u16("name constant index")?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }
    fn encoded_len(&self) -> usize {
        2
    }
    fn visit(&self, f: &mut dyn FnMut(OperandRef)) {
        f(OperandRef::Name(self.0))
    }
    fn parse(src: &mut dyn OperandSource) -> Result<Self, String> {
        src.constant().map(Name)
    }
}

impl Operand for TypeId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, LoadError> {
        Ok(TypeId(r.u16("type id")?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }
    fn encoded_len(&self) -> usize {
        2
    }
    fn visit(&self, f: &mut dyn FnMut(OperandRef)) {
        f(OperandRef::Type(self.0))
    }
    fn parse(src: &mut dyn OperandSource) -> Result<Self, String> {
        src.type_id().map(TypeId)
    }
}

impl Operand for Jump {
    fn decode(r: &mut Reader<'_>) -> Result<Self, LoadError> {
        Ok(Jump(r.i32("jump offset")?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }
    fn encoded_len(&self) -> usize {
        4
    }
    fn visit(&self, f: &mut dyn FnMut(OperandRef)) {
        f(OperandRef::Jump(self.0))
    }
    fn parse(src: &mut dyn OperandSource) -> Result<Self, String> {
        src.jump().map(Jump)
    }
}

impl Operand for Args {
    fn decode(r: &mut Reader<'_>) -> Result<Self, LoadError> {
        let n = r.u8("argument count")?;
        let regs = r.bytes(n as usize, "argument registers")?;
        Ok(Args(regs.into()))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.0.len() as u8);
        out.extend_from_slice(&self.0);
    }
    fn encoded_len(&self) -> usize {
        1 + self.0.len()
    }
    fn visit(&self, f: &mut dyn FnMut(OperandRef)) {
        for &r in &self.0 {
            f(OperandRef::Use(r));
        }
    }
    fn parse(src: &mut dyn OperandSource) -> Result<Self, String> {
        let mut regs = Vec::new();
        while src.has_more() {
            if regs.len() == 255 {
                return Err("more than 255 call arguments".into());
            }
            regs.push(src.reg()?);
        }
        Ok(Args(regs.into()))
    }
}

impl Operand for RetVal {
    fn decode(r: &mut Reader<'_>) -> Result<Self, LoadError> {
        let at = r.pos();
        match r.u8("has_value flag")? {
            0 => Ok(RetVal(None)),
            1 => Ok(RetVal(Some(r.u8("return register")?))),
            b => Err(LoadError::malformed(at, format!("has_value flag is {b}, not 0 or 1"))),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match self.0 {
            None => out.push(0),
            Some(r) => out.extend_from_slice(&[1, r]),
        }
    }
    fn encoded_len(&self) -> usize {
        if self.0.is_some() {
            2
        } else {
            1
        }
    }
    fn visit(&self, f: &mut dyn FnMut(OperandRef)) {
        if let Some(r) = self.0 {
            f(OperandRef::Use(r))
        }
    }
    fn parse(src: &mut dyn OperandSource) -> Result<Self, String> {
        if src.has_more() {
            Ok(RetVal(Some(src.reg()?)))
        } else {
            Ok(RetVal(None))
        }
    }
}

impl Operand for PhiSources {
    fn decode(r: &mut Reader<'_>) -> Result<Self, LoadError> {
        let n = r.u8("phi source count")?;
        let mut v = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let src = r.u8("phi source register")?;
            let block = r.u16("phi source block id")?;
            v.push((src, block));
        }
        Ok(PhiSources(v.into()))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.0.len() as u8);
        for &(src, block) in &self.0 {
            out.push(src);
            out.extend_from_slice(&block.to_le_bytes());
        }
    }
    fn encoded_len(&self) -> usize {
        1 + 3 * self.0.len()
    }
    fn visit(&self, f: &mut dyn FnMut(OperandRef)) {
        for &(src, block) in &self.0 {
            f(OperandRef::PhiSource { src, block });
        }
    }
    fn parse(src: &mut dyn OperandSource) -> Result<Self, String> {
        let mut v = Vec::new();
        while src.has_more() {
            if v.len() == 255 {
                return Err("more than 255 phi sources".into());
            }
            v.push(src.phi_source()?);
        }
        Ok(PhiSources(v.into()))
    }
}

impl Operand for AssertCheck {
    fn decode(r: &mut Reader<'_>) -> Result<Self, LoadError> {
        let at = r.pos();
        let kind = r.u8("assert kind")?;
        let msg = r.u16("assert message constant index")?;
        let kind = match kind {
            0 => AssertKind::Truthy,
            1 => AssertKind::NonEmpty,
            2 => AssertKind::Range { min: r.i64("range minimum")?, max: r.i64("range maximum")? },
            k => return Err(LoadError::malformed(at, format!("assert kind {k} (expected 0, 1 or 2)"))),
        };
        Ok(AssertCheck { kind: Box::new(kind), msg })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let k = match *self.kind {
            AssertKind::Truthy => 0u8,
            AssertKind::NonEmpty => 1,
            AssertKind::Range { .. } => 2,
        };
        out.push(k);
        out.extend_from_slice(&self.msg.to_le_bytes());
        if let AssertKind::Range { min, max } = *self.kind {
            out.extend_from_slice(&min.to_le_bytes());
            out.extend_from_slice(&max.to_le_bytes());
        }
    }
    fn encoded_len(&self) -> usize {
        if matches!(*self.kind, AssertKind::Range { .. }) {
            19
        } else {
            3
        }
    }
    fn visit(&self, f: &mut dyn FnMut(OperandRef)) {
        match *self.kind {
            AssertKind::Truthy => f(OperandRef::AssertKind(0)),
            AssertKind::NonEmpty => f(OperandRef::AssertKind(1)),
            AssertKind::Range { .. } => f(OperandRef::AssertKind(2)),
        }
        f(OperandRef::Name(self.msg));
        if let AssertKind::Range { min, max } = *self.kind {
            f(OperandRef::Bound(min));
            f(OperandRef::Bound(max));
        }
    }
    fn parse(src: &mut dyn OperandSource) -> Result<Self, String> {
        let k = src.uint(2)?;
        let msg = src.constant()?;
        let kind = match k {
            0 => AssertKind::Truthy,
            1 => AssertKind::NonEmpty,
            _ => AssertKind::Range { min: src.int()?, max: src.int()? },
        };
        Ok(AssertCheck { kind: Box::new(kind), msg })
    }
}

impl Operand for ScopeId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, LoadError> {
        Ok(ScopeId(r.u16("scope id")?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }
    fn encoded_len(&self) -> usize {
        2
    }
    fn visit(&self, f: &mut dyn FnMut(OperandRef)) {
        f(OperandRef::Scope(self.0))
    }
    fn parse(src: &mut dyn OperandSource) -> Result<Self, String> {
        src.uint(u16::MAX as u64).map(|v| ScopeId(v as u16))
    }
}

/// Names of the type ids, indexed by id (0..=8); id 255 is `unknown`.
pub const TYPE_NAMES: [&str; 9] =
    ["empty", "bool", "int", "float", "string", "function", "url", "array", "dict"];

/// Type id that matches every value.
pub const TYPE_UNKNOWN: u16 = 255;

/// The name of type id `t`, if it is a valid type id.
pub fn type_name(t: u16) -> Option<&'static str> {
    match t {
        0..=8 => Some(TYPE_NAMES[t as usize]),
        TYPE_UNKNOWN => Some("unknown"),
        _ => None,
    }
}

/// The type id named `s`, if any.
pub fn type_from_name(s: &str) -> Option<u16> {
    if s == "unknown" {
        return Some(TYPE_UNKNOWN);
    }
    TYPE_NAMES.iter().position(|n| *n == s).map(|i| i as u16)
}
