//! The endpoint: every MPTCP connection of one host, and the segments that
//! belong to none of them yet.
//!
//! Incoming segments go to a subflow by four-tuple. A SYN that no subflow
//! owns is a new connection if a listener takes it (with MP_CAPABLE, or
//! plain TCP without; see [`Listen`] for which), or a new subflow if it
//! carries MP_JOIN: the token names the connection (RFC 8684 §3.2). Every
//! key the endpoint draws has a token no other connection here uses, so a
//! token names one connection only. A listener either accepts its SYNs
//! itself or hands each to the application as an [`Incoming`] first
//! ([`Admission`]); both pass the same backlog limits (`admit_syn`).
//!
//! Sans-I/O like the connections: the caller passes segments, `now`, and
//! the random number generator the keys, nonces and ISN secret come from.

mod activity;
mod incoming;
mod listen;
mod open;

pub use incoming::{AcceptError, Incoming};
pub use listen::{Admission, Listen};
pub use open::{ConnectOptions, Interface, ListenOptions, Protocol, Transmit};

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Weak;

use rand_core::RngCore;
use umptcp_cc::CongestionControl;
use umptcp_crypto::{generate_key, generate_nonce, token};
use umptcp_tcp::{FourTuple, IsnKey, State};
use umptcp_time::Instant;
use umptcp_wire::mptcp::{MpJoin, MpTcpRst, MptcpOption, TcpRstReason};
use umptcp_wire::segment::{SegmentBuilder, TcpFlags};
use umptcp_wire::{AddrId, Key, Segment, TcpOption, Token};

use crate::config::MptcpConfig;
use crate::connection::{ConnectError, MptcpConnection, SubflowStats};
use crate::event::MptcpEvent;
use crate::join_backoff::JoinBackoff;
use crate::path_manager::{Manual, PathManager, PmAction, PmView};
use crate::policy::{ConnectionPolicy, PolicyFactory};
use crate::trace;
use activity::Activity;
use listen::Listeners;

/// Local ports of the connections and subflows this host opens: Linux's
/// default `ip_local_port_range` (32768 to 60999). One allocator for
/// both, so no two ever pick the same four-tuple; it starts at a random
/// port and goes up from there.
const EPHEMERAL_PORTS: std::ops::Range<u16> = 32768..61000;

pub use crate::id::ConnectionId;

/// The endpoint's own limits, each with a documented default.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// Connections at once, half-open ones included; a SYN beyond it is
    /// refused with a reset. Default 1024.
    pub max_connections: usize,
    /// Resets queued for segments nobody owns; more are not sent (a flood
    /// of stray segments cannot grow memory). Default 64.
    pub max_pending_resets: usize,
    /// Connections opened by a peer's SYN whose handshake has not
    /// completed, and [`Incoming`]s not yet decided (the backlog); a SYN
    /// beyond it is refused with a reset.
    /// A connection takes its buffers only with its first byte, so a
    /// half-open one costs its state alone; this bounds how many a SYN
    /// flood can hold. Default 64.
    pub max_half_open: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            max_connections: 1024,
            max_pending_resets: 64,
            max_half_open: 64,
        }
    }
}

/// What the endpoint did with a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Routed {
    /// A subflow of this connection took it.
    Connection(ConnectionId),
    /// It opened a new connection (see [`Endpoint::accept`]).
    Accepted(ConnectionId),
    /// It opened a new subflow of this connection (MP_JOIN).
    Joined(ConnectionId),
    /// A SYN for an [`Admission::Ask`] listener: nothing is built until the
    /// application decides.
    Incoming(Incoming),
    /// A retransmitted SYN of an [`Incoming`] still undecided: dropped.
    Pending,
    /// Nobody owns it; a reset answers it if it was not one.
    Refused,
}

