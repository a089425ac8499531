//! The generator: random **valid** modules from `arbitrary` bytes.
//!
//! Every module [`generate`] returns passes `mdbc::Module::load` (decoder and verifier); that
//! holds by construction, not by filtering. The shape of a program:
//!
//! * a main program and up to four functions `f1`..`f4`. Register `r0` of every body is the
//!   recursion **depth** (main loads a small int into it; every call from a function is guarded
//!   by `r0 > 0` and passes `r0 - 1`), so recursion, mutual recursion included, is bounded;
//! * data registers `r1..=rD` (function parameters are `r1..`), and above them control
//!   registers (loop counters, constants, conditions) that random code never writes;
//! * statements: constants of every type (with edge values: `i64::MAX`, `-0.0`, NaN, `""`,
//!   non-ASCII), every arithmetic, logic, comparison, type, string, array and dict operation,
//!   globals, prints, asserts of the three kinds, calls (sometimes of an undefined name, with
//!   too few or too many arguments), calls of natives ([`NATIVES`]: the pure, deterministic part
//!   of the standard library, on data registers of any type, so their type, index, value and
//!   overflow errors happen too), early returns, `if`, `if`/`else` with phis at the join,
//!   counted loops with header phis or in-place counters, and loops whose exit depends on data
//!   (bounded only by the fuel budget);
//! * deliberate type changes: branches and loop phis give one register values of different
//!   types, so the same instruction (an arithmetic operation, or a native call the compiled
//!   tier may inline) sees an int in one iteration and a float or string in the next, and
//!   compiled code's guards fail and deoptimize;
//! * in a share of modules ([`GenConfig::process_share`], an eighth by default), processes
//!   ([`PROCESS_NATIVES`], ARCHITECTURE.md, *Processes*): the pool holds `"spawn"` (so the
//!   program is prepared for processes), every body keeps one or two control registers that
//!   always hold a pid (main's, or its own, until a `spawn` writes one), and process
//!   statements take a share of the straight-line ones: `p = spawn(f, depth, leaves...)` of a
//!   generated function, by name or function value (depth `r0 - 1` guarded by `r0 > 0` as
//!   for calls, or 0, and only while `process_count()` is below a small bound, so spawns in
//!   loops are bounded by trip counts, fuel and that bound, and spawns in spawned functions
//!   by the recursion depth), sometimes followed by a call while the new process waits to
//!   run; `send` of a leaf to a pid register, `self()` or main; `try_receive`, `self`,
//!   `process_count` into leaves; and now and then `receive`, `wait` (the result into a grown
//!   register) and `link`, which may block, deadlock the run or carry a process's error. Main
//!   often starts with a spawn and a send, functions with a send or a receive, and a
//!   function sometimes ends in `HALT` (which ends the run from any process). Rarely a
//!   spawn names an undefined function or a native, or a pid is a data register (errors).
//!   Other modules are generated exactly as before processes existed.
//!
//! Phi block ids follow ARCHITECTURE.md (*Calls, frames and phis*) exactly: the source for the path
//! through the `then` branch names that branch's final `JUMP_R`, the fall-through path names the
//! instruction just before the join, and a loop header's sources name the instruction before the
//! loop and the back-edge `JUMP_R`. The generator makes sure no other jump enters those blocks
//! (every construct ends with an instruction of its own before a join or header).
//!
//! Growth is bounded: data registers are split into *leaf* registers, whose values stay small
//! (no string concatenation or container nesting writes them), and *grown* registers, which
//! take the results of `ADD_R`, `CONCAT_STR_R`, calls and container building but never feed
//! them again, so no program doubles a string or nests an array once per iteration; memory and
//! output stay linear in the fuel budget. The one accumulation is `xs = push(xs, leaf)` (and
//! `ARRAY_SET_R`) on a grown register: one element per executed call.
//!
//! Small inputs give small programs: statements are drawn while input bytes remain, and an
//! exhausted input ends every body with its epilogue.

use arbitrary::Unstructured;
use mdbc::isa::Instr;
use mdbc::operand::{
    Args, AssertCheck, AssertKind, Const, Dst, Jump, Name, PhiSources, RetVal, ScopeId, Src, TypeId,
    TYPE_UNKNOWN,
};
use mdbc::{Constant, Module};

/// Limits of the generator.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Functions besides the main program (at most 8).
    pub max_functions: u32,
    /// Statements per body, counting nested ones.
    pub max_statements: u32,
    /// Nesting depth of `if` and loops.
    pub max_nesting: u32,
    /// Largest trip count of a counted loop.
    pub max_trip: i64,
    /// Largest recursion depth main starts with.
    pub max_depth: i64,
    /// Which modules use processes, out of 256: those whose input's last byte is below this
    /// (0: none, 256: all). Deciding by the last byte reads no input, so a module without
    /// processes is exactly what the same input gave before processes existed.
    pub process_share: u32,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig { max_functions: 4, max_statements: 40, max_nesting: 3, max_trip: 12, max_depth: 4, process_share: 32 }
    }
}

/// Why no module came out (only for inputs that cannot be laid out, which is rare).
#[derive(Debug)]
pub struct GenError(pub String);

impl std::fmt::Display for GenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "generator: {}", self.0)
    }
}

impl std::error::Error for GenError {}

/// Builds a random valid module from `u` with the default [`GenConfig`].
///
/// Errors: [`GenError`] only if the module cannot be laid out in the frontend's entry
/// convention (never observed; see [`generate_with`]).
pub fn generate(u: &mut Unstructured<'_>) -> Result<Module, GenError> {
    generate_with(u, &GenConfig::default())
}

/// Builds a random valid module from `u` with limits `cfg`.
///
/// Errors: [`GenError`] if `Module::build` cannot represent a function entry even after
/// padding with `NOP`s (dictionary opcodes shift the frontend's instruction count).
pub fn generate_with(u: &mut Unstructured<'_>, cfg: &GenConfig) -> Result<Module, GenError> {
    reset_pool();
    // Decided without reading `u` (see `GenConfig::process_share`).
    let last = u.peek_bytes(u.len()).and_then(|b| b.last().copied());
    let procs = last.is_some_and(|b| u32::from(b) < cfg.process_share);
    if procs {
        // Prepares the program for processes (`Program::uses_processes`) even when no
        // `spawn` is generated.
        konst(Constant::Str("spawn".into()));
    }
    let nfuncs = pick(u, 0, cfg.max_functions.min(8));
    let sigs: Vec<Sig> = (0..nfuncs)
        .map(|i| Sig { name: format!("f{}", i + 1), params: pick(u, 0, 3) as u8 })
        .collect();
    let ndata_main = pick(u, 2, 8) as u8;
    let mut bodies = Vec::new();
    bodies.push(BodyGen::new(u, cfg, &sigs, None, ndata_main, procs).finish_main());
    for i in 0..sigs.len() {
        let nd = (sigs[i].params + pick(u, 1, 6) as u8).min(12);
        bodies.push(BodyGen::new(u, cfg, &sigs, Some(i), nd, procs).finish_function());
    }
    layout(bodies, &sigs)
}

/// A function's signature: its name and the number of data parameters (after `r0`, the depth).
#[derive(Clone, Debug)]
struct Sig {
    name: String,
    params: u8,
}

fn pick(u: &mut Unstructured<'_>, lo: u32, hi: u32) -> u32 {
    u.int_in_range(lo..=hi).unwrap_or(lo)
}

/// A generated body before layout: instructions whose phi block ids are body-local.
struct BodyCode {
    code: Vec<Item>,
}

/// An instruction, or a phi whose block ids are still body-local.
enum Item {
    I(Instr),
    Phi { dst: u8, sources: Vec<(u8, u32)> },
}

