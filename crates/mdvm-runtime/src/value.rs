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
//!
//! # Nesting without native recursion
//!
//! Arrays and dicts nest to any depth (a loop doing `t = [a]; a = t` a million times) and may
//! share structure exponentially (`a = [a, a]` sixty times holds 2^60 leaves). Nothing that
//! walks a value recurses on the native stack:
//!
//! * **Freeing.** [`Array`] and [`Dict`] implement `Drop`: when the last reference to one goes
//!   away, each element whose own freeing would go further down (an array or dict, held by no
//!   one else, with elements of its own) is moved onto an explicit worklist instead of being
//!   dropped in place, and the worklist is emptied the same way, one container at a time. Every
//!   other element is dropped directly, which goes at most one level down. Plain values never
//!   reach this code ([`Value::set`] skips their destructor), and a flat container allocates no
//!   worklist.
//! * **Display** ([`Value::write_display`]) and **equality** ([`Value::equals`]) keep the
//!   containers they are inside on an explicit stack, allocated only when a container holds
//!   another. Equality also remembers the pairs of shared containers it has found equal, so
//!   comparing exponentially shared values takes time in proportion to their distinct parts.
//!   (Display cannot: its output is as long as the value is wide.)
//! * **Building text.** [`Value::display_string_within`] and [`BoundedString`] stop as soon as
//!   the text would pass a limit, so converting a huge value to a string fails after building
//!   at most the limit, not the whole text.

use std::cell::Cell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

pub use crate::array::{array_layout, Array, ArrayLayout};
use crate::array::KIND_VALUES;

pub use crate::dict::Dict;

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

/// An immutable string with its length in characters (Unicode scalar values) and its hash
/// cached. `repr(C)`, so that compiled code can read the count ([`str_layout`]).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Str {
    /// [`Str::hash_code`] once computed; 0 before. First, beside the `Rc`'s counts: a dict
    /// lookup in compiled code reads the strong count and the hash, usually from one cache
    /// line (at the end of the `Str`, the hash was on the next line for most allocations).
    hash: Cell<u64>,
    chars: usize,
    /// A `String`, not a `Box<str>`: a string its register holds alone grows in place
    /// ([`Str::push`]), with the spare capacity that makes appending amortized O(1).
    text: String,
}

impl Str {
    /// A string holding `s`. A `String` is taken as it is, without a copy, and keeps its
    /// spare capacity when that is small (at most 16 bytes and a quarter of its length): a
    /// string built by a text builder is not reallocated just to shrink it.
    pub fn new(s: impl Into<String>) -> Str {
        let mut text = s.into();
        if text.capacity() - text.len() > 16 + text.len() / 4 {
            text.shrink_to_fit();
        }
        let chars = text.chars().count();
        Str { hash: Cell::new(0), chars, text }
    }

    /// Concatenation of `a` and `b` (character count added, not recounted).
    pub fn concat(a: &str, a_chars: usize, b: &str, b_chars: usize) -> Str {
        let mut s = String::with_capacity(a.len() + b.len());
        s.push_str(a);
        s.push_str(b);
        Str { hash: Cell::new(0), chars: a_chars + b_chars, text: s }
    }

    /// Appends `s`, of `chars` characters, in place (the caller holds this string alone and
    /// has checked the length and memory limits). The cached hash is dropped.
    pub fn push(&mut self, s: &str, chars: usize) {
        self.text.push_str(s);
        self.chars += chars;
        self.hash.set(0);
    }

    /// The string's hash: FxHash of its bytes (never 0), computed at the first call and cached,
    /// so a string used as a dict key many times is hashed once. [`Hash`] for `Str` writes this
    /// one word; equal strings have equal hash codes.
    pub fn hash_code(&self) -> u64 {
        match self.hash.get() {
            0 => {
                let mut h = rustc_hash::FxHasher::default();
                h.write(self.text.as_bytes());
                let code = h.finish().max(1);
                self.hash.set(code);
                code
            }
            code => code,
        }
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

/// Equal text. The same string is equal without a look at its bytes, and two strings whose
/// hashes are both cached and differ are unequal.
impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        if std::ptr::eq(self, other) {
            return true;
        }
        let (a, b) = (self.hash.get(), other.hash.get());
        (a == 0 || b == 0 || a == b) && self.text == other.text
    }
}
impl Eq for Str {}
/// The cached [`Str::hash_code`], one word.
impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash_code())
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

