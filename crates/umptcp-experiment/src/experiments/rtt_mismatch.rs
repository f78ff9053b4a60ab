//! `rtt-mismatch`: one MPTCP connection over a 10 ms and a 100 ms path,
//! once per scheduler (`minrtt`, `roundrobin`, `redundant`): what each
//! costs in head-of-line blocking at the receiver, and in goodput.
//!
//! ```text
//!  M 10.1.0.1 ══ path A: 10 Mbit/s,  4 ms, 1 BDP queue ══┐
//!                                                        R ── S 10.9.0.1
//!  M 10.2.0.1 ══ path B: 10 Mbit/s, 49 ms, 1 BDP queue ══┘
//! ```
//!
//! The access link to S is 1 Gbit/s and 1 ms, so path A has a 10 ms base
//! RTT and path B 100 ms. Both ends buffer what the MPTCP literature
//! recommends for these paths (below), so the receive window is as large
//! as the rule allows and no larger: data that waits for a slower path
//! fills it.
//!
//! The sink meters every data segment it receives ([`ReorderMeter`]): the
//! data sequence range its DSS mapping gives, and how long the range
//! waited for everything before it at the data level. A range that
//! arrives in order waited 0. The figures per scheduler are the goodput
//! and the mean and 99th percentile of that wait, over the ranges
//! received after the warm-up.
//!
//! [`ReorderMeter`]: crate::node::ReorderMeter

use std::time::Duration;

use crate::Options;
use crate::error::ExperimentError;
use crate::experiments::{Measured, PathGoodput, SAMPLE, sample, seeded_offset};
use crate::net::{Net, TWO_PATHS, bdp, ip, link, tuple};
use crate::report::{Report, Series};

/// The experiment's name.
pub(crate) const NAME: &str = "rtt-mismatch";

/// The schedulers compared, in the order they run.
pub(crate) const SCHEDULERS: [&str; 3] = ["minrtt", "roundrobin", "redundant"];

/// Each path's rate, Mbit/s.
const RATE: u64 = 10;
/// Path A: one-way delay of its bottleneck, base RTT.
const DELAY_A: Duration = Duration::from_millis(4);
const RTT_A: Duration = Duration::from_millis(10);
/// Path B: ten times the RTT.
const DELAY_B: Duration = Duration::from_millis(49);
const RTT_B: Duration = Duration::from_millis(100);
/// The default length of each scheduler's run, and the warm-up not
/// counted in the figures.
const DURATION: Duration = Duration::from_secs(60);
const WARM_UP: Duration = Duration::from_secs(5);

/// The connection-level buffers for these paths.
///
/// RFC 8684 §3.3.4 brackets it: "The lower bound for full network
/// utilization is the maximum bandwidth-delay product of any one of the
/// paths. However, this might be insufficient when a packet is lost on a
/// slower subflow and needs to be retransmitted. A tight upper bound would
/// be the maximum round-trip time (RTT) of any path multiplied by the
/// total bandwidth available across all paths. This permits all subflows
/// to continue at full speed while a packet is fast-retransmitted on the
/// maximum RTT path." RFC 6182 §5.3 doubles it, as single-path TCP's
/// 2 × BDP does: "the RECOMMENDED receive buffer is
/// 2*sum(BW_i)*RTT_max", and RFC 8684 §3.3.5: "The send buffer MUST, at a
/// minimum, be as big as the receive buffer". Both ends get
/// 2 × (10 + 10) Mbit/s × 100 ms = 500 kB each way.
fn buffer() -> usize {
    2 * bdp(2 * RATE, RTT_B)
}

/// What one scheduler's run measured.
struct Run {
    scheduler: &'static str,
    /// Connection goodput over time.
    goodput: Series,
    /// Per-path goodput over time, A then B.
    paths: [Series; 2],
    /// Mean reordering delay of the ranges received in each sample, ms.
    delay: Series,
    mbps: f64,
    mean_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    delayed_share: f64,
    copies_share: f64,
    /// Data segments the meter could not place (none expected).
    unmapped: u64,
}

pub(crate) fn run(options: &Options) -> Result<Report, ExperimentError> {
    let end = options.duration.unwrap_or(DURATION);
    let warm_up = WARM_UP.min(end / 4);
    let runs = SCHEDULERS
        .iter()
        .map(|s| run_one(options, s, end, warm_up))
        .collect::<Result<Vec<_>, _>>()?;

    let mut report = Report::new(NAME, &options.cc);
    report.notes.push(format!(
        "two disjoint {RATE} Mbit/s paths, base RTT {} ms and {} ms, drop-tail queues of \
         one BDP; one MPTCP connection ({}, a subflow per path), run once per scheduler \
         for {} s each, counted after {} s",
        RTT_A.as_millis(),
        RTT_B.as_millis(),
        options.cc,
        end.as_secs(),
        warm_up.as_secs()
    ));
    report.notes.push(format!(
        "buffers {} kB each way: 2 x sum of the path rates x the largest RTT \
         (RFC 6182 §5.3; RFC 8684 §3.3.4 calls the undoubled product the tight upper bound)",
        buffer() / 1000
    ));
    report.notes.push(
        "reorder delay: per data segment at the sink, from its arrival until all data \
         before it (by its DSS mapping) had arrived; 0 for one in order; delayed_share: \
         the segments that waited at all; copies_share: arrivals whose data had already \
         come (not counted)"
            .into(),
    );
    report.notes.push(
        "expected: a bulk sender keeps both windows full, so whichever subflow has room \
         takes the next chunk and minrtt and roundrobin come out alike: about two paths' \
         goodput, and the fast path's data waits for the slow path's (45 ms more one way, \
         plus its queue), about half the segments; redundant waits least (the fast copy \
         wins, the slow one is a copy) but carries one path's worth"
            .into(),
    );
    report
        .summary
        .push(("recv_buffer_kb".into(), buffer() as f64 / 1000.0));
    for r in &runs {
        let s = r.scheduler;
        report.summary.push((format!("{s}_mbps"), r.mbps));
        report
            .summary
            .push((format!("{s}_reorder_mean_ms"), r.mean_ms));
        report
            .summary
            .push((format!("{s}_reorder_p99_ms"), r.p99_ms));
        report
            .summary
            .push((format!("{s}_reorder_max_ms"), r.max_ms));
        report
            .summary
            .push((format!("{s}_delayed_share"), r.delayed_share));
        report
            .summary
            .push((format!("{s}_copies_share"), r.copies_share));
        if r.unmapped > 0 {
            report.notes.push(format!(
                "{s}: {} data segments could not be placed in the data sequence space \
                 and are not counted",
                r.unmapped
            ));
        }
    }
    let mut goodput = Vec::new();
    let mut paths = Vec::new();
    let mut delay = Vec::new();
    for r in runs {
        goodput.push(r.goodput);
        paths.extend(r.paths);
        delay.push(r.delay);
    }
    report.panels.push(("goodput".into(), goodput));
    report.panels.push(("path goodput".into(), paths));
    report.panels.push(("reordering delay".into(), delay));
    Ok(report)
}