/// Every MPTCP connection of one host.
pub struct Endpoint {
    config: MptcpConfig,
    limits: EndpointConfig,
    rng: Box<dyn RngCore + Send>,
    isn_key: IsnKey,
    cc: Box<dyn FnMut() -> Box<dyn CongestionControl> + Send>,
    // Ordered maps: iteration order (timers, transmission) is the same on
    // every run, and no hasher seeded from the OS is needed.
    /// What each listener takes and how.
    listeners: Listeners,
    /// Incomings handed out, by (local, remote): alive while their
    /// `Incoming` is (bounded by `max_half_open`).
    pending: BTreeMap<(SocketAddr, SocketAddr), Weak<()>>,
    connections: BTreeMap<ConnectionId, MptcpConnection>,
    /// Subflows by (local, remote) address.
    by_tuple: BTreeMap<(SocketAddr, SocketAddr), ConnectionId>,
    by_token: BTreeMap<Token, ConnectionId>,
    next_id: u64,
    accept_queue: VecDeque<ConnectionId>,
    /// Resets to send, as finished packets, and where each goes.
    resets: VecDeque<(Vec<u8>, Transmit)>,
    /// The connections that may have work, and the timers of the rest.
    activity: Activity,
    pm: Box<dyn PathManager>,
    /// Connections with a path manager of their own.
    own_pm: BTreeMap<ConnectionId, Box<dyn PathManager>>,
    /// The host's addresses besides each connection's initial one.
    extra_local: Vec<IpAddr>,
    /// The next local port to try for a subflow the path manager opens.
    next_port: u16,
    pm_actions: Vec<PmAction>,
    pm_subflows: Vec<SubflowStats>,
    /// Joins that failed, per address pair, and the opens held back
    /// until the pair's retry delay is over.
    join_backoff: JoinBackoff,
    /// The held opens that came due, to run (reused).
    due_opens: Vec<(ConnectionId, PmAction)>,
    /// Scratch of `handle_timeout`: the connections it looks at.
    due_timers: Vec<ConnectionId>,
    /// The latest `now` the caller gave (events carry none).
    last_now: Instant,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("connections", &self.connections.len())
            .field("listeners", &self.listeners.keys())
            .field("pending_incoming", &self.pending_incoming())
            .field("pending_resets", &self.resets.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint whose connections use `config` and a congestion
    /// controller from `cc`; keys, nonces and the ISN secret come from
    /// `rng`.
    pub fn new(
        config: MptcpConfig,
        limits: EndpointConfig,
        mut rng: Box<dyn RngCore + Send>,
        cc: Box<dyn FnMut() -> Box<dyn CongestionControl> + Send>,
    ) -> Self {
        let isn_key = IsnKey::random(&mut *rng);
        // RFC 6056 §3.3.2: start the search at a random point of the
        // range, so an off-path attacker cannot guess our ports.
        let span = u32::from(EPHEMERAL_PORTS.end - EPHEMERAL_PORTS.start);
        let next_port = EPHEMERAL_PORTS.start + (rng.next_u32() % span) as u16;
        Endpoint {
            config,
            limits,
            rng,
            isn_key,
            cc,
            listeners: Listeners::default(),
            pending: BTreeMap::new(),
            connections: BTreeMap::new(),
            by_tuple: BTreeMap::new(),
            by_token: BTreeMap::new(),
            next_id: 0,
            accept_queue: VecDeque::new(),
            resets: VecDeque::new(),
            activity: Activity::default(),
            pm: Box::new(Manual),
            own_pm: BTreeMap::new(),
            extra_local: Vec::new(),
            next_port,
            pm_actions: Vec::new(),
            pm_subflows: Vec::new(),
            join_backoff: JoinBackoff::default(),
            due_opens: Vec::new(),
            due_timers: Vec::new(),
            last_now: Instant::ZERO,
        }
    }

    /// Use `pm` to open subflows and announce addresses (default
    /// [`Manual`]: the application does it).
    pub fn set_path_manager(&mut self, pm: Box<dyn PathManager>) {
        self.pm = pm;
    }

    /// One more address of this host for the path manager to use or
    /// announce (IDs follow the order: the first added is ID 1).
    pub fn add_local_address(&mut self, addr: IpAddr) {
        if !self.extra_local.contains(&addr) {
            self.extra_local.push(addr);
        }
    }

    /// Accept connections to `addr`, with the endpoint's policies.
    pub fn listen(&mut self, addr: SocketAddr) {
        self.listen_on(Listen::Addr(addr), Admission::Accept(None));
    }

    /// Accept connections to `addr`, each with a policy from `policies`
    /// (built when its SYN arrives).
    pub fn listen_with(&mut self, addr: SocketAddr, policies: PolicyFactory) {
        self.listen_on(Listen::Addr(addr), Admission::Accept(Some(policies)));
    }

    /// Take the SYNs `listen` matches, as `admission` says (replacing the
    /// listener of the same pattern, if any).
    pub fn listen_on(&mut self, listen: Listen, admission: Admission) {
        self.listen_on_with(listen, admission, ListenOptions::default());
    }

    /// [`Endpoint::listen_on`] answering as `options` say (plain TCP,
    /// TCP Fast Open).
    pub fn listen_on_with(&mut self, listen: Listen, admission: Admission, options: ListenOptions) {
        self.listeners.insert(listen, admission, options);
    }

    /// Stop listening on `listen`; whether there was such a listener.
    /// Connections it accepted, and its undecided [`Incoming`]s, stay.
    pub fn unlisten(&mut self, listen: Listen) -> bool {
        self.listeners.remove(listen)
    }

    /// Give connection `id` the parts of `policy` that are set; the
    /// congestion controller was given at its creation.
    fn adopt(&mut self, id: ConnectionId, policy: ConnectionPolicy) {
        self.activity.touch(id);
        if let Some(scheduler) = policy.scheduler
            && let Some(conn) = self.connections.get_mut(&id)
        {
            conn.set_scheduler(scheduler);
        }
        if let Some(pm) = policy.path_manager {
            self.own_pm.insert(id, pm);
        }
    }

    /// A key whose token no connection here uses (§3.2: the token must
    /// name one connection; on a local collision, draw again).
    fn unique_key(&mut self) -> Key {
        loop {
            let key = generate_key(&mut *self.rng);
            if !self.by_token.contains_key(&token(key)) {
                return key;
            }
        }
    }

    fn add(&mut self, conn: MptcpConnection, tuple: FourTuple) -> ConnectionId {
        let id = ConnectionId(self.next_id);
        self.next_id += 1;
        if conn.fallback_reason().is_none() {
            // Plain from the start: no key went out, no join can name it.
            self.by_token.insert(token(conn.local_key()), id);
        }
        self.by_tuple.insert((tuple.local, tuple.remote), id);
        self.connections.insert(id, conn);
        self.activity.touch(id);
        id
    }

    /// Open a connection over `tuple`.
    ///
    /// # Errors
    ///
    /// [`ConnectError`] from the connection, or
    /// [`ConnectError::Limit`] past `max_connections`.
    pub fn connect(
        &mut self,
        now: Instant,
        tuple: FourTuple,
    ) -> Result<ConnectionId, ConnectError> {
        self.connect_with(now, tuple, ConnectionPolicy::default())
    }

    /// [`Endpoint::connect`] with policies of its own in place of the
    /// endpoint's.
    ///
    /// # Errors
    ///
    /// As [`Endpoint::connect`].
    pub fn connect_with(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        policy: ConnectionPolicy,
    ) -> Result<ConnectionId, ConnectError> {
        self.open(
            now,
            tuple,
            ConnectOptions {
                policy,
                ..ConnectOptions::default()
            },
        )
    }

    /// Open a connection over `tuple` as `options` say (MPTCP or plain
    /// TCP, Fast Open, policies). A local port of 0 is chosen here, one
    /// no connection or subflow of this host uses towards the peer.
    ///
    /// # Errors
    ///
    /// As [`Endpoint::connect`].
    pub fn open(
        &mut self,
        now: Instant,
        mut tuple: FourTuple,
        options: ConnectOptions,
    ) -> Result<ConnectionId, ConnectError> {
        self.last_now = now;
        if self.connections.len() >= self.limits.max_connections {
            return Err(ConnectError::Limit);
        }
        let ConnectOptions {
            protocol,
            fast_open,
            syn_data_without_cookie,
            mut policy,
        } = options;
        if tuple.local.port() == 0 {
            tuple.local = self.free_port(tuple.local.ip(), tuple.remote);
        } else if self.by_tuple.contains_key(&(tuple.local, tuple.remote)) {
            // Two connections on one four-tuple would share its segments.
            return Err(ConnectError::TupleInUse);
        }
        let cc = policy
            .congestion_control
            .take()
            .unwrap_or_else(|| (self.cc)());
        let conn = match protocol {
            Protocol::Mptcp => {
                let key = self.unique_key();
                match fast_open {
                    None if syn_data_without_cookie => MptcpConnection::connect_with_syn_data(
                        self.config.clone(),
                        tuple,
                        self.isn_key.clone(),
                        key,
                        cc,
                        now,
                    )?,
                    Some(cookie) => MptcpConnection::connect_fast_open(
                        self.config.clone(),
                        tuple,
                        self.isn_key.clone(),
                        key,
                        cookie,
                        cc,
                        now,
                    )?,
                    None => MptcpConnection::connect(
                        self.config.clone(),
                        tuple,
                        self.isn_key.clone(),
                        key,
                        cc,
                        now,
                    )?,
                }
            }
            Protocol::Tcp if fast_open.is_none() && syn_data_without_cookie => {
                MptcpConnection::connect_tcp_with_syn_data(
                    self.config.clone(),
                    tuple,
                    self.isn_key.clone(),
                    cc,
                    now,
                )?
            }
            Protocol::Tcp => MptcpConnection::connect_tcp(
                self.config.clone(),
                tuple,
                self.isn_key.clone(),
                fast_open,
                cc,
                now,
            )?,
        };
        let id = self.add(conn, tuple);
        self.adopt(id, policy);
        Ok(id)
    }

    /// The next connection opened by a peer.
    pub fn accept(&mut self) -> Option<ConnectionId> {
        self.accept_queue.pop_front()
    }

    /// A connection by its handle (to read, write, or steer it; it is
    /// polled again afterwards).
    pub fn connection(&mut self, id: ConnectionId) -> Option<&mut MptcpConnection> {
        let conn = self.connections.get_mut(&id)?;
        self.activity.touch(id);
        Some(conn)
    }

    /// Connections alive.
    pub fn len(&self) -> usize {
        self.connections.len()
    }

    /// Whether no connection is alive.
    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }

