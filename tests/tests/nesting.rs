//! Values nested arbitrarily deep, or sharing structure exponentially, in both tiers: printing,
//! comparing, converting to text and freeing them never recurse on the native stack, and text
//! conversion of a value whose display form passes the 1 GiB string limit fails cleanly at the
//! limit, keeping the output printed before it. Runs are on threads with small stacks.

use mdvm::{Error, ErrorKind, RuntimeError, Tier, Value, Vm};
use mdvm_tests::assemble_bytes;

/// How deep the programs nest their values.
const DEEP: usize = 300_000;

/// The tiers every program runs in.
const TIERS: [Tier; 2] = [Tier::Interp, Tier::Jit];

/// Code leaving in `dst` a value nested `DEEP` levels around the constant `leaf`: an array
/// (`[leaf]`, `[[leaf]]`, ...) when `dict` is false, else a dict (`{k: leaf}`, ...). `label`
/// prefixes the loop's labels. Registers r200..=r206 are scratch.
fn build_deep(dst: &str, leaf: &str, dict: bool, label: &str) -> String {
    let wrap = if dict {
        format!("DICT_NEW_R r205\n        DICT_SET_R r205, r206, {dst}")
    } else {
        format!("NEW_ARRAY_R r205, r202\n        ARRAY_SET_R r205, r203, {dst}")
    };
    format!(
        "
        LOAD_CONST_R {dst}, {leaf}
        LOAD_CONST_R r200, int 0
        LOAD_CONST_R r201, int {DEEP}
        LOAD_CONST_R r202, int 1
        LOAD_CONST_R r203, int 0
        LOAD_CONST_R r206, str \"k\"
{label}:  LT_R r204, r200, r201
        JUMP_IF_NOT_R r204, {label}_done
        {wrap}
        MOVE_R {dst}, r205
        ADD_R r200, r200, r202
        JUMP_R {label}
{label}_done: LOAD_CONST_R r205, empty
"
    )
}

/// Code leaving in `dst` the value `a = [a, a]` doubled `times` times around a string of
/// 2^20 `x`s (1 MiB): its display form is about 2^times MiB long. Registers r200..=r207 are
/// scratch.
fn build_doubled(dst: &str, times: u32, label: &str) -> String {
    format!(
        "
        LOAD_CONST_R {dst}, str \"x\"
        LOAD_CONST_R r200, int 0
        LOAD_CONST_R r201, int 20
        LOAD_CONST_R r202, int 1
        LOAD_CONST_R r207, int 2
{label}_s: LT_R r204, r200, r201
        JUMP_IF_NOT_R r204, {label}_a
        ADD_R {dst}, {dst}, {dst}
        ADD_R r200, r200, r202
        JUMP_R {label}_s
{label}_a: LOAD_CONST_R r200, int 0
        LOAD_CONST_R r201, int {times}
        LOAD_CONST_R r203, int 0
{label}:  LT_R r204, r200, r201
        JUMP_IF_NOT_R r204, {label}_done
        NEW_ARRAY_R r205, r207
        ARRAY_SET_R r205, r203, {dst}
        ARRAY_SET_R r205, r202, {dst}
        MOVE_R {dst}, r205
        ADD_R r200, r200, r202
        JUMP_R {label}
{label}_done: LOAD_CONST_R r205, empty
"
    )
}

/// What a run gave: its output, and its result (the returned value's display form and length
/// of that, taken on the small stack too) or the runtime error.
#[derive(Debug)]
struct Run {
    output: String,
    result: Result<String, RuntimeError>,
}

/// Runs the assembled `src` in `tier` on a thread with a 512 KiB stack (a walk recursing
/// once per level of a value `DEEP` levels deep would need far more). The VM, its registers
/// and the returned value are all freed on that thread. In the compiled tier, checks that the
/// main program was compiled and entered.
fn run(src: String, tier: Tier) -> Run {
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let bytes = assemble_bytes(&src);
            let mut vm = Vm::builder().tier(tier).fuel(Some(100_000_000)).load_bytes(&bytes).expect("the program loads");
            let o = vm.run_captured();
            if tier == Tier::Jit {
                let j = vm.stats().jit.expect("the compiled tier is attached");
                assert_eq!(j.compiled.compile_failures, 0, "compile failure: {:?}", j.compiled.last_failure);
                assert!(j.compiled.functions_compiled >= 1 && j.native_entries >= 1, "{j:?}");
            }
            let result = match o.result {
                Ok(v) => Ok(shown(v)),
                Err(Error::Runtime(e)) => Err(e),
                Err(e) => panic!("not a runtime error: {e}"),
            };
            drop(vm);
            Run { output: String::from_utf8(o.output).expect("UTF-8 output"), result }
        })
        .expect("a thread")
        .join()
        .expect("the run must not crash")
}

/// A returned value as text: short ones whole, long ones by length and ends. Consumes (frees)
/// the value.
fn shown(v: Value) -> String {
    let s = v.display_string();
    if s.len() <= 40 {
        s
    } else {
        format!("{} bytes: {}...{}", s.len(), &s[..10], &s[s.len() - 10..])
    }
}

