//! [`Cubic`]: CUBIC congestion control (RFC 9438) on each path
//! independently.
//!
//! Windows are kept in bytes like [`NewReno`](crate::NewReno)'s; the cubic
//! function works in segments of the path's MSS and seconds, in `f64`,
//! and every result is checked (NaN, infinities, negatives) and bounded
//! before it reaches the window. Slow start is Reno's (HyStart is not
//! implemented).

use core::time::Duration;

use umptcp_time::Instant;

use crate::controller::{CcConfig, CongestionControl, CongestionEvent, PathId, PathInfo};
use crate::path_table::PathTable;
use crate::reno::{RenoWindow, Saved};

/// The name CUBIC is registered under.
pub const NAME: &str = "cubic";

// RFC 9438 §5.1: "C SHOULD be set to 0.4."
/// The cubic scaling constant C, in segments per second cubed.
pub const C: f64 = 0.4;

// RFC 9438 §4.6: "The parameter β_cubic SHOULD be set to 0.7"
/// The multiplicative decrease factor β_cubic (ssthresh is computed with
/// the exact integer ratio 7/10).
pub const BETA: f64 = 0.7;

// RFC 9438 §4.3: "α_cubic = 3 * (1 - β_cubic) / (1 + β_cubic)"
/// The additive increase factor of the Reno-friendly estimate (≈ 0.529).
pub const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// Return K, the time in seconds the cubic function takes to grow from
/// `cwnd_epoch` back to `w_max` (both in segments); 0 if it is already there.
fn cubic_k(w_max: f64, cwnd_epoch: f64) -> f64 {
    // RFC 9438 §4.2, Figure 2: "K = cubic_root((W_max - cwnd_epoch) / C)"
    let k = ((w_max - cwnd_epoch) / C).max(0.0).cbrt();
    if k.is_finite() { k } else { 0.0 }
}

/// Return W_cubic(t) in segments for `t` seconds into the epoch.
fn w_cubic(t: f64, k: f64, w_max: f64) -> f64 {
    // RFC 9438 §4.2, Figure 1: "W_cubic(t) = C * (t - K)^3 + W_max"
    let d = t - k;
    C * d * d * d + w_max
}

/// The CUBIC state of one path beyond its Reno window.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CubicPath {
    window: RenoWindow,
    /// W_max in segments: the window before the last reduction (after fast
    /// convergence); 0 before any.
    w_max: f64,
    /// cwnd_prior in segments: the window when ssthresh was last set.
    cwnd_prior: f64,
    /// Start of the current congestion-avoidance epoch, if one is running.
    epoch_start: Option<Instant>,
    /// cwnd_epoch in segments: the window when the epoch started.
    cwnd_epoch: f64,
    /// K in seconds for the current epoch.
    k: f64,
    /// W_est in segments: the Reno-friendly estimate.
    w_est: f64,
    /// Growth not yet added to cwnd because it is a fraction of a byte.
    pending_bytes: f64,
    /// When the current application-limited period began, if one is on.
    app_limited_since: Option<Instant>,
    /// State before the last reduction, for a spurious undo.
    undo: Option<CubicSaved>,
}

/// What a spurious undo restores.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CubicSaved {
    window: Saved,
    w_max: f64,
    cwnd_prior: f64,
    epoch_start: Option<Instant>,
    cwnd_epoch: f64,
    k: f64,
    w_est: f64,
}

impl CubicPath {
    fn new(config: &CcConfig, mss: u32) -> Self {
        Self {
            window: RenoWindow::new(config, mss),
            w_max: 0.0,
            cwnd_prior: 0.0,
            epoch_start: None,
            cwnd_epoch: 0.0,
            k: 0.0,
            w_est: 0.0,
            pending_bytes: 0.0,
            app_limited_since: None,
            undo: None,
        }
    }

    fn cwnd_segments(&self) -> f64 {
        self.window.limits.segments(self.window.cwnd)
    }

