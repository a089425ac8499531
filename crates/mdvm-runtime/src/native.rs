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
//! The caller of a body counts the new frame: it checks `depth < max_depth`, increments
//! `depth` before the call and decrements it after. Inside compiled code a tier may carry the
//! frame count in registers instead (the Cranelift tier's typed entries do), provided
//! `ctx.depth` holds the true count whenever runtime code runs (helpers, side exits, the
//! interpreter) and when a [`NativeEntry`] returns to its caller. The stack may be reallocated by any call
//! out of native code (callee or helper), so native code reloads `ctx.stack` after each one.
//!
//! Helpers (the `mdvm_*` functions below) are `extern "C"`; native code calls them by address.
//! When a helper reports failure, native code side-exits to the interpreter at the same
//! instruction ([`mdvm_deopt`]), which executes it again and raises the error there, so errors
//! always come from one place.

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
    /// A value tag (0..=8), [`RET_NONE`] or [`RET_UNWIND`].
    pub tag: u64,
    /// The payload for a value tag (the bits of the value's 8-byte payload).
    pub payload: u64,
}

/// [`NativeRet::tag`]: the body returned without a value.
pub const RET_NONE: u64 = 9;
/// [`NativeRet::tag`]: the run is ending (error recorded or `HALT`); unwind at once.
pub const RET_UNWIND: u64 = 10;

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
    /// [`mdvm_call_on_new_stack`] instead (deep recursion never overflows the thread's stack).
    pub stack_limit: u64,
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
}

