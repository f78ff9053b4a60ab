//! [`Lia`]: the Linked Increases Algorithm of RFC 6356, byte-based as the
//! RFC gives it.
//!
//! RFC 6356 §3 sets three goals: do no worse than a single TCP on the best
//! path (goal 1), take no more than a single TCP from any shared bottleneck
//! (goal 2), and move traffic off the most congested paths (goal 3). It
//! meets them by coupling only the increase; the decrease is Reno's.

use crate::controller::{CcConfig, CongestionControl, CongestionControlFactory, PathId};
use crate::coupled::{Coupled, CoupledAlgorithm, PathWindow, with_rtt};

/// The name LIA is registered under.
pub const NAME: &str = "lia";

/// The LIA increase (RFC 6356 §4); build the controller with
/// [`Lia::controller`] or [`LiaFactory`].
///
/// For each ACK on path i in congestion avoidance, of `bytes_acked` bytes:
///
/// ```text
/// cwnd_i += min(alpha * bytes_acked * MSS_i / cwnd_total,
///               bytes_acked * MSS_i / cwnd_i)
///
///                      max_i(cwnd_i / rtt_i^2)
/// alpha = cwnd_total * -----------------------
///                      (sum_i(cwnd_i / rtt_i))^2
/// ```
///
/// Paths with no RTT sample yet count in `cwnd_total` but not in alpha's
/// sums. With one path, alpha is 1 and LIA is Reno.
///
/// ```
/// use core::time::Duration;
/// use umptcp_cc::{CcConfig, CongestionControl, CongestionEvent, Lia, PathId, PathInfo};
/// use umptcp_time::Instant;
///
/// let mut cc = Lia::controller(&CcConfig::default());
/// let mut paths = [PathInfo::new(PathId(0), 1000), PathInfo::new(PathId(1), 1000)];
/// for p in &mut paths {
///     p.smoothed_rtt = Some(Duration::from_millis(10));
///     cc.add_path(p, Instant::ZERO);
/// }
/// // Leave slow start on both paths: each at 10 segments after a loss of 20.
/// let loss = CongestionEvent::FastRetransmit { now: Instant::ZERO, bytes_in_flight: 20_000 };
/// cc.on_event(PathId(0), &loss, &paths);
/// cc.on_event(PathId(1), &loss, &paths);
/// // Two equal paths: alpha = 20 * (10/r^2) / (20/r)^2 = 0.5, so a window's
/// // worth of ACKs grows path 0 by alpha * MSS * cwnd_0 / cwnd_total = 250 bytes,
/// // half of what Reno would.
/// let ack = CongestionEvent::Ack {
///     now: Instant::ZERO, bytes_acked: 10_000, rtt: None, app_limited: false, in_recovery: false,
/// };
/// cc.on_event(PathId(0), &ack, &paths);
/// assert_eq!(cc.window(PathId(0)), 10_250);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lia;

impl Lia {
    /// A LIA controller for one connection.
    pub fn controller(config: &CcConfig) -> Coupled<Lia> {
        Coupled::new(config, Lia)
    }

    /// RFC 6356 §4's alpha over `paths`, or `None` while no path has an RTT.
    pub fn alpha(paths: &[PathWindow]) -> Option<f64> {
        let total: f64 = paths.iter().map(|p| p.cwnd as f64).sum();
        let best = with_rtt(paths)
            .map(|(p, rtt)| p.cwnd as f64 / (rtt * rtt))
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))?;
        let sum: f64 = with_rtt(paths).map(|(p, rtt)| p.cwnd as f64 / rtt).sum();
        let alpha = total * best / (sum * sum);
        alpha.is_finite().then_some(alpha)
    }
}

impl CoupledAlgorithm for Lia {
    fn name(&self) -> &str {
        NAME
    }

    fn increase(&mut self, path: PathId, bytes_acked: u64, paths: &[PathWindow]) -> f64 {
        let Some(me) = paths.iter().find(|p| p.id == path) else {
            return 0.0;
        };
        let acked = bytes_acked as f64;
        let mss = me.mss as f64;
        let cwnd = (me.cwnd as f64).max(1.0);
        // RFC 6356 §4: "the increase [...] is capped by the increase that
        // would be achieved by a single TCP flow on that path" (the second
        // term of the min).
        let reno = acked * mss / cwnd;
        // Before any RTT sample alpha is unknown: grow as Reno would, which
        // the cap allows anyway.
        let Some(alpha) = Self::alpha(paths) else {
            return reno;
        };
        let total: f64 = paths.iter().map(|p| p.cwnd as f64).sum::<f64>().max(1.0);
        // RFC 6356 §4: "For each ACK received on subflow i, increase cwnd_i
        // by min (alpha*bytes_acked*MSS_i/cwnd_total,
        // bytes_acked*MSS_i/cwnd_i)".
        (alpha * acked * mss / total).min(reno)
    }
}

/// Builds LIA controllers, under the name `"lia"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiaFactory;

