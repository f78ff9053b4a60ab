//! `poll_transmit`: data assigned to the subflows, then the next segment
//! of one subflow, taken in turn, with the MPTCP option it carries.

use umptcp_tcp::State;
use umptcp_time::Instant;

use crate::handshake::FallbackReason;

use super::outgoing_options::SubflowOptions;
use super::subflow::Origin;
use super::{Mode, MptcpConnection, Role};
use crate::endpoint::Transmit;

impl MptcpConnection {
    /// The next segment to send, into `buf`, and where it goes; `None`
    /// when there is nothing.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if self.mode != Mode::Handshake || self.role == Role::Client {
            self.assign(now);
        }
        self.arm_data_rtx(now);
        self.progress_close(now);
        let count = self.subflows.len();
        for k in 0..count {
            let i = (self.tx_cursor + k) % count;
            if let Some(len) = self.transmit_on(now, i, buf) {
                self.tx_cursor = (i + 1) % count;
                let sub = &self.subflows[i];
                let tuple = sub.tcp.four_tuple();
                let transmit = Transmit {
                    len,
                    src: tuple.local,
                    dst: tuple.remote,
                    interface: sub.interface,
                };
                // Events the transmission caused (an RST closing, say).
                self.subflow_events(now);
                return Some(transmit);
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
                r.rcv_nxt() + fin
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
            base: sub.tx_base(),
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
