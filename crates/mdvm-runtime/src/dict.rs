//! Dicts: string keys in insertion order, with constant-time lookup, insertion and removal.
//!
//! A [`Dict`] keeps its entries in a vector in insertion order and a hash table of their
//! positions ([`Index`]: open addressing with linear probing, each slot the key's cached hash
//! ([`Str::hash_code`]) and the position), so a key is hashed once however often it is looked
//! up, and compiled code can probe the table itself. Removing an
//! entry leaves a **hole** at its position (the order of the others is unchanged, and nothing
//! moves); once holes outnumber the live entries, the vector is compacted and the table rebuilt,
//! so removal is amortized O(1) and holes never take more than half the positions. (A
//! shifting removal, which moves every later entry and renumbers it in the table, made a
//! workload that removes a key every few steps quadratic in the dict's size.)
//!
//! The position of the last key found or inserted is kept as a **hint**: a lookup whose key is
//! that very string (the same allocation) finds it without probing the table. The common
//! `if key in d: d[key] = d[key] + 1` then probes once, not three times. The hint is only ever
//! checked, never trusted: a position whose entry holds another string (or none, or is past
//! the end) falls back to the table. Compiled code checks the hint itself, in machine code,
//! through the layout [`dict_layout`] measures: the entries are `repr(C)` ([`Entry`]: the key's
//! `Rc` pointer, null in a hole, then the 16-byte value).
//!
//! Walks that must not recurse ([`crate::value`]: display, equality, freeing) go by position
//! with [`Dict::next_entry`], which skips holes.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use crate::value::{drop_children, Str, Value, PAYLOAD_OFFSET};

/// Dicts with at most this many positions are not compacted (holes in a small dict cost
/// nothing worth a rebuild).
const COMPACT_MIN_POSITIONS: usize = 16;

/// One slot of an [`Index`], 8 bytes: the low 32 bits of the hash of the key at a position,
/// and that position plus one (0 in a free slot, whose 8 bytes are all 0). `repr(C)`: the
/// hash at offset 0, the position at offset 4 ([`DictLayout`]). Eight slots share a cache
/// line, so a probe that passes a few other keys touches one line, and a table of 5,000 keys
/// takes 64 KiB.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Slot {
    hash: u32,
    pos: u32,
}

impl Slot {
    /// The slot of position `pos` under `hash`. A dict has fewer than `u32::MAX` positions:
    /// at 24 bytes an entry, more would take over 100 GB.
    fn new(hash: u64, pos: usize) -> Slot {
        let pos = u32::try_from(pos + 1).ok().filter(|&p| p != 0).expect("a dict has fewer than 2^32 - 1 positions");
        Slot { hash: hash as u32, pos }
    }

    fn is_free(self) -> bool {
        self.pos == 0
    }

    /// The position (the slot is not free).
    fn position(self) -> usize {
        self.pos as usize - 1
    }

    /// The slot a probe for this slot's key starts at, in a table of `mask + 1` slots.
    fn home(self, mask: usize) -> usize {
        self.hash as usize & mask
    }
}

/// The table from keys to positions: open addressing with linear probing. `slots` is empty or
/// a power of two long (at most 2^32) and at most two thirds used; a key's probe starts at
/// the slot the low bits of its hash select (`hash & (len - 1)`) and goes on to the next
/// (wrapping) until a free slot. A removal shifts the later slots of its run back, so there
/// are no tombstones and a probe for an absent key stops at the first free slot. The hash
/// bits of each slot also tell its home, so growing needs no keys.
#[derive(Clone, Default)]
#[repr(C)]
struct Index {
    slots: Vec<Slot>,
    used: usize,
}

