//! Interrupts: stopping a run from another thread, time limits, and periodic polls of the host.
//!
//! A machine owns one [`InterruptHandle`]: a word of flags shared, through an `Arc`, with any
//! thread that holds a clone of the handle. Both tiers test the word at **safepoints**, the
//! places where a run can go on for long: every backward jump (a loop's back-edge) and every
//! call into a function. The test is one load and a branch; only a nonzero word leads to
//! [`safepoint`], out of line:
//!
//! * [`STOP`] ([`InterruptHandle::interrupt`]) ends the run with an [`ErrorKind::Interrupted`]
//!   error at the safepoint's function and bytecode position;
//! * [`TIMEOUT`], set by the [`Watchdog`] when [`crate::Limits::timeout`] has passed, does the
//!   same with a message naming the limit;
//! * [`POLL`], set by the watchdog every [`crate::Machine::set_poll`] interval, flushes the
//!   program's output and calls the host's poll hook (the Python module checks for Ctrl-C
//!   there); an error from the hook ends the run as an interrupt with the hook's message.
//!
//! Compiled code reads the word at the address [`InterruptHandle::flag_address`] gives (it
//! lives as long as the machine, which owns the compiled code), so the check costs no load of
//! the context. `STOP` and `TIMEOUT` stay set until the run ends; a machine clears the word
//! when a run ends. An interrupt requested while no run is in progress stops the next run
//! before its first instruction.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{ErrorKind, OpError};

/// Flag: stop the run ([`InterruptHandle::interrupt`]).
pub const STOP: u32 = 1;
/// Flag: the run's time limit has passed.
pub const TIMEOUT: u32 = 2;
/// Flag: flush the output and call the poll hook, then go on.
pub const POLL: u32 = 4;
/// Flag: the heap passed the run's memory limit ([`crate::memory`]).
pub const MEMORY: u32 = 8;

/// A thread-safe handle that stops a machine's runs (`Send + Sync`, cheap to clone).
///
/// ```
/// # use mdvm_runtime::interrupt::InterruptHandle;
/// let h = InterruptHandle::new();
/// let h2 = h.clone();
/// std::thread::spawn(move || h2.interrupt()).join().unwrap();
/// assert!(h.is_interrupted());
/// ```
#[derive(Clone, Debug, Default)]
pub struct InterruptHandle {
    flags: Arc<AtomicU32>,
}

impl InterruptHandle {
    /// A handle with no request pending.
    pub fn new() -> InterruptHandle {
        InterruptHandle::default()
    }

    /// Asks the run in progress to stop at its next safepoint (within a loop iteration or a
    /// call in either tier), with an `interrupted` error; if no run is in progress, the next
    /// run stops before its first instruction.
    pub fn interrupt(&self) {
        self.flags.fetch_or(STOP, Ordering::Relaxed);
    }

    /// True while a stop ([`InterruptHandle::interrupt`]) is pending.
    pub fn is_interrupted(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & STOP != 0
    }

    /// Asks the run in progress to flush its output and call its poll hook at the next
    /// safepoint, then go on.
    pub fn request_poll(&self) {
        self.flags.fetch_or(POLL, Ordering::Relaxed);
    }

    /// Marks the run's time limit as passed.
    pub(crate) fn time_out(&self) {
        self.flags.fetch_or(TIMEOUT, Ordering::Relaxed);
    }

    /// The flag word, for the interpreter's safepoint tests.
    pub(crate) fn word(&self) -> &AtomicU32 {
        &self.flags
    }

    /// The address of the flag word (a `u32`, nonzero when a safepoint has work), which
    /// compiled code loads at its safepoints. Valid as long as this handle or a clone lives;
    /// the machine keeps one for as long as its compiled code exists.
    pub fn flag_address(&self) -> usize {
        Arc::as_ptr(&self.flags) as usize
    }

    /// Clears every request (the end of a run).
    pub(crate) fn clear(&self) {
        self.flags.store(0, Ordering::Relaxed);
    }
}

/// The host's poll hook: called at a safepoint after the watchdog's poll interval, with the
/// program's output already flushed. An `Err` (or a panic) ends the run as
/// [`ErrorKind::Interrupted`] with that message.
pub type PollHook = Box<dyn FnMut() -> Result<(), String>>;

