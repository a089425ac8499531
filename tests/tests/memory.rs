//! The memory limit: programs that allocate without end stop with a clean `out of memory`
//! error (exit status 1, output printed before kept) instead of an allocator abort, in every
//! tier; the default limit follows `ulimit -v`. Every CLI run here is capped with `ulimit -v`,
//! so a regression fails the test instead of exhausting the machine.

use mdvm::{Error, ErrorKind, Tier};
use mdvm_tests::{assemble_bytes, mdvm_bin, Mode, TempDir};

/// Prints `before`, fills an array of `n` ints, then writes to 100 copies of it, keeping each:
/// every copy-on-write copies the whole array.
fn copies(n: u64) -> String {
    format!(
        "
.module copies
        LOAD_CONST_R r0, str \"before\"
        DEBUG_PRINT r0
        LOAD_CONST_R r1, int {n}
        NEW_ARRAY_R r2, r1
        LOAD_CONST_R r3, int 0
        LOAD_CONST_R r4, int 1
fill:   LT_R r5, r3, r1
        JUMP_IF_NOT_R r5, filled
        ARRAY_SET_R r2, r3, r3
        ADD_R r3, r3, r4
        JUMP_R fill
filled: LOAD_CONST_R r6, int 100
        NEW_ARRAY_R r7, r6
        LOAD_CONST_R r3, int 0
copy:   LT_R r5, r3, r6
        JUMP_IF_NOT_R r5, done
        MOVE_R r8, r2
        ARRAY_SET_R r8, r3, r4
        ARRAY_SET_R r7, r3, r8
        ADD_R r3, r3, r4
        JUMP_R copy
done:   DEBUG_PRINT r3
        RETURN_R
"
    )
}

/// Prints `before`, then adds keys `k0`, `k1`, ... to a dict for ever (small allocations only).
const DICT: &str = "
.module dict
        LOAD_CONST_R r0, str \"before\"
        DEBUG_PRINT r0
        DICT_NEW_R r1
        LOAD_CONST_R r2, int 0
        LOAD_CONST_R r4, int 1
        LOAD_CONST_R r6, str \"k\"
loop:   CONCAT_STR_R r7, r6, r2
        DICT_SET_R r1, r7, r2
        ADD_R r2, r2, r4
        JUMP_R loop
";

/// Prints `before`, then doubles a string for ever (each step one large allocation).
const DOUBLING: &str = "
.module doubling
        LOAD_CONST_R r0, str \"before\"
        DEBUG_PRINT r0
        LOAD_CONST_R r1, str \"0123456789abcdef\"
loop:   ADD_R r1, r1, r1
        JUMP_R loop
";

/// Runs `mdvm run ARGS FILE` under `ulimit -v KIB` (through `sh`), returning (exit code,
/// stdout, stderr).
fn capped(kib: u64, args: &[&str], file: &std::path::Path) -> (Option<i32>, String, String) {
    let mut cmd = format!("ulimit -v {kib} && exec \"$0\" run");
    for a in args {
        cmd.push(' ');
        cmd.push_str(a);
    }
    cmd.push_str(" \"$1\"");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&cmd)
        .arg(mdvm_bin())
        .arg(file)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run sh");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[cfg(target_os = "linux")]
#[test]
fn unbounded_allocation_ends_in_a_clean_error_with_the_output_kept() {
    let dir = TempDir::new("memory");
    let programs = [("copies", copies(1 << 21)), ("dict", DICT.to_string()), ("doubling", DOUBLING.to_string())];
    for (name, src) in &programs {
        let file = dir.write(&format!("{name}.mdbc"), &assemble_bytes(src));
        for tier in ["interp", "jit", "auto"] {
            // 48 MiB of heap under a 1 GiB address space: the limit, not the cap, must stop it.
            let (code, out, err) = capped(1 << 20, &["--tier", tier, "--max-memory", "48M"], &file);
            assert_eq!(out, "before\n", "{name} --tier {tier}: {err}");
            assert_eq!(code, Some(1), "{name} --tier {tier}: {err}");
            assert!(err.contains("runtime error: out of memory: the memory limit of 48 MiB"), "{name} --tier {tier}: {err}");
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn the_default_limit_follows_ulimit_v() {
    // 16 Mi ints: each copy 128 MiB. Under `ulimit -v` of 1.5 GiB the default limit is half of
    // that; without it the copies would pass the cap and the allocator would abort (status 134).
    let dir = TempDir::new("memory-default");
    let file = dir.write("copies.mdbc", &assemble_bytes(&copies(1 << 24)));
    for tier in ["interp", "jit"] {
        let (code, out, err) = capped(3 << 19, &["--tier", tier], &file);
        assert_eq!(out, "before\n", "--tier {tier}: {err}");
        assert_eq!(code, Some(1), "--tier {tier}: {err}");
        assert!(err.contains("out of memory: the memory limit of 768 MiB"), "--tier {tier}: {err}");
    }
}

/// Writes and assembles (outside this process, streaming: the other tests of this binary run
/// library VMs under memory limits, and the count is per process) a main of `n` instructions
/// made of `unit` repeated, `{i}` in it replaced by the repetition's number. Returns the file.
#[cfg(target_os = "linux")]
fn assemble_repeated(dir: &TempDir, name: &str, head: &str, unit: &str, n: usize, tail: &str) -> std::path::PathBuf {
    use std::io::Write;
    let text = dir.path().join(format!("{name}.mdasm"));
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&text).expect("create the source"));
        writeln!(w, ".module {name}\n{head}").expect("write");
        for i in 0..n {
            w.write_all(unit.replace("{i}", &i.to_string()).as_bytes()).expect("write");
        }
        writeln!(w, "{tail}").expect("write");
    }
    let file = dir.path().join(format!("{name}.mdbc"));
    let asm = std::process::Command::new(mdvm_bin()).arg("asm").arg(&text).arg("-o").arg(&file).output().expect("run mdvm asm");
    assert!(asm.status.success(), "mdvm asm: {}", String::from_utf8_lossy(&asm.stderr));
    file
}

