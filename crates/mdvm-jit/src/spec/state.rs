//! The frame state: for every register, where its value is and what its frame slot holds.
//!
//! Compiled code keeps ints, floats and bools unboxed in CLIF variables and leaves other
//! values in the register's frame slot (the interpreter's window). The state of a register is
//! a pair: [`Val`] says where its current value is, [`Slot`] what the slot may hold (which
//! matters for releasing it and for side exits). States join at block heads ([`merge`]); a
//! register whose value is in different places on two incoming edges is written to its slot
//! on each (the join is [`Val::Mem`]).

use mdvm_runtime::program::Callee;
use mdvm_runtime::value::Tag;

/// Where a register's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Val {
    /// In its frame slot (any type); the slot owns it.
    Mem,
    /// The string constant `.1` naming callee `.0` (a function of the module or a native), not
    /// yet written to its slot (which holds no heap value); written there when something
    /// reads the slot.
    Fn(Callee, u16),
    /// Known empty.
    Empty,
    /// Unboxed bool (0/1 in the register's i64 variable).
    Bool,
    /// Unboxed int (the register's i64 variable).
    Int,
    /// Unboxed float (the register's f64 variable).
    Float,
    /// Not live here: its value will never be read (its slot state still matters).
    Dead,
    /// In its slot (which owns it), known to be an array whose **view** (length, form, element
    /// address and count, read through [`mdvm_runtime::value::ArrayLayout`]) is in the
    /// register's view variables. The view stays valid while the slot keeps this value: a
    /// write to the register leaves this state, and an `ARRAY_SET_R` on it keeps the view
    /// current (written in place, or the view read again after the runtime wrote it, which may
    /// have copied, grown or converted the array). Another register sharing the array copies
    /// it before writing.
    Array,
}

impl Val {
    /// True if the value is in the register's slot (the slot owns it).
    pub fn in_slot(self) -> bool {
        matches!(self, Val::Mem | Val::Array)
    }

    /// The state of another register given a copy of this one's slot (a view stays with the
    /// register whose variables hold it).
    pub fn copied(self) -> Val {
        match self {
            Val::Array => Val::Mem,
            v => v,
        }
    }

    /// The unboxed form of a value of type `t` (empty, bool, int or float; anything else is
    /// `Empty` here, for the parameters and registers only those four types reach).
    pub fn unboxed(t: Tag) -> Val {
        match t {
            Tag::Int => Val::Int,
            Tag::Float => Val::Float,
            Tag::Bool => Val::Bool,
            _ => Val::Empty,
        }
    }

    /// The type the value is known to have, if any (`Mem` and `Dead`: none).
    pub fn known_tag(self) -> Option<Tag> {
        match self {
            Val::Int => Some(Tag::Int),
            Val::Float => Some(Tag::Float),
            Val::Bool => Some(Tag::Bool),
            Val::Empty => Some(Tag::Empty),
            Val::Fn(..) => Some(Tag::Str),
            Val::Array => Some(Tag::Array),
            Val::Mem | Val::Dead => None,
        }
    }
}

/// What a register's frame slot may hold (ordered: later is more general).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Slot {
    /// `Empty`.
    Empty,
    /// `Empty` or a plain (non-heap) value.
    Plain,
    /// Any value, owned (a heap reference must be released).
    Owned,
}

/// The state of one register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Reg {
    /// Where its value is.
    pub val: Val,
    /// What its slot may hold.
    pub slot: Slot,
    /// The value in the slot is held by this register alone (an `Rc` strong count of 1), so
    /// an array write may go in place without testing the count (with [`Val::Array`]). True
    /// after `NEW_ARRAY_R` into the register and after an `ARRAY_SET_R` on it (written in
    /// place, or by `Rc::make_mut` in the helper), until the register is read by anything but
    /// an array operation on it (a copy, a call's argument, a helper: each may take another
    /// reference) or written; false in every other state (the entries' and an OSR entry's
    /// registers included).
    pub unique: bool,
}

impl Reg {
    /// A value in its slot, which owns it (the state nothing is known about).
    pub const MEM: Reg = Reg { val: Val::Mem, slot: Slot::Owned, unique: false };

    /// True if the value is in its slot, owned, of no known type ([`Reg::MEM`], whether or not
    /// it is known to be held alone).
    pub fn is_mem(self) -> bool {
        self.val == Val::Mem && self.slot == Slot::Owned
    }
}

/// The state of every register of a window (indexed by register).
pub(crate) type State = Vec<Reg>;

/// The join of two incoming states of one register: equal places keep the place with the more
/// general slot; different places meet in the slot.
pub(crate) fn merge(a: Reg, b: Reg) -> Reg {
    if a.val == b.val {
        Reg { val: a.val, slot: a.slot.max(b.slot), unique: a.unique && b.unique }
    } else {
        Reg::MEM
    }
}

/// True if code with a register in state `have` may jump to a block whose head state for it
/// is `want`, after writing it to its slot when `want` has it there: `want` is at least as
/// general as `have` (or the register is dead there).
pub(crate) fn flows_into(have: Reg, want: Reg) -> bool {
    merge(have, want) == want || want.val == Val::Dead
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_keep_a_shared_place_and_widen_the_slot() {
        let int_plain = Reg { val: Val::Int, slot: Slot::Plain, unique: false };
        let int_empty = Reg { val: Val::Int, slot: Slot::Empty, unique: false };
        assert_eq!(merge(int_plain, int_empty), int_plain);
        assert_eq!(merge(int_empty, Reg { val: Val::Float, slot: Slot::Empty, unique: false }), Reg::MEM);
        assert_eq!(merge(Reg { val: Val::Array, slot: Slot::Owned, unique: false }, Reg::MEM), Reg::MEM);
        assert!(flows_into(int_empty, int_plain));
        assert!(flows_into(int_plain, Reg::MEM));
        assert!(!flows_into(int_plain, int_empty));
    }
}
