//! Imports: the runtime's helpers and the JIT module's own functions, called by name.
//!
//! Every helper of [`mdvm_runtime::helpers::Helper`] is declared once in the JIT module under
//! its Rust name (with its address registered as that symbol), with the signature the runtime
//! lists for it. Compiled functions import the helpers they call from those declarations, so
//! the CLIF and machine code dumps name them, and no signature is written out here.

use cranelift_codegen::ir::{types, AbiParam, ExtFuncData, ExternalName, FuncRef, Function, Signature, Type, UserExternalName};
use cranelift_codegen::isa::CallConv;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module};
use mdvm_runtime::helpers::{Helper, Word};

/// The CLIF type of a helper word.
fn word_type(w: Word, ptr: Type) -> Type {
    match w {
        Word::Ptr => ptr,
        Word::I64 => types::I64,
        Word::I32 => types::I32,
    }
}

/// The signature of `h` in calling convention `call_conv` (pointers are `ptr`).
pub(crate) fn helper_signature(h: Helper, call_conv: CallConv, ptr: Type) -> Signature {
    let mut s = Signature::new(call_conv);
    s.params.extend(h.params().iter().map(|&w| AbiParam::new(word_type(w, ptr))));
    s.returns.extend(h.returns().iter().map(|&w| AbiParam::new(word_type(w, ptr))));
    s
}

/// Registers the address of every helper under its name, for the module built from `builder`.
pub(crate) fn register_symbols(builder: &mut JITBuilder) {
    builder.symbols(Helper::ALL.iter().map(|h| (h.name(), h.address())));
}

/// Declares every helper as an imported function of `module`; returns their function ids,
/// indexed by [`Helper`] (`Helper::ALL` order).
pub(crate) fn declare_helpers(module: &mut JITModule) -> Result<Vec<u32>, String> {
    let call_conv = module.isa().default_call_conv();
    let ptr = module.isa().pointer_type();
    Helper::ALL
        .iter()
        .map(|&h| {
            module
                .declare_function(h.name(), Linkage::Import, &helper_signature(h, call_conv, ptr))
                .map(|id| id.as_u32())
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Imports function `id` of the JIT module (declared there with `sig`) into `func`, as
/// `cranelift_module::Module::declare_func_in_func` does: `colocated` for the module's own
/// (local) functions, not for helpers (imports).
pub(crate) fn import_function(func: &mut Function, id: u32, sig: Signature, colocated: bool) -> FuncRef {
    let signature = func.import_signature(sig);
    let name = func.declare_imported_user_function(UserExternalName { namespace: 0, index: id });
    func.import_function(ExtFuncData { name: ExternalName::user(name), signature, colocated, patchable: false })
}

/// `text` (a CLIF listing or machine code of function `func`) with the JIT module's functions
/// named: `u0:N` and `userextnameK` (the function's K-th imported name) become `%NAME`, where
/// `name(N)` gives the name of module function N.
pub(crate) fn name_functions(text: &str, func: &Function, name: &dyn Fn(u32) -> Option<String>) -> String {
    let imported: Vec<u32> = func.params.user_named_funcs().values().map(|n| n.index).collect();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = [("u0:", false), ("userextname", true)]
            .iter()
            .filter_map(|&(p, by_ref)| rest.find(p).map(|i| (i, p, by_ref)))
            .min_by_key(|&(i, ..)| i);
        let Some((i, prefix, by_ref)) = next else { break };
        let digits = rest[i + prefix.len()..].chars().take_while(|c| c.is_ascii_digit()).count();
        let number: Option<u32> = rest[i + prefix.len()..i + prefix.len() + digits].parse().ok();
        let id = number.and_then(|n| if by_ref { imported.get(n as usize).copied() } else { Some(n) });
        out.push_str(&rest[..i]);
        match id.and_then(name) {
            Some(n) => out.push_str(&format!("%{n}")),
            None => out.push_str(&rest[i..i + prefix.len() + digits]),
        }
        rest = &rest[i + prefix.len() + digits..];
    }
    out.push_str(rest);
    out
}
