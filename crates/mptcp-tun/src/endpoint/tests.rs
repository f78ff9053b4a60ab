//! The endpoint between two instances of itself, packet by packet: both
//! protocols side by side, capture, Fast Open, backlog and hostile input.

use std::io;
use std::net::SocketAddr;

use crossbeam_channel::Receiver;
use mptcp_cc::Registry;
use mptcp_proto::{FallbackReason, PolicyFactory, Protocol};
use mptcp_tcp::TcpConfig;
use mptcp_time::Instant;
use mptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};
use proptest::prelude::*;

use super::{Endpoint, EndpointConfig};
use crate::command::{Command, ConnId, ListenAt, ListenerId, Opened};
use crate::config::{MptcpSettings, PathConfig};
use crate::route::RouteTable;
use crate::stats::MptcpInfo;

const A: &str = "10.0.0.1";
const B: &str = "10.0.0.2";

fn endpoint_with(addr: &str, backlog: usize, max: usize, protocol: Protocol) -> Endpoint {
    let paths = vec![PathConfig::new("t0", addr.parse().unwrap())];
    let mut tcp = TcpConfig::default();
    tcp.fast_open = true;
    let config = EndpointConfig {
        routes: RouteTable::new(&paths, &[]).unwrap(),
        paths,
        mtus: vec![1500],
        protocol,
        settings: MptcpSettings::default(),
        tcp,
        congestion_control: "cubic".to_owned(),
        registry: Registry::with_builtins(),
        max_connections: max,
        accept_backlog: backlog,
        close_linger: core::time::Duration::from_secs(1),
    };
    Endpoint::new(config, 1).unwrap()
}

fn endpoint(addr: &str, backlog: usize) -> Endpoint {
    endpoint_with(addr, backlog, 16, Protocol::Mptcp)
}

/// Flush `from` and hand every packet to `to`; the packets moved.
fn carry(from: &mut Endpoint, to: &mut Endpoint, now: Instant) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    from.flush(now, &mut |_, p| packets.push(p.to_vec()));
    for p in &packets {
        to.handle_packet(now, 0, p);
    }
    packets
}

fn run(a: &mut Endpoint, b: &mut Endpoint, now: Instant) {
    for _ in 0..40 {
        let moved = carry(a, b, now).len() + carry(b, a, now).len();
        if moved == 0 {
            return;
        }
    }
    panic!("the endpoints never went quiet");
}

fn connect_to(
    a: &mut Endpoint,
    remote: SocketAddr,
    protocol: Option<Protocol>,
    fast_open: Option<Vec<u8>>,
) -> Receiver<io::Result<Opened>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    a.handle_command(
        Instant::ZERO,
        Command::Connect {
            remote,
            local: None,
            protocol,
            fast_open,
            policy: None,
            reply: tx,
        },
    );
    rx
}

fn connect(a: &mut Endpoint, port: u16) -> Receiver<io::Result<Opened>> {
    connect_to(a, SocketAddr::new(B.parse().unwrap(), port), None, None)
}

fn listen_at(b: &mut Endpoint, at: ListenAt, protocol: Option<Protocol>) -> ListenerId {
    let (tx, rx) = crossbeam_channel::bounded(1);
    b.handle_command(
        Instant::ZERO,
        Command::Listen {
            at,
            protocol,
            fast_open: false,
            syn_data_without_cookie: false,
            policy: None::<PolicyFactory>,
            reply: tx,
        },
    );
    rx.try_recv().unwrap().unwrap()
}

fn listen(b: &mut Endpoint, port: u16) -> ListenerId {
    listen_at(b, ListenAt::Port(port), None)
}

fn accept(b: &mut Endpoint, listener: ListenerId) -> Opened {
    let (tx, rx) = crossbeam_channel::bounded(1);
    b.handle_command(
        Instant::ZERO,
        Command::Accept {
            listener,
            reply: tx,
        },
    );
    rx.try_recv().expect("a connection waits").unwrap()
}

fn write(a: &mut Endpoint, conn: ConnId, data: &[u8]) -> Receiver<io::Result<(usize, Vec<u8>)>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    a.handle_command(
        Instant::ZERO,
        Command::Write {
            conn,
            data: data.to_vec(),
            reply: tx,
        },
    );
    rx
}

fn read(b: &mut Endpoint, conn: ConnId) -> Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    b.handle_command(
        Instant::ZERO,
        Command::Read {
            conn,
            buf: Vec::with_capacity(64),
            reply: tx,
        },
    );
    rx
}

