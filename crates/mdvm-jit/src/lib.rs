//! # mdvm-jit: the Cranelift tier
//!
//! Compiles a body of a verified program (or an OSR entry into one of its loops) to native
//! code for the host (x86-64, aarch64, through `cranelift-native`), specialised to the value
//! types the interpreter's feedback saw; a failed guard side-exits to the interpreter at the
//! same instruction with the same frame.
//!
//! **Where each concern lives.** `analysis/` holds the bytecode analyses, which depend on
//! `mdbc` alone: operator classification (`ops`), single-constant registers (`constants`), int
//! ranges (`ranges`), counted loops (`counted`) and fuel segments (`fuel`); natural loops are
//! in `mdbc::cfg`. `spec/` is speculation: the frame state lattice (`state`), the plan for
//! each instruction from state and feedback (`plan`), the one transfer function that both the
//! type analysis and the code generator move their state through (`transfer`), and the
//! forward analysis of block head states (`dataflow`). `lower/` emits CLIF by instruction
//! group: arithmetic (`arith`), arrays (`arrays`), calls and the native stack (`calls`), the
//! generic path through the interpreter's semantics (`generic`), frame slots and returns
//! (`frame`), guards, snapshots and side exits (`exits`: every exit is a cold block after the
//! body, shared by guards with equal snapshots), fuel and counted-loop checks (`loops`), and
//! the block walk with edges and phis (`lower/mod.rs`). `entries.rs` builds the typed, generic
//! and OSR entries with their shared prologue. `helpers.rs` imports the runtime's helpers by
//! name from the one list the runtime keeps (`mdvm_runtime::helpers::Helper`). `lib.rs` is
//! the tier itself: the JIT module, compile requests, the code cache, deopt counting and
//! recompilation, and `MDVM_JIT_DUMP`.
//!
//! The code itself:
//!
//! * ints, floats and bools stay unboxed in CLIF variables; checked int arithmetic uses the
//!   overflow-reporting instructions, except where the int range analysis rules overflow out
//!   or reduces the check to one comparison, and inside counted loops, whose accumulators'
//!   checks move to one trip-count bound check at the loop's entry
//!   (`DeoptReason::LoopBound` when it fails; the header is then recompiled without the plan);
//! * array reads and lengths are machine code through the array's view (length, form,
//!   element address and count), guarded once per view; element writes of unboxed values go
//!   through one small helper;
//! * everything else (strings, dicts, printing, generic arithmetic) calls runtime helpers that
//!   execute the instruction with the interpreter's own semantics;
//! * calls to compiled callees go to their typed entry directly or through the per-body entry
//!   table, others into the interpreter; every call counts toward the depth limit, and when
//!   metered every block charges its instruction count to the fuel budget.
//!
//! [`CraneliftTier`] implements the runtime's [`CompiledTier`] interface; the runtime decides
//! when to compile (see `TierPolicy`). Setting `MDVM_JIT_DUMP` prints the CLIF and machine code
//! of everything compiled, with the JIT module's functions and the helpers named.

mod analysis;
mod entries;
mod helpers;
mod lower;
mod spec;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{isa::OwnedTargetIsa, Context};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{ArenaMemoryProvider, JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module, ModuleReloc};
use mdvm_runtime::feedback::Feedback;
use mdvm_runtime::native::{CompiledTier, DeoptReason, NativeEntry, TierStats};
use mdvm_runtime::program::Program;
use mdvm_runtime::value::Tag;

/// Options of the compiled tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JitOptions {
    /// Charge executed instructions to the fuel budget (needed when the run is metered).
    pub metered: bool,
    /// Every guard takes its side exit the first time it runs (tests of the deopt paths).
    pub stress_deopt: bool,
    /// Misspeculation side exits of one body after which its code is discarded and the body
    /// recompiled with the failing sites generic.
    pub deopt_limit: u32,
    /// The address of the machine's interrupt word
    /// ([`mdvm_runtime::InterruptHandle::flag_address`]), which compiled code tests at every
    /// loop back-edge and function entry; 0 for code without safepoints (it then cannot be
    /// interrupted). It must stay valid as long as the tier's code runs.
    pub interrupt_flag: usize,
    /// Compile every body with its registers written through to their slots, as bodies past
    /// [`entries::write_through_threshold`] are (tests of that code: with
    /// [`JitOptions::stress_deopt`] every side exit of it runs).
    pub write_through: bool,
    /// After every call, test whether a debugger pinned the body to the interpreter, and
    /// side-exit if so ([`CompiledTier::enable_debug_checks`]).
    pub debug_checks: bool,
}

