//! What the MPTCP layer plugs into a subflow's engine.
//!
//! A subflow is a TCP connection that carries extra options and reports to
//! the connection above it (RFC 8684 §2). The engine stays MPTCP-agnostic:
//!
//! - **Outgoing options.** [`crate::Connection::poll_transmit_with`] asks an
//!   [`OptionSource`] for the MPTCP option of each segment it builds (the
//!   MP_CAPABLE of a SYN, the DSS of a data segment or ACK, an MP_JOIN...)
//!   and for optional signalling (ADD_ADDR, REMOVE_ADDR, MP_PRIO) sent only
//!   where room is left, and tells it what went out. The source reserves
//!   option space up front, so the engine shrinks the payload to fit.
//! - **Incoming options.** The caller has the [`umptcp_wire::segment::Segment`]
//!   it passed to [`crate::Connection::handle_segment`]; that call returns a
//!   [`Received`] saying whether the engine accepted the segment and where
//!   its payload sits in the subflow sequence space, which is what a DSS
//!   mapping is relative to.
//! - **Acknowledged bytes.** [`Received::acked`] is the range of the
//!   subflow's sequence space this segment newly acknowledged, and
//!   [`crate::Connection::snd_una`] the cumulative point.
//! - **Reading.** [`crate::Connection::read_seq`] is the subflow sequence
//!   number of the next byte `read` returns, so received bytes can be mapped
//!   to data sequence numbers.
//! - **Statistics** are the engine's getters (RTT, cwnd, bytes in flight,
//!   retransmissions) and `path_info`.

use umptcp_wire::mptcp::MptcpOption;
use umptcp_wire::segment::TcpFlags;

use crate::SubflowSeq;

/// The segment the engine is about to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutgoingSegment {
    /// Its control bits (SYN, SYN|ACK, ACK, FIN, ...).
    pub flags: TcpFlags,
    /// Its sequence number.
    pub seq: SubflowSeq,
    /// Payload bytes it carries, starting at `seq` (or `seq + 1` on a SYN).
    pub payload_len: usize,
    /// Whether it carries bytes sent before (a retransmission).
    pub retransmission: bool,
}

/// Options the layer above adds to one segment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExtraOptions<'a> {
    /// The option this segment must carry (mandatory tier of
    /// `SegmentBuilder`); if it does not fit, the segment is not sent.
    pub mptcp: Option<MptcpOption<'a>>,
    /// Signalling sent only if room is left, each whole or not at all, in
    /// order; [`OptionSource::sent`] says how many went.
    pub optional: &'a [MptcpOption<'a>],
}

/// The source of the extra options of outgoing segments (the MPTCP
/// subflow state). Implemented by the layer above; the engine calls it
/// from `poll_transmit_with`.
pub trait OptionSource {
    /// Option bytes to keep free on segments that carry data (for a DSS
    /// mapping, say); the payload is shrunk by this much. Default 0.
    fn reserve(&self) -> usize {
        0
    }

    /// The most payload a segment starting at `seq` may carry. A DSS
    /// mapping is fixed once sent (RFC 8684 §3.3.1: the receiver holds the
    /// sender to it), so a segment must not straddle two mappings; the layer
    /// above says where the one starting at or before `seq` ends. Default:
    /// no limit.
    fn max_payload(&mut self, seq: SubflowSeq) -> usize {
        let _ = seq;
        usize::MAX
    }

    /// The extra options of `segment`.
    fn options(&mut self, segment: &OutgoingSegment) -> ExtraOptions<'_>;

    /// `segment` was written, with the first `optional_sent` of the optional
    /// options returned for it.
    fn sent(&mut self, segment: &OutgoingSegment, optional_sent: usize) {
        let _ = (segment, optional_sent);
    }
}

/// The source that adds nothing: plain TCP.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoOptions;

impl OptionSource for NoOptions {
    fn options(&mut self, _segment: &OutgoingSegment) -> ExtraOptions<'_> {
        ExtraOptions::default()
    }
}

/// What [`crate::Connection::handle_segment`] did with a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// The segment passed the checks (four-tuple, PAWS, window, RFC 5961)
    /// and was processed; its MPTCP options may be acted on. A rejected
    /// segment's options must be ignored.
    pub accepted: bool,
    /// Where the payload's first byte sits in the subflow sequence space,
    /// and its length (the whole payload, before any trimming of bytes
    /// already received).
    pub payload: Option<(SubflowSeq, usize)>,
    /// The subflow sequence range `[start, end)` this segment newly
    /// acknowledged, if it moved SND.UNA.
    pub acked: Option<(SubflowSeq, SubflowSeq)>,
}
