//! Loss recovery: fast retransmit on duplicate ACKs or SACKed data, then
//! RFC 6675 SACK recovery (the pipe, NextSeg, the rescue retransmission)
//! or RFC 6582 NewReno without SACK information.

use umptcp_cc::CongestionEvent;
use umptcp_time::Instant;

use crate::SubflowSeq;
use crate::rtx_log::RtxLog;
use crate::scoreboard::Scoreboard;

use super::Connection;

/// Fast retransmit and recovery state: duplicate ACKs, the recovery
/// point, the NewReno inflation and the SACK scoreboard.
#[derive(Debug)]
pub(super) struct Recovery {
    /// A fast retransmission is due at the next `poll_transmit`.
    pub(super) fast_rtx_pending: bool,
    pub(super) dup_acks: u32,
    pub(super) in_recovery: bool,
    /// RFC 6582 window inflation during recovery, in bytes, on top of the
    /// controller's window.
    pub(super) inflation: u64,
    pub(super) recover: SubflowSeq,
    /// What the peer has SACKed (RFC 6675 §3).
    pub(super) scoreboard: Scoreboard,
    /// During SACK recovery: the retransmissions in flight (RFC 6675's
    /// HighRxt, per run, with lost retransmissions detected).
    pub(super) rtx_log: RtxLog,
    /// This recovery is RFC 6675's (the scoreboard had SACK information
    /// when it began): the window is checked against `pipe`, not inflated.
    pub(super) sack_recovery: bool,
    /// RFC 6675 NextSeg rule 4: the one rescue retransmission of this
    /// recovery was sent.
    pub(super) rescued: bool,
}

impl Recovery {
    pub(super) fn new(iss: SubflowSeq) -> Self {
        Recovery {
            fast_rtx_pending: false,
            dup_acks: 0,
            in_recovery: false,
            inflation: 0,
            recover: iss,
            scoreboard: Scoreboard::new(),
            rtx_log: RtxLog::new(),
            sack_recovery: false,
            rescued: false,
        }
    }
}

/// What `transmit_data` sends next.
#[derive(Clone, Copy, Debug)]
pub(super) enum NextSeg {
    /// Send old data again from `seq`, stopping before `end` (where SACKed
    /// data begins). A rescue retransmission leaves HighRxt alone.
    Retransmit {
        seq: SubflowSeq,
        end: Option<SubflowSeq>,
        rescue: bool,
    },
    /// New data from SND.NXT; in SACK recovery at most `pipe_room` bytes.
    NewData { pipe_room: Option<u64> },
    /// Nothing but perhaps an ACK.
    Nothing,
}

impl Connection {
    pub(super) fn on_dup_ack(&mut self, now: Instant) {
        self.recovery.dup_acks = self.recovery.dup_acks.saturating_add(1);
        // RFC 6582 §3.2 step 2: a new recovery starts on the third duplicate
        // only if the ACK covers more than `recover` (no false fast
        // retransmits after an RTO).
        // RFC 6675 §5: with SACK, loss is also declared once more than
        // (DupThresh - 1) * SMSS bytes above SND.UNA are SACKed, however few
        // duplicate ACKs said so (a receiver behind GRO ACKs whole bursts).
        let sack_loss = self.recovery.scoreboard.sacked_above(self.snd_una) > 2 * self.mss() as u64;
        if self.recovery.in_recovery {
            if !self.recovery.sack_recovery {
                // RFC 6582 §3.2 step 4: each further duplicate inflates the
                // window by one SMSS (a segment has left the network).
                self.recovery.inflation = self.recovery.inflation.saturating_add(self.mss() as u64);
            }
            // With SACK the departed segment shows in the pipe instead.
        } else if (self.recovery.dup_acks == 3 || sack_loss)
            && self.snd_una >= self.recovery.recover
        {
            self.recovery.rtx_log.clear();
            self.recovery.in_recovery = true;
            // RFC 6675 §5 needs SACK information to measure the pipe;
            // without it (or with a peer that SACKs nothing) this is
            // RFC 6582 recovery: the controller sets cwnd = ssthresh and the
            // three duplicates' SMSS are added here (step 3).
            self.recovery.sack_recovery = !self.recovery.scoreboard.is_empty();
            self.recovery.rescued = false;
            self.recovery.inflation = if self.recovery.sack_recovery {
                0
            } else {
                3 * self.mss() as u64
            };
            self.recovery.recover = self.snd_max;
            self.recovery.fast_rtx_pending = true;
            self.timed = None;
            self.push_cc(CongestionEvent::FastRetransmit {
                now,
                bytes_in_flight: self.bytes_in_flight(),
            });
        }
    }

