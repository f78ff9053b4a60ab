//! One MPTCP connection (RFC 8684): the data-sequence space above its
//! subflows, the MP_CAPABLE handshake, DSS mappings and DATA_ACKs, the
//! DATA_FIN close, and fallback to plain TCP.
//!
//! Sans-I/O like the subflow engine below it: segments and `now` in,
//! segments, timeouts and events out. This first version runs the initial
//! subflow; MP_JOIN, signalling and the policies arrive on top of the same
//! structure (a connection owns a list of subflows).

use std::collections::VecDeque;

use mptcp_cc::{CongestionControl, PathId};
use mptcp_crypto::{dss_checksum, idsn};
use mptcp_tcp::{
    Connection, Event, ExtraOptions, FourTuple, IsnKey, OptionSource, OutgoingSegment, SendBuffer,
    State, SubflowSeq,
};
use std::time::Duration;

use mptcp_time::Instant;
use mptcp_wire::mptcp::{Dss, DssMapping, DssSeq, MpCapable, MptcpOption};
use mptcp_wire::segment::TcpFlags;
use mptcp_wire::{Key, Segment, TcpOption};

use crate::config::{InvalidConfig, MptcpConfig};
use crate::data_seq::{diff, expand};
use crate::event::MptcpEvent;
use crate::handshake::{self, FallbackReason, Negotiated};
use crate::mapping::{MappingError, MappingTable, RxMapping};
use crate::reassembly::Reassembly;
use crate::tx_map::{TxMap, TxMapping};

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
    Subflow(#[from] mptcp_tcp::Error),
}

/// One subflow: a TCP engine and its MPTCP state.
#[derive(Debug)]
struct Subflow {
    tcp: Connection,
    path: PathId,
    tx: TxMap,
    rx: MappingTable,
    /// The end of the last received mapping whose checksum passed: its
    /// bytes may move up in pieces (the data-level window can split them).
    verified_until: Option<SubflowSeq>,
}

/// The state of the handshake options a subflow needs to build its
/// segments, borrowed from the connection for one `poll_transmit`.
struct SubflowOptions<'a> {
    mode: Mode,
    role: Role,
    local_key: Key,
    peer_key: Option<Key>,
    checksum: bool,
    /// Client: repeat the keys on the segment at ISS+1 until the server
    /// shows it has them (RFC 8684 §3.1).
    send_keys: bool,
    iss: SubflowSeq,
    tx: &'a TxMap,
    data_ack: Option<u64>,
    /// Our DATA_FIN's data sequence number, while unacknowledged.
    data_fin: Option<u64>,
    option: Option<MptcpOption<'static>>,
    /// Set when a segment built here carried the DATA_FIN.
    data_fin_sent: bool,
}

/// DSS with a 4-octet DATA_ACK and an 8-octet mapping, plus checksum.
const DSS_RESERVE: usize = 4 + 4 + 8 + 4 + 2 + 2;

impl OptionSource for SubflowOptions<'_> {
    fn reserve(&self) -> usize {
        if matches!(self.mode, Mode::Fallback(_)) {
            0
        } else {
            DSS_RESERVE
        }
    }

    fn max_payload(&mut self, seq: SubflowSeq) -> usize {
        match self.mode {
            Mode::Fallback(_) => usize::MAX,
            _ => self.tx.room_at(seq),
        }
    }

    fn options(&mut self, segment: &OutgoingSegment) -> ExtraOptions<'_> {
        self.option = self.option_for(segment);
        if let Some(MptcpOption::Dss(Dss { data_fin: true, .. })) = self.option {
            self.data_fin_sent = true;
        }
        ExtraOptions {
            mptcp: self.option,
            optional: &[],
        }
    }
}

