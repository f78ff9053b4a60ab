//! The endpoint the stack thread runs: `umptcp_proto::Endpoint` (every
//! connection, MPTCP or plain TCP, by four-tuple; joins by token; the
//! path manager) with the state each connection shares with its
//! application handles (`readiness.rs`).
//!
//! One core for both protocols: a plain-TCP connection is an MPTCP
//! connection fallen back from the start, so a stack serves MPTCP and
//! TCP connections side by side, each connect and each listener choosing
//! (the stack's default unless told).
//!
//! It does no I/O and reads no clock: packets, commands and `now` come
//! in; packets leave through the `out` callback (device index, bytes).
//! The core names where each packet goes (`Transmit`): by the device its
//! connection's SYN came in by (a captured connection's only way back),
//! else by the path whose address is its source, so each subflow keeps to
//! its path, else by the route to its destination.
//!
//! - `slot.rs`: what is kept per connection and per listener;
//! - `commands.rs`: the application's requests;
//! - `serve.rs`: events, and the exchange with the handles' shared state.

mod commands;
mod serve;
mod slot;
mod splice;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use umptcp_cc::CcConfig;
use umptcp_proto::path_manager::{AnnounceAlso, BackupFrom};
use umptcp_proto::{
    ConnectionId, Endpoint as Core, EndpointConfig as CoreLimits, Interface, MptcpConfig,
    MptcpConnection, PathManager, PolicyRegistry, Protocol, Routed,
};
use umptcp_tcp::{FastOpenCookie, State, TcpConfig};
use umptcp_time::Instant;
use umptcp_wire::AddrId;
use umptcp_wire::segment::{ChecksumCheck, Segment, TcpFlags};

use crate::command::ListenerId;
use crate::config::{MptcpSettings, PathConfig};
use crate::readiness::Shared;
use crate::route::RouteTable;
use crate::stack_events::Subscriber;
use crate::stats::StackStats;

use slot::{Listener, Slot};

/// Most Fast Open cookies remembered (one per server address).
const MAX_COOKIES: usize = 1024;

/// Most bytes a Fast Open connect may queue before the handshake.
pub(crate) const MAX_FAST_OPEN_DATA: usize = 64 * 1024;

/// What the endpoint is built from.
#[derive(Clone, Debug)]
pub(crate) struct EndpointConfig {
    pub(crate) paths: Vec<PathConfig>,
    /// Which path a connection's first subflow leaves by.
    pub(crate) routes: RouteTable,
    pub(crate) mtus: Vec<u16>,
    /// The protocol of connects and listeners that name none.
    pub(crate) protocol: Protocol,
    /// MPTCP's settings (path manager, scheduler, announcements, backups).
    pub(crate) settings: MptcpSettings,
    /// The TCP configuration of plain-TCP stacks (an MPTCP stack's
    /// subflows take `settings.config.tcp`).
    pub(crate) tcp: TcpConfig,
    pub(crate) congestion_control: String,
    /// Where the policies are looked up by name.
    pub(crate) registry: PolicyRegistry,
    pub(crate) max_connections: usize,
    pub(crate) accept_backlog: usize,
    pub(crate) close_linger: Duration,
}

/// The endpoint of the stack thread.
pub(crate) struct Endpoint {
    core: Core,
    paths: Vec<PathConfig>,
    routes: RouteTable,
    protocol: Protocol,
    /// Our addresses besides the first path's, in address-ID order (ID 1
    /// first), as the path manager was given them.
    extra_local: Vec<IpAddr>,
    /// Addresses announced on every MPTCP connection, with their IDs.
    announce: Vec<(AddrId, IpAddr)>,
    backup_addrs: Vec<IpAddr>,
    /// The scheduler of connections that bring none, by name.
    scheduler: String,
    registry: PolicyRegistry,
    accept_backlog: usize,
    close_linger: Duration,
    slots: BTreeMap<ConnectionId, Slot>,
    /// The connections to serve this round, and those to serve again.
    dirty: Vec<ConnectionId>,
    again: Vec<ConnectionId>,
    /// Listeners by port, and the capture listener with its device.
    listeners: BTreeMap<u16, Listener>,
    capture: Option<(usize, Listener)>,
    next_listener: u64,
    /// Fast Open cookies servers gave us (RFC 7413 §4.1.3: the client
    /// keeps them per server).
    cookies: HashMap<IpAddr, FastOpenCookie>,
    scratch: Vec<u8>,
    done: Vec<ConnectionId>,
    /// Subscribers to every connection's events.
    subscribers: Vec<Subscriber>,
    /// Spliced connections served this round (see `splice.rs`).
    splice_work: Vec<ConnectionId>,
    /// SYNs held for the application (`hold_syns`), by key, with their
    /// listener.
    held_syns: BTreeMap<u64, (umptcp_proto::Incoming, crate::command::ListenerId)>,
    next_held: u64,
    pub(crate) stats: StackStats,
}

