//! [`WVegas`]: weighted Vegas, the delay-based coupled congestion control of
//! Cao, Xu and Fu ("Delay-based congestion control for multipath TCP",
//! ICNP 2012), as the multipath-tcp.org Linux kernel ran it
//! (`net/mptcp/mptcp_wvegas.c`, registered as `"wvegas"`).
//!
//! Each path runs TCP Vegas. Once per round trip it compares the rate it
//! would get at its base RTT with the rate it gets, and turns the
//! difference into packets queued in the network:
//!
//! ```text
//!   diff = (cwnd / baseRTT - cwnd / RTT) * baseRTT = cwnd * (RTT - baseRTT) / RTT
//! ```
//!
//! and steers `diff` towards a target α_r: one segment more when below it,
//! one less when above. What couples the paths is α_r: the connection holds
//! a budget of [`TOTAL_ALPHA`] packets in queues, shared among its paths in
//! proportion to their rates, so a path that carries more of the traffic
//! may keep more of it queued, and a congested path, whose rate falls,
//! gives way first. Slow start, the loss reactions and the RTO are Reno's
//! (`RenoWindow`); only congestion avoidance and the end of slow start
//! are delay-based.

use core::time::Duration;

use umptcp_time::Instant;

use crate::controller::{
    CcConfig, CongestionControl, CongestionControlFactory, CongestionEvent, PathId, PathInfo,
};
use crate::path_table::PathTable;
use crate::reno::{RenoWindow, Saved};

/// The name wVegas is registered under.
pub const NAME: &str = "wvegas";

// mptcp_wvegas.c, module parameter `total_alpha` (default 10): "total alpha
// for all subflows".
/// The connection's total α: packets it aims to keep queued over all of its
/// paths together.
pub const TOTAL_ALPHA: f64 = 10.0;

// mptcp_wvegas.c, module parameter `initial_alpha` (default 2): "initial
// alpha for all subflows", set by `wvegas_enable`.
/// α of a path until its first weight is computed.
pub const INITIAL_ALPHA: f64 = 2.0;

// mptcp_wvegas.c, `mptcp_wvegas_cong_avoid`: the new α is
// `max(2, weight * total_alpha)`.
/// The floor of a path's α, however small its share of the rate.
pub const MIN_ALPHA: f64 = 2.0;

// mptcp_wvegas.c, module parameter `gamma` (default 1): slow start ends when
// `diff > gamma`.
/// γ: slow start ends at the end of a round whose `diff` exceeds it.
pub const GAMMA: f64 = 1.0;

// mptcp_wvegas.c, `mptcp_wvegas_cong_avoid`: a round with `cnt_rtt <= 2`
// falls back to `tcp_reno_cong_avoid` (Linux tcp_vegas.c, which it follows:
// "We don't have enough RTT samples to do the Vegas calculation, so we'll
// behave like Reno").
/// RTT samples a round needs for the Vegas computation; with fewer, the
/// round ends as Reno's would.
pub const MIN_SAMPLES: u32 = 3;

/// The smallest RTT sample taken: a zero sample (a coarse clock on a
/// loopback path) would make the delay arithmetic divide by zero.
const MIN_RTT: Duration = Duration::from_micros(1);

