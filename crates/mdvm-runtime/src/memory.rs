//! The memory limit: counting the heap, refusing growth past the limit with a clean error.
//!
//! [`CountingAllocator`] wraps the system allocator and keeps the bytes in use in one atomic
//! counter. A program that installs it as its `#[global_allocator]` (the `mdvm` command, the
//! Python module and the test suites do) gets an exact limit; without it only the explicit
//! checks below apply, on their estimates.
//!
//! While a machine runs, the running thread has an **active limit** ([`ActiveLimit`]: the
//! machine's limit and its interrupt word). Two mechanisms enforce it:
//!
//! * **before large growth** ([`reserve`]): operations that may allocate much at once (a
//!   copy-on-write copy of an array or dict, a new array, a string being built) check that the
//!   bytes in use plus what they are about to allocate stay within the limit, and fail with an
//!   [`ErrorKind::OutOfMemory`] error otherwise, before allocating anything;
//! * **after many small allocations**: when an allocation takes the count past the limit, the
//!   allocator sets [`crate::interrupt::MEMORY`] in the running machine's interrupt word, and the
//!   next safepoint (a loop back-edge or a call, in either tier) ends the run with the same
//!   error.
//!
//! Either way the run ends with a runtime error naming the function and position, the output
//! printed before it kept, and the memory it held freed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::error::{ErrorKind, OpError};
use crate::interrupt::MEMORY;

/// Bytes allocated through [`CountingAllocator`] and not yet freed.
static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// True once [`CountingAllocator`] has served an allocation (the count is meaningful).
static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    /// The limit of the machine running on this thread, and its interrupt word.
    static ACTIVE: Cell<Option<(usize, *const AtomicU32)>> = const { Cell::new(None) };
}

/// The system allocator, counting the bytes in use (see the module documentation).
///
/// ```ignore
/// #[global_allocator]
/// static ALLOC: mdvm_runtime::memory::CountingAllocator = mdvm_runtime::memory::CountingAllocator;
/// ```
pub struct CountingAllocator;

impl CountingAllocator {
    #[inline]
    fn added(size: usize) {
        let now = IN_USE.fetch_add(size, Ordering::Relaxed) + size;
        // The active limit of this thread's running machine, if any. `try_with`: the slot may
        // be gone while the thread exits; the cell holds plain data, so reading it allocates
        // nothing and cannot re-enter the allocator.
        let _ = ACTIVE.try_with(|a| {
            if let Some((limit, word)) = a.get() {
                if now > limit {
                    // SAFETY: the word belongs to the machine whose run registered it; the run
                    // unregisters it (`ActiveLimit::drop`) before the machine can be dropped.
                    unsafe { (*word).fetch_or(MEMORY, Ordering::Relaxed) };
                }
            }
        });
    }
}

