//! [`Balia`]: the Balanced Linked Adaptation algorithm (Peng, Walid, Hwang
//! and Low, "Multipath TCP: analysis, design, and implementation",
//! IEEE/ACM Transactions on Networking 24(1), 2016).
//!
//! The paper shows a trade-off between friendliness and responsiveness:
//! LIA is responsive but can be unfriendly, OLIA friendly but slow to react.
//! BALIA balances the two; unlike LIA and OLIA it also couples the
//! decrease, so a path that carries less than the best path backs off more
//! on a loss.

use crate::controller::{CcConfig, CongestionControl, CongestionControlFactory, PathId};
use crate::coupled::{Coupled, CoupledAlgorithm, PathWindow, with_rtt};

/// The name BALIA is registered under.
pub const NAME: &str = "balia";

/// The BALIA increase and decrease; build the controller with
/// [`Balia::controller`] or [`BaliaFactory`].
///
/// With `x_k = w_k / rtt_k` the rate of path k (windows in packets) and
/// `alpha_r = max_k(x_k) / x_r`:
///
/// ```text
/// each ACK on path r:  w_r += x_r / (rtt_r * (sum_k x_k)^2)
///                             * (1 + alpha_r) / 2 * (4 + alpha_r) / 5
/// each loss on path r: w_r -= w_r / 2 * min(alpha_r, 1.5)
/// ```
///
/// The decrease applies to the flight size, as Reno's halving does here.
/// With one path (or the fastest one) alpha is 1 and both are Reno's.
/// Paths with no RTT sample take no part; a path without one grows and
/// shrinks as Reno.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balia;

impl Balia {
    /// A BALIA controller for one connection.
    pub fn controller(config: &CcConfig) -> Coupled<Balia> {
        Coupled::new(config, Balia)
    }

    /// `alpha_r = max_k(x_k) / x_r` for `path`, with its rate and the sum
    /// of all rates, or `None` if the path has no RTT or no window.
    fn rates(path: PathId, paths: &[PathWindow]) -> Option<(f64, f64, f64, f64)> {
        let (me, rtt) = with_rtt(paths).find(|(p, _)| p.id == path)?;
        let x_r = me.packets() / rtt;
        if x_r <= 0.0 {
            return None;
        }
        let max = with_rtt(paths)
            .map(|(p, rtt)| p.packets() / rtt)
            .fold(0.0, f64::max);
        let sum: f64 = with_rtt(paths).map(|(p, rtt)| p.packets() / rtt).sum();
        Some((max / x_r, x_r, sum, rtt))
    }

    /// The paper's `alpha_r` for `path`, if it has an RTT and a window.
    pub fn alpha(path: PathId, paths: &[PathWindow]) -> Option<f64> {
        Self::rates(path, paths).map(|(alpha, ..)| alpha)
    }
}

impl CoupledAlgorithm for Balia {
    fn name(&self) -> &str {
        NAME
    }

    fn increase(&mut self, path: PathId, bytes_acked: u64, paths: &[PathWindow]) -> f64 {
        let acked = bytes_acked as f64;
        let Some((alpha, x_r, sum, rtt)) = Self::rates(path, paths) else {
            let w = paths
                .iter()
                .find(|p| p.id == path)
                .map_or(1.0, |p| p.packets().max(1.0));
            return acked / w;
        };
        let per_packet = x_r / (rtt * sum * sum) * ((1.0 + alpha) / 2.0) * ((4.0 + alpha) / 5.0);
        acked * per_packet
    }

    fn decrease(&mut self, path: PathId, flight_size: u64, paths: &[PathWindow]) -> u64 {
        let alpha = Self::alpha(path, paths).unwrap_or(1.0);
        let flight = flight_size as f64;
        let after = flight - flight / 2.0 * alpha.min(1.5);
        // alpha >= 1, so after is between flight / 4 and flight / 2.
        after.max(0.0) as u64
    }
}

/// Builds BALIA controllers, under the name `"balia"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BaliaFactory;

