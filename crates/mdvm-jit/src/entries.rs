//! The three ways into compiled code of a body, and the function that builds each.
//!
//! * The **typed entry** `(ctx, base, depth, p1, .., pk) -> NativeRet` takes the body's typed
//!   parameters unboxed ([`crate::spec::plan::typed_params`]) and the frame count in a
//!   register; compiled callers whose arguments are already unboxed call it directly.
//! * The **generic entry** [`mdvm_runtime::native::NativeEntry`] `(ctx, base)` guards the
//!   typed parameters in their slots, unboxes them and calls the typed entry. It is what the
//!   entry table holds, for the interpreter and for callers without unboxed arguments.
//! * An **OSR entry** `(ctx, base)` enters a running frame at a loop header, from the
//!   back-edge the interpreter just took, after guarding the live registers to the types they
//!   have now.
//!
//! The typed and OSR entries share a prologue ([`prologue`]: the native stack and value stack
//! checks a body with calls needs, and the variables' initial definitions), then enter the
//! body along an edge ([`crate::lower::Emitter::emit_edge`]) and lower every block it reaches.

use std::collections::{HashMap, HashSet};

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, AbiParam, Function, InstBuilder, Signature, Type, UserFuncName};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use mdbc::{Constant, Instr};
use mdvm_runtime::feedback::Feedback;
use mdvm_runtime::helpers::Helper;
use mdvm_runtime::native::{self as rt, GuardSlot, NO_PRED, WINDOW_SLOTS};
use mdvm_runtime::program::Program;
use mdvm_runtime::value::{Tag, VALUE_SIZE};

use crate::analysis::ranges::Facts;
use crate::CompileError;
use crate::helpers::import_function;
use crate::lower::frame::{ctx_flags, declare_alias_regions};
use crate::lower::{exits::ExitTable, At, Emitter, View};
use crate::spec::dataflow::Speculation;
use crate::spec::plan::{typed_params, Planner};
use crate::spec::state::{Reg, Slot, State, Val};

/// Which entry of a body to build.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Entry<'a> {
    /// The typed entry `(ctx, base, depth, p1, .., pk) -> NativeRet`: the body's typed
    /// parameters arrive unboxed as CLIF parameters (i64 for ints and bools, f64 for floats;
    /// an `Empty` parameter passes nothing) and their frame slots are `Empty`. A body with
    /// calls checks the native stack here, once per activation: near the end of the segment it
    /// boxes its parameters into their slots and runs on a new segment through its generic
    /// entry `generic` (a function id of the JIT module), so call sites need no check.
    Typed { generic: u32 },
    /// The generic entry `(ctx, base)`: guards the typed parameters in their slots (a failure
    /// side-exits to the body's start), unboxes them, empties their slots and calls the typed
    /// entry `fast` (a function id of the JIT module).
    Generic { fast: u32 },
    /// An OSR entry `(ctx, base)` at loop `header` entered from `latch` (bytecode indices),
    /// guarding the frame's live registers to their current `tags`.
    Osr { header: u32, latch: u32, tags: &'a [Tag] },
}

/// A compiled body's typed entry (see [`Entry::Typed`]), callable directly from compiled code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TypedEntry {
    /// The function's id in the JIT module.
    pub func: u32,
    /// The id of the generic entry compiled with it: while the body's entry-table slot holds
    /// this entry, the typed entry is current (a discarded body's slot is nulled, a recompiled
    /// one's holds a new entry).
    pub generic: u32,
    /// The parameters it takes unboxed, as (register, type), in register order.
    pub params: Vec<(u8, Tag)>,
}

/// What to compile.
pub(crate) struct Request<'a> {
    /// The function being built: its id in the JIT module (which names it).
    pub func: u32,
    pub program: &'a Program,
    pub feedback: &'a Feedback,
    pub body: u32,
    /// Which entry to build.
    pub entry: Entry<'a>,
    /// Typed entries of compiled bodies (the body being compiled included, for self-calls).
    pub typed: &'a HashMap<u32, TypedEntry>,
    /// Bytecode indices to compile without speculation.
    pub generic: &'a HashSet<u32>,
    /// Loop headers (bytecode indices) whose trip-count guard failed: no counted-loop
    /// accumulator plan for them ([`crate::analysis::counted`]).
    pub unbounded_loops: &'a HashSet<u32>,
    /// Array sites (bytecode indices) whose form guard failed once: their array's view has
    /// no form guard ([`Planner::with_form_misses`]).
    pub form_misses: &'a HashSet<u32>,
    /// Every guard side-exits the first time it runs.
    pub stress: bool,
    /// Registers written through whatever the body's size ([`crate::JitOptions::write_through`]).
    pub write_through: bool,
    /// Charge fuel (the run counts instructions).
    pub metered: bool,
    /// The interrupt word's address ([`crate::JitOptions::interrupt_flag`]; 0: no safepoints).
    pub interrupt_flag: usize,
    /// Side-exit after calls into a body a debugger pinned ([`crate::JitOptions::debug_checks`]).
    pub debug_checks: bool,
    /// The JIT module's function id of each runtime helper, indexed by
    /// [`mdvm_runtime::helpers::Helper`].
    pub helper_ids: &'a [u32],
}

