//! Timers: retransmission (RFC 6298), zero-window probe (persist),
//! delayed ACK, keepalive (RFC 9293 §3.8.4), TIME-WAIT and the orphaned
//! FIN-WAIT-2 timeout.

use umptcp_cc::CongestionEvent;
use umptcp_time::Instant;

use crate::State;

use super::{Connection, Event};

/// The timers of a connection: their deadlines (`None` when not armed) and
/// the counts that go with them.
#[derive(Default, Debug)]
pub(super) struct Timers {
    pub(super) rtx_deadline: Option<Instant>,
    pub(super) persist: bool,
    pub(super) delack_deadline: Option<Instant>,
    pub(super) time_wait_deadline: Option<Instant>,
    /// When the next keepalive probe is due (or the connection given up).
    pub(super) keepalive_deadline: Option<Instant>,
    /// Keepalive probes sent since the peer was last heard from.
    pub(super) keepalive_sent: u32,
    pub(super) keepalive_probe_pending: bool,
    /// When an orphaned FIN-WAIT-2 gives up on the peer's FIN.
    pub(super) fin_wait2_deadline: Option<Instant>,
    pub(super) consecutive_rtos: u32,
    /// The value of `consecutive_rtos` when the SYN/ACK last went early
    /// ([`Connection::repeat_syn_ack`]): once per timer period at most.
    pub(super) syn_ack_repeated_at: Option<u32>,
}

impl Connection {
    /// Return when `handle_timeout` must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.rtx_deadline,
            self.timers.delack_deadline,
            self.timers.time_wait_deadline,
            self.timers.keepalive_deadline,
            self.timers.fin_wait2_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Act on every timer that expired at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers.time_wait_deadline.is_some_and(|t| t <= now) {
            self.timers.time_wait_deadline = None;
            self.terminate(Event::Closed);
            return;
        }
        if self.timers.delack_deadline.is_some_and(|t| t <= now) {
            self.timers.delack_deadline = None;
            self.ack_pending = true;
        }
        if self.timers.rtx_deadline.is_some_and(|t| t <= now) {
            self.on_rtx_timeout(now);
        }
        if self.timers.keepalive_deadline.is_some_and(|t| t <= now) {
            self.on_keepalive_timeout(now);
        }
        if self.timers.fin_wait2_deadline.is_some_and(|t| t <= now) {
            // Linux's tcp_fin_timeout for an orphan: give up with a RST.
            self.rst_pending = Some((self.snd_max, None));
            self.terminate(Event::TimedOut);
        }
    }

    fn on_rtx_timeout(&mut self, now: Instant) {
        self.timers.rtx_deadline = None;
        if self.timers.persist {
            // Zero-window probe: one byte past the window.
            self.timers.persist = false;
            self.force_one = true;
            self.rtt.on_timeout();
            return;
        }
        self.timers.consecutive_rtos += 1;
        let limit = if matches!(self.state, State::SynSent | State::SynReceived) {
            self.config.syn_retries
        } else {
            self.config.max_retransmissions
        };
        if self.timers.consecutive_rtos > limit {
            // RFC 9293 §3.8.3: past R2, give up.
            self.terminate(Event::TimedOut);
            return;
        }
        // RFC 6298 §5.5, §5.6: back off and restart the timer.
        self.rtt.on_timeout();
        // RFC 6675 §5.1: after a timeout the SACK information is not
        // trusted (the peer may renege); go back to SND.UNA.
        self.recovery.scoreboard.clear();
        self.rto_ts = Some(self.ts_now(now));
        self.timed = None;
        self.timers.rtx_deadline = Some(now + self.rtt.rto());
        match self.state {
            State::SynSent | State::SynReceived => self.ctl_pending = true,
            _ => {
                let flight = self.bytes_in_flight();
                // Go back N: everything outstanding is sent again.
                self.snd_nxt = self.snd_una;
                self.force_one = true;
                self.recovery.fast_rtx_pending = false;
                // RFC 6582 §3.2 step 4: after an RTO, recover = highest sent.
                self.recovery.in_recovery = false;
                self.recovery.sack_recovery = false;
                self.recovery.inflation = 0;
                self.recovery.recover = self.snd_max;
                self.recovery.dup_acks = 0;
                self.push_cc(CongestionEvent::RetransmissionTimeout {
                    now,
                    bytes_in_flight: flight,
                });
            }
        }
    }

    /// RFC 9293 §3.8.6.1: probe a zero window, on the retransmission timer.
    pub(super) fn arm_persist(&mut self, now: Instant) {
        if self.state.is_synchronized()
            && self.timers.rtx_deadline.is_none()
            && self.snd_wnd == 0
            && self.snd_max == self.snd_una
            && self.fin_seq().distance_from(self.snd_nxt) > 0
        {
            self.timers.persist = true;
            self.timers.rtx_deadline = Some(now + self.rtt.rto());
        }
    }

    /// Start (or restart) the idle period before the first keepalive probe.
    pub(super) fn arm_keepalive(&mut self, now: Instant) {
        self.timers.keepalive_deadline = match self.config.keepalive {
            Some(k) if self.state.is_synchronized() => Some(now + k.idle),
            _ => None,
        };
    }

    /// RFC 9293 §3.8.4; counts and times as Linux's `tcp_keepalive_timer`.
    fn on_keepalive_timeout(&mut self, now: Instant) {
        self.timers.keepalive_deadline = None;
        let Some(k) = self.config.keepalive else {
            return;
        };
        if !matches!(self.state, State::Established | State::CloseWait) {
            return;
        }
        // Data in flight or waiting: the retransmission timer watches the
        // peer, not keepalive (Linux does the same).
        if self.snd_max != self.snd_una || !self.send_buf.is_empty() {
            self.timers.keepalive_deadline = Some(now + k.idle);
            return;
        }
        if self.timers.keepalive_sent >= k.probes {
            self.terminate(Event::TimedOut);
            return;
        }
        self.timers.keepalive_sent += 1;
        self.timers.keepalive_probe_pending = true;
        self.timers.keepalive_deadline = Some(now + k.interval);
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.timers.rtx_deadline = None;
        self.timers.fin_wait2_deadline = None;
        self.timers.persist = false;
        self.timers.time_wait_deadline = Some(now + self.config.time_wait);
    }

    pub(super) fn arm_fin_wait2(&mut self, now: Instant) {
        if self.app_closed
            && self.state == State::FinWait2
            && self.timers.fin_wait2_deadline.is_none()
        {
            self.timers.fin_wait2_deadline = Some(now + self.config.fin_wait2_timeout);
        }
    }
}