// SAFETY: every method forwards to `System` with the same arguments, so the allocator's
// contract is `System`'s; the counting only reads and writes atomics and a thread-local `Cell`
// of plain data, neither of which allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            COUNTING.store(true, Ordering::Relaxed);
            Self::added(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            COUNTING.store(true, Ordering::Relaxed);
            Self::added(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                Self::added(new_size - layout.size());
            } else {
                IN_USE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Bytes of heap in use, as [`CountingAllocator`] counts them (0 when it is not installed).
pub fn in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

/// True when [`CountingAllocator`] is the process's allocator (it has counted something).
pub fn is_counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

/// The limit of the run in progress on this thread (`None` outside runs).
pub fn active_limit() -> Option<usize> {
    ACTIVE.try_with(|a| a.get().map(|(l, _)| l)).ok().flatten()
}

/// Makes `limit` the active limit of this thread for as long as it lives (a machine's run),
/// with the machine's interrupt word; restores the previous one when dropped (runs nest when
/// a host function runs another machine).
pub(crate) struct ActiveLimit {
    previous: Option<(usize, *const AtomicU32)>,
}

impl ActiveLimit {
    pub(crate) fn enter(limit: usize, word: &AtomicU32) -> ActiveLimit {
        let previous = ACTIVE.with(|a| a.replace(Some((limit, word as *const AtomicU32))));
        if in_use() > limit {
            word.fetch_or(MEMORY, Ordering::Relaxed);
        }
        ActiveLimit { previous }
    }
}

impl Drop for ActiveLimit {
    fn drop(&mut self) {
        let _ = ACTIVE.try_with(|a| a.set(self.previous));
    }
}

/// The error for a run past its limit.
pub fn exceeded(limit: usize) -> OpError {
    OpError::new(
        ErrorKind::OutOfMemory,
        format!("the memory limit of {} was exceeded ({} in use)", human(limit), human(in_use())),
    )
}

/// Checks, before allocating, that `bytes` more stay within the active limit (nothing to check
/// outside a run, or without one), and charges writing them to the fuel of the instruction in
/// progress ([`crate::work`]).
///
/// Errors: [`ErrorKind::FuelExhausted`] when the fuel left cannot cover the work;
/// [`ErrorKind::OutOfMemory`] naming the limit, when the bytes would pass it.
#[inline]
pub fn reserve(bytes: usize) -> Result<(), OpError> {
    crate::work::charge(bytes)?;
    match active_limit() {
        Some(limit) if in_use().saturating_add(bytes) > limit => Err(OpError::new(
            ErrorKind::OutOfMemory,
            format!(
                "the memory limit of {} would be exceeded: {} more needed, {} in use",
                human(limit),
                human(bytes),
                human(in_use())
            ),
        )),
        _ => Ok(()),
    }
}

/// Heap bytes that decoding and verifying a module take per instruction, at most: the
/// decoded instruction (24), its byte offset (4) and, while decoding, the serializer-count
/// repair's two tables (8). A straight-line module of 2.5 million instructions (9.7 MiB) takes
/// 102 MB to `mdvm check`; `tests/tests/memory.rs` checks the bound.
pub const DECODE_BYTES_PER_INSTRUCTION: usize = 40;

/// Heap bytes that preparing a decoded module for a run takes per instruction, at most: the
/// interpreter's op (8) and its bytecode index (4), and the per-instruction tables of the
/// control-flow graph the loader builds for each body in turn (5).
pub const PREPARE_BYTES_PER_INSTRUCTION: usize = 20;

/// Heap bytes that preparing takes per basic block of the largest body, at most: the block
/// (72) and its live-in register set (32). A module of a million instructions with a block
/// for every one and a half takes 126 MB to run (29 times its file).
pub const PREPARE_BYTES_PER_BLOCK: usize = 112;

/// Checks, before decoding a module of `file_bytes` bytes whose header declares
/// `instructions` instructions, that decoding it (at most [`DECODE_BYTES_PER_INSTRUCTION`]
/// per instruction, and three times the file for its constants and names) stays within
/// `limit`.
///
/// Errors: the message of the refusal, naming the limit and the estimate.
pub fn check_load(file_bytes: usize, instructions: usize, limit: usize) -> Result<(), String> {
    let need = instructions.saturating_mul(DECODE_BYTES_PER_INSTRUCTION).saturating_add(file_bytes.saturating_mul(3));
    check_need(&format!("loading this module of {} ({} instructions)", human(file_bytes), instructions), need, limit)
}

/// Checks, after decoding a module of `instructions` instructions whose largest body has at
/// most `blocks` basic blocks ([`mdbc::cfg::max_blocks`]), that preparing it for a run
/// ([`PREPARE_BYTES_PER_INSTRUCTION`], [`PREPARE_BYTES_PER_BLOCK`]) stays within `limit`.
///
/// Errors: the message of the refusal, naming the limit and the estimate.
pub fn check_prepare(instructions: usize, blocks: usize, limit: usize) -> Result<(), String> {
    let need = instructions
        .saturating_mul(PREPARE_BYTES_PER_INSTRUCTION)
        .saturating_add(blocks.saturating_mul(PREPARE_BYTES_PER_BLOCK));
    check_need(&format!("preparing this module of {instructions} instructions and up to {blocks} blocks per body"), need, limit)
}

fn check_need(what: &str, need: usize, limit: usize) -> Result<(), String> {
    if in_use().saturating_add(need) > limit {
        return Err(format!(
            "the memory limit of {} would be exceeded: {what} needs about {}, {} in use",
            human(limit),
            human(need),
            human(in_use())
        ));
    }
    Ok(())
}

/// Checks, after a step of loading (`what`: decoding, building the program), that the heap in
/// use is within `limit`.
///
/// Errors: the message of the refusal.
pub fn check_loaded(what: &str, limit: usize) -> Result<(), String> {
    if in_use() > limit {
        return Err(format!("the memory limit of {} was exceeded {what} ({} in use)", human(limit), human(in_use())));
    }
    Ok(())
}

/// Bytes that may still be allocated under the active limit (`usize::MAX` without one).
pub fn headroom() -> usize {
    match active_limit() {
        Some(limit) => limit.saturating_sub(in_use()),
        None => usize::MAX,
    }
}

/// `n` bytes for a message: `512 MiB`, `1.5 GiB`, `100 bytes`.
pub fn human(n: usize) -> String {
    const UNITS: [(&str, f64); 3] = [("GiB", 1073741824.0), ("MiB", 1048576.0), ("KiB", 1024.0)];
    for (unit, size) in UNITS {
        if n as f64 >= size {
            let v = n as f64 / size;
            return if v.fract() == 0.0 { format!("{v:.0} {unit}") } else { format!("{v:.1} {unit}") };
        }
    }
    format!("{n} bytes")
}

/// The default limit: what the process may really use, with room to spare. The smallest of
/// three quarters of the machine's memory (`/proc/meminfo`), three quarters of the cgroup's
/// limit (`memory.max`, cgroup v2 or v1), and half the address-space limit (`ulimit -v`,
/// which also has to hold code, stacks and allocator overhead). `None` where none is known
/// (not Linux).
pub fn default_limit() -> Option<usize> {
    let mut best: Option<u64> = None;
    let mut take = |v: Option<u64>| {
        if let Some(v) = v {
            best = Some(best.map_or(v, |b| b.min(v)));
        }
    };
    take(mem_total().map(|m| m / 4 * 3));
    take(cgroup_limit().map(|m| m / 4 * 3));
    take(address_space_limit().map(|m| m / 2));
    best.map(|b| usize::try_from(b).unwrap_or(usize::MAX))
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The cgroup's memory limit in bytes (v2 `memory.max`, else v1 `memory.limit_in_bytes`).
fn cgroup_limit() -> Option<u64> {
    let parse = |p: &str| std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<u64>().ok());
    // v1 reports "no limit" as a huge number: anything past 2^60 is none.
    parse("/sys/fs/cgroup/memory.max")
        .or_else(|| parse("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .filter(|&v| v < 1 << 60)
}

/// The soft address-space limit (`ulimit -v`) from `/proc/self/limits`, in bytes.
fn address_space_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max address space"))?;
    let soft = line["Max address space".len()..].split_whitespace().next()?;
    soft.parse().ok()
}

/// Parses a byte count as users write it: `1000000`, `512K`, `64M`, `2G`, `1.5G` (powers of
/// 1024; `KiB`, `MB`, ... accepted too).
///
/// Errors: a message saying what was wrong.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.replace('_', "").parse().map_err(|_| format!("not a byte count: {s:?}"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1048576.0,
        "g" | "gb" | "gib" => 1073741824.0,
        "t" | "tb" | "tib" => 1099511627776.0,
        u => return Err(format!("unknown unit {u:?} in {s:?} (use K, M, G or T)")),
    };
    let bytes = num * scale;
    if !bytes.is_finite() || bytes < 1.0 || bytes > usize::MAX as f64 {
        return Err(format!("not a usable byte count: {s:?}"));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_parse_with_units() {
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("512K"), Ok(512 * 1024));
        assert_eq!(parse_bytes("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1.5G"), Ok(3 << 29));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5X").is_err());
        assert_eq!(human(3 << 29), "1.5 GiB");
        assert_eq!(human(100), "100 bytes");
    }

    #[test]
    fn the_default_limit_is_below_the_machine() {
        if let (Some(d), Some(total)) = (default_limit(), mem_total()) {
            assert!(d as u64 <= total, "{d} > {total}");
            assert!(d > 0);
        }
    }
}
