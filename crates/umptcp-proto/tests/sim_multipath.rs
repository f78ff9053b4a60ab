//! Two of our MPTCP stacks over two disjoint paths in the deterministic
//! simulator: the client joins a second subflow with MP_JOIN, the
//! scheduler spreads data over both, and when a path dies mid-transfer the
//! data outstanding on it is sent again on the other.
//!
//! Topology: host 0 (client) and host 1 (server), each with two
//! interfaces; path A is 10.0.1.0/24, path B 10.0.2.0/24.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use proptest::prelude::*;

use umptcp_cc::{CcConfig, CongestionControl, Registry};
use umptcp_proto::{
    FallbackReason, MptcpConfig, MptcpConnection, MptcpEvent, RoundRobin, SubflowId,
};
use umptcp_sim::{Direction, Host, IfaceId, LinkConfig, LinkId, Rate, SimConfig, Simulator};
use umptcp_tcp::{FourTuple, IsnKey};
use umptcp_time::Instant;
use umptcp_wire::mptcp::TcpRstReason;
use umptcp_wire::segment::{ChecksumCheck, Segment};
use umptcp_wire::{AddrId, Key, Nonce};

const CLIENT_A: &str = "10.0.1.1:40000";
const SERVER_A: &str = "10.0.1.2:80";
const CLIENT_B: &str = "10.0.2.1:40001";
const SERVER_B: &str = "10.0.2.2:80";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn cc() -> Box<dyn CongestionControl> {
    Registry::with_builtins()
        .build("cubic", &CcConfig::default())
        .unwrap()
}

/// The byte at `offset` of the test stream.
fn stream_byte(offset: u64) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// One endpoint: its connection (the server's appears with the first SYN)
/// and an application that sends `total` bytes or checks what arrives.
struct MptcpHost {
    conn: Option<MptcpConnection>,
    config: MptcpConfig,
    key: Key,
    isn: u8,
    /// Client: join path B once MPTCP is up.
    join_b: bool,
    joined: Option<SubflowId>,
    total: u64,
    written: u64,
    received: u64,
    mismatch: Option<u64>,
    peer_closed: bool,
    closed_at: Option<Instant>,
    events: Vec<MptcpEvent>,
    round_robin: bool,
    /// Server: rewrite a payload byte of this many packets from path B,
    /// keeping the TCP checksum valid (DSS checksums must catch it).
    mangle_b: u32,
    /// Server: the same on path A.
    mangle_a: u32,
    /// A middlebox in front of this host: after this many packets, every
    /// MPTCP option of the packets it receives becomes NOPs.
    strip_after: Option<u32>,
    /// Bytes received that differ from the stream sent.
    differing: u64,
    /// Client: use the redundant scheduler.
    redundant: bool,
    /// Client: use this scheduler (by name) instead.
    scheduler: Option<&'static str>,
    /// Client: open subflow B as a backup.
    backup_b: bool,
    /// Client: make subflow B a backup with MP_PRIO at this time.
    prio_b_at: Option<Instant>,
    /// Client: reset the initial subflow (MP_TCPRST) at this time.
    reset_a_at: Option<Instant>,
    /// Client: join path B at this time (instead of at `Connected`).
    join_b_at: Option<Instant>,
    /// Client: when it joined at `join_b_at`, the connection was open
    /// with no subflow left.
    joined_after_break: bool,
    scratch: Vec<u8>,
}

impl MptcpHost {
    fn new(total: u64, key: u64, isn: u8) -> Self {
        MptcpHost {
            conn: None,
            config: MptcpConfig::default(),
            key: Key(key),
            isn,
            join_b: false,
            joined: None,
            total,
            written: 0,
            received: 0,
            mismatch: None,
            peer_closed: false,
            closed_at: None,
            events: Vec::new(),
            round_robin: false,
            mangle_b: 0,
            mangle_a: 0,
            strip_after: None,
            differing: 0,
            redundant: false,
            scheduler: None,
            backup_b: false,
            prio_b_at: None,
            reset_a_at: None,
            join_b_at: None,
            joined_after_break: false,
            scratch: vec![0; 64 * 1024],
        }
    }

    fn client(total: u64) -> Self {
        Self::client_with(total, MptcpConfig::default())
    }

    fn client_with(total: u64, config: MptcpConfig) -> Self {
        let mut host = Self::new(total, 0x1111_2222_3333_4444, 1);
        host.config = config;
        let tuple = FourTuple {
            local: addr(CLIENT_A),
            remote: addr(SERVER_A),
        };
        host.conn = Some(
            MptcpConnection::connect(
                host.config.clone(),
                tuple,
                IsnKey::from_bytes([1; 32]),
                host.key,
                cc(),
                Instant::ZERO,
            )
            .unwrap(),
        );
        host.join_b = true;
        host
    }

