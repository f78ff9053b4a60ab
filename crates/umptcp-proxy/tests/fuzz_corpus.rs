//! Replay the committed cargo-fuzz corpus of the `convert` target on
//! stable, through the entry point the target calls.

use std::path::Path;

#[test]
fn convert_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/convert");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 14, "{} seeds", seeds.len());
    for path in &seeds {
        let bytes = std::fs::read(path).expect("read seed");
        let outcome = std::panic::catch_unwind(|| umptcp_proxy::fuzzing::convert(&bytes));
        assert!(outcome.is_ok(), "seed {} panicked", path.display());
    }
}