impl Default for JitOptions {
    fn default() -> Self {
        JitOptions { metered: false, stress_deopt: false, deopt_limit: 4, interrupt_flag: 0, write_through: false, debug_checks: false }
    }
}

/// Discards of one body after which it is not compiled again (each recompilation makes the
/// failing sites generic, so this only bounds pathological cases).
pub const MAX_RECOMPILES: u32 = 8;

/// Why a body could not be compiled.
#[derive(Debug)]
pub enum CompileError {
    /// The compiler failed; the message says why (counted in `TierStats::compile_failures`).
    Failed(String),
    /// The body is over the compile budget ([`entries::MAX_BODY_INSTRUCTIONS`], or more side-exit
    /// code than [`entries::exit_write_budget`] allows): it stays in the interpreter (counted in
    /// `TierStats::over_budget`, and never tried again).
    OverBudget(String),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::Failed(m) => f.write_str(m),
            CompileError::OverBudget(m) => write!(f, "over the compile budget: {m}"),
        }
    }
}

/// The Cranelift tier: owns the code it compiled (freed when the tier is dropped).
///
/// Set the environment variable `MDVM_JIT_DUMP` to print the CLIF and machine code of every
/// compiled function to stderr, and `MDVM_JIT_CODE_DIR` to a directory to write each compiled
/// function's machine code there as `NAME.bin` (raw bytes, calls not yet relocated), for
/// `objdump -b binary` and `scripts/jit-annotate.sh`.
pub struct CraneliftTier {
    /// Bytes of machine code defined by the compile in progress (for the `tiers` trace).
    code_bytes: usize,
    /// Taken only by `Drop`, which frees the code.
    module: std::mem::ManuallyDrop<JITModule>,
    ctx: Context,
    fctx: FunctionBuilderContext,
    options: JitOptions,
    stats: TierStats,
    /// Misspeculation deopts per body since its last compilation.
    deopts: HashMap<u32, u32>,
    /// Times each body was discarded; past [`MAX_RECOMPILES`] it stays in the interpreter.
    recompiles: HashMap<u32, u32>,
    /// Bytecode sites (body, index) that compile generically after misspeculating.
    generic: HashSet<(u32, u32)>,
    /// Loop headers (body, index) whose trip-count guard failed ([`DeoptReason::LoopBound`]):
    /// their accumulators keep a check per iteration.
    unbounded_loops: HashSet<(u32, u32)>,
    /// Array sites (body, index) whose form guard failed once ([`DeoptReason::ArrayKind`]):
    /// the array they operate on gets no form guard on its view, and its element reads handle
    /// both the packed form and values. A second failure makes the site generic.
    form_misses: HashSet<(u32, u32)>,
    /// Array and dict reads (body, index) last compiled before they ever ran
    /// ([`spec::plan::unseen_reads`]): their first guard failure recompiles them with
    /// the feedback the interpreter then records, instead of making them generic.
    guessed: HashSet<(u32, u32)>,
    /// Bodies over the compile budget: they stay in the interpreter.
    over_budget: HashSet<u32>,
    /// Per body, whether it jumps out of its own range ([`leaves_its_range`]): such a body
    /// gets no OSR entries.
    leaves_range: HashMap<u32, bool>,
    /// OSR entries by (body, header, latch) internal indices.
    osr: HashMap<(u32, u32, u32), NativeEntry>,
    /// Typed entry of each body's current code, called directly by compiled callers.
    typed: HashMap<u32, entries::TypedEntry>,
    /// The JIT module's function id of each runtime helper ([`helpers::declare_helpers`]).
    helper_ids: Vec<u32>,
    next_name: u64,
    /// The host ISA with the single-pass register allocator, for written-through bodies.
    linear_isa: OwnedTargetIsa,
}

