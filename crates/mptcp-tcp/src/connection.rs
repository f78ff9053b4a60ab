//! One TCP connection: the RFC 9293 state machine with RFC 6298
//! retransmission, RFC 7323 window scaling, timestamps and PAWS, RFC 5961
//! blind-attack mitigations, and fast recovery: RFC 6675 (SACK, `pipe`)
//! or RFC 6582 NewReno without SACK information.

use core::time::Duration;
use std::collections::VecDeque;
use std::net::SocketAddr;

use mptcp_cc::{CongestionEvent, PathId, PathInfo};
use mptcp_time::Instant;
use mptcp_wire::segment::TcpFlags;
use mptcp_wire::{Segment, SegmentBuilder, TcpOption};

use crate::fast_open::FastOpenCookie;
use crate::hooks::{NoOptions, OptionSource, OutgoingSegment, Received};
use crate::recv_buffer::{Inserted, RecvBuffer};
use crate::rtx_log::RtxLog;
use crate::scoreboard::Scoreboard;
use crate::send_buffer::SendBuffer;
use crate::{Error, FourTuple, IsnKey, RttEstimator, State, SubflowSeq, TcpConfig};

/// Something the application should know about.
///
/// Each kind is queued at most once until polled. A connection ends with
/// exactly one of [`Event::Closed`], [`Event::Reset`] or [`Event::TimedOut`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Event {
    /// The three-way handshake completed.
    Connected,
    /// New in-order data can be read.
    Readable,
    /// Room opened in the send buffer after a `write` that did not take all.
    Writable,
    /// The peer sent its FIN: no more data will arrive.
    PeerClosed,
    /// The connection ended gracefully (or by [`Connection::abort`]).
    Closed,
    /// The peer reset the connection.
    Reset,
    /// Too many retransmission timeouts: the peer is unreachable.
    TimedOut,
}

/// Most congestion events queued; older ones are dropped past this (ACK
/// events are coalesced first, so this only happens if the caller never
/// polls).
const CC_EVENT_CAPACITY: usize = 64;

/// RFC 7323 §5.5: a TS.Recent idle for more than 24 days is invalid.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

/// Options of an incoming segment that the engine uses.
///
/// Seam: SACK blocks and the MPTCP option of incoming segments are to be
/// collected here and handed to the layer above.
#[derive(Default, Clone, Copy, Debug)]
struct SegOptions {
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamps: Option<(u32, u32)>,
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

/// A sans-I/O TCP connection (one MPTCP subflow).
///
/// # Order of calls
///
/// 1. Build it with [`Connection::connect`], [`Connection::accept`] or
///    [`Connection::listen`].
/// 2. Feed every segment of this four-tuple to
///    [`Connection::handle_segment`], and call
///    [`Connection::handle_timeout`] when the instant of
///    [`Connection::poll_timeout`] is reached.
/// 3. After any input or application command, drain the outputs: first
///    [`Connection::poll_congestion_event`] until `None`, handing each event
///    to the controller and calling [`Connection::set_congestion_window`]
///    with its answer (so a loss shrinks the window before anything more is
///    sent); then [`Connection::poll_transmit`] until it returns `None`, and
///    [`Connection::poll_event`] until `None`. Finally re-read
///    [`Connection::poll_timeout`].
///
/// `now` must not go backwards between calls.
///
/// The engine does not own a congestion controller: it reports
/// [`CongestionEvent`]s and obeys the window it is given; the controller is
/// expected to set the window to ssthresh on `FastRetransmit`. What fast
/// recovery sends within that window is the engine's business, since the
/// controller does not see duplicate ACKs:
/// - with SACK information, RFC 6675: the first hole goes at once, then
///   segments go while `cwnd - pipe >= 1 SMSS`, where `pipe` counts the
///   bytes outstanding that are neither SACKed nor deemed lost, plus the
///   retransmitted ones; NextSeg picks lost holes, then new data, then the
///   remaining holes, then one rescue retransmission;
/// - without, RFC 6582 NewReno: the window is inflated by three MSS on
///   entry and one per further duplicate ACK, and deflated on partial ACKs
///   (§3.2 steps 3 to 5).
#[derive(Debug)]
pub struct Connection {
    config: TcpConfig,
    tuple: FourTuple,
    state: State,
    isn_key: IsnKey,

    // Send sequence space (RFC 9293 §3.3.1).
    iss: SubflowSeq,
    snd_una: SubflowSeq,
    snd_nxt: SubflowSeq,
    /// Highest sequence number sent plus one (`snd_nxt` goes back on an RTO).
    snd_max: SubflowSeq,
    snd_wnd: u32,
    max_snd_wnd: u32,
    snd_wl1: SubflowSeq,
    snd_wl2: SubflowSeq,
    /// Shift applied to the peer's window field.
    snd_shift: u8,
    /// Shift applied to our window field.
    rcv_shift: u8,
    peer_mss: u16,
    /// The MSS our SYN or SYN/ACK offers, if not `config.mss`.
    offered_mss: Option<u16>,
    send_buf: SendBuffer,
    /// Sequence number of the send buffer's first byte.
    buf_seq: SubflowSeq,
    fin_queued: bool,

    // Receive sequence space.
    irs: SubflowSeq,
    rcv_nxt: SubflowSeq,
    recv_buf: RecvBuffer,
    /// Right edge of the window last advertised.
    rcv_adv: SubflowSeq,
    /// A FIN that arrived beyond a hole.
    peer_fin: Option<SubflowSeq>,
    fin_received: bool,

    // Timestamps (RFC 7323).
    ts_enabled: bool,
    ts_offset: u32,
    ts_recent: u32,
    ts_recent_at: Instant,
    last_ack_sent: SubflowSeq,
    sack_permitted: bool,
    /// The peer's SYN carried a window-scale option.
    ws_offered: bool,