impl CongestionControlFactory for BaliaFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn build(&self, config: &CcConfig) -> Box<dyn CongestionControl> {
        Box::new(Balia::controller(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CongestionEvent;
    use crate::coupled::tests::{ack, in_avoidance, path};
    use core::time::Duration;
    use umptcp_time::Instant;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn one_path_is_reno() {
        // x = w/rtt, alpha 1: x / (rtt x^2) * 1 * 1 = 1/w = 1/10 per packet
        // (100 B per 1000 acked); the loss halves.
        let paths = [path(0, 10_000, 10 * MS)];
        assert_eq!(Balia::alpha(PathId(0), &paths), Some(1.0));
        assert!((Balia.increase(PathId(0), 1000, &paths) - 100.0).abs() < 1e-9);
        assert_eq!(Balia.decrease(PathId(0), 10_000, &paths), 5_000);
    }

    #[test]
    fn worked_two_paths() {
        // Path 0: 20 packets, rtt 10 ms -> x_0 = 2 000 packets/s.
        // Path 1: 10 packets, rtt 20 ms -> x_1 = 500. Sum 2 500.
        // alpha_0 = 1, alpha_1 = 4.
        let paths = [path(0, 20_000, 10 * MS), path(1, 10_000, 20 * MS)];
        assert_eq!(Balia::alpha(PathId(0), &paths), Some(1.0));
        assert_eq!(Balia::alpha(PathId(1), &paths), Some(4.0));
        // Path 0: 2 000 / (0.01 * 6.25e6) * 1 * 1 = 0.032 per packet.
        let inc0 = Balia.increase(PathId(0), 1000, &paths);
        assert!((inc0 - 32.0).abs() < 1e-9, "{inc0}");
        // Path 1: 500 / (0.02 * 6.25e6) * (5/2) * (8/5) = 0.004 * 4
        // = 0.016 per packet.
        let inc1 = Balia.increase(PathId(1), 1000, &paths);
        assert!((inc1 - 16.0).abs() < 1e-9, "{inc1}");
        // Losses: path 0 halves (alpha 1): 10 000 -> 5 000. Path 1 (alpha
        // 4, capped at 1.5): 10 000 - 5 000 * 1.5 = 2 500.
        assert_eq!(Balia.decrease(PathId(0), 10_000, &paths), 5_000);
        assert_eq!(Balia.decrease(PathId(1), 10_000, &paths), 2_500);
    }

    #[test]
    fn alpha_between_one_and_the_cap_scales_the_decrease() {
        // x_0 = 12/0.01 = 1 200, x_1 = 10/0.01 = 1 000: alpha_1 = 1.2,
        // decrease 8 000 -> 8 000 - 4 000 * 1.2 = 3 200.
        let paths = [path(0, 12_000, 10 * MS), path(1, 10_000, 10 * MS)];
        assert_eq!(Balia.decrease(PathId(1), 8_000, &paths), 3_200);
    }

    #[test]
    fn the_controller_applies_the_coupled_decrease() {
        // Two paths in avoidance at 10 000 B, rtt 10 and 40 ms: x_0 =
        // 1 000, x_1 = 250, alpha_1 = 4. A loss on path 1 with 10 000 in
        // flight: 10 000 - 5 000 * 1.5 = 2 500.
        let mut cc = Balia::controller(&CcConfig::default());
        let infos = in_avoidance(&mut cc, &[(0, 10 * MS), (1, 40 * MS)], 20_000);
        let loss = CongestionEvent::FastRetransmit {
            now: Instant::ZERO,
            bytes_in_flight: 10_000,
        };
        cc.on_event(PathId(1), &loss, &infos);
        assert_eq!(cc.window(PathId(1)), 2_500);
        assert_eq!(cc.ssthresh(PathId(1)), Some(2_500));
        // Path 0 then: x_0 = 1 000, x_1 = 2.5/0.04 = 62.5, sum 1 062.5,
        // alpha_0 = 1: per packet 1 000 / (0.01 * 1 062.5^2) = 0.088581...;
        // 10 000 acked bytes: 885.81 -> 885 whole bytes.
        cc.on_event(PathId(0), &ack(10_000), &infos);
        assert_eq!(cc.window(PathId(0)), 10_885);
        assert_eq!(BaliaFactory.build(&CcConfig::default()).name(), "balia");
    }
}
