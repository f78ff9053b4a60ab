//! `poll_timeout` and `handle_timeout`: the subflows' timers, the third
//! ACK of a join, ADD_ADDR retransmission, the DATA_FIN's timer, the
//! data-level retransmission timer and the wait of an orphaned
//! connection.

use std::time::Duration;

use umptcp_tcp::State;
use umptcp_time::Instant;
use umptcp_wire::mptcp::TcpRstReason;

use crate::event::MptcpEvent;
use crate::handshake::FallbackReason;

use super::{Mode, MptcpConnection, Role};

impl MptcpConnection {
    /// When [`MptcpConnection::handle_timeout`] is next due.
    ///
    /// A closed connection has only its subflows' own timers (a RST or a
    /// FIN still to send, TIME-WAIT): nothing at the data level is left
    /// to retransmit, announce or wait for, so the endpoint can free it
    /// once those end.
    #[must_use]
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
            // RFC 8684 §3.3.3: the DATA_FIN may go on any subflow. The
            // first went on one; its retransmission goes on every subflow
            // that can send, so that a path that died since (one that
            // still looks established) does not hold the close back.
            let mut asked = false;
            for sub in self.subflows.iter_mut().filter(|s| s.can_send()) {
                sub.tcp.request_ack();
                asked = true;
            }
            if !asked && let Some(sub) = self.signal_subflow() {
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
    pub(super) fn arm_data_rtx(&mut self, now: Instant) {
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
                .min(self.send.data_nxt.distance_from(self.send.data_una));
            self.send.reinject = Some((self.send.data_una, self.send.data_una + chunk));
            self.fallback.allow_infinite = false;
            self.send.data_rtx_backoff += 1;
        }
        self.send.data_rtx_timer = Some(now + self.data_rto());
    }
}
