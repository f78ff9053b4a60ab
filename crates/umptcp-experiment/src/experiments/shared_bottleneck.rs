//! `shared-bottleneck`: one MPTCP connection with two subflows and one
//! single-path flow through the same bottleneck (RFC 6356 §3, goal 2: "do
//! no harm" to a single-path flow sharing it).
//!
//! ```text
//!  M 10.1.0.1 ─┐
//!  M 10.2.0.1 ─┤ R1 ══ 20 Mbit/s, 18 ms, 1 BDP queue ══ R2 ── S 10.9.0.1
//!  T 10.3.0.1 ─┘
//! ```
//!
//! Access links are 1 Gbit/s and 1 ms, so every flow has a 40 ms base RTT
//! and the one bottleneck. M's connection has a subflow from each of its
//! addresses; T's has one subflow. The figure is MPTCP's share of what
//! the sink received after the warm-up: a coupled controller should take
//! about half (as much as T), an uncoupled one about two thirds (as much
//! as two single-path flows).

use std::time::Duration;

use crate::Options;
use crate::error::ExperimentError;
use crate::experiments::{Measured, Windows, sample};
use crate::net::{Net, access, bdp, ip, link, tuple};
use crate::report::Report;

/// The experiment's name.
pub(crate) const NAME: &str = "shared-bottleneck";

/// The bottleneck's rate, Mbit/s.
const RATE: u64 = 20;
/// The bottleneck's one-way delay.
const DELAY: Duration = Duration::from_millis(18);
/// The base RTT of every flow: twice (bottleneck + two access links).
const RTT: Duration = Duration::from_millis(40);
/// The default length of a run, and the warm-up not counted in the share.
const DURATION: Duration = Duration::from_secs(120);
const WARM_UP: Duration = Duration::from_secs(10);

/// When the single-path flow starts: 0 to 199 ms, from the seed.
fn start_offset(seed: u64) -> Duration {
    // A multiplicative hash spreads consecutive seeds over the range.
    let spread = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    Duration::from_millis(spread % 200)
}

pub(crate) fn run(options: &Options) -> Result<Report, ExperimentError> {
    let end = options.duration.unwrap_or(DURATION);
    let warm_up = WARM_UP.min(end / 4);
    let mut net = Net::new(options.seed)?;
    let buffer = 4 << 20;
    let (m, m_if) = net.node(&["10.1.0.1", "10.2.0.1"], buffer)?;
    let (t, t_if) = net.node(&["10.3.0.1"], buffer)?;
    let (s, s_if) = net.node(&["10.9.0.1"], buffer)?;
    let (r1, r1_if) = net.router(
        4,
        &[
            ("10.9.0.0", 16, 3),
            ("10.1.0.0", 16, 0),
            ("10.2.0.0", 16, 1),
            ("10.3.0.0", 16, 2),
        ],
    )?;
    let (r2, r2_if) = net.router(2, &[("10.9.0.0", 16, 1), ("0.0.0.0", 0, 0)])?;
    net.connect((m, m_if[0]), (r1, r1_if[0]), access())?;
    net.connect((m, m_if[1]), (r1, r1_if[1]), access())?;
    net.connect((t, t_if[0]), (r1, r1_if[2]), access())?;
    net.connect(
        (r1, r1_if[3]),
        (r2, r2_if[0]),
        link(RATE, DELAY, bdp(RATE, RTT)),
    )?;
    net.connect((r2, r2_if[1]), (s, s_if[0]), access())?;

    net.node_mut(s)
        .listen("10.9.0.1:80".parse().expect("constant"));
    let now = umptcp_time::Instant::ZERO;
    let mptcp = net.node_mut(m).bulk(
        now,
        tuple("10.1.0.1", 40000, "10.9.0.1"),
        &[tuple("10.2.0.1", 40001, "10.9.0.1")],
        &options.cc,
        &options.registry,
    )?;
    // The single-path flow starts a little later, by an amount the seed
    // picks: the one thing that differs between seeds here (the links
    // lose nothing at random), so seeds sample different loss patterns.
    let offset = start_offset(options.seed);
    net.sim.run_until(now + offset);
    let competitor = options.competitor();
    let single = net.node_mut(t).bulk(
        now + offset,
        tuple("10.3.0.1", 40000, "10.9.0.1"),
        &[],
        &competitor,
        &options.registry,
    )?;

    let measured = [
        Measured {
            name: format!("MPTCP ({})", options.cc),
            sink: s,
            peer: ip("10.1.0.1"),
        },
        Measured {
            name: format!("TCP ({competitor})"),
            sink: s,
            peer: ip("10.3.0.1"),
        },
    ];
    let windows = [
        Windows {
            name: "MPTCP".into(),
            node: m,
            flow: mptcp,
        },
        Windows {
            name: "TCP".into(),
            node: t,
            flow: single,
        },
    ];
    let sampled = sample(
        &mut net,
        &[m, t, s],
        &measured,
        &windows,
        warm_up,
        end,
        |_, _| {},
    )?;

    let counted = |i: usize| (sampled.bytes[i] - sampled.bytes_at[i]) as f64;
    let (mptcp_bytes, tcp_bytes) = (counted(0), counted(1));
    let seconds = (end - warm_up).as_secs_f64();
    let mut report = Report::new(NAME, &options.cc);
    report.notes.push(format!(
        "one {RATE} Mbit/s bottleneck, base RTT {} ms, a drop-tail queue of one BDP; \
         MPTCP ({}, 2 subflows) against one {} flow, counted after {} s of {} s",
        RTT.as_millis(),
        options.cc,
        competitor,
        warm_up.as_secs(),
        end.as_secs()
    ));
    report.notes.push(
        "expected mptcp_share: about 0.5 when coupled (LIA, OLIA, BALIA), about 0.67 uncoupled"
            .into(),
    );
    let share = mptcp_bytes / (mptcp_bytes + tcp_bytes).max(1.0);
    report.summary.push(("mptcp_share".into(), share));
    report
        .summary
        .push(("mptcp_mbps".into(), mptcp_bytes * 8.0 / seconds / 1e6));
    report
        .summary
        .push(("tcp_mbps".into(), tcp_bytes * 8.0 / seconds / 1e6));
    report.summary.push((
        "utilization".into(),
        (mptcp_bytes + tcp_bytes) * 8.0 / seconds / 1e6 / RATE as f64,
    ));
    // Losses seen by each flow: retransmitted segments per 1000 sent
    // (bytes sent over the subflows' MSS), from the start.
    for (name, node, flow) in [("mptcp", m, mptcp), ("tcp", t, single)] {
        let subflows = net.node_mut(node).subflows(flow);
        let rtx: u64 = subflows.iter().map(|s| s.retransmissions).sum();
        let sent: u64 = subflows.iter().map(|s| s.bytes_sent).sum();
        let per_mille = rtx as f64 * 1000.0 / (sent as f64 / 1424.0).max(1.0);
        report
            .summary
            .push((format!("{name}_retransmissions_per_1000"), per_mille));
    }
    report.panels.push(("goodput".into(), sampled.goodput));
    report
        .panels
        .push(("congestion windows".into(), sampled.cwnd));
    Ok(report)
}
