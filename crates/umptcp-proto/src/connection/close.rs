//! How a connection ends: abort (MP_FASTCLOSE), shutdown and the
//! DATA_FIN, the subflows' close once both DATA_FINs are through, a
//! protocol error, and the wait for a new subflow after the last one.

use std::time::Duration;

use umptcp_time::Instant;
use umptcp_wire::mptcp::TcpRstReason;

use crate::data_seq::DataSeq;
use crate::event::{MptcpEvent, Violation};

use super::{Mode, MptcpConnection};

/// How the connection ends: our DATA_FIN and its retransmission, an
/// abrupt close, and the wait for a new subflow after the last one went.
#[derive(Debug)]
pub(super) struct Closing {
    /// The application will write no more (a DATA_FIN follows the data).
    pub(super) shutdown: bool,
    /// Our DATA_FIN's data sequence number, once every byte is mapped.
    pub(super) data_fin: Option<DataSeq>,
    pub(super) data_fin_acked: bool,
    /// When the DATA_FIN goes again if still unacknowledged: it rides on
    /// pure ACKs, which the subflow never retransmits by itself.
    pub(super) data_fin_timer: Option<Instant>,
    /// The DATA_FIN's retransmission timeout, doubled on every expiry.
    pub(super) data_fin_rto: Duration,
    pub(super) data_fin_retries: u32,
    /// We closed abruptly: our resets carry MP_FASTCLOSE.
    pub(super) fastclose: bool,
    /// A subflow closed with FINs after both DATA_FINs went through.
    pub(super) closed_cleanly: bool,
    /// Break-before-make: the last subflow is gone while the data is not
    /// through. The connection waits until `deadline` for a new one, then
    /// ends with `failure`.
    pub(super) orphaned: Option<Orphaned>,
}

impl Closing {
    /// Open: nothing shut down or sent.
    pub(super) fn new() -> Self {
        Closing {
            shutdown: false,
            data_fin: None,
            data_fin_acked: false,
            data_fin_timer: None,
            data_fin_rto: Duration::ZERO,
            data_fin_retries: 0,
            fastclose: false,
            closed_cleanly: false,
            orphaned: None,
        }
    }
}

/// A connection that lost its last subflow before its data was through.
#[derive(Clone, Copy, Debug)]
pub(super) struct Orphaned {
    /// When it ends if no subflow came back.
    pub(super) deadline: Instant,
    /// What it then reports: how the last subflow ended (`Reset`,
    /// `TimedOut`), or `TimedOut` if it closed without an error.
    pub(super) failure: MptcpEvent,
}

impl MptcpConnection {
    /// Close at once (RFC 8684 §3.5, MP_FASTCLOSE): every subflow is reset
    /// and the resets carry the peer's key, so it drops the connection
    /// too. Unsent and unread data is lost. After a fallback, a plain RST.
    pub fn abort(&mut self) {
        if self.closed {
            return;
        }
        self.closing.fastclose = self.mode == Mode::Mptcp;
        for sub in self.subflows.iter_mut().filter(|s| !s.gone) {
            sub.usable = false;
            sub.tcp.abort();
        }
        self.closed = true;
        self.push_event(MptcpEvent::Closed);
    }

    /// No more data will be written: a DATA_FIN follows the last byte
    /// (after a fallback, the subflow's FIN).
    pub fn shutdown(&mut self) {
        self.closing.shutdown = true;
    }

    pub(super) fn protocol_error(&mut self, violation: Violation) {
        for sub in &mut self.subflows {
            sub.tcp.abort();
        }
        self.push_event(MptcpEvent::ProtocolError(violation));
        self.closed = true;
    }

    /// The DATA_FIN, then the subflows' FINs.
    pub(super) fn progress_close(&mut self, now: Instant) {
        if !self.closing.shutdown || self.closed {
            return;
        }
        let unassigned = self.send.data_nxt != self.send.data_una + self.send.buffer.len() as u64;
        match self.mode {
            Mode::Fallback(_) => {
                if !unassigned {
                    self.subflows[0].tcp.shutdown();
                }
            }
            Mode::Mptcp => {
                if self.closing.data_fin.is_none() && !unassigned {
                    self.closing.data_fin = Some(self.send.data_nxt);
                    if let Some(sub) = self.signal_subflow() {
                        sub.tcp.request_ack();
                    }
                }
                // RFC 8684 §3.3.3: once both DATA_FINs are acknowledged the
                // subflows close.
                if self.closing.data_fin_acked && self.recv.peer_closed {
                    let fresh = self.subflows.iter().any(|s| s.can_send() && !s.stale);
                    for i in 0..self.subflows.len() {
                        let sub = &mut self.subflows[i];
                        if sub.gone {
                            continue;
                        }
                        if (fresh && sub.stale) || !sub.tcp.state().is_synchronized() {
                            // A path that stopped answering while another
                            // works, or a join not finished: reset it
                            // rather than wait minutes for its timers. A
                            // lone subflow closes with its FIN, whose
                            // retransmissions the peer may still need.
                            self.reset_subflow_at(i, TcpRstReason::Unspecified);
                        } else {
                            // Not `shutdown`: FIN-WAIT-2 then has a timeout
                            // (the peer's FIN may never come if its side of
                            // this subflow was reset). Every byte up to the
                            // peer's DATA_FIN has arrived, so what the
                            // subflow holds or still receives are copies (a
                            // redundant scheduler's, a reinjection in
                            // flight, a mapping not complete here): thrown
                            // away, not reset for, or the RST would cost
                            // our last DATA_ACK and FIN.
                            sub.tcp.close_discarding(now);
                        }
                    }
                }
            }
            Mode::Handshake => {}
        }
    }
}
