//! [`Olia`]: the Opportunistic Linked Increases Algorithm (Khalili, Gast,
//! Popovic and Le Boudec, "MPTCP is not Pareto-optimal: performance issues
//! and a possible solution", CoNEXT 2012 and IEEE/ACM ToN 2013).
//!
//! LIA can take more than its share from a shared bottleneck and leave an
//! uncongested path underused (it is not Pareto-optimal). OLIA replaces
//! LIA's increase with a term that is optimal for resource pooling, plus a
//! term that moves window from the paths with the largest windows to the
//! paths that look best but have less window, which keeps it responsive.
//! The decrease is Reno's.

use crate::controller::{CcConfig, CongestionControl, CongestionControlFactory, PathId};
use crate::coupled::{Coupled, CoupledAlgorithm, PathWindow, with_rtt};
use crate::path_table::PathTable;

/// The name OLIA is registered under.
pub const NAME: &str = "olia";

/// Relative tolerance for "equal" when forming the sets of OLIA.
const TIE: f64 = 1e-9;

/// Bytes acknowledged on a path around its losses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct InterLoss {
    /// Bytes acknowledged between the last two losses (`l1` of the paper).
    between_last_two: u64,
    /// Bytes acknowledged since the last loss (`l2` of the paper).
    since_last: u64,
}

impl InterLoss {
    /// The paper's `l_r = max(l1_r, l2_r)`.
    fn distance(&self) -> u64 {
        self.between_last_two.max(self.since_last)
    }
}

/// The OLIA increase; build the controller with [`Olia::controller`] or
/// [`OliaFactory`].
///
/// For each ACK on path r in congestion avoidance, windows `w` in packets,
/// the increase in packets per acknowledged packet is
///
/// ```text
///  w_r / rtt_r^2             alpha_r
/// ------------------------ + -------
/// (sum_p w_p / rtt_p)^2        w_r
/// ```
///
/// With `l_p` the larger of the bytes acknowledged between the path's last
/// two losses and since its last loss, the best paths `B` are those with
/// the largest `l_p / rtt_p^2`, `M` those with the largest window, and `n`
/// the number of paths:
///
/// - `alpha_r = 1 / (n * |B \ M|)` for r in `B \ M`;
/// - `alpha_r = -1 / (n * |M|)` for r in `M` when `B \ M` is not empty;
/// - `alpha_r = 0` otherwise.
///
/// The sum of the alphas is zero: window moves, it is not created. Paths
/// with no RTT sample take no part. With one path OLIA is Reno.
#[derive(Clone, Debug, Default)]
pub struct Olia {
    losses: PathTable<InterLoss>,
}

impl Olia {
    /// An OLIA controller for one connection.
    pub fn controller(config: &CcConfig) -> Coupled<Olia> {
        Coupled::new(config, Olia::default())
    }

    /// The paper's `alpha_r` for `path` among `paths`.
    pub fn alpha(&self, path: PathId, paths: &[PathWindow]) -> f64 {
        let n = with_rtt(paths).count();
        if n == 0 {
            return 0.0;
        }
        let quality = |p: &PathWindow, rtt: f64| {
            let l = self.losses.get(p.id).map_or(0, InterLoss::distance) as f64;
            l / (rtt * rtt)
        };
        let tied = |a: f64, b: f64| (a - b).abs() <= TIE * a.abs().max(b.abs());
        let max_window = with_rtt(paths)
            .map(|(p, _)| p.packets())
            .fold(0.0, f64::max);
        let best = with_rtt(paths)
            .map(|(p, rtt)| quality(p, rtt))
            .fold(0.0, f64::max);
        let in_m = |p: &PathWindow| tied(p.packets(), max_window);
        let in_b = |p: &PathWindow, rtt: f64| tied(quality(p, rtt), best);
        let m = with_rtt(paths).filter(|(p, _)| in_m(p)).count();
        let b_not_m = with_rtt(paths)
            .filter(|&(p, rtt)| in_b(p, rtt) && !in_m(p))
            .count();
        let Some((me, rtt)) = with_rtt(paths).find(|(p, _)| p.id == path) else {
            return 0.0;
        };
        if b_not_m == 0 {
            0.0
        } else if in_b(me, rtt) && !in_m(me) {
            1.0 / (n * b_not_m) as f64
        } else if in_m(me) {
            -1.0 / (n * m) as f64
        } else {
            0.0
        }
    }
}