/// The CLIF type a typed parameter of type `t` is passed as (`None` for `Empty`).
fn param_type(t: Tag) -> Option<Type> {
    match t {
        Tag::Empty => None,
        Tag::Float => Some(types::F64),
        _ => Some(types::I64),
    }
}

/// The signature of a typed entry with `params` ([`Entry::Typed`]).
pub(crate) fn typed_signature(call_conv: CallConv, params: &[(u8, Tag)]) -> Signature {
    let mut s = entry_signature(call_conv);
    s.params.push(AbiParam::new(types::I64));
    s.params.extend(params.iter().filter_map(|&(_, t)| param_type(t)).map(AbiParam::new));
    s
}

/// The signature of a generic entry and an OSR entry: [`rt::NativeEntry`], `(ctx, base) ->
/// (tag, payload)`.
pub(crate) fn entry_signature(call_conv: CallConv) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.push(AbiParam::new(types::I64));
    s.params.push(AbiParam::new(types::I64));
    s.returns.push(AbiParam::new(types::I64));
    s.returns.push(AbiParam::new(types::I64));
    s
}

/// The state a body starts in at its typed or generic entry: typed parameters unboxed (their
/// slots empty), other registers the callers may pass in their slots, the rest empty.
fn start_state(program: &Program, body: u32, params: &[(u8, Tag)]) -> State {
    let bi = &program.bodies[body as usize];
    let max_argc = program.max_argc[body as usize] as usize;
    (0..bi.nregs as usize)
        .map(|r| {
            if let Some(&(_, t)) = params.iter().find(|(p, _)| *p as usize == r) {
                Reg { val: Val::unboxed(t), slot: Slot::Empty, unique: false }
            } else if bi.entry_live.contains(r as u8) && r < max_argc {
                Reg::MEM
            } else {
                // Not read before written, or beyond every call's arguments: empty.
                Reg { val: Val::Empty, slot: Slot::Empty, unique: false }
            }
        })
        .collect()
}

/// The state an OSR entry at `header` enters the loop in, and the registers it guards: every
/// register live at the header whose frame slot holds an empty, bool, int or float now
/// (`tags`) is guarded to that type and unboxed, so the loop's steady state is its state from
/// the first iteration. A register holding a string whose every definition loads one string
/// constant naming a function or native (a callee name loaded before the loop) is guarded to
/// be a string and known as that callee ([`Val::Fn`]), so the loop's calls are direct as in code
/// compiled from the body's entry. Registers dead there are released at entry.
fn osr_state(s: &Speculation<'_>, header: u32, latch: u32, tags: &[Tag]) -> (State, Vec<(u8, Tag)>, Vec<u8>) {
    let live = s.live_in(header);
    let mut guards = Vec::new();
    // Arrays the loop writes (an `ARRAY_SET_R` between its header and its latch): entered
    // held alone, checked once here, their writes need no count test ([`Reg::unique`]).
    let mut alone = Vec::new();
    let written: Vec<u8> = (header..=latch.min(s.cfg.end.saturating_sub(1)))
        .filter_map(|bc| match s.m.code[bc as usize] {
            mdbc::Instr::ArraySetR { arr, .. } => Some(arr.0),
            _ => None,
        })
        .collect();
    let st = (0..s.nregs)
        .map(|r| {
            let tag = tags.get(r).copied().filter(|_| live.contains(r as u8) && !s.planner.generic.contains(&header));
            match tag {
                Some(t @ (Tag::Int | Tag::Float | Tag::Bool | Tag::Empty)) => {
                    guards.push((r as u8, t));
                    // The slot may still hold a plain value (or be empty).
                    Reg { val: Val::unboxed(t), slot: Slot::Plain, unique: false }
                }
                Some(Tag::Str) if s.callee_const(r as u8).is_some() => {
                    let (callee, k) = s.callee_const(r as u8).expect("checked");
                    guards.push((r as u8, Tag::Str));
                    // The slot keeps its string (equal to the constant).
                    Reg { val: Val::Fn(callee, k), slot: Slot::Owned, unique: false }
                }
                Some(Tag::Array) if written.contains(&(r as u8)) => {
                    alone.push(r as u8);
                    Reg { unique: true, ..Reg::MEM }
                }
                _ if !live.contains(r as u8) => Reg { val: Val::Dead, slot: Slot::Plain, unique: false },
                _ => Reg::MEM,
            }
        })
        .collect();
    (st, guards, alone)
}

