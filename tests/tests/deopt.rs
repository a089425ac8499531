//! Deoptimization: each guard kind of compiled code (int, float, bool, string and array
//! operands, array element types and bounds, checked int overflow) is forced to fail mid-run,
//! and the interpreter must continue the same frame at the same instruction with the same
//! state: the program prints exactly what the interpreter alone prints, ends with the same
//! result or error, and executes the same number of instructions.

use mdvm::{DeoptReason, Tier, Vm};
use mdvm_tests::assemble_bytes;

struct Outcome {
    stdout: String,
    result: Result<String, String>,
    instructions: u64,
    deopts: Vec<(DeoptReason, u64)>,
    compiled: u64,
}

fn run(bytes: &[u8], tier: Tier, threshold: u64, stress: bool) -> Outcome {
    run_fueled(bytes, tier, threshold, stress, None)
}

/// [`run`] with a fuel budget (a miscompiled loop then ends with a fuel error, not a hang).
fn run_fueled(bytes: &[u8], tier: Tier, threshold: u64, stress: bool, fuel: Option<u64>) -> Outcome {
    run_built(Vm::builder().tier(tier).jit_threshold(threshold).stress_deopt(stress).fuel(fuel), bytes)
}

/// Loads `bytes` with `builder` and runs them with the output captured.
fn run_built(builder: mdvm::VmBuilder, bytes: &[u8]) -> Outcome {
    let mut vm = builder.load_bytes(bytes).unwrap();
    let o = vm.run_captured();
    let stats = vm.stats();
    let jit = stats.jit.clone();
    Outcome {
        stdout: String::from_utf8(o.output).unwrap(),
        result: o.result.map(|v| format!("{v:?}")).map_err(|e| e.to_string()),
        instructions: vm.instruction_count(),
        deopts: jit.as_ref().map(|j| j.deopts.clone()).unwrap_or_default(),
        compiled: jit.map(|j| j.compiled.functions_compiled + j.compiled.osr_compiled).unwrap_or(0),
    }
}

/// Runs `src` in the interpreter and compiled (threshold 10, with and without stress mode),
/// checks they agree exactly, and that the compiled run side-exited for `reason`.
fn check(src: &str, reason: DeoptReason) -> String {
    let bytes = assemble_bytes(src);
    let interp = run(&bytes, Tier::Interp, 10, false);
    for (tier, stress) in [(Tier::Auto, false), (Tier::Jit, false), (Tier::Auto, true)] {
        let jit = run(&bytes, tier, 10, stress);
        let what = format!("{tier} stress={stress}");
        assert_eq!(jit.stdout, interp.stdout, "{what}: stdout");
        assert_eq!(jit.result, interp.result, "{what}: result");
        assert_eq!(jit.instructions, interp.instructions, "{what}: instruction count");
        assert!(jit.compiled >= 1, "{what}: nothing was compiled");
        if tier == Tier::Auto && !stress {
            // (Eager compilation has no feedback yet and guesses ints: other exits.)
            assert!(
                jit.deopts.iter().any(|(r, n)| *r == reason && *n > 0),
                "{what}: expected a side exit for {reason:?}, got {:?}",
                jit.deopts
            );
        } else if stress {
            assert!(jit.deopts.iter().any(|(r, _)| *r == DeoptReason::Stress), "{what}: no stress exits");
        }
    }
    interp.stdout
}

/// `f` is called 30 times with `$first` values, then once with `$then`.
fn program(body: &str, first: &str, then: &str) -> String {
    format!(
        "
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 30
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r4, str \"f\"
loop:   LT_R r3, r0, r1
        JUMP_IF_NOT_R r3, done
        LOAD_CONST_R r5, {first}
        CALL_R r4, r6, r5, r0
        ADD_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r6
        LOAD_CONST_R r5, {then}
        CALL_R r4, r6, r5, r0
        DEBUG_PRINT r6
        DEBUG_PRINT r0
        RETURN_R r6
.func f
{body}"
    )
}

#[test]
fn int_guard_fails_on_a_float() {
    let body = "        LOAD_CONST_R r2, int 1
        ADD_R r3, r0, r2
        DEBUG_PRINT r1
        RETURN_R r3";
    let out = check(&program(body, "int 41", "float 2.5"), DeoptReason::NotInt);
    assert!(out.ends_with("42\n30\n3.5\n30\n"), "{out}");
}

#[test]
fn float_guard_fails_on_an_int() {
    let body = "        LOAD_CONST_R r2, float 0.5
        MUL_R r3, r0, r2
        RETURN_R r3";
    let out = check(&program(body, "float 3.0", "int 7"), DeoptReason::NotFloat);
    assert_eq!(out, "1.5\n3.5\n30\n");
}

#[test]
fn bool_guard_fails_on_an_int() {
    let body = "        LOAD_CONST_R r2, bool true
        AND_R r3, r0, r2
        NOT_R r4, r3
        RETURN_R r4";
    let out = check(&program(body, "bool true", "int 0"), DeoptReason::NotBool);
    assert_eq!(out, "false\ntrue\n30\n");
}

#[test]
fn string_guard_fails_on_an_int() {
    let body = "        LOAD_CONST_R r2, str \"!\"
        ADD_R r3, r0, r2
        RETURN_R r3";
    // The second call concatenates an int with a string: the guard exits, and the
    // interpreter raises the type error at the same instruction.
    let bytes = assemble_bytes(&program(body, "str \"hey\"", "int 5"));
    let interp = run(&bytes, Tier::Interp, 10, false);
    assert_eq!(interp.stdout, "hey!\n");
    let err = interp.result.clone().unwrap_err();
    assert!(err.contains("type error") && err.contains("`f`"), "{err}");
    for (tier, stress) in [(Tier::Auto, false), (Tier::Jit, false), (Tier::Auto, true)] {
        let jit = run(&bytes, tier, 10, stress);
        assert_eq!(jit.stdout, interp.stdout);
        assert_eq!(jit.result, interp.result);
        assert_eq!(jit.instructions, interp.instructions);
        if tier == Tier::Auto && !stress {
            assert!(jit.deopts.iter().any(|(r, _)| *r == DeoptReason::NotString), "{tier}: {:?}", jit.deopts);
        }
    }
}

#[test]
fn overflow_leaves_compiled_code_and_the_interpreter_raises_it() {
    let body = "        LOAD_CONST_R r2, int 2
        MUL_R r3, r0, r2
        RETURN_R r3";
    let bytes = assemble_bytes(&program(body, "int 1000", "int 9223372036854775807"));
    let interp = run(&bytes, Tier::Interp, 10, false);
    assert_eq!(interp.stdout, "2000\n");
    let err = interp.result.clone().unwrap_err();
    assert!(err.contains("overflow") && err.contains("instruction"), "{err}");
    for (tier, stress) in [(Tier::Auto, false), (Tier::Jit, false), (Tier::Auto, true)] {
        let jit = run(&bytes, tier, 10, stress);
        assert_eq!(jit.stdout, interp.stdout, "{tier}");
        assert_eq!(jit.result, interp.result, "{tier}: same error, same function and position");
        assert_eq!(jit.instructions, interp.instructions, "{tier}");
        if !stress {
            assert!(jit.deopts.iter().any(|(r, _)| *r == DeoptReason::Overflow), "{tier}: {:?}", jit.deopts);
        }
    }
}

#[test]
fn a_loop_entered_by_osr_deopts_when_a_register_changes_type() {
    // x = x + step, with step an int for 300 iterations, then a float, then a string.
    let src = "
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 1
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r3, int 900
        LOAD_CONST_R r4, int 300
        LOAD_CONST_R r5, int 600
        LOAD_CONST_R r6, int 1
loop:   LT_R r10, r2, r3
        JUMP_IF_NOT_R r10, done
        EQ_R r11, r2, r4
        JUMP_IF_NOT_R r11, check2
        LOAD_CONST_R r1, float 0.25
check2: EQ_R r11, r2, r5
        JUMP_IF_NOT_R r11, body
        DEBUG_PRINT r0
        CONCAT_STR_R r0, r0, r0
        LOAD_CONST_R r1, str \"z\"
body:   ADD_R r0, r0, r1
        ADD_R r2, r2, r6
        JUMP_R loop
done:   STR_LEN_R r12, r0
        DEBUG_PRINT r12
        RETURN_R";
    let out = check(src, DeoptReason::NotInt);
    assert_eq!(out, "375\n306\n");
}

#[test]
fn many_deopts_recompile_the_function_generically() {
    // Ints for 50 calls, then strings: the int-specialised code keeps failing its guard, so
    // the function is discarded and compiled again with that site generic.
    let src = "
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 200
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r4, str \"f\"
        LOAD_CONST_R r7, int 50
        LOAD_CONST_R r10, str \"s\"
loop:   LT_R r3, r0, r1
        JUMP_IF_NOT_R r3, done
        LT_R r11, r0, r7
        JUMP_IF_R r11, even
        CALL_R r4, r6, r10
        JUMP_R next
even:   CALL_R r4, r6, r0
next:   ADD_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r6
        RETURN_R
.func f
        ADD_R r1, r0, r0
        RETURN_R r1";
    let bytes = assemble_bytes(src);
    let interp = run(&bytes, Tier::Interp, 10, false);
    assert_eq!(interp.stdout, "ss\n");
    let mut vm = Vm::builder().tier(Tier::Auto).jit_threshold(5).load_bytes(&bytes).unwrap();
    let o = vm.run_captured();
    assert_eq!(String::from_utf8(o.output).unwrap(), "ss\n");
    let jit = vm.stats().jit.unwrap();
    assert!(jit.compiled.recompilations >= 1, "{jit:?}");
    assert_eq!(vm.instruction_count(), interp.instructions);
}

