//! The plain-TCP endpoint the stack thread runs: connections by 4-tuple,
//! listeners by port, a congestion controller per connection, resets for
//! segments nobody owns, and the application requests waiting on them.
//!
//! It does no I/O and reads no clock, like the core below it: packets,
//! commands and `now` come in; packets leave through the `out` callback
//! (device index, bytes), which the stack thread points at the impairment
//! layer, the pcap and the devices.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};

use crossbeam_channel::Sender;
use mptcp_cc::{CcConfig, CongestionControl, PathId, Registry};
use mptcp_tcp::{Connection, Event, FastOpenCookie, FourTuple, IsnKey, State, TcpConfig};
use mptcp_time::Instant;
use mptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::command::{Command, ConnId, ListenerId, Opened};
use crate::config::PathConfig;
use crate::route::RouteTable;
use crate::stats::{ConnectionInfo, StackStats};

/// Most Fast Open cookies remembered (one per server address).
const MAX_COOKIES: usize = 1024;

/// Largest Fast Open payload a connect may carry (it goes into the send
/// buffer before the SYN; what fits in the SYN rides on it).
pub(crate) const MAX_FAST_OPEN_DATA: usize = 64 * 1024;

/// First and last ephemeral port (IANA dynamic range, RFC 6335 §6).
const EPHEMERAL: core::ops::RangeInclusive<u16> = 49152..=65535;

/// Where a connection's application handle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handle {
    /// Not handed out yet: still connecting, or waiting in a listener's
    /// queue.
    NotYet,
    /// A `TcpStream` holds it.
    Open,
    /// The `TcpStream` was dropped: close in the background, then free.
    Dropped,
}

type Reply<T> = Sender<io::Result<T>>;
/// A waiting read: the buffer to fill and where to send it.
type PendingRead = (Vec<u8>, Reply<Vec<u8>>);
/// A waiting write: the data and where to say how much was taken.
type PendingWrite = (Vec<u8>, Reply<(usize, Vec<u8>)>);

/// One connection and everything the stack keeps about it.
struct Slot {
    generation: u64,
    conn: Connection,
    cc: Box<dyn CongestionControl>,
    device: usize,
    tuple: FourTuple,
    /// The listener it came from, until it is accepted.
    listener: Option<ListenerId>,
    handle: Handle,
    connect_reply: Option<Reply<Opened>>,
    read: Option<PendingRead>,
    write: Option<PendingWrite>,
    connected: bool,
    /// The peer's FIN arrived.
    eof: bool,
    /// The application shut down reading: received data is discarded.
    read_shut: bool,
    /// Why the connection failed (reset or timed out), for the next request.
    failure: Option<(io::ErrorKind, &'static str)>,
    /// The engine reported its end (Closed, Reset or TimedOut).
    finished: bool,
    /// After a dropped handle: abort if not closed by then.
    linger_deadline: Option<Instant>,
}

impl Slot {
    fn id(&self, index: usize) -> ConnId {
        ConnId {
            index,
            generation: self.generation,
        }
    }

    fn opened(&self, index: usize) -> Opened {
        Opened {
            id: self.id(index),
            local: self.tuple.local,
            remote: self.tuple.remote,
        }
    }

