//! The interface between the interpreter and compiled (native) code.
//!
//! The runtime defines it; a compiled tier (the `mdvm-jit` crate) implements [`CompiledTier`]
//! and emits code that follows the conventions here. The runtime never depends on the tier.
//!
//! # Native code conventions
//!
//! A compiled body is a [`NativeEntry`]: `extern "C" fn(ctx, base) -> NativeRet`, where `base`
//! is the index in the value stack of the body's register window (register `rN` is the
//! [`Value`] at `ctx.stack + (base + N) * 16`). When it is entered the window holds the call's
//! arguments in `r0..` and `Empty` everywhere else; when it returns, it has reset every slot of
//! its window to `Empty` (releasing what it owned), except on [`RET_UNWIND`].
//!
//! The result comes back in two registers ([`NativeRet`]): `tag` 0..=8 is a returned value
//! (owned: a heap payload carries one reference), [`RET_NONE`] a return without a value, and
//! [`RET_UNWIND`] means the run is ending (an error was recorded, or `HALT` ran): every native
//! frame returns `RET_UNWIND` at once, without cleaning up (the run clears the whole stack).
//!
//! The caller of a body counts the new frame: it checks `depth < max_depth`, increments `depth`
//! before the call and decrements it after. Inside compiled code a tier may carry the frame count
//! in registers instead (the Cranelift tier's typed entries do), provided `ctx.depth` holds the
//! true count whenever runtime code runs (helpers, side exits, the interpreter) and when a
//! [`NativeEntry`] returns to its caller. The stack may be reallocated by any call out of native
//! code (callee or helper), so native code reloads `ctx.stack` after each one.
//!
//! Native code reaches the runtime through the helpers of [`crate::helpers`] (`extern "C"`,
//! listed with their signatures in [`crate::helpers::Helper`]). When a helper reports failure,
//! native code side-exits to the interpreter at the same instruction
//! ([`crate::helpers::mdvm_deopt_exit`]), which executes it again and raises the error there, so
//! errors always come from one place.
//!
//! # Layout facts native code relies on
//!
//! Defined here (and in [`crate::value`] for a [`Value`]'s layout) and nowhere else:
//!
//! * a slot is [`crate::value::VALUE_SIZE`] bytes, its tag word at
//!   [`crate::value::TAG_OFFSET`] and payload at [`crate::value::PAYLOAD_OFFSET`];
//! * the fields of [`NativeContext`] at the `OFF_*` offsets; the entry table and the call
//!   counts are arrays with strides [`ENTRY_STRIDE`] and [`CALL_COUNT_STRIDE`];
//! * every window has [`WINDOW_SLOTS`] slots of stack past its base, so a caller with `n`
//!   registers needs `base + n + WINDOW_SLOTS` slots before a call;
//! * a side exit's phi predecessor is a bytecode index, or [`NO_PRED`];
//! * stress mode's guard flags are indexed by [`stress_id`], in a buffer of
//!   [`stress_flags_len`] bytes.

use std::io::Write;

use crate::feedback::Feedback;
use crate::interp::Machine;
use crate::program::Program;
use crate::value::{Tag, Value};

/// A compiled body (or OSR entry): `(ctx, base) -> result`. See the module documentation.
pub type NativeEntry = unsafe extern "C" fn(*mut NativeContext, u64) -> NativeRet;

/// The result of native code, returned in two integer registers.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NativeRet {
    /// A value tag (0..=8), [`RET_NONE`], [`RET_UNWIND`], [`RET_SUSPEND`] or [`RET_BLOCK`].
    pub tag: u64,
    /// The payload for a value tag (the bits of the value's 8-byte payload).
    pub payload: u64,
}

