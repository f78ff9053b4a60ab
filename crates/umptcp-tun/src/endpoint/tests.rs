//! The endpoint between two instances of itself, packet by packet: both
//! protocols side by side, capture, Fast Open, backlog, the handles'
//! shared state, and hostile input.

use std::io;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use proptest::prelude::*;
use umptcp_proto::{ConnectionId, FallbackReason, PolicyFactory, Protocol};
use umptcp_tcp::TcpConfig;
use umptcp_time::Instant;
use umptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};

use super::{Endpoint, EndpointConfig};
use crate::command::{Command, ListenAt};
use crate::config::{MptcpSettings, PathConfig};
use crate::readiness::{AcceptQueue, Handle, Shared, TX_CAPACITY};
use crate::route::RouteTable;
use crate::stats::MptcpInfo;

const A: &str = "10.0.0.1";
const B: &str = "10.0.0.2";

/// An endpoint with the channel its handles ring it through, as the stack
/// thread has.
struct Ep {
    e: Endpoint,
    tx: Sender<Command>,
    rx: Receiver<Command>,
}

impl Deref for Ep {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.e
    }
}

impl DerefMut for Ep {
    fn deref_mut(&mut self) -> &mut Endpoint {
        &mut self.e
    }
}

impl Ep {
    /// Hand the endpoint what its handles sent.
    fn pump(&mut self) {
        while let Ok(c) = self.rx.try_recv() {
            self.e.handle_command(Instant::ZERO, c);
        }
    }
}

fn endpoint_with(addr: &str, backlog: usize, max: usize, protocol: Protocol) -> Ep {
    let paths = vec![PathConfig::new("t0", addr.parse().unwrap())];
    let mut tcp = TcpConfig::default();
    tcp.fast_open = true;
    // An MPTCP stack's subflows take the settings' TCP configuration.
    let mut settings = MptcpSettings::default();
    settings.config.tcp.fast_open = true;
    let config = EndpointConfig {
        routes: RouteTable::new(&paths, &[]).unwrap(),
        paths,
        mtus: vec![1500],
        protocol,
        settings,
        tcp,
        congestion_control: "cubic".to_owned(),
        registry: umptcp_proto::PolicyRegistry::with_builtins(),
        max_connections: max,
        accept_backlog: backlog,
        close_linger: Duration::from_secs(1),
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    Ep {
        e: Endpoint::new(config, 1).unwrap(),
        tx,
        rx,
    }
}

fn endpoint(addr: &str, backlog: usize) -> Ep {
    endpoint_with(addr, backlog, 16, Protocol::Mptcp)
}

/// Flush `from` and hand every packet to `to`; the packets moved.
fn carry(from: &mut Ep, to: &mut Ep, now: Instant) -> Vec<Vec<u8>> {
    from.pump();
    let mut packets = Vec::new();
    from.flush(now, &mut |_, p| packets.push(p.to_vec()));
    for p in &packets {
        to.handle_packet(now, 0, p);
    }
    packets
}

fn run(a: &mut Ep, b: &mut Ep, now: Instant) {
    for _ in 0..40 {
        let moved = carry(a, b, now).len() + carry(b, a, now).len();
        if moved == 0 {
            // What the last packets changed reaches the handles.
            a.flush(now, &mut |_, _| panic!("a packet after quiet"));
            b.flush(now, &mut |_, _| panic!("a packet after quiet"));
            return;
        }
    }
    panic!("the endpoints never went quiet");
}

/// A connection's handle and both its ends.
struct Conn {
    h: Handle,
    local: SocketAddr,
    remote: SocketAddr,
}

fn connect_to(
    a: &mut Ep,
    remote: SocketAddr,
    protocol: Option<Protocol>,
    fast_open: Option<Vec<u8>>,
) -> Handle {
    let shared = Shared::new();
    a.handle_command(
        Instant::ZERO,
        Command::Connect {
            remote,
            local: None,
            protocol,
            syn_data_without_cookie: false,
            fast_open,
            policy: None,
            shared: Arc::clone(&shared),
        },
    );
    Handle::new(shared, a.tx.clone())
}

fn connect(a: &mut Ep, port: u16) -> Handle {
    connect_to(a, SocketAddr::new(B.parse().unwrap(), port), None, None)
}

/// The connection's ends, once established (no waiting).
fn established(h: Handle) -> Conn {
    let (local, remote) = h.wait_established(Some(Duration::ZERO)).unwrap();
    Conn { h, local, remote }
}

fn listen_with(
    b: &mut Ep,
    at: ListenAt,
    protocol: Option<Protocol>,
) -> io::Result<Arc<AcceptQueue>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let queue = AcceptQueue::new();
    b.handle_command(
        Instant::ZERO,
        Command::Listen {
            at,
            protocol,
            fast_open: false,
            syn_data_without_cookie: false,
            policy: None::<PolicyFactory>,
            queue: Arc::clone(&queue),
            held: None,
            reply: tx,
        },
    );
    rx.try_recv().unwrap().map(|_| queue)
}

