//! Load errors.

use thiserror::Error;

/// Why a `.mdbc` file (or assembled module) was rejected. Never a panic.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LoadError {
    /// The bytes do not follow the file format (header, sections, encodings).
    #[error("malformed bytecode at byte offset {offset}: {what}")]
    Malformed {
        /// Byte offset in the file where the problem was found.
        offset: usize,
        /// What was wrong.
        what: String,
    },
    /// The file decodes but breaks a rule of the verifier.
    #[error("invalid bytecode in function `{function}` at instruction {index} (byte offset {offset}): {what}")]
    Invalid {
        /// The function holding the instruction (`<main>` for the main program).
        function: String,
        /// Absolute instruction index in the stream.
        index: u32,
        /// Byte offset of the instruction in the file.
        offset: usize,
        /// What was wrong.
        what: String,
    },
}

impl LoadError {
    /// A [`LoadError::Malformed`] at `offset`.
    pub fn malformed(offset: usize, what: impl Into<String>) -> Self {
        LoadError::Malformed { offset, what: what.into() }
    }

    /// Prefixes the message with `ctx` (e.g. the mnemonic being decoded).
    pub fn context(self, ctx: &str) -> Self {
        match self {
            LoadError::Malformed { offset, what } => {
                LoadError::Malformed { offset, what: format!("{ctx}: {what}") }
            }
            other => other,
        }
    }

    /// The byte offset the error names.
    pub fn offset(&self) -> usize {
        match self {
            LoadError::Malformed { offset, .. } | LoadError::Invalid { offset, .. } => *offset,
        }
    }
}