impl Endpoint {
    /// An endpoint; `seed` keys the ISNs, the MPTCP keys and the nonces.
    pub(crate) fn new(config: EndpointConfig, seed: u64) -> Result<Self, String> {
        let settings = config.settings;
        if config.paths.is_empty() {
            return Err("at least one path is needed".to_owned());
        }
        let registry = config.registry.clone();
        registry
            .check(
                Some(&settings.path_manager),
                Some(&settings.scheduler),
                Some(&config.congestion_control),
            )
            .map_err(|e| e.to_string())?;
        let pm = registry
            .path_manager(&settings.path_manager)
            .map_err(|e| e.to_string())?;
        let mut backup_addrs = Vec::new();
        for dev in &settings.backup {
            match config.paths.iter().find(|p| &p.device == dev) {
                Some(p) => backup_addrs.push(p.addr),
                None => return Err(format!("backup device {dev} is not one of the paths")),
            }
        }
        let mut core_config: MptcpConfig = settings.config.clone();
        if config.protocol == Protocol::Tcp {
            core_config.tcp = config.tcp.clone();
        }
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
        core_config.tcp.mss = core_config.tcp.mss.min(room.max(64));
        core_config.validate().map_err(|e| e.to_string())?;

        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let core_rng = Box::new(ChaCha8Rng::seed_from_u64(rng.next_u64()));
        let cc_name = config.congestion_control.clone();
        let cc_registry = registry.clone();
        let cc = Box::new(move || {
            cc_registry
                .congestion(&cc_name, &CcConfig::default())
                .expect("checked above")
        });
        let mut limits = CoreLimits::default();
        limits.max_connections = config.max_connections;
        // Each listener's backlog bounds its half-open connections (a SYN
        // beyond it is dropped here, not reset by the core).
        limits.max_half_open = config.max_connections;
        let mut core = Core::new(core_config.clone(), limits, core_rng, cc);
        let mut extra_local = Vec::new();
        let first = config.paths[0].addr;
        for p in &config.paths[1..] {
            if p.addr != first && !extra_local.contains(&p.addr) {
                extra_local.push(p.addr);
                core.add_local_address(p.addr);
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
        core.set_path_manager(layered(pm, &announce, &backup_addrs));
        Ok(Endpoint {
            core,
            paths: config.paths,
            routes: config.routes,
            protocol: config.protocol,
            extra_local,
            announce,
            backup_addrs,
            scheduler: settings.scheduler,
            registry,
            accept_backlog: config.accept_backlog,
            close_linger: config.close_linger,
            slots: BTreeMap::new(),
            dirty: Vec::new(),
            again: Vec::new(),
            listeners: BTreeMap::new(),
            capture: None,
            next_listener: 1,
            cookies: HashMap::new(),
            scratch: vec![0; 65_535],
            done: Vec::new(),
            subscribers: Vec::new(),
            splice_work: Vec::new(),
            held_syns: BTreeMap::new(),
            next_held: 0,
            stats: StackStats::default(),
        })
    }

    /// A connection's own path manager (`ConnectionPolicy`), under the
    /// stack's address policy like the default one.
    fn own_path_manager(&self, pm: Box<dyn PathManager>) -> Box<dyn PathManager> {
        layered(pm, &self.announce, &self.backup_addrs)
    }

    /// Whether `addr` is one of the stack's own addresses.
    fn is_ours(&self, addr: IpAddr) -> bool {
        self.paths.iter().any(|p| p.addr == addr) || self.announce.iter().any(|(_, a)| *a == addr)
    }

    /// The device a packet from `src` to `dst` leaves by when its
    /// connection names none: the path of its source address, else the
    /// route to its destination.
    fn device_of(&self, src: IpAddr, dst: IpAddr) -> usize {
        self.paths
            .iter()
            .position(|p| p.addr == src)
            .or_else(|| self.routes.lookup(dst))
            .unwrap_or(0)
    }

    // ------------------------------------------------------------ packets

    /// Handle one IP packet that arrived on device `device`. Packets to
    /// addresses not ours are ignored, unless a capture listener takes
    /// that device.
    pub(crate) fn handle_packet(&mut self, now: Instant, device: usize, packet: &[u8]) {
        let Ok(segment) = Segment::parse(packet, ChecksumCheck::Verify) else {
            self.stats.packets_ignored += 1;
            return;
        };
        let captured = self.capture.as_ref().is_some_and(|(d, _)| *d == device);
        if !captured && !self.is_ours(segment.dst()) {
            self.stats.packets_ignored += 1;
            return;
        }
        let interface = u32::try_from(device).ok().map(Interface);
        match self.core.handle_segment_from(now, interface, &segment) {
            Routed::Incoming(incoming) => self.admit(now, incoming, captured),
            Routed::Refused if !segment.flags().contains(TcpFlags::RST) => {
                self.stats.resets_sent += 1;
            }
            _ => {}
        }
    }

    /// A SYN a listener took: accepted with the listener's policies while
    /// its backlog has room, else refused with a reset.
    fn admit(&mut self, now: Instant, incoming: umptcp_proto::Incoming, captured: bool) {
        let tuple = incoming.four_tuple();
        let ours = self.is_ours(tuple.local.ip());
        let listener = match incoming.listener() {
            // A SYN by the capture device to an address not ours is the
            // capture listener's, whatever port it names.
            _ if captured && !ours => self.capture.as_mut().map(|(_, l)| l),
            umptcp_proto::Listen::Port(port) => self.listeners.get_mut(&port),
            umptcp_proto::Listen::Any if captured => self.capture.as_mut().map(|(_, l)| l),
            _ => None,
        };
        let Some(l) = listener else {
            self.stats.resets_sent += 1;
            self.core.refuse_incoming(incoming);
            return;
        };
        if l.children + l.queue.len() + l.held >= self.accept_backlog {
            // A full backlog drops the SYN, as Linux does: the client
            // tries again later.
            self.core.ignore_incoming(incoming);
            return;
        }
        if let Some(hold) = &l.hold {
            // The application decides (`held_syn.rs`); the core keeps
            // the SYN's place and drops its retransmissions meanwhile.
            let key = self.next_held;
            self.next_held += 1;
            l.held += 1;
            hold.push(crate::held_syn::HeldSyn {
                key,
                local: tuple.local,
                remote: tuple.remote,
                offers_mptcp: incoming.offers_mptcp(),
                payload: incoming.payload().to_vec(),
                tcp_options: incoming.tcp_options().to_vec(),
            });
            self.held_syns.insert(key, (incoming, l.id));
            return;
        }
        let (lid, options, policy) = (l.id, l.options, l.policy.clone());
        if let Some(id) = self.accept_with(now, incoming, options, policy.as_ref()) {
            if let Some(l) = self.listener_mut(lid) {
                l.children += 1;
            }
            let shared = Shared::unclaimed();
            shared.lock().id = Some(id);
            self.slots.insert(id, Slot::new(tuple, Some(lid), shared));
        }
    }

    /// Build the connection of an accepted SYN with its listener's
    /// policies (the stack's where it has none).
    fn accept_with(
        &mut self,
        now: Instant,
        mut incoming: umptcp_proto::Incoming,
        options: umptcp_proto::ListenOptions,
        policy: Option<&umptcp_proto::PolicyFactory>,
    ) -> Option<ConnectionId> {
        let mut policy = policy
            .map(umptcp_proto::PolicyFactory::build)
            .unwrap_or_default();
        if policy.scheduler.is_none() {
            policy.scheduler = self.registry.scheduler(&self.scheduler).ok();
        }
        policy.path_manager = policy
            .path_manager
            .map(|pm| layered(pm, &self.announce, &self.backup_addrs));
        incoming.set_options(options);
        match self.core.accept_incoming_with(now, incoming, policy) {
            Ok(id) => {
                self.stats.connections += 1;
                Some(id)
            }
            Err(_) => {
                self.stats.resets_sent += 1;
                None
            }
        }
    }

    /// The listener with this id (by port, or the capture one).
    fn listener_mut(&mut self, id: crate::command::ListenerId) -> Option<&mut Listener> {
        if let Some((_, l)) = self.capture.as_mut().filter(|(_, l)| l.id == id) {
            return Some(l);
        }
        self.listeners.values_mut().find(|l| l.id == id)
    }

    /// The application decided on held SYN `key`.
    pub(super) fn decide_syn(
        &mut self,
        now: Instant,
        key: u64,
        decision: crate::held_syn::SynDecision,
    ) {
        use crate::held_syn::SynDecision;
        let Some((incoming, lid)) = self.held_syns.remove(&key) else {
            if let SynDecision::Accept(shared) = decision {
                // The listener closed meanwhile.
                shared.lock().failure = Some((
                    std::io::ErrorKind::ConnectionAborted,
                    "the listener closed before the SYN was accepted".to_owned(),
                ));
                shared.set_gone();
            }
            return;
        };
        let Some(l) = self.listener_mut(lid) else {
            return;
        };
        l.held -= 1;
        let (options, policy) = (l.options, l.policy.clone());
        match decision {
            SynDecision::Ignore => self.core.ignore_incoming(incoming),
            SynDecision::Refuse => {
                self.stats.resets_sent += 1;
                self.core.refuse_incoming(incoming);
            }
            SynDecision::Accept(shared) => {
                let tuple = incoming.four_tuple();
                match self.accept_with(now, incoming, options, policy.as_ref()) {
                    Some(id) => {
                        shared.lock().id = Some(id);
                        self.slots.insert(id, Slot::new(tuple, None, shared));
                        self.mark_dirty(id);
                    }
                    None => {
                        shared.lock().failure = Some((
                            std::io::ErrorKind::ConnectionRefused,
                            "the SYN could not be accepted (a limit, or its contents)".to_owned(),
                        ));
                        shared.set_gone();
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------- timers

    /// The earliest time something is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let linger = self.slots.values().filter_map(|s| s.linger_deadline).min();
        [self.core.poll_timeout(), linger]
            .into_iter()
            .flatten()
            .min()
    }

    /// Run the timers due at `now`.
    pub(crate) fn handle_timeouts(&mut self, now: Instant) {
        if self.core.poll_timeout().is_some_and(|t| t <= now) {
            self.core.handle_timeout(now);
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
            self.serve(now);
            while let Some(t) = self.core.poll_transmit(now, &mut self.scratch) {
                let device = t
                    .interface
                    .map_or_else(|| self.device_of(t.src.ip(), t.dst.ip()), |i| i.0 as usize);
                out(device, &self.scratch[..t.len]);
            }
        }
    }

    fn with_connection(&mut self, id: ConnectionId, f: impl FnOnce(&mut MptcpConnection)) {
        if let Some(c) = self.core.connection(id) {
            f(c);
        }
    }

    /// Whether every connection has finished.
    pub(crate) fn all_closed(&mut self) -> bool {
        let Endpoint { core, slots, .. } = self;
        slots.iter().all(|(&id, s)| {
            s.finished
                || core
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

    /// Connections the driver holds (tests).
    #[cfg(test)]
    fn live(&self) -> usize {
        self.slots.len()
    }

    fn new_listener_id(&mut self) -> ListenerId {
        let id = ListenerId(self.next_listener);
        self.next_listener += 1;
        id
    }

    /// Remember the cookie a server gave (one per server; when full, one
    /// is forgotten: a forgotten peer just asks again).
    fn remember_cookie(&mut self, ip: IpAddr, cookie: FastOpenCookie) {
        if self.cookies.len() >= MAX_COOKIES
            && !self.cookies.contains_key(&ip)
            && let Some(old) = self.cookies.keys().next().copied()
        {
            self.cookies.remove(&old);
        }
        self.cookies.insert(ip, cookie);
    }
}

impl Drop for Endpoint {
    /// The stack stopped (or its thread panicked): every handle waiting
    /// learns that nothing more comes.
    fn drop(&mut self) {
        for slot in self.slots.values() {
            slot.shared.set_gone();
        }
        for l in self
            .listeners
            .values()
            .chain(self.capture.as_ref().map(|(_, l)| l))
        {
            l.queue.close();
        }
    }
}

/// The local address a connect binds: `local` if given (port 0 lets the
/// core choose one), else the address of the path the route picks.
fn local_for(paths: &[PathConfig], device: usize, local: Option<SocketAddr>) -> SocketAddr {
    local.unwrap_or_else(|| SocketAddr::new(paths[device].addr, 0))
}

/// `pm` under the stack's address policy, which holds whatever path
/// manager a connection has: `announce` addresses are announced on every
/// MPTCP connection (`MptcpSettings::announce`), and subflows from
/// `backups` (the backup devices' addresses) are backups.
fn layered(
    pm: Box<dyn PathManager>,
    announce: &[(AddrId, IpAddr)],
    backups: &[IpAddr],
) -> Box<dyn PathManager> {
    let pm: Box<dyn PathManager> = if announce.is_empty() {
        pm
    } else {
        Box::new(AnnounceAlso {
            inner: pm,
            addresses: announce.to_vec(),
        })
    };
    if backups.is_empty() {
        pm
    } else {
        Box::new(BackupFrom {
            inner: pm,
            addresses: backups.to_vec(),
        })
    }
}
