//! Text assembler for `.mdasm` (in progress).

use thiserror::Error;

/// An assembly error with its line number.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct AsmError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// Assembles `.mdasm` text into a module.
pub fn assemble(_src: &str) -> Result<crate::Module, AsmError> {
    Err(AsmError { line: 0, message: "not yet implemented".into() })
}