/// Where compiled code finds a string's character count and cached hash: byte offsets from
/// the payload word of a [`Value::Str`] (the address of its `Rc` allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrLayout {
    /// Offset of the character count ([`Str::char_len`], a `usize`).
    pub chars: i32,
    /// Offset of the cached hash (a `u64`: [`Str::hash_code`] once computed, 0 before).
    pub hash: i32,
}

/// About the bytes a copy of `d` allocates (its entries and index), for the memory limit
/// ([`crate::memory`]).
pub fn dict_heap_bytes(d: &Dict) -> usize {
    d.heap_bytes()
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
            let layout = StrLayout {
                chars: (at + std::mem::offset_of!(Str, chars)) as i32,
                hash: (at + std::mem::offset_of!(Str, hash)) as i32,
            };
            if found.is_some_and(|f| f != layout) {
                return None;
            }
            found = Some(layout);
        }
        found
    })
}

/// A Machine Dialect value. See the module documentation for the layout.
#[derive(Default)]
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

/// `Int(3)`, `Str("a")`, ...; an array or dict as its display form, cut after
/// [`DEBUG_TEXT_BYTES`] bytes (written without recursion, and without charging fuel).
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Empty => f.write_str("Empty"),
            Value::Bool(b) => f.debug_tuple("Bool").field(b).finish(),
            Value::Int(i) => f.debug_tuple("Int").field(i).finish(),
            Value::Float(x) => f.debug_tuple("Float").field(x).finish(),
            Value::Str(s) => f.debug_tuple("Str").field(&s.as_str()).finish(),
            Value::Url(s) => f.debug_tuple("Url").field(&s.as_str()).finish(),
            Value::Function(r) => f.debug_tuple("Function").field(&r.name).finish(),
            Value::Array(_) | Value::Dict(_) => {
                /// Keeps the first [`DEBUG_TEXT_BYTES`] bytes written, then refuses.
                struct Cut(String, bool);
                impl fmt::Write for Cut {
                    fn write_str(&mut self, s: &str) -> fmt::Result {
                        let room = DEBUG_TEXT_BYTES - self.0.len();
                        if s.len() <= room {
                            self.0.push_str(s);
                            return Ok(());
                        }
                        let mut end = room;
                        while !s.is_char_boundary(end) {
                            end -= 1;
                        }
                        self.0.push_str(&s[..end]);
                        self.1 = true;
                        Err(fmt::Error)
                    }
                }
                let mut cut = Cut(String::new(), false);
                let _ = self.write_display(&mut cut);
                let kind = if matches!(self, Value::Array(_)) { "Array" } else { "Dict" };
                write!(f, "{kind}({}{})", cut.0, if cut.1 { "..." } else { "" })
            }
        }
    }
}

/// Bytes of an array's or dict's display form its `Debug` form shows.
pub const DEBUG_TEXT_BYTES: usize = 256;

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
    pub fn str(s: impl Into<String>) -> Value {
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
    ///
    /// Nesting of any depth is walked with an explicit stack (module documentation). The first
    /// error `out` returns ends the walk and is returned.
    pub fn write_display(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match self {
            Value::Empty => out.write_str("empty"),
            Value::Bool(b) => out.write_str(if *b { "true" } else { "false" }),
            Value::Int(i) => write!(out, "{i}"),
            Value::Float(f) => write!(out, "{f}"),
            Value::Str(s) | Value::Url(s) => out.write_str(s.as_str()),
            Value::Function(f) => out.write_str(&f.name),
            Value::Array(a) => write_container(Node::Array(a), out),
            Value::Dict(d) => write_container(Node::Dict(d), out),
        }
    }

    /// The display form as a `String` (empty as `empty`), with no size limit: a value sharing
    /// structure exponentially has an exponentially long display form. Conversions a program
    /// makes use [`Value::display_string_within`].
    pub fn display_string(&self) -> String {
        let mut s = String::new();
        let _ = self.write_display(&mut s);
        s
    }

    /// The display form as a `String` if it is at most `max_bytes` bytes long; `None`, as
    /// soon as the text would pass `max_bytes`, otherwise (at most `max_bytes` are built).
    pub fn display_string_within(&self, max_bytes: usize) -> Option<String> {
        let mut s = BoundedString::new(max_bytes);
        self.write_display(&mut s).ok()?;
        Some(s.into_string())
    }

    /// Equality as `EQ_R` defines it: int and float compare by value (the int converted to
    /// float), NaN equals nothing, values of different types are unequal, strings, arrays and
    /// dicts compare by contents (arrays element by element, dicts as sets of key-value pairs).
    ///
    /// Nesting of any depth is compared with an explicit stack (module documentation).
    pub fn equals(&self, other: &Value) -> bool {
        self.compare_equal(other, false).unwrap_or(false)
    }

    /// [`Value::equals`] as an instruction does it, charging the comparison's work to the
    /// fuel of the instruction in progress ([`crate::work`]): 16 bytes per element pair of
    /// arrays and dicts, 8 per element of packed arrays, and the length of strings of equal
    /// length.
    ///
    /// Errors: [`ErrorKind::FuelExhausted`](crate::ErrorKind::FuelExhausted) when the fuel
    /// left cannot cover it.
    pub fn try_equals(&self, other: &Value) -> Result<bool, crate::OpError> {
        self.compare_equal(other, true)
    }

    fn compare_equal(&self, other: &Value, charged: bool) -> Result<bool, crate::OpError> {
        let charge = |bytes: usize| if charged { crate::work::charge(bytes) } else { Ok(()) };
        Ok(match (self, other) {
            (Value::Empty, Value::Empty) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => (*a as f64) == *b,
            (Value::Str(a), Value::Str(b)) | (Value::Url(a), Value::Url(b)) => {
                if Rc::ptr_eq(a, b) {
                    true
                } else if a.byte_len() != b.byte_len() {
                    false
                } else {
                    charge(a.byte_len())?;
                    a.as_str() == b.as_str()
                }
            }
            (Value::Function(a), Value::Function(b)) => a.index == b.index,
            (Value::Array(a), Value::Array(b)) => {
                if a.len() != b.len() {
                    false
                } else {
                    charge(a.len().saturating_mul(8))?;
                    match a.packed_eq(b) {
                        Some(eq) => eq,
                        None => equal_containers(Node::Array(a), Node::Array(b), charged)?,
                    }
                }
            }
            (Value::Dict(a), Value::Dict(b)) => a.len() == b.len() && equal_containers(Node::Dict(a), Node::Dict(b), charged)?,
            _ => false,
        })
    }
}

