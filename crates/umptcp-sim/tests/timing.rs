//! Rate and delay arithmetic, queueing, timers and host polling.

mod common;

use core::time::Duration;

use common::{FOREVER, Node, packet, pair};
use umptcp_sim::{Direction, IfaceId, LinkConfig, Rate};
use umptcp_time::Instant;

#[test]
fn one_packet_arrives_after_transmission_plus_propagation() {
    // 1000 bytes on 1 Mbit/s: 8 ms; plus 25 ms of delay.
    let link = LinkConfig::new(Rate::mbit(1), Duration::from_millis(25));
    let (mut sim, _a, b, _) = pair(
        1,
        Node::sender(1, 1000, Duration::ZERO),
        Node::sink(),
        link.clone(),
        link,
    );
    assert!(sim.run_until_idle(FOREVER));
    let arrivals = &sim.host(b).unwrap().arrivals;
    assert_eq!(arrivals.len(), 1);
    assert_eq!(arrivals[0].at, Instant::from_millis(33));
    assert_eq!(arrivals[0].iface, IfaceId(0));
    assert_eq!(arrivals[0].bytes, packet(0, 1000));
}

#[test]
fn back_to_back_packets_queue_behind_each_other() {
    // 5 packets of 1250 bytes at once on 10 Mbit/s: 1 ms each; delay 3 ms.
    let link = LinkConfig::new(Rate::mbit(10), Duration::from_millis(3));
    let sender = Node::sender(5, 1250, Duration::from_secs(1)).with_burst(5);
    let (mut sim, _a, b, id) = pair(1, sender, Node::sink(), link.clone(), link);
    assert!(sim.run_until_idle(FOREVER));
    let times: Vec<_> = sim.host(b).unwrap().arrivals.iter().map(|a| a.at).collect();
    let expected: Vec<_> = (1..=5).map(|k| Instant::from_millis(3 + k)).collect();
    assert_eq!(times, expected);
    assert_eq!(sim.host(b).unwrap().seqs(), [0, 1, 2, 3, 4]);
    let stats = sim.link_stats(id, Direction::AToB).unwrap();
    assert_eq!(stats.queue_high_water_bytes, 4 * 1250);
    assert_eq!(stats.delivered_bytes, 5 * 1250);
}

#[test]
fn transmission_time_rounds_up_to_the_nanosecond() {
    // 100 bytes on 3 Mbit/s: 800 / 3e6 s = 266 666.67 ns, rounded up.
    let link = LinkConfig::new(Rate::mbit(3), Duration::from_nanos(5));
    let (mut sim, _a, b, _) = pair(
        1,
        Node::sender(1, 100, Duration::ZERO),
        Node::sink(),
        link.clone(),
        link,
    );
    sim.run_until_idle(FOREVER);
    assert_eq!(
        sim.host(b).unwrap().arrivals[0].at,
        Instant::from_nanos(266_667 + 5)
    );
}

#[test]
fn unlimited_rate_has_no_serialization_delay() {
    let link = LinkConfig::new(Rate::Unlimited, Duration::from_micros(7));
    let sender = Node::sender(3, 1500, Duration::from_secs(1)).with_burst(3);
    let (mut sim, _a, b, _) = pair(1, sender, Node::sink(), link.clone(), link);
    sim.run_until_idle(FOREVER);
    let times: Vec<_> = sim.host(b).unwrap().arrivals.iter().map(|a| a.at).collect();
    assert_eq!(times, vec![Instant::from_micros(7); 3]);
    assert_eq!(sim.host(b).unwrap().seqs(), [0, 1, 2]);
}

