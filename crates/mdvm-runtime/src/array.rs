//! Arrays: the payload of [`Value::Array`], with a packed form for ints, floats and bools.
//!
//! An array of `len` elements holds them in one of two forms, chosen by what was written:
//!
//! * **packed** ([`Array::kind`] is [`Tag::Int`], [`Tag::Float`] or [`Tag::Bool`], or
//!   [`Tag::Empty`] while nothing has been written): elements `0..filled` are ints (or floats,
//!   or bools) stored as their 8 payload bytes in `words` (a bool as the word 0 or 1), and
//!   elements `filled..len` are empty; an array with nothing written has no words. `NEW_ARRAY_R`
//!   makes a packed array with `filled = 0`; writing an int at index `filled` of an int array (or
//!   of one with nothing written) appends to the packed prefix, and overwriting a packed element
//!   with one of its kind stays packed. A loop that fills an array in order, as the frontend's
//!   list code does, keeps it packed: machine code then reads 8 bytes per element instead of a
//!   16-byte [`Value`], half the memory traffic of a sum over the array.
//! * **values** (kind [`KIND_VALUES`]): every element is a [`Value`] in `values`. Any other
//!   write (a string, a bool, an empty into the packed prefix, an int into a float array, a
//!   write past `filled`) converts the array to this form once, for good.
//!
//! The form is invisible to programs: reads, equality, display and truthiness depend only on
//! the elements. The struct is `repr(C)` and [`array_layout`] gives machine code the offsets
//! of the kind, the length and the two vectors' element pointers and lengths.

use std::rc::Rc;

use crate::value::{Tag, Value, PAYLOAD_OFFSET};

/// [`Array::kind`] of an array holding its elements as [`Value`]s.
pub const KIND_VALUES: u8 = 0xff;

/// The elements of an array value (see the module documentation for the two forms).
#[repr(C)]
#[derive(Clone, Debug)]
pub struct Array {
    /// Packed elements `0..words.len()` (the payload bits of ints or floats); empty in the
    /// values form.
    words: Vec<u64>,
    /// Every element, in the values form; empty in the packed form.
    values: Vec<Value>,
    /// Number of elements.
    len: usize,
    /// [`Tag::Empty`] (packed, nothing written), [`Tag::Int`], [`Tag::Float`] or [`Tag::Bool`]
    /// (packed), or [`KIND_VALUES`].
    kind: u8,
}

impl Array {
    /// `len` empties (packed, nothing written), as `NEW_ARRAY_R` makes them.
    pub fn empties(len: usize) -> Array {
        Array { words: Vec::new(), values: Vec::new(), len, kind: Tag::Empty as u8 }
    }

    /// An array of `elems`, packed when they are ints (or floats, or bools) followed only by
    /// empties.
    pub fn from_values(elems: Vec<Value>) -> Array {
        let len = elems.len();
        let filled = elems.iter().position(|v| matches!(v, Value::Empty)).unwrap_or(len);
        let kind = elems.first().map(Value::tag).unwrap_or(Tag::Empty);
        let packable = (is_packed_kind(kind) || kind == Tag::Empty)
            && elems[..filled].iter().all(|v| v.tag() == kind)
            && elems[filled..].iter().all(|v| matches!(v, Value::Empty));
        if !packable {
            return Array { words: Vec::new(), values: elems, len, kind: KIND_VALUES };
        }
        let words = elems[..filled].iter().map(packed_word).collect();
        Array { words, values: Vec::new(), len, kind: kind as u8 }
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the array has no elements.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The form the elements are in: [`Tag::Empty`], [`Tag::Int`], [`Tag::Float`] or
    /// [`Tag::Bool`] when packed, [`KIND_VALUES`] otherwise.
    #[inline]
    pub fn kind(&self) -> u8 {
        self.kind
    }

    /// Element `i`, or `None` when `i >= len`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<Value> {
        if i >= self.len {
            return None;
        }
        Some(match self.kind {
            KIND_VALUES => self.values[i].clone(),
            k => match self.words.get(i) {
                Some(&w) => word_value(k, w),
                None => Value::Empty,
            },
        })
    }

