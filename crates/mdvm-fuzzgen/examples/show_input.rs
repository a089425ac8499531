//! Prints what a fuzz input of `differential` or `limits` runs: the configuration (or limit
//! case) and the generated module's disassembly, for inputs that crashed rather than printed
//! a disagreement (`fuzz/README.md`).
//!
//! `cargo run -p mdvm-fuzzgen --example show_input -- differential|limits FILE`

use arbitrary::Unstructured;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, file] = &args[..] else {
        eprintln!("usage: show_input differential|limits FILE");
        std::process::exit(2);
    };
    let data = std::fs::read(file).expect("reads the input");
    let (what, rest) = match target.as_str() {
        "differential" => {
            let Some((&selector, rest)) = data.split_first() else { return println!("; empty input: nothing runs") };
            (format!("configuration `{}`", mdvm_fuzzgen::compiled_config(selector).name), rest.to_vec())
        }
        "limits" => {
            let mut u = Unstructured::new(&data);
            let case = mdvm_fuzzgen::LimitCase::from_unstructured(&mut u);
            let used = data.len() - u.len();
            (format!("{case:?}"), data[used..].to_vec())
        }
        other => panic!("unknown target {other}"),
    };
    match mdvm_fuzzgen::generate(&mut Unstructured::new(&rest)) {
        Ok(m) => println!("; {what}\n{}", mdbc::disassemble(&m)),
        Err(e) => println!("; {what}: no module ({e})"),
    }
}