    fn save(&self) -> CubicSaved {
        CubicSaved {
            window: self.window.save(),
            w_max: self.w_max,
            cwnd_prior: self.cwnd_prior,
            epoch_start: self.epoch_start,
            cwnd_epoch: self.cwnd_epoch,
            k: self.k,
            w_est: self.w_est,
        }
    }

    /// Start a congestion-avoidance epoch at `now` from the current cwnd.
    fn start_epoch(&mut self, now: Instant) {
        let cwnd = self.cwnd_segments();
        self.epoch_start = Some(now);
        self.cwnd_epoch = cwnd;
        // RFC 9438 §4.8: after a timeout, "K is set to 0, and W_max is set
        // to the cwnd at the beginning of the current congestion avoidance
        // stage". An RTO clears W_max, so this branch covers it, and also
        // an epoch that starts above the last W_max (no loss yet, or slow
        // start overshot it).
        if self.w_max <= cwnd {
            self.w_max = cwnd;
            self.k = 0.0;
        } else {
            self.k = cubic_k(self.w_max, cwnd);
        }
        // RFC 9438 §4.3: "W_est is set equal to cwnd_epoch at the start of
        // the congestion avoidance stage." §4.8, after a timeout: "W_est
        // SHOULD be set to the congestion window size at the beginning of
        // the current congestion avoidance stage."
        self.w_est = cwnd;
        self.pending_bytes = 0.0;
        self.app_limited_since = None;
    }

    /// Multiplicative decrease on a fast retransmit (`on_ece` false) or an
    /// ECN echo (`on_ece` true).
    fn reduce(&mut self, now: Instant, flight_size: u64, on_ece: bool) {
        self.undo = Some(self.save());
        let cwnd = self.cwnd_segments();
        // RFC 9438 §4.7 (fast convergence):
        //   if cwnd < W_max and fast_convergence_enabled:
        //       W_max = cwnd * (1 + β_cubic) / 2
        //   else:
        //       W_max = cwnd
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
        let beta_flight = self.set_ssthresh(flight_size, cwnd);
        // RFC 9438 §4.6, Figure 5:
        //   cwnd = max(ssthresh, 2)  reduction on loss, cwnd >= 2 SMSS
        //   cwnd = max(ssthresh, 1)  reduction on ECE, cwnd >= 1 SMSS
        // and "CUBIC MUST continue to reduce cwnd in response to congestion
        // events detected by ECN-Echo ACKs until it reaches a value of 1
        // SMSS." (2 SMSS is the configured minimum window.)
        let limits = self.window.limits;
        self.window.cwnd = if on_ece {
            beta_flight.max(limits.loss_window).min(limits.maximum)
        } else {
            limits.clamp(beta_flight)
        };
        // t is measured from this congestion event.
        self.start_epoch(now);
    }

    /// Set ssthresh and cwnd_prior for a congestion event; return
    /// `flight_size * β_cubic` before the floor.
    fn set_ssthresh(&mut self, flight_size: u64, cwnd_segments: f64) -> u64 {
        // RFC 9438 §4.6, Figure 5: "ssthresh = flight_size * β_cubic",
        // "cwnd_prior = cwnd", "ssthresh = max(ssthresh, 2)".
        // flight_size * 0.7 in integers: exact, and no overflow.
        let beta_flight = flight_size / 10 * 7 + flight_size % 10 * 7 / 10;
        self.window.ssthresh = Some(self.window.limits.clamp(beta_flight));
        self.cwnd_prior = cwnd_segments;
        beta_flight
    }

