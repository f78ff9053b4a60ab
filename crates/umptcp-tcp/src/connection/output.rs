//! Output: `poll_transmit` picks the next segment (RST, SYN or SYN-ACK,
//! keepalive probe, data, retransmission or a bare ACK), builds it with
//! its options and does the send-side bookkeeping.

use umptcp_time::Instant;
use umptcp_wire::SegmentBuilder;
use umptcp_wire::segment::TcpFlags;

use crate::fast_open::FastOpenCookie;
use crate::hooks::{NoOptions, OptionSource, OutgoingSegment};
use crate::{State, SubflowSeq};

use super::Connection;
use super::recovery::NextSeg;

impl Connection {
    /// Write the next segment to send into `buf` as a whole IP packet and
    /// return its length, or `None` if there is nothing to send (or `buf`
    /// is too small, in which case the segment stays pending).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit_with(now, buf, &mut NoOptions)
    }

    /// [`Connection::poll_transmit`], with the options of `source` (the
    /// MPTCP layer's) added to the segment; see [`OptionSource`].
    #[must_use]
    pub fn poll_transmit_with(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        source: &mut dyn OptionSource,
    ) -> Option<usize> {
        if let Some((seq, ack)) = self.rst_pending {
            let mut b = SegmentBuilder::new(self.tuple.local, self.tuple.remote);
            b.seq = seq.get();
            b.flags = TcpFlags::RST;
            if let Some(ack) = ack {
                b.ack = ack.get();
                b.flags = TcpFlags::RST | TcpFlags::ACK;
            }
            let len = emit_with(b, buf, source, false)?;
            self.rst_pending = None;
            return Some(len);
        }
        match self.state {
            State::Closed | State::Listen => None,
            State::SynSent | State::SynReceived => self.transmit_syn(now, buf, source),
            _ if self.timers.keepalive_probe_pending => self.transmit_keepalive(now, buf, source),
            _ => {
                let sent = self.transmit_data(now, buf, source);
                if sent.is_none() {
                    self.arm_persist(now);
                }
                sent
            }
        }
    }

    fn transmit_syn(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        source: &mut dyn OptionSource,
    ) -> Option<usize> {
        if !self.ctl_pending {
            if self.state == State::SynReceived && self.ack_pending {
                // A challenge ACK (RFC 5961) in SYN-RECEIVED.
                return self.transmit_ack(now, buf, source);
            }
            return None;
        }
        let syn_ack = self.state == State::SynReceived;
        let mut b = SegmentBuilder::new(self.tuple.local, self.tuple.remote);
        b.seq = self.iss.get();
        b.flags = TcpFlags::SYN;
        b.mss = Some(self.offered_mss.unwrap_or(self.config.mss));
        // RFC 7323 §2.2: the window of a SYN is not scaled.
        b.window = self.rcv.recv_buf.window().min(usize::from(u16::MAX)) as u16;
        if syn_ack {
            b.flags = TcpFlags::SYN | TcpFlags::ACK;
            b.ack = self.rcv.rcv_nxt.get();
            // Answer only what the peer offered (and we want).
            if self.config.window_scaling && self.ws_offered {
                b.window_scale = Some(self.rcv_shift);
            }
            b.sack_permitted = self.sack_permitted;
            if self.ts_enabled {
                b.timestamps = Some((self.ts_now(now), self.ts_recent));
            }
        } else {
            if self.config.window_scaling {
                b.window_scale = Some(self.config.window_shift());
            }
            b.sack_permitted = self.config.sack;
            if self.config.timestamps {
                b.timestamps = Some((self.ts_now(now), 0));
            }
        }
        // TCP Fast Open (RFC 7413): the server's cookie in its SYN-ACK; the
        // client's cookie (or an empty request) in every SYN, and data only
        // in the first (a retransmitted SYN goes without, as Linux does).
        let issued = self.tfo_issue.filter(|_| syn_ack);
        let client_cookie = self.tfo_client.filter(|_| !syn_ack);
        let mut syn_data = 0;
        if let Some(cookie) = issued.as_ref() {
            b.fast_open = Some(cookie.as_bytes());
        }
        if let Some(cookie) = client_cookie.as_ref() {
            b.fast_open = Some(cookie.as_ref().map_or(&[][..], FastOpenCookie::as_bytes));
        }
        // Data with a cookie, or without any Fast Open option when asked
        // to (`connect_with_syn_data`).
        let carries_data =
            matches!(client_cookie, Some(Some(_))) || (self.tfo_data_without_cookie && !syn_ack);
        if carries_data && self.timers.consecutive_rtos == 0 {
            let room = self.syn_data_room();
            syn_data = self.send_buf.len().min(room).min(self.scratch.len());
            let n = self.send_buf.peek(0, &mut self.scratch[..syn_data]);
            debug_assert_eq!(n, syn_data);
            b.payload = &self.scratch[..syn_data];
        }
        let syn_window = b.window;
        let info = OutgoingSegment {
            flags: b.flags,
            seq: self.iss,
            payload_len: syn_data,
            retransmission: self.timers.consecutive_rtos > 0,
        };
        let len = emit_info(b, buf, source, &info)?;
        if syn_data > 0 {
            self.syn_data = syn_data as u32;
            self.bytes_sent += syn_data as u64;
            self.snd_nxt = self.iss + 1u32 + syn_data;
            self.snd_max = self.snd_max.max_seq(self.snd_nxt);
        } else if !syn_ack {
            self.snd_nxt = self.iss + 1u32;
        }
        self.ctl_pending = false;
        if syn_ack {
            self.sent_ack(syn_window);
            // The SYN window is unscaled; the right edge is what it said.
            self.rcv.rcv_adv = self.rcv.rcv_nxt + u32::from(syn_window);
        }
        if self.timers.rtx_deadline.is_none() {
            self.timers.rtx_deadline = Some(now + self.rtt.rto());
        }
        if self.timers.consecutive_rtos == 0 && self.timed.is_none() {
            self.timed = Some((self.iss, now));
        } else if self.timers.consecutive_rtos > 0 {
            self.timed = None;
            self.retransmissions += 1;
        }
        Some(len)
    }

    fn transmit_data(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        source: &mut dyn OptionSource,
    ) -> Option<usize> {
        // A retransmission is only due while something is outstanding.
        if self.snd_una == self.snd_max {
            self.recovery.fast_rtx_pending = false;
        }
        // Room the layer above keeps for its options comes off the payload.
        let mss = self.mss().saturating_sub(source.reserve()).max(1);
        let next = if self.recovery.in_recovery && self.recovery.sack_recovery {
            self.next_seg_sack(mss)
        } else if self.recovery.fast_rtx_pending {
            // RFC 6582: SND.UNA again.
            NextSeg::Retransmit {
                seq: self.snd_una,
                end: None,
                rescue: false,
            }
        } else {
            NextSeg::NewData { pipe_room: None }
        };
        let (fast, seq, hole_end, rescue, pipe_room) = match next {
            NextSeg::Retransmit { seq, end, rescue } => (true, seq, end, rescue, None),
            NextSeg::NewData { pipe_room } => (false, self.snd_nxt, None, false, pipe_room),
            NextSeg::Nothing => (false, self.snd_nxt, None, false, Some(0)),
        };
        let offset = seq.distance_from(self.buf_seq) as usize;
        let avail = self.send_buf.len().saturating_sub(offset);
        // Where the layer above's mapping ends: a short segment there is a
        // boundary, not a sliver, and goes like a full one.
        let boundary = source.max_payload(seq);
        let mut len = avail.min(mss).min(boundary);
        if let Some(end) = hole_end {
            len = len.min(end.distance_from(seq) as usize);
        }
        if !fast {
            // The usable window: the peer's, and the congestion window
            // inflated by one MSS per duplicate ACK in NewReno recovery, or
            // what the pipe leaves of it in SACK recovery.
            let cwnd = self.cwnd.max(mss as u64);
            let peer_right = self.snd_una + self.snd_wnd;
            let allowed = match pipe_room {
                Some(room) => (peer_right.distance_from(seq) as u64).min(room) as usize,
                None => {
                    let cwnd = if self.recovery.in_recovery {
                        cwnd.saturating_add(self.recovery.inflation)
                    } else {
                        cwnd
                    };
                    let wnd = u64::from(self.snd_wnd).min(cwnd) as u32;
                    (self.snd_una + wnd).distance_from(seq) as usize
                }
            };
            len = len.min(allowed);
            if len == 0 && avail > 0 && self.force_one {
                len = 1;
            }
            // Nagle (RFC 9293 §3.7.4): hold a small new segment while data
            // is unacknowledged.
            let small = len < mss && len == avail;
            if self.config.nagle
                && small
                && len > 0
                && seq == self.snd_max
                && self.snd_max > self.snd_una
                && !self.fin_queued
            {
                len = 0;
            }
            // Sender SWS avoidance: don't send a sliver the window allows
            // when more is waiting.
            if len < avail
                && len < mss
                && len < boundary
                && !self.force_one
                && self.snd_max > self.snd_una
            {
                len = 0;
            }
        }
        let fin_seq = self.fin_seq();
        // The FIN goes with the last data byte (or alone) when it has not
        // been sent, or is being sent again.
        let fin_needed = self.fin_queued && len == avail && seq + len == fin_seq;
        if len == 0 && !fin_needed {
            if self.ack_pending {
                return self.transmit_ack(now, buf, source);
            }
            return None;
        }
        let mut b = self.base_builder(now);
        let mut blocks = [(0, 0); 4];
        let n_blocks = self.sack_blocks(&mut blocks);
        b.sack_blocks = &blocks[..n_blocks];
        // The payload straight from the send ring into the packet.
        let (head, tail) = self.send_buf.slices(offset, len);
        debug_assert_eq!(head.len() + tail.len(), len);
        b.seq = seq.get();
        if fin_needed {
            b.flags |= TcpFlags::FIN;
        }
        if len > 0 && len == avail {
            b.flags |= TcpFlags::PSH;
        }
        b.payload = head;
        b.payload_tail = tail;
        let window = b.window;
        let retransmit = seq < self.snd_max;
        let info = OutgoingSegment {
            flags: b.flags,
            seq,
            payload_len: len,
            retransmission: retransmit,
        };
        let emitted = emit_info(b, buf, source, &info)?;

        let end = seq + len + u32::from(fin_needed);
        if retransmit {
            self.retransmissions += 1;
            // Karn: a sample must not come from a retransmitted segment.
            if self.timed.is_some_and(|(t, _)| t >= seq) {
                self.timed = None;
            }
        } else if self.timed.is_none() {
            self.timed = Some((seq, now));
        }
        self.bytes_sent += len as u64;
        if fast && self.recovery.in_recovery && self.recovery.sack_recovery {
            // Room was checked by `next_seg_sack`.
            let logged = self.recovery.rtx_log.record(seq, seq + len, self.snd_max);
            debug_assert!(logged);
        }
        if rescue {
            self.recovery.rescued = true;
        } else if fast {
            self.recovery.fast_rtx_pending = false;
        } else {
            self.snd_nxt = end;
            self.snd_max = self.snd_max.max_seq(end);
        }
        self.force_one = false;
        if self.timers.rtx_deadline.is_none() || self.timers.persist {
            self.timers.persist = false;
            self.timers.rtx_deadline = Some(now + self.rtt.rto());
        }
        self.sent_ack(window);
        Some(emitted)
    }

    /// RFC 9293 §3.8.4: a probe is a segment with SEG.SEQ = SND.NXT-1 and
    /// no data (SND.NXT = SND.UNA when idle); out of the window, so the peer
    /// answers with an ACK.
    fn transmit_keepalive(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        source: &mut dyn OptionSource,
    ) -> Option<usize> {
        let len = self.transmit_ack_at(now, buf, source, self.snd_una - 1u32)?;
        self.timers.keepalive_probe_pending = false;
        Some(len)
    }

    fn transmit_ack(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        source: &mut dyn OptionSource,
    ) -> Option<usize> {
        self.transmit_ack_at(now, buf, source, self.acceptable_seq())
    }

    /// The sequence number of a segment without data: the highest sent
    /// (SND.MAX), unless a zero-window probe carried it past the peer's
    /// window. Not SND.NXT: after a timeout, go-back-N rewinds SND.NXT to
    /// SND.UNA, and a peer that already received beyond it would find our
    /// ACKs below its RCV.NXT, unacceptable (RFC 9293 §3.10.7.4): it would
    /// ignore what they acknowledge and answer each with an ACK of its
    /// own. (Linux's SND.NXT never goes back, `tcp_acceptable_seq`.) A
    /// segment beyond RCV.NXT + RCV.WND is unacceptable too: while the
    /// peer's window stays shut it would never learn what we received, so
    /// the ACK then sits at the window's edge.
    fn acceptable_seq(&self) -> SubflowSeq {
        if !self.state.is_synchronized() {
            return self.snd_nxt;
        }
        let right = self.snd_una + self.snd_wnd;
        if right < self.snd_max {
            right
        } else {
            self.snd_max
        }
    }

    /// A segment without data at `seq` carrying our ACK (and SACK blocks).
    fn transmit_ack_at(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        source: &mut dyn OptionSource,
        seq: SubflowSeq,
    ) -> Option<usize> {
        let mut b = self.base_builder(now);
        b.seq = seq.get();
        let mut blocks = [(0, 0); 4];
        let n_blocks = self.sack_blocks(&mut blocks);
        b.sack_blocks = &blocks[..n_blocks];
        let window = b.window;
        let info = OutgoingSegment {
            flags: b.flags,
            seq,
            payload_len: 0,
            retransmission: false,
        };
        let len = emit_info(b, buf, source, &info)?;
        self.sent_ack(window);
        Some(len)
    }

    /// Seam: the MPTCP layer's options for outgoing segments (DSS,
    /// ADD_ADDR, ...) and SACK blocks are to be added to this builder.
    fn base_builder<'a>(&self, now: Instant) -> SegmentBuilder<'a> {
        let mut b = SegmentBuilder::new(self.tuple.local, self.tuple.remote);
        b.ack = self.rcv.rcv_nxt.get();
        b.flags = TcpFlags::ACK;
        b.window = (self.advertisable_window() >> self.rcv_shift).min(u32::from(u16::MAX)) as u16;
        if self.ts_enabled {
            b.timestamps = Some((self.ts_now(now), self.ts_recent));
        }
        b
    }
}

/// Emit `b` with the extra options `source` gives for `info`, and tell the
/// source what went out. `None` if the segment cannot be written (`buf` too
/// small, or the mandatory options do not fit).
fn emit_info(
    b: SegmentBuilder<'_>,
    buf: &mut [u8],
    source: &mut dyn OptionSource,
    info: &OutgoingSegment,
) -> Option<usize> {
    let extra = source.options(info);
    let mut b = b;
    b.mptcp = extra.mptcp;
    b.mptcp_optional = extra.optional;
    let emitted = b.emit(buf).ok()?;
    source.sent(info, emitted.optional_sent);
    Some(emitted.len)
}

/// Emit a segment outside the data path (a RST) with `source`'s options.
fn emit_with(
    b: SegmentBuilder<'_>,
    buf: &mut [u8],
    source: &mut dyn OptionSource,
    retransmission: bool,
) -> Option<usize> {
    let info = OutgoingSegment {
        flags: b.flags,
        seq: SubflowSeq(b.seq),
        payload_len: b.payload.len(),
        retransmission,
    };
    emit_info(b, buf, source, &info)
}
