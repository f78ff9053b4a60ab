//! `responsiveness`: how fast an MPTCP connection settles after one of
//! its paths changes capacity, down and back up.
//!
//! ```text
//!  M 10.1.0.1 ══ path A: 20 → 5 → 20 Mbit/s, 19 ms, 1 BDP queue ══┐
//!                                                                  R ── S 10.9.0.1
//!  M 10.2.0.1 ══ path B: 10 Mbit/s,           19 ms, 1 BDP queue ══┘
//! ```
//!
//! Both paths have a 40 ms base RTT (the access link to S is 1 Gbit/s and
//! 1 ms). Path A runs at 20 Mbit/s, drops to 5 Mbit/s a third of the way
//! through the run and comes back at two thirds; its queue stays one base
//! RTT long at whatever rate (a buffer sized in time), so each phase is
//! the usual one-BDP setup and only the rate changes. Path B does not
//! change, and nothing else competes: each path's goodput settles at its
//! capacity, and what differs between controllers is how fast.
//!
//! Re-convergence after a change is measured on each path's goodput as the
//! sink receives it (its subflow's in-order bytes), as 1 s moving averages
//! taken at each 200 ms sample. The new *level* is their median over the
//! second half of the phase; a path has settled from the first instant
//! after which its moving average stays within 10 % of the level for 5 s
//! (or to the end of the phase, if sooner). Two allowances keep a
//! controller's steady state from counting as not settled: the band
//! widens to the 10th–90th percentiles of the second half where a deep
//! sawtooth swings wider than 10 %, and a regular loss dip more than 5 s
//! on is not held against it. The connection's time is the later of its
//! two paths' (infinite if a path never settles within the phase).

use std::time::Duration;

use umptcp_sim::{Direction, LinkConfig};
use umptcp_time::Instant;

use crate::Options;
use crate::error::ExperimentError;
use crate::experiments::{Measured, PathGoodput, SAMPLE, Windows, sample, seeded_offset};
use crate::net::{Net, TWO_PATHS, bdp, ip, link, tuple};
use crate::report::{Report, Series};

/// The experiment's name.
pub(crate) const NAME: &str = "responsiveness";

/// Path A's rate before and after the dip, and during it, Mbit/s.
const RATE_A: u64 = 20;
const LOW_A: u64 = 5;
/// Path B's rate, Mbit/s.
const RATE_B: u64 = 10;
/// Each path's bottleneck delay, one way, and base RTT.
const DELAY: Duration = Duration::from_millis(19);
const RTT: Duration = Duration::from_millis(40);
/// The default length of a run: three phases of 40 s.
const DURATION: Duration = Duration::from_secs(120);
/// Settled: every moving average of this length stays within this share
/// of the new level.
const WINDOW: Duration = Duration::from_secs(1);
const TOLERANCE: f64 = 0.10;
/// ... for this long (or until the phase ends).
const HOLD: Duration = Duration::from_secs(5);

/// A path's bottleneck at `mbit` Mbit/s, its queue one base RTT long.
fn path(mbit: u64) -> LinkConfig {
    link(mbit, DELAY, bdp(mbit, RTT))
}