impl DeoptReason {
    /// Every reason, in order.
    pub const ALL: [DeoptReason; 13] = [
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
                | DeoptReason::ArrayKind
                | DeoptReason::ResultType
                | DeoptReason::LoopBound
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
    /// Bodies the tier declined or failed to compile.
    pub compile_failures: u64,
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

// ---------------------------------------------------------------------------------------
// Helpers called by native code.
//
// SAFETY (all helpers): native code calls them only while `Machine::call_native` is running
// on this thread, with the `ctx` it was given. `ctx.machine` then points to that machine,
// which no Rust reference is using until the native call returns, so forming `&mut Machine`
// from it for the helper's duration is the only live access. Register indices come from
// verified bytecode (< 256) and `base` is a live window (base + 256 <= stack_len).
// ---------------------------------------------------------------------------------------

/// Recovers the machine from `ctx`.
///
/// # Safety
/// See the block comment above: only inside a native call made by `Machine::call_native`.
#[inline]
unsafe fn machine<'a>(ctx: *mut NativeContext) -> &'a mut Machine {
    // SAFETY: the caller upholds the helper contract above.
    unsafe { &mut *(*ctx).machine }
}

/// Executes the single non-control instruction at bytecode index `pc` of `body` on the window
/// at `base`, with the interpreter's semantics (operands must be in their slots; the result is
/// written to its slot). Returns 0 on success, 1 if the instruction raised an error (native code
/// then side-exits at `pc` so the interpreter raises it).
///
/// # Safety
/// Called by native code only (see above).
pub unsafe extern "C" fn mdvm_exec(ctx: *mut NativeContext, body: u32, pc: u32, base: u64) -> u32 {
    // SAFETY: helper contract.
    let m = unsafe { machine(ctx) };
    m.exec_one(body, pc, base as usize) as u32
}

/// Runs `body` in the interpreter on the window at `base` (arguments already in place), as a
/// callee of native code: returns its result. The caller has counted the frame.
///
/// # Safety
/// Called by native code only (see above).
pub unsafe extern "C" fn mdvm_call_interp(ctx: *mut NativeContext, body: u32, base: u64) -> NativeRet {
    // SAFETY: helper contract.
    let m = unsafe { machine(ctx) };
    m.run_nested_call(body, base as usize)
}

/// Side exit: compiled code of `body` stopped before bytecode index `pc` (its live registers
/// are in the window at `base`); the interpreter finishes the activation and its result is
/// returned. `pred` is the bytecode index of the predecessor's last instruction when `pc`
/// starts a block entered along an edge (for phis), else `u32::MAX`.
///
/// # Safety
/// Called by native code only (see above).
pub unsafe extern "C" fn mdvm_deopt(
    ctx: *mut NativeContext,
    body: u32,
    pc: u32,
    base: u64,
    pred: u32,
    reason: u32,
) -> NativeRet {
    // SAFETY: helper contract.
    let m = unsafe { machine(ctx) };
    m.resume_after_deopt(body, pc, base as usize, pred, reason)
}

/// Releases the heap value in the slot `base + reg` (sets it to `Empty`).
///
/// # Safety
/// Called by native code only (see above).
pub unsafe extern "C" fn mdvm_release(ctx: *mut NativeContext, base: u64, reg: u32) {
    // SAFETY: helper contract; the slot is in a live window.
    let slot = unsafe { &mut *(*ctx).stack.add(base as usize + reg as usize) };
    slot.set(Value::Empty);
}

/// Copies the value in slot `base + src` into slot `dst_base + dst` (adding a reference for a
/// heap value, releasing what `dst` held).
///
/// # Safety
/// Called by native code only (see above).
pub unsafe extern "C" fn mdvm_copy(ctx: *mut NativeContext, base: u64, src: u32, dst_base: u64, dst: u32) {
    // SAFETY: helper contract; both slots are in live windows, and distinct (a copy onto
    // itself is skipped).
    unsafe {
        let stack = (*ctx).stack;
        let s = stack.add(base as usize + src as usize);
        let d = stack.add(dst_base as usize + dst as usize);
        if s != d {
            (*d).set((*s).clone());
        }
    }
}

/// `ARRAY_SET_R` of a plain value (tag below [`Tag::FIRST_HEAP`], as the two words `tag`,
/// `payload` of the [`Value`] layout) at int index `idx` of the array in slot `base + arr`,
/// copying the array first if it is shared (copy-on-write, as [`crate::ops::array_set`]).
/// Returns 0, or 1 without changing anything when the slot holds no array, `idx` is out of
/// range or the tag is not plain (native code then side-exits so the interpreter raises the
/// error).
///
/// # Safety
/// Called by native code only (see above).
pub unsafe extern "C" fn mdvm_array_set_plain(ctx: *mut NativeContext, base: u64, arr: u32, idx: i64, tag: u64, payload: u64) -> u32 {
    if tag >= Tag::FIRST_HEAP as u64 {
        return 1;
    }
    // SAFETY: helper contract; the slot is in a live window.
    let slot = unsafe { &mut *(*ctx).stack.add(base as usize + arr as usize) };
    let Value::Array(a) = slot else { return 1 };
    if idx < 0 || idx as u64 >= a.len() as u64 {
        return 1;
    }
    let a = std::rc::Rc::make_mut(a);
    // An int or float that keeps the array packed is stored without making a value.
    let Some(plain) = Tag::from_u8(tag as u8) else { return 1 };
    if a.set_packed(idx as usize, plain, payload) {
        return 0;
    }
    // SAFETY: `tag` is a plain tag (checked), so the words form a value owning nothing; a
    // bool's payload is masked to its low bit by `from_raw_parts`.
    let v = unsafe { Value::from_raw_parts(tag, payload) };
    a.set(idx as usize, v);
    0
}

/// Writes constant `k` of the program into slot `base + reg` (releasing what it held).
///
/// # Safety
/// Called by native code only (see above); `k` is a valid constant index.
pub unsafe extern "C" fn mdvm_load_const(ctx: *mut NativeContext, base: u64, reg: u32, k: u32) {
    // SAFETY: helper contract.
    let m = unsafe { machine(ctx) };
    m.load_const(base as usize + reg as usize, k as usize);
}

/// Makes the value stack hold at least `need` slots (it may move: reload `ctx.stack`).
///
/// # Safety
/// Called by native code only (see above).
pub unsafe extern "C" fn mdvm_reserve(ctx: *mut NativeContext, need: u64) {
    // SAFETY: helper contract.
    let m = unsafe { machine(ctx) };
    m.reserve(need as usize);
}

/// Performs the `CALL_R` at bytecode index `pc` of `body` (window at `base`) with the
/// interpreter's semantics: the callee comes from its register, the arguments and the
/// destination are in their slots (the destination is written there). Returns 0, or 1 when
/// the run must unwind (native code then returns [`RET_UNWIND`]).
///
/// # Safety
/// Called by native code only (see above).
pub unsafe extern "C" fn mdvm_call_dynamic(ctx: *mut NativeContext, body: u32, pc: u32, base: u64) -> u32 {
    // SAFETY: helper contract.
    let m = unsafe { machine(ctx) };
    (!m.call_dynamic(body, pc, base as usize)) as u32
}

/// Calls native `entry` for the window at `base` on a fresh native stack segment (native code
/// calls this instead of the callee when its stack pointer is below `ctx.stack_limit`).
///
/// # Safety
/// Called by native code only (see above); `entry` is a native entry of this program.
pub unsafe extern "C" fn mdvm_call_on_new_stack(ctx: *mut NativeContext, entry: *const u8, base: u64) -> NativeRet {
    stacker::grow(STACK_SEGMENT, || {
        // SAFETY: `ctx` is the live context (helper contract); the limit is restored before
        // returning to the old segment.
        unsafe {
            let old = (*ctx).stack_limit;
            (*ctx).stack_limit = current_stack_limit();
            // SAFETY: `entry` came from the entry table, which holds only `NativeEntry` values.
            let f = std::mem::transmute::<*const u8, NativeEntry>(entry);
            let r = f(ctx, base);
            (*ctx).stack_limit = old;
            r
        }
    })
}

/// Ends the run as `HALT` does: native code then returns [`RET_UNWIND`].
///
/// # Safety
/// Called by native code only (see above).
pub unsafe extern "C" fn mdvm_halt(ctx: *mut NativeContext) {
    // SAFETY: helper contract.
    let m = unsafe { machine(ctx) };
    m.note_halt();
}

/// Truthiness of the value in slot `base + reg` (0 or 1).
///
/// # Safety
/// Called by native code only (see above).
pub unsafe extern "C" fn mdvm_truthy(ctx: *mut NativeContext, base: u64, reg: u32) -> u32 {
    // SAFETY: helper contract.
    let slot = unsafe { &*(*ctx).stack.add(base as usize + reg as usize) };
    slot.truthy() as u32
}

/// Output sink while a run is in progress (see `Machine::run`).
pub(crate) type OutPtr = *mut (dyn Write + 'static);
