//! Transfers of 10 MB through the deterministic simulator (100 Mbit/s,
//! 10 ms each way, a one-BDP drop-tail queue) under loss, bursty loss,
//! reordering, duplication and corruption, with NewReno and CUBIC; then a
//! property test over random seeds and impairments. Every byte must arrive
//! exact and both sides must close, within a bound on virtual time.
//! Goodput is printed (`cargo test -- --nocapture`), not asserted.

mod sim;

use std::time::Duration;

use proptest::prelude::*;
use sim::{Cc, Impairments, Scenario, run};

const TEN_MB: u64 = 10_000_000;

fn report(name: &str, scenario: &Scenario) -> sim::Outcome {
    let outcome = run(scenario);
    println!(
        "{name}: {:?} {} bytes done at {:?}, closed at {:?}, goodput {:.1} Mbit/s, {} retransmissions, {} packets failed the checksum",
        scenario.cc,
        scenario.bytes,
        outcome.done,
        outcome.closed,
        outcome.goodput_mbit,
        outcome.retransmissions,
        outcome.bad_packets,
    );
    outcome
}

fn both_ways(imp: Impairments, mut scenario: Scenario) -> Scenario {
    scenario.forward = imp.clone();
    scenario.reverse = imp;
    scenario
}

#[test]
fn ten_mb_no_loss_newreno() {
    // Slow start overshoots the one-BDP queue: the drop-tail losses are
    // recovered by NewReno without SACK, one hole per RTT.
    let s = Scenario::new(1, TEN_MB);
    report("no loss", &s);
}

#[test]
fn ten_mb_deep_queue_is_window_limited_and_lossless() {
    // A queue deeper than the 1 MiB receive window can never overflow, so
    // nothing may be retransmitted and the transfer runs at line rate.
    let mut s = Scenario::new(11, TEN_MB);
    s.queue = Some(2 << 20);
    let o = report("deep queue", &s);
    assert_eq!(o.retransmissions, 0);
    // 10 MB at 100 Mbit/s is 0.8 s; a generous bound.
    assert!(o.done.saturating_duration_since(umptcp_time::Instant::ZERO) < Duration::from_secs(3));
}

#[test]
fn ten_mb_no_loss_cubic() {
    let mut s = Scenario::new(2, TEN_MB);
    s.cc = Cc::Cubic;
    report("no loss", &s);
}

#[test]
fn ten_mb_one_percent_loss_newreno() {
    let imp = Impairments {
        loss: 0.01,
        ..Impairments::NONE
    };
    report("1% loss", &both_ways(imp, Scenario::new(3, TEN_MB)));
}

#[test]
fn ten_mb_one_percent_loss_cubic() {
    let imp = Impairments {
        loss: 0.01,
        ..Impairments::NONE
    };
    let mut s = both_ways(imp, Scenario::new(4, TEN_MB));
    s.cc = Cc::Cubic;
    report("1% loss", &s);
}

#[test]
fn ten_mb_five_percent_loss_newreno() {
    let imp = Impairments {
        loss: 0.05,
        ..Impairments::NONE
    };
    report("5% loss", &both_ways(imp, Scenario::new(5, TEN_MB)));
}

#[test]
fn ten_mb_gilbert_elliott_newreno() {
    // Bursts of 4 packets on average, 1% of packets lost in the long run.
    let imp = Impairments {
        burst: Some((0.0025, 0.25)),
        ..Impairments::NONE
    };
    report("Gilbert-Elliott", &both_ways(imp, Scenario::new(6, TEN_MB)));
}

#[test]
fn ten_mb_gilbert_elliott_cubic() {
    let imp = Impairments {
        burst: Some((0.0025, 0.25)),
        ..Impairments::NONE
    };
    let mut s = both_ways(imp, Scenario::new(7, TEN_MB));
    s.cc = Cc::Cubic;
    report("Gilbert-Elliott", &s);
}

#[test]
fn ten_mb_five_percent_loss_cubic() {
    let imp = Impairments {
        loss: 0.05,
        ..Impairments::NONE
    };
    let mut s = both_ways(imp, Scenario::new(12, TEN_MB));
    s.cc = Cc::Cubic;
    report("5% loss", &s);
}

#[test]
fn ten_mb_reordering_cubic() {
    let imp = Impairments {
        reorder: Some((0.02, Duration::from_millis(3))),
        ..Impairments::NONE
    };
    let mut s = both_ways(imp, Scenario::new(13, TEN_MB));
    s.cc = Cc::Cubic;
    report("reordering", &s);
}