    fn server() -> Self {
        Self::new(0, 0x5555_6666_7777_8888, 2)
    }

    /// Application and path-manager work, before every transmission.
    fn service(&mut self, now: Instant) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        while let Some(event) = conn.poll_event() {
            match event {
                MptcpEvent::Connected { mptcp: true } if self.join_b => {
                    self.joined = Some(join_path_b(conn, now, self.isn, self.backup_b));
                }
                MptcpEvent::PeerClosed => self.peer_closed = true,
                MptcpEvent::Closed => self.closed_at = Some(now),
                _ => {}
            }
            self.events.push(event);
        }
        if self.reset_a_at.is_some_and(|at| now >= at) {
            conn.reset_subflow(SubflowId(0), TcpRstReason::Unspecified);
            self.reset_a_at = None;
        }
        if self.join_b_at.is_some_and(|at| now >= at) {
            self.joined_after_break = !conn.is_closed() && conn.subflows().all(|s| s.closed);
            self.joined = Some(join_path_b(conn, now, self.isn, false));
            self.join_b_at = None;
        }
        if let (Some(at), Some(b)) = (self.prio_b_at, self.joined)
            && now >= at
        {
            conn.set_backup(b, true);
            self.prio_b_at = None;
        }
        if let Some(name) = self.scheduler.take() {
            conn.set_scheduler(umptcp_proto::scheduler::by_name(name).unwrap());
        }
        if self.redundant {
            conn.set_scheduler(Box::new(umptcp_proto::scheduler::Redundant));
            self.redundant = false;
        }
        if self.round_robin {
            conn.set_scheduler(Box::new(RoundRobin::default()));
            self.round_robin = false;
        }
        while self.written < self.total {
            let n = (self.total - self.written).min(self.scratch.len() as u64) as usize;
            for (i, b) in self.scratch[..n].iter_mut().enumerate() {
                *b = stream_byte(self.written + i as u64);
            }
            let taken = conn.write(&self.scratch[..n]);
            self.written += taken as u64;
            if taken < n {
                break;
            }
        }
        if self.written == self.total {
            conn.shutdown();
        }
        loop {
            let n = conn.read(&mut self.scratch);
            if n == 0 {
                break;
            }
            for (i, b) in self.scratch[..n].iter().enumerate() {
                let at = self.received + i as u64;
                if *b != stream_byte(at) {
                    self.differing += 1;
                    if self.mismatch.is_none() {
                        self.mismatch = Some(at);
                    }
                }
            }
            self.received += n as u64;
        }
    }
}

/// The client opens its subflow over path B (MP_JOIN).
fn join_path_b(conn: &mut MptcpConnection, now: Instant, isn: u8, backup: bool) -> SubflowId {
    let tuple = FourTuple {
        local: addr(CLIENT_B),
        remote: addr(SERVER_B),
    };
    conn.open_subflow(
        now,
        tuple,
        IsnKey::from_bytes([isn; 32]),
        Nonce(0xabcd_0001),
        AddrId(1),
        backup,
    )
    .expect("open subflow B")
}

fn iface_of(ip: IpAddr) -> IfaceId {
    match ip {
        IpAddr::V4(v4) if v4.octets()[2] == 2 => IfaceId(1),
        _ => IfaceId(0),
    }
}

