//! `disjoint`: one MPTCP connection over two paths that share nothing,
//! each its own bottleneck, with no other traffic (RFC 6356 §2, goal 1).
//!
//! ```text
//!  M 10.1.0.1 ══ path A: 20 Mbit/s, 19 ms, 1 BDP queue ══┐
//!                                                         R ── S 10.9.0.1
//!  M 10.2.0.1 ══ path B: 10 Mbit/s, 39 ms, 1 BDP queue ══┘
//! ```
//!
//! The access link to S is 1 Gbit/s and 1 ms, so path A has a 40 ms base
//! RTT and path B 80 ms; the bottleneck of each path is its first link,
//! whose drop-tail queue holds one bandwidth-delay product. M's
//! connection has a subflow from each of its addresses.
//!
//! RFC 6356 §2, goal 1: "A multipath flow should perform at least as well
//! as a single path flow would on the best of the paths available to it."
//! Here nothing else competes, so each path's losses are the connection's
//! own: a coupled controller gives up nothing by filling both, and should
//! take close to the sum of the two rates, like an uncoupled one. A
//! controller that left the slow, long path B idle would still meet the
//! letter of goal 1 (path A alone) but waste a third of the capacity;
//! `path_b_utilization` shows it.

use std::time::Duration;

use crate::Options;
use crate::error::ExperimentError;
use crate::experiments::{Measured, PathGoodput, Windows, sample};
use crate::net::{Net, TWO_PATHS, TwoPaths, bdp, ip, link, tuple};
use crate::report::Report;

/// The experiment's name.
pub(crate) const NAME: &str = "disjoint";

/// Path A: rate (Mbit/s), one-way delay of its bottleneck, base RTT.
const RATE_A: u64 = 20;
const DELAY_A: Duration = Duration::from_millis(19);
const RTT_A: Duration = Duration::from_millis(40);
/// Path B: half the rate, twice the RTT.
const RATE_B: u64 = 10;
const DELAY_B: Duration = Duration::from_millis(39);
const RTT_B: Duration = Duration::from_millis(80);
/// The default length of a run, and the warm-up not counted in the
/// figures: slow start and the first losses on each path.
const DURATION: Duration = Duration::from_secs(60);
const WARM_UP: Duration = Duration::from_secs(10);

pub(crate) fn run(options: &Options) -> Result<Report, ExperimentError> {
    let end = options.duration.unwrap_or(DURATION);
    let warm_up = WARM_UP.min(end / 4);
    let mut net = Net::new(options.seed)?;
    // Each path's bottleneck is the link from M's interface: its queue is
    // the one the subflow fills, and nothing else uses it.
    let TwoPaths {
        sender: m, sink: s, ..
    } = net.two_paths(
        link(RATE_A, DELAY_A, bdp(RATE_A, RTT_A)),
        link(RATE_B, DELAY_B, bdp(RATE_B, RTT_B)),
        4 << 20,
    )?;
    let [on_a, on_b, at_sink] = TWO_PATHS;
    let mptcp = net.node_mut(m).bulk(
        umptcp_time::Instant::ZERO,
        tuple(on_a, 40000, at_sink),
        &[tuple(on_b, 40001, at_sink)],
        &options.cc,
        &options.registry,
    )?;

    let peer = ip(on_a);
    let measured = [Measured {
        name: format!("MPTCP ({})", options.cc),
        sink: s,
        peer,
    }];
    let windows = [Windows {
        name: "MPTCP".into(),
        node: m,
        flow: mptcp,
    }];
    let mut paths = [
        PathGoodput::new(
            format!("path A ({RATE_A} Mbit/s, {} ms)", RTT_A.as_millis()),
            s,
            peer,
            ip(on_a),
        ),
        PathGoodput::new(
            format!("path B ({RATE_B} Mbit/s, {} ms)", RTT_B.as_millis()),
            s,
            peer,
            ip(on_b),
        ),
    ];
    let mut sampled = sample(
        &mut net,
        &[m, s],
        &measured,
        &windows,
        warm_up,
        end,
        |net, t| {
            for p in &mut paths {
                p.record(net, t, warm_up);
            }
        },
    )?;

    let seconds = (end - warm_up).as_secs_f64();
    let mbps = |bytes: u64| bytes as f64 * 8.0 / seconds / 1e6;
    let goodput = mbps(sampled.bytes[0] - sampled.bytes_at[0]);
    let [a, b] = &paths;
    let (path_a, path_b) = (mbps(a.bytes - a.bytes_at), mbps(b.bytes - b.bytes_at));
    let capacity = (RATE_A + RATE_B) as f64;

    let mut report = Report::new(NAME, &options.cc);
    report.notes.push(format!(
        "two disjoint paths, A {RATE_A} Mbit/s with a {} ms base RTT and B {RATE_B} Mbit/s \
         with {} ms, each a drop-tail queue of one BDP and no other traffic; one MPTCP \
         connection ({}) with a subflow on each, counted after {} s of {} s",
        RTT_A.as_millis(),
        RTT_B.as_millis(),
        options.cc,
        warm_up.as_secs(),
        end.as_secs()
    ));
    report.notes.push(
        "expected utilization (payload over link rate, so headers cap it near 0.95): \
         close to the cap for every controller, coupled or not (RFC 6356 goal 1: \
         nothing competes, so filling both paths costs no one anything)"
            .into(),
    );
    report.summary.push(("goodput_mbps".into(), goodput));
    report.summary.push(("capacity_mbps".into(), capacity));
    report
        .summary
        .push(("utilization".into(), goodput / capacity));
    report.summary.push(("path_a_mbps".into(), path_a));
    report.summary.push(("path_b_mbps".into(), path_b));
    report
        .summary
        .push(("path_a_utilization".into(), path_a / RATE_A as f64));
    report
        .summary
        .push(("path_b_utilization".into(), path_b / RATE_B as f64));
    let [a, b] = paths;
    sampled.goodput.extend([a.series, b.series]);
    report.panels.push(("goodput".into(), sampled.goodput));
    report
        .panels
        .push(("congestion windows".into(), sampled.cwnd));
    Ok(report)
}