    /// Bytes of the element buffers this array holds (what a copy-on-write copy allocates), for
    /// the memory limit ([`crate::memory`]).
    pub fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8 + self.values.capacity() * std::mem::size_of::<Value>()
    }

    /// At most the bytes [`Array::set`] of `v` at `i` allocates: none in the values form; for
    /// the packed form, the packed buffer's doubling when the write extends a full buffer, or the
    /// whole values form when the write converts the array.
    pub fn set_bytes(&self, i: usize, v: &Value) -> usize {
        if self.kind == KIND_VALUES {
            return 0;
        }
        let tag = v.tag();
        let kind_ok = self.kind == tag as u8 || self.kind == Tag::Empty as u8;
        let packs = is_packed_kind(tag) && kind_ok && i <= self.words.len();
        if packs || (tag == Tag::Empty && i >= self.words.len()) {
            if i == self.words.len() && self.words.len() == self.words.capacity() {
                return self.words.capacity().max(4) * 8;
            }
            return 0;
        }
        self.len * std::mem::size_of::<Value>()
    }

    /// At most the bytes [`Array::push`] of `v` allocates: a full buffer doubling, or the
    /// conversion to the values form.
    pub fn push_bytes(&self, v: &Value) -> usize {
        if self.kind == KIND_VALUES {
            return if self.values.len() == self.values.capacity() {
                self.values.capacity().max(4) * std::mem::size_of::<Value>()
            } else {
                0
            };
        }
        self.set_bytes(self.len, v)
    }

    /// Sets element `i` to `v`; returns false (changing nothing) when `i >= len`. Keeps the
    /// packed form where the module documentation says so, else converts to values.
    pub fn set(&mut self, i: usize, v: Value) -> bool {
        if i >= self.len {
            return false;
        }
        if self.kind != KIND_VALUES {
            let kept = match v {
                Value::Int(x) => self.set_packed(i, Tag::Int, x as u64),
                Value::Float(f) => self.set_packed(i, Tag::Float, f.to_bits()),
                Value::Bool(b) => self.set_packed(i, Tag::Bool, b as u64),
                // An empty past the packed prefix changes nothing.
                Value::Empty => i >= self.words.len(),
                _ => false,
            };
            if kept {
                return true;
            }
            self.convert_to_values();
        }
        self.values[i].set(v);
        true
    }

    /// Sets element `i` to the int, float or bool whose tag is `tag` and payload bits `word`
    /// (a bool's low bit), when that keeps the array packed: `i < len`, the element is in the
    /// packed prefix or just past it, and `tag` is the array's kind (or nothing is written yet).
    /// Returns false, changing nothing, otherwise ([`Array::set`] then handles the write).
    #[inline]
    pub fn set_packed(&mut self, i: usize, tag: Tag, word: u64) -> bool {
        let filled = self.words.len();
        let kind_ok = self.kind == tag as u8 || self.kind == Tag::Empty as u8;
        if !kind_ok || !is_packed_kind(tag) || i >= self.len || i > filled {
            return false;
        }
        let word = if tag == Tag::Bool { word & 1 } else { word };
        self.kind = tag as u8;
        if i == filled {
            self.words.push(word);
        } else {
            self.words[i] = word;
        }
        true
    }

    /// Packed ints (`NEW_ARRAY_R`-style packed form with every element written).
    pub fn from_ints(ints: Vec<i64>) -> Array {
        let len = ints.len();
        let words = ints.into_iter().map(|i| i as u64).collect();
        Array { words, values: Vec::new(), len, kind: if len == 0 { Tag::Empty as u8 } else { Tag::Int as u8 } }
    }

    /// Appends `v` (amortized O(1)), keeping the packed form when `v` extends the packed prefix
    /// (or is an empty after it).
    pub fn push(&mut self, v: Value) {
        self.len += 1;
        let i = self.len - 1;
        if self.kind != KIND_VALUES {
            let kept = match v {
                Value::Int(x) => self.set_packed(i, Tag::Int, x as u64),
                Value::Float(f) => self.set_packed(i, Tag::Float, f.to_bits()),
                Value::Bool(b) => self.set_packed(i, Tag::Bool, b as u64),
                Value::Empty => true,
                _ => false,
            };
            if kept {
                return;
            }
            self.len -= 1;
            self.convert_to_values();
            self.len += 1;
        }
        self.values.push(v);
    }

    /// Removes the last element, if any.
    pub fn pop(&mut self) {
        if self.len == 0 {
            return;
        }
        self.len -= 1;
        if self.kind == KIND_VALUES {
            self.values.pop();
        } else {
            self.words.truncate(self.len);
        }
    }

    /// The elements in order.
    pub fn iter(&self) -> impl Iterator<Item = Value> + '_ {
        (0..self.len).map(|i| self.get(i).expect("index below len"))
    }

    /// The elements as [`Value`]s when the array is in the values form; `None` when it is
    /// packed (its elements are then ints, floats or bools and empties, read with
    /// [`Array::get`]).
    #[inline]
    pub(crate) fn as_values(&self) -> Option<&[Value]> {
        (self.kind == KIND_VALUES).then_some(self.values.as_slice())
    }

    /// Takes the values-form elements out, leaving an empty packed array (an array being
    /// freed hands its elements to [`crate::value`]'s drop worklist this way). A packed array
    /// gives nothing: its elements own nothing.
    pub(crate) fn take_values(&mut self) -> Vec<Value> {
        self.len = 0;
        self.kind = Tag::Empty as u8;
        self.words = Vec::new();
        std::mem::take(&mut self.values)
    }

    /// Element-wise equality (as [`Value::equals`]) when both arrays are packed, without
    /// reading them as values; `None` when either is in the values form.
    pub(crate) fn packed_eq(&self, other: &Array) -> Option<bool> {
        if self.kind == KIND_VALUES || other.kind == KIND_VALUES {
            return None;
        }
        // Packed elements past `words` are empties: equal arrays have equal prefixes.
        if self.len != other.len || self.words.len() != other.words.len() {
            return Some(false);
        }
        // Ints and bools are equal exactly when their words are (floats are not: NaN, -0.0).
        if self.kind == other.kind && self.kind != Tag::Float as u8 {
            return Some(self.words == other.words);
        }
        let (ka, kb) = (self.kind, other.kind);
        Some(self.words.iter().zip(&other.words).all(|(&x, &y)| word_value(ka, x).equals(&word_value(kb, y))))
    }

    /// Converts to the values form.
    fn convert_to_values(&mut self) {
        let mut values = Vec::with_capacity(self.len);
        values.extend((0..self.len).map(|i| self.get(i).expect("index below len")));
        self.values = values;
        self.words = Vec::new();
        self.kind = KIND_VALUES;
    }
}