pub(crate) fn run(options: &Options) -> Result<Report, ExperimentError> {
    let end = options.duration.unwrap_or(DURATION);
    // The changes fall on sample instants, so each sample is in one phase.
    let third = SAMPLE * ((end / 3).as_nanos() / SAMPLE.as_nanos()).max(1) as u32;
    let (down, up) = (third, third * 2);
    let mut net = Net::new(options.seed)?;
    let paths = net.two_paths(path(RATE_A), path(RATE_B), 4 << 20)?;
    let (m, s) = (paths.sender, paths.sink);
    for (at, mbit) in [(down, LOW_A), (up, RATE_A)] {
        for dir in Direction::BOTH {
            net.sim
                .schedule_link(Instant::ZERO + at, paths.links[0], dir, path(mbit))?;
        }
    }
    let [on_a, on_b, at_sink] = TWO_PATHS;
    // Nothing here is random: the seed moves the start by up to 200 ms,
    // so that seeds meet the changes at different points of the sawtooth.
    let start = Instant::ZERO + seeded_offset(options.seed, SAMPLE);
    net.sim.run_until(start);
    let flow = net.node_mut(m).bulk(
        start,
        tuple(on_a, 40000, at_sink),
        &[tuple(on_b, 40001, at_sink)],
        &options.cc,
        &options.registry,
    )?;

    let measured = [Measured {
        name: format!("MPTCP ({})", options.cc),
        sink: s,
        peer: ip(on_a),
    }];
    let windows = [Windows {
        name: "MPTCP".into(),
        node: m,
        flow,
    }];
    let mut per_path = [
        PathGoodput::new("path A", s, ip(on_a), ip(on_a)),
        PathGoodput::new("path B", s, ip(on_a), ip(on_b)),
    ];
    let mut sampled = sample(
        &mut net,
        &[m, s],
        &measured,
        &windows,
        Duration::ZERO,
        end,
        |net, t| {
            for p in &mut per_path {
                p.record(net, t, Duration::ZERO);
            }
        },
    )?;

    let secs = |d: Duration| d.as_secs_f64();
    let phases = [
        (Duration::ZERO, down),
        (down, up),
        (up, end.max(up + SAMPLE)),
    ];
    // The steady part of each phase: its second half.
    let steady = |series: &Series, (from, to): (Duration, Duration)| {
        series
            .mean(secs(from + (to - from) / 2) + 1e-9, secs(to) + 1e-9)
            .unwrap_or(0.0)
    };
    let total = &sampled.goodput[0];
    let [a, b] = [&per_path[0].series, &per_path[1].series];
    let settle = |phase| {
        let a = reconverge(a, phase, WINDOW, TOLERANCE, HOLD);
        let b = reconverge(b, phase, WINDOW, TOLERANCE, HOLD);
        (a.max(b), a, b)
    };
    let (down_s, down_a, down_b) = settle(phases[1]);
    let (up_s, up_a, up_b) = settle(phases[2]);

    let mut report = Report::new(NAME, &options.cc);
    report.notes.push(format!(
        "two disjoint paths, base RTT {} ms each, drop-tail queues one base RTT long; \
         path A {RATE_A} Mbit/s, {LOW_A} Mbit/s from {} s, {RATE_A} Mbit/s again from {} s; \
         path B {RATE_B} Mbit/s; one MPTCP connection ({}, a subflow per path), {} s",
        RTT.as_millis(),
        secs(down),
        secs(up),
        options.cc,
        secs(end)
    ));
    report.notes.push(format!(
        "reconverge_*_s: time after the change until every {} s moving average of each \
         path's goodput stays, for {} s or to the phase's end, within {:.0} % of its level \
         (the median over the phase's second half; the band widened to that half's 10th to \
         90th percentiles where a sawtooth swings wider); the later of the two paths, inf if never",
        secs(WINDOW),
        secs(HOLD),
        TOLERANCE * 100.0
    ));
    report.notes.push(format!(
        "expected: goodput follows capacity ({} → {} → {} Mbit/s, 95 % of it payload) and \
         path B, unchanged, does not move (0 s); after the drop, path A's overflowing queue \
         can cost a whole window (a timeout), which then climbs back from a few segments; \
         after the return the window grows to the new BDP at the controller's pace: about \
         a second for Reno and CUBIC, longer for the coupled increases (LIA's is at most \
         Reno's, RFC 6356 §3); where in its sawtooth a change catches the path matters too",
        RATE_A + RATE_B,
        LOW_A + RATE_B,
        RATE_A + RATE_B
    ));
    report.summary.push(("reconverge_down_s".into(), down_s));
    report.summary.push(("reconverge_up_s".into(), up_s));
    report
        .summary
        .push(("path_a_reconverge_down_s".into(), down_a));
    report.summary.push(("path_a_reconverge_up_s".into(), up_a));
    report
        .summary
        .push(("path_b_reconverge_down_s".into(), down_b));
    report.summary.push(("path_b_reconverge_up_s".into(), up_b));
    for (name, phase) in ["before", "during", "after"].into_iter().zip(phases) {
        report
            .summary
            .push((format!("mbps_{name}"), steady(total, phase)));
    }
    for (name, phase) in ["before", "during", "after"].into_iter().zip(phases) {
        report
            .summary
            .push((format!("path_a_mbps_{name}"), steady(a, phase)));
    }

    let mut capacity = Series::new("path A capacity", "Mbit/s");
    capacity.points = [(0.0, RATE_A), (secs(down), RATE_A), (secs(down), LOW_A)]
        .into_iter()
        .chain([(secs(up), LOW_A), (secs(up), RATE_A), (secs(end), RATE_A)])
        .map(|(t, r)| (t, r as f64))
        .collect();
    let mut goodput = vec![sampled.goodput.remove(0)];
    goodput.extend(per_path.map(|p| p.series));
    goodput.push(capacity);
    report.panels.push(("goodput".into(), goodput));
    report
        .panels
        .push(("congestion windows".into(), sampled.cwnd));
    Ok(report)
}

