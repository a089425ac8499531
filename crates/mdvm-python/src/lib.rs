//! # machine_dialect_vm
//!
//! mdvm as the Python module `machine_dialect_vm` (distribution `machine-dialect-vm`), a
//! drop-in for the reference VM that the Machine Dialect frontend (`machine-dialect` 0.1.0a2)
//! imports: `RustVM()`, `load_bytecode(path)`, `execute()`, `set_debug(flag)`,
//! `instruction_count()`, `reset()` and `__version__`, plus `load_bytes(data)`, a tier choice,
//! fuel and depth budgets, `stats()`, and `register_function(name, callable)` for host
//! functions programs call by name.
//!
//! Every mdvm error (unreadable file, malformed module, runtime fault, exhausted budget) is
//! raised as `RuntimeError` carrying mdvm's message; bad arguments raise `ValueError` or
//! `TypeError`.
//!
//! **Output and the GIL.** `execute()` releases the GIL while the program runs. `Say` output is
//! collected in a Rust buffer and written to Python's `sys.stdout` (re-acquiring the GIL) in
//! whole lines: when 8 KiB have gathered, when 50 ms have passed since the last write, and
//! before `execute()` returns or raises, followed by `sys.stdout.flush()`. So redirections,
//! `capsys` and notebooks see the output, in order with what Python printed before and after,
//! and a long-running program's output still appears as it goes.
//!
//! **Ctrl-C and time limits.** While `execute()` runs, mdvm asks Python about every 50 ms
//! whether a signal arrived (`PyErr_CheckSignals`, on the thread that called `execute()`): a
//! Ctrl-C then stops the program at its next safepoint and `execute()` raises
//! `KeyboardInterrupt`, with everything the program printed delivered first. `timeout`
//! (seconds) stops a run that takes longer with a `RuntimeError` (`interrupted: the time limit
//! of ... s was reached`).
//!
//! **Threads.** A `RustVM` may be used from any thread, one call at a time: a call while
//! another thread is inside `execute()` on the same VM raises `RuntimeError` (already
//! borrowed). The program runs on the calling thread.
//!
//! **Defaults from the environment.** Arguments not given to `RustVM(...)` come from
//! `MDVM_TIER` (`auto`, `interp`, `jit`), `MDVM_FUEL` (instructions), `MDVM_MAX_DEPTH`
//! (frames), `MDVM_TIMEOUT` (seconds), `MDVM_MAX_MEMORY` (bytes, `K`/`M`/`G` suffixes) and
//! `MDVM_LOG` (trace categories, as `trace=`: `tiers`, `calls`, `instructions`, `all`),
//! so that the frontend's `python -m machine_dialect
//! run` and `agent`, which call `RustVM()` with no arguments, can be given budgets.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mdvm::{Error as VmError, Tier, TraceCategories, Value, Vm, VmBuilder, DEFAULT_MAX_DEPTH};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// mdvm's heap is counted, so `max_memory` is exact (Python's own objects are not counted).
#[global_allocator]
static ALLOC: mdvm::CountingAllocator = mdvm::CountingAllocator;

/// The module version: the distribution's version (`0.1.0a2+mdvm.N`).
const VERSION: &str = "0.1.0a2+mdvm.1";

/// Bytes gathered before they are written to `sys.stdout`.
const FLUSH_BYTES: usize = 8 * 1024;
/// Time after which gathered lines are written to `sys.stdout` anyway.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// A program's output on its way to Python's `sys.stdout`: buffered in Rust and written in
/// whole lines, re-acquiring the GIL for each write (see the module documentation).
struct PyStdout {
    buf: Vec<u8>,
    /// Text was written to `sys.stdout` since its last `flush()`.
    unflushed: bool,
    last_write: Instant,
    /// The Python exception a write to `sys.stdout` raised, kept to chain to the error.
    failure: Option<PyErr>,
}

impl PyStdout {
    fn new() -> PyStdout {
        PyStdout { buf: Vec::with_capacity(FLUSH_BYTES), unflushed: false, last_write: Instant::now(), failure: None }
    }

