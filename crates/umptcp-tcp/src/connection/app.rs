//! Application commands: write, read, shutdown, close, abort, and the
//! knobs the layer above turns (offered MSS, congestion window, ACK
//! requests).

use umptcp_time::Instant;

use crate::State;
#[cfg(doc)]
use crate::TcpConfig; // for `close`'s doc link

use super::{Connection, Event};

impl Connection {
    /// Queue `data` for sending; return how many bytes were taken (0 once
    /// the connection can no longer send).
    pub fn write(&mut self, data: &[u8]) -> usize {
        if !self.state.can_send() || self.fin_queued {
            return 0;
        }
        let n = self.send_buf.write(data);
        if n < data.len() {
            self.write_blocked = true;
        }
        n
    }

    /// Copy received in-order data into `buf`; return how many bytes.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = self.rcv.recv_buf.read(buf);
        self.after_read(n);
        n
    }

    /// Hand the received in-order data to `f` without copying it, as the
    /// two slices of the receive ring it occupies (the second empty unless
    /// the data wraps); `f` returns how many bytes it took from the front,
    /// and so does this. Like smoltcp's `recv` closure.
    pub fn read_with(&mut self, f: impl FnOnce(&[u8], &[u8]) -> usize) -> usize {
        let (head, tail) = self.rcv.recv_buf.readable_slices();
        let n = f(head, tail).min(head.len() + tail.len());
        self.rcv.recv_buf.advance(n);
        self.after_read(n);
        n
    }

    /// Close our sending side: a FIN follows the queued data.
    pub fn shutdown(&mut self) {
        match self.state {
            State::Listen => self.terminate(Event::Closed),
            // RFC 9293 §3.10.4 deletes the TCB in SYN-SENT, losing queued
            // data; here `shutdown` means "FIN after what was written", so
            // the FIN waits for the handshake in both SYN states (use
            // `abort` to give up on the connection).
            State::SynSent | State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Shut down sending (as [`Connection::shutdown`]) and declare that the
    /// application will read no more, like `close(2)` of a socket.
    ///
    /// From then on the connection is orphaned, as Linux calls it: new
    /// data from the peer is answered with a RST and ends the connection
    /// ([`Event::Reset`]), as Linux does and RFC 2525 §2.17 recommends, since
    /// nobody will read it; and FIN-WAIT-2 lasts at most
    /// [`TcpConfig::fin_wait2_timeout`] (Linux's `tcp_fin_timeout`), after
    /// which the connection ends with [`Event::TimedOut`]. A connection
    /// only [`shutdown`](Connection::shutdown) waits in FIN-WAIT-2 for as
    /// long as the peer keeps sending.
    ///
    /// If received data is still unread, the peer is told at once that it
    /// was lost: the connection is reset ([`Connection::abort`]) instead of
    /// closed, as RFC 2525 §2.17 asks and Linux does (`TCPAbortOnClose`).
    pub fn close(&mut self, now: Instant) {
        if self.rcv.recv_buf.readable() > 0 {
            self.abort();
            return;
        }
        self.app_closed = true;
        self.shutdown();
        self.arm_fin_wait2(now);
    }

    /// Close as [`Connection::close`] does, for a layer above that has
    /// everything it needs from this connection (MPTCP once both DATA_FINs
    /// are acknowledged, RFC 8684 §3.3.3): unread data is dropped, and
    /// what the peer still sends is acknowledged and thrown away instead of
    /// answered with a RST. Such data can only be copies (a reinjection
    /// still in flight when the data level finished), and a RST for one
    /// would cost the ACK and FIN that end the connection cleanly.
    /// FIN-WAIT-2 still lasts at most [`TcpConfig::fin_wait2_timeout`].
    pub fn close_discarding(&mut self, now: Instant) {
        let n = self.rcv.recv_buf.readable();
        self.rcv.recv_buf.advance(n);
        self.after_read(n);
        self.discard_input = true;
        self.close(now);
    }

    /// Reset the connection: a RST goes out (if the peer knows of us) and
    /// the state becomes CLOSED at once (RFC 9293 §3.10.5).
    pub fn abort(&mut self) {
        if matches!(
            self.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
        ) {
            self.rst_pending = Some((self.snd_max, None));
        }
        if self.state != State::Closed {
            self.terminate(Event::Closed);
        }
    }

    /// Offer `mss` in our SYN or SYN/ACK instead of `config.mss` (at
    /// least 64; our own segments stay sized by `config.mss` and the
    /// peer's offer). Only before the SYN or SYN/ACK goes; later it changes
    /// nothing.
    pub fn offer_mss(&mut self, mss: u16) {
        self.offered_mss = Some(mss.clamp(64, self.config.mss));
    }

    /// Use `bytes` as the congestion window (from the controller).
    pub fn set_congestion_window(&mut self, bytes: u64) {
        self.cwnd = bytes;
    }

    /// Send an ACK at the next [`Connection::poll_transmit`] even if TCP
    /// has nothing to acknowledge: the layer above has news for its options
    /// (a DATA_ACK, a DATA_FIN, an ADD_ADDR). Ignored until the connection
    /// is synchronized and after it closed.
    pub fn request_ack(&mut self) {
        if self.state.is_synchronized() && self.state != State::Closed {
            self.ack_pending = true;
        }
    }

    /// Send our SYN/ACK again at the next [`Connection::poll_transmit`], if
    /// still in SYN-RECEIVED, without waiting for the retransmission timer:
    /// the layer above saw the peer act on our SYN/ACK but cannot complete
    /// the handshake without options the peer sends again when it sees the
    /// SYN/ACK again (MPTCP's keys, RFC 8684 §3.1). The backoff is kept,
    /// and the SYN/ACK goes early once per period of the retransmission
    /// timer at most: a peer that answers without those options cannot
    /// make a ping-pong of it.
    pub fn repeat_syn_ack(&mut self) {
        let period = Some(self.timers.consecutive_rtos);
        if self.state == State::SynReceived && self.timers.syn_ack_repeated_at != period {
            self.timers.syn_ack_repeated_at = period;
            self.ctl_pending = true;
        }
    }
}
