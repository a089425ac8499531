//! Fuel for work: instructions whose work grows with their operands (printing, text
//! conversion, concatenation, equality, copy-on-write copies) charge one unit of fuel per 64
//! bytes of it beyond their own unit (ARCHITECTURE.md, *Budgets*), before the work has
//! effects, identically in every tier and mode.

use mdvm::ErrorKind;
use mdvm_tests::{assemble_bytes, run_bytes_mode, Mode};

/// Code leaving in `dst` the value `a = [a, a]` doubled `times` times around the string "x":
/// its display form has 2^times leaves. Registers r200..=r207 are scratch.
fn build_doubled(dst: &str, times: u32) -> String {
    format!(
        "
        LOAD_CONST_R {dst}, str \"x\"
        LOAD_CONST_R r200, int 0
        LOAD_CONST_R r201, int {times}
        LOAD_CONST_R r202, int 1
        LOAD_CONST_R r203, int 0
        LOAD_CONST_R r207, int 2
d_loop: LT_R r204, r200, r201
        JUMP_IF_NOT_R r204, d_done
        NEW_ARRAY_R r205, r207
        ARRAY_SET_R r205, r203, {dst}
        ARRAY_SET_R r205, r202, {dst}
        MOVE_R {dst}, r205
        ADD_R r200, r200, r202
        JUMP_R d_loop
d_done: LOAD_CONST_R r205, empty
"
    )
}

#[test]
fn exponential_work_under_small_fuel_ends_cleanly_with_output_kept() {
    // One instruction over a value sharing itself 60 times: printing it or converting it to
    // text would write about 2^60 leaves. Under fuel 1,000 each must stop with `fuel
    // exhausted` at that instruction, having written nothing of it.
    let work = [
        ("DEBUG_PRINT", "DEBUG_PRINT r0"),
        ("CONCAT_STR_R", "LOAD_CONST_R r1, str \"v=\"\n        CONCAT_STR_R r2, r1, r0"),
        ("CAST_R", "CAST_R r2, r0, string"),
        ("str", "LOAD_CONST_R r1, str \"str\"\n        CALL_R r1, r2, r0"),
    ];
    for (what, code) in work {
        let src = format!(
            "{}
        LOAD_CONST_R r9, str \"before\"
        DEBUG_PRINT r9
        {code}
        LOAD_CONST_R r9, str \"after\"
        DEBUG_PRINT r9
        RETURN_R",
            build_doubled("r0", 60)
        );
        let bytes = assemble_bytes(&src);
        for mode in Mode::ALL {
            let r = run_bytes_mode(&bytes, mode, Some(1_000), None);
            assert_eq!(r.stdout, b"before\n", "{what}, {mode}: {:?}", r.error);
            assert_eq!(r.error_kind, Some(ErrorKind::FuelExhausted), "{what}, {mode}: {:?}", r.error);
            let e = r.error.unwrap();
            assert!(e.contains("<main>"), "{what}, {mode}: the error names the function: {e}");
        }
    }
}