/// Assembles bodies into a module: body-local block ids become absolute, and a function whose
/// entry the frontend's instruction count cannot name gets `NOP`s before it.
fn layout(bodies: Vec<BodyCode>, sigs: &[Sig]) -> Result<Module, GenError> {
    let mut pads = vec![0usize; bodies.len()];
    for _attempt in 0..1024 {
        let mut code = Vec::new();
        let mut entries = Vec::new();
        for (bi, b) in bodies.iter().enumerate() {
            for _ in 0..pads[bi] {
                code.push(Instr::Nop {});
            }
            let start = code.len() as u32;
            if bi > 0 {
                entries.push((sigs[bi - 1].name.clone(), start));
            }
            for it in &b.code {
                code.push(match it {
                    Item::I(i) => i.clone(),
                    Item::Phi { dst, sources } => Instr::PhiR {
                        dst: Dst(*dst),
                        sources: PhiSources(
                            sources.iter().map(|&(r, blk)| (r, (blk + start).min(u16::MAX as u32) as u16)).collect(),
                        ),
                    },
                });
            }
        }
        if code.len() > u16::MAX as usize {
            return Err(GenError("program too long for u16 block ids".into()));
        }
        match build_interned(code, entries) {
            Ok(m) => return Ok(m),
            Err(msg) => {
                // "the entry of function `fK` cannot be written ...": pad before fK.
                let name = msg.split('`').nth(1).unwrap_or("");
                match sigs.iter().position(|s| s.name == name) {
                    Some(i) => pads[i + 1] += 1,
                    None => return Err(GenError(msg)),
                }
            }
        }
    }
    Err(GenError("function entries not representable after padding".into()))
}

/// `Module::build` with the constant pool the bodies were generated against.
fn build_interned(code: Vec<Instr>, entries: Vec<(String, u32)>) -> Result<Module, String> {
    POOL.with(|p| Module::build("fuzz".to_string(), p.borrow().clone(), entries, code))
}

thread_local! {
    /// The constant pool of the module being generated (interned, shared by all bodies).
    static POOL: std::cell::RefCell<Vec<Constant>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Interns a constant in the pool of the module being generated.
fn konst(c: Constant) -> u16 {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let same = |a: &Constant| match (a, &c) {
            (Constant::Float(x), Constant::Float(y)) => x.to_bits() == y.to_bits(),
            (a, b) => a == b,
        };
        if let Some(i) = p.iter().position(same) {
            return i as u16;
        }
        p.push(c);
        (p.len() - 1) as u16
    })
}

/// Statically known type of a data register (a hint for choosing operands, never relied on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Empty,
    Bool,
    Int,
    Float,
    Str,
    Array,
    Dict,
    Unknown,
}

/// Which operands an operation would like (a preference; any register is still valid).
#[derive(Clone, Copy)]
enum Want {
    Num,
    Int,
    Str,
    Array,
    Dict,
    Any,
}

fn fits(t: Ty, w: Want) -> bool {
    match w {
        Want::Num => matches!(t, Ty::Int | Ty::Float),
        Want::Int => t == Ty::Int,
        Want::Str => t == Ty::Str,
        Want::Array => t == Ty::Array,
        Want::Dict => t == Ty::Dict,
        Want::Any => true,
    }
}

struct BodyGen<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    cfg: &'a GenConfig,
    sigs: &'a [Sig],
    /// Index into `sigs` of this body, `None` for main.
    me: Option<usize>,
    code: Vec<Item>,
    /// Jump fixups: (instruction index, label).
    fixups: Vec<(usize, usize)>,
    /// Phi fixups: (instruction index, source position, label); the label is bound at the
    /// predecessor instruction itself, so its position is the block id.
    phi_fixups: Vec<(usize, usize, usize)>,
    labels: Vec<Option<u32>>,
    /// Data registers are `r1..=ndata`; the leaf ones are `leaf[r]`.
    ndata: u8,
    leaf: Vec<bool>,
    types: Vec<Ty>,
    /// Next free control register.
    next_ctl: u16,
    statements: u32,
    nesting: u32,
    /// The module uses processes: process statements are drawn ([`BodyGen::process`]).
    procs: bool,
    /// Control registers that always hold a pid (with `procs`): set in the prologue to main's
    /// or the process's own, then only by `spawn`.
    pids: Vec<u8>,
}

const GLOBALS: [&str; 3] = ["g", "count", "name with spaces"];
const KEYS: [&str; 5] = ["a", "b", "key", "", "ключ"];

/// The natives generated programs call: the standard library without `read_line` and `clock`
/// (which read stdin and the time), by name; `print` is deterministic and stays in.
pub const NATIVES: [&str; 43] = [
    "len", "str", "int", "float", "abs", "min", "max", "floor", "ceil", "round", "sqrt", "exp", "ln", "sin", "cos",
    "pow", "type_of", "is_number", "is_int", "is_float", "is_string", "is_bool", "is_array", "is_dict", "is_empty",
    "upper", "lower", "trim", "substring", "find", "contains", "replace", "split", "join", "push", "pop", "last",
    "slice", "reverse", "sort", "index_of", "range", "print",
];

/// The process natives, called only by modules that use processes
/// ([`GenConfig::process_share`]).
pub const PROCESS_NATIVES: [&str; 8] =
    ["spawn", "self", "send", "receive", "try_receive", "wait", "link", "process_count"];

/// One-argument natives the compiled tier may inline (the sites of [`BodyGen::type_flip_loop`]).
const INLINE_NATIVES: [&str; 12] =
    ["abs", "floor", "ceil", "round", "int", "float", "sqrt", "len", "is_int", "is_number", "type_of", "str"];

impl<'a, 'b> BodyGen<'a, 'b> {
    fn new(
        u: &'a mut Unstructured<'b>,
        cfg: &'a GenConfig,
        sigs: &'a [Sig],
        me: Option<usize>,
        ndata: u8,
        procs: bool,
    ) -> Self {
        let ndata = ndata.max(2);
        let params = me.map(|i| sigs[i].params).unwrap_or(0);
        let mut leaf = vec![true; ndata as usize + 1];
        // Parameters are leaves (callers pass leaves); about a third of the rest grow.
        for (r, l) in leaf.iter_mut().enumerate().skip(params as usize + 1) {
            *l = r % 3 != 0;
        }
        // At least one of each kind.
        leaf[ndata as usize] = false;
        leaf[1] = true;
        let mut g = BodyGen {
            u,
            cfg,
            sigs,
            me,
            code: Vec::new(),
            fixups: Vec::new(),
            phi_fixups: Vec::new(),
            labels: Vec::new(),
            ndata,
            leaf,
            types: vec![Ty::Unknown; ndata as usize + 1],
            next_ctl: ndata as u16 + 1,
            statements: 0,
            nesting: 0,
            procs,
            pids: Vec::new(),
        };
        g.types[0] = Ty::Int;
        g.prologue(params);
        if g.procs && g.n(0, 1) == 0 {
            // Processes often start with process statements, before an error can end them:
            // main spawns a process and sends to it, a function sends or receives (a worker
            // blocking for its first message, or, called by a process nobody sends to, a
            // deadlock).
            if me.is_none() && !sigs.is_empty() {
                g.spawn();
            }
            match g.n(0, 3) {
                0 => g.send(),
                1 => g.process_native("try_receive", Ty::Unknown),
                2 if me.is_some() => g.process_native("receive", Ty::Unknown),
                _ => {}
            }
        }
        g.block();
        g
    }

    fn n(&mut self, lo: u32, hi: u32) -> u32 {
        pick(self.u, lo, hi)
    }

    fn chance(&mut self, one_in: u32) -> bool {
        self.n(0, one_in - 1) == 0 && !self.u.is_empty()
    }

    fn emit(&mut self, i: Instr) {
        self.code.push(Item::I(i));
    }

    fn here(&self) -> u32 {
        self.code.len() as u32
    }

    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    /// Binds `l` to the next instruction.
    fn bind(&mut self, l: usize) {
        self.labels[l] = Some(self.here());
    }

