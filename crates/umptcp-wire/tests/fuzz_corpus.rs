//! Replay the committed cargo-fuzz corpus on stable, through the same entry
//! points the fuzz targets call (`umptcp_wire::fuzzing`).

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).expect("read seed");
            (path, bytes)
        })
        .collect();
    seeds.sort();
    seeds
}

/// Run every seed; a panic names the seed that caused it.
fn replay(target: &str, min_seeds: usize, run: fn(&[u8])) {
    let seeds = corpus(target);
    assert!(
        seeds.len() >= min_seeds,
        "corpus {target} has {} seeds, expected at least {min_seeds}",
        seeds.len()
    );
    for (path, bytes) in &seeds {
        let outcome = std::panic::catch_unwind(|| run(bytes));
        assert!(outcome.is_ok(), "seed {} panicked", path.display());
    }
}

#[test]
fn tcp_options_corpus_replays() {
    replay("tcp_options", 20, umptcp_wire::fuzzing::tcp_options);
}

#[test]
fn segment_corpus_replays() {
    replay("segment", 20, umptcp_wire::fuzzing::segment);
}
