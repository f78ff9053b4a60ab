//! Regression tests of issue 18: segments TCP rejects change nothing at the
//! MPTCP level, closed connections are freed, no transmit loop is endless,
//! no timer stays in the past, a copy arriving after the data-level close
//! is no reason to reset, and half-open connections hold no buffers.
//!
//! Two endpoints are joined back to back through a `Wire` closure that
//! sees every packet and decides what is delivered: the honest packet, a
//! forged one besides it, or nothing yet.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use rand_core::RngCore;
use umptcp_cc::{CcConfig, CongestionControl, Registry};
use umptcp_proto::{
    ConnectionId, Endpoint, EndpointConfig, MptcpConfig, MptcpEvent, Routed, SubflowId,
};
use umptcp_tcp::FourTuple;
use umptcp_time::Instant;
use umptcp_wire::mptcp::{Dss, DssMapping, DssSeq, MpFail, MpJoin, MptcpOption};
use umptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};
use umptcp_wire::{AddrId, TcpOption};

/// A deterministic word stream for the endpoints' keys, nonces and ISNs.
struct Counter(u64);

impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let word = self.next_u64().to_be_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

fn cc() -> Box<dyn FnMut() -> Box<dyn CongestionControl> + Send> {
    Box::new(|| {
        Registry::with_builtins()
            .build("reno", &CcConfig::default())
            .unwrap()
    })
}

fn config() -> MptcpConfig {
    let mut config = MptcpConfig::default();
    config.tcp.time_wait = Duration::from_millis(100);
    config
}

fn endpoint_with(seed: u64, config: MptcpConfig, limits: EndpointConfig) -> Endpoint {
    Endpoint::new(config, limits, Box::new(Counter(seed << 32)), cc())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const CLIENT: &str = "10.0.0.1:5000";
const SERVER: &str = "10.0.0.2:80";

/// One packet on the wire, and its direction.
#[derive(Clone, Debug)]
struct Packet {
    to_server: bool,
    bytes: Vec<u8>,
}

/// Sees every packet and pushes what is delivered.
type Wire<'a> = Box<dyn FnMut(Instant, Packet, &mut Vec<Packet>) + 'a>;
/// Called once per step: pushes packets held back that are due.
type Tick<'a> = Box<dyn FnMut(Instant, &mut Vec<Packet>) + 'a>;
/// Sees each of the client's events, with its endpoint.
type OnEvent<'a> = Box<dyn FnMut(&mut Endpoint, ConnectionId, Instant, MptcpEvent) + 'a>;

/// What a run saw.
#[derive(Default, Debug)]
struct Outcome {
    client_events: Vec<MptcpEvent>,
    server_events: Vec<MptcpEvent>,
    /// What the server's application read.
    server_read: Vec<u8>,
    /// What the client's application read.
    client_read: Vec<u8>,
    /// Both endpoints forgot every connection.
    freed: bool,
    /// The most segments one `poll_transmit` drain gave at one instant.
    longest_drain: usize,
}

impl Outcome {
    fn harmful(&self) -> Vec<MptcpEvent> {
        self.client_events
            .iter()
            .chain(&self.server_events)
            .copied()
            .filter(|e| {
                matches!(
                    e,
                    MptcpEvent::FellBack(_)
                        | MptcpEvent::Reset
                        | MptcpEvent::TimedOut
                        | MptcpEvent::ProtocolError(_)
                )
            })
            .collect()
    }

    /// The honest transfer went through untouched.
    fn assert_clean(&self, up: &[u8], down: &[u8]) {
        assert!(self.harmful().is_empty(), "{:?}", self.harmful());
        assert_eq!(self.server_read.len(), up.len(), "bytes up");
        assert!(self.server_read == up, "the upload differs");
        assert_eq!(self.client_read.len(), down.len(), "bytes down");
        assert!(self.client_read == down, "the download differs");
        assert!(self.freed, "connections still held");
    }
}

/// Hooks of a run besides the wire.
struct Run<'a> {
    client: Endpoint,
    server: Endpoint,
    up: &'a [u8],
    down: &'a [u8],
    /// Sees every packet and pushes what is delivered.
    wire: Wire<'a>,
    /// Called once per step: pushes packets held back that are due.
    tick: Tick<'a>,
    /// The server's scheduler, by name, if not the default.
    server_scheduler: Option<&'static str>,
    /// Sees the client's events (to open a join, say).
    on_client_event: OnEvent<'a>,
    /// Client: shut down at once instead of after writing `up`.
    shutdown_first: bool,
    /// Virtual time allowed.
    limit: Duration,
}

