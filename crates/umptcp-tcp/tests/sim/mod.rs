//! A TCP endpoint for the deterministic simulator: one [`Connection`], the
//! congestion controller that drives it, and an application that either
//! sends a pseudo-random byte stream and closes, or receives and checks it.
//!
//! # Call order
//!
//! The simulator calls [`Host`] methods in its documented order (an input,
//! then `poll_transmit` until `None`, then `poll_timeout`). [`TcpHost`] maps
//! them onto the engine's own order (`Connection` docs, "Order of calls"):
//!
//! 1. Input: `handle_packet` parses with [`ChecksumCheck::Verify`] (a
//!    corrupted packet is counted and dropped), creates the server side from
//!    the first SYN with [`Connection::accept`], otherwise calls
//!    [`Connection::handle_segment`]; `handle_timeout` calls
//!    [`Connection::handle_timeout`].
//! 2. Then, and before every [`Connection::poll_transmit`]: `service`, which
//!    (a) drains [`Connection::poll_event`] (on `PeerClosed` the receiver
//!    shuts its side down), (b) lets the application write what fits or read
//!    what is there, and (c) drains [`Connection::poll_congestion_event`]
//!    into the controller (`on_event`) and hands its `window` to
//!    [`Connection::set_congestion_window`], so the window is current when
//!    the next segment is built.
//! 3. `poll_timeout` returns [`Connection::poll_timeout`].

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use umptcp_cc::{CcConfig, CongestionControl, Cubic, NewReno, PathId};
use umptcp_sim::{GilbertElliott, Host, IfaceId, LinkConfig, Rate, Reorder, SimConfig, Simulator};
use umptcp_tcp::{Connection, Event, FourTuple, IsnKey, State, TcpConfig};
use umptcp_time::Instant;
use umptcp_wire::segment::{ChecksumCheck, Segment};

pub const CLIENT: &str = "10.0.0.1:40000";
pub const SERVER: &str = "10.0.0.2:80";

/// Which congestion controller a host runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cc {
    NewReno,
    Cubic,
}

/// Return the 8-byte block number `block` of the stream seeded by `seed`
/// (SplitMix64 of the block index, so any offset can be checked on its own
/// and nothing of the stream needs to be stored).
pub fn stream_block(seed: u64, block: u64) -> [u8; 8] {
    let mut z = seed.wrapping_add(block.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)).to_le_bytes()
}

/// Fill `out` with the stream bytes from `offset` on.
pub fn fill_stream(seed: u64, offset: u64, out: &mut [u8]) {
    for (i, byte) in out.iter_mut().enumerate() {
        let pos = offset + i as u64;
        *byte = stream_block(seed, pos / 8)[(pos % 8) as usize];
    }
}

/// What the application on a host does.
#[derive(Debug)]
pub enum App {
    /// Write `total` bytes of the stream, then shut down.
    Sender { total: u64, written: u64 },
    /// Read everything and compare it, byte by byte, with the stream.
    Receiver {
        received: u64,
        /// Offset of the first byte that differed, if any.
        mismatch: Option<u64>,
    },
}

/// One simulated TCP endpoint.
#[derive(Debug)]
pub struct TcpHost {
    config: TcpConfig,
    key: IsnKey,
    conn: Option<Connection>,
    cc_kind: Cc,
    cc: Box<dyn CongestionControl>,
    pub app: App,
    seed: u64,
    scratch: Vec<u8>,
    /// Packets dropped because they did not parse (checksum, truncation).
    pub bad_packets: u64,
    /// Segments that arrived before the server connection existed and were
    /// not a SYN.
    pub stray_segments: u64,
    /// The connection reported `Closed`.
    pub closed_at: Option<Instant>,
    /// The connection reported `Reset` or `TimedOut`.
    pub failed: Option<Event>,
    /// The receiver saw the peer's FIN.
    pub eof_at: Option<Instant>,
    shut_down: bool,
}

impl TcpHost {
    fn new(config: TcpConfig, cc: Cc, app: App, seed: u64, key_byte: u8) -> Self {
        let cc_config = CcConfig::default();
        let controller: Box<dyn CongestionControl> = match cc {
            Cc::NewReno => Box::new(NewReno::new(&cc_config)),
            Cc::Cubic => Box::new(Cubic::new(&cc_config)),
        };
        TcpHost {
            config,
            key: IsnKey::from_bytes([key_byte; 32]),
            conn: None,
            cc_kind: cc,
            cc: controller,
            app,
            seed,
            scratch: vec![0; 64 * 1024],
            bad_packets: 0,
            stray_segments: 0,
            closed_at: None,
            failed: None,
            eof_at: None,
            shut_down: false,
        }
    }