/// Bodies longer than this many bytecode instructions stay in the interpreter: compile time
/// grows with the body (about 50 µs per guarded instruction on the 2-core machine of
/// BENCHMARKS.md), and a body this long is generated code, not a hot loop.
pub const MAX_BODY_INSTRUCTIONS: u32 = 10_000;

/// Written-through bodies of at most this many bytecode instructions are compiled with
/// Cranelift's single-pass register allocator; longer ones, like every other body, with the
/// backtracking one. The single-pass allocator approximates liveness by block layout order, and
/// cold blocks are laid out last: every value a cold block reads counts as live across all the
/// blocks laid out between its definition and the end, so its time grows with the body's cold
/// uses times its blocks. A main of 3,500 calls (7,000 instructions), each with its cold paths
/// reading the call's result, took 3.5 s in it and 0.26 s in the backtracking allocator.
pub const SINGLE_PASS_MAX_INSTRUCTIONS: u32 = 1_500;

/// The register writes all side exits of a body of `len` bytecode instructions may emit
/// together: 4,096 plus 24 per instruction, at most 24,576. Each exit writes back the live
/// registers not in their slots, so many guards across many live unboxed registers make code
/// quadratic in the body; past this budget the body stays in the interpreter. The corpus' and
/// benchmarks' bodies need at most 1,465 writes, 7.8 per instruction (ARCHITECTURE.md, *The
/// compiled tier*).
pub fn exit_write_budget(len: u32) -> usize {
    (4_096 + 24 * len as usize).min(24_576)
}

/// The register writes past which a body of `len` bytecode instructions is compiled with its
/// registers written through to their slots ([`Emitter::write_through`]): 512 plus 2 per
/// instruction, so that the exit code of all bodies together stays linear in the program.
/// Below it, unboxed registers live in machine registers and the side exits box them; above
/// it, that exit code would dominate compile time (the register allocator's work grows with
/// every value live into an exit), so each definition stores its value instead and the exits
/// write nothing. The constant is for small bodies with hot loops: an insertion sort's main
/// (`benches/peers/isort.mdasm`, 45 instructions, a dozen live ints across its guards) needs
/// more than the 154 writes 64 plus 2 per instruction allowed, and written through (stores at
/// every definition, and the single-pass register allocator) it ran 4.5 times slower. A larger per-instruction factor is what costs:
/// 8 per instruction made 250 bodies of 500 instructions (8 registers live across every
/// guard) compile in 5.4 s instead of 1.5 s.
pub fn write_through_threshold(len: u32) -> usize {
    512 + 2 * len as usize
}

/// Why one attempt at building a function stopped.
enum Attempt {
    /// Its side exits need more register writes than the attempt allowed.
    TooManyWrites(usize),
    /// Any other failure.
    Failed(CompileError),
}