    // Timers.
    rtt: RttEstimator,
    timed: Option<(SubflowSeq, Instant)>,
    /// The RTT sample the segment being processed gave, if any.
    last_sample: Option<Duration>,
    rtx_deadline: Option<Instant>,
    persist: bool,
    delack_deadline: Option<Instant>,
    time_wait_deadline: Option<Instant>,
    /// When the next keepalive probe is due (or the connection given up).
    keepalive_deadline: Option<Instant>,
    /// Keepalive probes sent since the peer was last heard from.
    keepalive_sent: u32,
    keepalive_probe_pending: bool,
    /// `close()` was called: the application reads no more.
    app_closed: bool,
    /// When an orphaned FIN-WAIT-2 gives up on the peer's FIN.
    fin_wait2_deadline: Option<Instant>,
    consecutive_rtos: u32,

    // What to send next.
    ctl_pending: bool,
    ack_pending: bool,
    unacked_full_segments: u32,
    fast_rtx_pending: bool,
    force_one: bool,
    rst_pending: Option<(SubflowSeq, Option<SubflowSeq>)>,
    challenge_window: Instant,
    challenge_count: u32,

    // Congestion.
    cwnd: u64,
    dup_acks: u32,
    in_recovery: bool,
    /// RFC 6582 window inflation during recovery, in bytes, on top of the
    /// controller's window.
    inflation: u64,
    recover: SubflowSeq,

    events: VecDeque<Event>,
    cc_events: VecDeque<CongestionEvent>,
    write_blocked: bool,
    scratch: Box<[u8]>,

    retransmissions: u64,
    /// Retransmissions found lost during SACK recovery.
    lost_retransmissions: u64,
    bytes_sent: u64,
    bytes_received: u64,

    // TCP Fast Open (RFC 7413).
    /// Client: the cookie to send in the SYN, or a request for one.
    tfo_client: Option<Option<FastOpenCookie>>,
    /// Client: the cookie the server's SYN-ACK carried.
    tfo_received: Option<FastOpenCookie>,
    /// Server: the cookie to put in the SYN-ACK.
    tfo_issue: Option<FastOpenCookie>,
    /// Bytes of data our SYN carried (first transmission only).
    syn_data: u32,
    /// What the segment being processed did, for `handle_segment`'s caller.
    received: Received,
    /// Our timestamp clock at the last retransmission timeout: echoes of
    /// older timestamps give no RTT sample.
    rto_ts: Option<u32>,
    /// Where the most recent out-of-order segment landed: its SACK block
    /// goes first (RFC 2018 §4).
    last_ooo: Option<SubflowSeq>,
    /// What the peer has SACKed (RFC 6675 §3).
    scoreboard: Scoreboard,
    /// During SACK recovery: the retransmissions in flight (RFC 6675's
    /// HighRxt, per run, with lost retransmissions detected).
    rtx_log: RtxLog,
    /// This recovery is RFC 6675's (the scoreboard had SACK information
    /// when it began): the window is checked against `pipe`, not inflated.
    sack_recovery: bool,
    /// RFC 6675 NextSeg rule 4: the one rescue retransmission of this
    /// recovery was sent.
    rescued: bool,
}

/// What `transmit_data` sends next.
#[derive(Clone, Copy, Debug)]
enum NextSeg {
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
    fn new(
        config: TcpConfig,
        tuple: FourTuple,
        isn_key: IsnKey,
        now: Instant,
    ) -> Result<Self, Error> {
        config.validate()?;
        if tuple.local.is_ipv4() != tuple.remote.is_ipv4() {
            return Err(Error::AddressFamilyMismatch);
        }
        let iss = isn_key.isn(&tuple, now);
        let ts_offset = isn_key.ts_offset(&tuple);
        let rtt = RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto);
        let cwnd = u64::from(config.initial_window_segments) * u64::from(config.mss);
        Ok(Connection {
            send_buf: SendBuffer::new(config.send_buffer),
            recv_buf: RecvBuffer::new(config.recv_buffer, config.max_ooo_ranges),
            scratch: vec![0; usize::from(config.mss)].into_boxed_slice(),
            tuple,
            state: State::Closed,
            isn_key,
            iss,
            snd_una: iss,
            snd_nxt: iss + 1u32,
            snd_max: iss + 1u32,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SubflowSeq(0),
            snd_wl2: SubflowSeq(0),
            snd_shift: 0,
            rcv_shift: 0,
            peer_mss: default_peer_mss(&tuple),
            offered_mss: None,
            buf_seq: iss + 1u32,
            fin_queued: false,
            irs: SubflowSeq(0),
            rcv_nxt: SubflowSeq(0),
            rcv_adv: SubflowSeq(0),
            peer_fin: None,
            fin_received: false,
            ts_enabled: false,
            ts_offset,
            ts_recent: 0,
            ts_recent_at: now,
            last_ack_sent: SubflowSeq(0),
            sack_permitted: false,
            ws_offered: false,
            rtt,
            timed: None,
            last_sample: None,
            rtx_deadline: None,
            persist: false,
            delack_deadline: None,
            time_wait_deadline: None,
            keepalive_deadline: None,
            keepalive_sent: 0,
            keepalive_probe_pending: false,
            app_closed: false,
            fin_wait2_deadline: None,
            consecutive_rtos: 0,
            ctl_pending: false,
            ack_pending: false,
            unacked_full_segments: 0,
            fast_rtx_pending: false,
            force_one: false,
            rst_pending: None,
            challenge_window: now,
            challenge_count: 0,
            cwnd,
            dup_acks: 0,
            in_recovery: false,
            inflation: 0,
            recover: iss,
            events: VecDeque::with_capacity(8),
            cc_events: VecDeque::with_capacity(CC_EVENT_CAPACITY),
            write_blocked: false,
            retransmissions: 0,
            lost_retransmissions: 0,
            bytes_sent: 0,
            bytes_received: 0,
            tfo_client: None,
            tfo_received: None,
            tfo_issue: None,
            syn_data: 0,
            received: Received::default(),
            rto_ts: None,
            last_ooo: None,
            scoreboard: Scoreboard::new(),
            rtx_log: RtxLog::new(),
            sack_recovery: false,
            rescued: false,
            config,
        })
    }

