//! The forward type analysis of one body: the frame state at the head of every block reachable
//! from the compiled entry.
//!
//! Each block's state is carried through its instructions by the plans and the transfer
//! function ([`crate::spec::transfer::apply`]); along an edge the phis of the target run as
//! copies and registers not live after them become [`Val::Dead`]; at a join the incoming
//! states meet ([`merge`]). Head states only move up a finite lattice, so the analysis ends.
//!
//! **Arrays known at joins.** A loop whose array register is known ([`Val::Array`], its view in
//! variables) on the back-edge but only in its slot on the way in would guard its tag and read
//! its view again on every iteration. So once the analysis has converged, each block head
//! where a register is in its slot but some edge brings it as a known array **promotes** it
//! ([`Speculation::promoted`]): every edge bringing it in its slot guards that it holds an
//! array and reads the view there (`lower::Emitter::emit_edge`), and the analysis runs again
//! with those edges carrying a known array. A failed edge guard resumes the interpreter at the
//! head ([`mdvm_runtime::native::DeoptReason::ArrayKind`]) and the next compile leaves that
//! head alone.

use mdbc::cfg::{Cfg, RegSet};
use mdbc::Module;
use mdvm_runtime::program::Callee;

use crate::analysis::ranges::{self, Facts};
use crate::spec::plan::{Plan, Planner};
use crate::spec::state::{merge, Slot, State, Val};
use crate::spec::transfer;

/// One body as the compiled tier sees it: its CFG and liveness, the bytecode analyses, the
/// planner, and (after [`Speculation::analyze`]) the state at every reachable block head.
pub(crate) struct Speculation<'a> {
    pub m: &'a Module,
    pub planner: Planner<'a>,
    pub cfg: Cfg,
    /// Registers live after each instruction of the body ([`Cfg::live_out`]).
    pub live_out: Vec<RegSet>,
    /// The body's register count.
    pub nregs: usize,
    /// State at each block head after its phis (`None`: not reached from the entry).
    pub head: Vec<Option<State>>,
    /// Per block, the int range facts at its start after its phis ([`ranges`]).
    pub entry_facts: Vec<Facts>,
    /// Per register, the index of the one constant it holds once defined, when only one is
    /// possible ([`crate::analysis::constants::single_constants`]).
    pub consts: Vec<Option<u16>>,
    /// Per block, the registers its head holds as known arrays although some edges bring them
    /// in their slots (see the module documentation): those edges guard and read the view.
    pub promoted: Vec<RegSet>,
}

