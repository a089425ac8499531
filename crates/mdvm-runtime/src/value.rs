//! Values and heap objects.
//!
//! # In-memory layout (read by the JIT)
//!
//! [`Value`] is `#[repr(C, u64)]` and 16 bytes ([`VALUE_SIZE`]): the tag is the `u64` word at
//! offset 0 ([`TAG_OFFSET`]; its value is a [`Tag`], equal to the frontend's type ids), the
//! payload the 8 bytes at offset 8 ([`PAYLOAD_OFFSET`]):
//!
//! | tag | variant | payload at offset 8 |
//! |---|---|---|
//! | 0 | `Empty` | nothing |
//! | 1 | `Bool` | `u8` 0 or 1 |
//! | 2 | `Int` | `i64` |
//! | 3 | `Float` | `f64` |
//! | 4 | `Str` | `Rc<Str>` (thin pointer to the reference-counted box) |
//! | 5 | `Function` | `Rc<FunctionRef>` |
//! | 6 | `Url` | `Rc<Str>` |
//! | 7 | `Array` | `Rc<Array>` ([`crate::array`]: ints and floats packed, 8 bytes each) |
//! | 8 | `Dict` | `Rc<Dict>` |
//!
//! Tags `>= 4` ([`Tag::FIRST_HEAP`]) own one strong reference count; the others are plain data,
//! so a value with tag `< 4` can be copied or overwritten without any bookkeeping. All-zero
//! bytes are a valid `Empty`.
//!
//! Strings, arrays and dicts have value semantics, implemented by copy-on-write: writes go
//! through [`Rc::make_mut`], which copies only when the object is shared. Values cannot form
//! cycles, so reference counting frees everything.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

pub use crate::array::{array_layout, Array, ArrayLayout};

use indexmap::IndexMap;

/// A dictionary: string keys in insertion order.
pub type Dict = IndexMap<Rc<Str>, Value, rustc_hash::FxBuildHasher>;

/// The type tag of a [`Value`] (the tag word at offset 0), equal to the bytecode's type ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Tag {
    /// The empty value.
    Empty = 0,
    /// `true` / `false`.
    Bool = 1,
    /// 64-bit signed integer.
    Int = 2,
    /// 64-bit float.
    Float = 3,
    /// Text.
    Str = 4,
    /// A function of the module.
    Function = 5,
    /// A URL (text).
    Url = 6,
    /// A list.
    Array = 7,
    /// A dictionary.
    Dict = 8,
}

impl Tag {
    /// Tags at or above this one hold a reference-counted pointer.
    pub const FIRST_HEAP: u8 = 4;
    /// Number of tags.
    pub const COUNT: usize = 9;

    /// The tag for byte `b`, if valid.
    pub fn from_u8(b: u8) -> Option<Tag> {
        Some(match b {
            0 => Tag::Empty,
            1 => Tag::Bool,
            2 => Tag::Int,
            3 => Tag::Float,
            4 => Tag::Str,
            5 => Tag::Function,
            6 => Tag::Url,
            7 => Tag::Array,
            8 => Tag::Dict,
            _ => return None,
        })
    }

    /// The type's name as used in error messages (`int`, `string`, ...).
    pub fn name(self) -> &'static str {
        mdbc::operand::TYPE_NAMES[self as usize]
    }
}

/// An immutable string with its length in characters (Unicode scalar values) cached.
/// `repr(C)`, so that compiled code can read the count ([`str_layout`]).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Str {
    text: Box<str>,
    chars: usize,
}

impl Str {
    /// A string holding `s`.
    pub fn new(s: impl Into<Box<str>>) -> Str {
        let text = s.into();
        let chars = text.chars().count();
        Str { text, chars }
    }

    /// Concatenation of `a` and `b` (character count added, not recounted).
    pub fn concat(a: &str, a_chars: usize, b: &str, b_chars: usize) -> Str {
        let mut s = String::with_capacity(a.len() + b.len());
        s.push_str(a);
        s.push_str(b);
        Str { text: s.into_boxed_str(), chars: a_chars + b_chars }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Length in bytes.
    pub fn byte_len(&self) -> usize {
        self.text.len()
    }

    /// Length in characters (Unicode scalar values).
    pub fn char_len(&self) -> usize {
        self.chars
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for Str {}
impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state)
    }
}

/// A function value: which body of the module, and its name (for printing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionRef {
    /// Index into the program's function table.
    pub index: u32,
    /// The function's name.
    pub name: Box<str>,
}

/// Where compiled code finds a string's character count: the byte offset from the payload
/// word of a [`Value::Str`] (the address of its `Rc` allocation) to [`Str::char_len`]'s `usize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrLayout {
    /// Offset of the character count.
    pub chars: i32,
}