fn mptcp_info(a: &mut Endpoint, conn: ConnId) -> Option<MptcpInfo> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    a.handle_command(Instant::ZERO, Command::MptcpInfo { conn, reply: tx });
    rx.try_recv().unwrap().unwrap()
}

/// A data exchange from `client` to `server` over established handles.
fn exchange(a: &mut Endpoint, b: &mut Endpoint, client: &Opened, server: &Opened) {
    let wrote = write(a, client.id, b"hello");
    run(a, b, Instant::ZERO);
    assert_eq!(wrote.try_recv().unwrap().unwrap().0, 5);
    let got = read(b, server.id);
    run(a, b, Instant::ZERO);
    assert_eq!(got.try_recv().unwrap().unwrap(), b"hello");
}

#[test]
fn a_closed_port_refuses_with_a_reset() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let reply = connect(&mut a, 80);
    run(&mut a, &mut b, Instant::ZERO);
    let err = reply.try_recv().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(b.stats.resets_sent, 1);
    assert_eq!(a.live(), 0, "the failed connection is freed");
}

#[test]
fn accept_then_data_both_ways() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let listener = listen(&mut b, 80);
    let reply = connect(&mut a, 80);
    run(&mut a, &mut b, Instant::ZERO);
    let client = reply.try_recv().unwrap().unwrap();
    assert_eq!(client.remote, "10.0.0.2:80".parse().unwrap());
    let server = accept(&mut b, listener);
    assert_eq!(server.remote, client.local);
    exchange(&mut a, &mut b, &client, &server);
    exchange(&mut b, &mut a, &server, &client);
    let info = mptcp_info(&mut a, client.id).expect("an MPTCP connection");
    assert!(info.mptcp, "{info:?}");
}

/// One stack, both protocols: a plain-TCP connect and an MPTCP one to the
/// same MPTCP listener, and an MPTCP connect to a plain-TCP listener
/// (declined: the connection falls back).
#[test]
fn plain_and_mptcp_connections_side_by_side() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let mptcp_listener = listen(&mut b, 80);
    let plain_listener = listen_at(&mut b, ListenAt::Port(81), Some(Protocol::Tcp));
    let to = |port| SocketAddr::new(B.parse().unwrap(), port);
    let plain = connect_to(&mut a, to(80), Some(Protocol::Tcp), None);
    let mptcp = connect_to(&mut a, to(80), Some(Protocol::Mptcp), None);
    let declined = connect_to(&mut a, to(81), None, None);
    run(&mut a, &mut b, Instant::ZERO);
    let plain = plain.try_recv().unwrap().unwrap();
    let mptcp = mptcp.try_recv().unwrap().unwrap();
    let declined = declined.try_recv().unwrap().unwrap();
    assert_eq!(mptcp_info(&mut a, plain.id), None, "plain by choice");
    assert!(mptcp_info(&mut a, mptcp.id).unwrap().mptcp);
    let fell_back = mptcp_info(&mut a, declined.id).unwrap();
    assert!(!fell_back.mptcp);
    assert_eq!(fell_back.fallback, Some(FallbackReason::NoMpCapable));
    let s1 = accept(&mut b, mptcp_listener);
    let s2 = accept(&mut b, mptcp_listener);
    let s3 = accept(&mut b, plain_listener);
    assert_eq!(mptcp_info(&mut b, s3.id), None, "the listener chose TCP");
    for (client, server) in [(&plain, &s1), (&plain, &s2), (&mptcp, &s1), (&mptcp, &s2)] {
        if client.local == server.remote {
            exchange(&mut a, &mut b, client, server);
        }
    }
    exchange(&mut a, &mut b, &declined, &s3);
}

/// Transparent capture: a SYN to an address that is nowhere, arriving by
/// the capture device, is accepted; the connection's local end is that
/// address and its packets leave by the same device.
#[test]
fn a_capture_listener_takes_any_destination_and_answers_by_its_device() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let capture = listen_at(&mut b, ListenAt::Capture("t0".to_owned()), None);
    let elsewhere: SocketAddr = "198.51.100.7:443".parse().unwrap();
    let reply = connect_to(&mut a, elsewhere, None, None);
    run(&mut a, &mut b, Instant::ZERO);
    let client = reply.try_recv().unwrap().unwrap();
    let server = accept(&mut b, capture);
    assert_eq!(server.local, elsewhere, "the original destination");
    assert_eq!(server.remote, client.local);
    exchange(&mut a, &mut b, &client, &server);
    exchange(&mut b, &mut a, &server, &client);
    // A second capture listener is refused.
    let (tx, rx) = crossbeam_channel::bounded(1);
    b.handle_command(
        Instant::ZERO,
        Command::Listen {
            at: ListenAt::Capture("t0".to_owned()),
            protocol: None,
            fast_open: false,
            syn_data_without_cookie: false,
            policy: None,
            reply: tx,
        },
    );
    assert_eq!(
        rx.try_recv().unwrap().unwrap_err().kind(),
        io::ErrorKind::AddrInUse
    );
}