/// Regressions found by the differential property test (`malformed.rs`): the compiled tier
/// must agree with the interpreter exactly.
fn agrees_everywhere(src: &str) {
    let bytes = assemble_bytes(src);
    let interp = run(&bytes, Tier::Interp, 10, false);
    for (tier, stress) in [(Tier::Jit, false), (Tier::Auto, false), (Tier::Jit, true)] {
        let jit = run(&bytes, tier, 1, stress);
        assert_eq!((&jit.stdout, &jit.result, jit.instructions), (&interp.stdout, &interp.result, interp.instructions), "{tier} stress={stress}");
    }
}

#[test]
fn a_window_of_256_registers_is_materialized_at_joins() {
    // r255 makes the window 256 registers wide; the loop header needs r0 and r3 in their
    // slots, and the add fails on an empty r2 at instruction 6 in every tier.
    agrees_everywhere(
        "
        LOAD_CONST_R r0, float 1.0
        LOAD_CONST_R r3, int 0
        LOAD_CONST_R r4, int 3
        LOAD_CONST_R r5, int 1
L6:     LT_R r6, r3, r4
        JUMP_IF_NOT_R r6, L14
        ADD_R r8, r0, r2
        MOVE_R r0, r8
        ADD_R r255, r3, r5
        MOVE_R r3, r9
        JUMP_R L6
L14:    DEBUG_PRINT r0
        RETURN_R",
    );
}

#[test]
fn a_register_spilled_for_a_helper_is_cleared_on_return() {
    // `f` prints r3 before writing it (empty: nothing printed); the value it later writes and
    // prints must not survive into the next call's fresh window.
    agrees_everywhere(
        "
        LOAD_CONST_R r0, str \"f\"
        LOAD_CONST_R r1, float 6.0
        LOAD_CONST_R r2, float 2.0
        CALL_R r0, r5, r1, r2
        CALL_R r0, r5, r2, r1
        RETURN_R
.func f
        DEBUG_PRINT r3
        DIV_R r3, r0, r1
        DEBUG_PRINT r3
        RETURN_R",
    );
}

/// `f(arr, i)` returns `arr[i] + 1` (an `ARRAY_GET_R` read in machine code once compiled);
/// it is called 30 times as `f([41, 2.5, empty], 0)`, then once as `f(<then>)`, where `then`
/// names main's registers: r5 the array, r10 the string "abc", r8 0, r2 1, r7 3, r11 -1.
fn array_program(then: &str) -> String {
    format!(
        "
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 30
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r4, str \"f\"
        LOAD_CONST_R r7, int 3
        NEW_ARRAY_R r5, r7
        LOAD_CONST_R r8, int 0
        LOAD_CONST_R r9, int 41
        ARRAY_SET_R r5, r8, r9
        LOAD_CONST_R r9, float 2.5
        ARRAY_SET_R r5, r2, r9
        LOAD_CONST_R r10, str \"abc\"
        LOAD_CONST_R r11, int -1
loop:   LT_R r3, r0, r1
        JUMP_IF_NOT_R r3, done
        CALL_R r4, r6, r5, r8
        ADD_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r6
        CALL_R r4, r6, {then}
        DEBUG_PRINT r6
        RETURN_R r6
.func f
        ARRAY_LEN_R r5, r0
        ARRAY_GET_R r2, r0, r1
        LOAD_CONST_R r3, int 1
        ADD_R r4, r2, r3
        RETURN_R r4"
    )
}

#[test]
fn array_element_guard_fails_on_a_float_element() {
    let out = check(&array_program("r5, r2"), DeoptReason::NotInt);
    assert_eq!(out, "42\n3.5\n");
}

#[test]
fn array_guard_fails_on_a_string_and_the_interpreter_raises_the_error() {
    let bytes = assemble_bytes(&array_program("r10, r8"));
    let interp = run(&bytes, Tier::Interp, 10, false);
    let err = interp.result.clone().unwrap_err();
    assert!(err.contains("`f`"), "{err}");
    check(&array_program("r10, r8"), DeoptReason::NotArray);
}

#[test]
fn array_index_out_of_range_leaves_compiled_code_and_the_interpreter_raises_it() {
    for then in ["r5, r7", "r5, r11"] {
        let bytes = assemble_bytes(&array_program(then));
        let interp = run(&bytes, Tier::Interp, 10, false);
        assert_eq!(interp.stdout, "42\n");
        let err = interp.result.clone().unwrap_err();
        assert!(err.contains("`f`") && err.contains("index"), "{then}: {err}");
        check(&array_program(then), DeoptReason::Fault);
    }
}

#[test]
fn array_writes_in_a_compiled_loop_keep_value_semantics() {
    // arr = [0, 1, 2, 3]; copy = arr; then for i < 4 in a loop of compiled code: x = arr[i];
    // arr[i] = x + 10 (the first write copies the shared array, moving its elements);
    // y = arr[i] must read the new element. copy is unchanged.
    let src = "
        LOAD_CONST_R r0, int 4
        NEW_ARRAY_R r1, r0
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r3, int 1
        LOAD_CONST_R r4, int 10
fill:   LT_R r5, r2, r0
        JUMP_IF_NOT_R r5, filled
        ARRAY_SET_R r1, r2, r2
        ADD_R r2, r2, r3
        JUMP_R fill
filled: MOVE_R r6, r1
        LOAD_CONST_R r2, int 0
        ARRAY_LEN_R r9, r1
loop:   LT_R r5, r2, r9
        JUMP_IF_NOT_R r5, done
        ARRAY_GET_R r7, r1, r2
        ADD_R r7, r7, r4
        ARRAY_SET_R r1, r2, r7
        ARRAY_GET_R r8, r1, r2
        DEBUG_PRINT r8
        ARRAY_GET_R r8, r6, r2
        DEBUG_PRINT r8
        ADD_R r2, r2, r3
        JUMP_R loop
done:   DEBUG_PRINT r1
        DEBUG_PRINT r6
        RETURN_R";
    let bytes = assemble_bytes(src);
    let interp = run(&bytes, Tier::Interp, 10, false);
    assert_eq!(interp.stdout, "10\n0\n11\n1\n12\n2\n13\n3\n[10, 11, 12, 13]\n[0, 1, 2, 3]\n");
    for (tier, stress) in [(Tier::Jit, false), (Tier::Jit, true)] {
        let jit = run(&bytes, tier, 1, stress);
        assert_eq!((&jit.stdout, &jit.result, jit.instructions), (&interp.stdout, &interp.result, interp.instructions), "{tier} stress={stress}");
    }
    let mut vm = Vm::builder().tier(Tier::Auto).jit_threshold(1).load_bytes(&bytes).unwrap();
    let o = vm.run_captured();
    assert_eq!(String::from_utf8(o.output).unwrap(), interp.stdout);
    let compiled = vm.stats().jit.unwrap().compiled;
    assert!(compiled.functions_compiled + compiled.osr_compiled >= 1, "{compiled:?}");
}

/// Element writes in compiled code, in place where the array is held alone and keeps its form,
/// through the runtime otherwise: an int over a string (an element that owns something), a
/// bool over an int in an array of values, ints appended to a packed prefix, and copies taken
/// part-way, which the next write must leave unchanged.
#[test]
fn array_writes_in_place_keep_value_semantics_in_every_form() {
    let src = "
        LOAD_CONST_R r0, int 6
        NEW_ARRAY_R r1, r0
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r3, int 1
        LOAD_CONST_R r4, str \"s\"
        LOAD_CONST_R r5, bool true
        LOAD_CONST_R r7, int 3
fill:   LT_R r6, r2, r0
        JUMP_IF_NOT_R r6, filled
        ARRAY_SET_R r1, r2, r4
        ADD_R r2, r2, r3
        JUMP_R fill
filled: LOAD_CONST_R r2, int 0
loop:   LT_R r6, r2, r0
        JUMP_IF_NOT_R r6, ints
        ARRAY_SET_R r1, r2, r2
        ARRAY_SET_R r1, r2, r5
        EQ_R r8, r2, r7
        JUMP_IF_NOT_R r8, next
        MOVE_R r9, r1
next:   ADD_R r2, r2, r3
        JUMP_R loop
ints:   NEW_ARRAY_R r10, r0
        LOAD_CONST_R r2, int 0
fill2:  LT_R r6, r2, r0
        JUMP_IF_NOT_R r6, done
        MUL_R r11, r2, r2
        ARRAY_SET_R r10, r2, r11
        EQ_R r8, r2, r7
        JUMP_IF_NOT_R r8, next2
        MOVE_R r12, r10
next2:  ADD_R r2, r2, r3
        JUMP_R fill2
done:   DEBUG_PRINT r1
        DEBUG_PRINT r9
        DEBUG_PRINT r10
        DEBUG_PRINT r12
        RETURN_R";
    let interp = run(&assemble_bytes(src), Tier::Interp, 10, false);
    assert_eq!(
        interp.stdout,
        "[true, true, true, true, true, true]\n[true, true, true, true, s, s]\n[0, 1, 4, 9, 16, 25]\n[0, 1, 4, 9, empty, empty]\n"
    );
    agrees_within_fuel(src);
}