    /// The active opener, sending `total` bytes of the stream `seed`.
    pub fn client(config: TcpConfig, cc: Cc, seed: u64, total: u64) -> Self {
        let tuple = FourTuple {
            local: CLIENT.parse::<SocketAddr>().unwrap(),
            remote: SERVER.parse::<SocketAddr>().unwrap(),
        };
        let mut host = Self::new(
            config.clone(),
            cc,
            App::Sender { total, written: 0 },
            seed,
            1,
        );
        let conn = Connection::connect(config, tuple, host.key.clone(), Instant::ZERO).unwrap();
        host.install(conn, Instant::ZERO);
        host
    }

    /// The passive opener, created from the first SYN, checking the stream
    /// `seed`.
    pub fn server(config: TcpConfig, cc: Cc, seed: u64) -> Self {
        Self::new(
            config,
            cc,
            App::Receiver {
                received: 0,
                mismatch: None,
            },
            seed,
            2,
        )
    }

    pub fn conn(&self) -> Option<&Connection> {
        self.conn.as_ref()
    }

    pub fn cc(&self) -> Cc {
        self.cc_kind
    }

    fn install(&mut self, conn: Connection, now: Instant) {
        self.cc.add_path(&conn.path_info(PathId(0)), now);
        self.conn = Some(conn);
    }

    /// Events, application, congestion control: step 2 of the call order.
    fn service(&mut self, now: Instant) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        while let Some(event) = conn.poll_event() {
            match event {
                Event::PeerClosed => {
                    self.eof_at.get_or_insert(now);
                    if matches!(self.app, App::Receiver { .. }) && !self.shut_down {
                        // Read what is left first so `received` is exact.
                        read_all(conn, &mut self.app, self.seed, &mut self.scratch);
                        conn.shutdown();
                        self.shut_down = true;
                    }
                }
                Event::Closed => {
                    self.closed_at.get_or_insert(now);
                }
                Event::Reset | Event::TimedOut => {
                    self.failed.get_or_insert(event);
                }
                Event::Connected | Event::Readable | Event::Writable => {}
            }
        }
        match &mut self.app {
            App::Sender { total, written } => {
                while *written < *total && conn.writable() > 0 {
                    let n = (*total - *written)
                        .min(conn.writable() as u64)
                        .min(self.scratch.len() as u64) as usize;
                    fill_stream(self.seed, *written, &mut self.scratch[..n]);
                    let taken = conn.write(&self.scratch[..n]);
                    assert_eq!(taken, n, "write took less than writable()");
                    *written += taken as u64;
                }
                if *written == *total && !self.shut_down {
                    conn.shutdown();
                    self.shut_down = true;
                }
            }
            App::Receiver { .. } => {
                read_all(conn, &mut self.app, self.seed, &mut self.scratch);
            }
        }
        while let Some(event) = conn.poll_congestion_event() {
            if tracing() && !matches!(event, umptcp_cc::CongestionEvent::Ack { .. }) {
                println!(
                    "{now:?} cc {event:?} flight {} srtt {:?} rttvar {:?} rto {:?}",
                    conn.bytes_in_flight(),
                    conn.srtt(),
                    conn.rttvar(),
                    conn.rto()
                );
            }
            let info = conn.path_info(PathId(0));
            self.cc.on_event(PathId(0), &event, &[info]);
            conn.set_congestion_window(self.cc.window(PathId(0)));
        }
    }

    /// The stream bytes received and checked (receiver only).
    pub fn received(&self) -> u64 {
        match self.app {
            App::Receiver { received, .. } => received,
            App::Sender { .. } => 0,
        }
    }

    pub fn mismatch(&self) -> Option<u64> {
        match self.app {
            App::Receiver { mismatch, .. } => mismatch,
            App::Sender { .. } => None,
        }
    }

    pub fn state(&self) -> Option<State> {
        self.conn.as_ref().map(Connection::state)
    }
}

/// Whether `MPTCP_SIM_TRACE` is set: print every segment and every
/// congestion event but ACKs (a debugging aid).
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("MPTCP_SIM_TRACE").is_some())
}