/// Address space reserved for one tier's compiled code (pages are committed as code is
/// written): the reach of a direct call on aarch64, so every call between compiled functions
/// stays in range. A function that no longer fits is a compile failure and stays interpreted.
pub const CODE_ARENA_BYTES: usize = 128 << 20;

/// Bodies longer than this many instructions do not leave their compile buffers in the tier's
/// Cranelift context for the next compile. After a main of 7,000 instructions the retained
/// buffers held 150 MB for the rest of the run; a body of this size needs a few MB.
const RETAINED_CONTEXT_MAX_INSTRUCTIONS: u32 = 1_000;

/// The host's ISA. `regalloc` names Cranelift's register allocator: `backtracking` (better
/// code) for every body, `single_pass` (faster) for the bodies whose registers are written
/// through ([`entries::write_through_threshold`]), whose values mostly live from a definition
/// to its store, up to [`entries::SINGLE_PASS_MAX_INSTRUCTIONS`].
fn host_isa(regalloc: &str) -> Result<OwnedTargetIsa, String> {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").map_err(|e| e.to_string())?;
    flags.set("regalloc_algorithm", regalloc).map_err(|e| e.to_string())?;
    flags.set("is_pic", "false").map_err(|e| e.to_string())?;
    // Cranelift's IR verifier costs about a tenth of compile time: debug builds keep it.
    flags.set("enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" }).map_err(|e| e.to_string())?;
    let isa_builder = cranelift_native::builder().map_err(|e| e.to_string())?;
    isa_builder.finish(settings::Flags::new(flags)).map_err(|e| e.to_string())
}

impl CraneliftTier {
    /// A tier for the host machine.
    ///
    /// Errors: the host is not a target Cranelift supports.
    pub fn new(options: JitOptions) -> Result<CraneliftTier, CompileError> {
        let isa = host_isa("backtracking").map_err(CompileError::Failed)?;
        let linear_isa = host_isa("single_pass").map_err(CompileError::Failed)?;
        let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
        // Compiled functions call each other directly, pc-relative (`colocated`): within
        // +-2 GiB on x86-64 and +-128 MiB on aarch64. The system provider maps each piece of
        // code wherever `mmap` puts it, which can be farther (under ASan a third of runs were),
        // so all code goes to one reserved range of that size, committed as it fills.
        let arena = ArenaMemoryProvider::new_with_size(CODE_ARENA_BYTES).map_err(|e| {
            CompileError::Failed(format!("cannot reserve {} MiB of address space for compiled code: {e}", CODE_ARENA_BYTES >> 20))
        })?;
        builder.memory_provider(Box::new(arena));
        helpers::register_symbols(&mut builder);
        let mut module = JITModule::new(builder);
        let helper_ids = helpers::declare_helpers(&mut module).map_err(CompileError::Failed)?;
        Ok(CraneliftTier {
            code_bytes: 0,
            linear_isa,
            helper_ids,
            ctx: module.make_context(),
            module: std::mem::ManuallyDrop::new(module),
            fctx: FunctionBuilderContext::new(),
            options,
            stats: TierStats::default(),
            deopts: HashMap::new(),
            recompiles: HashMap::new(),
            generic: HashSet::new(),
            unbounded_loops: HashSet::new(),
            form_misses: HashSet::new(),
            guessed: HashSet::new(),
            over_budget: HashSet::new(),
            leaves_range: HashMap::new(),
            osr: HashMap::new(),
            typed: HashMap::new(),
            next_name: 0,
        })
    }

    /// The target triple code is compiled for.
    pub fn target(&self) -> String {
        self.module.isa().triple().to_string()
    }

