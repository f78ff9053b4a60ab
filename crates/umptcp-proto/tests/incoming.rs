//! Incoming before allocation (issue 14 item 4): an `Admission::Ask`
//! listener hands each SYN out as an `Incoming` holding only its copy
//! (four-tuple, MP_CAPABLE offered, payload, raw options), with nothing
//! built; the application accepts, refuses or ignores it. Listeners on an
//! address, a port at any address, or every SYN (transparent capture).

use std::net::SocketAddr;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use umptcp_cc::{CcConfig, CongestionControl, Registry};
use umptcp_proto::{
    AcceptError, Admission, ConnectOptions, Endpoint, EndpointConfig, FallbackReason, Interface,
    Listen, ListenOptions, MptcpConfig, MptcpEvent, Protocol, Routed,
};
use umptcp_time::Instant;
use umptcp_wire::mptcp::{CapableKeys, MpCapable, MpCapableFlags, MptcpOption};
use umptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};

fn cc() -> Box<dyn FnMut() -> Box<dyn CongestionControl> + Send> {
    Box::new(|| {
        Registry::with_builtins()
            .build("reno", &CcConfig::default())
            .unwrap()
    })
}

fn endpoint_with(limits: EndpointConfig, seed: u64) -> Endpoint {
    Endpoint::new(
        MptcpConfig::default(),
        limits,
        Box::new(ChaCha8Rng::seed_from_u64(seed)),
        cc(),
    )
}

fn endpoint(seed: u64) -> Endpoint {
    endpoint_with(EndpointConfig::default(), seed)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A SYN, with MP_CAPABLE if `mptcp`, carrying `payload`.
fn syn(from: &str, to: &str, mptcp: bool, payload: &[u8]) -> Vec<u8> {
    let mut b = SegmentBuilder::new(addr(from), addr(to));
    b.seq = 7000;
    b.flags = TcpFlags::SYN;
    b.window = 65535;
    b.mss = Some(1460);
    if mptcp {
        b.mptcp = Some(MptcpOption::MpCapable(MpCapable {
            version: 1,
            flags: MpCapableFlags(MpCapableFlags::H_HMAC_SHA256),
            keys: CapableKeys::None,
        }));
    }
    b.payload = payload;
    let mut buf = vec![0; b.buffer_len_max()];
    let n = b.emit(&mut buf).unwrap().len;
    buf.truncate(n);
    buf
}

fn feed(ep: &mut Endpoint, packet: &[u8]) -> Routed {
    let seg = Segment::parse(packet, ChecksumCheck::Verify).unwrap();
    ep.handle_segment(Instant::ZERO, &seg)
}

/// Every packet the endpoint has to send now.
fn drain(ep: &mut Endpoint) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0; 2048];
    while let Some(n) = ep.poll_transmit(Instant::ZERO, &mut buf).map(|t| t.len) {
        out.push(buf[..n].to_vec());
        assert!(out.len() < 100, "endless transmit");
    }
    out
}

fn flags(packet: &[u8]) -> TcpFlags {
    Segment::parse(packet, ChecksumCheck::Verify)
        .unwrap()
        .flags()
}

fn take_incoming(routed: Routed) -> umptcp_proto::Incoming {
    match routed {
        Routed::Incoming(i) => i,
        other => panic!("not an Incoming: {other:?}"),
    }
}