#[test]
fn printing_charges_one_unit_per_64_bytes_of_text() {
    // LOAD_CONST_R, DEBUG_PRINT, RETURN_R: 3 instructions, and the print writes n + 1 bytes
    // (the newline), charging (n + 1) / 64 more.
    for n in [0usize, 62, 63, 64, 127, 6_399, 6_400] {
        let src = format!(".module t\nLOAD_CONST_R r0, str \"{}\"\nDEBUG_PRINT r0\nRETURN_R", "x".repeat(n));
        let bytes = assemble_bytes(&src);
        let want = 3 + (n as u64 + 1) / 64;
        for mode in Mode::ALL {
            let r = run_bytes_mode(&bytes, mode, None, None);
            assert_eq!(r.status, 0, "{n}, {mode}: {:?}", r.error);
            assert_eq!(r.instructions, want, "{n} bytes, {mode}");
            // With exactly that fuel the run ends normally; with one less the print still
            // runs and RETURN_R has none; with two less the print is refused whole.
            let exact = run_bytes_mode(&bytes, mode, Some(want), None);
            assert_eq!((exact.status, exact.stdout.len()), (0, n + 1), "{n}, {mode}: {:?}", exact.error);
            let one_less = run_bytes_mode(&bytes, mode, Some(want - 1), None);
            assert_eq!((one_less.error_kind, one_less.stdout.len()), (Some(ErrorKind::FuelExhausted), n + 1), "{n}, {mode}");
            let two_less = run_bytes_mode(&bytes, mode, Some(want - 2), None);
            assert_eq!(two_less.error_kind, Some(ErrorKind::FuelExhausted), "{n}, {mode}");
            assert_eq!(two_less.stdout.len(), 0, "{n}, {mode}: a refused print writes nothing");
        }
    }
}

/// Programs whose loops do work of growing size: a string grown by concatenation and
/// printed, a shared array copied on each write, arrays compared, text converted.
const WORK_LOOPS: &[&str] = &[
    // s = s + "ab" ... printed every iteration.
    ".module grow
        LOAD_CONST_R r0, str \"\"
        LOAD_CONST_R r1, str \"abcdefgh\"
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r3, int 60
        LOAD_CONST_R r4, int 1
loop:   LT_R r5, r2, r3
        JUMP_IF_NOT_R r5, done
        CONCAT_STR_R r0, r0, r1
        DEBUG_PRINT r0
        ADD_R r2, r2, r4
        JUMP_R loop
done:   RETURN_R r0",
    // b = a; b[i] = i: each write copies the shared array of 200 elements.
    ".module cow
        LOAD_CONST_R r1, int 200
        NEW_ARRAY_R r0, r1
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r3, int 150
        LOAD_CONST_R r4, int 1
loop:   LT_R r5, r2, r3
        JUMP_IF_NOT_R r5, done
        MOVE_R r6, r0
        ARRAY_SET_R r6, r2, r2
        EQ_R r7, r6, r0
        DEBUG_PRINT r7
        ARRAY_SET_R r0, r2, r2
        ADD_R r2, r2, r4
        JUMP_R loop
done:   RETURN_R r2",
    // a = push(a, a): an array holding its earlier selves (its text doubles each time),
    // converted to text and compared with a copy.
    ".module nest
        LOAD_CONST_R r1, int 0
        NEW_ARRAY_R r0, r1
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r3, int 14
        LOAD_CONST_R r4, int 1
loop:   LT_R r5, r2, r3
        JUMP_IF_NOT_R r5, done
        LOAD_CONST_R r8, str \"push\"
        CALL_R r8, r0, r0, r0
        CAST_R r9, r0, string
        STR_LEN_R r10, r9
        DEBUG_PRINT r10
        MOVE_R r11, r0
        EQ_R r7, r11, r0
        DEBUG_PRINT r7
        ADD_R r2, r2, r4
        JUMP_R loop
done:   RETURN_R r2",
];

#[test]
fn work_charges_stop_every_mode_at_the_same_instruction() {
    for src in WORK_LOOPS {
        let bytes = assemble_bytes(src);
        let full = run_bytes_mode(&bytes, Mode::INTERP, None, None);
        assert_eq!(full.status, 0, "{src}: {:?}", full.error);
        let total = full.instructions;
        let mut budgets: Vec<u64> = (1..=60).map(|i| total * i / 61).collect();
        budgets.extend(total.saturating_sub(40)..=total);
        for fuel in budgets {
            let interp = run_bytes_mode(&bytes, Mode::INTERP, Some(fuel), None);
            if fuel < total {
                assert_eq!(interp.error_kind, Some(ErrorKind::FuelExhausted), "fuel {fuel} of {total}");
            } else {
                assert_eq!(interp.status, 0);
            }
            for mode in &Mode::ALL[1..] {
                let r = run_bytes_mode(&bytes, *mode, Some(fuel), None);
                assert_eq!(
                    (&r.stdout, r.status, &r.error, r.instructions),
                    (&interp.stdout, interp.status, &interp.error, interp.instructions),
                    "{} under fuel {fuel} of {total}, {mode}",
                    src.lines().next().unwrap()
                );
            }
        }
    }
}