    /// Compiles, turning any panic inside the compiler into a compile failure: the body then
    /// stays in the interpreter instead of ending the process.
    fn build(
        &mut self,
        program: &Program,
        feedback: &Feedback,
        body: u32,
        osr: Option<(u32, u32, &[Tag])>,
    ) -> Result<NativeEntry, CompileError> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.build_inner(program, feedback, body, osr))) {
            Ok(r) => r,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                // Start the next compilation from a clean context. (A panic inside
                // `build_inner` loses the typed entries it had taken out: later callers then
                // call through the entry table, which is correct, only slower.)
                self.ctx = self.module.make_context();
                self.fctx = FunctionBuilderContext::new();
                Err(CompileError::Failed(format!("compiler panicked: {what}")))
            }
        }
    }

    /// Builds the entry `entry` of `body` into a new function of the module named `name` with
    /// signature `sig` (declared first when `id` is `None`), and defines it.
    #[allow(clippy::too_many_arguments)]
    fn define(
        &mut self,
        program: &Program,
        feedback: &Feedback,
        body: u32,
        entry: entries::Entry<'_>,
        sites: &BodySites,
        typed: &HashMap<u32, entries::TypedEntry>,
        id: FuncId,
    ) -> Result<(), CompileError> {
        self.module.clear_context(&mut self.ctx);
        let call_conv = self.module.isa().default_call_conv();
        let pointer_type = self.module.isa().pointer_type();
        let write_through = entries::build_function(
            &entries::Request {
                func: id.as_u32(),
                program,
                feedback,
                body,
                entry,
                typed,
                generic: &sites.generic,
                unbounded_loops: &sites.unbounded_loops,
                form_misses: &sites.form_misses,
                stress: self.options.stress_deopt,
                write_through: self.options.write_through,
                metered: self.options.metered,
                interrupt_flag: self.options.interrupt_flag,
                debug_checks: self.options.debug_checks,
                helper_ids: &self.helper_ids,
            },
            &mut self.ctx.func,
            &mut self.fctx,
            call_conv,
            pointer_type,
            self.module.isa().frontend_config(),
        )?;
        let dump = std::env::var_os("MDVM_JIT_DUMP").is_some();
        let name = self.function_name(id.as_u32()).unwrap_or_default();
        let clif = if dump {
            self.ctx.set_disasm(true);
            let text = self.ctx.func.display().to_string();
            Some(helpers::name_functions(&text, &self.ctx.func, &|f| self.function_name(f)))
        } else {
            None
        };
        let len = program.layout.bodies[body as usize].end - program.layout.bodies[body as usize].start;
        if write_through {
            self.stats.written_through += 1;
        }
        if write_through && len <= entries::SINGLE_PASS_MAX_INSTRUCTIONS {
            self.define_linear(id)?;
        } else {
            self.module.define_function(id, &mut self.ctx).map_err(|e| CompileError::Failed(format!("{e:?}")))?;
        }
        if let Some(c) = self.ctx.compiled_code() {
            self.code_bytes += c.code_buffer().len();
            if let Some(dir) = std::env::var_os("MDVM_JIT_CODE_DIR") {
                // For profiling: the bytes at the address `perf` maps the name to, but for
                // the relocated calls' targets (`scripts/jit-annotate.sh`). A write that fails
                // is reported and does not stop the compile.
                let path = std::path::Path::new(&dir).join(format!("{name}.bin"));
                if let Err(e) = std::fs::write(&path, c.code_buffer()) {
                    eprintln!("mdvm: cannot write {}: {e}", path.display());
                }
            }
        }
        if let Some(clif) = clif {
            eprintln!("; ---- CLIF of body {body}: {name} ----\n{clif}");
            if let Some(code) = self.ctx.compiled_code() {
                let vcode = code.vcode.clone().unwrap_or_default();
                let vcode = helpers::name_functions(&vcode, &self.ctx.func, &|f| self.function_name(f));
                eprintln!("; ---- machine code of {name} ----\n{vcode}");
            }
        }
        if len > RETAINED_CONTEXT_MAX_INSTRUCTIONS {
            // The context keeps the capacity of the largest function it compiled (the
            // allocator's tables above all): after a long body, start afresh so that the
            // memory goes back instead of staying for the rest of the run.
            self.ctx = self.module.make_context();
            self.fctx = FunctionBuilderContext::new();
        } else {
            self.module.clear_context(&mut self.ctx);
        }
        Ok(())
    }

    /// Compiles the function in the context with the single-pass register allocator and
    /// defines it as function `id` of the module (what `define_function` does with the
    /// module's own ISA).
    fn define_linear(&mut self, id: FuncId) -> Result<(), CompileError> {
        let alignment = {
            let mut plane = cranelift_codegen::control::ControlPlane::default();
            let res = self.ctx.compile(&*self.linear_isa, &mut plane).map_err(|e| CompileError::Failed(format!("{:?}", e.inner)))?;
            res.buffer.alignment as u64
        };
        let code = self.ctx.compiled_code().ok_or_else(|| CompileError::Failed("no compiled code".into()))?;
        let relocs: Vec<ModuleReloc> =
            code.buffer.relocs().iter().map(|r| ModuleReloc::from_mach_reloc(r, &self.ctx.func, id)).collect();
        let bytes = code.code_buffer().to_vec();
        self.module.define_function_bytes(id, alignment, &bytes, &relocs).map_err(|e| CompileError::Failed(format!("{e:?}")))
    }

    /// The name of function `id` of the JIT module (a helper's, or `mdvm_bodyB_KINDn`).
    fn function_name(&self, id: u32) -> Option<String> {
        self.module.declarations().get_function_decl(FuncId::from_u32(id)).name.clone()
    }

    fn declare(&mut self, what: &str, body: u32, sig: &cranelift_codegen::ir::Signature) -> Result<FuncId, CompileError> {
        self.next_name += 1;
        let name = format!("mdvm_body{body}_{what}{}", self.next_name);
        self.module.declare_function(&name, Linkage::Local, sig).map_err(|e| CompileError::Failed(e.to_string()))
    }

    fn build_inner(
        &mut self,
        program: &Program,
        feedback: &Feedback,
        body: u32,
        osr: Option<(u32, u32, &[Tag])>,
    ) -> Result<NativeEntry, CompileError> {
        let started = Instant::now();
        let sites = BodySites {
            generic: sites_in(&self.generic, body),
            unbounded_loops: sites_in(&self.unbounded_loops, body),
            form_misses: sites_in(&self.form_misses, body),
        };
        self.guessed.retain(|&(b, _)| b != body);
        self.guessed.extend(spec::plan::unseen_reads(program, feedback, body).into_iter().map(|pc| (body, pc)));
        let call_conv = self.module.isa().default_call_conv();
        let entry_sig = entries::entry_signature(call_conv);
        // The typed entries are taken out of `self` while `define` borrows it (not cloned: a
        // clone per compile made compiling n bodies quadratic) and put back whatever happens.
        let mut typed = std::mem::take(&mut self.typed);
        let defined = match osr {
            Some((header, latch, tags)) => self.declare("osr", body, &entry_sig).and_then(|id| {
                self.define(program, feedback, body, entries::Entry::Osr { header, latch, tags }, &sites, &typed, id)
                    .map(|()| (id, None))
            }),
            None => {
                // The typed entry (which calls itself directly) and the generic entry that
                // guards and unboxes the parameters for it. The body's entry is in `typed`
                // while they are built (its self-calls are direct) and stays only if both are.
                let params = spec::plan::typed_params(program, feedback, body, &sites.generic);
                let declared = self
                    .declare("typed", body, &entries::typed_signature(call_conv, &params))
                    .and_then(|fast| Ok((fast, self.declare("entry", body, &entry_sig)?)));
                declared.and_then(|(fast, id)| {
                    let new = entries::TypedEntry { func: fast.as_u32(), generic: id.as_u32(), params };
                    let previous = typed.insert(body, new);
                    let both = self
                        .define(program, feedback, body, entries::Entry::Typed { generic: id.as_u32() }, &sites, &typed, fast)
                        .and_then(|()| {
                            self.define(program, feedback, body, entries::Entry::Generic { fast: fast.as_u32() }, &sites, &typed, id)
                        });
                    match both {
                        Ok(()) => Ok((id, previous)),
                        Err(e) => {
                            match previous {
                                Some(p) => typed.insert(body, p),
                                None => typed.remove(&body),
                            };
                            Err(e)
                        }
                    }
                })
                .map(|(id, previous)| (id, Some(previous)))
            }
        };
        let (id, previous) = match defined {
            Ok(d) => d,
            Err(e) => {
                self.typed = typed;
                return Err(e);
            }
        };
        if let Err(e) = self.module.finalize_definitions() {
            // The new entries' code is not usable: the body keeps its previous typed entry.
            if let Some(previous) = previous {
                match previous {
                    Some(p) => typed.insert(body, p),
                    None => typed.remove(&body),
                };
            }
            self.typed = typed;
            return Err(CompileError::Failed(e.to_string()));
        }
        self.typed = typed;
        let code = self.module.get_finalized_function(id);
        self.stats.compile_nanos += started.elapsed().as_nanos() as u64;
        // SAFETY: the function was built with the `NativeEntry` signature (ctx, base) ->
        // (tag, payload) in the host's default calling convention, which is the C ABI of
        // `NativeEntry` on the supported hosts (two integer results in two registers).
        Ok(unsafe { std::mem::transmute::<*const u8, NativeEntry>(code) })
    }
}