/// A `String` that refuses to grow past a limit: a [`fmt::Write`] target for display
/// conversions with a size limit. A write that would make the text longer than the limit
/// fails with [`fmt::Error`] and adds nothing, so writing stops there.
#[derive(Clone, Debug, Default)]
pub struct BoundedString {
    text: String,
    limit: usize,
}

impl BoundedString {
    /// An empty string that may grow to `limit` bytes.
    pub fn new(limit: usize) -> BoundedString {
        BoundedString { text: String::new(), limit }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The text.
    pub fn into_string(self) -> String {
        self.text
    }
}

impl fmt::Write for BoundedString {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // `text.len() <= limit` always holds.
        if s.len() > self.limit - self.text.len() {
            return Err(fmt::Error);
        }
        // Building text is work charged to the instruction in progress ([`crate::work`]).
        crate::work::charge(s.len()).map_err(|_| fmt::Error)?;
        self.text.push_str(s);
        Ok(())
    }
}

/// An array or dict being walked, by the `Rc` that holds it (so that equality can ask whether
/// it is shared).
#[derive(Clone, Copy)]
enum Node<'a> {
    Array(&'a Rc<Array>),
    Dict(&'a Rc<Dict>),
}

/// One element of a [`Node`]: a reference to a stored value, or an element of a packed
/// array (an int, a float or empty, made on the fly).
enum Elem<'a> {
    Ref(&'a Value),
    Plain(Value),
}

impl Elem<'_> {
    fn value(&self) -> &Value {
        match self {
            Elem::Ref(v) => v,
            Elem::Plain(v) => v,
        }
    }
}