fn listen_at(b: &mut Ep, at: ListenAt, protocol: Option<Protocol>) -> Arc<AcceptQueue> {
    listen_with(b, at, protocol).unwrap()
}

fn listen(b: &mut Ep, port: u16) -> Arc<AcceptQueue> {
    listen_at(b, ListenAt::Port(port), None)
}

fn accept(b: &Ep, queue: &AcceptQueue) -> Conn {
    let a = queue
        .accept(Some(Duration::ZERO))
        .expect("a connection waits");
    Conn {
        h: Handle::new(a.shared, b.tx.clone()),
        local: a.local,
        remote: a.remote,
    }
}

fn read_now(h: &Handle) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; 64 * 1024];
    let n = h.read(&mut buf, Some(Duration::ZERO))?;
    buf.truncate(n);
    Ok(buf)
}

fn mptcp_info(a: &mut Ep, conn: &Conn) -> Option<MptcpInfo> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let id = conn.h.id().unwrap();
    a.handle_command(
        Instant::ZERO,
        Command::MptcpInfo {
            conn: id,
            reply: tx,
        },
    );
    rx.try_recv().unwrap().unwrap()
}

/// A data exchange from `client` to `server` over established handles.
fn exchange(a: &mut Ep, b: &mut Ep, client: &Conn, server: &Conn) {
    assert_eq!(client.h.write(b"hello", Some(Duration::ZERO)).unwrap(), 5);
    run(a, b, Instant::ZERO);
    assert_eq!(read_now(&server.h).unwrap(), b"hello");
}

#[test]
fn a_closed_port_refuses_with_a_reset() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let h = connect(&mut a, 80);
    run(&mut a, &mut b, Instant::ZERO);
    let err = h.wait_established(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(b.stats.resets_sent, 1);
    drop(h);
    run(&mut a, &mut b, Instant::ZERO);
    assert_eq!(a.live(), 0, "the failed connection is freed");
}

