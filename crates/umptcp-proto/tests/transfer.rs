//! Two MPTCP connections of ours move data both ways through an in-memory
//! link that loses and delays packets deterministically: MP_CAPABLE, DSS
//! mappings, DATA_ACKs, DATA_FIN and fallback, end to end.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use umptcp_cc::{CcConfig, CongestionControl, Registry};
use umptcp_proto::{FallbackReason, MptcpConfig, MptcpConnection, MptcpEvent};
use umptcp_tcp::{Connection, Event, FourTuple, IsnKey};
use umptcp_time::Instant;
use umptcp_wire::Key;
use umptcp_wire::TcpOption;
use umptcp_wire::mptcp::MptcpOption;
use umptcp_wire::segment::{ChecksumCheck, Segment, TcpFlags};

fn tuple() -> FourTuple {
    FourTuple {
        local: SocketAddr::from(([10, 1, 0, 2], 40000)),
        remote: SocketAddr::from(([10, 1, 0, 1], 80)),
    }
}

fn cc() -> Box<dyn CongestionControl> {
    Registry::with_builtins()
        .build("reno", &CcConfig::default())
        .unwrap()
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8 ^ seed)
        .collect()
}

/// Either side of the link: ours, or the plain TCP engine as a peer that
/// does not speak MPTCP.
enum Peer {
    Mptcp(Box<MptcpConnection>),
    Plain(Box<Connection>),
}

impl Peer {
    fn handle(&mut self, now: Instant, s: &Segment<'_>) {
        match self {
            Peer::Mptcp(c) => {
                c.handle_segment(now, s);
            }
            Peer::Plain(c) => {
                c.handle_segment(now, s);
            }
        }
    }
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        match self {
            Peer::Mptcp(c) => c.poll_transmit(now, buf).map(|t| t.len),
            Peer::Plain(c) => {
                while let Some(_e) = c.poll_congestion_event() {
                    c.set_congestion_window(64 * 1460);
                }
                c.poll_transmit(now, buf)
            }
        }
    }
    fn timeout(&self) -> Option<Instant> {
        match self {
            Peer::Mptcp(c) => c.poll_timeout(),
            Peer::Plain(c) => c.poll_timeout(),
        }
    }
    fn on_timeout(&mut self, now: Instant) {
        match self {
            Peer::Mptcp(c) => c.handle_timeout(now),
            Peer::Plain(c) => c.handle_timeout(now),
        }
    }
    fn write(&mut self, data: &[u8]) -> usize {
        match self {
            Peer::Mptcp(c) => c.write(data),
            Peer::Plain(c) => c.write(data),
        }
    }
    fn read(&mut self, buf: &mut [u8]) -> usize {
        match self {
            Peer::Mptcp(c) => c.read(buf),
            Peer::Plain(c) => c.read(buf),
        }
    }
    fn shutdown(&mut self) {
        match self {
            Peer::Mptcp(c) => c.shutdown(),
            Peer::Plain(c) => c.shutdown(),
        }
    }
    /// (peer closed, closed)
    fn events(&mut self, log: &mut Vec<MptcpEvent>) -> (bool, bool) {
        let (mut peer_closed, mut closed) = (false, false);
        match self {
            Peer::Mptcp(c) => {
                while let Some(e) = c.poll_event() {
                    match e {
                        MptcpEvent::PeerClosed => peer_closed = true,
                        MptcpEvent::Closed => closed = true,
                        MptcpEvent::Reset | MptcpEvent::TimedOut | MptcpEvent::ProtocolError(_) => {
                            panic!("{e:?}: {c:?}")
                        }
                        _ => {}
                    }
                    log.push(e);
                }
            }
            Peer::Plain(c) => {
                while let Some(e) = c.poll_event() {
                    match e {
                        Event::PeerClosed => peer_closed = true,
                        Event::Closed => closed = true,
                        Event::Reset | Event::TimedOut => panic!("{e:?}"),
                        _ => {}
                    }
                }
            }
        }
        (peer_closed, closed)
    }
}

