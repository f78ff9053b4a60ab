//! Building networks, refusing bad input, captures, heterogeneous hosts.

mod common;

use core::time::Duration;
use std::io;

use common::{FOREVER, Node, SharedBuf, packet, pair};
use umptcp_sim::{
    CapturePoint, CaptureScope, Direction, Error, Host, HostId, IfaceId, LinkConfig, LinkId, Rate,
    SimConfig, Simulator,
};
use umptcp_time::Instant;
use umptcp_wire::pcap::PcapReader;

#[test]
fn bad_configuration_is_an_error_not_a_panic() {
    for size in [0, umptcp_sim::MAX_PACKET_SIZE_LIMIT + 1, usize::MAX] {
        let mut config = SimConfig::with_seed(1);
        config.max_packet_size = size;
        assert!(matches!(
            Simulator::<Node>::new(config),
            Err(Error::InvalidMaxPacketSize(_))
        ));
    }
    let mut sim = Simulator::new(SimConfig::default()).unwrap();
    let a = sim.add_host(Node::sink()).unwrap();
    let b = sim.add_host(Node::sink()).unwrap();
    let ia = sim.add_iface(a, &[]).unwrap();
    let ib = sim.add_iface(b, &[]).unwrap();
    let ok = LinkConfig::default();
    assert!(matches!(
        sim.add_iface(HostId(9), &[]),
        Err(Error::UnknownHost(HostId(9)))
    ));
    assert!(matches!(
        sim.connect((a, ia), (b, IfaceId(3)), ok.clone(), ok.clone()),
        Err(Error::UnknownIface { .. })
    ));
    assert!(matches!(
        sim.connect((a, ia), (HostId(u32::MAX), ib), ok.clone(), ok.clone()),
        Err(Error::UnknownHost(_))
    ));
    assert!(matches!(
        sim.connect((a, ia), (a, ia), ok.clone(), ok.clone()),
        Err(Error::SelfLoop)
    ));
    assert!(matches!(
        sim.connect(
            (a, ia),
            (b, ib),
            ok.clone(),
            LinkConfig::new(Rate::BitsPerSecond(0), Duration::ZERO)
        ),
        Err(Error::ZeroRate)
    ));
    let link = sim
        .connect((a, ia), (b, ib), ok.clone(), ok.clone())
        .unwrap();
    assert_eq!(link, LinkId(0));
    assert!(matches!(
        sim.connect((a, ia), (b, ib), ok.clone(), ok.clone()),
        Err(Error::IfaceInUse { .. })
    ));
    for bad in [LinkId(1), LinkId(u32::MAX), LinkId(u32::MAX / 2)] {
        assert!(matches!(
            sim.link_stats(bad, Direction::AToB),
            Err(Error::UnknownLink(_))
        ));
        assert!(matches!(
            sim.add_capture(
                CaptureScope::Link(bad),
                CapturePoint::Sent,
                Box::new(io::sink())
            ),
            Err(Error::UnknownLink(_))
        ));
    }
    assert!(sim.host(HostId(5)).is_none());
    assert!(sim.host_mut(HostId(5)).is_none());
    assert!(matches!(
        sim.iface_addrs(a, IfaceId(1)),
        Err(Error::UnknownIface { .. })
    ));
    assert!(sim.run_until_idle(FOREVER));
}

#[test]
fn hosts_with_several_interfaces_use_the_link_of_each() {
    // Host 0 has two interfaces, each linked to its own peer, with
    // different delays; host 0 also has an unconnected third interface.
    let mut sim = Simulator::new(SimConfig::with_seed(3)).unwrap();
    let mp = sim.add_host(Node::sink()).unwrap();
    let p1 = sim.add_host(Node::sink()).unwrap();
    let p2 = sim.add_host(Node::sink()).unwrap();
    let addr = |s: &str| s.parse().unwrap();
    let i0 = sim
        .add_iface(mp, &[addr("10.0.1.1"), addr("fd00:1::1")])
        .unwrap();
    let i1 = sim.add_iface(mp, &[addr("10.0.2.1")]).unwrap();
    let i2 = sim.add_iface(mp, &[]).unwrap();
    let j1 = sim.add_iface(p1, &[addr("10.0.1.2")]).unwrap();
    let j2 = sim.add_iface(p2, &[addr("10.0.2.2")]).unwrap();
    assert_eq!((i0, i1, i2), (IfaceId(0), IfaceId(1), IfaceId(2)));
    assert_eq!(
        sim.iface_addrs(mp, i0).unwrap(),
        &[addr("10.0.1.1"), addr("fd00:1::1")]
    );
    let fast = LinkConfig::new(Rate::Unlimited, Duration::from_millis(10));
    let slow = LinkConfig::new(Rate::Unlimited, Duration::from_millis(80));
    let l1 = sim.connect((mp, i0), (p1, j1), fast.clone(), fast).unwrap();
    let l2 = sim.connect((mp, i1), (p2, j2), slow.clone(), slow).unwrap();
    assert_eq!(sim.link_count(), 2);
    let node = sim.host_mut(mp).unwrap();
    node.queued.push_back((i0, packet(1, 100)));
    node.queued.push_back((i1, packet(2, 100)));
    node.queued.push_back((i2, packet(3, 100)));
    node.queued.push_back((IfaceId(9), packet(4, 100)));
    sim.run_until(Instant::from_millis(50));
    sim.host_mut(p2)
        .unwrap()
        .queued
        .push_back((j2, packet(5, 100)));
    assert!(sim.run_until_idle(FOREVER));
    assert_eq!(
        sim.host(p1).unwrap().arrivals[0].at,
        Instant::from_millis(10)
    );
    assert_eq!(
        sim.host(p2).unwrap().arrivals[0].at,
        Instant::from_millis(80)
    );
    let back = &sim.host(mp).unwrap().arrivals;
    assert_eq!(
        (back[0].iface, back[0].seq, back[0].at),
        (i1, 5, Instant::from_millis(130))
    );
    assert_eq!(sim.stats().unconnected_transmits, 2);
    assert_eq!(sim.stats().packets_sent, 3);
    assert_eq!(
        sim.link_stats(l1, Direction::AToB)
            .unwrap()
            .delivered_packets,
        1
    );
    assert_eq!(
        sim.link_stats(l2, Direction::BToA)
            .unwrap()
            .delivered_packets,
        1
    );
}

