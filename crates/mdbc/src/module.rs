//! The `.mdbc` file: header, sections, decoding and encoding.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 0..4 | magic `MDBC` |
//! | 4..8 | `u32` version (1) |
//! | 8..12 | `u32` flags (the frontend writes 1) |
//! | 12..28 | `u32` offsets of the name, constant, function-table and instruction sections |
//!
//! Name: `u32` length + UTF-8. Constants: `u32` count, then per constant a `u8` tag: 1 int
//! (`i64`), 2 float (`f64`), 3 string (`u32` length + UTF-8), 4 bool (`u8` 0 or 1), 5 empty.
//! Function table: `u32` count, then per function a name and a `u32` entry (stored in the
//! frontend serializer's count, see [`crate::repair`]). Instructions: `u32` count, then
//! instructions up to the end of the file.

use crate::isa::Instr;
use crate::reader::Reader;
use crate::repair::EntryMap;
use crate::LoadError;

/// File magic.
pub const MAGIC: &[u8; 4] = b"MDBC";
/// The only format version.
pub const VERSION: u32 = 1;
/// Header size in bytes.
pub const HEADER_LEN: usize = 28;

/// A constant-pool entry.
#[derive(Clone, Debug)]
pub enum Constant {
    /// Tag 1: a 64-bit integer.
    Int(i64),
    /// Tag 2: a 64-bit float.
    Float(f64),
    /// Tag 3: a UTF-8 string.
    Str(String),
    /// Tag 4: a boolean.
    Bool(bool),
    /// Tag 5: the empty value.
    Empty,
}

impl PartialEq for Constant {
    /// Identity of encodings: floats compare by bits (so `NaN == NaN`, `0.0 != -0.0`).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Constant::Int(a), Constant::Int(b)) => a == b,
            (Constant::Float(a), Constant::Float(b)) => a.to_bits() == b.to_bits(),
            (Constant::Str(a), Constant::Str(b)) => a == b,
            (Constant::Bool(a), Constant::Bool(b)) => a == b,
            (Constant::Empty, Constant::Empty) => true,
            _ => false,
        }
    }
}

impl Constant {
    /// The tag byte.
    pub fn tag(&self) -> u8 {
        match self {
            Constant::Int(_) => 1,
            Constant::Float(_) => 2,
            Constant::Str(_) => 3,
            Constant::Bool(_) => 4,
            Constant::Empty => 5,
        }
    }
}

/// A function-table entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// The function's name (spaces allowed).
    pub name: String,
    /// Index of its first instruction in the stream (after the serializer repair).
    pub entry: u32,
    /// The entry as stored in the file (the frontend serializer's count).
    pub stored_entry: u32,
}

/// A decoded module: what a `.mdbc` file holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    /// Module name.
    pub name: String,
    /// Header version (always [`VERSION`] after decoding).
    pub version: u32,
    /// Header flags, kept as stored.
    pub flags: u32,
    /// The constant pool.
    pub constants: Vec<Constant>,
    /// The function table, in file order.
    pub functions: Vec<Function>,
    /// The instruction stream.
    pub code: Vec<Instr>,
    /// The instruction count stored in the header (may be the serializer's miscount).
    pub header_count: u32,
    /// Byte offset of each instruction in the file, plus one past the last
    /// (`code.len() + 1` entries); canonical offsets for modules not read from a file. (`u32`:
    /// [`Module::decode`] refuses files of 4 GiB or more.)
    pub instr_offsets: Vec<u32>,
}

/// Positions of the sections in a file.
struct Sections {
    name: usize,
    constants: usize,
    functions: usize,
    instructions: usize,
}