/// `[[...[leaf]...]]`, `DEEP` deep, as text.
fn deep_text(leaf: &str) -> String {
    format!("{}{leaf}{}", "[".repeat(DEEP), "]".repeat(DEEP))
}

#[test]
fn printing_deep_values_writes_them_whole() {
    let src = format!(
        "{}{}
        DEBUG_PRINT r0
        DEBUG_PRINT r1
        LOAD_CONST_R r2, str \"printed\"
        DEBUG_PRINT r2
        RETURN_R",
        build_deep("r0", "int 7", false, "arr"),
        build_deep("r1", "str \"x\"", true, "dict"),
    );
    let want = format!("{}\n{}x{}\nprinted\n", deep_text("7"), "{k: ".repeat(DEEP), "}".repeat(DEEP));
    for tier in TIERS {
        let r = run(src.clone(), tier);
        assert_eq!(r.result.as_deref(), Ok("empty"), "{tier}: the program returns nothing");
        assert!(r.output == want, "{tier}: printed {} bytes, {:?}...", r.output.len(), &r.output[..r.output.len().min(60)]);
    }
}

#[test]
fn comparing_deep_values_gives_their_equality() {
    let src = format!(
        "{}{}{}{}{}
        EQ_R r10, r0, r1        ; separately built, equal
        DEBUG_PRINT r10
        EQ_R r10, r0, r2        ; differ at the bottom
        DEBUG_PRINT r10
        NEQ_R r10, r0, r2
        DEBUG_PRINT r10
        EQ_R r10, r0, r3        ; 7 == 7.0 at the bottom
        DEBUG_PRINT r10
        EQ_R r10, r4, r4        ; NaN at the bottom equals nothing, itself included
        DEBUG_PRINT r10
        EQ_R r10, r0, r1
        JUMP_IF_NOT_R r10, wrong
        LOAD_CONST_R r11, str \"branch taken\"
        DEBUG_PRINT r11
        LOAD_CONST_R r12, int 1
        NEW_ARRAY_R r13, r12
        LOAD_CONST_R r14, int 0
        ARRAY_SET_R r13, r14, r2
        LOAD_CONST_R r15, str \"index_of\"
        CALL_R r15, r16, r13, r1     ; index_of([c], b): -1
        DEBUG_PRINT r16
        CALL_R r15, r16, r13, r2     ; index_of([c], c): 0
        DEBUG_PRINT r16
        RETURN_R r10
wrong:  LOAD_CONST_R r11, str \"wrong branch\"
        DEBUG_PRINT r11
        RETURN_R",
        build_deep("r0", "int 7", false, "a"),
        build_deep("r1", "int 7", false, "b"),
        build_deep("r2", "int 8", false, "c"),
        build_deep("r3", "float 7.0", false, "f"),
        build_deep("r4", "float nan", false, "n"),
    );
    for tier in TIERS {
        let r = run(src.clone(), tier);
        assert_eq!(r.output, "true\nfalse\ntrue\ntrue\nfalse\nbranch taken\n-1\n0\n", "{tier}");
        assert_eq!(r.result.as_deref(), Ok("true"), "{tier}");
    }
}

#[test]
fn comparing_exponentially_shared_values_finishes() {
    // 2^60 leaves each side; the two are built separately, so no part is shared between them.
    let src = format!(
        "{}{}
        EQ_R r10, r0, r1
        DEBUG_PRINT r10
        LOAD_CONST_R r11, str \"y\"
        LOAD_CONST_R r12, int 1
        ARRAY_SET_R r1, r12, r11     ; now [b59, y]: the first halves compare equal first
        EQ_R r10, r0, r1
        DEBUG_PRINT r10
        RETURN_R",
        build_doubled("r0", 60, "a"),
        build_doubled("r1", 60, "b"),
    );
    for tier in TIERS {
        let r = run(src.clone(), tier);
        assert_eq!(r.output, "true\nfalse\n", "{tier}");
        assert!(r.result.is_ok(), "{tier}: {:?}", r.result);
    }
}

