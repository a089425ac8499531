//! Analyses of one body's bytecode that the compiled tier plans with. They depend on `mdbc`
//! only (instructions, constants, the CFG), never on Cranelift, on feedback or on speculated
//! types: each states a fact of the bytecode's semantics on every path, so it holds in the
//! interpreter's frame too (at an OSR entry, after a side exit).
//!
//! * [`ops`]: which instructions are binary operators and comparisons, and how;
//! * [`constants`]: registers that only ever hold one constant;
//! * [`ranges`]: int bounds per register and block, from constants, arithmetic and branches;
//! * [`counted`]: counted loops, whose accumulators' overflow checks move to the loop entry;
//! * [`fuel`]: the segments of a block that compiled code charges fuel for at once.
//!
//! Natural loops and loop headers are properties of the CFG: [`mdbc::cfg::Cfg::natural_loop`].

pub(crate) mod constants;
pub(crate) mod counted;
pub(crate) mod fuel;
pub(crate) mod ops;
pub(crate) mod ranges;