impl<'a> Run<'a> {
    fn new(seed: u64, up: &'a [u8], down: &'a [u8]) -> Self {
        let mut server = endpoint_with(seed * 2 + 1, config(), EndpointConfig::default());
        server.listen(addr(SERVER));
        Run {
            client: endpoint_with(seed * 2, config(), EndpointConfig::default()),
            server,
            up,
            down,
            wire: Box::new(|_, p, out| out.push(p)),
            tick: Box::new(|_, _| {}),
            server_scheduler: None,
            on_client_event: Box::new(|_, _, _, _| {}),
            shutdown_first: false,
            limit: Duration::from_secs(120),
        }
    }

    fn go(mut self) -> Outcome {
        let mut out = Outcome::default();
        let now0 = Instant::ZERO;
        let cid = self
            .client
            .connect(
                now0,
                FourTuple {
                    local: addr(CLIENT),
                    remote: addr(SERVER),
                },
            )
            .unwrap();
        let mut sid = None;
        let (mut up_written, mut down_written) = (0, 0);
        let mut now = now0;
        let mut buf = vec![0; 2048];
        let mut delivered = Vec::new();
        let mut chunk = [0; 8192];
        while now - now0 < self.limit {
            // Applications.
            if let Some(c) = self.client.connection(cid) {
                if self.shutdown_first {
                    c.shutdown();
                } else {
                    if up_written < self.up.len() {
                        up_written += c.write(&self.up[up_written..]);
                    }
                    if up_written == self.up.len() {
                        c.shutdown();
                    }
                }
                loop {
                    let n = c.read(&mut chunk);
                    if n == 0 {
                        break;
                    }
                    out.client_read.extend_from_slice(&chunk[..n]);
                }
            }
            if let Some(id) = self.server.accept() {
                sid = Some(id);
                if let (Some(name), Some(c)) = (self.server_scheduler, self.server.connection(id)) {
                    c.set_scheduler(umptcp_proto::scheduler::by_name(name).unwrap());
                }
            }
            if let Some(s) = sid.and_then(|id| self.server.connection(id)) {
                if down_written < self.down.len() {
                    down_written += s.write(&self.down[down_written..]);
                }
                loop {
                    let n = s.read(&mut chunk);
                    if n == 0 {
                        break;
                    }
                    out.server_read.extend_from_slice(&chunk[..n]);
                }
            }
            // The wire, both ways.
            let mut sent = false;
            (self.tick)(now, &mut delivered);
            for to_server in [true, false] {
                let from = if to_server {
                    &mut self.client
                } else {
                    &mut self.server
                };
                let mut drained = 0;
                let mut packets = Vec::new();
                while let Some(n) = from.poll_transmit(now, &mut buf).map(|t| t.len) {
                    drained += 1;
                    assert!(drained < 10_000, "endless transmit loop at {now:?}");
                    packets.push(Packet {
                        to_server,
                        bytes: buf[..n].to_vec(),
                    });
                }
                out.longest_drain = out.longest_drain.max(drained);
                for p in packets {
                    (self.wire)(now, p, &mut delivered);
                }
                for p in delivered.drain(..) {
                    sent = true;
                    let seg = Segment::parse(&p.bytes, ChecksumCheck::Verify).unwrap();
                    if p.to_server {
                        self.server.handle_segment(now, &seg);
                    } else {
                        self.client.handle_segment(now, &seg);
                    }
                }
            }
            // Events.
            while let Some((_, event)) = self.client.poll_event() {
                (self.on_client_event)(&mut self.client, cid, now, event);
                if !matches!(event, MptcpEvent::Readable | MptcpEvent::Writable) {
                    out.client_events.push(event);
                }
            }
            while let Some((id, event)) = self.server.poll_event() {
                if event == MptcpEvent::PeerClosed
                    && down_written == self.down.len()
                    && let Some(s) = self.server.connection(id)
                {
                    s.shutdown();
                }
                if !matches!(event, MptcpEvent::Readable | MptcpEvent::Writable) {
                    out.server_events.push(event);
                }
            }
            if let Some(s) = sid.and_then(|id| self.server.connection(id))
                && down_written == self.down.len()
                && out.server_events.contains(&MptcpEvent::PeerClosed)
            {
                s.shutdown();
            }
            if self.client.is_empty() && self.server.is_empty() {
                out.freed = true;
                break;
            }
            // Timers: no deadline may stay in the past once handled.
            self.client.handle_timeout(now);
            self.server.handle_timeout(now);
            for ep in [&self.client, &self.server] {
                if let Some(t) = ep.poll_timeout() {
                    assert!(t > now, "a deadline stays in the past: {t:?} at {now:?}");
                }
            }
            now = if sent {
                now + Duration::from_micros(200)
            } else {
                let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                // At most 5 ms at a time: `tick` may hold packets back.
                let step = now + Duration::from_millis(5);
                match next {
                    Some(t) => t.max(now + Duration::from_micros(200)).min(step),
                    None => step,
                }
            };
        }
        out
    }
}