#[test]
fn accept_then_data_both_ways() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let listener = listen(&mut b, 80);
    let h = connect(&mut a, 80);
    run(&mut a, &mut b, Instant::ZERO);
    let client = established(h);
    assert_eq!(client.remote, "10.0.0.2:80".parse().unwrap());
    let server = accept(&b, &listener);
    assert_eq!(server.remote, client.local);
    exchange(&mut a, &mut b, &client, &server);
    exchange(&mut b, &mut a, &server, &client);
    let info = mptcp_info(&mut a, &client).expect("an MPTCP connection");
    assert!(info.mptcp, "{info:?}");
    // The `ss -Mni` shape: the connection, then each subflow.
    let text = info.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let token = format!("token:{:08x} ", info.token.expect("MPTCP has a token"));
    assert!(lines[0].starts_with(&token), "{text}");
    assert!(lines[0].contains(" peer_token:"), "{text}");
    assert!(lines[0].contains(" subflows:0 subflows_total:1 "), "{text}");
    assert!(
        lines[0].ends_with(" bytes_acked:5 bytes_received:5 send_queue:0"),
        "{text}"
    );
    let subflow = format!(
        "  subflow:0 {}->{} established rtt:",
        client.local, client.remote
    );
    assert!(lines[1].starts_with(&subflow), "{text}");
    assert!(
        lines[1].contains(" retrans:0 bytes_sent:5 bytes_received:5"),
        "{text}"
    );
    assert_eq!((info.data.bytes_acked, info.data.bytes_received), (5, 5));
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
    let (plain, mptcp, declined) = (
        established(plain),
        established(mptcp),
        established(declined),
    );
    assert_eq!(mptcp_info(&mut a, &plain), None, "plain by choice");
    assert!(mptcp_info(&mut a, &mptcp).unwrap().mptcp);
    let fell_back = mptcp_info(&mut a, &declined).unwrap();
    assert!(!fell_back.mptcp);
    assert_eq!(fell_back.fallback, Some(FallbackReason::NoMpCapable));
    let s1 = accept(&b, &mptcp_listener);
    let s2 = accept(&b, &mptcp_listener);
    let s3 = accept(&b, &plain_listener);
    assert_eq!(mptcp_info(&mut b, &s3), None, "the listener chose TCP");
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
    let h = connect_to(&mut a, elsewhere, None, None);
    run(&mut a, &mut b, Instant::ZERO);
    let client = established(h);
    let server = accept(&b, &capture);
    assert_eq!(server.local, elsewhere, "the original destination");
    assert_eq!(server.remote, client.local);
    exchange(&mut a, &mut b, &client, &server);
    exchange(&mut b, &mut a, &server, &client);
    // A second capture listener is refused.
    let again = listen_with(&mut b, ListenAt::Capture("t0".to_owned()), None);
    assert_eq!(again.unwrap_err().kind(), io::ErrorKind::AddrInUse);
}

/// Without a capture listener the same SYN is not ours: ignored, no reset.
#[test]
fn without_capture_foreign_destinations_are_ignored() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let elsewhere: SocketAddr = "198.51.100.7:443".parse().unwrap();
    let h = connect_to(&mut a, elsewhere, None, None);
    run(&mut a, &mut b, Instant::ZERO);
    let pending = h.wait_established(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(pending.kind(), io::ErrorKind::TimedOut, "no answer yet");
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
    let _first = established(first);
    assert_eq!(a.cookies.len(), 1, "the server's cookie is kept");
    let s1 = accept(&b, &listener);
    run(&mut a, &mut b, Instant::ZERO);
    assert_eq!(read_now(&s1.h).unwrap(), b"one");

    let second = connect_to(&mut a, to, None, Some(b"two".to_vec()));
    let mut syn = Vec::new();
    a.flush(Instant::ZERO, &mut |_, p| syn.push(p.to_vec()));
    assert_eq!(syn.len(), 1);
    let seg = Segment::parse(&syn[0], ChecksumCheck::Verify).unwrap();
    assert_eq!(seg.flags(), TcpFlags::SYN);
    assert_eq!(seg.payload(), b"two", "the data rides on the SYN");
    b.handle_packet(Instant::ZERO, 0, &syn[0]);
    run(&mut a, &mut b, Instant::ZERO);
    let _second = established(second);
    let s2 = accept(&b, &listener);
    run(&mut a, &mut b, Instant::ZERO);
    assert_eq!(read_now(&s2.h).unwrap(), b"two");
}