fn read_header(bytes: &[u8]) -> Result<(u32, u32, Sections), LoadError> {
    if bytes.len() < HEADER_LEN {
        return Err(LoadError::malformed(
            bytes.len(),
            format!("file is {} bytes, shorter than the 28-byte header", bytes.len()),
        ));
    }
    if bytes.len() > u32::MAX as usize {
        // Section offsets are `u32`, and so are instruction offsets (`Module::instr_offsets`).
        return Err(LoadError::malformed(0, format!("file is {} bytes: at most 4 GiB can be loaded", bytes.len())));
    }
    if &bytes[0..4] != MAGIC {
        return Err(LoadError::malformed(0, format!("bad magic {:02x?}, expected \"MDBC\"", &bytes[0..4])));
    }
    let mut r = Reader::new(bytes, 4);
    let version = r.u32("version")?;
    if version != VERSION {
        return Err(LoadError::malformed(4, format!("unsupported version {version} (expected 1)")));
    }
    let flags = r.u32("flags")?;
    let mut offs = [0usize; 4];
    let names = ["name", "constant", "function table", "instruction"];
    for (i, o) in offs.iter_mut().enumerate() {
        let at = r.pos();
        let v = r.u32("section offset")? as usize;
        if v < HEADER_LEN || v > bytes.len() {
            return Err(LoadError::malformed(
                at,
                format!(
                    "{} section offset {v} is outside the file (header 28 bytes, file {} bytes)",
                    names[i],
                    bytes.len()
                ),
            ));
        }
        *o = v;
    }
    Ok((
        version,
        flags,
        Sections { name: offs[0], constants: offs[1], functions: offs[2], instructions: offs[3] },
    ))
}

/// Checks that a section read with `r` (starting at `start`) ended before the instruction section.
fn check_before_instructions(
    what: &str,
    start: usize,
    end: usize,
    instructions: usize,
) -> Result<(), LoadError> {
    if start < instructions && end > instructions {
        return Err(LoadError::malformed(
            start,
            format!("{what} section (bytes {start}..{end}) overlaps the instruction section at {instructions}"),
        ));
    }
    if start >= instructions {
        return Err(LoadError::malformed(
            start,
            format!("{what} section at {start} does not come before the instruction section at {instructions}"),
        ));
    }
    Ok(())
}

impl Module {
    /// Decodes a `.mdbc` file.
    ///
    /// Every offset, length, tag, opcode and operand encoding is checked; instructions are
    /// decoded from the instruction section to the end of the file. Function entries are mapped
    /// back through the serializer repair ([`crate::repair`]). The header's instruction count
    /// must equal the real count or, for a stream the frontend miscounts, the serializer's count.
    /// This does not run the verifier: see [`crate::verify`] or [`Module::load`].
    ///
    /// Errors: [`LoadError::Malformed`] naming the byte offset and what was wrong.
    pub fn decode(bytes: &[u8]) -> Result<Module, LoadError> {
        let (version, flags, s) = read_header(bytes)?;

        let mut r = Reader::new(bytes, s.name);
        let name = r.string("module name")?;
        check_before_instructions("name", s.name, r.pos(), s.instructions)?;

        let mut r = Reader::new(bytes, s.constants);
        let count = r.u32("constant count")?;
        if count as usize > (bytes.len() - r.pos()) {
            return Err(LoadError::malformed(
                s.constants,
                format!("constant count {count} exceeds the bytes left in the file"),
            ));
        }
        if count > u16::MAX as u32 + 1 {
            return Err(LoadError::malformed(
                s.constants,
                format!("constant count {count} exceeds the 65536 a u16 index can name"),
            ));
        }
        let mut constants = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let at = r.pos();
            let c = match r.u8("constant tag")? {
                1 => Constant::Int(r.i64("int constant")?),
                2 => Constant::Float(r.f64("float constant")?),
                3 => Constant::Str(r.string("string constant")?),
                4 => {
                    let b_at = r.pos();
                    match r.u8("bool constant")? {
                        0 => Constant::Bool(false),
                        1 => Constant::Bool(true),
                        b => {
                            return Err(LoadError::malformed(b_at, format!("bool constant byte {b}, not 0 or 1")))
                        }
                    }
                }
                5 => Constant::Empty,
                t => return Err(LoadError::malformed(at, format!("unknown constant tag {t}"))),
            };
            constants.push(c);
        }
        check_before_instructions("constant", s.constants, r.pos(), s.instructions)?;

