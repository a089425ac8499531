//! Malformed and invalid `.mdbc` files: each is rejected with a load error naming what is wrong
//! and where, by `mdbc::Module::load`, by the library (`Error::Load`) and by `mdvm check` /
//! `mdvm run` (exit 1, message on stderr, nothing on stdout), and nothing ever panics, also on
//! random bytes and random mutations of corpus files.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use mdbc::LoadError;
use mdvm_tests::{assemble_bytes, corpus_dir, files_under, hex, run_bytes, run_bytes_mode, run_cli, Mode, TempDir, TIERS};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Building blocks.

/// The base module most cases mutate. Output: `hello`, `42`, `true`.
const BASE_ASM: &str = r#"
.module base
        LOAD_CONST_R r0, str "hello"       ; 0
        DEBUG_PRINT r0                     ; 1
        LOAD_CONST_R r1, str "twice"       ; 2
        LOAD_CONST_R r2, int 21            ; 3
        CALL_R r1, r3, r2                  ; 4
        DEBUG_PRINT r3                     ; 5
        LOAD_CONST_R r4, bool true         ; 6
        DEBUG_PRINT r4                     ; 7
        RETURN_R                           ; 8
.func twice
        ADD_R r1, r0, r0                   ; 9
        RETURN_R r1                        ; 10
"#;

fn base() -> Vec<u8> {
    assemble_bytes(BASE_ASM)
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Section offsets from the header: (name, constants, function table, instructions).
fn sections(b: &[u8]) -> (usize, usize, usize, usize) {
    (u32_at(b, 12), u32_at(b, 16), u32_at(b, 20), u32_at(b, 24))
}

/// Position of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> usize {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
        .unwrap_or_else(|| panic!("{needle:?} not found after {from}"))
}

/// A one-instruction-prefixed module whose last instruction is `last`, and the byte offset of
/// that instruction (the file's length minus its encoded length `last_len`).
fn ending_with(last: &str, last_len: usize) -> (Vec<u8>, usize) {
    let b = assemble_bytes(&format!(".module t\n  LOAD_CONST_R r0, int 1\n  {last}\n"));
    let at = b.len() - last_len;
    assert_eq!(
        u32_at(&b, 24) + 4 + 4,
        at,
        "`{last}` is not {last_len} bytes (LOAD_CONST_R is 4 bytes, after the u32 count)"
    );
    (b, at)
}