/// The same over MPTCP (RFC 8684 Appendix B): the cookie comes with the
/// MP_CAPABLE SYN/ACK, the second SYN carries MP_CAPABLE, the cookie and
/// the data, and the server reads the data before the handshake ends; the
/// bytes written after it follow in the data stream.
#[test]
fn mptcp_fast_open_learns_a_cookie_and_sends_data_on_the_syn() {
    let (mut a, mut b) = (
        endpoint_with(A, 8, 16, Protocol::Mptcp),
        endpoint_with(B, 8, 16, Protocol::Mptcp),
    );
    let listener = listen(&mut b, 80);
    let to = SocketAddr::new(B.parse().unwrap(), 80);
    let first = connect_to(&mut a, to, None, Some(b"one".to_vec()));
    run(&mut a, &mut b, Instant::ZERO);
    let _first = established(first);
    assert_eq!(a.cookies.len(), 1, "the server's cookie is kept");
    let s1 = accept(&b, &listener);
    run(&mut a, &mut b, Instant::ZERO);
    assert_eq!(read_now(&s1.h).unwrap(), b"one");

    let second = connect_to(&mut a, to, None, Some(b"two".to_vec()));
    let mut syn = Vec::new();
    a.flush(Instant::ZERO, &mut |_, p| syn.push(p.to_vec()));
    assert_eq!(syn.len(), 1);
    let seg = Segment::parse(&syn[0], ChecksumCheck::Verify).unwrap();
    assert_eq!(seg.flags(), TcpFlags::SYN);
    assert_eq!(seg.payload(), b"two", "the data rides on the SYN");
    assert!(
        seg.options()
            .flatten()
            .any(|o| matches!(o, umptcp_wire::TcpOption::Mptcp(_))),
        "beside MP_CAPABLE"
    );
    b.handle_packet(Instant::ZERO, 0, &syn[0]);
    let mut syn_ack = Vec::new();
    b.flush(Instant::ZERO, &mut |_, p| syn_ack.push(p.to_vec()));
    assert_eq!(syn_ack.len(), 1, "the SYN/ACK, held back for now");
    let s2 = accept(&b, &listener);
    assert_eq!(
        read_now(&s2.h).unwrap(),
        b"two",
        "before the handshake ends"
    );
    a.handle_packet(Instant::ZERO, 0, &syn_ack[0]);
    run(&mut a, &mut b, Instant::ZERO);
    let second = established(second);
    assert!(mptcp_info(&mut a, &second).unwrap().mptcp, "MPTCP");
    exchange(&mut a, &mut b, &second, &s2);
}

/// A read with nothing to read waits (here: times out at once) and leaves
/// nothing behind; the data that comes later is read whole.
#[test]
fn a_read_waits_for_data_and_a_timeout_costs_nothing() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let listener = listen(&mut b, 80);
    let h = connect(&mut a, 80);
    run(&mut a, &mut b, Instant::ZERO);
    let client = established(h);
    let server = accept(&b, &listener);
    let err = read_now(&client.h).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    exchange(&mut b, &mut a, &server, &client);
}

/// The last handle gone closes gracefully: the bytes written before go
/// out, then the end of the stream, and the driver frees the connection.
#[test]
fn dropping_the_last_handle_sends_what_was_written_then_closes() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let listener = listen(&mut b, 80);
    let h = connect(&mut a, 80);
    run(&mut a, &mut b, Instant::ZERO);
    let client = established(h);
    let server = accept(&b, &listener);
    let second = client.h.try_clone().unwrap();
    assert_eq!(client.h.write(b"last words", None).unwrap(), 10);
    drop(client);
    // Written but not yet in the core: the clone still holds it open.
    second.write(b"!", None).unwrap();
    drop(second);
    run(&mut a, &mut b, Instant::ZERO);
    assert_eq!(read_now(&server.h).unwrap(), b"last words!");
    assert_eq!(read_now(&server.h).unwrap(), b"", "then the end");
    drop(server);
    let mut now = Instant::ZERO;
    for _ in 0..100 {
        now += Duration::from_millis(100);
        a.handle_timeouts(now);
        b.handle_timeouts(now);
        run(&mut a, &mut b, now);
    }
    assert_eq!((a.live(), b.live()), (0, 0), "both freed");
}

