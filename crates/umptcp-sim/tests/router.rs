//! The router host: forwarding by longest prefix over IPv4 and IPv6, what it
//! drops and counts, TTL handling, a shared bottleneck, and any bytes
//! without a panic.

mod common;

use core::time::Duration;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::{FOREVER, Node};
use proptest::prelude::*;
use umptcp_sim::{
    Direction, Error, Host, HostId, IfaceId, LinkConfig, Rate, Route, Router, SimConfig, Simulator,
};
use umptcp_time::Instant;

/// A host of these tests: a test node or a router.
enum Net {
    Node(Node),
    Router(Router),
}

impl Net {
    fn node(&self) -> &Node {
        match self {
            Net::Node(n) => n,
            Net::Router(_) => panic!("not a node"),
        }
    }

    fn node_mut(&mut self) -> &mut Node {
        match self {
            Net::Node(n) => n,
            Net::Router(_) => panic!("not a node"),
        }
    }

    fn router(&self) -> &Router {
        match self {
            Net::Router(r) => r,
            Net::Node(_) => panic!("not a router"),
        }
    }
}

impl Host for Net {
    fn handle_packet(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        match self {
            Net::Node(n) => n.handle_packet(now, iface, packet),
            Net::Router(r) => r.handle_packet(now, iface, packet),
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)> {
        match self {
            Net::Node(n) => n.poll_transmit(now, buf),
            Net::Router(r) => r.poll_transmit(now, buf),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Net::Node(n) => n.poll_timeout(),
            Net::Router(r) => r.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Net::Node(n) => n.handle_timeout(now),
            Net::Router(r) => r.handle_timeout(now),
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Return the folded 16-bit ones' complement sum of the IPv4 header at the
/// start of `p` (its header length field, at most the packet).
fn v4_header_sum(p: &[u8]) -> u16 {
    let header_len = (usize::from(p[0] & 0x0f) * 4).min(p.len());
    let mut sum: u32 = p[..header_len]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Return whether the IPv4 header at the start of `p` has a valid checksum.
fn v4_checksum_ok(p: &[u8]) -> bool {
    v4_header_sum(p) == 0xffff
}

/// Set the checksum of the IPv4 header at the start of `p`.
fn set_v4_checksum(p: &mut [u8]) {
    p[10..12].fill(0);
    let sum = v4_header_sum(p);
    p[10..12].copy_from_slice(&(!sum).to_be_bytes());
}

/// Build an IPv4 packet (protocol 253, no options, valid checksum) with
/// `payload` bytes of payload.
fn v4(src: &str, dst: &str, ttl: u8, payload: usize) -> Vec<u8> {
    let (src, dst): (Ipv4Addr, Ipv4Addr) = (src.parse().unwrap(), dst.parse().unwrap());
    let len = 20 + payload;
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
    p[8] = ttl;
    p[9] = 253;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = i as u8;
    }
    set_v4_checksum(&mut p);
    assert!(v4_checksum_ok(&p));
    p
}

/// Build an IPv6 packet (next header 253) with `payload` bytes of payload.
fn v6(src: &str, dst: &str, hop_limit: u8, payload: usize) -> Vec<u8> {
    let (src, dst): (Ipv6Addr, Ipv6Addr) = (src.parse().unwrap(), dst.parse().unwrap());
    let mut p = vec![0u8; 40 + payload];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&u16::try_from(payload).unwrap().to_be_bytes());
    p[6] = 253;
    p[7] = hop_limit;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

/// Hand `packet` to `router` and return what it sends, if anything.
fn through(router: &mut Router, packet: &[u8]) -> Option<(IfaceId, Vec<u8>)> {
    router.handle_packet(Instant::ZERO, IfaceId(0), packet);
    let mut buf = vec![0u8; 65_535];
    let (iface, len) = router.poll_transmit(Instant::ZERO, &mut buf)?;
    assert!(router.poll_transmit(Instant::ZERO, &mut buf).is_none());
    Some((iface, buf[..len].to_vec()))
}

/// `packet` as a router forwards it: TTL or hop limit one less (and, for
/// IPv4, the checksum of the header with that TTL).
fn decremented(packet: &[u8]) -> Vec<u8> {
    let mut p = packet.to_vec();
    if p[0] >> 4 == 4 {
        p[8] -= 1;
        set_v4_checksum(&mut p);
    } else {
        p[7] -= 1;
    }
    p
}

/// A router with the two networks of [`line`] on interfaces 0 and 1.
fn two_net_router() -> Router {
    let mut router = Router::new();
    router
        .route(ip("10.0.1.0"), 24, IfaceId(0))
        .unwrap()
        .route(ip("10.0.2.0"), 24, IfaceId(1))
        .unwrap()
        .route(ip("fd00:1::"), 64, IfaceId(0))
        .unwrap()
        .route(ip("fd00:2::"), 64, IfaceId(1))
        .unwrap();
    router
}

/// A ── router ── B, each link `delay` long: A is 10.0.1.2 and fd00:1::2,
/// B is 10.0.2.2 and fd00:2::2.
fn line(delay: Duration) -> (Simulator<Net>, HostId, HostId, HostId) {
    let mut sim = Simulator::new(SimConfig::with_seed(11)).unwrap();
    let a = sim.add_host(Net::Node(Node::sink())).unwrap();
    let r = sim.add_host(Net::Router(two_net_router())).unwrap();
    let b = sim.add_host(Net::Node(Node::sink())).unwrap();
    let ia = sim
        .add_iface(a, &[ip("10.0.1.2"), ip("fd00:1::2")])
        .unwrap();
    let r0 = sim.add_iface(r, &[]).unwrap();
    let r1 = sim.add_iface(r, &[]).unwrap();
    let ib = sim
        .add_iface(b, &[ip("10.0.2.2"), ip("fd00:2::2")])
        .unwrap();
    let link = LinkConfig::new(Rate::Unlimited, delay);
    sim.connect((a, ia), (r, r0), link.clone(), link.clone())
        .unwrap();
    sim.connect((r, r1), (b, ib), link.clone(), link).unwrap();
    (sim, a, r, b)
}

#[test]
fn forwards_both_ways_over_ipv4_and_ipv6() {
    let (mut sim, a, r, b) = line(Duration::from_millis(3));
    let a_to_b = [
        v4("10.0.1.2", "10.0.2.2", 64, 100),
        v6("fd00:1::2", "fd00:2::2", 64, 100),
    ];
    let b_to_a = [
        v4("10.0.2.2", "10.0.1.2", 2, 500),
        v6("fd00:2::2", "fd00:1::2", 255, 0),
    ];
    for p in &a_to_b {
        sim.host_mut(a)
            .unwrap()
            .node_mut()
            .queued
            .push_back((IfaceId(0), p.clone()));
    }
    for p in &b_to_a {
        sim.host_mut(b)
            .unwrap()
            .node_mut()
            .queued
            .push_back((IfaceId(0), p.clone()));
    }
    assert!(sim.run_until_idle(FOREVER));
    // Two hops of 3 ms.
    assert_eq!(sim.now(), Instant::from_millis(6));
    let received = |h: HostId| -> Vec<Vec<u8>> {
        let node = sim.host(h).unwrap().node();
        for arrival in &node.arrivals {
            assert_eq!(arrival.at, Instant::from_millis(6));
        }
        node.arrivals.iter().map(|a| a.bytes.clone()).collect()
    };
    let expected =
        |sent: &[Vec<u8>]| -> Vec<Vec<u8>> { sent.iter().map(|p| decremented(p)).collect() };
    assert_eq!(received(b), expected(&a_to_b));
    assert_eq!(received(a), expected(&b_to_a));
    for p in received(a).iter().chain(&received(b)) {
        if p[0] >> 4 == 4 {
            assert!(v4_checksum_ok(p));
        }
    }
    let stats = sim.host(r).unwrap().router().stats();
    assert_eq!(stats.received, 4);
    assert_eq!(stats.forwarded, 4);
    assert_eq!(stats.dropped(), 0);
}

#[test]
fn longest_prefix_wins_whatever_the_order_routes_were_added() {
    let routes = [
        (ip("0.0.0.0"), 0, IfaceId(0)),
        (ip("10.0.0.0"), 8, IfaceId(1)),
        (ip("10.1.0.0"), 16, IfaceId(2)),
        (ip("10.1.2.0"), 24, IfaceId(3)),
        (ip("10.1.2.3"), 32, IfaceId(4)),
        (ip("::"), 0, IfaceId(5)),
        (ip("fd00::"), 16, IfaceId(6)),
        (ip("fd00:0:0:1::"), 64, IfaceId(7)),
    ];
    let cases = [
        ("192.0.2.1", 0),
        ("10.200.0.1", 1),
        ("10.1.200.1", 2),
        ("10.1.2.4", 3),
        ("10.1.2.3", 4),
        ("2001:db8::1", 5),
        ("fd00:0:0:2::1", 6),
        ("fd00:0:0:1::1", 7),
    ];
    for order in [
        [0, 1, 2, 3, 4, 5, 6, 7],
        [7, 4, 3, 6, 2, 1, 0, 5],
        [3, 0, 5, 7, 1, 6, 4, 2],
    ] {
        let mut router = Router::new();
        for k in order {
            let (prefix, len, iface) = routes[k];
            router.route(prefix, len, iface).unwrap();
        }
        let lens: Vec<u8> = router.routes().iter().map(Route::prefix_len).collect();
        assert!(lens.windows(2).all(|w| w[0] >= w[1]), "{lens:?}");
        for (dst, iface) in cases {
            assert_eq!(router.lookup(ip(dst)), Some(IfaceId(iface)), "{dst}");
            let packet = if dst.contains(':') {
                v6("fd00:9::1", dst, 9, 20)
            } else {
                v4("192.0.2.9", dst, 9, 20)
            };
            let (out, bytes) = through(&mut router, &packet).unwrap();
            assert_eq!(out, IfaceId(iface), "{dst}");
            assert_eq!(bytes, decremented(&packet));
        }
        assert_eq!(router.stats().forwarded, cases.len() as u64);
    }
}

#[test]
fn routes_are_checked_canonical_and_replaced() {
    let mut router = Router::new();
    assert!(matches!(
        router.route(ip("10.0.0.0"), 33, IfaceId(0)),
        Err(Error::InvalidPrefixLen { len: 33, .. })
    ));
    assert!(matches!(
        Route::new(ip("fd00::"), 129, IfaceId(0)),
        Err(Error::InvalidPrefixLen { len: 129, .. })
    ));
    assert!(matches!(
        router.route(ip("fd00::"), 255, IfaceId(0)),
        Err(Error::InvalidPrefixLen { len: 255, .. })
    ));
    assert!(router.routes().is_empty());
    // Host bits are cleared: 10.1.2.3/16 is 10.1.0.0/16.
    let route = Route::new(ip("10.1.2.3"), 16, IfaceId(1)).unwrap();
    assert_eq!(route.prefix(), ip("10.1.0.0"));
    assert_eq!((route.prefix_len(), route.iface()), (16, IfaceId(1)));
    assert!(route.contains(ip("10.1.255.255")));
    assert!(!route.contains(ip("10.2.0.0")));
    assert!(!route.contains(ip("::a01:0")));
    assert_eq!(
        Route::new(ip("fd00::ffff"), 112, IfaceId(0))
            .unwrap()
            .prefix(),
        ip("fd00::")
    );
    router.add_route(route);
    router.route(ip("10.1.0.0"), 16, IfaceId(2)).unwrap();
    router.route(ip("10.1.0.0"), 32, IfaceId(3)).unwrap();
    router.route(ip("fd00::1"), 128, IfaceId(4)).unwrap();
    assert_eq!(router.routes().len(), 3);
    assert_eq!(router.lookup(ip("10.1.9.9")), Some(IfaceId(2)));
    assert_eq!(router.lookup(ip("10.1.0.0")), Some(IfaceId(3)));
    assert_eq!(router.lookup(ip("fd00::1")), Some(IfaceId(4)));
    assert_eq!(router.lookup(ip("fd00::2")), None);
    // An IPv4 default route does not catch IPv6, nor the reverse.
    let mut v4_only = Router::new();
    v4_only.route(ip("0.0.0.0"), 0, IfaceId(0)).unwrap();
    assert_eq!(v4_only.lookup(ip("::1")), None);
    assert_eq!(v4_only.lookup(ip("255.255.255.255")), Some(IfaceId(0)));
}

#[test]
fn no_route_and_malformed_packets_are_dropped_and_counted() {
    let mut router = two_net_router();
    // No route, in the simulator: A sends to networks the router does not know.
    let (mut sim, a, r, b) = line(Duration::from_millis(1));
    for p in [
        v4("10.0.1.2", "10.0.3.2", 64, 10),
        v6("fd00:1::2", "fd00:3::2", 64, 10),
    ] {
        sim.host_mut(a)
            .unwrap()
            .node_mut()
            .queued
            .push_back((IfaceId(0), p));
    }
    assert!(sim.run_until_idle(FOREVER));
    assert!(sim.host(b).unwrap().node().arrivals.is_empty());
    let stats = sim.host(r).unwrap().router().stats();
    assert_eq!((stats.received, stats.no_route, stats.forwarded), (2, 2, 0));
    assert_eq!(sim.stats().packets_sent, 2);

    let good = v4("10.0.1.2", "10.0.2.2", 64, 40);
    let good6 = v6("fd00:1::2", "fd00:2::2", 64, 40);
    // One byte changed, and for IPv4 the checksum set to match, so that
    // each case is malformed for the one reason it is about.
    let with = |mut p: Vec<u8>, at: usize, value: u8| {
        p[at] = value;
        if p[0] >> 4 == 4 && p.len() >= 20 {
            set_v4_checksum(&mut p);
        }
        p
    };
    let malformed: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0x45],
        good[..19].to_vec(),
        // Version 5, 0, 15.
        with(good.clone(), 0, 0x55),
        with(good.clone(), 0, 0x05),
        with(good.clone(), 0, 0xf5),
        // Header length 16 bytes, then 64 bytes (past a 60-byte packet).
        with(good.clone(), 0, 0x44),
        with(good[..24].to_vec(), 0, 0x4f),
        // Total length past the packet, then shorter than the header.
        with(good.clone(), 3, 61),
        with(good.clone(), 3, 19),
        // A wrong checksum; a changed destination without a new checksum.
        {
            let mut p = good.clone();
            p[11] ^= 1;
            p
        },
        {
            let mut p = good.clone();
            p[19] = 3;
            p
        },
        good6[..39].to_vec(),
        // Payload length past the packet.
        with(good6.clone(), 5, 41),
        with(good6.clone(), 4, 1),
        with(good6.clone(), 0, 0x40),
    ];
    for (k, p) in malformed.iter().enumerate() {
        assert_eq!(through(&mut router, p), None, "case {k}");
    }
    let stats = router.stats();
    assert_eq!(stats.malformed, malformed.len() as u64);
    assert_eq!(stats.received, malformed.len() as u64);
    assert_eq!(stats.dropped(), stats.received);

    // Bytes past the length in the IP header are trimmed off.
    let mut long = good.clone();
    long.extend_from_slice(&[0xee; 7]);
    assert_eq!(
        through(&mut router, &long),
        Some((IfaceId(1), decremented(&good)))
    );
    let mut long6 = good6.clone();
    long6.push(0xee);
    assert_eq!(
        through(&mut router, &long6),
        Some((IfaceId(1), decremented(&good6)))
    );
    assert_eq!(router.stats().forwarded, 2);
}

#[test]
fn ttl_one_is_dropped_and_others_decremented_with_a_valid_checksum() {
    let mut router = two_net_router();
    for ttl in [0, 1] {
        assert_eq!(
            through(&mut router, &v4("10.0.1.2", "10.0.2.2", ttl, 8)),
            None
        );
        assert_eq!(
            through(&mut router, &v6("fd00:1::2", "fd00:2::2", ttl, 8)),
            None
        );
    }
    assert_eq!(router.stats().ttl_expired, 4);
    // No route comes before the TTL check.
    through(&mut router, &v4("10.0.1.2", "10.9.0.0", 1, 8));
    assert_eq!(router.stats().no_route, 1);
    for ttl in 2..=255 {
        for payload in [0, 1, 333] {
            let packet = v4("10.0.2.2", "10.0.1.77", ttl, payload);
            let (iface, out) = through(&mut router, &packet).unwrap();
            assert_eq!(iface, IfaceId(0));
            assert_eq!(out[8], ttl - 1);
            assert!(v4_checksum_ok(&out), "ttl {ttl}");
            assert_eq!(out, decremented(&packet));
        }
        let packet = v6("fd00:2::2", "fd00:1::77", ttl, 3);
        let (_, out) = through(&mut router, &packet).unwrap();
        assert_eq!(out[7], ttl - 1);
        assert_eq!(out, decremented(&packet));
    }
    // IPv4 options are carried as they are, and the checksum covers them.
    let mut with_options = v4("10.0.2.2", "10.0.1.2", 30, 0);
    with_options[0] = 0x46;
    with_options[3] = 24;
    with_options.extend_from_slice(&[1, 1, 1, 0]);
    set_v4_checksum(&mut with_options);
    let (_, out) = through(&mut router, &with_options).unwrap();
    assert_eq!((out.len(), out[8], &out[20..]), (24, 29, &[1, 1, 1, 0][..]));
    assert!(v4_checksum_ok(&out));
}

#[test]
fn packets_not_taken_or_too_big_for_the_buffer_are_counted() {
    let mut router = two_net_router();
    let packet = v4("10.0.1.2", "10.0.2.2", 64, 100);
    router.handle_packet(Instant::ZERO, IfaceId(0), &packet);
    router.handle_packet(Instant::ZERO, IfaceId(0), &packet);
    let mut small = [0u8; 119];
    assert_eq!(router.poll_transmit(Instant::ZERO, &mut small), None);
    let mut buf = [0u8; 120];
    assert_eq!(router.poll_transmit(Instant::ZERO, &mut buf), None);
    router.handle_packet(Instant::ZERO, IfaceId(0), &packet);
    assert_eq!(
        router.poll_transmit(Instant::ZERO, &mut buf),
        Some((IfaceId(1), 120))
    );
    let stats = router.stats();
    assert_eq!(
        (
            stats.received,
            stats.overrun,
            stats.oversize,
            stats.forwarded
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(router.poll_timeout(), None);
}

#[test]
fn a_shared_bottleneck_carries_no_more_than_its_rate() {
    // Two senders, each on its own 100 Mbit/s access link, through the
    // router into one 10 Mbit/s link to the receiver. Each sends 1000-byte
    // packets every 400 µs (20 Mbit/s) for a second: four times what the
    // bottleneck carries.
    const SIZE: usize = 1000;
    const COUNT: u32 = 2_500;
    let interval = Duration::from_micros(400);
    let access_delay = Duration::from_millis(1);
    let bottleneck_delay = Duration::from_millis(5);
    let (access_rate, bottleneck_rate) = (Rate::mbit(100), Rate::mbit(10));
    let queue_limit = 20 * SIZE;

    let mut sim = Simulator::new(SimConfig::with_seed(5)).unwrap();
    let s1 = sim
        .add_host(Net::Node(Node::sender(COUNT, SIZE, interval)))
        .unwrap();
    let s2 = sim
        .add_host(Net::Node(Node::sender(COUNT, SIZE, interval)))
        .unwrap();
    let mut router = Router::new();
    // The test packets go from 10.0.0.1 to 10.0.0.2.
    router
        .route(ip("10.0.0.2"), 32, IfaceId(2))
        .unwrap()
        .route(ip("10.0.0.0"), 24, IfaceId(0))
        .unwrap();
    let r = sim.add_host(Net::Router(router)).unwrap();
    let rx = sim.add_host(Net::Node(Node::sink())).unwrap();
    let access = LinkConfig::new(access_rate, access_delay);
    let mut bottleneck = LinkConfig::new(bottleneck_rate, bottleneck_delay);
    bottleneck.queue_limit_bytes = queue_limit;
    let mut access_links = Vec::new();
    for s in [s1, s2] {
        let i = sim.add_iface(s, &[ip("10.0.0.1")]).unwrap();
        let j = sim.add_iface(r, &[]).unwrap();
        access_links.push(
            sim.connect((s, i), (r, j), access.clone(), access.clone())
                .unwrap(),
        );
    }
    let j = sim.add_iface(r, &[]).unwrap();
    let i = sim.add_iface(rx, &[ip("10.0.0.2")]).unwrap();
    assert_eq!(j, IfaceId(2));
    let link = sim
        .connect((r, j), (rx, i), bottleneck.clone(), bottleneck)
        .unwrap();

    // Both first packets reach the router at the same time; from then on
    // the bottleneck always has a packet waiting, so packet k reaches the
    // receiver at first + (k + 1) * tx + delay.
    let end = Instant::from_millis(1_000);
    sim.run_until(end);
    let first = access_rate.transmission_time(SIZE) + access_delay;
    let tx = bottleneck_rate.transmission_time(SIZE);
    assert_eq!(tx, Duration::from_micros(800));
    let expected = (end.since_epoch() - first - bottleneck_delay).as_nanos() / tx.as_nanos();
    assert_eq!(expected, 1242);
    let arrivals = &sim.host(rx).unwrap().node().arrivals;
    assert_eq!(arrivals.len() as u128, expected);
    let bytes: usize = arrivals.iter().map(|a| a.bytes.len()).sum();
    assert!((bytes * 8) as u64 <= 10_000_000 * end.since_epoch().as_millis() as u64 / 1_000);
    assert_eq!(
        arrivals[0].at,
        Instant::ZERO + first + tx + bottleneck_delay
    );
    for pair in arrivals.windows(2) {
        assert_eq!(pair[1].at - pair[0].at, tx);
    }
    assert!(arrivals.iter().all(|a| a.bytes[8] == 63));

    // Run to the end: every packet is delivered or dropped by the
    // bottleneck's queue, none by the access links or the router.
    assert!(sim.run_until_idle(FOREVER));
    let router = sim.host(r).unwrap().router().stats().clone();
    assert_eq!(router.received, 2 * u64::from(COUNT));
    assert_eq!(router.forwarded, router.received);
    for l in &access_links {
        assert_eq!(sim.link_stats(*l, Direction::AToB).unwrap().dropped(), 0);
    }
    let stats = sim.link_stats(link, Direction::AToB).unwrap();
    let received = sim.host(rx).unwrap().node().arrivals.len() as u64;
    assert_eq!(stats.offered_packets, router.forwarded);
    assert_eq!(stats.delivered_packets, received);
    assert_eq!(stats.dropped(), stats.dropped_queue);
    assert_eq!(
        stats.delivered_packets + stats.dropped_queue,
        stats.offered_packets
    );
    // About three quarters of the offered load is lost.
    assert!(stats.dropped_queue > 3_500, "{stats:?}");
    assert!(stats.queue_high_water_bytes <= queue_limit as u64);
    // Over the whole run, too, the bottleneck carried at most its rate.
    let last = sim.host(rx).unwrap().node().arrivals.last().unwrap().at;
    let busy = last - (Instant::ZERO + first + bottleneck_delay);
    assert_eq!(busy.as_nanos(), u128::from(received) * tx.as_nanos());
}

/// Bytes that look more or less like an IP packet: any bytes, or a valid
/// IPv4 or IPv6 packet with some bytes overwritten.
fn packet_bytes() -> impl Strategy<Value = Vec<u8>> {
    let mutated = |base: Vec<u8>| {
        (
            Just(base),
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            any::<usize>(),
        )
            .prop_map(|(mut p, edits, cut)| {
                let n = p.len();
                for (at, value) in edits {
                    p[at % n] = value;
                }
                if cut % 3 == 0 {
                    p.truncate(cut % (n + 1));
                }
                p
            })
    };
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..100),
        (0usize..100).prop_flat_map(move |n| mutated(v4("10.0.1.2", "10.0.2.2", 3, n))),
        (0usize..100).prop_flat_map(move |n| mutated(v6("fd00:1::2", "fd00:2::2", 3, n))),
    ]
}

proptest! {
    #[test]
    fn any_bytes_never_panic_the_router(
        packets in proptest::collection::vec(packet_bytes(), 1..20),
        buf_len in 0usize..200,
        skip_polls in any::<u32>(),
    ) {
        let mut router = two_net_router();
        router.route(ip("0.0.0.0"), 0, IfaceId(2)).unwrap();
        let mut buf = vec![0u8; buf_len];
        for (k, p) in packets.iter().enumerate() {
            router.handle_packet(Instant::ZERO, IfaceId(0), p);
            // Sometimes leave the packet for the next one to overwrite.
            if skip_polls >> (k % 32) & 1 == 1 {
                continue;
            }
            if let Some((iface, len)) = router.poll_transmit(Instant::ZERO, &mut buf) {
                // Only the TTL or hop limit (and the IPv4 checksum) change.
                let out = &buf[..len];
                prop_assert!(iface.0 <= 2);
                prop_assert!(len <= p.len());
                if p[0] >> 4 == 4 {
                    prop_assert!(v4_checksum_ok(out));
                    prop_assert_eq!(out[8], p[8] - 1);
                    prop_assert_eq!(&out[..8], &p[..8]);
                    prop_assert_eq!(out[9], p[9]);
                    prop_assert_eq!(&out[12..], &p[12..len]);
                } else {
                    prop_assert_eq!(out[7], p[7] - 1);
                    prop_assert_eq!(&out[..7], &p[..7]);
                    prop_assert_eq!(&out[8..], &p[8..len]);
                }
            }
            prop_assert!(router.poll_transmit(Instant::ZERO, &mut buf).is_none());
        }
        // Take the last packet if it was left.
        let _ = router.poll_transmit(Instant::ZERO, &mut buf);
        let stats = router.stats();
        prop_assert_eq!(stats.received, packets.len() as u64);
        prop_assert_eq!(stats.received, stats.forwarded + stats.dropped());
    }
}