/// The [`StrLayout`] of this build, measured once on live strings (the field order of `Rc`'s
/// allocation is unspecified); `None` when inconclusive, and compiled code then leaves string
/// lengths to the runtime.
pub fn str_layout() -> Option<StrLayout> {
    static LAYOUT: std::sync::OnceLock<Option<StrLayout>> = std::sync::OnceLock::new();
    *LAYOUT.get_or_init(|| {
        let mut found = None;
        for text in ["ab", "héllo wörld"] {
            let value = Value::str(text);
            let Value::Str(rc) = &value else { return None };
            // SAFETY: `Value` is `repr(C, u64)`; a `Str` value's payload at offset 8 is its `Rc`,
            // one initialized non-null pointer word (the layout this module documents).
            let alloc = unsafe { std::ptr::read((&value as *const Value as *const u8).add(PAYLOAD_OFFSET as usize) as *const usize) };
            let at = (Rc::as_ptr(rc) as usize).checked_sub(alloc).filter(|&o| o < 256 && o % 8 == 0)?;
            let layout = StrLayout { chars: (at + std::mem::offset_of!(Str, chars)) as i32 };
            if found.is_some_and(|f| f != layout) {
                return None;
            }
            found = Some(layout);
        }
        found
    })
}

/// A Machine Dialect value. See the module documentation for the layout.
#[derive(Debug, Default)]
#[repr(C, u64)]
pub enum Value {
    /// Tag 0.
    #[default]
    Empty = 0,
    /// Tag 1.
    Bool(bool) = 1,
    /// Tag 2.
    Int(i64) = 2,
    /// Tag 3.
    Float(f64) = 3,
    /// Tag 4.
    Str(Rc<Str>) = 4,
    /// Tag 5.
    Function(Rc<FunctionRef>) = 5,
    /// Tag 6.
    Url(Rc<Str>) = 6,
    /// Tag 7.
    Array(Rc<Array>) = 7,
    /// Tag 8.
    Dict(Rc<Dict>) = 8,
}

/// Size in bytes of a [`Value`]: a register's slot in the value stack, and an element of an
/// array held as values. Register `rN` of a window is `VALUE_SIZE * N` bytes from `r0`.
pub const VALUE_SIZE: i32 = 16;

/// Byte offset of the tag word in a [`Value`] (a `u64`: `repr(C, u64)`).
pub const TAG_OFFSET: i32 = 0;

/// Byte offset of the payload in a [`Value`].
pub const PAYLOAD_OFFSET: i32 = 8;

// The JIT relies on this layout.
const _: () = assert!(std::mem::size_of::<Value>() == VALUE_SIZE as usize);
const _: () = assert!(std::mem::align_of::<Value>() == 8);

impl Value {
    /// The value's tag.
    #[inline(always)]
    pub fn tag(&self) -> Tag {
        match self {
            Value::Empty => Tag::Empty,
            Value::Bool(_) => Tag::Bool,
            Value::Int(_) => Tag::Int,
            Value::Float(_) => Tag::Float,
            Value::Str(_) => Tag::Str,
            Value::Function(_) => Tag::Function,
            Value::Url(_) => Tag::Url,
            Value::Array(_) => Tag::Array,
            Value::Dict(_) => Tag::Dict,
        }
    }

    /// True if the value holds a reference-counted pointer (tag >= 4).
    #[inline(always)]
    pub fn is_heap(&self) -> bool {
        self.tag() as u8 >= Tag::FIRST_HEAP
    }

    /// Overwrites `self` with `v`, releasing the old value. The common case (the old value is
    /// plain data) is a store and a tag check; only a heap value goes through its destructor.
    #[inline(always)]
    pub fn set(&mut self, v: Value) {
        if self.is_heap() {
            release(std::mem::replace(self, v));
        } else {
            // The old value owns nothing: skip its destructor (and any read of it).
            std::mem::forget(std::mem::replace(self, v));
        }
    }

    /// A string value holding `s`.
    pub fn str(s: impl Into<Box<str>>) -> Value {
        Value::Str(Rc::new(Str::new(s)))
    }

    /// An array value of `elems` (packed when they allow it).
    pub fn array(elems: Vec<Value>) -> Value {
        Value::Array(Rc::new(Array::from_values(elems)))
    }

    /// A dict value of `entries` in order (a repeated key keeps its first place and its last
    /// value, as `DICT_SET_R` does).
    pub fn dict(entries: impl IntoIterator<Item = (String, Value)>) -> Value {
        let mut d = Dict::default();
        for (k, v) in entries {
            d.insert(Rc::new(Str::new(k)), v);
        }
        Value::Dict(Rc::new(d))
    }

