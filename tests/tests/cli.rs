//! The `mdvm` command: exit statuses, where output and errors go, budgets, `--stats`, `dis`/`asm`
//! round trips and `check`.

use std::path::Path;

use mdvm_tests::{
    assemble_bytes, conformance_cases, corpus_dir, files_under, manifest, run_bytes, run_cli, Case, CliOutput,
    ErrorKind, TempDir, Tier, TIERS,
};

fn case(name: &str) -> Case {
    manifest().into_iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no corpus case {name}"))
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_string()
}

fn assert_exit(out: &CliOutput, code: i32) {
    assert_eq!(out.code, Some(code), "wrong exit status\n{}", out.describe());
}

/// A program that prints a line, then fails inside a function (division by zero at
/// instruction 9, in function `boom`), and would print another line had it not failed.
const RUNTIME_ERROR_ASM: &str = r#"
.module rt_error
        LOAD_CONST_R r0, str "before"
        DEBUG_PRINT r0
        LOAD_CONST_R r1, str "boom"
        CALL_R r1, r2
        LOAD_CONST_R r0, str "after"
        DEBUG_PRINT r0
        RETURN_R
.func boom
        LOAD_CONST_R r0, int 1
        LOAD_CONST_R r1, int 0
        DIV_R r2, r0, r1
        RETURN_R r2
"#;

#[test]
fn run_prints_output_and_exits_0() {
    let c = case("hello_world");
    for tier in TIERS {
        let out = run_cli(&["run", "--tier", &tier.to_string(), &path_str(&c.mdbc_path())]);
        assert_exit(&out, 0);
        assert_eq!(out.stdout, c.expected_stdout(), "{}", out.describe());
        assert!(out.stderr.is_empty(), "{}", out.describe());
    }
    // The default tier, no options.
    let out = run_cli(&["run", &path_str(&c.mdbc_path())]);
    assert_exit(&out, 0);
    assert_eq!(out.stdout_text(), "Hello, World!\nMachine Dialect says hi\n");
}

#[test]
fn runtime_error_keeps_output_and_names_function_and_instruction() {
    let dir = TempDir::new("cli-rt");
    let file = dir.write("rt_error.mdbc", &assemble_bytes(RUNTIME_ERROR_ASM));
    for tier in TIERS {
        let out = run_cli(&["run", "--tier", &tier.to_string(), &path_str(&file)]);
        assert_exit(&out, 1);
        assert_eq!(out.stdout_text(), "before\n", "output printed before the error stays\n{}", out.describe());
        let err = out.stderr_text();
        for needle in ["division by zero", "`boom`", "instruction 9"] {
            assert!(err.contains(needle), "stderr lacks {needle:?}\n{}", out.describe());
        }
    }
    // The library reports the same.
    let run = run_bytes(&assemble_bytes(RUNTIME_ERROR_ASM), Tier::Interp, None, None);
    assert_eq!(run.error_kind, Some(ErrorKind::DivisionByZero));
    assert_eq!(run.stdout, b"before\n");
}

#[test]
fn load_error_exits_1_with_nothing_on_stdout() {
    let dir = TempDir::new("cli-load");
    let mut bytes = assemble_bytes(RUNTIME_ERROR_ASM);
    bytes[0] = b'X';
    let bad = dir.write("bad_magic.mdbc", &bytes);
    let truncated = dir.write("truncated.mdbc", &assemble_bytes(RUNTIME_ERROR_ASM)[..40]);
    for file in [&bad, &truncated] {
        for tier in TIERS {
            let out = run_cli(&["run", "--tier", &tier.to_string(), &path_str(file)]);
            assert_exit(&out, 1);
            assert!(out.stdout.is_empty(), "{}", out.describe());
            assert!(out.stderr_text().contains("load error"), "{}", out.describe());
        }
        for cmd in ["check", "dis"] {
            let out = run_cli(&[cmd, &path_str(file)]);
            assert_exit(&out, 1);
            assert!(out.stdout.is_empty(), "{}", out.describe());
            assert!(out.stderr_text().contains("malformed"), "{}", out.describe());
        }
    }
    // A file that does not exist is an error, not bad usage.
    let missing = dir.path().join("missing.mdbc");
    for cmd in ["run", "check", "dis"] {
        let out = run_cli(&[cmd, &path_str(&missing)]);
        assert_exit(&out, 1);
        assert!(out.stdout.is_empty(), "{}", out.describe());
        assert!(out.stderr_text().contains("cannot read"), "{}", out.describe());
    }
}

