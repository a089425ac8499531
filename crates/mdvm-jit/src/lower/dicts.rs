//! Dict instructions with helpers of their own: `DICT_GET_R` (`mdvm_dict_get`),
//! `DICT_CONTAINS_R` (`mdvm_dict_contains`) and `DICT_SET_R` (`mdvm_dict_set`), with the
//! interpreter's semantics ([`mdvm_runtime::ops`]) but without `mdvm_exec`'s dispatch. The
//! lookup hashes nothing a string has hashed before ([`mdvm_runtime::value::Str::hash_code`]).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder};
use mdvm_runtime::helpers::Helper;
use mdvm_runtime::native::DeoptReason;

use crate::lower::{At, Emitter};
use crate::spec::plan::{DictAccess, Plan};
use crate::spec::state::State;

impl Emitter<'_, '_, '_> {
    /// A [`Plan::Dict`]: its operands written to their slots, then its helper; when the helper
    /// fails (no dict, a key that is no string, or for a store the memory limit or fuel for
    /// its work), nothing was written and the side exit resumes at the instruction, where the
    /// interpreter raises the error. `ops` is the state after the operands.
    pub fn emit_dict(&mut self, at: &At, plan: &Plan, ops: &State) {
        let Plan::Dict { access, dict, key } = *plan else { unreachable!("a dict plan") };
        self.spill_regs(&access.reads(dict, key), at.before);
        let reg = |g: &mut Self, r: u8| g.b.ins().iconst(types::I32, r as i64);
        let (ctx, base) = (self.ctx, self.base);
        let (d, k) = (reg(self, dict), reg(self, key));
        let snap = self.snapshot_at(at, DeoptReason::Fault);
        match access {
            DictAccess::Get { dst } => {
                let dst = reg(self, dst);
                let call = self.call_helper(Helper::DictGet, &[ctx, base, dst, d, k]);
                let status = self.b.inst_results(call)[0];
                self.side_exit_if(status, snap);
            }
            DictAccess::Set { val } => {
                let v = reg(self, val);
                let call = self.call_helper(Helper::DictSet, &[ctx, base, d, k, v]);
                let status = self.b.inst_results(call)[0];
                self.side_exit_if(status, snap);
            }
            DictAccess::Contains { dst } => {
                let call = self.call_helper(Helper::DictContains, &[ctx, base, d, k]);
                let found = self.b.inst_results(call)[0];
                let failed = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThan, found, 1);
                self.side_exit_if(failed, snap);
                let v = self.b.ins().uextend(types::I64, found);
                self.def_int(dst, v, ops);
            }
        }
    }
}