    fn jump(&mut self, l: usize) {
        self.fixups.push((self.code.len(), l));
        self.emit(Instr::JumpR { target: Jump(0) });
    }

    fn jump_if(&mut self, cond: u8, l: usize, when: bool) {
        self.fixups.push((self.code.len(), l));
        let c = Src(cond);
        self.emit(if when { Instr::JumpIfR { cond: c, target: Jump(0) } } else { Instr::JumpIfNotR { cond: c, target: Jump(0) } });
    }

    /// A phi whose sources name predecessor labels (bound at the predecessor instruction).
    fn phi(&mut self, dst: u8, sources: Vec<(u8, usize)>) {
        let at = self.code.len();
        for (k, &(_, l)) in sources.iter().enumerate() {
            self.phi_fixups.push((at, k, l));
        }
        self.code.push(Item::Phi { dst, sources: sources.iter().map(|&(r, _)| (r, 0)).collect() });
    }

    /// A fresh control register, or `None` when the window is full.
    fn ctl(&mut self) -> Option<u8> {
        if self.next_ctl > 250 {
            return None;
        }
        self.next_ctl += 1;
        Some((self.next_ctl - 1) as u8)
    }

    fn load(&mut self, dst: u8, c: Constant) {
        let k = konst(c);
        self.emit(Instr::LoadConstR { dst: Dst(dst), k: Const(k) });
    }

    /// A random constant of any type, with edge values, and its type.
    fn constant(&mut self) -> (Constant, Ty) {
        match self.n(0, 12) {
            0..=4 => {
                let v = match self.n(0, 9) {
                    0 => i64::MAX,
                    1 => i64::MIN,
                    2 => i64::MAX / 2 + 1,
                    3 => -1,
                    4 => 0,
                    _ => self.n(0, 20) as i64 - 5,
                };
                (Constant::Int(v), Ty::Int)
            }
            5 | 6 => {
                let v = match self.n(0, 9) {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f64::NAN,
                    3 => f64::INFINITY,
                    4 => 1e308,
                    5 => 0.1,
                    6 => 9.3e18,
                    _ => self.n(0, 40) as f64 / 4.0 - 3.0,
                };
                (Constant::Float(v), Ty::Float)
            }
            7 | 8 => {
                let s = match self.n(0, 6) {
                    0 => "",
                    1 => "héllo",
                    2 => "3",
                    3 => "2.5",
                    4 => "true",
                    5 => "a",
                    _ => "key",
                };
                (Constant::Str(s.to_string()), Ty::Str)
            }
            9 | 10 => (Constant::Bool(self.n(0, 1) == 1), Ty::Bool),
            _ => (Constant::Empty, Ty::Empty),
        }
    }

    fn prologue(&mut self, params: u8) {
        if self.me.is_none() {
            let d = self.n(0, self.cfg.max_depth as u32) as i64;
            self.load(0, Constant::Int(d));
        }
        for r in 1..=self.ndata {
            if r <= params {
                continue;
            }
            if self.leaf[r as usize] || self.n(0, 1) == 0 {
                let (c, t) = self.constant();
                self.load(r, c);
                self.set_ty(r, t);
            } else if self.n(0, 1) == 0 {
                let sz = self.n(0, 4) as i64;
                let size = self.ctl_const(Constant::Int(sz));
                self.emit(Instr::NewArrayR { dst: Dst(r), size: Src(size) });
                self.set_ty(r, Ty::Array);
            } else {
                self.emit(Instr::DictNewR { dst: Dst(r) });
                self.set_ty(r, Ty::Dict);
            }
        }
        if self.procs {
            // Pid registers: main's pid (0) or, in a function, often the caller's own.
            for _ in 0..self.n(1, 2) {
                let (Some(p), Some(f)) = (self.ctl(), self.ctl()) else { break };
                if self.me.is_some() && self.n(0, 1) == 0 {
                    self.load(f, Constant::Str("self".into()));
                    self.emit(Instr::CallR { func: Src(f), dst: Dst(p), args: Args(Vec::new().into()) });
                } else {
                    self.load(p, Constant::Int(0));
                }
                self.pids.push(p);
            }
        }
    }

    /// A control register loaded with `c` (falls back to a leaf data register when full).
    fn ctl_const(&mut self, c: Constant) -> u8 {
        let r = self.ctl().unwrap_or(1);
        if r == 1 {
            self.types[1] = Ty::Unknown;
        }
        self.load(r, c);
        r
    }

    /// Any data register (or `r0`), preferring one whose type fits `w`.
    fn src(&mut self, w: Want) -> u8 {
        self.src_in(w, false)
    }

    /// A leaf data register (or `r0`), preferring one whose type fits `w`.
    fn leaf_src(&mut self, w: Want) -> u8 {
        self.src_in(w, true)
    }

    fn src_in(&mut self, w: Want, leaf_only: bool) -> u8 {
        let ok = |g: &Self, r: usize| !leaf_only || g.leaf[r];
        let fitting: Vec<u8> =
            (0..=self.ndata as usize).filter(|&r| ok(self, r) && fits(self.types[r], w)).map(|r| r as u8).collect();
        if !fitting.is_empty() && self.n(0, 5) != 0 {
            return fitting[self.n(0, fitting.len() as u32 - 1) as usize];
        }
        let all: Vec<u8> = (0..=self.ndata as usize).filter(|&r| ok(self, r)).map(|r| r as u8).collect();
        all[self.n(0, all.len() as u32 - 1) as usize]
    }

    /// A data register to write (never `r0`): a leaf when `leaf`, else any.
    fn dst(&mut self, leaf: bool) -> u8 {
        let cands: Vec<u8> =
            (1..=self.ndata as usize).filter(|&r| !leaf || self.leaf[r]).map(|r| r as u8).collect();
        cands[self.n(0, cands.len() as u32 - 1) as usize]
    }

    /// A grown (non-leaf) data register to write.
    fn grown_dst(&mut self) -> u8 {
        let cands: Vec<u8> = (1..=self.ndata as usize).filter(|&r| !self.leaf[r]).map(|r| r as u8).collect();
        cands[self.n(0, cands.len() as u32 - 1) as usize]
    }

    fn set_ty(&mut self, r: u8, t: Ty) {
        if let Some(slot) = self.types.get_mut(r as usize) {
            *slot = t;
        }
    }

    /// The known type of register `r` (control registers are unknown).
    fn ty(&self, r: u8) -> Ty {
        self.types.get(r as usize).copied().unwrap_or(Ty::Unknown)
    }

    fn block(&mut self) {
        let limit = self.cfg.max_statements;
        let count = self.n(0, 8);
        for _ in 0..count {
            if self.u.is_empty() || self.statements >= limit {
                break;
            }
            self.statements += 1;
            self.statement();
        }
    }

    fn statement(&mut self) {
        let deep = self.nesting >= self.cfg.max_nesting;
        let which = self.n(0, 33);
        if self.procs && matches!(which, 0..=4 | 31) {
            // Modules with processes take a share of the straight-line statements (and the
            // unused 31) for them; other modules draw exactly as before.
            return self.process();
        }
        match which {
            0..=15 => self.simple(),
            16 | 17 => self.print(),
            18 if !deep => self.if_then(),
            19 | 20 if !deep => self.if_else_phi(),
            21 | 22 if !deep => self.counted_loop(true),
            23 if !deep => self.counted_loop(false),
            24 if !deep => self.type_flip_loop(),
            25 if !deep && self.chance(4) => self.data_loop(),
            26 | 27 => self.call(),
            28 => self.assert(),
            29 => self.global(),
            30 if self.me.is_some() => self.early_return(),
            32 | 33 => self.native_call(),
            _ => self.simple(),
        }
    }