#[test]
fn bad_usage_exits_2() {
    let file = path_str(&case("hello_world").mdbc_path());
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["frobnicate"],
        vec!["run"],
        vec!["run", "--unknown-flag", &file],
        vec!["run", "--tier", "turbo", &file],
        vec!["run", "--tier"],
        vec!["run", "--fuel", "lots", &file],
        vec!["run", "--fuel", "-5", &file],
        vec!["run", "--max-depth", "deep", &file],
        vec!["run", &file, "extra"],
        vec!["dis"],
        vec!["check"],
        vec!["asm", &file],
    ];
    for args in cases {
        let out = run_cli(&args);
        assert_exit(&out, 2);
        assert!(out.stdout.is_empty(), "usage errors go to stderr\n{}", out.describe());
        assert!(!out.stderr.is_empty(), "{}", out.describe());
    }
    // --help and --version are not errors.
    for args in [vec!["--help"], vec!["--version"], vec!["run", "--help"]] {
        let out = run_cli(&args);
        assert_exit(&out, 0);
        assert!(!out.stdout.is_empty(), "{}", out.describe());
    }
}

#[test]
fn fuel_exhaustion_exits_1() {
    // A nonterminating corpus program and a terminating one with too little fuel.
    let looping = conformance_cases().into_iter().find(Case::is_nonterminating).expect("a nonterminating case");
    let out = run_cli(&["run", "--fuel", "1000", &path_str(&looping.mdbc_path())]);
    assert_exit(&out, 1);
    assert!(out.stderr_text().contains("fuel"), "{}", out.describe());

    let c = case("recursion_factorial");
    let expected = c.expected_stdout();
    for tier in TIERS {
        let out = run_cli(&["run", "--tier", &tier.to_string(), "--fuel", "100", &path_str(&c.mdbc_path())]);
        assert_exit(&out, 1);
        assert!(out.stderr_text().contains("fuel"), "{}", out.describe());
        assert!(expected.starts_with(&out.stdout), "output before running out is a prefix\n{}", out.describe());
        assert!(out.stdout.len() < expected.len(), "{}", out.describe());
    }
    // Enough fuel: the same as no limit.
    let out = run_cli(&["run", "--fuel", "100000", &path_str(&c.mdbc_path())]);
    assert_exit(&out, 0);
    assert_eq!(out.stdout, expected);
}

#[test]
fn max_depth_limits_recursion() {
    let c = case("recursion_factorial");
    let file = path_str(&c.mdbc_path());
    for tier in TIERS {
        let t = tier.to_string();
        let out = run_cli(&["run", "--tier", &t, "--max-depth", "5", &file]);
        assert_exit(&out, 1);
        assert!(out.stderr_text().contains("depth"), "{}", out.describe());
        assert!(c.expected_stdout().starts_with(&out.stdout), "{}", out.describe());

        let out = run_cli(&["run", "--tier", &t, &file]);
        assert_exit(&out, 0);
        assert_eq!(out.stdout, c.expected_stdout(), "{}", out.describe());
    }

    // The exact limit: the smallest depth at which a 900-deep recursion passes, found through
    // the library, is the one at which the binary passes too, and one less fails.
    let deep = case("recursion_deep_900");
    let bytes = deep.bytes();
    let passes = |d: usize| run_bytes(&bytes, Tier::Interp, None, Some(d)).status == 0;
    assert!(passes(mdvm::DEFAULT_MAX_DEPTH));
    let (mut lo, mut hi) = (1usize, mdvm::DEFAULT_MAX_DEPTH); // fails at lo? passes at hi
    assert!(!passes(lo));
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if passes(mid) {
            hi = mid
        } else {
            lo = mid
        }
    }
    // main plus `depth sum` for n = 900, 899, ..., 0.
    assert_eq!(hi, 902, "900-deep recursion needs main + 901 frames");
    let file = path_str(&deep.mdbc_path());
    let out = run_cli(&["run", "--max-depth", &hi.to_string(), &file]);
    assert_exit(&out, 0);
    assert_eq!(out.stdout, deep.expected_stdout());
    let out = run_cli(&["run", "--max-depth", &(hi - 1).to_string(), &file]);
    assert_exit(&out, 1);
    assert!(out.stderr_text().contains("depth"), "{}", out.describe());
    let run = run_bytes(&bytes, Tier::Interp, None, Some(hi - 1));
    assert_eq!(run.error_kind, Some(ErrorKind::CallDepth), "{:?}", run.error);
}