#[test]
fn an_incoming_shows_the_syn_and_builds_nothing() {
    let mut ep = endpoint(1);
    ep.listen_on(Listen::Port(80), Admission::Ask);
    let packet = syn("10.0.1.1:4000", "10.0.0.2:80", true, b"convert me");
    let incoming = take_incoming(feed(&mut ep, &packet));
    assert_eq!(incoming.listener(), Listen::Port(80));
    assert_eq!(incoming.local(), addr("10.0.0.2:80"));
    assert_eq!(incoming.remote(), addr("10.0.1.1:4000"));
    assert!(incoming.offers_mptcp());
    assert_eq!(incoming.payload(), b"convert me");
    let seg = Segment::parse(&packet, ChecksumCheck::Verify).unwrap();
    assert_eq!(incoming.tcp_options(), seg.option_bytes());
    assert!(!incoming.tcp_options().is_empty());
    // Nothing built, nothing sent, no buffer held.
    assert!(ep.is_empty());
    assert_eq!(ep.buffer_bytes(), 0);
    assert!(drain(&mut ep).is_empty(), "no SYN/ACK before a decision");
    assert_eq!(ep.pending_incoming(), 1);
    // The SYN again, while undecided: dropped, no second Incoming.
    assert_eq!(feed(&mut ep, &packet), Routed::Pending);
    assert_eq!(ep.pending_incoming(), 1);
    // Accepted: the connection exists and answers with its SYN/ACK.
    let id = ep.accept_incoming(Instant::ZERO, incoming).unwrap();
    assert_eq!(ep.pending_incoming(), 0);
    assert_eq!(ep.len(), 1);
    let sent = drain(&mut ep);
    assert_eq!(sent.len(), 1, "one SYN/ACK");
    assert_eq!(flags(&sent[0]), TcpFlags::SYN | TcpFlags::ACK);
    let synack = Segment::parse(&sent[0], ChecksumCheck::Verify).unwrap();
    assert_eq!(synack.src_port(), 80);
    assert_eq!(synack.ack(), 7001, "SYN data is not taken without a cookie");
    assert!(
        synack
            .options()
            .flatten()
            .any(|o| matches!(o, umptcp_wire::TcpOption::Mptcp(MptcpOption::MpCapable(_)))),
        "an MPTCP SYN/ACK"
    );
    assert!(ep.connection(id).is_some());
    // An accepted Incoming is not in the accept queue: the caller has it.
    assert_eq!(ep.accept(), None);
}

#[test]
fn a_refused_incoming_is_reset_and_an_ignored_one_is_silent() {
    let mut ep = endpoint(2);
    ep.listen_on(Listen::Addr(addr("10.0.0.2:80")), Admission::Ask);
    let a = syn("10.0.1.1:4000", "10.0.0.2:80", false, b"");
    let incoming = take_incoming(feed(&mut ep, &a));
    assert!(!incoming.offers_mptcp());
    ep.refuse_incoming(incoming);
    let sent = drain(&mut ep);
    assert_eq!(sent.len(), 1);
    let rst = Segment::parse(&sent[0], ChecksumCheck::Verify).unwrap();
    assert_eq!(rst.flags(), TcpFlags::RST | TcpFlags::ACK);
    assert_eq!(rst.ack(), 7001);
    assert_eq!(ep.pending_incoming(), 0);

    let b = syn("10.0.1.1:4001", "10.0.0.2:80", true, b"");
    let incoming = take_incoming(feed(&mut ep, &b));
    ep.ignore_incoming(incoming);
    assert!(drain(&mut ep).is_empty());
    assert!(ep.is_empty());
    // The peer's retry is a new Incoming.
    let again = take_incoming(feed(&mut ep, &b));
    // Dropping it is ignoring it: its place is free again.
    drop(again);
    assert_eq!(ep.pending_incoming(), 0);
    assert!(matches!(feed(&mut ep, &b), Routed::Incoming(_)));
}

#[test]
fn undecided_incomings_count_against_the_backlog() {
    let mut limits = EndpointConfig::default();
    limits.max_half_open = 3;
    let mut ep = endpoint_with(limits, 3);
    ep.listen_on(Listen::Any, Admission::Ask);
    let mut held = Vec::new();
    for i in 0..5u16 {
        let packet = syn(
            &format!("10.0.9.{}:{}", i + 1, 4000 + i),
            "10.0.0.2:80",
            true,
            b"",
        );
        match feed(&mut ep, &packet) {
            Routed::Incoming(inc) if i < 3 => held.push(inc),
            Routed::Refused if i >= 3 => {}
            other => panic!("SYN {i}: {other:?}"),
        }
    }
    assert_eq!(ep.pending_incoming(), 3);
    // Accepting one keeps it in the backlog as a handshake in progress.
    let first = held.remove(0);
    ep.accept_incoming(Instant::ZERO, first).unwrap();
    let packet = syn("10.0.8.1:5000", "10.0.0.2:80", true, b"");
    assert_eq!(feed(&mut ep, &packet), Routed::Refused, "still full");
    // Dropping one frees a place.
    held.pop();
    assert!(matches!(feed(&mut ep, &packet), Routed::Incoming(_)));
}

