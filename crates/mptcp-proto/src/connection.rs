//! One MPTCP connection (RFC 8684): the data-sequence space above its
//! subflows, the MP_CAPABLE handshake, DSS mappings and DATA_ACKs, the
//! DATA_FIN close, and fallback to plain TCP.
//!
//! Sans-I/O like the subflow engine below it: segments and `now` in,
//! segments, timeouts and events out. A connection owns a list of
//! subflows: the initial one (index 0, never removed) and those joined
//! with MP_JOIN in either direction. A [`Scheduler`] spreads data over
//! them; data outstanding on a subflow that fails is sent again on the
//! others.

use std::collections::VecDeque;

use mptcp_cc::{CongestionControl, CongestionEvent, PathId, PathInfo};
use mptcp_crypto::{dss_checksum, idsn};
use mptcp_tcp::{
    Connection, Event, ExtraOptions, FourTuple, IsnKey, LazyStorage, OptionSource, OutgoingSegment,
    SendBuffer, State, SubflowSeq,
};
use std::time::Duration;

use mptcp_time::Instant;
use mptcp_wire::mptcp::{
    AddAddr, Dss, DssMapping, DssSeq, MpCapable, MpFail, MpFastclose, MpJoin, MpPrio, MpTcpRst,
    MptcpOption, RemoveAddr, TcpRstReason,
};
use mptcp_wire::segment::TcpFlags;
use mptcp_wire::{AddrId, Key, Nonce, Segment, TcpOption};

use crate::config::{InvalidConfig, MptcpConfig};
use crate::data_seq::{diff, expand};
use crate::event::{MptcpEvent, Violation};
use crate::handshake::{self, FallbackReason, Negotiated};
use crate::join::{JoinError, JoinInitiator, JoinParams, JoinResponder};
use crate::mapping::{MappingError, MappingTable, RxMapping};
use crate::reassembly::Reassembly;
use crate::scheduler::{Candidate, MinRtt, Scheduler, SubflowId};
use crate::signal::{AnnounceError, RemoteAddress, Signals};
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
    /// The endpoint holds `max_connections` already.
    #[error("connection limit reached")]
    Limit,
}

/// An error opening or accepting a subflow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubflowError {
    /// The connection does not speak MPTCP (not yet, or it fell back).
    #[error("the connection does not speak MPTCP")]
    NotMptcp,
    /// `max_subflows` are alive already.
    #[error("subflow limit reached")]
    Limit,
    /// A subflow with this four-tuple exists.
    #[error("a subflow with this four-tuple exists")]
    Duplicate,
    /// The connection is closing (both DATA_FINs are through).
    #[error("the connection is closing")]
    Closing,
    /// The SYN has no MP_JOIN, or its token is not this connection's.
    #[error("not an MP_JOIN SYN for this connection")]
    NotAJoin,
    /// The subflow engine refused.
    #[error("subflow: {0}")]
    Subflow(#[from] mptcp_tcp::Error),
}

impl SubflowError {
    /// The MP_TCPRST reason of the reset that refuses a join for this
    /// error (RFC 8684 §3.6).
    pub fn reset_reason(&self) -> TcpRstReason {
        match self {
            SubflowError::Limit => TcpRstReason::LackOfResources,
            SubflowError::NotMptcp | SubflowError::NotAJoin => TcpRstReason::MptcpSpecific,
            _ => TcpRstReason::Unspecified,
        }
    }
}

/// How a subflow came to be.
#[derive(Clone, Debug)]
enum Origin {
    /// The connection's first subflow (MP_CAPABLE).
    Initial,
    /// We sent the MP_JOIN SYN.
    Initiator(JoinInitiator),
    /// We answered one.
    Responder(JoinResponder),
}

/// One subflow: a TCP engine and its MPTCP state.
#[derive(Debug)]
struct Subflow {
    id: SubflowId,
    tcp: Connection,
    path: PathId,
    tx: TxMap,
    rx: MappingTable,
    /// The end of the last received mapping whose checksum passed: its
    /// bytes may move up in pieces (the data-level window can split them).
    verified_until: Option<SubflowSeq>,
    origin: Origin,
    /// Carries data at the MPTCP level: the initial subflow once the
    /// connection speaks MPTCP; a joined one once authenticated (for the
    /// initiator, once the peer acknowledged its third ACK, §3.2).
    usable: bool,
    /// Its MP_JOIN handshake completed (it stays so when `usable` drops).
    joined: bool,
    /// We asked for this subflow to be a backup (B flag of our MP_JOIN, or
    /// MP_PRIO), and whether the peer did: either makes it one.
    local_backup: bool,
    peer_backup: bool,
    /// Our MP_PRIO waits for a pure ACK.
    prio_pending: bool,
    /// Its retransmission timer fired and nothing was acknowledged since:
    /// the path may be dead. Data goes to other subflows while there are
    /// any (Linux calls such a subflow "stale").
    stale: bool,
    /// Our address ID on this subflow, and the peer's.
    local_id: AddrId,
    remote_id: Option<AddrId>,
    /// The MP_TCPRST our reset carries.
    rst_reason: Option<TcpRstReason>,
    /// Initiator: when the third ACK goes again while unacknowledged, and
    /// how many times it went.
    join_ack_timer: Option<Instant>,
    join_ack_retries: u32,
    /// Closed, reset or refused, and reported.
    gone: bool,
    /// The peer's FIN on this subflow arrived.
    fin_received: bool,
    /// When this subflow was last penalised for holding up the window.
    penalised_at: Option<Instant>,
    /// A DSS checksum failed at this data sequence number: the reset
    /// carries MP_FAIL with it.
    fail_dsn: Option<u64>,
    /// The data sequence number after the last byte given to this subflow
    /// (the redundant scheduler catches each subflow up to `data_nxt`).
    sent_upto: Option<u64>,
}

impl Subflow {
    fn new(id: SubflowId, tcp: Connection, config: &MptcpConfig, origin: Origin) -> Self {
        Subflow {
            id,
            tcp,
            path: PathId(id.0),
            tx: TxMap::new(config.max_tx_mappings),
            rx: MappingTable::new(config.max_rx_mappings),
            verified_until: None,
            origin,
            usable: false,
            joined: false,
            local_backup: false,
            peer_backup: false,
            prio_pending: false,
            stale: false,
            local_id: AddrId(0),
            remote_id: None,
            rst_reason: None,
            join_ack_timer: None,
            join_ack_retries: 0,
            gone: false,
            fin_received: false,
            penalised_at: None,
            fail_dsn: None,
            sent_upto: None,
        }
    }

    fn backup(&self) -> bool {
        self.local_backup || self.peer_backup
    }

    fn is_initial(&self) -> bool {
        matches!(self.origin, Origin::Initial)
    }

    /// Whether the segment belongs to this subflow.
    fn owns(&self, segment: &Segment<'_>) -> bool {
        let t = self.tcp.four_tuple();
        t.local.ip() == segment.dst()
            && t.local.port() == segment.dst_port()
            && t.remote.ip() == segment.src()
            && t.remote.port() == segment.src_port()
    }

    /// Able to take data now.
    fn can_send(&self) -> bool {
        self.usable
            && !self.gone
            && matches!(self.tcp.state(), State::Established | State::CloseWait)
    }
}

/// One subflow's figures, for tools and the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubflowStats {
    /// The subflow.
    pub id: SubflowId,
    /// Its addresses and ports.
    pub tuple: FourTuple,
    /// Carries data at the MPTCP level.
    pub established: bool,
    /// Used only when no regular subflow is established.
    pub backup: bool,
    /// Closed or failed.
    pub closed: bool,
    /// Smoothed RTT, once measured.
    pub srtt: Option<Duration>,
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// Segments retransmitted.
    pub retransmissions: u64,
}

/// The state of the handshake options a subflow needs to build its
/// segments, borrowed from the connection for one `poll_transmit`.
struct SubflowOptions<'a> {
    mode: Mode,
    role: Role,
    /// The initial subflow (MP_CAPABLE); otherwise a joined one.
    initial: bool,
    /// A joined subflow's MP_JOIN for its SYN, SYN/ACK or third ACK.
    join: Option<MpJoin>,
    /// Carries data-level options (DSS).
    usable: bool,
    /// The MP_TCPRST on our reset.
    rst_reason: Option<TcpRstReason>,
    /// MP_FASTCLOSE with the peer's key on our reset, instead.
    fastclose: Option<Key>,
    /// MP_FAIL on our reset, instead (a DSS checksum failed there).
    fail: Option<u64>,
    local_key: Key,
    peer_key: Option<Key>,
    checksum: bool,
    /// Client: repeat the keys on the segment at ISS+1 until the server
    /// shows it has them (RFC 8684 §3.1).
    send_keys: bool,
    /// A pure ACK with the keys went already: a pending DATA_FIN takes
    /// the next one (as Linux gives it precedence), or it would never ride
    /// before the server's first DSS.
    bare_keys_went: bool,
    /// Set when a segment built here carried the keys and no data.
    bare_keys_sent: bool,
    /// Set when a segment built here carried data.
    data_sent: bool,
    iss: SubflowSeq,
    tx: &'a TxMap,
    data_ack: Option<u64>,
    /// Our DATA_FIN's data sequence number, while unacknowledged.
    data_fin: Option<u64>,
    option: Option<MptcpOption<'static>>,
    /// Set when a segment built here carried the DATA_FIN.
    data_fin_sent: bool,
    /// An ADD_ADDR (or its echo) for the next pure ACK.
    signal: Option<AddAddr>,
    /// Set when a segment built here carried `signal`.
    signal_sent: bool,
    /// A REMOVE_ADDR for the next pure ACK.
    remove: Option<AddrId>,
    /// Set when a segment built here carried `remove`.
    remove_sent: bool,
    /// An MP_PRIO (its B flag) for the next pure ACK.
    prio: Option<bool>,
    prio_sent: bool,
    /// MP_FAIL for the next pure ACK (it rides alone, as ADD_ADDR does).
    mp_fail: Option<u64>,
    mp_fail_sent: bool,
    /// The infinite mapping for the next data segment (after the peer's
    /// MP_FAIL, or its echo of ours).
    infinite: bool,
    /// Where the subflow stream met the data stream at a mid-connection
    /// fallback: (subflow sequence, data sequence).
    fallback_at: Option<(SubflowSeq, u64)>,
    infinite_sent: bool,
}

/// Every address ID as a one-byte slice, so a REMOVE_ADDR option can
/// borrow its ID for as long as any option lives.
static ADDR_IDS: [u8; 256] = {
    let mut ids = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        ids[i] = i as u8;
        i += 1;
    }
    ids
};

/// DSS with a 4-octet DATA_ACK and an 8-octet mapping, plus checksum.
const DSS_RESERVE: usize = 4 + 4 + 8 + 4 + 2 + 2;

impl OptionSource for SubflowOptions<'_> {
    fn reserve(&self) -> usize {
        if matches!(self.mode, Mode::Fallback(_)) && !self.infinite {
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
        self.data_sent |= segment.payload_len > 0;
        match self.option {
            Some(MptcpOption::Dss(Dss {
                mapping: Some(DssMapping { data_len: 0, .. }),
                ..
            })) => self.infinite_sent = true,
            Some(MptcpOption::MpFail(_)) if !segment.flags.contains(TcpFlags::RST) => {
                self.mp_fail_sent = true;
            }
            Some(MptcpOption::Dss(Dss { data_fin: true, .. })) => self.data_fin_sent = true,
            Some(MptcpOption::AddAddr(_)) => self.signal_sent = true,
            Some(MptcpOption::RemoveAddr(_)) => self.remove_sent = true,
            Some(MptcpOption::MpPrio(_)) => self.prio_sent = true,
            Some(MptcpOption::MpCapable(_)) if segment.payload_len == 0 => {
                self.bare_keys_sent = true;
            }
            _ => {}
        }
        ExtraOptions {
            mptcp: self.option,
            optional: &[],
        }
    }
}