    /// Forget the four-tuples of connection `id`'s closed subflows (the
    /// connection forgets them when it needs their place), so that
    /// subflows opened and closed again and again cannot grow the table.
    fn prune_tuples(&mut self, id: ConnectionId) {
        let Some(conn) = self.connections.get(&id) else {
            return;
        };
        self.by_tuple.retain(|(local, remote), owner| {
            *owner != id
                || conn
                    .subflows()
                    .any(|s| s.tuple.local == *local && s.tuple.remote == *remote)
        });
    }

    /// Open a new subflow of connection `id` over `tuple` (MP_JOIN), with
    /// a fresh nonce. A local port of 0 is chosen here.
    ///
    /// # Errors
    ///
    /// [`crate::SubflowError`] from the connection; an unknown `id` is
    /// [`crate::SubflowError::NotMptcp`].
    pub fn open_subflow(
        &mut self,
        now: Instant,
        id: ConnectionId,
        mut tuple: FourTuple,
        local_id: AddrId,
        backup: bool,
    ) -> Result<crate::SubflowId, crate::SubflowError> {
        if tuple.local.port() == 0 {
            tuple.local = self.free_port(tuple.local.ip(), tuple.remote);
        } else if self.by_tuple.contains_key(&(tuple.local, tuple.remote)) {
            return Err(crate::SubflowError::Duplicate);
        }
        let nonce = generate_nonce(&mut *self.rng);
        let conn = self
            .connections
            .get_mut(&id)
            .ok_or(crate::SubflowError::NotMptcp)?;
        self.activity.touch(id);
        let sub = conn.open_subflow(now, tuple, self.isn_key.clone(), nonce, local_id, backup)?;
        self.prune_tuples(id);
        self.by_tuple.insert((tuple.local, tuple.remote), id);
        Ok(sub)
    }