/// With `MPTCP_TRACE` set, print every segment (for debugging a failure).
fn trace(dir: &str, now: Instant, packet: &[u8], dropped: bool) {
    if std::env::var_os("MPTCP_TRACE").is_none() {
        return;
    }
    let seg = Segment::parse(packet, ChecksumCheck::Skip).unwrap();
    let dss = seg.options().flatten().find_map(|o| match o {
        TcpOption::Mptcp(MptcpOption::Dss(d)) => Some(d),
        _ => None,
    });
    eprintln!(
        "{now:?} {dir} seq {} ack {} len {} {:?}{} {dss:?}",
        seg.seq(),
        seg.ack(),
        seg.payload().len(),
        seg.flags(),
        if dropped { " DROPPED" } else { "" }
    );
}

impl From<usize> for ReadChunks {
    fn from(server: usize) -> Self {
        ReadChunks {
            client: usize::MAX,
            server,
        }
    }
}

struct Side {
    peer: Option<Peer>,
    data: Vec<u8>,
    written: usize,
    received: Vec<u8>,
    shut: bool,
    peer_closed: bool,
    closed: bool,
    log: Vec<MptcpEvent>,
    /// When an MPTCP side reported the peer's close: the bytes read by
    /// then plus those readable (all of the peer's data, if the close
    /// came in its place).
    readable_at_peer_close: Option<usize>,
    /// Bytes the application reads per step (a slow reader fills the
    /// data-level window).
    read_chunk: usize,
}

impl Side {
    fn new(data: Vec<u8>) -> Self {
        Side {
            peer: None,
            data,
            written: 0,
            received: Vec::new(),
            shut: false,
            peer_closed: false,
            closed: false,
            log: Vec::new(),
            readable_at_peer_close: None,
            read_chunk: usize::MAX,
        }
    }

    fn app(&mut self, buf: &mut [u8]) {
        let Some(peer) = self.peer.as_mut() else {
            return;
        };
        if self.written < self.data.len() {
            self.written += peer.write(&self.data[self.written..]);
        }
        if self.written == self.data.len() && !self.shut {
            peer.shutdown();
            self.shut = true;
        }
        let mut budget = self.read_chunk;
        while budget > 0 {
            let want = buf.len().min(budget);
            let n = peer.read(&mut buf[..want]);
            if n == 0 {
                break;
            }
            budget -= n;
            self.received.extend_from_slice(&buf[..n]);
        }
        let (pc, c) = peer.events(&mut self.log);
        if pc && let Peer::Mptcp(conn) = peer {
            self.readable_at_peer_close = Some(self.received.len() + conn.readable());
        }
        self.peer_closed |= pc;
        self.closed |= c;
    }
}

struct Link {
    queue: VecDeque<(Instant, Vec<u8>)>,
    sent: u64,
}

impl Link {
    fn push(&mut self, at: Instant, packet: &[u8]) {
        let pos = self
            .queue
            .iter()
            .rposition(|p| p.0 <= at)
            .map_or(0, |i| i + 1);
        self.queue.insert(pos, (at, packet.to_vec()));
        self.sent += 1;
    }
}

struct Outcome {
    client: Side,
    server: Side,
    /// Every segment seen on the wire, client to server.
    wire_to_server: Vec<Vec<u8>>,
}

#[derive(Clone, Copy)]
enum ServerKind {
    Mptcp,
    PlainTcp,
}

fn run(
    client_config: MptcpConfig,
    server_config: MptcpConfig,
    server_kind: ServerKind,
    drop: fn(u64, &[u8]) -> bool,
    up: usize,
    down: usize,
) -> Outcome {
    let client_config = (client_config, usize::MAX);
    run_with(client_config, server_config, server_kind, drop, up, down)
}

/// How many bytes each side's application reads per step.
#[derive(Clone, Copy)]
struct ReadChunks {
    client: usize,
    server: usize,
}

