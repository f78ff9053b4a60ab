//! One subflow of a connection: its TCP engine and the MPTCP state that
//! goes with it (its mappings, how it was opened, backup, address IDs),
//! and what the application sees of it.

use std::time::Duration;

use umptcp_cc::PathId;
use umptcp_tcp::{Connection, FourTuple, State, SubflowSeq};
use umptcp_time::Instant;
use umptcp_wire::mptcp::TcpRstReason;
use umptcp_wire::{AddrId, Segment};

use crate::config::MptcpConfig;
use crate::data_seq::DataSeq;
use crate::endpoint::Interface;
use crate::join::{JoinInitiator, JoinResponder};
use crate::mapping::MappingTable;
use crate::scheduler::SubflowId;
use crate::trace;
use crate::tx_map::TxMap;

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
    Subflow(#[from] umptcp_tcp::Error),
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
pub(super) enum Origin {
    /// The connection's first subflow (MP_CAPABLE).
    Initial,
    /// We sent the MP_JOIN SYN.
    Initiator(JoinInitiator),
    /// We answered one.
    Responder(JoinResponder),
}

/// One subflow: a TCP engine and its MPTCP state.
#[derive(Debug)]
pub(super) struct Subflow {
    pub(super) id: SubflowId,
    pub(super) tcp: Connection,
    pub(super) path: PathId,
    /// The interface its SYN came in by (a subflow a peer opened), which
    /// its segments leave by.
    pub(super) interface: Option<Interface>,
    pub(super) tx: TxMap,
    pub(super) rx: MappingTable,
    /// The end of the last received mapping whose checksum passed: its
    /// bytes may move up in pieces (the data-level window can split them).
    pub(super) verified_until: Option<SubflowSeq>,
    pub(super) origin: Origin,
    /// Carries data at the MPTCP level: the initial subflow once the
    /// connection speaks MPTCP; a joined one once authenticated (for the
    /// initiator, once the peer acknowledged its third ACK, §3.2).
    pub(super) usable: bool,
    /// Its MP_JOIN handshake completed (it stays so when `usable` drops).
    pub(super) joined: bool,
    /// We asked for this subflow to be a backup (B flag of our MP_JOIN, or
    /// MP_PRIO), and whether the peer did: either makes it one.
    pub(super) local_backup: bool,
    pub(super) peer_backup: bool,
    /// Our MP_PRIO waits for a pure ACK.
    pub(super) prio_pending: bool,
    /// Its retransmission timer fired and nothing was acknowledged since:
    /// the path may be dead. Data goes to other subflows while there are
    /// any (Linux calls such a subflow "stale").
    pub(super) stale: bool,
    /// Our address ID on this subflow, and the peer's.
    pub(super) local_id: AddrId,
    pub(super) remote_id: Option<AddrId>,
    /// The MP_TCPRST our reset carries.
    pub(super) rst_reason: Option<TcpRstReason>,
    /// Initiator: when the third ACK goes again while unacknowledged, and
    /// how many times it went.
    pub(super) join_ack_timer: Option<Instant>,
    pub(super) join_ack_retries: u32,
    /// Closed, reset or refused, and reported.
    pub(super) gone: bool,
    /// The peer's FIN on this subflow arrived.
    pub(super) fin_received: bool,
    /// When this subflow was last penalised for holding up the window.
    pub(super) penalised_at: Option<Instant>,
    /// A DSS checksum failed at this data sequence number: the reset
    /// carries MP_FAIL with it.
    pub(super) fail_dsn: Option<DataSeq>,
    /// The data sequence number after the last byte given to this subflow
    /// (the redundant scheduler catches each subflow up to `data_nxt`).
    pub(super) sent_upto: Option<DataSeq>,
    /// MPTCP Fast Open (RFC 8684 Appendix B): the bytes of our SYN the
    /// peer took, and of its SYN we took. They lie outside the data
    /// sequence space, so relative subflow sequence numbers count from
    /// after them (see [`Subflow::tx_base`]).
    pub(super) syn_data_sent: u32,
    pub(super) syn_data_received: u32,
    /// Its log span, inside the connection's (feature `tracing`).
    pub(super) span: trace::Span,
}

impl Subflow {
    pub(super) fn new(
        id: SubflowId,
        tcp: Connection,
        config: &MptcpConfig,
        origin: Origin,
    ) -> Self {
        Subflow {
            id,
            tcp,
            path: PathId(id.0),
            interface: None,
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
            syn_data_sent: 0,
            syn_data_received: 0,
            span: trace::none(),
        }
    }

    /// The base of the relative subflow sequence numbers our mappings
    /// carry (RFC 8684 §3.3.1: "relative to the SYN"), so that relative
    /// sequence 1 is our first byte in the data sequence space: the ISN,
    /// moved past the SYN's data the peer took with it (Appendix B; Linux
    /// moves it the same way, `ssn_offset`).
    pub(super) fn tx_base(&self) -> SubflowSeq {
        self.tcp.iss() + self.syn_data_sent
    }

    /// The same base for the peer's mappings: its ISN, past the data of
    /// its SYN that we took.
    pub(super) fn rx_base(&self) -> SubflowSeq {
        self.tcp.irs() + self.syn_data_received
    }

    pub(super) fn backup(&self) -> bool {
        self.local_backup || self.peer_backup
    }

    pub(super) fn is_initial(&self) -> bool {
        matches!(self.origin, Origin::Initial)
    }

    /// How it began, in words (for logs).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(super) fn origin_kind(&self) -> &'static str {
        match self.origin {
            Origin::Initial => "initial",
            Origin::Initiator(_) => "our MP_JOIN",
            Origin::Responder(_) => "the peer's MP_JOIN",
        }
    }

    /// Whether the segment belongs to this subflow.
    pub(super) fn owns(&self, segment: &Segment<'_>) -> bool {
        let t = self.tcp.four_tuple();
        t.local.ip() == segment.dst()
            && t.local.port() == segment.dst_port()
            && t.remote.ip() == segment.src()
            && t.remote.port() == segment.src_port()
    }

    /// Able to take data now.
    pub(super) fn can_send(&self) -> bool {
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