    fn print(&mut self) {
        let r = self.src(Want::Any);
        self.emit(Instr::DebugPrint { src: Src(r) });
    }

    /// One straight-line operation.
    fn simple(&mut self) {
        use Instr::*;
        match self.n(0, 27) {
            0 | 1 => {
                let (c, t) = self.constant();
                let d = self.dst(false);
                self.load(d, c);
                self.set_ty(d, t);
            }
            2 => {
                // MOVE: into a leaf only from a leaf.
                let d = self.dst(false);
                let s = if self.leaf[d as usize] { self.leaf_src(Want::Any) } else { self.src(Want::Any) };
                self.emit(MoveR { dst: Dst(d), src: Src(s) });
                let t = self.ty(s);
                self.set_ty(d, t);
            }
            3..=6 => {
                // Arithmetic other than ADD: results are bounded, any destination.
                let (a, mut b) = (self.src(Want::Num), self.src(Want::Num));
                let d = self.dst(false);
                let which = self.n(0, 3);
                if which >= 2 && self.chance(6) {
                    // A zero divisor now and then (data registers rarely hold zero for long).
                    let z = if self.n(0, 1) == 0 { Constant::Int(0) } else { Constant::Float(0.0) };
                    b = self.ctl_const(z);
                }
                let (a, b, dd) = (Src(a), Src(b), Dst(d));
                let i = match which {
                    0 => SubR { dst: dd, a, b },
                    1 => MulR { dst: dd, a, b },
                    2 => DivR { dst: dd, a, b },
                    _ => ModR { dst: dd, a, b },
                };
                let t = self.num_result(a.0, b.0);
                self.emit(i);
                self.set_ty(d, t);
            }
            7 | 8 => {
                // ADD of leaves (strings concatenate) into a grown register.
                let (a, b) = (self.leaf_src(Want::Any), self.leaf_src(Want::Any));
                let d = self.grown_dst();
                let t = if self.ty(a) == Ty::Str { Ty::Str } else { self.num_result(a, b) };
                self.emit(AddR { dst: Dst(d), a: Src(a), b: Src(b) });
                self.set_ty(d, t);
            }
            9 | 10 => {
                // Add immediate into any register (accumulators, overflow).
                let a = self.src(Want::Num);
                let c = match self.n(0, 3) {
                    0 => Constant::Int(i64::MAX),
                    1 => Constant::Float(0.5),
                    _ => Constant::Int(self.n(1, 3) as i64),
                };
                let k = self.ctl_const(c);
                let d = if self.n(0, 1) == 0 && self.leaf[a as usize] && a != 0 { a } else { self.dst(true) };
                let t = self.num_result(a, k);
                self.emit(AddR { dst: Dst(d), a: Src(a), b: Src(k) });
                self.set_ty(d, t);
            }
            11 => {
                let s = self.src(Want::Num);
                let d = self.dst(false);
                let t = self.ty(s);
                self.emit(NegR { dst: Dst(d), src: Src(s) });
                self.set_ty(d, if matches!(t, Ty::Int | Ty::Float) { t } else { Ty::Unknown });
            }
            12 => {
                let (a, b) = (self.src(Want::Any), self.src(Want::Any));
                let d = self.dst(false);
                let (a, b, dd) = (Src(a), Src(b), Dst(d));
                let which = self.n(0, 2);
                self.emit(match which {
                    0 => NotR { dst: dd, src: a },
                    1 => AndR { dst: dd, a, b },
                    _ => OrR { dst: dd, a, b },
                });
                self.set_ty(d, Ty::Bool);
            }
            13..=15 => {
                let w = if self.n(0, 3) == 0 { Want::Str } else { Want::Num };
                let (a, b) = (self.src(w), self.src(w));
                let d = self.dst(false);
                let (a, b, dd) = (Src(a), Src(b), Dst(d));
                let which = self.n(0, 5);
                self.emit(match which {
                    0 => EqR { dst: dd, a, b },
                    1 => NeqR { dst: dd, a, b },
                    2 => LtR { dst: dd, a, b },
                    3 => GtR { dst: dd, a, b },
                    4 => LteR { dst: dd, a, b },
                    _ => GteR { dst: dd, a, b },
                });
                self.set_ty(d, Ty::Bool);
            }
            16 => {
                let s = self.src(Want::Any);
                let d = self.dst(false);
                let ty = self.type_id();
                self.emit(CheckTypeR { dst: Dst(d), src: Src(s), ty: TypeId(ty) });
                self.set_ty(d, Ty::Bool);
            }
            17 => {
                // CAST into a leaf only from a leaf (a cast to string is the display form).
                let d = self.dst(false);
                let s = if self.leaf[d as usize] { self.leaf_src(Want::Any) } else { self.src(Want::Any) };
                let ty = [1u16, 2, 3, 4, 4, 2][self.n(0, 5) as usize];
                self.emit(CastR { dst: Dst(d), src: Src(s), ty: TypeId(ty) });
                self.set_ty(d, [Ty::Empty, Ty::Bool, Ty::Int, Ty::Float, Ty::Str][ty as usize]);
            }
            18 => {
                let (a, b) = (self.leaf_src(Want::Any), self.leaf_src(Want::Any));
                let d = self.grown_dst();
                self.emit(ConcatStrR { dst: Dst(d), a: Src(a), b: Src(b) });
                self.set_ty(d, Ty::Str);
            }
            19 => {
                let s = self.src(Want::Str);
                let d = self.dst(false);
                self.emit(StrLenR { dst: Dst(d), s: Src(s) });
                self.set_ty(d, Ty::Int);
            }
            20 => {
                let size = match self.n(0, 5) {
                    0 => Constant::Int(-1),
                    1 => Constant::Float(2.0),
                    _ => Constant::Int(self.n(0, 5) as i64),
                };
                let s = self.ctl_const(size);
                let d = self.dst(false);
                self.emit(NewArrayR { dst: Dst(d), size: Src(s) });
                self.set_ty(d, Ty::Array);
            }
            21 | 22 => {
                let arr = self.src(Want::Array);
                let idx = self.index();
                if self.n(0, 1) == 0 {
                    let d = self.dst(true);
                    self.emit(ArrayGetR { dst: Dst(d), arr: Src(arr), idx: Src(idx) });
                    self.set_ty(d, Ty::Unknown);
                } else {
                    // In place: only on grown registers, only leaf values.
                    let arr = if self.leaf[arr as usize] { self.grown_dst() } else { arr };
                    let v = self.leaf_src(Want::Any);
                    self.emit(ArraySetR { arr: Src(arr), idx: Src(idx), val: Src(v) });
                }
            }
            23 => {
                let a = self.src(Want::Array);
                let d = self.dst(false);
                self.emit(ArrayLenR { dst: Dst(d), arr: Src(a) });
                self.set_ty(d, Ty::Int);
            }
            24 => {
                let d = self.dst(false);
                self.emit(DictNewR { dst: Dst(d) });
                self.set_ty(d, Ty::Dict);
            }
            25 | 26 => {
                let dict = self.src(Want::Dict);
                let key = self.key();
                let dst = self.dst(false);
                match self.n(0, 2) {
                    0 => {
                        let d = self.dst(true);
                        self.emit(DictGetR { dst: Dst(d), dict: Src(dict), key: Src(key) });
                        self.set_ty(d, Ty::Unknown);
                    }
                    1 => {
                        let dict = if self.leaf[dict as usize] { self.grown_dst() } else { dict };
                        let v = self.leaf_src(Want::Any);
                        self.emit(DictSetR { dict: Src(dict), key: Src(key), val: Src(v) });
                    }
                    _ => {
                        self.emit(DictContainsR { dst: Dst(dst), dict: Src(dict), key: Src(key) });
                        self.set_ty(dst, Ty::Bool);
                    }
                }
            }
            _ => {
                let dict = self.src(Want::Dict);
                match self.n(0, 4) {
                    0 => {
                        let d = self.grown_dst();
                        self.emit(DictKeysR { dst: Dst(d), dict: Src(dict) });
                        self.set_ty(d, Ty::Array);
                    }
                    1 => {
                        let d = self.grown_dst();
                        self.emit(DictValuesR { dst: Dst(d), dict: Src(dict) });
                        self.set_ty(d, Ty::Array);
                    }
                    2 => {
                        let d = self.dst(false);
                        self.emit(DictLenR { dst: Dst(d), dict: Src(dict) });
                        self.set_ty(d, Ty::Int);
                    }
                    3 => {
                        let dict = if self.leaf[dict as usize] { self.grown_dst() } else { dict };
                        let key = self.key();
                        self.emit(DictRemoveR { dict: Src(dict), key: Src(key) });
                    }
                    _ => {
                        let dict = if self.leaf[dict as usize] { self.grown_dst() } else { dict };
                        self.emit(DictClearR { dict: Src(dict) });
                    }
                }
            }
        }
        if self.chance(16) {
            // Markers with no run-time effect.
            let s = self.n(0, 3) as u16;
            let which = self.n(0, 4);
            let dd = self.dst(false);
            self.emit(match which {
                0 => Instr::ScopeEnterR { scope: ScopeId(s) },
                1 => Instr::ScopeExitR { scope: ScopeId(s) },
                2 => Instr::Nop {},
                3 => Instr::Breakpoint {},
                _ => Instr::DefineR { dst: Dst(dd), ty: TypeId(TYPE_UNKNOWN) },
            });
        }
    }