/// Print one segment when [`tracing`].
fn trace(now: Instant, dir: &str, packet: &[u8]) {
    if !tracing() {
        return;
    }
    match Segment::parse(packet, ChecksumCheck::Verify) {
        Ok(s) => {
            let ts = s.options().find_map(|o| match o {
                Ok(umptcp_wire::TcpOption::Timestamps { tsval, tsecr }) => Some((tsval, tsecr)),
                _ => None,
            });
            println!(
                "{now:?} {dir} {}->{} seq {} ack {} {:?} len {} win {} ts {ts:?}",
                s.src_port(),
                s.dst_port(),
                s.seq(),
                s.ack(),
                s.flags(),
                s.payload().len(),
                s.window()
            );
        }
        Err(e) => println!("{now:?} {dir} bad packet: {e:?}"),
    }
}

fn read_all(conn: &mut Connection, app: &mut App, seed: u64, scratch: &mut [u8]) {
    let App::Receiver { received, mismatch } = app else {
        return;
    };
    let mut expected = [0u8; 8];
    let mut block = u64::MAX;
    loop {
        let n = conn.read(scratch);
        if n == 0 {
            break;
        }
        if mismatch.is_none() {
            for (i, &byte) in scratch[..n].iter().enumerate() {
                let pos = *received + i as u64;
                if pos / 8 != block {
                    block = pos / 8;
                    expected = stream_block(seed, block);
                }
                if byte != expected[(pos % 8) as usize] {
                    *mismatch = Some(pos);
                    break;
                }
            }
        }
        *received += n as u64;
    }
}