impl Index {
    /// The slot holding a position for which `is_key` holds, probing from `hash`'s home.
    #[inline]
    fn find_slot(&self, hash: u64, mut is_key: impl FnMut(usize) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let hash = hash as u32;
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots[i];
            if s.is_free() {
                return None;
            }
            if s.hash == hash && is_key(s.position()) {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The position for which `is_key` holds (see [`Index::find_slot`]).
    #[inline]
    fn find(&self, hash: u64, is_key: impl FnMut(usize) -> bool) -> Option<usize> {
        self.find_slot(hash, is_key).map(|i| self.slots[i].position())
    }

    /// Adds `pos` under `hash` (the key is absent), growing the table to keep it at most two
    /// thirds used.
    fn insert(&mut self, hash: u64, pos: usize) {
        if (self.used + 1) * 3 > self.slots.len() * 2 {
            self.grow();
        }
        self.place(Slot::new(hash, pos));
        self.used += 1;
    }

    /// Puts `slot` in the first free slot from its home (there is one).
    fn place(&mut self, slot: Slot) {
        let mask = self.slots.len() - 1;
        let mut i = slot.home(mask);
        while !self.slots[i].is_free() {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    /// Doubles the table (8 slots at first) and places every slot again.
    fn grow(&mut self) {
        let len = (self.slots.len() * 2).max(8);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); len]);
        for s in old.into_iter().filter(|s| !s.is_free()) {
            self.place(s);
        }
    }

    /// Frees slot `i` and shifts back the later slots of its run that may move into the gap
    /// (those whose home is not cyclically after the gap and up to their slot).
    fn remove_slot(&mut self, mut i: usize) {
        let mask = self.slots.len() - 1;
        self.used -= 1;
        loop {
            self.slots[i] = Slot::default();
            let mut j = i;
            loop {
                j = (j + 1) & mask;
                let s = self.slots[j];
                if s.is_free() {
                    return;
                }
                let home = s.home(mask);
                // The slot at j stays when its home lies in (i, j] (cyclically).
                let stays = if i <= j { i < home && home <= j } else { i < home || home <= j };
                if !stays {
                    self.slots[i] = s;
                    i = j;
                    break;
                }
            }
        }
    }

    /// Every slot freed (keeping the allocation).
    fn clear(&mut self) {
        self.slots.fill(Slot::default());
        self.used = 0;
    }

    /// The bytes of the slots.
    fn bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
    }
}

/// One position of a dict: a key and its value, or a hole (no key, the value `Empty`).
/// `repr(C)`: the key's `Rc` pointer (null in a hole) at offset 0, the value at offset 8
/// ([`DictLayout`]).
#[derive(Clone)]
#[repr(C)]
struct Entry {
    key: Option<Rc<Str>>,
    value: Value,
}

impl Entry {
    /// The key and value of a live entry; `None` for a hole.
    fn live(&self) -> Option<(&Rc<Str>, &Value)> {
        self.key.as_ref().map(|k| (k, &self.value))
    }
}

/// A dictionary: string keys in insertion order (see the module documentation). `repr(C)`,
/// so that [`dict_layout`] can give machine code the offsets of its entries and hint.
#[derive(Clone, Default)]
#[repr(C)]
pub struct Dict {
    /// Entries by position, in insertion order; holes where an entry was removed.
    entries: Vec<Entry>,
    /// The position of each live entry, by its key's [`Str::hash_code`].
    index: Index,
    /// The number of holes in `entries`.
    holes: usize,
    /// The position of the last key found or inserted (see the module documentation).
    hint: Cell<usize>,
}

impl Dict {
    /// An empty dict.
    pub fn new() -> Dict {
        Dict::default()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len() - self.holes
    }

    /// True if the dict has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The position of `key`, if present: the hint when it holds this very string, else the
    /// table's (which becomes the hint).
    #[inline]
    fn position(&self, key: &Str) -> Option<usize> {
        let h = self.hint.get();
        if let Some(Entry { key: Some(k), .. }) = self.entries.get(h) {
            if std::ptr::eq(&**k, key) {
                return Some(h);
            }
        }
        let pos = self.index.find(key.hash_code(), |p| self.key_at(p) == key)?;
        self.hint.set(pos);
        Some(pos)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &Str) -> Option<&Value> {
        let pos = self.position(key)?;
        Some(&self.entries[pos].value)
    }

    /// The value of `key`, if present, for changing it in place (the key keeps its position).
    pub fn get_mut(&mut self, key: &Str) -> Option<&mut Value> {
        let pos = self.position(key)?;
        Some(&mut self.entries[pos].value)
    }