/// Both sides closed: a handle still held reads the end of the stream and
/// a write is refused (`BrokenPipe`), not swallowed.
#[test]
fn after_a_close_both_ways_reads_end_and_writes_are_refused() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let listener = listen(&mut b, 80);
    let h = connect(&mut a, 80);
    run(&mut a, &mut b, Instant::ZERO);
    let client = established(h);
    let server = accept(&b, &listener);
    client.h.shutdown(false, true).unwrap();
    server.h.shutdown(false, true).unwrap();
    let mut now = Instant::ZERO;
    for _ in 0..1000 {
        now += Duration::from_millis(100);
        a.handle_timeouts(now);
        b.handle_timeouts(now);
        run(&mut a, &mut b, now);
    }
    assert!(a.slots.values().chain(b.slots.values()).all(|s| s.finished));
    for side in [&client, &server] {
        assert_eq!(read_now(&side.h).unwrap(), b"");
        let refused = side.h.write(b"late", Some(Duration::ZERO)).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::BrokenPipe);
    }
}

/// A writer faster than its peer reads: the buffers fill, a write then
/// waits (times out), and the peer's reads make room again; not a byte
/// is lost or repeated.
#[test]
fn a_full_send_buffer_holds_the_writer_until_the_peer_reads() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let listener = listen(&mut b, 80);
    let h = connect(&mut a, 80);
    run(&mut a, &mut b, Instant::ZERO);
    let client = established(h);
    let server = accept(&b, &listener);
    // More than every buffer on the way holds (ours, the core's both
    // ways).
    let data: Vec<u8> = (0..16 * TX_CAPACITY as u32)
        .map(|i| (i % 251) as u8)
        .collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut stalls = 0;
    let mut now = Instant::ZERO;
    while got.len() < data.len() {
        match client.h.write(&data[sent..], Some(Duration::ZERO)) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => stalls += 1,
            Err(e) => panic!("{e}"),
        }
        now += Duration::from_millis(1);
        a.handle_timeouts(now);
        b.handle_timeouts(now);
        run(&mut a, &mut b, now);
        // The reader starts once the writer was held, then takes a
        // little each round.
        let mut buf = vec![0; 16 * 1024];
        if (stalls > 0 || sent == data.len())
            && let Ok(n) = server.h.read(&mut buf, Some(Duration::ZERO))
        {
            got.extend_from_slice(&buf[..n]);
        }
        assert!(now - Instant::ZERO < Duration::from_secs(600), "stuck");
    }
    assert!(got == data, "the bytes arrive exact");
    assert!(stalls > 0, "the writer was held at least once");
}

/// A connect given up before the handshake (its handle dropped) is
/// aborted: nothing is left in the driver or the core.
#[test]
fn a_connect_given_up_is_aborted() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let elsewhere: SocketAddr = "198.51.100.7:443".parse().unwrap();
    let h = connect_to(&mut a, elsewhere, None, None);
    run(&mut a, &mut b, Instant::ZERO);
    assert_eq!(a.live(), 1);
    drop(h);
    run(&mut a, &mut b, Instant::ZERO);
    assert_eq!(a.live(), 0);
    assert_eq!(a.core.len(), 0);
}