    /// Open a connection actively: the next `poll_transmit` sends a SYN.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] or [`Error::AddressFamilyMismatch`].
    pub fn connect(
        config: TcpConfig,
        tuple: FourTuple,
        isn_key: IsnKey,
        now: Instant,
    ) -> Result<Self, Error> {
        let mut conn = Connection::new(config, tuple, isn_key, now)?;
        conn.state = State::SynSent;
        conn.ctl_pending = true;
        Ok(conn)
    }

    /// Open a connection with TCP Fast Open (RFC 7413). With a `cookie`
    /// (from an earlier connection's [`Connection::fast_open_cookie`]) the
    /// SYN carries it and up to one MSS of the data written before the first
    /// `poll_transmit`; the server may accept that data before the
    /// handshake completes. Without one, the SYN asks for a cookie. Data the
    /// server does not take with the SYN is sent again after the handshake.
    ///
    /// # Errors
    ///
    /// As [`Connection::connect`].
    pub fn connect_fast_open(
        config: TcpConfig,
        tuple: FourTuple,
        isn_key: IsnKey,
        now: Instant,
        cookie: Option<FastOpenCookie>,
    ) -> Result<Self, Error> {
        let mut conn = Connection::connect(config, tuple, isn_key, now)?;
        conn.tfo_client = Some(cookie);
        Ok(conn)
    }

    /// Wait passively for a SYN to `local` from anyone (the LISTEN state).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`].
    pub fn listen(
        config: TcpConfig,
        local: SocketAddr,
        isn_key: IsnKey,
        now: Instant,
    ) -> Result<Self, Error> {
        let unspecified = match local {
            SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
            SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
        };
        let tuple = FourTuple {
            local,
            remote: unspecified,
        };
        let mut conn = Connection::new(config, tuple, isn_key, now)?;
        conn.state = State::Listen;
        Ok(conn)
    }

    /// Answer the initial SYN `syn`: the connection starts in SYN-RECEIVED
    /// and the next `poll_transmit` sends the SYN-ACK.
    ///
    /// # Errors
    ///
    /// [`Error::NotSyn`] if `syn` is not an initial SYN, or a config error.
    pub fn accept(
        config: TcpConfig,
        syn: &Segment<'_>,
        isn_key: IsnKey,
        now: Instant,
    ) -> Result<Self, Error> {
        let flags = syn.flags();
        if !flags.contains(TcpFlags::SYN) || flags.intersects(TcpFlags::ACK | TcpFlags::RST) {
            return Err(Error::NotSyn);
        }
        let local = SocketAddr::new(syn.dst(), syn.dst_port());
        let mut conn = Connection::listen(config, local, isn_key, now)?;
        conn.handle_segment(now, syn);
        if conn.state != State::SynReceived {
            return Err(Error::NotSyn);
        }
        Ok(conn)
    }

    // ---------------------------------------------------------------- getters

    /// Return the current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Return the local and remote endpoints (the remote is unspecified in
    /// LISTEN).
    pub fn four_tuple(&self) -> FourTuple {
        self.tuple
    }

    /// Return the smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// Return the RTT variation.
    pub fn rttvar(&self) -> Duration {
        self.rtt.rttvar()
    }

    /// Return the current retransmission timeout, backoff included.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// Return the RTT estimator (latest and minimum RTT too).
    pub fn rtt_estimator(&self) -> &RttEstimator {
        &self.rtt
    }

    /// Return the congestion window in force, in bytes.
    pub fn cwnd(&self) -> u64 {
        self.cwnd
    }

    /// Return the bytes of sequence space sent and not yet acknowledged.
    pub fn bytes_in_flight(&self) -> u64 {
        u64::from(self.snd_max.distance_from(self.snd_una))
    }

    /// The Fast Open cookie the server gave in its SYN-ACK, to keep for the
    /// next connection to it (RFC 7413 §4.1.3).
    pub fn fast_open_cookie(&self) -> Option<FastOpenCookie> {
        self.tfo_received
    }

    /// SND.UNA: the first subflow sequence number not yet acknowledged.
    pub fn snd_una(&self) -> SubflowSeq {
        self.snd_una
    }

    /// The peer's initial sequence number (IRS), once known.
    pub fn irs(&self) -> SubflowSeq {
        self.irs
    }

    /// The subflow sequence number of the next byte [`Connection::read`]
    /// returns.
    pub fn read_seq(&self) -> SubflowSeq {
        let unread = self.recv_buf.readable() as u32;
        // The FIN takes a sequence number but is not data.
        self.rcv_nxt - (unread + u32::from(self.fin_received))
    }

    /// The subflow sequence number the next byte passed to
    /// [`Connection::write`] will have (where a DSS mapping of it starts).
    pub fn write_seq(&self) -> SubflowSeq {
        self.buf_seq + self.send_buf.len()
    }

    /// Return the number of segments sent again (RTO or fast retransmit).
    pub fn retransmissions(&self) -> u64 {
        self.retransmissions
    }

    /// Return how many retransmissions SACK recovery found lost (and sent
    /// again without waiting for the RTO).
    pub fn lost_retransmissions(&self) -> u64 {
        self.lost_retransmissions
    }

    /// Return the payload bytes sent, retransmissions included.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// Return the in-order payload bytes received.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Return the effective MSS: the most payload one segment carries.
    pub fn mss(&self) -> usize {
        let mss = self.peer_mss.min(self.config.mss);
        let options = if self.ts_enabled { 12 } else { 0 };
        usize::from(mss).saturating_sub(options).max(1)
    }

    /// Describe this subflow to a congestion controller as path `id`.
    pub fn path_info(&self, id: PathId) -> PathInfo {
        let mut info = PathInfo::new(id, self.mss() as u32);
        info.smoothed_rtt = self.rtt.srtt();
        info.min_rtt = self.rtt.min_rtt();
        info.latest_rtt = self.rtt.latest();
        info.bytes_in_flight = self.bytes_in_flight();
        info
    }

    /// Return the peer's window in bytes (scaled).
    pub fn send_window(&self) -> u32 {
        self.snd_wnd
    }

    /// Return whether timestamps were negotiated.
    pub fn timestamps_enabled(&self) -> bool {
        self.ts_enabled
    }