/// `--stats` writes the instruction count and per-function call counts to stderr, the same
/// numbers the library reports.
#[test]
fn stats_match_the_library() {
    for name in ["recursion_factorial", "recursion_fib_small", "asm/call_small", "hello_world"] {
        let c = case(name);
        let mut vm = mdvm::Vm::builder().tier(Tier::Auto).load_bytes(&c.bytes()).expect("loads");
        let outcome = vm.run_captured();
        assert!(outcome.result.is_ok(), "{name}: {:?}", outcome.result);
        let stats = vm.stats();
        assert_eq!(stats.instructions, vm.instruction_count());

        let out = run_cli(&["run", "--stats", &path_str(&c.mdbc_path())]);
        assert_exit(&out, 0);
        assert_eq!(out.stdout, c.expected_stdout(), "--stats leaves stdout alone\n{}", out.describe());
        let err = out.stderr_text();
        let line = err
            .lines()
            .find(|l| l.contains("instructions"))
            .unwrap_or_else(|| panic!("no instruction count\n{}", out.describe()));
        let reported: u64 = line
            .rsplit(|ch: char| !ch.is_ascii_digit())
            .find(|s| !s.is_empty())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no number in {line:?}"));
        assert_eq!(reported, vm.instruction_count(), "{name}: --stats vs library\n{}", out.describe());
        assert!(!stats.calls.is_empty());
        for (fname, n) in &stats.calls {
            assert!(
                err.lines().any(|l| l.trim() == format!("{fname}: {n}")),
                "{name}: no `{fname}: {n}` line\n{}",
                out.describe()
            );
        }
    }
    // Without --stats, nothing on stderr.
    let out = run_cli(&["run", &path_str(&case("recursion_factorial").mdbc_path())]);
    assert!(out.stderr.is_empty(), "{}", out.describe());
    // Stats are printed also when the program fails.
    let out = run_cli(&["run", "--stats", "--max-depth", "5", &path_str(&case("recursion_factorial").mdbc_path())]);
    assert_exit(&out, 1);
    assert!(out.stderr_text().contains("instructions") && out.stderr_text().contains("depth"), "{}", out.describe());
}

