//! The `rtt-mismatch` and `responsiveness` experiments, run short (debug
//! builds run them in seconds), with the outcomes their physics implies,
//! and the files a report writes.

use std::path::PathBuf;
use std::time::Duration;

use umptcp_experiment::{Options, Report, run};

fn options(cc: &str, seconds: u64) -> Options {
    let mut options = Options::new(cc);
    options.duration = Some(Duration::from_secs(seconds));
    options
}

fn figure(report: &Report, name: &str) -> f64 {
    report
        .figure(name)
        .unwrap_or_else(|| panic!("{} has no figure {name}:\n{}", report.stem(), report.text()))
}

/// Write `report` into a folder of its own, check the CSV and the PNG are
/// there and not empty, and remove the folder.
fn writes_csv_and_png(report: &mut Report) {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "umptcp-experiment-{}-{}",
        report.stem(),
        std::process::id()
    ));
    report.write(&dir).expect("the report is written");
    let result = std::panic::catch_unwind(|| {
        for ext in ["csv", "png"] {
            let file = dir.join(format!("{}.{ext}", report.stem()));
            let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            assert!(len > 0, "{} missing or empty", file.display());
        }
        let csv = std::fs::read_to_string(dir.join(format!("{}.csv", report.stem())))
            .expect("the CSV reads back");
        assert!(csv.starts_with("panel,series,unit,time_s,value\n"));
    });
    std::fs::remove_dir_all(&dir).expect("the folder is removed");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// 15 s per scheduler with LIA over a 10 ms and a 100 ms path (each
/// 10 Mbit/s, about 9.5 of payload). Measured: minrtt and roundrobin
/// 18.7 Mbit/s with a mean wait of 48.6 ms, half the segments waiting;
/// redundant 9.6 Mbit/s with a mean wait of 0.02 ms.
#[test]
fn rtt_mismatch_redundant_waits_least_and_aggregating_costs_reordering() {
    let mut report = run("rtt-mismatch", &options("lia", 15)).expect("runs");
    let text = report.text();
    // Aggregating: both paths carry data, so the connection gets well
    // over one path's rate...
    for s in ["minrtt", "roundrobin"] {
        assert!(figure(&report, &format!("{s}_mbps")) > 15.0, "{text}");
        // ...and the data on the fast path waits for what crossed the slow
        // one: the one-way delays differ by 45 ms and about half the
        // segments wait, so the mean wait is well above 20 ms.
        assert!(
            figure(&report, &format!("{s}_reorder_mean_ms")) > 20.0,
            "{text}"
        );
        assert!(
            figure(&report, &format!("{s}_reorder_p99_ms")) > 45.0,
            "{text}"
        );
    }
    // Redundant: every byte crosses both paths and the fast copy wins, so
    // it waits least; the connection gets at most one path's rate, and
    // about half the arrivals are copies.
    let rr_mean = figure(&report, "roundrobin_reorder_mean_ms");
    let red_mean = figure(&report, "redundant_reorder_mean_ms");
    assert!(red_mean < rr_mean / 10.0, "{text}");
    assert!(
        figure(&report, "redundant_reorder_p99_ms") < figure(&report, "roundrobin_reorder_p99_ms"),
        "{text}"
    );
    let red_mbps = figure(&report, "redundant_mbps");
    assert!((8.0..10.0).contains(&red_mbps), "{text}");
    let copies = figure(&report, "redundant_copies_share");
    assert!((0.4..0.6).contains(&copies), "{text}");
    // RFC 6182's rule for these paths: 2 x 20 Mbit/s x 100 ms.
    assert_eq!(figure(&report, "recv_buffer_kb"), 500.0);
    assert_eq!(report.panels.len(), 3);
    writes_csv_and_png(&mut report);
}

/// 30 s (three phases of 10 s): path A 20 → 5 → 20 Mbit/s beside path B
/// at 10 Mbit/s. Measured with LIA: 28.6, 14.0 and 28.3 Mbit/s, settled
/// 3.0 s after the drop and 5.0 s after the return; with Reno 0.4 to
/// 1.2 s and 1.6 s.
#[test]
fn responsiveness_settles_and_lia_regrows_slower_than_reno() {
    let mut lia = run("responsiveness", &options("lia", 30)).expect("runs");
    let text = lia.text();
    let down = figure(&lia, "reconverge_down_s");
    let up = figure(&lia, "reconverge_up_s");
    assert!(down.is_finite() && up.is_finite(), "{text}");
    // Goodput follows capacity: path A near its 20 and 5 Mbit/s (payload
    // is 95 % of the bytes), and all of it comes back after the return.
    let a_before = figure(&lia, "path_a_mbps_before");
    let a_during = figure(&lia, "path_a_mbps_during");
    assert!(a_before > 17.0, "{text}");
    assert!((4.0..5.0).contains(&a_during), "{text}");
    let before = figure(&lia, "mbps_before");
    let during = figure(&lia, "mbps_during");
    let after = figure(&lia, "mbps_after");
    assert!(during < 0.6 * before, "{text}");
    assert!(after > 0.95 * before, "{text}");
    assert!(
        figure(&lia, "path_a_mbps_after") > 0.95 * a_before,
        "{text}"
    );

    // LIA's increase on path A is at most Reno's (RFC 6356 §3: it takes
    // the minimum of the coupled and the uncoupled increase), so its
    // window grows back to the restored capacity more slowly.
    let reno = run("responsiveness", &options("reno", 30)).expect("runs");
    let reno_up = figure(&reno, "reconverge_up_s");
    assert!(reno_up.is_finite(), "{}", reno.text());
    assert!(up > reno_up, "lia {up} s, reno {reno_up} s");
    writes_csv_and_png(&mut lia);
}