#[cfg(target_os = "linux")]
#[test]
fn loading_stays_within_its_estimate_and_the_limit_applies_to_it() {
    // Mains of a million instructions: straight-line (about 3 MiB of file), and with a block
    // for every one and a half instructions (4 MiB: the control-flow graph the loader builds
    // is the larger part). Loading must fit in the documented bound, and a limit below the
    // decoding estimate refuses the module before decoding, with nothing run.
    let dir = TempDir::new("memory-load");
    let n = 1_000_000usize;
    let straight = assemble_repeated(
        &dir,
        "straight",
        "        LOAD_CONST_R r0, int 7",
        "        MOVE_R r1, r0\n        ADD_R r2, r1, r0\n",
        n / 2,
        "        DEBUG_PRINT r2\n        RETURN_R",
    );
    let branchy = assemble_repeated(
        &dir,
        "branchy",
        "        LOAD_CONST_R r0, int 7\n        LOAD_CONST_R r3, bool true",
        "        ADD_R r2, r0, r0\n        JUMP_IF_R r3, L{i}\n        MOVE_R r2, r0\nL{i}:\n",
        n / 3,
        "        DEBUG_PRINT r2\n        RETURN_R",
    );
    // Blocks of the branchy main, at most: two per jump, one for the return, one for the entry
    // (`mdbc::cfg::max_blocks`); the straight main has one.
    for (file, blocks) in [(&straight, 2), (&branchy, 2 * (n / 3) + 2)] {
        let file_len = std::fs::metadata(file).expect("the module").len() as usize;
        let per_instruction = mdvm::DECODE_BYTES_PER_INSTRUCTION + mdvm::PREPARE_BYTES_PER_INSTRUCTION;
        let bound = (n + 4) * per_instruction + blocks * mdvm::PREPARE_BYTES_PER_BLOCK + 3 * file_len;
        // The bound, plus what the process holds before loading (its file, code and tables).
        let enough = format!("{}", bound + (24 << 20));
        for tier in ["interp", "auto"] {
            let (code, out, err) = capped(2 << 20, &["--tier", tier, "--max-memory", &enough], file);
            assert_eq!((code, out.as_str()), (Some(0), "14\n"), "{file:?} --tier {tier} within the bound: {err}");
            let (code, out, err) = capped(2 << 20, &["--tier", tier, "--max-memory", "48M"], file);
            assert_eq!((code, out.as_str()), (Some(1), ""), "{file:?} --tier {tier}: {err}");
            assert!(
                err.contains("out of memory: the memory limit of 48 MiB would be exceeded: loading this module"),
                "{file:?} --tier {tier}: {err}"
            );
        }
    }
    // Decoding the branchy main fits in 100 MiB; preparing its 666,668 blocks would not: it is
    // refused after decoding, before the graph is built.
    let (code, out, err) = capped(2 << 20, &["--max-memory", "100M"], &branchy);
    assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
    assert!(
        err.contains("out of memory: the memory limit of 100 MiB would be exceeded: preparing this module of 1000003 instructions"),
        "{err}"
    );
}

#[test]
fn the_library_limit_holds_in_every_mode() {
    let bytes = assemble_bytes(DICT);
    for mode in Mode::ALL {
        let mut vm = mode.builder().max_memory(Some(24 << 20)).fuel(Some(200_000_000)).load_bytes(&bytes).expect("loads");
        let o = vm.run_captured();
        assert_eq!(o.output, b"before\n", "{mode}");
        match o.result {
            Err(Error::Runtime(e)) => assert_eq!(e.kind, ErrorKind::OutOfMemory, "{mode}: {e}"),
            r => panic!("{mode}: {r:?}"),
        }
        // The memory is given back and the next run starts afresh.
        let mut small = mode.builder().max_memory(Some(24 << 20)).load_bytes(&assemble_bytes(&copies(1 << 10))).expect("loads");
        let o = small.run_captured();
        assert_eq!(o.output, b"before\n100\n", "{mode}");
    }
    // Without a limit the same VM type runs the small program in the interpreter too.
    let mut vm = mdvm::Vm::builder().tier(Tier::Interp).max_memory(None).load_bytes(&assemble_bytes(&copies(1 << 10))).expect("loads");
    assert!(vm.run_captured().result.is_ok());
}