impl SubflowOptions<'_> {
    fn option_for(&self, segment: &OutgoingSegment) -> Option<MptcpOption<'static>> {
        if matches!(self.mode, Mode::Fallback(_)) {
            return None;
        }
        let flags = segment.flags;
        if flags.contains(TcpFlags::SYN) {
            return Some(MptcpOption::MpCapable(match self.role {
                Role::Client => handshake::syn_option(self.checksum),
                Role::Server => handshake::syn_ack_option(self.local_key, self.checksum),
            }));
        }
        let mapping = self.tx.find(segment.seq).copied();
        if self.role == Role::Client
            && self.send_keys
            && segment.seq == self.iss + 1u32
            && let Some(peer_key) = self.peer_key
        {
            // The third ACK, and the first data segment with its implied
            // mapping (data sequence IDSN+1, subflow sequence 1).
            let data = (segment.payload_len > 0)
                .then(|| mapping.map(|m| (m.len, m.checksum)))
                .flatten();
            return Some(MptcpOption::MpCapable(handshake::keys_option(
                self.local_key,
                peer_key,
                self.checksum,
                data,
            )));
        }
        let mapping = if segment.payload_len > 0 {
            mapping.map(|m| DssMapping {
                dsn: DssSeq::Long(m.dsn),
                subflow_seq: m.start.get().wrapping_sub(self.iss.get()),
                data_len: m.len,
                checksum: m.checksum,
            })
        } else {
            // RFC 8684 §3.3.3: a DATA_FIN on a segment without data has
            // subflow sequence 0 and Data-Level Length 1.
            self.data_fin.map(|fin| DssMapping {
                dsn: DssSeq::Long(fin),
                subflow_seq: 0,
                data_len: 1,
                checksum: self.checksum.then(|| dss_checksum(fin, 0, 1, &[])),
            })
        };
        let data_fin = segment.payload_len == 0 && self.data_fin.is_some();
        let data_ack = self.data_ack.map(|a| DssSeq::Short(a as u32));
        if data_ack.is_none() && mapping.is_none() {
            return None;
        }
        Some(MptcpOption::Dss(Dss {
            data_ack,
            mapping,
            data_fin,
        }))
    }
}

/// What a received DSS mapping means.
#[derive(Clone, Copy, Debug)]
enum Incoming {
    /// Data Length 0: the peer fell back (§3.7).
    Infinite,
    /// A DATA_FIN alone, at this data sequence number.
    DataFin(u64),
    /// Bytes of the subflow mapped into the data sequence space.
    Data(RxMapping),
}

/// The MPTCP options of one incoming segment that this layer acts on.
#[derive(Clone, Copy, Debug, Default)]
struct IncomingOptions {
    capable: Option<MpCapable>,
    dss: Option<Dss>,
}

impl IncomingOptions {
    fn of(segment: &Segment<'_>) -> Self {
        let mut out = IncomingOptions::default();
        // Malformed options are ignored one by one (RFC 8684 §3: an
        // invalid option is treated as absent).
        for option in segment.options().flatten() {
            match option {
                TcpOption::Mptcp(MptcpOption::MpCapable(c)) if out.capable.is_none() => {
                    out.capable = Some(c);
                }
                TcpOption::Mptcp(MptcpOption::Dss(d)) if out.dss.is_none() => out.dss = Some(d),
                _ => {}
            }
        }
        out
    }
}

/// One MPTCP connection.
pub struct MptcpConnection {
    config: MptcpConfig,
    role: Role,
    mode: Mode,
    local_key: Key,
    peer_key: Option<Key>,
    checksum: bool,
    /// Client: the server has not yet shown it has our key.
    send_keys: bool,
    subflows: Vec<Subflow>,
    cc: Box<dyn CongestionControl>,