/// Bools are packed, a fresh array (nothing written yet) passes a view's form guard, and an
/// array read that meets both forms (here a packed bool array in even rounds, the same flags
/// held as values in odd ones) handles both after one miss: a few array-form deopts in all,
/// not one per round until the site gives up.
#[test]
fn array_reads_meeting_both_forms_handle_both() {
    let src = "
        LOAD_CONST_R r0, int 50         ; n
        LOAD_CONST_R r1, int 40         ; rounds
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r3, int 3
        LOAD_CONST_R r4, int 0
        LOAD_CONST_R r5, int 2
        LOAD_CONST_R r16, str \"x\"
        LOAD_CONST_R r20, int 0         ; round
        LOAD_CONST_R r21, int 0         ; total
round:  LT_R r6, r20, r1
        JUMP_IF_NOT_R r6, done
        NEW_ARRAY_R r7, r0
        LOAD_CONST_R r8, int 0
fill:   LT_R r6, r8, r0
        JUMP_IF_NOT_R r6, filled
        MOD_R r9, r8, r3
        EQ_R r10, r9, r4                ; i % 3 == 0
        ARRAY_SET_R r7, r8, r10
        ADD_R r8, r8, r2
        JUMP_R fill
filled: MOD_R r9, r20, r5
        JUMP_IF_NOT_R r9, count
        SUB_R r11, r0, r2               ; odd rounds: values form, same flags
        ARRAY_GET_R r12, r7, r11
        ARRAY_SET_R r7, r11, r16
        ARRAY_SET_R r7, r11, r12
count:  LOAD_CONST_R r8, int 0
loop:   LT_R r6, r8, r0
        JUMP_IF_NOT_R r6, next
        ARRAY_GET_R r13, r7, r8
        JUMP_IF_NOT_R r13, skip
        ADD_R r21, r21, r2
skip:   ADD_R r8, r8, r2
        JUMP_R loop
next:   ADD_R r20, r20, r2
        JUMP_R round
done:   DEBUG_PRINT r21
        DEBUG_PRINT r7
        RETURN_R";
    let interp = run(&assemble_bytes(src), Tier::Interp, 10, false);
    let flags: Vec<&str> = (0..50).map(|i| if i % 3 == 0 { "true" } else { "false" }).collect();
    assert_eq!(interp.stdout, format!("{}\n[{}]\n", 40 * 17, flags.join(", ")));
    agrees_within_fuel(src);
    // At most two misses per array site (six): a read's guess made before it first ran, then
    // a form it was not compiled for; and as many in 400 rounds as in 40.
    let misses = |src: &str, tier: Tier| {
        let jit = run(&assemble_bytes(src), tier, 1, false);
        jit.deopts.iter().filter(|(r, _)| *r == DeoptReason::ArrayKind).map(|(_, n)| n).sum::<u64>()
    };
    let longer = src.replace("int 40         ; rounds", "int 400        ; rounds");
    for tier in [Tier::Jit, Tier::Auto] {
        let (short, long) = (misses(src, tier), misses(&longer, tier));
        assert!(short <= 12 && long == short, "{tier}: {short} array-form deopts in 40 rounds, {long} in 400");
    }
}

/// Elements of any type read from an array of values in compiled code (strings, a nested
/// list, an int, an empty) keep value semantics: each read takes its own reference, the
/// register read into may be the array itself, and an element read out survives the array
/// being replaced.
#[test]
fn array_reads_of_any_element_type_take_their_own_reference() {
    let src = "
        LOAD_CONST_R r0, int 5
        NEW_ARRAY_R r1, r0
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r3, int 1
        LOAD_CONST_R r4, str \"w\"
fill:   LT_R r5, r2, r0
        JUMP_IF_NOT_R r5, filled
        CONCAT_STR_R r6, r4, r2
        ARRAY_SET_R r1, r2, r6
        ADD_R r2, r2, r3
        JUMP_R fill
filled: LOAD_CONST_R r7, int 2
        NEW_ARRAY_R r8, r7
        ARRAY_SET_R r1, r7, r8          ; a nested list
        LOAD_CONST_R r7, int 3
        ARRAY_SET_R r1, r7, r7          ; an int
        LOAD_CONST_R r9, int 0          ; i
        LOAD_CONST_R r10, int 0         ; total length of the strings read
        LOAD_CONST_R r11, int 3000
loop:   LT_R r5, r9, r11
        JUMP_IF_NOT_R r5, done
        MOD_R r12, r9, r0
        ARRAY_GET_R r13, r1, r12
        CHECK_TYPE_R r14, r13, string
        JUMP_IF_NOT_R r14, next
        STR_LEN_R r15, r13
        ADD_R r10, r10, r15
next:   ADD_R r9, r9, r3
        JUMP_R loop
done:   LOAD_CONST_R r12, int 4
        ARRAY_GET_R r16, r1, r12        ; w4, kept
        LOAD_CONST_R r12, int 0
        ARRAY_GET_R r1, r1, r12         ; the array replaced by its first element
        DEBUG_PRINT r10
        DEBUG_PRINT r1
        DEBUG_PRINT r16
        DEBUG_PRINT r13
        RETURN_R";
    let bytes = assemble_bytes(src);
    let interp = run(&bytes, Tier::Interp, 10, false);
    // 3,000 reads cycle through 5 elements: 600 of each of the three strings of length 2.
    assert_eq!(interp.stdout, format!("{}\nw0\nw4\nw4\n", 600 * 3 * 2));
    agrees_within_fuel(src);
}

/// Arrays swapped through a register before an inner loop reach its head in their slots but
/// leave its body as known arrays: the head promotes them (the entering edge guards and reads
/// the views once). From round 20 one of them holds text on the way in, where the loop does
/// not read it as an array: the edge guard fails, the interpreter goes on at the head, and the
/// results and instruction counts stay those of the interpreter.
#[test]
fn arrays_promoted_at_loop_heads_guard_their_entering_edges() {
    let src = "
        LOAD_CONST_R r0, int 30         ; rounds
        LOAD_CONST_R r1, int 1
        LOAD_CONST_R r2, int 0          ; round
        LOAD_CONST_R r3, int 8          ; n
        LOAD_CONST_R r12, int 10
        NEW_ARRAY_R r4, r3              ; a[i] = i
        NEW_ARRAY_R r5, r3              ; b[i] = 10 i
        LOAD_CONST_R r9, int 0
fill:   LT_R r7, r9, r3
        JUMP_IF_NOT_R r7, filled
        ARRAY_SET_R r4, r9, r9
        MUL_R r13, r9, r12
        ARRAY_SET_R r5, r9, r13
        ADD_R r9, r9, r1
        JUMP_R fill
filled: LOAD_CONST_R r20, int 0         ; total
        LOAD_CONST_R r21, int 20
        LOAD_CONST_R r22, str \"text\"
round:  LT_R r7, r2, r0
        JUMP_IF_NOT_R r7, done
        MOVE_R r6, r4                   ; swap a and b through r6
        MOVE_R r4, r5
        MOVE_R r5, r6
        LT_R r8, r2, r21
        JUMP_IF_R r8, keep
        MOVE_R r6, r22                  ; from round 20, r6 holds text
keep:   LOAD_CONST_R r9, int 0
inner:  LT_R r7, r9, r3
        JUMP_IF_NOT_R r7, next
        ARRAY_GET_R r10, r4, r9
        ADD_R r20, r20, r10
        JUMP_IF_NOT_R r8, skip          ; r6 is read as an array only before round 20
        ARRAY_GET_R r11, r6, r9
        ADD_R r20, r20, r11
skip:   ADD_R r9, r9, r1
        JUMP_R inner
next:   ADD_R r2, r2, r1
        JUMP_R round
done:   DEBUG_PRINT r20
        RETURN_R";
    // After the swap of round k, a is b's old contents (10 i in even rounds) and r6 is the other.
    let (small, large) = ((0..8).sum::<i64>(), (0..8).map(|i| 10 * i).sum::<i64>());
    let total: i64 = (0..30).map(|k| if k % 2 == 0 { large + if k < 20 { small } else { 0 } } else { small + if k < 20 { large } else { 0 } }).sum();
    let bytes = assemble_bytes(src);
    let interp = run(&bytes, Tier::Interp, 10, false);
    assert_eq!(interp.stdout, format!("{total}\n"));
    agrees_within_fuel(src);
    let jit = run(&bytes, Tier::Jit, 1, false);
    assert!(jit.deopts.iter().any(|(r, n)| *r == DeoptReason::ArrayKind && *n > 0), "the text on the way in: {:?}", jit.deopts);
}

