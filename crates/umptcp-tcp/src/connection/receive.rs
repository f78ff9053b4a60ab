//! The receive side: in-order and out-of-order data into the receive
//! buffer, the peer's FIN, delayed ACKs, window advertisement and the SACK
//! blocks we send.

use umptcp_time::Instant;

use crate::recv_buffer::{Inserted, RecvBuffer};
use crate::{State, SubflowSeq};

use super::{Connection, Event};

/// The receive side of a connection: the receive sequence space (RFC 9293
/// §3.3.1), the receive buffer, the peer's FIN and the delayed-ACK count.
#[derive(Debug)]
pub(super) struct RecvState {
    pub(super) irs: SubflowSeq,
    pub(super) rcv_nxt: SubflowSeq,
    pub(super) recv_buf: RecvBuffer,
    /// Right edge of the window last advertised.
    pub(super) rcv_adv: SubflowSeq,
    /// A FIN that arrived beyond a hole.
    pub(super) peer_fin: Option<SubflowSeq>,
    pub(super) fin_received: bool,
    unacked_full_segments: u32,
    /// The largest segment the peer sent, up to our MSS: what counts as
    /// full-sized for delayed ACKs (Linux's `rcv_mss`). Segments a peer
    /// sends carry options our MSS does not count (an MPTCP DSS takes 20
    /// to 28 bytes), so they are never a whole `mss()` long.
    rcv_mss: usize,
    /// Where the most recent out-of-order segment landed: its SACK block
    /// goes first (RFC 2018 §4).
    last_ooo: Option<SubflowSeq>,
}

impl RecvState {
    pub(super) fn new(recv_buf: RecvBuffer) -> Self {
        RecvState {
            irs: SubflowSeq(0),
            rcv_nxt: SubflowSeq(0),
            recv_buf,
            rcv_adv: SubflowSeq(0),
            peer_fin: None,
            fin_received: false,
            unacked_full_segments: 0,
            rcv_mss: 0,
            last_ooo: None,
        }
    }
}

impl Connection {
    pub(super) fn on_payload(&mut self, now: Instant, seq: SubflowSeq, payload: &[u8]) {
        // Trim what we already have.
        let skip = self.rcv.rcv_nxt.distance_from(seq) as usize;
        if skip >= payload.len() {
            // A pure duplicate: ACK at once (RFC 5681 §4.2).
            self.ack_pending = true;
            return;
        }
        let data = &payload[skip..];
        let offset = (seq + skip).distance_from(self.rcv.rcv_nxt) as usize;
        let had_ooo = self.rcv.recv_buf.has_out_of_order();
        match self.rcv.recv_buf.insert(offset, data) {
            Inserted::InOrder(n) => {
                self.rcv.rcv_nxt = self.rcv.rcv_nxt + n;
                self.bytes_received += n as u64;
                if n > 0 {
                    self.push_event(Event::Readable);
                }
                if had_ooo {
                    // RFC 5681 §4.2: ACK at once when a hole is filled.
                    self.ack_pending = true;
                } else {
                    // Delayed ACK: at least every second full-sized segment,
                    // never later than `delayed_ack`.
                    // At first 536 bytes (RFC 9293's default MSS), as
                    // Linux starts.
                    let floor = self.mss().min(536);
                    self.rcv.rcv_mss = self.rcv.rcv_mss.max(data.len()).clamp(floor, self.mss());
                    if data.len() >= self.rcv.rcv_mss {
                        self.rcv.unacked_full_segments += 1;
                    }
                    if self.rcv.unacked_full_segments >= 2 {
                        self.ack_pending = true;
                    } else if self.timers.delack_deadline.is_none() {
                        self.timers.delack_deadline = Some(now + self.config.delayed_ack);
                    }
                }
                if self.rcv.peer_fin == Some(self.rcv.rcv_nxt) {
                    self.on_fin(now);
                }
            }
            // Out of order or dropped: a duplicate ACK tells the sender.
            Inserted::OutOfOrder => {
                self.rcv.last_ooo = Some(seq + skip);
                self.ack_pending = true;
            }
            Inserted::Dropped => self.ack_pending = true,
        }
    }