    /// Grow in congestion avoidance for an ACK of `bytes_acked` at `now`.
    fn congestion_avoidance(&mut self, now: Instant, bytes_acked: u64, rtt: Duration) {
        if self.window.cwnd == 0 {
            return;
        }
        let epoch_start = match self.epoch_start {
            Some(start) => start,
            None => {
                self.start_epoch(now);
                now
            }
        };
        let limits = self.window.limits;
        let cwnd = self.cwnd_segments();
        let max_segments = limits.segments(limits.maximum);
        let acked = limits.segments(bytes_acked);
        // Instants out of order give t = 0 rather than a negative time.
        let t = now.saturating_duration_since(epoch_start).as_secs_f64();

        // RFC 9438 §4.3: "W_est = W_est + α_cubic * segments_acked / cwnd"
        // and "Once W_est has grown to reach the cwnd at the time of most
        // recently setting ssthresh -- that is, W_est >= cwnd_prior -- the
        // sender SHOULD set α_cubic to 1".
        let alpha = if self.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        let w_est = self.w_est + alpha * acked / cwnd;
        self.w_est = if w_est.is_finite() {
            w_est.min(max_segments)
        } else {
            max_segments
        };

        let new_cwnd = if w_cubic(t, self.k, self.w_max) < self.w_est {
            // RFC 9438 §4.3: "If W_cubic(t) is less than W_est, then CUBIC
            // is in the Reno-friendly region and cwnd SHOULD be set to W_est
            // at each reception of a new ACK." (Never below the current
            // cwnd: an ACK does not shrink the window.)
            self.w_est.max(cwnd)
        } else {
            // RFC 9438 §4.2: target is W_cubic(t + RTT) bounded to
            // [cwnd, 1.5 * cwnd], and "cwnd MUST be incremented by
            // (target - cwnd) / cwnd for each received new ACK".
            // §4.4 (concave region, W_cubic < W_max) and §4.5 (convex
            // region, W_cubic >= W_max) both use this rule.
            let rtt = rtt.as_secs_f64();
            let target = w_cubic(t + rtt, self.k, self.w_max);
            // (`max` then `min`, not `f64::clamp`, which panics on NaN.)
            let target = target.max(cwnd).min(1.5 * cwnd);
            // A stretch ACK counts once per segment it covers, but never
            // past the target.
            (cwnd + (target - cwnd) / cwnd * acked).min(target)
        };
        let growth = (new_cwnd - cwnd) * limits.mss as f64 + self.pending_bytes;
        if !growth.is_finite() {
            // Only reachable with absurd inputs: an infinite increase
            // saturates, a NaN one is dropped.
            if growth > 0.0 {
                self.window.cwnd = limits.maximum;
            }
            self.pending_bytes = 0.0;
            return;
        }
        let growth = growth.max(0.0);
        let whole = growth.floor();
        self.pending_bytes = growth - whole;
        // `as` saturates; the clamp bounds the sum.
        self.window.cwnd = limits.clamp(self.window.cwnd.saturating_add(whole as u64));
    }
}

/// CUBIC (name `"cubic"`, RFC 9438) on each path independently.
///
/// C = 0.4, β = 0.7, fast convergence on, the Reno-friendly estimate on,
/// Reno slow start, ssthresh and W_max from the flight size at a fast
/// retransmit or ECN echo (cwnd floored at the minimum window after a loss,
/// at one segment after an ECN echo, as RFC 9438 Figure 5 asks), Reno's
/// collapse to one segment on an RTO with a fresh epoch (K = 0) when
/// congestion avoidance resumes, and undo of a spurious reduction.
///
/// t runs from the congestion event, measured with the events' `now`,
/// minus application-limited pauses; the RTT in `W_cubic(t + RTT)` is the
/// path's smoothed RTT (else its minimum, else its latest, else the ACK's
/// sample, else zero).
///
/// ```
/// use umptcp_cc::{CcConfig, CongestionControl, CongestionEvent, Cubic, PathId, PathInfo};
/// use umptcp_time::Instant;
///
/// let mut cubic = Cubic::new(&CcConfig::default());
/// let path = PathInfo::new(PathId(0), 1000);
/// cubic.add_path(&path, Instant::ZERO);
/// let loss = CongestionEvent::FastRetransmit { now: Instant::ZERO, bytes_in_flight: 10_000 };
/// cubic.on_event(PathId(0), &loss, &[path]);
/// assert_eq!(cubic.window(PathId(0)), 7_000); // β = 0.7
/// ```
#[derive(Clone, Debug)]
pub struct Cubic {
    config: CcConfig,
    paths: PathTable<CubicPath>,
}

