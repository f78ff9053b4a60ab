//! Queue limit, MTU, loss, bursty loss, duplication, corruption, reordering.

mod common;

use core::time::Duration;

use common::{FOREVER, MIN_PACKET, Node, packet, pair};
use umptcp_sim::{Direction, GilbertElliott, LinkConfig, Rate, Reorder};

/// Return `(mean, bound)`: `bound` is five standard deviations of a
/// binomial count of `n` trials with probability `p`.
fn binomial(n: u32, p: f64) -> (f64, f64) {
    let n = f64::from(n);
    (n * p, 5.0 * (n * p * (1.0 - p)).sqrt())
}

#[test]
fn drop_tail_queue_limits_the_bytes_waiting() {
    // 10 packets of 1000 bytes at once; room for 2 behind the one in
    // transmission (a third would make 3000 > 2500).
    let link = LinkConfig::new(Rate::mbit(8), Duration::from_millis(1)).with_queue_limit(2500);
    let sender = Node::sender(10, 1000, Duration::from_secs(1)).with_burst(10);
    let (mut sim, _a, b, id) = pair(3, sender, Node::sink(), link.clone(), link);
    assert!(sim.run_until_idle(FOREVER));
    assert_eq!(sim.host(b).unwrap().seqs(), [0, 1, 2]);
    let stats = sim.link_stats(id, Direction::AToB).unwrap();
    assert_eq!(stats.offered_packets, 10);
    assert_eq!(stats.dropped_queue, 7);
    assert_eq!(stats.dropped(), 7);
    assert_eq!(stats.queue_high_water_bytes, 2000);
    assert_eq!(sim.packets_in_flight(), 0);
}

#[test]
fn queue_drains_and_accepts_again() {
    // One packet every 0.5 ms on a link that needs 1 ms per packet: the
    // queue grows by one packet per millisecond until it is full.
    let link = LinkConfig::new(Rate::mbit(8), Duration::ZERO).with_queue_limit(5000);
    let sender = Node::sender(100, 1000, Duration::from_micros(500));
    let (mut sim, _a, b, id) = pair(3, sender, Node::sink(), link.clone(), link);
    assert!(sim.run_until_idle(FOREVER));
    let stats = sim.link_stats(id, Direction::AToB).unwrap().clone();
    assert_eq!(stats.queue_high_water_bytes, 5000);
    assert!(stats.dropped_queue > 30, "{stats:?}");
    assert_eq!(
        stats.delivered_packets + stats.dropped_queue,
        stats.offered_packets
    );
    let seqs = sim.host(b).unwrap().seqs();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "FIFO order");
}

#[test]
fn packets_over_the_mtu_are_dropped_and_counted() {
    let link = LinkConfig::new(Rate::Unlimited, Duration::ZERO).with_mtu(1500);
    let (mut sim, a, b, id) = pair(3, Node::sink(), Node::sink(), link.clone(), link);
    let queue = &mut sim.host_mut(a).unwrap().queued;
    for (seq, size) in [(0, 1500), (1, 1501), (2, 9000), (3, 40)] {
        queue.push_back((umptcp_sim::IfaceId(0), packet(seq, size)));
    }
    assert!(sim.run_until_idle(FOREVER));
    assert_eq!(sim.host(b).unwrap().seqs(), [0, 3]);
    let stats = sim.link_stats(id, Direction::AToB).unwrap();
    assert_eq!(stats.dropped_mtu, 2);
    assert_eq!(stats.offered_bytes, 1500 + 1501 + 9000 + 40);
    assert_eq!(stats.delivered_bytes, 1540);
}

#[test]
fn random_loss_rate_is_within_statistical_bounds() {
    let n = 20_000;
    let link = LinkConfig::new(Rate::Unlimited, Duration::from_millis(1)).with_loss(0.1);
    let sender = Node::sender(n, MIN_PACKET, Duration::from_micros(10));
    let (mut sim, _a, b, id) = pair(11, sender, Node::sink(), link.clone(), link);
    assert!(sim.run_until_idle(FOREVER));
    let stats = sim.link_stats(id, Direction::AToB).unwrap();
    let (mean, bound) = binomial(n, 0.1);
    let lost = stats.dropped_loss as f64;
    assert!(
        (lost - mean).abs() < bound,
        "lost {lost}, expected {mean} ± {bound}"
    );
    assert_eq!(stats.delivered_packets + stats.dropped_loss, u64::from(n));
    assert_eq!(
        sim.host(b).unwrap().arrivals.len() as u64,
        stats.delivered_packets
    );
}

