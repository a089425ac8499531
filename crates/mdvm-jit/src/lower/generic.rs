//! The generic path: an instruction executed by the runtime with the interpreter's own
//! semantics (`mdvm_exec`), for everything compiled code does not specialise (strings, dicts,
//! printing, globals, casts, mixed or unknown operand types, and sites that misspeculated).

use cranelift_codegen::ir::{types, InstBuilder};
use mdvm_runtime::helpers::Helper;
use mdvm_runtime::native::DeoptReason;

use crate::lower::{At, Emitter};

impl Emitter<'_, '_, '_> {
    /// `mdvm_exec` for the instruction `at`, which reads `uses` and writes its result to its
    /// slot; the uses are written to their slots first. When the instruction raises an error,
    /// nothing was written: the side exit resumes at it, and the interpreter raises the error
    /// there.
    pub fn emit_generic(&mut self, at: &At, uses: &[u8]) {
        self.spill_regs(uses, at.before);
        let body = self.b.ins().iconst(types::I32, self.req.body as i64);
        let pcv = self.b.ins().iconst(types::I32, at.pc as i64);
        let (ctx, base) = (self.ctx, self.base);
        let call = self.call_helper(Helper::Exec, &[ctx, body, pcv, base]);
        let status = self.b.inst_results(call)[0];
        let snap = self.snapshot_at(at, DeoptReason::Fault);
        self.side_exit_if(status, snap);
    }
}