    /// The type name (`int`, `string`, ...) for error messages.
    pub fn type_name(&self) -> &'static str {
        self.tag().name()
    }

    /// Truthiness: empty, false, 0, 0.0, NaN, "", the empty array and the empty dict are false.
    #[inline]
    pub fn truthy(&self) -> bool {
        match self {
            Value::Empty => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0 && !f.is_nan(),
            Value::Str(s) | Value::Url(s) => s.byte_len() != 0,
            Value::Function(_) => true,
            Value::Array(a) => !a.is_empty(),
            Value::Dict(d) => !d.is_empty(),
        }
    }

    /// Writes the display form (as `DEBUG_PRINT` writes it, without the newline); an empty
    /// value at top level writes `empty` (callers that print decide to print nothing).
    pub fn write_display(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match self {
            Value::Empty => out.write_str("empty"),
            Value::Bool(b) => out.write_str(if *b { "true" } else { "false" }),
            Value::Int(i) => write!(out, "{i}"),
            Value::Float(f) => write!(out, "{f}"),
            Value::Str(s) | Value::Url(s) => out.write_str(s.as_str()),
            Value::Function(f) => out.write_str(&f.name),
            Value::Array(a) => {
                out.write_char('[')?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.write_str(", ")?;
                    }
                    v.write_display(out)?;
                }
                out.write_char(']')
            }
            Value::Dict(d) => {
                out.write_char('{')?;
                for (i, (k, v)) in d.iter().enumerate() {
                    if i > 0 {
                        out.write_str(", ")?;
                    }
                    out.write_str(k.as_str())?;
                    out.write_str(": ")?;
                    v.write_display(out)?;
                }
                out.write_char('}')
            }
        }
    }

    /// The display form as a `String` (empty as `empty`).
    pub fn display_string(&self) -> String {
        let mut s = String::new();
        let _ = self.write_display(&mut s);
        s
    }

    /// Equality as `EQ_R` defines it: int and float compare by value (the int converted to
    /// float), NaN equals nothing, values of different types are unequal, strings, arrays and
    /// dicts compare by contents.
    pub fn equals(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Empty, Value::Empty) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => (*a as f64) == *b,
            (Value::Str(a), Value::Str(b)) | (Value::Url(a), Value::Url(b)) => {
                Rc::ptr_eq(a, b) || a.as_str() == b.as_str()
            }
            (Value::Function(a), Value::Function(b)) => a.index == b.index,
            (Value::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.equals(&y))
            }
            (Value::Dict(a), Value::Dict(b)) => {
                a.len() == b.len()
                    && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v.equals(w)))
            }
            _ => false,
        }
    }
}

impl Clone for Value {
    /// Copies plain values inline; a heap value adds a reference (out of line).
    #[inline(always)]
    fn clone(&self) -> Value {
        match self {
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(*f),
            _ => self.clone_other(),
        }
    }
}

impl Value {
    #[inline(never)]
    fn clone_other(&self) -> Value {
        match self {
            Value::Empty => Value::Empty,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(*f),
            Value::Str(s) => Value::Str(s.clone()),
            Value::Function(f) => Value::Function(f.clone()),
            Value::Url(s) => Value::Url(s.clone()),
            Value::Array(a) => Value::Array(a.clone()),
            Value::Dict(d) => Value::Dict(d.clone()),
        }
    }
}

impl Value {
    /// The value's two words as they lie in memory (the layout above), giving up ownership:
    /// a heap payload keeps its reference, to be taken back by [`Value::from_raw_parts`].
    /// Native code moves values as these words.
    pub fn into_raw_parts(self) -> (u64, u64) {
        let v = std::mem::ManuallyDrop::new(self);
        let p = &*v as *const Value as *const u8;
        // SAFETY: `Value` is `repr(C, u64)`: the tag is an initialized u64 at offset 0; the
        // payload at offset 8 is an initialized u64 for ints, floats and the pointer of every
        // heap variant, one initialized byte for bools, nothing for empty. Only initialized
        // bytes are read. The value is not dropped, so a heap reference moves into the words.
        unsafe {
            let tag = std::ptr::read(p as *const u64);
            let payload = match tag {
                0 => 0,
                1 => *p.add(8) as u64,
                _ => std::ptr::read(p.add(8) as *const u64),
            };
            (tag, payload)
        }
    }

    /// Rebuilds a value from the two words of [`Value::into_raw_parts`] (or words native code
    /// copied out of a slot it owned).
    ///
    /// # Safety
    /// `tag` must be a valid tag (0..=8); for a bool `payload` is 0 or 1; for an int or float
    /// its bits; for a heap tag the payload word of a value of that tag whose reference is
    /// transferred to the result.
    pub unsafe fn from_raw_parts(tag: u64, payload: u64) -> Value {
        let mut v = std::mem::MaybeUninit::<Value>::uninit();
        let p = v.as_mut_ptr() as *mut u64;
        // SAFETY: both words lie inside the 16-byte value; the caller guarantees they form a
        // valid value of this layout (a bool payload of 0/1 makes the bool byte valid).
        unsafe {
            std::ptr::write(p, tag);
            std::ptr::write(p.add(1), if tag == 1 { payload & 1 } else { payload });
            v.assume_init()
        }
    }
}

