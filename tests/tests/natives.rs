//! Natives from the host's side, in every mode of [`Mode::ALL`]: functions registered with
//! `VmBuilder::native` (results, errors of kind `Host` with the call's position, overriding a
//! builtin, arity), the calling protocol's promises (one instruction for fuel and the
//! instruction count, no frame for the depth limit, amortized O(1) `push` when the
//! destination is the argument), `read_line` through `Vm::set_input`, and output printed
//! before a native's error.

use std::cell::Cell;
use std::io::Cursor;
use std::rc::Rc;

use mdbc::Instr;
use mdvm::{Arity, Error, ErrorKind, RuntimeError, Value, VmBuilder};
use mdvm_tests::{assemble_bytes, Mode};

/// What one run produced, in a form the modes can be compared on.
#[derive(Debug, PartialEq)]
struct Outcome {
    stdout: String,
    /// The result's `Debug` form, or the error.
    result: Result<String, RuntimeError>,
    instructions: u64,
}

/// Loads `bytes` with `builder` and runs them with the output captured; a compile failure of
/// the compiled tier fails the test.
fn run_with(builder: VmBuilder, bytes: &[u8], input: Option<&[u8]>) -> Outcome {
    let mut vm = builder.load_bytes(bytes).expect("the program loads");
    if let Some(text) = input {
        vm.set_input(Cursor::new(text.to_vec()));
    }
    let o = vm.run_captured();
    if let Some(j) = vm.stats().jit {
        assert_eq!(j.compiled.compile_failures, 0, "compile failure: {:?}", j.compiled.last_failure);
    }
    Outcome {
        stdout: String::from_utf8(o.output).expect("UTF-8 output"),
        result: o.result.map(|v| format!("{v:?}")).map_err(|e| match e {
            Error::Runtime(r) => r,
            e => panic!("not a runtime error: {e}"),
        }),
        instructions: vm.instruction_count(),
    }
}

/// The index of the `n`th `CALL_R` (from 0) of the assembled program `src`, and its byte offset.
fn call_position(src: &str, n: usize) -> (u32, usize) {
    let m = mdbc::assemble(src).expect("assembles");
    let i = m.code.iter().enumerate().filter(|(_, ins)| matches!(ins, Instr::CallR { .. })).nth(n).expect("such a call").0;
    let m = mdbc::Module::decode(&m.encode()).expect("decodes");
    (i as u32, m.byte_offset(i as u32))
}

/// `twice(x)`: an int doubled (checked), a string repeated, anything else an error.
fn twice(args: &[Value]) -> Result<Value, String> {
    match &args[0] {
        Value::Int(i) => i.checked_mul(2).map(Value::Int).ok_or_else(|| "twice overflows".to_string()),
        Value::Str(s) => Ok(Value::str(format!("{0}{0}", s.as_str()))),
        v => Err(format!("twice takes an int or a string, not {}", v.type_name())),
    }
}

/// A loop of 3,000 calls of the host function `twice` (so the call is compiled), then one
/// with a string.
const HOST_LOOP: &str = r#"
.module host_loop
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 3000
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r3, int 0          ; sum
loop:   LT_R r4, r0, r1
        JUMP_IF_NOT_R r4, done
        LOAD_CONST_R r10, str "twice"
        CALL_R r10, r5, r0
        ADD_R r3, r3, r5
        ADD_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r3
        LOAD_CONST_R r6, str "ab"
        LOAD_CONST_R r10, str "twice"
        CALL_R r10, r7, r6
        DEBUG_PRINT r7
        RETURN_R r3
"#;

#[test]
fn a_host_function_is_called_from_every_tier() {
    let bytes = assemble_bytes(HOST_LOOP);
    for mode in Mode::ALL {
        let calls = Rc::new(Cell::new(0u64));
        let counter = calls.clone();
        let builder = mode.builder().native("twice", 1, move |args: &[Value]| {
            counter.set(counter.get() + 1);
            twice(args)
        });
        let out = run_with(builder, &bytes, None);
        assert_eq!(out.stdout, "8997000\nabab\n", "{mode}");
        assert_eq!(out.result, Ok("Int(8997000)".to_string()), "{mode}");
        assert_eq!(calls.get(), 3001, "{mode}: the host function runs once per executed call");
    }
}

