//! The data-level receive side: received DSS mappings read, admitted and
//! recorded, and subflow bytes moved up into the data-level reassembly
//! (with DSS checksums verified there).

use umptcp_tcp::SubflowSeq;
use umptcp_wire::Segment;
use umptcp_wire::mptcp::{DssMapping, TcpRstReason};

use crate::data_seq::{DataSeq, expand};
use crate::event::{MptcpEvent, Violation};
use crate::handshake::FallbackReason;
use crate::mapping::{MappingError, RxMapping};
use crate::reassembly::Reassembly;

use super::{Mode, MptcpConnection};

/// What a received DSS mapping means.
#[derive(Clone, Copy, Debug)]
pub(super) enum Incoming {
    /// Data Length 0: the peer fell back (§3.7).
    Infinite,
    /// A DATA_FIN alone, at this data sequence number.
    DataFin(DataSeq),
    /// Bytes of the subflow mapped into the data sequence space.
    Data(RxMapping),
}

/// The data-level receive side: the reassembly of the peer's data stream
/// and whether it ended.
#[derive(Debug)]
pub(super) struct RecvState {
    /// Created once the peer's key (hence its IDSN) is known.
    pub(super) reassembly: Option<Reassembly>,
    pub(super) peer_closed: bool,
    /// After a fallback: the subflow's FIN arrived. The stream ends once
    /// every byte before it has moved up from the subflow (the data-level
    /// buffer may be full when the FIN comes).
    pub(super) fallback_fin: bool,
}

impl MptcpConnection {
    /// Read a received DSS mapping against the data sequence space.
    pub(super) fn incoming_mapping(
        &self,
        i: usize,
        m: &DssMapping,
        data_fin: bool,
    ) -> Option<Incoming> {
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
            subflow_seq: sub.rx_base() + m.subflow_seq,
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
    pub(super) fn admit_mapping(
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

    /// Act on the mapping of a segment the subflow accepted.
    pub(super) fn apply_mapping(&mut self, i: usize, incoming: Incoming) {
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
                    recv.set_data_fin(mapping.dsn + u64::from(mapping.len));
                }
                // Checked in `admit_mapping`; only a segment dropped by
                // the subflow can have changed nothing since.
                if self.subflows[i].rx.insert(mapping).is_err() {
                    self.protocol_error(Violation::MappingContradiction);
                }
            }
        }
    }

    /// Move in-order subflow bytes into the data-level reassembly.
    pub(super) fn deliver(&mut self) {
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
    fn deliver_subflow(&mut self, i: usize) -> Result<(), (DataSeq, SubflowSeq)> {
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
                    let mut c = umptcp_crypto::DssChecksum::new(
                        found.mapping.dsn.get(),
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
                    done += recv.insert(found.dsn + h as u64, &tail[..n - h]);
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
}