/// Without a capture listener the same SYN is not ours: ignored, no reset.
#[test]
fn without_capture_foreign_destinations_are_ignored() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let elsewhere: SocketAddr = "198.51.100.7:443".parse().unwrap();
    let reply = connect_to(&mut a, elsewhere, None, None);
    run(&mut a, &mut b, Instant::ZERO);
    assert!(reply.try_recv().is_err(), "no answer yet");
    assert_eq!(b.stats.resets_sent, 0);
    assert!(b.stats.packets_ignored >= 1);
}

/// RFC 7413 through the driver: the first connect asks for a cookie, the
/// second sends its data with the SYN and the server reads it before the
/// handshake's last ACK.
#[test]
fn fast_open_cookies_are_learned_and_used() {
    let (mut a, mut b) = (
        endpoint_with(A, 8, 16, Protocol::Tcp),
        endpoint_with(B, 8, 16, Protocol::Tcp),
    );
    let listener = listen(&mut b, 80);
    let to = SocketAddr::new(B.parse().unwrap(), 80);
    let first = connect_to(&mut a, to, None, Some(b"one".to_vec()));
    run(&mut a, &mut b, Instant::ZERO);
    first.try_recv().unwrap().unwrap();
    assert_eq!(a.cookies.len(), 1, "the server's cookie is kept");
    let s1 = accept(&mut b, listener);
    let got = read(&mut b, s1.id);
    run(&mut a, &mut b, Instant::ZERO);
    assert_eq!(got.try_recv().unwrap().unwrap(), b"one");

    let second = connect_to(&mut a, to, None, Some(b"two".to_vec()));
    let mut syn = Vec::new();
    a.flush(Instant::ZERO, &mut |_, p| syn.push(p.to_vec()));
    assert_eq!(syn.len(), 1);
    let seg = Segment::parse(&syn[0], ChecksumCheck::Verify).unwrap();
    assert_eq!(seg.flags(), TcpFlags::SYN);
    assert_eq!(seg.payload(), b"two", "the data rides on the SYN");
    b.handle_packet(Instant::ZERO, 0, &syn[0]);
    run(&mut a, &mut b, Instant::ZERO);
    second.try_recv().unwrap().unwrap();
    let s2 = accept(&mut b, listener);
    let got = read(&mut b, s2.id);
    run(&mut a, &mut b, Instant::ZERO);
    assert_eq!(got.try_recv().unwrap().unwrap(), b"two");
}

#[test]
fn fast_open_over_mptcp_is_refused_clearly() {
    let mut a = endpoint(A, 8);
    let to = SocketAddr::new(B.parse().unwrap(), 80);
    let reply = connect_to(&mut a, to, Some(Protocol::Mptcp), Some(b"x".to_vec()));
    let err = reply.try_recv().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
}

#[test]
fn a_read_waits_for_data_and_a_cancel_answers_it_once() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    listen(&mut b, 80);
    let reply = connect(&mut a, 80);
    run(&mut a, &mut b, Instant::ZERO);
    let client = reply.try_recv().unwrap().unwrap();
    let rx = read(&mut a, client.id);
    run(&mut a, &mut b, Instant::ZERO);
    assert!(rx.try_recv().is_err(), "no data yet: the read waits");
    a.handle_command(Instant::ZERO, Command::CancelRead { conn: client.id });
    let err = rx.try_recv().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    a.handle_command(Instant::ZERO, Command::CancelRead { conn: client.id });
    assert!(rx.try_recv().is_err(), "exactly one reply");
}

#[test]
fn syns_beyond_the_backlog_are_dropped_silently() {
    let (mut a, mut b) = (endpoint(A, 1), endpoint(B, 1));
    listen(&mut b, 80);
    let first = connect(&mut a, 80);
    let second = connect(&mut a, 80);
    run(&mut a, &mut b, Instant::ZERO);
    let answered = [first.try_recv(), second.try_recv()];
    assert_eq!(
        answered.iter().filter(|r| matches!(r, Ok(Ok(_)))).count(),
        1,
        "one SYN was accepted"
    );
    assert_eq!(
        answered.iter().filter(|r| r.is_err()).count(),
        1,
        "the other got no answer: {answered:?}"
    );
    assert_eq!(b.stats.resets_sent, 0);
    assert_eq!(b.live(), 1);
}

