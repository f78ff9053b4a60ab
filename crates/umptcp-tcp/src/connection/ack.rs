//! ACK processing: a new cumulative ACK frees the send buffer, gives an
//! RTT sample (Karn's rule, RFC 7323 timestamps), restarts the
//! retransmission timer and is reported to the congestion controller.

use core::time::Duration;

use umptcp_cc::CongestionEvent;
use umptcp_time::Instant;

use crate::SubflowSeq;

use super::input::SegOptions;
use super::{Connection, Event};

impl Connection {
    /// Seam: `data_acked` bytes starting at the old `buf_seq` are what the
    /// MPTCP layer needs to learn which subflow bytes this ACK covered.
    pub(super) fn on_new_ack(&mut self, now: Instant, ack: SubflowSeq, opts: &SegOptions) {
        let flight_before = u64::from(self.snd_max.distance_from(self.snd_una));
        let data_acked = ack
            .distance_from(self.buf_seq)
            .min(self.send_buf.len() as u32);
        self.send_buf.consume(data_acked as usize);
        self.buf_seq = self.buf_seq + data_acked;
        self.received.acked = Some((self.snd_una, ack));
        self.snd_una = ack;
        self.recovery.scoreboard.trim(ack);
        if self.snd_nxt < ack {
            self.snd_nxt = ack;
        }
        self.take_rtt_sample(now, ack, opts);
        // RFC 6298 §5.3 and §5.2: restart the timer while data is
        // outstanding, stop it when everything is acknowledged.
        self.rtt.reset_backoff();
        self.timers.consecutive_rtos = 0;
        self.timers.persist = false;
        self.timers.rtx_deadline = if self.snd_max > self.snd_una {
            Some(now + self.rtt.rto())
        } else {
            None
        };
        let in_recovery = self.recovery.in_recovery;
        // What the buffer holds beyond what was ever sent (the buffer also
        // holds what is in flight).
        let buf_end = self.buf_seq + self.send_buf.len();
        let unsent = if self.snd_max < buf_end {
            u64::from(buf_end.distance_from(self.snd_max))
        } else {
            0
        };
        // Application-limited (RFC 7661) only if a full segment of window
        // went unused: room for less than one cannot be filled, and
        // calling that app-limited would freeze a window that is not a
        // multiple of the MSS (coupled controllers make such windows).
        let app_limited = flight_before + unsent + self.mss() as u64 <= self.cwnd;
        let rtt = self.last_sample;
        self.push_cc(CongestionEvent::Ack {
            now,
            bytes_acked: u64::from(data_acked),
            rtt,
            app_limited,
            in_recovery,
        });
        if self.recovery.in_recovery {
            if ack >= self.recovery.recover {
                // RFC 6582 §3.2 step 3, full acknowledgment: recovery ends
                // (RFC 6675 §5: "the cumulative ACK ... covers RecoveryPoint").
                self.recovery.in_recovery = false;
                self.recovery.sack_recovery = false;
                self.recovery.inflation = 0;
                self.push_cc(CongestionEvent::RecoveryExit { now });
            } else if !self.recovery.sack_recovery {
                // Partial acknowledgment (RFC 6582 §3.2 step 5): retransmit
                // the first unacknowledged segment, "deflate the congestion
                // window by the amount of new data acknowledged ..., then
                // add back one SMSS".
                self.recovery.fast_rtx_pending = true;
                self.recovery.inflation = self
                    .recovery
                    .inflation
                    .saturating_sub(u64::from(data_acked))
                    + self.mss() as u64;
            }
            // With SACK a partial ACK needs nothing here: the next
            // `poll_transmit` recomputes the pipe and picks NextSeg.
        }
        self.recovery.dup_acks = 0;
        if self.write_blocked && self.send_buf.free() > 0 && !self.fin_queued {
            self.write_blocked = false;
            self.push_event(Event::Writable);
        }
    }

    pub(super) fn take_rtt_sample(&mut self, now: Instant, ack: SubflowSeq, opts: &SegOptions) {
        let mut sample = None;
        // Karn's rule: `timed` is cleared whenever anything is retransmitted.
        if let Some((seq, sent)) = self.timed {
            if ack > seq {
                sample = Some(now - sent);
                self.timed = None;
            }
        }
        if sample.is_none() && self.ts_enabled {
            // RFC 7323 §4.1: the echoed timestamp gives an RTT sample.
            if let Some((_, tsecr)) = opts.timestamps {
                let elapsed = self.ts_now(now).wrapping_sub(tsecr);
                // An ACK after a timeout may echo a TS.Recent from before
                // it: the peer does not take TS.Recent from duplicate
                // segments (RFC 7323 §4.3), so when its ACKs were lost the
                // echo measures the whole outage (we saw SRTT reach
                // minutes and the RTO stick at its ceiling). Such an echo
                // is not an RTT; Karn's rule says as much for
                // retransmitted data (RFC 6298 §3). Only echoes of what we
                // stamped since the last timeout count.
                let stale = self
                    .rto_ts
                    .is_some_and(|rto| (tsecr.wrapping_sub(rto) as i32) < 0);
                if tsecr != 0 && elapsed < 1 << 31 && !stale {
                    sample = Some(Duration::from_millis(u64::from(elapsed)));
                }
            }
        }
        if let Some(rtt) = sample {
            self.rtt.on_sample(rtt);
        }
        self.last_sample = sample;
    }
}