impl SubflowOptions<'_> {
    /// The data sequence number of the byte at subflow sequence `seq`:
    /// by its mapping, or, for bytes written after a fallback, from where
    /// the streams met.
    fn dsn_of(&self, seq: SubflowSeq) -> Option<u64> {
        match self.tx.find(seq) {
            Some(m) => Some(m.dsn.wrapping_add(u64::from(seq.distance_from(m.start)))),
            None => self
                .fallback_at
                .map(|(at, dsn)| dsn.wrapping_add(u64::from(seq.distance_from(at)))),
        }
    }

    fn option_for(&self, segment: &OutgoingSegment) -> Option<MptcpOption<'static>> {
        let flags = segment.flags;
        if !flags.intersects(TcpFlags::RST | TcpFlags::SYN | TcpFlags::FIN) {
            // §3.7: our MP_FAIL (a checksum failed here, or the peer's
            // echoed) alone on a pure ACK; after the peer's, the infinite
            // mapping in place of the next data segment's mapping.
            if let Some(dsn) = self.mp_fail
                && segment.payload_len == 0
                && self.mode == Mode::Mptcp
            {
                return Some(MptcpOption::MpFail(MpFail { dsn }));
            }
            if self.infinite
                && segment.payload_len > 0
                && let Some(dsn) = self.dsn_of(segment.seq)
            {
                let relative = segment.seq.get().wrapping_sub(self.iss.get());
                return Some(MptcpOption::Dss(Dss {
                    data_ack: None,
                    mapping: Some(DssMapping {
                        dsn: DssSeq::Long(dsn),
                        subflow_seq: relative,
                        data_len: 0,
                        checksum: self.checksum.then(|| dss_checksum(dsn, relative, 0, &[])),
                    }),
                    data_fin: false,
                }));
            }
        }
        if matches!(self.mode, Mode::Fallback(_)) {
            return None;
        }
        if flags.contains(TcpFlags::RST) {
            if let Some(receiver_key) = self.fastclose {
                return Some(MptcpOption::MpFastclose(MpFastclose { receiver_key }));
            }
            if let Some(dsn) = self.fail {
                return Some(MptcpOption::MpFail(MpFail { dsn }));
            }
            return self
                .rst_reason
                .map(|reason| MptcpOption::MpTcpRst(MpTcpRst { flags: 0, reason }));
        }
        if !self.initial {
            // A joined subflow: MP_JOIN on the SYN, SYN/ACK and third ACK
            // (repeated until the peer acknowledges it), DSS once usable.
            let syn = flags.contains(TcpFlags::SYN);
            if syn || !self.usable {
                return self
                    .join
                    .filter(|j| syn || matches!(j, MpJoin::Ack { .. }))
                    .map(MptcpOption::MpJoin);
            }
        } else if flags.contains(TcpFlags::SYN) {
            return Some(MptcpOption::MpCapable(match self.role {
                Role::Client => handshake::syn_option(self.checksum),
                Role::Server => handshake::syn_ack_option(self.local_key, self.checksum),
            }));
        }
        let mapping = self.tx.find(segment.seq).copied();
        let data_fin_first =
            segment.payload_len == 0 && self.data_fin.is_some() && self.bare_keys_went;
        if self.role == Role::Client
            && self.send_keys
            && segment.seq == self.iss + 1u32
            && !data_fin_first
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
        if segment.payload_len == 0
            && !flags.contains(TcpFlags::FIN)
            && self.data_fin.is_none()
            && let Some(signal) = self.signal
        {
            // §3.4.1: an ADD_ADDR rides alone on a pure ACK (beside a DSS
            // it may not fit); the next segment carries the DATA_ACK.
            return Some(MptcpOption::AddAddr(signal));
        }
        if segment.payload_len == 0
            && !flags.contains(TcpFlags::FIN)
            && self.data_fin.is_none()
            && let Some(backup) = self.prio
        {
            // §3.3.8: on the subflow whose priority changes.
            return Some(MptcpOption::MpPrio(MpPrio {
                backup,
                addr_id: None,
            }));
        }
        if segment.payload_len == 0
            && !flags.contains(TcpFlags::FIN)
            && self.data_fin.is_none()
            && let Some(AddrId(id)) = self.remove
        {
            let id = usize::from(id);
            return Some(MptcpOption::RemoveAddr(RemoveAddr {
                ids: &ADDR_IDS[id..=id],
            }));
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
    join: Option<MpJoin>,
    dss: Option<Dss>,
    fastclose: Option<MpFastclose>,
    fail: Option<MpFail>,
    /// Any MPTCP option at all.
    any: bool,
    add_addr: Option<AddAddr>,
    prio: Option<MpPrio>,
    /// REMOVE_ADDR's IDs (the first few; more in one option are rare).
    removed: [u8; 8],
    removed_len: usize,
}