fn data(len: usize, salt: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(salt) % 251) as u8)
        .collect()
}

/// Rebuild `honest` with the same four-tuple and timestamps (so PAWS
/// passes), sequence and acknowledgment numbers 2^30 away from its own
/// (outside any window), `payload`, and `mptcp` as its MPTCP option.
fn forge(
    honest: &[u8],
    mptcp: Option<MptcpOption<'_>>,
    payload: &[u8],
    flags: TcpFlags,
) -> Vec<u8> {
    forge_shifted(honest, 1 << 30, mptcp, payload, flags)
}

/// [`forge`] with the sequence and acknowledgment numbers `shift` away
/// (0: the honest segment's own, in the window).
fn forge_shifted(
    honest: &[u8],
    shift: u32,
    mptcp: Option<MptcpOption<'_>>,
    payload: &[u8],
    flags: TcpFlags,
) -> Vec<u8> {
    let seg = Segment::parse(honest, ChecksumCheck::Verify).unwrap();
    let mut b = SegmentBuilder::new(
        SocketAddr::new(seg.src(), seg.src_port()),
        SocketAddr::new(seg.dst(), seg.dst_port()),
    );
    for option in seg.options().flatten() {
        if let TcpOption::Timestamps { tsval, tsecr } = option {
            b.timestamps = Some((tsval, tsecr));
        }
    }
    b.seq = seg.seq().wrapping_add(shift);
    b.ack = seg.ack().wrapping_add(shift);
    b.flags = flags;
    b.window = seg.window();
    b.payload = payload;
    b.mptcp = mptcp;
    let mut buf = vec![0; b.buffer_len_max()];
    let n = b.emit(&mut buf).unwrap().len;
    buf.truncate(n);
    buf
}

fn is_data(p: &Packet) -> bool {
    let seg = Segment::parse(&p.bytes, ChecksumCheck::Verify).unwrap();
    !seg.payload().is_empty() && !seg.flags().contains(TcpFlags::SYN)
}

/// A wire that, from the `after`-th data segment in each direction on,
/// delivers beside each honest packet the forgery `make` builds from it
/// (every tenth packet, up to `count` forgeries per direction).
fn forging_wire<'a>(after: usize, count: usize, make: impl Fn(&[u8]) -> Vec<u8> + 'a) -> Wire<'a> {
    let mut seen = [0usize; 2];
    let mut forged = [0usize; 2];
    Box::new(move |_, p, out| {
        let dir = usize::from(p.to_server);
        if is_data(&p) {
            seen[dir] += 1;
        }
        if seen[dir] >= after && forged[dir] < count && seen[dir] % 10 == 0 {
            forged[dir] += 1;
            out.push(Packet {
                to_server: p.to_server,
                bytes: make(&p.bytes),
            });
        }
        out.push(p);
    })
}

fn run_with_forgeries(seed: u64, make: impl Fn(&[u8]) -> Vec<u8>) {
    let up = data(200_000, 1);
    let down = data(150_000, 2);
    let mut run = Run::new(seed, &up, &down);
    run.wire = forging_wire(3, 20, make);
    run.go().assert_clean(&up, &down);
}

/// Item 1: a DSS mapping that does not touch its payload used to give
/// `ProtocolError(MappingNotCovering)` before TCP had looked at the
/// segment.
#[test]
fn an_off_path_mapping_outside_the_window_does_not_abort() {
    run_with_forgeries(1, |honest| {
        let dss = Dss {
            data_ack: None,
            mapping: Some(DssMapping {
                dsn: DssSeq::Long(0x1234_5678_9abc),
                subflow_seq: 0x4000_0000,
                data_len: 100,
                checksum: None,
            }),
            data_fin: false,
        };
        forge(honest, Some(MptcpOption::Dss(dss)), &[0x55], TcpFlags::ACK)
    });
}

