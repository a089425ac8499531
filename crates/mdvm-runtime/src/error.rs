//! Runtime errors.

use std::fmt;

use thiserror::Error;

/// What kind of fault ended the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An operation applied to values of the wrong types.
    Type,
    /// Division or modulo by int 0 or float 0.0.
    DivisionByZero,
    /// Integer overflow in `+ - * /` or negation, or a float too large for a cast.
    Overflow,
    /// An array index outside the array (negative included).
    IndexOutOfRange,
    /// A call to a name that is neither in the function table nor a native.
    UndefinedFunction,
    /// `ASSERT_R` failed.
    Assertion,
    /// A conversion (`CAST_R`) or size that cannot be done.
    Value,
    /// The call-depth limit was reached.
    CallDepth,
    /// The fuel budget (instructions) ran out.
    FuelExhausted,
    /// Writing the program's output (or reading its input) failed.
    Output,
    /// A host function (a native the embedder registered) reported an error.
    Host,
    /// The run was stopped from outside: an [`crate::interrupt::InterruptHandle`], a passed
    /// time limit, or the host's poll hook (Ctrl-C in Python).
    Interrupted,
    /// The memory limit was reached ([`crate::memory`]).
    OutOfMemory,
    /// Every process left is blocked ([`crate::process`]).
    Deadlock,
}

impl ErrorKind {
    /// A short name, e.g. `type error`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Type => "type error",
            ErrorKind::DivisionByZero => "division by zero",
            ErrorKind::Overflow => "integer overflow",
            ErrorKind::IndexOutOfRange => "index out of range",
            ErrorKind::UndefinedFunction => "undefined function",
            ErrorKind::Assertion => "assertion failed",
            ErrorKind::Value => "value error",
            ErrorKind::CallDepth => "call depth exceeded",
            ErrorKind::FuelExhausted => "fuel exhausted",
            ErrorKind::Output => "output error",
            ErrorKind::Host => "host error",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::OutOfMemory => "out of memory",
            ErrorKind::Deadlock => "deadlock",
        }
    }
}

impl ErrorKind {
    /// True for the kinds that end the whole run from any process ([`crate::process`]): the
    /// run's budgets (fuel, memory, time and the interrupt) and a failed output.
    pub fn ends_run(self) -> bool {
        matches!(self, ErrorKind::FuelExhausted | ErrorKind::Interrupted | ErrorKind::OutOfMemory | ErrorKind::Output)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault raised by one operation, before the interpreter adds where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError {
    /// The kind of fault.
    pub kind: ErrorKind,
    /// What happened, e.g. `cannot add string and int`.
    pub message: String,
}

impl OpError {
    /// A new error of `kind`.
    #[cold]
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> OpError {
        OpError { kind, message: message.into() }
    }

    /// A type error.
    #[cold]
    pub fn type_error(message: impl Into<String>) -> OpError {
        OpError::new(ErrorKind::Type, message)
    }
}

/// A runtime error with its place: function and bytecode position.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{kind}: {message} (in function `{function}` at instruction {index}, byte offset {offset})")]
pub struct RuntimeError {
    /// The kind of fault.
    pub kind: ErrorKind,
    /// What happened.
    pub message: String,
    /// Name of the function executing (`<main>` for the main program).
    pub function: String,
    /// Absolute instruction index of the faulting instruction in the stream.
    pub index: u32,
    /// Byte offset of that instruction in the file.
    pub offset: usize,
}