/// A copy from a register that is dead after it moves the value in compiled code (no
/// reference added): a swap through a temporary leaves each array held once, so the next
/// write is in place, and must not make the two arrays one. Also a move onto a register
/// holding the same array, and a move of a string.
#[test]
fn moves_from_dead_registers_keep_value_semantics() {
    let src = "
        LOAD_CONST_R r0, int 4
        LOAD_CONST_R r1, int 1
        NEW_ARRAY_R r2, r0              ; a
        NEW_ARRAY_R r3, r0              ; b
        LOAD_CONST_R r4, int 0          ; round
        LOAD_CONST_R r5, int 50
        LOAD_CONST_R r9, str \"s\"
round:  LT_R r6, r4, r5
        JUMP_IF_NOT_R r6, done
        LOAD_CONST_R r7, int 0
fill:   LT_R r6, r7, r0
        JUMP_IF_NOT_R r6, filled
        ADD_R r8, r4, r7
        ARRAY_SET_R r3, r7, r8          ; b[i] = round + i
        ADD_R r7, r7, r1
        JUMP_R fill
filled: MOVE_R r10, r2                  ; swap a and b through r10 (dead after)
        MOVE_R r2, r3
        MOVE_R r3, r10
        MOVE_R r11, r2                  ; r11 and r12 hold a, r12 dies moving onto r11
        MOVE_R r12, r11
        MOVE_R r11, r12
        CONCAT_STR_R r13, r9, r4
        MOVE_R r14, r13                 ; a string moved
        ADD_R r4, r4, r1
        JUMP_R round
done:   DEBUG_PRINT r2
        DEBUG_PRINT r3
        DEBUG_PRINT r11
        DEBUG_PRINT r14
        RETURN_R";
    let interp = run(&assemble_bytes(src), Tier::Interp, 10, false);
    // After round k's swap, a is what b was filled with (k + i), b is round k - 1's.
    assert_eq!(interp.stdout, "[49, 50, 51, 52]\n[48, 49, 50, 51]\n[49, 50, 51, 52]\ns49\n");
    agrees_within_fuel(src);
}

/// Dict lookups in machine code (the hint checked inline, `mdvm_dict_entry` on a miss, values
/// read and overwritten in place) keep the interpreter's semantics: counts kept in place, a
/// snapshot sharing the dict that must not see later writes, heap values replaced, removals
/// that leave the hint on a hole or past the end, a read into the dict's own register, and a
/// key of the wrong type raising the interpreter's error.
#[test]
fn dict_lookups_in_machine_code_keep_value_semantics() {
    let src = "
        LOAD_CONST_R r0, int 60
        LOAD_CONST_R r1, int 1
        LOAD_CONST_R r2, int 5
        DICT_NEW_R r3                   ; counts
        LOAD_CONST_R r4, str \"k\"
        NEW_ARRAY_R r5, r2              ; the keys k0..k4
        LOAD_CONST_R r6, int 0
mk:     LT_R r7, r6, r2
        JUMP_IF_NOT_R r7, made
        CONCAT_STR_R r8, r4, r6
        ARRAY_SET_R r5, r6, r8
        ADD_R r6, r6, r1
        JUMP_R mk
made:   LOAD_CONST_R r6, int 0
        LOAD_CONST_R r20, str \"+\"
        LOAD_CONST_R r21, int 10
        LOAD_CONST_R r22, int 0
        LOAD_CONST_R r23, int 11
        LOAD_CONST_R r24, int 5
        DICT_NEW_R r15                  ; texts
        DICT_NEW_R r14                  ; snapshot
loop:   LT_R r7, r6, r0
        JUMP_IF_NOT_R r7, done
        MOD_R r9, r6, r2
        ARRAY_GET_R r10, r5, r9         ; key = keys[i % 5]
        DICT_CONTAINS_R r11, r3, r10
        JUMP_IF_NOT_R r11, first
        DICT_GET_R r12, r3, r10
        ADD_R r12, r12, r1
        JUMP_R store
first:  MOVE_R r12, r1
store:  DICT_SET_R r3, r10, r12         ; counts[key] += 1: in place once the key is there
        DICT_GET_R r16, r15, r10        ; texts[key]: empty, then a string
        CONCAT_STR_R r16, r16, r20
        DICT_SET_R r15, r10, r16        ; a heap value replaced
        MOD_R r13, r6, r21
        EQ_R r13, r13, r22
        JUMP_IF_NOT_R r13, keep
        MOVE_R r14, r3                  ; every 10th step a snapshot shares counts
        DICT_SET_R r14, r10, r20        ; and diverges from it (copy on write)
keep:   MOD_R r13, r6, r23
        EQ_R r13, r13, r24
        JUMP_IF_NOT_R r13, next
        DICT_REMOVE_R r3, r10           ; at i % 11 == 5: the hint points at a hole or past the end
next:   ADD_R r6, r6, r1
        JUMP_R loop
done:   DEBUG_PRINT r3
        DEBUG_PRINT r14
        DEBUG_PRINT r15
        DICT_GET_R r15, r15, r10        ; the dict's own register takes the value
        DEBUG_PRINT r15
        DICT_CONTAINS_R r11, r3, r1     ; an int key: an error
        RETURN_R";
    // A model: counts as ordered (key, count) pairs; the snapshot taken at every 10th step.
    let mut counts: Vec<(usize, i64)> = Vec::new();
    let mut snapshot: Vec<(usize, String)> = Vec::new();
    for i in 0..60usize {
        let k = i % 5;
        match counts.iter_mut().find(|(key, _)| *key == k) {
            Some(e) => e.1 += 1,
            None => counts.push((k, 1)),
        }
        if i % 10 == 0 {
            snapshot = counts.iter().map(|&(key, n)| (key, if key == k { "+".to_string() } else { n.to_string() })).collect();
        }
        if i % 11 == 5 {
            counts.retain(|&(key, _)| key != k);
        }
    }
    let show = |pairs: Vec<(usize, String)>| {
        let body: Vec<String> = pairs.into_iter().map(|(k, v)| format!("k{k}: {v}")).collect();
        format!("{{{}}}", body.join(", "))
    };
    let text = format!("empty{}", "+".repeat(12));
    let expected = [
        show(counts.into_iter().map(|(k, n)| (k, n.to_string())).collect()),
        show(snapshot),
        show((0..5).map(|k| (k, text.clone())).collect()),
        text.clone(),
    ]
    .join("\n");
    let interp = run(&assemble_bytes(src), Tier::Interp, 10, false);
    assert_eq!(interp.stdout, expected + "\n");
    assert!(interp.result.as_ref().is_err_and(|e| e.contains("dict keys must be strings")), "{:?}", interp.result);
    agrees_within_fuel(src);
}

/// A lookup's result is reused by later `DICT_CONTAINS_R`, `DICT_GET_R` and `DICT_SET_R` of
/// the same registers only while it holds: not at a join where one path changed the key's
/// register (on even steps the key becomes "a", so reusing the built key's lookup would count
/// the wrong key), and a store that reuses it into a dict another register shares copies
/// first (the copy in r11 keeps the old value, printed each step). Checked against a model,
/// and across every tier under fuel.
#[test]
fn dict_lookups_are_reused_only_while_they_hold() {
    let src = "
        LOAD_CONST_R r0, int 30
        LOAD_CONST_R r1, int 1
        LOAD_CONST_R r2, int 3
        LOAD_CONST_R r3, str \"a\"
        LOAD_CONST_R r30, str \"n\"
        LOAD_CONST_R r31, int 2
        LOAD_CONST_R r32, int 0
        DICT_NEW_R r5
        DICT_SET_R r5, r3, r32          ; {a: 0}
        LOAD_CONST_R r6, int 0
loop:   LT_R r7, r6, r0
        JUMP_IF_NOT_R r7, done
        MOD_R r8, r6, r2
        CONCAT_STR_R r9, r30, r8        ; the key n0, n1 or n2, a new string each step
        DICT_GET_R r12, r5, r9          ; a lookup of the built key
        MOD_R r13, r6, r31
        EQ_R r13, r13, r32
        JUMP_IF_NOT_R r13, same
        MOVE_R r9, r3                   ; even steps: the key is a
same:   DICT_CONTAINS_R r10, r5, r9     ; the lookup above does not hold on every path here
        JUMP_IF_NOT_R r10, new
        DICT_GET_R r12, r5, r9
        ADD_R r12, r12, r1
        JUMP_R put
new:    MOVE_R r12, r1
put:    MOVE_R r11, r5                  ; r11 shares the dict
        DICT_SET_R r5, r9, r12          ; so this store copies it
        DICT_GET_R r15, r11, r9         ; the old value, empty before the key's first store
        DEBUG_PRINT r15
        ADD_R r6, r6, r1
        JUMP_R loop
done:   DEBUG_PRINT r5
        RETURN_R";
    let mut d: Vec<(String, i64)> = vec![("a".into(), 0)];
    let mut expected = String::new();
    for i in 0..30 {
        let k = if i % 2 == 0 { "a".to_string() } else { format!("n{}", i % 3) };
        match d.iter_mut().find(|(key, _)| *key == k) {
            Some(e) => {
                expected += &format!("{}\n", e.1);
                e.1 += 1;
            }
            None => d.push((k, 1)),
        }
    }
    let body: Vec<String> = d.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    expected += &format!("{{{}}}\n", body.join(", "));
    let interp = run(&assemble_bytes(src), Tier::Interp, 10, false);
    assert_eq!(interp.stdout, expected);
    agrees_within_fuel(src);
}

