//! One MPTCP connection (RFC 8684): the data-sequence space above its
//! subflows, the MP_CAPABLE handshake, DSS mappings and DATA_ACKs, the
//! DATA_FIN close, and fallback to plain TCP.
//!
//! Sans-I/O like the subflow engine below it: segments and `now` in,
//! segments, timeouts and events out. A connection owns a list of
//! subflows: the initial one (index 0, never removed) and those joined
//! with MP_JOIN in either direction. A [`Scheduler`] spreads data over
//! them; data outstanding on a subflow that fails is sent again on the
//! others. The order of calls is documented on [`MptcpConnection`].

// `MptcpConnection` is defined here with its constructors and getters;
// its state is split into owned parts (`SendState`, `RecvState`,
// `FallbackState`, `Closing`), and its methods by concern, one
// `impl MptcpConnection` block per file.
mod addresses; // ADD_ADDR and REMOVE_ADDR, both ways
mod close; // abort (MP_FASTCLOSE), shutdown, the DATA_FIN close, orphans
mod data_level; // the data-level figures (mptcp_info, ss -Mni)
mod fallback; // falling back to TCP (§3.7): MP_FAIL, vanished options
mod fast_open; // data on the MP_CAPABLE SYN (RFC 8684 Appendix B)
mod input; // handle_segment: options in, the MP_CAPABLE handshake, DSS
mod outgoing_options; // the MPTCP option each outgoing segment carries
mod output; // poll_transmit: one segment of one subflow
mod receive; // received mappings, delivering subflow bytes to the data level
mod send; // the data-level send side: scheduling data, DATA_ACKs
mod subflow; // one subflow: its engine and MPTCP state
mod subflows; // opening, joining, closing subflows; their events
mod timers; // poll_timeout, handle_timeout: the data-level timers

use std::collections::VecDeque;

use umptcp_cc::{CongestionControl, PathInfo};
use umptcp_tcp::{Connection, FastOpenCookie, FourTuple, IsnKey, LazyStorage};

use umptcp_time::Instant;
use umptcp_wire::{AddrId, Key, Segment};

use crate::config::{InvalidConfig, MptcpConfig};
use crate::data_seq::{DataSeq, first_data_seq};
use crate::endpoint::Interface;
use crate::event::MptcpEvent;
use crate::handshake::{self, FallbackReason};
use crate::reassembly::Reassembly;
use crate::scheduler::{Candidate, MinRtt, Scheduler, SubflowId};
use crate::signal::Signals;
use crate::trace;

use self::close::Closing;
use self::fallback::FallbackState;
use self::fast_open::FastOpen;
use self::input::IncomingOptions;
use self::receive::RecvState;
use self::send::SendState;
use self::subflow::{Origin, Subflow};

pub use self::data_level::DataLevel;
pub use self::subflow::{SubflowError, SubflowStats};

/// Which side opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent the first SYN.
    Client,
    /// We answered it.
    Server,
}

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// MP_CAPABLE sent or received, the handshake not finished.
    Handshake,
    /// Speaking MPTCP.
    Mptcp,
    /// Plain TCP on the initial subflow, for good.
    Fallback(FallbackReason),
}