impl Drop for Array {
    /// Frees the elements without recursing on the native stack, however deeply arrays and
    /// dicts nest inside them (see [`crate::value`], *Freeing*). A packed array owns nothing
    /// but its words.
    fn drop(&mut self) {
        if self.kind == KIND_VALUES && !self.values.is_empty() {
            crate::value::drop_children(std::mem::take(&mut self.values));
        }
    }
}

/// Whether arrays of elements of type `tag` have a packed form: ints, floats and bools.
#[inline]
fn is_packed_kind(tag: Tag) -> bool {
    matches!(tag, Tag::Int | Tag::Float | Tag::Bool)
}

/// The 8 payload bytes of an int, float or bool (its packed form; a bool is 0 or 1).
fn packed_word(v: &Value) -> u64 {
    match v {
        Value::Int(i) => *i as u64,
        Value::Float(f) => f.to_bits(),
        Value::Bool(b) => *b as u64,
        _ => unreachable!("only ints, floats and bools are packed"),
    }
}

/// The element a packed word of an array of kind `kind` stands for.
#[inline]
fn word_value(kind: u8, w: u64) -> Value {
    if kind == Tag::Int as u8 {
        Value::Int(w as i64)
    } else if kind == Tag::Float as u8 {
        Value::Float(f64::from_bits(w))
    } else {
        Value::Bool(w != 0)
    }
}