    /// True if `key` is present.
    pub fn contains_key(&self, key: &Str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`: an existing key keeps its position, a new one goes last.
    pub fn insert(&mut self, key: Rc<Str>, value: Value) {
        if let Some(v) = self.get_mut(&key) {
            *v = value;
            return;
        }
        self.push_new(key, value);
    }

    /// Sets `key` to `value` as [`Dict::insert`] does, adding a reference to the key only when
    /// it is new (an existing key's entry keeps its own).
    pub fn set(&mut self, key: &Rc<Str>, value: Value) {
        if let Some(v) = self.get_mut(key) {
            *v = value;
            return;
        }
        self.push_new(Rc::clone(key), value);
    }

    /// Appends the entry of `key`, which is absent.
    fn push_new(&mut self, key: Rc<Str>, value: Value) {
        let hash = key.hash_code();
        let entries = &mut self.entries;
        let pos = entries.len();
        entries.push(Entry { key: Some(key), value });
        self.index.insert(hash, pos);
        self.hint.set(pos);
    }

    /// Removes `key` and returns its value; the other entries keep their order. A missing key
    /// changes nothing (`None`).
    pub fn remove(&mut self, key: &Str) -> Option<Value> {
        let entries = &mut self.entries;
        let slot = self.index.find_slot(key.hash_code(), |p| key_of(entries, p) == key)?;
        let pos = self.index.slots[slot].position();
        self.index.remove_slot(slot);
        let hole = &mut entries[pos];
        hole.key.take()?;
        let value = std::mem::take(&mut hole.value);
        self.holes += 1;
        // Holes at the end are dropped at once.
        while let Some(Entry { key: None, .. }) = self.entries.last() {
            self.entries.pop();
            self.holes -= 1;
        }
        if self.holes * 2 > self.entries.len() && self.entries.len() > COMPACT_MIN_POSITIONS {
            self.compact();
        }
        Some(value)
    }

    /// Removes every entry (keeping the allocations).
    pub fn clear(&mut self) {
        let old = std::mem::take(&mut self.entries);
        self.index.clear();
        self.holes = 0;
        drop_children(old.into_iter().map(|e| e.value));
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&Rc<Str>, &Value)> {
        self.entries.iter().filter_map(Entry::live)
    }

    /// The keys in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &Rc<Str>> {
        self.iter().map(|(k, _)| k)
    }

    /// The values in insertion order.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.iter().map(|(_, v)| v)
    }

    /// The number of positions, holes included: [`Dict::next_entry`] finds every entry below it.
    pub fn positions(&self) -> usize {
        self.entries.len()
    }

    /// The first entry at position `from` or later, with its position; `None` past the last.
    /// Walking by `next_entry(pos + 1)` visits the entries in order, in time proportional to
    /// [`Dict::positions`] (at most about twice the entries).
    pub fn next_entry(&self, from: usize) -> Option<(usize, &Rc<Str>, &Value)> {
        self.entries.get(from..)?.iter().enumerate().find_map(|(i, e)| e.live().map(|(k, v)| (from + i, k, v)))
    }

    /// About the bytes this dict's storage takes (its entry vector and table), for the memory
    /// limit ([`crate::memory`]): what a copy allocates.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>() + self.index.bytes()
    }

    /// Takes every value out (the dict is left empty), for freeing without recursion.
    pub(crate) fn take_values(&mut self) -> impl Iterator<Item = Value> {
        self.index.clear();
        self.holes = 0;
        std::mem::take(&mut self.entries).into_iter().map(|e| e.value)
    }

    /// The key at a live position.
    fn key_at(&self, pos: usize) -> &Str {
        key_of(&self.entries, pos)
    }

    /// Removes the holes, renumbering the entries' positions in the table.
    fn compact(&mut self) {
        self.entries.retain(|e| e.key.is_some());
        self.holes = 0;
        self.index.clear();
        for pos in 0..self.entries.len() {
            let hash = key_of(&self.entries, pos).hash_code();
            self.index.insert(hash, pos);
        }
    }
}

/// The key at live position `pos` of `entries` (the table only holds live positions).
fn key_of(entries: &[Entry], pos: usize) -> &Str {
    match &entries[pos].key {
        Some(k) => k,
        None => unreachable!("the table holds only live positions"),
    }
}

/// Where machine code finds a dict's hint and entries: byte offsets from the payload pointer
/// of a [`Value::Dict`] (the address of its `Rc` allocation), and the shape of an entry.
///
/// Position `p` of the dict is the [`ENTRY_SIZE`] bytes at `entries_data + p * ENTRY_SIZE`,
/// valid for `p < entries_len`: the key's `Rc` pointer at [`ENTRY_KEY`] (the payload word of
/// the key's [`Value::Str`]; 0 in a hole), then the value at [`ENTRY_VALUE`] (tag word,
/// payload word). The `strong` word is the `Rc`'s strong count: 1 when the register holds
/// the dict alone (dicts are never weakly referenced), so its values may be overwritten in
/// place as `Rc::make_mut` would allow. The standard library does not specify the field order
/// of `Rc`'s allocation or of `Vec`, so [`dict_layout`] measures them on live dicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DictLayout {
    /// Offset of the entries' pointer (`*const Entry`).
    pub entries_data: i32,
    /// Offset of the number of positions (`usize`).
    pub entries_len: i32,
    /// Offset of the hint (`usize`, a position, possibly out of range).
    pub hint: i32,
    /// Offset of the table's slots' pointer (`*const` [`SLOT_SIZE`]-byte slots: the low 32
    /// bits of the key's hash, then its position plus one; all 0 in a free slot).
    pub slots_data: i32,
    /// Offset of the number of slots (`usize`: 0, or a power of two, at most 2^32, at least
    /// one and a half times the keys).
    pub slots_len: i32,
    /// Offset of the `Rc`'s strong count (`usize`).
    pub strong: i32,
}

/// The size of one position of a dict's entries, in bytes.
pub const ENTRY_SIZE: i32 = std::mem::size_of::<Entry>() as i32;
/// The offset of the key's pointer in a position.
pub const ENTRY_KEY: i32 = std::mem::offset_of!(Entry, key) as i32;
/// The offset of the value in a position.
pub const ENTRY_VALUE: i32 = std::mem::offset_of!(Entry, value) as i32;
/// The size of one slot of a dict's table, in bytes: the low 32 bits of the key's hash (a
/// `u32`) at [`SLOT_HASH`], its position plus one (a `u32`, 0 in a free slot) at
/// [`SLOT_POS`]; the slot read as one little-endian `u64` is 0 exactly when it is free. A
/// key's probe starts at slot `hash & (slots_len - 1)` and goes on to the next, wrapping,
/// until a slot with its hash bits whose entry holds the key, or a free slot.
pub const SLOT_SIZE: i32 = std::mem::size_of::<Slot>() as i32;
/// The offset of the hash bits (`u32`) in a slot.
pub const SLOT_HASH: i32 = std::mem::offset_of!(Slot, hash) as i32;
/// The offset of the position plus one (`u32`) in a slot.
pub const SLOT_POS: i32 = std::mem::offset_of!(Slot, pos) as i32;

/// The [`DictLayout`] of this build, measured on first use; `None` when the measurement is not
/// conclusive, in which case compiled code finds keys through the runtime's helpers only.
pub fn dict_layout() -> Option<DictLayout> {
    static LAYOUT: std::sync::OnceLock<Option<DictLayout>> = std::sync::OnceLock::new();
    *LAYOUT.get_or_init(measure_dict_layout)
}

fn measure_dict_layout() -> Option<DictLayout> {
    if ENTRY_SIZE != 24 || SLOT_SIZE != 8 || SLOT_HASH != 0 || SLOT_POS != 4 || cfg!(target_endian = "big") || std::mem::size_of::<usize>() != 8 {
        return None;
    }
    let mut found: Option<DictLayout> = None;
    // Two dicts whose lengths, capacities, hints and entry addresses differ, so that each word
    // is identified by exactly one value in each measurement and both must agree.
    for (len, cap, hint) in [(3usize, 5usize, 1usize), (2, 9, 7)] {
        let mut entries: Vec<Entry> = Vec::with_capacity(cap);
        let keys: Vec<Rc<Str>> = (0..len).map(|i| Rc::new(Str::new(format!("k{i}")))).collect();
        entries.extend(keys.iter().map(|k| Entry { key: Some(Rc::clone(k)), value: Value::Int(0) }));
        entries.push(Entry { key: None, value: Value::Empty });
        let mut index = Index { slots: Vec::with_capacity(cap * 4), used: 0 };
        index.slots.resize(cap * 2, Slot::default());
        let d = Dict { entries, index, holes: 1, hint: Cell::new(hint + 100) };
        let (ed, el, _) = crate::array::measure_vec(&d.entries)?;
        let (sd, sl, _) = crate::array::measure_vec(&d.index.slots)?;
        // An entry's key word is the payload word of the key's `Value::Str`, a hole's is 0.
        let key_word = |e: &Entry| {
            // SAFETY: `Entry` is `repr(C)` with the `Option<Rc<Str>>`, one pointer-sized
            // initialized word, at offset ENTRY_KEY.
            unsafe { std::ptr::read((e as *const Entry as *const u8).add(ENTRY_KEY as usize) as *const usize) }
        };
        let expected = keys.iter().map(|k| payload_word(&Value::Str(Rc::clone(k)))).chain([0]);
        if !d.entries.iter().map(key_word).eq(expected) {
            return None;
        }
        let value = Value::Dict(Rc::new(d));
        let Value::Dict(rc) = &value else { return None };
        let alloc = payload_word(&value);
        let at = (Rc::as_ptr(rc) as usize).checked_sub(alloc).filter(|&o| o < 256 && o % 8 == 0)?;
        let strong = crate::array::strong_offset(alloc, at, rc)?;
        let field = |off: usize| (at + off) as i32;
        let layout = DictLayout {
            entries_data: field(std::mem::offset_of!(Dict, entries) + ed),
            entries_len: field(std::mem::offset_of!(Dict, entries) + el),
            hint: field(std::mem::offset_of!(Dict, hint)),
            slots_data: field(std::mem::offset_of!(Dict, index) + std::mem::offset_of!(Index, slots) + sd),
            slots_len: field(std::mem::offset_of!(Dict, index) + std::mem::offset_of!(Index, slots) + sl),
            strong: strong as i32,
        };
        if found.is_some_and(|f| f != layout) {
            return None;
        }
        found = Some(layout);
    }
    found
}

/// The payload word of a heap value: its `Rc`'s allocation address.
fn payload_word(v: &Value) -> usize {
    // SAFETY: `Value` is `repr(C, u64)`; a heap value's payload at offset 8 is its `Rc`, one
    // initialized non-null pointer word (the layout `crate::value` documents).
    unsafe { std::ptr::read((v as *const Value as *const u8).add(PAYLOAD_OFFSET as usize) as *const usize) }
}

impl FromIterator<(Rc<Str>, Value)> for Dict {
    /// Entries in order; a repeated key keeps its first place and its last value.
    fn from_iter<I: IntoIterator<Item = (Rc<Str>, Value)>>(entries: I) -> Dict {
        let mut d = Dict::new();
        for (k, v) in entries {
            d.insert(k, v);
        }
        d
    }
}

impl fmt::Debug for Dict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(k, v)| (k.as_str(), v))).finish()
    }
}

impl Drop for Dict {
    /// Frees the entries without recursing on the native stack ([`crate::value`], *Freeing*).
    fn drop(&mut self) {
        if !self.is_empty() {
            drop_children(std::mem::take(&mut self.entries).into_iter().map(|e| e.value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Rc<Str> {
        Rc::new(Str::new(s))
    }

    fn keys_of(d: &Dict) -> Vec<String> {
        d.keys().map(|k| k.as_str().to_owned()).collect()
    }

    /// A model of the semantics: a vector of pairs in insertion order.
    fn model_set(m: &mut Vec<(String, i64)>, k: &str, v: i64) {
        match m.iter_mut().find(|(mk, _)| mk == k) {
            Some(e) => e.1 = v,
            None => m.push((k.to_owned(), v)),
        }
    }

    #[test]
    fn removal_keeps_the_order_and_a_returning_key_goes_last() {
        let mut d = Dict::new();
        for k in ["a", "b", "c", "d"] {
            d.insert(key(k), Value::str(k));
        }
        assert!(d.remove(&Str::new("b")).is_some());
        assert!(d.remove(&Str::new("zz")).is_none(), "a missing key changes nothing");
        assert_eq!(keys_of(&d), ["a", "c", "d"]);
        d.insert(key("b"), Value::Int(2));
        d.insert(key("a"), Value::Int(1));
        assert_eq!(keys_of(&d), ["a", "c", "d", "b"], "an update keeps its place");
        assert_eq!(d.len(), 4);
        assert!(matches!(d.get(&Str::new("a")), Some(Value::Int(1))));
        assert!(d.get(&Str::new("e")).is_none());
    }

    #[test]
    fn many_removals_match_a_model_and_holes_stay_below_half() {
        // A deterministic walk over 200 keys: sets, updates and removals in a mixed order.
        let mut d = Dict::new();
        let mut model: Vec<(String, i64)> = Vec::new();
        let mut x: u64 = 12345;
        for step in 0..20_000i64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let k = format!("k{}", (x >> 33) % 200);
            if (x >> 20).is_multiple_of(3) {
                let had = model.iter().position(|(mk, _)| *mk == k);
                if let Some(i) = had {
                    model.remove(i);
                }
                assert_eq!(d.remove(&Str::new(k.as_str())).is_some(), had.is_some());
            } else {
                model_set(&mut model, &k, step);
                d.insert(key(&k), Value::Int(step));
            }
            assert_eq!(d.len(), model.len());
            assert!(d.positions() <= COMPACT_MIN_POSITIONS.max(2 * d.len() + 1), "{} positions for {} entries", d.positions(), d.len());
        }
        let got: Vec<(String, i64)> = d
            .iter()
            .map(|(k, v)| match v {
                Value::Int(i) => (k.as_str().to_owned(), *i),
                _ => unreachable!("ints only"),
            })
            .collect();
        assert_eq!(got, model);
        for (k, v) in &model {
            assert!(matches!(d.get(&Str::new(k.as_str())), Some(Value::Int(i)) if i == v));
        }
        // Walking by position visits the same entries in the same order.
        let mut walked = Vec::new();
        let mut pos = 0;
        while let Some((p, k, _)) = d.next_entry(pos) {
            walked.push(k.as_str().to_owned());
            pos = p + 1;
        }
        assert_eq!(walked, model.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());
    }

    #[test]
    fn a_copy_is_independent_and_clear_empties() {
        let mut d: Dict = [(key("x"), Value::Int(1)), (key("y"), Value::Int(2)), (key("x"), Value::Int(3))].into_iter().collect();
        assert_eq!(keys_of(&d), ["x", "y"], "a repeated key keeps its first place");
        assert!(matches!(d.get(&Str::new("x")), Some(Value::Int(3))), "and its last value");
        let copy = d.clone();
        d.remove(&Str::new("x"));
        d.clear();
        assert!(d.is_empty());
        assert!(d.get(&Str::new("y")).is_none());
        assert_eq!(keys_of(&copy), ["x", "y"]);
        d.insert(key("z"), Value::Empty);
        assert_eq!(keys_of(&d), ["z"]);
    }

    /// Machine code's view of a dict ([`dict_layout`]) finds what the runtime finds: the
    /// hint, the number of positions, each live key's string at its position and its value
    /// after it, a hole's null key, and the strong count.
    #[test]
    fn dict_layout_reads_live_dicts() {
        let layout = dict_layout().expect("the host's Vec and Rc layouts are measurable");
        let keys: Vec<Rc<Str>> = (0..40).map(|i| key(&format!("key{i}"))).collect();
        let mut d = Dict::new();
        for (i, k) in keys.iter().enumerate() {
            d.insert(Rc::clone(k), Value::Int(i as i64 * 3));
        }
        d.remove(&keys[7]);
        assert!(d.contains_key(&keys[12]), "the hint now says 12");
        let v = Value::Dict(Rc::new(d));
        let shared = v.clone();
        let alloc = payload_word(&v) as *const u8;
        // SAFETY: the offsets name initialized words inside the live `Rc` allocation of `v`;
        // positions below `entries_len` are initialized entries of ENTRY_SIZE bytes.
        let word = |base: *const u8, o: i32| unsafe { std::ptr::read(base.add(o as usize) as *const usize) };
        assert_eq!(word(alloc, layout.hint), 12);
        assert_eq!(word(alloc, layout.entries_len), 40);
        assert_eq!(word(alloc, layout.strong), 2);
        drop(shared);
        assert_eq!(word(alloc, layout.strong), 1);
        let data = word(alloc, layout.entries_data) as *const u8;
        for (i, k) in keys.iter().enumerate() {
            // SAFETY: position i < 40 is inside the entries.
            let e = unsafe { data.add(i * ENTRY_SIZE as usize) };
            let held = word(e, ENTRY_KEY);
            if i == 7 {
                assert_eq!(held, 0, "a hole's key is null");
                continue;
            }
            assert_eq!(held, payload_word(&Value::Str(Rc::clone(k))), "position {i}");
            // SAFETY: the value of a live entry is an initialized `Value` at ENTRY_VALUE.
            let value = unsafe { &*(e.add(ENTRY_VALUE as usize) as *const Value) };
            assert!(matches!(value, Value::Int(n) if *n == i as i64 * 3), "position {i}: {value:?}");
        }
        // Probing the table as machine code does finds each live key's position, and stops at
        // a free slot for the removed one.
        let (slots, n) = (word(alloc, layout.slots_data) as *const u8, word(alloc, layout.slots_len));
        assert!(n.is_power_of_two() && n * 2 >= 3 * 39, "{n} slots");
        let probe = |hash: u64| {
            let mut i = hash as usize & (n - 1);
            loop {
                // SAFETY: i < n, the number of initialized slots; a slot is two initialized
                // `u32`s at SLOT_HASH and SLOT_POS.
                let slot = unsafe { slots.add(i * SLOT_SIZE as usize) };
                let half = |o: i32| unsafe { std::ptr::read(slot.add(o as usize) as *const u32) };
                let (h, pos) = (half(SLOT_HASH), half(SLOT_POS));
                assert_eq!(word(slot, 0) == 0, pos == 0, "read as one word, a slot is 0 exactly when free");
                match pos {
                    0 => return None,
                    _ if h == hash as u32 => return Some(pos as usize - 1),
                    _ => i = (i + 1) & (n - 1),
                }
            }
        };
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(probe(k.hash_code()), (i != 7).then_some(i), "key {i}");
        }
    }

    /// The table alone, with hashes chosen to collide: every key's home is one of four slots
    /// around the end,
    /// so runs are long and wrap around the end, and removals shift slots back across the
    /// wrap. After every operation each present key is found at its position and each absent
    /// one is not, against a model.
    #[test]
    fn the_index_finds_every_key_through_long_wrapping_runs() {
        let mut index = Index::default();
        let mut model: Vec<(u64, usize)> = Vec::new();
        // Distinct hashes whose home is the last slot, the one before it, the first or the
        // second, whatever the table's size (up to 2^20 slots).
        let hash = |k: u64| (k << 20) | [0xFFFFF, 0xFFFFE, 0, 1][k as usize % 4] | 1 << 63;
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 33
        };
        for step in 0..3000usize {
            let k = next() % 200;
            match model.iter().position(|&(mk, _)| mk == k) {
                Some(at) if next() % 3 > 0 => {
                    let slot = index.find_slot(hash(k), |p| p == model[at].1).expect("a present key");
                    index.remove_slot(slot);
                    model.remove(at);
                }
                Some(_) => {}
                None => {
                    index.insert(hash(k), step);
                    model.push((k, step));
                }
            }
            assert_eq!(index.used, model.len());
            assert!(index.used * 3 <= index.slots.len() * 2);
            for k in 0..200 {
                let want = model.iter().find(|&&(mk, _)| mk == k).map(|&(_, p)| p);
                assert_eq!(index.find(hash(k), |p| Some(p) == want), want, "key {k} at step {step}");
            }
        }
    }
}