#[test]
fn converting_deep_values_to_text_gives_their_display_form() {
    let src = format!(
        "{}
        LOAD_CONST_R r1, str \"v=\"
        CONCAT_STR_R r2, r1, r0
        DEBUG_PRINT r2
        STR_LEN_R r3, r2
        DEBUG_PRINT r3
        CONCAT_STR_R r2, r0, r0
        STR_LEN_R r3, r2
        DEBUG_PRINT r3
        CAST_R r4, r0, string
        STR_LEN_R r3, r4
        DEBUG_PRINT r3
        LOAD_CONST_R r5, str \"str\"
        CALL_R r5, r6, r0
        EQ_R r7, r6, r4
        DEBUG_PRINT r7
        LOAD_CONST_R r8, int 1
        NEW_ARRAY_R r9, r8
        LOAD_CONST_R r10, int 0
        ARRAY_SET_R r9, r10, r0
        LOAD_CONST_R r11, str \"join\"
        LOAD_CONST_R r12, str \",\"
        CALL_R r11, r13, r9, r12     ; join([a], \",\"): a's display form
        EQ_R r7, r13, r4
        DEBUG_PRINT r7
        RETURN_R r4",
        build_deep("r0", "int 7", false, "a"),
    );
    let one = 2 * DEEP + 1;
    let want = format!("v={}\n{}\n{}\n{one}\ntrue\ntrue\n", deep_text("7"), one + 2, 2 * one);
    for tier in TIERS {
        let r = run(src.clone(), tier);
        assert!(r.output == want, "{tier}: {} bytes, ends {:?}", r.output.len(), &r.output[r.output.len().saturating_sub(40)..]);
        assert_eq!(r.result, Ok(format!("{one} bytes: [[[[[[[[[[...]]]]]]]]]]")), "{tier}");
    }
}

#[test]
fn text_conversion_past_the_string_limit_fails_cleanly() {
    // 2^60 leaves of 1 MiB: the display form would be about 2^80 bytes. Each conversion must
    // stop at the 1 GiB limit with the limit's error, keeping what was printed before.
    let convert = [
        ("concat", "LOAD_CONST_R r1, str \"\"\n        CONCAT_STR_R r2, r1, r0"),
        ("concat after", "LOAD_CONST_R r1, int 1\n        CONCAT_STR_R r2, r0, r1"),
        ("cast", "CAST_R r2, r0, string"),
        ("str", "LOAD_CONST_R r1, str \"str\"\n        CALL_R r1, r2, r0"),
        ("join", "LOAD_CONST_R r1, str \"join\"\n        LOAD_CONST_R r3, str \"-\"\n        CALL_R r1, r2, r0, r3"),
    ];
    for (what, code) in convert {
        let src = format!(
            "{}
        LOAD_CONST_R r9, str \"before\"
        DEBUG_PRINT r9
        {code}
        LOAD_CONST_R r9, str \"after\"
        DEBUG_PRINT r9
        RETURN_R r2",
            build_doubled("r0", 60, "a"),
        );
        for tier in TIERS {
            let r = run(src.clone(), tier);
            assert_eq!(r.output, "before\n", "{what}, {tier}");
            let e = r.result.expect_err(what);
            assert_eq!((e.kind, e.function.as_str()), (ErrorKind::Value, "<main>"), "{what}, {tier}: {e}");
            assert!(e.message.ends_with("string longer than 1 GiB"), "{what}, {tier}: {e}");
        }
    }
}

#[test]
fn deep_values_are_freed_without_recursion() {
    // Freed by overwriting a register, by an array element write, by a dict clear, by a
    // callee's window emptied on return, as a global replaced, and at the end with the
    // registers and the returned value.
    let src = format!(
        "{}
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r9, str \"overwritten\"
        DEBUG_PRINT r9
{}
        LOAD_CONST_R r1, int 1
        NEW_ARRAY_R r2, r1
        LOAD_CONST_R r3, int 0
        ARRAY_SET_R r2, r3, r0
        LOAD_CONST_R r0, empty
        ARRAY_SET_R r2, r3, r3
        DEBUG_PRINT r2
{}
        DICT_CLEAR_R r0
        DEBUG_PRINT r0
{}
        LOAD_CONST_R r4, str \"keep\"
        CALL_R r4, r5, r0
        LOAD_CONST_R r0, empty
        DEBUG_PRINT r5
        STORE_GLOBAL_R r5, str \"g\"
        LOAD_CONST_R r5, empty
        STORE_GLOBAL_R r3, str \"g\"
        LOAD_GLOBAL_R r6, str \"g\"
        DEBUG_PRINT r6
{}{}
        RETURN_R r8
.func keep
        LOAD_CONST_R r1, int 0
        ARRAY_GET_R r2, r0, r1
        LOAD_CONST_R r0, empty
        RETURN_R r2",
        build_deep("r0", "str \"a\"", false, "a"),
        build_deep("r0", "str \"b\"", false, "b"),
        build_deep("r0", "str \"c\"", true, "c"),
        build_deep("r0", "str \"d\"", false, "d"),
        build_deep("r7", "str \"e\"", true, "e"),
        build_deep("r8", "str \"f\"", false, "f"),
    );
    let want_keep = format!("{}d{}", "[".repeat(DEEP - 1), "]".repeat(DEEP - 1));
    for tier in TIERS {
        let r = run(src.clone(), tier);
        let lines: Vec<&str> = r.output.lines().collect();
        assert_eq!(lines.len(), 5, "{tier}");
        assert_eq!(lines[..3], ["overwritten", "[0]", "{}"], "{tier}");
        assert!(lines[3] == want_keep, "{tier}: {} bytes", lines[3].len());
        assert_eq!(lines[4], "0", "{tier}");
        assert_eq!(r.result, Ok(format!("{} bytes: [[[[[[[[[[...]]]]]]]]]]", 2 * DEEP + 1)), "{tier}");
    }
}