/// Item 1: an MP_FAIL fell the connection back (one subflow).
#[test]
fn an_off_path_mp_fail_outside_the_window_does_not_fall_back() {
    run_with_forgeries(2, |honest| {
        let fail = MpFail { dsn: 0x77 };
        forge(honest, Some(MptcpOption::MpFail(fail)), &[], TcpFlags::ACK)
    });
}

/// Item 1: data without any DSS, and a pure ACK without any MPTCP option
/// whose ACK looks ahead, read as a middlebox stripping options.
#[test]
fn off_path_segments_without_options_outside_the_window_do_not_fall_back() {
    run_with_forgeries(3, |honest| forge(honest, None, &[1, 2, 3], TcpFlags::ACK));
    run_with_forgeries(4, |honest| forge(honest, None, &[], TcpFlags::ACK));
}

/// Item 1: an off-path RST, FIN or SYN with MPTCP options changes nothing
/// either.
#[test]
fn off_path_control_segments_outside_the_window_change_nothing() {
    for (seed, flags) in [
        (5, TcpFlags::RST),
        (6, TcpFlags::ACK | TcpFlags::FIN),
        (7, TcpFlags::SYN),
        (8, TcpFlags::RST | TcpFlags::ACK),
    ] {
        run_with_forgeries(seed, |honest| {
            let fail = MpFail { dsn: 9 };
            forge(honest, Some(MptcpOption::MpFail(fail)), &[], flags)
        });
    }
}

/// Item 1, the worst case: while the client's join is on its way (the
/// client counts two subflows, the server one), a forged segment used to
/// fall the server back alone, and the server's application read a
/// corrupted stream. The join's SYN is held until the forgeries passed.
#[test]
fn an_off_path_segment_while_a_join_is_open_leaves_both_ends_agreeing() {
    let up = data(400_000, 3);
    let down = data(100_000, 4);
    let mut run = Run::new(9, &up, &down);
    let mut joined = false;
    run.on_client_event = Box::new(move |ep, id, now, event| {
        if matches!(event, MptcpEvent::Connected { mptcp: true }) && !joined {
            joined = true;
            let tuple = FourTuple {
                local: addr("10.0.1.1:5001"),
                remote: addr(SERVER),
            };
            ep.open_subflow(now, id, tuple, AddrId(1), false).unwrap();
        }
    });
    let mut held: Option<Packet> = None;
    let mut forged = 0;
    run.wire = Box::new(move |_, p, out| {
        let seg = Segment::parse(&p.bytes, ChecksumCheck::Verify).unwrap();
        let join_syn = seg.flags() == TcpFlags::SYN && seg.src_port() == 5001;
        if join_syn && forged < 10 {
            held = Some(p);
            return;
        }
        if held.is_some() && p.to_server && seg.src_port() == 5000 && is_data(&p) {
            forged += 1;
            // In turn: data without DSS, a pure ACK without options that
            // acknowledges "ahead", an MP_FAIL.
            let bytes = match forged % 3 {
                0 => forge(&p.bytes, None, &[0xee; 20], TcpFlags::ACK),
                1 => forge(&p.bytes, None, &[], TcpFlags::ACK),
                _ => {
                    let fail = MptcpOption::MpFail(MpFail { dsn: 3 });
                    forge(&p.bytes, Some(fail), &[], TcpFlags::ACK)
                }
            };
            out.push(Packet {
                to_server: true,
                bytes,
            });
            if forged >= 10 {
                out.extend(held.take());
            }
        }
        out.push(p);
    });
    let outcome = run.go();
    outcome.assert_clean(&up, &down);
    assert!(
        outcome
            .client_events
            .iter()
            .any(|e| matches!(e, MptcpEvent::SubflowEstablished(SubflowId(_)))),
        "the join went through: {:?}",
        outcome.client_events
    );
}