/// A `DICT_GET_R` whose site saw only ints reads the value unboxed behind a type guard: a
/// float stored later, and then a key removed (the read finds nothing), side-exit at the read
/// and the interpreter reads them; the sums and the printed values are the interpreter's.
#[test]
fn dict_reads_speculated_to_ints_side_exit_on_other_values() {
    let src = "
        LOAD_CONST_R r0, int 40
        LOAD_CONST_R r1, int 1
        LOAD_CONST_R r2, str \"x\"
        LOAD_CONST_R r3, int 0              ; i
        LOAD_CONST_R r4, int 0              ; int sum
        LOAD_CONST_R r5, int 30
        LOAD_CONST_R r6, int 35
        LOAD_CONST_R r7, float 0.5
        DICT_NEW_R r8
loop:   LT_R r9, r3, r0
        JUMP_IF_NOT_R r9, done
        DICT_SET_R r8, r2, r3               ; x = i
        EQ_R r9, r3, r5
        JUMP_IF_NOT_R r9, keep
        DICT_SET_R r8, r2, r7               ; at i = 30: x = 0.5
keep:   LT_R r9, r3, r6
        JUMP_IF_R r9, read
        DICT_REMOVE_R r8, r2                ; from i = 35: no x
read:   DICT_GET_R r10, r8, r2
        DEBUG_PRINT r10
        ADD_R r3, r3, r1
        JUMP_R loop
done:   RETURN_R";
    let mut expected = String::new();
    for i in 0..40 {
        match i {
            30 => expected += "0.5\n",
            35.. => {}
            _ => expected += &format!("{i}\n"),
        }
    }
    assert_eq!(check(src, DeoptReason::NotInt), expected);
    agrees_within_fuel(src);
}

/// A loop that writes an array enters its OSR code only with the array held alone (its writes
/// then skip the count test): here the array is shared with r1 at every loop head, so the
/// entry guard fails (`SharedArray`) and each write must copy, leaving r1 the previous version.
#[test]
fn osr_entry_checks_that_a_written_array_is_held_alone() {
    let src = "
        LOAD_CONST_R r2, int 30
        NEW_ARRAY_R r0, r2
        LOAD_CONST_R r3, int 0              ; i
        LOAD_CONST_R r4, int 1
        LOAD_CONST_R r7, int 0
        ARRAY_SET_R r0, r7, r7              ; r0[0] = 0
        MOVE_R r1, r0
loop:   LT_R r5, r3, r2
        JUMP_IF_NOT_R r5, done
        ARRAY_SET_R r0, r7, r3              ; r0[0] = i, on an array r1 shares: a copy
        ARRAY_GET_R r6, r1, r7
        DEBUG_PRINT r6                      ; r1[0]: the previous i
        MOVE_R r1, r0
        ADD_R r3, r3, r4
        JUMP_R loop
done:   RETURN_R";
    let expected: String = std::iter::once(0).chain(0..29).map(|n| format!("{n}\n")).collect();
    assert_eq!(check(src, DeoptReason::SharedArray), expected);
    agrees_within_fuel(src);
}

/// `CAST_R` in machine code: an int or bool operand becomes a float, a float is truncated
/// toward zero into an int, and a float outside the 64-bit range leaves compiled code so the
/// interpreter raises its error. Sums are checked against the same conversions in Rust.
#[test]
fn casts_between_ints_floats_and_bools_convert_in_machine_code() {
    let src = "
        LOAD_CONST_R r0, int 40
        LOAD_CONST_R r1, int 1
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r3, float 0.0          ; float sum
        LOAD_CONST_R r4, int 0              ; int sum
        LOAD_CONST_R r5, float -2.75
        LOAD_CONST_R r6, int 3
loop:   LT_R r7, r2, r0
        JUMP_IF_NOT_R r7, done
        CAST_R r8, r2, float
        MUL_R r8, r8, r5                    ; -2.75 i
        CAST_R r9, r8, int                  ; truncated toward zero
        ADD_R r4, r4, r9
        CAST_R r10, r9, float
        ADD_R r3, r3, r10
        MOD_R r11, r2, r6
        EQ_R r12, r11, r1                   ; i % 3 == 1
        CAST_R r13, r12, int
        ADD_R r4, r4, r13
        CAST_R r14, r12, float
        ADD_R r3, r3, r14
        ADD_R r2, r2, r1
        JUMP_R loop
done:   DEBUG_PRINT r4
        DEBUG_PRINT r3
        LOAD_CONST_R r15, float 1e300
        CAST_R r16, r15, int                ; out of range: an error
        RETURN_R";
    let sum: i64 = (0..40i64).map(|i| (i as f64 * -2.75).trunc() as i64 + (i % 3 == 1) as i64).sum();
    let interp = run(&assemble_bytes(src), Tier::Interp, 10, false);
    // An integral float displays without a fractional part.
    assert_eq!(interp.stdout, format!("{sum}\n{sum}\n"));
    assert!(interp.result.as_ref().is_err_and(|e| e.contains("does not fit")), "{:?}", interp.result);
    agrees_within_fuel(src);
}

/// A `CAST_R` compiled for the int its feedback saw meets a float: the guard fails and the
/// interpreter converts it.
#[test]
fn cast_guard_fails_on_a_float() {
    let body = "        CAST_R r3, r0, float
        RETURN_R r3";
    let out = check(&program(body, "int 41", "float 2.5"), DeoptReason::NotInt);
    assert_eq!(out, "41\n2.5\n30\n");
}

/// [`agrees_everywhere`] under a fuel budget of 10^6 instructions (more than each program
/// needs): a check wrongly left out makes a counter wrap around, and the run then ends with a
/// fuel error instead of looping for ever.
fn agrees_within_fuel(src: &str) {
    let bytes = assemble_bytes(src);
    let fuel = Some(1_000_000);
    let interp = run_fueled(&bytes, Tier::Interp, 10, false, fuel);
    assert!(!interp.result.as_ref().is_err_and(|e| e.contains("fuel")), "{src}: {:?}", interp.result);
    for (tier, stress) in [(Tier::Jit, false), (Tier::Auto, false), (Tier::Jit, true)] {
        let jit = run_fueled(&bytes, tier, 1, stress, fuel);
        assert_eq!((&jit.stdout, &jit.result, jit.instructions), (&interp.stdout, &interp.result, interp.instructions), "{tier} stress={stress}");
    }
}

/// Overflow checks left out by range facts (a branch on `i < n` makes `i + 1` safe) must stay
/// wherever the facts do not rule overflow out: each program overflows in the interpreter, and
/// every tier must raise the same error at the same instruction.
#[test]
fn overflow_checks_stay_where_branch_ranges_do_not_rule_overflow_out() {
    let max = i64::MAX;
    let min = i64::MIN;
    let programs = [
        // i <= MAX holds at i = MAX: i + 1 overflows.
        format!(
            "
        LOAD_CONST_R r0, int {}
        LOAD_CONST_R r1, int {max}
        LOAD_CONST_R r2, int 1
loop:   LTE_R r3, r0, r1
        JUMP_IF_NOT_R r3, done
        ADD_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r0
        RETURN_R",
            max - 100
        ),
        // i < MAX holds at i = MAX - 1: i + 2 overflows.
        format!(
            "
        LOAD_CONST_R r0, int {}
        LOAD_CONST_R r1, int {max}
        LOAD_CONST_R r2, int 2
loop:   LT_R r3, r0, r1
        JUMP_IF_NOT_R r3, done
        ADD_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r0
        RETURN_R",
            max - 201
        ),
        // i < 100 holds, but i is written again (i * MAX) before i + 1.
        format!(
            "
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 100
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r9, int 0
        LOAD_CONST_R r9, int {max}
loop:   LT_R r3, r0, r1
        JUMP_IF_NOT_R r3, done
        MUL_R r0, r0, r9
        ADD_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r0
        RETURN_R"
        ),
        // The false side of i < MIN + 5 (a JUMP_IF_R): i - 1 is safe, the i - 10 after it is
        // not (i was written by the first subtraction).
        format!(
            "
        LOAD_CONST_R r0, int {}
        LOAD_CONST_R r1, int {}
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r10, int 10
loop:   LT_R r3, r0, r1
        JUMP_IF_R r3, done
        SUB_R r0, r0, r2
        SUB_R r0, r0, r10
        JUMP_R loop
done:   DEBUG_PRINT r0
        RETURN_R",
            min + 106,
            min + 5
        ),
        // A join: the branch's facts do not hold on the other edge into `inc` (i = MAX there).
        format!(
            "
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 100
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r6, int {max}
        LOAD_CONST_R r7, int 50
loop:   LT_R r3, r0, r1
        JUMP_IF_NOT_R r3, done
        EQ_R r4, r0, r7
        JUMP_IF_NOT_R r4, inc
        MOVE_R r0, r6
inc:    ADD_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r0
        RETURN_R"
        ),
    ];
    for src in &programs {
        let bytes = assemble_bytes(src);
        let interp = run(&bytes, Tier::Interp, 10, false);
        let err = interp.result.clone().unwrap_err();
        assert!(err.contains("overflow"), "the interpreter must raise overflow for\n{src}\ngot {err}");
        agrees_within_fuel(src);
    }
}

/// Where range facts do rule overflow out, the compiled loop computes the same values: a
/// countdown on the false side of a JUMP_IF_R and a count up to MAX - 1 on the true side.
#[test]
fn loops_whose_overflow_checks_range_facts_remove_agree_with_the_interpreter() {
    let max = i64::MAX;
    let min = i64::MIN;
    let programs = [
        format!(
            "
        LOAD_CONST_R r0, int {}
        LOAD_CONST_R r1, int {max}
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r5, int 0
loop:   LT_R r3, r0, r1
        JUMP_IF_NOT_R r3, done
        ADD_R r0, r0, r2
        ADD_R r5, r5, r2
        JUMP_R loop
done:   DEBUG_PRINT r0
        DEBUG_PRINT r5
        RETURN_R",
            max - 1000
        ),
        format!(
            "
        LOAD_CONST_R r0, int {}
        LOAD_CONST_R r1, int {}
        LOAD_CONST_R r2, int 1
loop:   LT_R r3, r0, r1
        JUMP_IF_R r3, done
        SUB_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r0
        RETURN_R",
            min + 1000,
            min + 1
        ),
    ];
    let expected = [format!("{max}\n1000\n"), format!("{}\n", min)];
    for (src, want) in programs.iter().zip(expected.iter()) {
        let bytes = assemble_bytes(src);
        let interp = run(&bytes, Tier::Interp, 10, false);
        assert_eq!(&interp.stdout, want);
        assert!(interp.result.is_ok(), "{:?}", interp.result);
        agrees_within_fuel(src);
    }
}

