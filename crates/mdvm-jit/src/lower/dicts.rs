//! Dict instructions in machine code: `DICT_GET_R`, `DICT_CONTAINS_R` and `DICT_SET_R` find
//! the key's value by probing the dict's table inline ([`Emitter::dict_entry`]; nothing a
//! string has hashed before is hashed again: [`mdvm_runtime::value::Str::hash_code`]), or
//! reuse an earlier lookup of the same registers that still holds ([`Emitter::lookup`]), so
//! the three instructions of `if k in d: d[k] = d[k] + 1` probe once; then they read or
//! write the 16-byte value in place. Only a store that would grow or copy the dict, or
//! release the value it replaces, goes through `mdvm_dict_set`, with the interpreter's
//! semantics ([`mdvm_runtime::ops`]) and its memory refusal and work charges.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, Value as ClifValue};
use mdvm_runtime::dict::{dict_layout, ENTRY_KEY, ENTRY_SIZE, ENTRY_VALUE, SLOT_HASH, SLOT_POS, SLOT_SIZE};

// A slot is read as one little-endian word (`dict_layout` is `None` otherwise).
const _: () = assert!(SLOT_SIZE == 8 && SLOT_HASH == 0 && SLOT_POS == 4);
use mdvm_runtime::helpers::{Helper, DICT_ENTRY_FAILED};
use mdvm_runtime::native::{stress_id, DeoptReason, GuardSlot};
use mdvm_runtime::value::{str_layout, Tag, PAYLOAD_OFFSET, TAG_OFFSET};

use crate::lower::exits::not_a;
use crate::lower::frame::{flags, slot_offset};
use crate::lower::{At, Emitter};
use crate::spec::plan::{DictAccess, Plan};
use crate::spec::state::{State, Val};