/// Found by the campaign: a forged SYN without ACK, on the four-tuple of a
/// client's join still in SYN-SENT, is a simultaneous open to TCP whatever
/// its sequence number; the join then answered with a SYN/ACK without
/// MP_JOIN and was lost, or the SYN's options (a DSS, a REMOVE_ADDR) were
/// acted on and the connection aborted. MPTCP has no simultaneous open:
/// such a SYN is dropped.
#[test]
fn a_forged_syn_on_a_join_in_syn_sent_changes_nothing() {
    let up = data(200_000, 11);
    let down = data(50_000, 12);
    for (seed, option) in [
        (20, None),
        (
            21,
            Some(MptcpOption::Dss(Dss {
                data_ack: None,
                mapping: Some(DssMapping {
                    dsn: DssSeq::Long(5),
                    subflow_seq: 0x4000_0000,
                    data_len: 10,
                    checksum: None,
                }),
                data_fin: false,
            })),
        ),
        (22, Some(MptcpOption::MpFail(MpFail { dsn: 1 }))),
    ] {
        let mut run = Run::new(seed, &up, &down);
        run.on_client_event = join_on_connect();
        let forged = Rc::new(Cell::new(false));
        let forged_seen = forged.clone();
        run.wire = Box::new(move |_, p, out| {
            let seg = Segment::parse(&p.bytes, ChecksumCheck::Verify).unwrap();
            if p.to_server && seg.flags() == TcpFlags::SYN && seg.src_port() == 5001 {
                forged_seen.set(true);
                let mut b = SegmentBuilder::new(addr(SERVER), addr("10.0.1.1:5001"));
                b.seq = 0x1234_5678;
                b.flags = TcpFlags::SYN;
                b.window = 65535;
                b.payload = &[];
                b.mptcp = option;
                let mut buf = vec![0; b.buffer_len_max()];
                let n = b.emit(&mut buf).unwrap().len;
                buf.truncate(n);
                out.push(Packet {
                    to_server: false,
                    bytes: buf,
                });
            }
            out.push(p);
        });
        let outcome = run.go();
        assert!(forged.get(), "seed {seed}: the forged SYN went");
        outcome.assert_clean(&up, &down);
        let joined = outcome
            .client_events
            .iter()
            .any(|e| matches!(e, MptcpEvent::SubflowEstablished(_)));
        assert!(joined, "seed {seed}: {:?}", outcome.client_events);
    }
}

/// Item 2: a peer that resets with our data unacknowledged. The data-level
/// retransmission timer used to re-arm for ever and the connection was
/// never freed: with `max_connections = 4` the fifth connect was refused.
#[test]
fn connections_reset_with_data_outstanding_are_freed() {
    let mut limits = EndpointConfig::default();
    limits.max_connections = 4;
    let mut server = endpoint_with(100, config(), limits);
    server.listen(addr(SERVER));
    let mut buf = vec![0; 2048];
    let mut now = Instant::ZERO;
    for round in 0..12u16 {
        let mut client = endpoint_with(200 + u64::from(round), config(), EndpointConfig::default());
        let local = addr(&format!("10.0.0.1:{}", 6000 + round));
        let cid = client
            .connect(
                now,
                FourTuple {
                    local,
                    remote: addr(SERVER),
                },
            )
            .unwrap();
        let reply = vec![7u8; 300_000];
        let mut sid = None;
        let mut aborted = false;
        let mut server_sent = 0;
        for _ in 0..400 {
            now += Duration::from_millis(1);
            while let Some(n) = client.poll_transmit(now, &mut buf).map(|t| t.len) {
                let seg = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
                let routed = server.handle_segment(now, &seg);
                assert_ne!(routed, Routed::Refused, "round {round}: refused");
            }
            if let Some(id) = server.accept() {
                sid = Some(id);
            }
            if let Some(s) = sid.and_then(|id| server.connection(id)) {
                s.write(&reply);
            }
            while let Some(n) = server.poll_transmit(now, &mut buf).map(|t| t.len) {
                server_sent += 1;
                // The client hears only the server's first segments, then
                // aborts: the rest of the server's data stays
                // unacknowledged at the data level.
                if server_sent < 6 {
                    let seg = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
                    client.handle_segment(now, &seg);
                }
            }
            if server_sent > 20 && !aborted {
                if let Some(c) = client.connection(cid) {
                    c.abort();
                    aborted = true;
                }
            }
            while server.poll_event().is_some() {}
            while client.poll_event().is_some() {}
            server.handle_timeout(now);
            client.handle_timeout(now);
            if aborted && server.is_empty() {
                break;
            }
        }
        // The abort's RST reached the server; whatever timers remain run out.
        let deadline = now + Duration::from_secs(600);
        while !server.is_empty() && now < deadline {
            now = server.poll_timeout().map_or(deadline, |t| t.max(now));
            server.handle_timeout(now);
            while server.poll_transmit(now, &mut buf).is_some() {}
            while server.poll_event().is_some() {}
            now += Duration::from_millis(1);
        }
        assert!(
            server.is_empty(),
            "round {round}: {} connections held",
            server.len()
        );
    }
}