#[test]
fn captures_are_readable_pcap_in_virtual_time() {
    let link = LinkConfig::new(Rate::mbit(8), Duration::from_millis(20)).with_loss(0.3);
    let sender = Node::sender(200, 1000, Duration::from_millis(2));
    let (mut sim, _a, _b, id) = pair(8, sender, Node::sink(), link.clone(), link);
    let sent = SharedBuf::default();
    let delivered = SharedBuf::default();
    let reverse = SharedBuf::default();
    sim.add_capture(
        CaptureScope::LinkDirection(id, Direction::AToB),
        CapturePoint::Sent,
        Box::new(sent.clone()),
    )
    .unwrap();
    let cap = sim
        .add_capture(
            CaptureScope::Network,
            CapturePoint::Delivered,
            Box::new(delivered.clone()),
        )
        .unwrap();
    sim.add_capture(
        CaptureScope::LinkDirection(id, Direction::BToA),
        CapturePoint::Sent,
        Box::new(reverse.clone()),
    )
    .unwrap();
    assert!(sim.run_until_idle(FOREVER));
    assert!(sim.remove_capture(cap).is_some());
    assert!(sim.remove_capture(cap).is_none());
    let stats = sim.link_stats(id, Direction::AToB).unwrap().clone();

    let sent = sent.bytes();
    let records: Vec<_> = PcapReader::new(&sent)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(records.len() as u64, stats.offered_packets);
    for (k, record) in records.iter().enumerate() {
        assert_eq!(record.timestamp, Duration::from_millis(2 * k as u64));
        assert_eq!(record.data, packet(k as u32, 1000).as_slice());
    }
    let delivered = delivered.bytes();
    let records: Vec<_> = PcapReader::new(&delivered)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(records.len() as u64, stats.delivered_packets);
    for record in &records {
        let seq = common::seq_of(record.data);
        // 1 ms of transmission and 20 ms of propagation after it was sent.
        assert_eq!(
            record.timestamp,
            Duration::from_millis(2 * u64::from(seq) + 21)
        );
    }
    assert_eq!(PcapReader::new(&reverse.bytes()).unwrap().count(), 0);
}

/// A sink that fails after `budget` bytes.
struct Failing {
    budget: usize,
}

impl io::Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.budget {
            return Err(io::Error::other("disk full"));
        }
        self.budget -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_capture_sink_is_closed_and_reported_while_the_run_goes_on() {
    let link = LinkConfig::default();
    let (mut sim, _a, b, _) = pair(
        1,
        Node::sender(10, 100, Duration::from_millis(1)),
        Node::sink(),
        link.clone(),
        link,
    );
    assert!(matches!(
        sim.add_capture(
            CaptureScope::Network,
            CapturePoint::Sent,
            Box::new(Failing { budget: 3 })
        ),
        Err(Error::Capture(_))
    ));
    sim.add_capture(
        CaptureScope::Network,
        CapturePoint::Sent,
        Box::new(Failing {
            budget: 24 + 3 * (16 + 100),
        }),
    )
    .unwrap();
    assert!(sim.run_until_idle(FOREVER));
    assert_eq!(
        sim.capture_error().map(io::Error::to_string).as_deref(),
        Some("disk full")
    );
    assert_eq!(sim.host(b).unwrap().arrivals.len(), 10);
}

/// A host that returns a length larger than its buffer.
struct Liar {
    done: bool,
}

impl Host for Liar {
    fn handle_packet(&mut self, _now: Instant, _iface: IfaceId, _packet: &[u8]) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)> {
        if std::mem::replace(&mut self.done, true) {
            None
        } else {
            Some((IfaceId(0), buf.len() + 1))
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

#[test]
fn different_kinds_of_host_run_together_boxed() {
    let mut config = SimConfig::with_seed(1);
    config.max_packet_size = 1500;
    let mut sim: Simulator<Box<dyn Host>> = Simulator::new(config).unwrap();
    let liar = sim.add_host(Box::new(Liar { done: false })).unwrap();
    let sender = sim
        .add_host(Box::new(Node::sender(5, 100, Duration::from_millis(1))))
        .unwrap();
    let il = sim.add_iface(liar, &[]).unwrap();
    let is = sim.add_iface(sender, &[]).unwrap();
    let link = sim
        .connect(
            (liar, il),
            (sender, is),
            LinkConfig::default(),
            LinkConfig::default(),
        )
        .unwrap();
    assert!(sim.run_until_idle(FOREVER));
    assert_eq!(sim.stats().oversize_transmits, 1);
    assert_eq!(
        sim.link_stats(link, Direction::BToA)
            .unwrap()
            .delivered_packets,
        5
    );
    assert_eq!(sim.host_count(), 2);
    assert_eq!(sim.packets_in_flight(), 0);
}
