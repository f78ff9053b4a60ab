//! [`Coupled`]: the frame shared by the Reno-family coupled algorithms
//! (LIA, OLIA, BALIA, or a researcher's own), which differ only in how a
//! path's window grows in congestion avoidance and how far it falls on a
//! loss.
//!
//! Everything else is plain Reno on each path, as RFC 6356 §3 asks of LIA
//! ("slow start, fast retransmit, and fast recovery algorithms, as well as
//! the multiplicative decrease of the congestion avoidance state are the
//! same as in standard TCP"): slow start by byte counting, the RFC 6582
//! recovery, the RTO collapse, the spurious-reduction undo, no growth on
//! application-limited ACKs. An algorithm implements [`CoupledAlgorithm`]
//! (two formulas and, if it needs them, loss and ACK hooks) and
//! `Coupled<YourAlgorithm>` is a complete [`CongestionControl`].
//!
//! Windows are in bytes; the formulas of the papers, in packets, are
//! converted with each path's MSS. Increases are fractional and kept per
//! path until they add up to whole bytes, so a window grows by the exact
//! sum of its increases, whatever the ACK sizes.

use core::fmt;
use core::time::Duration;

use umptcp_time::Instant;

use crate::controller::{CcConfig, CongestionControl, CongestionEvent, PathId, PathInfo};
use crate::path_table::PathTable;
use crate::reno::{RenoWindow, Saved};

/// One path as a coupled algorithm sees it when it decides.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PathWindow {
    /// Which path.
    pub id: PathId,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Maximum segment size in bytes (at least 1).
    pub mss: u64,
    /// Smoothed RTT, once there is a sample.
    pub rtt: Option<Duration>,
    /// The path is in slow start.
    pub in_slow_start: bool,
}

impl PathWindow {
    /// The window in segments.
    pub fn packets(&self) -> f64 {
        self.cwnd as f64 / self.mss as f64
    }

    /// The smoothed RTT in seconds, if there is one and it is not zero.
    pub fn rtt_secs(&self) -> Option<f64> {
        self.rtt.map(|r| r.as_secs_f64()).filter(|r| *r > 0.0)
    }

    /// Sending rate `cwnd / rtt` in segments per second, if the RTT is known.
    pub fn rate(&self) -> Option<f64> {
        self.rtt_secs().map(|rtt| self.packets() / rtt)
    }
}

/// A Reno-family coupled algorithm: the congestion-avoidance increase and
/// the loss decrease, seeing every path of the connection.
///
/// `paths` lists every path in id order, the one the call is for included.
/// Return values that are not finite are treated as zero (no change).
pub trait CoupledAlgorithm: Send + fmt::Debug {
    /// The name this algorithm is registered under.
    fn name(&self) -> &str;

    /// Bytes to add to `path`'s window (negative: to take off) for
    /// `bytes_acked` bytes newly acknowledged on it in congestion avoidance.
    fn increase(&mut self, path: PathId, bytes_acked: u64, paths: &[PathWindow]) -> f64;

    /// The new window (and ssthresh) of `path` after a fast retransmit or an
    /// ECN echo with `flight_size` bytes in flight. The default is Reno's
    /// `flight_size / 2` (RFC 5681 equation (4)); the result is bounded by
    /// the configured minimum and maximum windows.
    fn decrease(&mut self, path: PathId, flight_size: u64, paths: &[PathWindow]) -> u64 {
        let _ = (path, paths);
        flight_size / 2
    }

    /// `bytes_acked` bytes were newly acknowledged on `path` (in any state).
    fn on_acked(&mut self, path: PathId, bytes_acked: u64) {
        let _ = (path, bytes_acked);
    }

    /// `path` saw a congestion signal (fast retransmit, ECN, or the first
    /// RTO of a series), before its window is reduced.
    fn on_congestion(&mut self, path: PathId) {
        let _ = path;
    }

    /// A path was added.
    fn add_path(&mut self, path: PathId) {
        let _ = path;
    }