/// [`NativeRet::tag`]: the body returned without a value.
pub const RET_NONE: u64 = 9;
/// [`NativeRet::tag`]: the run is ending (error recorded or `HALT`); unwind at once.
pub const RET_UNWIND: u64 = 10;
/// [`NativeRet::tag`]: the running process is suspending ([`crate::process`]): the callee's
/// activations are already interpreter frames on the machine's frame stack; a compiled caller
/// side-exits with [`DeoptReason::Suspend`] after the call, which adds its own frame below
/// them, and returns this tag again.
pub const RET_SUSPEND: u64 = 11;
/// [`NativeRet::tag`] from `mdvm_call_native`: the native would block (`receive` with an
/// empty mailbox, `wait` for a running process) and did nothing; compiled code side-exits
/// before the call ([`DeoptReason::Blocked`]) and the process suspends there.
pub const RET_BLOCK: u64 = 12;

/// `mdvm_call_dynamic`'s status: the call is done, its result in the destination's slot.
pub const CALL_DONE: u32 = 0;
/// `mdvm_call_dynamic`'s status: the run is ending; return [`RET_UNWIND`].
pub const CALL_UNWIND: u32 = 1;
/// `mdvm_call_dynamic`'s status: the callee suspended its process; side-exit after the call
/// with [`DeoptReason::Suspend`].
pub const CALL_SUSPENDED: u32 = 2;
/// `mdvm_call_dynamic`'s status: the callee is a native that would block and did nothing;
/// side-exit before the call with [`DeoptReason::Blocked`].
pub const CALL_BLOCKED: u32 = 3;

/// State shared by the interpreter, native code and helpers. `#[repr(C)]`: native code reads
/// the fields at the `OFF_*` offsets.
#[repr(C)]
#[derive(Debug)]
pub struct NativeContext {
    /// The value stack's first slot (reload after every call out of native code).
    pub stack: *mut Value,
    /// Number of slots in the value stack.
    pub stack_len: u64,
    /// Live frames, the entry frame included.
    pub depth: u64,
    /// The depth limit: a call when `depth == max_depth` is an error.
    pub max_depth: u64,
    /// Instructions left before the fuel budget runs out (`u64::MAX` when unmetered).
    pub fuel: u64,
    /// Native entry of each body, or null (patched when a body is compiled or discarded).
    pub entries: *const *const u8,
    /// Calls per body (the machine's feedback), incremented by native call sites.
    pub call_counts: *mut u64,
    /// Guard flags for stress mode: byte `i` is set once guard `i` has taken its side exit.
    pub stress_flags: *mut u8,
    /// The machine running native code (set for the duration of each native call).
    pub machine: *mut Machine,
    /// Lowest native stack address native code may call from: below it, a call goes through
    /// [`crate::helpers::mdvm_call_on_new_stack`] instead (deep recursion never overflows the
    /// thread's stack).
    pub stack_limit: u64,
    /// The side exit being taken, written by an exit block just before it jumps to its
    /// function's shared deoptimization tail ([`crate::helpers::mdvm_deopt_exit`]), as
    /// [`exit_word`] packs it: the bytecode index to resume at, the [`DeoptReason`], and
    /// whether [`NativeContext::exit_pred`] holds a phi predecessor.
    pub exit_at: u64,
    /// The phi predecessor of the side exit in [`NativeContext::exit_at`], when it has one
    /// (written only then).
    pub exit_pred: u64,
    /// One byte per body, nonzero once a debugger pinned it to the interpreter
    /// ([`crate::debug`]): code compiled with debug checks
    /// ([`CompiledTier::enable_debug_checks`]) side-exits after every call returning into a
    /// pinned body's compiled activation, so that the interpreter runs the rest of it.
    pub pinned: *const u8,
    /// Fuel of the run that is not in [`NativeContext::fuel`] while a process runs a bounded
    /// slice ([`crate::process`]): `fuel` counts the slice, and this the rest of the budget
    /// (`u64::MAX`: no budget). When `fuel` runs out with a reserve left, the slice ends
    /// instead of the run. Native code never reads it.
    pub reserve: u64,
}

/// [`NativeContext::exit_at`] for a side exit to bytecode index `pc` for `reason`: `pc` in
/// bits 0-31, the reason's code in bits 32-39, and bit 40 set when the exit has a phi
/// predecessor (written to [`NativeContext::exit_pred`]); most exits have none, and write one
/// word.
pub fn exit_word(pc: u32, reason: DeoptReason, has_pred: bool) -> u64 {
    pc as u64 | (reason as u64) << 32 | (has_pred as u64) << 40
}