impl CoupledAlgorithm for Olia {
    fn name(&self) -> &str {
        NAME
    }

    fn increase(&mut self, path: PathId, bytes_acked: u64, paths: &[PathWindow]) -> f64 {
        let Some(me) = paths.iter().find(|p| p.id == path) else {
            return 0.0;
        };
        let w = me.packets().max(1.0);
        let acked = bytes_acked as f64;
        let Some(rtt) = me.rtt_secs() else {
            // No RTT yet: Reno's 1/w per packet.
            return acked / w;
        };
        let rates: f64 = with_rtt(paths).map(|(p, rtt)| p.packets() / rtt).sum();
        let pooling = (w / (rtt * rtt)) / (rates * rates);
        let per_packet = pooling + self.alpha(path, paths) / w;
        // Per acknowledged packet, in packets; bytes_acked / mss packets
        // each adding per_packet * mss bytes.
        acked * per_packet
    }

    fn on_acked(&mut self, path: PathId, bytes_acked: u64) {
        if let Some(l) = self.losses.get_mut(path) {
            l.since_last = l.since_last.saturating_add(bytes_acked);
        }
    }

    fn on_congestion(&mut self, path: PathId) {
        // The kernel module shifts the distances only if bytes were
        // acknowledged since the last loss: back-to-back signals of one
        // episode count once.
        if let Some(l) = self.losses.get_mut(path) {
            if l.since_last > 0 {
                l.between_last_two = l.since_last;
                l.since_last = 0;
            }
        }
    }

    fn add_path(&mut self, path: PathId) {
        self.losses.insert(path, InterLoss::default());
    }

    fn remove_path(&mut self, path: PathId) {
        self.losses.remove(path);
    }
}

/// Builds OLIA controllers, under the name `"olia"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OliaFactory;