    /// The next hole to retransmit in SACK recovery: the first stretch
    /// below SACKed data that is neither SACKed nor being retransmitted,
    /// with where it must stop (SACKed data, or a retransmission in flight).
    fn next_hole(&self) -> Option<(SubflowSeq, SubflowSeq)> {
        let mut from = self.snd_una;
        loop {
            let (start, end) = self.recovery.scoreboard.next_hole(from)?;
            let mut seq = start;
            while seq < end {
                match self.recovery.rtx_log.covering(seq) {
                    Some(run_end) => seq = run_end,
                    None => break,
                }
            }
            if seq < end {
                let stop = self
                    .recovery
                    .rtx_log
                    .next_start_after(seq)
                    .map_or(end, |next| next.min_seq(end));
                return Some((seq, stop));
            }
            from = end;
        }
    }

    /// RFC 6675 §5 with §4's NextSeg: what SACK recovery sends next.
    pub(super) fn next_seg_sack(&self, mss: usize) -> NextSeg {
        let mss64 = mss as u64;
        let hole = self.next_hole();
        let retransmit = |(seq, end): (SubflowSeq, SubflowSeq)| NextSeg::Retransmit {
            seq,
            end: Some(end),
            rescue: false,
        };
        if self.recovery.fast_rtx_pending {
            // §5 step (4.3): on entry, "retransmit the first data segment
            // presumed dropped" whatever the window says.
            return match hole {
                Some(h) => retransmit(h),
                None => NextSeg::Retransmit {
                    seq: self.snd_una,
                    end: None,
                    rescue: false,
                },
            };
        }
        // §5 step (C): "If cwnd - pipe >= 1 SMSS, the sender SHOULD
        // transmit one or more segments".
        let pipe = self
            .recovery
            .scoreboard
            .pipe(self.snd_una, self.snd_max, mss64)
            + self.recovery.rtx_log.in_flight(&self.recovery.scoreboard);
        let room = self.cwnd.max(mss64).saturating_sub(pipe);
        if room < mss64 {
            return NextSeg::Nothing;
        }
        // A full log cannot track another retransmission: new data only.
        let hole = hole.filter(|_| !self.recovery.rtx_log.is_full());
        // Rule 1: a hole not being retransmitted that IsLost.
        if let Some(h) = hole.filter(|&(start, _)| self.recovery.scoreboard.is_lost(start, mss64)) {
            return retransmit(h);
        }
        // Rule 2: new data the peer's window allows.
        let fin = self.fin_seq();
        let unsent = self.snd_nxt < fin || (self.fin_queued && self.snd_max <= fin);
        if unsent && self.snd_una + self.snd_wnd > self.snd_nxt {
            return NextSeg::NewData {
                pipe_room: Some(room),
            };
        }
        // Rule 3: a hole not being retransmitted, not yet deemed lost.
        if let Some(h) = hole {
            return retransmit(h);
        }
        // Rule 4, the rescue retransmission: once per recovery, one segment
        // that includes the highest outstanding unSACKed octet, when that
        // octet is not being retransmitted.
        let top = self
            .recovery
            .scoreboard
            .highest_sacked()
            .unwrap_or(self.snd_una);
        let end = self.snd_max.min_seq(fin);
        if !self.recovery.rescued
            && !self.recovery.rtx_log.is_full()
            && top < end
            && self.recovery.rtx_log.covering(end - 1u32).is_none()
        {
            let start = top.max_seq(end - mss as u32);
            return NextSeg::Retransmit {
                seq: start,
                end: Some(end),
                rescue: true,
            };
        }
        NextSeg::Nothing
    }
}