#[test]
fn a_host_function_sees_the_values_it_is_given() {
    let src = r#"
        LOAD_CONST_R r0, int 2
        NEW_ARRAY_R r1, r0
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r3, str "é"
        ARRAY_SET_R r1, r2, r3
        DICT_NEW_R r4
        DICT_SET_R r4, r3, r1
        LOAD_CONST_R r5, float -0.5
        LOAD_CONST_R r6, bool true
        LOAD_CONST_R r10, str "describe"
        CALL_R r10, r7, r1, r4, r5, r6, r8
        DEBUG_PRINT r7
        RETURN_R r7
    "#;
    let bytes = assemble_bytes(src);
    for mode in Mode::ALL {
        let builder = mode.builder().native("describe", Arity::AtLeast(0), |args: &[Value]| {
            let parts: Vec<String> = args.iter().map(|v| format!("{}={}", v.type_name(), v.display_string())).collect();
            Ok::<_, String>(Value::str(parts.join(" ")))
        });
        let out = run_with(builder, &bytes, None);
        assert_eq!(out.stdout, "array=[empty, é] dict={é: [empty, é]} float=-0.5 bool=true empty=empty\n", "{mode}");
    }
}

/// `g` calls the host function `check(i)` for i = 0, 1, ... 2,999; it fails at 2,500.
const HOST_ERROR: &str = r#"
.module host_error
        LOAD_CONST_R r0, str "before"
        DEBUG_PRINT r0
        LOAD_CONST_R r1, str "g"
        CALL_R r1, r2
        LOAD_CONST_R r0, str "not reached"
        DEBUG_PRINT r0
        RETURN_R
.func g
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 3000
        LOAD_CONST_R r2, int 1
loop:   LT_R r4, r0, r1
        JUMP_IF_NOT_R r4, done
        LOAD_CONST_R r10, str "check"
        CALL_R r10, r5, r0
        ADD_R r0, r0, r2
        JUMP_R loop
done:   RETURN_R
"#;

#[test]
fn a_host_error_is_a_host_runtime_error_at_the_call() {
    let bytes = assemble_bytes(HOST_ERROR);
    let (index, offset) = call_position(HOST_ERROR, 1);
    let mut counts = Vec::new();
    for mode in Mode::ALL {
        let builder = mode.builder().native("check", 1, |args: &[Value]| match args[0] {
            Value::Int(2500) => Err("disk on fire at 2500"),
            _ => Ok(Value::Empty),
        });
        let out = run_with(builder, &bytes, None);
        assert_eq!(out.stdout, "before\n", "{mode}: what was printed before the error stays");
        let e = out.result.expect_err("the host function fails");
        assert_eq!(e.kind, ErrorKind::Host, "{mode}: {e}");
        assert!(e.message.contains("disk on fire at 2500"), "{mode}: the host's message: {e}");
        assert!(e.message.contains("check"), "{mode}: the native's name: {e}");
        assert_eq!((e.function.as_str(), e.index, e.offset), ("g", index, offset), "{mode}: the CALL_R's position: {e}");
        counts.push(out.instructions);
    }
    assert!(counts.iter().all(|&c| c == counts[0]), "instruction counts differ between modes: {counts:?}");
}

/// `len` called on a string once and on a two-element array in a loop of 3,000.
const LEN_LOOP: &str = r#"
.module len_loop
        LOAD_CONST_R r1, str "abc"
        LOAD_CONST_R r10, str "len"
        CALL_R r10, r0, r1
        DEBUG_PRINT r0
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 3000
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r3, int 0
        LOAD_CONST_R r6, int 2
        NEW_ARRAY_R r7, r6
loop:   LT_R r4, r0, r1
        JUMP_IF_NOT_R r4, done
        LOAD_CONST_R r10, str "len"
        CALL_R r10, r5, r7
        ADD_R r3, r3, r5
        ADD_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r3
        RETURN_R
"#;

#[test]
fn a_registered_function_overrides_the_builtin() {
    let bytes = assemble_bytes(LEN_LOOP);
    for mode in Mode::ALL {
        let plain = run_with(mode.builder(), &bytes, None);
        assert_eq!(plain.stdout, "3\n6000\n", "{mode}: the builtin len");
        let builder = mode.builder().native("len", 1, |_: &[Value]| Ok::<_, String>(Value::Int(-7)));
        let out = run_with(builder, &bytes, None);
        assert_eq!(out.stdout, "-7\n-21000\n", "{mode}: the host's len replaces the builtin (nothing inlined)");
        assert_eq!(out.instructions, plain.instructions, "{mode}");
    }
}