/// What the loader must say about a case.
#[derive(Clone, Debug)]
enum Expect {
    /// `LoadError::Malformed` at this byte offset.
    Malformed(usize),
    /// `LoadError::Invalid` in `function` at instruction `index`, byte offset `offset`.
    Invalid { function: &'static str, index: u32, offset: usize },
}

struct Bad {
    name: &'static str,
    bytes: Vec<u8>,
    /// Substring of the error message.
    what: &'static str,
    expect: Expect,
}

fn bad(name: &'static str, bytes: Vec<u8>, what: &'static str, expect: Expect) -> Bad {
    Bad { name, bytes, what, expect }
}

fn mutated(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = base();
    f(&mut b);
    b
}

/// Invalid (verifier) case: `src` assembled; the offending instruction is `index`, the last
/// `from_end` bytes of the file start with it.
fn invalid(
    name: &'static str,
    src: &str,
    what: &'static str,
    function: &'static str,
    index: u32,
    from_end: usize,
) -> Bad {
    let bytes = assemble_bytes(src);
    let offset = bytes.len() - from_end;
    Bad { name, bytes, what, expect: Expect::Invalid { function, index, offset } }
}

fn table() -> Vec<Bad> {
    use Expect::Malformed as M;
    let b = base();
    let len = b.len();
    let (name_off, const_off, func_off, instr_off) = sections(&b);
    let code = instr_off + 4;
    let hello = find(&b, b"hello", const_off);
    let fname = find(&b, b"twice", func_off);
    let bool_byte = func_off - 1;
    assert_eq!(b[bool_byte - 1], 4, "the bool constant is the last one");
    // Byte offsets of instructions 1 (DEBUG_PRINT) and 10 (RETURN_R r1, the last).
    let instr1 = code + 4;
    let last = len - 3;
    assert_eq!(&b[last..], &[26, 1, 1], "RETURN_R r1 is last");
    assert_eq!(b[instr1], 37, "DEBUG_PRINT is instruction 1");

    let mut t = vec![
        // Header.
        bad("empty file", vec![], "shorter than the 28-byte header", M(0)),
        bad("short header", b[..20].to_vec(), "file is 20 bytes, shorter than the 28-byte header", M(20)),
        bad("bad magic", mutated(|b| b[0] = b'X'), "bad magic", M(0)),
        bad("version 2", mutated(|b| put_u32(b, 4, 2)), "unsupported version 2", M(4)),
        bad("version 0", mutated(|b| put_u32(b, 4, 0)), "unsupported version 0", M(4)),
        bad("name offset past EOF", mutated(|b| put_u32(b, 12, len as u32 + 1)), "name section offset", M(12)),
        bad("constant offset past EOF", mutated(|b| put_u32(b, 16, len as u32 + 1)), "constant section offset", M(16)),
        bad(
            "function offset past EOF",
            mutated(|b| put_u32(b, 20, u32::MAX)),
            "function table section offset 4294967295 is outside the file",
            M(20),
        ),
        bad(
            "instruction offset past EOF",
            mutated(|b| put_u32(b, 24, len as u32 + 1)),
            "instruction section offset",
            M(24),
        ),
        bad("constant offset inside header", mutated(|b| put_u32(b, 16, 3)), "outside the file", M(16)),
        bad(
            "name section after the instructions",
            mutated(|b| put_u32(b, 12, instr_off as u32)),
            "does not come before the instruction section",
            M(instr_off),
        ),
        // Strings.
        bad(
            "name length past EOF",
            mutated(|b| put_u32(b, name_off, 100_000)),
            "truncated module name",
            M(name_off + 4),
        ),
        bad(
            "bad UTF-8 in module name",
            mutated(|b| b[name_off + 4] = 0xff),
            "module name is not UTF-8",
            M(name_off + 4),
        ),
        bad("bad UTF-8 in string constant", mutated(|b| b[hello + 1] = 0xc3), "string constant is not UTF-8", M(hello)),
        bad("bad UTF-8 in function name", mutated(|b| b[fname] = 0x80), "function name is not UTF-8", M(fname)),
        bad(
            "string constant length past EOF",
            mutated(|b| put_u32(b, hello - 4, u32::MAX)),
            "truncated string constant",
            M(hello),
        ),
        // Constants.
        bad("unknown constant tag", mutated(|b| b[const_off + 4] = 9), "unknown constant tag 9", M(const_off + 4)),
        bad("constant tag 0", mutated(|b| b[const_off + 4] = 0), "unknown constant tag 0", M(const_off + 4)),
        bad("bool constant byte 2", mutated(|b| b[bool_byte] = 2), "bool constant byte 2", M(bool_byte)),
        bad(
            "constant count huge",
            mutated(|b| put_u32(b, const_off, u32::MAX)),
            "constant count 4294967295 exceeds",
            M(const_off),
        ),
        // Function table.
        bad(
            "function count huge",
            mutated(|b| put_u32(b, func_off, 0x1000_0000)),
            "function count 268435456 exceeds",
            M(func_off),
        ),
        bad(
            "function entry past end",
            mutated(|b| put_u32(b, fname + 5, 1000)),
            "entry 1000 of function `twice` is past the last instruction",
            M(func_off + 4),
        ),
        bad(
            "function entry one past the end",
            mutated(|b| put_u32(b, fname + 5, 12)),
            "entry 12 of function `twice`",
            M(func_off + 4),
        ),
        // Instructions.
        bad("unknown opcode 50", mutated(|b| b[instr1] = 50), "unknown opcode 50", M(instr1)),
        bad("unknown opcode 255", mutated(|b| b[instr1] = 255), "unknown opcode 255", M(instr1)),
        bad("RETURN_R has_value 2", mutated(|b| b[last + 1] = 2), "has_value flag is 2", M(last + 1)),
        bad(
            "header instruction count too large",
            mutated(|b| put_u32(b, instr_off, 12)),
            "instruction count in header is 12, but the stream holds 11",
            M(instr_off),
        ),
        bad(
            "header instruction count too small",
            mutated(|b| put_u32(b, instr_off, 0)),
            "instruction count in header is 0",
            M(instr_off),
        ),
        bad(
            "instruction count itself truncated",
            b[..instr_off + 2].to_vec(),
            "truncated instruction count",
            M(instr_off),
        ),
    ];

    // Duplicate function name: two functions, the second renamed to the first.
    {
        let mut d = assemble_bytes(".module d\n RETURN_R\n.func twice\n RETURN_R\n.func twicf\n RETURN_R\n");
        let (_, _, f_off, _) = sections(&d);
        let second = find(&d, b"twicf", f_off);
        d[second + 4] = b'e';
        t.push(bad("duplicate function name", d, "function `twice` appears twice", M(second - 4)));
    }

    // Truncated instructions: the file ends inside an operand of each kind.
    let truncated = |last: &str, len: usize, keep: usize| {
        let (b, at) = ending_with(last, len);
        (b[..at + keep].to_vec(), at)
    };
    let (b1, at) = truncated("MOVE_R r0, r1", 3, 2);
    t.push(bad("truncated u8 register", b1, "MOVE_R: truncated source register", M(at + 2)));
    let (b1, at) = truncated("DEBUG_PRINT r0", 2, 1);
    t.push(bad("truncated first register", b1, "DEBUG_PRINT: truncated source register", M(at + 1)));
    let (b1, at) = truncated("LOAD_CONST_R r1, int 7", 4, 3);
    t.push(bad("truncated u16 constant index", b1, "LOAD_CONST_R: truncated constant index", M(at + 2)));
    let (b1, at) = truncated("CAST_R r1, r0, float", 5, 4);
    t.push(bad("truncated u16 type id", b1, "CAST_R: truncated type id", M(at + 3)));
    let (b1, at) = truncated("JUMP_R +0", 5, 3);
    t.push(bad("truncated i32 jump offset", b1, "JUMP_R: truncated jump offset", M(at + 1)));
    let (b1, at) = truncated("CALL_R r0, r1, r2, r3, r4", 7, 5);
    t.push(bad("truncated CALL_R arguments", b1, "CALL_R: truncated argument registers", M(at + 4)));
    let (b1, at) = truncated("CALL_R r0, r1, r2, r3, r4", 7, 3);
    t.push(bad("truncated CALL_R argument count", b1, "CALL_R: truncated argument count", M(at + 3)));
    let (b1, at) = truncated("PHI_R r1, r0@0, r0@1", 9, 8);
    t.push(bad("truncated PHI_R source block id", b1, "PHI_R: truncated phi source block id", M(at + 7)));
    let (b1, at) = truncated("PHI_R r1, r0@0, r0@1", 9, 6);
    t.push(bad("truncated PHI_R source register", b1, "PHI_R: truncated phi source register", M(at + 6)));
    let (b1, at) = truncated("ASSERT_R r0, 2, str \"m\", 0, 10", 21, 17);
    t.push(bad("truncated ASSERT_R range maximum", b1, "ASSERT_R: truncated range maximum", M(at + 13)));
    let (b1, at) = truncated("ASSERT_R r0, 2, str \"m\", 0, 10", 21, 6);
    t.push(bad("truncated ASSERT_R range minimum", b1, "ASSERT_R: truncated range minimum", M(at + 5)));
    let (b1, at) = truncated("RETURN_R r0", 3, 2);
    t.push(bad("truncated RETURN_R register", b1, "RETURN_R: truncated return register", M(at + 2)));
    let (b1, at) = truncated("RETURN_R r0", 3, 1);
    t.push(bad("truncated RETURN_R has_value flag", b1, "RETURN_R: truncated has_value flag", M(at + 1)));
    {
        let (mut b1, at) = ending_with("ASSERT_R r0, 0, str \"m\"", 5);
        b1[at + 2] = 3;
        t.push(bad("ASSERT_R kind 3", b1, "assert kind 3", M(at + 2)));
    }

    // Verifier rules.
    t.push(invalid(
        "constant index out of range",
        "LOAD_CONST_R r0, int 1\nLOAD_CONST_R r0, k99\n",
        "constant index 99 out of range (1 constants)",
        "<main>",
        1,
        4,
    ));
    t.push(invalid(
        "LOAD_GLOBAL_R name not a string",
        "LOAD_GLOBAL_R r0, int 5\n",
        "constant 0 must be a string here, found tag 1",
        "<main>",
        0,
        4,
    ));
    t.push(invalid(
        "STORE_GLOBAL_R name out of range",
        "STORE_GLOBAL_R r0, k3\n",
        "constant index 3 out of range",
        "<main>",
        0,
        4,
    ));
    t.push(invalid(
        "ASSERT_R message not a string",
        "LOAD_CONST_R r0, str \"x\"\nASSERT_R r0, 0, float 2.5\n",
        "constant 1 must be a string here, found tag 2",
        "<main>",
        1,
        5,
    ));
    t.push(invalid(
        "jump before the start of the stream",
        "RETURN_R\n.func f\n  NOP\n  JUMP_R -4\n",
        "jump to instruction -1 leaves the code (instructions 0..3)",
        "f",
        2,
        5,
    ));
    t.push(invalid(
        "jump past the end of the stream from a function",
        "RETURN_R\n.func f\n  JUMP_R +3\n  RETURN_R\n.func g\n  RETURN_R\n",
        "jump to instruction 5 leaves the code (instructions 0..4)",
        "f",
        1,
        5 + 2 + 2, // JUMP_R, RETURN_R, RETURN_R
    ));
    t.push(invalid(
        "conditional jump past the end of main",
        "LOAD_CONST_R r0, bool true\nJUMP_IF_R r0, +1\n",
        "jump to instruction 3 leaves the code",
        "<main>",
        1,
        6,
    ));
    t.push(invalid("jump far before the start", "JUMP_IF_NOT_R r0, -2147483648\n", "leaves the code", "<main>", 0, 6));
    t.push(invalid(
        "unknown type id in CAST_R",
        "LOAD_CONST_R r0, int 1\nCAST_R r1, r0, 9\n",
        "unknown type id 9",
        "<main>",
        1,
        5,
    ));
    t.push(invalid("unknown type id in DEFINE_R", "DEFINE_R r1, 254\n", "unknown type id 254", "<main>", 0, 4));
    t.push(invalid("phi with zero sources", "NOP\nPHI_R r0\n", "phi without sources", "<main>", 1, 3));
    t.push(invalid(
        "phi naming a block twice",
        "NOP\nPHI_R r0, r1@0, r2@0\n",
        "phi names block 0 twice",
        "<main>",
        1,
        9,
    ));
    t.push(invalid(
        "assert range min > max",
        "LOAD_CONST_R r0, int 3\nASSERT_R r0, 2, str \"m\", 5, 1\n",
        "range assertion with min 5 > max 1",
        "<main>",
        1,
        21,
    ));
    t
}

// ---------------------------------------------------------------------------------------------
// The table.

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// Checks one case through `mdbc` and the library; returns the problems found.
fn check_library(c: &Bad) -> Vec<String> {
    let mut problems = Vec::new();
    let loaded = catch_unwind(|| mdbc::Module::load(&c.bytes).map(|_| ()));
    let err = match loaded {
        Err(p) => return vec![format!("Module::load panicked: {}", panic_text(&*p))],
        Ok(Ok(())) => return vec!["Module::load accepted it".to_string()],
        Ok(Err(e)) => e,
    };
    let msg = err.to_string();
    if !msg.contains(c.what) {
        problems.push(format!("message {msg:?} lacks {:?}", c.what));
    }
    match (&c.expect, &err) {
        (Expect::Malformed(off), LoadError::Malformed { offset, .. }) => {
            if offset != off {
                problems.push(format!("offset {offset}, expected {off} ({msg})"));
            }
        }
        (Expect::Invalid { function, index, offset }, LoadError::Invalid { function: f, index: i, offset: o, .. }) => {
            if (f.as_str(), *i, *o) != (*function, *index, *offset) {
                problems.push(format!(
                    "function {f:?}, index {i}, offset {o}; expected {function:?}, {index}, {offset} ({msg})"
                ));
            }
        }
        (e, _) => problems.push(format!("wrong kind of error: {msg} (expected {e:?})")),
    }
    if err.offset() > c.bytes.len() {
        problems.push(format!("offset {} past the end of the {}-byte file", err.offset(), c.bytes.len()));
    }
    for tier in TIERS {
        match catch_unwind(|| mdvm::Vm::builder().tier(tier).load_bytes(&c.bytes).map(|_| ())) {
            Err(p) => problems.push(format!("Vm load panicked ({tier}): {}", panic_text(&*p))),
            Ok(Ok(())) => problems.push(format!("Vm::builder().load_bytes accepted it ({tier})")),
            Ok(Err(mdvm::Error::Load(e))) => {
                if e.to_string() != msg {
                    problems.push(format!("library says {e}, mdbc says {msg}"));
                }
            }
            Ok(Err(e)) => problems.push(format!("library error is not Error::Load: {e:?}")),
        }
    }
    problems
}

#[test]
fn base_module_is_valid() {
    let b = base();
    mdbc::Module::load(&b).expect("base module loads");
    for tier in TIERS {
        let run = run_bytes(&b, tier, Some(1000), None);
        assert_eq!(run.stdout, b"hello\n42\ntrue\n", "{tier}: {:?}", run.error);
        assert_eq!(run.status, 0);
    }
}

#[test]
fn malformed_files_are_rejected_by_the_loader_and_library() {
    let table = table();
    assert!(table.len() >= 25, "{} cases", table.len());
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for c in &table {
        assert!(names.insert(c.name), "duplicate case name {}", c.name);
        let p = check_library(c);
        if !p.is_empty() {
            failures.push(format!("{}: {}\n    file: {}", c.name, p.join("; "), hex(&c.bytes)));
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n  {}", failures.len(), table.len(), failures.join("\n  "));
}

#[test]
fn malformed_files_are_rejected_by_the_cli() {
    let table = table();
    let dir = TempDir::new("malformed");
    let mut failures = Vec::new();
    for (i, c) in table.iter().enumerate() {
        let file = dir.write(&format!("{i}.mdbc"), &c.bytes);
        let file = file.to_str().expect("UTF-8 path");
        let offset = match c.expect {
            Expect::Malformed(o) => o,
            Expect::Invalid { offset, .. } => offset,
        };
        for args in [vec!["check", file], vec!["run", "--fuel", "10000", file], vec!["dis", file]] {
            if args[0] == "dis" && matches!(c.expect, Expect::Invalid { .. }) {
                continue; // dis decodes without verifying: it may show an invalid module
            }
            let out = run_cli(&args);
            let err = out.stderr_text();
            let mut p = Vec::new();
            if out.code != Some(1) {
                p.push(format!("exit {:?}{}", out.code, if out.code == Some(101) { " (panic)" } else { "" }));
            }
            if !out.stdout.is_empty() {
                p.push("something on stdout".to_string());
            }
            if !err.contains(c.what) {
                p.push(format!("stderr lacks {:?}", c.what));
            }
            if !err.contains(&format!("byte offset {offset}")) {
                p.push(format!("stderr lacks \"byte offset {offset}\""));
            }
            if !p.is_empty() {
                failures.push(format!("{}: {}\n{}", c.name, p.join("; "), out.describe()));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Jumping to a function's end is allowed (it returns without a value, so the caller's
/// destination keeps its value); jumping to main's end ends the program.
#[test]
fn jump_to_the_body_end_loads_and_returns() {
    let src = r#"
        LOAD_CONST_R r1, str "unchanged"
        LOAD_CONST_R r0, str "f"
        CALL_R r0, r1
        DEBUG_PRINT r1
        JUMP_R end_of_main
        DEBUG_PRINT r0
end_of_main:
.func f
        LOAD_CONST_R r0, int 7
        JUMP_R +1
        RETURN_R r0
.func g
        LOAD_CONST_R r0, int 99
        RETURN_R r0
"#;
    let bytes = assemble_bytes(src);
    let (m, layout) = mdbc::Module::load(&bytes).expect("a jump to the body's end is valid");
    let f = &layout.bodies[1];
    assert_eq!((f.name.as_str(), f.start, f.end), ("f", 6, 9));
    assert_eq!(m.code[7].jump_offset(), Some(1), "JUMP_R +1 from instruction 7 targets 9 = the end of f");
    for tier in TIERS {
        let run = run_bytes(&bytes, tier, Some(1000), None);
        assert_eq!((run.stdout.as_slice(), run.status), (&b"unchanged\n"[..], 0), "{tier}: {:?}", run.error);
    }
    let dir = TempDir::new("jump-end");
    let file = dir.write("j.mdbc", &bytes);
    let out = run_cli(&["run", file.to_str().unwrap()]);
    assert_eq!((out.code, out.stdout_text().as_str()), (Some(0), "unchanged\n"), "{}", out.describe());
    let out = run_cli(&["check", file.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
}

/// The frontend sometimes emits a jump from one function into another function's range
/// (ARCHITECTURE.md, *The format*): execution goes on there in the caller's frame, with that
/// range's registers, and falling off the range's end returns without a value. Every tier runs
/// such files alike, fuel included.
#[test]
fn jump_into_another_function_range_runs_in_the_same_frame() {
    // `pick` jumps into `other`'s range, where r5 is beyond pick's own registers; falling off
    // `other`'s range returns from pick without a value (r2 stays empty: nothing printed).
    let forward = r#"
        LOAD_CONST_R r0, int 5
        LOAD_CONST_R r1, str "pick"
        CALL_R r1, r2, r0
        DEBUG_PRINT r2
        LOAD_CONST_R r0, int 1
        LOAD_CONST_R r1, str "pick"
        CALL_R r1, r2, r0
        DEBUG_PRINT r2
        LOAD_CONST_R r1, str "other"
        CALL_R r1, r2, r0
        DEBUG_PRINT r2
        RETURN_R
.func pick
        LOAD_CONST_R r1, int 3
        GT_R r2, r0, r1
        JUMP_IF_R r2, big
        LOAD_CONST_R r3, str "small"
        RETURN_R r3
.func other
        LOAD_CONST_R r3, str "other"
        RETURN_R r3
big:    LOAD_CONST_R r5, str "big"
        DEBUG_PRINT r5
"#;
    // A hot caller: odd arguments jump into `tail`'s range and run a loop there (sum 1..10 =
    // 55); even ones return themselves. Sum over 0..3000: 2,248,500 + 1,500 * 55.
    let hot = r#"
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 3000
        LOAD_CONST_R r3, int 1
        LOAD_CONST_R r4, int 0
loop:   LT_R r5, r0, r1
        JUMP_IF_NOT_R r5, done
        LOAD_CONST_R r6, str "pick"
        CALL_R r6, r7, r0
        ADD_R r4, r4, r7
        ADD_R r0, r0, r3
        JUMP_R loop
done:   DEBUG_PRINT r4
        RETURN_R
.func pick
        LOAD_CONST_R r1, int 2
        MOD_R r2, r0, r1
        JUMP_IF_R r2, odd
        RETURN_R r0
.func tail
        LOAD_CONST_R r9, int 100
        RETURN_R r9
odd:    LOAD_CONST_R r10, int 0
        LOAD_CONST_R r11, int 0
        LOAD_CONST_R r12, int 10
        LOAD_CONST_R r13, int 1
tl:     LT_R r14, r10, r12
        JUMP_IF_NOT_R r14, tdone
        ADD_R r10, r10, r13
        ADD_R r11, r11, r10
        JUMP_R tl
tdone:  RETURN_R r11
"#;
    let bytes = assemble_bytes(forward);
    let (_, layout) = mdbc::Module::load(&bytes).expect("a jump into another function's range is valid");
    assert_eq!(layout.bodies[1].nregs, 6, "pick's window covers r5 of the range it jumps into");
    for mode in Mode::ALL {
        let run = run_bytes_mode(&bytes, mode, Some(1000), None);
        assert_eq!((run.stdout.as_slice(), run.status), (&b"big\nsmall\nother\n"[..], 0), "{mode:?}: {:?}", run.error);
    }
    let bytes = assemble_bytes(hot);
    let full = run_bytes(&bytes, TIERS[0], None, None);
    assert_eq!(full.stdout, b"2331000\n");
    for mode in Mode::ALL {
        let run = run_bytes_mode(&bytes, mode, None, None);
        assert_eq!((run.stdout.as_slice(), run.status), (&b"2331000\n"[..], 0), "{mode:?}: {:?}", run.error);
        // Fuel runs out at the same instruction, inside the other range or not.
        for fuel in [20_000, 20_001, 50_003] {
            let r = run_bytes_mode(&bytes, mode, Some(fuel), None);
            let r0 = run_bytes(&bytes, TIERS[0], Some(fuel), None);
            assert_eq!(format!("{:?}", r.error), format!("{:?}", r0.error), "{mode:?} with fuel {fuel}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Random inputs.

/// Every corpus `.mdbc` file.
fn corpus_files() -> &'static [Vec<u8>] {
    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| {
        files_under(&corpus_dir())
            .into_iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e == "mdbc"))
            .map(|(_, b)| b)
            .collect()
    })
}

/// Loads `bytes` and, if they load, runs them with fuel 10,000 and depth 100 under the
/// interpreter and the auto tier; a panic anywhere is an error naming the input. The two tiers
/// must agree.
fn never_panics(bytes: &[u8]) -> Result<(), String> {
    let loaded = catch_unwind(|| mdbc::Module::load(bytes).is_ok())
        .map_err(|p| format!("Module::load panicked ({}) on {}", panic_text(&*p), hex(bytes)))?;
    let _ = catch_unwind(|| mdbc::Module::decode(bytes).map(|m| mdbc::disassemble(&m)))
        .map_err(|p| format!("decode/disassemble panicked ({}) on {}", panic_text(&*p), hex(bytes)))?;
    if !loaded {
        return Ok(());
    }
    // The interpreter is the reference; every compiled mode must agree with it exactly:
    // output, status, error (kind, message, position) and instruction count.
    let modes = [Mode::INTERP, Mode::AUTO, Mode::JIT, Mode::AUTO_T1, Mode::JIT_STRESS];
    let mut runs = Vec::new();
    for mode in modes {
        let run = catch_unwind(AssertUnwindSafe(|| run_bytes_mode(bytes, mode, Some(10_000), Some(100))))
            .map_err(|p| format!("running ({mode}) panicked ({}) on {}", panic_text(&*p), hex(bytes)))?;
        if run.load_error {
            return Err(format!("Module::load accepts but the library rejects ({:?}): {}", run.error, hex(bytes)));
        }
        runs.push(run);
    }
    let a = &runs[0];
    for (mode, b) in modes.iter().zip(&runs).skip(1) {
        if (&a.stdout, a.status, &a.error, a.instructions) != (&b.stdout, b.status, &b.error, b.instructions) {
            return Err(format!("interp and {mode} differ: {a:?} vs {b:?} on {}", hex(bytes)));
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Set(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Insert(prop::sample::Index, Vec<u8>),
    Delete(prop::sample::Index, usize),
    /// Overwrite a u32 (offsets, counts, lengths) with an interesting value.
    Word(prop::sample::Index, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<prop::sample::Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        1 => (any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => (any::<prop::sample::Index>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<prop::sample::Index>(), prop_oneof![Just(0u32), Just(1), Just(0xffff), Just(0x7fff_ffff), Just(u32::MAX), any::<u32>()])
            .prop_map(|(i, v)| Mutation::Word(i, v)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        if let Mutation::Insert(_, v) = m {
            bytes.extend_from_slice(v);
        }
        return;
    }
    match m {
        Mutation::Flip(i, bit) => {
            let i = i.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Mutation::Set(i, v) => {
            let i = i.index(bytes.len());
            bytes[i] = *v;
        }
        Mutation::Truncate(i) => {
            let i = i.index(bytes.len());
            bytes.truncate(i);
        }
        Mutation::Insert(i, v) => {
            let i = i.index(bytes.len() + 1);
            bytes.splice(i..i, v.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let i = i.index(bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        Mutation::Word(i, v) => {
            if bytes.len() >= 4 {
                let i = i.index(bytes.len() - 3);
                bytes[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// A valid header (magic, version 1, flags) with section offsets inside the file and random
/// bytes after it, so the loader gets past the header.
fn header_and_random() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(any::<u8>(), 0..120), prop::collection::vec(any::<prop::sample::Index>(), 4)).prop_map(
        |(tail, idx)| {
            let len = 28 + tail.len();
            let mut b = b"MDBC\x01\0\0\0\x01\0\0\0".to_vec();
            let mut offs: Vec<usize> = idx.iter().map(|i| 28 + i.index(tail.len() + 1)).collect();
            offs.sort_unstable();
            for o in offs {
                b.extend_from_slice(&(o.min(len) as u32).to_le_bytes());
            }
            b.extend_from_slice(&tail);
            b
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        never_panics(&bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(bytes in header_and_random()) {
        never_panics(&bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn mutated_corpus_files_never_panic(
        file in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let files = corpus_files();
        let mut bytes = files[file.index(files.len())].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        never_panics(&bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn mutated_base_module_never_panics(mutations in prop::collection::vec(mutation(), 1..4)) {
        let mut bytes = base();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        never_panics(&bytes).map_err(TestCaseError::fail)?;
    }
}

/// A constant of any kind, with values near the edges (overflow, NaN, huge sizes, non-ASCII).
fn constant() -> impl Strategy<Value = mdbc::Constant> {
    use mdbc::Constant;
    prop_oneof![
        prop_oneof![
            Just(0i64),
            Just(1),
            Just(-1),
            Just(2),
            Just(i64::MAX),
            Just(i64::MIN),
            Just(1 << 26),
            -300i64..300
        ]
        .prop_map(Constant::Int),
        prop_oneof![
            Just(0.0f64),
            Just(-0.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(1e300),
            Just(0.5),
            any::<f64>()
        ]
        .prop_map(Constant::Float),
        prop_oneof![Just(String::new()), Just("main".to_string()), Just("é€𝄞".to_string()), "[a-z ]{0,12}"]
            .prop_map(Constant::Str),
        any::<bool>().prop_map(Constant::Bool),
        Just(Constant::Empty),
    ]
}

/// Edits that mostly keep a file loadable, so the runtime gets to run strange programs:
/// replace constants (values of other types) and set operand bytes of instructions to small
/// numbers (other registers, constants, jump offsets, argument and source counts).
#[derive(Clone, Debug)]
enum Edit {
    Constant(prop::sample::Index, mdbc::Constant),
    Operand(prop::sample::Index, prop::sample::Index, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<prop::sample::Index>(), constant()).prop_map(|(i, c)| Edit::Constant(i, c)),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>(), prop_oneof![0u8..16, Just(0xff), Just(0xfe)])
            .prop_map(|(i, j, v)| Edit::Operand(i, j, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn edited_corpus_programs_never_panic(
        file in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let files = corpus_files();
        let original = &files[file.index(files.len())];
        let mut m = mdbc::Module::decode(original).expect("corpus files decode");
        // Constant edits first (they move the code), then operand bytes of the re-encoded file.
        for e in &edits {
            if let Edit::Constant(i, c) = e {
                if !m.constants.is_empty() {
                    let i = i.index(m.constants.len());
                    m.constants[i] = c.clone();
                }
            }
        }
        let mut bytes = m.encode();
        let offsets = mdbc::Module::decode(&bytes).expect("re-encoded module decodes").instr_offsets;
        for e in &edits {
            if let Edit::Operand(i, j, v) = e {
                let k = i.index(offsets.len() - 1);
                let (start, end) = (offsets[k] as usize, offsets[k + 1] as usize);
                if end - start > 1 {
                    bytes[start + 1 + j.index(end - start - 1)] = *v;
                }
            }
        }
        never_panics(&bytes).map_err(TestCaseError::fail)?;
    }
}

/// A small deterministic generator (xorshift64*) for the CLI check.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `mdvm check` and `mdvm run --fuel 10000` on random and mutated files exit 0 or 1, never
/// with a panic (101) or a signal, and `check` agrees with the library about what loads.
#[test]
fn cli_never_panics_on_random_files() {
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let files = corpus_files();
    let dir = TempDir::new("random-cli");
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for i in 0..50 {
        let bytes = match i % 5 {
            0 => (0..rng.below(100)).map(|_| rng.next() as u8).collect(),
            1 => {
                let mut b = base();
                let n = 1 + rng.below(3);
                for _ in 0..n {
                    let at = rng.below(b.len());
                    b[at] = rng.next() as u8;
                }
                b
            }
            _ => {
                let mut b = files[rng.below(files.len())].clone();
                let n = 1 + rng.below(4);
                for _ in 0..n {
                    match rng.below(4) {
                        0 => b.truncate(rng.below(b.len())),
                        1 => {
                            let at = rng.below(b.len() + 1);
                            b.insert(at, rng.next() as u8);
                        }
                        _ if !b.is_empty() => {
                            let at = rng.below(b.len());
                            b[at] ^= 1 << rng.below(8);
                        }
                        _ => {}
                    }
                }
                b
            }
        };
        inputs.push(bytes);
    }
    let mut failures = Vec::new();
    let mut loaded = 0;
    for (i, bytes) in inputs.iter().enumerate() {
        let file = dir.write(&format!("r{i}.mdbc"), bytes);
        let file = file.to_str().expect("UTF-8 path");
        let loads = mdbc::Module::load(bytes).is_ok();
        loaded += loads as usize;
        for args in [vec!["check", file], vec!["run", "--fuel", "10000", "--max-depth", "100", file]] {
            let out = run_cli(&args);
            let ok = match args[0] {
                "check" => out.code == Some(if loads { 0 } else { 1 }),
                _ => matches!(out.code, Some(0) | Some(1)) && (loads || out.stdout.is_empty()),
            };
            if !ok {
                failures.push(format!("input {}: {}", hex(bytes), out.describe()));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n\n"));
    eprintln!("{loaded} of {} random files loaded", inputs.len());
}