/// Return `bytes * num / den`, rounded down, in exact integer arithmetic
/// (saturating for absurd inputs); `den` is at least 1 ns.
fn scale(bytes: u64, num: Duration, den: Duration) -> u64 {
    let den = den.as_nanos().max(1);
    let scaled = u128::from(bytes).saturating_mul(num.as_nanos()) / den;
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

/// Return the sending rate `cwnd / rtt` in bytes per second, if the RTT is
/// known and not zero.
fn rate(cwnd: u64, rtt: Duration) -> Option<f64> {
    let secs = rtt.as_secs_f64();
    let rate = cwnd as f64 / secs;
    (secs > 0.0 && rate.is_finite()).then_some(rate)
}

/// The wVegas state of one path beyond its Reno window.
#[derive(Clone, Copy, Debug, PartialEq)]
struct WVegasPath {
    window: RenoWindow,
    /// State before the last loss reduction, until it is undone or
    /// superseded.
    undo: Option<Saved>,
    /// baseRTT: the lowest RTT sample seen on the path.
    base_rtt: Option<Duration>,
    /// Bytes the current round lasts: the window when it began.
    round_window: u64,
    /// Bytes acknowledged since the round began.
    round_acked: u64,
    /// Sum of the RTT samples of the round.
    rtt_sum: Duration,
    /// Number of RTT samples of the round.
    rtt_count: u32,
    /// Average RTT of the last round that had a sample: the path's RTT in
    /// the other paths' weights when the transport gives no SRTT.
    last_rtt: Option<Duration>,
    /// α_r in packets, as last computed.
    alpha: f64,
    /// The smallest queueing delay seen since the last drain (the kernel's
    /// `queue_delay`, where 0 means none).
    min_queue_delay: Option<Duration>,
}

impl WVegasPath {
    fn new(config: &CcConfig, mss: u32) -> Self {
        let window = RenoWindow::new(config, mss);
        Self {
            window,
            undo: None,
            base_rtt: None,
            round_window: window.cwnd.max(1),
            round_acked: 0,
            rtt_sum: Duration::ZERO,
            rtt_count: 0,
            last_rtt: None,
            alpha: INITIAL_ALPHA,
            min_queue_delay: None,
        }
    }

    /// Begin a round that lasts the current window, with no samples yet.
    fn start_round(&mut self) {
        self.round_window = self.window.cwnd.max(1);
        self.round_acked = 0;
        self.rtt_sum = Duration::ZERO;
        self.rtt_count = 0;
    }

    /// Begin afresh after a congestion event or its end.
    fn restart(&mut self) {
        // mptcp_wvegas.c, `mptcp_wvegas_state`: wVegas is off outside
        // TCP_CA_Open, and `wvegas_enable` on the return to it starts a new
        // round with no samples, α back at `initial_alpha` and no recorded
        // queueing delay. baseRTT is kept.
        self.start_round();
        self.alpha = INITIAL_ALPHA;
        self.min_queue_delay = None;
    }

    /// Take an RTT sample: always for baseRTT, for the round if `in_round`.
    fn sample(&mut self, rtt: Duration, in_round: bool) {
        let rtt = rtt.max(MIN_RTT);
        // mptcp_wvegas.c, `mptcp_wvegas_pkts_acked`: baseRTT is the minimum
        // of every sample; the round sums its samples and counts them.
        self.base_rtt = Some(self.base_rtt.map_or(rtt, |base| base.min(rtt)));
        if in_round {
            self.rtt_sum = self.rtt_sum.saturating_add(rtt);
            self.rtt_count = self.rtt_count.saturating_add(1);
        }
    }

    /// Return the average RTT of the round if it had enough samples,
    /// remembering it (with fewer samples too) for the weights.
    fn finish_round(&mut self) -> Option<Duration> {
        if self.rtt_count == 0 {
            return None;
        }
        // mptcp_wvegas.c: `rtt = sampled_rtt / cnt_rtt`, the round's mean.
        let mean = self.rtt_sum / self.rtt_count;
        self.last_rtt = Some(mean);
        (self.rtt_count >= MIN_SAMPLES).then_some(mean)
    }

    /// Return `diff`, the packets the path keeps queued: `cwnd * (rtt -
    /// base) / rtt` in segments of the path's MSS.
    fn diff(&self, rtt: Duration, base: Duration) -> f64 {
        // mptcp_wvegas.c: `diff = cwnd * (rtt - base_rtt) / rtt`, i.e.
        // (Expected - Actual) * baseRTT with Expected = cwnd / baseRTT and
        // Actual = cwnd / RTT. `rtt` is at least MIN_RTT, so finite.
        let queue = rtt.saturating_sub(base);
        let ratio = queue.as_nanos() as f64 / rtt.as_nanos().max(1) as f64;
        self.window.limits.segments(self.window.cwnd) * ratio
    }

    /// Apply an ACK that is not in recovery. Return the round's mean RTT
    /// when the round ends in congestion avoidance with enough samples: the
    /// caller then computes α_r (which needs every path) and calls
    /// [`Self::avoid_congestion`]. Every other case is handled here.
    fn on_ack(&mut self, bytes_acked: u64, app_limited: bool) -> Option<Duration> {
        if bytes_acked == 0 {
            return None;
        }
        self.round_acked = self.round_acked.saturating_add(bytes_acked);
        if self.round_acked < self.round_window {
            // mptcp_wvegas.c: between round ends only slow start grows the
            // window (`tcp_slow_start`); congestion avoidance waits for the
            // round's end. RFC 7661: not on application-limited ACKs.
            if !app_limited && self.window.in_slow_start() {
                self.window.slow_start(bytes_acked);
            }
            return None;
        }
        let mean_rtt = self.finish_round();
        if app_limited {
            // A window the sender did not fill says nothing of the queue it
            // would build (diff assumes cwnd is in flight) and has not been
            // validated (RFC 7661): the round ends without a decision.
            self.start_round();
            return None;
        }
        match (mean_rtt, self.base_rtt) {
            // The caller decides, with every path's rate at hand, and
            // begins the next round.
            (Some(rtt), Some(_)) if !self.window.in_slow_start() => return Some(rtt),
            (Some(rtt), Some(base)) if self.diff(rtt, base) > GAMMA => {
                // mptcp_wvegas.c: in slow start, `if diff > gamma`, `cwnd =
                // min(cwnd, target_cwnd + 1)` with `target_cwnd = cwnd *
                // base_rtt / rtt` (the window that would fill the path at
                // baseRTT), and ssthresh below the new cwnd: congestion
                // avoidance from the next ACK (cwnd == ssthresh is
                // congestion avoidance here).
                let cwnd = self.window.cwnd;
                let target = scale(cwnd, base, rtt).saturating_add(self.window.limits.mss);
                self.window.reduce_to(cwnd.min(target));
            }
            _ if self.window.in_slow_start() => self.window.slow_start(bytes_acked),
            _ => {
                // Too few samples: Reno's congestion avoidance, which adds
                // one MSS per round trip (RFC 5681 §3.1).
                self.window.grow(self.window.limits.mss);
            }
        }
        self.start_round();
        None
    }

    /// End a congestion-avoidance round whose mean RTT is `rtt`, with
    /// `alpha` the path's α_r, and begin the next one.
    fn avoid_congestion(&mut self, rtt: Duration, alpha: f64) {
        self.alpha = alpha;
        let Some(base) = self.base_rtt else {
            self.start_round();
            return;
        };
        let diff = self.diff(rtt, base);
        let mss = self.window.limits.mss;
        let w = &mut self.window;
        // mptcp_wvegas.c, congestion avoidance: `if (diff > alpha)` one
        // packet less and ssthresh below cwnd, `else if (diff < alpha)` one
        // packet more; equal: hold.
        if diff > alpha {
            w.cwnd = w.limits.clamp(w.cwnd.saturating_sub(mss));
            w.ssthresh = Some(w.ssthresh.map_or(w.cwnd, |s| s.min(w.cwnd)));
        } else if diff < alpha {
            w.grow(mss);
        }
        // mptcp_wvegas.c, "Try to drain link queue if needed": the queueing
        // delay `q = rtt - base_rtt`; `queue_delay` keeps the smallest q
        // since the last drain; when q has reached twice that, cwnd is
        // scaled by `base_rtt / (2 * rtt)` and the record cleared.
        //
        // The kernel stores "no record" as 0, so a round with q = 0 records
        // 0 and then meets `q >= 2 * 0`: it halves the window of a path that
        // has no queue at all. We read that as an artifact of the encoding,
        // not the drain the paper intends: q = 0 only clears the record.
        let queue = rtt.saturating_sub(base);
        if queue.is_zero() {
            self.min_queue_delay = None;
        } else {
            let least = self.min_queue_delay.map_or(queue, |m| m.min(queue));
            if queue >= least.saturating_mul(2) {
                // floor(floor(cwnd * base / rtt) / 2) = floor(cwnd * base / (2 * rtt)).
                w.cwnd = w.limits.clamp(scale(w.cwnd, base, rtt) / 2);
                self.min_queue_delay = None;
            } else {
                self.min_queue_delay = Some(least);
            }
        }
        // mptcp_wvegas.c ends the round with `tcp_current_ssthresh`:
        // ssthresh = max(ssthresh, 3/4 cwnd). After a drain cwnd may fall
        // below ssthresh: the path slow-starts back up, as the kernel's does.
        w.ssthresh = w.ssthresh.map(|s| s.max(w.cwnd / 2 + w.cwnd / 4));
        self.start_round();
    }
}

/// Return α_r of `path`, whose round just measured `own_rtt`: its share of
/// [`TOTAL_ALPHA`] by rate, at least [`MIN_ALPHA`].
fn path_alpha(
    table: &PathTable<WVegasPath>,
    path: PathId,
    paths: &[PathInfo],
    own_rtt: Duration,
) -> f64 {
    // Cao, Xu and Fu; mptcp_wvegas.c, `mptcp_wvegas_weight`: the weight of
    // a path is its rate over the total rate of the connection's paths,
    // `weight = instant_rate / total_rate`, with `instant_rate = cwnd /
    // rtt`; then `alpha = max(2, weight * total_alpha)`.
    // A path's RTT here is its smoothed RTT from `paths`, else (for the
    // path that decides) the mean of the round just ended, else (for the
    // others) that of their last round; a path with none is left out.
    let mut own = 0.0;
    let mut total = 0.0;
    for (id, state) in table.iter() {
        let srtt = paths
            .iter()
            .find(|p| p.id == id)
            .and_then(|p| p.smoothed_rtt)
            .filter(|r| !r.is_zero());
        let rtt = if id == path {
            Some(srtt.unwrap_or(own_rtt))
        } else {
            srtt.or(state.last_rtt)
        };
        let Some(r) = rtt.and_then(|rtt| rate(state.window.cwnd, rtt)) else {
            continue;
        };
        total += r;
        if id == path {
            own = r;
        }
    }
    let weight = own / total;
    // 0/0 (nothing measured) and the like: the path is taken as alone.
    let weight = if weight.is_finite() && weight > 0.0 {
        weight.min(1.0)
    } else {
        1.0
    };
    (weight * TOTAL_ALPHA).max(MIN_ALPHA)
}

/// wVegas (name `"wvegas"`): Vegas on each path, with the connection's
/// α budget shared among the paths by rate (Cao, Xu and Fu, ICNP 2012;
/// Linux `mptcp_wvegas.c`).
///
/// Windows are in bytes; `diff` and α are in segments of each path's MSS.
/// A *round* is one round trip: it ends at the ACK that brings the bytes
/// acknowledged since it began to the window the path had when it began
/// (the kernel ends it at the first ACK beyond the `snd_nxt` of its start;
/// with a full window, that is the same ACK). RTT is the mean of the
/// round's samples (each at least 1 µs), baseRTT the smallest sample ever
/// seen on the path (samples taken in recovery count for baseRTT only).
///
/// | event | effect on the path |
/// |---|---|
/// | `Ack`, slow start | `+min(acked, 2*MSS)` (Reno); at a round's end with ≥ 3 samples and `diff > γ = 1`: `cwnd = min(cwnd, cwnd*baseRTT/RTT + MSS)`, `ssthresh = cwnd` (congestion avoidance) |
/// | `Ack`, congestion avoidance | nothing until the round's end; then `α_r = max(2, 10 * rate_r / Σ rate)`, `rate = cwnd / SRTT`; `diff > α_r`: `-MSS`; `diff < α_r`: `+MSS`; queueing delay `RTT - baseRTT` at least twice its least since the last drain: `cwnd *= baseRTT / (2*RTT)`; then `ssthresh = max(ssthresh, 3/4 cwnd)`. Fewer than 3 samples: `+MSS` (Reno) |
/// | `Ack` in recovery or app-limited | no growth; an app-limited round ends with no change |
/// | `FastRetransmit`, `Ecn` | `ssthresh = max(flight/2, min window)`, `cwnd = ssthresh`; new round |
/// | `RecoveryExit` | `cwnd = min(cwnd, ssthresh)`; new round |
/// | `RetransmissionTimeout` | `ssthresh = max(flight/2, min window)` (first RTO of a series only), `cwnd = 1 MSS`; new round |
/// | `SpuriousUndo` | back to the cwnd and ssthresh before the last reduction; new round |
///
/// Where this differs from the kernel module:
/// - α_r is recomputed at the end of every congestion-avoidance round from
///   the current windows and smoothed RTTs of all paths; the kernel
///   recomputes a path's rate and α only in rounds where `diff >= α`, and
///   other paths' rates are as they last computed them.
/// - α_r is not rounded down to whole packets.
/// - Rates are in bytes per second, so paths of different MSS weigh by
///   throughput.
/// - A round with no queueing delay does not halve the window (see the
///   drain, in the source); the kernel's does, as an artifact of storing
///   "no record" as 0.
/// - The loss reactions are Reno's from the flight size (the kernel's
///   `tcp_reno_ssthresh` halves cwnd); there is no restart after idle
///   (`CA_EVENT_CWND_RESTART`), of which this crate has no event.
///
/// ```
/// use core::time::Duration;
/// use umptcp_cc::wvegas::WVegas;
/// use umptcp_cc::{CcConfig, CongestionControl, CongestionEvent, PathId, PathInfo};
/// use umptcp_time::Instant;
///
/// let mut cc = WVegas::new(&CcConfig::default());
/// let paths = [PathInfo::new(PathId(0), 1000)];
/// cc.add_path(&paths[0], Instant::ZERO);
/// // A loss and its recovery leave the path in congestion avoidance at 10 segments.
/// let loss = CongestionEvent::FastRetransmit { now: Instant::ZERO, bytes_in_flight: 20_000 };
/// cc.on_event(PathId(0), &loss, &paths);
/// cc.on_event(PathId(0), &CongestionEvent::RecoveryExit { now: Instant::ZERO }, &paths);
/// assert_eq!(cc.window(PathId(0)), 10_000);
/// // A round trip of ACKs that saw no queueing delay (diff = 0 < α) adds one segment.
/// let ack = CongestionEvent::Ack {
///     now: Instant::ZERO,
///     bytes_acked: 1000,
///     rtt: Some(Duration::from_millis(50)),
///     app_limited: false,
///     in_recovery: false,
/// };
/// for _ in 0..10 {
///     cc.on_event(PathId(0), &ack, &paths);
/// }
/// assert_eq!(cc.window(PathId(0)), 11_000);
/// assert_eq!(cc.alpha(PathId(0)), Some(10.0)); // alone, the path has all of α
/// ```
#[derive(Clone, Debug)]
pub struct WVegas {
    config: CcConfig,
    paths: PathTable<WVegasPath>,
}

impl WVegas {
    /// Make a controller with no paths.
    pub fn new(config: &CcConfig) -> Self {
        Self {
            config: *config,
            paths: PathTable::new(),
        }
    }

    /// Return baseRTT of `path` (its smallest RTT sample), or `None` for an
    /// unknown path or one without a sample yet.
    pub fn base_rtt(&self, path: PathId) -> Option<Duration> {
        self.paths.get(path).and_then(|p| p.base_rtt)
    }

    /// Return α_r of `path` in packets, as last computed ([`INITIAL_ALPHA`]
    /// before the first congestion-avoidance round), or `None` for an
    /// unknown path.
    pub fn alpha(&self, path: PathId) -> Option<f64> {
        self.paths.get(path).map(|p| p.alpha)
    }
}

impl CongestionControl for WVegas {
    fn name(&self) -> &str {
        NAME
    }

    fn add_path(&mut self, path: &PathInfo, _now: Instant) {
        self.paths
            .insert(path.id, WVegasPath::new(&self.config, path.mss));
    }

    fn remove_path(&mut self, path: PathId) {
        self.paths.remove(path);
    }

    fn on_event(&mut self, path: PathId, event: &CongestionEvent, paths: &[PathInfo]) {
        let Some(state) = self.paths.get_mut(path) else {
            return;
        };
        state.window.refresh_mss(&self.config, path, paths);
        match *event {
            CongestionEvent::Ack {
                bytes_acked,
                rtt,
                app_limited,
                in_recovery,
                ..
            } => {
                if bytes_acked > 0 {
                    state.window.rto_backoff = false;
                }
                if let Some(sample) = rtt {
                    state.sample(sample, !in_recovery);
                }
                // RFC 6582 §3.2: no growth during fast recovery; wVegas is
                // off then (`mptcp_wvegas_state`) and its round restarts at
                // `RecoveryExit`.
                if in_recovery {
                    return;
                }
                let Some(round_rtt) = state.on_ack(bytes_acked, app_limited) else {
                    return;
                };
                let alpha = path_alpha(&self.paths, path, paths, round_rtt);
                if let Some(state) = self.paths.get_mut(path) {
                    state.avoid_congestion(round_rtt, alpha);
                }
            }
            // RFC 5681 §3.2 step 2 and RFC 3168 §6.1.2, as in `NewReno`:
            // "ssthresh = max (FlightSize / 2, 2*SMSS)" and cwnd = ssthresh.
            CongestionEvent::FastRetransmit {
                bytes_in_flight, ..
            }
            | CongestionEvent::Ecn {
                bytes_in_flight, ..
            } => {
                state.undo = Some(state.window.save());
                let ssthresh = state.window.halved_flight(bytes_in_flight);
                state.window.reduce_to(ssthresh);
                state.restart();
            }
            CongestionEvent::RecoveryExit { .. } => {
                state.window.exit_recovery();
                state.restart();
            }
            CongestionEvent::RetransmissionTimeout {
                bytes_in_flight, ..
            } => {
                // As `NewReno` (RFC 5681 §3.1).
                if let Some(saved) = state.window.timeout(bytes_in_flight) {
                    state.undo = Some(saved);
                }
                state.restart();
            }
            CongestionEvent::SpuriousUndo { .. } => {
                if let Some(saved) = state.undo.take() {
                    state.window.restore(saved);
                    state.restart();
                }
            }
            // `CongestionEvent` is non-exhaustive: ignore what we do not know.
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    fn window(&self, path: PathId) -> u64 {
        self.paths.get(path).map_or(0, |p| p.window.cwnd)
    }

    fn ssthresh(&self, path: PathId) -> Option<u64> {
        self.paths.get(path).and_then(|p| p.window.ssthresh)
    }
}

/// Builds [`WVegas`] controllers, under the name `"wvegas"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WVegasFactory;

impl CongestionControlFactory for WVegasFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn build(&self, config: &CcConfig) -> Box<dyn CongestionControl> {
        Box::new(WVegas::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;
    const P: PathId = PathId(0);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn ack_with(
        bytes_acked: u64,
        rtt: Option<Duration>,
        app_limited: bool,
        in_recovery: bool,
    ) -> CongestionEvent {
        CongestionEvent::Ack {
            now: Instant::ZERO,
            bytes_acked,
            rtt,
            app_limited,
            in_recovery,
        }
    }

    fn ack(bytes_acked: u64, rtt: Option<Duration>) -> CongestionEvent {
        ack_with(bytes_acked, rtt, false, false)
    }

    fn fast_retransmit(bytes_in_flight: u64) -> CongestionEvent {
        CongestionEvent::FastRetransmit {
            now: Instant::ZERO,
            bytes_in_flight,
        }
    }

    fn rto(bytes_in_flight: u64) -> CongestionEvent {
        CongestionEvent::RetransmissionTimeout {
            now: Instant::ZERO,
            bytes_in_flight,
        }
    }

    const EXIT: CongestionEvent = CongestionEvent::RecoveryExit { now: Instant::ZERO };
    const UNDO: CongestionEvent = CongestionEvent::SpuriousUndo { now: Instant::ZERO };

    /// wVegas with one path of 1000-byte segments, in slow start at IW10.
    fn wvegas() -> (WVegas, [PathInfo; 1]) {
        let paths = [PathInfo::new(P, MSS)];
        let mut cc = WVegas::new(&CcConfig::default());
        cc.add_path(&paths[0], Instant::ZERO);
        (cc, paths)
    }

    /// Put `path` in congestion avoidance at `segments` segments with
    /// baseRTT `base`: a loss with twice that in flight (ssthresh = cwnd =
    /// segments), one ACK in recovery carrying an RTT sample of `base`
    /// (baseRTT only), the end of recovery (a new round of `segments`).
    fn in_avoidance(
        cc: &mut WVegas,
        path: PathId,
        segments: u64,
        base: Duration,
        paths: &[PathInfo],
    ) {
        let mss = u64::from(MSS);
        cc.on_event(path, &fast_retransmit(2 * segments * mss), paths);
        cc.on_event(path, &ack_with(mss, Some(base), false, true), paths);
        cc.on_event(path, &EXIT, paths);
        assert_eq!(cc.window(path), segments * mss);
        assert_eq!(cc.ssthresh(path), Some(segments * mss));
        assert_eq!(cc.base_rtt(path), Some(base));
    }

    /// Acknowledge `segments` full segments on `path`, one ACK each, every
    /// one with the RTT sample `rtt`.
    fn acks(cc: &mut WVegas, path: PathId, segments: u64, rtt: Duration, paths: &[PathInfo]) {
        for _ in 0..segments {
            cc.on_event(path, &ack(u64::from(MSS), Some(rtt)), paths);
        }
    }

    #[test]
    fn starts_in_slow_start_at_iw10_with_the_initial_alpha() {
        let (cc, _) = wvegas();
        assert_eq!(cc.name(), "wvegas");
        assert_eq!(cc.window(P), 10_000); // 10 segments * 1000
        assert_eq!(cc.ssthresh(P), None);
        assert_eq!(cc.alpha(P), Some(2.0)); // initial_alpha
        assert_eq!(cc.base_rtt(P), None);
    }

    #[test]
    fn rtt_at_base_grows_one_mss_per_round() {
        let (mut cc, paths) = wvegas();
        in_avoidance(&mut cc, P, 10, ms(100), &paths);
        // Nine ACKs of the 10_000-byte round: no growth before its end.
        acks(&mut cc, P, 9, ms(100), &paths);
        assert_eq!(cc.window(P), 10_000);
        // Round end: RTT = baseRTT = 100 ms, diff = 10 * (100 - 100) / 100 = 0.
        // One path: weight = 1, α = max(2, 1 * 10) = 10; 0 < 10: +1 MSS.
        // ssthresh = max(10_000, 11_000/2 + 11_000/4 = 8250) = 10_000.
        acks(&mut cc, P, 1, ms(100), &paths);
        assert_eq!(cc.window(P), 11_000);
        assert_eq!(cc.ssthresh(P), Some(10_000));
        assert_eq!(cc.alpha(P), Some(10.0));
        // Next round lasts 11_000 bytes: 10 ACKs hold, the 11th adds one MSS.
        // (No queueing delay: the kernel would also halve the window here,
        // q = 0 >= 2 * 0; we do not.)
        acks(&mut cc, P, 10, ms(100), &paths);
        assert_eq!(cc.window(P), 11_000);
        acks(&mut cc, P, 1, ms(100), &paths);
        assert_eq!(cc.window(P), 12_000);
    }

    #[test]
    fn queueing_delay_above_alpha_shrinks_one_mss_per_round() {
        let (mut cc, paths) = wvegas();
        in_avoidance(&mut cc, P, 40, ms(100), &paths);
        // RTT 200 ms, baseRTT 100 ms: diff = 40 * (200 - 100) / 200 = 20 > α = 10:
        // -1 MSS; ssthresh = min(40_000, 39_000) = 39_000, max(39_000, 29_250).
        // Queueing delay 100 ms is the first recorded: no drain.
        acks(&mut cc, P, 40, ms(200), &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (39_000, Some(39_000)));
        // diff = 39 * 100 / 200 = 19.5 > 10: -1 MSS. Same queueing delay, not
        // twice the least: no drain.
        acks(&mut cc, P, 39, ms(200), &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (38_000, Some(38_000)));
    }

    #[test]
    fn diff_equal_to_alpha_holds_the_window() {
        let (mut cc, paths) = wvegas();
        in_avoidance(&mut cc, P, 20, ms(100), &paths);
        // diff = 20 * (200 - 100) / 200 = 10 = α: neither up nor down.
        acks(&mut cc, P, 20, ms(200), &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (20_000, Some(20_000)));
        acks(&mut cc, P, 20, ms(200), &paths);
        assert_eq!(cc.window(P), 20_000);
    }

    #[test]
    fn doubled_queueing_delay_drains_the_queue() {
        let (mut cc, paths) = wvegas();
        in_avoidance(&mut cc, P, 40, ms(100), &paths);
        // Round 1: RTT 150, q = 50 ms (the least so far);
        // diff = 40 * 50 / 150 = 13.3 > 10: 39_000, ssthresh 39_000.
        acks(&mut cc, P, 40, ms(150), &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (39_000, Some(39_000)));
        // Round 2: RTT 200, q = 100 ms >= 2 * 50 ms.
        // diff = 39 * 100 / 200 = 19.5 > 10: 38_000, ssthresh 38_000; then the
        // drain: cwnd = 38_000 * 100 / (2 * 200) = 9_500;
        // ssthresh = max(38_000, 9_500/2 + 9_500/4 = 7_125) = 38_000.
        acks(&mut cc, P, 39, ms(200), &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (9_500, Some(38_000)));
        // cwnd < ssthresh: slow start, + min(1000, 2 * 1000) per ACK.
        acks(&mut cc, P, 1, ms(200), &paths);
        assert_eq!(cc.window(P), 10_500);
    }

    #[test]
    fn two_paths_split_alpha_by_rate() {
        let mut paths = [PathInfo::new(PathId(0), MSS), PathInfo::new(PathId(1), MSS)];
        paths[0].smoothed_rtt = Some(ms(120));
        paths[1].smoothed_rtt = Some(ms(360));
        let mut cc = WVegas::new(&CcConfig::default());
        for p in &paths {
            cc.add_path(p, Instant::ZERO);
        }
        in_avoidance(&mut cc, PathId(0), 30, ms(100), &paths);
        in_avoidance(&mut cc, PathId(1), 30, ms(300), &paths);
        // Path 0's round, RTT 120 ms: rates 30_000 / 0.12 = 250_000 B/s and
        // 30_000 / 0.36 = 83_333 B/s; weight 250_000 / 333_333 = 0.75,
        // α_0 = 7.5. diff = 30 * (120 - 100) / 120 = 5 < 7.5: +1 MSS.
        acks(&mut cc, PathId(0), 30, ms(120), &paths);
        assert!(close(cc.alpha(PathId(0)).unwrap(), 7.5));
        assert_eq!(cc.window(PathId(0)), 31_000);
        // Path 1's round, RTT 360 ms: rates 31_000 / 0.12 = 258_333 B/s and
        // 83_333 B/s; weight 1 / (1 + 3.1) = 0.2439, α_1 = 2.439.
        // The same diff = 30 * (360 - 300) / 360 = 5 > 2.439: -1 MSS.
        acks(&mut cc, PathId(1), 30, ms(360), &paths);
        assert!(close(cc.alpha(PathId(1)).unwrap(), 10.0 / 4.1));
        assert_eq!(cc.window(PathId(1)), 29_000);
        // Path 1 ten times slower: rate 29_000 / 3.6 = 8_056 B/s against
        // 258_333; 10 * 8_056 / 266_389 = 0.30 is below the floor: α_1 = 2.
        // diff = 29 * 60 / 360 = 4.83 > 2: -1 MSS.
        paths[1].smoothed_rtt = Some(ms(3_600));
        acks(&mut cc, PathId(1), 29, ms(360), &paths);
        assert_eq!(cc.alpha(PathId(1)), Some(2.0));
        assert_eq!(cc.window(PathId(1)), 28_000);
        // Path 0 is untouched by path 1's rounds.
        assert_eq!(cc.window(PathId(0)), 31_000);
    }

    #[test]
    fn slow_start_exits_when_diff_exceeds_gamma() {
        let (mut cc, paths) = wvegas();
        // Round 1 (10_000 bytes), RTT 100 ms: slow start, +1000 per ACK.
        // At its end diff = 19 * 0 / 100 = 0 <= γ = 1: slow start goes on.
        acks(&mut cc, P, 10, ms(100), &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (20_000, None));
        // Round 2 (20_000 bytes), RTT 102 ms: cwnd 39_000 at its end;
        // diff = 39 * 2 / 102 = 0.76 <= 1: slow start goes on, 40_000.
        acks(&mut cc, P, 20, ms(102), &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (40_000, None));
        // Round 3 (40_000 bytes), RTT 300 ms: cwnd 79_000 after 39 ACKs.
        acks(&mut cc, P, 39, ms(300), &paths);
        assert_eq!(cc.window(P), 79_000);
        // At its end diff = 79 * (300 - 100) / 300 = 52.7 > 1: target =
        // 79_000 * 100 / 300 = 26_333 bytes, + 1 MSS = 27_333 = cwnd = ssthresh.
        acks(&mut cc, P, 1, ms(300), &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (27_333, Some(27_333)));
        // Congestion avoidance now: no growth per ACK.
        acks(&mut cc, P, 1, ms(300), &paths);
        assert_eq!(cc.window(P), 27_333);
    }

    #[test]
    fn rounds_with_few_rtt_samples_grow_like_reno() {
        let (mut cc, paths) = wvegas();
        in_avoidance(&mut cc, P, 10, ms(100), &paths);
        // One stretch ACK ends the round with a single RTT sample (< 3):
        // Reno's one MSS per round trip, whatever the delay.
        cc.on_event(P, &ack(10_000, Some(ms(1_000))), &paths);
        assert_eq!(cc.window(P), 11_000);
        // A round of ACKs with no RTT samples at all: the same.
        for _ in 0..11 {
            cc.on_event(P, &ack(1_000, None), &paths);
        }
        assert_eq!(cc.window(P), 12_000);
        assert_eq!(cc.alpha(P), Some(2.0)); // never computed
    }

    #[test]
    fn losses_halve_like_reno() {
        let (mut cc, paths) = wvegas();
        cc.on_event(P, &fast_retransmit(20_000), &paths);
        // ssthresh = max(20_000 / 2, 2 * 1000) = 10_000; cwnd = ssthresh.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (10_000, Some(10_000)));
        let ecn = CongestionEvent::Ecn {
            now: Instant::ZERO,
            bytes_in_flight: 8_000,
        };
        cc.on_event(P, &ecn, &paths);
        // max(8000 / 2, 2000) = 4000.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (4_000, Some(4_000)));
        cc.on_event(P, &fast_retransmit(3_000), &paths);
        // max(3000 / 2, 2000) = 2000: the floor.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (2_000, Some(2_000)));
        cc.on_event(P, &EXIT, &paths);
        assert_eq!(cc.window(P), 2_000); // cwnd = min(cwnd, ssthresh)
    }

    #[test]
    fn rto_collapses_to_one_mss_and_holds_ssthresh_while_backing_off() {
        let (mut cc, paths) = wvegas();
        cc.on_event(P, &rto(8_000), &paths);
        // ssthresh = max(8000 / 2, 2000) = 4000; cwnd = 1 MSS.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (1_000, Some(4_000)));
        cc.on_event(P, &rto(1_000), &paths);
        // The same series: ssthresh held.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (1_000, Some(4_000)));
        cc.on_event(P, &ack(1_000, Some(ms(100))), &paths);
        // Slow start: 1000 + min(1000, 2000) (the 1000-byte round ended with
        // one sample: Reno).
        assert_eq!(cc.window(P), 2_000);
        cc.on_event(P, &rto(2_000), &paths);
        // A new series: max(2000 / 2, 2000) = 2000.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (1_000, Some(2_000)));
    }

    #[test]
    fn spurious_undo_restores_the_state_before_the_last_reduction() {
        let (mut cc, paths) = wvegas();
        cc.on_event(P, &UNDO, &paths); // nothing to undo
        assert_eq!((cc.window(P), cc.ssthresh(P)), (10_000, None));
        cc.on_event(P, &fast_retransmit(10_000), &paths); // 5000 / 5000
        cc.on_event(P, &UNDO, &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (10_000, None));
        cc.on_event(P, &rto(10_000), &paths); // 1000 / 5000
        cc.on_event(P, &UNDO, &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (10_000, None));
    }

    #[test]
    fn no_growth_in_recovery_or_when_app_limited() {
        let (mut cc, paths) = wvegas();
        // Slow start: neither kind of ACK grows the window.
        cc.on_event(P, &ack_with(1_000, Some(ms(100)), true, false), &paths);
        cc.on_event(P, &ack_with(1_000, Some(ms(100)), false, true), &paths);
        assert_eq!(cc.window(P), 10_000);
        in_avoidance(&mut cc, P, 10, ms(100), &paths);
        // A round of application-limited ACKs ends with no change.
        for _ in 0..10 {
            cc.on_event(P, &ack_with(1_000, Some(ms(100)), true, false), &paths);
        }
        assert_eq!(cc.window(P), 10_000);
        // ACKs in recovery do not count towards the round.
        for _ in 0..10 {
            cc.on_event(P, &ack_with(1_000, Some(ms(100)), false, true), &paths);
        }
        acks(&mut cc, P, 9, ms(100), &paths);
        assert_eq!(cc.window(P), 10_000);
        // The round's 10_000th byte: diff = 0 < 10, +1 MSS.
        acks(&mut cc, P, 1, ms(100), &paths);
        assert_eq!(cc.window(P), 11_000);
    }

    #[test]
    fn a_congestion_event_starts_a_new_round() {
        let (mut cc, paths) = wvegas();
        in_avoidance(&mut cc, P, 10, ms(100), &paths);
        // 9_000 of the round's 10_000 bytes, then an ECN echo (no recovery,
        // no RecoveryExit): max(10_000 / 2, 2000) = 5000.
        acks(&mut cc, P, 9, ms(100), &paths);
        let ecn = CongestionEvent::Ecn {
            now: Instant::ZERO,
            bytes_in_flight: 10_000,
        };
        cc.on_event(P, &ecn, &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (5_000, Some(5_000)));
        // The old round is gone: the next ACK does not end it (it would at
        // 10_000 bytes); the new one lasts 5_000 bytes.
        acks(&mut cc, P, 4, ms(100), &paths);
        assert_eq!(cc.window(P), 5_000);
        // Its 5_000th byte: diff = 0 < 10, +1 MSS.
        acks(&mut cc, P, 1, ms(100), &paths);
        assert_eq!(cc.window(P), 6_000);
    }

    #[test]
    fn a_sample_in_recovery_lowers_base_rtt_only() {
        let (mut cc, paths) = wvegas();
        in_avoidance(&mut cc, P, 20, ms(200), &paths);
        cc.on_event(P, &fast_retransmit(40_000), &paths);
        cc.on_event(P, &ack_with(1_000, Some(ms(100)), false, true), &paths);
        cc.on_event(P, &EXIT, &paths);
        assert_eq!(cc.base_rtt(P), Some(ms(100)));
        // Samples of 200 ms now read as 100 ms of queueing:
        // diff = 20 * 100 / 200 = 10 = α: hold. (With baseRTT still at
        // 200 ms, diff would be 0 and the window would grow.)
        acks(&mut cc, P, 20, ms(200), &paths);
        assert_eq!(cc.window(P), 20_000);
    }

    #[test]
    fn zero_rtt_zero_mss_and_unknown_paths_do_not_panic() {
        let mut paths = [PathInfo::new(P, 0), PathInfo::new(PathId(1), MSS)];
        paths[0].smoothed_rtt = Some(Duration::ZERO);
        paths[1].smoothed_rtt = Some(Duration::ZERO);
        let mut cc = WVegas::new(&CcConfig::default());
        for p in &paths {
            cc.add_path(p, Instant::ZERO);
        }
        // Zero-MSS path: 1-byte segments, IW 10 bytes. Zero RTT samples are
        // taken as 1 µs: diff = 0 and nothing divides by zero.
        assert_eq!(cc.window(P), 10);
        for _ in 0..20 {
            cc.on_event(P, &ack(1, Some(Duration::ZERO)), &paths);
        }
        assert_eq!(cc.base_rtt(P), Some(Duration::from_micros(1)));
        assert!(cc.window(P) > 10);
        // Path 1 in congestion avoidance, with zero and absurd samples and no
        // usable SRTT anywhere.
        in_avoidance(&mut cc, PathId(1), 10, MIN_RTT, &paths);
        acks(&mut cc, PathId(1), 10, Duration::ZERO, &paths);
        acks(&mut cc, PathId(1), 11, Duration::MAX, &paths);
        let alpha = cc.alpha(PathId(1)).unwrap();
        assert!(alpha.is_finite() && (MIN_ALPHA..=TOTAL_ALPHA).contains(&alpha));
        assert!(cc.window(PathId(1)) >= 2_000);
        // Events with no PathInfo at all.
        acks(&mut cc, PathId(1), 40, ms(10), &[]);
        // Unknown paths: ignored, window 0.
        cc.on_event(PathId(9), &ack(1_000, Some(ms(1))), &paths);
        cc.on_event(PathId(9), &fast_retransmit(5_000), &paths);
        assert_eq!(cc.window(PathId(9)), 0);
        assert_eq!(cc.ssthresh(PathId(9)), None);
        assert_eq!(cc.alpha(PathId(9)), None);
        cc.remove_path(PathId(1));
        assert_eq!(cc.window(PathId(1)), 0);
    }

    #[test]
    fn factory_builds_wvegas() {
        let factory = WVegasFactory;
        assert_eq!(factory.name(), "wvegas");
        let mut cc = factory.build(&CcConfig::default());
        assert_eq!(cc.name(), "wvegas");
        let path = PathInfo::new(P, MSS);
        cc.add_path(&path, Instant::ZERO);
        assert_eq!(cc.window(P), 10_000);
    }
}
