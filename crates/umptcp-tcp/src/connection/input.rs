//! Input: an incoming segment through the RFC 9293 state machine (LISTEN,
//! SYN-SENT, then every synchronized state), with the RFC 5961 and RFC 7323
//! checks, and the options it carries.

use core::time::Duration;
use std::net::SocketAddr;

use umptcp_time::Instant;
use umptcp_wire::segment::TcpFlags;
use umptcp_wire::{Segment, TcpOption};

use crate::fast_open::FastOpenCookie;
use crate::hooks::Received;
use crate::{State, SubflowSeq};

use super::{Connection, Event};

/// RFC 7323 §5.5: a TS.Recent idle for more than 24 days is invalid.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

/// Options of an incoming segment that the engine uses.
///
/// Seam: SACK blocks and the MPTCP option of incoming segments are to be
/// collected here and handed to the layer above.
#[derive(Default, Clone, Copy, Debug)]
pub(super) struct SegOptions {
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    pub(super) timestamps: Option<(u32, u32)>,
    /// A Fast Open option: `Some(None)` is a cookie request (empty), a
    /// cookie of a length RFC 7413 does not allow is ignored.
    fast_open: Option<Option<FastOpenCookie>>,
    /// SACK blocks (RFC 2018), at most four.
    sack: [(u32, u32); 4],
    sack_len: usize,
}

