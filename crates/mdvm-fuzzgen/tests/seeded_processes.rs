//! Seeded differential checks of programs with processes: generated modules that all use
//! processes (`GenConfig::process_share` 256) through the oracle, which runs each in every
//! configuration with the default slice length and with a short one
//! (`mdvm_fuzzgen::short_reductions`), and a check that the set exercises the scheduler: a
//! good share of the programs spawn processes, send messages, switch between processes, and
//! call every process native.

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Unstructured;
use mdvm_fuzzgen::{
    check_bytes, generate_with, run_config_with, seeded_input, short_reductions, uses_processes, GenConfig, CONFIGS,
    PROCESS_NATIVES,
};

/// Programs in the set, checked by two threads. `MDVM_SEEDED_PROGRAMS=N` (the seeded test's
/// knob, 2,000 by default; `scripts/test-aarch64.sh` sets 400 under emulation) scales it down
/// in proportion, to no fewer than 40.
const PROGRAMS: u64 = 160;

fn programs() -> u64 {
    match std::env::var("MDVM_SEEDED_PROGRAMS").ok().and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(n) => (PROGRAMS * n / 2_000).clamp(40, PROGRAMS),
        None => PROGRAMS,
    }
}

/// What programs did, in the interpreter with their short slice length.
#[derive(Default, Debug)]
struct Tally {
    programs: usize,
    spawned: usize,
    messages: usize,
    both: usize,
    switching: usize,
    outcomes: BTreeMap<String, usize>,
    natives: BTreeSet<String>,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.programs += other.programs;
        self.spawned += other.spawned;
        self.messages += other.messages;
        self.both += other.both;
        self.switching += other.switching;
        for (k, n) in other.outcomes {
            *self.outcomes.entry(k).or_default() += n;
        }
        self.natives.extend(other.natives);
        self.failures.extend(other.failures);
    }
}

/// Checks the programs of inputs `range` (offset into the set's seeds).
fn check(range: std::ops::Range<u64>) -> Tally {
    let cfg = GenConfig { process_share: 256, ..GenConfig::default() };
    let mut tally = Tally::default();
    for i in range {
        let data = seeded_input(50_000 + i);
        let m = generate_with(&mut Unstructured::new(&data), &cfg).unwrap_or_else(|e| panic!("input {i}: {e}"));
        let bytes = m.encode();
        if let Err(e) = mdbc::Module::load(&bytes) {
            tally.failures.push(format!("input {i}: generated module does not load: {e}\n{}", mdbc::disassemble(&m)));
            continue;
        }
        // (An empty input has no last byte to decide by: no processes.)
        assert_eq!(uses_processes(&bytes), !data.is_empty(), "input {i}: prepared for processes?");
        if let Err(mm) = check_bytes(&bytes) {
            tally.failures.push(format!("input {i}: {mm}\n{}", mdbc::disassemble(&m)));
            continue;
        }
        for c in &m.constants {
            if let mdbc::Constant::Str(s) = c {
                if PROCESS_NATIVES.contains(&s.as_str()) {
                    tally.natives.insert(s.clone());
                }
            }
        }
        let run = run_config_with(&bytes, &CONFIGS[0], Some(short_reductions(&bytes)));
        let p = run.processes;
        tally.programs += 1;
        tally.spawned += (p.spawned > 0) as usize;
        tally.messages += (p.messages > 0) as usize;
        tally.both += (p.spawned > 0 && p.messages > 0) as usize;
        tally.switching += (p.context_switches > 0) as usize;
        let key = match &run.result {
            Ok(_) => "ok".to_string(),
            Err((kind, ..)) => kind.clone(),
        };
        *tally.outcomes.entry(key).or_default() += 1;
    }
    tally
}

/// Every program agrees in every configuration at both slice lengths, and the set does its
/// job: about 40% of the programs spawn, 40% send, a quarter do both and a fifth switch
/// between processes (measured: 63, 63, 43 and 36 of 160); the bounds leave room for changes
/// to the generator. Every process native is called, and some programs end normally.
#[test]
fn process_programs_agree_and_use_processes() {
    let n = programs();
    let half = n / 2;
    let mut tally = Tally::default();
    std::thread::scope(|s| {
        let other = s.spawn(move || check(half..n));
        tally.add(check(0..half));
        tally.add(other.join().expect("the checking thread panicked"));
    });
    assert!(tally.failures.is_empty(), "{} of {n} programs failed:\n{}", tally.failures.len(), tally.failures.join("\n"));
    eprintln!("{tally:?}");
    let p = tally.programs;
    assert!(tally.spawned * 5 >= p, "only {} of {p} programs spawn a process", tally.spawned);
    assert!(tally.messages * 5 >= p, "only {} of {p} programs send a message", tally.messages);
    assert!(tally.both * 10 >= p, "only {} of {p} programs both spawn and send", tally.both);
    assert!(tally.switching * 10 >= p, "only {} of {p} programs switch between processes", tally.switching);
    let missing: Vec<&str> = PROCESS_NATIVES.iter().copied().filter(|n| !tally.natives.contains(*n)).collect();
    assert!(missing.is_empty(), "process natives never called: {missing:?}");
    assert!(tally.outcomes.get("ok").copied().unwrap_or(0) * 10 >= p, "too few normal ends: {:?}", tally.outcomes);
}