    /// Writes `self.buf[..n]` to `sys.stdout` and removes it from the buffer; with `flush`,
    /// also calls `sys.stdout.flush()`.
    fn emit(&mut self, n: usize, flush: bool) -> io::Result<()> {
        let text = String::from_utf8_lossy(&self.buf[..n]).into_owned();
        self.buf.drain(..n);
        self.last_write = Instant::now();
        self.unflushed = !flush;
        let r = Python::attach(|py| -> PyResult<()> {
            let stdout = py.import("sys")?.getattr("stdout")?;
            // Like print(): no stdout (pythonw, a closed console) discards the output.
            if stdout.is_none() {
                return Ok(());
            }
            if !text.is_empty() {
                stdout.call_method1("write", (text,))?;
            }
            if flush {
                stdout.call_method0("flush")?;
            }
            Ok(())
        });
        r.map_err(|e| {
            let msg = format!("sys.stdout: {e}");
            self.failure = Some(e);
            io::Error::other(msg)
        })
    }
}

impl Write for PyStdout {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if data.contains(&b'\n')
            && (self.buf.len() >= FLUSH_BYTES || self.last_write.elapsed() >= FLUSH_INTERVAL)
        {
            // Whole lines only, so a line is never split between two writes.
            if let Some(last_nl) = self.buf.iter().rposition(|&b| b == b'\n') {
                self.emit(last_nl + 1, false)?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Polls flush every 50 ms: take the GIL only when there is something to deliver.
        if self.buf.is_empty() && !self.unflushed {
            return Ok(());
        }
        self.emit(self.buf.len(), true)
    }
}

/// Trace lines on their way to Python's `sys.stderr` (the `trace=` and `set_debug` traces):
/// gathered while the program runs and written, taking the GIL, once `FLUSH_BYTES` have
/// gathered and when `execute()` ends. Each write of the trace's subscriber is whole lines.
#[derive(Clone, Default)]
struct TraceSink(Arc<Mutex<Vec<u8>>>);

impl TraceSink {
    /// Writes what has gathered to `sys.stderr` (errors writing it are ignored, as Python
    /// ignores them in warnings).
    fn emit(&self) {
        let text = {
            let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if buf.is_empty() {
                return;
            }
            String::from_utf8_lossy(&std::mem::take(&mut *buf)).into_owned()
        };
        Python::attach(|py| {
            if let Ok(stderr) = py.import("sys").and_then(|s| s.getattr("stderr")) {
                if !stderr.is_none() {
                    let _ = stderr.call_method1("write", (text,));
                }
            }
        });
    }
}

impl Write for TraceSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let full = {
            let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
            buf.extend_from_slice(data);
            buf.len() >= FLUSH_BYTES
        };
        if full {
            self.emit();
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for TraceSink {
    type Writer = TraceSink;
    fn make_writer(&'a self) -> TraceSink {
        self.clone()
    }
}

/// Wraps a value so that it may cross into [`Python::detach`], whose closure must be `Send`.
struct AssertSend<T>(T);

impl<T> AssertSend<T> {
    fn into_inner(self) -> T {
        self.0
    }
}

// SAFETY: `Python::detach` runs its closure synchronously on the calling thread, so the wrapped
// `&mut Vm` (not `Send`: it holds `Rc`s) and the result `Value` it returns never leave the
// thread that runs the call. No other thread can reach the same `Vm` meanwhile: the `&mut`
// comes from an exclusive `PyRefMut` borrow held for the whole call (see `RustVM`'s `Send`).
// The output writer and the poll hook re-acquire the GIL themselves before touching Python.
unsafe impl<T> Send for AssertSend<T> {}

/// The tier named by `s`.
fn parse_tier(s: &str) -> PyResult<Tier> {
    match s {
        "auto" => Ok(Tier::Auto),
        "interp" => Ok(Tier::Interp),
        "jit" => Ok(Tier::Jit),
        _ => Err(PyValueError::new_err(format!("tier must be \"auto\", \"interp\" or \"jit\", not {s:?}"))),
    }
}

/// An environment variable's value, if it is set and not empty.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A number of seconds given as `timeout` or `MDVM_TIMEOUT`: positive and finite.
fn seconds(what: &str, v: f64) -> PyResult<Duration> {
    if v.is_nan() || v <= 0.0 || v.is_infinite() {
        return Err(PyValueError::new_err(format!("{what} must be a positive number of seconds, not {v}")));
    }
    Duration::try_from_secs_f64(v).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// An environment variable holding a non-negative integer.
fn env_u64(name: &str) -> PyResult<Option<u64>> {
    match env(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .map(Some)
            .map_err(|_| PyValueError::new_err(format!("{name} must be a non-negative integer, not {v:?}"))),
    }
}

/// Values (elements, entries) one conversion between Python and program values may make: a
/// value sharing parts exponentially (`a = [a, a]` sixty times) would otherwise convert for
/// ever. Past it the conversion fails with `MemoryError`.
const MAX_CONVERTED: usize = 1 << 27;

#[cold]
fn too_large() -> PyErr {
    pyo3::exceptions::PyMemoryError::new_err(format!("value too large to convert: more than {MAX_CONVERTED} elements"))
}

/// A scalar program value as a Python object; `None` for an array or dict.
fn scalar_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Option<Bound<'py, PyAny>>> {
    Ok(Some(match v {
        Value::Empty => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => f.into_pyobject(py)?.into_any(),
        Value::Str(s) | Value::Url(s) => PyString::new(py, s.as_str()).into_any(),
        Value::Function(f) => PyString::new(py, &f.name).into_any(),
        Value::Array(_) | Value::Dict(_) => return Ok(None),
    }))
}

/// Converts a program's value to the Python object the reference VM would give: empty is
/// `None`, arrays are lists, dicts are dicts, functions their names.
///
/// Nesting of any depth is converted without recursion: a container's Python object is made
/// empty, put in its parent, and filled from an explicit stack.
///
/// Errors: `MemoryError` past [`MAX_CONVERTED`] values.
fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    /// A container being filled: its Python object, the program value, the next index.
    enum Frame<'py> {
        List(Bound<'py, PyList>, Value, usize),
        Dict(Bound<'py, PyDict>, Value, usize),
    }
    let open = |v: &Value| -> Frame<'py> {
        match v {
            Value::Dict(_) => Frame::Dict(PyDict::new(py), v.clone(), 0),
            _ => Frame::List(PyList::empty(py), v.clone(), 0),
        }
    };
    if let Some(o) = scalar_to_py(py, v)? {
        return Ok(o);
    }
    let root = open(v);
    let result = match &root {
        Frame::List(l, ..) => l.clone().into_any(),
        Frame::Dict(d, ..) => d.clone().into_any(),
    };
    let mut stack = vec![root];
    let mut made = 0usize;
    while let Some(top) = stack.last_mut() {
        // The next element of the innermost container, with its key for a dict.
        let (key, item) = match top {
            Frame::List(_, Value::Array(a), i) => match a.get(*i) {
                Some(x) => {
                    *i += 1;
                    (None, x)
                }
                None => {
                    stack.pop();
                    continue;
                }
            },
            Frame::Dict(_, Value::Dict(d), i) => match d.next_entry(*i) {
                Some((at, k, x)) => {
                    *i = at + 1;
                    (Some(k.clone()), x.clone())
                }
                None => {
                    stack.pop();
                    continue;
                }
            },
            _ => unreachable!("frames hold the container they fill"),
        };
        made += 1;
        if made > MAX_CONVERTED {
            return Err(too_large());
        }
        let (obj, child) = match scalar_to_py(py, &item)? {
            Some(o) => (o, None),
            None => {
                let f = open(&item);
                let o = match &f {
                    Frame::List(l, ..) => l.clone().into_any(),
                    Frame::Dict(d, ..) => d.clone().into_any(),
                };
                (o, Some(f))
            }
        };
        match (stack.last().expect("a frame"), key) {
            (Frame::List(l, ..), _) => l.append(obj)?,
            (Frame::Dict(d, ..), Some(k)) => d.set_item(k.as_str(), obj)?,
            (Frame::Dict(..), None) => unreachable!("dict entries have keys"),
        }
        if let Some(f) = child {
            stack.push(f);
        }
    }
    Ok(result)
}

/// Converts a Python object to a program value: `None` is empty, then `bool`, `int` (within
/// 64 bits), `float`, `str`, `list`/`tuple` (arrays) and `dict` with `str` keys, as
/// `execute()` converts results the other way.
///
/// Nesting of any depth is converted without recursion (an explicit stack of the containers
/// being converted); a container that contains itself is refused.
///
/// Errors: `TypeError` for any other type, a non-string key or a container that contains
/// itself, `ValueError` (through `OverflowError`) for an int outside 64 bits, `MemoryError`
/// past [`MAX_CONVERTED`] values.
fn from_py(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    /// A container being converted: its items (with keys for a dict), the next one, and the
    /// values converted so far.
    struct Frame<'py> {
        id: usize,
        items: Vec<(Option<String>, Bound<'py, PyAny>)>,
        next: usize,
        done: Vec<(Option<String>, Value)>,
        dict: bool,
    }
    fn open<'py>(v: &Bound<'py, PyAny>) -> PyResult<Option<Frame<'py>>> {
        let id = v.as_ptr() as usize;
        let frame = |items, dict| Some(Frame { id, items, next: 0, done: Vec::new(), dict });
        Ok(if let Ok(l) = v.cast::<PyList>() {
            frame(l.iter().map(|x| (None, x)).collect(), false)
        } else if let Ok(t) = v.cast::<PyTuple>() {
            frame(t.iter().map(|x| (None, x)).collect(), false)
        } else if let Ok(d) = v.cast::<PyDict>() {
            let mut items = Vec::with_capacity(d.len());
            for (k, x) in d.iter() {
                let k = k
                    .cast::<PyString>()
                    .map_err(|_| PyTypeError::new_err(format!("dict keys must be str, not {}", type_name(&k))))?
                    .to_str()?
                    .to_owned();
                items.push((Some(k), x));
            }
            frame(items, true)
        } else {
            None
        })
    }
    fn close(f: Frame<'_>) -> Value {
        if f.dict {
            Value::dict(f.done.into_iter().map(|(k, v)| (k.unwrap_or_default(), v)))
        } else {
            Value::array(f.done.into_iter().map(|(_, v)| v).collect())
        }
    }
    let Some(root) = open(v)? else { return scalar_from_py(v) };
    // The containers on the stack, by address (a container met again among them contains
    // itself).
    let mut open_ids = std::collections::HashSet::from([root.id]);
    let mut stack = vec![root];
    let mut made = 0usize;
    loop {
        let top = stack.last_mut().expect("a frame");
        if top.next == top.items.len() {
            let f = stack.pop().expect("a frame");
            open_ids.remove(&f.id);
            let value = close(f);
            match stack.last_mut() {
                Some(parent) => {
                    let key = parent.items[parent.next - 1].0.clone();
                    parent.done.push((key, value));
                    continue;
                }
                None => return Ok(value),
            }
        }
        let (key, item) = top.items[top.next].clone();
        top.next += 1;
        made += 1;
        if made > MAX_CONVERTED {
            return Err(too_large());
        }
        match open(&item)? {
            Some(f) => {
                if !open_ids.insert(f.id) {
                    return Err(PyTypeError::new_err(format!("cannot convert a {} that contains itself", type_name(&item))));
                }
                stack.push(f);
            }
            None => {
                let value = scalar_from_py(&item)?;
                stack.last_mut().expect("a frame").done.push((key, value));
            }
        }
    }
}