/// Item 3: a client that shuts down with nothing written before the
/// server's first DSS got an endless run of pure ACKs with its keys at one
/// instant (the DATA_FIN never rode, each ACK asked for one more).
#[test]
fn a_shutdown_before_the_first_dss_ends_and_closes() {
    let down = data(10_000, 5);
    let mut run = Run::new(10, &[], &down);
    run.shutdown_first = true;
    let outcome = run.go();
    outcome.assert_clean(&[], &down);
    assert!(outcome.longest_drain < 50, "{}", outcome.longest_drain);
}

/// Item 3, with nothing either way: the close completes.
#[test]
fn a_shutdown_before_the_first_dss_with_no_data_at_all_closes() {
    let mut run = Run::new(11, &[], &[]);
    run.shutdown_first = true;
    let outcome = run.go();
    outcome.assert_clean(&[], &[]);
}

/// Item 3: the third ACK (the client's keys) lost and the client closing
/// with nothing written: the keys go again, then the DATA_FIN.
#[test]
fn a_lost_third_ack_before_a_shutdown_is_recovered() {
    let mut run = Run::new(12, &[], &[]);
    run.shutdown_first = true;
    let mut dropped = false;
    run.wire = Box::new(move |_, p, out| {
        let seg = Segment::parse(&p.bytes, ChecksumCheck::Verify).unwrap();
        let keys = seg
            .options()
            .flatten()
            .any(|o| matches!(o, TcpOption::Mptcp(MptcpOption::MpCapable(_))));
        if p.to_server && keys && !seg.flags().contains(TcpFlags::SYN) && !dropped {
            dropped = true;
            return;
        }
        out.push(p);
    });
    let outcome = run.go();
    outcome.assert_clean(&[], &[]);
}

/// The client's keys lost three times, the client closing with nothing
/// written and the server with data to send (a fuzzing finding). The
/// client's first ACK went without its keys (the SYN's MP_CAPABLE counted
/// as keys sent on a pure ACK), only the SYN/ACK's retransmission timer
/// (1, 3, 7, 15 s) brought them again, and the server timed out before a
/// copy came through. Now the keys lead, a DATA_FIN that acknowledges our
/// SYN/ACK brings the SYN/ACK back at once, and the client answers a
/// repeated SYN/ACK with its keys: the server's data leaves within a
/// second, before its timer would have sent the SYN/ACK a second time.
#[test]
fn third_acks_lost_again_and_again_before_a_shutdown_are_recovered() {
    let down = data(106, 7);
    let mut run = Run::new(13, &[], &down);
    run.shutdown_first = true;
    let mut dropped = 0;
    run.wire = Box::new(move |now, p, out| {
        let seg = Segment::parse(&p.bytes, ChecksumCheck::Verify).unwrap();
        let keys = seg
            .options()
            .flatten()
            .any(|o| matches!(o, TcpOption::Mptcp(MptcpOption::MpCapable(_))));
        let syn = seg.flags().contains(TcpFlags::SYN);
        if !p.to_server && !seg.payload().is_empty() {
            assert!(
                now - Instant::ZERO < Duration::from_secs(1),
                "the server's data waited until {now:?}"
            );
        }
        if p.to_server && keys && !syn && dropped < 3 {
            dropped += 1;
            return;
        }
        out.push(p);
    });
    let outcome = run.go();
    outcome.assert_clean(&[], &down);
}

/// A client whose keys never arrive (every copy lost) but whose DATA_FINs
/// do: the server repeats its SYN/ACK early once per period of its
/// retransmission timer, not once per DATA_FIN, so the two cannot play
/// ping-pong (a peer that answers a SYN/ACK without its keys would).
#[test]
fn a_syn_ack_goes_early_once_per_timer_period() {
    let mut run = Run::new(14, &[], &[]);
    run.shutdown_first = true;
    run.limit = Duration::from_secs(20);
    let syn_acks = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = syn_acks.clone();
    run.wire = Box::new(move |now, p, out| {
        let seg = Segment::parse(&p.bytes, ChecksumCheck::Verify).unwrap();
        let keys = seg
            .options()
            .flatten()
            .any(|o| matches!(o, TcpOption::Mptcp(MptcpOption::MpCapable(_))));
        let syn = seg.flags().contains(TcpFlags::SYN);
        if !p.to_server && syn {
            seen.borrow_mut().push(now - Instant::ZERO);
        }
        if p.to_server && keys && !syn {
            return;
        }
        out.push(p);
    });
    let _ = run.go();
    let syn_acks = syn_acks.borrow();
    // The timer's: at 0, 1, 3, 7 and 15 s (doubling from 1 s); each may
    // bring one early repeat, and no more.
    let periods = [0, 1, 3, 7, 15, 20].map(Duration::from_secs);
    for pair in periods.windows(2) {
        let within = syn_acks
            .iter()
            .filter(|t| **t >= pair[0] && **t < pair[1])
            .count();
        assert!(
            (1..=2).contains(&within),
            "{within} SYN/ACKs from {:?} to {:?}: {syn_acks:?}",
            pair[0],
            pair[1]
        );
    }
}