/// [`run`] with the applications reading at most `read_chunk` bytes per
/// step (a bare number: the server's).
fn run_with(
    (client_config, read_chunk): (MptcpConfig, impl Into<ReadChunks>),
    server_config: MptcpConfig,
    server_kind: ServerKind,
    drop: fn(u64, &[u8]) -> bool,
    up: usize,
    down: usize,
) -> Outcome {
    let delay = Duration::from_millis(5);
    let mut now = Instant::ZERO;
    let mut client = Side::new(pattern(1, up));
    let mut server = Side::new(pattern(2, down));
    let chunks = read_chunk.into();
    server.read_chunk = chunks.server;
    client.read_chunk = chunks.client;
    client.peer = Some(Peer::Mptcp(
        MptcpConnection::connect(
            client_config,
            tuple(),
            IsnKey::from_bytes([1; 32]),
            Key(0x1111_2222_3333_4444),
            cc(),
            now,
        )
        .unwrap()
        .into(),
    ));
    let mut to_server = Link {
        queue: VecDeque::new(),
        sent: 0,
    };
    let mut to_client = Link {
        queue: VecDeque::new(),
        sent: 0,
    };
    let mut wire_to_server = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut app_buf = vec![0u8; 65536];
    for _ in 0..3_000_000 {
        client.app(&mut app_buf);
        server.app(&mut app_buf);
        if client.closed && server.closed {
            break;
        }
        let c = client.peer.as_mut().unwrap();
        while let Some(n) = c.transmit(now, &mut buf) {
            wire_to_server.push(buf[..n].to_vec());
            let dropped = drop(to_server.sent, &buf[..n]);
            trace(">", now, &buf[..n], dropped);
            if dropped {
                to_server.sent += 1;
            } else {
                to_server.push(now + delay, &buf[..n]);
            }
        }
        if let Some(s) = server.peer.as_mut() {
            while let Some(n) = s.transmit(now, &mut buf) {
                let dropped = drop(to_client.sent, &buf[..n]);
                trace("<", now, &buf[..n], dropped);
                if dropped {
                    to_client.sent += 1;
                } else {
                    to_client.push(now + delay, &buf[..n]);
                }
            }
        }
        let next = [
            to_server.queue.front().map(|p| p.0),
            to_client.queue.front().map(|p| p.0),
            client.peer.as_ref().unwrap().timeout(),
            server.peer.as_ref().and_then(Peer::timeout),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("stalled: nothing in flight and no timer");
        now = now.max(next);
        assert!(now < Instant::from_millis(600_000), "no progress in 600 s");
        while to_server.queue.front().is_some_and(|p| p.0 <= now) {
            let (_, packet) = to_server.queue.pop_front().unwrap();
            let seg = Segment::parse(&packet, ChecksumCheck::Verify).unwrap();
            match server.peer.as_mut() {
                Some(s) => s.handle(now, &seg),
                None => {
                    server.peer = Some(match server_kind {
                        ServerKind::Mptcp => Peer::Mptcp(
                            MptcpConnection::accept(
                                server_config.clone(),
                                &seg,
                                IsnKey::from_bytes([2; 32]),
                                Key(0x5555_6666_7777_8888),
                                cc(),
                                now,
                            )
                            .unwrap()
                            .into(),
                        ),
                        ServerKind::PlainTcp => Peer::Plain(
                            Connection::accept(
                                server_config.tcp.clone(),
                                &seg,
                                IsnKey::from_bytes([2; 32]),
                                now,
                            )
                            .unwrap()
                            .into(),
                        ),
                    })
                }
            }
        }
        while to_client.queue.front().is_some_and(|p| p.0 <= now) {
            let (_, packet) = to_client.queue.pop_front().unwrap();
            let seg = Segment::parse(&packet, ChecksumCheck::Verify).unwrap();
            client.peer.as_mut().unwrap().handle(now, &seg);
        }
        client.peer.as_mut().unwrap().on_timeout(now);
        if let Some(s) = server.peer.as_mut() {
            s.on_timeout(now);
        }
    }
    assert!(client.closed && server.closed, "did not finish");
    // What a slow reader left behind stays readable after the close.
    for side in [&mut client, &mut server] {
        side.read_chunk = usize::MAX;
        side.app(&mut app_buf);
    }
    assert!(client.peer_closed && server.peer_closed);
    assert_eq!(server.received.len(), up);
    assert!(
        server.received == client.data,
        "client to server bytes differ"
    );
    assert_eq!(client.received.len(), down);
    assert!(
        client.received == server.data,
        "server to client bytes differ"
    );
    Outcome {
        client,
        server,
        wire_to_server,
    }
}

fn config(checksum: bool) -> MptcpConfig {
    let mut c = MptcpConfig::default();
    c.checksum = checksum;
    c.tcp.time_wait = Duration::from_secs(5);
    c
}

/// The MPTCP options of a packet, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Capable,
    DssWithMapping,
    DssWithoutMapping,
    Other,
}