/// A Python scalar (`None`, `bool`, `int`, `float`, `str`) as a program value.
///
/// Errors: `TypeError` for any other type, `ValueError` for an int outside 64 bits.
fn scalar_from_py(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    if v.is_none() {
        Ok(Value::Empty)
    } else if let Ok(b) = v.cast::<PyBool>() {
        Ok(Value::Bool(b.is_true()))
    } else if v.is_instance_of::<PyInt>() {
        v.extract::<i64>()
            .map(Value::Int)
            .map_err(|_| PyValueError::new_err(format!("int {v} does not fit 64 bits")))
    } else if let Ok(f) = v.cast::<PyFloat>() {
        Ok(Value::Float(f.value()))
    } else if let Ok(s) = v.cast::<PyString>() {
        Ok(Value::str(s.to_str()?))
    } else {
        Err(PyTypeError::new_err(format!("cannot convert {} to a Machine Dialect value", type_name(v))))
    }
}

/// The name of `v`'s type.
fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".to_string())
}

/// `ExcType: message` for a Python exception (the error text of a failed host function).
fn describe(py: Python<'_>, e: &PyErr) -> String {
    let ty = e.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "Exception".to_string());
    format!("{ty}: {}", e.value(py))
}

/// A Python `RuntimeError` carrying mdvm's message.
fn vm_error(e: &VmError) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}

