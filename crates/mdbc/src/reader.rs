//! A bounds-checked little-endian byte reader whose errors name the byte offset.

use crate::LoadError;

/// Reads little-endian values from a byte slice; every read is bounds-checked.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes` starting at offset `pos`.
    pub fn new(bytes: &'a [u8], pos: usize) -> Self {
        Reader { bytes, pos }
    }

    /// The current byte offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// True when every byte has been read.
    pub fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Takes `n` bytes; `what` names them in the error when fewer remain.
    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], LoadError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            LoadError::malformed(
                self.pos,
                format!(
                    "truncated {what}: needs {n} bytes, {} left",
                    self.bytes.len().saturating_sub(self.pos)
                ),
            )
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], LoadError> {
        let s = self.bytes(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads a `u8`.
    pub fn u8(&mut self, what: &str) -> Result<u8, LoadError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a little-endian `u16`.
    pub fn u16(&mut self, what: &str) -> Result<u16, LoadError> {
        self.array(what).map(u16::from_le_bytes)
    }

    /// Reads a little-endian `u32`.
    pub fn u32(&mut self, what: &str) -> Result<u32, LoadError> {
        self.array(what).map(u32::from_le_bytes)
    }

    /// Reads a little-endian `i32`.
    pub fn i32(&mut self, what: &str) -> Result<i32, LoadError> {
        self.array(what).map(i32::from_le_bytes)
    }

    /// Reads a little-endian `i64`.
    pub fn i64(&mut self, what: &str) -> Result<i64, LoadError> {
        self.array(what).map(i64::from_le_bytes)
    }

    /// Reads a little-endian IEEE-754 `f64`.
    pub fn f64(&mut self, what: &str) -> Result<f64, LoadError> {
        self.array(what).map(f64::from_le_bytes)
    }

    /// Reads a `u32` length and that many bytes of UTF-8.
    pub fn string(&mut self, what: &str) -> Result<String, LoadError> {
        let len = self.u32(what)? as usize;
        let at = self.pos;
        let b = self.bytes(len, what)?;
        String::from_utf8(b.to_vec())
            .map_err(|e| LoadError::malformed(at, format!("{what} is not UTF-8: {e}")))
    }
}
