//! Speculation: what compiled code assumes about each register, and what it does with each
//! instruction.
//!
//! * [`state`]: the frame state lattice: where a register's value is ([`state::Val`]) and what
//!   its frame slot may hold ([`state::Slot`]);
//! * [`plan`]: the decision for one instruction ([`plan::Plan`]) from the state before it and
//!   the interpreter's feedback;
//! * [`transfer`]: the one transfer function, the effect of a plan on the state; the type
//!   analysis and the code generator both move their state through it;
//! * [`dataflow`]: the forward analysis giving the state at every block head
//!   ([`dataflow::Speculation`], which also holds the body's CFG, liveness and the analyses of
//!   [`crate::analysis`]).

pub(crate) mod dataflow;
pub(crate) mod plan;
pub(crate) mod state;
pub(crate) mod transfer;