/// The mdvm virtual machine for Machine Dialect™ bytecode, with the reference VM's interface.
///
/// `RustVM(tier=None, *, fuel=None, max_depth=None, jit_threshold=None, osr_threshold=None)`:
/// `tier` is `"auto"` (interpret, then compile hot code), `"interp"` or `"jit"` (compile
/// everything first); `fuel` limits the instructions one `execute()` may run; `max_depth`
/// limits live frames (default 10,000, main's included); `jit_threshold` is the call count at
/// which `"auto"` compiles a function, `osr_threshold` the back-edge count at which a loop is
/// entered by OSR (1: every loop at its first back-edge; both must be at least 1); `timeout`
/// limits the seconds one `execute()` may take; `max_memory` the bytes of heap mdvm may use
/// (the count covers every VM of the process; the default follows the machine, the cgroup and
/// `ulimit -v`). Unset arguments come from `MDVM_TIER`, `MDVM_FUEL`, `MDVM_MAX_DEPTH`,
/// `MDVM_TIMEOUT`, `MDVM_MAX_MEMORY`, or the defaults.
#[pyclass(module = "machine_dialect_vm")]
pub struct RustVM {
    builder: VmBuilder,
    timeout: Option<Duration>,
    max_memory: Option<usize>,
    /// The exception (KeyboardInterrupt, ...) a signal handler raised during `execute()`, set by
    /// the poll hook, raised by `execute()` once the run has stopped.
    signal_error: Arc<Mutex<Option<PyErr>>>,
    tier: Tier,
    fuel: Option<u64>,
    max_depth: usize,
    vm: Option<Vm>,
    debug: bool,
    /// What `trace=` (or `MDVM_LOG`) selected; `set_debug(True)` adds `instructions`.
    trace: TraceCategories,
    /// Instructions executed by programs loaded before the current one (since `reset()`).
    earlier_instructions: u64,
    /// The loaded program's bytes, to load it again when a function is registered after it.
    bytes: Option<Vec<u8>>,
}

