//! Falling back to plain TCP mid-connection (RFC 8684 §3.7): after
//! MP_FAIL and the infinite mapping, or when the peer's options vanish.
//! A fallback at the handshake is decided in `input.rs` and `timers.rs`;
//! all of them end in `fall_back`.

use umptcp_tcp::SubflowSeq;
use umptcp_wire::Segment;
use umptcp_wire::mptcp::TcpRstReason;

use crate::data_seq::DataSeq;
use crate::event::{MptcpEvent, Violation};
use crate::handshake::FallbackReason;
use crate::reassembly::Reassembly;

use super::{Mode, MptcpConnection};

/// What decides whether the connection may still fall back to TCP, and
/// the MP_FAIL exchange that leads there (RFC 8684 §3.7). The fallback
/// itself is `Mode::Fallback`.
#[derive(Debug)]
pub(super) struct FallbackState {
    /// RFC 8684 §3.7: the connection may still fall back to TCP with an
    /// infinite mapping after a checksum failure: only while the subflow
    /// byte stream is the data stream (one subflow ever, no data sent
    /// twice at the data level), as Linux's `allow_infinite_fallback`.
    pub(super) allow_infinite: bool,
    /// MP_FAIL to send on the subflow (not on a reset): a checksum failed
    /// on the only subflow at this DSN, or the peer's MP_FAIL, echoed as
    /// Linux expects.
    pub(super) mp_fail_pending: Option<DataSeq>,
    /// Our MP_FAIL went out: the peer's infinite mapping answers it.
    pub(super) mp_fail_sent: bool,
    /// The peer's MP_FAIL came: our next data segment carries the
    /// infinite mapping, and we fall back once it went.
    pub(super) infinite_pending: bool,
    /// See `SubflowOptions::fallback_at`.
    pub(super) at: Option<(SubflowSeq, DataSeq)>,
    /// Since the peer's last MPTCP option, a segment with none at all
    /// acknowledged our data at the subflow level. If the data level then
    /// stays unacknowledged for a data-level RTO, the peer fell back (or a
    /// middlebox strips its options): see `on_data_rtx_timer`.
    pub(super) acked_bare: bool,
}

impl FallbackState {
    /// Falling back with an infinite mapping is still safe; nothing
    /// failed.
    pub(super) fn new() -> Self {
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

impl MptcpConnection {
    /// RFC 8684 §3.7: plain TCP from here on, for good.
    pub(super) fn fall_back(&mut self, reason: FallbackReason) {
        if matches!(self.mode, Mode::Fallback(_)) {
            return;
        }
        let handshaking = self.mode == Mode::Handshake;
        if self.mode == Mode::Mptcp {
            // Mid-connection (allowed only while the subflow's stream is
            // the data stream): what the subflow carries is delivered by
            // it, so the data level keeps only what no subflow has.
            let assigned =
                usize::try_from(self.send.data_nxt.diff(self.send.data_una)).unwrap_or(0);
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
        if handshaking {
            // A Fast Open SYN's data is the subflow's now, acknowledged or
            // not (the SYN went again without MP_CAPABLE, say).
            self.settle_syn_data();
        }
        self.push_event(MptcpEvent::FellBack(reason));
        if self.recv.reassembly.is_none() {
            // The TCP byte stream is the data: it starts where the peer's
            // data starts (any base will do; nothing on the wire carries it).
            self.recv.reassembly = Some(Reassembly::new(
                DataSeq(0),
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
    pub(super) fn on_mp_fail(&mut self, i: usize, dsn: DataSeq) {
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

    /// New data came with no DSS at all and no mapping of ours covers it:
    /// a middlebox strips MPTCP options mid-connection (RFC 8684 §3.7).
    /// On the only subflow, while its stream is the data stream, fall back
    /// (the infinite mapping is implied; Linux does the same). Otherwise
    /// the segment goes on as before: no fallback is safe, and such a
    /// segment has been seen in the random-impairment search after the
    /// data-level close, so it is no reason to reset anything.
    pub(super) fn options_vanished(
        &mut self,
        i: usize,
        segment: &Segment<'_>,
        read_seq: SubflowSeq,
    ) {
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
    pub(super) fn options_vanished_reason(&self) -> FallbackReason {
        if self.fallback.mp_fail_sent || self.fallback.mp_fail_pending.is_some() {
            FallbackReason::ChecksumFailed
        } else {
            FallbackReason::InfiniteMapping
        }
    }
}