impl CongestionControlFactory for LiaFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn build(&self, config: &CcConfig) -> Box<dyn CongestionControl> {
        Box::new(Lia::controller(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coupled::tests::{ack, in_avoidance, path};
    use core::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn alpha_of_two_equal_paths_is_one_half() {
        // cwnd 10 and 10 packets, RTT r both: total 20, max 10/r^2,
        // sum 20/r; alpha = 20 * 10/r^2 / (400/r^2) = 0.5.
        let paths = [path(0, 10_000, 10 * MS), path(1, 10_000, 10 * MS)];
        assert!((Lia::alpha(&paths).unwrap() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn alpha_worked_for_unequal_paths() {
        // Path 0: cwnd 20 000 B, rtt 0.01 s; path 1: 10 000 B, rtt 0.1 s.
        // cwnd/rtt^2: 2e8 and 1e6, max 2e8. cwnd/rtt: 2e6 and 1e5, sum
        // 2.1e6. total 30 000. alpha = 3e4 * 2e8 / 4.41e12 = 1.360544...
        let paths = [path(0, 20_000, 10 * MS), path(1, 10_000, 100 * MS)];
        let alpha = Lia::alpha(&paths).unwrap();
        assert!((alpha - 6e12 / 4.41e12).abs() < 1e-9, "{alpha}");
    }

    #[test]
    fn one_path_is_reno() {
        // alpha = c * (c/r^2) / (c/r)^2 = 1: the increase is
        // min(acked*mss/c, acked*mss/c) = 1000 * 1000 / 10 000 = 100 bytes.
        let mut lia = Lia;
        let paths = [path(0, 10_000, 10 * MS)];
        let inc = lia.increase(PathId(0), 1000, &paths);
        assert!((inc - 100.0).abs() < 1e-9, "{inc}");
    }

    #[test]
    fn the_increase_is_capped_by_reno_on_the_path() {
        // The unequal paths above: alpha = 1.3605. Path 1 (10 000 B):
        // coupled term 1.3605 * 1000 * 1000 / 30 000 = 45.35, Reno term
        // 1000 * 1000 / 10 000 = 100: 45.35. Path 0 (20 000 B): coupled
        // 45.35, Reno 50: 45.35.
        let paths = [path(0, 20_000, 10 * MS), path(1, 10_000, 100 * MS)];
        let coupled = 6e12 / 4.41e12 * 1e6 / 3e4;
        let mut lia = Lia;
        assert!((lia.increase(PathId(1), 1000, &paths) - coupled).abs() < 1e-9);
        assert!((lia.increase(PathId(0), 1000, &paths) - coupled).abs() < 1e-9);
        // A path whose cwnd is tiny against the total hits the cap: path 1
        // at 2 000 B beside 200 000 B on an RTT 10x shorter. alpha = 202 000
        // * 2e9 / (2e7 + 2e4)^2 = 1.00898..., coupled term 1.00898 * 1e6 /
        // 202 000 = 4.995, Reno term 1e6 / 2 000 = 500: the coupled one.
        // And path 0: coupled 4.995, Reno 1e6 / 200 000 = 5: coupled.
        let paths = [path(0, 200_000, 10 * MS), path(1, 2_000, 100 * MS)];
        let alpha = 202_000.0 * 2e9 / (2e7f64 + 2e4).powi(2);
        let inc = lia.increase(PathId(1), 1000, &paths);
        assert!((inc - alpha * 1e6 / 202_000.0).abs() < 1e-9, "{inc}");
        // Three equal paths but the one acked is the only one with an RTT:
        // alpha = 30 000 * (1e4/r^2) / (1e4/r)^2 = 3, coupled 3 * 1e6 / 3e4
        // = 100 = Reno 1e6 / 1e4: the cap binds exactly.
        let mut lonely = [
            path(0, 10_000, 10 * MS),
            path(1, 10_000, MS),
            path(2, 10_000, MS),
        ];
        lonely[1].rtt = None;
        lonely[2].rtt = None;
        assert!((lia.increase(PathId(0), 1000, &lonely) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn each_of_two_equal_paths_grows_a_quarter_as_fast_as_reno() {
        // Both paths at 10 000 B in congestion avoidance, RTT 10 ms: alpha
        // 0.5, so a window of ACKs on path 0 grows it by 0.5 * 10 000 *
        // 1000 / 20 000 = 250 bytes, where Reno would grow it by 1 000.
        let mut cc = Lia::controller(&CcConfig::default());
        let infos = in_avoidance(&mut cc, &[(0, 10 * MS), (1, 10 * MS)], 20_000);
        cc.on_event(PathId(0), &ack(10_000), &infos);
        assert_eq!(cc.window(PathId(0)), 10_250);
        // Then path 1 sees 10 250 + 10 000: alpha = 20 250 * (10 250/r^2)
        // / (20 250/r)^2 = 10 250 / 20 250, and a window of ACKs adds
        // alpha * 1e7 / 20 250 = 10 250e7 / 20 250^2 = 249.96 bytes: 249
        // now, the fraction kept for later.
        cc.on_event(PathId(1), &ack(10_000), &infos);
        assert_eq!(cc.window(PathId(1)), 10_249);
    }

    #[test]
    fn factory_and_name() {
        let cc = LiaFactory.build(&CcConfig::default());
        assert_eq!(cc.name(), "lia");
        assert_eq!(LiaFactory.name(), "lia");
    }
}