/// Where machine code finds an array's parts: byte offsets from the payload pointer of a
/// [`Value::Array`] (the address of its `Rc` allocation) to the [`Array`]'s fields.
///
/// The standard library does not specify the field order of `Rc`'s allocation or of `Vec`, so
/// [`array_layout`] measures them once, on live arrays, instead of assuming them (`Array`
/// itself is `repr(C)`). The packed elements are `words_len` consecutive `u64`s starting at the
/// address in the `words_data` word, the values-form elements `len` consecutive [`Value`]s (16
/// bytes each) starting at the address in the `values_data` word. The `strong` word is the
/// `Rc`'s strong count: 1 when the register writing the array holds it alone (arrays are never
/// weakly referenced), so machine code may write it in place as `Rc::make_mut` would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayLayout {
    /// Offset of the kind byte ([`Array::kind`]).
    pub kind: i32,
    /// Offset of the number of elements (`usize`).
    pub len: i32,
    /// Offset of the packed elements' pointer (`*const u64`).
    pub words_data: i32,
    /// Offset of the number of packed elements (`usize`).
    pub words_len: i32,
    /// Offset of the capacity of the packed elements' buffer (`usize`).
    pub words_cap: i32,
    /// Offset of the `Rc`'s strong count (`usize`).
    pub strong: i32,
    /// Offset of the values-form elements' pointer (`*const Value`).
    pub values_data: i32,
}

/// The [`ArrayLayout`] of this build, measured on first use; `None` when the measurement is
/// not conclusive (a `Vec` that is not three words, or words that cannot be told apart), in
/// which case compiled code must read arrays through the runtime's helpers.
pub fn array_layout() -> Option<ArrayLayout> {
    static LAYOUT: std::sync::OnceLock<Option<ArrayLayout>> = std::sync::OnceLock::new();
    *LAYOUT.get_or_init(measure_array_layout)
}

/// Offsets (pointer, length, capacity) of the words of a `Vec<T>` holding `v`, found by
/// matching its three words against the known pointer, length and capacity (which differ).
pub(crate) fn measure_vec<T>(v: &Vec<T>) -> Option<(usize, usize, usize)> {
    const WORDS: usize = 3;
    if std::mem::size_of::<Vec<T>>() != WORDS * 8 || std::mem::size_of::<usize>() != 8 || v.capacity() == v.len() {
        return None;
    }
    // SAFETY: `Vec<T>` is exactly three initialized pointer-sized words (checked above:
    // pointer, capacity, length in some order); copying its bytes reads nothing uninitialized
    // and leaves the vector untouched.
    let words: [usize; WORDS] = unsafe { std::mem::transmute_copy::<Vec<T>, [usize; WORDS]>(v) };
    let only = |x: usize| {
        let mut hits = words.iter().enumerate().filter(|(_, &w)| w == x).map(|(i, _)| i);
        match (hits.next(), hits.next()) {
            (Some(i), None) => Some(i * 8),
            _ => None,
        }
    };
    Some((only(v.as_ptr() as usize)?, only(v.len())?, only(v.capacity())?))
}

/// The offset of the strong count in the header of the `Rc` allocation at `alloc`, whose value
/// starts `at` bytes in (`at` a multiple of 8), with `rc` its only holder: the one header word
/// that reads 3 with three holders and 4 with four.
pub(crate) fn strong_offset<T>(alloc: usize, at: usize, rc: &Rc<T>) -> Option<usize> {
    let header_word = |off: usize| {
        // SAFETY: `alloc..alloc + at` is the `Rc` allocation's header before its value:
        // initialized `usize` counts (`at` is a multiple of 8, as the caller checked).
        unsafe { std::ptr::read((alloc + off) as *const usize) }
    };
    let (two, three) = (rc.clone(), rc.clone());
    let with_three: Vec<usize> = (0..at).step_by(8).filter(|&o| header_word(o) == 3).collect();
    let four = rc.clone();
    let strong = match with_three[..] {
        [o] if header_word(o) == 4 => Some(o),
        _ => None,
    };
    drop((two, three, four));
    strong
}