// SAFETY: a `RustVM` may move to, and be used from, another thread (Python threads share
// objects). What is not `Send` in it, the `Rc`s inside `Vm` and `VmBuilder` (values, the
// program, natives), forms graphs owned entirely by this object: no `Rc` is shared with
// anything outside it (values cross to Python only as converted copies, host callables are
// `Py` handles, which are `Send`), so moving the whole object moves every reference to them.
// Two threads never use it at once: `&mut self` methods hold PyO3's exclusive borrow (a second
// thread gets a `RuntimeError`, "already borrowed"), and `&self` methods run holding the GIL
// (the module is built for the GIL-enabled ABI, abi3), which `execute()`, the only method that
// releases it, cannot hold at the same time because it holds the exclusive borrow.
unsafe impl Send for RustVM {}
// SAFETY: as for `Send` above: shared access happens only under the GIL, one thread at a time.
unsafe impl Sync for RustVM {}

impl RustVM {
    /// Replaces the loaded program by the one in `bytes`.
    fn load(&mut self, bytes: &[u8]) -> PyResult<()> {
        if let Some(old) = self.vm.take() {
            self.earlier_instructions += old.instruction_count();
        }
        let mut vm = self.builder.clone().load_bytes(bytes).map_err(|e| vm_error(&e))?;
        // Every 50 ms of a run: deliver the output (the machine flushes it first) and let Python
        // run its signal handlers; an exception from one (KeyboardInterrupt) stops the run.
        let slot = self.signal_error.clone();
        vm.set_poll(FLUSH_INTERVAL, move || {
            Python::attach(|py| {
                py.check_signals().map_err(|e| {
                    let msg = describe(py, &e);
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    msg
                })
            })
        });
        let c = self.categories();
        if c.calls || c.instructions {
            vm.set_trace(c.calls, c.instructions);
        }
        self.vm = Some(vm);
        self.bytes = Some(bytes.to_vec());
        Ok(())
    }

    /// The traces in effect: `trace=`'s, with `instructions` in debug mode.
    fn categories(&self) -> TraceCategories {
        TraceCategories { instructions: self.trace.instructions || self.debug, ..self.trace }
    }
}