/// Item 4: the last subflow dies, the connection waits for a new one
/// (`close_timeout`), and a protocol error on the join (a mapping that
/// does not touch its bytes, in place of the join's third ACK) closes it. Its
/// orphan deadline used to stay in `poll_timeout()`, in the past, and the
/// connection was never collected. (`Run` asserts no deadline stays in
/// the past after `handle_timeout`.)
#[test]
fn a_connection_closed_while_orphaned_keeps_no_deadline_and_is_freed() {
    let up = data(300_000, 6);
    let mut run = Run::new(13, &up, &[]);
    // Kill the initial subflow on the wire once data flows (a RST to each
    // end), then let the client join and, on the join,
    // forge an in-window mapping that contradicts itself.
    let mut data_seen = 0;
    let mut killed = false;
    let mut join_forged = false;
    run.wire = Box::new(move |_, p, out| {
        let seg = Segment::parse(&p.bytes, ChecksumCheck::Verify).unwrap();
        if p.to_server && is_data(&p) && seg.src_port() == 5000 {
            data_seen += 1;
            if data_seen == 20 && !killed {
                killed = true;
                // A RST each way, each at the receiver's RCV.NXT.
                for (to_server, from, to, seq) in [
                    (true, CLIENT, SERVER, seg.seq()),
                    (false, SERVER, CLIENT, seg.ack()),
                ] {
                    let mut b = SegmentBuilder::new(addr(from), addr(to));
                    b.seq = seq;
                    b.flags = TcpFlags::RST;
                    let mut buf = vec![0; 64];
                    let n = b.emit(&mut buf).unwrap().len;
                    out.push(Packet {
                        to_server,
                        bytes: buf[..n].to_vec(),
                    });
                }
                return;
            }
        }
        if killed && seg.src_port() == 5000 {
            return; // the path is gone
        }
        let join_ack = seg
            .options()
            .flatten()
            .any(|o| matches!(o, TcpOption::Mptcp(MptcpOption::MpJoin(MpJoin::Ack { .. }))));
        if p.to_server && seg.src_port() == 5001 && join_ack && !join_forged {
            // In place of the join's third ACK, with its numbers (so
            // acceptable): a byte whose mapping does not touch it.
            join_forged = true;
            let dss = Dss {
                data_ack: None,
                mapping: Some(DssMapping {
                    dsn: DssSeq::Long(1),
                    subflow_seq: 0x4000_0000,
                    data_len: 10,
                    checksum: None,
                }),
                data_fin: false,
            };
            out.push(Packet {
                to_server: true,
                bytes: forge_shifted(
                    &p.bytes,
                    0,
                    Some(MptcpOption::Dss(dss)),
                    &[0x42],
                    TcpFlags::ACK,
                ),
            });
            return;
        }
        out.push(p);
    });
    run.limit = Duration::from_secs(200);
    let outcome = run.go_with_join_after_reset();
    assert!(
        outcome
            .server_events
            .iter()
            .any(|e| matches!(e, MptcpEvent::ProtocolError(_))),
        "the scenario reached its protocol error: {:?}",
        outcome.server_events
    );
    assert!(outcome.freed, "the closed connection was not freed");
}

impl Run<'_> {
    /// [`Run::go`], the client opening a join from a second address once
    /// its initial subflow is reset.
    fn go_with_join_after_reset(mut self) -> Outcome {
        let mut joined = false;
        let mut inner = std::mem::replace(&mut self.on_client_event, Box::new(|_, _, _, _| {}));
        self.on_client_event = Box::new(move |ep, id, now, event| {
            inner(ep, id, now, event);
            if matches!(event, MptcpEvent::SubflowClosed(_)) && !joined {
                joined = true;
                let tuple = FourTuple {
                    local: addr("10.0.1.1:5001"),
                    remote: addr(SERVER),
                };
                let _ = ep.open_subflow(now, id, tuple, AddrId(1), false);
            }
        });
        self.go()
    }
}