    fn error(&self) -> io::Error {
        match self.failure {
            Some((kind, msg)) => io::Error::new(kind, msg),
            None => io::Error::new(io::ErrorKind::NotConnected, "connection closed"),
        }
    }
}

/// A listening port.
struct Listener {
    id: ListenerId,
    /// Established connections not yet accepted, oldest first.
    queue: VecDeque<usize>,
    /// Connections it spawned that are not accepted yet (half-open and
    /// queued): bounded by the backlog.
    children: usize,
    accept_reply: Option<Reply<Opened>>,
}

/// The endpoint's limits and knobs.
#[derive(Clone, Debug)]
pub(crate) struct EndpointConfig {
    pub(crate) paths: Vec<PathConfig>,
    /// Which path a connect leaves by.
    pub(crate) routes: RouteTable,
    /// MTU of each path's device, in path order.
    pub(crate) mtus: Vec<u16>,
    pub(crate) tcp: TcpConfig,
    pub(crate) congestion_control: String,
    /// Where `congestion_control` is looked up.
    pub(crate) registry: Registry,
    pub(crate) max_connections: usize,
    pub(crate) accept_backlog: usize,
    pub(crate) close_linger: core::time::Duration,
}

/// The plain-TCP endpoint.
pub(crate) struct Endpoint {
    config: EndpointConfig,
    registry: Registry,
    isn_key: IsnKey,
    rng: ChaCha8Rng,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    live: usize,
    next_generation: u64,
    by_tuple: HashMap<FourTuple, usize>,
    /// Fast Open cookies servers gave us (RFC 7413 §4.1.3: the client
    /// caches them per server), bounded by `MAX_COOKIES`.
    cookies: HashMap<IpAddr, FastOpenCookie>,
    listeners: HashMap<u16, Listener>,
    next_listener: u64,
    /// Slots touched since the last `flush`, each once.
    dirty: Vec<usize>,
    is_dirty: Vec<bool>,
    scratch: Vec<u8>,
    pub(crate) stats: StackStats,
}

impl Endpoint {
    /// An endpoint; `seed` keys the ISNs and picks the ephemeral ports.
    pub(crate) fn new(config: EndpointConfig, seed: u64) -> Result<Self, String> {
        config.tcp.validate().map_err(|e| e.to_string())?;
        let registry = config.registry.clone();
        if registry.get(&config.congestion_control).is_none() {
            let names: Vec<&str> = registry.names().collect();
            return Err(format!(
                "unknown congestion control {:?} (known: {})",
                config.congestion_control,
                names.join(", ")
            ));
        }
        if config.paths.is_empty() {
            return Err("at least one path is needed".to_owned());
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let isn_key = IsnKey::random(&mut rng);
        Ok(Endpoint {
            config,
            registry,
            isn_key,
            rng,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            next_generation: 1,
            by_tuple: HashMap::new(),
            cookies: HashMap::new(),
            listeners: HashMap::new(),
            next_listener: 1,
            dirty: Vec::new(),
            is_dirty: Vec::new(),
            scratch: vec![0; 65_535],
            stats: StackStats::default(),
        })
    }

    /// The TCP configuration for a connection on `device`: the MSS fits the
    /// device MTU (40 bytes of IPv4+TCP headers, 60 for IPv6).
    fn tcp_config(&self, device: usize, v6: bool) -> TcpConfig {
        let mut tcp = self.config.tcp.clone();
        let headers = if v6 { 60 } else { 40 };
        let mtu = self.config.mtus.get(device).copied().unwrap_or(1500);
        tcp.mss = tcp.mss.min(mtu.saturating_sub(headers).max(64));
        tcp
    }

    fn mark(&mut self, index: usize) {
        if !self.is_dirty[index] {
            self.is_dirty[index] = true;
            self.dirty.push(index);
        }
    }

    fn insert(&mut self, slot_of: impl FnOnce(u64) -> Slot) -> usize {
        let generation = self.next_generation;
        self.next_generation += 1;
        let slot = slot_of(generation);
        let tuple = slot.tuple;
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.is_dirty.push(false);
                self.slots.len() - 1
            }
        };
        self.by_tuple.insert(tuple, index);
        self.live += 1;
        self.stats.connections += 1;
        self.mark(index);
        index
    }

    fn remove(&mut self, index: usize) {
        let Some(slot) = self.slots[index].take() else {
            return;
        };
        if self.by_tuple.get(&slot.tuple) == Some(&index) {
            self.by_tuple.remove(&slot.tuple);
        }
        if let Some(id) = slot.listener {
            if let Some(l) = self.listeners.values_mut().find(|l| l.id == id) {
                l.queue.retain(|&i| i != index);
                l.children = l.children.saturating_sub(1);
            }
        }
        self.free.push(index);
        self.live -= 1;
    }

    fn slot_mut(&mut self, id: ConnId) -> Option<&mut Slot> {
        self.slots
            .get_mut(id.index)?
            .as_mut()
            .filter(|s| s.generation == id.generation)
    }

    fn new_controller(&self) -> Box<dyn CongestionControl> {
        self.registry
            .build(&self.config.congestion_control, &CcConfig::default())
            .expect("checked in Endpoint::new")
    }

    // ------------------------------------------------------------ packets