/// Builds the CLIF function for `req` into `func`; returns whether its registers are written
/// through ([`write_through_threshold`]).
///
/// Errors: [`CompileError::Failed`] for an empty body or an OSR header that is not a block
/// start of the body; [`CompileError::OverBudget`] for a body over [`MAX_BODY_INSTRUCTIONS`] or
/// whose side exits need more than [`exit_write_budget`] register writes (`fctx` is reset then).
pub(crate) fn build_function(
    req: &Request<'_>,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    call_conv: CallConv,
    ptr: Type,
    frontend: TargetFrontendConfig,
) -> Result<bool, CompileError> {
    let program = req.program;
    let lb = &program.layout.bodies[req.body as usize];
    let len = lb.end - lb.start;
    if len > MAX_BODY_INSTRUCTIONS {
        return Err(CompileError::OverBudget(format!("{len} instructions (at most {MAX_BODY_INSTRUCTIONS})")));
    }
    if lb.start == lb.end {
        return Err(CompileError::Failed("empty body".into()));
    }
    // First with unboxed registers in machine registers; written through when their exits
    // would write too many (the attempt stops as soon as they do).
    let attempts: &[(bool, usize)] = if req.write_through {
        &[(true, exit_write_budget(len))]
    } else {
        &[(false, write_through_threshold(len)), (true, exit_write_budget(len))]
    };
    let mut allowed = 0;
    for &(write_through, budget) in attempts {
        match build_attempt(req, func, fctx, call_conv, ptr, frontend, write_through, budget) {
            Ok(()) => return Ok(write_through),
            Err(Attempt::Failed(e)) => return Err(e),
            Err(Attempt::TooManyWrites(writes)) => {
                // The builder stopped part way: the next attempt starts from a fresh context.
                *fctx = FunctionBuilderContext::new();
                func.clear();
                allowed = writes;
            }
        }
    }
    Err(CompileError::OverBudget(format!("side exits need more than {allowed} register writes in {len} instructions")))
}

/// One attempt at [`build_function`]: with registers written through or not, stopping once
/// the side exits need more than `budget` register writes.
#[allow(clippy::too_many_arguments)]
fn build_attempt(
    req: &Request<'_>,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    call_conv: CallConv,
    ptr: Type,
    frontend: TargetFrontendConfig,
    write_through: bool,
    budget: usize,
) -> Result<(), Attempt> {
    let program = req.program;
    let lb = &program.layout.bodies[req.body as usize];
    let mut s = Speculation::new(Planner::new(program, req.feedback, req.body, req.generic).with_form_misses(req.form_misses), req.body);
    let nregs = s.nregs;
    let params = match req.entry {
        Entry::Typed { .. } | Entry::Generic { .. } => typed_params(program, req.feedback, req.body, req.generic),
        Entry::Osr { .. } => Vec::new(),
    };
    let mut osr_guards = Vec::new();
    let mut osr_alone = Vec::new();
    let (entry_blk, entry_state, entry_pred) = match req.entry {
        Entry::Typed { .. } | Entry::Generic { .. } => (0u32, start_state(program, req.body, &params), NO_PRED),
        Entry::Osr { header, latch, tags } => {
            if header < lb.start || header >= lb.end {
                return Err(Attempt::Failed(CompileError::Failed("OSR header outside the body".into())));
            }
            if s.cfg.blocks[s.cfg.block_at(header) as usize].start != header {
                return Err(Attempt::Failed(CompileError::Failed("OSR header is not a block start".into())));
            }
            let (st, guards, alone) = osr_state(&s, header, latch, tags);
            osr_guards = guards;
            osr_alone = alone;
            (s.cfg.block_at(header), st, latch)
        }
    };
    let generic_entry = matches!(req.entry, Entry::Generic { .. });
    if !generic_entry {
        s.analyze(entry_blk, entry_state.clone(), entry_pred);
    }

    func.signature = match req.entry {
        Entry::Typed { .. } => typed_signature(call_conv, &params),
        _ => entry_signature(call_conv),
    };
    func.name = UserFuncName::user(0, req.func);
    declare_alias_regions(func);
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let ctx = b.block_params(entry)[0];
    let base = b.block_params(entry)[1];
    let base_offset = b.ins().imul_imm_s(base, VALUE_SIZE as i64);
    // The frame count: an argument of the typed entry; `ctx.depth` in the others (which are
    // entered from the interpreter, or by a caller that wrote it).
    let (depth, typed_args) = match req.entry {
        Entry::Typed { .. } => (b.block_params(entry)[2], b.block_params(entry)[3..].to_vec()),
        _ => (b.ins().load(types::I64, ctx_flags(), ctx, rt::OFF_DEPTH), Vec::new()),
    };
    let ivars: Vec<Variable> = (0..nregs).map(|_| b.declare_var(types::I64)).collect();
    let fvars: Vec<Variable> = (0..nregs).map(|_| b.declare_var(types::F64)).collect();
    let views: Vec<View> = (0..nregs)
        .map(|_| View { len: b.declare_var(types::I64), kind: b.declare_var(types::I64), data: b.declare_var(ptr), bound: b.declare_var(types::I64) })
        .collect();
    let nblocks = if generic_entry { 0 } else { s.cfg.blocks.len() };
    let blocks = (0..nblocks).map(|_| b.create_block()).collect();
    let lookup_entry = b.declare_var(types::I64);
    let mut g = Emitter {
        s,
        req,
        b,
        ptr,
        ctx,
        base,
        base_offset,
        depth,
        ivars,
        fvars,
        views,
        blocks,
        uncharged_exits: false,
        callees: HashMap::new(),
        helpers: HashMap::new(),
        entry_sig: None,
        ranges: Facts::top(nregs),
        counted: Vec::new(),
        unchecked_updates: HashSet::new(),
        entering_osr: false,
        write_through,
        slot_tags: vec![None; nregs],
        exits: ExitTable::new(budget),
        segment_memo: std::cell::Cell::new((0, 0)),
        lookup: None,
        lookup_made: None,
        lookup_entry,
        edge_lookups: vec![Vec::new(); nblocks],
    };
    match req.entry {
        Entry::Generic { fast } => enter_generic(&mut g, fast, &params, call_conv),
        Entry::Typed { generic } => {
            g.plan_counted_loops(entry_blk);
            prologue(&mut g, Some(TypedArrival { generic, params: &params, values: &typed_args }));
            let mut next = typed_args.iter();
            for &(r, t) in &params {
                match t {
                    Tag::Empty => {}
                    Tag::Float => g.b.def_var(g.fvars[r as usize], *next.next().expect("typed argument")),
                    _ => g.b.def_var(g.ivars[r as usize], *next.next().expect("typed argument")),
                }
                g.write_through_def(r, entry_state[r as usize]);
            }
            // A function entry is a safepoint (recursion without loops stays interruptible);
            // its exit resumes at the body's start, where nothing has been charged yet.
            let start = g.s.cfg.start;
            let live = g.s.live_in(start);
            g.uncharged_exits = true;
            g.safepoint(start, NO_PRED, &entry_state, live);
            g.uncharged_exits = false;
            // Charges the first segment (no phi of the entry block can match: the entry has
            // no predecessor).
            g.emit_edge(entry_state, entry_blk, entry_pred);
            g.emit_body();
        }
        Entry::Osr { header, latch, .. } => {
            g.plan_counted_loops(entry_blk);
            prologue(&mut g, None);
            enter_osr(&mut g, header, latch, &entry_state, &osr_guards, &osr_alone);
            g.entering_osr = true;
            g.emit_edge(entry_state, entry_blk, entry_pred);
            g.entering_osr = false;
            g.emit_body();
        }
    }
    if let Some(writes) = g.exits.over_budget() {
        return Err(Attempt::TooManyWrites(writes));
    }
    g.b.seal_all_blocks();
    g.b.finalize(frontend);
    Ok(())
}