#[test]
fn work_loops_charge_more_than_their_instructions() {
    // The instruction count of each loop without work charges, worked out from the program:
    // what the loops above execute, so that charging can be seen to happen.
    for (src, instructions) in WORK_LOOPS.iter().zip([5 + 60 * 6 + 2 + 1, 5 + 150 * 9 + 2 + 1, 5 + 14 * 12 + 2 + 1]) {
        let bytes = assemble_bytes(src);
        let r = run_bytes_mode(&bytes, Mode::INTERP, None, None);
        assert_eq!(r.status, 0, "{:?}", r.error);
        assert!(r.instructions > instructions, "{}: {} charged for {instructions} instructions", src.lines().next().unwrap(), r.instructions);
    }
}

/// The interpreter runs `ADD_R t; MOVE_R v, t` as one fused dispatch and returns ints to its
/// callers as two words: fuel must still run out at the exact instruction, the move included,
/// in every mode.
const FUSED_PAIRS: &str = "
.module fused
        LOAD_CONST_R r0, int 0          ; 0
        LOAD_CONST_R r1, int 0          ; 1
        LOAD_CONST_R r2, int 1          ; 2
        LOAD_CONST_R r3, int 40         ; 3
loop:   LT_R r4, r1, r3                 ; 4
        JUMP_IF_NOT_R r4, done          ; 5
        ADD_R r5, r0, r1                ; 6
        MOVE_R r0, r5                   ; 7
        LOAD_CONST_R r6, str \"twice\"    ; 8
        CALL_R r6, r7, r1               ; 9
        MUL_R r8, r7, r2                ; 10
        MOVE_R r9, r8                   ; 11
        ADD_R r10, r1, r2               ; 12
        MOVE_R r1, r10                  ; 13
        JUMP_R loop                     ; 14
done:   DEBUG_PRINT r0                  ; 15
        DEBUG_PRINT r9                  ; 16
        RETURN_R                        ; 17
.func twice
        ADD_R r1, r0, r0                ; 18
        RETURN_R r1                     ; 19
";

/// Runs `bytes` with every fuel budget from 1 to `total` in every mode and checks that each
/// mode prints, fails and counts exactly as the interpreter does.
fn every_budget_agrees_in_every_mode(bytes: &[u8], total: u64) {
    for fuel in 1..=total {
        let interp = run_bytes_mode(bytes, Mode::INTERP, Some(fuel), None);
        for mode in &Mode::ALL[1..] {
            let r = run_bytes_mode(bytes, *mode, Some(fuel), None);
            assert_eq!(
                (&r.stdout, r.status, &r.error, r.instructions),
                (&interp.stdout, interp.status, &interp.error, interp.instructions),
                "fuel {fuel} of {total}, {mode}"
            );
        }
    }
}

#[test]
fn fuel_runs_out_inside_fused_pairs_at_the_exact_instruction() {
    let bytes = assemble_bytes(FUSED_PAIRS);
    let full = run_bytes_mode(&bytes, Mode::INTERP, None, None);
    assert_eq!(full.status, 0, "{:?}", full.error);
    assert_eq!(full.stdout, b"780\n78\n");
    let total = full.instructions;
    // The 7th instruction executed is the first MOVE_R (index 7), the second half of a pair.
    let at_move = run_bytes_mode(&bytes, Mode::INTERP, Some(7), None);
    assert!(at_move.error.as_deref().is_some_and(|e| e.contains("at instruction 7,")), "{:?}", at_move.error);
    every_budget_agrees_in_every_mode(&bytes, total);
}

