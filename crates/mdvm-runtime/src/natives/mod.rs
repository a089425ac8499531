//! Natives: functions written in Rust (the standard library, [`stdlib`]) or given by the host
//! (an embedder's closure, a Python callable) that programs call by name with `CALL_R`.
//!
//! A [`Natives`] registry maps names to [`Native`]s. [`crate::Program::new`] resolves each
//! `CALL_R` whose callee name is a constant loaded just before the call (and is not in the
//! module's function table, which wins) to a native index once, at load time; a callee name
//! known only at run time is looked up in the function table first and then here. An unknown
//! name stays an `undefined function` error raised when the call executes.
//!
//! Calling protocol (both tiers, [`Natives::call`]):
//! - the arity is checked first: a wrong count is a type error naming the native;
//! - the arguments are the caller's register values, each a reference-count bump, never a copy
//!   of a string or array; when the call's destination register is also an argument, the
//!   register gives up its reference before the call, so a native that changes its argument
//!   (`push`, `pop`) on `Set xs using push with xs, v` finds it unshared and changes it in
//!   place (amortized O(1));
//! - a native call is one executed instruction for fuel and the instruction count and does not
//!   count toward the depth limit;
//! - it returns a value, which is always written to the destination (`print` returns empty);
//! - an error becomes a runtime error of the call's function and bytecode position whose
//!   message starts with the native's name in backquotes.

pub mod stdlib;

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, Write};
use std::rc::Rc;
use std::time::Instant;

use crate::error::{ErrorKind, OpError};
use crate::value::Value;

pub use stdlib::Builtin;

/// How many arguments a native takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Exact(u8),
    /// This many or more.
    AtLeast(u8),
}

impl Arity {
    /// True if `n` arguments are accepted.
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exact(k) => n == k as usize,
            Arity::AtLeast(k) => n >= k as usize,
        }
    }
}

impl From<u8> for Arity {
    fn from(n: u8) -> Arity {
        Arity::Exact(n)
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arity::Exact(n) => write!(f, "{n}"),
            Arity::AtLeast(n) => write!(f, "{n}+"),
        }
    }
}

/// What a native sees of the machine while it runs: its arguments (owned, so it may take
/// them apart), the program's output, its input and its start time.
pub struct NativeCall<'a> {
    /// The arguments, in order (already checked against the native's [`Arity`]).
    pub args: &'a mut [Value],
    /// The program's output (what `DEBUG_PRINT` writes to).
    pub out: &'a mut dyn Write,
    /// The program's standard input (`read_line`).
    pub input: &'a mut dyn BufRead,
    /// When the machine was created (`clock`).
    pub started: Instant,
    /// The run's processes, for the process natives (`None` outside a machine's run).
    pub(crate) process: Option<crate::process::ProcessCall<'a>>,
}

/// The function behind a native: takes the call, returns the result or an error (whose
/// message the runtime prefixes with the native's name).
pub type NativeFn = dyn Fn(&mut NativeCall<'_>) -> Result<Value, OpError>;

/// One native function.
#[derive(Clone)]
pub struct Native {
    /// The name programs call it by.
    pub name: Rc<str>,
    /// Accepted argument counts.
    pub arity: Arity,
    /// One line saying what it does (`mdvm natives`).
    pub summary: Rc<str>,
    /// Which standard-library function this is (`None` for host functions). The compiled tier
    /// inlines some builtins; a host function registered under a builtin's name replaces it
    /// and has `None` here, so nothing is inlined for it.
    pub builtin: Option<Builtin>,
    /// The function.
    pub func: Rc<NativeFn>,
}

impl fmt::Debug for Native {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Native").field("name", &self.name).field("arity", &self.arity).field("builtin", &self.builtin).finish()
    }
}