#[pymethods]
impl RustVM {
    #[new]
    #[pyo3(signature = (tier = None, *, fuel = None, max_depth = None, jit_threshold = None, osr_threshold = None, timeout = None, max_memory = None, trace = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        tier: Option<&str>,
        fuel: Option<u64>,
        max_depth: Option<usize>,
        jit_threshold: Option<u64>,
        osr_threshold: Option<u32>,
        timeout: Option<f64>,
        max_memory: Option<usize>,
        trace: Option<&str>,
    ) -> PyResult<Self> {
        let trace = match trace.map(str::to_owned).or_else(|| env("MDVM_LOG")) {
            Some(list) => TraceCategories::parse(&list).map_err(PyValueError::new_err)?,
            None => TraceCategories::default(),
        };
        let tier = match tier.map(str::to_owned).or_else(|| env("MDVM_TIER")) {
            Some(t) => parse_tier(t.trim())?,
            None => Tier::Auto,
        };
        let fuel = match fuel {
            Some(f) => Some(f),
            None => env_u64("MDVM_FUEL")?,
        };
        let max_depth = match max_depth {
            Some(d) => d,
            None => env_u64("MDVM_MAX_DEPTH")?.map_or(DEFAULT_MAX_DEPTH, |d| d as usize),
        };
        if max_depth == 0 {
            return Err(PyValueError::new_err("max_depth must be at least 1 (the main program's frame)"));
        }
        let timeout = match timeout {
            Some(t) => Some(seconds("timeout", t)?),
            None => match env("MDVM_TIMEOUT") {
                Some(v) => {
                    let t: f64 = v.trim().parse().map_err(|_| {
                        PyValueError::new_err(format!("MDVM_TIMEOUT must be a number of seconds, not {v:?}"))
                    })?;
                    Some(seconds("MDVM_TIMEOUT", t)?)
                }
                None => None,
            },
        };
        let max_memory = match max_memory {
            Some(0) => return Err(PyValueError::new_err("max_memory must be at least 1 byte")),
            Some(m) => Some(m),
            None => match env("MDVM_MAX_MEMORY") {
                Some(v) => Some(mdvm::parse_bytes(&v).map_err(|e| PyValueError::new_err(format!("MDVM_MAX_MEMORY: {e}")))?),
                None => mdvm::default_memory_limit(),
            },
        };
        let mut builder =
            Vm::builder().tier(tier).fuel(fuel).max_depth(max_depth).timeout(timeout).max_memory(max_memory);
        if let Some(n) = jit_threshold {
            if n == 0 {
                return Err(PyValueError::new_err("jit_threshold must be at least 1"));
            }
            builder = builder.jit_threshold(n);
        }
        if let Some(n) = osr_threshold {
            if n == 0 {
                return Err(PyValueError::new_err("osr_threshold must be at least 1"));
            }
            builder = builder.osr_threshold(n);
        }
        Ok(RustVM {
            builder,
            timeout,
            max_memory,
            signal_error: Arc::new(Mutex::new(None)),
            tier,
            fuel,
            max_depth,
            vm: None,
            debug: false,
            trace,
            earlier_instructions: 0,
            bytes: None,
        })
    }

    /// Loads a `.mdbc` file, replacing any program loaded before.
    ///
    /// Raises `RuntimeError` if the file cannot be read or is not a valid module.
    fn load_bytecode(&mut self, path: std::path::PathBuf) -> PyResult<()> {
        let bytes = std::fs::read(&path)
            .map_err(|source| vm_error(&VmError::Io { path: path.clone(), source }))?;
        self.load(&bytes)
    }

    /// Loads a module from `.mdbc` bytes (`bytes`, `bytearray` or `memoryview`... any buffer
    /// PyO3 reads as bytes), replacing any program loaded before.
    ///
    /// Raises `RuntimeError` if they are not a valid module.
    fn load_bytes(&mut self, data: Vec<u8>) -> PyResult<()> {
        self.load(&data)
    }

    /// Runs the loaded program from its start and returns its result: `None`, `bool`, `int`,
    /// `float`, `str`, `list` or `dict`. Its `Say` output goes to `sys.stdout`. Globals set by
    /// an earlier run stay until `reset()`.
    ///
    /// Raises `RuntimeError` with mdvm's message on a runtime error, an exhausted budget or a
    /// passed `timeout` (output printed before the error stays printed), or if no program is
    /// loaded; `KeyboardInterrupt` (or whatever a Python signal handler raised) when Ctrl-C
    /// arrives while the program runs (it stops within about 50 ms, its output delivered).
    fn execute(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let Some(vm) = self.vm.as_mut() else {
            return Err(PyRuntimeError::new_err("no program loaded: call load_bytecode() or load_bytes() first"));
        };
        let mut out = PyStdout::new();
        self.signal_error.lock().unwrap_or_else(|p| p.into_inner()).take();
        let traces = TraceCategories { instructions: self.trace.instructions || self.debug, ..self.trace };
        let sink = TraceSink::default();
        let job = AssertSend((vm, &mut out, sink.clone()));
        let result = py
            .detach(move || {
                // `into_inner` (not a destructuring pattern) so that the closure captures the
                // whole wrapper, not its non-`Send` fields.
                let (vm, out, sink) = job.into_inner();
                // The trace's subscriber serves this thread for this run only.
                let _trace = (!traces.is_empty()).then(|| {
                    use tracing_subscriber::util::SubscriberInitExt;
                    traces.subscriber(sink).set_default()
                });
                AssertSend(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| vm.run(out))))
            })
            .into_inner();
        sink.emit();
        // Whatever was printed before an error stays printed (`Vm::run` flushed it).
        let failure = out.failure.take();
        if self.debug {
            if let Some(vm) = self.vm.as_ref() {
                let stats = vm.stats().to_string();
                let _ = py.import("sys")?.getattr("stderr")?.call_method1("write", (stats,));
            }
        }
        match result {
            Ok(Ok(v)) => Ok(to_py(py, &v)?.unbind()),
            Ok(Err(e)) => {
                // A signal handler's exception (KeyboardInterrupt) is raised as itself.
                if let Some(signal) = self.signal_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    return Err(signal);
                }
                let err = vm_error(&e);
                if let Some(cause) = failure {
                    err.set_cause(py, Some(cause));
                }
                Err(err)
            }
            Err(panic) => {
                let _ = out.flush();
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                Err(PyRuntimeError::new_err(format!("internal error in mdvm: {what}")))
            }
        }
    }

    /// Registers `callable` as a function programs call by `name` (``Set `x` using `name`
    /// with ...``), replacing a standard-library native of that name; a function of the
    /// module with that name still wins. `arity`, if given, is the exact argument count (a
    /// call with another count is a runtime error); otherwise any count is passed on.
    ///
    /// Arguments convert as `execute()`'s result does; the return value converts back: `None`
    /// is empty, then `bool`, `int` (64 bits), `float`, `str`, `list`/`tuple` and `dict` with
    /// `str` keys. An exception raised by `callable`, or a result of another type, ends the
    /// program with a `RuntimeError` naming the exception's type and message, the function and
    /// the bytecode position. The GIL is held only while `callable` runs.
    ///
    /// A program already loaded is loaded again (its globals and profile start afresh).
    ///
    /// Raises `TypeError` if `callable` is not callable, `ValueError` for an empty name.
    #[pyo3(signature = (name, callable, arity = None))]
    fn register_function(&mut self, name: &str, callable: Bound<'_, PyAny>, arity: Option<u8>) -> PyResult<()> {
        if !callable.is_callable() {
            return Err(PyTypeError::new_err(format!("{} object is not callable", type_name(&callable))));
        }
        if name.is_empty() {
            return Err(PyValueError::new_err("the function name must not be empty"));
        }
        let f: Py<PyAny> = callable.unbind();
        let arity = arity.map_or(mdvm::Arity::AtLeast(0), mdvm::Arity::Exact);
        let native = mdvm::Native::host_call(name, arity, "Python function", move |call: &mut mdvm::NativeCall<'_>| {
            // What the program printed so far reaches `sys.stdout` before anything the callable
            // prints.
            call.out.flush().map_err(|e| e.to_string())?;
            let args = &*call.args;
            Python::attach(|py| -> Result<Value, String> {
                let py_args = args.iter().map(|a| to_py(py, a)).collect::<PyResult<Vec<_>>>().map_err(|e| describe(py, &e))?;
                let tuple = PyTuple::new(py, py_args).map_err(|e| describe(py, &e))?;
                let r = f.bind(py).call1(tuple).map_err(|e| describe(py, &e))?;
                from_py(&r).map_err(|e| format!("bad return value: {}", describe(py, &e)))
            })
        });
        self.builder = std::mem::take(&mut self.builder).register_native(native);
        if let Some(bytes) = self.bytes.take() {
            self.load(&bytes)?;
        }
        Ok(())
    }

    /// Debug mode, as in the reference VM: every instruction executed is traced, with its
    /// operands' values, to `sys.stderr` (the reference VM wrote it into the program's
    /// output), and after each `execute()` mdvm's counters (the `mdvm run --stats` report)
    /// follow. The trace runs the program in the interpreter; after `set_debug(False)` it
    /// stays there until a program is loaded again.
    fn set_debug(&mut self, enabled: bool) {
        self.debug = enabled;
        let c = self.categories();
        if let Some(vm) = self.vm.as_mut() {
            vm.set_trace(c.calls, c.instructions);
        }
    }

    /// Bytecode instructions executed since the VM was created or last `reset()`, over every
    /// program loaded in that time.
    fn instruction_count(&self) -> u64 {
        self.earlier_instructions + self.vm.as_ref().map_or(0, Vm::instruction_count)
    }

    /// Clears globals, profiling feedback and counters; the loaded program stays loaded.
    fn reset(&mut self) {
        self.earlier_instructions = 0;
        if let Some(vm) = self.vm.as_mut() {
            vm.reset();
        }
    }

    /// Counters of the loaded program: a dict with `tier`, `instructions`, `calls` (function
    /// name to call count, main as `<main>`) and `jit` (`None` for the interpreter tier, else a
    /// dict: `functions_compiled`, `osr_compiled`, `compile_seconds`, `recompilations`,
    /// `compile_failures`, `over_budget`, `written_through`, `native_entries`, `osr_entries`, `deopts` by reason)
    /// and `processes` (a dict of the last run: `spawned`, `messages`, `slices`,
    /// `context_switches`, and `failures`, a list of `(pid, message)` for each process whose
    /// error no link carried on, in order; those are also written to the process's stderr).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("tier", self.tier.to_string())?;
        d.set_item("fuel", self.fuel)?;
        d.set_item("max_depth", self.max_depth)?;
        d.set_item("timeout", self.timeout.map(|t| t.as_secs_f64()))?;
        d.set_item("max_memory", self.max_memory)?;
        let calls = PyDict::new(py);
        let mut jit_stats = None;
        let mut instructions = 0;
        let processes = PyDict::new(py);
        let failures = pyo3::types::PyList::empty(py);
        if let Some(vm) = self.vm.as_ref() {
            let s = vm.stats();
            instructions = s.instructions;
            processes.set_item("spawned", s.processes.spawned)?;
            processes.set_item("messages", s.processes.messages)?;
            processes.set_item("slices", s.processes.slices)?;
            processes.set_item("context_switches", s.processes.context_switches)?;
            for f in vm.process_failures() {
                failures.append((f.pid, f.error.to_string()))?;
            }
            for (name, n) in &s.calls {
                calls.set_item(name, n)?;
            }
            if let Some(j) = &s.jit {
                let jd = PyDict::new(py);
                jd.set_item("functions_compiled", j.compiled.functions_compiled)?;
                jd.set_item("osr_compiled", j.compiled.osr_compiled)?;
                jd.set_item("compile_seconds", j.compiled.compile_nanos as f64 / 1e9)?;
                jd.set_item("recompilations", j.compiled.recompilations)?;
                jd.set_item("compile_failures", j.compiled.compile_failures)?;
                jd.set_item("over_budget", j.compiled.over_budget)?;
                jd.set_item("written_through", j.compiled.written_through)?;
                jd.set_item("native_entries", j.native_entries)?;
                jd.set_item("osr_entries", j.osr_entries)?;
                let deopts = PyDict::new(py);
                for (reason, n) in &j.deopts {
                    deopts.set_item(reason.name(), n)?;
                }
                jd.set_item("deopts", deopts)?;
                jit_stats = Some(jd);
            }
        }
        d.set_item("loaded", self.vm.is_some())?;
        d.set_item("instructions", instructions)?;
        d.set_item("calls", calls)?;
        d.set_item("jit", jit_stats)?;
        processes.set_item("failures", failures)?;
        d.set_item("processes", processes)?;
        Ok(d)
    }

    /// The tier this VM runs programs with: `"auto"`, `"interp"` or `"jit"`.
    #[getter]
    fn tier(&self) -> String {
        self.tier.to_string()
    }

    /// Whether debug mode is on (see `set_debug`).
    #[getter]
    fn debug(&self) -> bool {
        self.debug
    }

    /// The heap limit in bytes (`max_memory`, `MDVM_MAX_MEMORY`, or the machine's default).
    #[getter]
    fn max_memory(&self) -> Option<usize> {
        self.max_memory
    }

    /// The time limit of one `execute()` in seconds, or `None`.
    #[getter]
    fn timeout(&self) -> Option<f64> {
        self.timeout.map(|t| t.as_secs_f64())
    }

    fn __repr__(&self) -> String {
        format!(
            "RustVM(tier={:?}, fuel={:?}, max_depth={}, timeout={:?})",
            self.tier.to_string(),
            self.fuel,
            self.max_depth,
            self.timeout.map(|t| t.as_secs_f64())
        )
    }
}

/// mdvm, a JIT-compiling VM for Machine Dialect™ bytecode, as a drop-in `machine_dialect_vm`.
#[pymodule]
fn machine_dialect_vm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", VERSION)?;
    m.add_class::<RustVM>()?;
    Ok(())
}
