//! Where the differential oracle's time per program goes.
//!
//! `cargo run --release -p mdvm-fuzzgen --example oracle_timing -- [PROGRAMS] [REPEATS]`
//! generates the first PROGRAMS (default 300) inputs of a fixed set (the seeded test's byte
//! source) and, REPEATS times (default 5), times each phase of `check_bytes` per configuration:
//! generating and encoding, `load_bytes` (decoding, building the program and, in the compiled
//! configurations, the Cranelift JIT module), the run (compile time reported apart, from the
//! tier's counters), and dropping the VM (freeing the JIT module). Prints the medians and the
//! oracle's rate in programs per second, with every configuration (`check_bytes`) and with the
//! interpreter and one compiled configuration picked per program (`check_bytes_in` with
//! `compiled_config`, what the `differential` fuzz target runs).
//!
//! `... --example oracle_timing -- write DIR [PROGRAMS]` writes the same inputs as files, each
//! with its selector byte in front, to time the fuzz target on them
//! (`time fuzz/target/generated/x86_64-unknown-linux-gnu/release/differential DIR/*`, see
//! `fuzz/README.md`, *Speed*).

use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use mdvm::Vm;
use mdvm_fuzzgen::{generate, oracle, seeded_input, CONFIGS};

/// Counts the heap, to see whether checking programs leaves memory behind.
#[global_allocator]
static ALLOC: mdvm::CountingAllocator = mdvm::CountingAllocator;

#[derive(Default, Clone, Copy)]
struct Phases {
    gen: Duration,
    load: Duration,
    jit_new: Duration,
    run: Duration,
    compile: Duration,
    drop: Duration,
    check: Duration,
    check_fast: Duration,
}

/// The process's resident set in bytes (Linux; 0 elsewhere).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()).unwrap_or(0) * 4096
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("write") {
        // The same programs as files for the `differential` fuzz target: input `i` with the
        // selector byte `i as u8` in front (the configuration `check_bytes_in` gets below).
        let dir = std::path::PathBuf::from(args.get(1).expect("write DIR [PROGRAMS]"));
        let programs = args.get(2).map_or(300, |a| a.parse().expect("a count"));
        std::fs::create_dir_all(&dir).expect("creates the directory");
        for i in 0..programs {
            let mut data = vec![i as u8];
            data.extend(seeded_input(i));
            std::fs::write(dir.join(format!("{i:04}")), data).expect("writes");
        }
        return;
    }
    let args: Vec<u64> = args.iter().map(|a| a.parse().expect("a count")).collect();
    let programs = args.first().copied().unwrap_or(300);
    let repeats = args.get(1).copied().unwrap_or(5);
    let inputs: Vec<Vec<u8>> = (0..programs).map(seeded_input).collect();
    let mut rounds = Vec::new();
    let mut in_use = Vec::new();
    for _ in 0..repeats {
        let mut p = Phases::default();
        let mut bytes_all = Vec::new();
        for data in &inputs {
            let t = Instant::now();
            let m = generate(&mut Unstructured::new(data)).expect("generates");
            let bytes = m.encode();
            p.gen += t.elapsed();
            bytes_all.push(bytes);
        }
        for bytes in &bytes_all {
            for cfg in &CONFIGS {
                let t = Instant::now();
                let mut b = Vm::builder();
                if let Some(n) = cfg.osr_threshold {
                    b = b.osr_threshold(n);
                }
                let mut vm = b
                    .tier(cfg.tier)
                    .jit_threshold(cfg.jit_threshold)
                    .stress_deopt(cfg.stress_deopt)
                    .write_through(cfg.write_through)
                    .fuel(Some(oracle::FUEL))
                    .max_depth(oracle::MAX_DEPTH)
                    .load_bytes(bytes)
                    .expect("loads");
                p.load += t.elapsed();
                let t = Instant::now();
                let _ = vm.run_captured();
                p.run += t.elapsed();
                if let Some(j) = vm.stats().jit {
                    p.compile += Duration::from_nanos(j.compiled.compile_nanos);
                }
                let t = Instant::now();
                drop(vm);
                p.drop += t.elapsed();
                // The same load in the interpreter: the difference is the JIT module.
                if cfg.tier != mdvm::Tier::Interp {
                    let t = Instant::now();
                    let vm = Vm::builder().tier(mdvm::Tier::Interp).load_bytes(bytes).expect("loads");
                    let interp_load = t.elapsed();
                    drop(vm);
                    let t = Instant::now();
                    let vm = Vm::builder().tier(cfg.tier).load_bytes(bytes).expect("loads");
                    p.jit_new += t.elapsed().saturating_sub(interp_load);
                    drop(vm);
                }
            }
        }
        let t = Instant::now();
        for bytes in &bytes_all {
            mdvm_fuzzgen::check_bytes(bytes).expect("agree");
        }
        p.check = t.elapsed();
        // What the `differential` target does now: the interpreter and the one compiled
        // configuration the input's first byte picks (here: the program's index).
        let t = Instant::now();
        for (i, bytes) in bytes_all.iter().enumerate() {
            mdvm_fuzzgen::check_bytes_in(bytes, [mdvm_fuzzgen::compiled_config(i as u8)]).expect("agree");
        }
        p.check_fast = t.elapsed();
        rounds.push(p);
        in_use.push((mdvm::memory_in_use(), rss()));
    }
    let n = programs as f64;
    let ms = |f: &dyn Fn(&Phases) -> Duration| median(rounds.iter().map(|p| f(p).as_secs_f64() * 1e3 / n).collect());
    println!("{programs} programs, {repeats} rounds; medians per program, all {} configurations:", CONFIGS.len());
    println!("  generate + encode       {:8.3} ms", ms(&|p| p.gen));
    println!("  load_bytes              {:8.3} ms (of which JIT module construction ~{:.3} ms)", ms(&|p| p.load), ms(&|p| p.jit_new));
    println!("  run (incl. compile)     {:8.3} ms (of which compile {:.3} ms)", ms(&|p| p.run), ms(&|p| p.compile));
    println!("  drop                    {:8.3} ms", ms(&|p| p.drop));
    let per = ms(&|p| p.check);
    println!("  check_bytes             {:8.3} ms per program = {:.1} programs/s (every configuration)", per, 1e3 / per);
    println!("  (heap bytes in use, resident bytes) after each round: {in_use:?}");
    // Programs not run before: a cache keyed by program, or a leak, would grow here.
    let mut kept = 0isize;
    for i in programs..2 * programs {
        let m = generate(&mut Unstructured::new(&seeded_input(i))).expect("generates");
        let bytes = m.encode();
        let before = mdvm::memory_in_use();
        mdvm_fuzzgen::check_bytes(&bytes).expect("agree");
        kept += mdvm::memory_in_use() as isize - before as isize;
    }
    println!("  heap bytes kept by checking {programs} further, different programs: {kept}");
    println!("  (heap bytes in use, resident bytes) at the end: {:?}", (mdvm::memory_in_use(), rss()));
    let per = ms(&|p| p.check_fast);
    println!("  check_bytes_in          {:8.3} ms per program = {:.1} programs/s (interp + one picked)", per, 1e3 / per);
}
