//! Work charges: fuel for the work an instruction does beyond its own unit.
//!
//! Fuel counts instructions (ARCHITECTURE.md, *Budgets*), but some instructions do work that
//! grows with their operands: printing and converting a value to text, comparing strings,
//! arrays and dicts, concatenating, and copying a shared array or dict before writing to it
//! (copy-on-write). Such an instruction also charges one unit of fuel per [`BYTES_PER_FUEL`]
//! bytes of that work, rounded down, so that a budget of N bounds the time a run takes
//! whatever it does: `a = [a, a]` sixty times and a `DEBUG_PRINT` of the result under fuel
//! 1,000 ends in `fuel exhausted`, not in endless output.
//!
//! What counts as work, in bytes:
//!
//! | work | bytes |
//! |---|---|
//! | text built for display (`DEBUG_PRINT`, conversion to string, concatenation with a non-string) | the text's length |
//! | a string printed or concatenated | its length |
//! | growth checked by [`crate::memory::reserve`] (copy-on-write copies, array growth) | the bytes reserved |
//! | equality of two strings of equal length; ordering of two strings | the shorter length |
//! | equality of arrays and dicts | 16 per element pair compared, 8 per element of packed arrays |
//!
//! The charge is taken **before** the work has effects: text is built (and charged) before it
//! is written, a copy is charged before it is made, and equality has no effects. An
//! instruction whose work needs more fuel than is left fails with
//! [`ErrorKind::FuelExhausted`] and changes nothing.
//!
//! **The same in both tiers.** The work is measured by the runtime's own operations, which
//! both tiers run (compiled code reaches them through `mdvm_exec`, `mdvm_call_native` and
//! `mdvm_array_set_plain`). The interpreter opens a [`Meter`] with the fuel left after the
//! instruction's own unit and subtracts what it reports. Compiled code opens it with the fuel
//! in its context, which is never more than the interpreter would have (compiled code charges
//! a fuel segment when it enters it, ahead of the instructions): when the helper finds the
//! fuel short it fails without effects, and the side exit gives back the fuel charged ahead so
//! the interpreter executes the instruction again with the exact budget.
//!
//! Outside an instruction, and in runs that do not count fuel, no meter is open and charging
//! costs a thread-local read.

use std::cell::Cell;

use crate::error::{ErrorKind, OpError};

/// Bytes of work that cost one unit of fuel.
pub const BYTES_PER_FUEL: u64 = 64;

/// The state of the meter of the instruction in progress on this thread.
#[derive(Clone, Copy)]
struct State {
    /// A meter is open: charges are counted and limited.
    active: bool,
    /// Bytes that may still be charged.
    left: u64,
    /// Bytes charged since the meter was opened.
    used: u64,
    /// A charge was refused.
    short: bool,
}

const IDLE: State = State { active: false, left: u64::MAX, used: 0, short: false };

thread_local! {
    static METER: Cell<State> = const { Cell::new(IDLE) };
}

/// The meter of one instruction, open from [`begin`] until [`Meter::end`].
#[must_use = "end() returns the fuel to subtract"]
pub struct Meter {
    /// The state before this meter was opened, restored at the end.
    prev: State,
    active: bool,
}

/// Opens the meter of an instruction with `fuel_left` units of fuel left after its own unit.
/// `u64::MAX` means the run does not count fuel: nothing is charged.
#[inline]
pub fn begin(fuel_left: u64) -> Meter {
    let active = fuel_left != u64::MAX;
    let prev = METER.with(|m| {
        m.replace(State {
            active,
            left: fuel_left.saturating_mul(BYTES_PER_FUEL).saturating_add(BYTES_PER_FUEL - 1),
            used: 0,
            short: false,
        })
    });
    Meter { prev, active }
}

impl Meter {
    /// Closes the meter and returns the units of fuel the instruction's work costs
    /// (`used / BYTES_PER_FUEL`, never more than the fuel it was opened with).
    #[inline]
    pub fn end(self) -> u64 {
        let s = METER.with(|m| m.replace(self.prev));
        if self.active {
            s.used / BYTES_PER_FUEL
        } else {
            0
        }
    }
}

/// Charges `bytes` of work to the open meter (nothing when none is open).
///
/// Errors: [`ErrorKind::FuelExhausted`] when the fuel left cannot cover them; nothing is
/// charged then, and the caller must not do the work.
#[inline]
pub fn charge(bytes: usize) -> Result<(), OpError> {
    METER.with(|m| {
        let mut s = m.get();
        if !s.active {
            return Ok(());
        }
        let b = bytes as u64;
        if b > s.left {
            s.short = true;
            m.set(s);
            return Err(exhausted(s.left / BYTES_PER_FUEL));
        }
        s.left -= b;
        s.used += b;
        m.set(s);
        Ok(())
    })
}

/// True when a charge of the open meter was refused (for callers that see the refusal only
/// as a failed write, like [`crate::value::BoundedString`]).
pub fn ran_short() -> bool {
    METER.with(|m| m.get().short)
}

/// Bytes that may still be charged to the open meter (`u64::MAX` when none is open).
pub fn left() -> u64 {
    METER.with(|m| {
        let s = m.get();
        if s.active {
            s.left
        } else {
            u64::MAX
        }
    })
}

/// The error of work the fuel left cannot cover.
#[cold]
pub fn exhausted(units_left: u64) -> OpError {
    OpError::new(
        ErrorKind::FuelExhausted,
        format!("fuel exhausted: this instruction's work needs more than the {units_left} units of fuel left"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_round_down_and_stop_at_the_fuel_left() {
        let m = begin(2);
        // 2 units left: up to 3 * 64 - 1 bytes fit, charged as 2 units.
        assert!(charge(100).is_ok());
        assert!(charge(91).is_ok());
        let e = charge(1).unwrap_err();
        assert_eq!(e.kind, ErrorKind::FuelExhausted);
        assert!(ran_short());
        assert_eq!(m.end(), 2);
        // Closed: nothing is charged or refused.
        assert!(charge(usize::MAX).is_ok());
        assert!(!ran_short());
    }

    #[test]
    fn unmetered_runs_charge_nothing() {
        let m = begin(u64::MAX);
        assert!(charge(usize::MAX).is_ok());
        assert_eq!(m.end(), 0);
    }

    #[test]
    fn meters_nest_and_restore() {
        let outer = begin(10);
        charge(64).unwrap();
        let inner = begin(0);
        assert!(charge(64).is_err());
        assert_eq!(inner.end(), 0);
        charge(64).unwrap();
        assert_eq!(outer.end(), 2);
    }
}