/// An error building a connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The configuration is out of range.
    #[error(transparent)]
    Config(#[from] InvalidConfig),
    /// The subflow engine refused (not a SYN, bad address family...).
    #[error("subflow: {0}")]
    Subflow(#[from] umptcp_tcp::Error),
    /// The endpoint holds `max_connections` already.
    #[error("connection limit reached")]
    Limit,
    /// The four-tuple asked for (an explicit local port) belongs to a
    /// connection or subflow of this endpoint already.
    #[error("the four-tuple is in use")]
    TupleInUse,
}

/// One MPTCP connection.
///
/// # Order of calls
///
/// 1. Build it with [`MptcpConnection::connect`] or
///    [`MptcpConnection::accept`] (an [`Endpoint`](crate::Endpoint) does
///    both, and routes segments to the right connection).
/// 2. Feed every segment of its subflows' four-tuples to
///    [`MptcpConnection::handle_segment`] (`false`: no subflow has that
///    four-tuple), and call [`MptcpConnection::handle_timeout`] when the
///    instant of [`MptcpConnection::poll_timeout`] is reached.
/// 3. After any input or application command (`write`, `read`,
///    `shutdown`, `abort`, `open_subflow`, `announce`...), drain the
///    outputs: [`MptcpConnection::poll_transmit`] until it returns `None`,
///    then [`MptcpConnection::poll_event`] until `None` (sending can end a
///    subflow, and that is an event). Finally re-read
///    [`MptcpConnection::poll_timeout`].
///
/// `now` must not go backwards between calls. Unlike a subflow's engine,
/// the connection drives its congestion controller itself: the caller
/// sees no congestion events. A closed connection
/// ([`MptcpConnection::is_closed`]) may still have a RST or a FIN to send
/// and its subflows' timers to run; it can be dropped once `poll_timeout`
/// is `None` and no event waits ([`MptcpConnection::has_events`]).
pub struct MptcpConnection {
    config: MptcpConfig,
    role: Role,
    mode: Mode,
    local_key: Key,
    peer_key: Option<Key>,
    checksum: bool,
    /// Client: the server has not yet shown it has our key.
    send_keys: bool,
    /// Client: a pure ACK with our keys went (see `SubflowOptions`).
    bare_keys_went: bool,
    /// Index 0 is the initial subflow, kept for the connection's life.
    subflows: Vec<Subflow>,
    next_subflow_id: u32,
    /// Where `poll_transmit` looks first, so every subflow gets its turn.
    tx_cursor: usize,
    cc: Box<dyn CongestionControl>,
    scheduler: Box<dyn Scheduler>,
    /// Scratch for the scheduler and the controller (no allocation per
    /// packet once grown).
    candidates: Vec<Candidate>,
    candidate_index: Vec<usize>,
    path_infos: Vec<PathInfo>,

    /// The data-level send side: the bytes written, DATA_UNA, DATA_NXT.
    send: SendState,
    /// The data-level receive side: reassembly and the peer's close.
    recv: RecvState,
    /// What decides, and follows, a fallback to TCP (§3.7).
    fallback: FallbackState,
    /// Data on the MP_CAPABLE SYN (RFC 8684 Appendix B).
    fast_open: FastOpen,
    closed: bool,
    /// Our DATA_FIN, the abrupt close, the wait for a new subflow.
    closing: Closing,
    signals: Signals,
    /// Our address IDs to withdraw with REMOVE_ADDR, one per pure ACK.
    removals: VecDeque<AddrId>,
    events: VecDeque<MptcpEvent>,
    /// Its log span (feature `tracing`; nothing without it).
    span: trace::Span,
    scratch: LazyStorage,
}

impl core::fmt::Debug for MptcpConnection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MptcpConnection")
            .field("role", &self.role)
            .field("mode", &self.mode)
            .field("subflows", &self.subflows.len())
            .field("data_una", &self.send.data_una)
            .field("data_nxt", &self.send.data_nxt)
            .field("unacked", &self.send.buffer.len())
            .field("data_fin", &self.closing.data_fin)
            .field("data_fin_acked", &self.closing.data_fin_acked)
            .field(
                "rcv_nxt",
                &self.recv.reassembly.as_ref().map(Reassembly::rcv_nxt),
            )
            .field("peer_closed", &self.recv.peer_closed)
            .field("reinject", &self.send.reinject)
            .field("orphaned", &self.closing.orphaned)
            .field(
                "subflow_states",
                &self
                    .subflows
                    .iter()
                    .map(|s| {
                        (
                            s.id.0,
                            s.tcp.state(),
                            s.gone,
                            s.stale,
                            s.tx.has_room(),
                            s.tcp.writable(),
                            s.tcp.cwnd(),
                            s.tcp.write_seq().distance_from(s.tcp.snd_una()),
                        )
                    })
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The MSS to offer when DSS checksums are on: `mss` less the room of a
/// DSS with a checksum (28 bytes).
///
/// After our MP_FAIL, Linux sends its infinite mapping on a data segment
/// sized for plain TCP (the MSS less the timestamps), so with the DSS it
/// is 28 bytes over the path MTU; its own IP layer drops it (`IpFragFails`)
/// at every retransmission and the connection stalls. Offering 28 bytes
/// less keeps that segment within the MTU; the price is 28 bytes of
/// payload per segment the peer sends, only on connections with
/// checksums, which are there for middleboxes that rewrite data.
fn mss_for_infinite_mapping(mss: u16) -> u16 {
    mss.saturating_sub(28)
}

/// How a connection starts: its side, mode, key and checksum choice.
struct Start {
    role: Role,
    mode: Mode,
    local_key: Key,
    checksum: bool,
}

impl MptcpConnection {
    fn new(
        config: MptcpConfig,
        start: Start,
        tcp: Connection,
        cc: Box<dyn CongestionControl>,
        now: Instant,
    ) -> Self {
        let Start {
            role,
            mode,
            local_key,
            checksum,
        } = start;
        let mut cc = cc;
        let tuple = tcp.four_tuple();
        let span = trace::new_span!(
            tracing::Level::DEBUG,
            "mptcp",
            role = ?role,
            local = %tuple.local,
            remote = %tuple.remote,
            token = %format_args!("{:08x}", umptcp_crypto::token(local_key).0),
        );
        let mut subflow = Subflow::new(SubflowId(0), tcp, &config, Origin::Initial);
        subflow.span = subflow_span(&span, SubflowId(0), tuple);
        // §3.4.2: the initial subflow's addresses have ID 0.
        subflow.remote_id = Some(AddrId(0));
        cc.add_path(&subflow.tcp.path_info(subflow.path), now);
        // RFC 8684 §3.1: the first data byte is IDSN + 1.
        let first = first_data_seq(local_key);
        // A server answering a plain SYN is plain TCP from the start: the
        // byte stream is the data stream (any base will do).
        let recv = matches!(mode, Mode::Fallback(_))
            .then(|| Reassembly::new(DataSeq(0), config.recv_buffer, config.max_rx_ranges));
        let signals = Signals::new(config.max_addresses);
        let capacity = config.send_buffer;
        MptcpConnection {
            scratch: LazyStorage::new(usize::from(u16::MAX)),
            config,
            role,
            mode,
            local_key,
            peer_key: None,
            checksum,
            send_keys: role == Role::Client,
            bare_keys_went: false,
            subflows: vec![subflow],
            next_subflow_id: 1,
            tx_cursor: 0,
            cc,
            scheduler: Box::new(MinRtt),
            candidates: Vec::new(),
            candidate_index: Vec::new(),
            path_infos: Vec::new(),
            send: SendState::new(capacity, first),
            recv: RecvState {
                reassembly: recv,
                peer_closed: false,
                fallback_fin: false,
            },
            fallback: FallbackState::new(),
            fast_open: FastOpen::default(),
            closed: false,
            closing: Closing::new(),
            signals,
            removals: VecDeque::new(),
            events: VecDeque::new(),
            span,
        }
    }

    /// Open a connection: the initial subflow's SYN carries MP_CAPABLE.
    /// `local_key` is this connection's key; the caller draws it so that
    /// its token is unique on this host.
    ///
    /// # Errors
    ///
    /// [`ConnectError`] if the configuration or the four-tuple is invalid.
    pub fn connect(
        config: MptcpConfig,
        tuple: FourTuple,
        isn_key: IsnKey,
        local_key: Key,
        cc: Box<dyn CongestionControl>,
        now: Instant,
    ) -> Result<Self, ConnectError> {
        Self::open_mptcp(config, tuple, isn_key, local_key, None, cc, now)
    }

    /// Open a connection with MPTCP Fast Open (RFC 8684 Appendix B): the
    /// MP_CAPABLE SYN carries `cookie` (from an earlier connection's
    /// [`MptcpConnection::fast_open_cookie`]) and as much of the data
    /// written before the first `poll_transmit` as a SYN holds. What the
    /// server takes with the SYN it delivers ahead of the data stream;
    /// the rest is sent again once the handshake is done. Without a
    /// cookie (or with one too long to fit beside MP_CAPABLE) the SYN asks
    /// for one and carries no data.
    ///
    /// # Errors
    ///
    /// As [`MptcpConnection::connect`].
    pub fn connect_fast_open(
        config: MptcpConfig,
        tuple: FourTuple,
        isn_key: IsnKey,
        local_key: Key,
        cookie: Option<FastOpenCookie>,
        cc: Box<dyn CongestionControl>,
        now: Instant,
    ) -> Result<Self, ConnectError> {
        Self::open_mptcp(config, tuple, isn_key, local_key, Some(cookie), cc, now)
    }

    /// Open a connection whose MP_CAPABLE SYN carries the data written
    /// before the first `poll_transmit` without any Fast Open option (RFC
    /// 8684 Appendix B's SYN data, RFC 8803's Convert message): for a
    /// server that takes SYN data without a cookie (a Transport
    /// Converter). One that does not acknowledges only the SYN, and the
    /// data goes again once the handshake is done.
    ///
    /// # Errors
    ///
    /// As [`MptcpConnection::connect`].
    pub fn connect_with_syn_data(
        config: MptcpConfig,
        tuple: FourTuple,
        isn_key: IsnKey,
        local_key: Key,
        cc: Box<dyn CongestionControl>,
        now: Instant,
    ) -> Result<Self, ConnectError> {
        config.validate()?;
        let tcp = Connection::connect_with_syn_data(config.tcp.clone(), tuple, isn_key, now)?;
        Self::open_client(
            config,
            local_key,
            FastOpen::client_without_cookie(),
            tcp,
            cc,
            now,
        )
    }

    fn open_mptcp(
        config: MptcpConfig,
        tuple: FourTuple,
        isn_key: IsnKey,
        local_key: Key,
        fast_open: Option<Option<FastOpenCookie>>,
        cc: Box<dyn CongestionControl>,
        now: Instant,
    ) -> Result<Self, ConnectError> {
        config.validate()?;
        let (fast_open, tcp) = match fast_open {
            Some(cookie) => {
                let (fast_open, cookie) = FastOpen::client(cookie);
                let tcp =
                    Connection::connect_fast_open(config.tcp.clone(), tuple, isn_key, now, cookie)?;
                (fast_open, tcp)
            }
            None => (
                FastOpen::default(),
                Connection::connect(config.tcp.clone(), tuple, isn_key, now)?,
            ),
        };
        Self::open_client(config, local_key, fast_open, tcp, cc, now)
    }

    /// An MPTCP client on its initial subflow's engine.
    fn open_client(
        config: MptcpConfig,
        local_key: Key,
        fast_open: FastOpen,
        mut tcp: Connection,
        cc: Box<dyn CongestionControl>,
        now: Instant,
    ) -> Result<Self, ConnectError> {
        let checksum = config.checksum;
        if checksum {
            tcp.offer_mss(mss_for_infinite_mapping(config.tcp.mss));
        }
        let start = Start {
            role: Role::Client,
            mode: Mode::Handshake,
            local_key,
            checksum,
        };
        let mut conn = Self::new(config, start, tcp, cc, now);
        conn.fast_open = fast_open;
        Ok(conn)
    }

    /// Open a plain-TCP connection: an MPTCP connection fallen back from
    /// the start ([`FallbackReason::NotRequested`]), whose SYN carries no
    /// MP_CAPABLE. With `fast_open`, TCP Fast Open (RFC 7413): `Some(cookie)`
    /// sends the data written before the first `poll_transmit` with the
    /// SYN, `Some(None)` asks for a cookie (see
    /// [`MptcpConnection::fast_open_cookie`]).
    ///
    /// # Errors
    ///
    /// As [`MptcpConnection::connect`].
    pub fn connect_tcp(
        config: MptcpConfig,
        tuple: FourTuple,
        isn_key: IsnKey,
        fast_open: Option<Option<FastOpenCookie>>,
        cc: Box<dyn CongestionControl>,
        now: Instant,
    ) -> Result<Self, ConnectError> {
        config.validate()?;
        let tcp = match fast_open {
            Some(cookie) => {
                Connection::connect_fast_open(config.tcp.clone(), tuple, isn_key, now, cookie)?
            }
            None => Connection::connect(config.tcp.clone(), tuple, isn_key, now)?,
        };
        let start = Start {
            role: Role::Client,
            mode: Mode::Fallback(FallbackReason::NotRequested),
            // No key goes on the wire; the value only fills the field.
            local_key: Key(0),
            checksum: false,
        };
        Ok(Self::new(config, start, tcp, cc, now))
    }

    /// A plain-TCP connection ([`MptcpConnection::connect_tcp`]) whose
    /// SYN carries the data written before the first `poll_transmit`
    /// without any Fast Open option (see
    /// [`MptcpConnection::connect_with_syn_data`]).
    ///
    /// # Errors
    ///
    /// As [`MptcpConnection::connect`].
    pub fn connect_tcp_with_syn_data(
        config: MptcpConfig,
        tuple: FourTuple,
        isn_key: IsnKey,
        cc: Box<dyn CongestionControl>,
        now: Instant,
    ) -> Result<Self, ConnectError> {
        config.validate()?;
        let tcp = Connection::connect_with_syn_data(config.tcp.clone(), tuple, isn_key, now)?;
        let start = Start {
            role: Role::Client,
            mode: Mode::Fallback(FallbackReason::NotRequested),
            local_key: Key(0),
            checksum: false,
        };
        Ok(Self::new(config, start, tcp, cc, now))
    }

    /// Answer a SYN as plain TCP whatever it offers (a listener of
    /// [`crate::Protocol::Tcp`]): the SYN/ACK carries no MP_CAPABLE, so
    /// the peer falls back (RFC 8684 §3.1).
    ///
    /// # Errors
    ///
    /// As [`MptcpConnection::accept`].
    pub fn accept_tcp(
        config: MptcpConfig,
        syn: &Segment<'_>,
        isn_key: IsnKey,
        cc: Box<dyn CongestionControl>,
        now: Instant,
    ) -> Result<Self, ConnectError> {
        config.validate()?;
        let tcp = Connection::accept(config.tcp.clone(), syn, isn_key, now)?;
        let start = Start {
            role: Role::Server,
            mode: Mode::Fallback(FallbackReason::NotRequested),
            local_key: Key(0),
            checksum: false,
        };
        let mut conn = Self::new(config, start, tcp, cc, now);
        // Data the SYN brought (Fast Open) is readable at once.
        conn.take_syn_data();
        Ok(conn)
    }

    /// Send subflow `id`'s segments by `interface` (the one its SYN came
    /// in by); see [`Transmit::interface`](crate::Transmit::interface).
    pub(crate) fn set_interface(&mut self, id: SubflowId, interface: Option<Interface>) {
        if let Some(sub) = self.subflows.iter_mut().find(|s| s.id == id) {
            sub.interface = interface;
        }
    }

    /// The Fast Open cookie the server granted, once the handshake brought
    /// one (connections opened with Fast Open, MPTCP or plain TCP), to
    /// keep for the next connection to that server.
    pub fn fast_open_cookie(&self) -> Option<FastOpenCookie> {
        self.subflows[0].tcp.fast_open_cookie()
    }

    /// Answer a SYN. With an acceptable MP_CAPABLE the SYN/ACK carries our
    /// key; without one (or with version 0) the connection is plain TCP
    /// from the start. With `config.tcp.fast_open`, the data of a SYN with
    /// a valid cookie (or any, with `syn_data_without_cookie`) is readable
    /// at once, MPTCP (RFC 8684 Appendix B) or not.
    ///
    /// # Errors
    ///
    /// [`ConnectError`] if the configuration is invalid or `syn` is not a
    /// SYN the engine accepts.
    pub fn accept(
        config: MptcpConfig,
        syn: &Segment<'_>,
        isn_key: IsnKey,
        local_key: Key,
        cc: Box<dyn CongestionControl>,
        now: Instant,
    ) -> Result<Self, ConnectError> {
        config.validate()?;
        let offer = IncomingOptions::of(syn).capable;
        let (mode, checksum) = match handshake::negotiate(offer.as_ref(), config.checksum, false) {
            Ok(n) => (Mode::Handshake, n.checksum),
            Err(reason) => (Mode::Fallback(reason), false),
        };
        let mut tcp = Connection::accept(config.tcp.clone(), syn, isn_key, now)?;
        if checksum {
            tcp.offer_mss(mss_for_infinite_mapping(config.tcp.mss));
        }
        if mode == Mode::Handshake {
            // A cookie for the client goes beside MP_CAPABLE's key.
            tcp.fit_fast_open_cookie(fast_open::MAX_SYN_ACK_COOKIE);
        }
        let start = Start {
            role: Role::Server,
            mode,
            local_key,
            checksum,
        };
        let mut conn = Self::new(config, start, tcp, cc, now);
        if let Mode::Fallback(reason) = mode {
            conn.push_event(MptcpEvent::FellBack(reason));
        }
        // Data the SYN brought (Fast Open) is readable at once; over MPTCP
        // ahead of the data stream (Appendix B).
        conn.take_syn_data();
        Ok(conn)
    }

    // ------------------------------------------------------------ getters

    /// Which side opened the connection.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the connection speaks MPTCP (false before the handshake
    /// ends and after a fallback).
    pub fn is_mptcp(&self) -> bool {
        self.mode == Mode::Mptcp
    }

    /// Why the connection is plain TCP, if it is.
    pub fn fallback_reason(&self) -> Option<FallbackReason> {
        match self.mode {
            Mode::Fallback(reason) => Some(reason),
            _ => None,
        }
    }

    /// Whether DSS checksums are in use.
    pub fn checksum(&self) -> bool {
        self.checksum
    }

    /// Our key.
    pub fn local_key(&self) -> Key {
        self.local_key
    }

    /// The peer's key, once known.
    pub fn peer_key(&self) -> Option<Key> {
        self.peer_key
    }

    /// The initial subflow's engine (statistics: RTT, cwnd, bytes).
    pub fn initial_subflow(&self) -> &Connection {
        &self.subflows[0].tcp
    }

    /// Whether both sides' data is through (both DATA_FINs acknowledged)
    /// or the connection finished: no new subflows from here on.
    pub fn is_closing(&self) -> bool {
        self.closed || (self.closing.data_fin_acked && self.recv.peer_closed)
    }

    /// Whether the connection finished (closed, reset or timed out).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes of buffer memory the connection holds, its subflows'
    /// included: none until data is written or arrives (a half-open
    /// connection costs no buffers).
    pub fn buffer_bytes(&self) -> usize {
        let subflows: usize = self.subflows.iter().map(|s| s.tcp.buffer_bytes()).sum();
        subflows
            + self.send.buffer.allocated()
            + self
                .recv
                .reassembly
                .as_ref()
                .map_or(0, Reassembly::allocated)
            + self.scratch.allocated()
            + self.fast_open.allocated()
    }

    /// Bytes the application can read now.
    pub fn readable(&self) -> usize {
        self.fast_open.readable()
            + self
                .recv
                .reassembly
                .as_ref()
                .map_or(0, Reassembly::readable)
    }

    /// Room in the data-level send buffer.
    pub fn writable(&self) -> usize {
        if self.closing.shutdown || self.closed {
            0
        } else {
            self.send.buffer.free()
        }
    }

    // -------------------------------------------------------- application

    /// Queue bytes to send; returns how many fit.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.closing.shutdown || self.closed {
            return 0;
        }
        let n = self.send.buffer.write(data);
        if n < data.len() {
            self.send.write_blocked = true;
        }
        n
    }

    /// Read in-order bytes; returns how many were copied.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        // A Fast Open SYN's data comes first (RFC 8684 Appendix B).
        let early = self.fast_open.read(buf);
        let n = early
            + self
                .recv
                .reassembly
                .as_mut()
                .map_or(0, |r| r.read(&mut buf[early..]));
        if n > 0 {
            // Room opened: bytes waiting in the subflows move up now, not
            // at the next segment (which may be a probe timer away).
            self.deliver();
        }
        n
    }

    // ------------------------------------------------------------- events

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<MptcpEvent> {
        self.events.pop_front()
    }

    /// Whether events wait to be polled.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    fn push_event(&mut self, event: MptcpEvent) {
        #[cfg(feature = "tracing")]
        self.log(&event);
        self.events.push_back(event);
    }

    /// Log `event` in the span it concerns: a subflow's, else the
    /// connection's.
    #[cfg(feature = "tracing")]
    fn log(&self, event: &MptcpEvent) {
        use tracing::{Level, event};
        let span = match event {
            MptcpEvent::SubflowEstablished(id) | MptcpEvent::SubflowClosed(id) => self
                .subflows
                .iter()
                .find(|s| s.id == *id)
                .map_or(&self.span, |s| &s.span),
            _ => &self.span,
        };
        match event {
            // Every read and write makes one of these: trace level.
            MptcpEvent::Readable | MptcpEvent::Writable => {
                event!(parent: span, Level::TRACE, ?event);
            }
            MptcpEvent::ProtocolError(_) | MptcpEvent::TimedOut => {
                event!(parent: span, Level::WARN, ?event);
            }
            _ => event!(parent: span, Level::DEBUG, ?event),
        }
    }

    /// Log what the path manager does to this connection (feature
    /// `tracing`).
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn log_pm_action(&self, action: &crate::PmAction) {
        trace::log_event!(parent: &self.span, tracing::Level::DEBUG, ?action, "path manager");
    }

    // ----------------------------------------------------------- subflows

    /// Use `scheduler` to spread data over the subflows (default:
    /// [`MinRtt`]).
    pub fn set_scheduler(&mut self, scheduler: Box<dyn Scheduler>) {
        self.scheduler = scheduler;
    }

    /// The congestion controller in use.
    pub fn congestion_control(&self) -> &dyn CongestionControl {
        &*self.cc
    }

    /// The scheduler in use.
    pub fn scheduler(&self) -> &dyn Scheduler {
        &*self.scheduler
    }

    /// Every subflow's figures, the closed ones included until they are
    /// forgotten (when a new subflow needs their place).
    pub fn subflows(&self) -> impl Iterator<Item = SubflowStats> + '_ {
        self.subflows.iter().map(|s| SubflowStats {
            id: s.id,
            tuple: s.tcp.four_tuple(),
            established: s.usable && !s.gone,
            backup: s.backup(),
            closed: s.gone,
            srtt: s.tcp.srtt(),
            cwnd: s.tcp.cwnd(),
            bytes_sent: s.tcp.bytes_sent(),
            bytes_received: s.tcp.bytes_received(),
            retransmissions: s.tcp.retransmissions(),
        })
    }
}

/// The span of subflow `id` inside its connection's.
fn subflow_span(parent: &trace::Span, id: SubflowId, tuple: FourTuple) -> trace::Span {
    let _ = (parent, id, tuple);
    trace::new_span!(
        parent: parent,
        tracing::Level::DEBUG,
        "subflow",
        id = id.0,
        local = %tuple.local,
        remote = %tuple.remote,
    )
}