impl Cubic {
    /// Make a controller with no paths.
    pub fn new(config: &CcConfig) -> Self {
        Self {
            config: *config,
            paths: PathTable::new(),
        }
    }

    /// Return W_max of `path` in segments (0 before any congestion event),
    /// or `None` for an unknown path.
    pub fn w_max(&self, path: PathId) -> Option<f64> {
        self.paths.get(path).map(|p| p.w_max)
    }

    /// Return K of `path`'s current epoch, or `None` for an unknown path
    /// or when no congestion-avoidance epoch is running.
    pub fn k(&self, path: PathId) -> Option<Duration> {
        let p = self.paths.get(path)?;
        p.epoch_start?;
        Duration::try_from_secs_f64(p.k).ok()
    }
}

/// The RTT to use in `W_cubic(t + RTT)` for `path`.
fn path_rtt(path: PathId, paths: &[PathInfo], sample: Option<Duration>) -> Duration {
    paths
        .iter()
        .find(|p| p.id == path)
        .and_then(|p| p.smoothed_rtt.or(p.min_rtt).or(p.latest_rtt))
        .or(sample)
        .unwrap_or(Duration::ZERO)
}

impl CongestionControl for Cubic {
    fn name(&self) -> &str {
        NAME
    }

    fn add_path(&mut self, path: &PathInfo, _now: Instant) {
        self.paths
            .insert(path.id, CubicPath::new(&self.config, path.mss));
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
                now,
                bytes_acked,
                rtt,
                app_limited,
                in_recovery,
            } => {
                if bytes_acked > 0 {
                    state.window.rto_backoff = false;
                }
                // RFC 9438 §4.2: "The elapsed time t in Figure 1 MUST NOT
                // include periods during which cwnd has not been updated due
                // to application-limited behavior (see Section 5.8)." The
                // clock stops at the first application-limited ACK and the
                // epoch is shifted by the pause at the next unlimited one.
                if app_limited {
                    state.app_limited_since.get_or_insert(now);
                } else if let Some(since) = state.app_limited_since.take() {
                    state.epoch_start = state.epoch_start.map(|start| start + (now - since));
                }
                // An application-limited flow does not grow cwnd (RFC 9438
                // §5.8, RFC 7661); nor does a flow in recovery (RFC 6582).
                if in_recovery || app_limited || bytes_acked == 0 {
                    return;
                }
                if state.window.in_slow_start() {
                    // RFC 9438 §4.10: "When cwnd is no more than ssthresh,
                    // CUBIC MUST employ a slow start algorithm." RFC 5681's,
                    // here (HyStart++ is optional and not implemented); at
                    // cwnd == ssthresh, as right after a reduction, we are
                    // in congestion avoidance, as Linux is.
                    state.window.slow_start(bytes_acked);
                } else {
                    let rtt = path_rtt(path, paths, rtt);
                    state.congestion_avoidance(now, bytes_acked, rtt);
                }
            }
            // RFC 9438 §3.1: "After a window reduction in response to a
            // congestion event detected by duplicate acknowledgments (ACKs),
            // Explicit Congestion Notification-Echo (ECN-Echo (ECE)) ACKs
            // [...], CUBIC remembers the congestion window size at which it
            // received the congestion event and performs a multiplicative
            // decrease of the congestion window."
            CongestionEvent::FastRetransmit {
                now,
                bytes_in_flight,
            } => state.reduce(now, bytes_in_flight, false),
            CongestionEvent::Ecn {
                now,
                bytes_in_flight,
            } => state.reduce(now, bytes_in_flight, true),
            CongestionEvent::RecoveryExit { .. } => state.window.exit_recovery(),
            CongestionEvent::RetransmissionTimeout {
                bytes_in_flight, ..
            } => {
                // RFC 9438 §4.8: "In the case of a timeout, CUBIC follows
                // Reno to reduce cwnd [RFC5681] but sets ssthresh using
                // β_cubic (same as in Section 4.6)". A repeated RTO keeps
                // ssthresh (RFC 5681 §3.1, see `NewReno`).
                if !state.window.rto_backoff {
                    state.undo = Some(state.save());
                    let cwnd = state.cwnd_segments();
                    state.set_ssthresh(bytes_in_flight, cwnd);
                }
                state.window.collapse();
                // The next congestion-avoidance stage starts a new epoch
                // with W_max = its cwnd and K = 0 (`start_epoch`).
                state.w_max = 0.0;
                state.epoch_start = None;
                state.pending_bytes = 0.0;
                state.app_limited_since = None;
            }
            CongestionEvent::SpuriousUndo { .. } => {
                // RFC 9438 §4.9 (paraphrased): after a spurious congestion
                // event CUBIC may undo the reduction, restoring cwnd,
                // ssthresh, W_max, K and the epoch from before it.
                if let Some(saved) = state.undo.take() {
                    state.window.restore(saved.window);
                    state.w_max = saved.w_max;
                    state.cwnd_prior = saved.cwnd_prior;
                    state.epoch_start = saved.epoch_start;
                    state.cwnd_epoch = saved.cwnd_epoch;
                    state.k = saved.k;
                    state.w_est = saved.w_est;
                    state.pending_bytes = 0.0;
                    state.app_limited_since = None;
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

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;
    const P: PathId = PathId(0);

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    /// A CUBIC controller with one path of 1000-byte segments and an
    /// initial window of `iw` segments.
    fn cubic(iw: u32) -> (Cubic, [PathInfo; 1]) {
        let config = CcConfig {
            initial_window_segments: iw,
            ..CcConfig::default()
        };
        let paths = [PathInfo::new(P, MSS)];
        let mut cc = Cubic::new(&config);
        cc.add_path(&paths[0], Instant::ZERO);
        (cc, paths)
    }

    fn ack_at(now: Instant, bytes_acked: u64) -> CongestionEvent {
        CongestionEvent::Ack {
            now,
            bytes_acked,
            rtt: None,
            app_limited: false,
            in_recovery: false,
        }
    }

    fn loss_at(now: Instant, bytes_in_flight: u64) -> CongestionEvent {
        CongestionEvent::FastRetransmit {
            now,
            bytes_in_flight,
        }
    }

    #[test]
    fn k_and_w_cubic_follow_the_formulas() {
        // W_max = 100, cwnd_epoch = β * W_max = 70:
        // K = cbrt((100 - 70) / 0.4) = cbrt(75) = 4.217163326508746 s.
        let k = cubic_k(100.0, 70.0);
        assert!(close(k, 4.217_163_326_508_746));
        // W_cubic(0) = 0.4 * (-K)^3 + 100 = 0.4 * (-75) + 100 = 70.
        assert!(close(w_cubic(0.0, k, 100.0), 70.0));
        // W_cubic(2) = 0.4 * (2 - 4.217163)^3 + 100 = 0.4 * (-10.899161) + 100 = 95.640336.
        assert!(close(w_cubic(2.0, k, 100.0), 95.640_335_686_638_78));
        // W_cubic(K) = W_max: the plateau between concave and convex regions.
        assert!(close(w_cubic(k, k, 100.0), 100.0));
        // W_cubic(K + 1) = 0.4 * 1 + 100 = 100.4 (convex region).
        assert!(close(w_cubic(k + 1.0, k, 100.0), 100.4));
        // Already at W_max: K = 0; above it: still 0, never NaN.
        assert_eq!(cubic_k(10.0, 10.0), 0.0);
        assert_eq!(cubic_k(10.0, 20.0), 0.0);
        assert_eq!(cubic_k(f64::INFINITY, 0.0), 0.0);
        // α_cubic = 3 * 0.3 / 1.7 = 0.529411...
        assert!(close(ALPHA, 0.529_411_764_705_882_4));
    }

    #[test]
    fn loss_sets_w_max_k_and_beta_reduction() {
        let (mut cc, paths) = cubic(100);
        assert_eq!(cc.name(), "cubic");
        assert_eq!(cc.window(P), 100_000);
        cc.on_event(P, &loss_at(Instant::ZERO, 100_000), &paths);
        // W_max = 100 segments; ssthresh = cwnd = 0.7 * 100_000 = 70_000.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (70_000, Some(70_000)));
        assert_eq!(cc.w_max(P), Some(100.0));
        // K = cbrt(75) s = 4.217163 s.
        assert_eq!(cc.k(P).map(|k| k.as_micros()), Some(4_217_163));
    }

    #[test]
    fn cubic_growth_at_k_and_beyond() {
        let (mut cc, mut paths) = cubic(100);
        cc.on_event(P, &loss_at(Instant::ZERO, 100_000), &paths);
        // One segment acked at t = K (no RTT known: target = W_cubic(K) = 100):
        // cwnd += (100 - 70) / 70 segments = 428.571 bytes -> 70_428 (+0.571 pending).
        // W_est = 70 + 0.5294 * 1 / 70 = 70.0076 < W_cubic(K): not Reno-friendly.
        let at_k = Instant::from_nanos(4_217_163_327);
        cc.on_event(P, &ack_at(at_k, 1000), &paths);
        assert_eq!(cc.window(P), 70_428);
        // With SRTT = 1 s the target is W_cubic(K + 1) = 100.4, within
        // [70.428, 1.5 * 70.428]: cwnd += (100.4 - 70.428) / 70.428 segments
        // = 425.569 bytes, + 0.571 pending = 426.14 -> 70_854.
        paths[0].smoothed_rtt = Some(Duration::from_secs(1));
        cc.on_event(P, &ack_at(at_k, 1000), &paths);
        assert_eq!(cc.window(P), 70_854);
    }

    #[test]
    fn target_is_capped_at_one_and_a_half_windows() {
        let (mut cc, mut paths) = cubic(100);
        cc.on_event(P, &loss_at(Instant::ZERO, 100_000), &paths);
        // At t = K, W_cubic = 100 > W_est = 70 + 0.5294 * 100 / 70 = 70.76.
        // A huge RTT makes W_cubic(t + RTT) enormous; target = 1.5 * 70 = 105,
        // and a stretch ACK of 100 segments stops at the target: 105_000
        // (70 + 35 / 70 * 100 = 120 would overshoot it).
        paths[0].smoothed_rtt = Some(Duration::from_secs(1_000));
        let at_k = Instant::from_nanos(4_217_163_327);
        cc.on_event(P, &ack_at(at_k, 100_000), &paths);
        assert_eq!(cc.window(P), 105_000);
    }

    #[test]
    fn reno_friendly_region_takes_over_for_small_windows_and_short_rtt() {
        let (mut cc, mut paths) = cubic(10);
        cc.on_event(P, &loss_at(Instant::ZERO, 10_000), &paths);
        // W_max = 10, cwnd = 7 segments, K = cbrt(3 / 0.4) = 1.9574 s.
        assert_eq!(cc.window(P), 7_000);
        paths[0].smoothed_rtt = Some(Duration::from_millis(10));
        // A window of ACKs at t = 10 ms:
        // W_cubic(0.01) = 0.4 * (0.01 - 1.9574)^3 + 10 = 7.0457;
        // W_est = 7 + 0.5294 * 7 / 7 = 7.5294 > W_cubic(t): cwnd = W_est
        // = 7529.41 bytes -> 7529. (The cubic rule alone would give
        // target = W_cubic(0.02) = 7.09, i.e. only +0.09 segment.)
        cc.on_event(P, &ack_at(Instant::from_millis(10), 7_000), &paths);
        assert_eq!(cc.window(P), 7_529);
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let (mut cc, paths) = cubic(100);
        cc.on_event(P, &loss_at(Instant::ZERO, 100_000), &paths);
        // First loss: cwnd 100 >= W_max 0, so W_max = cwnd = 100.
        assert_eq!(cc.w_max(P), Some(100.0));
        cc.on_event(P, &loss_at(Instant::ZERO, 70_000), &paths);
        // cwnd 70 < W_max 100: W_max = 70 * (1 + 0.7) / 2 = 59.5;
        // ssthresh = cwnd = 0.7 * 70_000 = 49_000;
        // K = cbrt((59.5 - 49) / 0.4) = cbrt(26.25) = 2.97196 s.
        assert!(close(cc.w_max(P).unwrap(), 59.5));
        assert_eq!((cc.window(P), cc.ssthresh(P)), (49_000, Some(49_000)));
        assert_eq!(cc.k(P).map(|k| k.as_micros()), Some(2_971_960));
        cc.on_event(P, &loss_at(Instant::ZERO, 49_000), &paths);
        // cwnd 49 < 59.5: W_max = 49 * 0.85 = 41.65.
        assert!(close(cc.w_max(P).unwrap(), 41.65));
    }

    #[test]
    fn ecn_reductions_go_down_to_one_segment() {
        let (mut cc, paths) = cubic(2);
        let ecn = |flight| CongestionEvent::Ecn {
            now: Instant::ZERO,
            bytes_in_flight: flight,
        };
        cc.on_event(P, &ecn(2_000), &paths);
        // ssthresh = max(0.7 * 2000, 2 * 1000) = 2000; cwnd = max(1400, 1000).
        assert_eq!((cc.window(P), cc.ssthresh(P)), (1_400, Some(2_000)));
        cc.on_event(P, &ecn(1_400), &paths);
        // cwnd = max(0.7 * 1400 = 980, 1000) = 1000: one segment.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (1_000, Some(2_000)));
    }

    #[test]
    fn application_limited_time_does_not_age_the_cubic_curve() {
        let (mut cc, paths) = cubic(10);
        cc.on_event(P, &loss_at(Instant::ZERO, 10_000), &paths);
        // W_max 10, cwnd 7, K = 1.957 s. Application-limited from t = 0 ...
        let limited = CongestionEvent::Ack {
            now: Instant::ZERO,
            bytes_acked: 1_000,
            rtt: None,
            app_limited: true,
            in_recovery: false,
        };
        cc.on_event(P, &limited, &paths);
        assert_eq!(cc.window(P), 7_000);
        // ... to t = 10 s: the epoch moves 10 s later, so t = 0 again:
        // W_cubic(0) = 7 < W_est = 7 + 0.5294 * 1 / 7 = 7.0756: cwnd 7075.
        // (Counting the pause, t = 10 s would give target 1.5 * 7 = 10.5 and
        // cwnd = 7 + 3.5 / 7 = 7.5 segments = 7500.)
        cc.on_event(P, &ack_at(Instant::from_millis(10_000), 1_000), &paths);
        assert_eq!(cc.window(P), 7_075);
    }

    #[test]
    fn reductions_stop_at_the_minimum_window() {
        let (mut cc, paths) = cubic(2);
        cc.on_event(P, &loss_at(Instant::ZERO, 2_000), &paths);
        // ssthresh = max(0.7 * 2000, 2 * 1000) = 2000.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (2_000, Some(2_000)));
        cc.on_event(P, &loss_at(Instant::ZERO, 0), &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (2_000, Some(2_000)));
    }

    #[test]
    fn rto_collapses_then_starts_an_epoch_with_k_zero() {
        let (mut cc, paths) = cubic(10);
        let rto = CongestionEvent::RetransmissionTimeout {
            now: Instant::ZERO,
            bytes_in_flight: 10_000,
        };
        cc.on_event(P, &rto, &paths);
        // ssthresh = 0.7 * 10_000 = 7000; cwnd = 1 MSS; no epoch.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (1_000, Some(7_000)));
        assert_eq!(cc.k(P), None);
        // Slow start: 1000 -> 3000 -> 5000 -> 7000 (+min(acked, 2 MSS) each).
        for expected in [3_000, 5_000, 7_000] {
            cc.on_event(P, &ack_at(Instant::from_millis(100), 2_000), &paths);
            assert_eq!(cc.window(P), expected);
        }
        // First congestion-avoidance ACK: epoch with W_max = cwnd = 7, K = 0.
        // W_est = 7 + 0.5294 * 1 / 7 = 7.0756 > W_cubic(0) = 7: cwnd = 7075.
        cc.on_event(P, &ack_at(Instant::from_millis(200), 1_000), &paths);
        assert_eq!(cc.w_max(P), Some(7.0));
        assert_eq!(cc.k(P), Some(Duration::ZERO));
        assert_eq!(cc.window(P), 7_075);
    }

    #[test]
    fn no_growth_in_recovery_or_when_app_limited() {
        let (mut cc, paths) = cubic(10);
        cc.on_event(P, &loss_at(Instant::ZERO, 10_000), &paths);
        for (app_limited, in_recovery) in [(true, false), (false, true)] {
            let ack = CongestionEvent::Ack {
                now: Instant::from_millis(10_000),
                bytes_acked: 7_000,
                rtt: Some(Duration::from_millis(10)),
                app_limited,
                in_recovery,
            };
            cc.on_event(P, &ack, &paths);
            assert_eq!(cc.window(P), 7_000);
        }
        let exit = CongestionEvent::RecoveryExit { now: Instant::ZERO };
        cc.on_event(P, &exit, &paths);
        assert_eq!(cc.window(P), 7_000); // cwnd = ssthresh
    }

    #[test]
    fn ecn_echo_reduces_like_a_loss() {
        let (mut cc, paths) = cubic(10);
        let ecn = CongestionEvent::Ecn {
            now: Instant::ZERO,
            bytes_in_flight: 10_000,
        };
        cc.on_event(P, &ecn, &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (7_000, Some(7_000)));
        assert_eq!(cc.w_max(P), Some(10.0));
    }

    #[test]
    fn spurious_undo_restores_window_threshold_and_w_max() {
        let (mut cc, paths) = cubic(10);
        let undo = CongestionEvent::SpuriousUndo { now: Instant::ZERO };
        cc.on_event(P, &loss_at(Instant::ZERO, 10_000), &paths);
        cc.on_event(P, &loss_at(Instant::ZERO, 7_000), &paths);
        // Second loss: W_max = 7 * 0.85 = 5.95, cwnd = 4900.
        assert_eq!(cc.window(P), 4_900);
        cc.on_event(P, &undo, &paths);
        // Back to after the first loss: cwnd 7000, ssthresh 7000, W_max 10.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (7_000, Some(7_000)));
        assert_eq!(cc.w_max(P), Some(10.0));
        cc.on_event(P, &undo, &paths); // nothing left to undo
        assert_eq!(cc.window(P), 7_000);
    }

    #[test]
    fn two_paths_are_independent() {
        let paths = [
            PathInfo::new(PathId(0), 1000),
            PathInfo::new(PathId(1), 1000),
        ];
        let mut cc = Cubic::new(&CcConfig::default());
        for p in &paths {
            cc.add_path(p, Instant::ZERO);
        }
        // Drive path 1 through a loss, congestion avoidance and an RTO.
        cc.on_event(PathId(1), &loss_at(Instant::ZERO, 10_000), &paths);
        cc.on_event(PathId(1), &ack_at(Instant::from_millis(500), 7_000), &paths);
        let rto = CongestionEvent::RetransmissionTimeout {
            now: Instant::from_millis(900),
            bytes_in_flight: 7_000,
        };
        cc.on_event(PathId(1), &rto, &paths);
        assert_eq!(cc.window(PathId(1)), 1_000);
        // Path 0 is as it started.
        assert_eq!(cc.window(PathId(0)), 10_000);
        assert_eq!(cc.ssthresh(PathId(0)), None);
        assert_eq!(cc.w_max(PathId(0)), Some(0.0));
        // And path 0's own slow start is unaffected by path 1's state.
        cc.on_event(PathId(0), &ack_at(Instant::from_millis(900), 1_000), &paths);
        assert_eq!(cc.window(PathId(0)), 11_000);
        assert_eq!(cc.window(PathId(1)), 1_000);
    }
}