    fn num_result(&self, a: u8, b: u8) -> Ty {
        match (self.ty(a), self.ty(b)) {
            (Ty::Int, Ty::Int) => Ty::Int,
            (Ty::Float, Ty::Int | Ty::Float) | (Ty::Int, Ty::Float) => Ty::Float,
            _ => Ty::Unknown,
        }
    }

    fn type_id(&mut self) -> u16 {
        [0u16, 1, 2, 3, 4, 7, 8, TYPE_UNKNOWN][self.n(0, 7) as usize]
    }

    /// An index register: a small constant (sometimes out of range) or a data register.
    fn index(&mut self) -> u8 {
        if self.n(0, 2) == 0 {
            self.src(Want::Int)
        } else {
            let i = self.n(0, 5) as i64 - 1;
            self.ctl_const(Constant::Int(i))
        }
    }

    /// A key register: a string constant, or a leaf data register (sometimes not a string).
    fn key(&mut self) -> u8 {
        if self.n(0, 3) == 0 {
            self.leaf_src(Want::Str)
        } else {
            let k = KEYS[self.n(0, KEYS.len() as u32 - 1) as usize];
            self.ctl_const(Constant::Str(k.to_string()))
        }
    }

    fn assert(&mut self) {
        let r = self.src(Want::Any);
        let msg = konst(Constant::Str(format!("assertion {}", self.code.len())));
        let kind = match self.n(0, 2) {
            0 => AssertKind::Truthy,
            1 => AssertKind::NonEmpty,
            _ => {
                let min = self.n(0, 10) as i64 - 5;
                AssertKind::Range { min, max: min + self.n(0, 20) as i64 }
            }
        };
        self.emit(Instr::AssertR { reg: Src(r), check: AssertCheck { kind: Box::new(kind), msg } });
    }

    fn global(&mut self) {
        let name = konst(Constant::Str(GLOBALS[self.n(0, GLOBALS.len() as u32 - 1) as usize].to_string()));
        if self.n(0, 1) == 0 {
            let s = self.leaf_src(Want::Any);
            self.emit(Instr::StoreGlobalR { src: Src(s), name: Name(name) });
        } else {
            let d = self.dst(true);
            self.emit(Instr::LoadGlobalR { dst: Dst(d), name: Name(name) });
            self.set_ty(d, Ty::Unknown);
        }
    }

    /// Registers whose types a construct may have changed become unknown after it.
    fn merge(&mut self, before: &[Ty]) {
        for (t, b) in self.types.iter_mut().zip(before) {
            if t != b {
                *t = Ty::Unknown;
            }
        }
    }

    /// A condition register: usually a fresh comparison, sometimes any data register.
    fn cond(&mut self) -> u8 {
        if self.n(0, 3) == 0 {
            return self.src(Want::Any);
        }
        let (a, b) = (self.src(Want::Num), self.src(Want::Num));
        match self.ctl() {
            Some(c) => {
                self.emit(Instr::LtR { dst: Dst(c), a: Src(a), b: Src(b) });
                c
            }
            None => a,
        }
    }

    fn nested(&mut self) {
        self.nesting += 1;
        self.block();
        self.nesting -= 1;
    }

    /// `if cond { block }`.
    fn if_then(&mut self) {
        let before = self.types.clone();
        let c = self.cond();
        let end = self.label();
        let when = self.n(0, 1) == 0;
        self.jump_if(c, end, when);
        self.nested();
        self.emit(Instr::Nop {});
        self.bind(end);
        self.merge(&before);
    }

    /// `if cond { block; x = a } else { block; y = b }; d = phi(x@then, y@else)`, sometimes
    /// with a second phi reading the first, sometimes with a source naming no predecessor.
    fn if_else_phi(&mut self) {
        let before = self.types.clone();
        let c = self.cond();
        let els = self.label();
        let join = self.label();
        let then_pred = self.label();
        let else_pred = self.label();
        self.jump_if(c, els, false);
        self.nested();
        let x = self.branch_value();
        self.bind(then_pred);
        self.jump(join);
        self.bind(els);
        self.nested();
        let y = self.branch_value();
        // The else branch's last instruction is the fall-through predecessor.
        let last = self.code.len() - 1;
        self.labels[else_pred] = Some(last as u32);
        self.bind(join);
        let (xr, xl) = x;
        let (yr, yl) = y;
        let d = if xl && yl { self.dst(false) } else { self.grown_dst() };
        let mut sources = vec![(xr, then_pred), (yr, else_pred)];
        if self.chance(6) {
            sources.pop(); // the else path matches no source: d keeps its value
        }
        if self.n(0, 1) == 0 {
            sources.reverse();
        }
        self.phi(d, sources);
        if self.chance(3) {
            // A second phi at the same head reads what the first wrote.
            let d2 = if self.leaf[d as usize] { self.dst(false) } else { self.grown_dst() };
            self.phi(d2, vec![(d, then_pred), (xr, else_pred)]);
        }
        self.merge(&before);
        self.set_ty(d, Ty::Unknown);
    }

    /// The value a branch hands to a join phi: a fresh control register with a constant of
    /// random type (so the join's type differs between paths), or a data register. Returns the
    /// register and whether it is a leaf. Always emits at least one instruction.
    fn branch_value(&mut self) -> (u8, bool) {
        if self.n(0, 2) != 0 {
            if let Some(r) = self.ctl() {
                let (c, _) = self.constant();
                self.load(r, c);
                return (r, true);
            }
        }
        let r = self.src(Want::Any);
        let t = self.dst(true);
        let s = if self.leaf[r as usize] { r } else { self.leaf_src(Want::Any) };
        self.emit(Instr::MoveR { dst: Dst(t), src: Src(s) });
        (t, true)
    }

