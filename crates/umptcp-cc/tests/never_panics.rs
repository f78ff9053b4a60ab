//! Property: any sequence of events on 1–4 paths, with any byte counts,
//! RTTs and instants (out of order included), never panics and keeps every
//! window within its bounds, for every built-in algorithm.

use core::time::Duration;

use proptest::prelude::*;
use umptcp_cc::{CcConfig, CongestionControl, CongestionEvent, PathId, PathInfo, Registry};
use umptcp_time::Instant;

#[derive(Clone, Debug)]
enum Op {
    Event {
        path: u32,
        event: CongestionEvent,
    },
    Remove(u32),
    Readd(u32),
    SetRtt {
        path: u32,
        srtt: Option<Duration>,
        min_rtt: Option<Duration>,
    },
}

fn bytes() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        0u64..=1 << 40,
        0u64..=100_000,
        Just(1u64 << 40),
        Just(u64::MAX),
    ]
}

fn instant() -> impl Strategy<Value = Instant> {
    prop_oneof![
        Just(Instant::ZERO),
        Just(Instant::MAX),
        (0u64..=100_000_000_000).prop_map(Instant::from_nanos),
        any::<u64>().prop_map(Instant::from_nanos),
    ]
}

fn rtt() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        Just(Some(Duration::ZERO)),
        Just(Some(Duration::MAX)),
        (0u64..=2_000_000_000).prop_map(|n| Some(Duration::from_nanos(n))),
        any::<u64>().prop_map(|n| Some(Duration::from_nanos(n))),
    ]
}

