//! Window bounds shared by the built-in controllers: the floor, the loss
//! window and the ceiling, in bytes, computed without overflow or panic.

use crate::controller::CcConfig;

/// The bounds of one path's window, derived from a [`CcConfig`] and the
/// path's MSS.
///
/// Invariant: `loss_window <= minimum <= initial <= maximum` for every
/// config: each bound is capped at `maximum` when computed, so a
/// `maximum_window` below one segment wins over all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The MSS used for the arithmetic: the path's, or 1 for a zero MSS.
    pub(crate) mss: u64,
    /// Floor after a reduction: `max(minimum_window_segments, 1) * mss`.
    pub(crate) minimum: u64,
    /// The loss window after an RTO: one segment (RFC 5681 §3.1 "LW").
    pub(crate) loss_window: u64,
    /// Ceiling: `maximum_window`.
    pub(crate) maximum: u64,
    /// Initial window: `max(initial_window_segments, 1) * mss`, bounded.
    pub(crate) initial: u64,
}

impl Limits {
    /// Compute the bounds for a path of `mss` bytes under `config`.
    pub(crate) fn new(config: &CcConfig, mss: u32) -> Self {
        let mss = u64::from(mss.max(1));
        let maximum = config.maximum_window;
        let segments = |n: u32| (u64::from(n.max(1)) * mss).min(maximum);
        Self {
            mss,
            minimum: segments(config.minimum_window_segments),
            loss_window: mss.min(maximum),
            maximum,
            initial: segments(config.initial_window_segments)
                .max(segments(config.minimum_window_segments)),
        }
    }

    /// Bound a window: at least `minimum`, at most `maximum` (`max` then
    /// `min`, which cannot panic, unlike `u64::clamp`).
    pub(crate) fn clamp(&self, window: u64) -> u64 {
        window.max(self.minimum).min(self.maximum)
    }

    /// Return `window` in segments.
    pub(crate) fn segments(&self, window: u64) -> f64 {
        window as f64 / self.mss as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_mss_and_tiny_maximum_do_not_panic() {
        let config = CcConfig {
            maximum_window: 100,
            ..CcConfig::default()
        };
        let l = Limits::new(&config, 0);
        assert_eq!(l.mss, 1);
        assert_eq!(l.minimum, 2);
        assert_eq!(l.initial, 10);
        let l = Limits::new(&config, 1460);
        // Everything capped at the 100-byte ceiling.
        assert_eq!((l.minimum, l.loss_window, l.initial), (100, 100, 100));
        assert_eq!(l.clamp(0), 100);
        assert_eq!(l.clamp(u64::MAX), 100);
    }

    #[test]
    fn default_bounds() {
        let l = Limits::new(&CcConfig::default(), 1000);
        assert_eq!(l.minimum, 2_000); // 2 segments * 1000
        assert_eq!(l.loss_window, 1_000);
        assert_eq!(l.initial, 10_000); // RFC 6928 IW10
        assert_eq!(l.clamp(u64::MAX), 1 << 30);
        assert_eq!(l.clamp(0), 2_000);
        assert_eq!(l.segments(1_500), 1.5);
    }
}
