//! The MPTCP endpoint the stack thread runs when `StackConfig::mptcp` is
//! set: `mptcp_proto::Endpoint` (subflows by four-tuple, joins by token,
//! the path manager) with the application requests waiting on its
//! connections.
//!
//! Like the plain-TCP endpoint beside it, it does no I/O and reads no
//! clock: packets, commands and `now` come in; packets leave through the
//! `out` callback (device index, bytes). A packet leaves by the device
//! whose path address is its source, so each subflow keeps to its path.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crossbeam_channel::Sender;
use mptcp_cc::{CcConfig, Registry};
use mptcp_proto::{
    ConnectionId, ConnectionPolicy, Endpoint, EndpointConfig, MptcpConfig, MptcpConnection,
    MptcpEvent, PolicyFactory, Routed, path_manager, scheduler,
};
use mptcp_tcp::{FourTuple, State};
use mptcp_time::Instant;
use mptcp_wire::AddrId;
use mptcp_wire::segment::{ChecksumCheck, Segment, TcpFlags};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::command::{Command, ConnId, ListenerId, Opened};
use crate::config::{MptcpSettings, PathConfig};
use crate::endpoint::{info, not_connected};
use crate::route::RouteTable;
use crate::stats::{ConnectionInfo, MptcpInfo, PathCommand, StackStats};

/// Local ports of the connections we open. The path manager's subflows
/// take theirs from 49152 up (`mptcp_proto::Endpoint`), so the two never
/// pick the same four-tuple; this is the lower part of Linux's default
/// `ip_local_port_range`.
const CONNECT_PORTS: core::ops::RangeInclusive<u16> = 32768..=49151;

/// Events each connection keeps for [`crate::MptcpStream::events`]; older
/// ones are dropped first, so a handle that never asks costs nothing more.
const MAX_KEPT_EVENTS: usize = 64;

/// Where a connection's application handle is (as in the TCP endpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Handle {
    NotYet,
    Open,
    Dropped,
}

type Reply<T> = Sender<io::Result<T>>;
type PendingRead = (Vec<u8>, Reply<Vec<u8>>);
type PendingWrite = (Vec<u8>, Reply<(usize, Vec<u8>)>);

/// What the driver keeps beside each `MptcpConnection`.
struct Slot {
    tuple: FourTuple,
    listener: Option<ListenerId>,
    handle: Handle,
    connect_reply: Option<Reply<Opened>>,
    read: Option<PendingRead>,
    write: Option<PendingWrite>,
    connected: bool,
    eof: bool,
    read_shut: bool,
    write_shut: bool,
    failure: Option<(io::ErrorKind, &'static str)>,
    finished: bool,
    linger_deadline: Option<Instant>,
    events: VecDeque<MptcpEvent>,
    /// The figures when the connection finished: the core forgets a
    /// finished connection, and its handle may still ask.
    last_info: Option<(ConnectionInfo, MptcpInfo)>,
}

impl Slot {
    fn new(tuple: FourTuple, listener: Option<ListenerId>) -> Self {
        Slot {
            tuple,
            listener,
            handle: Handle::NotYet,
            connect_reply: None,
            read: None,
            write: None,
            connected: false,
            eof: false,
            read_shut: false,
            write_shut: false,
            failure: None,
            finished: false,
            linger_deadline: None,
            events: VecDeque::new(),
            last_info: None,
        }
    }