/// The side exit described by `ctx`'s [`NativeContext::exit_at`] and
/// [`NativeContext::exit_pred`]: `(pc, pred or NO_PRED, reason code)` ([`exit_word`]).
pub fn decode_exit(at: u64, pred: u64) -> (u32, u32, u32) {
    let pred = if at >> 40 & 1 == 1 { pred as u32 } else { NO_PRED };
    (at as u32, pred, (at >> 32) as u8 as u32)
}

/// Byte offset of [`NativeContext::stack`].
pub const OFF_STACK: i32 = 0;
/// Byte offset of [`NativeContext::stack_len`].
pub const OFF_STACK_LEN: i32 = 8;
/// Byte offset of [`NativeContext::depth`].
pub const OFF_DEPTH: i32 = 16;
/// Byte offset of [`NativeContext::max_depth`].
pub const OFF_MAX_DEPTH: i32 = 24;
/// Byte offset of [`NativeContext::fuel`].
pub const OFF_FUEL: i32 = 32;
/// Byte offset of [`NativeContext::entries`].
pub const OFF_ENTRIES: i32 = 40;
/// Byte offset of [`NativeContext::call_counts`].
pub const OFF_CALL_COUNTS: i32 = 48;
/// Byte offset of [`NativeContext::stress_flags`].
pub const OFF_STRESS_FLAGS: i32 = 56;
/// Byte offset of [`NativeContext::stack_limit`].
pub const OFF_STACK_LIMIT: i32 = 72;
/// Byte offset of [`NativeContext::exit_at`].
pub const OFF_EXIT_AT: i32 = 80;
/// Byte offset of [`NativeContext::exit_pred`].
pub const OFF_EXIT_PRED: i32 = 88;
/// Byte offset of [`NativeContext::pinned`].
pub const OFF_PINNED: i32 = 96;

/// Byte distance between two entries of [`NativeContext::entries`] (one code pointer per body).
pub const ENTRY_STRIDE: i32 = std::mem::size_of::<*const u8>() as i32;
/// Byte distance between two counters of [`NativeContext::call_counts`] (one `u64` per body).
pub const CALL_COUNT_STRIDE: i32 = std::mem::size_of::<u64>() as i32;

/// Slots of value stack that exist past every window's base: a whole `u8` register window,
/// so no register index leaves the stack. Before a call from a window of `n` registers, the
/// stack must hold `base + n + WINDOW_SLOTS` slots (the callee's window).
pub const WINDOW_SLOTS: usize = mdbc::operand::REGISTERS;

/// "No predecessor": the phi predecessor of a side exit that does not resume at the start of a
/// block entered along an edge (ARCHITECTURE.md, *Calls, frames and phis*: no phi source matches
/// it).
pub const NO_PRED: u32 = u32::MAX;

/// Which guard of an instruction a stress-mode flag belongs to ([`stress_id`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum GuardSlot {
    /// The guard on the first operand (`a`, `src`, `arr`).
    First = 0,
    /// The guard on the second operand (`b`, `idx`).
    Second = 1,
    /// The guard on an array element's type (after the bounds check).
    Element = 2,
    /// The guard on the instruction's entry facts: a body's typed parameters at its first
    /// instruction, a counted loop's trip-count bound at its first accumulator update.
    Entry = 3,
}

/// Guards per bytecode instruction in the stress flags (one per [`GuardSlot`]).
pub const GUARDS_PER_INSTRUCTION: u32 = 4;

/// The index in [`NativeContext::stress_flags`] of guard `slot` of the instruction at bytecode
/// index `pc`.
pub const fn stress_id(pc: u32, slot: GuardSlot) -> u32 {
    pc * GUARDS_PER_INSTRUCTION + slot as u32
}