/// What a safepoint found: serves the requests in `flags` (see the module documentation).
/// `limits` are the run's (for the messages), `out` the program's output, `poll` the host's
/// hook.
///
/// Errors: [`ErrorKind::OutOfMemory`] past the memory limit; [`ErrorKind::Interrupted`] for a
/// stop, a passed time limit or a failed poll hook; [`ErrorKind::Output`] if flushing the
/// output fails.
#[cold]
#[inline(never)]
pub(crate) fn safepoint(
    handle: &InterruptHandle,
    limits: &crate::Limits,
    out: &mut dyn Write,
    poll: &mut Option<PollHook>,
) -> Result<(), OpError> {
    let timeout = limits.timeout;
    let flags = handle.word().load(Ordering::Relaxed);
    if flags & MEMORY != 0 {
        return Err(crate::memory::exceeded(limits.max_memory.unwrap_or(0)));
    }
    if flags & STOP != 0 {
        return Err(OpError::new(ErrorKind::Interrupted, "stop requested".to_string()));
    }
    if flags & TIMEOUT != 0 {
        let limit = timeout.map_or_else(|| "the time limit".to_string(), |t| format!("the time limit of {} s", seconds(t)));
        return Err(OpError::new(ErrorKind::Interrupted, format!("{limit} was reached")));
    }
    if flags & POLL != 0 {
        handle.word().fetch_and(!POLL, Ordering::Relaxed);
        out.flush().map_err(|e| OpError::new(ErrorKind::Output, format!("cannot write output: {e}")))?;
        if let Some(hook) = poll.as_mut() {
            // A panicking hook ends the run like a failing one: it never unwinds through
            // compiled code (a side exit serves this request).
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook)).unwrap_or_else(|p| {
                let what = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(format!("the poll hook panicked: {what}"))
            });
            r.map_err(|m| OpError::new(ErrorKind::Interrupted, m))?;
        }
    }
    Ok(())
}

/// A duration in seconds as a user wrote it: `2`, `0.5`, `1.25`.
fn seconds(d: Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64());
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A thread that, for the length of one run, sets [`TIMEOUT`] when the time limit passes and
/// [`POLL`] every poll interval. Dropping it stops and joins the thread.
pub(crate) struct Watchdog {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts a watchdog for a run starting now, or `None` when there is neither a time limit
    /// nor a poll interval (or no thread can be started: the run then goes unwatched, as the
    /// CLI's documentation says of a machine without threads).
    pub(crate) fn start(handle: &InterruptHandle, timeout: Option<Duration>, poll: Option<Duration>) -> Option<Watchdog> {
        if timeout.is_none() && poll.is_none() {
            return None;
        }
        let done = Arc::new(AtomicBool::new(false));
        let (h, d) = (handle.clone(), done.clone());
        let start = Instant::now();
        let thread = std::thread::Builder::new()
            .name("mdvm-watchdog".to_string())
            .spawn(move || {
                let mut deadline = timeout.map(|t| start + t);
                let mut next_poll = poll.map(|p| start + p);
                while !d.load(Ordering::Acquire) {
                    let now = Instant::now();
                    if deadline.is_some_and(|t| now >= t) {
                        h.time_out();
                        deadline = None;
                    }
                    if let (Some(p), Some(every)) = (next_poll, poll) {
                        if now >= p {
                            h.request_poll();
                            next_poll = Some(now + every);
                        }
                    }
                    let wake = match (deadline, next_poll) {
                        (Some(a), Some(b)) => a.min(b),
                        (Some(a), None) | (None, Some(a)) => a,
                        (None, None) => break,
                    };
                    std::thread::park_timeout(wake.saturating_duration_since(Instant::now()));
                }
            })
            .ok()?;
        Some(Watchdog { done, thread: Some(thread) })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_timeout_are_errors_poll_calls_the_hook() {
        let h = InterruptHandle::new();
        let mut out: Vec<u8> = Vec::new();
        let calls = std::rc::Rc::new(std::cell::Cell::new(0));
        let c = calls.clone();
        let mut hook: Option<PollHook> = Some(Box::new(move || {
            c.set(c.get() + 1);
            if c.get() == 2 {
                Err("KeyboardInterrupt".to_string())
            } else {
                Ok(())
            }
        }));
        h.request_poll();
        assert!(safepoint(&h, &crate::Limits::default(), &mut out, &mut hook).is_ok());
        assert_eq!(calls.get(), 1);
        assert_eq!(h.word().load(Ordering::Relaxed), 0, "a poll is served once");
        h.request_poll();
        let e = safepoint(&h, &crate::Limits::default(), &mut out, &mut hook).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Interrupted, "KeyboardInterrupt"));
        h.time_out();
        let e = safepoint(&h, &crate::Limits { timeout: Some(Duration::from_millis(1500)), ..Default::default() }, &mut out, &mut hook).unwrap_err();
        assert_eq!(e.message, "the time limit of 1.5 s was reached");
        h.interrupt();
        assert_eq!(safepoint(&h, &crate::Limits::default(), &mut out, &mut hook).unwrap_err().message, "stop requested");
        h.clear();
        assert!(!h.is_interrupted());
    }

    #[test]
    fn watchdog_sets_timeout_and_polls() {
        let h = InterruptHandle::new();
        let w = Watchdog::start(&h, Some(Duration::from_millis(20)), Some(Duration::from_millis(5)));
        let t0 = Instant::now();
        while h.word().load(Ordering::Relaxed) & TIMEOUT == 0 {
            assert!(t0.elapsed() < Duration::from_secs(30), "the watchdog never set TIMEOUT");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(h.word().load(Ordering::Relaxed) & POLL != 0);
        drop(w);
        assert!(Watchdog::start(&h, None, None).is_none());
    }
}
