//! Time for the sans-I/O core: an [`Instant`] that nobody reads from a clock.
//!
//! `std::time::Instant` cannot be built from a number, so a simulator could
//! not start its virtual clock at zero, and a replayed run would not see the
//! same values. This `Instant` is a count of nanoseconds since an epoch the
//! driver chooses: the TUN driver takes "when the stack started", the
//! simulator takes zero. Intervals are `core::time::Duration`.
//!
//! ```
//! use core::time::Duration;
//! use umptcp_time::Instant;
//!
//! let start = Instant::ZERO;
//! let later = start + Duration::from_millis(200);
//! assert_eq!(later - start, Duration::from_millis(200));
//! assert_eq!(later.saturating_duration_since(later + Duration::from_secs(1)), Duration::ZERO);
//! ```

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in time: nanoseconds since the driver's epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);
    /// The latest representable instant (about 584 years after the epoch);
    /// additions saturate here instead of overflowing.
    pub const MAX: Instant = Instant(u64::MAX);

    /// Build an instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// Build an instant `micros` microseconds after the epoch (saturating).
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros.saturating_mul(1_000))
    }

    /// Build an instant `millis` milliseconds after the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1_000_000))
    }

    /// Return the nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Return the time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Return `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Return `self - earlier`, or `None` if `earlier` is later.
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_nanos)
    }

    /// Return `self + d`, saturating at [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_nanos(d)))
    }
}

/// Nanoseconds of a duration, saturating at `u64::MAX` (584 years).
fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::MAX`] rather than overflowing.
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero when `rhs` is later, like
    /// `std::time::Instant::saturating_duration_since`.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(Instant::ZERO - Instant::from_millis(5), Duration::ZERO);
        assert_eq!(Instant::ZERO + Duration::MAX, Instant::MAX);
        assert_eq!(Instant::from_micros(u64::MAX), Instant::MAX);
    }

    #[test]
    fn units_agree() {
        assert_eq!(Instant::from_millis(3), Instant::from_micros(3_000));
        assert_eq!(Instant::from_micros(3), Instant::from_nanos(3_000));
        assert_eq!(
            Instant::from_millis(1500).since_epoch(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            Instant::from_millis(2).checked_duration_since(Instant::from_millis(3)),
            None
        );
        assert_eq!(format!("{:?}", Instant::from_millis(1500)), "1.500000000s");
    }
}