/// Every other superinstruction of the loader: `MOVE_R` + `MOVE_R`, `MOVE_R` + `LOAD_CONST_R`,
/// `LOAD_CONST_R` + `MOVE_R`, `MOVE_R` + `JUMP_R` and `ADD_R` + `JUMP_R` (back-edges), and a
/// string moved through a fused pair (its reference counted).
const MOVE_PAIRS: &str = "
.module moves
        LOAD_CONST_R r0, int 0          ; 0  sum
        LOAD_CONST_R r1, int 0          ; 1  i
        LOAD_CONST_R r2, int 1          ; 2
        LOAD_CONST_R r3, int 12         ; 3
        LOAD_CONST_R r9, str \"s\"       ; 4
outer:  LT_R r4, r1, r3                 ; 5
        JUMP_IF_NOT_R r4, done          ; 6
        ADD_R r5, r0, r1                ; 7
        ADD_R r6, r1, r2                ; 8
        MOVE_R r0, r5                   ; 9   MOVE + MOVE
        MOVE_R r10, r9                  ; 10
        MOVE_R r7, r6                   ; 11  MOVE + LOAD_CONST
        LOAD_CONST_R r8, int 3          ; 12
        LOAD_CONST_R r11, str \"t\"      ; 13  LOAD_CONST + MOVE
        MOVE_R r9, r11                  ; 14
        MOVE_R r1, r7                   ; 15  MOVE + JUMP
        JUMP_R inner                    ; 16
inner:  GTE_R r4, r8, r2                ; 17
        JUMP_IF_NOT_R r4, outer         ; 18
        SUB_R r8, r8, r2                ; 19
        ADD_R r0, r0, r2                ; 20  ADD + JUMP
        JUMP_R inner                    ; 21
done:   DEBUG_PRINT r0                  ; 22
        DEBUG_PRINT r9                  ; 23
        DEBUG_PRINT r10                 ; 24
        RETURN_R                        ; 25
";

#[test]
fn fuel_runs_out_inside_move_and_jump_pairs_at_the_exact_instruction() {
    let bytes = assemble_bytes(MOVE_PAIRS);
    let full = run_bytes_mode(&bytes, Mode::INTERP, None, None);
    assert_eq!(full.status, 0, "{:?}", full.error);
    // sum of 0..12 plus 3 per outer iteration; the last string moved in each pair.
    assert_eq!(full.stdout, b"102\nt\nt\n");
    let total = full.instructions;
    // The second halves 10, 12, 14 and 16: on the first pass no jump has been taken before
    // them, so with fuel N the run stops at instruction N, inside its pair.
    for at in [10, 12, 14, 16] {
        let r = run_bytes_mode(&bytes, Mode::INTERP, Some(at), None);
        let want = format!("at instruction {at},");
        assert!(r.error.as_deref().is_some_and(|e| e.contains(&want)), "fuel {at}: {:?}", r.error);
    }
    every_budget_agrees_in_every_mode(&bytes, total);
}

#[test]
fn an_overflow_in_a_fused_add_and_back_edge_names_the_add() {
    let bytes = assemble_bytes(
        "
.module overflow
        LOAD_CONST_R r0, int 9223372036854775805
        LOAD_CONST_R r1, int 1
loop:   DEBUG_PRINT r0
        ADD_R r0, r0, r1
        JUMP_R loop
",
    );
    for mode in Mode::ALL {
        let r = run_bytes_mode(&bytes, mode, None, None);
        assert_eq!(r.status, 1, "{mode}");
        assert_eq!(r.stdout, b"9223372036854775805\n9223372036854775806\n9223372036854775807\n", "{mode}");
        let e = r.error.as_deref().unwrap_or("");
        assert!(e.contains("overflows") && e.contains("at instruction 3,"), "{mode}: {e}");
    }
}