#[test]
fn ten_mb_duplication_cubic() {
    let imp = Impairments {
        duplicate: 0.02,
        ..Impairments::NONE
    };
    let mut s = both_ways(imp, Scenario::new(14, TEN_MB));
    s.cc = Cc::Cubic;
    report("duplication", &s);
}

#[test]
fn ten_mb_corruption_cubic() {
    let imp = Impairments {
        corrupt: 0.01,
        ..Impairments::NONE
    };
    let mut s = both_ways(imp, Scenario::new(15, TEN_MB));
    s.cc = Cc::Cubic;
    let o = report("corruption", &s);
    assert!(o.bad_packets > 0, "no corrupted packet was caught");
}

#[test]
fn ten_mb_reordering_newreno() {
    let imp = Impairments {
        reorder: Some((0.02, Duration::from_millis(3))),
        ..Impairments::NONE
    };
    report("reordering", &both_ways(imp, Scenario::new(8, TEN_MB)));
}

#[test]
fn ten_mb_duplication_newreno() {
    let imp = Impairments {
        duplicate: 0.02,
        ..Impairments::NONE
    };
    report("duplication", &both_ways(imp, Scenario::new(9, TEN_MB)));
}

#[test]
fn ten_mb_corruption_newreno() {
    let imp = Impairments {
        corrupt: 0.01,
        ..Impairments::NONE
    };
    let o = report("corruption", &both_ways(imp, Scenario::new(10, TEN_MB)));
    assert!(o.bad_packets > 0, "no corrupted packet was caught");
}