/// Return the lengths of the runs of consecutive lost packets, given the
/// sequence numbers received out of `n` sent in order.
fn loss_bursts(received: &[u32], n: u32) -> Vec<u32> {
    let mut got = vec![false; n as usize];
    for &s in received {
        got[s as usize] = true;
    }
    let mut bursts = Vec::new();
    let mut run = 0;
    for g in got {
        if g {
            if run > 0 {
                bursts.push(run);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    if run > 0 {
        bursts.push(run);
    }
    bursts
}

#[test]
fn gilbert_elliott_losses_come_in_bursts_of_the_configured_mean_length() {
    let n = 100_000;
    let (p, r) = (0.01, 0.25);
    let mut link = LinkConfig::new(Rate::Unlimited, Duration::from_millis(1));
    link.burst_loss = Some(GilbertElliott::gilbert(p, r));
    let sender = Node::sender(n, MIN_PACKET, Duration::from_micros(10));
    let (mut sim, _a, b, id) = pair(5, sender, Node::sink(), link.clone(), link);
    assert!(sim.run_until_idle(FOREVER));
    let bursts = loss_bursts(&sim.host(b).unwrap().seqs(), n);
    let mean_burst = f64::from(bursts.iter().sum::<u32>()) / bursts.len() as f64;
    assert!(
        (mean_burst - 1.0 / r).abs() < 0.1 / r,
        "mean burst {mean_burst}, expected {}",
        1.0 / r
    );
    let stats = sim.link_stats(id, Direction::AToB).unwrap();
    let rate = stats.dropped_burst as f64 / f64::from(n);
    let expected = p / (p + r);
    assert!(
        (rate - expected).abs() < 0.2 * expected,
        "loss rate {rate}, expected {expected}"
    );
    assert_eq!(stats.dropped_loss, 0);

    // The same long-run rate, drawn independently, gives bursts of about 1.
    let random = LinkConfig::new(Rate::Unlimited, Duration::ZERO).with_loss(expected);
    let sender = Node::sender(n, MIN_PACKET, Duration::from_micros(10));
    let (mut sim, _a, b, _) = pair(5, sender, Node::sink(), random.clone(), random);
    sim.run_until_idle(FOREVER);
    let bursts = loss_bursts(&sim.host(b).unwrap().seqs(), n);
    let mean_random = f64::from(bursts.iter().sum::<u32>()) / bursts.len() as f64;
    assert!(
        mean_random < 1.2,
        "independent loss bursts average {mean_random}"
    );
}

#[test]
fn duplicated_packets_arrive_twice_back_to_back() {
    let n = 4_000;
    let mut link = LinkConfig::new(Rate::mbit(100), Duration::from_millis(1));
    link.duplicate = 0.25;
    let sender = Node::sender(n, 200, Duration::from_micros(100));
    let (mut sim, _a, b, id) = pair(9, sender, Node::sink(), link.clone(), link);
    assert!(sim.run_until_idle(FOREVER));
    let stats = sim.link_stats(id, Direction::AToB).unwrap();
    let (mean, bound) = binomial(n, 0.25);
    assert!((stats.duplicated as f64 - mean).abs() < bound, "{stats:?}");
    assert_eq!(stats.delivered_packets, u64::from(n) + stats.duplicated);
    let arrivals = &sim.host(b).unwrap().arrivals;
    let twins = arrivals
        .windows(2)
        .filter(|w| w[0].seq == w[1].seq)
        .inspect(|w| {
            assert_eq!(w[0].at, w[1].at);
            assert_eq!(w[0].bytes, w[1].bytes);
        })
        .count();
    assert_eq!(twins as u64, stats.duplicated);
}

#[test]
fn corruption_flips_exactly_one_bit() {
    let n = 500;
    let mut link = LinkConfig::new(Rate::Unlimited, Duration::from_millis(1));
    link.corrupt = 1.0;
    let sender = Node::sender(n, 300, Duration::from_micros(50));
    let (mut sim, _a, b, id) = pair(13, sender, Node::sink(), link.clone(), link);
    assert!(sim.run_until_idle(FOREVER));
    assert_eq!(
        sim.link_stats(id, Direction::AToB).unwrap().corrupted,
        u64::from(n)
    );
    let arrivals = &sim.host(b).unwrap().arrivals;
    assert_eq!(arrivals.len(), n as usize);
    let mut flipped_positions = std::collections::BTreeSet::new();
    for (k, arrival) in arrivals.iter().enumerate() {
        let sent = packet(k as u32, 300);
        let diff: u32 = sent
            .iter()
            .zip(&arrival.bytes)
            .map(|(x, y)| (x ^ y).count_ones())
            .sum();
        assert_eq!(diff, 1, "packet {k}");
        let byte = sent.iter().zip(&arrival.bytes).position(|(x, y)| x != y);
        flipped_positions.insert(byte);
    }
    assert!(
        flipped_positions.len() > 100,
        "bits are spread over the packet"
    );
}

#[test]
fn partial_corruption_is_counted() {
    let n = 4_000;
    let mut link = LinkConfig::new(Rate::Unlimited, Duration::ZERO);
    link.corrupt = 0.1;
    let sender = Node::sender(n, 100, Duration::from_micros(50));
    let (mut sim, _a, b, id) = pair(13, sender, Node::sink(), link.clone(), link);
    sim.run_until_idle(FOREVER);
    let corrupted = sim.link_stats(id, Direction::AToB).unwrap().corrupted;
    let (mean, bound) = binomial(n, 0.1);
    assert!((corrupted as f64 - mean).abs() < bound);
    let changed = sim
        .host(b)
        .unwrap()
        .arrivals
        .iter()
        .enumerate()
        .filter(|(k, a)| a.bytes != packet(*k as u32, 100))
        .count();
    assert_eq!(changed as u64, corrupted);
}

#[test]
fn reordering_holds_packets_back_so_later_ones_overtake() {
    let n = 2_000;
    let mut link = LinkConfig::new(Rate::Unlimited, Duration::from_millis(10));
    link.reorder = Some(Reorder::new(0.2, Duration::from_millis(5)));
    let sender = Node::sender(n, 100, Duration::from_millis(1));
    let (mut sim, a, b, id) = pair(17, sender, Node::sink(), link.clone(), link);
    assert!(sim.run_until_idle(FOREVER));
    let stats = sim.link_stats(id, Direction::AToB).unwrap();
    let (mean, bound) = binomial(n, 0.2);
    assert!((stats.reordered as f64 - mean).abs() < bound);
    let sent = &sim.host(a).unwrap().sent_log;
    let arrivals = &sim.host(b).unwrap().arrivals;
    assert_eq!(arrivals.len(), n as usize, "reordering loses nothing");
    let held_back = arrivals
        .iter()
        .filter(|arr| arr.at - sent[arr.seq as usize].0 == core::time::Duration::from_millis(15))
        .count();
    assert_eq!(held_back as u64, stats.reordered);
    let out_of_order = arrivals.windows(2).filter(|w| w[1].seq < w[0].seq).count();
    assert!(out_of_order > 100, "{out_of_order} inversions");
    let mut seqs = sim.host(b).unwrap().seqs();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..n).collect::<Vec<_>>());
}

#[test]
fn directions_are_independent() {
    let lossy = LinkConfig::new(Rate::Unlimited, Duration::ZERO).with_loss(1.0);
    let clean = LinkConfig::new(Rate::Unlimited, Duration::ZERO);
    let a = Node::sender(50, 100, Duration::from_millis(1));
    let b = Node::sender(50, 100, Duration::from_millis(1));
    let (mut sim, ha, hb, id) = pair(1, a, b, lossy, clean);
    sim.run_until_idle(FOREVER);
    assert_eq!(sim.host(hb).unwrap().arrivals.len(), 0);
    assert_eq!(sim.host(ha).unwrap().arrivals.len(), 50);
    assert_eq!(
        sim.link_stats(id, Direction::AToB).unwrap().dropped_loss,
        50
    );
    assert_eq!(sim.link_stats(id, Direction::BToA).unwrap().dropped(), 0);
}