impl<'a> Node<'a> {
    /// The node of `v` when it is an array or dict.
    #[inline]
    fn of(v: &'a Value) -> Option<Node<'a>> {
        match v {
            Value::Array(a) => Some(Node::Array(a)),
            Value::Dict(d) => Some(Node::Dict(d)),
            _ => None,
        }
    }

    /// The first element at position `i` or later, with its position (for a dict, also its
    /// key; a dict's positions may have holes, [`Dict::next_entry`]); `None` past the end.
    #[inline]
    fn entry(self, i: usize) -> Option<(usize, Option<&'a Rc<Str>>, Elem<'a>)> {
        match self {
            Node::Array(a) => match a.as_values() {
                Some(values) => values.get(i).map(|v| (i, None, Elem::Ref(v))),
                None => a.get(i).map(|v| (i, None, Elem::Plain(v))),
            },
            Node::Dict(d) => d.next_entry(i).map(|(p, k, v)| (p, Some(k), Elem::Ref(v))),
        }
    }

    fn brackets(self) -> (char, char) {
        match self {
            Node::Array(_) => ('[', ']'),
            Node::Dict(_) => ('{', '}'),
        }
    }

    /// The address of the array or dict (an identity while it is borrowed).
    fn addr(self) -> usize {
        match self {
            Node::Array(a) => Rc::as_ptr(a) as *const u8 as usize,
            Node::Dict(d) => Rc::as_ptr(d) as *const u8 as usize,
        }
    }

    /// True if something else also holds the array or dict (it may be met again in a walk).
    fn shared(self) -> bool {
        match self {
            Node::Array(a) => Rc::strong_count(a) > 1,
            Node::Dict(d) => Rc::strong_count(d) > 1,
        }
    }
}

/// Writes the display form of an array or dict, `[a, b]` / `{k: v}`, keeping the containers
/// it is inside on an explicit stack (allocated only when one holds another).
fn write_container(root: Node<'_>, out: &mut impl fmt::Write) -> fmt::Result {
    // The containers being written, outermost first, each with the index of its next element;
    // `cur` is the innermost.
    // `cur` also holds whether an element was written (so the next needs a separator).
    let mut outer: Vec<(Node<'_>, usize, bool)> = Vec::new();
    out.write_char(root.brackets().0)?;
    let mut cur = (root, 0usize, false);
    loop {
        let (node, i, written) = cur;
        let Some((at, key, elem)) = node.entry(i) else {
            out.write_char(node.brackets().1)?;
            match outer.pop() {
                Some(up) => cur = up,
                None => return Ok(()),
            }
            continue;
        };
        cur.1 = at + 1;
        cur.2 = true;
        if written {
            out.write_str(", ")?;
        }
        if let Some(k) = key {
            out.write_str(k.as_str())?;
            out.write_str(": ")?;
        }
        match elem {
            Elem::Ref(v) => match Node::of(v) {
                Some(inner) => {
                    out.write_char(inner.brackets().0)?;
                    outer.push(std::mem::replace(&mut cur, (inner, 0, false)));
                }
                // Not a container: no further nesting.
                None => v.write_display(out)?,
            },
            Elem::Plain(v) => v.write_display(out)?,
        }
    }
}

/// A pair of containers being compared, with the index of the next element pair and whether
/// any element pair was itself a pair of containers.
struct PairFrame<'a> {
    a: Node<'a>,
    b: Node<'a>,
    next: usize,
    nested: bool,
}

/// Compares two arrays (or two dicts) of the same length, keeping the pairs of containers it
/// is inside on an explicit stack (allocated only when a container holds another).
///
/// A pair of containers found equal whose elements held containers, when either side is
/// shared, is remembered by address: meeting the same pair again (exponentially shared
/// structure meets it exponentially often) skips it. The values are borrowed for the whole
/// comparison, so the addresses stay theirs.
///
/// With `charged`, the pairs compared are charged to the instruction's fuel
/// ([`crate::work`]), 16 bytes each, in batches, and the comparison stops with the error as
/// soon as a batch cannot be covered.
fn equal_containers<'a>(a: Node<'a>, b: Node<'a>, charged: bool) -> Result<bool, crate::OpError> {
    /// Pairs compared between two charges.
    const BATCH: usize = 1024;
    let mut outer: Vec<PairFrame<'a>> = Vec::new();
    let mut known_equal: Option<rustc_hash::FxHashSet<(usize, usize)>> = None;
    let mut cur = PairFrame { a, b, next: 0, nested: false };
    // Pairs compared and not yet charged.
    let mut pairs = 0usize;
    let result = loop {
        if charged && pairs == BATCH {
            crate::work::charge(BATCH * 16)?;
            pairs = 0;
        }
        pairs += 1;
        // The next element of `a` (a dict's next entry, past any holes).
        let next = cur.a.entry(cur.next);
        let Some((i, key_a, elem_a)) = next else {
            // Every element pair was equal.
            if cur.nested && (cur.a.shared() || cur.b.shared()) {
                known_equal.get_or_insert_with(Default::default).insert((cur.a.addr(), cur.b.addr()));
            }
            match outer.pop() {
                Some(up) => cur = up,
                None => break true,
            }
            continue;
        };
        // A dict's entry is paired with the same key's in `b`, an array's element with `b`'s
        // at the same index (the lengths are equal).
        let (x, y) = match (key_a, cur.b) {
            (Some(k), Node::Dict(db)) => match db.get(k) {
                Some(w) => (elem_a, Elem::Ref(w)),
                None => break false,
            },
            (_, nb) => match nb.entry(i) {
                Some((_, _, y)) => (elem_a, y),
                None => break false,
            },
        };
        cur.next = i + 1;
        let (inner_a, inner_b) = match (x, y) {
            (Elem::Ref(Value::Array(p)), Elem::Ref(Value::Array(q))) => {
                cur.nested = true;
                match p.packed_eq(q) {
                    Some(eq) if charged => {
                        crate::work::charge(p.len().saturating_mul(8))?;
                        if !eq {
                            break false;
                        }
                        continue;
                    }
                    Some(true) => continue,
                    Some(false) => break false,
                    None if p.len() != q.len() => break false,
                    None => (Node::Array(p), Node::Array(q)),
                }
            }
            (Elem::Ref(Value::Dict(p)), Elem::Ref(Value::Dict(q))) => {
                cur.nested = true;
                if p.len() != q.len() {
                    break false;
                }
                (Node::Dict(p), Node::Dict(q))
            }
            // Not two containers of one kind: no further nesting.
            (x, y) => {
                let equal = if charged { x.value().try_equals(y.value())? } else { x.value().equals(y.value()) };
                if !equal {
                    break false;
                }
                continue;
            }
        };
        if known_equal.as_ref().is_some_and(|k| k.contains(&(inner_a.addr(), inner_b.addr()))) {
            continue;
        }
        outer.push(std::mem::replace(&mut cur, PairFrame { a: inner_a, b: inner_b, next: 0, nested: false }));
    };
    if charged {
        crate::work::charge(pairs * 16)?;
    }
    Ok(result)
}