/// Item 6: once both DATA_FINs are acknowledged the subflows close, but a
/// copy of data sent on another subflow (a reinjection, or here a
/// redundant scheduler's) can still be on its way. Its arrival used to
/// reset the subflow (abort-on-data after `close`): the final DATA_ACK and
/// FIN never left, and a peer that had received everything could see
/// `Reset`. Here the server sends everything on both subflows and the
/// second subflow's copies arrive 300 ms late, after the close; the
/// client, which receives them, resets nothing.
#[test]
fn a_late_copy_on_another_subflow_after_the_data_level_close_does_not_reset() {
    let up = data(10_000, 7);
    let down = data(1_000_000, 8);
    let mut run = Run::new(14, &up, &down);
    run.server_scheduler = Some("redundant");
    run.on_client_event = join_on_connect();
    let late: Rc<std::cell::RefCell<Vec<(Instant, Packet)>>> = Rc::default();
    let late_in = late.clone();
    let rsts = Rc::new(Cell::new(0));
    let rsts_seen = rsts.clone();
    let copies = Rc::new(Cell::new(0));
    let copies_seen = copies.clone();
    run.wire = Box::new(move |now, p, out| {
        let seg = Segment::parse(&p.bytes, ChecksumCheck::Verify).unwrap();
        if p.to_server && seg.flags().contains(TcpFlags::RST) {
            rsts_seen.set(rsts_seen.get() + 1);
        }
        if !p.to_server && seg.dst_port() == 5001 && is_data(&p) {
            copies_seen.set(copies_seen.get() + 1);
            late_in
                .borrow_mut()
                .push((now + Duration::from_millis(300), p));
            return;
        }
        out.push(p);
    });
    run.tick = Box::new(move |now, out| {
        let mut late = late.borrow_mut();
        let (due, keep): (Vec<_>, Vec<_>) = late.drain(..).partition(|(t, _)| *t <= now);
        *late = keep;
        out.extend(due.into_iter().map(|(_, p)| p));
    });
    let outcome = run.go();
    assert!(copies.get() > 0, "the second subflow carried copies");
    outcome.assert_clean(&up, &down);
    // (The server may reset the late subflow itself, or answer for it once
    // it forgot the connection: that is not the client's doing.)
    assert_eq!(rsts.get(), 0, "the client reset a subflow for the copies");
}

/// The client opens a second subflow, from 10.0.1.1:5001, once connected.
fn join_on_connect<'a>() -> OnEvent<'a> {
    let mut joined = false;
    Box::new(move |ep, id, now, event| {
        if matches!(event, MptcpEvent::Connected { mptcp: true }) && !joined {
            joined = true;
            let tuple = FourTuple {
                local: addr("10.0.1.1:5001"),
                remote: addr(SERVER),
            };
            ep.open_subflow(now, id, tuple, AddrId(1), false).unwrap();
        }
    })
}

/// Item 7: each half-open connection used to take its full buffers at the
/// SYN (some 3 MiB with the defaults): a flood of 64 took ~200 MB. The
/// buffers are now taken with the first byte.
#[test]
fn half_open_connections_hold_no_buffers() {
    let mut server = endpoint_with(300, config(), EndpointConfig::default());
    server.listen(addr(SERVER));
    for i in 0..64u16 {
        let mut b = SegmentBuilder::new(
            addr(&format!("10.9.{}.{}:{}", i / 200, i % 200 + 1, 1000 + i)),
            addr(SERVER),
        );
        b.seq = 77;
        b.flags = TcpFlags::SYN;
        b.window = 65535;
        b.mptcp = Some(MptcpOption::MpCapable(umptcp_wire::mptcp::MpCapable {
            version: 1,
            flags: umptcp_wire::mptcp::MpCapableFlags::default(),
            keys: umptcp_wire::mptcp::CapableKeys::None,
        }));
        let mut buf = vec![0; b.buffer_len_max()];
        let n = b.emit(&mut buf).unwrap().len;
        let seg = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
        assert!(matches!(
            server.handle_segment(Instant::ZERO, &seg),
            Routed::Accepted(_)
        ));
    }
    assert_eq!(server.len(), 64);
    assert_eq!(
        server.buffer_bytes(),
        0,
        "half-open connections hold buffers"
    );
}
