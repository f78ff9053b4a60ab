//! Conformance: our MPTCP connection against a sender that uses the
//! freedoms RFC 8684 leaves open, which the Linux kernel never does (one
//! mapping for many segments, mappings that end mid-segment, 4-octet DSNs,
//! 8-octet DATA_ACKs, a DATA_ACK only now and then, the keys on the first
//! data segment, the DATA_FIN inside the last data's mapping, ADD_ADDR on a
//! data segment, subflows joined before any data).
//!
//! The "other implementation" is our own stack with [`rewrite::Rewriter`]
//! on its outgoing packets. Each variant moves 16 MiB both ways over one
//! simulated 50 Mbit/s path (and a second joined path for some), in both
//! roles (the rewritten side as client and as server), and must deliver
//! every byte in order, stay MPTCP (no fallback, no reset) and take no
//! longer in simulated time than the unrewritten baseline plus a margin.

mod rewrite;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use umptcp_cc::{CcConfig, CongestionControl, Registry};
use umptcp_proto::{MptcpConfig, MptcpConnection, MptcpEvent};
use umptcp_sim::{Host, HostId, IfaceId, LinkConfig, Rate, Reorder, SimConfig, Simulator};
use umptcp_tcp::{FourTuple, IsnKey};
use umptcp_time::Instant;
use umptcp_wire::segment::{ChecksumCheck, Segment, TcpFlags};
use umptcp_wire::{AddrId, Key, Nonce};

use rewrite::{Rewriter, Variant};

const CLIENT_A: &str = "10.0.1.1:40000";
const SERVER_A: &str = "10.0.1.2:80";
const CLIENT_B: &str = "10.0.2.1:40001";
const SERVER_B: &str = "10.0.2.2:80";

const TOTAL: u64 = 16 << 20;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn cc() -> Box<dyn CongestionControl> {
    Registry::with_builtins()
        .build("cubic", &CcConfig::default())
        .unwrap()
}