    pub(super) fn on_fin(&mut self, now: Instant) {
        self.rcv.peer_fin = None;
        self.rcv.fin_received = true;
        self.rcv.rcv_nxt = self.rcv.rcv_nxt + 1u32;
        self.ack_pending = true;
        self.push_event(Event::PeerClosed);
        match self.state {
            State::Established => self.state = State::CloseWait,
            State::FinWait1 => self.state = State::Closing,
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    /// Bookkeeping shared by every segment that carries our ACK.
    pub(super) fn sent_ack(&mut self, window_field: u16) {
        self.ack_pending = false;
        self.timers.delack_deadline = None;
        self.rcv.unacked_full_segments = 0;
        self.last_ack_sent = self.rcv.rcv_nxt;
        let right = self.rcv.rcv_nxt + (u32::from(window_field) << self.rcv_shift);
        self.rcv.rcv_adv = self.rcv.rcv_adv.max_seq(right);
    }

    /// The window we can advertise now, capped to what the field can carry.
    pub(super) fn advertisable_window(&self) -> u32 {
        let max = u32::from(u16::MAX) << self.rcv_shift;
        (self.rcv.recv_buf.window() as u32).min(max)
    }

    /// A read of `n` bytes opened the window: maybe announce it.
    pub(super) fn after_read(&mut self, n: usize) {
        if n > 0 && self.state.is_synchronized() {
            // Only a window the peer sees as small is worth an ACK of its
            // own: where the peer still has at least half the buffer, the
            // next ACK (delayed, or on our data) carries the new edge, and
            // an ACK per read would undo delayed ACKs (Linux's
            // `tcp_cleanup_rbuf` has the same rule). Then RFC 9293
            // §3.8.6.2.2: announce it once it grew to twice what the peer
            // has, and by at least min(buffer/2, MSS).
            let capacity = self.rcv.recv_buf.capacity();
            let offered = self.rcv.rcv_adv.distance_from(self.rcv.rcv_nxt) as usize;
            let window = self.advertisable_window() as usize;
            let threshold = (capacity / 2).min(usize::from(self.config.mss));
            if 2 * offered <= capacity && window >= (2 * offered).max(offered + threshold) {
                self.ack_pending = true;
            }
        }
    }

    /// The SACK blocks of our next ACK (RFC 2018 §4), into `out`; returns
    /// how many. "The first SACK block ... MUST specify the contiguous block
    /// of data containing the segment which triggered this ACK"; the other
    /// blocks follow in sequence order (RFC 2018 asks for the most recently
    /// reported first; with at most 16 ranges held, sequence order repeats
    /// each of them often enough). The segment builder sends as many as fit.
    pub(super) fn sack_blocks(&self, out: &mut [(u32, u32); 4]) -> usize {
        if !self.sack_permitted || !self.rcv.recv_buf.has_out_of_order() {
            return 0;
        }
        let block = |(start, end): (usize, usize)| {
            (
                (self.rcv.rcv_nxt + start).get(),
                (self.rcv.rcv_nxt + end).get(),
            )
        };
        let recent = self
            .rcv
            .last_ooo
            .map(|seq| seq.distance_from(self.rcv.rcv_nxt) as usize);
        let mut n = 0;
        let first = self
            .rcv
            .recv_buf
            .out_of_order_ranges()
            .find(|&(start, end)| recent.is_some_and(|r| start <= r && r < end));
        if let Some(range) = first {
            out[0] = block(range);
            n = 1;
        }
        for range in self.rcv.recv_buf.out_of_order_ranges() {
            if n == out.len() {
                break;
            }
            if Some(range) != first {
                out[n] = block(range);
                n += 1;
            }
        }
        n
    }
}