impl IncomingOptions {
    fn of(segment: &Segment<'_>) -> Self {
        let mut out = IncomingOptions::default();
        // Malformed options are ignored one by one (RFC 8684 §3: an
        // invalid option is treated as absent).
        for option in segment.options().flatten() {
            if matches!(option, TcpOption::Mptcp(_)) {
                out.any = true;
            }
            match option {
                TcpOption::Mptcp(MptcpOption::MpFail(f)) => out.fail = Some(f),
                TcpOption::Mptcp(MptcpOption::MpCapable(c)) if out.capable.is_none() => {
                    out.capable = Some(c);
                }
                TcpOption::Mptcp(MptcpOption::MpJoin(j)) if out.join.is_none() => {
                    out.join = Some(j);
                }
                TcpOption::Mptcp(MptcpOption::Dss(d)) if out.dss.is_none() => out.dss = Some(d),
                TcpOption::Mptcp(MptcpOption::MpFastclose(f)) => out.fastclose = Some(f),
                TcpOption::Mptcp(MptcpOption::AddAddr(a)) => out.add_addr = Some(a),
                TcpOption::Mptcp(MptcpOption::MpPrio(p)) => out.prio = Some(p),
                TcpOption::Mptcp(MptcpOption::RemoveAddr(r)) => {
                    for id in r.iter() {
                        if out.removed_len < out.removed.len() {
                            out.removed[out.removed_len] = id.0;
                            out.removed_len += 1;
                        }
                    }
                }
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
    closed: bool,
    /// Our DATA_FIN, the abrupt close, the wait for a new subflow.
    closing: Closing,
    signals: Signals,
    /// Our address IDs to withdraw with REMOVE_ADDR, one per pure ACK.
    removals: VecDeque<AddrId>,
    events: VecDeque<MptcpEvent>,
    scratch: LazyStorage,
}

/// The data-level send side (RFC 8684 §3.3): what the application wrote
/// and the peer has not DATA_ACKed, and how far it went out.
#[derive(Debug)]
struct SendState {
    /// Bytes written and not yet DATA_ACKed; offset 0 is `data_una`.
    buffer: SendBuffer,
    data_una: u64,
    /// The data sequence number of the next byte to hand to a subflow.
    data_nxt: u64,
    /// Data to send again on the remaining subflows, `[start, end)`: what
    /// was outstanding when a subflow failed (§3.3.6: data must be
    /// retransmitted at the data level until DATA_ACKed).
    reinject: Option<(u64, u64)>,
    /// The right edge of the peer's data-level receive window: its
    /// DATA_ACK plus the window of the segment carrying it (RFC 8684
    /// §3.3.5: one window, shared by all subflows, relative to the
    /// DATA_ACK). Never moves left. `None` before the first DATA_ACK.
    peer_window_end: Option<u64>,
    /// The data-level retransmission timer: DATA_UNA did not move for this
    /// long while every subflow had its bytes acknowledged, so they were
    /// lost above TCP (the peer dropped them, say, out of its window).
    data_rtx_timer: Option<Instant>,
    data_rtx_backoff: u32,
    /// The DATA_UNA an opportunistic retransmission was made for (one per
    /// DATA_UNA).
    opportunistic_for: Option<u64>,
    write_blocked: bool,
}

impl SendState {
    /// Nothing written yet; the first byte will carry data sequence
    /// number `first`.
    fn new(capacity: usize, first: u64) -> Self {
        SendState {
            buffer: SendBuffer::new(capacity),
            data_una: first,
            data_nxt: first,
            reinject: None,
            peer_window_end: None,
            data_rtx_timer: None,
            data_rtx_backoff: 0,
            opportunistic_for: None,
            write_blocked: false,
        }
    }
}

/// The data-level receive side: the reassembly of the peer's data stream
/// and whether it ended.
#[derive(Debug)]
struct RecvState {
    /// Created once the peer's key (hence its IDSN) is known.
    reassembly: Option<Reassembly>,
    peer_closed: bool,
    /// After a fallback: the subflow's FIN arrived. The stream ends once
    /// every byte before it has moved up from the subflow (the data-level
    /// buffer may be full when the FIN comes).
    fallback_fin: bool,
}

/// What decides whether the connection may still fall back to TCP, and
/// the MP_FAIL exchange that leads there (RFC 8684 §3.7). The fallback
/// itself is `Mode::Fallback`.
#[derive(Debug)]
struct FallbackState {
    /// RFC 8684 §3.7: the connection may still fall back to TCP with an
    /// infinite mapping after a checksum failure: only while the subflow
    /// byte stream is the data stream (one subflow ever, no data sent
    /// twice at the data level), as Linux's `allow_infinite_fallback`.
    allow_infinite: bool,
    /// MP_FAIL to send on the subflow (not on a reset): a checksum failed
    /// on the only subflow at this DSN, or the peer's MP_FAIL, echoed as
    /// Linux expects.
    mp_fail_pending: Option<u64>,
    /// Our MP_FAIL went out: the peer's infinite mapping answers it.
    mp_fail_sent: bool,
    /// The peer's MP_FAIL came: our next data segment carries the
    /// infinite mapping, and we fall back once it went.
    infinite_pending: bool,
    /// See `SubflowOptions::fallback_at`.
    at: Option<(SubflowSeq, u64)>,
    /// Since the peer's last MPTCP option, a segment with none at all
    /// acknowledged our data at the subflow level. If the data level then
    /// stays unacknowledged for a data-level RTO, the peer fell back (or a
    /// middlebox strips its options): see `on_data_rtx_timer`.
    acked_bare: bool,
}

impl FallbackState {
    /// Falling back with an infinite mapping is still safe; nothing
    /// failed.
    fn new() -> Self {
        FallbackState {
            allow_infinite: true,
            mp_fail_pending: None,
            mp_fail_sent: false,
            infinite_pending: false,
            at: None,
            acked_bare: false,
        }
    }
}

/// How the connection ends: our DATA_FIN and its retransmission, an
/// abrupt close, and the wait for a new subflow after the last one went.
#[derive(Debug)]
struct Closing {
    /// The application will write no more (a DATA_FIN follows the data).
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
    /// We closed abruptly: our resets carry MP_FASTCLOSE.
    fastclose: bool,
    /// A subflow closed with FINs after both DATA_FINs went through.
    closed_cleanly: bool,
    /// Break-before-make: the last subflow is gone while the data is not
    /// through. The connection waits until `deadline` for a new one, then
    /// ends with `failure`.
    orphaned: Option<Orphaned>,
}

impl Closing {
    /// Open: nothing shut down or sent.
    fn new() -> Self {
        Closing {
            shutdown: false,
            data_fin: None,
            data_fin_acked: false,
            data_fin_timer: None,
            data_fin_rto: Duration::ZERO,
            data_fin_retries: 0,
            fastclose: false,
            closed_cleanly: false,
            orphaned: None,
        }
    }
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

/// A connection that lost its last subflow before its data was through.
#[derive(Clone, Copy, Debug)]
struct Orphaned {
    /// When it ends if no subflow came back.
    deadline: Instant,
    /// What it then reports: how the last subflow ended (`Reset`,
    /// `TimedOut`), or `TimedOut` if it closed without an error.
    failure: MptcpEvent,
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
        let mut subflow = Subflow::new(SubflowId(0), tcp, &config, Origin::Initial);
        // §3.4.2: the initial subflow's addresses have ID 0.
        subflow.remote_id = Some(AddrId(0));
        cc.add_path(&subflow.tcp.path_info(subflow.path), now);
        // RFC 8684 §3.1: the first data byte is IDSN + 1.
        let first = idsn(local_key).wrapping_add(1);
        // A server answering a plain SYN is plain TCP from the start: the
        // byte stream is the data stream (any base will do).
        let recv = matches!(mode, Mode::Fallback(_))
            .then(|| Reassembly::new(0, config.recv_buffer, config.max_rx_ranges));
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
            closed: false,
            closing: Closing::new(),
            signals,
            removals: VecDeque::new(),
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
        let mut tcp = Connection::connect(config.tcp.clone(), tuple, isn_key, now)?;
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
        let mut tcp = Connection::accept(config.tcp.clone(), syn, isn_key, now)?;
        let (mode, checksum) = match handshake::negotiate(offer.as_ref(), config.checksum, false) {
            Ok(n) => (Mode::Handshake, n.checksum),
            Err(reason) => (Mode::Fallback(reason), false),
        };
        if checksum {
            tcp.offer_mss(mss_for_infinite_mapping(config.tcp.mss));
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
    }

    /// Bytes the application can read now.
    pub fn readable(&self) -> usize {
        self.recv
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
        let n = self.recv.reassembly.as_mut().map_or(0, |r| r.read(buf));
        if n > 0 {
            // Room opened: bytes waiting in the subflows move up now, not
            // at the next segment (which may be a probe timer away).
            self.deliver();
        }
        n
    }

    /// Close at once (RFC 8684 §3.5, MP_FASTCLOSE): every subflow is reset
    /// and the resets carry the peer's key, so it drops the connection
    /// too. Unsent and unread data is lost. After a fallback, a plain RST.
    pub fn abort(&mut self) {
        if self.closed {
            return;
        }
        self.closing.fastclose = self.mode == Mode::Mptcp;
        for sub in self.subflows.iter_mut().filter(|s| !s.gone) {
            sub.usable = false;
            sub.tcp.abort();
        }
        self.closed = true;
        self.push_event(MptcpEvent::Closed);
    }

    /// No more data will be written: a DATA_FIN follows the last byte
    /// (after a fallback, the subflow's FIN).
    pub fn shutdown(&mut self) {
        self.closing.shutdown = true;
    }

    // ------------------------------------------------------------- events

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MptcpEvent> {
        self.events.pop_front()
    }

    /// Whether events wait to be polled.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    fn push_event(&mut self, event: MptcpEvent) {
        self.events.push_back(event);
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

    fn live_subflows(&self) -> usize {
        self.subflows.iter().filter(|s| !s.gone).count()
    }

    /// Room for one more subflow with `tuple`: forget closed joined
    /// subflows, then check the limit and uniqueness.
    fn make_room(&mut self, tuple: FourTuple) -> Result<(), SubflowError> {
        if self.mode != Mode::Mptcp || self.peer_key.is_none() || self.closed {
            return Err(SubflowError::NotMptcp);
        }
        if self.is_closing() {
            return Err(SubflowError::Closing);
        }
        self.subflows.retain(|s| s.is_initial() || !s.gone);
        self.tx_cursor = 0;
        if self.live_subflows() >= self.config.max_subflows {
            return Err(SubflowError::Limit);
        }
        if self.subflows.iter().any(|s| s.tcp.four_tuple() == tuple) {
            return Err(SubflowError::Duplicate);
        }
        Ok(())
    }

    fn add_subflow(&mut self, mut sub: Subflow, now: Instant) -> SubflowId {
        let id = sub.id;
        // Wrapping: ids only need to differ from those alive (at most
        // `max_subflows`), and a peer must not be able to overflow it.
        self.next_subflow_id = self.next_subflow_id.wrapping_add(1).max(1);
        sub.tcp.set_congestion_window(sub.tcp.cwnd());
        self.cc.add_path(&sub.tcp.path_info(sub.path), now);
        self.subflows.push(sub);
        // A second subflow: its bytes and the first one's interleave in
        // the data stream, which neither subflow's stream is any more.
        self.fallback.allow_infinite = false;
        id
    }

    /// Open a new subflow over `tuple` with MP_JOIN (RFC 8684 §3.2).
    /// `nonce` is fresh randomness from the caller; `local_id` is the
    /// address ID of `tuple.local` (0 for the initial subflow's address).
    /// A client's SYN waits until the server has shown it knows our key.
    ///
    /// # Errors
    ///
    /// [`SubflowError`] if the connection does not speak MPTCP, the limit
    /// is reached, the four-tuple is in use, or the engine refuses it.
    pub fn open_subflow(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        isn_key: IsnKey,
        nonce: Nonce,
        local_id: AddrId,
        backup: bool,
    ) -> Result<SubflowId, SubflowError> {
        self.make_room(tuple)?;
        let peer_key = self.peer_key.ok_or(SubflowError::NotMptcp)?;
        let tcp = Connection::connect(self.config.tcp.clone(), tuple, isn_key, now)?;
        let join = JoinInitiator::new(
            self.local_key,
            peer_key,
            nonce,
            JoinParams {
                addr_id: local_id,
                backup,
            },
        );
        let id = SubflowId(self.next_subflow_id);
        let mut sub = Subflow::new(id, tcp, &self.config, Origin::Initiator(join));
        sub.local_id = local_id;
        sub.local_backup = backup;
        Ok(self.add_subflow(sub, now))
    }

    /// Answer a SYN carrying MP_JOIN with this connection's token (the
    /// endpoint found the connection by it). `nonce` is fresh randomness
    /// from the caller; `local_id` is the ID of the address the SYN came
    /// to, unless we announced that address under another.
    ///
    /// # Errors
    ///
    /// [`SubflowError`]; the caller refuses the SYN with a reset carrying
    /// [`SubflowError::reset_reason`].
    pub fn accept_join(
        &mut self,
        now: Instant,
        syn: &Segment<'_>,
        isn_key: IsnKey,
        nonce: Nonce,
        local_id: AddrId,
    ) -> Result<SubflowId, SubflowError> {
        let Some(join @ MpJoin::Syn { token, .. }) = IncomingOptions::of(syn).join else {
            return Err(SubflowError::NotAJoin);
        };
        if token != mptcp_crypto::token(self.local_key) {
            return Err(SubflowError::NotAJoin);
        }
        let tuple = FourTuple {
            local: std::net::SocketAddr::new(syn.dst(), syn.dst_port()),
            remote: std::net::SocketAddr::new(syn.src(), syn.src_port()),
        };
        self.make_room(tuple)?;
        let peer_key = self.peer_key.ok_or(SubflowError::NotMptcp)?;
        // A join to an address we announced carries its ID.
        let local_id = self.signals.local_id_of(tuple.local).unwrap_or(local_id);
        let params = JoinParams {
            addr_id: local_id,
            backup: false,
        };
        let responder = JoinResponder::new(&join, self.local_key, peer_key, nonce, params)
            .map_err(|_| SubflowError::NotAJoin)?;
        let tcp = Connection::accept(self.config.tcp.clone(), syn, isn_key, now)?;
        let id = SubflowId(self.next_subflow_id);
        let peer = responder.peer();
        let mut sub = Subflow::new(id, tcp, &self.config, Origin::Responder(responder));
        sub.local_id = local_id;
        sub.remote_id = Some(peer.addr_id);
        sub.peer_backup = peer.backup;
        Ok(self.add_subflow(sub, now))
    }

    /// Announce one of our addresses to the peer with ADD_ADDR (§3.4.1),
    /// sent on a pure ACK and again until the peer echoes it. `id` names
    /// the address for the connection's life (not 0: that is the initial
    /// subflow's); `port` is set when it differs from the connection's.
    ///
    /// # Errors
    ///
    /// [`AnnounceError`]; [`AnnounceError::Limit`] also when the
    /// connection does not speak MPTCP.
    pub fn announce(
        &mut self,
        id: AddrId,
        addr: std::net::IpAddr,
        port: Option<u16>,
    ) -> Result<(), AnnounceError> {
        if self.mode != Mode::Mptcp {
            return Err(AnnounceError::Limit);
        }
        let peer_key = self.peer_key.ok_or(AnnounceError::Limit)?;
        self.signals
            .announce(RemoteAddress { id, addr, port }, self.local_key, peer_key)?;
        if let Some(sub) = self.signal_subflow() {
            sub.tcp.request_ack();
        }
        Ok(())
    }

    /// Withdraw our address `id` (§3.4.2): REMOVE_ADDR goes to the peer
    /// and our subflows from that address are reset; their data moves to
    /// the others.
    pub fn remove_address(&mut self, id: AddrId) {
        if self.mode != Mode::Mptcp {
            return;
        }
        self.signals.withdraw(id);
        if !self.removals.contains(&id) && self.removals.len() < self.config.max_addresses {
            self.removals.push_back(id);
        }
        let doomed: Vec<usize> = (0..self.subflows.len())
            .filter(|&i| !self.subflows[i].gone && self.subflows[i].local_id == id)
            .collect();
        // The REMOVE_ADDR must leave on a subflow that stays.
        if let Some(sub) = self
            .subflows
            .iter_mut()
            .find(|s| s.can_send() && s.local_id != id)
        {
            sub.tcp.request_ack();
        }
        for i in doomed {
            self.reset_subflow_at(i, TcpRstReason::Unspecified);
        }
    }

    /// The peer withdrew its address `id`: the subflows to it go.
    fn on_remove_addr(&mut self, id: AddrId) {
        let known = self.signals.forget_remote(id);
        let mut any = false;
        for i in 0..self.subflows.len() {
            if !self.subflows[i].gone && self.subflows[i].remote_id == Some(id) {
                self.reset_subflow_at(i, TcpRstReason::Unspecified);
                any = true;
            }
        }
        if any {
            self.reinject_outstanding();
        }
        // Only news is reported: a peer repeating REMOVE_ADDR cannot fill
        // the event queue.
        if known || any {
            self.push_event(MptcpEvent::AddressRemoved(id));
        }
    }

    /// The addresses the peer announced (ADD_ADDR with a valid HMAC).
    pub fn remote_addresses(&self) -> &[RemoteAddress] {
        self.signals.remote()
    }

    /// Close one subflow with a FIN; the connection goes on over the
    /// others, and the data outstanding on it is sent again there.
    pub fn close_subflow(&mut self, id: SubflowId) {
        if let Some(i) = self.subflows.iter().position(|s| s.id == id && !s.gone) {
            let sub = &mut self.subflows[i];
            sub.usable = false;
            sub.tcp.shutdown();
            self.reinject_outstanding();
        }
    }

    /// Make subflow `id` a backup, or a regular subflow again, and tell
    /// the peer with MP_PRIO (§3.3.8). A backup carries data only while
    /// no regular subflow is established.
    pub fn set_backup(&mut self, id: SubflowId, backup: bool) {
        if let Some(sub) = self.subflows.iter_mut().find(|s| s.id == id && !s.gone) {
            sub.local_backup = backup;
            sub.prio_pending = true;
            sub.tcp.request_ack();
        }
    }

    /// Reset one subflow with MP_TCPRST `reason` (§3.6).
    pub fn reset_subflow(&mut self, id: SubflowId, reason: TcpRstReason) {
        if let Some(i) = self.subflows.iter().position(|s| s.id == id && !s.gone) {
            self.reset_subflow_at(i, reason);
        }
    }

    fn reset_subflow_at(&mut self, i: usize, reason: TcpRstReason) {
        let sub = &mut self.subflows[i];
        sub.rst_reason = Some(reason);
        sub.usable = false;
        sub.tcp.abort();
        // The engine reports `Closed`; `subflow_events` turns it into
        // `SubflowClosed` and reinjects.
    }

    /// Everything not DATA_ACKed goes again on whichever subflows remain
    /// (duplicates are harmless: the receiver keeps the first copy).
    fn reinject_outstanding(&mut self) {
        if self.send.data_nxt != self.send.data_una {
            self.send.reinject = Some((self.send.data_una, self.send.data_nxt));
            self.fallback.allow_infinite = false;
        }
    }

    /// The subflow that carries connection-level signals (DATA_ACK,
    /// DATA_FIN) on a pure ACK: the first usable one.
    fn signal_subflow(&mut self) -> Option<&mut Subflow> {
        let i = self
            .subflows
            .iter()
            .position(Subflow::can_send)
            .or_else(|| self.subflows.iter().position(|s| !s.gone))?;
        Some(&mut self.subflows[i])
    }

    // -------------------------------------------------------------- input

    /// Process one segment of this connection's subflows; returns `false`
    /// if no subflow has its four-tuple (the caller routes it elsewhere).
    pub fn handle_segment(&mut self, now: Instant, segment: &Segment<'_>) -> bool {
        let Some(i) = self
            .subflows
            .iter()
            .position(|s| !s.gone && s.owns(segment))
        else {
            return false;
        };
        if self.closed {
            return true;
        }
        // RFC 8684's options ride on TCP segments: one that fails TCP's
        // acceptability tests (RFC 9293 §3.10.7.4, RFC 5961's RST, SYN
        // and ACK checks, PAWS) changes nothing here, neither by its
        // options nor by their absence. Otherwise an off-path attacker
        // who knows only the four-tuple could abort the connection (a
        // bogus mapping), fall it back (an MP_FAIL, data without DSS) or
        // make the two ends disagree on fallback and corrupt the stream.
        // The subflow still answers it (an ACK, a challenge ACK).
        let flags = segment.flags();
        if self.subflows[i].tcp.state() == State::SynSent
            && flags.contains(TcpFlags::SYN)
            && !flags.intersects(TcpFlags::ACK | TcpFlags::RST)
            && (i > 0 || self.mode == Mode::Handshake)
        {
            // A SYN without ACK in SYN-SENT is a simultaneous open to TCP
            // (RFC 9293 §3.5), whatever its sequence number: an off-path
            // attacker could use one to turn a join or an MP_CAPABLE
            // handshake into something RFC 8684 does not define and have
            // its options acted on. MPTCP has no simultaneous open (Linux
            // refuses it too): dropped.
            return true;
        }
        if !self.subflows[i].tcp.acceptable(now, segment) {
            self.subflows[i].tcp.handle_segment(now, segment);
            self.after_input(now);
            return true;
        }
        let options = IncomingOptions::of(segment);
        if let Some(fastclose) = options.fastclose
            && self.mode == Mode::Mptcp
            && fastclose.receiver_key == self.local_key
        {
            // §3.5: the peer closed abruptly; every subflow goes, with a
            // reset (harmless where the peer's side is gone already).
            for sub in &mut self.subflows {
                sub.usable = false;
                sub.tcp.abort();
            }
            self.closed = true;
            self.push_event(MptcpEvent::Reset);
            return true;
        }
        if let Some(fail) = options.fail
            && !segment.flags().contains(TcpFlags::RST)
        {
            self.on_mp_fail(i, fail.dsn);
            if self.closed {
                return true;
            }
        }
        let incoming = match (self.mode, options.dss, options.capable) {
            (
                Mode::Mptcp,
                Some(Dss {
                    mapping: Some(m),
                    data_fin,
                    ..
                }),
                _,
            ) => self.incoming_mapping(i, &m, data_fin),
            (Mode::Mptcp, None, Some(capable)) if i == 0 && self.role == Role::Server => {
                self.repeated_first_mapping(&capable)
            }
            _ => None,
        };
        // Data with no DSS: a mapping sent before may cover it (RFC 8684
        // §3.3.1: "a single mapping may cover many segments"); whether one
        // does is known once the subflow took the bytes (below).
        let bare_data = self.mode == Mode::Mptcp
            && options.dss.is_none()
            && options.capable.is_none()
            && self.subflows[i].usable
            && !segment.payload().is_empty();
        if options.any {
            self.fallback.acked_bare = false;
        } else if self.mode == Mode::Mptcp
            && !self.send_keys
            && segment.flags().contains(TcpFlags::ACK)
            && SubflowSeq(segment.ack()) > self.subflows[i].tcp.snd_una()
        {
            // Our data acknowledged with no DSS (so no DATA_ACK), after
            // the peer had shown it speaks MPTCP. A peer may send its
            // DATA_ACK only now and then; one that fell back (its side saw
            // our options vanish), or whose options a middlebox strips,
            // never sends one again. The data-level timer tells them apart.
            self.fallback.acked_bare = true;
        }
        if !self.admit_mapping(i, segment, incoming.as_ref()) {
            return true;
        }
        if i == 0
            && self.mode == Mode::Handshake
            && self.role == Role::Server
            && !self.subflows[0].tcp.state().is_synchronized()
            && options.capable.is_none()
            && options.dss.is_some()
        {
            // The client speaks MPTCP (a DSS) but this segment overtook
            // the ones with its key (the third ACK and the first data, both
            // lost or late): wait for those rather than fall back. The
            // client repeats its key until we answer with a DSS (§3.1).
            return true;
        }
        let sub = &mut self.subflows[i];
        let was_synchronized = sub.tcp.state().is_synchronized();
        let read_before = sub.tcp.read_seq();
        let received = sub.tcp.handle_segment(now, segment);
        if !received.accepted {
            self.after_input(now);
            return true;
        }
        if bare_data {
            self.options_vanished(i, segment, read_before);
        }
        let now_synchronized = self.subflows[i].tcp.state().is_synchronized();
        let syn = segment.flags().contains(TcpFlags::SYN);
        if i == 0 {
            if self.mode == Mode::Handshake && !was_synchronized && now_synchronized {
                match self.role {
                    Role::Client => self.on_syn_ack(options.capable.as_ref()),
                    Role::Server => {}
                }
            }
            if self.mode == Mode::Handshake && self.role == Role::Server && now_synchronized && !syn
            {
                self.on_third_ack(options.capable.as_ref());
            }
        } else if !self.subflows[i].joined && now_synchronized {
            self.on_join_step(now, i, syn, options.join.as_ref());
        }
        if self.mode == Mode::Mptcp
            && let Some(dss) = options.dss
        {
            self.on_dss(i, &dss);
        }
        if self.mode == Mode::Mptcp
            && let Some(prio) = options.prio
        {
            // §3.3.8: the peer asks us to use this subflow only as a
            // backup (or no longer).
            self.subflows[i].peer_backup = prio.backup;
        }
        if self.mode == Mode::Mptcp {
            for k in 0..options.removed_len {
                self.on_remove_addr(AddrId(options.removed[k]));
            }
        }
        if self.mode == Mode::Mptcp
            && let (Some(add_addr), Some(peer_key)) = (options.add_addr, self.peer_key)
        {
            if let Some(address) = self
                .signals
                .on_add_addr(&add_addr, self.local_key, peer_key)
            {
                self.push_event(MptcpEvent::AddressAnnounced(address));
            }
            if self.signals.has_pending()
                && let Some(sub) = self.signal_subflow()
            {
                sub.tcp.request_ack();
            }
        }
        if let Some(incoming) = incoming {
            self.apply_mapping(i, incoming);
        }
        self.after_input(now);
        true
    }

    /// A joined subflow's handshake, past the SYN (§3.2).
    fn on_join_step(&mut self, now: Instant, i: usize, syn: bool, join: Option<&MpJoin>) {
        let sub = &mut self.subflows[i];
        let result = match &mut sub.origin {
            Origin::Initiator(initiator) if syn => {
                // The SYN/ACK: its HMAC proves the peer knows the keys.
                match join.map(|j| initiator.on_syn_ack(j)) {
                    Some(Ok(peer)) => {
                        sub.remote_id = Some(peer.addr_id);
                        sub.peer_backup = peer.backup;
                        sub.join_ack_timer = Some(now + sub.tcp.rto());
                        Ok(false)
                    }
                    Some(Err(e)) => Err(e),
                    None => Err(JoinError::UnexpectedForm),
                }
            }
            // Any later segment acknowledges our third ACK: the subflow
            // may carry data now.
            Origin::Initiator(_) => Ok(true),
            Origin::Responder(responder) => match join.map(|j| responder.on_ack(j)) {
                Some(Ok(())) => {
                    // The fourth ACK tells the initiator it may send.
                    sub.tcp.request_ack();
                    Ok(true)
                }
                Some(Err(e)) => Err(e),
                None => Err(JoinError::UnexpectedForm),
            },
            Origin::Initial => Ok(false),
        };
        match result {
            Ok(true) => {
                sub.usable = true;
                sub.joined = true;
                sub.join_ack_timer = None;
                let id = sub.id;
                self.closing.orphaned = None;
                self.push_event(MptcpEvent::SubflowEstablished(id));
            }
            Ok(false) => {}
            Err(e) => self.reset_subflow_at(i, e.reset_reason()),
        }
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
                    let mapping = self.first_mapping(keys.client_key, data_len, checksum);
                    if self.subflows[0].rx.insert(mapping).is_err() {
                        self.protocol_error(Violation::MappingContradiction);
                    }
                }
            }
            Err(_) => self.protocol_error(Violation::BadKeys),
        }
    }

    /// The mapping implied by the MP_CAPABLE of the client's first data
    /// (RFC 8684 §3.1): data sequence IDSN+1, subflow sequence 1.
    fn first_mapping(&self, client_key: Key, data_len: u16, checksum: Option<u16>) -> RxMapping {
        RxMapping {
            subflow_seq: self.subflows[0].tcp.irs() + 1u32,
            relative_seq: 1,
            dsn: idsn(client_key).wrapping_add(1),
            len: data_len,
            checksum,
            data_fin: false,
        }
    }

    /// The client's first data segment with MP_CAPABLE after a pure third
    /// ACK already completed the handshake. RFC 8684 §3.1: the client
    /// sends MP_CAPABLE on its first data too, with the Data-Level Length
    /// of what it maps (possibly many segments, the later ones without
    /// DSS), so this is the first mapping, not a repeat to ignore. Keys
    /// other than the connection's mean it is no mapping of this
    /// connection.
    fn repeated_first_mapping(&self, capable: &MpCapable) -> Option<Incoming> {
        let keys = handshake::client_keys(capable, self.local_key).ok()?;
        let (data_len, checksum) = keys.data?;
        (Some(keys.client_key) == self.peer_key && data_len > 0)
            .then(|| Incoming::Data(self.first_mapping(keys.client_key, data_len, checksum)))
    }

    fn become_mptcp(&mut self, peer_key: Key) {
        self.peer_key = Some(peer_key);
        let peer_first = idsn(peer_key).wrapping_add(1);
        self.recv.reassembly = Some(Reassembly::new(
            peer_first,
            self.config.recv_buffer,
            self.config.max_rx_ranges,
        ));
        self.mode = Mode::Mptcp;
        self.subflows[0].usable = true;
        self.push_event(MptcpEvent::Connected { mptcp: true });
    }

    /// RFC 8684 §3.7: plain TCP from here on, for good.
    fn fall_back(&mut self, reason: FallbackReason) {
        if matches!(self.mode, Mode::Fallback(_)) {
            return;
        }
        let handshaking = self.mode == Mode::Handshake;
        if self.mode == Mode::Mptcp {
            // Mid-connection (allowed only while the subflow's stream is
            // the data stream): what the subflow carries is delivered by
            // it, so the data level keeps only what no subflow has.
            let assigned =
                usize::try_from(diff(self.send.data_nxt, self.send.data_una)).unwrap_or(0);
            self.fallback.at = Some((self.subflows[0].tcp.write_seq(), self.send.data_nxt));
            self.send
                .buffer
                .consume(assigned.min(self.send.buffer.len()));
            self.send.data_una = self.send.data_nxt;
            self.send.reinject = None;
            // Data-level timers have nothing left to guard: TCP's own
            // retransmissions and FIN do it from here.
            self.closing.data_fin_timer = None;
            self.send.data_rtx_timer = None;
        }
        self.mode = Mode::Fallback(reason);
        self.push_event(MptcpEvent::FellBack(reason));
        if self.recv.reassembly.is_none() {
            // The TCP byte stream is the data: it starts where the peer's
            // data starts (any base will do; nothing on the wire carries it).
            self.recv.reassembly = Some(Reassembly::new(
                0,
                self.config.recv_buffer,
                self.config.max_rx_ranges,
            ));
        }
        // Connected once the subflow is (before, for a SYN sent again
        // without MP_CAPABLE: see `on_subflow_event`).
        if handshaking && self.subflows[0].tcp.state().is_synchronized() {
            self.push_event(MptcpEvent::Connected { mptcp: false });
        }
    }

    /// The peer's MP_FAIL on a segment that is no reset (RFC 8684 §3.7):
    /// a DSS checksum failed on its side of our only subflow. Echo the
    /// MP_FAIL (Linux waits for it), put the infinite mapping on the next
    /// data segment, and fall back once it went (until then DATA_ACKs
    /// keep flowing: the peer stays MPTCP until it sees the mapping).
    /// Where that is not safe, the subflow goes.
    fn on_mp_fail(&mut self, i: usize, dsn: u64) {
        match self.mode {
            Mode::Mptcp | Mode::Fallback(_) if self.fallback.mp_fail_sent => {
                // The peer's echo of ours: its infinite mapping follows,
                // and ours goes on our next data segment (Linux enters
                // its receive fallback only on it).
                self.fallback.infinite_pending = true;
            }
            Mode::Mptcp if self.live_subflows() == 1 && self.fallback.allow_infinite => {
                self.fallback.mp_fail_pending = Some(dsn);
                self.fallback.infinite_pending = true;
                self.subflows[i].tcp.request_ack();
            }
            Mode::Mptcp if self.live_subflows() > 1 => {
                self.reset_subflow_at(i, TcpRstReason::MptcpSpecific);
            }
            Mode::Mptcp => self.protocol_error(Violation::BadChecksum),
            // Ours crossed the peer's, or it echoes ours: done already.
            Mode::Fallback(_) | Mode::Handshake => {}
        }
    }

    fn protocol_error(&mut self, violation: Violation) {
        for sub in &mut self.subflows {
            sub.tcp.abort();
        }
        self.push_event(MptcpEvent::ProtocolError(violation));
        self.closed = true;
    }

    fn on_dss(&mut self, i: usize, dss: &Dss) {
        // The client's keys arrived: any DSS from the server says so.
        self.send_keys = false;
        if let Some(ack) = dss.data_ack {
            self.on_data_ack(ack);
            // §3.3.5: the window the segment advertises starts at its
            // DATA_ACK.
            let ack = expand(ack, self.send.data_una);
            let end = ack.wrapping_add(u64::from(self.subflows[i].tcp.send_window()));
            if self
                .send
                .peer_window_end
                .is_none_or(|old| diff(end, old) > 0)
            {
                self.send.peer_window_end = Some(end);
            }
        }
    }

    fn on_data_ack(&mut self, ack: DssSeq) {
        let ack = expand(ack, self.send.data_una);
        // Acceptable: within [DATA_UNA, DATA_NXT], the DATA_FIN included.
        let top = self
            .closing
            .data_fin
            .map_or(self.send.data_nxt, |fin| fin.wrapping_add(1));
        let acked = ack.wrapping_sub(self.send.data_una);
        if acked == 0 || acked > top.wrapping_sub(self.send.data_una) {
            return;
        }
        // `data_una` stays on data bytes: the DATA_FIN's own sequence
        // number is acknowledged through `data_fin_acked`.
        let data = acked.min(self.send.buffer.len() as u64);
        self.send.buffer.consume(data as usize);
        self.send.data_una = self.send.data_una.wrapping_add(data);
        if data > 0 {
            self.send.data_rtx_timer = None;
            self.send.data_rtx_backoff = 0;
        }
        if let Some((start, end)) = self.send.reinject {
            // What was acknowledged meanwhile needs no second copy.
            self.send.reinject = (diff(end, self.send.data_una) > 0).then(|| {
                (
                    if diff(start, self.send.data_una) < 0 {
                        self.send.data_una
                    } else {
                        start
                    },
                    end,
                )
            });
        }
        if self
            .closing
            .data_fin
            .is_some_and(|fin| ack == fin.wrapping_add(1))
        {
            self.closing.data_fin_acked = true;
            self.closing.data_fin_timer = None;
        }
        if self.send.write_blocked && self.send.buffer.free() > 0 {
            self.send.write_blocked = false;
            self.push_event(MptcpEvent::Writable);
        }
    }

    /// Read a received DSS mapping against the data sequence space.
    fn incoming_mapping(&self, i: usize, m: &DssMapping, data_fin: bool) -> Option<Incoming> {
        let recv = self.recv.reassembly.as_ref()?;
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
        let sub = &self.subflows[i];
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
    fn admit_mapping(
        &mut self,
        i: usize,
        segment: &Segment<'_>,
        incoming: Option<&Incoming>,
    ) -> bool {
        let Some(Incoming::Data(mapping)) = incoming else {
            return true;
        };
        // RFC 8684 leaves the sender free to end a mapping in the middle
        // of a segment and to declare the next one later, on a segment
        // whose head the earlier mapping covers; so a mapping need not
        // cover the whole segment carrying it. It must touch it, though:
        // one for bytes elsewhere is no mapping this segment can declare.
        let payload = segment.payload().len() as u32;
        let seq = SubflowSeq(segment.seq());
        let touches = payload == 0 || (mapping.subflow_seq < seq + payload && seq < mapping.end());
        if !touches {
            self.protocol_error(Violation::MappingNotCovering);
            return false;
        }
        match self.subflows[i].rx.check(mapping) {
            Ok(_) => true,
            Err(MappingError::Full) => false,
            Err(_) => {
                self.protocol_error(Violation::MappingContradiction);
                false
            }
        }
    }

    /// New data came with no DSS at all and no mapping of ours covers it:
    /// a middlebox strips MPTCP options mid-connection (RFC 8684 §3.7).
    /// On the only subflow, while its stream is the data stream, fall back
    /// (the infinite mapping is implied; Linux does the same). Otherwise
    /// the segment goes on as before: no fallback is safe, and such a
    /// segment has been seen in the random-impairment search after the
    /// data-level close, so it is no reason to reset anything.
    fn options_vanished(&mut self, i: usize, segment: &Segment<'_>, read_seq: SubflowSeq) {
        let sub = &self.subflows[i];
        let seq = SubflowSeq(segment.seq());
        let end = seq + segment.payload().len() as u32;
        if self.recv.peer_closed || end <= read_seq || seq > read_seq {
            // Old bytes, or bytes beyond a hole: the segment that fills
            // the hole may carry the mapping of these too.
            return;
        }
        if sub.rx.lookup(read_seq).is_some() {
            // The next bytes to move up have their mapping: one that came
            // before, on an earlier segment.
            return;
        }
        if self.live_subflows() == 1 && self.fallback.allow_infinite {
            self.fall_back(self.options_vanished_reason());
        }
    }

    /// Why the connection falls back when the peer's MPTCP options stop:
    /// after our MP_FAIL that is the peer's answer to the failed checksum
    /// (Linux may go straight to plain TCP without the infinite mapping on
    /// the wire); otherwise as if an infinite mapping had come.
    fn options_vanished_reason(&self) -> FallbackReason {
        if self.fallback.mp_fail_sent || self.fallback.mp_fail_pending.is_some() {
            FallbackReason::ChecksumFailed
        } else {
            FallbackReason::InfiniteMapping
        }
    }

    /// Act on the mapping of a segment the subflow accepted.
    fn apply_mapping(&mut self, i: usize, incoming: Incoming) {
        match incoming {
            Incoming::Infinite => {
                if self.live_subflows() > 1 {
                    // §3.7: only the single subflow of a connection may
                    // fall back; with others, this one is reset.
                    self.reset_subflow_at(i, TcpRstReason::MptcpSpecific);
                } else if self.fallback.mp_fail_sent {
                    // The answer to our MP_FAIL.
                    self.fall_back(FallbackReason::ChecksumFailed);
                } else {
                    self.fall_back(FallbackReason::InfiniteMapping);
                }
            }
            Incoming::DataFin(dsn) => {
                if let Some(recv) = self.recv.reassembly.as_mut() {
                    recv.set_data_fin(dsn);
                }
                if self.recv.peer_closed {
                    // The peer sent its DATA_FIN again: our DATA_ACK of it
                    // was lost. A pure ACK answers nothing by itself (even
                    // with our subflow in FIN-WAIT-2), so ask for one.
                    self.subflows[i].tcp.request_ack();
                }
            }
            Incoming::Data(mapping) => {
                if mapping.data_fin
                    && let Some(recv) = self.recv.reassembly.as_mut()
                {
                    recv.set_data_fin(mapping.dsn.wrapping_add(u64::from(mapping.len)));
                }
                // Checked in `admit_mapping`; only a segment dropped by
                // the subflow can have changed nothing since.
                if self.subflows[i].rx.insert(mapping).is_err() {
                    self.protocol_error(Violation::MappingContradiction);
                }
            }
        }
    }

    /// After any input or timer: move received bytes up, report events,
    /// feed the controller, close what is finished.
    fn after_input(&mut self, now: Instant) {
        self.deliver();
        self.subflow_events(now);
        self.feed_controller();
        self.progress_close(now);
    }

    /// Move in-order subflow bytes into the data-level reassembly.
    fn deliver(&mut self) {
        let Some(recv) = self.recv.reassembly.as_ref() else {
            return;
        };
        let before = recv.readable();
        match self.mode {
            Mode::Fallback(_) => {
                // The byte stream is the data stream.
                let recv = self.recv.reassembly.as_mut().expect("checked above");
                self.subflows[0].tcp.read_with(|head, tail| {
                    let mut n = recv.push_in_order(head);
                    if n == head.len() {
                        n += recv.push_in_order(tail);
                    }
                    n
                });
            }
            Mode::Mptcp => {
                for i in 0..self.subflows.len() {
                    if self.subflows[i].gone || self.subflows[i].fail_dsn.is_some() {
                        continue;
                    }
                    let Err((dsn, end)) = self.deliver_subflow(i) else {
                        continue;
                    };
                    if self.live_subflows() > 1 {
                        // §3.7: with other subflows, the one that carried
                        // corrupted data is reset with MP_FAIL; its bytes
                        // come again over the others (the sender reinjects
                        // what a failed subflow had outstanding).
                        self.subflows[i].fail_dsn = Some(dsn);
                        self.reset_subflow_at(i, TcpRstReason::MptcpSpecific);
                    } else if self.fallback.allow_infinite
                        && self.fallback.mp_fail_pending.is_none()
                        && !self.fallback.mp_fail_sent
                        && self
                            .recv
                            .reassembly
                            .as_ref()
                            .is_some_and(|r| r.rcv_nxt() == dsn)
                    {
                        // §3.7: on the only subflow, MP_FAIL with the DSN
                        // of the failed mapping. Its bytes are taken as
                        // they came (what a middlebox changed is what
                        // plain TCP would have delivered), and the peer's
                        // infinite mapping ends MPTCP; until then DATA_ACKs
                        // go on, as Linux does, or the peer's window would
                        // never move to let that mapping out.
                        self.fallback.mp_fail_pending = Some(dsn);
                        self.subflows[i].verified_until = Some(end);
                        self.subflows[i].tcp.request_ack();
                        return self.deliver();
                    } else {
                        // Data went twice or over several subflows: the
                        // streams differ, so no fallback is safe (§3.7).
                        self.protocol_error(Violation::BadChecksum);
                        return;
                    }
                }
            }
            Mode::Handshake => {}
        }
        let (readable, mut fin_reached) = self
            .recv
            .reassembly
            .as_ref()
            .map_or((0, false), |r| (r.readable(), r.data_fin_reached()));
        if self.recv.fallback_fin && self.subflows[0].tcp.readable() == 0 {
            fin_reached = true;
        }
        if readable > before {
            self.push_event(MptcpEvent::Readable);
        }
        if !self.recv.peer_closed && fin_reached {
            self.recv.peer_closed = true;
            self.push_event(MptcpEvent::PeerClosed);
            // Acknowledge the DATA_FIN at once.
            if let Some(sub) = self.signal_subflow() {
                sub.tcp.request_ack();
            }
        }
    }

    /// Move subflow `i`'s in-order, mapped bytes up; on a DSS checksum
    /// mismatch, `Err` with the failing mapping's data sequence number.
    fn deliver_subflow(&mut self, i: usize) -> Result<(), (u64, SubflowSeq)> {
        let Some(recv) = self.recv.reassembly.as_mut() else {
            return Ok(());
        };
        let checksum = self.checksum;
        let sub = &mut self.subflows[i];
        loop {
            let seq = sub.tcp.read_seq();
            let Some(found) = sub.rx.lookup(seq) else {
                return Ok(());
            };
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
                return Err((found.mapping.dsn, found.mapping.end()));
            }
            if taken == 0 {
                return Ok(());
            }
            sub.rx.consumed(sub.tcp.read_seq());
        }
    }

    fn subflow_events(&mut self, now: Instant) {
        for i in 0..self.subflows.len() {
            while let Some(event) = self.subflows[i].tcp.poll_event() {
                self.on_subflow_event(now, i, event);
            }
            // An engine can reach CLOSED without an event to say so (a
            // reset of a subflow that had already closed its side, say):
            // its state is what counts.
            if !self.subflows[i].gone && self.subflows[i].tcp.state() == State::Closed {
                self.subflow_gone(now, i, None);
            }
        }
        if !self.closed && self.closing.orphaned.is_none() && self.subflows.iter().all(|s| s.gone) {
            self.closed = true;
            self.push_event(MptcpEvent::Closed);
        }
    }

    fn on_subflow_event(&mut self, now: Instant, i: usize, event: Event) {
        let fallback = matches!(self.mode, Mode::Fallback(_));
        match event {
            Event::Connected => {
                let reported = self.role == Role::Client
                    && self.fallback_reason() != Some(FallbackReason::SynBlackhole);
                if fallback && i == 0 && !reported {
                    self.push_event(MptcpEvent::Connected { mptcp: false });
                }
            }
            Event::Writable | Event::Readable => {}
            Event::PeerClosed => {
                self.subflows[i].fin_received = true;
                if fallback {
                    self.recv.fallback_fin = true;
                    if !self.recv.peer_closed && self.subflows[0].tcp.readable() == 0 {
                        self.recv.peer_closed = true;
                        self.push_event(MptcpEvent::PeerClosed);
                    }
                } else if self.live_subflows() > 1 {
                    // The peer closes this subflow while the connection
                    // goes on (the data-level close is the DATA_FIN):
                    // close our side too and move its data elsewhere.
                    let sub = &mut self.subflows[i];
                    sub.usable = false;
                    sub.tcp.shutdown();
                    self.reinject_outstanding();
                }
            }
            Event::Closed => self.subflow_gone(now, i, None),
            Event::Reset => self.subflow_gone(now, i, Some(MptcpEvent::Reset)),
            Event::TimedOut => self.subflow_gone(now, i, Some(MptcpEvent::TimedOut)),
        }
    }

    /// Subflow `i` finished; `failure` is what it means for the connection
    /// if it was the last one.
    fn subflow_gone(&mut self, now: Instant, i: usize, failure: Option<MptcpEvent>) {
        let sub = &mut self.subflows[i];
        if sub.gone {
            return;
        }
        sub.gone = true;
        sub.usable = false;
        // FINs both ways: the peer closed it; not a reset of ours (a join
        // reset for not being finished says nothing about the peer).
        let clean = failure.is_none() && sub.fin_received && sub.rst_reason.is_none();
        let (id, path) = (sub.id, sub.path);
        let others = self.live_subflows() > 0;
        if others {
            self.cc.remove_path(path);
            self.push_event(MptcpEvent::SubflowClosed(id));
            self.reinject_outstanding();
            if clean && self.closing.data_fin_acked && self.recv.peer_closed {
                // This subflow closed cleanly after both DATA_FINs: the
                // peer is done. Paths that stopped answering are reset
                // rather than waited for.
                self.closing.closed_cleanly = true;
                for k in 0..self.subflows.len() {
                    if !self.subflows[k].gone && self.subflows[k].stale {
                        self.reset_subflow_at(k, TcpRstReason::Unspecified);
                    }
                }
            }
            return;
        }
        if self.closed {
            return;
        }
        // Once both DATA_FINs are acknowledged the connection is complete,
        // whatever happens to its last subflow.
        let complete = self.closing.data_fin_acked && self.recv.peer_closed;
        // RFC 8684 §3.3.3: with every subflow closed but the data not
        // through, the connection is closed only after a timeout, so that
        // a new subflow can take over (break-before-make). Like the
        // kernel's `close_timeout`, this holds however the last subflow
        // ended; only an MPTCP connection can take a join.
        let joinable = self.mode == Mode::Mptcp && self.peer_key.is_some();
        if !complete && joinable && !self.config.close_timeout.is_zero() {
            self.cc.remove_path(path);
            self.push_event(MptcpEvent::SubflowClosed(id));
            self.reinject_outstanding();
            self.closing.orphaned = Some(Orphaned {
                deadline: now + self.config.close_timeout,
                failure: failure.unwrap_or(MptcpEvent::TimedOut),
            });
            return;
        }
        match failure {
            Some(event) if !complete => {
                self.closed = true;
                self.push_event(event);
            }
            _ => {
                self.closed = true;
                self.push_event(MptcpEvent::Closed);
            }
        }
    }

    /// What the controller sees of every live subflow, into the reused
    /// `path_infos`.
    fn refresh_path_infos(&mut self) {
        self.path_infos.clear();
        self.path_infos.extend(
            self.subflows
                .iter()
                .filter(|s| !s.gone)
                .map(|s| s.tcp.path_info(s.path)),
        );
    }

    fn feed_controller(&mut self) {
        let mut changed = false;
        for i in 0..self.subflows.len() {
            while let Some(event) = self.subflows[i].tcp.poll_congestion_event() {
                self.refresh_path_infos();
                let path = self.subflows[i].path;
                self.cc.on_event(path, &event, &self.path_infos);
                changed = true;
                match event {
                    CongestionEvent::RetransmissionTimeout { .. } => self.on_subflow_rto(i),
                    CongestionEvent::Ack { bytes_acked, .. } if bytes_acked > 0 => {
                        self.subflows[i].stale = false;
                    }
                    _ => {}
                }
            }
        }
        if changed {
            // A coupled controller may move every window.
            for sub in self.subflows.iter_mut().filter(|s| !s.gone) {
                sub.tcp.set_congestion_window(self.cc.window(sub.path));
            }
        }
    }

    /// Subflow `i` timed out once: if another subflow can carry data, send
    /// what is outstanding there too rather than wait for this path
    /// (RFC 8684 §3.3.6; Linux reinjects on its MPTCP-level timer).
    fn on_subflow_rto(&mut self, i: usize) {
        self.subflows[i].stale = true;
        if self.closing.closed_cleanly {
            // Another subflow closed with FINs both ways after both
            // DATA_FINs, so the peer is done too (it closes subflows only
            // then): do not wait minutes for this path. Before that the
            // peer may still need our DATA_ACK, and a reset would cost it
            // the connection.
            self.reset_subflow_at(i, TcpRstReason::Unspecified);
            return;
        }
        let other = self
            .subflows
            .iter()
            .enumerate()
            .any(|(k, s)| k != i && s.can_send() && !s.stale);
        if other && self.mode == Mode::Mptcp {
            self.reinject_outstanding();
        }
    }

    /// The DATA_FIN, then the subflows' FINs.
    fn progress_close(&mut self, now: Instant) {
        if !self.closing.shutdown || self.closed {
            return;
        }
        let unassigned = self.send.data_nxt
            != self
                .send
                .data_una
                .wrapping_add(self.send.buffer.len() as u64);
        match self.mode {
            Mode::Fallback(_) => {
                if !unassigned {
                    self.subflows[0].tcp.shutdown();
                }
            }
            Mode::Mptcp => {
                if self.closing.data_fin.is_none() && !unassigned {
                    self.closing.data_fin = Some(self.send.data_nxt);
                    if let Some(sub) = self.signal_subflow() {
                        sub.tcp.request_ack();
                    }
                }
                // RFC 8684 §3.3.3: once both DATA_FINs are acknowledged the
                // subflows close.
                if self.closing.data_fin_acked && self.recv.peer_closed {
                    let fresh = self.subflows.iter().any(|s| s.can_send() && !s.stale);
                    for i in 0..self.subflows.len() {
                        let sub = &mut self.subflows[i];
                        if sub.gone {
                            continue;
                        }
                        if (fresh && sub.stale) || !sub.tcp.state().is_synchronized() {
                            // A path that stopped answering while another
                            // works, or a join not finished: reset it
                            // rather than wait minutes for its timers. A
                            // lone subflow closes with its FIN, whose
                            // retransmissions the peer may still need.
                            self.reset_subflow_at(i, TcpRstReason::Unspecified);
                        } else {
                            // Not `shutdown`: FIN-WAIT-2 then has a timeout
                            // (the peer's FIN may never come if its side of
                            // this subflow was reset). Every byte up to the
                            // peer's DATA_FIN has arrived, so what the
                            // subflow holds or still receives are copies (a
                            // redundant scheduler's, a reinjection in
                            // flight, a mapping not complete here): thrown
                            // away, not reset for, or the RST would cost
                            // our last DATA_ACK and FIN.
                            sub.tcp.close_discarding(now);
                        }
                    }
                }
            }
            Mode::Handshake => {}
        }
    }

    // ------------------------------------------------------------- timers

    /// When [`MptcpConnection::handle_timeout`] is next due.
    ///
    /// A closed connection has only its subflows' own timers (a RST or a
    /// FIN still to send, TIME-WAIT): nothing at the data level is left
    /// to retransmit, announce or wait for, so the endpoint can free it
    /// once those end.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let subflows = self.subflows.iter().filter_map(|s| {
            let join_ack = s.join_ack_timer.filter(|_| !self.closed);
            s.tcp.poll_timeout().into_iter().chain(join_ack).min()
        });
        if self.closed {
            return subflows.min();
        }
        subflows
            .chain(self.closing.data_fin_timer)
            .chain(self.send.data_rtx_timer)
            .chain(self.signals.poll_timeout())
            .chain(self.closing.orphaned.map(|o| o.deadline))
            .min()
    }

    /// Run the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            for sub in &mut self.subflows {
                sub.tcp.handle_timeout(now);
            }
            self.subflow_events(now);
            return;
        }
        if let Some(orphaned) = self.closing.orphaned
            && orphaned.deadline <= now
            && !self.closed
        {
            // No subflow came back in time (joins still opening are reset).
            for sub in self.subflows.iter_mut().filter(|s| !s.gone) {
                sub.usable = false;
                sub.tcp.abort();
            }
            self.closing.orphaned = None;
            self.closed = true;
            self.push_event(orphaned.failure);
            return;
        }
        let first = &self.subflows[0].tcp;
        if self.role == Role::Client
            && self.mode == Mode::Handshake
            && first.state() == State::SynSent
            && first.poll_timeout().is_some_and(|t| t <= now)
            && first.retransmissions() + 1 >= u64::from(self.config.mptcp_syns)
        {
            // §3.7: `mptcp_syns` SYNs with MP_CAPABLE went unanswered,
            // perhaps dropped for their option: the one due now goes
            // without, and the connection is plain TCP.
            self.fall_back(FallbackReason::SynBlackhole);
        }
        for sub in &mut self.subflows {
            sub.tcp.handle_timeout(now);
        }
        for i in 0..self.subflows.len() {
            let sub = &mut self.subflows[i];
            if sub.join_ack_timer.is_some_and(|t| t <= now) {
                // Our third ACK is still unacknowledged: send it again.
                sub.join_ack_retries += 1;
                if sub.join_ack_retries > self.config.tcp.max_retransmissions {
                    sub.join_ack_timer = None;
                    self.reset_subflow_at(i, TcpRstReason::MptcpSpecific);
                    continue;
                }
                let backoff = sub.tcp.rto() * (1 << sub.join_ack_retries.min(6));
                sub.join_ack_timer = Some(now + backoff.min(self.config.tcp.max_rto));
                sub.tcp.request_ack();
            }
        }
        if self.send.data_rtx_timer.is_some_and(|t| t <= now) {
            self.on_data_rtx_timer(now);
        }
        if self.signals.poll_timeout().is_some_and(|t| t <= now) {
            self.signals.handle_timeout(now);
            if self.signals.has_pending()
                && let Some(sub) = self.signal_subflow()
            {
                sub.tcp.request_ack();
            }
        }
        if self.closing.data_fin_timer.is_some_and(|t| t <= now) {
            self.closing.data_fin_timer = None;
            self.closing.data_fin_retries += 1;
            if self.closing.data_fin_retries > self.config.tcp.max_retransmissions {
                for sub in &mut self.subflows {
                    sub.tcp.abort();
                }
                self.closed = true;
                self.push_event(MptcpEvent::TimedOut);
                return;
            }
            self.closing.data_fin_rto =
                (self.closing.data_fin_rto * 2).min(self.config.tcp.max_rto);
            if self.send_keys {
                // No DSS from the server yet: perhaps our third ACK never
                // reached it, and it waits for our keys before it takes a
                // DSS. The keys go again on a pure ACK, then the DATA_FIN.
                self.bare_keys_went = false;
            }
            if let Some(sub) = self.signal_subflow() {
                sub.tcp.request_ack();
            }
        }
        self.after_input(now);
    }

    /// The data-level timer's period: the slowest usable subflow's RTO,
    /// doubled per expiry without progress.
    fn data_rto(&self) -> Duration {
        let base = self
            .subflows
            .iter()
            .filter(|s| s.can_send())
            .map(|s| s.tcp.rto())
            .max()
            .unwrap_or(self.config.tcp.max_rto);
        (base * (1 << self.send.data_rtx_backoff.min(6))).min(self.config.tcp.max_rto)
    }

    /// Arm the data-level timer while data is outstanding.
    fn arm_data_rtx(&mut self, now: Instant) {
        if self.mode == Mode::Mptcp
            && !self.closed
            && self.send.data_rtx_timer.is_none()
            && self.send.data_una != self.send.data_nxt
        {
            self.send.data_rtx_timer = Some(now + self.data_rto());
        }
    }

    /// DATA_UNA did not move for a data-level RTO. If some subflow still
    /// has bytes in flight, its own recovery is at work: wait again.
    /// Otherwise every subflow had its bytes acknowledged and the peer
    /// still lacks the head: send it again (RFC 8684 §3.3.6).
    fn on_data_rtx_timer(&mut self, now: Instant) {
        self.send.data_rtx_timer = None;
        if self.mode != Mode::Mptcp || self.send.data_una == self.send.data_nxt {
            return;
        }
        let in_flight = self
            .subflows
            .iter()
            .any(|s| s.can_send() && s.tcp.write_seq() != s.tcp.snd_una());
        if !in_flight
            && self.fallback.acked_bare
            && self.live_subflows() == 1
            && self.fallback.allow_infinite
        {
            // RFC 8684 §3.7: every byte was acknowledged at the subflow
            // level, by segments with no MPTCP option, and no DATA_ACK came
            // for a data-level RTO: the peer is plain TCP now (it fell back
            // when our options vanished, or a middlebox strips its own).
            // TCP carries the data from here on.
            self.fall_back(self.options_vanished_reason());
            return;
        }
        if !in_flight && self.send.reinject.is_none() {
            let chunk = u64::from(self.config.max_mapping)
                .min(self.send.data_nxt.wrapping_sub(self.send.data_una));
            self.send.reinject = Some((self.send.data_una, self.send.data_una.wrapping_add(chunk)));
            self.fallback.allow_infinite = false;
            self.send.data_rtx_backoff += 1;
        }
        self.send.data_rtx_timer = Some(now + self.data_rto());
    }

    // ------------------------------------------------------------- output

    /// Plain TCP: the initial subflow takes the data as a byte stream.
    fn assign_fallback(&mut self) {
        let sub = &mut self.subflows[0];
        if !matches!(sub.tcp.state(), State::Established | State::CloseWait) {
            return;
        }
        loop {
            let queued = self
                .send
                .data_una
                .wrapping_add(self.send.buffer.len() as u64);
            let unassigned = usize::try_from(diff(queued, self.send.data_nxt)).unwrap_or(0);
            let n = unassigned
                .min(sub.tcp.writable())
                .min(self.scratch.capacity());
            if n == 0 {
                return;
            }
            let copied = self.send.buffer.peek(0, &mut self.scratch.bytes_mut()[..n]);
            debug_assert_eq!(copied, n);
            let written = sub.tcp.write(&self.scratch.bytes()[..n]);
            debug_assert_eq!(written, n);
            // The subflow delivers it; nothing to reinject later.
            self.send.buffer.consume(n);
            self.send.data_una = self.send.data_una.wrapping_add(n as u64);
            self.send.data_nxt = self.send.data_una;
        }
    }

    /// Hand data to the subflows the scheduler picks, declaring each
    /// chunk's mapping: first what a failed subflow left outstanding,
    /// then new bytes.
    fn assign(&mut self, now: Instant) {
        match self.mode {
            Mode::Handshake => return,
            Mode::Fallback(_) => return self.assign_fallback(),
            Mode::Mptcp => {}
        }
        loop {
            let queued = self
                .send
                .data_una
                .wrapping_add(self.send.buffer.len() as u64);
            let (dsn, avail, reinjecting) = match self.send.reinject {
                Some((start, end)) => (start, diff(end, start), true),
                None => {
                    // New data stays inside the peer's data-level window:
                    // beyond it the peer drops it (after its subflow
                    // acknowledged it), and it would have to be sent again.
                    let room = self
                        .send
                        .peer_window_end
                        .map_or(i64::MAX, |end| diff(end, self.send.data_nxt));
                    let waiting = diff(queued, self.send.data_nxt);
                    if room <= 0 && waiting > 0 && self.opportunistic(now) {
                        continue;
                    }
                    (self.send.data_nxt, waiting.min(room), false)
                }
            };
            let avail = usize::try_from(avail).unwrap_or(0);
            if avail == 0 {
                if reinjecting {
                    self.send.reinject = None;
                    continue;
                }
                return;
            }
            self.candidates.clear();
            self.candidate_index.clear();
            // A stale subflow takes data only when every subflow is stale.
            let fresh = self.subflows.iter().any(|s| s.can_send() && !s.stale);
            for (i, sub) in self.subflows.iter().enumerate() {
                if sub.can_send() && !(fresh && sub.stale) {
                    // Bytes given to the subflow and not yet acknowledged
                    // there count against its window: data waits at the
                    // connection level, where any subflow can take it. A
                    // subflow without room stays listed (with no space), so
                    // the scheduler knows a regular subflow is there.
                    let queued = u64::from(sub.tcp.write_seq().distance_from(sub.tcp.snd_una()));
                    let full = !sub.tx.has_room();
                    // Room (in the window and the send buffer) counts in
                    // whole segments (see below): a subflow with less than
                    // one free is full.
                    let segment = sub.tcp.mss().saturating_sub(DSS_RESERVE).max(1) as u64;
                    let room = sub
                        .tcp
                        .cwnd()
                        .saturating_sub(queued)
                        .min(sub.tcp.writable() as u64);
                    self.candidates.push(Candidate {
                        id: sub.id,
                        srtt: sub.tcp.srtt(),
                        space: if full { 0 } else { room - room % segment },
                        backup: sub.backup(),
                    });
                    self.candidate_index.push(i);
                }
            }
            if self.candidates.is_empty() {
                return;
            }
            if self.scheduler.redundant() && !reinjecting {
                self.catch_up_redundant();
            }
            let Some(&i) = self
                .scheduler
                .pick(&self.candidates)
                .and_then(|k| self.candidate_index.get(k))
            else {
                return;
            };
            let space = self
                .candidates
                .iter()
                .find(|c| c.id == self.subflows[i].id)
                .map_or(0, |c| c.space);
            let sub = &mut self.subflows[i];
            let mut n = avail
                .min(usize::try_from(space).unwrap_or(usize::MAX))
                .min(sub.tcp.writable())
                .min(usize::from(self.config.max_mapping));
            // Whole segments while more data waits: the subflow cuts its
            // segments at mapping ends, so a mapping ending mid-segment
            // would go out as a full segment and a runt (sender-side
            // silly window avoidance, RFC 9293 §3.8.6.2.1, at the mapping
            // level). Less room than a segment: wait for more.
            let segment = sub.tcp.mss().saturating_sub(DSS_RESERVE).max(1);
            if n < avail {
                n -= n % segment;
            }
            if n == 0 {
                return;
            }
            let offset = usize::try_from(diff(dsn, self.send.data_una)).unwrap_or(0);
            let copied = self
                .send
                .buffer
                .peek(offset, &mut self.scratch.bytes_mut()[..n]);
            debug_assert_eq!(copied, n);
            self.put_chunk(i, dsn, n);
            let next = dsn.wrapping_add(n as u64);
            if reinjecting {
                let end = self.send.reinject.map_or(next, |(_, end)| end);
                self.send.reinject = (next != end).then_some((next, end));
            } else {
                self.send.data_nxt = next;
            }
        }
    }

    /// Opportunistic retransmission with penalisation (Raiciu et al.,
    /// NSDI 2012): the peer's window is full, held up by bytes at DATA_UNA
    /// that a slower subflow carries, while a faster one has room. Send
    /// those bytes again on the faster one (once per DATA_UNA), and
    /// penalise the slow one (its window is cut as after a loss, at most
    /// once per its RTT) so that it holds less of the window. Returns
    /// whether a reinjection was queued.
    fn opportunistic(&mut self, now: Instant) -> bool {
        if !self.config.opportunistic_retransmission
            || self.send.reinject.is_some()
            || self.send.opportunistic_for == Some(self.send.data_una)
        {
            return false;
        }
        let una = self.send.data_una;
        let Some(h) = self.subflows.iter().position(|s| {
            !s.gone
                && s.tx.iter().any(|m| {
                    diff(una, m.dsn) >= 0 && diff(m.dsn.wrapping_add(u64::from(m.len)), una) > 0
                })
        }) else {
            return false;
        };
        let holder_rtt = self.subflows[h].tcp.srtt().unwrap_or(Duration::MAX);
        let faster = self.subflows.iter().enumerate().any(|(k, s)| {
            k != h
                && s.can_send()
                && !s.stale
                && s.tcp.srtt().is_some_and(|r| r < holder_rtt)
                && s.tcp.cwnd() > u64::from(s.tcp.write_seq().distance_from(s.tcp.snd_una()))
        });
        if !faster {
            return false;
        }
        self.send.opportunistic_for = Some(una);
        let chunk = u64::from(self.config.max_mapping).min(self.send.data_nxt.wrapping_sub(una));
        self.send.reinject = Some((una, una.wrapping_add(chunk)));
        self.fallback.allow_infinite = false;
        let holder = &mut self.subflows[h];
        let due = holder
            .penalised_at
            .is_none_or(|t| now.saturating_duration_since(t) >= holder_rtt);
        if due {
            holder.penalised_at = Some(now);
            let path = holder.path;
            let flight = u64::from(holder.tcp.write_seq().distance_from(holder.tcp.snd_una()));
            self.refresh_path_infos();
            // To the controller this is a loss: multiplicative decrease.
            self.cc.on_event(
                path,
                &CongestionEvent::FastRetransmit {
                    now,
                    bytes_in_flight: flight,
                },
                &self.path_infos,
            );
            self.cc.on_event(
                path,
                &CongestionEvent::RecoveryExit { now },
                &self.path_infos,
            );
            let window = self.cc.window(path);
            self.subflows[h].tcp.set_congestion_window(window);
        }
        true
    }

    /// Give subflow `i` the `n` bytes in `scratch`, which carry data
    /// sequence numbers from `dsn`, and declare their mapping.
    fn put_chunk(&mut self, i: usize, dsn: u64, n: usize) {
        let sub = &mut self.subflows[i];
        let start = sub.tcp.write_seq();
        let written = sub.tcp.write(&self.scratch.bytes()[..n]);
        debug_assert_eq!(written, n);
        let relative = start.get().wrapping_sub(sub.tcp.iss().get());
        let checksum = self
            .checksum
            .then(|| dss_checksum(dsn, relative, n as u16, &self.scratch.bytes()[..n]));
        let pushed = sub.tx.push(TxMapping {
            start,
            dsn,
            len: n as u16,
            checksum,
        });
        debug_assert!(pushed, "room checked, contiguous by construction");
        let end = dsn.wrapping_add(n as u64);
        if sub.sent_upto.is_none_or(|upto| diff(end, upto) > 0) {
            sub.sent_upto = Some(end);
        }
    }

    /// The redundant scheduler: every subflow with room first catches up
    /// on the bytes the others carried and it did not (from DATA_UNA on),
    /// so each byte goes over every subflow; the receiver keeps the first
    /// copy to arrive. Backups only while no regular subflow is there.
    fn catch_up_redundant(&mut self) {
        let regular = self.candidates.iter().any(|c| !c.backup);
        for k in 0..self.candidates.len() {
            let i = self.candidate_index[k];
            let candidate = self.candidates[k];
            if regular && candidate.backup {
                continue;
            }
            let sub = &self.subflows[i];
            let from = sub
                .sent_upto
                .filter(|upto| diff(*upto, self.send.data_una) > 0)
                .unwrap_or(self.send.data_una);
            let behind = usize::try_from(diff(self.send.data_nxt, from)).unwrap_or(0);
            let n = behind
                .min(usize::try_from(candidate.space).unwrap_or(usize::MAX))
                .min(sub.tcp.writable())
                .min(usize::from(self.config.max_mapping));
            if n == 0 || !sub.tx.has_room() {
                continue;
            }
            let offset = usize::try_from(diff(from, self.send.data_una)).unwrap_or(0);
            let copied = self
                .send
                .buffer
                .peek(offset, &mut self.scratch.bytes_mut()[..n]);
            debug_assert_eq!(copied, n);
            self.put_chunk(i, from, n);
            self.candidates[k].space -= n as u64;
        }
    }

    /// The next segment to send, into `buf`; `None` when there is nothing.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.mode != Mode::Handshake || self.role == Role::Client {
            self.assign(now);
        }
        self.arm_data_rtx(now);
        self.progress_close(now);
        let count = self.subflows.len();
        for k in 0..count {
            let i = (self.tx_cursor + k) % count;
            if let Some(n) = self.transmit_on(now, i, buf) {
                self.tx_cursor = (i + 1) % count;
                // Events the transmission caused (an RST closing, say).
                self.subflow_events(now);
                return Some(n);
            }
        }
        self.subflow_events(now);
        None
    }

    /// The next segment of subflow `i`, if it has one.
    fn transmit_on(&mut self, now: Instant, i: usize, buf: &mut [u8]) -> Option<usize> {
        if self.send_keys && matches!(self.subflows[i].origin, Origin::Initiator(_)) {
            // A client's join waits until the server showed it has our key
            // (its first DSS): before that it may not know our token yet
            // and would refuse the MP_JOIN.
            return None;
        }
        let data_ack = match self.mode {
            Mode::Mptcp => self.recv.reassembly.as_ref().map(|r| {
                let fin = u64::from(self.recv.peer_closed);
                r.rcv_nxt().wrapping_add(fin)
            }),
            _ => None,
        };
        // After a fallback the subflow's FIN is the close; a DATA_FIN set
        // before it is no longer sent.
        let data_fin = self
            .closing
            .data_fin
            .filter(|_| !self.closing.data_fin_acked && self.mode == Mode::Mptcp);
        let signal = match self.mode {
            Mode::Mptcp if self.subflows[i].can_send() => self.signals.next(),
            _ => None,
        };
        let sub = &mut self.subflows[i];
        sub.tx.acknowledge(sub.tcp.snd_una());
        let join = match &sub.origin {
            Origin::Initial => None,
            Origin::Initiator(j) if sub.tcp.state() == State::SynSent => Some(j.syn_option()),
            Origin::Initiator(j) => j.ack_option(),
            // Only its SYN/ACK carries it: no HMAC on every other pass (a
            // join flood made that a third of the time spent).
            Origin::Responder(j) if sub.tcp.state() == State::SynReceived => {
                Some(j.syn_ack_option())
            }
            Origin::Responder(_) => None,
        };
        let mut options = SubflowOptions {
            mode: self.mode,
            role: self.role,
            initial: sub.is_initial(),
            join,
            usable: sub.usable,
            rst_reason: sub.rst_reason,
            fastclose: self.peer_key.filter(|_| self.closing.fastclose),
            fail: sub.fail_dsn,
            local_key: self.local_key,
            peer_key: self.peer_key,
            checksum: self.checksum,
            send_keys: self.send_keys,
            bare_keys_went: self.bare_keys_went,
            bare_keys_sent: false,
            data_sent: false,
            iss: sub.tcp.iss(),
            tx: &sub.tx,
            data_ack,
            data_fin: data_fin.filter(|_| sub.usable),
            option: None,
            data_fin_sent: false,
            signal,
            signal_sent: false,
            remove: self.removals.front().copied().filter(|_| sub.can_send()),
            remove_sent: false,
            prio: sub
                .prio_pending
                .then_some(sub.local_backup)
                .filter(|_| sub.usable),
            prio_sent: false,
            mp_fail: self.fallback.mp_fail_pending.filter(|_| i == 0),
            mp_fail_sent: false,
            infinite: self.fallback.infinite_pending && i == 0,
            fallback_at: self.fallback.at,
            infinite_sent: false,
        };
        let n = sub.tcp.poll_transmit_with(now, buf, &mut options);
        if options.mp_fail_sent {
            self.fallback.mp_fail_pending = None;
            self.fallback.mp_fail_sent = !self.fallback.infinite_pending;
        }
        let infinite_sent = options.infinite_sent;
        if options.prio_sent {
            sub.prio_pending = false;
        }
        if options.remove_sent {
            self.removals.pop_front();
            if !self.removals.is_empty() {
                sub.tcp.request_ack();
            }
        }
        if options.signal_sent
            && let Some(signal) = signal
        {
            self.signals.sent(&signal, now, sub.tcp.rto());
            if self.signals.has_pending() {
                sub.tcp.request_ack();
            }
        }
        if data_fin.is_some() && sub.usable {
            if options.data_fin_sent {
                if self.closing.data_fin_timer.is_none() {
                    if self.closing.data_fin_rto.is_zero() {
                        self.closing.data_fin_rto = sub.tcp.rto();
                    }
                    self.closing.data_fin_timer = Some(now + self.closing.data_fin_rto);
                }
            } else if n.is_some()
                && self.closing.data_fin_timer.is_none()
                && (options.data_sent || options.bare_keys_sent)
            {
                // A data segment, or the keys on a pure ACK, took the
                // pending ACK without the DATA_FIN (only pure ACKs carry
                // it): ask for one more. Any other segment without it is
                // no reason to ask again: that would never end.
                sub.tcp.request_ack();
            }
        }
        if options.bare_keys_sent {
            self.bare_keys_went = true;
        }
        if infinite_sent {
            // §3.7: the infinite mapping went; plain TCP from here on.
            self.fallback.infinite_pending = false;
            self.fall_back(FallbackReason::ChecksumFailed);
        }
        n
    }
}