impl Host for MptcpHost {
    fn handle_packet(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        let mut mangled;
        let mut packet = packet;
        let mut stripped;
        if let Some(n) = self.strip_after.as_mut() {
            if *n == 0 {
                stripped = packet.to_vec();
                strip_mptcp_options(&mut stripped);
                packet = &stripped;
            } else {
                *n -= 1;
            }
        }
        let mangle = match iface {
            IfaceId(0) => &mut self.mangle_a,
            _ => &mut self.mangle_b,
        };
        if *mangle > 0 && packet.len() > 200 {
            // A middlebox rewrites one byte and fixes the TCP checksum.
            mangled = packet.to_vec();
            let last = mangled.len() - 1;
            mangled[last] ^= 0x5a;
            umptcp_lab::fix_tcp_checksum_v4(&mut mangled);
            *mangle -= 1;
            packet = &mangled;
        }
        let Ok(seg) = Segment::parse(packet, ChecksumCheck::Verify) else {
            return;
        };
        match self.conn.as_mut() {
            Some(conn) => {
                if !conn.handle_segment(now, &seg) && seg.flags().contains(SYN) {
                    // A new subflow: MP_JOIN with our token. Anything else
                    // (a late copy of the first SYN after its subflow
                    // closed, a join past the limit) is refused; the
                    // endpoint would answer it with a reset.
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
        self.service(now);
        let conn = self.conn.as_mut()?;
        let Some(n) = conn.poll_transmit(now, buf).map(|t| t.len) else {
            // Transmitting can raise events (a subflow's reset going out
            // closes the connection): read them before the network idles.
            self.service(now);
            return None;
        };
        let seg = Segment::parse(&buf[..n], ChecksumCheck::Skip).ok()?;
        Some((iface_of(seg.src()), n))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        // The application's own plans wake it too.
        let planned = [self.reset_a_at, self.join_b_at, self.prio_b_at];
        self.conn
            .as_ref()?
            .poll_timeout()
            .into_iter()
            .chain(planned.into_iter().flatten())
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some(conn) = self.conn.as_mut() {
            conn.handle_timeout(now);
        }
        self.service(now);
    }
}

const SYN: umptcp_wire::segment::TcpFlags = umptcp_wire::segment::TcpFlags::SYN;

/// Overwrite every MPTCP option (kind 30) of an IPv4 TCP packet with NOPs,
/// as a middlebox that strips unknown options in place does, and fix the
/// TCP checksum.
fn strip_mptcp_options(packet: &mut [u8]) {
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let data_offset = usize::from(packet[ihl + 12] >> 4) * 4;
    let mut k = ihl + 20;
    let end = ihl + data_offset;
    while k < end {
        match packet[k] {
            0 => break,
            1 => k += 1,
            kind => {
                let len = usize::from(packet.get(k + 1).copied().unwrap_or(0)).max(2);
                if kind == 30 {
                    packet[k..(k + len).min(end)].fill(1);
                }
                k += len;
            }
        }
    }
    umptcp_lab::fix_tcp_checksum_v4(packet);
}

struct Net {
    sim: Simulator<MptcpHost>,
    link_a: LinkId,
    link_b: LinkId,
}

fn net(client: MptcpHost, a: LinkConfig, b: LinkConfig) -> Net {
    net_with(client, MptcpHost::server(), a, b)
}

fn net_with(client: MptcpHost, server: MptcpHost, a: LinkConfig, b: LinkConfig) -> Net {
    net_seeded(client, server, a, b, 7)
}

fn net_seeded(
    client: MptcpHost,
    server: MptcpHost,
    a: LinkConfig,
    b: LinkConfig,
    seed: u64,
) -> Net {
    let mut sim = Simulator::new(SimConfig::with_seed(seed)).unwrap();
    let c = sim.add_host(client).unwrap();
    let s = sim.add_host(server).unwrap();
    let ip = |s: &str| addr(s).ip();
    let ca = sim.add_iface(c, &[ip(CLIENT_A)]).unwrap();
    let cb = sim.add_iface(c, &[ip(CLIENT_B)]).unwrap();
    let sa = sim.add_iface(s, &[ip(SERVER_A)]).unwrap();
    let sb = sim.add_iface(s, &[ip(SERVER_B)]).unwrap();
    let link_a = sim.connect((c, ca), (s, sa), a.clone(), a).unwrap();
    let link_b = sim.connect((c, cb), (s, sb), b.clone(), b).unwrap();
    Net {
        sim,
        link_a,
        link_b,
    }
}

fn client(net: &Net) -> &MptcpHost {
    net.sim.host(umptcp_sim::HostId(0)).unwrap()
}

fn server(net: &Net) -> &MptcpHost {
    net.sim.host(umptcp_sim::HostId(1)).unwrap()
}

/// Run until the server has everything and both sides closed.
fn run(net: &mut Net, total: u64, deadline: Duration) -> Instant {
    let end = Instant::ZERO + deadline;
    while net.sim.now() < end {
        if !net.sim.step() {
            break;
        }
        if client(net).closed_at.is_some() && server(net).closed_at.is_some() {
            break;
        }
    }
    let s = server(net);
    assert!(
        s.received == total,
        "at {:?} server got {} of {total}: client {:?} {:?}\nserver {:?}",
        net.sim.now(),
        s.received,
        client(net).conn,
        client(net)
            .events
            .iter()
            .filter(|e| **e != MptcpEvent::Writable)
            .collect::<Vec<_>>(),
        s.conn
    );
    assert_eq!(s.mismatch, None, "data differs");
    assert_eq!(s.received, total, "server got {} of {total}", s.received);
    assert!(s.peer_closed, "no DATA_FIN");
    assert!(
        client(net).closed_at.is_some(),
        "client did not close: {:?} {:?}",
        client(net).conn,
        client(net).events
    );
    s.closed_at.unwrap_or_else(|| {
        let events: Vec<_> = s
            .events
            .iter()
            .filter(|e| **e != MptcpEvent::Writable)
            .collect();
        panic!("server did not close: {:?} {events:?}", s.conn)
    })
}

/// Bytes each of the client's subflows sent, by subflow.
fn sent_per_subflow(net: &Net) -> Vec<(SubflowId, u64)> {
    client(net)
        .conn
        .as_ref()
        .unwrap()
        .subflows()
        .map(|s| (s.id, s.bytes_sent))
        .collect()
}

/// A path of `mbit` and one-way `delay_ms`, with a 256 KiB drop-tail
/// queue (about 100 ms at 20 Mbit/s).
fn path(mbit: u64, delay_ms: u64) -> LinkConfig {
    LinkConfig::new(Rate::mbit(mbit), Duration::from_millis(delay_ms)).with_queue_limit(256 << 10)
}

#[test]
fn two_paths_carry_data_together() {
    const TOTAL: u64 = 8 << 20;
    let mut net = net(MptcpHost::client(TOTAL), path(20, 10), path(20, 30));
    let done = run(&mut net, TOTAL, Duration::from_secs(60));
    let sent = sent_per_subflow(&net);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let events = &client(&net).events;
    assert!(
        events.contains(&MptcpEvent::SubflowEstablished(SubflowId(1))),
        "{events:?}"
    );
    for (id, bytes) in &sent {
        assert!(
            *bytes > TOTAL / 5,
            "subflow {id:?} carried only {bytes} bytes: {sent:?}"
        );
    }
    // One 20 Mbit/s path alone needs 3.4 s for 8 MiB; two need half.
    let secs = done.as_nanos() as f64 / 1e9;
    let goodput = TOTAL as f64 * 8.0 / secs / 1e6;
    assert!(
        goodput > 26.0,
        "{goodput:.1} Mbit/s over 2 x 20 Mbit/s in {secs:.2} s: {sent:?}"
    );
}

#[test]
fn round_robin_uses_both_paths() {
    const TOTAL: u64 = 2 << 20;
    let mut host = MptcpHost::client(TOTAL);
    host.round_robin = true;
    let mut net = net(host, path(20, 10), path(20, 10));
    run(&mut net, TOTAL, Duration::from_secs(60));
    let sent = sent_per_subflow(&net);
    for (id, bytes) in &sent {
        assert!(*bytes > TOTAL / 4, "subflow {id:?}: {bytes}: {sent:?}");
    }
}

/// Path B goes down for good in mid-transfer: what was outstanding on it
/// is sent again on path A and the transfer completes byte-exact.
#[test]
fn a_dead_path_does_not_stop_the_transfer() {
    const TOTAL: u64 = 8 << 20;
    let mut net = net(MptcpHost::client(TOTAL), path(20, 10), path(20, 10));
    let mut down = path(20, 10);
    down.up = false;
    for dir in Direction::BOTH {
        net.sim
            .schedule_link(
                Instant::ZERO + Duration::from_secs(1),
                net.link_b,
                dir,
                down.clone(),
            )
            .unwrap();
    }
    run(&mut net, TOTAL, Duration::from_secs(600));
    let sent = sent_per_subflow(&net);
    assert!(sent.len() == 2 && sent[1].1 > 0, "{sent:?}");
    let _ = net.link_a;
}

/// Path A, the initial subflow's, goes down for good in mid-transfer:
/// the data goes on over B, and so must the close. The DATA_FIN rides a
/// pure ACK, and those went by the first usable subflow, A, forever
/// (seen in the lab: a proxied download complete, its connection open
/// for a minute more); a retransmitted DATA_FIN now goes on every
/// subflow that can send.
#[test]
fn a_dead_initial_path_does_not_hold_back_the_data_fin() {
    const TOTAL: u64 = 8 << 20;
    let mut net = net(MptcpHost::client(TOTAL), path(20, 10), path(20, 10));
    let mut down = path(20, 10);
    down.up = false;
    for dir in Direction::BOTH {
        net.sim
            .schedule_link(
                Instant::ZERO + Duration::from_secs(1),
                net.link_a,
                dir,
                down.clone(),
            )
            .unwrap();
    }
    // 8 MiB over one 20 Mbit/s path after the first second: about 4 s
    // in all, and the close a few RTOs later, not a minute.
    let end = Instant::ZERO + Duration::from_secs(15);
    while net.sim.now() < end && !server(&net).peer_closed {
        if !net.sim.step() {
            break;
        }
    }
    let s = server(&net);
    assert_eq!(s.received, TOTAL, "the data arrived over path B");
    assert_eq!(s.mismatch, None, "data differs");
    assert!(
        s.peer_closed,
        "no DATA_FIN by {:?}: client {:?}",
        net.sim.now(),
        client(&net).conn
    );
    let _ = net.link_b;
}

/// Path B fails for two seconds and comes back: it carries data again.
#[test]
fn a_path_that_returns_is_used_again() {
    const TOTAL: u64 = 24 << 20;
    let mut net = net(MptcpHost::client(TOTAL), path(20, 10), path(20, 10));
    let mut down = path(20, 10);
    down.up = false;
    for dir in Direction::BOTH {
        let at = |s| Instant::ZERO + Duration::from_secs(s);
        net.sim
            .schedule_link(at(1), net.link_b, dir, down.clone())
            .unwrap();
        net.sim
            .schedule_link(at(3), net.link_b, dir, path(20, 10))
            .unwrap();
    }
    // Sample how much path B had sent when it came back.
    let mut at_return = None;
    let end = Instant::ZERO + Duration::from_secs(600);
    while net.sim.now() < end && net.sim.step() {
        if at_return.is_none() && net.sim.now() >= Instant::ZERO + Duration::from_secs(3) {
            at_return = Some(sent_per_subflow(&net)[1].1);
        }
        if client(&net).closed_at.is_some() && server(&net).closed_at.is_some() {
            break;
        }
    }
    let s = server(&net);
    assert_eq!((s.received, s.mismatch), (TOTAL, None));
    let after = sent_per_subflow(&net)[1].1;
    let before = at_return.expect("ran past 3 s");
    assert!(
        after > before + (1 << 20),
        "path B sent {before} bytes before it returned and {after} at the end"
    );
}

/// Sample the client's per-subflow bytes at `at`, then run to the end.
fn sample_then_finish(net: &mut Net, total: u64, at: Duration) -> Vec<(SubflowId, u64)> {
    let at = Instant::ZERO + at;
    while net.sim.now() < at && net.sim.step() {}
    let sample = sent_per_subflow(net);
    run(net, total, Duration::from_secs(600));
    sample
}

fn server_view(net: &Net) -> Vec<umptcp_proto::SubflowStats> {
    server(net).conn.as_ref().unwrap().subflows().collect()
}

/// A subflow opened as a backup (B flag in its MP_JOIN) carries nothing
/// while the regular one works, and takes over when it dies.
#[test]
fn a_backup_subflow_waits_until_the_regular_one_fails() {
    const TOTAL: u64 = 8 << 20;
    let mut host = MptcpHost::client(TOTAL);
    host.backup_b = true;
    let mut net = net(host, path(20, 10), path(20, 10));
    let mut down = path(20, 10);
    down.up = false;
    for dir in Direction::BOTH {
        let at = Instant::ZERO + Duration::from_secs(2);
        net.sim
            .schedule_link(at, net.link_a, dir, down.clone())
            .unwrap();
    }
    let before = sample_then_finish(&mut net, TOTAL, Duration::from_millis(1900));
    assert_eq!(before.len(), 2, "{before:?}");
    assert_eq!(before[1].1, 0, "the backup carried data: {before:?}");
    assert!(server_view(&net)[1].backup, "the server saw the B flag");
    let after = sent_per_subflow(&net);
    assert!(after[1].1 > 1 << 20, "the backup took over: {after:?}");
}

/// MP_PRIO in mid-transfer: subflow B becomes a backup, the peer learns
/// it, and B stops taking new data while A works.
#[test]
fn mp_prio_turns_a_subflow_into_a_backup() {
    const TOTAL: u64 = 16 << 20;
    let mut host = MptcpHost::client(TOTAL);
    host.prio_b_at = Some(Instant::ZERO + Duration::from_secs(1));
    let mut net = net(host, path(20, 10), path(20, 10));
    // Leave time for what B already had in flight.
    let at_prio = sample_then_finish(&mut net, TOTAL, Duration::from_millis(1500));
    let end = sent_per_subflow(&net);
    assert!(at_prio[1].1 > 1 << 20, "B carried data before: {at_prio:?}");
    assert!(
        end[1].1 - at_prio[1].1 < 64 << 10,
        "B kept taking data as a backup: {at_prio:?} then {end:?}"
    );
    assert!(server_view(&net)[1].backup, "MP_PRIO reached the server");
}

/// The redundant scheduler: every byte goes over both paths, and the
/// receiver keeps one copy.
#[test]
fn redundant_sends_every_byte_on_both_paths() {
    const TOTAL: u64 = 2 << 20;
    let mut host = MptcpHost::client(TOTAL);
    host.redundant = true;
    let mut net = net(host, path(20, 10), path(20, 10));
    run(&mut net, TOTAL, Duration::from_secs(60));
    let sent = sent_per_subflow(&net);
    eprintln!("per subflow: {sent:?}");
    // Subflow B joins a few round trips late: most bytes, not all.
    for (id, bytes) in &sent {
        assert!(*bytes > TOTAL * 8 / 10, "subflow {id:?}: {bytes}: {sent:?}");
    }
}

/// Opportunistic retransmission with penalisation (Raiciu et al., NSDI
/// 2012): a 5 ms path and a 100 ms path into a receive window of 128 KiB
/// (half the slow path's bandwidth-delay product), which the slow path's
/// bytes hold up. Sending them again on the fast path and cutting the
/// slow one's window must beat waiting for it. (With 256 KiB the margin
/// shrank to 10 % once mappings came in whole segments, which made the
/// waiting case much faster: 7.5 to 13.8 Mbit/s.)
#[test]
fn opportunistic_retransmission_beats_a_window_held_up_by_the_slow_path() {
    const TOTAL: u64 = 6 << 20;
    let goodput = |opportunistic: bool| {
        let mut config = MptcpConfig::default();
        config.opportunistic_retransmission = opportunistic;
        let client = MptcpHost::client_with(TOTAL, config);
        let mut server = MptcpHost::server();
        server.config.recv_buffer = 128 << 10;
        server.config.tcp.recv_buffer = 128 << 10;
        // Shallow queues, so that the fast path stays fast.
        let shallow = |mbit, ms| path(mbit, ms).with_queue_limit(64 << 10);
        let mut net = net_with(client, server, shallow(20, 5), shallow(20, 100));
        let done = run(&mut net, TOTAL, Duration::from_secs(600));
        TOTAL as f64 * 8.0 / (done.as_nanos() as f64 / 1e9) / 1e6
    };
    let (with, without) = (goodput(true), goodput(false));
    eprintln!("goodput: {with:.1} Mbit/s with, {without:.1} Mbit/s without");
    assert!(
        with > without * 1.1,
        "{with:.1} Mbit/s with opportunistic retransmission, {without:.1} without"
    );
}

/// A middlebox on path B rewrites a payload byte and fixes the TCP
/// checksum: the DSS checksum catches it, the server resets that subflow
/// with MP_FAIL (RFC 8684 §3.7), and the data arrives intact over path A.
#[test]
fn a_corrupting_middlebox_costs_its_subflow_not_the_data() {
    const TOTAL: u64 = 4 << 20;
    let mut config = MptcpConfig::default();
    config.checksum = true;
    let sender = MptcpHost::client_with(TOTAL, config);
    let mut receiver = MptcpHost::server();
    receiver.mangle_b = 1;
    let mut net = net_with(sender, receiver, path(20, 10), path(20, 10));
    run(&mut net, TOTAL, Duration::from_secs(600));
    assert_eq!(server(&net).mangle_b, 0, "a packet was rewritten");
    let events = &client(&net).events;
    assert!(
        events.contains(&MptcpEvent::SubflowClosed(SubflowId(1))),
        "{events:?}"
    );
    // Two equal paths share about evenly; path B was cut off early.
    let sent = sent_per_subflow(&net);
    assert!(sent[1].1 < TOTAL / 4, "path B was not reset: {sent:?}");
}

/// The same middlebox on the only path (RFC 8684 §3.7): the receiver
/// sends MP_FAIL, the sender answers with the infinite mapping, and both
/// carry on as plain TCP. The transfer completes as it would have through
/// that middlebox without MPTCP: every byte but the rewritten one intact.
#[test]
fn a_corrupting_middlebox_on_the_only_path_means_fallback() {
    const TOTAL: u64 = 1 << 20;
    let mut config = MptcpConfig::default();
    config.checksum = true;
    let mut sender = MptcpHost::client_with(TOTAL, config);
    sender.join_b = false;
    let mut receiver = MptcpHost::server();
    receiver.mangle_a = 1;
    let mut net = net_with(sender, receiver, path(20, 10), path(20, 10));
    let end = Instant::ZERO + Duration::from_secs(600);
    while net.sim.now() < end && net.sim.step() {
        if client(&net).closed_at.is_some() && server(&net).closed_at.is_some() {
            break;
        }
    }
    let (c, s) = (client(&net), server(&net));
    assert_eq!(s.mangle_a, 0, "a packet was rewritten");
    assert_eq!(s.received, TOTAL, "{:?}", s.events);
    assert_eq!(s.differing, 1, "only the rewritten byte differs");
    assert!(s.peer_closed && c.closed_at.is_some() && s.closed_at.is_some());
    let fell_back = MptcpEvent::FellBack(FallbackReason::ChecksumFailed);
    assert!(c.events.contains(&fell_back), "{:?}", c.events);
    assert!(s.events.contains(&fell_back), "{:?}", s.events);
    for host in [c, s] {
        let conn = host.conn.as_ref().unwrap();
        assert_eq!(conn.fallback_reason(), Some(FallbackReason::ChecksumFailed));
        assert!(
            !host
                .events
                .iter()
                .any(|e| matches!(e, MptcpEvent::Reset | MptcpEvent::ProtocolError(_)))
        );
    }
}

/// A middlebox on the only path starts stripping MPTCP options in both
/// directions mid-connection (RFC 8684 §3.7): data without a mapping, and
/// ACKs without a DATA_ACK, make both sides fall back, and the transfer
/// completes as plain TCP, byte-exact.
#[test]
fn options_stripped_mid_connection_on_the_only_path_mean_fallback() {
    const TOTAL: u64 = 2 << 20;
    let mut sender = MptcpHost::client(TOTAL);
    sender.join_b = false;
    sender.strip_after = Some(300);
    let mut receiver = MptcpHost::server();
    receiver.strip_after = Some(300);
    let mut net = net_with(sender, receiver, path(20, 10), path(20, 10));
    run(&mut net, TOTAL, Duration::from_secs(600));
    let (c, s) = (client(&net), server(&net));
    assert_eq!(c.strip_after, Some(0), "the middlebox started");
    let fell_back = MptcpEvent::FellBack(FallbackReason::InfiniteMapping);
    assert!(c.events.contains(&fell_back), "{:?}", c.events);
    assert!(s.events.contains(&fell_back), "{:?}", s.events);
}

/// Regression (found by the random-impairment search): after the
/// data-level close a data segment without DSS reached the server, which
/// took it for options stripped by a middlebox and, with no fallback
/// possible, reset the connection (ProtocolError) instead of closing.
#[test]
fn a_mapless_segment_after_the_close_is_no_protocol_error() {
    const TOTAL: u64 = 256 << 10;
    let mut client = MptcpHost::client(TOTAL);
    client.scheduler = Some("redundant");
    let link = |rate, delay, loss| {
        let mut l = path(rate, delay).with_loss(loss);
        l.reorder = Some(umptcp_sim::Reorder::new(
            0.01039739170336712,
            Duration::from_millis(2),
        ));
        l
    };
    let a = link(22, 53, 0.014567546750260426);
    let b = link(7, 39, 0.01231946702690541);
    let mut net = net_seeded(client, MptcpHost::server(), a, b, 17151169644655050813);
    run(&mut net, TOTAL, Duration::from_secs(3600));
}

/// Cases of the property test below: 128 by default, more with
/// `MPTCP_SIM_CASES` (a search: 6000 cases pass).
fn cases() -> u32 {
    std::env::var("MPTCP_SIM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

/// The property test's seed: fixed, so CI runs the same cases every time
/// (a failure is a regression, not luck); `MPTCP_SIM_SEED=random` or a
/// number searches elsewhere.
fn rng_seed() -> proptest::test_runner::RngSeed {
    match std::env::var("MPTCP_SIM_SEED").ok().as_deref() {
        Some("random") => proptest::test_runner::RngSeed::Random,
        Some(n) => proptest::test_runner::RngSeed::Fixed(n.parse().unwrap_or(1)),
        None => proptest::test_runner::RngSeed::Fixed(1),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        rng_seed: rng_seed(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any two impaired paths, any scheduler, with or without checksums:
    /// the data arrives whole and both sides close (`run` checks).
    #[test]
    fn random_impairments_on_two_paths_never_corrupt_or_hang(
        seed in any::<u64>(),
        rates in (2u64..50, 2u64..50),
        delays in (1u64..80, 1u64..80),
        losses in (0.0f64..0.03, 0.0f64..0.03),
        reorder in proptest::option::of((0.0f64..0.05, 1u64..20)),
        checksum in any::<bool>(),
        scheduler in prop::sample::select(vec!["minrtt", "roundrobin", "redundant"]),
    ) {
        const TOTAL: u64 = 256 << 10;
        let link = |rate, delay, loss| {
            let mut l = path(rate, delay).with_loss(loss);
            l.reorder = reorder.map(|(p, d)| umptcp_sim::Reorder::new(p, Duration::from_millis(d)));
            l
        };
        let mut config = MptcpConfig::default();
        config.checksum = checksum;
        let mut client = MptcpHost::client_with(TOTAL, config);
        client.scheduler = Some(scheduler);
        let a = link(rates.0, delays.0, losses.0);
        let b = link(rates.1, delays.1, losses.1);
        let mut net = net_seeded(client, MptcpHost::server(), a, b, seed);
        run(&mut net, TOTAL, Duration::from_secs(3600));
    }
}

/// Regression (found by the random-impairment property test below): with
/// the redundant scheduler and checksums over two lossy paths, the server
/// had every byte and both DATA_FINs were through while a subflow still
/// held copies of bytes, part of a mapping whose tail had not come. Closing
/// that subflow with data unread reset it (orphan semantics), so the FIN
/// that carried our last DATA_ACK never went and the client, its last
/// bytes unacknowledged, reported a reset instead of a close.
#[test]
fn copies_left_in_a_subflow_at_the_close_do_not_reset_it() {
    const TOTAL: u64 = 256 << 10;
    let mut config = MptcpConfig::default();
    config.checksum = true;
    let mut client = MptcpHost::client_with(TOTAL, config);
    client.scheduler = Some("redundant");
    let a = path(45, 54).with_loss(0.009616042025950369);
    let b = path(31, 44).with_loss(0.00872459970651093);
    let mut net = net_seeded(client, MptcpHost::server(), a, b, 7833917050300212903);
    run(&mut net, TOTAL, Duration::from_secs(3600));
}

/// A one-path client whose only subflow is reset at 1 s, and which joins
/// path B at `join_at` (if any); the server's close timeout is `timeout`.
fn break_before_make(total: u64, join_at: Option<u64>, timeout: Duration) -> Net {
    let mut config = MptcpConfig::default();
    config.close_timeout = timeout;
    let mut client = MptcpHost::client_with(total, config.clone());
    client.join_b = false;
    client.reset_a_at = Some(Instant::ZERO + Duration::from_secs(1));
    client.join_b_at = join_at.map(|s| Instant::ZERO + Duration::from_secs(s));
    let mut server = MptcpHost::server();
    server.config = config;
    net_with(client, server, path(20, 10), path(20, 10))
}

fn failures(host: &MptcpHost) -> Vec<MptcpEvent> {
    host.events
        .iter()
        .copied()
        .filter(|e| {
            matches!(
                e,
                MptcpEvent::Reset | MptcpEvent::TimedOut | MptcpEvent::ProtocolError(_)
            )
        })
        .collect()
}

/// Break-before-make (RFC 8684 §3.3.3): the only subflow is reset
/// mid-transfer; for two seconds the connection has no subflow at all,
/// then the client joins path B and the transfer completes byte-exact on
/// it, with neither side reporting a failure.
#[test]
fn a_connection_outlives_its_last_subflow_until_a_new_one_joins() {
    const TOTAL: u64 = 16 << 20;
    let mut net = break_before_make(TOTAL, Some(3), Duration::from_secs(60));
    while net.sim.now() < Instant::ZERO + Duration::from_secs(2) && net.sim.step() {}
    let halfway = server(&net).received;
    assert!(
        halfway > 0 && halfway < TOTAL,
        "{halfway} bytes before the break"
    );
    run(&mut net, TOTAL, Duration::from_secs(600));
    assert!(client(&net).joined_after_break, "{:?}", client(&net).events);
    assert_eq!(failures(client(&net)), []);
    assert_eq!(failures(server(&net)), []);
    // The server lost its only subflow, then took the join.
    let server_events: Vec<_> = server(&net)
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                MptcpEvent::SubflowClosed(_) | MptcpEvent::SubflowEstablished(_)
            )
        })
        .collect();
    assert!(
        matches!(
            server_events[..],
            [
                MptcpEvent::SubflowClosed(_),
                MptcpEvent::SubflowEstablished(_),
                ..
            ]
        ),
        "{server_events:?}"
    );
    let joined = client(&net).joined.expect("joined path B");
    assert!(
        sent_per_subflow(&net)
            .iter()
            .any(|&(id, bytes)| id == joined && bytes > TOTAL - halfway - (1 << 20)),
        "{:?}",
        sent_per_subflow(&net)
    );
}

/// Without a new subflow the connection ends `close_timeout` after its
/// last subflow: the server, whose subflow the peer reset, reports Reset;
/// the client, which reset it itself, reports TimedOut. Neither hangs.
#[test]
fn with_no_new_subflow_the_connection_ends_after_close_timeout() {
    const TOTAL: u64 = 16 << 20;
    let mut net = break_before_make(TOTAL, None, Duration::from_secs(5));
    let mut ended = [None, None];
    while net.sim.now() < Instant::ZERO + Duration::from_secs(60) && net.sim.step() {
        for (k, host) in [client(&net), server(&net)].into_iter().enumerate() {
            if ended[k].is_none() && !failures(host).is_empty() {
                ended[k] = Some(net.sim.now());
            }
        }
        if ended.iter().all(Option::is_some) {
            break;
        }
    }
    assert_eq!(failures(client(&net)), [MptcpEvent::TimedOut]);
    assert_eq!(failures(server(&net)), [MptcpEvent::Reset]);
    for at in ended {
        let at = at.unwrap() - Instant::ZERO;
        // Reset at 1 s (the server hears of it a few ms later), then 5 s.
        assert!(
            at >= Duration::from_secs(6) && at < Duration::from_millis(6100),
            "ended at {at:?}"
        );
    }
    for host in [client(&net), server(&net)] {
        assert!(host.conn.as_ref().unwrap().is_closed());
    }
}

/// A zero `close_timeout` ends the connection with its last subflow.
#[test]
fn a_zero_close_timeout_ends_the_connection_with_its_last_subflow() {
    const TOTAL: u64 = 16 << 20;
    let mut net = break_before_make(TOTAL, None, Duration::ZERO);
    while net.sim.now() < Instant::ZERO + Duration::from_millis(1100) && net.sim.step() {}
    assert_eq!(failures(server(&net)), [MptcpEvent::Reset]);
    assert!(server(&net).conn.as_ref().unwrap().is_closed());
    assert!(client(&net).conn.as_ref().unwrap().is_closed());
}