#[test]
fn a_function_of_the_module_wins_over_a_registered_function() {
    let src = r#"
        LOAD_CONST_R r1, str "abc"
        LOAD_CONST_R r10, str "len"
        CALL_R r10, r0, r1
        DEBUG_PRINT r0
        LOAD_CONST_R r10, str "twice"
        CALL_R r10, r0, r1
        DEBUG_PRINT r0
        RETURN_R
.func len
        LOAD_CONST_R r1, str "module len"
        RETURN_R r1
    "#;
    let bytes = assemble_bytes(src);
    for mode in Mode::ALL {
        let builder = mode.builder().native("len", 1, |_: &[Value]| Ok::<_, String>(Value::Int(-7))).native("twice", 1, twice);
        let out = run_with(builder, &bytes, None);
        assert_eq!(out.stdout, "module len\nabcabc\n", "{mode}");
    }
}

#[test]
fn a_later_registration_replaces_an_earlier_one() {
    let bytes = assemble_bytes(HOST_LOOP);
    for mode in [Mode::INTERP, Mode::JIT] {
        let builder = mode
            .builder()
            .native("twice", 1, |_: &[Value]| Err::<Value, _>("the first registration"))
            .native("twice", 1, twice);
        assert_eq!(run_with(builder, &bytes, None).stdout, "8997000\nabab\n", "{mode}");
    }
}

/// Runs `src` in every mode with the natives `pair` (two arguments) and `count` (one or more,
/// gives their number) registered, expecting a type error naming `name` at the last CALL_R
/// after `stdout`.
fn expect_arity_error(src: &str, name: &str, stdout: &str) {
    let bytes = assemble_bytes(src);
    let calls = mdbc::assemble(src).unwrap().code.iter().filter(|i| matches!(i, Instr::CallR { .. })).count();
    let (index, _) = call_position(src, calls - 1);
    for mode in Mode::ALL {
        let builder = mode
            .builder()
            .native("pair", 2, |a: &[Value]| Ok::<_, String>(Value::array(a.to_vec())))
            .native("count", Arity::AtLeast(1), |a: &[Value]| Ok::<_, String>(Value::Int(a.len() as i64)));
        let out = run_with(builder, &bytes, None);
        assert_eq!(out.stdout, stdout, "{mode}");
        let e = out.result.expect_err("an arity error");
        assert_eq!(e.kind, ErrorKind::Type, "{mode}: {e}");
        assert!(e.message.contains(&format!("`{name}`")), "{mode}: names the native: {e}");
        assert_eq!(e.index, index, "{mode}: at the call: {e}");
    }
}

#[test]
fn a_wrong_argument_count_is_a_type_error_naming_the_native() {
    // A host function of fixed arity called with one argument too few.
    expect_arity_error(
        r#"
        LOAD_CONST_R r1, int 1
        LOAD_CONST_R r10, str "pair"
        CALL_R r10, r0, r1, r1
        DEBUG_PRINT r0
        LOAD_CONST_R r10, str "pair"
        CALL_R r10, r0, r1
        RETURN_R
        "#,
        "pair",
        "[1, 1]\n",
    );
    // A variadic host function: 1, 3 and 6 arguments are fine, none is not.
    expect_arity_error(
        r#"
        LOAD_CONST_R r1, int 1
        LOAD_CONST_R r10, str "count"
        CALL_R r10, r0, r1
        DEBUG_PRINT r0
        CALL_R r10, r0, r1, r1, r1
        DEBUG_PRINT r0
        CALL_R r10, r0, r1, r1, r1, r1, r1, r1
        DEBUG_PRINT r0
        CALL_R r10, r0
        RETURN_R
        "#,
        "count",
        "1\n3\n6\n",
    );
    // Builtins: len with two arguments, through a name computed at run time.
    expect_arity_error(
        r#"
        LOAD_CONST_R r1, str "le"
        LOAD_CONST_R r2, str "n"
        ADD_R r10, r1, r2
        CALL_R r10, r0, r1
        DEBUG_PRINT r0
        CALL_R r10, r0, r1, r2
        RETURN_R
        "#,
        "len",
        "2\n",
    );
}

