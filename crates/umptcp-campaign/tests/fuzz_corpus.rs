//! Replay the committed cargo-fuzz corpus of the `endpoint` target on
//! stable, through the function the fuzz target calls
//! (`umptcp_campaign::fuzzing::endpoint`): every seed must run without a
//! panic and without a finding that is a defect in its mode.

use std::path::Path;

#[test]
fn endpoint_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/endpoint");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= 20,
        "{} seeds in {}",
        seeds.len(),
        dir.display()
    );
    let mut failed = Vec::new();
    for path in &seeds {
        let bytes = std::fs::read(path).expect("read seed");
        let outcome = std::panic::catch_unwind(|| umptcp_campaign::fuzzing::endpoint(&bytes));
        if let Err(payload) = outcome {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            failed.push(format!("{name}: {msg}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} seeds failed:\n{}",
        failed.len(),
        seeds.len(),
        failed.join("\n")
    );
}