    /// A loop running `n` times (n a small constant). With `phis`, the counter and a data
    /// register are carried by phis at the header; without, the counter is updated in place.
    fn counted_loop(&mut self, phis: bool) {
        let regs = (self.ctl(), self.ctl(), self.ctl(), self.ctl(), self.ctl(), self.ctl());
        let (Some(i), Some(inext), Some(n), Some(one), Some(c), Some(i0)) = regs else { return };
        let before = self.types.clone();
        let trip = self.n(0, self.cfg.max_trip as u32) as i64;
        self.load(n, Constant::Int(trip));
        self.load(one, Constant::Int(1));
        self.load(i0, Constant::Int(0));
        let carried = if phis && self.n(0, 1) == 0 { Some(self.dst(true)) } else { None };
        let carried_init = match (carried, self.ctl()) {
            (Some(_), Some(r)) => {
                let (k, _) = self.constant();
                self.load(r, k);
                Some(r)
            }
            _ => None,
        };
        let head = self.label();
        let exit = self.label();
        let pre = self.label();
        let latch = self.label();
        if !phis {
            self.emit(Instr::MoveR { dst: Dst(i), src: Src(i0) });
        }
        // The instruction before the header: the pre-header predecessor.
        self.labels[pre] = Some(self.here());
        self.emit(Instr::Nop {});
        self.bind(head);
        if phis {
            self.phi(i, vec![(i0, pre), (inext, latch)]);
            if let (Some(d), Some(init)) = (carried, carried_init) {
                self.phi(d, vec![(init, pre), (d, latch)]);
                self.set_ty(d, Ty::Unknown);
            }
        }
        self.emit(Instr::LtR { dst: Dst(c), a: Src(i), b: Src(n) });
        self.jump_if(c, exit, false);
        self.nested();
        if phis {
            self.emit(Instr::AddR { dst: Dst(inext), a: Src(i), b: Src(one) });
        } else {
            self.emit(Instr::AddR { dst: Dst(i), a: Src(i), b: Src(one) });
        }
        self.bind(latch);
        self.jump(head);
        self.bind(exit);
        self.merge(&before);
    }

    /// A counted loop whose body gives one register an int, a float or a string depending on
    /// the iteration, then uses it at one arithmetic site: the site's type changes between
    /// iterations, so compiled guards fail and deoptimize.
    fn type_flip_loop(&mut self) {
        let regs = (self.ctl(), self.ctl(), self.ctl(), self.ctl(), self.ctl(), self.ctl());
        let (Some(i), Some(n), Some(one), Some(c), Some(k), Some(v)) = regs else { return };
        let before = self.types.clone();
        let trip = self.n(2, self.cfg.max_trip.max(2) as u32) as i64;
        let period = self.n(2, 5) as i64;
        self.load(n, Constant::Int(trip));
        self.load(one, Constant::Int(1));
        self.load(i, Constant::Int(0));
        self.load(k, Constant::Int(period));
        let head = self.label();
        let exit = self.label();
        let other = self.label();
        let join = self.label();
        self.bind(head);
        self.emit(Instr::LtR { dst: Dst(c), a: Src(i), b: Src(n) });
        self.jump_if(c, exit, false);
        // v = (i % period == 0) ? A : B, A and B of different types.
        self.emit(Instr::ModR { dst: Dst(c), a: Src(i), b: Src(k) });
        self.jump_if(c, other, true);
        let (a, _) = self.constant();
        self.load(v, a);
        self.jump(join);
        self.bind(other);
        let b = match self.n(0, 3) {
            0 => Constant::Float(1.5),
            1 => Constant::Int(7),
            2 => Constant::Str("s".into()),
            _ => Constant::Int(i64::MAX),
        };
        self.load(v, b);
        self.bind(join);
        // The site whose operand types change.
        let other_src = self.leaf_src(Want::Num);
        let d = self.dst(true);
        let (va, vb) = if self.n(0, 1) == 0 { (v, other_src) } else { (other_src, v) };
        let (va, vb, dd) = (Src(va), Src(vb), Dst(d));
        let which = self.n(0, 8);
        let name_reg = if which >= 7 { self.ctl() } else { None };
        match (which, name_reg) {
            // A native call site: one argument (inlinable ones), or min/max of the two.
            (7, Some(f)) => {
                let name = INLINE_NATIVES[self.n(0, INLINE_NATIVES.len() as u32 - 1) as usize];
                self.load(f, Constant::Str(name.to_string()));
                self.emit(Instr::CallR { func: Src(f), dst: dd, args: Args(vec![va.0].into()) });
            }
            (_, Some(f)) => {
                let name = if self.n(0, 1) == 0 { "min" } else { "max" };
                self.load(f, Constant::Str(name.to_string()));
                self.emit(Instr::CallR { func: Src(f), dst: dd, args: Args(vec![va.0, vb.0].into()) });
            }
            _ => self.emit(match which {
                0 => Instr::SubR { dst: dd, a: va, b: vb },
                1 => Instr::MulR { dst: dd, a: va, b: vb },
                2 => Instr::LtR { dst: dd, a: va, b: vb },
                3 => Instr::EqR { dst: dd, a: va, b: vb },
                4 => Instr::DivR { dst: dd, a: va, b: vb },
                5 => Instr::AddR { dst: dd, a: va, b: vb },
                _ => Instr::NegR { dst: dd, src: va },
            }),
        }
        self.set_ty(d, Ty::Unknown);
        self.nested();
        self.emit(Instr::AddR { dst: Dst(i), a: Src(i), b: Src(one) });
        self.jump(head);
        self.bind(exit);
        self.merge(&before);
    }

    /// `while cond(data) { block }`: may not terminate; the fuel budget bounds it.
    fn data_loop(&mut self) {
        let before = self.types.clone();
        let head = self.label();
        let exit = self.label();
        self.emit(Instr::Nop {});
        self.bind(head);
        let c = self.cond();
        self.jump_if(c, exit, false);
        self.nested();
        self.simple();
        self.jump(head);
        self.bind(exit);
        self.merge(&before);
    }

    /// A call: to a function (any, recursion included) guarded by `r0 > 0` with depth
    /// `r0 - 1`, sometimes to an undefined name or with the wrong argument count.
    fn call(&mut self) {
        if self.sigs.is_empty() && !self.chance(8) {
            return self.simple();
        }
        let regs = (self.ctl(), self.ctl(), self.ctl(), self.ctl());
        let (Some(z), Some(c), Some(d1), Some(f)) = regs else { return };
        let before = self.types.clone();
        let skip = self.label();
        self.load(z, Constant::Int(0));
        self.emit(Instr::GtR { dst: Dst(c), a: Src(0), b: Src(z) });
        self.jump_if(c, skip, false);
        self.load(d1, Constant::Int(1));
        self.emit(Instr::SubR { dst: Dst(d1), a: Src(0), b: Src(d1) });
        let (name, params) = if self.sigs.is_empty() || self.chance(16) {
            ("no such function".to_string(), 1)
        } else {
            let s = &self.sigs[self.n(0, self.sigs.len() as u32 - 1) as usize];
            (s.name.clone(), s.params)
        };
        self.load(f, Constant::Str(name));
        let mut args = vec![d1];
        let nargs = match self.n(0, 9) {
            0 => params.saturating_sub(1),
            1 => params + 1,
            _ => params,
        };
        for _ in 0..nargs {
            let a = self.leaf_src(Want::Any);
            args.push(a);
        }
        if args.len() > 1 && self.chance(16) {
            // The callee register is also an argument: the callee gets its own name.
            let last = args.len() - 1;
            args[last] = f;
        }
        let dst = self.grown_dst();
        self.emit(Instr::CallR { func: Src(f), dst: Dst(dst), args: Args(args.into()) });
        self.emit(Instr::Nop {});
        self.bind(skip);
        self.merge(&before);
        self.set_ty(dst, Ty::Unknown);
    }