fn event() -> impl Strategy<Value = CongestionEvent> {
    prop_oneof![
        4 => (instant(), bytes(), rtt(), any::<bool>(), any::<bool>()).prop_map(
            |(now, bytes_acked, rtt, app_limited, in_recovery)| CongestionEvent::Ack {
                now,
                bytes_acked,
                rtt,
                app_limited,
                in_recovery,
            }
        ),
        1 => (instant(), bytes()).prop_map(|(now, bytes_in_flight)| {
            CongestionEvent::FastRetransmit { now, bytes_in_flight }
        }),
        1 => instant().prop_map(|now| CongestionEvent::RecoveryExit { now }),
        1 => (instant(), bytes()).prop_map(|(now, bytes_in_flight)| {
            CongestionEvent::RetransmissionTimeout { now, bytes_in_flight }
        }),
        1 => (instant(), bytes()).prop_map(|(now, bytes_in_flight)| {
            CongestionEvent::Ecn { now, bytes_in_flight }
        }),
        1 => instant().prop_map(|now| CongestionEvent::SpuriousUndo { now }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => (0u32..5, event()).prop_map(|(path, event)| Op::Event { path, event }),
        1 => (0u32..5).prop_map(Op::Remove),
        1 => (0u32..5).prop_map(Op::Readd),
        2 => (0u32..5, rtt(), rtt()).prop_map(|(path, srtt, min_rtt)| Op::SetRtt { path, srtt, min_rtt }),
    ]
}

fn config() -> impl Strategy<Value = CcConfig> {
    (
        prop_oneof![Just(10u32), 0u32..=100, Just(u32::MAX)],
        prop_oneof![Just(2u32), 0u32..=10, Just(u32::MAX)],
        prop_oneof![Just(1u64 << 30), Just(0u64), 1u64..=1 << 20, Just(u64::MAX)],
    )
        .prop_map(|(iw, min, max)| {
            let mut c = CcConfig::default();
            c.initial_window_segments = iw;
            c.minimum_window_segments = min;
            c.maximum_window = max;
            c
        })
}

fn mss() -> impl Strategy<Value = u32> {
    prop_oneof![Just(1460u32), Just(0u32), 1u32..=9000, Just(u32::MAX)]
}

/// Check every live path: loss window (1 MSS) <= cwnd <= maximum_window,
/// and minimum window <= ssthresh <= maximum_window (all capped at the
/// maximum, which wins when it is below one segment).
fn check(cc: &dyn CongestionControl, config: &CcConfig, live: &[PathInfo]) {
    let max = config.maximum_window;
    for p in live {
        let mss = u64::from(p.mss.max(1));
        let loss_window = mss.min(max);
        let minimum = (u64::from(config.minimum_window_segments.max(1)) * mss).min(max);
        let w = cc.window(p.id);
        assert!(
            (loss_window..=max).contains(&w),
            "{}: window {w} of {:?} outside [{loss_window}, {max}]",
            cc.name(),
            p.id
        );
        if let Some(s) = cc.ssthresh(p.id) {
            assert!(
                (minimum..=max).contains(&s),
                "{}: ssthresh {s} of {:?} outside [{minimum}, {max}]",
                cc.name(),
                p.id
            );
        }
    }
}

fn run(name: &str, config: &CcConfig, msses: &[u32], ops: &[Op]) {
    let mut cc = Registry::with_builtins()
        .build(name, config)
        .expect("built-in algorithm");
    let mut live: Vec<PathInfo> = msses
        .iter()
        .enumerate()
        .map(|(i, &mss)| PathInfo::new(PathId(i as u32), mss))
        .collect();
    let all = live.clone();
    for p in &live {
        cc.add_path(p, Instant::ZERO);
    }
    check(cc.as_ref(), config, &live);
    for op in ops {
        match op {
            Op::Event { path, event } => cc.on_event(PathId(*path), event, &live),
            Op::Remove(path) => {
                live.retain(|p| p.id != PathId(*path));
                cc.remove_path(PathId(*path));
            }
            Op::Readd(path) => {
                if let Some(p) = all.iter().find(|p| p.id == PathId(*path)) {
                    if !live.iter().any(|l| l.id == p.id) {
                        live.push(*p);
                        cc.add_path(p, Instant::ZERO);
                    }
                }
            }
            Op::SetRtt {
                path,
                srtt,
                min_rtt,
            } => {
                if let Some(p) = live.iter_mut().find(|p| p.id == PathId(*path)) {
                    p.smoothed_rtt = *srtt;
                    p.min_rtt = *min_rtt;
                    p.latest_rtt = *srtt;
                }
            }
        }
        check(cc.as_ref(), config, &live);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn reno_never_panics_and_stays_in_bounds(
        config in config(),
        msses in prop::collection::vec(mss(), 1..=4),
        ops in prop::collection::vec(op(), 0..200),
    ) {
        run("reno", &config, &msses, &ops);
    }

    #[test]
    fn cubic_never_panics_and_stays_in_bounds(
        config in config(),
        msses in prop::collection::vec(mss(), 1..=4),
        ops in prop::collection::vec(op(), 0..200),
    ) {
        run("cubic", &config, &msses, &ops);
    }
}

/// A long, realistic run: CUBIC in congestion avoidance for an hour of
/// simulated time with periodic losses stays finite and bounded.
#[test]
fn cubic_long_run_stays_bounded() {
    let config = CcConfig::default();
    let mut path = PathInfo::new(PathId(0), 1448);
    path.smoothed_rtt = Some(Duration::from_millis(50));
    path.min_rtt = Some(Duration::from_millis(40));
    let paths = [path];
    let mut cc = Registry::with_builtins().build("cubic", &config).unwrap();
    cc.add_path(&path, Instant::ZERO);
    let mut now = Instant::ZERO;
    for round in 0..72_000u64 {
        now += Duration::from_millis(50);
        let window = cc.window(PathId(0));
        let event = if round % 1000 == 999 {
            CongestionEvent::FastRetransmit {
                now,
                bytes_in_flight: window,
            }
        } else {
            CongestionEvent::Ack {
                now,
                bytes_acked: window,
                rtt: Some(Duration::from_millis(50)),
                app_limited: false,
                in_recovery: false,
            }
        };
        cc.on_event(PathId(0), &event, &paths);
        check(cc.as_ref(), &config, &paths);
    }
}