fn packet(builder: &SegmentBuilder<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 1600];
    let n = builder.emit(&mut buf).unwrap().len;
    buf.truncate(n);
    buf
}

#[test]
fn foreign_addresses_and_garbage_are_ignored_and_resets_unanswered() {
    let mut b = endpoint(B, 8);
    b.handle_packet(Instant::ZERO, 0, &[0x45, 0, 1, 2]);
    // A SYN to an address that is not ours.
    let mut syn = SegmentBuilder::new(
        "10.0.0.1:1000".parse().unwrap(),
        "10.0.0.9:80".parse().unwrap(),
    );
    syn.flags = TcpFlags::SYN;
    b.handle_packet(Instant::ZERO, 0, &packet(&syn));
    // A reset to a port with nothing on it.
    let mut rst = SegmentBuilder::new(
        "10.0.0.1:1000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
    );
    rst.flags = TcpFlags::RST;
    b.handle_packet(Instant::ZERO, 0, &packet(&rst));
    let mut sent = 0;
    b.flush(Instant::ZERO, &mut |_, _| sent += 1);
    assert_eq!(sent, 0);
    assert_eq!(b.stats.packets_ignored, 2);
}

#[test]
fn unknown_ids_reach_no_connection() {
    let mut a = endpoint(A, 8);
    let (tx, rx) = crossbeam_channel::bounded(1);
    let conn = ConnId {
        index: 99,
        generation: 0,
    };
    a.handle_command(
        Instant::ZERO,
        Command::Read {
            conn,
            buf: Vec::new(),
            reply: tx,
        },
    );
    assert_eq!(
        rx.try_recv().unwrap().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
}

// ------------------------------------------------------- hostile input

/// Nothing a peer sends may panic the endpoint or grow it past its
/// limits: random bytes, and well-formed segments with random fields (a
/// SYN flood among them), aimed at listening endpoints of each protocol.
fn listening(backlog: usize, max_connections: usize, protocol: Protocol) -> Endpoint {
    let mut e = endpoint_with(B, backlog, max_connections, protocol);
    listen(&mut e, 80);
    e
}

fn segment(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = SegmentBuilder::new(
        SocketAddr::new(A.parse().unwrap(), src_port),
        SocketAddr::new(B.parse().unwrap(), dst_port),
    );
    b.seq = seq;
    b.ack = ack;
    b.flags = TcpFlags::from_bits(flags);
    b.window = 1000;
    b.payload = payload;
    packet(&b)
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Mptcp), Just(Protocol::Tcp)]
}

proptest! {
    #[test]
    fn random_bytes_never_panic(
        protocol in protocol(),
        packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..50),
    ) {
        let mut e = listening(4, 8, protocol);
        let mut now = Instant::ZERO;
        for p in &packets {
            e.handle_packet(now, 0, p);
            e.flush(now, &mut |_, _| {});
            now += core::time::Duration::from_millis(10);
            e.handle_timeouts(now);
        }
        prop_assert!(e.live() <= 8);
    }

    #[test]
    fn random_segments_stay_within_limits(
        protocol in protocol(),
        segs in prop::collection::vec(
            (1000u16..1040, prop_oneof![Just(80u16), any::<u16>()], any::<u32>(), any::<u32>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..64)),
            1..200,
        )
    ) {
        let (backlog, max) = (4, 6);
        let mut e = listening(backlog, max, protocol);
        let mut now = Instant::ZERO;
        for (sp, dp, seq, ack, flags, payload) in &segs {
            let p = segment(*sp, *dp, *seq, *ack, *flags, payload);
            e.handle_packet(now, 0, &p);
            e.flush(now, &mut |_, _| {});
            now += core::time::Duration::from_millis(3);
            e.handle_timeouts(now);
            // Nobody accepts: the listener holds at most its backlog.
            prop_assert!(e.live() <= backlog, "{} connections", e.live());
            prop_assert!(e.core.len() <= backlog, "{} in the core", e.core.len());
        }
        // Unaccepted connections still time out and are freed: the
        // SYN-ACK is retried with backoff (minutes with the defaults).
        for _ in 0..1200 {
            now += core::time::Duration::from_secs(1);
            e.handle_timeouts(now);
            e.flush(now, &mut |_, _| {});
        }
        prop_assert_eq!(e.live(), 0, "every half-open connection was given up");
        prop_assert_eq!(e.core.len(), 0);
    }
}