#[test]
fn the_most_specific_listener_takes_the_syn() {
    let mut ep = endpoint(4);
    ep.listen_on(Listen::Any, Admission::Ask);
    ep.listen_on(Listen::Port(80), Admission::Accept(None));
    ep.listen(addr("10.0.0.2:443"));
    // Port 80 at any address: accepted at once.
    let r = feed(&mut ep, &syn("10.0.1.1:4000", "192.0.2.9:80", true, b""));
    assert!(matches!(r, Routed::Accepted(_)), "{r:?}");
    // An exact listener.
    let r = feed(&mut ep, &syn("10.0.1.1:4001", "10.0.0.2:443", true, b""));
    assert!(matches!(r, Routed::Accepted(_)), "{r:?}");
    // Anything else goes to the capture listener, with its destination.
    let inc = take_incoming(feed(
        &mut ep,
        &syn("10.0.1.1:4002", "198.18.5.5:8080", false, b""),
    ));
    assert_eq!(inc.listener(), Listen::Any);
    assert_eq!(inc.local(), addr("198.18.5.5:8080"));
    let id = ep.accept_incoming(Instant::ZERO, inc).unwrap();
    let conn = ep.connection(id).unwrap();
    assert_eq!(
        conn.initial_subflow().four_tuple().local,
        addr("198.18.5.5:8080")
    );
    // Without the capture listener, an unknown port is reset.
    assert!(ep.unlisten(Listen::Any));
    let r = feed(
        &mut ep,
        &syn("10.0.1.1:4003", "198.18.5.5:8081", false, b""),
    );
    assert_eq!(r, Routed::Refused);
}

#[test]
fn an_incoming_whose_tuple_is_taken_by_now_is_refused() {
    let mut ep = endpoint(5);
    ep.listen_on(Listen::Port(80), Admission::Ask);
    let packet = syn("10.0.1.1:4000", "10.0.0.2:80", true, b"");
    let incoming = take_incoming(feed(&mut ep, &packet));
    // Meanwhile the application connects over the very same four-tuple.
    let tuple = umptcp_tcp::FourTuple {
        local: addr("10.0.0.2:80"),
        remote: addr("10.0.1.1:4000"),
    };
    ep.connect(Instant::ZERO, tuple).unwrap();
    let _ = drain(&mut ep);
    let err = ep.accept_incoming(Instant::ZERO, incoming).unwrap_err();
    assert_eq!(err, AcceptError::TupleInUse(tuple));
    let sent = drain(&mut ep);
    assert_eq!(sent.len(), 1, "the SYN is answered with a reset");
    assert!(flags(&sent[0]).contains(TcpFlags::RST));
    assert_eq!(ep.len(), 1, "only the application's own connection");
    assert_eq!(ep.pending_incoming(), 0);
}

#[test]
fn two_endpoints_complete_a_connection_accepted_from_an_incoming() {
    let mut client = endpoint(6);
    let mut server = endpoint(7);
    server.listen_on(Listen::Any, Admission::Ask);
    let tuple = umptcp_tcp::FourTuple {
        local: addr("10.0.1.1:4000"),
        remote: addr("198.18.0.1:80"),
    };
    let cid = client.connect(Instant::ZERO, tuple).unwrap();
    let mut sid = None;
    let mut buf = vec![0; 65_536];
    let mut now = Instant::ZERO;
    let data = vec![0x5a; 100_000];
    let mut written = 0;
    let mut got = Vec::new();
    for _ in 0..2000 {
        now += std::time::Duration::from_millis(1);
        if let Some(c) = client.connection(cid)
            && written < data.len()
        {
            written += c.write(&data[written..]);
        }
        while let Some(n) = client.poll_transmit(now, &mut buf).map(|t| t.len) {
            let seg = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
            if let Routed::Incoming(inc) = server.handle_segment(now, &seg) {
                assert_eq!(inc.local(), addr("198.18.0.1:80"));
                sid = Some(server.accept_incoming(now, inc).unwrap());
            }
        }
        while let Some(n) = server.poll_transmit(now, &mut buf).map(|t| t.len) {
            let seg = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
            let _ = client.handle_segment(now, &seg);
        }
        if let Some(c) = sid.and_then(|id| server.connection(id)) {
            let mut chunk = [0u8; 8192];
            loop {
                let n = c.read(&mut chunk);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&chunk[..n]);
            }
        }
        client.handle_timeout(now);
        server.handle_timeout(now);
        while client.poll_event().is_some() {}
        while let Some((_, e)) = server.poll_event() {
            assert!(!matches!(e, MptcpEvent::Reset), "{e:?}");
        }
        if got.len() == data.len() {
            break;
        }
    }
    assert_eq!(got, data, "byte-exact through a captured connection");
    assert!(server.connection(sid.unwrap()).unwrap().is_mptcp());
}

/// Whether a packet carries any MPTCP option.
fn has_mptcp(packet: &[u8]) -> bool {
    Segment::parse(packet, ChecksumCheck::Verify)
        .unwrap()
        .options()
        .flatten()
        .any(|o| matches!(o, umptcp_wire::TcpOption::Mptcp(_)))
}