impl SegOptions {
    fn parse(segment: &Segment<'_>) -> Self {
        let mut out = SegOptions::default();
        // A malformed option ends the walk; the options before it count.
        for option in segment.options() {
            match option {
                Ok(TcpOption::MaxSegmentSize(mss)) => out.mss = Some(mss),
                Ok(TcpOption::WindowScale(shift)) => out.window_scale = Some(shift),
                Ok(TcpOption::SackPermitted) => out.sack_permitted = true,
                Ok(TcpOption::Timestamps { tsval, tsecr }) => out.timestamps = Some((tsval, tsecr)),
                Ok(TcpOption::FastOpen([])) => out.fast_open = Some(None),
                Ok(TcpOption::SackBlocks(blocks)) => {
                    let blocks = blocks.as_slice();
                    out.sack_len = blocks.len().min(4);
                    out.sack[..out.sack_len].copy_from_slice(&blocks[..out.sack_len]);
                }
                Ok(TcpOption::FastOpen(cookie)) => {
                    if let Some(c) = FastOpenCookie::new(cookie) {
                        out.fast_open = Some(Some(c));
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        out
    }
}

/// What [`Connection::screen`] decided about a segment.
#[derive(Clone, Copy, Debug)]
enum Verdict {
    /// Acceptable: process it, from `seq` (past a SYN already held).
    Accept { seq: SubflowSeq },
    /// Dropped without a word.
    Drop,
    /// Our SYN-ACK was lost: send it again.
    RetransmittedSyn,
    /// RFC 5961: a SYN, or a RST in the window but not at RCV.NXT.
    ChallengeAck,
    /// A RST exactly at RCV.NXT.
    Reset,
    /// Bytes we have already, again: answered with an ACK, dropped.
    OldCopy,
    /// Far outside the window, stale (PAWS), or acknowledging what we
    /// never sent: answered with an ACK at a limited rate, dropped.
    Unacceptable,
    /// TIME-WAIT: the peer's FIN again.
    FinAgainInTimeWait,
    /// SYN-RECEIVED: the ACK does not acknowledge our SYN.
    BadSynAck,
}

/// A [`Verdict`], and whether TS.Recent is too old to judge by (RFC 7323
/// §5.5: it is replaced by the segment's TSval).
#[derive(Clone, Copy, Debug)]
struct Screened {
    verdict: Verdict,
    paws_idle: bool,
}

impl Connection {
    /// Process one segment addressed to this connection, and say what was
    /// done with it (see [`Received`]: whether it was accepted, where its
    /// payload sits, what it acknowledged).
    ///
    /// Segments of another four-tuple are ignored. Nothing a peer sends
    /// makes this panic; unacceptable segments are dropped, and answered
    /// with an ACK or a RST where RFC 9293 and RFC 5961 say so.
    pub fn handle_segment(&mut self, now: Instant, segment: &Segment<'_>) -> Received {
        self.received = Received::default();
        let local = SocketAddr::new(segment.dst(), segment.dst_port());
        let remote = SocketAddr::new(segment.src(), segment.src_port());
        if local != self.tuple.local || (self.state != State::Listen && remote != self.tuple.remote)
        {
            return self.received;
        }
        let opts = SegOptions::parse(segment);
        match self.state {
            State::Closed => {}
            State::Listen => self.on_listen(now, segment, remote, &opts),
            State::SynSent => self.on_syn_sent(now, segment, &opts),
            _ => self.on_synchronized(now, segment, &opts),
        }
        if self.received.accepted {
            // Heard from the peer: it is alive, the idle time starts again.
            self.timers.keepalive_sent = 0;
            self.timers.keepalive_probe_pending = false;
            self.arm_keepalive(now);
        }
        self.received
    }

    /// RFC 9293 §3.10.7.2.
    fn on_listen(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        remote: SocketAddr,
        opts: &SegOptions,
    ) {
        let flags = seg.flags();
        if flags.contains(TcpFlags::RST) {
            return;
        }
        if flags.contains(TcpFlags::ACK) {
            // RFC 9293 answers "<SEQ=SEG.ACK><CTL=RST>"; a listener is not
            // bound to that peer, so the endpoint that demultiplexes
            // segments (which answers every segment for no connection with
            // a RST) does it, not this object.
            return;
        }
        if !flags.contains(TcpFlags::SYN) {
            return;
        }
        self.tuple.remote = remote;
        self.iss = self.isn_key.isn(&self.tuple, now);
        self.ts_offset = self.isn_key.ts_offset(&self.tuple);
        self.snd_una = self.iss;
        self.snd_nxt = self.iss + 1u32;
        self.snd_max = self.snd_nxt;
        self.buf_seq = self.snd_nxt;
        self.recovery.recover = self.iss;
        self.record_peer_syn(now, seg, opts);
        self.snd_wl2 = self.iss;
        self.state = State::SynReceived;
        self.ctl_pending = true;
        self.received.accepted = true;
        if self.config.fast_open {
            self.on_fast_open_syn(now, seg, remote, opts);
        }
    }

    /// RFC 7413 §4.2: a cookie request gets a cookie in the SYN-ACK; a
    /// valid cookie lets the SYN's data in at once; an invalid one gets the
    /// data ignored (the client sends it again) and a fresh cookie.
    fn on_fast_open_syn(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        remote: SocketAddr,
        opts: &SegOptions,
    ) {
        let expected = || FastOpenCookie::for_client(&self.isn_key, remote.ip());
        let take = match opts.fast_open {
            None => false,
            Some(None) => {
                self.tfo_issue = Some(expected());
                false
            }
            Some(Some(cookie)) if cookie.is_valid_for(&self.isn_key, remote.ip()) => true,
            Some(Some(_)) => {
                self.tfo_issue = Some(expected());
                false
            }
        };
        // Data beyond one MSS of ours is left for the client to send again:
        // no real client's SYN carries more, and a forged one must not
        // cost a half-open connection more memory.
        let payload = seg.payload();
        if (take || self.config.syn_data_without_cookie)
            && !payload.is_empty()
            && payload.len() <= usize::from(self.config.mss)
        {
            self.received.payload = Some((self.rcv.rcv_nxt, payload.len()));
            self.on_payload(now, self.rcv.rcv_nxt, payload);
        }
    }

    /// RFC 9293 §3.10.7.3.
    fn on_syn_sent(&mut self, now: Instant, seg: &Segment<'_>, opts: &SegOptions) {
        let flags = seg.flags();
        let ack = SubflowSeq(seg.ack());
        let has_ack = flags.contains(TcpFlags::ACK);
        if has_ack && (ack <= self.iss || ack > self.snd_max) {
            // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless
            // the RST bit is set, if so drop the segment and return)".
            if !flags.contains(TcpFlags::RST) {
                self.rst_pending = Some((ack, None));
            }
            return;
        }
        let ack_ok = has_ack && self.snd_una < ack;
        if flags.contains(TcpFlags::RST) {
            // RFC 5961 §3.2 / RFC 9293: a RST is accepted in SYN-SENT only if
            // it acknowledges our SYN.
            if ack_ok {
                self.terminate(Event::Reset);
            }
            return;
        }
        if !flags.contains(TcpFlags::SYN) {
            return;
        }
        self.received.accepted = true;
        self.record_peer_syn(now, seg, opts);
        if ack_ok {
            self.snd_wl2 = ack;
            if self.tfo_client.is_some() {
                if let Some(Some(cookie)) = opts.fast_open {
                    self.tfo_received = Some(cookie);
                }
            }
            self.on_syn_acked(now, ack, opts);
            // RFC 7413 §4.2.2: the SYN-ACK may acknowledge the SYN's data,
            // or only the SYN; what it does not cover is sent again now.
            let data_acked = ack
                .distance_from(self.buf_seq)
                .min(self.send_buf.len() as u32);
            if data_acked > 0 {
                self.send_buf.consume(data_acked as usize);
                self.buf_seq = self.buf_seq + data_acked;
                self.received.acked = Some((self.iss + 1u32, ack));
            }
            self.snd_nxt = ack;
            self.establish();
            self.ack_pending = true;
        } else {
            // Simultaneous open (RFC 9293 §3.5, Figure 8).
            self.snd_wl2 = self.snd_una;
            self.state = State::SynReceived;
            self.ctl_pending = true;
        }
    }

    /// Our SYN is acknowledged by `ack` (= ISS + 1).
    fn on_syn_acked(&mut self, now: Instant, ack: SubflowSeq, opts: &SegOptions) {
        self.snd_una = ack;
        if self.snd_nxt < ack {
            self.snd_nxt = ack;
        }
        self.ctl_pending = false;
        self.take_rtt_sample(now, ack, opts);
        self.timers.rtx_deadline = None;
        self.timers.consecutive_rtos = 0;
    }

    /// Whether `segment` would pass every check this engine makes before
    /// acting on a segment (the four-tuple, RFC 9293 §3.10.7's
    /// acceptability tests, the RFC 5961 RST, SYN and ACK checks, PAWS,
    /// RFC 7323 §3.2's missing timestamps), without changing anything.
    ///
    /// The layer above asks this before it acts on the segment's own
    /// options: an MPTCP option on a segment TCP drops must change nothing
    /// (an off-path attacker who knows the four-tuple could otherwise
    /// downgrade or abort the connection). `true` is exactly when
    /// [`handle_segment`](Self::handle_segment) would report
    /// [`Received::accepted`], up to what processing the segment changes.
    pub fn acceptable(&self, now: Instant, segment: &Segment<'_>) -> bool {
        let local = SocketAddr::new(segment.dst(), segment.dst_port());
        let remote = SocketAddr::new(segment.src(), segment.src_port());
        if local != self.tuple.local || (self.state != State::Listen && remote != self.tuple.remote)
        {
            return false;
        }
        let flags = segment.flags();
        let (syn, rst, has_ack) = (
            flags.contains(TcpFlags::SYN),
            flags.contains(TcpFlags::RST),
            flags.contains(TcpFlags::ACK),
        );
        match self.state {
            State::Closed => false,
            State::Listen => syn && !rst && !has_ack,
            State::SynSent => {
                let ack = SubflowSeq(segment.ack());
                let ack_ok = has_ack && self.iss < ack && ack <= self.snd_max;
                if rst {
                    ack_ok && self.snd_una < ack
                } else {
                    syn && (!has_ack || ack_ok)
                }
            }
            _ => {
                let opts = SegOptions::parse(segment);
                matches!(
                    self.screen(now, segment, &opts).verdict,
                    Verdict::Accept { .. } | Verdict::Reset
                )
            }
        }
    }

    /// RFC 9293 §3.10.7.4's checks, with RFC 5961's and RFC 7323's, of a
    /// segment in SYN-RECEIVED or a synchronized state: what to do with
    /// it, decided without changing anything (see [`Self::acceptable`]).
    fn screen(&self, now: Instant, seg: &Segment<'_>, opts: &SegOptions) -> Screened {
        let flags = seg.flags();
        let mut seq = SubflowSeq(seg.seq());
        let ack = SubflowSeq(seg.ack());
        let mut syn = flags.contains(TcpFlags::SYN);
        let rst = flags.contains(TcpFlags::RST);
        let has_ack = flags.contains(TcpFlags::ACK);
        let payload = seg.payload();
        let fin = flags.contains(TcpFlags::FIN);
        let mut paws_idle = false;
        let verdict = 'verdict: {
            // RFC 7323 §3.2: once negotiated, a non-RST segment without
            // timestamps "SHOULD be silently dropped".
            if self.ts_enabled && !rst && opts.timestamps.is_none() {
                break 'verdict Verdict::Drop;
            }
            // Simultaneous open: the peer's SYN-ACK arrives in SYN-RECEIVED.
            // Its SYN is the one we already have; keep the ACK.
            if self.state == State::SynReceived
                && syn
                && has_ack
                && !rst
                && seq == self.rcv.irs
                && ack == self.snd_nxt
            {
                seq = seq + 1u32;
                syn = false;
            }
            if syn && !rst {
                if self.state == State::SynReceived && !has_ack && seq == self.rcv.irs {
                    // A retransmitted SYN: our SYN-ACK was lost.
                    break 'verdict Verdict::RetransmittedSyn;
                }
                // RFC 5961 §4.2: "If the SYN bit is set, irrespective of the
                // sequence number, TCP MUST send an ACK (also referred to as
                // challenge ACK) to the remote peer".
                break 'verdict Verdict::ChallengeAck;
            }
            // RFC 7323 §5.3 R1 (PAWS): a segment whose TSval is older than
            // TS.Recent is a duplicate; answer with an ACK and drop it.
            if let (true, Some((tsval, _))) = (self.ts_enabled, opts.timestamps) {
                let stale = (tsval.wrapping_sub(self.ts_recent) as i32) < 0;
                if stale && !rst {
                    if now - self.ts_recent_at > PAWS_IDLE {
                        // RFC 7323 §5.5: TS.Recent is too old to judge by.
                        paws_idle = true;
                    } else {
                        break 'verdict Verdict::Unacceptable;
                    }
                }
            }

            let seg_len = payload.len() as u32 + u32::from(fin) + u32::from(syn);
            let wnd = self.rcv.recv_buf.window() as u32;
            let in_window = |s: SubflowSeq| self.rcv.rcv_nxt <= s && s < self.rcv.rcv_nxt + wnd;
            let acceptable = match (seg_len == 0, wnd == 0) {
                (true, true) => seq == self.rcv.rcv_nxt,
                (true, false) => in_window(seq),
                (false, true) => false,
                (false, false) => in_window(seq) || in_window(seq + (seg_len - 1)),
            };
            if rst {
                // RFC 5961 §3.2: reset only on an exact match of RCV.NXT; an
                // in-window RST gets a challenge ACK; anything else is dropped.
                break 'verdict if seq == self.rcv.rcv_nxt {
                    Verdict::Reset
                } else if in_window(seq) || (wnd == 0 && seq == self.rcv.rcv_nxt) {
                    Verdict::ChallengeAck
                } else {
                    Verdict::Drop
                };
            }
            if !acceptable {
                // RFC 9293 §3.10.7.4, TIME-WAIT: "The only thing that can
                // arrive in this state is a retransmission of the remote FIN.
                // Acknowledge it, and restart the 2 MSL timeout."
                let fin_again = self.state == State::TimeWait
                    && fin
                    && seq + payload.len() + 1u32 == self.rcv.rcv_nxt;
                // A copy of bytes we have (a retransmission that crossed
                // our ACK) ends at most one receive buffer behind RCV.NXT;
                // its ACK goes at once. Anything else is out of reach of
                // an honest peer and answered at a limited rate.
                let behind = self.rcv.rcv_nxt.diff(seq + seg_len);
                let old_copy =
                    (0..=self.rcv.recv_buf.capacity() as i64).contains(&i64::from(behind));
                break 'verdict if fin_again {
                    Verdict::FinAgainInTimeWait
                } else if old_copy {
                    Verdict::OldCopy
                } else {
                    Verdict::Unacceptable
                };
            }
            if !has_ack {
                break 'verdict Verdict::Drop;
            }
            if self.state == State::SynReceived && !(self.snd_una < ack && ack <= self.snd_max) {
                // "If the segment acknowledgment is not acceptable, form a
                // reset segment <SEQ=SEG.ACK><CTL=RST> and send it."
                break 'verdict Verdict::BadSynAck;
            }
            // RFC 5961 §5.2: the ACK is acceptable only within
            // [SND.UNA - MAX.SND.WND, SND.NXT]; otherwise ACK and drop.
            let floor = if self.state == State::SynReceived {
                ack
            } else {
                self.snd_una - self.max_snd_wnd
            };
            if ack > self.snd_max || ack < floor {
                break 'verdict Verdict::Unacceptable;
            }
            Verdict::Accept { seq }
        };
        Screened { verdict, paws_idle }
    }

    /// RFC 9293 §3.10.7.4, for SYN-RECEIVED and every synchronized state.
    fn on_synchronized(&mut self, now: Instant, seg: &Segment<'_>, opts: &SegOptions) {
        let flags = seg.flags();
        let ack = SubflowSeq(seg.ack());
        let payload = seg.payload();
        let fin = flags.contains(TcpFlags::FIN);
        let screened = self.screen(now, seg, opts);
        if screened.paws_idle {
            if let Some((tsval, _)) = opts.timestamps {
                self.ts_recent = tsval;
                self.ts_recent_at = now;
            }
        }
        let seq = match screened.verdict {
            Verdict::Accept { seq } => seq,
            Verdict::Drop => return,
            Verdict::RetransmittedSyn => {
                self.ctl_pending = true;
                return;
            }
            Verdict::ChallengeAck => {
                self.challenge_ack(now);
                return;
            }
            Verdict::Reset => {
                self.terminate(Event::Reset);
                return;
            }
            Verdict::Unacceptable => {
                // RFC 9293: "If an incoming segment is not acceptable, an
                // acknowledgment should be sent in reply", at a limited
                // rate (RFC 5961 §7).
                self.invalid_ack(now);
                return;
            }
            Verdict::OldCopy => {
                self.ack_pending = true;
                return;
            }
            Verdict::FinAgainInTimeWait => {
                self.ack_pending = true;
                self.timers.time_wait_deadline = Some(now + self.config.time_wait);
                return;
            }
            Verdict::BadSynAck => {
                self.rst_pending = Some((ack, None));
                return;
            }
        };

        // RFC 7323 §4.3: remember TSval of the segment that covers the
        // ACK we last sent.
        if let Some((tsval, _)) = opts.timestamps {
            if seq <= self.last_ack_sent && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                self.ts_recent = tsval;
                self.ts_recent_at = now;
            }
        }

        if self.state == State::SynReceived {
            self.on_syn_acked(now, ack, opts);
            self.snd_wnd = u32::from(seg.window()) << self.snd_shift;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            self.establish();
        }

        self.received.accepted = true;
        if self.snd_wnd == 0 {
            // The peer is alive and answering our zero-window probes.
            self.timers.consecutive_rtos = 0;
        }
        let window = u32::from(seg.window()) << self.snd_shift;
        let is_dup = ack == self.snd_una
            && payload.is_empty()
            && !fin
            && window == self.snd_wnd
            && self.snd_max > self.snd_una;
        if self.sack_permitted {
            let una = ack.max_seq(self.snd_una);
            for &(left, right) in &opts.sack[..opts.sack_len] {
                self.recovery.scoreboard.add(
                    SubflowSeq(left),
                    SubflowSeq(right),
                    una,
                    self.snd_max,
                );
            }
        }
        if ack > self.snd_una {
            self.on_new_ack(now, ack, opts);
        } else if is_dup {
            self.on_dup_ack(now);
        }
        if self.recovery.in_recovery
            && self.recovery.sack_recovery
            && self
                .recovery
                .rtx_log
                .update(self.snd_una, &self.recovery.scoreboard)
        {
            // A retransmission was lost: its hole is eligible again.
            self.lost_retransmissions += 1;
        }
        // RFC 9293: "If SND.UNA =< SEG.ACK =< SND.NXT, the send window
        // should be updated" when the segment is newer than the one that
        // last set it.
        if ack >= self.snd_una
            && (self.snd_wl1 < seq || (self.snd_wl1 == seq && self.snd_wl2 <= ack))
        {
            let opened = self.snd_wnd == 0 && window > 0;
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            if opened && self.timers.persist {
                self.timers.persist = false;
                self.timers.rtx_deadline = None;
            }
        }
        if self.state == State::Closed {
            return;
        }

        // Our FIN acknowledged?
        let fin_acked = self.fin_queued && self.snd_una == self.fin_seq() + 1u32;
        if fin_acked {
            match self.state {
                State::FinWait1 => {
                    self.state = State::FinWait2;
                    self.arm_fin_wait2(now);
                }
                State::Closing => self.enter_time_wait(now),
                State::LastAck => {
                    self.terminate(Event::Closed);
                    return;
                }
                _ => {}
            }
        }

        // RFC 2525 §2.17 (Linux's TCPAbortOnData): nobody will read new
        // data after close(), so say so with a RST rather than ACK it.
        if self.app_closed
            && !self.discard_input
            && self.state.can_receive()
            && seq + payload.len() > self.rcv.rcv_nxt
            && !payload.is_empty()
        {
            self.rst_pending = Some((self.snd_max, None));
            self.terminate(Event::Reset);
            return;
        }
        // Data.
        if self.state.can_receive() && !payload.is_empty() {
            self.received.payload = Some((seq, payload.len()));
            self.on_payload(now, seq, payload);
            if self.discard_input {
                let n = self.rcv.recv_buf.readable();
                self.rcv.recv_buf.advance(n);
                self.after_read(n);
            }
        }
        // FIN.
        if fin {
            let fin_seq = seq + payload.len();
            if self.state.can_receive() {
                if fin_seq == self.rcv.rcv_nxt {
                    self.on_fin(now);
                } else if fin_seq > self.rcv.rcv_nxt {
                    self.rcv.peer_fin = Some(fin_seq);
                }
            } else if self.rcv.fin_received && fin_seq + 1u32 == self.rcv.rcv_nxt {
                // A retransmitted FIN: ACK it again; in TIME-WAIT restart
                // the 2 MSL timeout (RFC 9293 §3.10.7.4).
                self.ack_pending = true;
                if self.state == State::TimeWait {
                    self.timers.time_wait_deadline = Some(now + self.config.time_wait);
                }
            }
        }
        self.arm_persist(now);
    }