/// Property-test cases: 16, or `MPTCP_SIM_CASES` to hunt for more.
fn cases() -> u32 {
    std::env::var("MPTCP_SIM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

/// The simulator's Gilbert–Elliott state moves per packet, not per unit of
/// time: once a direction is in the bad state during RTO backoff, the
/// blackout lasts as many retransmissions as the burst has packets. The
/// property tests allow 30 consecutive timeouts (instead of 15) and an hour
/// of virtual time, and bursts average at most 3.3 packets (longer ones
/// black a direction out for minutes, see the regressions below), so that
/// only an engine that stops making progress fails.
fn patient(mut s: Scenario) -> Scenario {
    s.config.max_retransmissions = 30;
    s.deadline = Duration::from_secs(3600);
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_impairments_never_corrupt_hang_or_panic(
        seed in any::<u64>(),
        cubic in any::<bool>(),
        rate_mbit in 1u64..200,
        delay_ms in 1u64..100,
        queue_pkts in 4usize..200,
        loss in 0.0f64..0.10,
        burst in proptest::option::of((0.0f64..0.01, 0.3f64..0.9)),
        reorder in proptest::option::of((0.0f64..0.1, 1u64..30)),
        duplicate in 0.0f64..0.05,
        corrupt in 0.0f64..0.05,
        timestamps in any::<bool>(),
        window_scaling in any::<bool>(),
        nagle in any::<bool>(),
        mss in 536u16..=1460,
        recv_kib in 4usize..1024,
        send_kib in 4usize..1024,
    ) {
        let imp = Impairments {
            loss,
            burst,
            reorder: reorder.map(|(p, d)| (p, Duration::from_millis(d))),
            duplicate,
            corrupt,
        };
        let mut s = patient(both_ways(imp, Scenario::new(seed, 200_000)));
        s.cc = if cubic { Cc::Cubic } else { Cc::NewReno };
        s.rate_mbit = rate_mbit;
        s.delay = Duration::from_millis(delay_ms);
        s.queue = Some(queue_pkts * 1500);
        s.config.timestamps = timestamps;
        s.config.window_scaling = window_scaling;
        s.config.nagle = nagle;
        s.config.mss = mss;
        s.config.recv_buffer = recv_kib * 1024;
        s.config.send_buffer = send_kib * 1024;
        report("proptest", &s);
    }
}

/// Found by the property test: the client timed out (15 RTOs in a row)
/// with the server established and 162 176 of 200 000 bytes read. Not an
/// engine bug: the trace shows both directions' Gilbert–Elliott chains
/// stuck in the bad state across eight backed-off retransmissions (the
/// chain moves per packet, so backoff stretches a burst to minutes). The
/// engine must ride it out when allowed 30 timeouts.
#[test]
fn regression_timeout_under_heavy_burst_loss() {
    let imp = Impairments {
        loss: 0.098_523_619_375_062_42,
        burst: Some((0.012_645_494_633_585_434, 0.282_913_555_416_608_8)),
        reorder: None,
        duplicate: 0.028_235_685_908_716_408,
        corrupt: 0.020_240_760_341_156_523,
    };
    let mut s = patient(both_ways(
        imp,
        Scenario::new(5_206_331_644_376_439_287, 200_000),
    ));
    s.rate_mbit = 4;
    s.delay = Duration::from_millis(5);
    s.queue = Some(173 * 1500);
    report("regression", &s);
}

/// Found by the property test (bursts then up to 10 packets long): after an
/// hour of virtual time the client was still in FIN-WAIT-1 and the server
/// established, 102 808 of 200 000 bytes read. Not a stall of the engine:
/// the trace shows the ACK direction losing all 8 ACKs sent over 1 360 s
/// of 60 s retransmissions, then one ACK whose TSecr echoes the
/// pre-blackout TS.Recent (RFC 7323 §4.3 does not update it from a
/// duplicate segment), an RTT sample of 1 362 s and an RTO pinned at 60 s
/// for the next blackout. It took about 4 700 s; echoes of timestamps from
/// before the last RTO no longer give RTT samples, and it must now finish
/// within the property test's hour.
#[test]
fn regression_fin_wait1_stall() {
    let imp = Impairments {
        loss: 0.054_279_848_236_760_67,
        burst: Some((0.019_352_895_251_158_197, 0.128_267_789_739_693_63)),
        reorder: Some((0.050_491_797_732_638_025, Duration::from_millis(19))),
        duplicate: 0.035_693_885_523_142_37,
        corrupt: 0.034_564_863_649_146_32,
    };
    let mut s = patient(both_ways(
        imp,
        Scenario::new(12_488_247_627_256_734_769, 200_000),
    ));
    s.rate_mbit = 19;
    s.delay = Duration::from_millis(14);
    s.queue = Some(181_500);
    report("regression", &s);
}

/// Found by the property test (a 2 MB variant): an hour of virtual time
/// was not enough for 2 MB at about 17% loss each way with a 108 ms RTT.
/// Same cause as above: after each RTO with its ACK lost, the next ACK
/// echoes an old TSecr and SRTT jumps to seconds (31 s at worst), so the
/// RTO sits near its 60 s ceiling. It took about 5 100 s; with stale
/// echoes ignored it must now finish within the hour.
#[test]
fn regression_slow_under_heavy_loss() {
    let imp = Impairments {
        loss: 0.095_612_058_646_454_54,
        burst: Some((0.007_440_916_645_683_44, 0.417_225_052_776_981_2)),
        reorder: None,
        duplicate: 0.020_872_126_888_722_767,
        corrupt: 0.047_810_596_877_150_05,
    };
    let mut s = patient(both_ways(
        imp,
        Scenario::new(4_856_396_806_721_309_087, 2_000_000),
    ));
    s.rate_mbit = 106;
    s.delay = Duration::from_millis(54);
    s.queue = Some(258_000);
    s.config.mss = 660;
    s.config.send_buffer = 267_264;
    s.config.recv_buffer = 266_240;
    report("regression", &s);
}

/// The same seeded 10 MB transfers with SACK on and off: SACK repairs only
/// the holes, so it finishes sooner under random and bursty loss. (Both
/// must be byte-exact; `run` checks that.)
#[test]
fn sack_recovers_faster_than_newreno_alone() {
    let cases = [
        (
            "5% loss",
            Impairments {
                loss: 0.05,
                ..Impairments::NONE
            },
        ),
        (
            "bursty",
            Impairments {
                burst: Some((0.005, 0.25)),
                ..Impairments::NONE
            },
        ),
    ];
    for (name, imp) in cases {
        let mut with = Scenario::new(31, TEN_MB);
        with.forward = imp.clone();
        with.config.sack = true;
        let mut without = with.clone();
        without.config.sack = false;
        let a = report(&format!("{name}, SACK"), &with);
        let b = report(&format!("{name}, no SACK"), &without);
        assert!(
            a.done < b.done,
            "{name}: SACK done at {:?}, NewReno alone at {:?}",
            a.done,
            b.done
        );
    }
}