    /// Bytes written and not yet DATA_ACKed; offset 0 is `data_una`.
    send: SendBuffer,
    data_una: u64,
    /// The data sequence number of the next byte to hand to a subflow.
    data_nxt: u64,
    shutdown: bool,
    /// Our DATA_FIN's data sequence number, once every byte is mapped.
    data_fin: Option<u64>,
    data_fin_acked: bool,
    /// When the DATA_FIN goes again if still unacknowledged: it rides on
    /// pure ACKs, which the subflow never retransmits by itself.
    data_fin_timer: Option<Instant>,
    /// The DATA_FIN's retransmission timeout, doubled on every expiry.
    data_fin_rto: Duration,
    data_fin_retries: u32,
    write_blocked: bool,

    /// Created once the peer's key (hence its IDSN) is known.
    recv: Option<Reassembly>,
    peer_closed: bool,
    closed: bool,

    events: VecDeque<MptcpEvent>,
    scratch: Box<[u8]>,
}

impl core::fmt::Debug for MptcpConnection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MptcpConnection")
            .field("role", &self.role)
            .field("mode", &self.mode)
            .field("subflows", &self.subflows.len())
            .field("data_una", &self.data_una)
            .field("data_nxt", &self.data_nxt)
            .field("unacked", &self.send.len())
            .field("data_fin", &self.data_fin)
            .field("data_fin_acked", &self.data_fin_acked)
            .field("rcv_nxt", &self.recv.as_ref().map(Reassembly::rcv_nxt))
            .field("peer_closed", &self.peer_closed)
            .field("subflow", &self.subflows[0].tcp.state())
            .finish_non_exhaustive()
    }
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
        let path = PathId(0);
        cc.add_path(&tcp.path_info(path), now);
        let subflow = Subflow {
            tcp,
            path,
            tx: TxMap::new(config.max_tx_mappings),
            rx: MappingTable::new(config.max_rx_mappings),
            verified_until: None,
        };
        // RFC 8684 §3.1: the first data byte is IDSN + 1.
        let first = idsn(local_key).wrapping_add(1);
        // A server answering a plain SYN is plain TCP from the start: the
        // byte stream is the data stream (any base will do).
        let recv =
            matches!(mode, Mode::Fallback(_)).then(|| Reassembly::new(0, config.recv_buffer));
        MptcpConnection {
            send: SendBuffer::new(config.send_buffer),
            scratch: vec![0; usize::from(u16::MAX)].into_boxed_slice(),
            config,
            role,
            mode,
            local_key,
            peer_key: None,
            checksum,
            send_keys: role == Role::Client,
            subflows: vec![subflow],
            cc,
            data_una: first,
            data_nxt: first,
            shutdown: false,
            data_fin: None,
            data_fin_acked: false,
            data_fin_timer: None,
            data_fin_rto: Duration::ZERO,
            data_fin_retries: 0,
            write_blocked: false,
            recv,
            peer_closed: false,
            closed: false,
            events: VecDeque::new(),
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
        config.validate()?;
        let tcp = Connection::connect(config.tcp.clone(), tuple, isn_key, now)?;
        let checksum = config.checksum;
        let start = Start {
            role: Role::Client,
            mode: Mode::Handshake,
            local_key,
            checksum,
        };
        Ok(Self::new(config, start, tcp, cc, now))
    }

    /// Answer a SYN. With an acceptable MP_CAPABLE the SYN/ACK carries our
    /// key; without one (or with version 0) the connection is plain TCP
    /// from the start.
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
        let tcp = Connection::accept(config.tcp.clone(), syn, isn_key, now)?;
        let (mode, checksum) = match handshake::negotiate(offer.as_ref(), config.checksum, false) {
            Ok(n) => (Mode::Handshake, n.checksum),
            Err(reason) => (Mode::Fallback(reason), false),
        };
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

    /// Whether the connection finished (closed, reset or timed out).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes the application can read now.
    pub fn readable(&self) -> usize {
        self.recv.as_ref().map_or(0, Reassembly::readable)
    }

    /// Room in the data-level send buffer.
    pub fn writable(&self) -> usize {
        if self.shutdown || self.closed {
            0
        } else {
            self.send.free()
        }
    }

    // -------------------------------------------------------- application

    /// Queue bytes to send; returns how many fit.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.shutdown || self.closed {
            return 0;
        }
        let n = self.send.write(data);
        if n < data.len() {
            self.write_blocked = true;
        }
        n
    }

    /// Read in-order bytes; returns how many were copied.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        self.recv.as_mut().map_or(0, |r| r.read(buf))
    }

    /// No more data will be written: a DATA_FIN follows the last byte
    /// (after a fallback, the subflow's FIN).
    pub fn shutdown(&mut self) {
        self.shutdown = true;
    }

    // ------------------------------------------------------------- events

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MptcpEvent> {
        self.events.pop_front()
    }

    fn push_event(&mut self, event: MptcpEvent) {
        self.events.push_back(event);
    }

    // -------------------------------------------------------------- input

    /// Process one segment of this connection's subflow.
    pub fn handle_segment(&mut self, now: Instant, segment: &Segment<'_>) {
        if self.closed {
            return;
        }
        let options = IncomingOptions::of(segment);
        let incoming = match (self.mode, options.dss) {
            (
                Mode::Mptcp,
                Some(Dss {
                    mapping: Some(m),
                    data_fin,
                    ..
                }),
            ) => self.incoming_mapping(&m, data_fin),
            _ => None,
        };
        if !self.admit_mapping(segment, incoming.as_ref()) {
            return;
        }
        let sub = &mut self.subflows[0];
        let was_synchronized = sub.tcp.state().is_synchronized();
        let received = sub.tcp.handle_segment(now, segment);
        if !received.accepted {
            self.after_input(now);
            return;
        }
        let now_synchronized = self.subflows[0].tcp.state().is_synchronized();
        if self.mode == Mode::Handshake && !was_synchronized && now_synchronized {
            match self.role {
                Role::Client => self.on_syn_ack(options.capable.as_ref()),
                Role::Server => {}
            }
        }
        if self.mode == Mode::Handshake
            && self.role == Role::Server
            && self.subflows[0].tcp.state().is_synchronized()
            && !segment.flags().contains(TcpFlags::SYN)
        {
            self.on_third_ack(options.capable.as_ref());
        }
        if self.mode == Mode::Mptcp
            && let Some(dss) = options.dss
        {
            self.on_dss(&dss);
        }
        if let Some(incoming) = incoming {
            self.apply_mapping(incoming);
        }
        self.after_input(now);
    }

    /// The client reads the SYN/ACK's MP_CAPABLE.
    fn on_syn_ack(&mut self, capable: Option<&MpCapable>) {
        match handshake::negotiate(capable, self.config.checksum, true) {
            Ok(Negotiated {
                peer_key: Some(key),
                checksum,
                ..
            }) => {
                self.checksum = checksum;
                self.become_mptcp(key);
            }
            Ok(_) => self.fall_back(FallbackReason::NoMpCapable),
            Err(reason) => self.fall_back(reason),
        }
    }

    /// The server reads the MP_CAPABLE of the segment that completed the
    /// handshake (the third ACK, or the first data if that ACK was lost).
    fn on_third_ack(&mut self, capable: Option<&MpCapable>) {
        let Some(capable) = capable else {
            // RFC 8684 §3.7: MP_CAPABLE stripped from the third ACK.
            self.fall_back(FallbackReason::OptionStripped);
            return;
        };
        match handshake::client_keys(capable, self.local_key) {
            Ok(keys) => {
                self.become_mptcp(keys.client_key);
                if let Some((data_len, checksum)) = keys.data {
                    // The implied first mapping: data sequence IDSN+1,
                    // subflow sequence 1.
                    let peer_first = idsn(keys.client_key).wrapping_add(1);
                    let sub = &mut self.subflows[0];
                    let start = sub.tcp.irs() + 1u32;
                    if sub
                        .rx
                        .insert(RxMapping {
                            subflow_seq: start,
                            relative_seq: 1,
                            dsn: peer_first,
                            len: data_len,
                            checksum,
                            data_fin: false,
                        })
                        .is_err()
                    {
                        self.protocol_error();
                    }
                }
            }
            Err(_) => self.protocol_error(),
        }
    }

    fn become_mptcp(&mut self, peer_key: Key) {
        self.peer_key = Some(peer_key);
        let peer_first = idsn(peer_key).wrapping_add(1);
        self.recv = Some(Reassembly::new(peer_first, self.config.recv_buffer));
        self.mode = Mode::Mptcp;
        self.push_event(MptcpEvent::Connected { mptcp: true });
    }

    /// RFC 8684 §3.7: plain TCP from here on, for good.
    fn fall_back(&mut self, reason: FallbackReason) {
        if matches!(self.mode, Mode::Fallback(_)) {
            return;
        }
        let handshaking = self.mode == Mode::Handshake;
        self.mode = Mode::Fallback(reason);
        self.push_event(MptcpEvent::FellBack(reason));
        if self.recv.is_none() {
            // The TCP byte stream is the data: it starts where the peer's
            // data starts (any base will do; nothing on the wire carries it).
            self.recv = Some(Reassembly::new(0, self.config.recv_buffer));
        }
        if handshaking {
            self.push_event(MptcpEvent::Connected { mptcp: false });
        }
    }

    fn protocol_error(&mut self) {
        for sub in &mut self.subflows {
            sub.tcp.abort();
        }
        self.push_event(MptcpEvent::ProtocolError);
        self.closed = true;
    }

    fn on_dss(&mut self, dss: &Dss) {
        // The client's keys arrived: any DSS from the server says so.
        self.send_keys = false;
        if let Some(ack) = dss.data_ack {
            self.on_data_ack(ack);
        }
    }

    fn on_data_ack(&mut self, ack: DssSeq) {
        let ack = expand(ack, self.data_una);
        // Acceptable: within [DATA_UNA, DATA_NXT], the DATA_FIN included.
        let top = self
            .data_fin
            .map_or(self.data_nxt, |fin| fin.wrapping_add(1));
        let acked = ack.wrapping_sub(self.data_una);
        if acked == 0 || acked > top.wrapping_sub(self.data_una) {
            return;
        }
        // `data_una` stays on data bytes: the DATA_FIN's own sequence
        // number is acknowledged through `data_fin_acked`.
        let data = acked.min(self.send.len() as u64);
        self.send.consume(data as usize);
        self.data_una = self.data_una.wrapping_add(data);
        if self.data_fin.is_some_and(|fin| ack == fin.wrapping_add(1)) {
            self.data_fin_acked = true;
            self.data_fin_timer = None;
        }
        if self.write_blocked && self.send.free() > 0 {
            self.write_blocked = false;
            self.push_event(MptcpEvent::Writable);
        }
    }

    /// Read a received DSS mapping against the data sequence space.
    fn incoming_mapping(&self, m: &DssMapping, data_fin: bool) -> Option<Incoming> {
        let recv = self.recv.as_ref()?;
        let dsn = expand(m.dsn, recv.rcv_nxt());
        if m.data_len == 0 {
            // The infinite mapping (§3.7): the peer fell back.
            return Some(Incoming::Infinite);
        }
        // RFC 8684 §3.3.3: the DATA_FIN takes the last data sequence
        // number of its mapping; with length 1 it is alone (Linux checks
        // the same way, `get_mapping_status`).
        if data_fin && m.data_len == 1 {
            return Some(Incoming::DataFin(dsn));
        }
        let sub = &self.subflows[0];
        Some(Incoming::Data(RxMapping {
            subflow_seq: sub.tcp.irs() + m.subflow_seq,
            relative_seq: m.subflow_seq,
            dsn,
            len: m.data_len - u16::from(data_fin),
            checksum: m.checksum,
            data_fin,
        }))
    }

    /// Validate a segment's mapping before the subflow takes its bytes:
    /// `false` drops the segment (no room to remember its mapping yet; the
    /// peer retransmits it) or, for a peer error, resets the connection.
    fn admit_mapping(&mut self, segment: &Segment<'_>, incoming: Option<&Incoming>) -> bool {
        let Some(Incoming::Data(mapping)) = incoming else {
            return true;
        };
        // A mapping must cover the payload of the segment carrying it
        // (Linux: "skb not covered by mapping" is MAPPING_INVALID).
        let payload = segment.payload().len() as u32;
        let seq = SubflowSeq(segment.seq());
        let covered =
            payload == 0 || (mapping.subflow_seq <= seq && seq + payload <= mapping.end());
        let check = self.subflows[0].rx.check(mapping);
        match check {
            _ if !covered => {
                self.protocol_error();
                false
            }
            Ok(_) => true,
            Err(MappingError::Full) => false,
            Err(_) => {
                self.protocol_error();
                false
            }
        }
    }

    /// Act on the mapping of a segment the subflow accepted.
    fn apply_mapping(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Infinite => self.fall_back(FallbackReason::InfiniteMapping),
            Incoming::DataFin(dsn) => {
                if let Some(recv) = self.recv.as_mut() {
                    recv.set_data_fin(dsn);
                }
            }
            Incoming::Data(mapping) => {
                if mapping.data_fin
                    && let Some(recv) = self.recv.as_mut()
                {
                    recv.set_data_fin(mapping.dsn.wrapping_add(u64::from(mapping.len)));
                }
                // Checked in `admit_mapping`; only a segment dropped by
                // the subflow can have changed nothing since.
                if self.subflows[0].rx.insert(mapping).is_err() {
                    self.protocol_error();
                }
            }
        }
    }

    /// After any input or timer: move received bytes up, report events,
    /// feed the controller, close what is finished.
    fn after_input(&mut self, now: Instant) {
        self.deliver();
        self.subflow_events();
        self.feed_controller();
        self.progress_close(now);
    }

    /// Move in-order subflow bytes into the data-level reassembly.
    fn deliver(&mut self) {
        let Some(recv) = self.recv.as_mut() else {
            return;
        };
        let before = recv.readable();
        let sub = &mut self.subflows[0];
        match self.mode {
            Mode::Fallback(_) => {
                // The byte stream is the data stream.
                sub.tcp.read_with(|head, tail| {
                    let mut n = recv.push_in_order(head);
                    if n == head.len() {
                        n += recv.push_in_order(tail);
                    }
                    n
                });
            }
            Mode::Mptcp => loop {
                let seq = sub.tcp.read_seq();
                let Some(found) = sub.rx.lookup(seq) else {
                    break;
                };
                let checksum = self.checksum;
                let verified = sub.verified_until == Some(found.mapping.end());
                let mut verified_now = false;
                let mut bad_checksum = false;
                let taken = sub.tcp.read_with(|head, tail| {
                    let have = head.len() + tail.len();
                    if have == 0 {
                        return 0;
                    }
                    let want = found.remaining as usize;
                    if checksum && !verified {
                        // The checksum covers the whole mapping: wait for it.
                        if found.offset != 0 || have < want {
                            return 0;
                        }
                        let mut c = mptcp_crypto::DssChecksum::new(
                            found.mapping.dsn,
                            found.mapping.relative_seq,
                            found.mapping.wire_len(),
                        );
                        let h = head.len().min(want);
                        c.update(&head[..h]);
                        c.update(&tail[..want - h]);
                        if !found.mapping.checksum.is_some_and(|x| c.verify(x)) {
                            bad_checksum = true;
                            return 0;
                        }
                        verified_now = true;
                    }
                    let n = have.min(want);
                    let h = head.len().min(n);
                    let mut done = recv.insert(found.dsn, &head[..h]);
                    if done == h && n > h {
                        done += recv.insert(found.dsn.wrapping_add(h as u64), &tail[..n - h]);
                    }
                    done
                });
                if verified_now {
                    sub.verified_until = Some(found.mapping.end());
                }
                if bad_checksum {
                    // Not yet: MP_FAIL and the infinite mapping (§3.7).
                    self.protocol_error();
                    return;
                }
                if taken == 0 {
                    break;
                }
                sub.rx.consumed(sub.tcp.read_seq());
            },
            Mode::Handshake => {}
        }
        let (readable, fin_reached) = self
            .recv
            .as_ref()
            .map_or((0, false), |r| (r.readable(), r.data_fin_reached()));
        if readable > before {
            self.push_event(MptcpEvent::Readable);
        }
        if !self.peer_closed && fin_reached {
            self.peer_closed = true;
            self.push_event(MptcpEvent::PeerClosed);
            // Acknowledge the DATA_FIN at once.
            self.subflows[0].tcp.request_ack();
        }
    }

    fn subflow_events(&mut self) {
        while let Some(event) = self.subflows[0].tcp.poll_event() {
            match event {
                Event::Connected => {
                    if let Mode::Fallback(_) = self.mode
                        && self.role == Role::Server
                    {
                        self.push_event(MptcpEvent::Connected { mptcp: false });
                    }
                }
                Event::Writable | Event::Readable => {}
                Event::PeerClosed => {
                    if matches!(self.mode, Mode::Fallback(_)) && !self.peer_closed {
                        self.peer_closed = true;
                        self.push_event(MptcpEvent::PeerClosed);
                    }
                }
                Event::Closed => {
                    if !self.closed {
                        self.closed = true;
                        self.push_event(MptcpEvent::Closed);
                    }
                }
                Event::Reset => {
                    self.closed = true;
                    self.push_event(MptcpEvent::Reset);
                }
                Event::TimedOut => {
                    self.closed = true;
                    self.push_event(MptcpEvent::TimedOut);
                }
            }
        }
    }

    fn feed_controller(&mut self) {
        for sub in &mut self.subflows {
            while let Some(event) = sub.tcp.poll_congestion_event() {
                let info = [sub.tcp.path_info(sub.path)];
                self.cc.on_event(sub.path, &event, &info);
                sub.tcp.set_congestion_window(self.cc.window(sub.path));
            }
        }
    }

    /// The DATA_FIN, then the subflows' FINs.
    fn progress_close(&mut self, _now: Instant) {
        if !self.shutdown || self.closed {
            return;
        }
        let unassigned = self.data_nxt != self.data_una.wrapping_add(self.send.len() as u64);
        match self.mode {
            Mode::Fallback(_) => {
                if !unassigned {
                    self.subflows[0].tcp.shutdown();
                }
            }
            Mode::Mptcp => {
                if self.data_fin.is_none() && !unassigned {
                    self.data_fin = Some(self.data_nxt);
                    self.subflows[0].tcp.request_ack();
                }
                // RFC 8684 §3.3.3: once both DATA_FINs are acknowledged the
                // subflows close.
                if self.data_fin_acked && self.peer_closed {
                    self.subflows[0].tcp.shutdown();
                }
            }
            Mode::Handshake => {}
        }
    }

    // ------------------------------------------------------------- timers

    /// When [`MptcpConnection::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.subflows
            .iter()
            .filter_map(|s| s.tcp.poll_timeout())
            .chain(self.data_fin_timer)
            .min()
    }

    /// Run the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for sub in &mut self.subflows {
            sub.tcp.handle_timeout(now);
        }
        if self.data_fin_timer.is_some_and(|t| t <= now) {
            self.data_fin_timer = None;
            self.data_fin_retries += 1;
            if self.data_fin_retries > self.config.tcp.max_retransmissions {
                for sub in &mut self.subflows {
                    sub.tcp.abort();
                }
                self.closed = true;
                self.push_event(MptcpEvent::TimedOut);
                return;
            }
            self.data_fin_rto = (self.data_fin_rto * 2).min(self.config.tcp.max_rto);
            self.subflows[0].tcp.request_ack();
        }
        self.after_input(now);
    }

    // ------------------------------------------------------------- output

    /// Hand unassigned data to the subflow, declaring its mapping.
    fn assign(&mut self) {
        if self.mode == Mode::Handshake {
            return;
        }
        let sub = &mut self.subflows[0];
        let state = sub.tcp.state();
        if !matches!(state, State::Established | State::CloseWait) {
            return;
        }
        loop {
            // Once the DATA_FIN is acknowledged `data_una` is past the last
            // byte (the FIN takes a sequence number): nothing is left.
            let queued = self.data_una.wrapping_add(self.send.len() as u64);
            let unassigned = usize::try_from(diff(queued, self.data_nxt)).unwrap_or(0);
            let room = sub.tcp.writable();
            let n = unassigned
                .min(room)
                .min(usize::from(self.config.max_mapping));
            if n == 0 || (self.mode == Mode::Mptcp && !sub.tx.has_room()) {
                return;
            }
            let offset = self.data_nxt.wrapping_sub(self.data_una) as usize;
            let copied = self.send.peek(offset, &mut self.scratch[..n]);
            debug_assert_eq!(copied, n);
            let start = sub.tcp.write_seq();
            let written = sub.tcp.write(&self.scratch[..n]);
            debug_assert_eq!(written, n);
            match self.mode {
                Mode::Mptcp => {
                    let relative = start.get().wrapping_sub(sub.tcp.iss().get());
                    let checksum = self.checksum.then(|| {
                        dss_checksum(self.data_nxt, relative, n as u16, &self.scratch[..n])
                    });
                    let pushed = sub.tx.push(TxMapping {
                        start,
                        dsn: self.data_nxt,
                        len: n as u16,
                        checksum,
                    });
                    debug_assert!(pushed, "room checked, contiguous by construction");
                }
                Mode::Fallback(_) => {
                    // The subflow delivers it; nothing to reinject later.
                    self.send.consume(n);
                    self.data_una = self.data_una.wrapping_add(n as u64);
                }
                Mode::Handshake => {}
            }
            self.data_nxt = self.data_nxt.wrapping_add(n as u64);
        }
    }

    /// The next segment to send, into `buf`; `None` when there is nothing.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.mode != Mode::Handshake || self.role == Role::Client {
            self.assign();
        }
        self.progress_close(now);
        let data_ack = match self.mode {
            Mode::Mptcp => self.recv.as_ref().map(|r| {
                let fin = u64::from(self.peer_closed);
                r.rcv_nxt().wrapping_add(fin)
            }),
            _ => None,
        };
        let data_fin = self.data_fin.filter(|_| !self.data_fin_acked);
        let sub = &mut self.subflows[0];
        sub.tx.acknowledge(sub.tcp.snd_una());
        let mut options = SubflowOptions {
            mode: self.mode,
            role: self.role,
            local_key: self.local_key,
            peer_key: self.peer_key,
            checksum: self.checksum,
            send_keys: self.send_keys,
            iss: sub.tcp.iss(),
            tx: &sub.tx,
            data_ack,
            data_fin,
            option: None,
            data_fin_sent: false,
        };
        let n = sub.tcp.poll_transmit_with(now, buf, &mut options);
        if data_fin.is_some() {
            if options.data_fin_sent {
                if self.data_fin_timer.is_none() {
                    if self.data_fin_rto.is_zero() {
                        self.data_fin_rto = sub.tcp.rto();
                    }
                    self.data_fin_timer = Some(now + self.data_fin_rto);
                }
            } else if n.is_some() && self.data_fin_timer.is_none() {
                // A data segment took the pending ACK without the DATA_FIN
                // (only pure ACKs carry it): ask for one more.
                sub.tcp.request_ack();
            }
        }
        // Events the transmission caused (an RST closing, say).
        self.subflow_events();
        n
    }
}
