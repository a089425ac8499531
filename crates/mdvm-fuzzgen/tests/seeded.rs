//! Seeded differential checks run by `cargo test`: a fixed set of generated programs through
//! the oracle, random byte strings through the loader, round trips, and the regression files
//! the fuzzers found (`tests/fuzz-regressions/*.mdasm` at the repository root).

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use arbitrary::Unstructured;
use mdvm_fuzzgen::{check_load, check_module, check_roundtrip, generate, run_config, seeded_input, Xorshift, CONFIGS, NATIVES};

/// Programs in the seeded set, split over four tests so the harness runs them in parallel.
/// `MDVM_SEEDED_PROGRAMS=N` runs the first N instead (at least 4): `scripts/test-aarch64.sh`
/// uses it under emulation, where every program costs about seven times as much; the set
/// itself (input `i` for each `i`) does not change.
const PROGRAMS: u64 = 2_000;

fn programs() -> u64 {
    match std::env::var("MDVM_SEEDED_PROGRAMS") {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| n >= 4)
            .unwrap_or_else(|| panic!("MDVM_SEEDED_PROGRAMS={v:?}: expected a count of at least 4")),
        Err(_) => PROGRAMS,
    }
}

fn shard(k: u64) {
    let per_shard = programs() / 4;
    let mut failures = Vec::new();
    for i in k * per_shard..(k + 1) * per_shard {
        let data = seeded_input(i);
        let m = generate(&mut Unstructured::new(&data)).unwrap_or_else(|e| panic!("input {i}: {e}"));
        let bytes = m.encode();
        if let Err(e) = mdbc::Module::load(&bytes) {
            failures.push(format!("input {i}: generated module does not load: {e}\n{}", mdbc::disassemble(&m)));
            continue;
        }
        if let Err(mm) = check_module(&m) {
            failures.push(format!("input {i}: {mm}\n{}", mdbc::disassemble(&m)));
        }
    }
    assert!(failures.is_empty(), "{} of {per_shard} programs failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn seeded_programs_agree_0() {
    shard(0);
}

#[test]
fn seeded_programs_agree_1() {
    shard(1);
}

#[test]
fn seeded_programs_agree_2() {
    shard(2);
}

#[test]
fn seeded_programs_agree_3() {
    shard(3);
}

/// The generator does its job: across a sample, programs use nearly every opcode and call
/// every native of [`NATIVES`], phis are common, programs end in every way (normally, by each
/// common error kind, by a native's error, by fuel), and compiled code deoptimizes.
#[test]
fn generator_covers_the_instruction_set_and_outcomes() {
    let mut opcodes = BTreeSet::new();
    let mut natives = BTreeSet::new();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut with_phis = 0;
    let mut with_calls = 0;
    let mut native_errors = 0;
    let mut deopting = 0;
    let n = 300;
    for i in 0..n {
        let data = seeded_input(10_000 + i);
        let m = generate(&mut Unstructured::new(&data)).expect("generates");
        for ins in &m.code {
            opcodes.insert(ins.opcode() as u8);
        }
        // A native's name is in the constant pool only when the program calls it.
        for c in &m.constants {
            if let mdbc::Constant::Str(s) = c {
                if NATIVES.contains(&s.as_str()) {
                    natives.insert(s.clone());
                }
            }
        }
        with_phis += m.code.iter().any(|i| matches!(i, mdbc::Instr::PhiR { .. })) as usize;
        with_calls += m.code.iter().any(|i| matches!(i, mdbc::Instr::CallR { .. })) as usize;
        let run = run_config(&m.encode(), &CONFIGS[0]);
        let key = match &run.result {
            Ok(_) => "ok".to_string(),
            Err((kind, ..)) => kind.clone(),
        };
        *outcomes.entry(key).or_default() += 1;
        // A native's errors (and arity errors) name it first, in backquotes.
        native_errors += run.message.as_deref().is_some_and(|m| m.starts_with('`')) as usize;
        let mut vm = mdvm::Vm::builder()
            .tier(mdvm::Tier::Auto)
            .jit_threshold(1)
            .fuel(Some(mdvm_fuzzgen::FUEL))
            .load_bytes(&m.encode())
            .expect("loads");
        let _ = vm.run_captured();
        let deopts: u64 = vm.stats().jit.map(|j| j.deopts.iter().map(|(_, n)| n).sum()).unwrap_or(0);
        deopting += (deopts > 0) as usize;
    }
    eprintln!(
        "outcomes {outcomes:?}, phis {with_phis}, calls {with_calls}, native errors {native_errors}, deopting {deopting} of {n}"
    );
    let missing: Vec<u8> = (0..50u8).filter(|o| !opcodes.contains(o)).collect();
    assert!(missing.is_empty(), "opcodes never generated: {missing:?}");
    let uncalled: Vec<&str> = NATIVES.iter().copied().filter(|name| !natives.contains(*name)).collect();
    assert!(uncalled.is_empty(), "natives never called: {uncalled:?}");
    assert!(native_errors > n as usize / 50, "only {native_errors} of {n} programs end with a native's error");
    assert!(with_phis > n as usize / 4, "only {with_phis} of {n} programs have phis");
    assert!(with_calls > n as usize / 4, "only {with_calls} of {n} programs call");
    assert!(deopting > n as usize / 20, "only {deopting} of {n} programs deoptimize under auto-1");
    assert!(outcomes.get("ok").copied().unwrap_or(0) > n as usize / 10, "too few normal ends: {outcomes:?}");
    for kind in ["type error", "division by zero", "integer overflow", "assertion failed", "fuel exhausted"] {
        assert!(outcomes.contains_key(kind), "no program ended with `{kind}`: {outcomes:?}");
    }
}

/// Small inputs give small programs.
#[test]
fn small_inputs_give_small_programs() {
    let empty = generate(&mut Unstructured::new(&[])).expect("generates");
    assert!(empty.code.len() <= 4, "empty input gave {} instructions", empty.code.len());
    assert!(empty.functions.is_empty());
    let mut small = 0usize;
    let mut large = 0usize;
    for i in 0..50 {
        let mut r = Xorshift(i + 7);
        small += generate(&mut Unstructured::new(&r.bytes(16))).unwrap().code.len();
        large += generate(&mut Unstructured::new(&r.bytes(2000))).unwrap().code.len();
    }
    assert!(small * 4 < large, "16-byte inputs: {small} instructions in all, 2000-byte inputs: {large}");
}

/// 100,000 byte strings through the loader and verifier: fully random, a valid header with a
/// random tail, and generated modules with a few bytes changed. None may panic; the mutated
/// ones must sometimes still load (else the check would test nothing past the header).
#[test]
fn random_bytes_through_the_loader_never_panic() {
    let mut r = Xorshift(0x0bad_5eed_1234_5678);
    let bases: Vec<Vec<u8>> = (0..64).map(|i| generate(&mut Unstructured::new(&seeded_input(20_000 + i))).unwrap().encode()).collect();
    let mut loaded = 0;
    let mut panics = Vec::new();
    for i in 0..100_000u32 {
        let bytes = match i % 3 {
            0 => {
                let n = (r.next_u64() % 96) as usize;
                r.bytes(n)
            }
            1 => {
                let mut b = b"MDBC\x01\0\0\0\x01\0\0\0".to_vec();
                let n = (r.next_u64() % 96) as usize;
                let tail = r.bytes(n);
                let len = 28 + n as u64;
                let mut offs: Vec<u64> = (0..4).map(|_| 28 + r.next_u64() % (n as u64 + 1)).collect();
                offs.sort_unstable();
                for o in offs {
                    b.extend_from_slice(&(o.min(len) as u32).to_le_bytes());
                }
                b.extend_from_slice(&tail);
                b
            }
            _ => {
                let mut b = bases[(r.next_u64() % bases.len() as u64) as usize].clone();
                for _ in 0..1 + r.next_u64() % 3 {
                    if b.is_empty() {
                        break;
                    }
                    let at = (r.next_u64() % b.len() as u64) as usize;
                    match r.next_u64() % 4 {
                        0 => b[at] ^= 1 << (r.next_u64() % 8),
                        1 => b[at] = r.next_u64() as u8,
                        2 => b.truncate(at),
                        _ => b.insert(at, r.next_u64() as u8),
                    }
                }
                b
            }
        };
        match catch_unwind(AssertUnwindSafe(|| check_load(&bytes))) {
            Ok(ok) => loaded += ok as usize,
            Err(_) => panics.push(bytes),
        }
    }
    assert!(panics.is_empty(), "{} inputs panicked the loader, first: {:02x?}", panics.len(), panics[0]);
    assert!(loaded > 1_000, "only {loaded} of 100,000 inputs loaded");
}

/// Generated modules and corpus files round-trip: decode(encode(decode(x))) == decode(x).
#[test]
fn modules_round_trip() {
    for i in 0..300 {
        let m = generate(&mut Unstructured::new(&seeded_input(30_000 + i))).unwrap();
        check_roundtrip(&m.encode()).unwrap_or_else(|e| panic!("input {i}: {e}"));
    }
    let corpus = repo().join("tests").join("corpus");
    let mut n = 0;
    for e in std::fs::read_dir(&corpus).expect("tests/corpus") {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "mdbc") {
            check_roundtrip(&std::fs::read(&p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            n += 1;
        }
    }
    assert!(n > 20, "only {n} corpus files");
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// Every regression the fuzzers found (`tests/fuzz-regressions/NAME.mdasm`, each with a
/// comment saying what it caught) agrees across all configurations of the oracle.
#[test]
fn fuzz_regressions_agree() {
    let dir = repo().join("tests").join("fuzz-regressions");
    let mut failures = Vec::new();
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("tests/fuzz-regressions") {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "mdasm") {
            continue;
        }
        n += 1;
        let src = std::fs::read_to_string(&p).unwrap();
        let m = mdbc::assemble(&src).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if let Err(mm) = check_module(&m) {
            failures.push(format!("{}: {mm}", p.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{n} regression files");
}
