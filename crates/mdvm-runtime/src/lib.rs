//! # mdvm-runtime
//!
//! Everything needed to execute Machine Dialect bytecode without a compiler:
//!
//! * [`value`]: the [`Value`] type (its in-memory layout is documented for the JIT), strings,
//!   dicts, reference counting with copy-on-write value semantics;
//! * [`debug`]: breakpoints, stepping and watches for a debugger attached to the interpreter;
//! * [`mod@array`]: arrays, packed when they hold only ints or floats;
//! * [`dict`]: dicts, string keys in insertion order with constant-time removal;
//! * [`ops`]: the semantics of every operation, shared by both tiers;
//! * [`program`]: a verified module turned into the interpreter's compact form;
//! * [`interp`]: the interpreter tier ([`Machine`]): frames in one contiguous value stack,
//!   budgets ([`Limits`]), and [`feedback`] for the compiled tier;
//! * [`native`]: the interface compiled code and the compiled tier plug into, and the layout
//!   facts native code relies on;
//! * [`interrupt`]: stopping a run from another thread, time limits and host polls;
//! * [`memory`]: the memory limit and the counting allocator;
//! * [`work`]: fuel charged for work that grows with an instruction's operands;
//! * [`natives`]: functions programs call by name that the runtime or the host provides:
//!   the registry, the calling protocol and the standard library;
//! * [`helpers`]: the runtime functions compiled code calls, and the one list of them;
//! * [`error`]: runtime errors with function and bytecode position.

pub mod array;
pub mod debug;
pub mod dict;
pub mod error;
pub mod feedback;
pub mod helpers;
pub mod interp;
pub mod interrupt;
pub mod memory;
pub mod native;
pub mod natives;
pub mod ops;
pub mod process;
pub mod program;
pub mod value;
pub mod work;

pub use error::{ErrorKind, OpError, RuntimeError};
pub use feedback::{Feedback, SiteTypes, TypeMask};
pub use interp::{Limits, Machine, DEFAULT_MAX_DEPTH};
pub use interrupt::{InterruptHandle, PollHook};
pub use program::Program;
pub use value::{Tag, Value};