/// One run with `scheduler`.
fn run_one(
    options: &Options,
    scheduler: &'static str,
    end: Duration,
    warm_up: Duration,
) -> Result<Run, ExperimentError> {
    let mut net = Net::new(options.seed)?;
    let buffer = buffer();
    let paths = net.two_paths(
        link(RATE, DELAY_A, bdp(RATE, RTT_A)),
        link(RATE, DELAY_B, bdp(RATE, RTT_B)),
        buffer,
    )?;
    let (m, s) = (paths.sender, paths.sink);
    let [on_a, on_b, at_sink] = TWO_PATHS;
    // The receive window bounds the data out of order at once; ranges are
    // rarely under 256 bytes (a segment is about 1400).
    net.node_mut(s).meter_reorder(buffer / 256);
    // Nothing here is random: the seed moves the start by up to 200 ms
    // (the same for every scheduler).
    let start = umptcp_time::Instant::ZERO + seeded_offset(options.seed, SAMPLE);
    net.sim.run_until(start);
    net.node_mut(m).bulk_with_scheduler(
        start,
        tuple(on_a, 40000, at_sink),
        &[tuple(on_b, 40001, at_sink)],
        &options.cc,
        &options.registry,
        scheduler,
    )?;

    let measured = [Measured {
        name: scheduler.into(),
        sink: s,
        peer: ip(on_a),
    }];
    let mut path_goodput = [
        PathGoodput::new(
            format!("{scheduler} {} ms", RTT_A.as_millis()),
            s,
            ip(on_a),
            ip(on_a),
        ),
        PathGoodput::new(
            format!("{scheduler} {} ms", RTT_B.as_millis()),
            s,
            ip(on_a),
            ip(on_b),
        ),
    ];
    let mut delay = Series::new(scheduler, "ms");
    let mut last = (0u64, 0u128);
    let mut counting = false;
    let mut sampled = sample(&mut net, &[m, s], &measured, &[], warm_up, end, |net, t| {
        for p in &mut path_goodput {
            p.record(net, t, warm_up);
        }
        let Some(meter) = net.node_mut(s).reorder_mut() else {
            return;
        };
        if !counting && t >= warm_up {
            // The figures count from the warm-up on; the time series
            // shows the start too.
            meter.reset_stats();
            counting = true;
            last = (0, 0);
        }
        let (n, sum_us) = meter.totals();
        if n > last.0 {
            let mean_ms = (sum_us - last.1) as f64 / (n - last.0) as f64 / 1000.0;
            delay.points.push((t.as_secs_f64(), mean_ms));
        }
        last = (n, sum_us);
    })?;

    let meter = net
        .node_ref(s)
        .reorder()
        .ok_or_else(|| ExperimentError::Setup("the sink's meter is gone".into()))?;
    if meter.saturated() {
        return Err(ExperimentError::Failed(format!(
            "{scheduler}: more data out of order than the reorder meter holds"
        )));
    }
    // The meter's in-order point runs ahead of what the sink read by at
    // most the data waiting in the receive buffer; more, and it lost track.
    let read = net.node_ref(s).received_from(ip(on_a));
    let ahead = meter.in_order_bytes().wrapping_sub(read);
    if ahead > buffer as u64 {
        return Err(ExperimentError::Failed(format!(
            "{scheduler}: the reorder meter saw {} bytes in order, the sink read {read}",
            meter.in_order_bytes()
        )));
    }
    let counted = (sampled.bytes[0] - sampled.bytes_at[0]) as f64;
    let seconds = (end - warm_up).as_secs_f64().max(SAMPLE.as_secs_f64());
    Ok(Run {
        scheduler,
        goodput: sampled.goodput.remove(0),
        paths: path_goodput.map(|p| p.series),
        delay,
        mbps: counted * 8.0 / seconds / 1e6,
        mean_ms: meter.mean_ms(),
        p99_ms: meter.percentile_ms(0.99),
        max_ms: meter.max_ms(),
        delayed_share: meter.delayed() as f64 / meter.samples().max(1) as f64,
        copies_share: meter.duplicates() as f64
            / (meter.samples() + meter.duplicates()).max(1) as f64,
        unmapped: meter.unmapped(),
    })
}