/// Floor division and modulo (ARCHITECTURE.md, *Semantics*: the quotient rounds down, the remainder
/// takes the divisor's sign) by a constant divisor, which compiled code lowers without the zero and
/// `MIN / -1` checks and with a one-comparison sign adjustment, or none when a branch fact gives
/// the dividend the divisor's sign: every quotient and remainder must be the semantics' value, in
/// each tier, for dividends around zero and at both ends of the int range.
#[test]
fn division_by_constants_floors_in_every_tier() {
    let (max, min) = (i64::MAX, i64::MIN);
    let floor = |x: i64, c: i64| -> (i64, i64) {
        let (q, r) = (x.wrapping_div(c), x.wrapping_rem(c));
        if r != 0 && ((r < 0) != (c < 0)) { (q - 1, r + c) } else { (q, r) }
    };
    // Each dividend is printed as x % c and x / c three times: with no fact, and on the side
    // of a branch on x >= 0 where x is known to be non-negative, or negative.
    let program = |start: i64, end: i64, c: i64| {
        format!(
            "
        LOAD_CONST_R r0, int {start}
        LOAD_CONST_R r1, int {end}
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r4, int {c}
        LOAD_CONST_R r7, int 0
loop:   LT_R r3, r0, r1
        JUMP_IF_NOT_R r3, done
        MOD_R r5, r0, r4
        DEBUG_PRINT r5
        DIV_R r6, r0, r4
        DEBUG_PRINT r6
        GTE_R r8, r0, r7
        JUMP_IF_NOT_R r8, neg
        MOD_R r5, r0, r4
        DEBUG_PRINT r5
        DIV_R r6, r0, r4
        DEBUG_PRINT r6
        JUMP_R next
neg:    MOD_R r5, r0, r4
        DEBUG_PRINT r5
        DIV_R r6, r0, r4
        DEBUG_PRINT r6
next:   ADD_R r0, r0, r2
        JUMP_R loop
done:   RETURN_R"
        )
    };
    let ranges = [(-30, 30), (min, min + 4), (max - 4, max)];
    for c in [7, -7, 1, 2, -2, 3, 1000, max, min] {
        for (start, end) in ranges {
            let src = program(start, end, c);
            let mut want = String::new();
            for x in start..end {
                let (q, r) = floor(x, c);
                for _ in 0..2 {
                    want += &format!("{r}\n{q}\n");
                }
            }
            let interp = run(&assemble_bytes(&src), Tier::Interp, 10, false);
            assert!(interp.result.is_ok(), "x / {c}: {:?}", interp.result);
            assert_eq!(interp.stdout, want, "x / {c} for x in {start}..{end}");
            agrees_within_fuel(&src);
        }
    }
    // Divisors 0 and -1 keep their checks: division by zero, and MIN / -1 overflows.
    for c in [0, -1] {
        for (start, end) in ranges {
            agrees_within_fuel(&program(start, end, c));
        }
    }
}

/// `f(arr, i)` returns `arr[i] + 1`; it is called 30 times as `f(a, 0)` with `a` = [41, 5, 7]
/// filled in order (a packed int array, which compiled code reads as 8-byte words), then once
/// as `f(<then>)`, where `then` names main's registers: r5 that array, r12 a copy with
/// element 1 set to 2.5 (the values form), r13 [41, empty, empty] (packed, one element
/// filled), r14 [1.5, 2.5, 3.5] (packed floats), r8 0, r2 1, r7 3.
fn packed_array_program(then: &str) -> String {
    format!(
        "
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 30
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r4, str \"f\"
        LOAD_CONST_R r7, int 3
        LOAD_CONST_R r8, int 0
        LOAD_CONST_R r15, int 2
        NEW_ARRAY_R r5, r7
        LOAD_CONST_R r9, int 41
        ARRAY_SET_R r5, r8, r9
        LOAD_CONST_R r9, int 5
        ARRAY_SET_R r5, r2, r9
        LOAD_CONST_R r9, int 7
        ARRAY_SET_R r5, r15, r9
        MOVE_R r12, r5
        LOAD_CONST_R r9, float 2.5
        ARRAY_SET_R r12, r2, r9
        NEW_ARRAY_R r13, r7
        LOAD_CONST_R r9, int 41
        ARRAY_SET_R r13, r8, r9
        NEW_ARRAY_R r14, r7
        LOAD_CONST_R r9, float 1.5
        ARRAY_SET_R r14, r8, r9
        LOAD_CONST_R r9, float 2.5
        ARRAY_SET_R r14, r2, r9
        LOAD_CONST_R r9, float 3.5
        ARRAY_SET_R r14, r15, r9
loop:   LT_R r3, r0, r1
        JUMP_IF_NOT_R r3, done
        CALL_R r4, r6, r5, r8
        ADD_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r6
        CALL_R r4, r6, {then}
        DEBUG_PRINT r6
        DEBUG_PRINT r5
        DEBUG_PRINT r12
        DEBUG_PRINT r13
        DEBUG_PRINT r14
        RETURN_R r6
.func f
        ARRAY_LEN_R r5, r0
        ARRAY_GET_R r2, r0, r1
        LOAD_CONST_R r3, int 1
        ADD_R r4, r2, r3
        RETURN_R r4"
    )
}

/// Code compiled for packed int arrays leaves on arrays of another form (values, packed
/// floats) with the array-form guard, and past a packed prefix with the element guard; the
/// interpreter then reads the element (and raises the error of `empty + 1`).
#[test]
fn packed_array_reads_leave_on_other_array_forms() {
    let tail = "[41, 5, 7]\n[41, 2.5, 7]\n[41, empty, empty]\n[1.5, 2.5, 3.5]\n";
    let same = packed_array_program("r5, r2");
    assert_eq!(run(&assemble_bytes(&same), Tier::Interp, 10, false).stdout, format!("42\n6\n{tail}"));
    agrees_everywhere(&same);
    assert_eq!(check(&packed_array_program("r12, r2"), DeoptReason::ArrayKind), format!("42\n3.5\n{tail}"));
    assert_eq!(check(&packed_array_program("r14, r2"), DeoptReason::ArrayKind), format!("42\n3.5\n{tail}"));
    let bytes = assemble_bytes(&packed_array_program("r13, r2"));
    let interp = run(&bytes, Tier::Interp, 10, false);
    assert_eq!(interp.stdout, "42\n");
    assert!(interp.result.as_ref().is_err_and(|e| e.contains("`f`")), "{:?}", interp.result);
    check(&packed_array_program("r13, r2"), DeoptReason::NotInt);
}

/// A compiled loop sums a packed array while its body converts the array to another form
/// part-way (a float, then a string written ahead of the index, and an int array refilled out
/// of order): every tier reads the same elements as the interpreter.
#[test]
fn arrays_changing_form_inside_compiled_loops_read_like_the_interpreter() {
    let programs = [
        // write = 2.5 at index 5 when i == 2: int words become values.
        ("float 2.5", 2, 5),
        // a string at index 9 (not summed) when i == 0.
        ("str \"x\"", 0, 9),
        // an int written past the filled prefix (index 9 of a prefix of 8) when i == 3.
        ("int 99", 3, 9),
    ];
    for (write, when, at) in programs {
        let src = format!(
            "
        LOAD_CONST_R r0, int 10
        LOAD_CONST_R r1, int 8
        NEW_ARRAY_R r2, r0
        LOAD_CONST_R r3, int 0
        LOAD_CONST_R r4, int 1
fill:   LT_R r5, r3, r1
        JUMP_IF_NOT_R r5, filled
        ARRAY_SET_R r2, r3, r3
        ADD_R r3, r3, r4
        JUMP_R fill
filled: LOAD_CONST_R r3, int 0
        LOAD_CONST_R r6, int 0
        LOAD_CONST_R r7, {write}
        LOAD_CONST_R r8, int {when}
        LOAD_CONST_R r9, int {at}
loop:   LT_R r5, r3, r1
        JUMP_IF_NOT_R r5, done
        EQ_R r5, r3, r8
        JUMP_IF_NOT_R r5, read
        ARRAY_SET_R r2, r9, r7
read:   ARRAY_GET_R r10, r2, r3
        ADD_R r6, r6, r10
        ADD_R r3, r3, r4
        JUMP_R loop
done:   DEBUG_PRINT r6
        DEBUG_PRINT r2
        RETURN_R"
        );
        let bytes = assemble_bytes(&src);
        let interp = run(&bytes, Tier::Interp, 10, false);
        assert!(interp.result.is_ok(), "{write}: {:?}", interp.result);
        let mut elems: Vec<String> = (0..8).map(|i| i.to_string()).chain(["empty".into(), "empty".into()]).collect();
        elems[at] = write.split_once(' ').unwrap().1.trim_matches('"').to_string();
        let sum: f64 = (0..8).map(|i| elems[i].parse::<f64>().unwrap()).sum();
        let sum = if write.starts_with("float") { format!("{sum}") } else { format!("{}", sum as i64) };
        assert_eq!(interp.stdout, format!("{sum}\n[{}]\n", elems.join(", ")), "{write}");
        agrees_within_fuel(&src);
    }
}

