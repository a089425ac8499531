//! Every corpus file decodes, verifies, and re-encodes to the same bytes.

use std::path::PathBuf;

fn corpus_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus");
    let mut files = Vec::new();
    for dir in ["", "asm", "bench", "bench-asm"] {
        for e in std::fs::read_dir(root.join(dir)).expect("corpus folder") {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "mdbc") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn corpus_decodes_verifies_and_reencodes() {
    let files = corpus_files();
    assert!(files.len() >= 90, "found only {} corpus files", files.len());
    for p in files {
        let bytes = std::fs::read(&p).unwrap();
        let (m, layout) = mdbc::Module::load(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(m.encode(), bytes, "{}: encode(decode(x)) != x", p.display());
        assert_eq!(layout.bodies.len(), m.functions.len() + 1);
    }
}
