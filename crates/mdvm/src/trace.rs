//! Trace categories and the subscriber that writes them: what `mdvm run --trace=LIST`,
//! `MDVM_LOG` and the Python module's `trace=` and `set_debug` select.
//!
//! | category | target | level | events |
//! |---|---|---|---|
//! | `tiers` | `mdvm::tiers` | DEBUG | each compile (function or OSR header, time, code size), OSR entry, deopt (function, pc, reason, the operands' types) and discard after repeated deopts |
//! | `calls` | `mdvm::calls` | DEBUG | each call (callee, arguments, depth) and return (value) |
//! | `instructions` | `mdvm::instructions` | TRACE | each instruction executed, with its operands' values |
//!
//! `calls` and `instructions` come from the interpreter ([`crate::Vm::set_trace`] turns them
//! on and keeps the program in the interpreter); `tiers` events are always emitted, at no cost
//! while no subscriber listens.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// A set of trace categories (module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceCategories {
    pub tiers: bool,
    pub calls: bool,
    pub instructions: bool,
}

impl TraceCategories {
    /// Parses a comma-separated list of `tiers`, `calls`, `instructions` and `all` (spaces
    /// and empty items ignored). Errors: an unknown name, in a message that lists the known.
    pub fn parse(list: &str) -> Result<TraceCategories, String> {
        let mut c = TraceCategories::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "all" => c = TraceCategories { tiers: true, calls: true, instructions: true },
                "tiers" => c.tiers = true,
                "calls" => c.calls = true,
                "instructions" => c.instructions = true,
                other => return Err(format!("unknown trace category {other:?} (tiers, calls, instructions or all)")),
            }
        }
        Ok(c)
    }

    /// True when no category is selected.
    pub fn is_empty(self) -> bool {
        !(self.tiers || self.calls || self.instructions)
    }

    /// A subscriber writing the selected categories' events, one line each (`LEVEL target:
    /// message fields`, no time, no colour), to `writer`; other events are dropped. Install
    /// it with `tracing_subscriber`'s `SubscriberInitExt` (`try_init` for the process,
    /// `set_default` for the current thread).
    pub fn subscriber<W>(self, writer: W) -> impl tracing::Subscriber + Send + Sync
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        let mut targets = Targets::new();
        for (on, target, level) in [
            (self.tiers, "mdvm::tiers", LevelFilter::DEBUG),
            (self.calls, "mdvm::calls", LevelFilter::DEBUG),
            (self.instructions, "mdvm::instructions", LevelFilter::TRACE),
        ] {
            if on {
                targets = targets.with_target(target, level);
            }
        }
        let layer = tracing_subscriber::fmt::layer().with_writer(writer).without_time().with_ansi(false).with_filter(targets);
        tracing_subscriber::registry().with(layer)
    }
}