/// The size of the stress flags buffer for a module of `instructions` bytecode instructions:
/// every [`stress_id`], and the id of a guard at the body's end (`pc == instructions`).
pub const fn stress_flags_len(instructions: usize) -> usize {
    (instructions + 1) * GUARDS_PER_INSTRUCTION as usize
}

/// Native stack that must remain below a call made from native code (helpers, nested
/// interpreter levels and the callee's own frames up to its next call).
pub const STACK_RED_ZONE: usize = 512 * 1024;
/// Size of each additional native stack segment.
pub const STACK_SEGMENT: usize = 16 * 1024 * 1024;

const _: () = {
    assert!(std::mem::offset_of!(NativeContext, stack) == OFF_STACK as usize);
    assert!(std::mem::offset_of!(NativeContext, stack_len) == OFF_STACK_LEN as usize);
    assert!(std::mem::offset_of!(NativeContext, depth) == OFF_DEPTH as usize);
    assert!(std::mem::offset_of!(NativeContext, max_depth) == OFF_MAX_DEPTH as usize);
    assert!(std::mem::offset_of!(NativeContext, fuel) == OFF_FUEL as usize);
    assert!(std::mem::offset_of!(NativeContext, entries) == OFF_ENTRIES as usize);
    assert!(std::mem::offset_of!(NativeContext, call_counts) == OFF_CALL_COUNTS as usize);
    assert!(std::mem::offset_of!(NativeContext, stress_flags) == OFF_STRESS_FLAGS as usize);
    assert!(std::mem::offset_of!(NativeContext, stack_limit) == OFF_STACK_LIMIT as usize);
    assert!(std::mem::offset_of!(NativeContext, exit_at) == OFF_EXIT_AT as usize);
    assert!(std::mem::offset_of!(NativeContext, pinned) == OFF_PINNED as usize);
    assert!(std::mem::offset_of!(NativeContext, exit_pred) == OFF_EXIT_PRED as usize);
};

/// The stack limit for native code running from here on this thread's current stack segment.
pub(crate) fn current_stack_limit() -> u64 {
    let here = 0u8;
    let sp = &here as *const u8 as u64;
    match stacker::remaining_stack() {
        Some(left) => (sp - left as u64).saturating_add(STACK_RED_ZONE as u64),
        // Unknown stack bounds: never switch (the thread's own guard page still protects).
        None => 0,
    }
}

/// Why compiled code left for the interpreter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum DeoptReason {
    /// A register did not hold the int a guard expected.
    NotInt = 0,
    /// A register did not hold the float a guard expected.
    NotFloat = 1,
    /// A register did not hold the bool a guard expected.
    NotBool = 2,
    /// A register did not hold the string a guard expected.
    NotString = 3,
    /// Checked int arithmetic overflowed (or divided by zero): the interpreter raises it.
    Overflow = 4,
    /// A helper failed: the interpreter executes the instruction again and raises the error.
    Fault = 5,
    /// The call-depth limit was reached at a call: the interpreter raises it.
    Depth = 6,
    /// The fuel left cannot cover the next block: the interpreter counts it out exactly.
    Fuel = 7,
    /// A call returned a value of another type than the one compiled for.
    ResultType = 8,
    /// Stress mode: the guard's first execution always exits.
    Stress = 9,
    /// A register did not hold the array a guard expected (an array read or length).
    NotArray = 10,
    /// An array was not in the form (packed ints, packed floats or values,
    /// [`crate::array`]) the element read was compiled for.
    ArrayKind = 11,
    /// At the entry of a counted loop, the trip-count bound did not rule out an overflow of an
    /// accumulator whose per-iteration check the compiled loop leaves out.
    LoopBound = 12,
    /// A jump into another function's range ([`mdbc::Body`]): the interpreter runs the code
    /// there, in the same frame.
    OtherRange = 13,
    /// A register did not hold the dict a guard expected.
    NotDict = 14,
    /// A safepoint (a loop back-edge or a function entry) found an interrupt request
    /// ([`crate::interrupt`]): the interpreter serves it, and goes on or ends the run.
    Interrupt = 15,
    /// At an OSR entry, an array register the loop writes was not held alone (its `Rc`
    /// strong count above 1, or no array there): the interpreter goes on, and the next compile
    /// of that loop guards nothing at its entry.
    SharedArray = 16,
    /// A call returned into a compiled activation of a body a debugger has since pinned to
    /// the interpreter ([`NativeContext::pinned`]): the interpreter runs the rest of it.
    Debugger = 17,
    /// A callee suspended its process ([`RET_SUSPEND`]): the caller's activation becomes an
    /// interpreter frame that resumes after the call.
    Suspend = 18,
    /// A native would block ([`RET_BLOCK`]): the process suspends at the call, which runs
    /// again when the process is next scheduled.
    Blocked = 19,
}