impl CraneliftTier {
    /// Counts a compile that did not produce code: a body over the budget is not tried again.
    fn note_failure(&mut self, body: u32, e: CompileError) {
        match e {
            CompileError::OverBudget(_) => {
                self.stats.over_budget += 1;
                self.over_budget.insert(body);
            }
            CompileError::Failed(m) => {
                self.stats.compile_failures += 1;
                self.stats.last_failure = Some(m);
            }
        }
    }
}

/// What the deopts of one body taught its next compile: bytecode indices of the body.
struct BodySites {
    /// Sites compiled without speculation ([`CraneliftTier::generic`]).
    generic: HashSet<u32>,
    /// Loop headers without a trip-count guard ([`CraneliftTier::unbounded_loops`]).
    unbounded_loops: HashSet<u32>,
    /// Array sites whose form guard failed ([`CraneliftTier::form_misses`]).
    form_misses: HashSet<u32>,
}

/// The bytecode indices of the (body, index) sites in `sites` that belong to `body`.
fn sites_in(sites: &HashSet<(u32, u32)>, body: u32) -> HashSet<u32> {
    sites.iter().filter(|(b, _)| *b == body).map(|(_, pc)| *pc).collect()
}

impl Drop for CraneliftTier {
    /// Frees the compiled code, so that a process creating many VMs does not grow.
    fn drop(&mut self) {
        // SAFETY: the module is taken once, here, and not used again. Its code is freed: no
        // code of it runs now or later, because the tier's owner (the machine) calls native
        // entries only through itself, and drops the tier only when it is dropped, after
        // every run has returned; the entry pointers it keeps are never called after that.
        unsafe {
            let module = std::mem::ManuallyDrop::take(&mut self.module);
            module.free_memory();
        }
    }
}