    /// A path was removed.
    fn remove_path(&mut self, path: PathId) {
        let _ = path;
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct CoupledPath {
    window: RenoWindow,
    /// Fractional bytes of increase (or decrease) not yet applied.
    carry: f64,
    /// State before the last reduction, until it is undone or superseded.
    undo: Option<Saved>,
}

/// A [`CongestionControl`] made of Reno on each path and a
/// [`CoupledAlgorithm`] for congestion avoidance and loss.
///
/// | event | effect on the path |
/// |---|---|
/// | `Ack`, slow start | `+min(acked, 2*MSS)`, as Reno |
/// | `Ack`, congestion avoidance | `+A::increase(...)` bytes, kept fractional; nothing while in recovery or app-limited |
/// | `FastRetransmit`, `Ecn` | `ssthresh = cwnd = A::decrease(...)` (bounded) |
/// | `RecoveryExit` | `cwnd = min(cwnd, ssthresh)` |
/// | `RetransmissionTimeout` | as Reno: `ssthresh = flight/2` (first RTO of a series), `cwnd = 1 MSS` |
/// | `SpuriousUndo` | back to the cwnd and ssthresh before the last reduction |
#[derive(Clone, Debug)]
pub struct Coupled<A> {
    config: CcConfig,
    algorithm: A,
    paths: PathTable<CoupledPath>,
    /// Reused for every decision: no allocation per event once it has
    /// room for every path.
    view: Vec<PathWindow>,
}

impl<A: CoupledAlgorithm> Coupled<A> {
    /// Make a controller with no paths, running `algorithm`.
    pub fn new(config: &CcConfig, algorithm: A) -> Self {
        Self {
            config: *config,
            algorithm,
            paths: PathTable::new(),
            view: Vec::new(),
        }
    }

    /// The algorithm, for inspection.
    pub fn algorithm(&self) -> &A {
        &self.algorithm
    }

    /// Rebuild `view` from the windows held and the RTTs in `paths`.
    fn refresh_view(&mut self, paths: &[PathInfo]) {
        self.view.clear();
        for (id, state) in self.paths.iter() {
            let rtt = paths
                .iter()
                .find(|p| p.id == id)
                .and_then(|p| p.smoothed_rtt);
            self.view.push(PathWindow {
                id,
                cwnd: state.window.cwnd,
                mss: state.window.limits.mss,
                rtt,
                in_slow_start: state.window.in_slow_start(),
            });
        }
    }

    fn on_ack(&mut self, path: PathId, bytes_acked: u64, grow: bool, paths: &[PathInfo]) {
        self.algorithm.on_acked(path, bytes_acked);
        let Some(state) = self.paths.get_mut(path) else {
            return;
        };
        if bytes_acked > 0 {
            state.window.rto_backoff = false;
        }
        if !grow || bytes_acked == 0 {
            return;
        }
        if state.window.in_slow_start() {
            state.window.slow_start(bytes_acked);
            return;
        }
        self.refresh_view(paths);
        let increase = self.algorithm.increase(path, bytes_acked, &self.view);
        let Some(state) = self.paths.get_mut(path) else {
            return;
        };
        if !increase.is_finite() {
            return;
        }
        state.carry += increase;
        let whole = state.carry.trunc();
        state.carry -= whole;
        if whole >= 1.0 {
            state.window.grow(whole as u64);
        } else if whole <= -1.0 {
            // A coupled decrease (OLIA moving window off a path) is not a
            // reason to slow-start again: ssthresh follows the window down.
            let cwnd = state.window.cwnd.saturating_sub((-whole) as u64);
            let cwnd = state.window.limits.clamp(cwnd);
            state.window.cwnd = cwnd;
            state.window.ssthresh = state.window.ssthresh.map(|s| s.min(cwnd));
        }
    }

    fn on_loss(&mut self, path: PathId, flight_size: u64, paths: &[PathInfo]) {
        if !self.paths.contains(path) {
            return;
        }
        self.algorithm.on_congestion(path);
        self.refresh_view(paths);
        let target = self.algorithm.decrease(path, flight_size, &self.view);
        if let Some(state) = self.paths.get_mut(path) {
            state.undo = Some(state.window.save());
            state.window.reduce_to(target);
            state.carry = 0.0;
        }
    }
}

impl<A: CoupledAlgorithm> CongestionControl for Coupled<A> {
    fn name(&self) -> &str {
        self.algorithm.name()
    }

    fn add_path(&mut self, path: &PathInfo, _now: Instant) {
        let state = CoupledPath {
            window: RenoWindow::new(&self.config, path.mss),
            carry: 0.0,
            undo: None,
        };
        self.paths.insert(path.id, state);
        self.algorithm.add_path(path.id);
    }

    fn remove_path(&mut self, path: PathId) {
        self.paths.remove(path);
        self.algorithm.remove_path(path);
    }

    fn on_event(&mut self, path: PathId, event: &CongestionEvent, paths: &[PathInfo]) {
        let Some(state) = self.paths.get_mut(path) else {
            return;
        };
        state.window.refresh_mss(&self.config, path, paths);
        match *event {
            CongestionEvent::Ack {
                bytes_acked,
                app_limited,
                in_recovery,
                ..
            } => self.on_ack(path, bytes_acked, !app_limited && !in_recovery, paths),
            // RFC 6356 §3: the multiplicative decrease is standard TCP's
            // (RFC 5681 equation (4)) unless the algorithm says otherwise
            // (BALIA does); an ECN echo counts as a loss (RFC 3168 §6.1.2).
            CongestionEvent::FastRetransmit {
                bytes_in_flight, ..
            }
            | CongestionEvent::Ecn {
                bytes_in_flight, ..
            } => self.on_loss(path, bytes_in_flight, paths),
            CongestionEvent::RecoveryExit { .. } => state.window.exit_recovery(),
            CongestionEvent::RetransmissionTimeout {
                bytes_in_flight, ..
            } => {
                // As Reno (RFC 5681 §3.1); the first RTO of a series is a
                // congestion signal for the algorithm too.
                if let Some(saved) = state.window.timeout(bytes_in_flight) {
                    state.undo = Some(saved);
                    self.algorithm.on_congestion(path);
                }
                state.carry = 0.0;
            }
            CongestionEvent::SpuriousUndo { .. } => {
                if let Some(saved) = state.undo.take() {
                    state.window.restore(saved);
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

/// The paths of `paths` with a known RTT, for sums over paths.
pub(crate) fn with_rtt(paths: &[PathWindow]) -> impl Iterator<Item = (&PathWindow, f64)> {
    paths
        .iter()
        .filter_map(|p| p.rtt_secs().map(|rtt| (p, rtt)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The MSS of every test path.
    pub(crate) const MSS: u32 = 1000;

    /// A view entry: path `id` with `cwnd` bytes and smoothed RTT `rtt`.
    pub(crate) fn path(id: u32, cwnd: u64, rtt: Duration) -> PathWindow {
        PathWindow {
            id: PathId(id),
            cwnd,
            mss: u64::from(MSS),
            rtt: Some(rtt),
            in_slow_start: false,
        }
    }

    /// An ACK of `bytes` in congestion avoidance, not app-limited.
    pub(crate) fn ack(bytes: u64) -> CongestionEvent {
        CongestionEvent::Ack {
            now: Instant::ZERO,
            bytes_acked: bytes,
            rtt: None,
            app_limited: false,
            in_recovery: false,
        }
    }

    /// Add paths `(id, rtt)` to `cc` and put each in congestion avoidance
    /// at `flight / 2` bytes by a fast retransmit with `flight` in flight.
    pub(crate) fn in_avoidance(
        cc: &mut dyn CongestionControl,
        paths: &[(u32, Duration)],
        flight: u64,
    ) -> Vec<PathInfo> {
        let infos: Vec<PathInfo> = paths
            .iter()
            .map(|&(id, rtt)| {
                let mut info = PathInfo::new(PathId(id), MSS);
                info.smoothed_rtt = Some(rtt);
                info
            })
            .collect();
        for info in &infos {
            cc.add_path(info, Instant::ZERO);
        }
        let loss = CongestionEvent::FastRetransmit {
            now: Instant::ZERO,
            bytes_in_flight: flight,
        };
        for info in &infos {
            cc.on_event(info.id, &loss, &infos);
        }
        infos
    }

    /// Adds a fixed number of bytes per ACK, or takes them off.
    #[derive(Debug)]
    struct Fixed(f64);

    impl CoupledAlgorithm for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn increase(&mut self, _: PathId, _: u64, _: &[PathWindow]) -> f64 {
            self.0
        }
        fn decrease(&mut self, _: PathId, flight: u64, _: &[PathWindow]) -> u64 {
            flight / 4
        }
    }

    #[test]
    fn fractions_add_up_and_negative_increases_shrink() {
        let mut cc = Coupled::new(&CcConfig::default(), Fixed(0.4));
        let infos = in_avoidance(&mut cc, &[(0, Duration::from_millis(5))], 40_000);
        // The decrease of the algorithm applies: 40 000 / 4.
        assert_eq!(cc.window(PathId(0)), 10_000);
        assert_eq!(cc.ssthresh(PathId(0)), Some(10_000));
        // 0.4 per ACK: 0.4, 0.8, 1.2 (one byte), 1.6 -> 0.6 + 0.4 = 1.0 ...
        // five ACKs make 2.0 bytes.
        for _ in 0..5 {
            cc.on_event(PathId(0), &ack(1000), &infos);
        }
        assert_eq!(cc.window(PathId(0)), 10_002);
        cc.algorithm.0 = -3.5;
        cc.on_event(PathId(0), &ack(1000), &infos);
        // 0.0 carried (up to float rounding) - 3.5: three bytes off now,
        // and ssthresh follows, so the path stays in congestion avoidance.
        assert_eq!(cc.window(PathId(0)), 9_999);
        assert_eq!(cc.ssthresh(PathId(0)), Some(9_999));
        // Never below the minimum window (2 segments), never NaN-driven.
        cc.algorithm.0 = -1e12;
        cc.on_event(PathId(0), &ack(1000), &infos);
        assert_eq!(cc.window(PathId(0)), 2_000);
        cc.algorithm.0 = f64::NAN;
        cc.on_event(PathId(0), &ack(1000), &infos);
        assert_eq!(cc.window(PathId(0)), 2_000);
    }

    #[test]
    fn reno_parts_apply_around_the_algorithm() {
        let mut cc = Coupled::new(&CcConfig::default(), Fixed(1e9));
        let info = PathInfo::new(PathId(0), MSS);
        cc.add_path(&info, Instant::ZERO);
        // Slow start is Reno's: +min(acked, 2 MSS), not the algorithm's.
        cc.on_event(PathId(0), &ack(5000), &[info]);
        assert_eq!(cc.window(PathId(0)), 12_000);
        // No growth while app-limited or in recovery.
        let mut limited = ack(5000);
        if let CongestionEvent::Ack { app_limited, .. } = &mut limited {
            *app_limited = true;
        }
        cc.on_event(PathId(0), &limited, &[info]);
        assert_eq!(cc.window(PathId(0)), 12_000);
        // An RTO: ssthresh flight/2, window one segment; undo restores.
        let rto = CongestionEvent::RetransmissionTimeout {
            now: Instant::ZERO,
            bytes_in_flight: 12_000,
        };
        cc.on_event(PathId(0), &rto, &[info]);
        assert_eq!(cc.window(PathId(0)), 1_000);
        assert_eq!(cc.ssthresh(PathId(0)), Some(6_000));
        cc.on_event(
            PathId(0),
            &CongestionEvent::SpuriousUndo { now: Instant::ZERO },
            &[info],
        );
        assert_eq!(cc.window(PathId(0)), 12_000);
        assert_eq!(cc.ssthresh(PathId(0)), None);
        // Unknown paths are ignored; removed paths have no window.
        cc.on_event(PathId(9), &ack(1000), &[info]);
        cc.remove_path(PathId(0));
        assert_eq!(cc.window(PathId(0)), 0);
    }
}
