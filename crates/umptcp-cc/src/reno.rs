//! [`NewReno`]: RFC 5681 slow start and congestion avoidance counted in
//! bytes (RFC 3465), RFC 6582 recovery, one independent window per path.
//!
//! This is the uncoupled baseline: every path behaves as a plain TCP
//! connection would, whatever the other paths do.

use umptcp_time::Instant;

use crate::controller::{CcConfig, CongestionControl, CongestionEvent, PathId, PathInfo};
use crate::limits::Limits;
use crate::path_table::PathTable;

/// The name NewReno is registered under.
pub const NAME: &str = "reno";

/// The Reno window of one path: what NewReno keeps per path and what
/// CUBIC reuses for its slow start and its RTO handling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RenoWindow {
    /// Bounds for this path's MSS.
    pub(crate) limits: Limits,
    /// Congestion window in bytes.
    pub(crate) cwnd: u64,
    /// Slow-start threshold in bytes; `None` is infinite.
    pub(crate) ssthresh: Option<u64>,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew.
    bytes_acked: u64,
    /// An RTO fired and no new data was acknowledged since.
    pub(crate) rto_backoff: bool,
}

impl RenoWindow {
    /// Start a path at the initial window with an infinite ssthresh.
    pub(crate) fn new(config: &CcConfig, mss: u32) -> Self {
        let limits = Limits::new(config, mss);
        Self {
            limits,
            cwnd: limits.initial,
            ssthresh: None,
            bytes_acked: 0,
            rto_backoff: false,
        }
    }

    /// Take the MSS of the path from `paths`, if it is listed and changed.
    pub(crate) fn refresh_mss(&mut self, config: &CcConfig, id: PathId, paths: &[PathInfo]) {
        if let Some(info) = paths.iter().find(|p| p.id == id) {
            if u64::from(info.mss.max(1)) != self.limits.mss {
                self.limits = Limits::new(config, info.mss);
                self.cwnd = self
                    .cwnd
                    .max(self.limits.loss_window)
                    .min(self.limits.maximum);
                self.ssthresh = self.ssthresh.map(|s| self.limits.clamp(s));
            }
        }
    }

    /// Return whether the path is in slow start (cwnd below ssthresh).
    pub(crate) fn in_slow_start(&self) -> bool {
        // RFC 5681 §3.1: "The slow start algorithm is used when cwnd <
        // ssthresh, while the congestion avoidance algorithm is used when
        // cwnd > ssthresh."  (Equal: either; we pick congestion avoidance.)
        self.ssthresh.is_none_or(|s| self.cwnd < s)
    }

    /// Grow cwnd for `bytes_acked` newly acknowledged bytes in slow start.
    pub(crate) fn slow_start(&mut self, bytes_acked: u64) {
        // RFC 5681 §3.1: "During slow start, a TCP increments cwnd by at
        // most SMSS bytes for each ACK received that cumulatively
        // acknowledges new data."
        // RFC 3465 §2.2 (appropriate byte counting) relaxes this to
        // min(N, L) for N acknowledged bytes, with the limit L = 2*SMSS.
        let limit = self.limits.mss.saturating_mul(2);
        self.cwnd = self
            .limits
            .clamp(self.cwnd.saturating_add(bytes_acked.min(limit)));
    }

    /// Grow cwnd for `bytes_acked` newly acknowledged bytes in congestion
    /// avoidance: one MSS per cwnd worth of acknowledged bytes.
    fn congestion_avoidance(&mut self, bytes_acked: u64) {
        // RFC 5681 §3.1: "The RECOMMENDED way to increase cwnd during
        // congestion avoidance is to count the number of bytes that have
        // been acknowledged by ACKs for new data. [...] When the number of
        // bytes acknowledged reaches cwnd, then cwnd can be incremented by
        // up to SMSS bytes."
        self.bytes_acked = self.bytes_acked.saturating_add(bytes_acked);
        // RFC 3465 §2.1: "When bytes_acked becomes greater than or equal to
        // the value of the congestion window, bytes_acked is reduced by the
        // value of cwnd. Next, cwnd is incremented by a full-sized segment
        // (SMSS)." The carry is kept below one window, so a stretch ACK
        // cannot bank growth for later ACKs.
        if self.bytes_acked >= self.cwnd {
            self.bytes_acked = (self.bytes_acked - self.cwnd).min(self.cwnd.saturating_sub(1));
            self.cwnd = self.limits.clamp(self.cwnd.saturating_add(self.limits.mss));
        }
    }

