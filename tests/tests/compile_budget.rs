//! Compile budgets: a body with many registers live across many guards is compiled with its
//! registers written through (linear code); a body too long, or one whose side exits would
//! still need too much code, stays in the interpreter instead of taking seconds and gigabytes
//! to compile; and the program's output is the same. The corpus stays within the
//! budget (the conformance tests count a body over it as a failure).

use mdvm::Tier;
use mdvm_tests::assemble_bytes;

/// `nregs` registers set from a function's result (their types are speculated and guarded),
/// then `pairs` ADD_R/SUB_R pairs across them, each with an overflow check whose side exit
/// writes back every live register: exits × live registers grows with the square of the body.
fn wide(nregs: usize, pairs: usize) -> String {
    let mut s = String::from(".module wide\n        LOAD_CONST_R r250, str \"one\"\n");
    for r in 0..nregs {
        s.push_str(&format!("        CALL_R r250, r{r}\n"));
    }
    for i in 0..pairs {
        let (a, b) = (i % nregs, (i * 7 + 3) % nregs);
        s.push_str(&format!("        ADD_R r{a}, r{a}, r{b}\n        SUB_R r{a}, r{a}, r{b}\n"));
    }
    s.push_str("        DEBUG_PRINT r0\n        RETURN_R\n\n.func one\n        LOAD_CONST_R r0, int 1\n        RETURN_R r0\n");
    s
}

/// The output and the result (or error message) of `src` under `tier`, and the stats.
fn run_result(src: &str, tier: Tier) -> ((String, Result<String, String>), mdvm::Stats) {
    let mut vm = mdvm::Vm::builder().tier(tier).load_bytes(&assemble_bytes(src)).expect("loads");
    let o = vm.run_captured();
    let result = o.result.map(|v| format!("{v:?}")).map_err(|e| e.to_string());
    ((String::from_utf8(o.output).expect("UTF-8"), result), vm.stats())
}

fn run(src: &str, tier: Tier) -> (String, mdvm::Stats) {
    let mut vm = mdvm::Vm::builder().tier(tier).load_bytes(&assemble_bytes(src)).expect("loads");
    let o = vm.run_captured();
    o.result.expect("runs");
    (String::from_utf8(o.output).expect("UTF-8"), vm.stats())
}

#[test]
fn a_body_with_many_registers_live_across_many_guards_is_written_through() {
    // 200 live registers across 6,000 guarded instructions: 1.2 million register writes if
    // each side exit boxed them (the release build used to take 38 s and 2.6 GB to compile
    // it). Written through, each definition stores its register and the exits write nothing.
    let src = wide(200, 3_000);
    let (interp, _) = run(&src, Tier::Interp);
    assert_eq!(interp, "1\n");
    let (jit, stats) = run(&src, Tier::Jit);
    assert_eq!(jit, interp);
    let c = stats.jit.expect("the compiled tier").compiled;
    assert_eq!((c.over_budget, c.compile_failures), (0, 0), "{c:?}");
    assert_eq!(c.functions_compiled, 2, "main and `one` are compiled: {c:?}");
    assert_eq!(c.written_through, 1, "main is written through: {c:?}");
    // The same shape, small, keeps its registers in machine registers.
    let (jit, stats) = run(&wide(4, 10), Tier::Jit);
    assert_eq!(jit, "1\n");
    let c = stats.jit.expect("the compiled tier").compiled;
    assert_eq!((c.over_budget, c.written_through, c.functions_compiled), (0, 0, 2), "{c:?}");
}