    /// Take one incoming segment, by an interface the caller does not
    /// name (replies follow the routes).
    pub fn handle_segment(&mut self, now: Instant, segment: &Segment<'_>) -> Routed {
        self.handle_segment_from(now, None, segment)
    }

    /// Take one incoming segment that arrived by `interface`: connections
    /// and subflows its SYN opens send by it, and so does a reset for it.
    pub fn handle_segment_from(
        &mut self,
        now: Instant,
        interface: Option<Interface>,
        segment: &Segment<'_>,
    ) -> Routed {
        self.last_now = now;
        let tuple = segment.four_tuple();
        if let Some(&id) = self.by_tuple.get(&(tuple.local, tuple.remote))
            && let Some(conn) = self.connections.get_mut(&id)
        {
            // Taken or not, the connection may have changed (a segment it
            // refuses can still be answered by it).
            self.activity.touch(id);
            if conn.handle_segment(now, segment) {
                return Routed::Connection(id);
            }
        }
        let flags = segment.flags();
        if flags & (TcpFlags::SYN | TcpFlags::ACK | TcpFlags::RST) != TcpFlags::SYN {
            self.refuse(segment, None, interface);
            return Routed::Refused;
        }
        let join = segment.options().flatten().find_map(|o| match o {
            TcpOption::Mptcp(MptcpOption::MpJoin(j @ MpJoin::Syn { .. })) => Some(j),
            _ => None,
        });
        match join {
            Some(MpJoin::Syn { token, .. }) => {
                self.on_join_syn(now, segment, tuple, token, interface)
            }
            _ => self.on_syn(now, segment, tuple, interface),
        }
    }