    /// Apply an ACK: grow unless in recovery or application-limited.
    pub(crate) fn on_ack(&mut self, bytes_acked: u64, app_limited: bool, in_recovery: bool) {
        if bytes_acked > 0 {
            self.rto_backoff = false;
        }
        // RFC 6582 §3.2: during fast recovery the window is not grown by
        // new ACKs (the transport inflates and deflates what it sends).
        // RFC 7661: a window that the sender does not fill has not been
        // validated by the network, so it is not grown either.
        if in_recovery || app_limited || bytes_acked == 0 {
            return;
        }
        if self.in_slow_start() {
            self.slow_start(bytes_acked);
        } else {
            self.congestion_avoidance(bytes_acked);
        }
    }

    /// Return the ssthresh of RFC 5681 equation (4) for `flight_size`.
    pub(crate) fn halved_flight(&self, flight_size: u64) -> u64 {
        // RFC 5681 §3.1: "ssthresh = max (FlightSize / 2, 2*SMSS)  (4)"
        // (2*SMSS is the configured minimum window, 2 segments by default.)
        self.limits.clamp(flight_size / 2)
    }

    /// Set ssthresh from equation (4) and cwnd to it: the reduction of a
    /// fast retransmit and of an ECN echo.
    fn reduce(&mut self, flight_size: u64) {
        let ssthresh = self.halved_flight(flight_size);
        self.reduce_to(ssthresh);
    }

    /// Set ssthresh and cwnd to `window` (bounded): a reduction whose size
    /// the algorithm chose.
    pub(crate) fn reduce_to(&mut self, window: u64) {
        let ssthresh = self.limits.clamp(window);
        self.ssthresh = Some(ssthresh);
        self.cwnd = ssthresh;
        self.bytes_acked = 0;
    }

    /// Add `bytes` to cwnd (bounded), as a coupled increase decided.
    pub(crate) fn grow(&mut self, bytes: u64) {
        self.cwnd = self.limits.clamp(self.cwnd.saturating_add(bytes));
    }

    /// Collapse to the loss window after an RTO.
    pub(crate) fn collapse(&mut self) {
        // RFC 5681 §3.1: "upon a timeout [...] cwnd MUST be set to no more
        // than the loss window, LW, which equals 1 full-sized segment
        // (regardless of the value of IW)."
        self.cwnd = self.limits.loss_window;
        self.bytes_acked = 0;
        self.rto_backoff = true;
    }

    /// React to a retransmission timeout with `flight_size` in flight:
    /// ssthresh from equation (4) on the first RTO of a series, then the
    /// loss window. Returns the state before it when this RTO starts a
    /// series (for an undo), `None` for a repeated one.
    pub(crate) fn timeout(&mut self, flight_size: u64) -> Option<Saved> {
        // RFC 5681 §3.1: "When a TCP sender detects segment loss using the
        // retransmission timer and the given segment has not yet been
        // resent by way of the retransmission timer, the value of ssthresh
        // MUST be set to no more than the value given in equation (4)". A
        // repeated RTO of the same series keeps ssthresh (and the caller
        // keeps the undo state of the first).
        let first = (!self.rto_backoff).then(|| {
            let saved = self.save();
            self.ssthresh = Some(self.halved_flight(flight_size));
            saved
        });
        self.collapse();
        first
    }