impl CompiledTier for CraneliftTier {
    fn compile(&mut self, program: &Program, feedback: &Feedback, body: u32) -> Option<NativeEntry> {
        if self.recompiles.get(&body).copied().unwrap_or(0) > MAX_RECOMPILES {
            return None;
        }
        if self.over_budget.contains(&body) {
            return None;
        }
        let started = std::time::Instant::now();
        self.code_bytes = 0;
        match self.build(program, feedback, body, None) {
            Ok(e) => {
                self.stats.functions_compiled += 1;
                self.deopts.insert(body, 0);
                tracing::debug!(
                    target: "mdvm::tiers",
                    function = program.body_name(body),
                    micros = started.elapsed().as_micros() as u64,
                    code_bytes = self.code_bytes,
                    recompilation = self.recompiles.get(&body).copied().unwrap_or(0),
                    "compiled"
                );
                Some(e)
            }
            Err(e) => {
                tracing::debug!(target: "mdvm::tiers", function = program.body_name(body), reason = ?e, "not compiled");
                self.note_failure(body, e);
                None
            }
        }
    }

    fn compile_osr(
        &mut self,
        program: &Program,
        feedback: &Feedback,
        body: u32,
        header: u32,
        latch: u32,
        frame: &[Tag],
    ) -> Option<NativeEntry> {
        if let Some(&e) = self.osr.get(&(body, header, latch)) {
            return Some(e);
        }
        if self.recompiles.get(&body).copied().unwrap_or(0) > MAX_RECOMPILES {
            return None;
        }
        let b = &program.bodies[body as usize];
        // A loop in another function's range, run in this frame after a jump there, is left to
        // the interpreter (the body's code is its own range).
        if !(b.code_start..b.code_end).contains(&header) || !(b.code_start..b.code_end).contains(&latch) {
            return None;
        }
        let header_bc = b.bc_start + (header - b.code_start);
        let latch_bc = b.bc_start + (latch - b.code_start);
        if self.over_budget.contains(&body) {
            return None;
        }
        // The analyses an OSR entry relies on (single constants, int ranges) hold on every path
        // from the body's start through its own code. A frame that left the range by a jump
        // may come back into it from the other range's code with values those paths never
        // make: such bodies are compiled only from their entry.
        if *self.leaves_range.entry(body).or_insert_with(|| leaves_its_range(program, body)) {
            return None;
        }
        let started = std::time::Instant::now();
        self.code_bytes = 0;
        match self.build(program, feedback, body, Some((header_bc, latch_bc, frame))) {
            Ok(e) => {
                tracing::debug!(
                    target: "mdvm::tiers",
                    function = program.body_name(body),
                    header = header_bc,
                    micros = started.elapsed().as_micros() as u64,
                    code_bytes = self.code_bytes,
                    "compiled for OSR"
                );
                self.stats.osr_compiled += 1;
                self.osr.insert((body, header, latch), e);
                Some(e)
            }
            Err(e) => {
                tracing::debug!(target: "mdvm::tiers", function = program.body_name(body), reason = ?e, "not compiled");
                self.note_failure(body, e);
                None
            }
        }
    }