#[test]
fn timers_fire_at_their_instant_and_clock_follows_events() {
    let link = LinkConfig::new(Rate::Unlimited, Duration::from_millis(1));
    let (mut sim, a, b, _) = pair(
        1,
        Node::sender(3, 100, Duration::from_millis(10)),
        Node::sink(),
        link.clone(),
        link,
    );
    sim.run_until(Instant::from_millis(15));
    assert_eq!(sim.now(), Instant::from_millis(15));
    assert_eq!(
        sim.host(a).unwrap().sent_log,
        [(Instant::ZERO, 0), (Instant::from_millis(10), 1)]
    );
    assert_eq!(sim.next_event_time(), Some(Instant::from_millis(20)));
    assert!(sim.step());
    assert_eq!(sim.now(), Instant::from_millis(20));
    assert!(sim.run_until_idle(FOREVER));
    assert_eq!(sim.now(), Instant::from_millis(21));
    assert_eq!(sim.host(b).unwrap().seqs(), [0, 1, 2]);
    assert!(!sim.step());
}

#[test]
fn a_host_poked_between_steps_transmits_at_the_current_instant() {
    let link = LinkConfig::new(Rate::Unlimited, Duration::from_millis(2));
    let (mut sim, a, b, _) = pair(1, Node::sink(), Node::sink(), link.clone(), link);
    sim.run_until(Instant::from_millis(100));
    sim.host_mut(b)
        .unwrap()
        .queued
        .push_back((IfaceId(0), packet(42, 60)));
    assert_eq!(sim.next_event_time(), Some(Instant::from_millis(100)));
    assert!(sim.run_until_idle(FOREVER));
    let arrivals = &sim.host(a).unwrap().arrivals;
    assert_eq!(arrivals.len(), 1);
    assert_eq!(arrivals[0].seq, 42);
    assert_eq!(arrivals[0].at, Instant::from_millis(102));
}

#[test]
fn run_until_idle_stops_at_the_deadline_when_busy() {
    let link = LinkConfig::new(Rate::Unlimited, Duration::ZERO);
    let sender = Node::sender(1000, 100, Duration::from_millis(1));
    let (mut sim, _a, b, _) = pair(1, sender, Node::sink(), link.clone(), link);
    assert!(!sim.run_until_idle(Instant::from_millis(9)));
    assert_eq!(sim.now(), Instant::from_millis(9));
    assert_eq!(sim.host(b).unwrap().arrivals.len(), 10);
}

/// A host whose timer the test sets, recording when it fires.
#[derive(Default)]
struct Alarm {
    at: Option<Instant>,
    fired: Vec<Instant>,
}

impl umptcp_sim::Host for Alarm {
    fn handle_packet(&mut self, _now: Instant, _iface: IfaceId, _packet: &[u8]) {}

    fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<(IfaceId, usize)> {
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.at
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.fired.push(now);
        self.at = None;
    }
}

#[test]
fn moved_and_cleared_timers_fire_only_where_they_are() {
    let mut sim = umptcp_sim::Simulator::new(umptcp_sim::SimConfig::default()).unwrap();
    let h = sim
        .add_host(Alarm {
            at: Some(Instant::from_millis(100)),
            ..Alarm::default()
        })
        .unwrap();
    let ms = Instant::from_millis;
    sim.run_until(ms(10));
    sim.host_mut(h).unwrap().at = Some(ms(200)); // later
    sim.run_until(ms(20));
    sim.host_mut(h).unwrap().at = Some(ms(150)); // earlier again
    sim.run_until(ms(160));
    assert_eq!(sim.host(h).unwrap().fired, [ms(150)]);
    sim.host_mut(h).unwrap().at = Some(ms(300));
    sim.run_until(ms(170));
    sim.host_mut(h).unwrap().at = None; // cleared
    assert!(sim.run_until_idle(ms(10_000)));
    assert_eq!(sim.host(h).unwrap().fired, [ms(150)]);
    // A timeout already past fires at once, at the current instant.
    sim.host_mut(h).unwrap().at = Some(ms(5));
    assert!(sim.run_until_idle(ms(10_000)));
    assert_eq!(sim.host(h).unwrap().fired, [ms(150), ms(300)]);
}