/// The byte at `offset` of the stream each side sends (`seed` tells the
/// two directions apart).
fn stream_byte(seed: u64, offset: u64) -> u8 {
    (offset.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Which side the rewriter sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rewritten {
    Client,
    Server,
}

/// One side: its connection (the server's appears with the first SYN), an
/// application that writes `total` bytes and checks what it reads, and,
/// on the rewritten side, the rewriter.
struct Side {
    conn: Option<MptcpConnection>,
    config: MptcpConfig,
    key: Key,
    isn: u8,
    /// The seed of the stream this side sends; the peer's is `seed ^ 1`.
    seed: u64,
    total: u64,
    written: u64,
    received: u64,
    mismatch: Option<u64>,
    peer_closed: bool,
    closed_at: Option<Instant>,
    packets_sent: u64,
    wire_bytes: u64,
    last_read_at: Option<Instant>,
    longest_gap: (Duration, u64),
    pure_acks_sent: u64,
    /// When the last byte from the peer arrived.
    complete_at: Option<Instant>,
    events: Vec<MptcpEvent>,
    rewriter: Option<Rewriter>,
    /// Client: join path B once MPTCP is up.
    join_b: bool,
    /// Write nothing until a second subflow is established (joins before
    /// any data).
    hold_writes: bool,
    /// Announce this side's path-B address once MPTCP is up.
    announce_b: Option<SocketAddr>,
    scratch: Vec<u8>,
}

impl Side {
    fn new(config: MptcpConfig, key: u64, isn: u8, seed: u64) -> Self {
        Side {
            conn: None,
            config,
            key: Key(key),
            isn,
            seed,
            total: TOTAL,
            written: 0,
            received: 0,
            mismatch: None,
            peer_closed: false,
            closed_at: None,
            complete_at: None,
            packets_sent: 0,
            wire_bytes: 0,
            last_read_at: None,
            longest_gap: (Duration::ZERO, 0),
            pure_acks_sent: 0,
            events: Vec::new(),
            rewriter: None,
            join_b: false,
            hold_writes: false,
            announce_b: None,
            scratch: vec![0; 64 * 1024],
        }
    }

    fn client(config: MptcpConfig) -> Self {
        let mut side = Self::new(config, 0x1111_2222_3333_4444, 1, 0);
        let tuple = FourTuple {
            local: addr(CLIENT_A),
            remote: addr(SERVER_A),
        };
        side.conn = Some(
            MptcpConnection::connect(
                side.config.clone(),
                tuple,
                IsnKey::from_bytes([1; 32]),
                side.key,
                cc(),
                Instant::ZERO,
            )
            .unwrap(),
        );
        side
    }

    fn server(config: MptcpConfig) -> Self {
        Self::new(config, 0x5555_6666_7777_8888, 2, 1)
    }

    fn service(&mut self, now: Instant) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        while let Some(event) = conn.poll_event() {
            if event == (MptcpEvent::Connected { mptcp: true })
                && let Some(b) = self.announce_b
            {
                conn.announce(AddrId(1), b.ip(), None)
                    .expect("announce path B");
            }
            match event {
                MptcpEvent::Connected { mptcp: true } if self.join_b => {
                    conn.open_subflow(
                        now,
                        FourTuple {
                            local: addr(CLIENT_B),
                            remote: addr(SERVER_B),
                        },
                        IsnKey::from_bytes([self.isn + 20; 32]),
                        Nonce(0xabcd_0001),
                        AddrId(1),
                        false,
                    )
                    .expect("open subflow B");
                }
                MptcpEvent::SubflowEstablished(_) => self.hold_writes = false,
                MptcpEvent::PeerClosed => self.peer_closed = true,
                MptcpEvent::Closed => self.closed_at = Some(now),
                _ => {}
            }
            if event != MptcpEvent::Writable && event != MptcpEvent::Readable {
                self.events.push(event);
            }
        }
        while !self.hold_writes && self.written < self.total && conn.writable() > 0 {
            let n = (self.total - self.written)
                .min(self.scratch.len() as u64)
                .min(conn.writable() as u64) as usize;
            for (i, b) in self.scratch[..n].iter_mut().enumerate() {
                *b = stream_byte(self.seed, self.written + i as u64);
            }
            let taken = conn.write(&self.scratch[..n]);
            self.written += taken as u64;
            if taken < n {
                break;
            }
        }
        if !self.hold_writes && self.written == self.total {
            conn.shutdown();
        }
        loop {
            let n = conn.read(&mut self.scratch);
            if n == 0 {
                break;
            }
            for (i, b) in self.scratch[..n].iter().enumerate() {
                let at = self.received + i as u64;
                if self.mismatch.is_none() && *b != stream_byte(self.seed ^ 1, at) {
                    self.mismatch = Some(at);
                }
            }
            self.received += n as u64;
            if let Some(last) = self.last_read_at
                && now - last > self.longest_gap.0
            {
                self.longest_gap = (now - last, self.received);
            }
            self.last_read_at = Some(now);
            if self.received == self.total {
                self.complete_at = Some(now);
            }
        }
    }
}

fn iface_of(ip: IpAddr) -> IfaceId {
    match ip {
        IpAddr::V4(v4) if v4.octets()[2] == 2 => IfaceId(1),
        _ => IfaceId(0),
    }
}

impl Host for Side {
    fn handle_packet(&mut self, now: Instant, _iface: IfaceId, packet: &[u8]) {
        if let Some(rewriter) = self.rewriter.as_mut() {
            rewriter.observe_incoming(packet);
        }
        let Ok(seg) = Segment::parse(packet, ChecksumCheck::Verify) else {
            return;
        };
        match self.conn.as_mut() {
            Some(conn) => {
                if !conn.handle_segment(now, &seg) && seg.flags().contains(TcpFlags::SYN) {
                    let _ = conn.accept_join(
                        now,
                        &seg,
                        IsnKey::from_bytes([self.isn + 10; 32]),
                        Nonce(0x1234_5678),
                        AddrId(1),
                    );
                }
            }
            None => {
                let mut config = self.config.clone();
                config.tcp.time_wait = Duration::from_millis(100);
                self.conn = Some(
                    MptcpConnection::accept(
                        config,
                        &seg,
                        IsnKey::from_bytes([self.isn; 32]),
                        self.key,
                        cc(),
                        now,
                    )
                    .unwrap(),
                );
            }
        }
        self.service(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)> {
        loop {
            self.service(now);
            if let Some(n) = self.rewriter.as_mut().and_then(|r| r.take_pending(buf)) {
                let src = Segment::parse(&buf[..n], ChecksumCheck::Skip).ok()?.src();
                return Some((iface_of(src), n));
            }
            let conn = self.conn.as_mut()?;
            let Some(n) = conn.poll_transmit(now, buf).map(|t| t.len) else {
                self.service(now);
                return None;
            };
            let n = match self.rewriter.as_mut() {
                Some(rewriter) => {
                    rewriter.at(now);
                    match rewriter.rewrite(buf, n) {
                        Some(n) => n,
                        None => continue,
                    }
                }
                None => n,
            };
            let seg = Segment::parse(&buf[..n], ChecksumCheck::Skip).ok()?;
            self.packets_sent += 1;
            self.wire_bytes += n as u64;
            if seg.payload().is_empty() {
                self.pure_acks_sent += 1;
            }
            return Some((iface_of(seg.src()), n));
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.as_ref()?.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some(conn) = self.conn.as_mut() {
            conn.handle_timeout(now);
        }
        self.service(now);
    }
}

/// How one run ended.
#[derive(Debug)]
struct Outcome {
    /// Simulated time until both sides had every byte.
    done: Duration,
    /// Segments the client and the server retransmitted.
    retransmissions: (u64, u64),
    rewritten: u64,
    inserted: u64,
    /// How long the rewriter held segments back in all.
    held_for: Duration,
    /// The side not rewritten saw an address announced.
    announced: bool,
}

/// The setup of one run.
#[derive(Clone, Copy, Debug)]
struct Case {
    variant: Variant,
    rewritten: Rewritten,
    checksum: bool,
    two_paths: bool,
    /// 1 % loss and 1 % reordering on every link.
    impaired: bool,
    /// Neither side writes before the second subflow is established.
    join_first: bool,
}

fn path(impaired: bool) -> LinkConfig {
    let link =
        LinkConfig::new(Rate::mbit(50), Duration::from_millis(10)).with_queue_limit(256 << 10);
    if impaired {
        // Retransmissions and reordering: where the shape of a mapping
        // matters most (a segment without DSS may arrive before the one
        // with its mapping, a retransmission must repeat the mapping).
        let mut link = link.with_loss(0.01);
        link.reorder = Some(Reorder::new(0.01, Duration::from_millis(3)));
        link
    } else {
        link
    }
}

fn run(case: Case) -> Outcome {
    let mut config = MptcpConfig::default();
    config.checksum = case.checksum;
    let mut client = Side::client(config.clone());
    client.join_b = case.two_paths;
    client.hold_writes = case.join_first;
    let mut server = Side::server(config);
    server.hold_writes = case.join_first;
    for (side, which) in [
        (&mut client, Rewritten::Client),
        (&mut server, Rewritten::Server),
    ] {
        if case.rewritten == which {
            // RFC 8684 §3.1: the first byte is IDSN + 1; the DATA_FIN
            // follows the last.
            let end = umptcp_crypto::idsn(side.key).wrapping_add(1 + TOTAL);
            side.rewriter = Some(Rewriter::new(case.variant).ending_at(end));
            if case.variant == Variant::AddAddrOnData {
                side.announce_b = Some(addr(match which {
                    Rewritten::Client => CLIENT_B,
                    Rewritten::Server => SERVER_B,
                }));
            }
        }
    }
    let mut sim = Simulator::new(SimConfig::with_seed(11)).unwrap();
    let c = sim.add_host(client).unwrap();
    let s = sim.add_host(server).unwrap();
    let ip = |s: &str| addr(s).ip();
    let ca = sim.add_iface(c, &[ip(CLIENT_A)]).unwrap();
    let cb = sim.add_iface(c, &[ip(CLIENT_B)]).unwrap();
    let sa = sim.add_iface(s, &[ip(SERVER_A)]).unwrap();
    let sb = sim.add_iface(s, &[ip(SERVER_B)]).unwrap();
    let link = path(case.impaired);
    sim.connect((c, ca), (s, sa), link.clone(), link.clone())
        .unwrap();
    sim.connect((c, cb), (s, sb), link.clone(), link).unwrap();

    let end = Instant::ZERO + Duration::from_secs(120);
    let mut done = None;
    while sim.now() < end && sim.step() {
        let (cl, sv) = (sim.host(HostId(0)).unwrap(), sim.host(HostId(1)).unwrap());
        if done.is_none() && cl.received == TOTAL && sv.received == TOTAL {
            done = Some(sim.now());
        }

        if cl.closed_at.is_some() && sv.closed_at.is_some() {
            break;
        }
    }
    let cl = sim.host(HostId(0)).unwrap();
    let sv = sim.host(HostId(1)).unwrap();
    for (name, me) in [("client", cl), ("server", sv)] {
        assert_eq!(
            me.received,
            TOTAL,
            "{case:?}: the {name} got {} of {TOTAL} by {:?}; events {:?}; {:?}",
            me.received,
            sim.now(),
            me.events,
            me.conn
        );
        assert_eq!(me.mismatch, None, "{case:?}: the {name}'s data differs");
        assert!(me.peer_closed, "{case:?}: the {name} saw no DATA_FIN");
        let conn = me.conn.as_ref().unwrap();
        assert!(
            conn.is_mptcp(),
            "{case:?}: the {name} fell back: {:?}",
            conn.fallback_reason()
        );
        assert!(
            !me.events.iter().any(|e| matches!(
                e,
                MptcpEvent::FellBack(_) | MptcpEvent::Reset | MptcpEvent::ProtocolError(_)
            )),
            "{case:?}: the {name}'s events {:?}; the client's {:?}, the server's {:?}",
            me.events,
            cl.events,
            sv.events
        );
        assert!(
            me.closed_at.is_some(),
            "{case:?}: the {name} did not close: {:?}; the client {:?} {:?}, the server {:?} {:?}",
            me.events,
            cl.received,
            cl.conn,
            sv.received,
            sv.conn
        );
        if case.two_paths {
            assert!(
                conn.subflows().filter(|s| s.bytes_sent > (1 << 20)).count() == 2,
                "{case:?}: the {name} did not use both paths: {:?}",
                conn.subflows().collect::<Vec<_>>()
            );
        }
    }
    if std::env::var_os("CONFORMANCE_DEBUG").is_some() {
        for me in [cl, sv] {
            for sub in me.conn.as_ref().unwrap().subflows() {
                eprintln!("  {:?} cwnd {} srtt {:?}", sub.id, sub.cwnd, sub.srtt);
            }
            eprintln!("  wire bytes {}", me.wire_bytes);
        }
        eprintln!(
            "{case:?}: the client had everything at {:?}, the server at {:?}; packets {} ({} pure ACKs) and {} ({}); gaps {:?} {:?}",
            cl.complete_at,
            sv.complete_at,
            cl.packets_sent,
            cl.pure_acks_sent,
            sv.packets_sent,
            sv.pure_acks_sent,
            cl.longest_gap,
            sv.longest_gap
        );
    }
    let rewriter = match case.rewritten {
        Rewritten::Client => cl.rewriter.as_ref(),
        Rewritten::Server => sv.rewriter.as_ref(),
    }
    .unwrap();
    let retransmissions = |side: &Side| -> u64 {
        side.conn
            .as_ref()
            .map_or(0, |c| c.subflows().map(|s| s.retransmissions).sum())
    };
    Outcome {
        retransmissions: (retransmissions(cl), retransmissions(sv)),
        done: done.expect("both sides had everything") - Instant::ZERO,
        rewritten: rewriter.rewritten,
        inserted: rewriter.inserted,
        held_for: rewriter.held_for,
        announced: match case.rewritten {
            Rewritten::Client => sv.events.as_slice(),
            Rewritten::Server => cl.events.as_slice(),
        }
        .iter()
        .any(|e| matches!(e, MptcpEvent::AddressAnnounced(_))),
    }
}

/// Run `variant` and the plain baseline in the same setup; the variant
/// must have changed packets and must not be slower than the baseline by
/// more than 5 % of simulated time.
fn conforms(variant: Variant, rewritten: Rewritten, checksum: bool, two_paths: bool) {
    let case = Case {
        variant,
        rewritten,
        checksum,
        two_paths,
        impaired: false,
        join_first: false,
    };
    let baseline = run(Case {
        variant: Variant::Plain,
        ..case
    });
    let outcome = run(case);
    let mbit = |d: Duration| (2 * TOTAL * 8) as f64 / d.as_secs_f64() / 1e6;
    println!(
        "{variant:?} rewritten on the {rewritten:?}, checksum {checksum}, two paths {two_paths}: \
         {:.1} Mbit/s against {:.1} for the baseline ({} packets rewritten, {} inserted, \
         {:?} held back; retransmissions {:?} against {:?})",
        mbit(outcome.done),
        mbit(baseline.done),
        outcome.rewritten,
        outcome.inserted,
        outcome.held_for,
        outcome.retransmissions,
        baseline.retransmissions,
    );
    if variant == Variant::AddAddrOnData {
        assert!(
            outcome.inserted >= 1 && outcome.announced,
            "{case:?}: no ADD_ADDR went on data, or it was not taken: {outcome:?}"
        );
    } else if variant == Variant::DataFinOnData {
        // Only the last data segment changes: it carries the DATA_FIN.
        assert!(
            outcome.inserted >= 1,
            "{case:?}: no DATA_FIN went with data: {outcome:?}"
        );
    } else {
        assert!(
            outcome.rewritten > 100,
            "{case:?}: the rewriter changed little: {outcome:?}"
        );
    }
    if variant == Variant::ThirdAckThenKeysOnData {
        assert_eq!(
            outcome.inserted, 1,
            "{case:?}: no pure third ACK went first"
        );
    }
    // What the rewriter delays by holding a segment back is its own
    // doing, not the receiver's.
    assert!(
        (outcome.done - outcome.held_for).as_secs_f64() <= baseline.done.as_secs_f64() * 1.05,
        "{case:?}: {:?} ({:?} of it held back by the rewriter) against {:?} for the baseline",
        outcome.done,
        outcome.held_for,
        baseline.done
    );
    // Under loss and reordering the packets differ from the baseline's,
    // so the links' random draws do too: only correctness is compared.
    let impaired = run(Case {
        impaired: true,
        ..case
    });
    println!(
        "  with 1 % loss and reordering: {:.1} Mbit/s, retransmissions {:?}",
        mbit(impaired.done),
        impaired.retransmissions
    );
    assert!(
        impaired.retransmissions.0 + impaired.retransmissions.1 > 50,
        "{case:?}: the impaired run lost little: {impaired:?}"
    );
}

#[test]
fn one_mapping_for_many_segments_with_data_acks_between() {
    conforms(Variant::MappingOnce, Rewritten::Client, false, false);
    conforms(Variant::MappingOnce, Rewritten::Server, false, false);
    conforms(Variant::MappingOnce, Rewritten::Client, true, false);
}

#[test]
fn one_mapping_for_many_segments_without_any_option_between() {
    conforms(Variant::MappingOnceBare, Rewritten::Client, false, false);
    conforms(Variant::MappingOnceBare, Rewritten::Server, false, false);
    conforms(Variant::MappingOnceBare, Rewritten::Server, true, false);
}

#[test]
fn one_mapping_for_many_segments_over_two_subflows() {
    conforms(Variant::MappingOnceBare, Rewritten::Client, false, true);
    conforms(Variant::MappingOnceBare, Rewritten::Server, false, true);
}

#[test]
fn a_pure_third_ack_then_the_keys_and_a_long_mapping_on_the_first_data() {
    conforms(
        Variant::ThirdAckThenKeysOnData,
        Rewritten::Client,
        false,
        false,
    );
    conforms(
        Variant::ThirdAckThenKeysOnData,
        Rewritten::Client,
        true,
        false,
    );
    conforms(
        Variant::ThirdAckThenKeysOnData,
        Rewritten::Client,
        false,
        true,
    );
}

#[test]
fn one_mapping_per_segment() {
    conforms(Variant::MappingPerSegment, Rewritten::Client, false, false);
    conforms(Variant::MappingPerSegment, Rewritten::Server, true, false);
}

#[test]
fn mappings_that_end_mid_segment() {
    conforms(
        Variant::SplitWithinSegments,
        Rewritten::Client,
        false,
        false,
    );
    conforms(Variant::SplitWithinSegments, Rewritten::Server, false, true);
}

#[test]
fn four_octet_data_sequence_numbers() {
    conforms(Variant::Dsn32, Rewritten::Client, false, false);
    conforms(Variant::Dsn32, Rewritten::Server, true, true);
}

#[test]
fn eight_octet_data_acks() {
    conforms(Variant::DataAck64, Rewritten::Client, false, false);
    conforms(Variant::DataAck64, Rewritten::Server, false, true);
}

#[test]
fn a_data_ack_only_now_and_then() {
    conforms(Variant::SparseDataAck(8), Rewritten::Client, false, false);
    conforms(Variant::SparseDataAck(8), Rewritten::Server, false, true);
}

#[test]
fn a_data_fin_in_the_mapping_of_the_last_data() {
    conforms(Variant::DataFinOnData, Rewritten::Client, false, false);
    conforms(Variant::DataFinOnData, Rewritten::Server, true, false);
    conforms(Variant::DataFinOnData, Rewritten::Client, false, true);
}

/// Subflows joined before any data (RFC 8684 §3.2 lets a join come at any
/// time after the handshake): neither side writes until the second
/// subflow is established, so the join's handshake runs on a connection
/// that has sent no data at all, and its first data then uses both paths.
#[test]
fn subflows_joined_before_any_data() {
    for (rewritten, checksum) in [(Rewritten::Client, false), (Rewritten::Server, true)] {
        let case = Case {
            variant: Variant::Plain,
            rewritten,
            checksum,
            two_paths: true,
            impaired: false,
            join_first: false,
        };
        let baseline = run(case);
        let joined_first = run(Case {
            join_first: true,
            ..case
        });
        let impaired = run(Case {
            join_first: true,
            impaired: true,
            ..case
        });
        println!(
            "joined before any data, checksum {checksum}: done in {:?} against {:?} when data \
             went first; with 1 % loss and reordering {:?}",
            joined_first.done, baseline.done, impaired.done
        );
        // The join costs a round trip or two before the first byte (10 ms
        // one way here), nothing after.
        assert!(
            joined_first.done <= baseline.done + Duration::from_millis(100),
            "{case:?}: {:?} against {:?}",
            joined_first.done,
            baseline.done
        );
    }
}

#[test]
fn add_addr_on_a_data_segment() {
    conforms(Variant::AddAddrOnData, Rewritten::Server, false, false);
    conforms(Variant::AddAddrOnData, Rewritten::Client, false, false);
}