        let mut r = Reader::new(bytes, s.functions);
        let fcount = r.u32("function count")?;
        if fcount as usize > (bytes.len() - r.pos()) / 8 {
            return Err(LoadError::malformed(
                s.functions,
                format!("function count {fcount} exceeds the bytes left in the file"),
            ));
        }
        let mut table = Vec::with_capacity(fcount as usize);
        for _ in 0..fcount {
            let at = r.pos();
            let fname = r.string("function name")?;
            let stored = r.u32("function entry")?;
            table.push((at, fname, stored));
        }
        check_before_instructions("function table", s.functions, r.pos(), s.instructions)?;

        let mut r = Reader::new(bytes, s.instructions);
        let header_count = r.u32("instruction count")?;
        let code_start = r.pos();
        // Sized from the header (each instruction takes at least a byte, so a header declaring
        // more than the bytes left is not believed): growing by doubling would hold up to
        // twice the memory while decoding.
        let expect = (header_count as usize).min(bytes.len() - code_start);
        let mut code = Vec::with_capacity(expect);
        let mut instr_offsets = Vec::with_capacity(expect + 1);
        while !r.at_end() {
            instr_offsets.push(r.pos() as u32);
            code.push(Instr::decode(&mut r)?);
        }
        instr_offsets.push(r.pos() as u32);

        let map = EntryMap::new(&bytes[code_start..], &instr_offsets, code_start as u32);
        let real = code.len() as u32;
        if header_count != real && !(map.miscounted && header_count == map.total()) {
            return Err(LoadError::malformed(
                s.instructions,
                format!("instruction count in header is {header_count}, but the stream holds {real} instructions"),
            ));
        }

        let mut functions = Vec::with_capacity(table.len());
        let mut seen = std::collections::HashSet::with_capacity(table.len());
        for (at, fname, stored) in table {
            if !seen.insert(fname.clone()) {
                return Err(LoadError::malformed(at, format!("function `{fname}` appears twice in the function table")));
            }
            let entry = map.real_index(stored).ok_or_else(|| {
                LoadError::malformed(
                    at,
                    if map.miscounted {
                        format!("entry {stored} of function `{fname}` matches no instruction (after the serializer repair)")
                    } else {
                        format!("entry {stored} of function `{fname}` is past the last instruction ({real} instructions)")
                    },
                )
            })?;
            functions.push(Function { name: fname, entry, stored_entry: stored });
        }