    fn note_deopt(&mut self, body: u32, pc: u32, reason: DeoptReason) -> bool {
        if !reason.is_misspeculation() {
            return false;
        }
        if reason == DeoptReason::LoopBound {
            self.unbounded_loops.insert((body, pc));
        } else if self.guessed.remove(&(body, pc)) {
            // A read compiled before it ever ran: its feedback says more now.
        } else if reason == DeoptReason::ArrayKind && self.form_misses.insert((body, pc)) {
            // First miss: recompiled reading the array in either form.
        } else {
            self.generic.insert((body, pc));
        }
        let n = self.deopts.entry(body).or_insert(0);
        *n += 1;
        if *n >= self.options.deopt_limit {
            *n = 0;
            let r = self.recompiles.entry(body).or_insert(0);
            *r += 1;
            self.stats.recompilations += 1;
            true
        } else {
            false
        }
    }

    fn discard(&mut self, body: u32) {
        self.osr.retain(|(b, _, _), _| *b != body);
        // Callers compiled from now on go through the entry table; code already compiled that
        // calls the old typed entry checks the entry table first and goes through it too.
        self.typed.remove(&body);
    }

    fn stats(&self) -> TierStats {
        self.stats.clone()
    }

    fn enable_safepoints(&mut self, flag_address: usize) {
        self.options.interrupt_flag = flag_address;
    }

    fn enable_debug_checks(&mut self) {
        self.options.debug_checks = true;
    }
}

/// True if body `body` of `program` has a jump out of its own range (to before its start or
/// past its end; [`mdbc::cfg::Block::leaves`]).
fn leaves_its_range(program: &Program, body: u32) -> bool {
    let lb = &program.layout.bodies[body as usize];
    (lb.start..lb.end).any(|i| matches!(program.module.code[i as usize].jump_target(i), Some(t) if t < lb.start || t > lb.end))
}