/// Closing a listener resets what nobody accepted and tells a waiting
/// accept.
#[test]
fn closing_a_listener_resets_the_unaccepted() {
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let listener = listen(&mut b, 80);
    let h = connect(&mut a, 80);
    run(&mut a, &mut b, Instant::ZERO);
    let client = established(h);
    assert_eq!(listener.len(), 1);
    let (tx, rx) = crossbeam_channel::bounded(1);
    b.handle_command(
        Instant::ZERO,
        Command::Listen {
            at: ListenAt::Port(80),
            protocol: None,
            fast_open: false,
            syn_data_without_cookie: false,
            policy: None,
            queue: AcceptQueue::new(),
            held: None,
            reply: tx,
        },
    );
    assert_eq!(
        rx.try_recv().unwrap().unwrap_err().kind(),
        io::ErrorKind::AddrInUse
    );
    let id = b.listeners.get(&80).unwrap().id;
    b.handle_command(Instant::ZERO, Command::CloseListener { listener: id });
    run(&mut a, &mut b, Instant::ZERO);
    assert_eq!(
        listener.accept(None).unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    assert_eq!(
        read_now(&client.h).unwrap_err().kind(),
        io::ErrorKind::ConnectionReset
    );
}

#[test]
fn syns_beyond_the_backlog_are_dropped_silently() {
    let (mut a, mut b) = (endpoint(A, 1), endpoint(B, 1));
    let _listener = listen(&mut b, 80);
    let first = connect(&mut a, 80);
    let second = connect(&mut a, 80);
    run(&mut a, &mut b, Instant::ZERO);
    let answered = [
        first.wait_established(Some(Duration::ZERO)),
        second.wait_established(Some(Duration::ZERO)),
    ];
    assert_eq!(
        answered.iter().filter(|r| r.is_ok()).count(),
        1,
        "one SYN was accepted"
    );
    assert_eq!(
        answered
            .iter()
            .filter(|r| r
                .as_ref()
                .is_err_and(|e| e.kind() == io::ErrorKind::TimedOut))
            .count(),
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
    a.handle_command(Instant::ZERO, Command::Ready(ConnectionId(99)));
    let (tx, rx) = crossbeam_channel::bounded(1);
    a.handle_command(
        Instant::ZERO,
        Command::Info {
            conn: ConnectionId(99),
            reply: tx,
        },
    );
    assert_eq!(
        rx.try_recv().unwrap().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    a.flush(Instant::ZERO, &mut |_, _| panic!("nothing to send"));
}

// ------------------------------------------------------- hostile input

/// Nothing a peer sends may panic the endpoint or grow it past its
/// limits: random bytes, and well-formed segments with random fields (a
/// SYN flood among them), aimed at listening endpoints of each protocol.
fn listening(backlog: usize, max_connections: usize, protocol: Protocol) -> Ep {
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

/// `Stream::abort`: the peer sees a reset (MP_FASTCLOSE over MPTCP, RST
/// over plain TCP), our own handle an abort; queued bytes are not sent.
#[test]
fn an_abort_resets_the_peer_and_drops_what_is_queued() {
    for protocol in [Protocol::Mptcp, Protocol::Tcp] {
        let (mut a, mut b) = (
            endpoint_with(A, 8, 16, protocol),
            endpoint_with(B, 8, 16, protocol),
        );
        let listener = listen(&mut b, 80);
        let h = connect(&mut a, 80);
        run(&mut a, &mut b, Instant::ZERO);
        let client = established(h);
        let server = accept(&b, &listener);
        exchange(&mut a, &mut b, &client, &server);
        assert_eq!(
            client.h.write(b"never sent", Some(Duration::ZERO)).unwrap(),
            10
        );
        client.h.abort().unwrap();
        let mut fastclose = false;
        for _ in 0..40 {
            let packets = carry(&mut a, &mut b, Instant::ZERO);
            for p in &packets {
                let seg = Segment::parse(p, ChecksumCheck::Verify).unwrap();
                assert!(
                    seg.payload().is_empty(),
                    "{protocol:?}: nothing queued goes out"
                );
                fastclose |= seg.options().any(|o| {
                    matches!(
                        o,
                        Ok(umptcp_wire::TcpOption::Mptcp(
                            umptcp_wire::mptcp::MptcpOption::MpFastclose(_)
                        ))
                    )
                });
            }
            if packets.is_empty() && carry(&mut b, &mut a, Instant::ZERO).is_empty() {
                break;
            }
        }
        assert_eq!(fastclose, protocol == Protocol::Mptcp, "{protocol:?}");
        b.flush(Instant::ZERO, &mut |_, _| {});
        assert_eq!(
            read_now(&server.h).unwrap_err().kind(),
            io::ErrorKind::ConnectionReset,
            "{protocol:?}"
        );
        assert_eq!(
            read_now(&client.h).unwrap_err().kind(),
            io::ErrorKind::ConnectionAborted,
            "{protocol:?}"
        );
    }
}

/// `hold_syns`: a SYN with a Convert-like payload is held (no SYN/ACK, a
/// retransmission yields no second one) until the application accepts
/// it; the connection then starts with the SYN's data. A refused one gets
/// a reset.
#[test]
fn a_held_syn_is_answered_only_when_accepted() {
    use std::io::{Read, Write};

    use crate::held_syn::{IncomingSyn, SynQueue};
    let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
    let (tx, rx) = crossbeam_channel::bounded(1);
    let held = SynQueue::new();
    b.handle_command(
        Instant::ZERO,
        Command::Listen {
            at: ListenAt::Port(80),
            protocol: None,
            fast_open: true,
            syn_data_without_cookie: true,
            policy: None,
            queue: AcceptQueue::new(),
            held: Some(Arc::clone(&held)),
            reply: tx,
        },
    );
    rx.try_recv().unwrap().unwrap();
    // The client's SYN carries its data with no Fast Open option (as an
    // RFC 8803 client's does).
    let to = SocketAddr::new(B.parse().unwrap(), 80);
    let shared = Shared::new();
    a.handle_command(
        Instant::ZERO,
        Command::Connect {
            remote: to,
            local: None,
            protocol: None,
            fast_open: Some(b"convert-me".to_vec()),
            syn_data_without_cookie: true,
            policy: None,
            shared: Arc::clone(&shared),
        },
    );
    let h = Handle::new(shared, a.tx.clone());
    let to_80 = |packets: &[Vec<u8>], from_port: Option<u16>| {
        packets
            .iter()
            .filter(|p| {
                let seg = Segment::parse(p, ChecksumCheck::Verify).unwrap();
                match from_port {
                    None => seg.dst_port() == 80 && seg.flags().contains(TcpFlags::SYN),
                    Some(port) => seg.src_port() == port,
                }
            })
            .count()
    };
    let syns = carry(&mut a, &mut b, Instant::ZERO);
    assert_eq!(to_80(&syns, None), 1);
    let syn = Segment::parse(&syns[0], ChecksumCheck::Verify).unwrap();
    assert_eq!(syn.payload(), b"convert-me");
    assert!(
        !syn.options()
            .any(|o| matches!(o, Ok(umptcp_wire::TcpOption::FastOpen(_)))),
        "no Fast Open option"
    );
    assert_eq!(
        to_80(&carry(&mut b, &mut a, Instant::ZERO), Some(80)),
        0,
        "nothing answers the SYN"
    );
    let syn = held.next(Some(Duration::ZERO)).expect("the SYN is held");
    assert_eq!(syn.payload, b"convert-me");
    assert!(syn.offers_mptcp);
    // The client's SYN goes again: still one held SYN.
    let later = Instant::from_millis(1500);
    a.handle_timeouts(later);
    assert_eq!(
        to_80(&carry(&mut a, &mut b, later), None),
        1,
        "a retransmitted SYN"
    );
    assert!(held.next(Some(Duration::ZERO)).is_err(), "no second one");
    let mut stream = IncomingSyn::new(syn, b.tx.clone()).accept().unwrap();
    run(&mut a, &mut b, later);
    let client = established(h);
    assert_eq!(client.remote, to);
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        b"convert-me",
        "the stream starts with the SYN's data"
    );
    assert_eq!(stream.write(b"reply").unwrap(), 5);
    run(&mut a, &mut b, later);
    assert_eq!(read_now(&client.h).unwrap(), b"reply");

    // A refused one: the client is reset.
    let h = connect_to(&mut a, to, None, Some(b"no".to_vec()));
    carry(&mut a, &mut b, later);
    let syn = held.next(Some(Duration::ZERO)).expect("held");
    IncomingSyn::new(syn, b.tx.clone()).refuse().unwrap();
    run(&mut a, &mut b, later);
    assert_eq!(
        h.wait_established(Some(Duration::ZERO)).unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
}