/// Floor modulo as ARCHITECTURE.md, *Semantics*, defines it (the result takes the divisor's sign).
fn floor_mod(a: i64, b: i64) -> i64 {
    ((a % b) + b) % b
}

/// `acc = <acc0>; for i in [<i0>, <i1>) { for j in [<j0>, <m>] { acc = acc + (i * j) % <d> } }`,
/// then prints acc: the nested loop whose product and sum the range analysis bounds (the outer
/// limit is a constant, so widening at the inner header stops at it).
fn nested_product_program(acc0: i64, i0: i64, i1: i64, j0: i64, m: i64, d: i64) -> String {
    format!(
        "
        LOAD_CONST_R r0, int {acc0}
        LOAD_CONST_R r1, int {i0}
        LOAD_CONST_R r2, int {i1}
        LOAD_CONST_R r3, int {m}
        LOAD_CONST_R r4, int 1
        LOAD_CONST_R r5, int {d}
outer:  LT_R r6, r1, r2
        JUMP_IF_NOT_R r6, done
        LOAD_CONST_R r7, int {j0}
inner:  LTE_R r8, r7, r3
        JUMP_IF_NOT_R r8, next
        MUL_R r9, r1, r7
        MOD_R r10, r9, r5
        ADD_R r11, r0, r10
        MOVE_R r0, r11
        ADD_R r12, r7, r4
        MOVE_R r7, r12
        JUMP_R inner
next:   ADD_R r13, r1, r4
        MOVE_R r1, r13
        JUMP_R outer
done:   DEBUG_PRINT r0
        RETURN_R"
    )
}

/// The range analysis proves `i * j` and `acc + (i * j) % 7` free of overflow in a nested
/// loop, or bounds the addend so that one comparison of `acc` guards the sum (a conservative
/// exit: the interpreter then adds exactly). Each program's output is computed here from the
/// semantics, and every tier (OSR at the first back-edge, stress deopt) must agree with it; the
/// programs whose sums or products do overflow must raise the error in every tier.
#[test]
fn range_facts_keep_nested_loop_arithmetic_exact() {
    let (max, min) = (i64::MAX, i64::MIN);
    let expect = |acc0: i64, i0: i64, i1: i64, j0: i64, m: i64, d: i64| -> Result<i64, ()> {
        let mut acc = acc0;
        for i in i0..i1 {
            for j in j0..=m {
                let p = i.checked_mul(j).ok_or(())?;
                acc = acc.checked_add(floor_mod(p, d)).ok_or(())?;
            }
        }
        Ok(acc)
    };
    let sqrt_max = 3_037_000_499; // floor(sqrt(i64::MAX))
    let cases = [
        // Products and sums far from the limits, negative dividends, both divisor signs.
        (0, -30, 30, 1, 20, 7),
        (0, -30, 30, 1, 20, -7),
        (5, -3, 4, -5, 9, 3),
        // The sum nears MAX: the one-sided check on acc fires before the last additions,
        // which fit (conservative exit), and in the first program one of them overflows.
        (max - 40, 0, 2, 1, 5, 7),
        (max - 8, 0, 1, 1, 4, 7),
        (max - 10, 1, 3, 1, 6, 7),
        // Negative remainders drive the sum towards MIN.
        (min + 40, 0, 2, 1, 5, -7),
        (min + 10, 1, 3, 1, 6, -7),
        // Products near the int range's end: the multiplication's check must stay.
        (0, sqrt_max - 2, sqrt_max + 2, sqrt_max - 5, sqrt_max + 3, 7),
        (0, -sqrt_max - 2, -sqrt_max + 2, sqrt_max - 5, sqrt_max + 3, 7),
        (0, sqrt_max - 3, sqrt_max + 1, sqrt_max - 3, sqrt_max, 1000),
        (0, 1 << 31, (1 << 31) + 3, (1 << 32) - 3, (1 << 32) + 2, 1000),
    ];
    let mut overflowed = 0;
    for (acc0, i0, i1, j0, m, d) in cases {
        let src = nested_product_program(acc0, i0, i1, j0, m, d);
        let interp = run(&assemble_bytes(&src), Tier::Interp, 10, false);
        match expect(acc0, i0, i1, j0, m, d) {
            Ok(v) => {
                assert!(interp.result.is_ok(), "{src}: {:?}", interp.result);
                assert_eq!(interp.stdout, format!("{v}\n"), "{src}");
            }
            Err(()) => {
                overflowed += 1;
                let err = interp.result.clone().unwrap_err();
                assert!(err.contains("overflow"), "{src}: {err}");
            }
        }
        agrees_within_fuel(&src);
    }
    assert!(overflowed >= 4, "the cases near the limits must include overflowing ones ({overflowed})");
}

/// `acc = <acc0>; repeat <reps> times { j = <j0>; while j <cmp> <n> { if j == <stop> break;
/// acc = acc <op> j % <d>; j = j + 1 } }`, then prints acc: a counted loop whose accumulator's
/// overflow check moves to the loop entry ([`DeoptReason::LoopBound`]).
#[allow(clippy::too_many_arguments)]
fn counted_program(acc0: i64, reps: i64, j0: i64, cmp: &str, n: i64, stop: i64, op: &str, d: i64) -> String {
    format!(
        "
        LOAD_CONST_R r0, int {acc0}
        LOAD_CONST_R r1, int 0
        LOAD_CONST_R r2, int {reps}
        LOAD_CONST_R r3, int {n}
        LOAD_CONST_R r4, int 1
        LOAD_CONST_R r5, int {d}
        LOAD_CONST_R r14, int {stop}
outer:  LT_R r6, r1, r2
        JUMP_IF_NOT_R r6, done
        LOAD_CONST_R r7, int {j0}
inner:  {cmp} r8, r7, r3
        JUMP_IF_NOT_R r8, next
        EQ_R r15, r7, r14
        JUMP_IF_R r15, next
        MOD_R r10, r7, r5
        {op} r11, r0, r10
        MOVE_R r0, r11
        ADD_R r12, r7, r4
        MOVE_R r7, r12
        JUMP_R inner
next:   ADD_R r13, r1, r4
        MOVE_R r1, r13
        JUMP_R outer
done:   DEBUG_PRINT r0
        RETURN_R"
    )
}

/// Runs `src` in the interpreter and in every compiling mode (eager, threshold 1, OSR at the
/// first back-edge of every loop, each also with stress deopt) under a fuel budget; every mode
/// must print, return and count exactly what the interpreter does. Returns the `LoopBound`
/// side exits of the eager and always-OSR runs.
fn counted_agrees(src: &str) -> (Outcome, u64, u64) {
    let bytes = assemble_bytes(src);
    let fuel = Some(10_000_000);
    let interp = run_fueled(&bytes, Tier::Interp, 10, false, fuel);
    assert!(!interp.result.as_ref().is_err_and(|e| e.contains("fuel")), "{src}: {:?}", interp.result);
    let mut bound_exits = (0, 0);
    for (name, osr, stress, tier) in [
        ("jit", None, false, Tier::Jit),
        ("jit stress", None, true, Tier::Jit),
        ("auto threshold 1", None, false, Tier::Auto),
        ("always-osr", Some(1), false, Tier::Auto),
        ("always-osr stress", Some(1), true, Tier::Auto),
    ] {
        let mut b = Vm::builder().tier(tier).stress_deopt(stress).fuel(fuel);
        b = match osr {
            Some(n) => b.osr_threshold(n),
            None => b.jit_threshold(1),
        };
        let jit = run_built(b, &bytes);
        assert_eq!(
            (&jit.stdout, &jit.result, jit.instructions),
            (&interp.stdout, &interp.result, interp.instructions),
            "{name}:\n{src}"
        );
        let exits = jit.deopts.iter().filter(|(r, _)| *r == DeoptReason::LoopBound).map(|(_, n)| n).sum::<u64>();
        match name {
            "jit" => bound_exits.0 = exits,
            "always-osr" => bound_exits.1 = exits,
            _ => {}
        }
    }
    (interp, bound_exits.0, bound_exits.1)
}

