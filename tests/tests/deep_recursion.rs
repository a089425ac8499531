//! Deep recursion never overflows the native stack, in any tier: native code switches to a new
//! stack segment near the end of the current one, and so do nested interpreter levels (native
//! code calling back into the interpreter). Tests run on threads with small stacks.

use mdvm::{Tier, Vm};
use mdvm_tests::assemble_bytes;

const DOWN: &str = "
        LOAD_CONST_R r1, str \"down\"
        LOAD_CONST_R r2, int 200000
        CALL_R r1, r0, r2
        DEBUG_PRINT r0
        RETURN_R
.func down
        LOAD_CONST_R r1, int 0
        EQ_R r2, r0, r1
        JUMP_IF_NOT_R r2, rec
        LOAD_CONST_R r3, str \"bottom\"
        RETURN_R r3
rec:    LOAD_CONST_R r4, int 1
        SUB_R r5, r0, r4
        LOAD_CONST_R r6, str \"down\"
        CALL_R r6, r7, r5
        RETURN_R r7";

/// Deep recursion passing an int, a float and a bool: compiled, all three are typed parameters
/// passed unboxed, and each switch to a new stack segment boxes them into the frame first.
const DOWN_TYPED: &str = "
        LOAD_CONST_R r1, str \"down\"
        LOAD_CONST_R r2, int 600000
        LOAD_CONST_R r3, float 0.25
        LOAD_CONST_R r4, bool true
        CALL_R r1, r0, r2, r3, r4
        DEBUG_PRINT r0
        RETURN_R
.func down
        LOAD_CONST_R r3, int 0
        EQ_R r4, r0, r3
        JUMP_IF_NOT_R r4, rec
        JUMP_IF_NOT_R r2, lost
        RETURN_R r1
lost:   LOAD_CONST_R r5, str \"flag lost\"
        RETURN_R r5
rec:    LOAD_CONST_R r6, int 1
        SUB_R r7, r0, r6
        LOAD_CONST_R r8, float 0.5
        ADD_R r9, r1, r8
        LOAD_CONST_R r10, str \"down\"
        CALL_R r10, r11, r7, r9, r2
        RETURN_R r11";

/// `f` gets hot first; then a deep mutual recursion with a cold `g` makes native `f` call
/// into the interpreter for `g`, which calls native `f` again, level after level.
const MUTUAL: &str = "
        LOAD_CONST_R r1, str \"f\"
        LOAD_CONST_R r3, int 0
        LOAD_CONST_R r8, int 0
        LOAD_CONST_R r9, int 2001
        LOAD_CONST_R r10, int 1
warm:   LT_R r11, r8, r9
        JUMP_IF_NOT_R r11, go
        CALL_R r1, r0, r3
        ADD_R r8, r8, r10
        JUMP_R warm
go:     LOAD_CONST_R r2, int 30000
        CALL_R r1, r0, r2
        DEBUG_PRINT r0
        RETURN_R
.func f
        LOAD_CONST_R r1, int 0
        EQ_R r2, r0, r1
        JUMP_IF_NOT_R r2, rec
        RETURN_R r0
rec:    LOAD_CONST_R r4, int 1
        SUB_R r5, r0, r4
        LOAD_CONST_R r6, str \"g\"
        CALL_R r6, r7, r5
        RETURN_R r7
.func g
        LOAD_CONST_R r6, str \"f\"
        CALL_R r6, r7, r0
        RETURN_R r7";

fn run_on_small_stack(src: &'static str, tier: Tier, threshold: u64) -> String {
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let bytes = assemble_bytes(src);
            let mut vm = Vm::builder()
                .tier(tier)
                .jit_threshold(threshold)
                .max_depth(1_000_000)
                .load_bytes(&bytes)
                .unwrap();
            let o = vm.run_captured();
            o.result.unwrap();
            String::from_utf8(o.output).unwrap()
        })
        .unwrap()
        .join()
        .expect("the run must not crash")
}

#[test]
fn deep_native_recursion_switches_stack_segments() {
    for tier in [Tier::Interp, Tier::Jit, Tier::Auto] {
        assert_eq!(run_on_small_stack(DOWN, tier, 1000), "bottom\n", "{tier}");
    }
}

#[test]
fn deep_native_recursion_with_typed_parameters_keeps_them_across_segments() {
    // 0.25 + 600000 * 0.5, exact in binary floating point; 600,000 compiled frames need
    // several 16 MiB segments.
    for tier in [Tier::Interp, Tier::Jit, Tier::Auto] {
        assert_eq!(run_on_small_stack(DOWN_TYPED, tier, 1000), "300000.25\n", "{tier}");
    }
}

#[test]
fn native_and_interpreter_levels_nesting_deeply_do_not_overflow() {
    for tier in [Tier::Interp, Tier::Auto] {
        assert_eq!(run_on_small_stack(MUTUAL, tier, 2000), "0\n", "{tier}");
    }
}

#[test]
fn the_depth_limit_still_ends_runaway_recursion_cleanly() {
    let bytes = assemble_bytes(DOWN);
    for tier in [Tier::Interp, Tier::Jit, Tier::Auto] {
        let mut vm = Vm::builder().tier(tier).max_depth(5_000).load_bytes(&bytes).unwrap();
        let err = vm.run_captured().result.unwrap_err().to_string();
        assert!(err.contains("call depth") && err.contains("`down`"), "{tier}: {err}");
    }
}
