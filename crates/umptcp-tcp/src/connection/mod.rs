//! One TCP connection: the RFC 9293 state machine with RFC 6298
//! retransmission, RFC 7323 window scaling, timestamps and PAWS, RFC 5961
//! blind-attack mitigations, and fast recovery: RFC 6675 (SACK, `pipe`)
//! or RFC 6582 NewReno without SACK information.

// `Connection` is defined here with its constructors and getters; its
// methods are split by concern, one `impl Connection` block per file.
mod ack; // a new cumulative ACK, RTT samples
mod app; // write, read, shutdown, close, abort
mod input; // handle_segment: the state machine
mod output; // poll_transmit: building segments
mod receive; // receive buffer, delayed ACK, window, SACK blocks
mod recovery; // fast retransmit, SACK and NewReno recovery
mod timers; // poll_timeout, handle_timeout: RTO, persist, keepalive, ...

use core::time::Duration;
use std::collections::VecDeque;
use std::net::SocketAddr;

use umptcp_cc::{CongestionEvent, PathId, PathInfo};
use umptcp_time::Instant;
use umptcp_wire::Segment;
use umptcp_wire::segment::TcpFlags;

use crate::fast_open::FastOpenCookie;
use crate::hooks::Received;
use crate::recv_buffer::RecvBuffer;
use crate::send_buffer::SendBuffer;
use crate::{Error, FourTuple, IsnKey, RttEstimator, State, SubflowSeq, TcpConfig};