fn measure_array_layout() -> Option<ArrayLayout> {
    let mut found: Option<ArrayLayout> = None;
    // Two arrays whose lengths, capacities and element addresses all differ, so that each
    // word is identified by exactly one value in each measurement and both must agree.
    for (len, cap) in [(3usize, 5usize), (2, 9)] {
        let mut words: Vec<u64> = Vec::with_capacity(cap + 1);
        words.extend(0..len as u64 + 1);
        let mut values: Vec<Value> = Vec::with_capacity(cap);
        values.extend((0..len as i64).map(Value::Int));
        let value = Value::Array(Rc::new(Array { words, values, len: 100 + len, kind: Tag::Int as u8 }));
        let Value::Array(rc) = &value else { return None };
        // SAFETY: `Value` is `repr(C, u64)` with an `Rc` (one non-null pointer) as the payload
        // of `Array` at offset 8 (the layout `value` documents); the word is initialized.
        let alloc = unsafe { std::ptr::read((&value as *const Value as *const u8).add(PAYLOAD_OFFSET as usize) as *const usize) };
        let at = (Rc::as_ptr(rc) as usize).checked_sub(alloc).filter(|&o| o < 256 && o % 8 == 0)?;
        let (wd, wl, wc) = measure_vec(&rc.words)?;
        let (vd, _, _) = measure_vec(&rc.values)?;
        let strong = strong_offset(alloc, at, rc)?;
        let field = |off: usize| (at + off) as i32;
        let layout = ArrayLayout {
            kind: field(std::mem::offset_of!(Array, kind)),
            len: field(std::mem::offset_of!(Array, len)),
            words_data: field(std::mem::offset_of!(Array, words) + wd),
            words_len: field(std::mem::offset_of!(Array, words) + wl),
            words_cap: field(std::mem::offset_of!(Array, words) + wc),
            strong: strong as i32,
            values_data: field(std::mem::offset_of!(Array, values) + vd),
        };
        if found.is_some_and(|f| f != layout) {
            return None;
        }
        found = Some(layout);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(a: &Array) -> Vec<String> {
        a.iter().map(|v| v.display_string()).collect()
    }

    /// In-order fills stay packed; every other write converts to values once, and the
    /// elements read the same in either form.
    #[test]
    fn writes_keep_or_leave_the_packed_form() {
        let mut a = Array::empties(4);
        assert_eq!(a.kind(), Tag::Empty as u8);
        assert_eq!(ints(&a), ["empty"; 4]);
        for i in 0..3 {
            assert!(a.set(i, Value::Int(10 * i as i64)));
        }
        assert!(a.set(1, Value::Int(-1)));
        assert!(a.set(3, Value::Empty));
        assert_eq!(a.kind(), Tag::Int as u8);
        assert_eq!(ints(&a), ["0", "-1", "20", "empty"]);
        assert!(!a.set(4, Value::Int(0)), "index 4 is out of range");
        let mut f = a.clone();
        assert!(f.set(0, Value::Float(0.5)), "a float into an int array");
        assert_eq!(f.kind(), KIND_VALUES);
        assert_eq!(ints(&f), ["0.5", "-1", "20", "empty"]);
        assert_eq!(ints(&a), ["0", "-1", "20", "empty"], "the clone is a separate array");
        for (i, v) in [(3, Value::Int(7)), (1, Value::Empty), (0, Value::str("x")), (0, Value::Bool(true))] {
            let mut b = Array::empties(5);
            for j in 0..2 {
                b.set(j, Value::Int(j as i64));
            }
            let want: Vec<String> = (0..5).map(|j| if j == i { v.display_string() } else { b.get(j).unwrap().display_string() }).collect();
            assert!(b.set(i, v));
            assert_eq!(b.kind(), KIND_VALUES);
            assert_eq!(ints(&b), want);
        }
        let mut g = Array::empties(2);
        g.set(0, Value::Float(1.5));
        g.set(1, Value::Float(-2.0));
        assert_eq!(g.kind(), Tag::Float as u8);
        assert_eq!(ints(&g), ["1.5", "-2"]);
    }

    /// Bools pack as the words 0 and 1, compare and convert like any other packed kind, and
    /// a bool never joins an int array packed.
    #[test]
    fn bools_pack_as_words() {
        let mut a = Array::empties(4);
        for i in 0..3 {
            assert!(a.set(i, Value::Bool(i != 1)));
        }
        assert!(a.set(0, Value::Bool(false)));
        assert_eq!(a.kind(), Tag::Bool as u8);
        assert_eq!(a.words, [0, 0, 1]);
        let want = [Value::Bool(false), Value::Bool(false), Value::Bool(true), Value::Empty];
        assert!(a.iter().zip(&want).all(|(x, y)| x.tag() == y.tag() && x.equals(y)));
        assert!(a.set_packed(1, Tag::Bool, 0xff01), "a bool's payload is its low bit");
        assert!(matches!(a.get(1), Some(Value::Bool(true))));
        let values = Array::from_values(vec![Value::Bool(false), Value::Bool(true), Value::Bool(true), Value::Empty]);
        assert_eq!(values.kind(), Tag::Bool as u8);
        assert_eq!(a.packed_eq(&values), Some(true));
        let ints_form = Array::from_values(vec![Value::Int(0), Value::Int(1), Value::Int(1), Value::Empty]);
        assert_eq!(a.packed_eq(&ints_form), Some(false), "true is not 1");
        let mut c = a.clone();
        assert!(c.set(2, Value::Int(1)));
        assert_eq!(c.kind(), KIND_VALUES);
        assert!(matches!((c.get(0), c.get(2)), (Some(Value::Bool(false)), Some(Value::Int(1)))));
    }

    #[test]
    fn from_values_packs_only_uniform_prefixes() {
        let p = Array::from_values(vec![Value::Int(1), Value::Int(2), Value::Empty]);
        assert_eq!((p.kind(), ints(&p)), (Tag::Int as u8, vec!["1".into(), "2".into(), "empty".into()]));
        for v in [vec![Value::Int(1), Value::Float(2.0)], vec![Value::Empty, Value::Int(1)], vec![Value::str("a")], vec![Value::Int(1), Value::Empty, Value::Int(2)]] {
            let shown: Vec<String> = v.iter().map(|x| x.display_string()).collect();
            let a = Array::from_values(v);
            assert_eq!(a.kind(), KIND_VALUES);
            assert_eq!(ints(&a), shown);
        }
        assert_eq!(Array::from_values(vec![]).kind(), Tag::Empty as u8);
    }

    /// The measured layout reads the parts of arrays other than the ones it was measured on,
    /// in both forms, including an empty one and a copy made by copy-on-write.
    #[test]
    fn array_layout_reads_live_arrays() {
        let layout = array_layout().expect("the host's Vec layout is measurable");
        // (kind, len, words pointer, words len, values pointer)
        let read = |v: &Value| -> (u8, usize, usize, usize, usize) {
            assert_eq!(v.tag(), Tag::Array);
            let p = v as *const Value as *const u8;
            // SAFETY: the payload word of an array value is initialized, and the offsets
            // name initialized fields inside its live `Rc` allocation.
            unsafe {
                let base = std::ptr::read(p.add(PAYLOAD_OFFSET as usize) as *const usize) as *const u8;
                let word = |o: i32| std::ptr::read(base.add(o as usize) as *const usize);
                (*base.add(layout.kind as usize), word(layout.len), word(layout.words_data), word(layout.words_len), word(layout.values_data))
            }
        };
        for n in [0usize, 1, 7, 1000] {
            let v = Value::Array(Rc::new(Array::from_values((0..n as i64).map(Value::Int).collect())));
            let (kind, len, wd, wl, _) = read(&v);
            let Value::Array(a) = &v else { unreachable!() };
            assert_eq!((len, wl), (n, n));
            assert_eq!(kind, if n == 0 { Tag::Empty as u8 } else { Tag::Int as u8 });
            assert_eq!(wd, a.words.as_ptr() as usize);
            if n > 0 {
                // SAFETY: packed element n-1 is inside the words.
                assert_eq!(unsafe { *(wd as *const i64).add(n - 1) }, n as i64 - 1);
            }
            let m = Value::Array(Rc::new(Array::from_values((0..n).map(|i| Value::str(i.to_string())).collect())));
            let (kind, len, _, _, vd) = read(&m);
            if n > 0 {
                assert_eq!((kind, len), (KIND_VALUES, n));
                // SAFETY: element n-1 is inside the values.
                let last = unsafe { &*(vd as *const Value).add(n - 1) };
                assert_eq!(last.display_string(), (n - 1).to_string());
            }
        }
        let mut a = Value::Array(Rc::new(Array::from_values(vec![Value::Int(1), Value::Int(2)])));
        let b = a.clone();
        if let Value::Array(r) = &mut a {
            Rc::make_mut(r).set(0, Value::Int(9));
        }
        let (_, la, da, ..) = read(&a);
        let (_, lb, db, ..) = read(&b);
        assert_eq!((la, lb), (2, 2));
        assert_ne!(da, db, "the copy has its own elements");
    }
}
