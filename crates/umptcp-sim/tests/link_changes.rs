//! Links reconfigured at run time: down and up, capacity changes.

mod common;

use core::time::Duration;

use common::{FOREVER, Node, pair};
use umptcp_sim::{Direction, Error, LinkConfig, Rate};
use umptcp_time::Instant;

#[test]
fn a_link_going_down_and_coming_back_drops_packets_in_between() {
    let link = LinkConfig::new(Rate::Unlimited, Duration::from_millis(1));
    let sender = Node::sender(100, 100, Duration::from_millis(1));
    let (mut sim, _a, b, id) = pair(1, sender, Node::sink(), link.clone(), link.clone());
    let mut down = link.clone();
    down.up = false;
    // Sends at 0..=99 ms; the link is down from 30 ms (inclusive: the change
    // was scheduled before the send at 30 ms) to 60 ms.
    sim.schedule_link(Instant::from_millis(30), id, Direction::AToB, down)
        .unwrap();
    sim.schedule_link(Instant::from_millis(60), id, Direction::AToB, link)
        .unwrap();
    assert!(sim.run_until_idle(FOREVER));
    let seqs = sim.host(b).unwrap().seqs();
    let expected: Vec<u32> = (0..30).chain(60..100).collect();
    assert_eq!(seqs, expected);
    assert_eq!(
        sim.link_stats(id, Direction::AToB).unwrap().dropped_down,
        30
    );
}

#[test]
fn a_capacity_change_changes_the_spacing_of_queued_packets() {
    // 10 packets of 1000 bytes at once on 8 Mbit/s (1 ms each); at 3.5 ms
    // the rate doubles: the packet in transmission keeps its end (4 ms),
    // the rest take 0.5 ms each.
    let link = LinkConfig::new(Rate::mbit(8), Duration::ZERO);
    let sender = Node::sender(10, 1000, Duration::from_secs(1)).with_burst(10);
    let (mut sim, _a, b, id) = pair(1, sender, Node::sink(), link.clone(), link.clone());
    sim.run_until(Instant::from_micros(3_500));
    assert_eq!(sim.host(b).unwrap().arrivals.len(), 3);
    let mut faster = link;
    faster.rate = Rate::mbit(16);
    sim.set_link(id, Direction::AToB, faster.clone()).unwrap();
    assert_eq!(sim.link_config(id, Direction::AToB).unwrap(), &faster);
    assert!(sim.run_until_idle(FOREVER));
    let times: Vec<u64> = sim
        .host(b)
        .unwrap()
        .arrivals
        .iter()
        .map(|a| a.at.as_nanos() / 1_000)
        .collect();
    assert_eq!(
        times,
        [
            1_000, 2_000, 3_000, 4_000, 4_500, 5_000, 5_500, 6_000, 6_500, 7_000
        ]
    );
}

#[test]
fn packets_already_propagating_survive_a_link_going_down() {
    let link = LinkConfig::new(Rate::Unlimited, Duration::from_millis(50));
    let sender = Node::sender(1, 100, Duration::ZERO);
    let (mut sim, _a, b, id) = pair(1, sender, Node::sink(), link.clone(), link.clone());
    sim.run_until(Instant::from_millis(10));
    let mut down = link;
    down.up = false;
    sim.set_link(id, Direction::AToB, down).unwrap();
    sim.run_until_idle(FOREVER);
    assert_eq!(sim.host(b).unwrap().seqs(), [0]);
}

#[test]
fn changes_in_the_past_or_invalid_are_refused() {
    let link = LinkConfig::default();
    let (mut sim, _a, _b, id) = pair(1, Node::sink(), Node::sink(), link.clone(), link.clone());
    sim.run_until(Instant::from_millis(10));
    assert!(matches!(
        sim.schedule_link(Instant::from_millis(5), id, Direction::BToA, link.clone()),
        Err(Error::InThePast { .. })
    ));
    assert!(matches!(
        sim.set_link(id, Direction::AToB, link.clone().with_loss(-1.0)),
        Err(Error::InvalidProbability { .. })
    ));
    assert!(matches!(
        sim.set_link(umptcp_sim::LinkId(7), Direction::AToB, link),
        Err(Error::UnknownLink(_))
    ));
}
