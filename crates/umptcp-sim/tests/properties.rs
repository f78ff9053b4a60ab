//! Any configuration: an error or a run, never a panic, and every packet
//! accounted for.

mod common;

use core::time::Duration;

use common::{Node, pair};
use proptest::prelude::*;
use umptcp_sim::{Direction, GilbertElliott, LinkConfig, Rate, Reorder, SimConfig, Simulator};
use umptcp_time::Instant;

/// A probability, or sometimes a value that is not one.
fn probability() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => 0.0..=1.0f64,
        1 => Just(1.0),
        1 => prop_oneof![Just(f64::NAN), Just(-0.5), Just(1.5), Just(f64::INFINITY)],
    ]
}

/// Any link configuration, valid or not.
fn link_config() -> impl Strategy<Value = LinkConfig> {
    (
        (
            any::<bool>(),
            prop_oneof![
                Just(Rate::Unlimited),
                any::<u64>().prop_map(Rate::BitsPerSecond),
                (1u64..100_000_000).prop_map(Rate::BitsPerSecond)
            ],
        ),
        prop_oneof![
            Just(Duration::ZERO),
            (0u64..50_000_000).prop_map(Duration::from_nanos),
            Just(Duration::MAX)
        ],
        (any::<usize>(), 0usize..20_000, 0usize..3_000),
        (probability(), probability(), probability()),
        proptest::option::of((probability(), probability(), probability(), probability())),
        proptest::option::of((
            probability(),
            (0u64..10_000_000).prop_map(Duration::from_nanos),
        )),
    )
        .prop_map(
            |((up, rate), delay, (big, queue, mtu), (loss, duplicate, corrupt), ge, reorder)| {
                let mut c = LinkConfig::new(rate, delay);
                c.up = up;
                c.queue_limit_bytes = if big % 7 == 0 { big } else { queue };
                c.mtu = if big % 11 == 0 { big } else { mtu };
                c.loss = loss;
                c.duplicate = duplicate;
                c.corrupt = corrupt;
                c.burst_loss = ge.map(|(a, b, c, d)| GilbertElliott::new(a, b, c, d));
                c.reorder = reorder.map(|(p, d)| Reorder::new(p, d));
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_configuration_runs_or_is_refused(
        seed in any::<u64>(),
        a_to_b in link_config(),
        b_to_a in link_config(),
        count in 0u32..200,
        size in 24usize..2_000,
        interval in 0u64..2_000_000,
        burst in 1u32..5,
    ) {
        let mut sim = Simulator::new(SimConfig::with_seed(seed)).unwrap();
        let a = sim.add_host(Node::sender(count, size, Duration::from_nanos(interval)).with_burst(burst)).unwrap();
        let b = sim.add_host(Node::sender(count / 2, size / 2 + 12, Duration::from_nanos(interval + 1))).unwrap();
        let ia = sim.add_iface(a, &[]).unwrap();
        let ib = sim.add_iface(b, &[]).unwrap();
        let valid = a_to_b.validate().is_ok() && b_to_a.validate().is_ok();
        let result = sim.connect((a, ia), (b, ib), a_to_b, b_to_a);
        prop_assert_eq!(result.is_ok(), valid);
        let Ok(link) = result else { return Ok(()); };
        sim.run_until_idle(Instant::from_millis(100_000));
        let mut balance: i128 = 0;
        for dir in Direction::BOTH {
            let s = sim.link_stats(link, dir).unwrap();
            balance += i128::from(s.offered_packets) + i128::from(s.duplicated)
                - i128::from(s.delivered_packets)
                - i128::from(s.dropped());
        }
        // Whatever was neither delivered nor dropped is still in flight.
        prop_assert_eq!(balance, sim.packets_in_flight() as i128);
        let delivered: usize = [a, b].iter().map(|&h| sim.host(h).unwrap().arrivals.len()).sum();
        let counted: u64 = Direction::BOTH.iter().map(|&d| sim.link_stats(link, d).unwrap().delivered_packets).sum();
        prop_assert_eq!(delivered as u64, counted);
    }

    #[test]
    fn same_seed_same_arrivals(seed in any::<u64>(), config in link_config()) {
        if config.validate().is_err() {
            return Ok(()); // refused configurations are the other test's
        }
        let run = || {
            let sender = Node::sender(100, 300, Duration::from_micros(100));
            let (mut sim, _a, b, _) = pair(seed, sender, Node::sink(), config.clone(), config.clone());
            sim.run_until_idle(Instant::from_millis(100_000));
            sim.host(b).unwrap().arrivals.clone()
        };
        prop_assert_eq!(run(), run());
    }
}