    /// Return whether the peer allowed SACK (negotiation only, for now).
    pub fn sack_permitted(&self) -> bool {
        self.sack_permitted
    }

    /// Return the (send, receive) window-scale shifts in use.
    pub fn window_shifts(&self) -> (u8, u8) {
        (self.snd_shift, self.rcv_shift)
    }

    /// Return bytes ready to `read`.
    pub fn readable(&self) -> usize {
        self.recv_buf.readable()
    }

    /// Return room in the send buffer.
    pub fn writable(&self) -> usize {
        if self.state.can_send() && !self.fin_queued {
            self.send_buf.free()
        } else {
            0
        }
    }

    /// Return the initial send sequence number.
    pub fn iss(&self) -> SubflowSeq {
        self.iss
    }

    // ------------------------------------------------------- app commands

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
        let n = self.recv_buf.read(buf);
        self.after_read(n);
        n
    }

    /// Hand the received in-order data to `f` without copying it, as the
    /// two slices of the receive ring it occupies (the second empty unless
    /// the data wraps); `f` returns how many bytes it took from the front,
    /// and so does this. Like smoltcp's `recv` closure.
    pub fn read_with(&mut self, f: impl FnOnce(&[u8], &[u8]) -> usize) -> usize {
        let (head, tail) = self.recv_buf.readable_slices();
        let n = f(head, tail).min(head.len() + tail.len());
        self.recv_buf.advance(n);
        self.after_read(n);
        n
    }

    /// A read of `n` bytes opened the window: maybe announce it.
    fn after_read(&mut self, n: usize) {
        if n > 0 && self.state.is_synchronized() {
            // RFC 9293 §3.8.6.2.2: announce a window update once the right
            // edge can move by min(buffer/2, MSS).
            let right = self.rcv_nxt + self.advertisable_window();
            let threshold = (self.recv_buf.capacity() / 2).min(usize::from(self.config.mss));
            if right.distance_from(self.rcv_adv) as usize >= threshold {
                self.ack_pending = true;
            }
        }
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
        if self.recv_buf.readable() > 0 {
            self.abort();
            return;
        }
        self.app_closed = true;
        self.shutdown();
        self.arm_fin_wait2(now);
    }

    fn arm_fin_wait2(&mut self, now: Instant) {
        if self.app_closed && self.state == State::FinWait2 && self.fin_wait2_deadline.is_none() {
            self.fin_wait2_deadline = Some(now + self.config.fin_wait2_timeout);
        }
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

    // ------------------------------------------------------------- outputs

    /// Return the next application event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Return the next congestion event, for the controller.
    #[must_use]
    pub fn poll_congestion_event(&mut self) -> Option<CongestionEvent> {
        self.cc_events.pop_front()
    }

    /// Return when `handle_timeout` must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.rtx_deadline,
            self.delack_deadline,
            self.time_wait_deadline,
            self.keepalive_deadline,
            self.fin_wait2_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ------------------------------------------------------------- helpers

    fn push_event(&mut self, event: Event) {
        // Each kind is queued at most once, so the queue is bounded.
        if !self.events.contains(&event) {
            self.events.push_back(event);
        }
    }

    fn push_cc(&mut self, event: CongestionEvent) {
        let crowded = self.cc_events.len() >= CC_EVENT_CAPACITY / 2;
        if let (
            Some(CongestionEvent::Ack {
                bytes_acked: prev_bytes,
                rtt: prev_rtt,
                app_limited: prev_limited,
                in_recovery: prev_recovery,
                now: prev_now,
            }),
            CongestionEvent::Ack {
                now,
                bytes_acked,
                rtt,
                app_limited,
                in_recovery,
            },
        ) = (self.cc_events.back_mut(), &event)
        {
            if *prev_recovery == *in_recovery && crowded {
                *prev_bytes += bytes_acked;
                *prev_rtt = rtt.or(*prev_rtt);
                *prev_limited &= app_limited;
                *prev_now = *now;
                return;
            }
        }
        if self.cc_events.len() >= CC_EVENT_CAPACITY {
            self.cc_events.pop_front();
        }
        self.cc_events.push_back(event);
    }

    fn terminate(&mut self, event: Event) {
        self.state = State::Closed;
        self.rtx_deadline = None;
        self.delack_deadline = None;
        self.time_wait_deadline = None;
        self.keepalive_deadline = None;
        self.keepalive_probe_pending = false;
        self.fin_wait2_deadline = None;
        self.ctl_pending = false;
        self.ack_pending = false;
        self.fast_rtx_pending = false;
        self.push_event(event);
    }

    fn ts_now(&self, now: Instant) -> u32 {
        ((now.as_nanos() / 1_000_000) as u32).wrapping_add(self.ts_offset)
    }

    /// The window we can advertise now, capped to what the field can carry.
    fn advertisable_window(&self) -> u32 {
        let max = u32::from(u16::MAX) << self.rcv_shift;
        (self.recv_buf.window() as u32).min(max)
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

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.rtx_deadline = None;
        self.fin_wait2_deadline = None;
        self.persist = false;
        self.time_wait_deadline = Some(now + self.config.time_wait);
    }

    /// Take the peer's SYN: its sequence number and options. Shared by the
    /// passive (LISTEN) and active (SYN-SENT) opens, RFC 9293 §3.10.7.2-3.
    fn record_peer_syn(&mut self, now: Instant, seg: &Segment<'_>, opts: &SegOptions) {
        self.irs = SubflowSeq(seg.seq());
        self.rcv_nxt = self.irs + 1u32;
        self.rcv_adv = self.rcv_nxt;
        self.last_ack_sent = self.rcv_nxt;
        self.apply_syn_options(opts, seg.window());
        self.record_ts(opts, now);
        self.snd_wl1 = self.irs;
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

    // -------------------------------------------------------------- inputs

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
            self.keepalive_sent = 0;
            self.keepalive_probe_pending = false;
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
        self.recover = self.iss;
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
        match opts.fast_open {
            None => {}
            Some(None) => self.tfo_issue = Some(expected()),
            Some(Some(cookie)) if cookie.is_valid_for(&self.isn_key, remote.ip()) => {
                let payload = seg.payload();
                if !payload.is_empty() {
                    self.received.payload = Some((self.rcv_nxt, payload.len()));
                    self.on_payload(now, self.rcv_nxt, payload);
                }
            }
            Some(Some(_)) => self.tfo_issue = Some(expected()),
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
        self.rtx_deadline = None;
        self.consecutive_rtos = 0;
    }

    fn take_rtt_sample(&mut self, now: Instant, ack: SubflowSeq, opts: &SegOptions) {
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

    /// RFC 9293 §3.10.7.4, for SYN-RECEIVED and every synchronized state.
    fn on_synchronized(&mut self, now: Instant, seg: &Segment<'_>, opts: &SegOptions) {
        let flags = seg.flags();
        let mut seq = SubflowSeq(seg.seq());
        let ack = SubflowSeq(seg.ack());
        let mut syn = flags.contains(TcpFlags::SYN);
        let rst = flags.contains(TcpFlags::RST);
        let has_ack = flags.contains(TcpFlags::ACK);
        let payload = seg.payload();
        let fin = flags.contains(TcpFlags::FIN);

        // RFC 7323 §3.2: once negotiated, a non-RST segment without
        // timestamps "SHOULD be silently dropped".
        if self.ts_enabled && !rst && opts.timestamps.is_none() {
            return;
        }
        // Simultaneous open: the peer's SYN-ACK arrives in SYN-RECEIVED.
        // Its SYN is the one we already have; keep the ACK.
        if self.state == State::SynReceived
            && syn
            && has_ack
            && !rst
            && seq == self.irs
            && ack == self.snd_nxt
        {
            seq = seq + 1u32;
            syn = false;
        }
        if syn && !rst {
            if self.state == State::SynReceived && !has_ack && seq == self.irs {
                // A retransmitted SYN: our SYN-ACK was lost.
                self.ctl_pending = true;
                return;
            }
            // RFC 5961 §4.2: "If the SYN bit is set, irrespective of the
            // sequence number, TCP MUST send an ACK (also referred to as
            // challenge ACK) to the remote peer".
            self.challenge_ack(now);
            return;
        }
        // RFC 7323 §5.3 R1 (PAWS): a segment whose TSval is older than
        // TS.Recent is a duplicate; answer with an ACK and drop it.
        if let (true, Some((tsval, _))) = (self.ts_enabled, opts.timestamps) {
            let stale = (tsval.wrapping_sub(self.ts_recent) as i32) < 0;
            if stale && !rst {
                if now - self.ts_recent_at > PAWS_IDLE {
                    // RFC 7323 §5.5: TS.Recent is too old to judge by.
                    self.ts_recent = tsval;
                    self.ts_recent_at = now;
                } else {
                    self.ack_pending = true;
                    return;
                }
            }
        }

        let seg_len = payload.len() as u32 + u32::from(fin) + u32::from(syn);
        let wnd = self.recv_buf.window() as u32;
        let in_window = |s: SubflowSeq| self.rcv_nxt <= s && s < self.rcv_nxt + wnd;
        let acceptable = match (seg_len == 0, wnd == 0) {
            (true, true) => seq == self.rcv_nxt,
            (true, false) => in_window(seq),
            (false, true) => false,
            (false, false) => in_window(seq) || in_window(seq + (seg_len - 1)),
        };

        if rst {
            // RFC 5961 §3.2: reset only on an exact match of RCV.NXT; an
            // in-window RST gets a challenge ACK; anything else is dropped.
            if seq == self.rcv_nxt {
                self.terminate(Event::Reset);
            } else if in_window(seq) || (wnd == 0 && seq == self.rcv_nxt) {
                self.challenge_ack(now);
            }
            return;
        }
        if !acceptable {
            // RFC 9293: "If an incoming segment is not acceptable, an
            // acknowledgment should be sent in reply".
            self.ack_pending = true;
            // RFC 9293 §3.10.7.4, TIME-WAIT: "The only thing that can arrive
            // in this state is a retransmission of the remote FIN.
            // Acknowledge it, and restart the 2 MSL timeout."
            if self.state == State::TimeWait && fin && seq + payload.len() + 1u32 == self.rcv_nxt {
                self.time_wait_deadline = Some(now + self.config.time_wait);
            }
            return;
        }
        if !has_ack {
            return;
        }

        // RFC 7323 §4.3: remember TSval of the segment that covers the
        // ACK we last sent.
        if let Some((tsval, _)) = opts.timestamps {
            if seq <= self.last_ack_sent && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                self.ts_recent = tsval;
                self.ts_recent_at = now;
            }
        }

        if self.state == State::SynReceived {
            if self.snd_una < ack && ack <= self.snd_max {
                self.on_syn_acked(now, ack, opts);
                self.snd_wnd = u32::from(seg.window()) << self.snd_shift;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seq;
                self.snd_wl2 = ack;
                self.establish();
            } else {
                // "If the segment acknowledgment is not acceptable, form a
                // reset segment <SEQ=SEG.ACK><CTL=RST> and send it."
                self.rst_pending = Some((ack, None));
                return;
            }
        }

        // RFC 5961 §5.2: the ACK is acceptable only within
        // [SND.UNA - MAX.SND.WND, SND.NXT]; otherwise ACK and drop.
        if ack > self.snd_max || ack < self.snd_una - self.max_snd_wnd {
            self.ack_pending = true;
            return;
        }
        self.received.accepted = true;
        if self.snd_wnd == 0 {
            // The peer is alive and answering our zero-window probes.
            self.consecutive_rtos = 0;
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
                self.scoreboard
                    .add(SubflowSeq(left), SubflowSeq(right), una, self.snd_max);
            }
        }
        if ack > self.snd_una {
            self.on_new_ack(now, ack, opts);
        } else if is_dup {
            self.on_dup_ack(now);
        }
        if self.in_recovery
            && self.sack_recovery
            && self.rtx_log.update(self.snd_una, &self.scoreboard)
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
            if opened && self.persist {
                self.persist = false;
                self.rtx_deadline = None;
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
            && self.state.can_receive()
            && seq + payload.len() > self.rcv_nxt
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
        }
        // FIN.
        if fin {
            let fin_seq = seq + payload.len();
            if self.state.can_receive() {
                if fin_seq == self.rcv_nxt {
                    self.on_fin(now);
                } else if fin_seq > self.rcv_nxt {
                    self.peer_fin = Some(fin_seq);
                }
            } else if self.fin_received && fin_seq + 1u32 == self.rcv_nxt {
                // A retransmitted FIN: ACK it again; in TIME-WAIT restart
                // the 2 MSL timeout (RFC 9293 §3.10.7.4).
                self.ack_pending = true;
                if self.state == State::TimeWait {
                    self.time_wait_deadline = Some(now + self.config.time_wait);
                }
            }
        }
        self.arm_persist(now);
    }

    fn fin_seq(&self) -> SubflowSeq {
        self.buf_seq + self.send_buf.len()
    }

    /// Seam: `data_acked` bytes starting at the old `buf_seq` are what the
    /// MPTCP layer needs to learn which subflow bytes this ACK covered.
    fn on_new_ack(&mut self, now: Instant, ack: SubflowSeq, opts: &SegOptions) {
        let flight_before = u64::from(self.snd_max.distance_from(self.snd_una));
        let data_acked = ack
            .distance_from(self.buf_seq)
            .min(self.send_buf.len() as u32);
        self.send_buf.consume(data_acked as usize);
        self.buf_seq = self.buf_seq + data_acked;
        self.received.acked = Some((self.snd_una, ack));
        self.snd_una = ack;
        self.scoreboard.trim(ack);
        if self.snd_nxt < ack {
            self.snd_nxt = ack;
        }
        self.take_rtt_sample(now, ack, opts);
        // RFC 6298 §5.3 and §5.2: restart the timer while data is
        // outstanding, stop it when everything is acknowledged.
        self.rtt.reset_backoff();
        self.consecutive_rtos = 0;
        self.persist = false;
        self.rtx_deadline = if self.snd_max > self.snd_una {
            Some(now + self.rtt.rto())
        } else {
            None
        };
        let in_recovery = self.in_recovery;
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
        if self.in_recovery {
            if ack >= self.recover {
                // RFC 6582 §3.2 step 3, full acknowledgment: recovery ends
                // (RFC 6675 §5: "the cumulative ACK ... covers RecoveryPoint").
                self.in_recovery = false;
                self.sack_recovery = false;
                self.inflation = 0;
                self.push_cc(CongestionEvent::RecoveryExit { now });
            } else if !self.sack_recovery {
                // Partial acknowledgment (RFC 6582 §3.2 step 5): retransmit
                // the first unacknowledged segment, "deflate the congestion
                // window by the amount of new data acknowledged ..., then
                // add back one SMSS".
                self.fast_rtx_pending = true;
                self.inflation =
                    self.inflation.saturating_sub(u64::from(data_acked)) + self.mss() as u64;
            }
            // With SACK a partial ACK needs nothing here: the next
            // `poll_transmit` recomputes the pipe and picks NextSeg.
        }
        self.dup_acks = 0;
        if self.write_blocked && self.send_buf.free() > 0 && !self.fin_queued {
            self.write_blocked = false;
            self.push_event(Event::Writable);
        }
    }

    fn on_dup_ack(&mut self, now: Instant) {
        self.dup_acks = self.dup_acks.saturating_add(1);
        // RFC 6582 §3.2 step 2: a new recovery starts on the third duplicate
        // only if the ACK covers more than `recover` (no false fast
        // retransmits after an RTO).
        // RFC 6675 §5: with SACK, loss is also declared once more than
        // (DupThresh - 1) * SMSS bytes above SND.UNA are SACKed, however few
        // duplicate ACKs said so (a receiver behind GRO ACKs whole bursts).
        let sack_loss = self.scoreboard.sacked_above(self.snd_una) > 2 * self.mss() as u64;
        if self.in_recovery {
            if !self.sack_recovery {
                // RFC 6582 §3.2 step 4: each further duplicate inflates the
                // window by one SMSS (a segment has left the network).
                self.inflation = self.inflation.saturating_add(self.mss() as u64);
            }
            // With SACK the departed segment shows in the pipe instead.
        } else if (self.dup_acks == 3 || sack_loss) && self.snd_una >= self.recover {
            self.rtx_log.clear();
            self.in_recovery = true;
            // RFC 6675 §5 needs SACK information to measure the pipe;
            // without it (or with a peer that SACKs nothing) this is
            // RFC 6582 recovery: the controller sets cwnd = ssthresh and the
            // three duplicates' SMSS are added here (step 3).
            self.sack_recovery = !self.scoreboard.is_empty();
            self.rescued = false;
            self.inflation = if self.sack_recovery {
                0
            } else {
                3 * self.mss() as u64
            };
            self.recover = self.snd_max;
            self.fast_rtx_pending = true;
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
            let (start, end) = self.scoreboard.next_hole(from)?;
            let mut seq = start;
            while seq < end {
                match self.rtx_log.covering(seq) {
                    Some(run_end) => seq = run_end,
                    None => break,
                }
            }
            if seq < end {
                let stop = self
                    .rtx_log
                    .next_start_after(seq)
                    .map_or(end, |next| next.min_seq(end));
                return Some((seq, stop));
            }
            from = end;
        }
    }

    /// RFC 6675 §5 with §4's NextSeg: what SACK recovery sends next.
    fn next_seg_sack(&self, mss: usize) -> NextSeg {
        let mss64 = mss as u64;
        let hole = self.next_hole();
        let retransmit = |(seq, end): (SubflowSeq, SubflowSeq)| NextSeg::Retransmit {
            seq,
            end: Some(end),
            rescue: false,
        };
        if self.fast_rtx_pending {
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
        let pipe = self.scoreboard.pipe(self.snd_una, self.snd_max, mss64)
            + self.rtx_log.in_flight(&self.scoreboard);
        let room = self.cwnd.max(mss64).saturating_sub(pipe);
        if room < mss64 {
            return NextSeg::Nothing;
        }
        // A full log cannot track another retransmission: new data only.
        let hole = hole.filter(|_| !self.rtx_log.is_full());
        // Rule 1: a hole not being retransmitted that IsLost.
        if let Some(h) = hole.filter(|&(start, _)| self.scoreboard.is_lost(start, mss64)) {
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
        let top = self.scoreboard.highest_sacked().unwrap_or(self.snd_una);
        let end = self.snd_max.min_seq(fin);
        if !self.rescued
            && !self.rtx_log.is_full()
            && top < end
            && self.rtx_log.covering(end - 1u32).is_none()
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

    fn on_payload(&mut self, now: Instant, seq: SubflowSeq, payload: &[u8]) {
        // Trim what we already have.
        let skip = self.rcv_nxt.distance_from(seq) as usize;
        if skip >= payload.len() {
            // A pure duplicate: ACK at once (RFC 5681 §4.2).
            self.ack_pending = true;
            return;
        }
        let data = &payload[skip..];
        let offset = (seq + skip).distance_from(self.rcv_nxt) as usize;
        let had_ooo = self.recv_buf.has_out_of_order();
        match self.recv_buf.insert(offset, data) {
            Inserted::InOrder(n) => {
                self.rcv_nxt = self.rcv_nxt + n;
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
                    if data.len() >= self.mss() {
                        self.unacked_full_segments += 1;
                    }
                    if self.unacked_full_segments >= 2 {
                        self.ack_pending = true;
                    } else if self.delack_deadline.is_none() {
                        self.delack_deadline = Some(now + self.config.delayed_ack);
                    }
                }
                if self.peer_fin == Some(self.rcv_nxt) {
                    self.on_fin(now);
                }
            }
            // Out of order or dropped: a duplicate ACK tells the sender.
            Inserted::OutOfOrder => {
                self.last_ooo = Some(seq + skip);
                self.ack_pending = true;
            }
            Inserted::Dropped => self.ack_pending = true,
        }
    }

    fn on_fin(&mut self, now: Instant) {
        self.peer_fin = None;
        self.fin_received = true;
        self.rcv_nxt = self.rcv_nxt + 1u32;
        self.ack_pending = true;
        self.push_event(Event::PeerClosed);
        match self.state {
            State::Established => self.state = State::CloseWait,
            State::FinWait1 => self.state = State::Closing,
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    /// RFC 9293 §3.8.6.1: probe a zero window, on the retransmission timer.
    fn arm_persist(&mut self, now: Instant) {
        if self.state.is_synchronized()
            && self.rtx_deadline.is_none()
            && self.snd_wnd == 0
            && self.snd_max == self.snd_una
            && self.fin_seq().distance_from(self.snd_nxt) > 0
        {
            self.persist = true;
            self.rtx_deadline = Some(now + self.rtt.rto());
        }
    }

    /// Act on every timer that expired at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.time_wait_deadline.is_some_and(|t| t <= now) {
            self.time_wait_deadline = None;
            self.terminate(Event::Closed);
            return;
        }
        if self.delack_deadline.is_some_and(|t| t <= now) {
            self.delack_deadline = None;
            self.ack_pending = true;
        }
        if self.rtx_deadline.is_some_and(|t| t <= now) {
            self.on_rtx_timeout(now);
        }
        if self.keepalive_deadline.is_some_and(|t| t <= now) {
            self.on_keepalive_timeout(now);
        }
        if self.fin_wait2_deadline.is_some_and(|t| t <= now) {
            // Linux's tcp_fin_timeout for an orphan: give up with a RST.
            self.rst_pending = Some((self.snd_max, None));
            self.terminate(Event::TimedOut);
        }
    }

    /// Start (or restart) the idle period before the first keepalive probe.
    fn arm_keepalive(&mut self, now: Instant) {
        self.keepalive_deadline = match self.config.keepalive {
            Some(k) if self.state.is_synchronized() => Some(now + k.idle),
            _ => None,
        };
    }

    /// RFC 9293 §3.8.4; counts and times as Linux's `tcp_keepalive_timer`.
    fn on_keepalive_timeout(&mut self, now: Instant) {
        self.keepalive_deadline = None;
        let Some(k) = self.config.keepalive else {
            return;
        };
        if !matches!(self.state, State::Established | State::CloseWait) {
            return;
        }
        // Data in flight or waiting: the retransmission timer watches the
        // peer, not keepalive (Linux does the same).
        if self.snd_max != self.snd_una || !self.send_buf.is_empty() {
            self.keepalive_deadline = Some(now + k.idle);
            return;
        }
        if self.keepalive_sent >= k.probes {
            self.terminate(Event::TimedOut);
            return;
        }
        self.keepalive_sent += 1;
        self.keepalive_probe_pending = true;
        self.keepalive_deadline = Some(now + k.interval);
    }

    fn on_rtx_timeout(&mut self, now: Instant) {
        self.rtx_deadline = None;
        if self.persist {
            // Zero-window probe: one byte past the window.
            self.persist = false;
            self.force_one = true;
            self.rtt.on_timeout();
            return;
        }
        self.consecutive_rtos += 1;
        let limit = if matches!(self.state, State::SynSent | State::SynReceived) {
            self.config.syn_retries
        } else {
            self.config.max_retransmissions
        };
        if self.consecutive_rtos > limit {
            // RFC 9293 §3.8.3: past R2, give up.
            self.terminate(Event::TimedOut);
            return;
        }
        // RFC 6298 §5.5, §5.6: back off and restart the timer.
        self.rtt.on_timeout();
        // RFC 6675 §5.1: after a timeout the SACK information is not
        // trusted (the peer may renege); go back to SND.UNA.
        self.scoreboard.clear();
        self.rto_ts = Some(self.ts_now(now));
        self.timed = None;
        self.rtx_deadline = Some(now + self.rtt.rto());
        match self.state {
            State::SynSent | State::SynReceived => self.ctl_pending = true,
            _ => {
                let flight = self.bytes_in_flight();
                // Go back N: everything outstanding is sent again.
                self.snd_nxt = self.snd_una;
                self.force_one = true;
                self.fast_rtx_pending = false;
                // RFC 6582 §3.2 step 4: after an RTO, recover = highest sent.
                self.in_recovery = false;
                self.sack_recovery = false;
                self.inflation = 0;
                self.recover = self.snd_max;
                self.dup_acks = 0;
                self.push_cc(CongestionEvent::RetransmissionTimeout {
                    now,
                    bytes_in_flight: flight,
                });
            }
        }
    }

    // ------------------------------------------------------------ transmit

    /// Seam: the MPTCP layer's options for outgoing segments (DSS,
    /// ADD_ADDR, ...) and SACK blocks are to be added to this builder.
    fn base_builder<'a>(&self, now: Instant) -> SegmentBuilder<'a> {
        let mut b = SegmentBuilder::new(self.tuple.local, self.tuple.remote);
        b.ack = self.rcv_nxt.get();
        b.flags = TcpFlags::ACK;
        b.window = (self.advertisable_window() >> self.rcv_shift).min(u32::from(u16::MAX)) as u16;
        if self.ts_enabled {
            b.timestamps = Some((self.ts_now(now), self.ts_recent));
        }
        b
    }

    /// The SACK blocks of our next ACK (RFC 2018 §4), into `out`; returns
    /// how many. "The first SACK block ... MUST specify the contiguous block
    /// of data containing the segment which triggered this ACK"; the other
    /// blocks follow in sequence order (RFC 2018 asks for the most recently
    /// reported first; with at most 16 ranges held, sequence order repeats
    /// each of them often enough). The segment builder sends as many as fit.
    fn sack_blocks(&self, out: &mut [(u32, u32); 4]) -> usize {
        if !self.sack_permitted || !self.recv_buf.has_out_of_order() {
            return 0;
        }
        let block = |(start, end): (usize, usize)| {
            ((self.rcv_nxt + start).get(), (self.rcv_nxt + end).get())
        };
        let recent = self
            .last_ooo
            .map(|seq| seq.distance_from(self.rcv_nxt) as usize);
        let mut n = 0;
        let first = self
            .recv_buf
            .out_of_order_ranges()
            .find(|&(start, end)| recent.is_some_and(|r| start <= r && r < end));
        if let Some(range) = first {
            out[0] = block(range);
            n = 1;
        }
        for range in self.recv_buf.out_of_order_ranges() {
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

    /// Bookkeeping shared by every segment that carries our ACK.
    fn sent_ack(&mut self, window_field: u16) {
        self.ack_pending = false;
        self.delack_deadline = None;
        self.unacked_full_segments = 0;
        self.last_ack_sent = self.rcv_nxt;
        let right = self.rcv_nxt + (u32::from(window_field) << self.rcv_shift);
        self.rcv_adv = self.rcv_adv.max_seq(right);
    }

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
            _ if self.keepalive_probe_pending => self.transmit_keepalive(now, buf, source),
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
        b.window = self.recv_buf.window().min(usize::from(u16::MAX)) as u16;
        if syn_ack {
            b.flags = TcpFlags::SYN | TcpFlags::ACK;
            b.ack = self.rcv_nxt.get();
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
            if cookie.is_some() && self.consecutive_rtos == 0 {
                // The peer's MSS is not known yet: stay within the default
                // one, less the SYN's options.
                let room = usize::from(self.peer_mss).saturating_sub(40);
                syn_data = self.send_buf.len().min(room).min(self.scratch.len());
                let n = self.send_buf.peek(0, &mut self.scratch[..syn_data]);
                debug_assert_eq!(n, syn_data);
                b.payload = &self.scratch[..syn_data];
            }
        }
        let syn_window = b.window;
        let info = OutgoingSegment {
            flags: b.flags,
            seq: self.iss,
            payload_len: syn_data,
            retransmission: self.consecutive_rtos > 0,
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
            self.rcv_adv = self.rcv_nxt + u32::from(syn_window);
        }
        if self.rtx_deadline.is_none() {
            self.rtx_deadline = Some(now + self.rtt.rto());
        }
        if self.consecutive_rtos == 0 && self.timed.is_none() {
            self.timed = Some((self.iss, now));
        } else if self.consecutive_rtos > 0 {
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
            self.fast_rtx_pending = false;
        }
        // Room the layer above keeps for its options comes off the payload.
        let mss = self.mss().saturating_sub(source.reserve()).max(1);
        let next = if self.in_recovery && self.sack_recovery {
            self.next_seg_sack(mss)
        } else if self.fast_rtx_pending {
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
                    let cwnd = if self.in_recovery {
                        cwnd.saturating_add(self.inflation)
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
        if fast && self.in_recovery && self.sack_recovery {
            // Room was checked by `next_seg_sack`.
            let logged = self.rtx_log.record(seq, seq + len, self.snd_max);
            debug_assert!(logged);
        }
        if rescue {
            self.rescued = true;
        } else if fast {
            self.fast_rtx_pending = false;
        } else {
            self.snd_nxt = end;
            self.snd_max = self.snd_max.max_seq(end);
        }
        self.force_one = false;
        if self.rtx_deadline.is_none() || self.persist {
            self.persist = false;
            self.rtx_deadline = Some(now + self.rtt.rto());
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
        self.keepalive_probe_pending = false;
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

    /// The sequence number of a segment without data: SND.NXT, unless a
    /// zero-window probe carried it past the peer's window. A segment
    /// beyond RCV.NXT + RCV.WND is unacceptable (RFC 9293 §3.10.7.4),
    /// and the peer would drop our ACK with it: while its window stays
    /// shut it would never learn what we received (Linux sends its ACKs
    /// at the window's edge for the same reason, `tcp_acceptable_seq`).
    fn acceptable_seq(&self) -> SubflowSeq {
        let right = self.snd_una + self.snd_wnd;
        if self.state.is_synchronized() && right < self.snd_nxt {
            right
        } else {
            self.snd_nxt
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

/// RFC 9293 §3.7.1: without an MSS option, assume 536 (IPv4) or 1220 (IPv6).
fn default_peer_mss(tuple: &FourTuple) -> u16 {
    if tuple.remote.is_ipv4() { 536 } else { 1220 }
}