    /// Leave recovery: deflate the window to ssthresh.
    pub(crate) fn exit_recovery(&mut self) {
        // RFC 6582 §3.2 step 3 (full acknowledgment): "Set cwnd to either
        // (1) min (ssthresh, max(FlightSize, SMSS) + SMSS) or (2) ssthresh."
        // We take (2), as a ceiling: a window below ssthresh (after an RTO
        // ended the episode, say) is not inflated by a late exit.
        if let Some(ssthresh) = self.ssthresh {
            self.cwnd = self.cwnd.min(self.limits.clamp(ssthresh));
        }
    }

    /// Undo to `saved`: the window and threshold before a reduction,
    /// keeping whatever grew since if it is larger.
    pub(crate) fn restore(&mut self, saved: Saved) {
        self.cwnd = self.limits.clamp(self.cwnd.max(saved.cwnd));
        self.ssthresh = match (self.ssthresh, saved.ssthresh) {
            (Some(now), Some(before)) => Some(now.max(before)),
            _ => None,
        };
        self.bytes_acked = 0;
        self.rto_backoff = false;
    }

    /// Return the values a spurious-reduction undo goes back to.
    pub(crate) fn save(&self) -> Saved {
        Saved {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
        }
    }
}

/// cwnd and ssthresh before a reduction, for undoing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Saved {
    cwnd: u64,
    ssthresh: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct RenoPath {
    window: RenoWindow,
    /// State before the last reduction, until it is undone or superseded.
    undo: Option<Saved>,
}

/// NewReno (name `"reno"`): RFC 5681 with byte counting (RFC 3465) and the
/// RFC 6582 recovery, on each path independently.
///
/// | event | effect on the path |
/// |---|---|
/// | `Ack` | slow start: `+min(acked, 2*MSS)`; congestion avoidance: `+MSS` per cwnd of acked bytes; nothing while in recovery or app-limited |
/// | `FastRetransmit`, `Ecn` | `ssthresh = max(flight/2, min window)`, `cwnd = ssthresh` |
/// | `RecoveryExit` | `cwnd = min(cwnd, ssthresh)` |
/// | `RetransmissionTimeout` | `ssthresh = max(flight/2, min window)` (first RTO of a series only), `cwnd = 1 MSS` |
/// | `SpuriousUndo` | back to the cwnd and ssthresh before the last reduction |
///
/// ```
/// use umptcp_cc::{CcConfig, CongestionControl, CongestionEvent, NewReno, PathId, PathInfo};
/// use umptcp_time::Instant;
///
/// let mut reno = NewReno::new(&CcConfig::default());
/// let path = PathInfo::new(PathId(0), 1000);
/// reno.add_path(&path, Instant::ZERO);
/// assert_eq!(reno.window(PathId(0)), 10_000); // IW10
/// let loss = CongestionEvent::FastRetransmit { now: Instant::ZERO, bytes_in_flight: 10_000 };
/// reno.on_event(PathId(0), &loss, &[path]);
/// assert_eq!(reno.window(PathId(0)), 5_000);
/// ```
#[derive(Clone, Debug)]
pub struct NewReno {
    config: CcConfig,
    paths: PathTable<RenoPath>,
}

impl NewReno {
    /// Make a controller with no paths.
    pub fn new(config: &CcConfig) -> Self {
        Self {
            config: *config,
            paths: PathTable::new(),
        }
    }
}

impl CongestionControl for NewReno {
    fn name(&self) -> &str {
        NAME
    }

    fn add_path(&mut self, path: &PathInfo, _now: Instant) {
        let state = RenoPath {
            window: RenoWindow::new(&self.config, path.mss),
            undo: None,
        };
        self.paths.insert(path.id, state);
    }

    fn remove_path(&mut self, path: PathId) {
        self.paths.remove(path);
    }

