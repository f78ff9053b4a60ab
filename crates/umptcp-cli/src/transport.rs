//! What `send` and `recv` report at the end besides the result line: the
//! subflows of an MPTCP connection (none for `--plain-tcp`).

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use umptcp_tun::{MptcpInfo, Stream};

use crate::error::CliError;
use crate::report::{Direction, Report};

/// The subflows of an MPTCP connection; `None` for plain TCP (and for
/// a connection the stack forgot: it has nothing more to say).
pub(crate) fn mptcp_info(stream: &Stream) -> Option<MptcpInfo> {
    stream.mptcp_info().ok().flatten()
}

/// Print what a transfer did: the result line, or with `json` one JSON
/// object; with MPTCP, a line per subflow on stderr before it, and with
/// `ss` the figures in `ss -Mni`'s shape.
///
/// # Errors
///
/// If stdout is closed.
pub(crate) fn print(
    report: &Report,
    info: Option<&MptcpInfo>,
    json: bool,
    ss: bool,
) -> Result<(), CliError> {
    if ss && let Some(info) = info {
        eprintln!("{info}");
    }
    if json {
        return print_line(&to_json(report, info));
    }
    if let Some(info) = info {
        eprint!("{}", subflow_lines(info));
    }
    report.print()
}

fn print_line(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| CliError::io("printing the result", &e))
}

fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e3)
}

/// One line per subflow, for people.
pub(crate) fn subflow_lines(info: &MptcpInfo) -> String {
    let mut out = String::new();
    if !info.mptcp {
        let reason = info
            .fallback
            .map_or_else(|| "unknown".to_owned(), |r| format!("{r:?}"));
        let _ = writeln!(out, "fell back to plain TCP ({reason})");
        return out;
    }
    for s in &info.subflows {
        let _ = writeln!(
            out,
            "subflow {} -> {}{}: sent {} B, received {} B, srtt {}, cwnd {} B, {} retransmissions",
            s.tuple.local,
            s.tuple.remote,
            if s.backup { " (backup)" } else { "" },
            s.bytes_sent,
            s.bytes_received,
            ms(s.srtt).map_or("-".to_owned(), |v| format!("{v:.1} ms")),
            s.cwnd,
            s.retransmissions
        );
    }
    out
}

/// The JSON object of `--json`.
pub(crate) fn to_json(report: &Report, info: Option<&MptcpInfo>) -> String {
    let mut out = String::new();
    let direction = match report.direction {
        Direction::Sent => "sent",
        Direction::Received => "received",
    };
    let sha: String = report.sha256.iter().map(|b| format!("{b:02x}")).collect();
    let _ = write!(
        out,
        "{{\"direction\":\"{direction}\",\"bytes\":{},\"sha256\":\"{sha}\",\"seconds\":{:.6},\
         \"mbps\":{:.3},\"mptcp\":{},\"fallback\":",
        report.bytes,
        report.elapsed.as_secs_f64(),
        report.mbit_per_s(),
        info.is_some_and(|i| i.mptcp),
    );
    match info.and_then(|i| i.fallback) {
        Some(reason) => {
            let _ = write!(out, "\"{reason:?}\"");
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"subflows\":[");
    for (k, s) in info.map_or(&[][..], |i| &i.subflows).iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let srtt = ms(s.srtt).map_or("null".to_owned(), |v| format!("{v:.3}"));
        let _ = write!(
            out,
            "{{\"local\":\"{}\",\"remote\":\"{}\",\"backup\":{},\"bytes_sent\":{},\
             \"bytes_received\":{},\"srtt_ms\":{srtt},\"cwnd\":{},\"retransmissions\":{}}}",
            s.tuple.local,
            s.tuple.remote,
            s.backup,
            s.bytes_sent,
            s.bytes_received,
            s.cwnd,
            s.retransmissions
        );
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Tally;

    #[test]
    fn json_of_a_plain_tcp_transfer() {
        let mut tally = Tally::default();
        tally.update(b"hello world");
        let report = tally.finish(Direction::Sent, Duration::from_millis(1500));
        assert_eq!(
            to_json(&report, None),
            "{\"direction\":\"sent\",\"bytes\":11,\"sha256\":\
             \"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9\",\
             \"seconds\":1.500000,\"mbps\":0.000,\"mptcp\":false,\"fallback\":null,\"subflows\":[]}"
        );
    }
}