/// A counted loop's accumulator adds without a check when the entry's trip-count bound allows
/// it, and the entry side-exits when it does not, exactly at the bound's edge; the interpreter
/// then adds exactly, so sums that fit print right and sums that overflow raise the error, in
/// every mode (the expected values come from the semantics, computed here).
#[test]
fn counted_loops_check_the_trip_bound_at_the_entry() {
    let (max, min) = (i64::MAX, i64::MIN);
    #[allow(clippy::too_many_arguments)]
    let expect = |acc0: i64, reps: i64, j0: i64, inclusive: bool, n: i64, stop: i64, up: bool, d: i64| -> Result<i64, ()> {
        let mut acc = acc0;
        for _ in 0..reps {
            let mut j = j0;
            while if inclusive { j <= n } else { j < n } {
                if j == stop {
                    break;
                }
                let e = floor_mod(j, d);
                acc = if up { acc.checked_add(e) } else { acc.checked_sub(e) }.ok_or(())?;
                j += 1;
            }
        }
        Ok(acc)
    };
    // (acc0, reps, j0, inclusive, n, stop, up, d, LoopBound exits expected in the eager run)
    let none = i64::MIN;
    let cases = [
        // Far from the limits: no exit.
        (0, 20, 0, true, 1000, none, true, 7, false),
        (5, 3, -50, false, 50, none, true, 7, false),
        // 1,001 iterations of at most 6 fit in 6,006 exactly: the bound passes...
        (max - 6006, 1, 0, true, 1000, none, true, 7, false),
        (max - 6000, 1, 0, false, 1000, none, true, 7, false),
        // ...and one less does not: the entry exits, and the interpreter finds the sum fits.
        (max - 6005, 1, 0, true, 1000, none, true, 7, true),
        (max - 5999, 1, 0, false, 1000, none, true, 7, true),
        // A loop whose bound never holds but that always breaks early (many entries).
        (max - 5, 40, 0, true, 1_000_000, 3, true, 7, true),
        // The sum does overflow.
        (max - 20, 1, 0, true, 100, none, true, 7, true),
        (max - 200, 5, 0, true, 100, none, true, 7, true),
        // A shrinking accumulator, towards MIN.
        (min + 6006, 1, 0, true, 1000, none, false, 7, false),
        (min + 6005, 1, 0, true, 1000, none, false, 7, true),
        (min + 20, 1, 0, true, 100, none, false, 7, true),
        // A negative divisor makes the steps <= 0: `acc + j % -7` shrinks.
        (min + 20, 1, 0, true, 100, none, true, -7, true),
        // No iteration at all (j starts past n): nothing to check.
        (max, 3, 10, true, 5, none, true, 7, false),
        // A counter near the end of the int range: the span n - j is computed unsigned.
        (0, 1, max - 10, true, max - 1, none, true, 7, false),
        (0, 1, min, false, min + 10, none, true, 7, false),
    ];
    let mut overflowed = 0;
    for (acc0, reps, j0, inclusive, n, stop, up, d, exits) in cases {
        let src = counted_program(acc0, reps, j0, if inclusive { "LTE_R" } else { "LT_R" }, n, stop, if up { "ADD_R" } else { "SUB_R" }, d);
        let (interp, jit_exits, osr_exits) = counted_agrees(&src);
        match expect(acc0, reps, j0, inclusive, n, stop, up, d) {
            Ok(v) => {
                assert!(interp.result.is_ok(), "{src}: {:?}", interp.result);
                assert_eq!(interp.stdout, format!("{v}\n"), "{src}");
            }
            Err(()) => {
                overflowed += 1;
                let err = interp.result.clone().unwrap_err();
                assert!(err.contains("overflow"), "{src}: {err}");
            }
        }
        assert_eq!(jit_exits > 0, exits, "LoopBound exits of the eager run ({jit_exits}):\n{src}");
        // A header whose bound keeps failing is recompiled without the plan: the exits stop.
        assert!(osr_exits <= 8, "{osr_exits} LoopBound exits with OSR at every back-edge:\n{src}");
    }
    assert!(overflowed >= 4, "the cases must include overflowing sums ({overflowed})");
}

/// Loops the trip-count bound must not apply to keep their accumulators' checks: each sum
/// overflows in the interpreter (a bound taken from the header's test would say it fits), and
/// every mode must raise the same error at the same instruction.
#[test]
fn loops_without_a_trip_bound_keep_the_accumulator_check() {
    let max = i64::MAX;
    let programs = [
        // The counter advances on every other iteration only: 20 additions, not 10.
        format!(
            "
        LOAD_CONST_R r0, int {}
        LOAD_CONST_R r1, int 0
        LOAD_CONST_R r2, int 9
        LOAD_CONST_R r3, int 1
        LOAD_CONST_R r4, int 2
        LOAD_CONST_R r9, int 0
loop:   LTE_R r5, r1, r2
        JUMP_IF_NOT_R r5, done
        ADD_R r6, r0, r3
        MOVE_R r0, r6
        MOD_R r7, r0, r4
        EQ_R r8, r7, r9
        JUMP_IF_NOT_R r8, loop
        ADD_R r10, r1, r3
        MOVE_R r1, r10
        JUMP_R loop
done:   DEBUG_PRINT r0
        RETURN_R",
            max - 15
        ),
        // The limit grows with the counter: the loop only ends by the overflow.
        format!(
            "
        LOAD_CONST_R r0, int {}
        LOAD_CONST_R r1, int 0
        LOAD_CONST_R r2, int 5
        LOAD_CONST_R r3, int 1
loop:   LTE_R r5, r1, r2
        JUMP_IF_NOT_R r5, done
        ADD_R r6, r0, r3
        MOVE_R r0, r6
        ADD_R r2, r2, r3
        ADD_R r1, r1, r3
        JUMP_R loop
done:   DEBUG_PRINT r0
        RETURN_R",
            max - 15
        ),
        // The counter's step is 0 on some iterations (it is not always >= 1).
        format!(
            "
        LOAD_CONST_R r0, int {}
        LOAD_CONST_R r1, int 0
        LOAD_CONST_R r2, int 5
        LOAD_CONST_R r3, int 1
        LOAD_CONST_R r4, int 3
loop:   LTE_R r5, r1, r2
        JUMP_IF_NOT_R r5, done
        ADD_R r6, r0, r3
        MOVE_R r0, r6
        MOD_R r7, r0, r4
        MOD_R r8, r7, r4
        LTE_R r9, r8, r3
        JUMP_IF_R r9, step
        ADD_R r1, r1, r3
        JUMP_R loop
step:   LOAD_CONST_R r10, int 0
        ADD_R r1, r1, r10
        JUMP_R loop
done:   DEBUG_PRINT r0
        RETURN_R",
            max - 15
        ),
        // The accumulator is added to in an inner loop, several times per outer iteration.
        format!(
            "
        LOAD_CONST_R r0, int {}
        LOAD_CONST_R r1, int 0
        LOAD_CONST_R r2, int 3
        LOAD_CONST_R r3, int 1
        LOAD_CONST_R r4, int 8
outer:  LT_R r5, r1, r2
        JUMP_IF_NOT_R r5, done
        LOAD_CONST_R r6, int 0
inner:  LT_R r7, r6, r4
        JUMP_IF_NOT_R r7, next
        ADD_R r0, r0, r3
        ADD_R r6, r6, r3
        JUMP_R inner
next:   ADD_R r1, r1, r3
        JUMP_R outer
done:   DEBUG_PRINT r0
        RETURN_R",
            max - 20
        ),
    ];
    for src in &programs {
        let (interp, _, _) = counted_agrees(src);
        let err = interp.result.clone().unwrap_err();
        assert!(err.contains("overflow"), "{src}: {err}");
    }
}

/// A callee whose guards keep failing is discarded; a caller compiled earlier that calls its
/// typed entry directly must notice (the entry table no longer holds the entry compiled with
/// it) and call through the table, not keep side-exiting in the stale code: a few deopts and
/// recompilations, not one per call.
#[test]
fn a_discarded_callee_is_not_called_at_its_stale_typed_entry() {
    let src = r#"
.module storm4
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 3000
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r3, int 1500
        LOAD_CONST_R r6, float 0.5
        LOAD_CONST_R r7, int 2500
warm:   LT_R r8, r0, r1
        JUMP_IF_NOT_R r8, warm_done
        ADD_R r0, r0, r2
        JUMP_R warm
warm_done:
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r5, float 0.0
loop_d: LT_R r8, r0, r1
        JUMP_IF_NOT_R r8, done_d
        MOVE_R r9, r0
        LT_R r8, r0, r3
        JUMP_IF_R r8, d_call
        ADD_R r9, r0, r6
        LT_R r8, r0, r7
        JUMP_IF_R r8, d_call
        LOAD_CONST_R r10, str "str"
        CALL_R r10, r9, r0
d_call: LOAD_CONST_R r10, str "measure"
        CALL_R r10, r11, r9
        ADD_R r5, r5, r11
        ADD_R r0, r0, r2
        JUMP_R loop_d
done_d: DEBUG_PRINT r5
        RETURN_R
.func measure
        LOAD_CONST_R r1, str "is_number"
        CALL_R r1, r2, r0
        JUMP_IF_NOT_R r2, text
        LOAD_CONST_R r1, str "sqrt"
        CALL_R r1, r3, r0
        LOAD_CONST_R r4, int 2
        MUL_R r3, r3, r4
        LOAD_CONST_R r1, str "floor"
        CALL_R r1, r5, r0
        ADD_R r3, r3, r5
        RETURN_R r3
text:   LOAD_CONST_R r1, str "len"
        CALL_R r1, r3, r0
        RETURN_R r3
"#;
    let bytes = assemble_bytes(src);
    let interp = run(&bytes, Tier::Interp, 1000, false);
    let mut vm = Vm::builder().tier(Tier::Auto).load_bytes(&bytes).unwrap();
    let o = vm.run_captured();
    assert_eq!(String::from_utf8(o.output).unwrap(), interp.stdout);
    let jit = vm.stats().jit.expect("the compiled tier ran");
    let deopts: u64 = jit.deopts.iter().map(|(_, n)| n).sum();
    // `measure` is called 1,500 times with a string after main's loop was compiled.
    assert!(deopts < 50, "{deopts} deopts: the stale typed entry kept being called ({jit:?})");
    assert!(jit.compiled.recompilations <= 8, "{jit:?}");
}