/// A plain-TCP listener (issue 14 item 1) declines MP_CAPABLE, takes SYN
/// data without a cookie when told (RFC 8803 §4.2), and sends its answers
/// by the interface the SYN came in by, to the address it was sent to.
#[test]
fn a_plain_listener_declines_mptcp_and_answers_by_the_syns_interface() {
    let mut ep = endpoint(5);
    let options = ListenOptions {
        protocol: Protocol::Tcp,
        fast_open: true,
        syn_data_without_cookie: true,
    };
    ep.listen_on_with(Listen::Any, Admission::Ask, options);
    let packet = syn("10.0.1.1:4000", "198.51.100.7:443", true, b"convert me");
    let seg = Segment::parse(&packet, ChecksumCheck::Verify).unwrap();
    let incoming = match ep.handle_segment_from(Instant::ZERO, Some(Interface(3)), &seg) {
        Routed::Incoming(i) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(incoming.interface(), Some(Interface(3)));
    assert_eq!(incoming.options(), options);
    let id = ep.accept_incoming(Instant::ZERO, incoming).unwrap();
    let conn = ep.connection(id).unwrap();
    assert_eq!(conn.fallback_reason(), Some(FallbackReason::NotRequested));
    let mut buf = [0u8; 64];
    assert_eq!(conn.read(&mut buf), 10, "the SYN's data, at once");
    assert_eq!(&buf[..10], b"convert me");
    let mut out = vec![0; 2048];
    let t = ep
        .poll_transmit(Instant::ZERO, &mut out)
        .expect("a SYN/ACK");
    assert_eq!(t.interface, Some(Interface(3)));
    assert_eq!(
        t.src,
        addr("198.51.100.7:443"),
        "from the original destination"
    );
    assert_eq!(t.dst, addr("10.0.1.1:4000"));
    let syn_ack = &out[..t.len];
    assert_eq!(flags(syn_ack), TcpFlags::SYN | TcpFlags::ACK);
    assert!(!has_mptcp(syn_ack), "MP_CAPABLE declined");
    assert_eq!(
        Segment::parse(syn_ack, ChecksumCheck::Verify)
            .unwrap()
            .ack(),
        7000 + 1 + 10,
        "SYN and data acknowledged"
    );
}

/// An MPTCP listener with `syn_data_without_cookie` takes an MP_CAPABLE
/// SYN's data (RFC 8684 Appendix B): readable at once, ahead of the data
/// stream, and acknowledged by the SYN/ACK, which answers MP_CAPABLE.
#[test]
fn an_mptcp_listener_takes_the_data_of_an_mp_capable_syn() {
    let mut ep = endpoint(6);
    let options = ListenOptions {
        protocol: Protocol::Mptcp,
        fast_open: true,
        syn_data_without_cookie: true,
    };
    ep.listen_on_with(Listen::Port(80), Admission::Accept(None), options);
    let packet = syn("10.0.1.1:4000", "10.0.0.2:80", true, b"early");
    let Routed::Accepted(id) = feed(&mut ep, &packet) else {
        panic!("accepted")
    };
    let conn = ep.connection(id).unwrap();
    assert_eq!(conn.readable(), 5);
    let mut buf = [0u8; 16];
    assert_eq!(conn.read(&mut buf), 5);
    assert_eq!(&buf[..5], b"early");
    assert!(!conn.is_mptcp(), "the handshake is not done");
    let out = drain(&mut ep);
    assert!(has_mptcp(&out[0]), "MP_CAPABLE answered");
    assert_eq!(
        Segment::parse(&out[0], ChecksumCheck::Verify)
            .unwrap()
            .ack(),
        7001 + 5,
        "SYN and data acknowledged"
    );
}

/// `Endpoint::open`: plain TCP sends no MPTCP option; a local port of 0
/// comes from the one allocator (Linux's 32768-60999), different for each
/// connection to the same peer; Fast Open on MPTCP asks for a cookie on
/// the MP_CAPABLE SYN.
#[test]
fn open_chooses_protocol_and_port() {
    let mut ep = endpoint(7);
    let tuple = |local: &str| umptcp_tcp::FourTuple {
        local: addr(local),
        remote: addr("10.0.0.9:80"),
    };
    let plain = ep
        .open(
            Instant::ZERO,
            tuple("10.0.0.2:0"),
            ConnectOptions {
                protocol: Protocol::Tcp,
                ..ConnectOptions::default()
            },
        )
        .unwrap();
    let mptcp = ep
        .open(
            Instant::ZERO,
            tuple("10.0.0.2:0"),
            ConnectOptions::default(),
        )
        .unwrap();
    let port = |ep: &mut Endpoint, id| {
        ep.connection(id)
            .unwrap()
            .initial_subflow()
            .four_tuple()
            .local
            .port()
    };
    let (p1, p2) = (port(&mut ep, plain), port(&mut ep, mptcp));
    assert_ne!(p1, p2);
    assert!((32768..61000).contains(&p1) && (32768..61000).contains(&p2));
    let syns = drain(&mut ep);
    assert_eq!(syns.len(), 2);
    let mptcp_syns = syns.iter().filter(|p| has_mptcp(p)).count();
    assert_eq!(mptcp_syns, 1, "only the MPTCP connection offers MP_CAPABLE");
    ep.open(
        Instant::ZERO,
        tuple("10.0.0.2:0"),
        ConnectOptions {
            fast_open: Some(None),
            ..ConnectOptions::default()
        },
    )
    .unwrap();
    let syn = drain(&mut ep).pop().expect("a SYN");
    assert!(has_mptcp(&syn));
    let seg = Segment::parse(&syn, ChecksumCheck::Verify).unwrap();
    assert!(
        seg.options()
            .flatten()
            .any(|o| matches!(o, umptcp_wire::TcpOption::FastOpen([]))),
        "a cookie request beside MP_CAPABLE"
    );
}

/// An explicit local port already used towards the same peer is refused
/// (two connections would share one four-tuple's segments); towards
/// another peer it is fine.
#[test]
fn open_refuses_a_four_tuple_in_use() {
    let mut ep = endpoint(8);
    let tuple = |local: &str, remote: &str| umptcp_tcp::FourTuple {
        local: addr(local),
        remote: addr(remote),
    };
    ep.open(
        Instant::ZERO,
        tuple("10.0.0.2:40000", "10.0.0.9:80"),
        ConnectOptions::default(),
    )
    .unwrap();
    let again = ep.open(
        Instant::ZERO,
        tuple("10.0.0.2:40000", "10.0.0.9:80"),
        ConnectOptions::default(),
    );
    assert!(matches!(again, Err(umptcp_proto::ConnectError::TupleInUse)));
    assert_eq!(ep.len(), 1);
    ep.open(
        Instant::ZERO,
        tuple("10.0.0.2:40000", "10.0.0.9:81"),
        ConnectOptions::default(),
    )
    .unwrap();
}

/// SYNs with data to a listener that takes it without a cookie (a
/// converter's) cost a half-open connection only those bytes: the
/// engine's receive buffer is given back once the data is copied out,
/// over MPTCP and plain TCP alike; data over one MSS is not taken at all.
#[test]
fn syn_data_costs_a_half_open_connection_only_its_bytes() {
    let mut ep = endpoint(9);
    let options = ListenOptions {
        protocol: Protocol::Mptcp,
        fast_open: true,
        syn_data_without_cookie: true,
    };
    ep.listen_on_with(Listen::Port(80), Admission::Accept(None), options);
    let data = [0x33u8; 1000];
    for (k, mptcp) in [true, false].into_iter().enumerate() {
        let from = format!("10.0.1.{}:4000", k + 1);
        let Routed::Accepted(id) = feed(&mut ep, &syn(&from, "10.0.0.2:80", mptcp, &data)) else {
            panic!("accepted")
        };
        let conn = ep.connection(id).unwrap();
        assert_eq!(conn.readable(), 1000, "mptcp {mptcp}");
        assert!(
            conn.buffer_bytes() <= 2048,
            "mptcp {mptcp}: {} buffer bytes",
            conn.buffer_bytes()
        );
    }
    let big = vec![0x44u8; 1461];
    let Routed::Accepted(id) = feed(&mut ep, &syn("10.0.1.9:4000", "10.0.0.2:80", true, &big))
    else {
        panic!("accepted")
    };
    assert_eq!(ep.connection(id).unwrap().readable(), 0, "over one MSS");
    assert_eq!(ep.connection(id).unwrap().buffer_bytes(), 0);
    let out = drain(&mut ep);
    let syn_ack = out
        .iter()
        .rev()
        .find(|p| flags(p) == TcpFlags::SYN | TcpFlags::ACK)
        .unwrap();
    assert_eq!(
        Segment::parse(syn_ack, ChecksumCheck::Verify)
            .unwrap()
            .ack(),
        7001,
        "the SYN only"
    );
}