/// Twelve instructions, four of them native calls (one a host function); the program
/// executes each once.
const STRAIGHT: &str = r#"
.module straight
        LOAD_CONST_R r1, int -5         ; 0
        LOAD_CONST_R r10, str "abs"     ; 1
        CALL_R r10, r0, r1              ; 2
        DEBUG_PRINT r0                  ; 3
        LOAD_CONST_R r10, str "str"     ; 4
        CALL_R r10, r2, r0              ; 5
        LOAD_CONST_R r10, str "print"   ; 6
        CALL_R r10, r3, r2, r1          ; 7
        LOAD_CONST_R r11, str "twice"   ; 8
        CALL_R r11, r4, r1              ; 9
        DEBUG_PRINT r4                  ; 10
        RETURN_R r4                     ; 11
"#;

#[test]
fn a_native_call_is_one_instruction_and_fuel_stops_at_the_next() {
    let bytes = assemble_bytes(STRAIGHT);
    let full = "5\n5\n-5\n-10\n";
    // Output after k instructions (the lines printed by instructions 0..k).
    let printed_after = |k: u64| match k {
        0..=3 => "",
        4..=7 => "5\n",
        8..=10 => "5\n5\n-5\n",
        _ => full,
    };
    for mode in Mode::ALL {
        let out = run_with(mode.builder().native("twice", 1, twice), &bytes, None);
        assert_eq!(out.stdout, full, "{mode}");
        assert_eq!(out.instructions, 12, "{mode}: every native call counts as one instruction");
        for k in 0..=12u64 {
            let out = run_with(mode.builder().native("twice", 1, twice).fuel(Some(k)), &bytes, None);
            assert_eq!(out.stdout, printed_after(k), "{mode}, fuel {k}");
            assert_eq!(out.instructions, k, "{mode}, fuel {k}");
            if k < 12 {
                let e = out.result.expect_err("fuel runs out");
                assert_eq!((e.kind, e.index), (ErrorKind::FuelExhausted, k as u32), "{mode}, fuel {k}: {e}");
            } else {
                assert_eq!(out.result, Ok("Int(-10)".to_string()), "{mode}, fuel {k}");
            }
        }
    }
}

/// Natives in a loop of 3,000 iterations (compiled in the JIT modes), a module function
/// calling natives, and a host function.
const LOOP: &str = r#"
.module native_loop
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 3000
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r3, int 0
        LOAD_CONST_R r6, float 0.5
        LOAD_CONST_R r7, int 1500
        LOAD_CONST_R r8, int 0
        NEW_ARRAY_R r9, r8
loop:   LT_R r4, r0, r1
        JUMP_IF_NOT_R r4, done
        MOVE_R r5, r0
        LT_R r4, r0, r7
        JUMP_IF_R r4, call
        ADD_R r5, r0, r6
call:   LOAD_CONST_R r10, str "floor"
        CALL_R r10, r11, r5
        LOAD_CONST_R r10, str "max"
        CALL_R r10, r11, r11, r7
        ADD_R r3, r3, r11
        LOAD_CONST_R r10, str "push"
        CALL_R r10, r9, r9, r5
        LOAD_CONST_R r10, str "twice"
        CALL_R r10, r11, r0
        LOAD_CONST_R r10, str "f"
        CALL_R r10, r12, r9
        ADD_R r3, r3, r12
        ADD_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r3
        RETURN_R r3
.func f
        LOAD_CONST_R r1, str "len"
        CALL_R r1, r2, r0
        RETURN_R r2
"#;

#[test]
fn fuel_stops_native_loops_at_the_same_instruction_in_every_mode() {
    let bytes = assemble_bytes(LOOP);
    let builder = |mode: Mode, fuel: Option<u64>| mode.builder().native("twice", 1, twice).fuel(fuel);
    let reference = run_with(builder(Mode::INTERP, None), &bytes, None);
    assert!(reference.result.is_ok(), "{:?}", reference.result);
    let total = reference.instructions;
    let mut budgets: Vec<u64> = (0..40).collect();
    budgets.extend([1_000, 1_001, 1_002, 1_003, 1_004, 1_005, 1_006, 1_007, 1_008]);
    budgets.extend((0..12).map(|i| 25_000 + i));
    budgets.extend([total / 2, total - 3, total - 2, total - 1, total]);
    for mode in Mode::ALL {
        let full = run_with(builder(mode, None), &bytes, None);
        assert_eq!(full, reference, "{mode}: unbudgeted");
        for &k in &budgets {
            let interp = run_with(builder(Mode::INTERP, Some(k)), &bytes, None);
            let out = run_with(builder(mode, Some(k)), &bytes, None);
            assert_eq!(out, interp, "{mode}, fuel {k}");
            assert_eq!(out.instructions, k.min(total), "{mode}, fuel {k}");
            if k < total {
                assert_eq!(out.result.as_ref().map_err(|e| e.kind), Err(ErrorKind::FuelExhausted), "{mode}, fuel {k}");
            }
        }
    }
}