/// `mdvm dis` then `mdvm asm` gives back every corpus file byte for byte.
#[test]
fn dis_asm_round_trip_every_corpus_file() {
    let dir = TempDir::new("cli-roundtrip");
    let files: Vec<_> =
        files_under(&corpus_dir()).into_iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "mdbc")).collect();
    assert!(files.len() >= 90, "{} .mdbc files", files.len());
    let mut failures = Vec::new();
    for (i, (rel, bytes)) in files.iter().enumerate() {
        let src = corpus_dir().join(rel);
        let dis = run_cli(&["dis", &path_str(&src)]);
        if dis.code != Some(0) {
            failures.push(format!("{}: dis failed\n{}", rel.display(), dis.describe()));
            continue;
        }
        let asm_path = dir.write(&format!("{i}.mdasm"), &dis.stdout);
        let out_path = dir.path().join(format!("{i}.mdbc"));
        let asm = run_cli(&["asm", &path_str(&asm_path), "-o", &path_str(&out_path)]);
        if asm.code != Some(0) {
            failures.push(format!("{}: asm failed\n{}", rel.display(), asm.describe()));
            continue;
        }
        let back = std::fs::read(&out_path).expect("asm output");
        if &back != bytes {
            failures.push(format!(
                "{}: round trip changed the bytes ({} -> {} bytes, first difference at {})",
                rel.display(),
                bytes.len(),
                back.len(),
                bytes.iter().zip(&back).position(|(a, b)| a != b).unwrap_or(bytes.len().min(back.len()))
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn asm_reports_errors_with_line_numbers() {
    let dir = TempDir::new("cli-asm");
    let src = dir.write("bad.mdasm", b".module bad\n  LOAD_CONST_R r0, int 1\n  FROB r1\n");
    let out_path = dir.path().join("bad.mdbc");
    let out = run_cli(&["asm", &path_str(&src), "-o", &path_str(&out_path)]);
    assert_exit(&out, 1);
    assert!(out.stderr_text().contains("line 3"), "{}", out.describe());
    assert!(!out_path.exists(), "no output file on error");

    // Assembly that parses but does not verify (jump outside the body) is rejected too.
    let src = dir.write("jump.mdasm", b"JUMP_R +5\nRETURN_R\n");
    let out = run_cli(&["asm", &path_str(&src), "-o", &path_str(&out_path)]);
    assert_exit(&out, 1);
    assert!(out.stderr_text().contains("jump"), "{}", out.describe());
}

/// `mdvm check` reports the functions, their registers and the constants, and exits 0.
#[test]
fn check_reports_functions_registers_constants() {
    let mut names: Vec<String> =
        ["hello_world", "recursion_factorial", "dict_ops", "asm/dict_workload", "asm/while_sum"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    // And every fe-serializer case (the repair is reported).
    names.extend(manifest().into_iter().filter(|c| c.causes.iter().any(|x| x == "fe-serializer")).map(|c| c.name));
    for name in names {
        let c = case(&name);
        let (m, layout) = mdbc::Module::load(&c.bytes()).expect("corpus files load");
        let out = run_cli(&["check", &path_str(&c.mdbc_path())]);
        assert_exit(&out, 0);
        assert!(out.stderr.is_empty(), "{}", out.describe());
        let text = out.stdout_text();
        assert!(text.contains(&format!("constants: {}", m.constants.len())), "{name}\n{}", out.describe());
        assert!(text.contains(&format!("functions: {}", layout.bodies.len())), "{name}\n{}", out.describe());
        assert!(text.contains(&format!("instructions: {}", m.code.len())), "{name}\n{}", out.describe());
        for b in &layout.bodies {
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{}:", b.name)))
                .unwrap_or_else(|| panic!("{name}: no line for body {}\n{}", b.name, out.describe()));
            assert!(line.contains(&format!("registers {}", b.nregs)), "{name}: {line}");
            assert!(line.contains(&format!("{}..{}", b.start, b.end)), "{name}: {line}");
        }
        if m.header_count as usize != m.code.len() {
            assert!(text.contains("repaired"), "{name}: miscount not reported\n{}", out.describe());
        }
    }
}

/// `f` is called 30 times with ints (compiled after 10 calls), then with a float: its int
/// guard fails once. Main's loop is entered by OSR (after 10 back-edges) and calls `f`
/// directly, expecting an int: the float result side-exits main once after the call.
const DEOPT_ASM: &str = r#"
        LOAD_CONST_R r0, int 0
        LOAD_CONST_R r1, int 30
        LOAD_CONST_R r2, int 1
        LOAD_CONST_R r4, str "f"
loop:   LT_R r3, r0, r1
        JUMP_IF_NOT_R r3, done
        CALL_R r4, r6, r0
        ADD_R r0, r0, r2
        JUMP_R loop
done:   LOAD_CONST_R r5, float 0.5
        CALL_R r4, r6, r5
        DEBUG_PRINT r6
        RETURN_R
.func f
        LOAD_CONST_R r1, int 1
        ADD_R r2, r0, r1
        RETURN_R r2
"#;

#[test]
fn stats_report_the_compiled_tier() {
    let dir = TempDir::new("cli-jit-stats");
    let file = dir.write("deopt.mdbc", &assemble_bytes(DEOPT_ASM));
    let out = run_cli(&["run", "--tier", "auto", "--jit-threshold", "10", "--stats", &path_str(&file)]);
    assert_exit(&out, 0);
    assert_eq!(out.stdout_text(), "1.5\n");
    let err = out.stderr_text();
    for want in [
        "functions compiled: 1",
        "compile time:",
        "recompilations: 0",
        "native entries:",
        "deopts: 2",
        "guard: not int: 1",
        "call result type: 1",
        "deopts by function:",
        "f: guard: not int: 1",
        "<main>: call result type: 1",
    ] {
        assert!(err.contains(want), "--stats lacks {want:?}:\n{err}");
    }
    // The interpreter reports no compiled tier, and the same instruction count.
    let interp = run_cli(&["run", "--tier", "interp", "--stats", &path_str(&file)]);
    assert_exit(&interp, 0);
    assert!(!interp.stderr_text().contains("functions compiled"), "{}", interp.stderr_text());
    let count = |s: &str| s.lines().find(|l| l.starts_with("instructions executed")).map(str::to_string);
    assert_eq!(count(&err), count(&interp.stderr_text()));
}

/// `--osr-threshold N` enters `DEOPT_ASM`'s loop (30 back-edges) by OSR exactly when N <= 30,
/// `--always-osr` at its first back-edge; the output never changes.
#[test]
fn osr_threshold_decides_when_a_loop_enters_compiled_code() {
    let dir = TempDir::new("cli-osr-threshold");
    let file = dir.write("deopt.mdbc", &assemble_bytes(DEOPT_ASM));
    let osr_entries = |args: &[&str]| {
        let mut all = vec!["run", "--stats"];
        all.extend_from_slice(args);
        let path = path_str(&file);
        all.push(&path);
        let out = run_cli(&all);
        assert_exit(&out, 0);
        assert_eq!(out.stdout_text(), "1.5\n", "mdvm {all:?}");
        let err = out.stderr_text();
        err.lines().find_map(|l| l.strip_prefix("OSR entries:")).map(|n| n.trim().parse::<u64>().unwrap())
    };
    // The default threshold (1,000 here) is far above 30.
    assert_eq!(osr_entries(&[]), Some(0));
    assert_eq!(osr_entries(&["--osr-threshold", "31"]), Some(0));
    assert_eq!(osr_entries(&["--osr-threshold", "30"]), Some(1));
    assert_eq!(osr_entries(&["--always-osr"]), Some(1));
    assert_eq!(osr_entries(&["--always-osr", "--stress-deopt"]), Some(1));
    // An explicit OSR threshold is not capped by --jit-threshold.
    assert_eq!(osr_entries(&["--jit-threshold", "5", "--osr-threshold", "31"]), Some(0));
    assert_eq!(osr_entries(&["--jit-threshold", "5"]), Some(1));
    // The interpreter has no compiled tier to report on.
    assert_eq!(osr_entries(&["--tier", "interp", "--always-osr"]), None);
}

#[test]
fn jit_flags_are_validated() {
    let dir = TempDir::new("cli-jit-flags");
    let file = dir.write("deopt.mdbc", &assemble_bytes(DEOPT_ASM));
    assert_exit(&run_cli(&["run", "--jit-threshold", "0", &path_str(&file)]), 2);
    assert_exit(&run_cli(&["run", "--jit-threshold", "x", &path_str(&file)]), 2);
    assert_exit(&run_cli(&["run", "--osr-threshold", "0", &path_str(&file)]), 2);
    assert_exit(&run_cli(&["run", "--osr-threshold", "4294967296", &path_str(&file)]), 2);
    assert_exit(&run_cli(&["run", "--always-osr", "--osr-threshold", "3", &path_str(&file)]), 2);
    let stressed = run_cli(&["run", "--tier", "jit", "--stress-deopt", &path_str(&file)]);
    assert_exit(&stressed, 0);
    assert_eq!(stressed.stdout_text(), "1.5\n");
}

/// `mdvm natives` lists every native the README's table names, one per line with its arity
/// and a description, and exits 0.
#[test]
fn natives_lists_every_native_with_its_arity() {
    let out = run_cli(&["natives"]);
    assert_exit(&out, 0);
    let text = out.stdout_text();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    // Names and arities as the natives table in README.md defines them.
    let expected: &[(&str, &str)] = &[
        ("print", "0+"), ("len", "1"), ("str", "1"), ("int", "1"), ("float", "1"), ("abs", "1"),
        ("min", "1+"), ("max", "1+"), ("floor", "1"), ("ceil", "1"), ("round", "1"), ("sqrt", "1"),
        ("exp", "1"), ("ln", "1"), ("sin", "1"), ("cos", "1"), ("pow", "2"), ("upper", "1"),
        ("lower", "1"), ("trim", "1"), ("substring", "3"), ("find", "2"), ("contains", "2"),
        ("replace", "3"), ("split", "2"), ("join", "2"), ("push", "2"), ("pop", "1"), ("last", "1"),
        ("slice", "3"), ("reverse", "1"), ("sort", "1"), ("index_of", "2"), ("range", "2"),
        ("type_of", "1"), ("is_number", "1"), ("is_int", "1"), ("is_float", "1"), ("is_string", "1"),
        ("is_bool", "1"), ("is_array", "1"), ("is_dict", "1"), ("is_empty", "1"), ("read_line", "0"),
        ("clock", "0"), ("spawn", "1+"), ("self", "0"), ("send", "2"), ("receive", "0"), ("try_receive", "0"),
        ("wait", "1"), ("link", "1"), ("process_count", "0"),
    ];
    assert_eq!(rows.len(), expected.len(), "{text}");
    for (name, arity) in expected {
        let row = rows.iter().find(|r| r.first() == Some(name)).unwrap_or_else(|| panic!("`{name}` missing:\n{text}"));
        assert_eq!(row.get(1), Some(arity), "arity of `{name}`");
        assert!(row.len() > 3, "`{name}` has a description");
    }
}
