//! # mdbc: Machine Dialect bytecode
//!
//! The `.mdbc` format as the `machine-dialect` 0.1.0a2 frontend writes it, and everything that
//! works on it without running it:
//!
//! * [`isa`]: the one instruction-set table ([`for_each_instr!`]) and the [`Opcode`] and
//!   [`Instr`] types generated from it;
//! * [`operand`]: operand kinds (byte layout and role of each operand);
//! * [`module`]: the file layout, a strict decoder ([`Module::decode`]) and the encoder
//!   ([`Module::encode`]);
//! * [`repair`]: the compatibility step for the frontend serializer's instruction miscount;
//! * [`verify()`]: function extents, register counts, constant kinds, jump targets, phi shape;
//! * [`cfg`](mod@cfg): basic blocks, predecessors and register liveness of a body;
//! * [`dis`] and [`asm`]: a disassembler and a text assembler (`.mdasm`) that round-trip.
//!
//! No input makes any of these panic: malformed bytes give a [`LoadError`].

pub mod asm;
pub mod cfg;
pub mod dis;
mod error;
pub mod isa;
pub mod module;
pub mod operand;
pub mod reader;
pub mod repair;
mod verify;

pub use asm::{assemble, AsmError};
pub use dis::disassemble;
pub use error::LoadError;
pub use isa::{Instr, Opcode};
pub use module::{Constant, Function, Module};
pub use verify::{verify, Body, Layout, MAIN_NAME};