#[test]
fn natives_take_no_frame() {
    // Only main's frame is allowed: natives (a builtin in a loop, a host function) still run,
    // a call of a module function does not.
    let src = r#"
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 3000
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r3, int 0
loop:   LT_R r4, r0, r1
        JUMP_IF_NOT_R r4, done
        LOAD_CONST_R r10, str "abs"
        CALL_R r10, r5, r0
        ADD_R r3, r3, r5
        LOAD_CONST_R r10, str "twice"
        CALL_R r10, r5, r0
        ADD_R r0, r0, r2
        JUMP_R loop
done:   DEBUG_PRINT r3
        LOAD_CONST_R r10, str "f"
        CALL_R r10, r5, r0
        RETURN_R
.func f
        RETURN_R r0
    "#;
    let bytes = assemble_bytes(src);
    let (index, _) = call_position(src, 2);
    for mode in Mode::ALL {
        let out = run_with(mode.builder().native("twice", 1, twice).max_depth(1), &bytes, None);
        assert_eq!(out.stdout, "4498500\n", "{mode}");
        let e = out.result.expect_err("f needs a second frame");
        assert_eq!((e.kind, e.index), (ErrorKind::CallDepth, index), "{mode}: {e}");
    }
}

#[test]
fn natives_run_at_the_depth_limit() {
    // down(n) recurses to down(0); each level calls natives before and after its call. Main
    // and down(48) .. down(0) are 50 frames: exactly the limit, so down(0)'s natives run,
    // but one level more is an error.
    let src = r#"
        LOAD_CONST_R r10, str "down"
        CALL_R r10, r1, r0
        DEBUG_PRINT r1
        RETURN_R
.func down
        LOAD_CONST_R r1, int 0
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r10, str "str"
        CALL_R r10, r3, r0
        LOAD_CONST_R r10, str "len"
        CALL_R r10, r4, r3
        EQ_R r5, r0, r1
        JUMP_IF_NOT_R r5, deeper
        LOAD_CONST_R r10, str "twice"
        CALL_R r10, r6, r4
        RETURN_R r6
deeper: SUB_R r7, r0, r2
        LOAD_CONST_R r10, str "down"
        CALL_R r10, r8, r7
        LOAD_CONST_R r10, str "max"
        CALL_R r10, r9, r8, r4
        ADD_R r9, r9, r4
        RETURN_R r9
    "#;
    let with_arg = |n: i64| src.replacen("        LOAD_CONST_R r10, str \"down\"\n", &format!("        LOAD_CONST_R r0, int {n}\n        LOAD_CONST_R r10, str \"down\"\n"), 1);
    let fits = assemble_bytes(&with_arg(48));
    let too_deep = assemble_bytes(&with_arg(49));
    for mode in Mode::ALL {
        let out = run_with(mode.builder().native("twice", 1, twice).max_depth(50), &fits, None);
        // down(0) gives twice(len("0")) = 2; each level n >= 1 adds len(str(n)) to the max.
        let expected = 2 + (1..=48).map(|n: i64| n.to_string().len() as i64).sum::<i64>();
        assert_eq!(out.result.as_ref().map_err(|e| e.to_string()), Ok(&"Empty".to_string()), "{mode}");
        assert_eq!(out.stdout, format!("{expected}\n"), "{mode}");
        let out = run_with(mode.builder().native("twice", 1, twice).max_depth(50), &too_deep, None);
        assert_eq!(out.result.map_err(|e| e.kind), Err(ErrorKind::CallDepth), "{mode}");
    }
}