impl Emitter<'_, '_, '_> {
    /// A [`Plan::Dict`]: its operands written to their slots, then `mdvm_dict_entry`. When the
    /// slots hold no dict or no string key, nothing was written and the side exit resumes at
    /// the instruction, where the interpreter raises the error.
    /// - `DICT_CONTAINS_R`: whether the helper found the key, unboxed.
    /// - `DICT_GET_R` speculated to an int, float or bool: the value unboxed, side-exiting when
    ///   the key is absent or the value has another type.
    /// - Other `DICT_GET_R`: the value copied from the entry, taking its own reference to a heap
    ///   value (inline `Rc` increment) before `dst`'s old value is released; empty when absent.
    /// - `DICT_SET_R` of an int, float, bool or empty value into a dict its register holds
    ///   alone, over an entry holding such a value: stored in place (no allocation, no work
    ///   charge, no release, as in the interpreter). Anything else (a new key, a shared dict,
    ///   a heap value written or replaced) goes through `mdvm_dict_set`, whose failure (memory
    ///   limit, fuel for a copy) side-exits the same way.
    ///
    /// `ops` is the state after the operands.
    pub fn emit_dict(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::Dict { access, dict, key } = *plan else { unreachable!("a dict plan") };
        // A plain value to store is written to its slot only on the way to `mdvm_dict_set`:
        // the store in place takes it from its variable, and the state after the instruction
        // claims no more of the slot than that it holds empty or a plain value, as it did.
        let deferred = match access {
            DictAccess::Set { val } if val != dict && val != key => {
                matches!(at.before[val as usize].val, Val::Int | Val::Float | Val::Bool | Val::Empty).then_some(val)
            }
            _ => None,
        };
        let reads: Vec<u8> = access.reads(dict, key).into_iter().filter(|&r| Some(r) != deferred).collect();
        self.spill_regs(&reads, at.before);
        let reg = |g: &mut Self, r: u8| g.b.ins().iconst(types::I32, r as i64);
        let (ctx, base) = (self.ctx, self.base);
        let write = matches!(access, DictAccess::Set { .. });
        // The result of an earlier lookup of this key in this dict, when one is available
        // (it found both tags right); else a lookup, made available to those that follow.
        let reused = self.lookup == Some((dict, key));
        let entry = if reused {
            let e = self.b.use_var(self.lookup_entry);
            if write {
                self.entry_for_write(dict, e)
            } else {
                e
            }
        } else {
            let e = self.dict_entry(dict, key, write);
            if !write {
                self.b.def_var(self.lookup_entry, e);
                self.lookup_made = Some((dict, key));
            }
            e
        };
        // A read whose lookup failed (no dict, or no string key) raises the interpreter's
        // error; a write's failure takes its helper, which raises it.
        if !reused && !write {
            self.exit_if_entry_failed(at, entry);
        }
        match access {
            DictAccess::Contains { dst } => {
                let found = self.b.ins().icmp_imm_u(IntCC::NotEqual, entry, 0);
                let v = self.b.ins().uextend(types::I64, found);
                self.def_int(dst, v, ops);
            }
            DictAccess::Get { dst, expect: Some(t) } => {
                // Absent (the value would be empty) or of another type: the interpreter reads
                // it, and the site's feedback then shows the other type.
                let absent = self.b.ins().icmp_imm_u(IntCC::Equal, entry, 0);
                let snap = self.snapshot_at(at, not_a(t));
                self.side_exit_if(absent, snap);
                let snap = self.snapshot_at(at, DeoptReason::Stress);
                self.stress_guard(stress_id(at.pc, GuardSlot::Element), snap);
                let snap = self.snapshot_at(at, not_a(t));
                let v = self.check_and_unbox_at(entry, 0, t, snap, flags());
                match t {
                    Tag::Float => self.def_float(dst, v, ops),
                    _ => self.def_int(dst, v, ops),
                }
            }
            DictAccess::Get { dst, expect: None } => {
                let layout = mdvm_runtime::value::array_layout().expect("dicts are planned native only with a known layout");
                let (present, counted, done) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
                self.b.append_block_param(done, types::I64);
                self.b.append_block_param(done, types::I64);
                let zero = self.iconst(Tag::Empty as i64);
                let absent = self.b.ins().icmp_imm_u(IntCC::Equal, entry, 0);
                self.b.ins().brif(absent, done, &[zero.into(), zero.into()], present, &[]);
                self.resume_at(present);
                let t = self.b.ins().load(types::I64, flags(), entry, TAG_OFFSET);
                let p = self.b.ins().load(types::I64, flags(), entry, PAYLOAD_OFFSET);
                let heap = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, t, Tag::FIRST_HEAP as i64);
                self.b.ins().brif(heap, counted, &[], done, &[t.into(), p.into()]);
                self.resume_at(counted);
                let strong = self.b.ins().load(types::I64, flags(), p, layout.strong);
                let more = self.b.ins().iadd_imm_s(strong, 1);
                self.b.ins().store(flags(), more, p, layout.strong);
                self.b.ins().jump(done, &[t.into(), p.into()]);
                self.resume_at(done);
                let (t, p) = (self.b.block_params(done)[0], self.b.block_params(done)[1]);
                self.release_for_def(dst, ops);
                let fp = self.fp();
                self.store_words_at(fp, slot_offset(dst as u32), t, p);
            }
            DictAccess::Set { val } => {
                let (slow, done) = (self.b.create_block(), self.b.create_block());
                self.b.set_cold_block(slow);
                let vval = at.before[val as usize].val;
                if matches!(vval, Val::Int | Val::Float | Val::Bool | Val::Empty) {
                    // Over a plain value, in place (0 and DICT_ENTRY_FAILED take the helper).
                    let (t, p) = self.unboxed_words(val, vval);
                    let (found, plain_old) = (self.b.create_block(), self.b.create_block());
                    let usable = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThan, entry, DICT_ENTRY_FAILED as i64);
                    self.b.ins().brif(usable, found, &[], slow, &[]);
                    self.resume_at(found);
                    let old = self.b.ins().load(types::I64, flags(), entry, TAG_OFFSET);
                    let heap = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, old, Tag::FIRST_HEAP as i64);
                    self.b.ins().brif(heap, slow, &[], plain_old, &[]);
                    self.resume_at(plain_old);
                    self.b.ins().store(flags(), t, entry, TAG_OFFSET);
                    self.b.ins().store(flags(), p, entry, PAYLOAD_OFFSET);
                    self.b.ins().jump(done, &[]);
                } else {
                    self.b.ins().jump(slow, &[]);
                }
                self.resume_at(slow);
                if let Some(r) = deferred {
                    self.spill(r, at.before[r as usize]);
                }
                let v = reg(self, val);
                let (d, k) = (reg(self, dict), reg(self, key));
                let call = self.call_helper(Helper::DictSet, &[ctx, base, d, k, v]);
                let status = self.b.inst_results(call)[0];
                let snap = self.snapshot_at(at, DeoptReason::Fault);
                self.side_exit_if(status, snap);
                self.b.ins().jump(done, &[]);
                self.resume_at(done);
            }
        }
    }

    /// The address of the value the dict in the slot of `dict` holds for the string in the slot
    /// of `key`, as `mdvm_dict_entry` returns it (0 when absent, [`DICT_ENTRY_FAILED`] for no
    /// dict or no string; for a `write`, 0 unless the register holds the dict alone, so that
    /// `mdvm_dict_set` makes the change). Machine code checks both tags, then the dict's hint
    /// (the key at the hint this very string), then probes the table with the string's cached
    /// hash ([`mdvm_runtime::dict::DictLayout`]): a free slot means absent, a slot with the
    /// hash whose entry holds this very string is found (and becomes the hint). The helper is
    /// called only for what needs the runtime: a wrong tag, a hash not computed yet, or a slot
    /// with the hash whose key is another string (equal text in another allocation, or a
    /// collision), which the helper compares by content.
    fn dict_entry(&mut self, dict: u8, key: u8, write: bool) -> ClifValue {
        let reg = |g: &mut Self, r: u8| g.b.ins().iconst(types::I32, r as i64);
        let (miss, done) = (self.b.create_block(), self.b.create_block());
        self.b.append_block_param(done, types::I64);
        self.b.set_cold_block(miss);
        let layouts = dict_layout().zip(str_layout()).filter(|_| dict != key);
        if let Some((layout, str_layout)) = layouts {
            let block = |g: &mut Self| g.b.create_block();
            let (dicts, strs, inside, probe_start, hashed) = (block(self), block(self), block(self), block(self), block(self));
            let (probe, occupied, next, candidate, found, hit) =
                (block(self), block(self), block(self), block(self), block(self), block(self));
            self.b.append_block_param(probe, types::I64);
            self.b.append_block_param(hit, types::I64);
            let zero = self.iconst(0);
            let dt = self.load_tag(dict);
            let is_dict = self.b.ins().icmp_imm_u(IntCC::Equal, dt, Tag::Dict as i64);
            self.b.ins().brif(is_dict, dicts, &[], miss, &[]);
            self.resume_at(dicts);
            let kt = self.load_tag(key);
            let is_str = self.b.ins().icmp_imm_u(IntCC::Equal, kt, Tag::Str as i64);
            self.b.ins().brif(is_str, strs, &[], miss, &[]);
            // The hint.
            self.resume_at(strs);
            let d = self.load_payload(dict);
            let k = self.load_payload(key);
            let data = self.b.ins().load(types::I64, flags(), d, layout.entries_data);
            let h = self.b.ins().load(types::I64, flags(), d, layout.hint);
            let len = self.b.ins().load(types::I64, flags(), d, layout.entries_len);
            let within = self.b.ins().icmp(IntCC::UnsignedLessThan, h, len);
            self.b.ins().brif(within, inside, &[], probe_start, &[]);
            self.resume_at(inside);
            let e = self.entry_at(data, h);
            let held = self.b.ins().load(types::I64, flags(), e, ENTRY_KEY);
            let same = self.b.ins().icmp(IntCC::Equal, held, k);
            self.b.ins().brif(same, hit, &[e.into()], probe_start, &[]);
            // The table, from the home of the string's hash.
            self.resume_at(probe_start);
            let hash = self.b.ins().load(types::I64, flags(), k, str_layout.hash);
            let computed = self.b.ins().icmp_imm_u(IntCC::NotEqual, hash, 0);
            self.b.ins().brif(computed, hashed, &[], miss, &[]);
            self.resume_at(hashed);
            let n = self.b.ins().load(types::I64, flags(), d, layout.slots_len);
            let sd = self.b.ins().load(types::I64, flags(), d, layout.slots_data);
            let mask = self.b.ins().iadd_imm_s(n, -1);
            // The slots hold the hash's low 32 bits, so the home and the comparison use those.
            let hash32 = self.b.ins().ireduce(types::I32, hash);
            let low = self.b.ins().uextend(types::I64, hash32);
            let home = self.b.ins().band(low, mask);
            let none = self.b.ins().icmp_imm_u(IntCC::Equal, n, 0);
            self.b.ins().brif(none, done, &[zero.into()], probe, &[home.into()]);
            self.b.switch_to_block(probe);
            let i = self.b.block_params(probe)[0];
            let off = self.b.ins().ishl_imm_u(i, SLOT_SIZE.trailing_zeros() as i64);
            let slot = self.b.ins().iadd(sd, off);
            // The slot as one word: 0 when free, else the hash bits (low half, SLOT_HASH) and
            // the position plus one (high half, SLOT_POS).
            let word = self.b.ins().load(types::I64, flags(), slot, 0);
            let free = self.b.ins().icmp_imm_u(IntCC::Equal, word, 0);
            self.b.ins().brif(free, done, &[zero.into()], occupied, &[]);
            self.resume_at(occupied);
            let held_hash = self.b.ins().ireduce(types::I32, word);
            let same_hash = self.b.ins().icmp(IntCC::Equal, held_hash, hash32);
            self.b.ins().brif(same_hash, candidate, &[], next, &[]);
            self.resume_at(next);
            let i1 = self.b.ins().iadd_imm_s(i, 1);
            let i1 = self.b.ins().band(i1, mask);
            self.b.ins().jump(probe, &[i1.into()]);
            self.b.seal_block(probe);
            self.resume_at(candidate);
            let pos1 = self.b.ins().ushr_imm_u(word, 32);
            let pos = self.b.ins().iadd_imm_s(pos1, -1);
            let e = self.entry_at(data, pos);
            let held = self.b.ins().load(types::I64, flags(), e, ENTRY_KEY);
            let same = self.b.ins().icmp(IntCC::Equal, held, k);
            self.b.ins().brif(same, found, &[], miss, &[]);
            self.resume_at(found);
            self.b.ins().store(flags(), pos, d, layout.hint);
            self.b.ins().jump(hit, &[e.into()]);
            // Found at `e`: its value, or for a write to a shared dict 0 (the helper copies).
            self.resume_at(hit);
            let e = self.b.block_params(hit)[0];
            let v = self.b.ins().iadd_imm_s(e, ENTRY_VALUE as i64);
            if write {
                let strong = self.b.ins().load(types::I64, flags(), d, layout.strong);
                let alone = self.b.ins().icmp_imm_u(IntCC::Equal, strong, 1);
                let v = self.b.ins().select(alone, v, zero);
                self.b.ins().jump(done, &[v.into()]);
            } else {
                self.b.ins().jump(done, &[v.into()]);
            }
        } else {
            self.b.ins().jump(miss, &[]);
        }
        self.resume_at(miss);
        let (ctx, base) = (self.ctx, self.base);
        let (d, k, w) = (reg(self, dict), reg(self, key), reg(self, write as u8));
        let call = self.call_helper(Helper::DictEntry, &[ctx, base, d, k, w]);
        let entry = self.b.inst_results(call)[0];
        self.b.ins().jump(done, &[entry.into()]);
        self.resume_at(done);
        self.b.block_params(done)[0]
    }

    /// An available lookup's `entry` (a value's address, or 0) as a write needs it: 0 unless
    /// the register `dict` holds the dict alone ([`Emitter::dict_entry`]).
    fn entry_for_write(&mut self, dict: u8, entry: ClifValue) -> ClifValue {
        let Some(layout) = dict_layout() else { return self.iconst(0) };
        let (found, done) = (self.b.create_block(), self.b.create_block());
        self.b.append_block_param(done, types::I64);
        let zero = self.iconst(0);
        let absent = self.b.ins().icmp_imm_u(IntCC::Equal, entry, 0);
        self.b.ins().brif(absent, done, &[zero.into()], found, &[]);
        self.resume_at(found);
        let d = self.load_payload(dict);
        let strong = self.b.ins().load(types::I64, flags(), d, layout.strong);
        let alone = self.b.ins().icmp_imm_u(IntCC::Equal, strong, 1);
        let v = self.b.ins().select(alone, entry, zero);
        self.b.ins().jump(done, &[v.into()]);
        self.resume_at(done);
        self.b.block_params(done)[0]
    }

    /// The lookup available at the head of block `blk`: the one every edge into it carried,
    /// when all its predecessors come before it (so their edges are emitted) and it is not an
    /// entry. Blocks are emitted in order, so a loop header (a later predecessor: its
    /// back-edge) and the OSR entry's header start with none.
    pub(crate) fn lookup_at_head(&self, blk: u32) -> Option<(u8, u8)> {
        let preds = &self.s.cfg.blocks[blk as usize].preds;
        if blk == 0 || preds.is_empty() || preds.iter().any(|&p| p >= blk) {
            return None;
        }
        let edges = &self.edge_lookups[blk as usize];
        let first = (*edges.first()?)?;
        edges.iter().all(|&e| e == Some(first)).then_some(first)
    }

    /// Records the lookup an edge into `blk` from `pred` carries: the current one, unless
    /// the edge is an entry or one of its phi copies `phis` writes the dict's or the key's
    /// register.
    pub(crate) fn lookup_on_edge(&mut self, blk: u32, pred: u32, phis: &[(u8, u8)]) {
        let entry = pred == mdvm_runtime::native::NO_PRED || self.entering_osr;
        let carried = self.lookup.filter(|&(d, k)| !entry && !phis.iter().any(|&(dst, _)| dst == d || dst == k));
        if let Some(edges) = self.edge_lookups.get_mut(blk as usize) {
            edges.push(carried);
        }
    }

    /// The lookup available after `ins`: the one it made, else the one before it, unless
    /// `ins` writes the dict's or the key's register, or changes a container in place
    /// (`DICT_SET_R`, `DICT_REMOVE_R` and `DICT_CLEAR_R` may move or free entries;
    /// `ARRAY_SET_R` is counted with them for simplicity). Another register sharing the dict
    /// cannot change it in place: it copies first.
    pub(crate) fn lookup_after(&mut self, ins: &mdbc::Instr) {
        use mdbc::Instr;
        let made = self.lookup_made.take().or(self.lookup);
        let mutates = matches!(ins, Instr::DictSetR { .. } | Instr::DictRemoveR { .. } | Instr::DictClearR { .. } | Instr::ArraySetR { .. });
        self.lookup = made.filter(|&(d, k)| !mutates && ins.def().is_none_or(|r| r != d && r != k));
    }

    /// The address of position `pos` of a dict's entries starting at `data`.
    fn entry_at(&mut self, data: ClifValue, pos: ClifValue) -> ClifValue {
        let off = self.b.ins().imul_imm_u(pos, ENTRY_SIZE as i64);
        self.b.ins().iadd(data, off)
    }

    /// Side-exits (to raise the interpreter's error) when `mdvm_dict_entry` found no dict or
    /// no string key.
    fn exit_if_entry_failed(&mut self, at: &At, entry: ClifValue) {
        let failed = self.b.ins().icmp_imm_u(IntCC::Equal, entry, DICT_ENTRY_FAILED as i64);
        let snap = self.snapshot_at(at, DeoptReason::Fault);
        self.side_exit_if(failed, snap);
    }
}