fn mptcp_options(packet: &[u8]) -> Vec<Kind> {
    let seg = Segment::parse(packet, ChecksumCheck::Verify).unwrap();
    seg.options()
        .filter_map(|o| match o {
            Ok(TcpOption::Mptcp(MptcpOption::MpCapable(_))) => Some(Kind::Capable),
            Ok(TcpOption::Mptcp(MptcpOption::Dss(d))) => Some(if d.mapping.is_some() {
                Kind::DssWithMapping
            } else {
                Kind::DssWithoutMapping
            }),
            Ok(TcpOption::Mptcp(_)) => Some(Kind::Other),
            _ => None,
        })
        .collect()
}

fn mptcp_connection(side: &Side) -> &MptcpConnection {
    match side.peer.as_ref().unwrap() {
        Peer::Mptcp(c) => c,
        Peer::Plain(_) => panic!("plain"),
    }
}

#[test]
fn both_ways_without_loss_speaks_mptcp() {
    let out = run(
        config(false),
        config(false),
        ServerKind::Mptcp,
        |_, _| false,
        1 << 20,
        300_000,
    );
    let client = mptcp_connection(&out.client);
    let server = mptcp_connection(&out.server);
    assert!(client.fallback_reason().is_none() && server.fallback_reason().is_none());
    assert!(!client.checksum() && !server.checksum());
    assert_eq!(client.peer_key(), Some(server.local_key()));
    assert_eq!(server.peer_key(), Some(client.local_key()));
    assert!(
        out.client
            .log
            .contains(&MptcpEvent::Connected { mptcp: true })
    );
    assert!(
        out.server
            .log
            .contains(&MptcpEvent::Connected { mptcp: true })
    );
    // Every data segment after the first carries a DSS mapping; the SYN and
    // the third ACK carry MP_CAPABLE.
    assert_eq!(mptcp_options(&out.wire_to_server[0]), [Kind::Capable]);
    assert_eq!(mptcp_options(&out.wire_to_server[1]), [Kind::Capable]);
    let with_dss = out
        .wire_to_server
        .iter()
        .filter(|p| mptcp_options(p).contains(&Kind::DssWithMapping))
        .count();
    assert!(
        with_dss > (1 << 20) / 1500,
        "{with_dss} segments with a mapping"
    );
}

#[test]
fn both_ways_with_checksums_and_loss() {
    let out = run(
        config(true),
        config(false),
        ServerKind::Mptcp,
        |i, _| i % 17 == 5 || i % 101 == 3,
        1 << 20,
        200_000,
    );
    assert!(mptcp_connection(&out.client).checksum());
    assert!(
        mptcp_connection(&out.server).checksum(),
        "either side asking turns them on"
    );
    assert!(
        mptcp_connection(&out.client)
            .initial_subflow()
            .retransmissions()
            > 0
    );
}

#[test]
fn a_plain_tcp_server_means_fallback_and_the_data_still_flows() {
    let out = run(
        config(false),
        config(false),
        ServerKind::PlainTcp,
        |i, _| i % 23 == 9,
        500_000,
        100_000,
    );
    let client = mptcp_connection(&out.client);
    assert_eq!(client.fallback_reason(), Some(FallbackReason::NoMpCapable));
    assert!(
        out.client
            .log
            .contains(&MptcpEvent::FellBack(FallbackReason::NoMpCapable))
    );
    assert!(
        out.client
            .log
            .contains(&MptcpEvent::Connected { mptcp: false })
    );
    // After the SYN, no MPTCP option goes out.
    for p in &out.wire_to_server[1..] {
        assert!(mptcp_options(p).is_empty());
    }
}

/// The data-level figures (`ss -Mni`'s bytes_acked, bytes_received and
/// sequence numbers) at the end of a lossy transfer both ways, and after
/// a fallback.
#[test]
fn the_data_level_figures_count_every_byte_once() {
    let (up, down) = (300_000, 200_000);
    let out = run(
        config(true),
        config(true),
        ServerKind::Mptcp,
        |i, _| i % 17 == 5,
        up,
        down,
    );
    let client = mptcp_connection(&out.client).data_level();
    let server = mptcp_connection(&out.server).data_level();
    // Retransmissions at either level count once.
    assert_eq!(client.bytes_acked, up as u64, "{client:?}");
    assert_eq!(client.bytes_received, down as u64, "{client:?}");
    assert_eq!(server.bytes_acked, down as u64, "{server:?}");
    assert_eq!(server.bytes_received, up as u64, "{server:?}");
    assert_eq!(client.send_queue, 0);
    assert_eq!(client.write_seq, client.snd_una);
    // What one side acknowledged is where the other expects next.
    assert_eq!(server.rcv_nxt, Some(client.snd_una));
    assert_eq!(client.rcv_nxt, Some(server.snd_una));

    let out = run(
        config(false),
        config(false),
        ServerKind::PlainTcp,
        |_, _| false,
        up,
        down,
    );
    let client = mptcp_connection(&out.client).data_level();
    assert_eq!(client.bytes_acked, up as u64, "{client:?}");
    assert_eq!(client.bytes_received, down as u64, "{client:?}");
}