use self::receive::RecvState;
use self::recovery::Recovery;
use self::timers::Timers;

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

    /// The receive sequence space and what the receive side holds.
    rcv: RecvState,

    // Timestamps (RFC 7323).
    ts_enabled: bool,
    ts_offset: u32,
    ts_recent: u32,
    ts_recent_at: Instant,
    last_ack_sent: SubflowSeq,
    sack_permitted: bool,
    /// The peer's SYN carried a window-scale option.
    ws_offered: bool,

    // RTT measurement and timers.
    rtt: RttEstimator,
    timed: Option<(SubflowSeq, Instant)>,
    /// The RTT sample the segment being processed gave, if any.
    last_sample: Option<Duration>,
    /// Timer deadlines, keepalive and retransmission-timeout counts.
    timers: Timers,
    /// `close()` was called: the application reads no more.
    app_closed: bool,
    /// `close_discarding()` was called: new data is acknowledged and
    /// thrown away rather than answered with a RST.
    discard_input: bool,

    // What to send next.
    ctl_pending: bool,
    ack_pending: bool,
    force_one: bool,
    rst_pending: Option<(SubflowSeq, Option<SubflowSeq>)>,
    challenge_window: Instant,
    challenge_count: u32,
    /// When an ACK last answered an unacceptable segment.
    last_invalid_ack: Option<Instant>,

    // Congestion.
    cwnd: u64,
    /// Fast retransmit and recovery (RFC 6675 with SACK, RFC 6582 without).
    recovery: Recovery,

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
    /// Client: the SYN carries data without any Fast Open option.
    tfo_data_without_cookie: bool,
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
            rcv: RecvState::new(RecvBuffer::new(config.recv_buffer, config.max_ooo_ranges)),
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
            timers: Timers::default(),
            app_closed: false,
            discard_input: false,
            ctl_pending: false,
            ack_pending: false,
            force_one: false,
            rst_pending: None,
            challenge_window: now,
            challenge_count: 0,
            last_invalid_ack: None,
            cwnd,
            recovery: Recovery::new(iss),
            events: VecDeque::with_capacity(8),
            cc_events: VecDeque::with_capacity(CC_EVENT_CAPACITY),
            write_blocked: false,
            retransmissions: 0,
            lost_retransmissions: 0,
            bytes_sent: 0,
            bytes_received: 0,
            tfo_client: None,
            tfo_data_without_cookie: false,
            tfo_received: None,
            tfo_issue: None,
            syn_data: 0,
            received: Received::default(),
            rto_ts: None,
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

    /// Open a connection whose SYN carries up to one MSS of the data
    /// written before the first `poll_transmit`, with no Fast Open option
    /// at all: RFC 7413's "TFO without cookie" (Linux's
    /// `tcp_fastopen` 0x4), what an RFC 8803 Convert client sends a
    /// converter. A server that does not take SYN data acknowledges only
    /// the SYN, and the data goes again after the handshake.
    ///
    /// # Errors
    ///
    /// As [`Connection::connect`].
    pub fn connect_with_syn_data(
        config: TcpConfig,
        tuple: FourTuple,
        isn_key: IsnKey,
        now: Instant,
    ) -> Result<Self, Error> {
        let mut conn = Connection::connect(config, tuple, isn_key, now)?;
        conn.tfo_data_without_cookie = true;
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

    /// Issue the Fast Open cookie this SYN-ACK carries in at most `len`
    /// bytes (its head, 6 bytes at least; none if less room): the layer
    /// above has options of its own to fit (MPTCP's MP_CAPABLE needs 12
    /// bytes of the SYN-ACK's 40).
    pub fn fit_fast_open_cookie(&mut self, len: usize) {
        self.tfo_issue = self.tfo_issue.and_then(|c| c.truncated(len));
    }

    /// The most data a Fast Open SYN carries: the peer's MSS is not known
    /// yet, so the default one, less the room of the SYN's options.
    pub fn syn_data_room(&self) -> usize {
        usize::from(self.peer_mss).saturating_sub(40)
    }

    /// SND.UNA: the first subflow sequence number not yet acknowledged.
    pub fn snd_una(&self) -> SubflowSeq {
        self.snd_una
    }

    /// The peer's initial sequence number (IRS), once known.
    pub fn irs(&self) -> SubflowSeq {
        self.rcv.irs
    }

    /// The subflow sequence number of the next byte [`Connection::read`]
    /// returns.
    pub fn read_seq(&self) -> SubflowSeq {
        let unread = self.rcv.recv_buf.readable() as u32;
        // The FIN takes a sequence number but is not data.
        self.rcv.rcv_nxt - (unread + u32::from(self.rcv.fin_received))
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

    /// Bytes of buffer memory this connection holds (send and receive
    /// rings): none until the first byte is written or arrives.
    pub fn buffer_bytes(&self) -> usize {
        self.send_buf.allocated() + self.rcv.recv_buf.allocated()
    }

    /// Give back the receive buffer's memory if it holds no byte: the
    /// layer above took a Fast Open SYN's data out at once, and a
    /// half-open connection should cost no buffer (a SYN flood with data
    /// must not take memory).
    pub fn release_idle_buffers(&mut self) {
        self.rcv.recv_buf.release_if_empty();
    }

    /// Return bytes ready to `read`.
    pub fn readable(&self) -> usize {
        self.rcv.recv_buf.readable()
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

    // -------------------------------------------------------------- events

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
        self.timers.rtx_deadline = None;
        self.timers.delack_deadline = None;
        self.timers.time_wait_deadline = None;
        self.timers.keepalive_deadline = None;
        self.timers.keepalive_probe_pending = false;
        self.timers.fin_wait2_deadline = None;
        self.ctl_pending = false;
        self.ack_pending = false;
        self.recovery.fast_rtx_pending = false;
        self.push_event(event);
    }

    fn ts_now(&self, now: Instant) -> u32 {
        ((now.as_nanos() / 1_000_000) as u32).wrapping_add(self.ts_offset)
    }

    fn fin_seq(&self) -> SubflowSeq {
        self.buf_seq + self.send_buf.len()
    }
}

/// RFC 9293 §3.7.1: without an MSS option, assume 536 (IPv4) or 1220 (IPv6).
fn default_peer_mss(tuple: &FourTuple) -> u16 {
    if tuple.remote.is_ipv4() { 536 } else { 1220 }
}