/// The generic entry: guards the typed parameters in their slots (nothing charged yet: the
/// typed entry charges the first segment; a failure side-exits to the body's start, which
/// runs in the interpreter), unboxes them, empties their slots and calls the typed entry.
fn enter_generic(g: &mut Emitter<'_, '_, '_>, fast: u32, params: &[(u8, Tag)], call_conv: CallConv) {
    let start = g.s.cfg.start;
    let live = g.s.live_in(start);
    let st: State = vec![Reg::MEM; g.s.nregs];
    let at = At { pc: start, before: &st, live };
    g.uncharged_exits = true;
    let (ctx, base, depth) = (g.ctx, g.base, g.depth);
    let mut args = vec![ctx, base, depth];
    for &(r, t) in params {
        let v = g.guard_unbox(&at, r, t, GuardSlot::Entry);
        if t != Tag::Empty {
            args.push(v);
        }
    }
    for &(r, t) in params {
        if t != Tag::Empty {
            g.store_tag(r, Tag::Empty);
        }
    }
    let fref = import_function(g.b.func, fast, typed_signature(call_conv, params), true);
    let call = g.b.ins().call(fref, &args);
    let res = g.b.inst_results(call).to_vec();
    // The typed entry leaves `ctx.depth` as its deepest callee wrote it: restore it for the
    // caller (the interpreter counts frames there).
    g.store_depth(depth);
    g.b.ins().return_(&res);
    g.emit_exits();
}

/// What the typed and OSR entries do first. A body with calls writes callee windows at
/// `base + nregs`: the value stack must hold them (it only grows, so one check here covers
/// every call of this activation), and a typed entry (`typed`) moves to a new native stack
/// segment when little is left of this one.
/// Then every variable starts defined (the analysis never reads one before a definition).
/// What a typed entry received: its generic entry (a function id of the JIT module), its typed
/// parameters and their values.
struct TypedArrival<'v> {
    generic: u32,
    params: &'v [(u8, Tag)],
    values: &'v [cranelift_codegen::ir::Value],
}