    /// Handle one IP packet that arrived on `device`.
    pub(crate) fn handle_packet(
        &mut self,
        now: Instant,
        device: usize,
        packet: &[u8],
        out: &mut dyn FnMut(usize, &[u8]),
    ) {
        let Ok(segment) = Segment::parse(packet, ChecksumCheck::Verify) else {
            self.stats.packets_ignored += 1;
            return;
        };
        let dst = segment.dst();
        if !self.config.paths.iter().any(|p| p.addr == dst) {
            self.stats.packets_ignored += 1;
            return;
        }
        let tuple = FourTuple {
            local: SocketAddr::new(dst, segment.dst_port()),
            remote: SocketAddr::new(segment.src(), segment.src_port()),
        };
        if let Some(&index) = self.by_tuple.get(&tuple) {
            if let Some(slot) = self.slots[index].as_mut() {
                slot.conn.handle_segment(now, &segment);
                self.mark(index);
                return;
            }
        }
        let flags = segment.flags();
        let is_syn =
            flags.contains(TcpFlags::SYN) && !flags.intersects(TcpFlags::ACK | TcpFlags::RST);
        if is_syn {
            if let Some(listener) = self.listeners.get(&segment.dst_port()) {
                // Past the backlog or the connection limit a SYN is dropped,
                // not reset: the client retries (as Linux does on overflow).
                if listener.children >= self.config.accept_backlog
                    || self.live >= self.config.max_connections
                {
                    return;
                }
                let id = listener.id;
                let config = self.tcp_config(device, dst.is_ipv6());
                let Ok(conn) = Connection::accept(config, &segment, self.isn_key.clone(), now)
                else {
                    return;
                };
                let cc = self.new_controller();
                if let Some(l) = self.listeners.get_mut(&segment.dst_port()) {
                    l.children += 1;
                }
                self.insert(|generation| {
                    new_slot(generation, conn, cc, device, tuple, Some(id), now)
                });
                return;
            }
        }
        self.reset_unknown(&segment, device, out);
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a reset, unless
    /// it is one. "If the ACK bit is off, sequence number zero is used,
    /// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. If the ACK bit is on,
    /// <SEQ=SEG.ACK><CTL=RST>."
    fn reset_unknown(
        &mut self,
        segment: &Segment<'_>,
        device: usize,
        out: &mut dyn FnMut(usize, &[u8]),
    ) {
        let flags = segment.flags();
        if flags.contains(TcpFlags::RST) {
            return;
        }
        let local = SocketAddr::new(segment.dst(), segment.dst_port());
        let remote = SocketAddr::new(segment.src(), segment.src_port());
        let mut rst = SegmentBuilder::new(local, remote);
        if flags.contains(TcpFlags::ACK) {
            rst.seq = segment.ack();
            rst.flags = TcpFlags::RST;
        } else {
            rst.seq = 0;
            rst.ack = segment.seq().wrapping_add(segment.seq_len() as u32);
            rst.flags = TcpFlags::RST | TcpFlags::ACK;
        }
        if let Ok(emitted) = rst.emit(&mut self.scratch) {
            self.stats.resets_sent += 1;
            out(device, &self.scratch[..emitted.len]);
        }
    }

    // ----------------------------------------------------------- commands

    /// Handle one application request. `Stop` is the stack thread's.
    pub(crate) fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            // Policies are MPTCP's; `MptcpStream` never reaches a
            // plain-TCP stack.
            Command::Connect {
                remote,
                fast_open,
                reply,
                ..
            } => self.connect(now, remote, fast_open, reply),
            Command::CancelConnect { remote } => {
                let found = self.slots.iter().position(|s| {
                    s.as_ref()
                        .is_some_and(|s| s.connect_reply.is_some() && s.tuple.remote == remote)
                });
                if let Some(index) = found {
                    if let Some(slot) = self.slots[index].as_mut() {
                        if let Some(reply) = slot.connect_reply.take() {
                            let _ = reply.send(Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "connection timed out",
                            )));
                        }
                        slot.conn.abort();
                        slot.handle = Handle::Dropped;
                        self.mark(index);
                    }
                }
            }
            Command::Listen { port, reply, .. } => {
                let result = if port == 0 {
                    Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "cannot listen on port 0",
                    ))
                } else if self.listeners.contains_key(&port) {
                    Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("port {port} is already listened on"),
                    ))
                } else {
                    let id = ListenerId(self.next_listener);
                    self.next_listener += 1;
                    self.listeners.insert(
                        port,
                        Listener {
                            id,
                            queue: VecDeque::new(),
                            children: 0,
                            accept_reply: None,
                        },
                    );
                    Ok(id)
                };
                let _ = reply.send(result);
            }
            Command::Accept { listener, reply } => {
                let Some(l) = self.listeners.values_mut().find(|l| l.id == listener) else {
                    let _ = reply.send(Err(io::Error::new(
                        io::ErrorKind::NotConnected,
                        "listener closed",
                    )));
                    return;
                };
                match l.queue.pop_front() {
                    Some(index) => {
                        l.children = l.children.saturating_sub(1);
                        self.hand_out(index, reply);
                    }
                    None => l.accept_reply = Some(reply),
                }
            }
            Command::CancelAccept { listener } => {
                if let Some(l) = self.listeners.values_mut().find(|l| l.id == listener) {
                    if let Some(reply) = l.accept_reply.take() {
                        let _ = reply.send(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "accept timed out",
                        )));
                    }
                }
            }
            Command::CloseListener { listener } => {
                self.listeners.retain(|_, l| l.id != listener);
                // Connections nobody will accept are reset.
                for index in 0..self.slots.len() {
                    if let Some(slot) = self.slots[index].as_mut() {
                        if slot.listener == Some(listener) {
                            slot.listener = None;
                            slot.conn.abort();
                            slot.handle = Handle::Dropped;
                            self.mark(index);
                        }
                    }
                }
            }
            Command::Read { conn, buf, reply } => match self.slot_mut(conn) {
                Some(slot) => {
                    slot.read = Some((buf, reply));
                    self.mark(conn.index);
                }
                None => {
                    let _ = reply.send(Err(not_connected()));
                }
            },
            Command::CancelRead { conn } => {
                if let Some(slot) = self.slot_mut(conn) {
                    if let Some((_, reply)) = slot.read.take() {
                        let _ = reply.send(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "read timed out",
                        )));
                    }
                }
            }
            Command::Write { conn, data, reply } => match self.slot_mut(conn) {
                Some(slot) => {
                    slot.write = Some((data, reply));
                    self.mark(conn.index);
                }
                None => {
                    let _ = reply.send(Err(not_connected()));
                }
            },
            Command::CancelWrite { conn } => {
                if let Some(slot) = self.slot_mut(conn) {
                    if let Some((_, reply)) = slot.write.take() {
                        let _ = reply.send(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "write timed out",
                        )));
                    }
                }
            }
            Command::Shutdown {
                conn,
                write,
                read,
                reply,
            } => match self.slot_mut(conn) {
                Some(slot) => {
                    if write {
                        slot.conn.shutdown();
                    }
                    if read {
                        slot.read_shut = true;
                    }
                    let _ = reply.send(Ok(()));
                    self.mark(conn.index);
                }
                None => {
                    let _ = reply.send(Err(not_connected()));
                }
            },
            Command::Info { conn, reply } => {
                let result = self
                    .slot_mut(conn)
                    .map(|slot| info(&slot.conn))
                    .ok_or_else(not_connected);
                let _ = reply.send(result);
            }
            Command::Close { conn } => {
                let linger = self.config.close_linger;
                if let Some(slot) = self.slot_mut(conn) {
                    slot.handle = Handle::Dropped;
                    slot.read = None;
                    slot.write = None;
                    if !slot.finished {
                        // Orphaned, as after close(2): FIN after the queued
                        // data, a RST for data nobody will read, and a
                        // bounded FIN-WAIT-2.
                        slot.conn.close(now);
                        slot.linger_deadline = Some(now + linger);
                    }
                    self.mark(conn.index);
                }
            }
            Command::MptcpInfo { reply, .. } => {
                let _ = reply.send(Err(not_mptcp()));
            }
            Command::Events { reply, .. } => {
                let _ = reply.send(Err(not_mptcp()));
            }
            Command::Path { reply, .. } => {
                let _ = reply.send(Err(not_mptcp()));
            }
            // The stack thread handles Stop itself.
            Command::Stop { .. } => {}
        }
    }

    /// Open a connection from the path that reaches `remote`.
    fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        fast_open: Option<Vec<u8>>,
        reply: Reply<Opened>,
    ) {
        if self.live >= self.config.max_connections {
            let _ = reply.send(Err(io::Error::other("too many connections")));
            return;
        }
        let Some(device) = self.config.routes.lookup(remote.ip()) else {
            let _ = reply.send(Err(io::Error::new(
                io::ErrorKind::NetworkUnreachable,
                RouteTable::unreachable(remote.ip()),
            )));
            return;
        };
        let local_ip: IpAddr = self.config.paths[device].addr;
        let Some(local) = self.ephemeral_port(local_ip, remote) else {
            let _ = reply.send(Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no free local port",
            )));
            return;
        };
        let tuple = FourTuple { local, remote };
        let config = self.tcp_config(device, remote.is_ipv6());
        let key = self.isn_key.clone();
        let opened = match &fast_open {
            Some(data) => {
                let cookie = self.cookies.get(&remote.ip()).copied();
                Connection::connect_fast_open(config, tuple, key, now, cookie).and_then(
                    |mut conn| {
                        // Queued before the first transmission: what fits
                        // goes in the SYN.
                        if conn.write(data) == data.len() {
                            Ok(conn)
                        } else {
                            Err(mptcp_tcp::Error::InvalidConfig(
                                "Fast Open data is larger than the send buffer",
                            ))
                        }
                    },
                )
            }
            None => Connection::connect(config, tuple, key, now),
        };
        let conn = match opened {
            Ok(c) => c,
            Err(e) => {
                let _ = reply.send(Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    e.to_string(),
                )));
                return;
            }
        };
        let cc = self.new_controller();
        self.insert(|generation| {
            let mut slot = new_slot(generation, conn, cc, device, tuple, None, now);
            slot.connect_reply = Some(reply);
            slot
        });
    }

    /// A random free ephemeral port for `local_ip` towards `remote`.
    fn ephemeral_port(&mut self, local_ip: IpAddr, remote: SocketAddr) -> Option<SocketAddr> {
        let span = u32::from(EPHEMERAL.end() - EPHEMERAL.start()) + 1;
        let start = self.rng.next_u32() % span;
        (0..span).find_map(|i| {
            let port = EPHEMERAL.start() + ((start + i) % span) as u16;
            let local = SocketAddr::new(local_ip, port);
            let taken = self.by_tuple.contains_key(&FourTuple { local, remote })
                || self.listeners.contains_key(&port);
            (!taken).then_some(local)
        })
    }

    /// Give connection `index` to the application.
    fn hand_out(&mut self, index: usize, reply: Reply<Opened>) {
        if let Some(slot) = self.slots[index].as_mut() {
            slot.listener = None;
            slot.handle = Handle::Open;
            let _ = reply.send(Ok(slot.opened(index)));
            self.mark(index);
        }
    }

    // ------------------------------------------------------------- timers

    /// The earliest time something is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.slots
            .iter()
            .flatten()
            .flat_map(|s| [s.conn.poll_timeout(), s.linger_deadline])
            .flatten()
            .min()
    }

    /// Run the timers due at `now`.
    pub(crate) fn handle_timeouts(&mut self, now: Instant) {
        for index in 0..self.slots.len() {
            let Some(slot) = self.slots[index].as_mut() else {
                continue;
            };
            let mut touched = false;
            if slot.conn.poll_timeout().is_some_and(|t| t <= now) {
                slot.conn.handle_timeout(now);
                touched = true;
            }
            if slot.linger_deadline.is_some_and(|t| t <= now) {
                slot.linger_deadline = None;
                slot.conn.abort();
                touched = true;
            }
            if touched {
                self.mark(index);
            }
        }
    }

    // -------------------------------------------------------------- flush

    /// Serve every connection touched since the last flush: congestion
    /// control, events, waiting requests, and its packets out.
    pub(crate) fn flush(&mut self, now: Instant, out: &mut dyn FnMut(usize, &[u8])) {
        while let Some(index) = self.dirty.pop() {
            self.is_dirty[index] = false;
            self.service(index, now, out);
        }
    }

    fn service(&mut self, index: usize, now: Instant, out: &mut dyn FnMut(usize, &[u8])) {
        let write_low_water = (self.config.tcp.send_buffer / 4).max(1);
        let Endpoint { slots, scratch, .. } = self;
        let Some(slot) = slots[index].as_mut() else {
            return;
        };
        // Events first: they say what the requests below may expect.
        let mut became_established = false;
        while let Some(event) = slot.conn.poll_event() {
            match event {
                Event::Connected => {
                    slot.connected = true;
                    became_established = true;
                }
                Event::PeerClosed => slot.eof = true,
                Event::Closed => slot.finished = true,
                Event::Reset => {
                    slot.finished = true;
                    slot.failure = Some(if slot.connected {
                        (io::ErrorKind::ConnectionReset, "connection reset by peer")
                    } else {
                        (io::ErrorKind::ConnectionRefused, "connection refused")
                    });
                }
                Event::TimedOut => {
                    slot.finished = true;
                    slot.failure = Some((
                        io::ErrorKind::TimedOut,
                        "connection timed out: the peer stopped answering",
                    ));
                }
                Event::Readable | Event::Writable => {}
            }
        }
        let learned = slot
            .conn
            .fast_open_cookie()
            .map(|c| (slot.tuple.remote.ip(), c));
        if became_established {
            if let Some(reply) = slot.connect_reply.take() {
                slot.handle = Handle::Open;
                let _ = reply.send(Ok(slot.opened(index)));
            }
        }
        if slot.finished {
            if let Some(reply) = slot.connect_reply.take() {
                let _ = reply.send(Err(slot.error()));
                slot.handle = Handle::Dropped;
            }
        }

        // Reads: discard what nobody will read, else serve a waiting read.
        if slot.handle == Handle::Dropped || slot.read_shut {
            while slot.conn.read(scratch) > 0 {}
        } else if let Some((mut buf, reply)) = slot.read.take() {
            if slot.conn.readable() > 0 {
                let want = buf.capacity().max(1);
                buf.resize(want, 0);
                let n = slot.conn.read(&mut buf);
                buf.truncate(n);
                let _ = reply.send(Ok(buf));
            } else if slot.eof {
                buf.clear();
                let _ = reply.send(Ok(buf));
            } else if slot.finished {
                let _ = reply.send(Err(slot.error()));
            } else {
                slot.read = Some((buf, reply));
            }
        }

        // Writes: take what fits; wait while the buffer is full.
        if let Some((data, reply)) = slot.write.take() {
            if slot.finished || !slot.conn.state().can_send() {
                let err = if slot.failure.is_some() {
                    slot.error()
                } else {
                    io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "connection is closed for writing",
                    )
                };
                let _ = reply.send(Err(err));
            } else if slot.conn.writable() >= data.len().min(write_low_water) {
                // Wake the writer only once a good part of the buffer is
                // free (as Linux waits for a third of sndbuf): one round trip
                // per few hundred KiB, not one per ACK.
                let n = slot.conn.write(&data);
                let _ = reply.send(Ok((n, data)));
            } else {
                slot.write = Some((data, reply));
            }
        }

        // Congestion control sees what the ACKs did before we transmit.
        let paths = [slot.conn.path_info(PathId(0))];
        while let Some(event) = slot.conn.poll_congestion_event() {
            slot.cc.on_event(PathId(0), &event, &paths);
        }
        slot.conn.set_congestion_window(slot.cc.window(PathId(0)));

        while let Some(n) = slot.conn.poll_transmit(now, scratch) {
            out(slot.device, &scratch[..n]);
        }

        // Established connections from a listener wait in its queue.
        let closed = slot.conn.state() == State::Closed;
        if let (true, Some((ip, cookie))) = (became_established, learned) {
            if self.cookies.len() >= MAX_COOKIES && !self.cookies.contains_key(&ip) {
                // Full: forget one; a forgotten peer just asks again.
                if let Some(old) = self.cookies.keys().next().copied() {
                    self.cookies.remove(&old);
                }
            }
            self.cookies.insert(ip, cookie);
        }
        let listener = slot.listener;
        let handle = slot.handle;
        if became_established && !closed {
            if let Some(id) = listener {
                self.enqueue_accepted(index, id);
            }
        }
        if closed {
            let tuple = slot_tuple(&self.slots[index]);
            if let Some(tuple) = tuple {
                if self.by_tuple.get(&tuple) == Some(&index) {
                    self.by_tuple.remove(&tuple);
                }
            }
            if handle != Handle::Open {
                self.remove(index);
            }
        }
    }

    fn enqueue_accepted(&mut self, index: usize, id: ListenerId) {
        let Some(l) = self.listeners.values_mut().find(|l| l.id == id) else {
            return;
        };
        match l.accept_reply.take() {
            Some(reply) => {
                l.children = l.children.saturating_sub(1);
                self.hand_out(index, reply);
            }
            None => l.queue.push_back(index),
        }
    }

    /// Whether every connection has finished (TIME-WAIT counts: only the
    /// peer's retransmitted FIN could still need us).
    pub(crate) fn all_closed(&self) -> bool {
        self.slots
            .iter()
            .flatten()
            .all(|s| s.finished || matches!(s.conn.state(), State::Closed | State::TimeWait))
    }

    /// Abort every connection (the stack is stopping).
    pub(crate) fn abort_all(&mut self) {
        for index in 0..self.slots.len() {
            if let Some(slot) = self.slots[index].as_mut() {
                slot.conn.abort();
                self.mark(index);
            }
        }
    }
}