impl DeoptReason {
    /// Every reason, in order.
    pub const ALL: [DeoptReason; 20] = [
        DeoptReason::NotInt,
        DeoptReason::NotFloat,
        DeoptReason::NotBool,
        DeoptReason::NotString,
        DeoptReason::Overflow,
        DeoptReason::Fault,
        DeoptReason::Depth,
        DeoptReason::Fuel,
        DeoptReason::ResultType,
        DeoptReason::Stress,
        DeoptReason::NotArray,
        DeoptReason::ArrayKind,
        DeoptReason::LoopBound,
        DeoptReason::OtherRange,
        DeoptReason::NotDict,
        DeoptReason::Interrupt,
        DeoptReason::SharedArray,
        DeoptReason::Debugger,
        DeoptReason::Suspend,
        DeoptReason::Blocked,
    ];

    /// The reason for code `c`, if valid.
    pub fn from_u32(c: u32) -> Option<DeoptReason> {
        Self::ALL.get(c as usize).copied()
    }

    /// A short name for stats.
    pub fn name(self) -> &'static str {
        match self {
            DeoptReason::NotInt => "guard: not int",
            DeoptReason::NotFloat => "guard: not float",
            DeoptReason::NotBool => "guard: not bool",
            DeoptReason::NotString => "guard: not string",
            DeoptReason::Overflow => "int overflow or zero divisor",
            DeoptReason::Fault => "runtime error",
            DeoptReason::Depth => "call depth limit",
            DeoptReason::Fuel => "fuel budget",
            DeoptReason::ResultType => "call result type",
            DeoptReason::Stress => "stress mode",
            DeoptReason::NotArray => "guard: not array",
            DeoptReason::ArrayKind => "guard: array form",
            DeoptReason::LoopBound => "guard: loop trip bound",
            DeoptReason::OtherRange => "jump into another function's range",
            DeoptReason::NotDict => "guard: not dict",
            DeoptReason::Interrupt => "interrupt request",
            DeoptReason::SharedArray => "guard: array held alone",
            DeoptReason::Debugger => "debugger: function pinned to the interpreter",
            DeoptReason::Suspend => "process suspended in a callee",
            DeoptReason::Blocked => "process blocked in a native",
        }
    }

    /// True for reasons that say the compiled code's speculation was wrong (these count
    /// toward recompilation; the others end the run or are budget bookkeeping).
    pub fn is_misspeculation(self) -> bool {
        matches!(
            self,
            DeoptReason::NotInt
                | DeoptReason::NotFloat
                | DeoptReason::NotBool
                | DeoptReason::NotString
                | DeoptReason::NotArray
                | DeoptReason::NotDict
                | DeoptReason::ArrayKind
                | DeoptReason::ResultType
                | DeoptReason::LoopBound
                | DeoptReason::SharedArray
        )
    }
}

/// Counters a compiled tier reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TierStats {
    /// Bodies compiled (recompilations included).
    pub functions_compiled: u64,
    /// OSR entries compiled.
    pub osr_compiled: u64,
    /// Total compile time in nanoseconds.
    pub compile_nanos: u64,
    /// Recompilations after repeated deopts.
    pub recompilations: u64,
    /// Bodies the tier failed to compile.
    pub compile_failures: u64,
    /// Bodies over the compile budget (too large, or too much side-exit code for their size),
    /// left to the interpreter.
    pub over_budget: u64,
    /// Functions compiled with their registers written through to their slots (bodies with
    /// many registers live across many guards: linear compile time, a store per definition).
    pub written_through: u64,
    /// Why the most recent failure happened (the tier's message), if any failed.
    pub last_failure: Option<String>,
}