impl Native {
    /// A host function: `func` receives the arguments and returns the result, or an error
    /// message that becomes a `host error` naming the native and the call's position.
    pub fn host<F, E>(name: &str, arity: impl Into<Arity>, summary: &str, func: F) -> Native
    where
        F: Fn(&[Value]) -> Result<Value, E> + 'static,
        E: fmt::Display,
    {
        Native::host_call(name, arity, summary, move |call: &mut NativeCall<'_>| func(call.args))
    }

    /// A host function that sees the whole call ([`NativeCall`]: the arguments, which it may
    /// take apart, the program's output, its input); an error becomes a `host error` as for
    /// [`Native::host`].
    pub fn host_call<F, E>(name: &str, arity: impl Into<Arity>, summary: &str, func: F) -> Native
    where
        F: Fn(&mut NativeCall<'_>) -> Result<Value, E> + 'static,
        E: fmt::Display,
    {
        Native {
            name: name.into(),
            arity: arity.into(),
            summary: summary.into(),
            builtin: None,
            func: Rc::new(move |call: &mut NativeCall<'_>| func(call).map_err(|e| OpError::new(ErrorKind::Host, e.to_string()))),
        }
    }
}

/// A registry of natives by name: the standard library ([`Natives::standard`]) plus whatever
/// the host registers, a later registration replacing an earlier one of the same name.
#[derive(Clone, Debug)]
pub struct Natives {
    list: Vec<Native>,
    index: HashMap<Rc<str>, u32>,
}

impl Default for Natives {
    fn default() -> Natives {
        Natives::standard()
    }
}

impl Natives {
    /// No natives at all.
    pub fn empty() -> Natives {
        Natives { list: Vec::new(), index: HashMap::new() }
    }

    /// The standard library ([`Builtin::ALL`]).
    pub fn standard() -> Natives {
        let mut n = Natives::empty();
        for &b in Builtin::ALL {
            n.register(b.native());
        }
        n
    }

    /// Adds `native`, replacing one of the same name (its index is kept).
    pub fn register(&mut self, native: Native) {
        match self.index.get(&native.name) {
            Some(&i) => self.list[i as usize] = native,
            None => {
                self.index.insert(native.name.clone(), self.list.len() as u32);
                self.list.push(native);
            }
        }
    }

    /// The index of the native called `name`.
    pub fn lookup(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// The native at `index` (from [`Natives::lookup`]). Panics on an index not from this
    /// registry.
    pub fn get(&self, index: u32) -> &Native {
        &self.list[index as usize]
    }

    /// Every native, in registration order (the standard library first).
    pub fn iter(&self) -> impl Iterator<Item = &Native> {
        self.list.iter()
    }

    /// Number of natives.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Calls native `index` with `call.args`: checks the arity, runs it, and prefixes an error's
    /// message with the native's name. A native that panics (a host function's bug) is a
    /// `host error` too, so the panic never unwinds through compiled code.
    pub fn call(&self, index: u32, call: &mut NativeCall<'_>) -> Result<Value, OpError> {
        let n = &self.list[index as usize];
        if !n.arity.accepts(call.args.len()) {
            let s = |k: u8| if k == 1 { "" } else { "s" };
            let want = match n.arity {
                Arity::Exact(k) => format!("{k} argument{}", s(k)),
                Arity::AtLeast(k) => format!("at least {k} argument{}", s(k)),
            };
            return Err(OpError::type_error(format!("`{}` takes {want}, got {}", n.name, call.args.len())));
        }
        let r = match n.builtin {
            // The standard library's own code: called directly.
            Some(b) => b.call(call),
            None => host_call(n, call),
        };
        r.map_err(|e| OpError::new(e.kind, format!("`{}`: {}", n.name, e.message)))
    }
}

/// Runs host function `n`, a panic becoming a `host error`.
#[inline(never)]
fn host_call(n: &Native, call: &mut NativeCall<'_>) -> Result<Value, OpError> {
    {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (n.func)(call))).unwrap_or_else(|p| {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(OpError::new(ErrorKind::Host, format!("panicked: {what}")))
        })
    }
}

/// Writes `v` as `DEBUG_PRINT` does: nothing for empty, else the display form and a newline.
///
/// Errors: `fuel exhausted` when the fuel left cannot cover the text ([`crate::work`]); a value
/// error when an array's or dict's text would pass 1 GiB, or out of memory at the memory
/// limit (nothing is written then); an `output error` when writing fails.
pub fn print_value(out: &mut dyn Write, v: &Value) -> Result<(), OpError> {
    // The text is charged to the fuel ([`crate::work`]) and checked against the limits before
    // any of it is written, so a print that cannot finish writes nothing.
    let res = match v {
        Value::Empty => return Ok(()),
        Value::Str(s) | Value::Url(s) => {
            crate::work::charge(s.byte_len() + 1)?;
            out.write_all(s.as_str().as_bytes()).and_then(|_| out.write_all(b"\n"))
        }
        Value::Array(_) | Value::Dict(_) => {
            let mut text = crate::ops::text_builder();
            v.write_display(&mut text).and_then(|()| std::fmt::Write::write_char(&mut text, '\n')).map_err(|_| crate::ops::text_refused())?;
            out.write_all(text.as_str().as_bytes())
        }
        v => writeln!(out, "{v}"),
    };
    res.map_err(|e| OpError::new(ErrorKind::Output, format!("cannot write output: {e}")))
}
