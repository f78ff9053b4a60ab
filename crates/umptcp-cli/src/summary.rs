//! The periodic summary line of `mptcp proxy` and `mptcp convert`
//! (`--summary-every`): the running totals on stderr every few seconds.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use umptcp_proxy::summary::Tally;

/// Print `tally`'s summary on stderr every `every` seconds (as JSON with
/// `json`) on a thread of its own, for as long as the process runs; 0
/// prints none.
pub(crate) fn every(seconds: u64, tally: Arc<Tally>, json: bool) {
    if seconds == 0 {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("umptcp-summary".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(seconds));
                let summary = tally.summary();
                let line = if json {
                    summary.to_json()
                } else {
                    summary.to_string()
                };
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}").and_then(|()| err.flush());
            }
        });
    if let Err(e) = spawned {
        eprintln!("mptcp: no summary line: {e}");
    }
}
