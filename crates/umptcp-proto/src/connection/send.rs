//! The data-level send side: data handed to the subflows the scheduler
//! picks, with its mappings declared (reinjection, opportunistic
//! retransmission, the redundant scheduler's catching up), and freed by
//! DATA_ACKs.

use std::time::Duration;

use umptcp_cc::CongestionEvent;
use umptcp_crypto::dss_checksum;
use umptcp_tcp::{SendBuffer, State};
use umptcp_time::Instant;
use umptcp_wire::mptcp::DssSeq;

use crate::data_seq::{DataSeq, expand};
use crate::event::MptcpEvent;
use crate::scheduler::Candidate;
use crate::tx_map::TxMapping;

use super::outgoing_options::DSS_RESERVE;
use super::{Mode, MptcpConnection};

/// The data-level send side (RFC 8684 §3.3): what the application wrote
/// and the peer has not DATA_ACKed, and how far it went out.
#[derive(Debug)]
pub(super) struct SendState {
    /// Bytes written and not yet DATA_ACKed; offset 0 is `data_una`.
    pub(super) buffer: SendBuffer,
    pub(super) data_una: DataSeq,
    /// The data sequence number of the next byte to hand to a subflow.
    pub(super) data_nxt: DataSeq,
    /// Data to send again on the remaining subflows, `[start, end)`: what
    /// was outstanding when a subflow failed (§3.3.6: data must be
    /// retransmitted at the data level until DATA_ACKed).
    pub(super) reinject: Option<(DataSeq, DataSeq)>,
    /// The right edge of the peer's data-level receive window: its
    /// DATA_ACK plus the window of the segment carrying it (RFC 8684
    /// §3.3.5: one window, shared by all subflows, relative to the
    /// DATA_ACK). Never moves left. `None` before the first DATA_ACK.
    pub(super) peer_window_end: Option<DataSeq>,
    /// The data-level retransmission timer: DATA_UNA did not move for this
    /// long while every subflow had its bytes acknowledged, so they were
    /// lost above TCP (the peer dropped them, say, out of its window).
    pub(super) data_rtx_timer: Option<Instant>,
    pub(super) data_rtx_backoff: u32,
    /// The DATA_UNA an opportunistic retransmission was made for (one per
    /// DATA_UNA).
    pub(super) opportunistic_for: Option<DataSeq>,
    pub(super) write_blocked: bool,
}