    fn opened(&self, id: ConnectionId) -> Opened {
        Opened {
            id: conn_id(id),
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

/// Connection ids are never reused by `mptcp_proto::Endpoint`, so the
/// handle's generation is not needed.
fn conn_id(id: ConnectionId) -> ConnId {
    ConnId {
        index: id.0 as usize,
        generation: 0,
    }
}

fn connection_id(id: ConnId) -> ConnectionId {
    ConnectionId(id.index as u64)
}

struct Listener {
    id: ListenerId,
    queue: VecDeque<ConnectionId>,
    children: usize,
    accept_reply: Option<Reply<Opened>>,
}

/// What the MPTCP endpoint is built from.
#[derive(Clone, Debug)]
pub(crate) struct MptcpEndpointConfig {
    pub(crate) paths: Vec<PathConfig>,
    /// Which path a connection's first subflow leaves by.
    pub(crate) routes: RouteTable,
    pub(crate) mtus: Vec<u16>,
    pub(crate) settings: MptcpSettings,
    pub(crate) congestion_control: String,
    /// Where `congestion_control` is looked up.
    pub(crate) registry: Registry,
    pub(crate) max_connections: usize,
    pub(crate) accept_backlog: usize,
    pub(crate) close_linger: Duration,
}

/// The MPTCP endpoint of the stack thread.
pub(crate) struct MptcpEndpoint {
    endpoint: Endpoint,
    paths: Vec<PathConfig>,
    routes: RouteTable,
    /// Our addresses besides the first path's, in address-ID order (ID 1
    /// first), as the path manager was given them.
    extra_local: Vec<IpAddr>,
    /// Addresses announced on every MPTCP connection, with their IDs.
    announce: Vec<(AddrId, IpAddr)>,
    backup_addrs: Vec<IpAddr>,
    scheduler: String,
    accept_backlog: usize,
    close_linger: Duration,
    send_low_water: usize,
    slots: BTreeMap<ConnectionId, Slot>,
    listeners: BTreeMap<u16, Listener>,
    next_listener: u64,
    rng: ChaCha8Rng,
    scratch: Vec<u8>,
    done: Vec<ConnectionId>,
    pub(crate) stats: StackStats,
}

impl MptcpEndpoint {
    /// An endpoint; `seed` keys the ISNs, the MPTCP keys and the ports.
    pub(crate) fn new(config: MptcpEndpointConfig, seed: u64) -> Result<Self, String> {
        let settings = config.settings;
        if config.paths.is_empty() {
            return Err("at least one path is needed".to_owned());
        }
        let registry = config.registry.clone();
        if registry.get(&config.congestion_control).is_none() {
            let names: Vec<&str> = registry.names().collect();
            return Err(format!(
                "unknown congestion control {:?} (known: {})",
                config.congestion_control,
                names.join(", ")
            ));
        }
        let Some(pm) = path_manager::by_name(&settings.path_manager) else {
            return Err(format!(
                "unknown path manager {:?} (known: {})",
                settings.path_manager,
                path_manager::BUILTIN.join(", ")
            ));
        };
        if scheduler::by_name(&settings.scheduler).is_none() {
            return Err(format!(
                "unknown scheduler {:?} (known: {})",
                settings.scheduler,
                scheduler::BUILTIN.join(", ")
            ));
        }
        let mut backup_addrs = Vec::new();
        for dev in &settings.backup {
            match config.paths.iter().find(|p| &p.device == dev) {
                Some(p) => backup_addrs.push(p.addr),
                None => return Err(format!("backup device {dev} is not one of the paths")),
            }
        }
        let mut mptcp: MptcpConfig = settings.config.clone();
        // Every subflow may take any path: the tightest path bounds the
        // MSS (40 bytes of IPv4 and TCP headers, 60 with IPv6; options have
        // their own room).
        let room = config
            .paths
            .iter()
            .zip(&config.mtus)
            .map(|(p, &mtu)| mtu.saturating_sub(if p.addr.is_ipv4() { 40 } else { 60 }))
            .min()
            .unwrap_or(1460);
        mptcp.tcp.mss = mptcp.tcp.mss.min(room.max(64));
        mptcp.validate().map_err(|e| e.to_string())?;

        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let core_rng = Box::new(ChaCha8Rng::seed_from_u64(rng.next_u64()));
        let cc_name = config.congestion_control.clone();
        let cc = Box::new(move || {
            registry
                .build(&cc_name, &CcConfig::default())
                .expect("checked above")
        });
        let mut limits = EndpointConfig::default();
        limits.max_connections = config.max_connections;
        limits.max_half_open = config.accept_backlog;
        let mut endpoint = Endpoint::new(mptcp.clone(), limits, core_rng, cc);
        endpoint.set_path_manager(pm);
        let mut extra_local = Vec::new();
        let first = config.paths[0].addr;
        for p in &config.paths[1..] {
            if p.addr != first && !extra_local.contains(&p.addr) {
                extra_local.push(p.addr);
                endpoint.add_local_address(p.addr);
            }
        }
        // A path's address keeps its ID; others are numbered after them.
        let mut announce: Vec<(AddrId, IpAddr)> = Vec::new();
        for &addr in &settings.announce {
            if addr == first {
                return Err(format!(
                    "{addr} is the first path's address: the peer knows it already"
                ));
            }
            if announce.iter().any(|(_, a)| *a == addr) {
                continue;
            }
            let id = match extra_local.iter().position(|a| *a == addr) {
                Some(i) => i + 1,
                None => extra_local.len() + announce.len() + 1,
            };
            let id = u8::try_from(id).map_err(|_| "too many addresses to announce".to_owned())?;
            announce.push((AddrId(id), addr));
        }
        Ok(MptcpEndpoint {
            endpoint,
            paths: config.paths,
            routes: config.routes,
            extra_local,
            announce,
            backup_addrs,
            scheduler: settings.scheduler,
            accept_backlog: config.accept_backlog,
            close_linger: config.close_linger,
            send_low_water: (mptcp.send_buffer / 4).max(1),
            slots: BTreeMap::new(),
            listeners: BTreeMap::new(),
            next_listener: 1,
            rng,
            scratch: vec![0; 65_535],
            done: Vec::new(),
            stats: StackStats::default(),
        })
    }

    fn is_ours(&self, addr: IpAddr) -> bool {
        self.paths.iter().any(|p| p.addr == addr) || self.announce.iter().any(|(_, a)| *a == addr)
    }

    /// The device a packet from `src` leaves by: its path's, else the
    /// first path of its family.
    fn device_of(&self, src: IpAddr) -> usize {
        self.paths
            .iter()
            .position(|p| p.addr == src)
            .or_else(|| {
                self.paths
                    .iter()
                    .position(|p| p.addr.is_ipv4() == src.is_ipv4())
            })
            .unwrap_or(0)
    }

    // ------------------------------------------------------------ packets

    /// Handle one IP packet that arrived on a device.
    pub(crate) fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let Ok(segment) = Segment::parse(packet, ChecksumCheck::Verify) else {
            self.stats.packets_ignored += 1;
            return;
        };
        if !self.is_ours(segment.dst()) {
            self.stats.packets_ignored += 1;
            return;
        }
        match self.endpoint.handle_segment(now, &segment) {
            Routed::Accepted(id) => {
                // Drained here: the driver keeps its own queues.
                while self.endpoint.accept().is_some() {}
                self.stats.connections += 1;
                let tuple = FourTuple {
                    local: SocketAddr::new(segment.dst(), segment.dst_port()),
                    remote: SocketAddr::new(segment.src(), segment.src_port()),
                };
                let listener = self.listeners.get_mut(&segment.dst_port());
                match listener {
                    Some(l) if l.children < self.accept_backlog => {
                        l.children += 1;
                        let lid = l.id;
                        self.slots.insert(id, Slot::new(tuple, Some(lid)));
                    }
                    // No listener any more (it was closed), or a full
                    // backlog: the new connection is reset.
                    _ => {
                        if let Some(conn) = self.endpoint.connection(id) {
                            conn.abort();
                        }
                    }
                }
            }
            Routed::Refused if !segment.flags().contains(TcpFlags::RST) => {
                self.stats.resets_sent += 1;
            }
            _ => {}
        }
    }

    // ----------------------------------------------------------- commands

    /// Handle one application request. `Stop` is the stack thread's.
    pub(crate) fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Connect {
                remote,
                fast_open,
                policy,
                reply,
            } => {
                if fast_open.is_some() {
                    let _ = reply.send(Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "TCP Fast Open is not offered over MPTCP (use a plain-TCP stack)",
                    )));
                } else {
                    self.connect(now, remote, policy.unwrap_or_default(), reply);
                }
            }
            Command::CancelConnect { remote } => {
                let found = self
                    .slots
                    .iter()
                    .find(|(_, s)| s.connect_reply.is_some() && s.tuple.remote == remote)
                    .map(|(id, _)| *id);
                if let Some(id) = found {
                    if let Some(slot) = self.slots.get_mut(&id) {
                        if let Some(reply) = slot.connect_reply.take() {
                            let _ = reply.send(Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "connection timed out",
                            )));
                        }
                        slot.handle = Handle::Dropped;
                    }
                    if let Some(conn) = self.endpoint.connection(id) {
                        conn.abort();
                    }
                }
            }
            Command::Listen {
                port,
                policy,
                reply,
            } => {
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
                    let addrs: Vec<IpAddr> = self
                        .paths
                        .iter()
                        .map(|p| p.addr)
                        .chain(self.announce.iter().map(|(_, a)| *a))
                        .collect();
                    // Each accepted connection gets the listener's policies,
                    // with the stack's scheduler where they name none.
                    let scheduler = self.scheduler.clone();
                    let policies = PolicyFactory::new(move || {
                        let mut p = policy
                            .as_ref()
                            .map(PolicyFactory::build)
                            .unwrap_or_default();
                        if p.scheduler.is_none() {
                            p.scheduler = scheduler::by_name(&scheduler);
                        }
                        p
                    });
                    for addr in addrs {
                        self.endpoint
                            .listen_with(SocketAddr::new(addr, port), policies.clone());
                    }
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
                    Some(id) => {
                        l.children = l.children.saturating_sub(1);
                        self.hand_out(id, reply);
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
                // The core keeps listening; SYNs with no listener here are
                // reset as they arrive (`handle_packet`).
                self.listeners.retain(|_, l| l.id != listener);
                let orphans: Vec<ConnectionId> = self
                    .slots
                    .iter()
                    .filter(|(_, s)| s.listener == Some(listener))
                    .map(|(id, _)| *id)
                    .collect();
                for id in orphans {
                    if let Some(slot) = self.slots.get_mut(&id) {
                        slot.listener = None;
                        slot.handle = Handle::Dropped;
                    }
                    if let Some(conn) = self.endpoint.connection(id) {
                        conn.abort();
                    }
                }
            }
            Command::Read { conn, buf, reply } => match self.slots.get_mut(&connection_id(conn)) {
                Some(slot) => slot.read = Some((buf, reply)),
                None => {
                    let _ = reply.send(Err(not_connected()));
                }
            },
            Command::CancelRead { conn } => {
                if let Some((_, reply)) = self
                    .slots
                    .get_mut(&connection_id(conn))
                    .and_then(|s| s.read.take())
                {
                    let _ = reply.send(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "read timed out",
                    )));
                }
            }
            Command::Write { conn, data, reply } => {
                match self.slots.get_mut(&connection_id(conn)) {
                    Some(slot) => slot.write = Some((data, reply)),
                    None => {
                        let _ = reply.send(Err(not_connected()));
                    }
                }
            }
            Command::CancelWrite { conn } => {
                if let Some((_, reply)) = self
                    .slots
                    .get_mut(&connection_id(conn))
                    .and_then(|s| s.write.take())
                {
                    let _ = reply.send(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "write timed out",
                    )));
                }
            }
            Command::Shutdown {
                conn,
                write,
                read,
                reply,
            } => {
                let id = connection_id(conn);
                let Some(slot) = self.slots.get_mut(&id) else {
                    let _ = reply.send(Err(not_connected()));
                    return;
                };
                slot.read_shut |= read;
                slot.write_shut |= write;
                if write && let Some(c) = self.endpoint.connection(id) {
                    c.shutdown();
                }
                let _ = reply.send(Ok(()));
            }
            Command::Info { conn, reply } => {
                let _ = reply.send(self.snapshot(connection_id(conn)).map(|(tcp, _)| tcp));
            }
            Command::MptcpInfo { conn, reply } => {
                let _ = reply.send(self.snapshot(connection_id(conn)).map(|(_, m)| m));
            }
            Command::Events { conn, reply } => {
                let result = self
                    .slots
                    .get_mut(&connection_id(conn))
                    .map(|s| s.events.drain(..).collect())
                    .ok_or_else(not_connected);
                let _ = reply.send(result);
            }
            Command::Path {
                conn,
                command,
                reply,
            } => {
                let result = self.path_command(now, connection_id(conn), command);
                let _ = reply.send(result);
            }
            Command::Close { conn } => {
                let id = connection_id(conn);
                let linger = self.close_linger;
                if let Some(slot) = self.slots.get_mut(&id) {
                    slot.handle = Handle::Dropped;
                    slot.read = None;
                    slot.write = None;
                    if !slot.finished {
                        // Orphaned: the DATA_FIN follows the queued data,
                        // unread data is discarded, and the close is
                        // bounded by the linger.
                        slot.linger_deadline = Some(now + linger);
                        if let Some(c) = self.endpoint.connection(id) {
                            c.shutdown();
                        }
                    }
                }
            }
            // The stack thread handles Stop itself.
            Command::Stop { .. } => {}
        }
    }

    /// The connection's figures: live, or as they were when it finished.
    fn snapshot(&mut self, id: ConnectionId) -> io::Result<(ConnectionInfo, MptcpInfo)> {
        let Some(slot) = self.slots.get(&id) else {
            return Err(not_connected());
        };
        match self.endpoint.connection(id) {
            Some(c) => Ok(snapshot(c)),
            None => slot.last_info.clone().ok_or_else(not_connected),
        }
    }

    fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        mut policy: ConnectionPolicy,
        reply: Reply<Opened>,
    ) {
        let Some(device) = self.routes.lookup(remote.ip()) else {
            let _ = reply.send(Err(io::Error::new(
                io::ErrorKind::NetworkUnreachable,
                RouteTable::unreachable(remote.ip()),
            )));
            return;
        };
        let local_ip = self.paths[device].addr;
        let span = u32::from(CONNECT_PORTS.end() - CONNECT_PORTS.start()) + 1;
        let start = self.rng.next_u32() % span;
        let local = (0..span).find_map(|i| {
            let port = CONNECT_PORTS.start() + ((start + i) % span) as u16;
            let local = SocketAddr::new(local_ip, port);
            let taken = self
                .slots
                .values()
                .any(|s| s.tuple.local == local && s.tuple.remote == remote)
                || self.listeners.contains_key(&port);
            (!taken).then_some(local)
        });
        let Some(local) = local else {
            let _ = reply.send(Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no free local port",
            )));
            return;
        };
        let tuple = FourTuple { local, remote };
        if policy.scheduler.is_none() {
            policy.scheduler = scheduler::by_name(&self.scheduler);
        }
        match self.endpoint.connect_with(now, tuple, policy) {
            Ok(id) => {
                self.stats.connections += 1;
                let mut slot = Slot::new(tuple, None);
                slot.connect_reply = Some(reply);
                self.slots.insert(id, slot);
            }
            Err(e) => {
                let _ = reply.send(Err(io::Error::other(e.to_string())));
            }
        }
    }

    fn path_command(
        &mut self,
        now: Instant,
        id: ConnectionId,
        command: PathCommand,
    ) -> io::Result<()> {
        if !self.slots.contains_key(&id) {
            return Err(not_connected());
        }
        let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
        match command {
            PathCommand::OpenSubflow {
                local,
                remote,
                backup,
            } => {
                let local_id = if local == self.paths[0].addr {
                    AddrId(0)
                } else {
                    let known = self.extra_local.iter().position(|a| *a == local);
                    match known {
                        Some(i) => AddrId(i as u8 + 1),
                        None => match self.announce.iter().find(|(_, a)| *a == local) {
                            Some((id, _)) => *id,
                            None => {
                                return Err(invalid(format!(
                                    "{local} is not one of our addresses"
                                )));
                            }
                        },
                    }
                };
                let span = u32::from(CONNECT_PORTS.end() - CONNECT_PORTS.start()) + 1;
                let port = CONNECT_PORTS.start() + (self.rng.next_u32() % span) as u16;
                let tuple = FourTuple {
                    local: SocketAddr::new(local, port),
                    remote,
                };
                self.endpoint
                    .open_subflow(now, id, tuple, local_id, backup)
                    .map(|_| ())
                    .map_err(|e| invalid(e.to_string()))
            }
            PathCommand::CloseSubflow(sub) => {
                self.with_connection(id, |c| c.close_subflow(sub));
                Ok(())
            }
            PathCommand::SetBackup(sub, backup) => {
                self.with_connection(id, |c| c.set_backup(sub, backup));
                Ok(())
            }
            PathCommand::Announce { id: addr_id, addr } => match self.endpoint.connection(id) {
                Some(c) => c
                    .announce(addr_id, addr, None)
                    .map_err(|e| invalid(e.to_string())),
                None => Err(not_connected()),
            },
            PathCommand::RemoveAddress(addr_id) => {
                self.with_connection(id, |c| c.remove_address(addr_id));
                Ok(())
            }
        }
    }

    fn with_connection(&mut self, id: ConnectionId, f: impl FnOnce(&mut MptcpConnection)) {
        if let Some(c) = self.endpoint.connection(id) {
            f(c);
        }
    }

    fn hand_out(&mut self, id: ConnectionId, reply: Reply<Opened>) {
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.listener = None;
            slot.handle = Handle::Open;
            let _ = reply.send(Ok(slot.opened(id)));
        }
    }

    // ------------------------------------------------------------- timers

    /// The earliest time something is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let linger = self.slots.values().filter_map(|s| s.linger_deadline).min();
        [self.endpoint.poll_timeout(), linger]
            .into_iter()
            .flatten()
            .min()
    }

    /// Run the timers due at `now`.
    pub(crate) fn handle_timeouts(&mut self, now: Instant) {
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        let expired: Vec<ConnectionId> = self
            .slots
            .iter()
            .filter(|(_, s)| s.linger_deadline.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(slot) = self.slots.get_mut(&id) {
                slot.linger_deadline = None;
            }
            self.with_connection(id, MptcpConnection::abort);
        }
    }

    // -------------------------------------------------------------- flush

    /// Events, waiting requests, then every packet due out. Events raised
    /// by transmission (a subflow that gave up) are served in a second
    /// round.
    pub(crate) fn flush(&mut self, now: Instant, out: &mut dyn FnMut(usize, &[u8])) {
        for _ in 0..2 {
            self.take_events();
            self.serve();
            while let Some(n) = self.endpoint.poll_transmit(now, &mut self.scratch) {
                let device = source_of(&self.scratch[..n]).map_or(0, |a| self.device_of(a));
                out(device, &self.scratch[..n]);
            }
        }
    }

    fn take_events(&mut self) {
        while let Some((id, event)) = self.endpoint.poll_event() {
            let Some(slot) = self.slots.get_mut(&id) else {
                continue;
            };
            if matches!(
                event,
                MptcpEvent::Closed
                    | MptcpEvent::Reset
                    | MptcpEvent::TimedOut
                    | MptcpEvent::ProtocolError(_)
            ) && let Some(c) = self.endpoint.connection(id)
            {
                slot.last_info = Some(snapshot(c));
            }
            if slot.events.len() >= MAX_KEPT_EVENTS {
                slot.events.pop_front();
            }
            slot.events.push_back(event);
            match event {
                MptcpEvent::Connected { .. } => slot.connected = true,
                MptcpEvent::PeerClosed => slot.eof = true,
                MptcpEvent::Closed => slot.finished = true,
                MptcpEvent::Reset | MptcpEvent::ProtocolError(_) => {
                    slot.finished = true;
                    slot.failure = Some(if slot.connected {
                        (io::ErrorKind::ConnectionReset, "connection reset by peer")
                    } else {
                        (io::ErrorKind::ConnectionRefused, "connection refused")
                    });
                }
                MptcpEvent::TimedOut => {
                    slot.finished = true;
                    slot.failure = Some((
                        io::ErrorKind::TimedOut,
                        "connection timed out: the peer stopped answering",
                    ));
                }
                _ => {}
            }
            let backup_subflow = match event {
                MptcpEvent::SubflowEstablished(sub) => Some(sub),
                _ => None,
            };
            let connected = matches!(event, MptcpEvent::Connected { mptcp: true });
            if (backup_subflow.is_some() || connected) && !self.backup_addrs.is_empty() {
                self.mark_backups(id);
            }
            if connected && let Some(c) = self.endpoint.connection(id) {
                for &(addr_id, addr) in &self.announce {
                    // A refusal (the limit of addresses) is no reason to
                    // fail the connection: it goes on without.
                    let _ = c.announce(addr_id, addr, None);
                }
            }
        }
    }

    /// Subflows from a backup device's address become backups (MP_PRIO).
    fn mark_backups(&mut self, id: ConnectionId) {
        let backups = &self.backup_addrs;
        if let Some(c) = self.endpoint.connection(id) {
            let mark: Vec<_> = c
                .subflows()
                .filter(|s| !s.closed && !s.backup && backups.contains(&s.tuple.local.ip()))
                .map(|s| s.id)
                .collect();
            for sub in mark {
                c.set_backup(sub, true);
            }
        }
    }

    fn serve(&mut self) {
        let MptcpEndpoint {
            endpoint,
            slots,
            listeners,
            scratch,
            done,
            send_low_water,
            ..
        } = self;
        for (&id, slot) in slots.iter_mut() {
            let Some(conn) = endpoint.connection(id) else {
                // The core forgot it: it finished and every event was read.
                slot.finished = true;
                done.push(id);
                continue;
            };
            if let Some(reply) = slot.connect_reply.take() {
                if slot.connected {
                    slot.handle = Handle::Open;
                    let _ = reply.send(Ok(slot.opened(id)));
                } else if slot.finished {
                    slot.handle = Handle::Dropped;
                    let _ = reply.send(Err(slot.error()));
                } else {
                    slot.connect_reply = Some(reply);
                }
            }
            if slot.connected
                && slot.handle == Handle::NotYet
                && let Some(lid) = slot.listener
                && let Some(l) = listeners.values_mut().find(|l| l.id == lid)
                && !l.queue.contains(&id)
            {
                match l.accept_reply.take() {
                    Some(reply) => {
                        l.children = l.children.saturating_sub(1);
                        slot.listener = None;
                        slot.handle = Handle::Open;
                        let _ = reply.send(Ok(slot.opened(id)));
                    }
                    None => l.queue.push_back(id),
                }
            }

            if slot.handle == Handle::Dropped || slot.read_shut {
                while conn.read(scratch) > 0 {}
            } else if let Some((mut buf, reply)) = slot.read.take() {
                if conn.readable() > 0 {
                    let want = buf.capacity().max(1);
                    buf.resize(want, 0);
                    let n = conn.read(&mut buf);
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

            if let Some((data, reply)) = slot.write.take() {
                if slot.finished || slot.write_shut {
                    let err = if slot.failure.is_some() {
                        slot.error()
                    } else {
                        io::Error::new(
                            io::ErrorKind::BrokenPipe,
                            "connection is closed for writing",
                        )
                    };
                    let _ = reply.send(Err(err));
                } else if conn.writable() >= data.len().min(*send_low_water) {
                    let n = conn.write(&data);
                    let _ = reply.send(Ok((n, data)));
                } else {
                    slot.write = Some((data, reply));
                }
            }
            if slot.finished && slot.handle != Handle::Open {
                done.push(id);
            }
        }
        for id in done.drain(..) {
            let Some(slot) = slots.get(&id) else { continue };
            if slot.handle == Handle::Open {
                // The handle still holds it; its requests get the error.
                continue;
            }
            if let Some(lid) = slot.listener
                && let Some(l) = listeners.values_mut().find(|l| l.id == lid)
            {
                l.queue.retain(|&q| q != id);
                l.children = l.children.saturating_sub(1);
            }
            slots.remove(&id);
        }
    }

    /// Whether every connection has finished.
    pub(crate) fn all_closed(&mut self) -> bool {
        let MptcpEndpoint {
            endpoint, slots, ..
        } = self;
        slots.iter().all(|(&id, s)| {
            s.finished
                || endpoint
                    .connection(id)
                    .is_none_or(|c| c.is_closed() || c.initial_subflow().state() == State::TimeWait)
        })
    }

    /// Abort every connection (the stack is stopping).
    pub(crate) fn abort_all(&mut self) {
        let ids: Vec<ConnectionId> = self.slots.keys().copied().collect();
        for id in ids {
            self.with_connection(id, MptcpConnection::abort);
        }
    }
}

/// The source address of a packet we built, read from its IP header
/// (a full parse per packet only to pick the device would be waste).
fn source_of(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => {
            let b: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        6 => {
            let b: [u8; 16] = packet.get(8..24)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        _ => None,
    }
}

/// Both views of a connection.
fn snapshot(c: &MptcpConnection) -> (ConnectionInfo, MptcpInfo) {
    let mptcp = MptcpInfo {
        mptcp: c.is_mptcp(),
        fallback: c.fallback_reason(),
        checksum: c.checksum(),
        subflows: c.subflows().collect(),
        remote_addresses: c.remote_addresses().to_vec(),
    };
    (connection_info(c), mptcp)
}

/// The TCP figures of a connection: its initial subflow's state, RTT and
/// window, with the byte and retransmission counts of all subflows.
fn connection_info(c: &MptcpConnection) -> ConnectionInfo {
    let mut info = info(c.initial_subflow());
    let (mut sent, mut received, mut rtx) = (0, 0, 0);
    for s in c.subflows() {
        sent += s.bytes_sent;
        received += s.bytes_received;
        rtx += s.retransmissions;
    }
    info.bytes_sent = sent;
    info.bytes_received = received;
    info.retransmissions = rtx;
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_address_from_either_header() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[12..16].copy_from_slice(&[10, 9, 0, 2]);
        assert_eq!(source_of(&v4), Some("10.9.0.2".parse().unwrap()));
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[8] = 0xfd;
        v6[23] = 2;
        assert_eq!(source_of(&v6), Some("fd00::2".parse().unwrap()));
        assert_eq!(source_of(&[]), None);
        assert_eq!(source_of(&[0x45, 0]), None);
    }
}