fn prologue(g: &mut Emitter<'_, '_, '_>, typed: Option<TypedArrival<'_>>) {
    let m = g.s.m;
    let has_calls = (g.s.cfg.start..g.s.cfg.end).any(|i| matches!(m.code[i as usize], Instr::CallR { .. }));
    if has_calls {
        if let Some(t) = typed {
            g.switch_stack_if_low(t.generic, t.params, t.values);
        }
        let need = g.b.ins().iadd_imm_s(g.base, (g.s.nregs + WINDOW_SLOTS) as i64);
        let len = g.b.ins().load(types::I64, ctx_flags(), g.ctx, rt::OFF_STACK_LEN);
        let short = g.b.ins().icmp(IntCC::UnsignedGreaterThan, need, len);
        let ready = g.cold_if(short);
        let ctx = g.ctx;
        g.call_helper(Helper::Reserve, &[ctx, need]);
        g.b.ins().jump(ready, &[]);
        g.resume_at(ready);
    }
    let zero = g.b.ins().iconst(types::I64, 0);
    let fzero = g.b.ins().f64const(0.0);
    for r in 0..g.s.nregs {
        g.b.def_var(g.ivars[r], zero);
        g.b.def_var(g.fvars[r], fzero);
        let v = g.views[r];
        for var in [v.len, v.kind, v.data, v.bound] {
            g.b.def_var(var, zero);
        }
    }
}

/// The OSR entry: releases the registers dead at the header, then guards each register of
/// `guards` to hold its type now (nothing charged yet: exits refund nothing; a failure resumes
/// the interpreter at the header, entered from `latch`, with the frame as it is, dead registers
/// emptied). A register whose every definition loads one constant holds that constant (it is
/// live here, so it was defined): the loop sees the value, not a load. Each register of
/// `alone` is guarded to hold an array with a strong count of 1
/// ([`mdvm_runtime::native::DeoptReason::SharedArray`]).
fn enter_osr(g: &mut Emitter<'_, '_, '_>, header: u32, latch: u32, entry_state: &State, guards: &[(u8, Tag)], alone: &[u8]) {
    let live = g.s.live_in(header);
    let mut st = entry_state.clone();
    for &(r, _) in guards {
        st[r as usize] = Reg::MEM;
    }
    // Registers dead at the header are released first: a release is a call, which clobbers
    // every float register, and an unboxed float guarded before it would live across it (the
    // register allocator then kept the loop's float in a stack slot).
    for r in (0..g.s.nregs).map(|r| r as u8) {
        if !live.contains(r) {
            g.release_slot(r);
        }
    }
    g.uncharged_exits = true;
    for &(r, t) in guards {
        let v = g.check_and_unbox(r, t, header, latch, &st, live);
        let v = match (t, g.s.consts[r as usize].map(|k| &g.s.m.constants[k as usize])) {
            (Tag::Int, Some(&Constant::Int(c))) => g.iconst(c),
            (Tag::Bool, Some(&Constant::Bool(c))) => g.iconst(c as i64),
            (Tag::Float, Some(&Constant::Float(c))) => g.b.ins().f64const(c),
            _ => v,
        };
        match t {
            Tag::Float => g.b.def_var(g.fvars[r as usize], v),
            // A callee name: the state knows it ([`osr_state`]).
            Tag::Empty | Tag::Str => {}
            _ => g.b.def_var(g.ivars[r as usize], v),
        }
    }
    if let Some(layout) = mdvm_runtime::value::array_layout() {
        // One exit for all: the interpreter resumes at the header either way.
        let snap = g.snapshot(header, latch, mdvm_runtime::native::DeoptReason::SharedArray, &st, live);
        for &r in alone {
            let tag = g.load_tag(r);
            let other = g.b.ins().icmp_imm_u(IntCC::NotEqual, tag, Tag::Array as i64);
            g.side_exit_if(other, snap.clone());
            let a = g.load_payload(r);
            let strong = g.b.ins().load(types::I64, crate::lower::frame::flags(), a, layout.strong);
            let shared = g.b.ins().icmp_imm_u(IntCC::NotEqual, strong, 1);
            g.side_exit_if(shared, snap.clone());
        }
    }
    g.uncharged_exits = false;
}