        Ok(Module { name, version, flags, constants, functions, code, header_count, instr_offsets })
    }

    /// The instruction count a file's header declares, read without decoding anything else
    /// (for sizing what loading it will take before it starts); `None` when the header or the
    /// count cannot be read. [`Module::decode`] checks the count against the stream.
    pub fn declared_instruction_count(bytes: &[u8]) -> Option<u32> {
        let (_, _, s) = read_header(bytes).ok()?;
        Reader::new(bytes, s.instructions).u32("instruction count").ok()
    }

    /// Decodes and verifies a file: [`Module::decode`] then [`crate::verify`].
    pub fn load(bytes: &[u8]) -> Result<(Module, crate::Layout), LoadError> {
        let m = Module::decode(bytes)?;
        let layout = crate::verify(&m)?;
        Ok((m, layout))
    }

    /// Builds a module from parts, writing the header count as the real count and each stored
    /// entry as the frontend serializer's count (so the file reads like the frontend's).
    ///
    /// Errors: a function whose entry the serializer convention cannot represent (an earlier
    /// instruction boundary has the same serializer count); its message names the function.
    pub fn build(
        name: String,
        constants: Vec<Constant>,
        functions: Vec<(String, u32)>,
        code: Vec<Instr>,
    ) -> Result<Module, String> {
        let mut m = Module {
            name,
            version: VERSION,
            flags: 1,
            constants,
            functions: functions
                .into_iter()
                .map(|(name, entry)| Function { name, entry, stored_entry: entry })
                .collect(),
            header_count: code.len() as u32,
            code,
            instr_offsets: Vec::new(),
        };
        let bytes = m.code_bytes();
        let mut rel = Vec::with_capacity(m.code.len() + 1);
        let mut at = 0u32;
        for i in &m.code {
            rel.push(at);
            at += i.encoded_len() as u32;
        }
        rel.push(at);
        let map = EntryMap::new(&bytes, &rel, 0);
        for f in &mut m.functions {
            if f.entry as usize > m.code.len() {
                return Err(format!("function `{}` starts past the end of the code", f.name));
            }
            let stored = map.counts[f.entry as usize];
            if map.real_index(stored) != Some(f.entry) {
                return Err(format!(
                    "the entry of function `{}` cannot be written in the frontend's instruction count \
                     (an earlier instruction has the same count); insert a NOP before it",
                    f.name
                ));
            }
            f.stored_entry = stored;
        }
        let code_start = m.layout_offsets().3 + 4;
        m.instr_offsets = rel.iter().map(|r| r + code_start as u32).collect();
        Ok(m)
    }

    /// The instruction stream's bytes.
    pub fn code_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for i in &self.code {
            i.encode(&mut out);
        }
        out
    }

    /// Section offsets of the canonical layout (name, constants, functions, instructions).
    fn layout_offsets(&self) -> (usize, usize, usize, usize) {
        let name = HEADER_LEN;
        let consts = name + 4 + self.name.len();
        let mut funcs = consts + 4;
        for c in &self.constants {
            funcs += 1 + match c {
                Constant::Int(_) | Constant::Float(_) => 8,
                Constant::Str(s) => 4 + s.len(),
                Constant::Bool(_) => 1,
                Constant::Empty => 0,
            };
        }
        let mut instrs = funcs + 4;
        for f in &self.functions {
            instrs += 8 + f.name.len();
        }
        (name, consts, funcs, instrs)
    }

    /// Encodes the module in the canonical layout (sections in order name, constants, function
    /// table, instructions, as the frontend writes them). Stored entries and the header count
    /// are written as held in the module, so decoding then encoding a canonical file gives back
    /// the same bytes.
    pub fn encode(&self) -> Vec<u8> {
        let (name_off, const_off, func_off, instr_off) = self.layout_offsets();
        let mut out = Vec::with_capacity(instr_off + 4 * self.code.len() + 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        for o in [name_off, const_off, func_off, instr_off] {
            out.extend_from_slice(&(o as u32).to_le_bytes());
        }
        out.extend_from_slice(&(self.name.len() as u32).to_le_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(&(self.constants.len() as u32).to_le_bytes());
        for c in &self.constants {
            out.push(c.tag());
            match c {
                Constant::Int(v) => out.extend_from_slice(&v.to_le_bytes()),
                Constant::Float(v) => out.extend_from_slice(&v.to_le_bytes()),
                Constant::Str(s) => {
                    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
                Constant::Bool(b) => out.push(*b as u8),
                Constant::Empty => {}
            }
        }
        out.extend_from_slice(&(self.functions.len() as u32).to_le_bytes());
        for f in &self.functions {
            out.extend_from_slice(&(f.name.len() as u32).to_le_bytes());
            out.extend_from_slice(f.name.as_bytes());
            out.extend_from_slice(&f.stored_entry.to_le_bytes());
        }
        debug_assert_eq!(out.len(), instr_off);
        out.extend_from_slice(&self.header_count.to_le_bytes());
        for i in &self.code {
            i.encode(&mut out);
        }
        out
    }

    /// The byte offset of instruction `index` in the file (or of the end of the stream).
    pub fn byte_offset(&self, index: u32) -> usize {
        self.instr_offsets.get(index as usize).map_or(0, |&o| o as usize)
    }
}