impl Host for TcpHost {
    fn handle_packet(&mut self, now: Instant, _iface: IfaceId, packet: &[u8]) {
        trace(now, "in ", packet);
        let Ok(segment) = Segment::parse(packet, ChecksumCheck::Verify) else {
            self.bad_packets += 1;
            return;
        };
        match self.conn.as_mut() {
            Some(conn) => {
                conn.handle_segment(now, &segment);
            }
            None => {
                match Connection::accept(self.config.clone(), &segment, self.key.clone(), now) {
                    Ok(conn) => self.install(conn, now),
                    Err(_) => self.stray_segments += 1,
                }
            }
        }
        self.service(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)> {
        self.service(now);
        let n = self.conn.as_mut()?.poll_transmit(now, buf)?;
        trace(now, "out", &buf[..n]);
        Some((IfaceId(0), n))
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

/// The impairments of one direction of the link.
#[derive(Clone, Debug)]
pub struct Impairments {
    pub loss: f64,
    pub burst: Option<(f64, f64)>,
    pub reorder: Option<(f64, Duration)>,
    pub duplicate: f64,
    pub corrupt: f64,
}

impl Impairments {
    pub const NONE: Impairments = Impairments {
        loss: 0.0,
        burst: None,
        reorder: None,
        duplicate: 0.0,
        corrupt: 0.0,
    };

    pub fn apply(&self, mut link: LinkConfig) -> LinkConfig {
        link.loss = self.loss;
        link.burst_loss = self
            .burst
            .map(|(g2b, b2g)| GilbertElliott::gilbert(g2b, b2g));
        link.reorder = self.reorder.map(|(p, d)| Reorder::new(p, d));
        link.duplicate = self.duplicate;
        link.corrupt = self.corrupt;
        link
    }
}

/// A transfer to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub bytes: u64,
    pub cc: Cc,
    pub rate_mbit: u64,
    pub delay: Duration,
    /// Queue limit in bytes; `None` for one bandwidth-delay product.
    pub queue: Option<usize>,
    /// Data direction (client to server).
    pub forward: Impairments,
    /// ACK direction.
    pub reverse: Impairments,
    pub config: TcpConfig,
    /// Virtual time by which everything must have closed.
    pub deadline: Duration,
}

impl Scenario {
    /// 100 Mbit/s, 10 ms each way, a 1-BDP queue, no impairment, NewReno,
    /// 1 MiB buffers, the default 60 s TIME-WAIT (a shorter one lets the
    /// active closer forget the connection while the peer still
    /// retransmits its FIN after a lost last ACK).
    pub fn new(seed: u64, bytes: u64) -> Self {
        let mut config = TcpConfig::default();
        config.send_buffer = 1 << 20;
        config.recv_buffer = 1 << 20;
        Scenario {
            seed,
            bytes,
            cc: Cc::NewReno,
            rate_mbit: 100,
            delay: Duration::from_millis(10),
            queue: None,
            forward: Impairments::NONE,
            reverse: Impairments::NONE,
            config,
            deadline: Duration::from_secs(600),
        }
    }
}

/// What a finished transfer measured.
#[derive(Debug)]
pub struct Outcome {
    /// When the receiver saw the FIN, all bytes read.
    pub done: Instant,
    /// When both sides were closed.
    pub closed: Instant,
    pub goodput_mbit: f64,
    pub retransmissions: u64,
    pub bad_packets: u64,
}

/// Run `scenario` and check: every byte arrived exact, both sides reached
/// Closed without reset or timeout, before the deadline.
///
/// # Panics
///
/// On any of these failing.
pub fn run(scenario: &Scenario) -> Outcome {
    let mut sim = Simulator::new(SimConfig::with_seed(scenario.seed)).unwrap();
    let a = sim
        .add_host(TcpHost::client(
            scenario.config.clone(),
            scenario.cc,
            scenario.seed,
            scenario.bytes,
        ))
        .unwrap();
    let b = sim
        .add_host(TcpHost::server(
            scenario.config.clone(),
            scenario.cc,
            scenario.seed,
        ))
        .unwrap();
    let ia = sim.add_iface(a, &["10.0.0.1".parse().unwrap()]).unwrap();
    let ib = sim.add_iface(b, &["10.0.0.2".parse().unwrap()]).unwrap();
    let rate = Rate::mbit(scenario.rate_mbit);
    let bdp = (scenario.rate_mbit as u128 * 1_000_000 / 8 * 2 * scenario.delay.as_nanos()
        / 1_000_000_000) as usize;
    let queue = scenario.queue.unwrap_or(bdp).max(3000);
    let base = LinkConfig::new(rate, scenario.delay).with_queue_limit(queue);
    sim.connect(
        (a, ia),
        (b, ib),
        scenario.forward.apply(base.clone()),
        scenario.reverse.apply(base),
    )
    .unwrap();
    let deadline = Instant::ZERO + scenario.deadline;
    let idle = sim.run_until_idle(deadline);
    let link = umptcp_sim::LinkId(0);
    let fwd = sim.link_stats(link, umptcp_sim::Direction::AToB).unwrap();
    let rev = sim.link_stats(link, umptcp_sim::Direction::BToA).unwrap();
    println!(
        "  data link: {} offered, {} dropped by the queue, {} lost, {} burst-lost, {} corrupted, {} duplicated, {} reordered, queue high water {} B; ack link: {} offered, {} dropped",
        fwd.offered_packets,
        fwd.dropped_queue,
        fwd.dropped_loss,
        fwd.dropped_burst,
        fwd.corrupted,
        fwd.duplicated,
        fwd.reordered,
        fwd.queue_high_water_bytes,
        rev.offered_packets,
        rev.dropped()
    );
    let client = sim.host(a).unwrap();
    let server = sim.host(b).unwrap();
    let describe = || {
        format!(
            "{scenario:?}\n at {:?}: client {:?} closed {:?} failed {:?}; server {:?} closed {:?} failed {:?}, {} of {} bytes",
            sim.now(),
            client.state(),
            client.closed_at,
            client.failed,
            server.state(),
            server.closed_at,
            server.failed,
            server.received(),
            scenario.bytes
        )
    };
    assert_eq!(server.mismatch(), None, "corrupted stream: {}", describe());
    assert!(
        client.failed.is_none() && server.failed.is_none(),
        "failed: {}",
        describe()
    );
    assert!(idle, "not idle by the deadline: {}", describe());
    assert_eq!(server.received(), scenario.bytes, "{}", describe());
    assert_eq!(client.state(), Some(State::Closed), "{}", describe());
    assert_eq!(server.state(), Some(State::Closed), "{}", describe());
    let (Some(done), Some(c1), Some(c2)) = (server.eof_at, client.closed_at, server.closed_at)
    else {
        panic!("no eof or close event: {}", describe());
    };
    let secs = done.saturating_duration_since(Instant::ZERO).as_secs_f64();
    let client_conn = client.conn().unwrap();
    Outcome {
        done,
        closed: c1.max(c2),
        goodput_mbit: scenario.bytes as f64 * 8.0 / secs / 1e6,
        retransmissions: client_conn.retransmissions(),
        bad_packets: client.bad_packets + server.bad_packets,
    }
}