/// Drops a heap value, out of line so hot paths stay small.
#[cold]
#[inline(never)]
fn release(v: Value) {
    drop(v)
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_display(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(v: Vec<Value>) -> Value {
        Value::Array(Rc::new(Array::from_values(v)))
    }

    #[test]
    fn layout_is_tag_byte_then_payload_at_8() {
        let v = Value::Int(0x1122334455667788);
        // SAFETY: Value is repr(C, u64) and 16 bytes; reading its bytes is reading plain memory.
        let bytes: [u8; 16] = unsafe { std::mem::transmute_copy(&v) };
        assert_eq!(bytes[0], Tag::Int as u8);
        assert_eq!(i64::from_le_bytes(bytes[8..16].try_into().unwrap()), 0x1122334455667788);
        let f = Value::Float(2.5);
        // SAFETY: as above.
        let bytes: [u8; 16] = unsafe { std::mem::transmute_copy(&f) };
        assert_eq!(bytes[0], Tag::Float as u8);
        assert_eq!(f64::from_le_bytes(bytes[8..16].try_into().unwrap()), 2.5);
        // SAFETY: all-zero bytes are documented to be a valid Empty.
        let z: Value = unsafe { std::mem::zeroed() };
        assert!(matches!(z, Value::Empty));
    }

    #[test]
    fn raw_parts_round_trip_and_match_memory() {
        let vals = [
            Value::Empty,
            Value::Bool(true),
            Value::Int(-5),
            Value::Float(2.5),
            Value::str("héllo"),
            arr(vec![Value::Int(1), Value::str("x")]),
        ];
        for v in vals {
            let shown = v.display_string();
            let copy = v.clone();
            let (tag, payload) = v.into_raw_parts();
            assert_eq!(tag, copy.tag() as u64);
            if tag >= 2 {
                // SAFETY: reading the initialized payload word of a live value.
                let mem = unsafe { std::ptr::read((&copy as *const Value as *const u64).add(1)) };
                assert_eq!(payload, mem, "{shown}");
            }
            // SAFETY: the words came from `into_raw_parts`.
            let back = unsafe { Value::from_raw_parts(tag, payload) };
            assert_eq!(back.display_string(), shown);
        }
    }

    #[test]
    fn display_follows_design() {
        assert_eq!(Value::Float(1.0).display_string(), "1");
        assert_eq!(Value::Float(-0.0).display_string(), "-0");
        assert_eq!(Value::Float(0.1 + 0.2).display_string(), "0.30000000000000004");
        assert_eq!(Value::Float(1e20).display_string(), "100000000000000000000");
        assert_eq!(Value::Bool(true).display_string(), "true");
        let a = arr(vec![Value::Int(42), Value::str("hello"), Value::Float(3.5), Value::Bool(true), Value::Empty]);
        assert_eq!(a.display_string(), "[42, hello, 3.5, true, empty]");
        let mut d = Dict::default();
        d.insert(Rc::new(Str::new("b")), Value::Empty);
        d.insert(Rc::new(Str::new("a")), Value::Float(1.5));
        assert_eq!(Value::Dict(Rc::new(d)).display_string(), "{b: empty, a: 1.5}");
    }

    #[test]
    fn truthiness_follows_design() {
        for v in [Value::Empty, Value::Bool(false), Value::Int(0), Value::Float(0.0), Value::Float(f64::NAN), Value::str(""), arr(vec![]), Value::Dict(Rc::default())] {
            assert!(!v.truthy(), "{v:?} should be false");
        }
        for v in [Value::Bool(true), Value::Int(-1), Value::Float(0.5), Value::str("x"), arr(vec![Value::Empty])] {
            assert!(v.truthy(), "{v:?} should be true");
        }
    }

    #[test]
    fn equality_follows_design() {
        assert!(Value::Int(2).equals(&Value::Float(2.0)));
        assert!(!Value::Float(f64::NAN).equals(&Value::Float(f64::NAN)));
        assert!(!Value::Int(1).equals(&Value::Bool(true)));
        assert!(!Value::str("1").equals(&Value::Int(1)));
        assert!(Value::Empty.equals(&Value::Empty));
        assert!(arr(vec![Value::Int(1)]).equals(&arr(vec![Value::Float(1.0)])));
    }

    #[test]
    fn char_len_counts_scalars() {
        assert_eq!(Str::new("héllo✓").char_len(), 6);
        let c = Str::concat("ab", 2, "é", 1);
        assert_eq!(c.char_len(), 3);
        assert_eq!(c.as_str(), "abé");
    }
}