fn slot_tuple(slot: &Option<Slot>) -> Option<FourTuple> {
    slot.as_ref().map(|s| s.tuple)
}

fn new_slot(
    generation: u64,
    conn: Connection,
    mut cc: Box<dyn CongestionControl>,
    device: usize,
    tuple: FourTuple,
    listener: Option<ListenerId>,
    now: Instant,
) -> Slot {
    cc.add_path(&conn.path_info(PathId(0)), now);
    Slot {
        generation,
        conn,
        cc,
        device,
        tuple,
        listener,
        handle: Handle::NotYet,
        connect_reply: None,
        read: None,
        write: None,
        connected: false,
        eof: false,
        read_shut: false,
        failure: None,
        finished: false,
        linger_deadline: None,
    }
}

pub(crate) fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection is gone")
}

/// The answer to an MPTCP request on a plain-TCP stack.
pub(crate) fn not_mptcp() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "this stack speaks plain TCP (StackConfig::mptcp is None)",
    )
}

pub(crate) fn info(conn: &Connection) -> ConnectionInfo {
    ConnectionInfo {
        state: conn.state(),
        srtt: conn.srtt(),
        rto: conn.rto(),
        cwnd: conn.cwnd(),
        bytes_in_flight: conn.bytes_in_flight(),
        retransmissions: conn.retransmissions(),
        bytes_sent: conn.bytes_sent(),
        bytes_received: conn.bytes_received(),
        mss: conn.mss(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::Receiver;

    const A: &str = "10.0.0.1";
    const B: &str = "10.0.0.2";

    fn endpoint(addr: &str, backlog: usize) -> Endpoint {
        let paths = vec![PathConfig::new("t0", addr.parse().unwrap())];
        let config = EndpointConfig {
            routes: RouteTable::new(&paths, &[]).unwrap(),
            paths,
            mtus: vec![1500],
            tcp: TcpConfig::default(),
            congestion_control: "cubic".to_owned(),
            registry: Registry::with_builtins(),
            max_connections: 16,
            accept_backlog: backlog,
            close_linger: core::time::Duration::from_secs(1),
        };
        Endpoint::new(config, 1).unwrap()
    }

    /// Flush `from`, hand every packet to `to`; return the packets moved.
    fn carry(from: &mut Endpoint, to: &mut Endpoint, now: Instant) -> Vec<Vec<u8>> {
        let mut packets = Vec::new();
        from.flush(now, &mut |_, p| packets.push(p.to_vec()));
        for p in &packets {
            let mut replies = Vec::new();
            to.handle_packet(now, 0, p, &mut |_, r| replies.push(r.to_vec()));
            for r in replies {
                from.handle_packet(now, 0, &r, &mut |_, _| panic!("no reply to a reset"));
            }
        }
        packets
    }

    fn run(a: &mut Endpoint, b: &mut Endpoint, now: Instant) {
        for _ in 0..20 {
            let moved = carry(a, b, now).len() + carry(b, a, now).len();
            if moved == 0 {
                return;
            }
        }
    }

    fn connect(a: &mut Endpoint, port: u16, now: Instant) -> Receiver<io::Result<Opened>> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let remote = SocketAddr::new(B.parse().unwrap(), port);
        a.handle_command(
            now,
            Command::Connect {
                remote,
                fast_open: None,
                policy: None,
                reply: tx,
            },
        );
        rx
    }

    fn listen(b: &mut Endpoint, port: u16) -> ListenerId {
        let (tx, rx) = crossbeam_channel::bounded(1);
        b.handle_command(
            Instant::ZERO,
            Command::Listen {
                port,
                policy: None,
                reply: tx,
            },
        );
        rx.try_recv().unwrap().unwrap()
    }

    #[test]
    fn a_closed_port_refuses_with_a_reset() {
        let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
        let reply = connect(&mut a, 80, Instant::ZERO);
        run(&mut a, &mut b, Instant::ZERO);
        let err = reply.try_recv().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(b.stats.resets_sent, 1);
        assert_eq!(a.live, 0, "the failed connection is freed");
    }

    #[test]
    fn accept_then_data_both_ways() {
        let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
        let listener = listen(&mut b, 80);
        let reply = connect(&mut a, 80, Instant::ZERO);
        run(&mut a, &mut b, Instant::ZERO);
        let client = reply.try_recv().unwrap().unwrap();
        assert_eq!(client.remote, "10.0.0.2:80".parse().unwrap());
        let (tx, rx) = crossbeam_channel::bounded(1);
        b.handle_command(
            Instant::ZERO,
            Command::Accept {
                listener,
                reply: tx,
            },
        );
        let server = rx.try_recv().unwrap().unwrap();
        assert_eq!(server.remote, client.local);

        let (tx, rx) = crossbeam_channel::bounded(1);
        a.handle_command(
            Instant::ZERO,
            Command::Write {
                conn: client.id,
                data: b"hello".to_vec(),
                reply: tx,
            },
        );
        run(&mut a, &mut b, Instant::ZERO);
        assert_eq!(rx.try_recv().unwrap().unwrap().0, 5);
        let (tx, rx) = crossbeam_channel::bounded(1);
        b.handle_command(
            Instant::ZERO,
            Command::Read {
                conn: server.id,
                buf: Vec::with_capacity(64),
                reply: tx,
            },
        );
        run(&mut a, &mut b, Instant::ZERO);
        assert_eq!(rx.try_recv().unwrap().unwrap(), b"hello");
    }

    #[test]
    fn a_read_waits_for_data_and_a_cancel_answers_it_once() {
        let (mut a, mut b) = (endpoint(A, 8), endpoint(B, 8));
        listen(&mut b, 80);
        let reply = connect(&mut a, 80, Instant::ZERO);
        run(&mut a, &mut b, Instant::ZERO);
        let client = reply.try_recv().unwrap().unwrap();
        let (tx, rx) = crossbeam_channel::bounded(1);
        a.handle_command(
            Instant::ZERO,
            Command::Read {
                conn: client.id,
                buf: Vec::with_capacity(64),
                reply: tx,
            },
        );
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
        let first = connect(&mut a, 80, Instant::ZERO);
        let second = connect(&mut a, 80, Instant::ZERO);
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
        assert_eq!(b.live, 1);
    }

    #[test]
    fn foreign_addresses_and_garbage_are_ignored_and_resets_unanswered() {
        let mut b = endpoint(B, 8);
        let mut sent = 0;
        b.handle_packet(Instant::ZERO, 0, &[0x45, 0, 1, 2], &mut |_, _| sent += 1);
        // A SYN to an address that is not ours.
        let mut syn = SegmentBuilder::new(
            "10.0.0.1:1000".parse().unwrap(),
            "10.0.0.9:80".parse().unwrap(),
        );
        syn.flags = TcpFlags::SYN;
        let mut buf = [0u8; 128];
        let n = syn.emit(&mut buf).unwrap().len;
        b.handle_packet(Instant::ZERO, 0, &buf[..n], &mut |_, _| sent += 1);
        // A reset to a port with nothing on it.
        let mut rst = SegmentBuilder::new(
            "10.0.0.1:1000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        );
        rst.flags = TcpFlags::RST;
        let n = rst.emit(&mut buf).unwrap().len;
        b.handle_packet(Instant::ZERO, 0, &buf[..n], &mut |_, _| sent += 1);
        assert_eq!(sent, 0);
        assert_eq!(b.stats.packets_ignored, 2);
    }

    #[test]
    fn stale_ids_reach_no_connection() {
        let mut a = endpoint(A, 8);
        let (tx, rx) = crossbeam_channel::bounded(1);
        let conn = ConnId {
            index: 0,
            generation: 99,
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
}

#[cfg(test)]
mod hostile_input {
    //! Nothing a peer sends may panic the endpoint or grow it past its
    //! limits: random bytes, and well-formed segments with random fields
    //! (a SYN flood among them), aimed at a listening endpoint.

    use super::*;
    use proptest::prelude::*;

    fn listening(backlog: usize, max_connections: usize) -> Endpoint {
        let paths = vec![PathConfig::new("t0", "10.0.0.2".parse().unwrap())];
        let config = EndpointConfig {
            routes: RouteTable::new(&paths, &[]).unwrap(),
            paths,
            mtus: vec![1500],
            tcp: TcpConfig::default(),
            congestion_control: "reno".to_owned(),
            registry: Registry::with_builtins(),
            max_connections,
            accept_backlog: backlog,
            close_linger: core::time::Duration::from_secs(1),
        };
        let mut e = Endpoint::new(config, 7).unwrap();
        let (tx, _rx) = crossbeam_channel::bounded(1);
        e.handle_command(
            Instant::ZERO,
            Command::Listen {
                port: 80,
                policy: None,
                reply: tx,
            },
        );
        e
    }

    fn segment(
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut b = SegmentBuilder::new(
            SocketAddr::new("10.0.0.1".parse().unwrap(), src_port),
            SocketAddr::new("10.0.0.2".parse().unwrap(), dst_port),
        );
        b.seq = seq;
        b.ack = ack;
        b.flags = TcpFlags::from_bits(flags);
        b.window = 1000;
        b.payload = payload;
        let mut buf = vec![0; 1600];
        let n = b.emit(&mut buf).unwrap().len;
        buf.truncate(n);
        buf
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..50)) {
            let mut e = listening(4, 8);
            let mut now = Instant::ZERO;
            for p in &packets {
                e.handle_packet(now, 0, p, &mut |_, _| {});
                e.flush(now, &mut |_, _| {});
                now += core::time::Duration::from_millis(10);
                e.handle_timeouts(now);
            }
            prop_assert!(e.live <= 8);
        }

        #[test]
        fn random_segments_stay_within_limits(
            segs in prop::collection::vec(
                (1000u16..1040, prop_oneof![Just(80u16), any::<u16>()], any::<u32>(), any::<u32>(), any::<u8>(), prop::collection::vec(any::<u8>(), 0..64)),
                1..200,
            )
        ) {
            let (backlog, max) = (4, 6);
            let mut e = listening(backlog, max);
            let mut now = Instant::ZERO;
            let mut out = 0usize;
            for (sp, dp, seq, ack, flags, payload) in &segs {
                let p = segment(*sp, *dp, *seq, *ack, *flags, payload);
                e.handle_packet(now, 0, &p, &mut |_, _| out += 1);
                e.flush(now, &mut |_, _| out += 1);
                now += core::time::Duration::from_millis(3);
                e.handle_timeouts(now);
                // Nobody accepts: the listener holds at most its backlog.
                prop_assert!(e.live <= backlog, "{} connections", e.live);
                prop_assert!(e.by_tuple.len() <= backlog);
            }
            // Unaccepted connections still time out and are freed: the
            // SYN-ACK is retried `max_retransmissions` times with backoff
            // (about 11 minutes with the defaults).
            for _ in 0..1200 {
                now += core::time::Duration::from_secs(1);
                e.handle_timeouts(now);
                e.flush(now, &mut |_, _| {});
            }
            prop_assert_eq!(e.live, 0, "every half-open connection was given up");
        }
    }
}