impl CongestionControlFactory for OliaFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn build(&self, config: &CcConfig) -> Box<dyn CongestionControl> {
        Box::new(Olia::controller(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coupled::tests::{ack, in_avoidance, path};
    use core::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    fn olia_with(paths: &[PathWindow], losses: &[(u64, u64)]) -> Olia {
        let mut olia = Olia::default();
        for (p, &(between, since)) in paths.iter().zip(losses) {
            olia.add_path(p.id);
            olia.on_acked(p.id, between);
            olia.on_congestion(p.id);
            olia.on_acked(p.id, since);
        }
        olia
    }

    #[test]
    fn inter_loss_distances_follow_the_losses() {
        let mut olia = Olia::default();
        olia.add_path(PathId(0));
        olia.on_acked(PathId(0), 5000);
        olia.on_congestion(PathId(0));
        olia.on_congestion(PathId(0)); // same episode: nothing shifts
        olia.on_acked(PathId(0), 2000);
        let l = *olia.losses.get(PathId(0)).unwrap();
        assert_eq!(
            (l.between_last_two, l.since_last, l.distance()),
            (5000, 2000, 5000)
        );
        olia.on_acked(PathId(0), 4000);
        assert_eq!(olia.losses.get(PathId(0)).unwrap().distance(), 6000);
        olia.on_congestion(PathId(0));
        let l = *olia.losses.get(PathId(0)).unwrap();
        assert_eq!((l.between_last_two, l.since_last), (6000, 0));
    }

    #[test]
    fn one_path_is_reno() {
        // n = 1: B \ M is empty (the one path has the max window), alpha 0.
        // w/rtt^2 / (w/rtt)^2 = 1/w = 1/10 packet per packet: 1000 acked
        // bytes add 100 bytes.
        let paths = [path(0, 10_000, 10 * MS)];
        let mut olia = olia_with(&paths, &[(50_000, 0)]);
        assert_eq!(olia.alpha(PathId(0), &paths), 0.0);
        assert!((olia.increase(PathId(0), 1000, &paths) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn window_moves_from_the_largest_to_the_best() {
        // Path 0: 20 packets, rtt 10 ms, l = 10 000 B -> l/rtt^2 = 1e8.
        // Path 1: 10 packets, rtt 10 ms, l = 40 000 B -> 4e8: the best.
        // M = {0}, B = {1}, B \ M = {1}, n = 2.
        // alpha_1 = 1 / (2 * 1) = 0.5, alpha_0 = -1 / (2 * 1) = -0.5.
        let paths = [path(0, 20_000, 10 * MS), path(1, 10_000, 10 * MS)];
        let mut olia = olia_with(&paths, &[(10_000, 0), (40_000, 0)]);
        assert_eq!(olia.alpha(PathId(0), &paths), -0.5);
        assert_eq!(olia.alpha(PathId(1), &paths), 0.5);
        // sum w/rtt = (20 + 10) / 0.01 = 3 000 packets/s.
        // Path 1: (10 / 1e-4) / 9e6 = 1/90, + 0.5 / 10 = 0.05
        //   -> 0.061111 packets per packet; 1000 bytes acked: 61.111 B.
        let inc1 = olia.increase(PathId(1), 1000, &paths);
        assert!((inc1 - 1000.0 * (1.0 / 90.0 + 0.05)).abs() < 1e-9, "{inc1}");
        // Path 0: (20 / 1e-4) / 9e6 = 1/45, - 0.5 / 20 = -0.025
        //   -> -0.002778 per packet: it shrinks, by 2.778 B per 1000 acked.
        let inc0 = olia.increase(PathId(0), 1000, &paths);
        assert!(
            (inc0 - 1000.0 * (1.0 / 45.0 - 0.025)).abs() < 1e-9,
            "{inc0}"
        );
        assert!(inc0 < 0.0);
    }

    #[test]
    fn when_the_best_path_has_the_largest_window_alpha_is_zero() {
        // Path 0 both largest and best: B \ M empty, every alpha 0; the
        // increase is the pooling term alone: path 1 (10 packets, 10 ms)
        // gets (10/1e-4) / (3 000)^2 = 1/90 per packet.
        let paths = [path(0, 20_000, 10 * MS), path(1, 10_000, 10 * MS)];
        let mut olia = olia_with(&paths, &[(80_000, 0), (40_000, 0)]);
        assert_eq!(olia.alpha(PathId(0), &paths), 0.0);
        assert_eq!(olia.alpha(PathId(1), &paths), 0.0);
        let inc1 = olia.increase(PathId(1), 900, &paths);
        assert!((inc1 - 900.0 / 90.0).abs() < 1e-9);
    }

    #[test]
    fn ties_share_alpha() {
        // Three paths, n = 3. Path 0 has the max window (30 packets).
        // Paths 1 and 2 tie for best (l/rtt^2 equal: 40 000 / (0.01)^2 and
        // 160 000 / (0.02)^2, both 4e8): B \ M = {1, 2}, alpha = 1/(3*2).
        let paths = [
            path(0, 30_000, 10 * MS),
            path(1, 10_000, 10 * MS),
            path(2, 10_000, 20 * MS),
        ];
        let olia = olia_with(&paths, &[(1000, 0), (40_000, 0), (0, 160_000)]);
        assert!((olia.alpha(PathId(1), &paths) - 1.0 / 6.0).abs() < 1e-12);
        assert!((olia.alpha(PathId(2), &paths) - 1.0 / 6.0).abs() < 1e-12);
        assert!((olia.alpha(PathId(0), &paths) + 1.0 / 3.0).abs() < 1e-12);
        let sum: f64 = (0..3).map(|i| olia.alpha(PathId(i), &paths)).sum();
        assert!(sum.abs() < 1e-12, "window is moved, not created");
    }

    #[test]
    fn the_controller_counts_losses_itself() {
        // Two equal paths after one loss each: windows 10 000 and 10 000,
        // l = 0 both (nothing acknowledged before the loss): both in M,
        // B \ M empty, alpha 0. The pooling term per packet is
        // (10/1e-4) / (2 000)^2 = 1/40: 10 000 acked bytes add 250.
        let mut cc = Olia::controller(&CcConfig::default());
        let infos = in_avoidance(&mut cc, &[(0, 10 * MS), (1, 10 * MS)], 20_000);
        cc.on_event(PathId(0), &ack(10_000), &infos);
        assert_eq!(cc.window(PathId(0)), 10_250);
        assert_eq!(cc.name(), "olia");
        assert_eq!(OliaFactory.build(&CcConfig::default()).name(), "olia");
    }
}