impl SendState {
    /// Nothing written yet; the first byte will carry data sequence
    /// number `first`.
    pub(super) fn new(capacity: usize, first: DataSeq) -> Self {
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

impl MptcpConnection {
    pub(super) fn on_data_ack(&mut self, ack: DssSeq) {
        let ack = expand(ack, self.send.data_una);
        // Acceptable: within [DATA_UNA, DATA_NXT], the DATA_FIN included.
        let top = self
            .closing
            .data_fin
            .map_or(self.send.data_nxt, |fin| fin + 1);
        let acked = ack.diff(self.send.data_una);
        if acked <= 0 || acked > top.diff(self.send.data_una) {
            return;
        }
        // `data_una` stays on data bytes: the DATA_FIN's own sequence
        // number is acknowledged through `data_fin_acked`.
        let data = acked.unsigned_abs().min(self.send.buffer.len() as u64);
        self.send.buffer.consume(data as usize);
        self.send.data_una += data;
        if data > 0 {
            self.send.data_rtx_timer = None;
            self.send.data_rtx_backoff = 0;
        }
        if let Some((start, end)) = self.send.reinject {
            // What was acknowledged meanwhile needs no second copy.
            self.send.reinject = (end.diff(self.send.data_una) > 0).then(|| {
                (
                    if start.diff(self.send.data_una) < 0 {
                        self.send.data_una
                    } else {
                        start
                    },
                    end,
                )
            });
        }
        if self.closing.data_fin.is_some_and(|fin| ack == fin + 1) {
            self.closing.data_fin_acked = true;
            self.closing.data_fin_timer = None;
        }
        self.wake_writer();
    }

    /// `Writable` once for a writer that found the send buffer full, when
    /// room opens again.
    fn wake_writer(&mut self) {
        if self.send.write_blocked && self.send.buffer.free() > 0 {
            self.send.write_blocked = false;
            self.push_event(MptcpEvent::Writable);
        }
    }

    /// Plain TCP: the initial subflow takes the data as a byte stream.
    fn assign_fallback(&mut self) {
        let sub = &mut self.subflows[0];
        // In SYN-SENT the engine holds the bytes for the handshake; with
        // Fast Open the SYN carries the first of them (RFC 7413).
        if !matches!(
            sub.tcp.state(),
            State::SynSent | State::Established | State::CloseWait
        ) {
            return;
        }
        loop {
            let queued = self.send.data_una + self.send.buffer.len() as u64;
            let unassigned = usize::try_from(queued.diff(self.send.data_nxt)).unwrap_or(0);
            let n = unassigned
                .min(sub.tcp.writable())
                .min(self.scratch.capacity());
            if n == 0 {
                break;
            }
            let copied = self.send.buffer.peek(0, &mut self.scratch.bytes_mut()[..n]);
            debug_assert_eq!(copied, n);
            let written = sub.tcp.write(&self.scratch.bytes()[..n]);
            debug_assert_eq!(written, n);
            // The subflow delivers it; nothing to reinject later.
            self.send.buffer.consume(n);
            self.send.data_una += n as u64;
            self.send.data_nxt = self.send.data_una;
        }
        // No DATA_ACK frees room here: the subflow taking the bytes does,
        // so a writer that found the buffer full hears it now.
        self.wake_writer();
    }

    /// Hand data to the subflows the scheduler picks, declaring each
    /// chunk's mapping: first what a failed subflow left outstanding,
    /// then new bytes.
    pub(super) fn assign(&mut self, now: Instant) {
        match self.mode {
            // A client's Fast Open SYN takes the first bytes along.
            Mode::Handshake => return self.queue_syn_data(),
            Mode::Fallback(_) => return self.assign_fallback(),
            Mode::Mptcp => {}
        }
        loop {
            let queued = self.send.data_una + self.send.buffer.len() as u64;
            let (dsn, avail, reinjecting) = match self.send.reinject {
                Some((start, end)) => (start, end.diff(start), true),
                None => {
                    // New data stays inside the peer's data-level window:
                    // beyond it the peer drops it (after its subflow
                    // acknowledged it), and it would have to be sent again.
                    let room = self
                        .send
                        .peer_window_end
                        .map_or(i64::MAX, |end| end.diff(self.send.data_nxt));
                    let waiting = queued.diff(self.send.data_nxt);
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
            let offset = usize::try_from(dsn.diff(self.send.data_una)).unwrap_or(0);
            let copied = self
                .send
                .buffer
                .peek(offset, &mut self.scratch.bytes_mut()[..n]);
            debug_assert_eq!(copied, n);
            self.put_chunk(i, dsn, n);
            let next = dsn + n as u64;
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
                && s.tx
                    .iter()
                    .any(|m| una.diff(m.dsn) >= 0 && (m.dsn + u64::from(m.len)).diff(una) > 0)
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
        let chunk = u64::from(self.config.max_mapping).min(self.send.data_nxt.distance_from(una));
        self.send.reinject = Some((una, una + chunk));
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
    fn put_chunk(&mut self, i: usize, dsn: DataSeq, n: usize) {
        let sub = &mut self.subflows[i];
        let start = sub.tcp.write_seq();
        let written = sub.tcp.write(&self.scratch.bytes()[..n]);
        debug_assert_eq!(written, n);
        let relative = start.get().wrapping_sub(sub.tx_base().get());
        let checksum = self
            .checksum
            .then(|| dss_checksum(dsn.get(), relative, n as u16, &self.scratch.bytes()[..n]));
        let pushed = sub.tx.push(TxMapping {
            start,
            dsn,
            len: n as u16,
            checksum,
        });
        debug_assert!(pushed, "room checked, contiguous by construction");
        let end = dsn + n as u64;
        if sub.sent_upto.is_none_or(|upto| end.diff(upto) > 0) {
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
                .filter(|upto| upto.diff(self.send.data_una) > 0)
                .unwrap_or(self.send.data_una);
            let behind = usize::try_from(self.send.data_nxt.diff(from)).unwrap_or(0);
            let n = behind
                .min(usize::try_from(candidate.space).unwrap_or(usize::MAX))
                .min(sub.tcp.writable())
                .min(usize::from(self.config.max_mapping));
            if n == 0 || !sub.tx.has_room() {
                continue;
            }
            let offset = usize::try_from(from.diff(self.send.data_una)).unwrap_or(0);
            let copied = self
                .send
                .buffer
                .peek(offset, &mut self.scratch.bytes_mut()[..n]);
            debug_assert_eq!(copied, n);
            self.put_chunk(i, from, n);
            self.candidates[k].space -= n as u64;
        }
    }
}