/// Seconds from the start of `phase` until `series` settles: the first
/// sample interval from which every moving average over `window` (one
/// per sample, while the window fits in the phase) stays in the band for
/// `hold`, or until the phase ends if that is sooner.
///
/// The steady state is the moving averages that start in the phase's
/// second half; the level is their median. The band is `tolerance` of
/// the level either side, widened to the 10th and 90th percentiles of
/// the steady state where it swings wider: a controller whose own
/// sawtooth dips deeper than the tolerance has settled once it swings as
/// it does in its steady state. Infinite if there is no such instant
/// (the phase ends out of the band, or holds no whole window).
fn reconverge(
    series: &Series,
    (from, to): (Duration, Duration),
    window: Duration,
    tolerance: f64,
    hold: Duration,
) -> f64 {
    let (from, to) = (from.as_secs_f64(), to.as_secs_f64());
    let per_sample =
        |d: Duration| ((d.as_secs_f64() / SAMPLE.as_secs_f64()).round() as usize).max(1);
    // A point at t is the goodput of (t - SAMPLE, t].
    let points: Vec<(f64, f64)> = series
        .points
        .iter()
        .copied()
        .filter(|(t, _)| *t > from + 1e-9 && *t <= to + 1e-9)
        .collect();
    let n = per_sample(window);
    if points.len() < n {
        return f64::INFINITY;
    }
    let averages: Vec<f64> = points
        .windows(n)
        .map(|w| w.iter().map(|(_, v)| v).sum::<f64>() / n as f64)
        .collect();
    let half = from + (to - from) / 2.0 + SAMPLE.as_secs_f64();
    let mut steady: Vec<f64> = averages
        .iter()
        .zip(&points)
        .filter(|(_, (t, _))| *t > half - 1e-9)
        .map(|(a, _)| *a)
        .collect();
    if steady.is_empty() {
        steady.extend(averages.last());
    }
    steady.sort_by(f64::total_cmp);
    let quantile = |q: f64| steady[((steady.len() - 1) as f64 * q).round() as usize];
    let level = quantile(0.5);
    let low = (level * (1.0 - tolerance)).min(quantile(0.1));
    let high = (level * (1.0 + tolerance)).max(quantile(0.9));
    let within: Vec<bool> = averages
        .iter()
        .map(|a| (low - 1e-9..=high + 1e-9).contains(a))
        .collect();
    let hold = per_sample(hold);
    (0..within.len())
        .find(|&k| within[k..within.len().min(k + hold + 1)].iter().all(|w| *w))
        .map_or(f64::INFINITY, |k| points[k].0 - SAMPLE.as_secs_f64() - from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn series(values: &[f64]) -> Series {
        let mut s = Series::new("x", "Mbit/s");
        s.points = values
            .iter()
            .enumerate()
            .map(|(i, v)| ((i + 1) as f64 * SAMPLE.as_secs_f64(), *v))
            .collect();
        s
    }

    #[test]
    fn settles_after_the_last_window_out_of_bounds() {
        // Phase (0, 4 s]: 20 samples, the level 5. The first three are
        // high, so the windows starting at samples 0 to 2 are out, the one
        // at sample 3 (0.6 s to 1.6 s) is in and all after it.
        let mut v = vec![20.0, 20.0, 8.0];
        v.extend([5.0; 17]);
        let phase = (Duration::ZERO, 4 * S);
        let t = reconverge(&series(&v), phase, S, 0.1, 5 * S);
        assert!((t - 0.6).abs() < 1e-9, "{t}");
        // Within bounds from the start: 0.
        let v = [5.0; 20];
        assert_eq!(reconverge(&series(&v), phase, S, 0.1, 5 * S), 0.0);
        // An excursion within the hold counts: settled only after it (the
        // windows starting at samples 2 to 6 hold it).
        let mut v = vec![5.0; 20];
        v[6] = 20.0;
        let t = reconverge(&series(&v), phase, S, 0.1, 5 * S);
        assert!((t - 1.4).abs() < 1e-9, "{t}");
        // Out of bounds in the last window (one of 16 in the steady half,
        // so not within its 10th to 90th percentiles), with a hold as
        // long as the phase: never settled.
        let mut v = vec![5.0; 40];
        v[39] = 20.0;
        let phase = (Duration::ZERO, 8 * S);
        assert_eq!(
            reconverge(&series(&v), phase, S, 0.1, 10 * S),
            f64::INFINITY
        );
        // The steady half's own swings widen the band: the same excursion
        // in a short phase, one window of 6 in the steady half, is part
        // of the steady state.
        let mut v = vec![5.0; 20];
        v[19] = 20.0;
        let phase = (Duration::ZERO, 4 * S);
        assert_eq!(reconverge(&series(&v), phase, S, 0.1, 5 * S), 0.0);
    }

    #[test]
    fn an_excursion_after_the_hold_is_the_steady_state() {
        // 20 s at 5, but a dip at 12 s: settled from the start for 5 s.
        let mut v = vec![5.0; 100];
        v[60] = 0.0;
        let phase = (Duration::ZERO, 20 * S);
        assert_eq!(reconverge(&series(&v), phase, S, 0.1, 5 * S), 0.0);
        // With a hold as long as the phase, the dip decides: the windows
        // starting at samples 56 to 60 hold it.
        let t = reconverge(&series(&v), phase, S, 0.1, 20 * S);
        assert!((t - 12.2).abs() < 1e-9, "{t}");
    }

    #[test]
    fn the_level_is_the_median_of_the_second_half() {
        // A second half at 5 with one deep dip: the level stays 5, so the
        // first half, at 5 too, is settled from the start.
        let mut v = vec![5.0; 40];
        v[30] = 0.0;
        let phase = (Duration::ZERO, 8 * S);
        assert_eq!(reconverge(&series(&v), phase, S, 0.1, S), 0.0);
    }

    #[test]
    fn only_the_phase_counts() {
        // The samples before 2 s (another phase) are ignored.
        let mut v = vec![50.0; 10];
        v.extend([5.0; 10]);
        let s = series(&v);
        let phase = (2 * S, 4 * S);
        assert_eq!(reconverge(&s, phase, S, 0.1, 5 * S), 0.0);
        // A phase shorter than a window has no answer.
        let phase = (2 * S, Duration::from_millis(2600));
        assert_eq!(reconverge(&s, phase, S, 0.1, 5 * S), f64::INFINITY);
    }
}