    /// A call of a native from [`NATIVES`]: arguments from data registers (preferring fitting
    /// types, so the native usually works and sometimes fails with a type, index, value or
    /// overflow error) and small constants; results that may be large (strings, arrays) go to
    /// grown registers, `xs = push(xs, v)` and `xs = pop(xs)` sometimes in place. Usually the
    /// name is loaded just before the call (resolved at load time, inlinable); sometimes it
    /// is not (a `NOP` between, or moved from another register), and sometimes the argument
    /// count is wrong.
    fn native_call(&mut self) {
        let (Some(f), Some(g)) = (self.ctl(), self.ctl()) else { return self.simple() };
        let name = NATIVES[self.n(0, NATIVES.len() as u32 - 1) as usize];
        // (arguments, the destination may be a leaf, the result's type)
        let (mut args, leaf_ok, ty): (Vec<u8>, bool, Ty) = match name {
            "abs" | "floor" | "ceil" | "round" | "sqrt" | "exp" | "ln" | "sin" | "cos" | "int" | "float" => {
                let t = match name {
                    "floor" | "ceil" | "round" | "int" => Ty::Int,
                    "abs" => Ty::Unknown,
                    _ => Ty::Float,
                };
                (vec![self.src(Want::Num)], true, t)
            }
            "min" | "max" => {
                let n = self.n(1, 3);
                ((0..n).map(|_| self.src(Want::Num)).collect(), true, Ty::Unknown)
            }
            "pow" => {
                let base = self.src(Want::Num);
                let exp = if self.n(0, 2) == 0 {
                    self.src(Want::Num)
                } else {
                    let e = self.n(0, 5) as i64 - 1;
                    self.ctl_const(Constant::Int(e))
                };
                (vec![base, exp], true, Ty::Unknown)
            }
            "len" => {
                let w = [Want::Str, Want::Array, Want::Dict, Want::Any][self.n(0, 3) as usize];
                (vec![self.src(w)], true, Ty::Int)
            }
            "type_of" => (vec![self.src(Want::Any)], true, Ty::Str),
            "is_number" | "is_int" | "is_float" | "is_string" | "is_bool" | "is_array" | "is_dict" | "is_empty" => {
                (vec![self.src(Want::Any)], true, Ty::Bool)
            }
            "find" | "contains" => {
                let s = self.src(Want::Str);
                let sub = self.key();
                (vec![s, sub], true, if name == "find" { Ty::Int } else { Ty::Bool })
            }
            "index_of" => {
                let xs = self.src(Want::Array);
                let v = self.leaf_src(Want::Any);
                (vec![xs, v], true, Ty::Int)
            }
            "str" => (vec![self.src(Want::Any)], false, Ty::Str),
            "upper" | "lower" | "trim" => (vec![self.src(Want::Str)], false, Ty::Str),
            "substring" => {
                let s = self.src(Want::Str);
                let (a, b) = (self.index(), self.index());
                (vec![s, a, b], false, Ty::Str)
            }
            "replace" => {
                // Leaves only: replacing "" inserts `to` between every character.
                let s = self.leaf_src(Want::Str);
                let (from, to) = (self.key(), self.key());
                (vec![s, from, to], false, Ty::Str)
            }
            "split" => {
                let s = self.src(Want::Str);
                let sep = self.key();
                (vec![s, sep], false, Ty::Array)
            }
            "join" => {
                let xs = self.src(Want::Array);
                let sep = self.key();
                (vec![xs, sep], false, Ty::Str)
            }
            "push" => {
                let xs = self.src(Want::Array);
                let v = self.leaf_src(Want::Any);
                (vec![xs, v], false, Ty::Array)
            }
            "pop" | "reverse" | "sort" => (vec![self.src(Want::Array)], false, Ty::Array),
            "last" => (vec![self.src(Want::Array)], false, Ty::Unknown),
            "slice" => {
                let xs = self.src(Want::Array);
                let (a, b) = (self.index(), self.index());
                (vec![xs, a, b], false, Ty::Array)
            }
            "range" => {
                // Small constant bounds (a float bound is a type error).
                let a = self.n(0, 6) as i64 - 3;
                let a = if self.chance(10) { Constant::Float(1.0) } else { Constant::Int(a) };
                let a = self.ctl_const(a);
                let b = self.n(0, 10) as i64 - 3;
                let b = self.ctl_const(Constant::Int(b));
                (vec![a, b], false, Ty::Array)
            }
            _ => {
                // print: any number of values; returns empty.
                let n = self.n(0, 3);
                ((0..n).map(|_| self.src(Want::Any)).collect(), true, Ty::Empty)
            }
        };
        if self.chance(12) {
            // The wrong argument count: a type error naming the native (print takes any).
            if args.len() > 1 && self.n(0, 1) == 0 {
                args.pop();
            } else {
                let a = self.leaf_src(Want::Any);
                args.push(a);
            }
        }
        if !args.is_empty() && self.chance(16) {
            // The callee register is also an argument: the native gets its own name (`len`
            // of "len"), which the call's name load must still provide.
            let k = self.n(0, args.len() as u32 - 1) as usize;
            args[k] = f;
        }
        // The destination: the array itself for an in-place push or pop on a grown register.
        let grown_array = args.first().is_some_and(|&a| self.leaf.get(a as usize) == Some(&false));
        let in_place = matches!(name, "push" | "pop") && grown_array && self.n(0, 1) == 0;
        let dst = if in_place {
            args[0]
        } else if leaf_ok {
            self.dst(false)
        } else {
            self.grown_dst()
        };
        let callee = Constant::Str(name.to_string());
        match self.n(0, 7) {
            0 => {
                // Not resolved at load time: another instruction between the load and the call.
                self.load(f, callee);
                self.emit(Instr::Nop {});
            }
            1 => {
                // Through a move: the callee register's content is known only at run time.
                self.load(g, callee);
                self.emit(Instr::MoveR { dst: Dst(f), src: Src(g) });
            }
            _ => self.load(f, callee),
        }
        self.emit(Instr::CallR { func: Src(f), dst: Dst(dst), args: Args(args.into()) });
        self.set_ty(dst, ty);
    }

    /// A statement of the process natives ([`PROCESS_NATIVES`]; modules with processes only):
    /// `spawn`, `send`, `try_receive` most often, `self` and `process_count`, and now and
    /// then `receive`, `wait` and `link`, which may block the process, deadlock the run or
    /// carry another process's error.
    fn process(&mut self) {
        match self.n(0, 16) {
            0..=4 => self.spawn(),
            5..=8 => self.send(),
            9..=11 => self.process_native("try_receive", Ty::Unknown),
            12 => {
                let name = if self.n(0, 1) == 0 { "self" } else { "process_count" };
                self.process_native(name, Ty::Int)
            }
            13 => self.process_native("receive", Ty::Unknown),
            14 => self.wait(),
            _ => self.link(),
        }
    }

    /// A pid register of this body ([`BodyGen::pids`]); now and then, with `any`, a leaf data
    /// register instead (maybe no pid: a type or value error).
    fn pid(&mut self, any: bool) -> u8 {
        if self.pids.is_empty() || (any && self.chance(12)) {
            return self.leaf_src(Want::Int);
        }
        let k = self.n(0, self.pids.len() as u32 - 1) as usize;
        self.pids[k]
    }

    /// `d = name()` for `try_receive`, `receive`, `self` and `process_count`, into a leaf
    /// (messages are leaf values).
    fn process_native(&mut self, name: &str, ty: Ty) {
        let Some(f) = self.ctl() else { return self.simple() };
        let d = self.dst(true);
        self.load(f, Constant::Str(name.to_string()));
        self.emit(Instr::CallR { func: Src(f), dst: Dst(d), args: Args(Vec::new().into()) });
        self.set_ty(d, ty);
    }