    fn on_join_syn(
        &mut self,
        now: Instant,
        segment: &Segment<'_>,
        tuple: FourTuple,
        token: Token,
        interface: Option<Interface>,
    ) -> Routed {
        let Some(&id) = self.by_token.get(&token) else {
            // §3.2: an unknown token is refused with a reset.
            self.refuse(segment, Some(TcpRstReason::MptcpSpecific), interface);
            return Routed::Refused;
        };
        let nonce = generate_nonce(&mut *self.rng);
        let local_id = AddrId(0);
        let conn = self
            .connections
            .get_mut(&id)
            .expect("tokens name live connections");
        self.activity.touch(id);
        match conn.accept_join(now, segment, self.isn_key.clone(), nonce, local_id) {
            Ok(sub) => {
                conn.set_interface(sub, interface);
                self.prune_tuples(id);
                self.by_tuple.insert((tuple.local, tuple.remote), id);
                Routed::Joined(id)
            }
            Err(e) => {
                self.refuse(segment, Some(e.reset_reason()), interface);
                Routed::Refused
            }
        }
    }

    fn on_syn(
        &mut self,
        now: Instant,
        segment: &Segment<'_>,
        tuple: FourTuple,
        interface: Option<Interface>,
    ) -> Routed {
        let key = (tuple.local, tuple.remote);
        if self.pending.get(&key).is_some_and(|w| w.strong_count() > 0) {
            // The peer sent its SYN again; the application has the first.
            return Routed::Pending;
        }
        let Some((listen, listening)) = self.listeners.lookup(tuple.local) else {
            self.refuse(segment, None, interface);
            return Routed::Refused;
        };
        let admission = listening.admission.clone();
        let options = listening.options;
        if !self.admit_syn() {
            self.refuse(segment, None, interface);
            return Routed::Refused;
        }
        match admission {
            Admission::Ask => {
                let (incoming, live) =
                    Incoming::new(listen, options, interface, tuple, segment, now);
                self.pending.insert(key, live);
                Routed::Incoming(incoming)
            }
            Admission::Accept(policies) => {
                let policy = policies
                    .as_ref()
                    .map(PolicyFactory::build)
                    .unwrap_or_default();
                match self.build_accepted(now, segment, tuple, policy, options, interface) {
                    Ok(id) => {
                        self.accept_queue.push_back(id);
                        Routed::Accepted(id)
                    }
                    Err(_) => {
                        self.refuse(segment, None, interface);
                        Routed::Refused
                    }
                }
            }
        }
    }