    /// The ACK that answers an unacceptable segment, at most one per
    /// [`TcpConfig::invalid_ack_interval`](crate::TcpConfig) (Linux's
    /// `tcp_oow_rate_limited`).
    fn invalid_ack(&mut self, now: Instant) {
        let interval = self.config.invalid_ack_interval;
        if self.last_invalid_ack.is_none_or(|t| now - t >= interval) {
            self.last_invalid_ack = Some(now);
            self.ack_pending = true;
        }
    }

    /// RFC 5961 §7: rate-limited challenge ACK.
    fn challenge_ack(&mut self, now: Instant) {
        if now - self.challenge_window >= Duration::from_secs(1) {
            self.challenge_window = now;
            self.challenge_count = 0;
        }
        if self.challenge_count < self.config.challenge_ack_limit {
            self.challenge_count += 1;
            self.ack_pending = true;
        }
    }

    fn establish(&mut self) {
        self.state = if self.fin_queued {
            State::FinWait1
        } else {
            State::Established
        };
        self.push_event(Event::Connected);
    }

    /// Take the peer's SYN: its sequence number and options. Shared by the
    /// passive (LISTEN) and active (SYN-SENT) opens, RFC 9293 §3.10.7.2-3.
    fn record_peer_syn(&mut self, now: Instant, seg: &Segment<'_>, opts: &SegOptions) {
        self.rcv.irs = SubflowSeq(seg.seq());
        self.rcv.rcv_nxt = self.rcv.irs + 1u32;
        self.rcv.rcv_adv = self.rcv.rcv_nxt;
        self.last_ack_sent = self.rcv.rcv_nxt;
        self.apply_syn_options(opts, seg.window());
        self.record_ts(opts, now);
        self.snd_wl1 = self.rcv.irs;
    }

    fn apply_syn_options(&mut self, opts: &SegOptions, window: u16) {
        if let Some(mss) = opts.mss {
            self.peer_mss = mss.max(64);
        }
        // RFC 7323 §2.2: scaling is on only if both SYNs carry the option;
        // §2.3: a shift above 14 is used as 14.
        self.ws_offered = opts.window_scale.is_some();
        match opts.window_scale {
            Some(shift) if self.config.window_scaling => {
                self.snd_shift = shift.min(14);
                self.rcv_shift = self.config.window_shift();
            }
            _ => {
                self.snd_shift = 0;
                self.rcv_shift = 0;
            }
        }
        // RFC 7323 §3.2: timestamps only if both SYNs carry them.
        self.ts_enabled = self.config.timestamps && opts.timestamps.is_some();
        self.sack_permitted = self.config.sack && opts.sack_permitted;
        // RFC 7323 §2.2: the window of a SYN is never scaled.
        self.snd_wnd = u32::from(window);
        self.max_snd_wnd = self.snd_wnd;
    }

    fn record_ts(&mut self, opts: &SegOptions, now: Instant) {
        if let Some((tsval, _)) = opts.timestamps {
            self.ts_recent = tsval;
            self.ts_recent_at = now;
        }
    }
}