    /// `p = spawn(f, depth, args...)` into a pid register. The depth is `r0 - 1` guarded by
    /// `r0 > 0`, as for calls, or 0 (the process then calls and spawns nothing), so a spawned
    /// function that spawns is bounded by the recursion depth; and it runs only while fewer
    /// than a small number of processes are live (`process_count()`), so that processes
    /// blocked for good do not pile up in a long loop (the fuel budget bounds the rest).
    /// The function is named by a string or, sometimes, a function value (`CAST_R`); rarely
    /// it is undefined or a native (errors in the spawning process), or the argument count
    /// is wrong. Sometimes the pid is also copied to a leaf data register.
    fn spawn(&mut self) {
        if self.sigs.is_empty() && !self.chance(8) {
            return self.send();
        }
        let regs = (self.ctl(), self.ctl(), self.ctl(), self.ctl());
        let (Some(c), Some(d1), Some(f), Some(s)) = regs else { return self.simple() };
        let before = self.types.clone();
        let skip = self.label();
        if self.n(0, 2) != 0 {
            self.load(c, Constant::Int(0));
            self.emit(Instr::GtR { dst: Dst(c), a: Src(0), b: Src(c) });
            self.jump_if(c, skip, false);
            self.load(d1, Constant::Int(1));
            self.emit(Instr::SubR { dst: Dst(d1), a: Src(0), b: Src(d1) });
        } else {
            self.load(d1, Constant::Int(0));
        }
        let limit = [2, 3, 4, 6, 8][self.n(0, 4) as usize];
        self.load(s, Constant::Str("process_count".into()));
        self.emit(Instr::CallR { func: Src(s), dst: Dst(c), args: Args(Vec::new().into()) });
        self.load(f, Constant::Int(limit));
        self.emit(Instr::LtR { dst: Dst(c), a: Src(c), b: Src(f) });
        self.jump_if(c, skip, false);
        let (name, params) = match self.n(0, 31) {
            _ if self.sigs.is_empty() => ("no such function".to_string(), 1),
            30 => ("no such function".to_string(), 1),
            31 => ("len".to_string(), 1),
            _ => {
                let s = &self.sigs[self.n(0, self.sigs.len() as u32 - 1) as usize];
                (s.name.clone(), s.params)
            }
        };
        self.load(f, Constant::Str(name));
        if self.n(0, 3) == 0 {
            // A function value (the cast of a native's name is a type error).
            self.emit(Instr::CastR { dst: Dst(f), src: Src(f), ty: TypeId(5) });
        }
        let nargs = match self.n(0, 9) {
            0 => params.saturating_sub(1),
            1 => params + 1,
            _ => params,
        };
        let mut args = vec![f, d1];
        for _ in 0..nargs {
            let a = self.leaf_src(Want::Any);
            args.push(a);
        }
        let p = self.pid(false);
        self.load(s, Constant::Str("spawn".into()));
        self.emit(Instr::CallR { func: Src(s), dst: Dst(p), args: Args(args.into()) });
        if self.chance(3) {
            let d = self.dst(true);
            self.emit(Instr::MoveR { dst: Dst(d), src: Src(p) });
            self.set_ty(d, Ty::Int);
        }
        if self.chance(2) {
            // A call while the new process waits in the run queue: the slice is bounded, so
            // with short slices it often ends in the callee, under the caller's compiled code.
            self.call();
        }
        self.emit(Instr::Nop {});
        self.bind(skip);
        self.merge(&before);
    }

    /// `send(pid, v)` of a leaf value to a pid register, `self()` or main (0); the result
    /// (empty) goes to a control register or, sometimes, a leaf.
    fn send(&mut self) {
        let (Some(f), Some(t)) = (self.ctl(), self.ctl()) else { return self.simple() };
        let target = match self.n(0, 7) {
            0 => {
                self.load(f, Constant::Str("self".into()));
                self.emit(Instr::CallR { func: Src(f), dst: Dst(t), args: Args(Vec::new().into()) });
                t
            }
            1 => {
                self.load(t, Constant::Int(0));
                t
            }
            _ => self.pid(true),
        };
        let v = self.leaf_src(Want::Any);
        let d = if self.chance(6) { self.dst(true) } else { t };
        self.load(f, Constant::Str("send".into()));
        self.emit(Instr::CallR { func: Src(f), dst: Dst(d), args: Args(vec![target, v].into()) });
        self.set_ty(d, Ty::Empty);
    }

    /// `d = wait(pid)`, usually guarded by `pid != self()` (waiting for oneself is an error);
    /// the result is the process function's, so it goes to a grown register.
    fn wait(&mut self) {
        let (Some(f), Some(c)) = (self.ctl(), self.ctl()) else { return self.simple() };
        let p = self.pid(true);
        let before = self.types.clone();
        let skip = self.label();
        if self.n(0, 3) != 3 {
            self.load(f, Constant::Str("self".into()));
            self.emit(Instr::CallR { func: Src(f), dst: Dst(c), args: Args(Vec::new().into()) });
            self.emit(Instr::NeqR { dst: Dst(c), a: Src(p), b: Src(c) });
            self.jump_if(c, skip, false);
        }
        let d = self.grown_dst();
        self.load(f, Constant::Str("wait".into()));
        self.emit(Instr::CallR { func: Src(f), dst: Dst(d), args: Args(vec![p].into()) });
        self.emit(Instr::Nop {});
        self.bind(skip);
        self.merge(&before);
        self.set_ty(d, Ty::Unknown);
    }

    /// `link(pid)`: an error of either process then fails the other.
    fn link(&mut self) {
        let (Some(f), Some(t)) = (self.ctl(), self.ctl()) else { return self.simple() };
        let p = self.pid(true);
        self.load(f, Constant::Str("link".into()));
        self.emit(Instr::CallR { func: Src(f), dst: Dst(t), args: Args(vec![p].into()) });
    }

    /// `if cond { return x }`.
    fn early_return(&mut self) {
        let c = self.cond();
        let skip = self.label();
        self.jump_if(c, skip, false);
        let r = self.src(Want::Any);
        let none = self.n(0, 2) == 0;
        self.emit(Instr::ReturnR { value: RetVal(if none { None } else { Some(r) }) });
        self.bind(skip);
    }

    fn epilogue_main(&mut self) {
        match self.n(0, 3) {
            0 => self.emit(Instr::Halt {}),
            1 => self.emit(Instr::ReturnR { value: RetVal(None) }),
            _ => {
                let r = self.src(Want::Any);
                self.emit(Instr::ReturnR { value: RetVal(Some(r)) });
            }
        }
    }

    fn epilogue_function(&mut self) {
        if self.procs && self.chance(12) {
            // `HALT` in a function: from a spawned process it ends the run too.
            return self.emit(Instr::Halt {});
        }
        match self.n(0, 4) {
            0 => self.emit(Instr::ReturnR { value: RetVal(None) }),
            1 => {} // falls off the end: a return without a value
            _ => {
                let r = self.src(Want::Any);
                self.emit(Instr::ReturnR { value: RetVal(Some(r)) });
            }
        }
    }

    fn finish_main(mut self) -> BodyCode {
        self.epilogue_main();
        self.resolve()
    }

    fn finish_function(mut self) -> BodyCode {
        self.epilogue_function();
        self.resolve()
    }

    fn resolve(mut self) -> BodyCode {
        // Labels still unbound (none by construction) would point at the body's end.
        let end = self.here();
        for (at, l) in std::mem::take(&mut self.fixups) {
            let target = self.labels[l].unwrap_or(end);
            let off = Jump(mdbc::operand::jump_offset(at as u32, target) as i32);
            if let Item::I(i) = &mut self.code[at] {
                match i {
                    Instr::JumpR { target: o } | Instr::JumpIfR { target: o, .. } | Instr::JumpIfNotR { target: o, .. } => *o = off,
                    _ => unreachable!("jump fixup on a non-jump"),
                }
            }
        }
        for (at, k, l) in std::mem::take(&mut self.phi_fixups) {
            let blk = self.labels[l].unwrap_or(end);
            if let Item::Phi { sources, .. } = &mut self.code[at] {
                sources[k].1 = blk;
            }
        }
        BodyCode { code: self.code }
    }
}

/// Starts a fresh constant pool for the next module (the generator is not reentrant).
pub(crate) fn reset_pool() {
    POOL.with(|p| p.borrow_mut().clear());
}
