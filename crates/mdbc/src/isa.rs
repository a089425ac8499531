//! The instruction set, defined once.
//!
//! [`for_each_instr!`](crate::for_each_instr) is the single table of all fifty Machine Dialect opcodes: opcode byte,
//! variant name, mnemonic, operands (each with its operand kind, which fixes its byte layout and
//! its role: written register, read register, constant, jump, ...) and a one-line summary of the
//! semantics. Everything that needs to know an opcode's shape is generated from it here:
//!
//! * [`Opcode`] (byte <-> mnemonic, [`Opcode::summary`]),
//! * [`Instr`], the decoded instruction, with [`Instr::decode`], [`Instr::encode`],
//!   [`Instr::visit_operands`] (uses, defs, constants, jump offsets for the verifier,
//!   disassembler, interpreter and JIT) and [`Instr::parse_operands`] (the assembler).
//!
//! Adding an opcode is one line in the table plus its semantics in the runtime.

use crate::operand::{
    Args, AssertCheck, Const, Dst, Jump, Name, Operand, OperandRef, OperandSource, PhiSources,
    RetVal, ScopeId, Src, TypeId,
};
use crate::reader::Reader;
use crate::LoadError;

/// Calls `$m!` with the whole instruction table.
///
/// Each entry is `/// summary` `CODE Variant MNEMONIC { field: Kind, ... }`. Operands appear in
/// encoding order; their kinds are the types in [`crate::operand`].
#[macro_export]
macro_rules! for_each_instr {
    ($m:ident) => {
        $m! {
            /// `dst = constants[k]`.
            0 LoadConstR LOAD_CONST_R { dst: Dst, k: Const },
            /// `dst = src` (a copy: values have value semantics).
            1 MoveR MOVE_R { dst: Dst, src: Src },
            /// `dst = globals[name]`; an unset global reads as empty.
            2 LoadGlobalR LOAD_GLOBAL_R { dst: Dst, name: Name },
            /// `globals[name] = src`.
            3 StoreGlobalR STORE_GLOBAL_R { src: Src, name: Name },
            /// Declares the type of `dst`; no run-time effect.
            4 DefineR DEFINE_R { dst: Dst, ty: TypeId },
            /// `dst = (type of src == ty)` (type `unknown` matches every value).
            5 CheckTypeR CHECK_TYPE_R { dst: Dst, src: Src, ty: TypeId },
            /// `dst = cast(src, ty)`; an impossible conversion is a type error.
            6 CastR CAST_R { dst: Dst, src: Src, ty: TypeId },
            /// `dst = a + b` (checked int, float, string concatenation).
            7 AddR ADD_R { dst: Dst, a: Src, b: Src },
            /// `dst = a - b` (checked int, float).
            8 SubR SUB_R { dst: Dst, a: Src, b: Src },
            /// `dst = a * b` (checked int, float).
            9 MulR MUL_R { dst: Dst, a: Src, b: Src },
            /// `dst = a / b` (floor division on ints, division by zero is an error).
            10 DivR DIV_R { dst: Dst, a: Src, b: Src },
            /// `dst = a % b` (floor modulo on ints, Rust `%` on floats).
            11 ModR MOD_R { dst: Dst, a: Src, b: Src },
            /// `dst = -src` (checked on ints).
            12 NegR NEG_R { dst: Dst, src: Src },
            /// `dst = not truthy(src)`.
            13 NotR NOT_R { dst: Dst, src: Src },
            /// `dst = truthy(a) and truthy(b)`.
            14 AndR AND_R { dst: Dst, a: Src, b: Src },
            /// `dst = truthy(a) or truthy(b)`.
            15 OrR OR_R { dst: Dst, a: Src, b: Src },
            /// `dst = a == b` (int and float compare by value).
            16 EqR EQ_R { dst: Dst, a: Src, b: Src },
            /// `dst = a != b`.
            17 NeqR NEQ_R { dst: Dst, a: Src, b: Src },
            /// `dst = a < b` (numbers or strings).
            18 LtR LT_R { dst: Dst, a: Src, b: Src },
            /// `dst = a > b`.
            19 GtR GT_R { dst: Dst, a: Src, b: Src },
            /// `dst = a <= b`.
            20 LteR LTE_R { dst: Dst, a: Src, b: Src },
            /// `dst = a >= b`.
            21 GteR GTE_R { dst: Dst, a: Src, b: Src },
            /// `pc = target` (encoded as an offset from the next instruction).
            22 JumpR JUMP_R { target: Jump },
            /// `if truthy(cond) { pc = target }`.
            23 JumpIfR JUMP_IF_R { cond: Src, target: Jump },
            /// `if !truthy(cond) { pc = target }`.
            24 JumpIfNotR JUMP_IF_NOT_R { cond: Src, target: Jump },
            /// `dst = func(args...)`; `func` holds a function name or entry index.
            25 CallR CALL_R { func: Src, dst: Dst, args: Args },
            /// Returns `src` to the caller's `dst`, or returns without a value.
            26 ReturnR RETURN_R { value: RetVal },
            /// SSA phi: `dst = src` of the source whose block id is the predecessor.
            27 PhiR PHI_R { dst: Dst, sources: PhiSources },
            /// Fails with the message constant unless `reg` passes the check.
            28 AssertR ASSERT_R { reg: Src, check: AssertCheck },
            /// Scope entry marker; no run-time effect.
            29 ScopeEnterR SCOPE_ENTER_R { scope: ScopeId },
            /// Scope exit marker; no run-time effect.
            30 ScopeExitR SCOPE_EXIT_R { scope: ScopeId },
            /// `dst = display(a) ++ display(b)`.
            31 ConcatStrR CONCAT_STR_R { dst: Dst, a: Src, b: Src },
            /// `dst = number of characters of the string in s`.
            32 StrLenR STR_LEN_R { dst: Dst, s: Src },
            /// `dst = [empty; size]`.
            33 NewArrayR NEW_ARRAY_R { dst: Dst, size: Src },
            /// `dst = arr[idx]` (0-based, bounds-checked).
            34 ArrayGetR ARRAY_GET_R { dst: Dst, arr: Src, idx: Src },
            /// `arr[idx] = val` on the array held in register `arr`.
            35 ArraySetR ARRAY_SET_R { arr: Src, idx: Src, val: Src },
            /// `dst = length of arr`.
            36 ArrayLenR ARRAY_LEN_R { dst: Dst, arr: Src },
            /// Prints `src` and a newline (nothing at all for empty).
            37 DebugPrint DEBUG_PRINT { src: Src },
            /// Debugger stop; no effect without a debugger.
            38 Breakpoint BREAKPOINT {},
            /// Ends the program.
            39 Halt HALT {},
            /// Does nothing.
            40 Nop NOP {},
            /// `dst = {}`.
            41 DictNewR DICT_NEW_R { dst: Dst },
            /// `dst = dict[key]` (empty when absent).
            42 DictGetR DICT_GET_R { dst: Dst, dict: Src, key: Src },
            /// `dict[key] = val` (string keys).
            43 DictSetR DICT_SET_R { dict: Src, key: Src, val: Src },
            /// Removes `key` from `dict` (no-op when absent).
            44 DictRemoveR DICT_REMOVE_R { dict: Src, key: Src },
            /// `dst = key in dict`.
            45 DictContainsR DICT_CONTAINS_R { dst: Dst, dict: Src, key: Src },
            /// `dst = keys of dict` as an array, in insertion order.
            46 DictKeysR DICT_KEYS_R { dst: Dst, dict: Src },
            /// `dst = values of dict` as an array, in insertion order.
            47 DictValuesR DICT_VALUES_R { dst: Dst, dict: Src },
            /// Removes every entry of `dict`.
            48 DictClearR DICT_CLEAR_R { dict: Src },
            /// `dst = number of entries of dict`.
            49 DictLenR DICT_LEN_R { dst: Dst, dict: Src },
        }
    };
}