/// Regression (found by the splice lab test, where a relay to a slow
/// plain-TCP upstream stalled): after a fallback, room in the send buffer
/// opens as the subflow takes bytes, not on a DATA_ACK, and a writer
/// that found the buffer full must hear `Writable` then too.
#[test]
fn after_a_fallback_a_writer_that_found_the_buffer_full_hears_writable() {
    let mut client_config = config(false);
    client_config.send_buffer = 16 * 1024;
    let up = 500_000;
    let out = run(
        client_config,
        config(false),
        ServerKind::PlainTcp,
        |_, _| false,
        up,
        1000,
    );
    assert!(
        out.client
            .log
            .contains(&MptcpEvent::FellBack(FallbackReason::NoMpCapable))
    );
    assert_eq!(out.server.received.len(), up);
    let wakeups = out
        .client
        .log
        .iter()
        .filter(|e| **e == MptcpEvent::Writable)
        .count();
    // 500 kB through a 16 KiB buffer: the writer is refused many times.
    assert!(wakeups >= up / (16 * 1024) / 2, "{wakeups} Writable events");
}

/// Regression (found by the aggregation lab test, where 45 % of our data
/// segments were runts): a mapping sized by the window's free bytes ended
/// mid-segment, and since a segment never spans two mappings the rest
/// went out as a runt. While more data waits, mappings come in whole
/// segments, so the segments are full but for the last ones.
#[test]
fn while_data_waits_every_data_segment_is_full() {
    let out = run(
        config(false),
        config(false),
        ServerKind::Mptcp,
        |_, _| false,
        2_000_000,
        1000,
    );
    let payloads: Vec<usize> = out
        .wire_to_server
        .iter()
        .map(|p| {
            Segment::parse(p, ChecksumCheck::Verify)
                .unwrap()
                .payload()
                .len()
        })
        .filter(|&n| n > 0)
        .collect();
    let full = *payloads.iter().max().unwrap();
    let runts = payloads.iter().filter(|&&n| n < full).count();
    eprintln!(
        "{} data segments of up to {full} bytes, {runts} shorter",
        payloads.len()
    );
    assert!(
        runts <= 2,
        "{runts} of {} data segments are short",
        payloads.len()
    );
}

/// Regression (found by `mptcp recv` against a plain kernel client):
/// after a fallback, the peer's FIN was reported as the end of the stream
/// while bytes before it still sat in the subflow, held back by a full
/// data-level buffer, so a reader that stopped at the end lost them.
#[test]
fn after_a_fallback_the_end_of_stream_waits_for_every_byte_before_the_fin() {
    let mut client_config = config(false);
    client_config.recv_buffer = 64 * 1024;
    let out = run_with(
        (
            client_config,
            ReadChunks {
                client: 1000,
                server: usize::MAX,
            },
        ),
        config(false),
        ServerKind::PlainTcp,
        |_, _| false,
        1000,
        600_000,
    );
    assert_eq!(out.client.readable_at_peer_close, Some(600_000));
}

/// Regression: the DATA_FIN was decided while the last data segment was
/// being built, so it never went out on its own pure ACK, and nothing
/// retransmitted it (found against the kernel, which sends no data back).
#[test]
fn one_way_transfer_still_sends_and_retransmits_the_data_fin() {
    let out = run(
        config(false),
        config(false),
        ServerKind::Mptcp,
        |i, _| i % 29 == 11,
        300_000,
        0,
    );
    assert!(mptcp_connection(&out.client).is_closed());
    assert!(out.server.log.contains(&MptcpEvent::PeerClosed));
}

