//! String concatenation through its own helper: `CONCAT_STR_R`
//! ([`crate::spec::plan::Plan::Concat`]) and `ADD_R`
//! of two guarded strings call `mdvm_concat`, the interpreter's semantics (an append in place
//! when the destination is the left operand and holds its string alone) without `mdvm_exec`'s
//! instruction decoding.

use cranelift_codegen::ir::{types, InstBuilder};
use mdvm_runtime::helpers::Helper;
use mdvm_runtime::native::DeoptReason;

use crate::lower::{At, Emitter};

impl Emitter<'_, '_, '_> {
    /// `dst = a + b` for the instruction `at`: the operands written to their slots, then
    /// `mdvm_concat` (`display`: `CONCAT_STR_R`'s texts of any values; else `ADD_R` of two
    /// strings). When it fails (a string too long, the memory limit, fuel for its work, or
    /// operands of other types), nothing was written and the side exit resumes at the
    /// instruction, where the interpreter raises the error.
    pub fn emit_concat(&mut self, at: &At, (dst, a, b): (u8, u8, u8), display: bool) {
        self.spill_regs(&[a, b], at.before);
        let reg = |g: &mut Self, r: u8| g.b.ins().iconst(types::I32, r as i64);
        let (d, x, y) = (reg(self, dst), reg(self, a), reg(self, b));
        let how = reg(self, display as u8);
        let (ctx, base) = (self.ctx, self.base);
        let call = self.call_helper(Helper::Concat, &[ctx, base, d, x, y, how]);
        let status = self.b.inst_results(call)[0];
        let snap = self.snapshot_at(at, DeoptReason::Fault);
        self.side_exit_if(status, snap);
    }
}