    /// Whether one more SYN fits the backlog limits: connections and
    /// undecided [`Incoming`]s together within `max_connections`, and
    /// handshakes in progress with them within `max_half_open`. The one
    /// place either kind of listener is bounded.
    fn admit_syn(&mut self) -> bool {
        self.pending.retain(|_, w| w.strong_count() > 0);
        let pending = self.pending.len();
        let half_open = self
            .connections
            .values()
            .filter(|c| c.initial_subflow().state() == State::SynReceived)
            .count();
        self.connections.len() + pending < self.limits.max_connections
            && half_open + pending < self.limits.max_half_open
    }

    /// Build the connection a SYN opens.
    fn build_accepted(
        &mut self,
        now: Instant,
        segment: &Segment<'_>,
        tuple: FourTuple,
        mut policy: ConnectionPolicy,
        options: ListenOptions,
        interface: Option<Interface>,
    ) -> Result<ConnectionId, ConnectError> {
        let cc = policy
            .congestion_control
            .take()
            .unwrap_or_else(|| (self.cc)());
        let mut config = self.config.clone();
        config.tcp.fast_open |= options.fast_open;
        config.tcp.syn_data_without_cookie |= options.fast_open && options.syn_data_without_cookie;
        let mut conn = match options.protocol {
            Protocol::Mptcp => {
                let key = self.unique_key();
                MptcpConnection::accept(config, segment, self.isn_key.clone(), key, cc, now)?
            }
            Protocol::Tcp => {
                MptcpConnection::accept_tcp(config, segment, self.isn_key.clone(), cc, now)?
            }
        };
        conn.set_interface(crate::SubflowId(0), interface);
        let id = self.add(conn, tuple);
        self.adopt(id, policy);
        Ok(id)
    }

    /// Queue a reset for a segment nobody takes (RFC 9293 §3.10.7.1),
    /// with MP_TCPRST `reason` if given. A reset is never answered.
    fn refuse(
        &mut self,
        segment: &Segment<'_>,
        reason: Option<TcpRstReason>,
        interface: Option<Interface>,
    ) {
        let flags = segment.flags();
        if flags.contains(TcpFlags::RST) || self.resets.len() >= self.limits.max_pending_resets {
            return;
        }
        trace::log_event!(
            tracing::Level::DEBUG,
            from = %SocketAddr::new(segment.src(), segment.src_port()),
            to = %SocketAddr::new(segment.dst(), segment.dst_port()),
            ?reason,
            "segment refused with a reset",
        );
        let mut b = SegmentBuilder::new(
            SocketAddr::new(segment.dst(), segment.dst_port()),
            SocketAddr::new(segment.src(), segment.src_port()),
        );
        if flags.contains(TcpFlags::ACK) {
            b.seq = segment.ack();
            b.flags = TcpFlags::RST;
        } else {
            b.ack = segment.seq().wrapping_add(segment.seq_len() as u32);
            b.flags = TcpFlags::RST | TcpFlags::ACK;
        }
        b.mptcp = reason.map(|reason| MptcpOption::MpTcpRst(MpTcpRst { flags: 0, reason }));
        let mut packet = vec![0; b.buffer_len_max()];
        if let Ok(emitted) = b.emit(&mut packet) {
            packet.truncate(emitted.len);
            let transmit = Transmit {
                len: emitted.len,
                src: SocketAddr::new(segment.dst(), segment.dst_port()),
                dst: SocketAddr::new(segment.src(), segment.src_port()),
                interface,
            };
            self.resets.push_back((packet, transmit));
        }
    }