/// Regression: with checksums, a mapping was only delivered whole and from
/// its start, so once the data-level window took part of a verified
/// mapping, the rest never moved up (found against the kernel, whose
/// 64 KiB mappings met a reader slower than the sender).
#[test]
fn a_checksummed_mapping_split_by_the_data_level_window_still_moves_up() {
    let mut server_config = config(true);
    server_config.recv_buffer = 70_000;
    let out = run_with(
        (config(true), 1500),
        server_config,
        ServerKind::Mptcp,
        |_, _| false,
        400_000,
        1000,
    );
    assert!(mptcp_connection(&out.server).checksum());
}

/// A middlebox drops every SYN with MP_CAPABLE (§3.7): after three of
/// them the client tries without, the connection is plain TCP, and the
/// data flows.
#[test]
fn syns_with_mp_capable_blackholed_means_fallback() {
    let out = run(
        config(false),
        config(false),
        ServerKind::Mptcp,
        |_, packet| {
            let seg = Segment::parse(packet, ChecksumCheck::Skip).unwrap();
            seg.flags().contains(TcpFlags::SYN) && !mptcp_options(packet).is_empty()
        },
        200_000,
        50_000,
    );
    let client = mptcp_connection(&out.client);
    assert_eq!(client.fallback_reason(), Some(FallbackReason::SynBlackhole));
    let syns_with_option = out
        .wire_to_server
        .iter()
        .filter(|p| Segment::parse(p, ChecksumCheck::Skip).unwrap().flags() == TcpFlags::SYN)
        .filter(|p| !mptcp_options(p).is_empty())
        .count();
    assert_eq!(
        syns_with_option, 3,
        "the kernel's default: 1 + 2 retransmissions"
    );
    let connected: Vec<_> = out
        .client
        .log
        .iter()
        .filter(|e| matches!(e, MptcpEvent::Connected { .. }))
        .collect();
    assert_eq!(connected, [&MptcpEvent::Connected { mptcp: false }]);
    assert_eq!(
        mptcp_connection(&out.server).fallback_reason(),
        Some(FallbackReason::NoMpCapable)
    );
}

/// The MSS option of a SYN or SYN/ACK.
fn offered_mss(packet: &[u8]) -> Option<u16> {
    let seg = Segment::parse(packet, ChecksumCheck::Verify).unwrap();
    assert!(seg.flags().contains(TcpFlags::SYN));
    seg.options().flatten().find_map(|o| match o {
        TcpOption::MaxSegmentSize(mss) => Some(mss),
        _ => None,
    })
}

/// With DSS checksums the SYN and the SYN/ACK offer an MSS 28 bytes
/// lower (room for the DSS on the segment that carries a peer's infinite
/// mapping, see `mss_for_infinite_mapping`); without, the configured MSS.
#[test]
fn checksums_lower_the_offered_mss_by_the_dss_room() {
    for checksum in [false, true] {
        let mut config = MptcpConfig::default();
        config.checksum = checksum;
        let want = config.tcp.mss - if checksum { 28 } else { 0 };
        let mut client = MptcpConnection::connect(
            config.clone(),
            tuple(),
            IsnKey::from_bytes([1; 32]),
            Key(0x1111),
            cc(),
            Instant::ZERO,
        )
        .unwrap();
        let mut buf = vec![0u8; 2048];
        let n = client
            .poll_transmit(Instant::ZERO, &mut buf)
            .map(|t| t.len)
            .expect("a SYN");
        let syn = buf[..n].to_vec();
        assert_eq!(offered_mss(&syn), Some(want), "SYN, checksum {checksum}");
        // A server that does not ask for checksums itself still lowers it
        // when the client's SYN asks for them.
        let mut server_config = MptcpConfig::default();
        server_config.checksum = false;
        let seg = Segment::parse(&syn, ChecksumCheck::Verify).unwrap();
        let mut server = MptcpConnection::accept(
            server_config,
            &seg,
            IsnKey::from_bytes([2; 32]),
            Key(0x2222),
            cc(),
            Instant::ZERO,
        )
        .unwrap();
        let n = server
            .poll_transmit(Instant::ZERO, &mut buf)
            .map(|t| t.len)
            .expect("a SYN/ACK");
        assert_eq!(
            offered_mss(&buf[..n]),
            Some(want),
            "SYN/ACK, checksum {checksum}"
        );
    }
}