#[test]
fn written_through_code_side_exits_with_the_interpreters_state() {
    // Overflow at the end of a written-through body: the side exit resumes the interpreter at
    // the overflowing instruction, which raises the error there, after the same output.
    let mut src = String::from(".module overflow\n        LOAD_CONST_R r250, str \"one\"\n");
    for r in 0..40 {
        src.push_str(&format!("        CALL_R r250, r{r}\n"));
    }
    for i in 0..400 {
        let (a, b) = (i % 40, (i * 7 + 3) % 40);
        src.push_str(&format!("        ADD_R r{a}, r{a}, r{b}\n"));
    }
    for r in (0..40).step_by(7) {
        src.push_str(&format!("        DEBUG_PRINT r{r}\n"));
    }
    src.push_str("        LOAD_CONST_R r41, int 9223372036854775807\n        ADD_R r42, r41, r0\n        DEBUG_PRINT r42\n");
    src.push_str("        RETURN_R\n\n.func one\n        LOAD_CONST_R r0, int 1\n        RETURN_R r0\n");
    let (interp, _) = run_result(&src, Tier::Interp);
    let (jit, stats) = run_result(&src, Tier::Jit);
    assert_eq!(jit, interp);
    assert_eq!(interp.0.lines().count(), 6, "{interp:?}");
    assert!(interp.1.as_ref().is_err_and(|e| e.contains("overflow")), "{interp:?}");
    let c = stats.jit.expect("the compiled tier").compiled;
    assert_eq!(c.written_through, 1, "main is written through: {c:?}");
}

#[test]
fn a_written_through_body_whose_exits_still_need_too_many_writes_stays_interpreted() {
    // Ten function names live across 2,600 guarded instructions: written through or not, each
    // side exit writes every name not yet in its slot (26,000 writes).
    let mut src = String::from(".module names\n        LOAD_CONST_R r250, str \"one\"\n");
    for r in 0..4 {
        src.push_str(&format!("        CALL_R r250, r{r}\n"));
    }
    for n in 0..10 {
        src.push_str(&format!("        LOAD_CONST_R r{}, str \"one\"\n", 100 + n));
    }
    for i in 0..1_300 {
        let (a, b) = (i % 4, (i * 3 + 1) % 4);
        src.push_str(&format!("        ADD_R r{a}, r{a}, r{b}\n        SUB_R r{a}, r{a}, r{b}\n"));
    }
    for n in 0..10 {
        src.push_str(&format!("        CALL_R r{}, r{}\n", 100 + n, 120 + n));
    }
    src.push_str("        ADD_R r0, r0, r129\n        DEBUG_PRINT r0\n        RETURN_R\n\n.func one\n        LOAD_CONST_R r0, int 1\n        RETURN_R r0\n");
    let (interp, _) = run(&src, Tier::Interp);
    assert_eq!(interp, "2\n");
    let (jit, stats) = run(&src, Tier::Jit);
    assert_eq!(jit, interp);
    let c = stats.jit.expect("the compiled tier").compiled;
    assert_eq!(c.over_budget, 1, "main is over the budget: {c:?}");
    assert_eq!(c.compile_failures, 0, "{c:?}");
    assert_eq!(c.functions_compiled, 1, "`one` is still compiled: {c:?}");
}

#[test]
fn a_body_over_the_size_budget_stays_interpreted_and_is_not_tried_again() {
    // One loop whose body is 12,000 instructions: too long to compile; its loop would be
    // entered by OSR at every threshold if the refusal were not remembered.
    let mut src = String::from(
        ".module long\n        LOAD_CONST_R r0, int 0\n        LOAD_CONST_R r1, int 3000\n        LOAD_CONST_R r2, int 1\n\
         loop:   LT_R r3, r0, r1\n        JUMP_IF_NOT_R r3, done\n",
    );
    for _ in 0..12_000 {
        src.push_str("        MOVE_R r4, r0\n");
    }
    src.push_str("        ADD_R r0, r0, r2\n        JUMP_R loop\ndone:   DEBUG_PRINT r0\n        RETURN_R\n");
    let (out, stats) = run(&src, Tier::Auto);
    assert_eq!(out, "3000\n");
    let j = stats.jit.expect("the compiled tier");
    assert_eq!(j.compiled.over_budget, 1, "{:?}", j.compiled);
    assert_eq!(j.compiled.osr_compiled + j.compiled.functions_compiled, 0);
    assert_eq!(j.osr_entries, 0);
    let (out, stats) = run(&src, Tier::Jit);
    assert_eq!(out, "3000\n");
    assert_eq!(stats.jit.expect("the compiled tier").compiled.over_budget, 1);
}