    /// The next packet to send, into `buf` (a reset longer than `buf` is
    /// cut: give room for one MTU), and where it goes: resets first, then
    /// each connection in turn.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.last_now = now;
        if let Some((packet, transmit)) = self.resets.pop_front() {
            let n = packet.len().min(buf.len());
            buf[..n].copy_from_slice(&packet[..n]);
            return Some(Transmit { len: n, ..transmit });
        }
        // Each ready connection once, in the order it became ready; one
        // that sent goes to the back (fair among the busy ones).
        for _ in 0..self.activity.ready_len() {
            let Some(id) = self.activity.pop_ready() else {
                break;
            };
            let Some(conn) = self.connections.get_mut(&id) else {
                self.activity.forget(id);
                continue;
            };
            if let Some(transmit) = conn.poll_transmit(now, buf) {
                self.activity.touch(id);
                return Some(transmit);
            }
            // Quiet: asleep until its timer, unless events wait to be read.
            let timer = conn.poll_timeout();
            if conn.has_events() {
                self.activity.touch(id);
            } else if conn.is_closed() && timer.is_none() {
                self.remove(id);
                continue;
            }
            self.activity.file_timer(id, timer);
        }
        None
    }

    /// The next event of any connection. The path manager sees each one
    /// first, and what it asks for is done before this returns.
    pub fn poll_event(&mut self) -> Option<(ConnectionId, MptcpEvent)> {
        // Only a ready connection can have an event: one gets them from
        // an input, a timer or a call, each of which makes it ready.
        let connections = &mut self.connections;
        let (id, event) = self.activity.ready().find_map(|id| {
            connections
                .get_mut(&id)
                .and_then(|c| c.poll_event())
                .map(|e| (id, e))
        })?;
        self.run_path_manager(id, &event);
        Some((id, event))
    }

    fn run_path_manager(&mut self, id: ConnectionId, event: &MptcpEvent) {
        let Some(conn) = self.connections.get(&id) else {
            return;
        };
        self.pm_subflows.clear();
        self.pm_subflows.extend(conn.subflows());
        let now = self.last_now;
        self.join_backoff
            .on_event(id, event, &self.pm_subflows, now);
        let Some(initial) = self.pm_subflows.first().map(|s| s.tuple) else {
            return;
        };
        let view = PmView {
            role: conn.role(),
            initial_local: initial.local,
            initial_remote: initial.remote,
            extra_local: &self.extra_local,
            subflows: &self.pm_subflows,
            remote: conn.remote_addresses(),
            closing: conn.is_closing(),
        };
        self.pm_actions.clear();
        let pm = self.own_pm.get_mut(&id).unwrap_or(&mut self.pm);
        pm.on_event(&view, event, &mut self.pm_actions);
        // A failed action (a limit, a refused address) is not an error of
        // the connection: the policy tries again on a later event.
        for k in 0..self.pm_actions.len() {
            let action = self.pm_actions[k];
            if let PmAction::Open { local, remote, .. } = action
                && self.join_backoff.hold(id, local.ip(), remote, action, now)
            {
                continue;
            }
            self.perform(id, action, now);
        }
    }

    /// Do what a path manager asked for connection `id`.
    fn perform(&mut self, id: ConnectionId, action: PmAction, now: Instant) {
        if let Some(conn) = self.connections.get(&id) {
            conn.log_pm_action(&action);
        }
        match action {
            PmAction::Open {
                local,
                remote,
                local_id,
                backup,
            } => {
                let _ = self.open_subflow(now, id, FourTuple { local, remote }, local_id, backup);
            }
            PmAction::Announce { id: addr_id, addr } => {
                self.activity.touch(id);
                if let Some(conn) = self.connections.get_mut(&id) {
                    let _ = conn.announce(addr_id, addr, None);
                }
            }
            PmAction::SetBackup { subflow, backup } => {
                self.activity.touch(id);
                if let Some(conn) = self.connections.get_mut(&id) {
                    conn.set_backup(subflow, backup);
                }
            }
        }
    }

    /// Run the opens held back by [`JoinBackoff`] that are due at `now`,
    /// unless the connection is closing or has a live subflow over the
    /// pair by now.
    fn run_due_opens(&mut self, now: Instant) {
        self.join_backoff.take_due(now, &mut self.due_opens);
        let mut due = std::mem::take(&mut self.due_opens);
        for (id, action) in due.drain(..) {
            let Some(conn) = self.connections.get(&id) else {
                continue;
            };
            if conn.is_closing() || conn.is_closed() {
                continue;
            }
            if let PmAction::Open { local, remote, .. } = action
                && conn.subflows().any(|s| {
                    !s.closed && s.tuple.local.ip() == local.ip() && s.tuple.remote == remote
                })
            {
                continue;
            }
            self.perform(id, action, now);
        }
        self.due_opens = due;
    }

    /// A local port on `local` that no subflow to `remote` uses (the
    /// range holds far more than `max_connections` × `max_subflows`).
    fn free_port(&mut self, local: IpAddr, remote: SocketAddr) -> SocketAddr {
        let span = EPHEMERAL_PORTS.end - EPHEMERAL_PORTS.start;
        let mut addr = SocketAddr::new(local, self.next_port);
        for _ in 0..span {
            addr = SocketAddr::new(local, self.next_port);
            let offset = self.next_port - EPHEMERAL_PORTS.start;
            self.next_port = EPHEMERAL_PORTS.start + (offset + 1) % span;
            if !self.by_tuple.contains_key(&(addr, remote)) {
                break;
            }
        }
        addr
    }

    /// Bytes of buffer memory every connection holds together (see
    /// [`MptcpConnection::buffer_bytes`]).
    pub fn buffer_bytes(&self) -> usize {
        self.connections
            .values()
            .map(MptcpConnection::buffer_bytes)
            .sum()
    }

    /// When [`Endpoint::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Asleep connections by their filed timers; ready ones (their
        // timers may have moved since) by asking them.
        let ready = self
            .activity
            .ready()
            .filter_map(|id| self.connections.get(&id)?.poll_timeout());
        ready
            .chain(self.activity.next_timer())
            .chain(self.join_backoff.next_due())
            .min()
    }

    /// Run every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        let mut due = std::mem::take(&mut self.due_timers);
        self.activity.take_due(now, &mut due);
        due.extend(self.activity.ready());
        for &id in &due {
            if let Some(conn) = self.connections.get_mut(&id)
                && conn.poll_timeout().is_some_and(|t| t <= now)
            {
                conn.handle_timeout(now);
            }
            self.activity.touch(id);
        }
        due.clear();
        self.due_timers = due;
        if self.join_backoff.next_due().is_some_and(|t| t <= now) {
            self.run_due_opens(now);
        }
    }

    /// Forget a connection that finished, has nothing left to send and no
    /// timer (its events were read: a closed connection keeps its slot
    /// while events are pending).
    fn remove(&mut self, id: ConnectionId) {
        self.connections.remove(&id);
        self.by_tuple.retain(|_, v| *v != id);
        self.by_token.retain(|_, v| *v != id);
        self.own_pm.remove(&id);
        self.join_backoff.forget(id);
        self.activity.forget(id);
    }
}