/// The compiled tier's counters together with the machine's: what `--stats` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TierReport {
    /// The tier's own counters.
    pub compiled: TierStats,
    /// Entries into native code from the interpreter (calls and the program's start).
    pub native_entries: u64,
    /// Loops entered by OSR.
    pub osr_entries: u64,
    /// Side exits to the interpreter, by reason (only reasons that occurred).
    pub deopts: Vec<(DeoptReason, u64)>,
    /// Side exits by function and reason (function name, reason, count), in function order.
    pub deopts_by_function: Vec<(String, DeoptReason, u64)>,
}

/// What the interpreter needs from a compiled tier.
pub trait CompiledTier {
    /// Compiles `body` for entry at its start, using `feedback`; `None` if it cannot.
    fn compile(&mut self, program: &Program, feedback: &Feedback, body: u32) -> Option<NativeEntry>;

    /// Compiles an entry into `body` at the loop header at internal index `header`, entered by
    /// the back-edge jump at internal index `latch` (the interpreter has just executed it).
    /// `frame` holds the tags of the frame's registers now (the entry may guard on them).
    fn compile_osr(
        &mut self,
        program: &Program,
        feedback: &Feedback,
        body: u32,
        header: u32,
        latch: u32,
        frame: &[Tag],
    ) -> Option<NativeEntry>;

    /// Notes that code of `body` side-exited at bytecode index `pc` for `reason`. Returns true
    /// when the body's code should be discarded (it will be recompiled from fresh feedback).
    fn note_deopt(&mut self, body: u32, pc: u32, reason: DeoptReason) -> bool;

    /// Forgets the OSR entries of `body` (its code was discarded).
    fn discard(&mut self, body: u32);

    /// From now on, compiles code that tests the interrupt word at `flag_address`
    /// ([`crate::interrupt::InterruptHandle::flag_address`]) at every loop back-edge and
    /// function entry. Code compiled before has no such tests: the machine discards it.
    fn enable_safepoints(&mut self, flag_address: usize);

    /// From now on, compiles code that tests [`NativeContext::pinned`] for its body after
    /// every call and side-exits ([`DeoptReason::Debugger`]) when it is set. Code compiled
    /// before has no such tests: the machine discards it.
    fn enable_debug_checks(&mut self) {}

    /// Counters for `--stats`.
    fn stats(&self) -> TierStats;
}

/// When the interpreter hands a body to the compiled tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierPolicy {
    /// Compile every body before its first call (and the entry body before the run).
    pub eager: bool,
    /// Compile a body once it has been called this many times.
    pub call_threshold: u64,
    /// Enter a loop by OSR once its header has been reached by this many back-edges.
    pub backedge_threshold: u32,
    /// Make every guard take its side exit the first time it runs (tests).
    pub stress_deopt: bool,
}

impl Default for TierPolicy {
    fn default() -> Self {
        TierPolicy { eager: false, call_threshold: 1_000, backedge_threshold: 2_000, stress_deopt: false }
    }
}

/// Output sink while a run is in progress (see `Machine::run`).
pub(crate) type OutPtr = *mut (dyn Write + 'static);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_word_decodes_to_what_was_packed() {
        for reason in DeoptReason::ALL {
            for pc in [0u32, 1, 4_095, u32::MAX - 1, u32::MAX] {
                let at = exit_word(pc, reason, false);
                // `exit_pred` is ignored without the flag, whatever it holds.
                assert_eq!(decode_exit(at, 77), (pc, NO_PRED, reason as u32));
                for pred in [0u32, 12, u32::MAX - 1] {
                    assert_eq!(decode_exit(exit_word(pc, reason, true), pred as u64), (pc, pred, reason as u32));
                }
            }
            assert!((reason as u32) < 256, "a reason's code fits its 8 bits");
        }
    }
}