impl<'a> Speculation<'a> {
    /// The body `body` of the planner's program, analysed up to (not including) the type
    /// analysis.
    pub fn new(planner: Planner<'a>, body: u32) -> Speculation<'a> {
        let program = planner.program;
        let m = &program.module;
        let bi = &program.bodies[body as usize];
        let lb = &program.layout.bodies[body as usize];
        let cfg = Cfg::build(m, lb);
        let live_out = cfg.live_out(m);
        let nregs = bi.nregs as usize;
        let entry_facts = ranges::block_entry_facts(m, &cfg, nregs);
        let consts = crate::analysis::constants::single_constants(m, lb.start, lb.end, bi.entry_live);
        let head = vec![None; cfg.blocks.len()];
        let promoted = vec![RegSet::EMPTY; cfg.blocks.len()];
        Speculation { m, planner, cfg, live_out, nregs, head, entry_facts, consts, promoted }
    }

    /// The one int register `r` holds whenever it holds an int, if only one is possible.
    pub fn int_const(&self, r: u8) -> Option<i64> {
        match self.consts[r as usize].map(|k| &self.m.constants[k as usize]) {
            Some(mdbc::Constant::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// The callee register `r` names whenever it holds a string, and that string's constant
    /// index: `r` only ever holds one string constant, which names a function of the module or
    /// a native ([`mdvm_runtime::program::Program::resolve_name`]).
    pub fn callee_const(&self, r: u8) -> Option<(Callee, u16)> {
        let k = self.consts[r as usize]?;
        match &self.m.constants[k as usize] {
            mdbc::Constant::Str(name) => self.planner.program.resolve_name(name).map(|c| (c, k)),
            _ => None,
        }
    }

    /// The plan for the instruction at `bc` in state `st`: the planner's, with a copy from a
    /// register that owns its slot's value and is dead after it made a move ([`Plan::MoveOut`]).
    pub fn plan(&self, bc: u32, st: &State) -> Plan {
        match self.planner.plan(bc, st) {
            Plan::Move(d, s)
                if d != s
                    && st[s as usize].val.in_slot()
                    && st[s as usize].slot == Slot::Owned
                    && !self.live_after(bc).contains(s) =>
            {
                Plan::MoveOut(d, s)
            }
            p => p,
        }
    }

    /// Registers live on entry to the instruction at `bc`.
    pub fn live_in(&self, bc: u32) -> RegSet {
        self.cfg.live_in_at(self.m, &self.live_out, bc)
    }

    /// Registers live after the instruction at `bc`.
    pub fn live_after(&self, bc: u32) -> RegSet {
        self.live_out[(bc - self.cfg.start) as usize]
    }

    /// True if block `blk` is reached from the compiled entry.
    pub fn reachable(&self, blk: u32) -> bool {
        self.head[blk as usize].is_some()
    }

    /// Registers live after the phi run at the head of `blk`.
    pub fn live_after_phis(&self, blk: u32) -> RegSet {
        let b = &self.cfg.blocks[blk as usize];
        if b.phis_end < b.end {
            self.live_in(b.phis_end)
        } else {
            self.live_after(b.end - 1)
        }
    }

    /// The phi copies into `blk` from predecessor id `pred` ([`Cfg::phi_moves`]).
    pub fn phi_moves(&self, blk: u32, pred: u32) -> Vec<(u8, u8)> {
        self.cfg.phi_moves(self.m, blk, pred)
    }

    /// State after running block `blk`'s non-phi instructions from its head state.
    fn transfer_block(&self, blk: u32, mut st: State) -> State {
        let b = &self.cfg.blocks[blk as usize];
        for bc in b.phis_end..b.end {
            let plan = self.plan(bc, &st);
            transfer::apply(&plan, &self.m.code[bc as usize], &mut st);
        }
        st
    }

    /// State along an edge into `blk` from predecessor id `pred`, after the phis. Registers not
    /// live after the phi run are marked dead, so joins never materialize them.
    pub fn edge_state(&self, mut st: State, blk: u32, pred: u32) -> State {
        for (dst, src) in self.phi_moves(blk, pred) {
            transfer::copy(&mut st, dst, src);
        }
        let live = self.live_after_phis(blk);
        for (r, reg) in st.iter_mut().enumerate() {
            if !live.contains(r as u8) {
                reg.val = Val::Dead;
            }
        }
        st
    }

    /// [`Speculation::edge_state`] with the target's promoted registers ([`Speculation::promoted`])
    /// known as arrays when the edge brings them in their slots (the edge guards them).
    fn promoted_edge_state(&self, st: State, blk: u32, pred: u32) -> State {
        let mut st = self.edge_state(st, blk, pred);
        for r in self.promoted[blk as usize].iter() {
            if st[r as usize].is_mem() {
                st[r as usize].val = Val::Array;
            }
        }
        st
    }

    /// The forward type analysis: head states of every block reachable from `entry_blk`,
    /// entered in `entry_state` from predecessor id `entry_pred`; then, when some block heads
    /// can promote registers to known arrays, the analysis again with those promotions.
    pub fn analyze(&mut self, entry_blk: u32, entry_state: State, entry_pred: u32) {
        self.promoted = vec![RegSet::EMPTY; self.cfg.blocks.len()];
        self.fixpoint(entry_blk, entry_state.clone(), entry_pred);
        if self.find_promotions() {
            self.fixpoint(entry_blk, entry_state, entry_pred);
        }
    }

    /// Fills [`Speculation::promoted`] from the converged head states: a register in its slot
    /// (and owning it) at a head that some edge from a reached block brings as a known array,
    /// unless a phi of the block defines it or an edge guard there failed before (its head is
    /// among the planner's form misses). True if any was found.
    fn find_promotions(&mut self) -> bool {
        if mdvm_runtime::value::array_layout().is_none() {
            return false;
        }
        let mut any = false;
        for blk in 0..self.cfg.blocks.len() as u32 {
            let Some(head) = self.head[blk as usize].clone() else { continue };
            let b = &self.cfg.blocks[blk as usize];
            if self.planner.form_misses.contains(&b.start) {
                continue;
            }
            let mut phi_dsts = RegSet::EMPTY;
            for bc in b.start..b.phis_end {
                if let Some(d) = self.m.code[bc as usize].def() {
                    phi_dsts.insert(d);
                }
            }
            let mut arrays = RegSet::EMPTY;
            for &p in &b.preds {
                let Some(ph) = self.head[p as usize].clone() else { continue };
                let last = self.cfg.blocks[p as usize].end - 1;
                let out = self.edge_state(self.transfer_block(p, ph), blk, last);
                for (r, reg) in out.iter().enumerate() {
                    if reg.val == Val::Array {
                        arrays.insert(r as u8);
                    }
                }
            }
            for r in arrays.iter() {
                if head[r as usize].is_mem() && !phi_dsts.contains(r) {
                    self.promoted[blk as usize].insert(r);
                    any = true;
                }
            }
        }
        any
    }

    /// The fixpoint of the head states from the entry (see [`Speculation::analyze`]).
    fn fixpoint(&mut self, entry_blk: u32, entry_state: State, entry_pred: u32) {
        let n = self.cfg.blocks.len();
        self.head = vec![None; n];
        self.head[entry_blk as usize] = Some(self.promoted_edge_state(entry_state, entry_blk, entry_pred));
        let mut work = vec![entry_blk];
        while let Some(blk) = work.pop() {
            let out = self.transfer_block(blk, self.head[blk as usize].clone().expect("queued blocks have a head"));
            let last = self.cfg.blocks[blk as usize].end - 1;
            for s in self.cfg.blocks[blk as usize].succs.clone() {
                let incoming = self.promoted_edge_state(out.clone(), s, last);
                let merged = match &self.head[s as usize] {
                    None => incoming,
                    Some(h) => h.iter().zip(incoming.iter()).map(|(a, b)| merge(*a, *b)).collect(),
                };
                if self.head[s as usize].as_ref() != Some(&merged) {
                    self.head[s as usize] = Some(merged);
                    if !work.contains(&s) {
                        work.push(s);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use mdvm_runtime::feedback::Feedback;
    use mdvm_runtime::program::Program;
    use mdvm_runtime::value::Tag;

    use super::*;
    use crate::spec::state::{Reg, Slot};

    fn program(src: &str) -> Program {
        Program::new(mdbc::assemble(src).unwrap_or_else(|e| panic!("{e}"))).unwrap()
    }

    /// The head states of the main program's blocks, entered at its start with every
    /// register empty, under `feedback`.
    fn heads(p: &Program, feedback: &Feedback) -> Vec<Option<State>> {
        let generic = HashSet::new();
        let mut s = Speculation::new(Planner::new(p, feedback, 0, &generic), 0);
        let st = vec![Reg { val: Val::Empty, slot: Slot::Empty, unique: false }; s.nregs];
        s.analyze(0, st, mdvm_runtime::native::NO_PRED);
        s.head
    }

    const LOOP: &str = ".module t
            LOAD_CONST_R r0, int 0
            LOAD_CONST_R r1, int 10
            LOAD_CONST_R r2, float 0.5
    head:   LT_R r3, r0, r1
            JUMP_IF_NOT_R r3, done
            ADD_R r2, r2, r0
            LOAD_CONST_R r4, int 1
            ADD_R r0, r0, r4
            JUMP_R head
    done:   DEBUG_PRINT r2
            RETURN_R";

    #[test]
    fn a_loop_keeps_its_ints_and_floats_unboxed_at_the_header() {
        let p = program(LOOP);
        let heads = heads(&p, &Feedback::new(&p));
        let head = heads[1].as_ref().expect("the loop header is reached");
        assert_eq!(head[0].val, Val::Int);
        assert_eq!(head[1].val, Val::Int);
        // Float plus int is a float: the accumulator stays unboxed around the loop.
        assert_eq!(head[2].val, Val::Float);
        // r3 and r4 are not live at the header.
        assert_eq!((head[3].val, head[4].val), (Val::Dead, Val::Dead));
        let exit = heads[3].as_ref().expect("the exit is reached");
        assert_eq!(exit[2].val, Val::Float);
        assert_eq!(exit[0].val, Val::Dead);
    }

    #[test]
    fn a_register_of_different_types_on_two_paths_meets_in_its_slot() {
        let p = program(
            ".module t
                LOAD_CONST_R r0, bool true
                JUMP_IF_R r0, other
                LOAD_CONST_R r1, int 1
                JUMP_R join
        other:  LOAD_CONST_R r1, float 1.5
        join:   DEBUG_PRINT r1
                RETURN_R",
        );
        let heads = heads(&p, &Feedback::new(&p));
        let join = p.layout.bodies[0].start + 5;
        let cfg = mdbc::cfg::Cfg::build(&p.module, &p.layout.bodies[0]);
        let st = heads[cfg.block_at(join) as usize].as_ref().unwrap();
        assert_eq!(st[1], Reg::MEM);
    }

    #[test]
    fn feedback_decides_what_a_slot_held_operand_is_guarded_as() {
        // r0 is a parameter-like register read before written: in its slot.
        let src = ".module t
                ADD_R r1, r0, r0
                DEBUG_PRINT r1
                RETURN_R";
        let p = program(src);
        let generic = HashSet::new();
        let mut fb = Feedback::new(&p);
        let planner = Planner::new(&p, &fb, 0, &generic);
        let mem = vec![Reg::MEM; 2];
        // No feedback: guessed int.
        assert!(matches!(planner.plan(0, &mem), Plan::Binary { spec: crate::spec::plan::Spec::Int, .. }));
        fb.site_types[p.bodies[0].code_start as usize].a = 1 << Tag::Float as u16;
        fb.site_types[p.bodies[0].code_start as usize].b = 1 << Tag::Float as u16;
        let planner = Planner::new(&p, &fb, 0, &generic);
        assert!(matches!(planner.plan(0, &mem), Plan::Binary { spec: crate::spec::plan::Spec::Float, .. }));
        // A site that misspeculated is generic.
        let generic: HashSet<u32> = [0].into_iter().collect();
        let planner = Planner::new(&p, &fb, 0, &generic);
        assert!(matches!(planner.plan(0, &mem), Plan::Binary { spec: crate::spec::plan::Spec::Generic, .. }));
    }

    #[test]
    fn phis_copy_on_the_edge_and_dead_registers_are_marked() {
        let p = program(
            ".module t
                LOAD_CONST_R r0, int 1
                LOAD_CONST_R r1, float 2.0
                JUMP_R join
        join:   PHI_R r2, r1@2
                DEBUG_PRINT r2
                RETURN_R",
        );
        let generic = HashSet::new();
        let fb = Feedback::new(&p);
        let s = Speculation::new(Planner::new(&p, &fb, 0, &generic), 0);
        let st = vec![Reg { val: Val::Int, slot: Slot::Empty, unique: false }, Reg { val: Val::Float, slot: Slot::Empty, unique: false }, Reg::MEM];
        let edge = s.edge_state(st.clone(), 1, 2);
        assert_eq!(edge[2].val, Val::Float, "the phi copied r1 into r2");
        assert_eq!((edge[0].val, edge[1].val), (Val::Dead, Val::Dead), "neither is read after the phi");
        // From a predecessor the phi has no source for, r2 keeps its value.
        let edge = s.edge_state(st, 1, 7);
        assert_eq!(edge[2], Reg::MEM);
    }
}
