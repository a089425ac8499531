//! Disassembler (in progress).

/// Disassembles a module to `.mdasm` text.
pub fn disassemble(_m: &crate::Module) -> String {
    String::new()
}