macro_rules! define_isa {
    ($( $(#[doc = $doc:literal])* $code:literal $variant:ident $mnemonic:ident { $($field:ident : $kind:ident),* } ),* $(,)?) => {
        /// An opcode byte of the `.mdbc` instruction stream.
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Opcode {
            $( $(#[doc = $doc])* $variant = $code, )*
        }

        impl Opcode {
            /// Every opcode, in opcode order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$variant),*];

            /// The opcode for byte `b`, or `None` for a byte that is no opcode.
            pub fn from_u8(b: u8) -> Option<Opcode> {
                match b {
                    $($code => Some(Opcode::$variant),)*
                    _ => None,
                }
            }

            /// The mnemonic, e.g. `"LOAD_CONST_R"`.
            pub fn mnemonic(self) -> &'static str {
                match self {
                    $(Opcode::$variant => stringify!($mnemonic),)*
                }
            }

            /// The opcode with mnemonic `s` (exact, upper case), if any.
            pub fn from_mnemonic(s: &str) -> Option<Opcode> {
                match s {
                    $(stringify!($mnemonic) => Some(Opcode::$variant),)*
                    _ => None,
                }
            }

            /// The one-line semantics from the table.
            pub fn summary(self) -> &'static str {
                match self {
                    $(Opcode::$variant => concat!($($doc),*).trim_ascii(),)*
                }
            }

            /// The operand field names, in encoding order.
            pub fn operand_names(self) -> &'static [&'static str] {
                match self {
                    $(Opcode::$variant => &[$(stringify!($field)),*],)*
                }
            }
        }

        /// One decoded instruction. Field types are operand kinds (see [`crate::operand`]).
        #[derive(Clone, Debug, PartialEq)]
        pub enum Instr {
            $( $(#[doc = $doc])* $variant { $($field: $kind),* }, )*
        }

        impl Instr {
            /// This instruction's opcode.
            pub fn opcode(&self) -> Opcode {
                match self {
                    $(Instr::$variant { .. } => Opcode::$variant,)*
                }
            }

            /// Decodes one instruction at the reader's position.
            ///
            /// Errors: [`LoadError::Malformed`] naming the byte offset for an unknown opcode
            /// byte, a truncated instruction or an operand byte out of its range.
            pub fn decode(r: &mut Reader<'_>) -> Result<Instr, LoadError> {
                let at = r.pos();
                let byte = r.u8("opcode")?;
                let op = Opcode::from_u8(byte)
                    .ok_or_else(|| LoadError::malformed(at, format!("unknown opcode {byte}")))?;
                match op {
                    $(Opcode::$variant => Ok(Instr::$variant {
                        $($field: <$kind as Operand>::decode(r)
                            .map_err(|e| e.context(stringify!($mnemonic)))?,)*
                    }),)*
                }
            }

            /// Appends this instruction's encoding (opcode byte, then operands) to `out`.
            pub fn encode(&self, out: &mut Vec<u8>) {
                out.push(self.opcode() as u8);
                match self {
                    $(Instr::$variant { $($field),* } => { $( Operand::encode($field, out); )* })*
                }
            }

            /// The encoded size in bytes.
            pub fn encoded_len(&self) -> usize {
                let mut n = 1;
                match self {
                    $(Instr::$variant { $($field),* } => { $( n += Operand::encoded_len($field); )* })*
                }
                n
            }

            /// Calls `f` with every operand, in encoding order.
            pub fn visit_operands(&self, f: &mut dyn FnMut(OperandRef)) {
                match self {
                    $(Instr::$variant { $($field),* } => { $( Operand::visit($field, f); )* })*
                }
            }

            /// Builds an instruction of opcode `op` from operands read from `src` (the assembler).
            pub fn parse_operands(op: Opcode, src: &mut dyn OperandSource) -> Result<Instr, String> {
                match op {
                    $(Opcode::$variant => Ok(Instr::$variant {
                        $($field: <$kind as Operand>::parse(src)?,)*
                    }),)*
                }
            }
        }
    };
}

for_each_instr!(define_isa);

// A decoded instruction is 24 bytes on 64-bit hosts (the variable-size operands are boxed
// slices): the loader holds one per instruction, so this bounds its memory per input byte.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Instr>() == 24);

impl Instr {
    /// Calls `f` with every register this instruction reads.
    pub fn for_each_use(&self, mut f: impl FnMut(u8)) {
        self.visit_operands(&mut |o| match o {
            OperandRef::Use(r) | OperandRef::PhiSource { src: r, .. } => f(r),
            _ => {}
        });
    }

    /// The register this instruction writes, if any.
    pub fn def(&self) -> Option<u8> {
        let mut d = None;
        self.visit_operands(&mut |o| {
            if let OperandRef::Def(r) = o {
                d = Some(r);
            }
        });
        d
    }

    /// The register this instruction always overwrites, if any. `CALL_R` and `PHI_R` are
    /// excluded: a callee that returns no value, and a phi without a matching source, leave
    /// their destination unchanged; so is `DEFINE_R`, which only declares a type.
    pub fn definite_def(&self) -> Option<u8> {
        match self {
            Instr::CallR { .. } | Instr::PhiR { .. } | Instr::DefineR { .. } => None,
            _ => self.def(),
        }
    }

    /// The jump offset (in instructions, relative to the next instruction), if this is a jump.
    pub fn jump_offset(&self) -> Option<i32> {
        let mut off = None;
        self.visit_operands(&mut |o| {
            if let OperandRef::Jump(j) = o {
                off = Some(j);
            }
        });
        off
    }

    /// The instruction index this instruction, at index `at`, jumps to when it jumps
    /// (`at + 1 + offset`, [`crate::operand::jump_target`]), if it is a jump. For verified code
    /// the target lies in the jump's body or is its end (which returns); an offset that would
    /// leave `0..=u32::MAX` (only in unverified code) gives `None`.
    pub fn jump_target(&self, at: u32) -> Option<u32> {
        let off = self.jump_offset()?;
        u32::try_from(crate::operand::jump_target(at, off)).ok()
    }

    /// True when control never falls through to the next instruction (`JUMP_R`, `RETURN_R`,
    /// `HALT`); a conditional jump falls through when not taken.
    pub fn is_terminator(&self) -> bool {
        matches!(self, Instr::JumpR { .. } | Instr::ReturnR { .. } | Instr::Halt {})
    }

    /// True when this instruction ends a basic block: a jump, `RETURN_R` or `HALT` (what
    /// follows it, if anything, starts a new block).
    pub fn ends_block(&self) -> bool {
        self.is_terminator() || self.jump_offset().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_opcodes_numbered_densely() {
        assert_eq!(Opcode::ALL.len(), 50);
        for (i, op) in Opcode::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
            assert_eq!(Opcode::from_u8(i as u8), Some(*op));
            assert_eq!(Opcode::from_mnemonic(op.mnemonic()), Some(*op));
            assert!(!op.summary().is_empty());
        }
        assert_eq!(Opcode::from_u8(50), None);
        assert_eq!(Opcode::from_u8(255), None);
    }

    #[test]
    fn jump_metadata_comes_from_the_operand_table() {
        let j = Instr::JumpIfNotR { cond: crate::operand::Src(1), target: Jump(-3) };
        assert_eq!(j.jump_offset(), Some(-3));
        assert_eq!(j.jump_target(10), Some(8));
        assert!(j.ends_block() && !j.is_terminator());
        let j = Instr::JumpR { target: Jump(0) };
        assert_eq!(j.jump_target(4), Some(5));
        assert!(j.ends_block() && j.is_terminator());
        assert_eq!(Instr::JumpR { target: Jump(-2) }.jump_target(0), None);
        let add = Instr::AddR { dst: Dst(0), a: crate::operand::Src(1), b: crate::operand::Src(2) };
        assert_eq!((add.jump_offset(), add.ends_block(), add.definite_def()), (None, false, Some(0)));
        let call = Instr::CallR { func: crate::operand::Src(0), dst: Dst(1), args: Args(vec![2].into()) };
        assert_eq!((call.def(), call.definite_def()), (Some(1), None));
    }

    #[test]
    fn mnemonics_match_design_table() {
        assert_eq!(Opcode::LoadConstR.mnemonic(), "LOAD_CONST_R");
        assert_eq!(Opcode::DebugPrint.mnemonic(), "DEBUG_PRINT");
        assert_eq!(Opcode::DictLenR.mnemonic(), "DICT_LEN_R");
        assert_eq!(Opcode::CallR.operand_names(), &["func", "dst", "args"]);
    }
}