/// True if `v` is an array or dict that nothing else holds and that has elements: freeing it
/// would free its elements in turn, so the drop worklist takes it.
#[inline]
fn frees_children(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.kind() == KIND_VALUES && !a.is_empty() && Rc::strong_count(a) == 1 && Rc::weak_count(a) == 0,
        Value::Dict(d) => !d.is_empty() && Rc::strong_count(d) == 1 && Rc::weak_count(d) == 0,
        _ => false,
    }
}

/// Drops `children`, the elements of an array or dict whose last reference is going away,
/// without recursing on the native stack: an element that would free elements of its own goes
/// onto a worklist, and each container taken from it is emptied onto the worklist the same way
/// before it is dropped. Every other element is dropped where it is, which goes at most one
/// level down (a shared container only loses a reference; a packed array owns only words).
pub(crate) fn drop_children(children: impl IntoIterator<Item = Value>) {
    let mut work: Vec<Value> = Vec::new();
    for c in children {
        if frees_children(&c) {
            work.push(c);
        }
    }
    while let Some(mut v) = work.pop() {
        match &mut v {
            Value::Array(rc) => {
                if let Some(a) = Rc::get_mut(rc) {
                    work.extend(a.take_values().into_iter().filter(frees_children));
                }
            }
            Value::Dict(rc) => {
                if let Some(d) = Rc::get_mut(rc) {
                    work.extend(d.take_values().filter(frees_children));
                }
            }
            _ => {}
        }
        // `v` is now empty (or was only a reference): dropping it goes no further down.
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

    // ---- Nesting: the walks must match the recursive definitions and never recurse. ----

    /// The display form by the recursive definition (the implementation before the walk used
    /// an explicit stack), for comparison on small values.
    fn display_by_definition(v: &Value) -> String {
        match v {
            Value::Array(a) => {
                let items: Vec<String> = a.iter().map(|x| display_by_definition(&x)).collect();
                format!("[{}]", items.join(", "))
            }
            Value::Dict(d) => {
                let items: Vec<String> = d.iter().map(|(k, x)| format!("{}: {}", k.as_str(), display_by_definition(x))).collect();
                format!("{{{}}}", items.join(", "))
            }
            v => v.display_string(),
        }
    }

    /// Equality by the recursive definition, for comparison on small values.
    fn equals_by_definition(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equals_by_definition(&p, &q))
            }
            (Value::Dict(x), Value::Dict(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equals_by_definition(v, w)))
            }
            (Value::Array(_) | Value::Dict(_), _) | (_, Value::Array(_) | Value::Dict(_)) => false,
            (x, y) => x.equals(y),
        }
    }

    /// A small deterministic generator (xorshift) of values of every type, nested a few levels,
    /// with packed arrays, shared parts, NaN, -0.0 and ints equal to floats.
    struct Gen(u64);

    impl Gen {
        fn n(&mut self, below: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % below
        }

        fn leaf(&mut self) -> Value {
            match self.n(10) {
                0 => Value::Empty,
                1 => Value::Bool(self.n(2) == 1),
                2 => Value::Int(self.n(3) as i64 - 1),
                3 => Value::Float([0.0, -0.0, 1.0, f64::NAN, 2.5][self.n(5) as usize]),
                4 => Value::str(["", "a", "héllo", "k"][self.n(4) as usize]),
                5 => Value::Url(Rc::new(Str::new("a"))),
                6 => Value::Function(Rc::new(FunctionRef { index: self.n(2) as u32, name: "f".into() })),
                7 => {
                    // A packed array: ints or floats in order, empties after.
                    let len = self.n(4) as usize;
                    let mut a = Array::empties(len);
                    let float = self.n(2) == 1;
                    for i in 0..self.n(len as u64 + 1) as usize {
                        let x = self.n(3) as i64;
                        a.set(i, if float { Value::Float(x as f64) } else { Value::Int(x) });
                    }
                    Value::Array(Rc::new(a))
                }
                _ => Value::Int(1),
            }
        }

        fn value(&mut self, depth: u32, pool: &mut Vec<Value>) -> Value {
            if depth == 0 || self.n(3) == 0 {
                return self.leaf();
            }
            if !pool.is_empty() && self.n(4) == 0 {
                let i = self.n(pool.len() as u64) as usize;
                return pool[i].clone();
            }
            let len = self.n(4) as usize;
            let v = if self.n(2) == 0 {
                arr((0..len).map(|_| self.value(depth - 1, pool)).collect())
            } else {
                let mut keys: Vec<&str> = vec!["a", "b", "c"];
                if self.n(2) == 0 {
                    keys.reverse();
                }
                let entries: Vec<(String, Value)> = keys[..len.min(3)].iter().map(|k| (k.to_string(), self.value(depth - 1, pool))).collect();
                Value::dict(entries)
            };
            pool.push(v.clone());
            v
        }
    }

    #[test]
    fn display_and_equality_match_their_recursive_definitions() {
        let mut g = Gen(0x9e3779b97f4a7c15);
        let mut pool = Vec::new();
        let vals: Vec<Value> = (0..400).map(|_| g.value(4, &mut pool)).collect();
        let (mut equal_pairs, mut nested_equal) = (0, 0);
        for a in &vals {
            assert_eq!(a.display_string(), display_by_definition(a));
            assert_eq!(a.display_string_within(usize::MAX).as_deref(), Some(display_by_definition(a).as_str()));
            for b in &vals {
                let want = equals_by_definition(a, b);
                assert_eq!(a.equals(b), want, "{} == {}", a.display_string(), b.display_string());
                equal_pairs += want as usize;
                nested_equal += (want && a.display_string().starts_with("[[")) as usize;
            }
        }
        // The sample exercises both outcomes, with nested containers among the equal pairs.
        assert!(equal_pairs > vals.len() && nested_equal > 0, "{equal_pairs} {nested_equal}");
    }

    #[test]
    fn nested_display_and_equality_by_example() {
        let inner = arr(vec![Value::Int(1), Value::str("x")]);
        let d = Value::dict([("k".to_string(), inner.clone()), ("e".to_string(), arr(vec![]))]);
        let v = arr(vec![d.clone(), Value::Empty, arr(vec![inner.clone(), Value::dict([])]), Value::Float(-0.0)]);
        assert_eq!(v.display_string(), "[{k: [1, x], e: []}, empty, [[1, x], {}], -0]");
        let same = arr(vec![
            Value::dict([("e".to_string(), arr(vec![])), ("k".to_string(), arr(vec![Value::Float(1.0), Value::str("x")]))]),
            Value::Empty,
            arr(vec![inner.clone(), Value::dict([])]),
            Value::Int(0),
        ]);
        assert!(v.equals(&same) && same.equals(&v), "dicts as sets, 1 == 1.0, -0.0 == 0");
        let nan = arr(vec![arr(vec![Value::Float(f64::NAN)])]);
        assert!(!nan.equals(&nan), "NaN equals nothing, also inside one shared array");
        assert!(!arr(vec![inner.clone()]).equals(&arr(vec![d.clone()])));
        assert!(!arr(vec![arr(vec![Value::Int(1)])]).equals(&arr(vec![arr(vec![Value::Int(1), Value::Empty])])));
        assert!(!Value::dict([("a".to_string(), Value::Int(1))]).equals(&Value::dict([("b".to_string(), Value::Int(1))])));
        // Packed arrays against each other and against the values form.
        let packed = |xs: &[Value]| {
            let mut a = Array::empties(xs.len());
            for (i, x) in xs.iter().enumerate() {
                a.set(i, x.clone());
            }
            Value::Array(Rc::new(a))
        };
        let ints = packed(&[Value::Int(1), Value::Int(2), Value::Empty]);
        let floats = packed(&[Value::Float(1.0), Value::Float(2.0), Value::Empty]);
        let values = arr(vec![Value::Int(1), Value::str("2"), Value::Empty]);
        assert!(ints.equals(&floats) && floats.equals(&ints));
        assert!(!ints.equals(&values));
        assert!(!ints.equals(&packed(&[Value::Int(1), Value::Int(2), Value::Int(3)])));
        assert!(packed(&[Value::Empty, Value::Empty]).equals(&arr(vec![Value::Empty, Value::Empty])));
        assert!(!packed(&[Value::Float(f64::NAN)]).equals(&packed(&[Value::Float(f64::NAN)])));
        assert!(arr(vec![ints.clone()]).equals(&arr(vec![floats.clone()])));
        assert_eq!(arr(vec![ints, floats, values]).display_string(), "[[1, 2, empty], [1, 2, empty], [1, 2, empty]]");
    }

    #[test]
    fn bounded_string_stops_at_its_limit() {
        use std::fmt::Write;
        let mut s = BoundedString::new(5);
        assert!(s.write_str("abc").is_ok());
        assert!(s.write_str("def").is_err(), "6 bytes pass the limit");
        assert_eq!(s.as_str(), "abc", "a refused write adds nothing");
        assert!(s.write_str("de").is_ok(), "exactly the limit is allowed");
        assert!(s.write_str("").is_ok() && s.write_char('x').is_err());
        assert_eq!(s.into_string(), "abcde");
        let v = arr(vec![Value::Int(12), Value::str("abc")]);
        assert_eq!(v.display_string_within(9).as_deref(), Some("[12, abc]"));
        assert_eq!(v.display_string_within(8), None);
        assert_eq!(Value::Empty.display_string_within(5).as_deref(), Some("empty"));
        assert_eq!(Value::Empty.display_string_within(4), None);
    }

    /// Runs `f` on a thread with a 256 KiB stack: a walk recursing once per level of a value
    /// nested 300,000 deep would overflow it many times over.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new().stack_size(256 * 1024).spawn(f).unwrap().join().expect("no stack overflow");
    }

    const DEEP: usize = 300_000;

    /// `[[...[leaf]...]]`, `depth` arrays deep.
    fn deep_array(depth: usize, leaf: Value) -> Value {
        let mut v = leaf;
        for _ in 0..depth {
            v = arr(vec![v]);
        }
        v
    }

    /// `{k: {k: ... leaf}}`, `depth` dicts deep.
    fn deep_dict(depth: usize, leaf: Value) -> Value {
        let mut v = leaf;
        for _ in 0..depth {
            v = Value::dict([("k".to_string(), v)]);
        }
        v
    }

    #[test]
    fn debug_form_of_deep_values_is_cut_without_recursion() {
        on_small_stack(|| {
            let a = deep_array(DEEP, Value::Int(7));
            let s = format!("{a:?}");
            assert_eq!(s, format!("Array({}...)", "[".repeat(DEBUG_TEXT_BYTES)));
            assert_eq!(format!("{:?}", Value::Int(3)), "Int(3)");
            assert_eq!(format!("{:?}", arr(vec![Value::Int(1), Value::str("a")])), "Array([1, a])");
        });
    }

    #[test]
    fn deep_arrays_display_compare_and_free_without_recursion() {
        on_small_stack(|| {
            let a = deep_array(DEEP, Value::Int(7));
            let want = format!("{}7{}", "[".repeat(DEEP), "]".repeat(DEEP));
            assert_eq!(a.display_string(), want);
            assert_eq!(format!("{a}"), want, "Display (what DEBUG_PRINT writes) walks the same way");
            assert_eq!(a.display_string_within(want.len()).as_deref(), Some(want.as_str()));
            assert_eq!(a.display_string_within(want.len() - 1), None);
            assert!(a.equals(&a));
            assert!(a.equals(&deep_array(DEEP, Value::Float(7.0))));
            assert!(!a.equals(&deep_array(DEEP, Value::Int(8))), "differs only at the bottom");
            assert!(!a.equals(&deep_array(DEEP - 1, Value::Int(7))));
            assert!(!a.equals(&deep_array(DEEP, arr(vec![Value::Int(7)]))));
            let nan = deep_array(DEEP, Value::Float(f64::NAN));
            assert!(!nan.equals(&nan));
            drop(nan);
            drop(a);
        });
    }

    #[test]
    fn deep_dicts_and_mixed_nesting_display_compare_and_free_without_recursion() {
        on_small_stack(|| {
            let d = deep_dict(DEEP, Value::str("x"));
            let want = format!("{}x{}", "{k: ".repeat(DEEP), "}".repeat(DEEP));
            assert_eq!(d.display_string(), want);
            assert!(d.equals(&deep_dict(DEEP, Value::str("x"))));
            assert!(!d.equals(&deep_dict(DEEP, Value::str("y"))));
            drop(d);
            // Arrays and dicts alternating, each level also holding a flat part.
            let mut m = Value::Int(0);
            for i in 0..DEEP {
                m = if i % 2 == 0 {
                    arr(vec![Value::Int(i as i64), m])
                } else {
                    Value::dict([("n".to_string(), m), ("s".to_string(), Value::str("t"))])
                };
            }
            // The expected text, outermost level first: `{n: ` ... `, s: t}` around odd levels,
            // `[i, ` ... `]` around even ones.
            let (mut open, mut close) = (String::new(), Vec::new());
            for i in (0..DEEP).rev() {
                if i % 2 == 0 {
                    open.push_str(&format!("[{i}, "));
                    close.push("]");
                } else {
                    open.push_str("{n: ");
                    close.push(", s: t}");
                }
            }
            close.reverse();
            let want = format!("{open}0{}", close.concat());
            assert!(want.starts_with("{n: [299998, {n: [299996, ") && want.contains("[2, {n: [0, 0], s: t}]") && want.ends_with("], s: t}"));
            assert!(m.display_string() == want, "mixed nesting displays as by definition");
            assert_eq!(m.display_string_within(want.len()).as_deref(), Some(want.as_str()));
            assert!(m.equals(&m));
            drop(m);
        });
    }

    #[test]
    fn freeing_deep_values_frees_every_part_and_keeps_shared_parts() {
        on_small_stack(|| {
            let leaf = Rc::new(Str::new("leaf"));
            let shared = deep_array(1000, Value::Str(leaf.clone()));
            let mut v = shared.clone();
            for i in 0..DEEP {
                v = if i % 3 == 0 { Value::dict([("k".to_string(), v)]) } else { arr(vec![v, Value::Str(leaf.clone())]) };
            }
            assert_eq!(Rc::strong_count(&leaf), 2 + 2 * DEEP / 3);
            drop(v);
            assert_eq!(Rc::strong_count(&leaf), 2, "every copy inside the deep value is freed");
            assert_eq!(shared.display_string().len(), 2000 + 4, "a part shared with a value still held stays");
            // Freeing through an overwrite, an array element write and a dict clear.
            let mut slot = deep_array(DEEP, Value::Str(leaf.clone()));
            slot.set(Value::Int(1));
            assert!(matches!(slot, Value::Int(1)));
            let mut holder = Array::from_values(vec![deep_array(DEEP, Value::Str(leaf.clone())), Value::Int(0)]);
            assert!(holder.set(0, Value::Empty));
            let mut d = deep_dict(DEEP, Value::Str(leaf.clone()));
            if let Value::Dict(rc) = &mut d {
                Rc::make_mut(rc).clear();
            }
            assert_eq!(d.display_string(), "{}");
            drop(shared);
            assert_eq!(Rc::strong_count(&leaf), 1);
        });
    }

    /// `a = [a, a]` `n` times: 2^n leaves, n + 1 distinct parts.
    fn doubled(n: usize, leaf: Value) -> Value {
        let mut v = leaf;
        for _ in 0..n {
            v = arr(vec![v.clone(), v]);
        }
        v
    }

    #[test]
    fn exponentially_shared_values_compare_by_their_distinct_parts() {
        on_small_stack(|| {
            let a = doubled(60, Value::str("x"));
            assert!(a.equals(&a));
            assert!(a.equals(&doubled(60, Value::str("x"))), "two separately built copies");
            assert!(!a.equals(&doubled(60, Value::str("y"))));
            let mut b = doubled(59, Value::str("x"));
            b = arr(vec![b.clone(), arr(vec![b, Value::Empty])]);
            assert!(!a.equals(&b), "unequal only in the last part compared");
            let nan = doubled(60, Value::Float(f64::NAN));
            assert!(!nan.equals(&nan));
            // Display stops at the limit instead of building 2^60 leaves.
            assert_eq!(a.display_string_within(1 << 20), None);
            assert_eq!(doubled(2, Value::str("x")).display_string_within(100).as_deref(), Some("[[x, x], [x, x]]"));
            let d = Value::dict([("a".to_string(), a.clone()), ("b".to_string(), a.clone())]);
            assert!(d.equals(&Value::dict([("b".to_string(), a.clone()), ("a".to_string(), doubled(60, Value::str("x")))])));
        });
    }
}