#[test]
fn read_line_reads_the_input_set_by_the_host() {
    // Prints every line in brackets until read_line gives empty, then reads once more.
    let src = r#"
loop:   LOAD_CONST_R r10, str "read_line"
        CALL_R r10, r0
        LOAD_CONST_R r10, str "is_empty"
        CALL_R r10, r1, r0
        JUMP_IF_R r1, eof
        LOAD_CONST_R r2, str "["
        CONCAT_STR_R r3, r2, r0
        LOAD_CONST_R r2, str "]"
        CONCAT_STR_R r3, r3, r2
        DEBUG_PRINT r3
        JUMP_R loop
eof:    LOAD_CONST_R r10, str "read_line"
        CALL_R r10, r0
        LOAD_CONST_R r10, str "type_of"
        CALL_R r10, r4, r0
        DEBUG_PRINT r4
        RETURN_R
    "#;
    let bytes = assemble_bytes(src);
    let input: &[u8] = "first\r\nsecond\n\n\r\né ü\r\na\rb\nlast".as_bytes();
    for mode in Mode::ALL {
        let out = run_with(mode.builder(), &bytes, Some(input));
        assert_eq!(out.stdout, "[first]\n[second]\n[]\n[]\n[é ü]\n[a\rb]\n[last]\nempty\n", "{mode}");
        assert!(out.result.is_ok(), "{mode}: {:?}", out.result);
        // No input at all: empty at once.
        let out = run_with(mode.builder(), &bytes, Some(b""));
        assert_eq!(out.stdout, "empty\n", "{mode}");
    }
}

#[test]
fn push_onto_its_own_destination_appends_in_place() {
    // xs = push(xs, i) 200,000 times: a copy per push would be quadratic (2e10 element copies
    // here); in place it takes milliseconds even in a debug build. Not timed: a copying
    // implementation makes this test take minutes.
    let src = r#"
        LOAD_CONST_R r0, int 0
        NEW_ARRAY_R r1, r0
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r3, int 200000
        LOAD_CONST_R r4, int 1
loop:   LT_R r5, r2, r3
        JUMP_IF_NOT_R r5, done
        LOAD_CONST_R r30, str "push"
        CALL_R r30, r1, r1, r2
        ADD_R r2, r2, r4
        JUMP_R loop
done:   LOAD_CONST_R r30, str "len"
        CALL_R r30, r6, r1
        DEBUG_PRINT r6
        LOAD_CONST_R r30, str "last"
        CALL_R r30, r6, r1
        DEBUG_PRINT r6
        LOAD_CONST_R r7, int 123456
        ARRAY_GET_R r6, r1, r7
        DEBUG_PRINT r6
        RETURN_R
    "#;
    let bytes = assemble_bytes(src);
    for mode in Mode::ALL {
        let out = run_with(mode.builder(), &bytes, None);
        assert_eq!(out.stdout, "200000\n199999\n123456\n", "{mode}");
    }
}

#[test]
fn output_printed_before_a_native_error_is_kept() {
    // print (a native) and DEBUG_PRINT interleave in order; then pop of an empty array fails.
    let src = r#"
        LOAD_CONST_R r1, str "one"
        DEBUG_PRINT r1
        LOAD_CONST_R r2, int 2
        LOAD_CONST_R r3, empty
        LOAD_CONST_R r10, str "print"
        CALL_R r10, r0, r2, r3, r1
        LOAD_CONST_R r4, str "three"
        DEBUG_PRINT r4
        LOAD_CONST_R r5, int 0
        NEW_ARRAY_R r6, r5
        LOAD_CONST_R r10, str "pop"
        CALL_R r10, r6, r6
        DEBUG_PRINT r4
        RETURN_R
    "#;
    let bytes = assemble_bytes(src);
    let (index, offset) = call_position(src, 1);
    for mode in Mode::ALL {
        let out = run_with(mode.builder(), &bytes, None);
        assert_eq!(out.stdout, "one\n2\none\nthree\n", "{mode}");
        let e = out.result.expect_err("pop of an empty array");
        assert_eq!((e.kind, e.function.as_str(), e.index, e.offset), (ErrorKind::IndexOutOfRange, "<main>", index, offset), "{mode}: {e}");
        assert!(e.message.contains("pop"), "{mode}: {e}");
    }
}

/// A host function that panics ends the run with a host error at the call, in every mode,
/// compiled code included (the panic never unwinds through machine code), and what was printed
/// before stays printed.
#[test]
fn a_panicking_host_function_is_a_host_error() {
    let bytes = assemble_bytes(HOST_LOOP);
    let (index, _) = call_position(HOST_LOOP, 0);
    for mode in Mode::ALL {
        let builder = mode.builder().native("twice", 1, |args: &[Value]| match args[0] {
            Value::Int(2999) => panic!("host bug at 2999"),
            _ => twice(args),
        });
        let out = run_with(builder, &bytes, None);
        let e = out.result.expect_err("the panic is an error");
        assert_eq!(e.kind, ErrorKind::Host, "{mode}: {e}");
        assert!(e.message.contains("panicked: host bug at 2999") && e.message.contains("twice"), "{mode}: {e}");
        assert_eq!(e.index, index, "{mode}: at the call");
    }
}