    fn on_event(&mut self, path: PathId, event: &CongestionEvent, paths: &[PathInfo]) {
        let Some(state) = self.paths.get_mut(path) else {
            return;
        };
        state.window.refresh_mss(&self.config, path, paths);
        let w = &mut state.window;
        match *event {
            CongestionEvent::Ack {
                bytes_acked,
                app_limited,
                in_recovery,
                ..
            } => w.on_ack(bytes_acked, app_limited, in_recovery),
            // RFC 6582 §3.2 step 2 (entering fast retransmit) applies
            // RFC 5681 §3.2 step 2: "ssthresh = max (FlightSize / 2, 2*SMSS)"
            // and we set cwnd = ssthresh without the 3*SMSS inflation,
            // which is the transport's business.
            CongestionEvent::FastRetransmit {
                bytes_in_flight, ..
            }
            // RFC 3168 §6.1.2: "The indication of congestion should be
            // treated just as a congestion loss in non-ECN-Capable TCP.
            // That is, the TCP source halves the congestion window "cwnd"
            // and reduces the slow start threshold "ssthresh"."
            | CongestionEvent::Ecn {
                bytes_in_flight, ..
            } => {
                state.undo = Some(w.save());
                w.reduce(bytes_in_flight);
            }
            CongestionEvent::RecoveryExit { .. } => w.exit_recovery(),
            CongestionEvent::RetransmissionTimeout {
                bytes_in_flight, ..
            } => {
                if let Some(saved) = w.timeout(bytes_in_flight) {
                    state.undo = Some(saved);
                }
            }
            CongestionEvent::SpuriousUndo { .. } => {
                if let Some(saved) = state.undo.take() {
                    w.restore(saved);
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

    fn reno() -> (NewReno, [PathInfo; 1]) {
        let paths = [PathInfo::new(P, MSS)];
        let mut cc = NewReno::new(&CcConfig::default());
        cc.add_path(&paths[0], Instant::ZERO);
        (cc, paths)
    }

    fn ack(bytes_acked: u64) -> CongestionEvent {
        CongestionEvent::Ack {
            now: Instant::ZERO,
            bytes_acked,
            rtt: None,
            app_limited: false,
            in_recovery: false,
        }
    }

    fn fast_retransmit(bytes_in_flight: u64) -> CongestionEvent {
        CongestionEvent::FastRetransmit {
            now: Instant::ZERO,
            bytes_in_flight,
        }
    }

    #[test]
    fn starts_at_iw10_with_infinite_ssthresh() {
        let (cc, _) = reno();
        assert_eq!(cc.name(), "reno");
        assert_eq!(cc.window(P), 10_000); // 10 segments * 1000
        assert_eq!(cc.ssthresh(P), None);
    }

    #[test]
    fn slow_start_counts_bytes_up_to_two_segments_per_ack() {
        let (mut cc, paths) = reno();
        cc.on_event(P, &ack(1000), &paths);
        assert_eq!(cc.window(P), 11_000); // 10_000 + min(1000, 2*1000)
        cc.on_event(P, &ack(5000), &paths);
        assert_eq!(cc.window(P), 13_000); // 11_000 + min(5000, 2000)
        cc.on_event(P, &ack(500), &paths);
        assert_eq!(cc.window(P), 13_500); // 13_000 + min(500, 2000)
    }

    #[test]
    fn congestion_avoidance_adds_one_mss_per_window_of_acked_bytes() {
        let (mut cc, paths) = reno();
        cc.on_event(P, &fast_retransmit(20_000), &paths);
        cc.on_event(
            P,
            &CongestionEvent::RecoveryExit { now: Instant::ZERO },
            &paths,
        );
        // ssthresh = max(20_000 / 2, 2 * 1000) = 10_000 = cwnd: congestion avoidance.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (10_000, Some(10_000)));
        for _ in 0..9 {
            cc.on_event(P, &ack(1000), &paths);
        }
        assert_eq!(cc.window(P), 10_000); // 9_000 acked < cwnd 10_000
        cc.on_event(P, &ack(1000), &paths);
        assert_eq!(cc.window(P), 11_000); // 10_000 acked = cwnd: +1 MSS
        for _ in 0..10 {
            cc.on_event(P, &ack(1000), &paths);
        }
        assert_eq!(cc.window(P), 11_000); // 10_000 acked < cwnd 11_000
        cc.on_event(P, &ack(1000), &paths);
        assert_eq!(cc.window(P), 12_000); // 11_000 acked = cwnd: +1 MSS
        // A stretch ACK of ten windows still adds one MSS only.
        cc.on_event(P, &ack(120_000), &paths);
        assert_eq!(cc.window(P), 13_000);
    }

    #[test]
    fn fast_retransmit_halves_flight_size_with_a_two_segment_floor() {
        let (mut cc, paths) = reno();
        cc.on_event(P, &fast_retransmit(10_000), &paths);
        // ssthresh = max(10_000 / 2, 2 * 1000) = 5000; cwnd = ssthresh.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (5_000, Some(5_000)));
        cc.on_event(P, &fast_retransmit(3_000), &paths);
        // max(3000 / 2, 2000) = 2000.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (2_000, Some(2_000)));
        cc.on_event(P, &fast_retransmit(0), &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (2_000, Some(2_000)));
    }

    #[test]
    fn ecn_echo_reduces_like_a_fast_retransmit() {
        let (mut cc, paths) = reno();
        let ecn = CongestionEvent::Ecn {
            now: Instant::ZERO,
            bytes_in_flight: 8_000,
        };
        cc.on_event(P, &ecn, &paths);
        // max(8000 / 2, 2000) = 4000.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (4_000, Some(4_000)));
    }

    #[test]
    fn rto_collapses_to_one_mss_and_holds_ssthresh_while_backing_off() {
        let (mut cc, paths) = reno();
        let rto = |flight| CongestionEvent::RetransmissionTimeout {
            now: Instant::ZERO,
            bytes_in_flight: flight,
        };
        cc.on_event(P, &rto(8_000), &paths);
        // ssthresh = max(8000 / 2, 2000) = 4000; cwnd = LW = 1 MSS.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (1_000, Some(4_000)));
        cc.on_event(P, &rto(1_000), &paths);
        // Same segment timed out again: ssthresh held at 4000.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (1_000, Some(4_000)));
        cc.on_event(P, &ack(1_000), &paths);
        assert_eq!(cc.window(P), 2_000); // slow start: 1000 + min(1000, 2000)
        cc.on_event(P, &rto(2_000), &paths);
        // A new series: max(2000 / 2, 2000) = 2000.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (1_000, Some(2_000)));
    }

    #[test]
    fn no_growth_in_recovery_or_when_app_limited() {
        let (mut cc, paths) = reno();
        for (app_limited, in_recovery) in [(true, false), (false, true), (true, true)] {
            let event = CongestionEvent::Ack {
                now: Instant::ZERO,
                bytes_acked: 1000,
                rtt: None,
                app_limited,
                in_recovery,
            };
            cc.on_event(P, &event, &paths);
            assert_eq!(cc.window(P), 10_000);
        }
        cc.on_event(P, &ack(0), &paths);
        assert_eq!(cc.window(P), 10_000);
    }

    #[test]
    fn recovery_exit_sets_cwnd_to_ssthresh() {
        let (mut cc, paths) = reno();
        let exit = CongestionEvent::RecoveryExit { now: Instant::ZERO };
        cc.on_event(P, &exit, &paths);
        assert_eq!(cc.window(P), 10_000); // no ssthresh yet: unchanged
        cc.on_event(P, &fast_retransmit(12_000), &paths);
        cc.on_event(
            P,
            &CongestionEvent::SpuriousUndo { now: Instant::ZERO },
            &paths,
        );
        // Undone: cwnd 10_000, ssthresh infinite again.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (10_000, None));
        cc.on_event(P, &fast_retransmit(12_000), &paths);
        assert_eq!(cc.window(P), 6_000); // max(12_000 / 2, 2000)
        // A transport that does not flag its recovery ACKs lets cwnd grow
        // (congestion avoidance: 6000 acked = cwnd, +1 MSS) ...
        cc.on_event(P, &ack(6_000), &paths);
        assert_eq!(cc.window(P), 7_000);
        // ... and the exit deflates it back to ssthresh.
        cc.on_event(P, &exit, &paths);
        assert_eq!(cc.window(P), 6_000);
        // After an RTO (cwnd 1 MSS, ssthresh 3000) a late exit inflates nothing.
        let rto = CongestionEvent::RetransmissionTimeout {
            now: Instant::ZERO,
            bytes_in_flight: 6_000,
        };
        cc.on_event(P, &rto, &paths);
        cc.on_event(P, &exit, &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (1_000, Some(3_000)));
    }

    #[test]
    fn spurious_undo_restores_the_state_before_the_last_reduction() {
        let (mut cc, paths) = reno();
        let undo = CongestionEvent::SpuriousUndo { now: Instant::ZERO };
        cc.on_event(P, &undo, &paths); // nothing to undo
        assert_eq!((cc.window(P), cc.ssthresh(P)), (10_000, None));
        cc.on_event(P, &fast_retransmit(10_000), &paths); // 5000 / 5000
        cc.on_event(P, &fast_retransmit(5_000), &paths); // 2500 / 2500
        cc.on_event(P, &undo, &paths);
        // Back to before the last reduction only.
        assert_eq!((cc.window(P), cc.ssthresh(P)), (5_000, Some(5_000)));
        cc.on_event(P, &undo, &paths); // already undone: no change
        assert_eq!((cc.window(P), cc.ssthresh(P)), (5_000, Some(5_000)));
        let rto = CongestionEvent::RetransmissionTimeout {
            now: Instant::ZERO,
            bytes_in_flight: 5_000,
        };
        cc.on_event(P, &rto, &paths); // 1000 / max(2500, 2000)
        assert_eq!((cc.window(P), cc.ssthresh(P)), (1_000, Some(2_500)));
        cc.on_event(P, &undo, &paths);
        assert_eq!((cc.window(P), cc.ssthresh(P)), (5_000, Some(5_000)));
    }

    #[test]
    fn paths_are_independent_and_unknown_paths_are_ignored() {
        let paths = [
            PathInfo::new(PathId(0), 1000),
            PathInfo::new(PathId(1), 500),
        ];
        let mut cc = NewReno::new(&CcConfig::default());
        for p in &paths {
            cc.add_path(p, Instant::ZERO);
        }
        cc.on_event(PathId(1), &fast_retransmit(5_000), &paths);
        assert_eq!(cc.window(PathId(0)), 10_000);
        assert_eq!(cc.ssthresh(PathId(0)), None);
        assert_eq!(cc.window(PathId(1)), 2_500); // max(5000 / 2, 2 * 500)
        cc.on_event(PathId(9), &fast_retransmit(5_000), &paths);
        assert_eq!(cc.window(PathId(9)), 0);
        cc.remove_path(PathId(1));
        assert_eq!(cc.window(PathId(1)), 0);
        assert_eq!(cc.window(PathId(0)), 10_000);
    }

    #[test]
    fn zero_mss_is_treated_as_one_byte() {
        let paths = [PathInfo::new(P, 0)];
        let mut cc = NewReno::new(&CcConfig::default());
        cc.add_path(&paths[0], Instant::ZERO);
        assert_eq!(cc.window(P), 10); // 10 segments of 1 byte
        cc.on_event(P, &ack(u64::MAX), &paths);
        assert_eq!(cc.window(P), 12); // + min(N, 2 * 1)
    }

    #[test]
    fn window_saturates_at_the_maximum() {
        let config = CcConfig {
            maximum_window: 10_500,
            ..CcConfig::default()
        };
        let paths = [PathInfo::new(P, MSS)];
        let mut cc = NewReno::new(&config);
        cc.add_path(&paths[0], Instant::ZERO);
        cc.on_event(P, &ack(2_000), &paths);
        assert_eq!(cc.window(P), 10_500); // 12_000 capped
    }
}
