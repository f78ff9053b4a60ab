//! Link configuration: what one direction of a point-to-point link does to
//! the packets put on it.

use core::time::Duration;

use crate::Error;

/// A point-to-point link between two interfaces, numbered in the order of
/// [`Simulator::connect`](crate::Simulator::connect), from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u32);

/// One direction of a link. Each direction has its own [`LinkConfig`],
/// queue, statistics and random stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// From the first endpoint given to [`Simulator::connect`](crate::Simulator::connect) to the second.
    AToB,
    /// From the second endpoint to the first.
    BToA,
}

impl Direction {
    /// Both directions, `AToB` first.
    pub const BOTH: [Direction; 2] = [Direction::AToB, Direction::BToA];

    /// Return the other direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::AToB => Direction::BToA,
            Direction::BToA => Direction::AToB,
        }
    }
}

/// The serialization rate of a link direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rate {
    /// No serialization delay and no queue: a packet leaves as it is sent.
    #[default]
    Unlimited,
    /// So many bits per second (at least 1).
    BitsPerSecond(u64),
}

impl Rate {
    /// `kbit` kilobits (10^3 bits) per second.
    pub const fn kbit(kbit: u64) -> Rate {
        Rate::BitsPerSecond(kbit.saturating_mul(1_000))
    }

    /// `mbit` megabits (10^6 bits) per second.
    pub const fn mbit(mbit: u64) -> Rate {
        Rate::BitsPerSecond(mbit.saturating_mul(1_000_000))
    }

    /// `gbit` gigabits (10^9 bits) per second.
    pub const fn gbit(gbit: u64) -> Rate {
        Rate::BitsPerSecond(gbit.saturating_mul(1_000_000_000))
    }

    /// Return the time to serialize `bytes` bytes, rounded up to the next
    /// nanosecond (zero when unlimited, saturating at `u64::MAX` ns).
    pub fn transmission_time(self, bytes: usize) -> Duration {
        match self {
            Rate::Unlimited | Rate::BitsPerSecond(0) => Duration::ZERO,
            Rate::BitsPerSecond(bps) => {
                let bits = (bytes as u128) * 8 * 1_000_000_000;
                let nanos = bits.div_ceil(u128::from(bps));
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
        }
    }
}

/// The Gilbert–Elliott two-state bursty loss model.
///
/// The link is in a good or a bad state. Each packet that leaves the link is
/// lost with the loss probability of the current state; then the state moves
/// (good → bad with `p_good_to_bad`, bad → good with `p_bad_to_good`). The
/// link starts in the good state. With `loss_good = 0` and `loss_bad = 1`,
/// bursts of loss last `1 / p_bad_to_good` packets on average and the
/// long-run loss rate is `p_good_to_bad / (p_good_to_bad + p_bad_to_good)`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct GilbertElliott {
    /// Probability per packet of moving from the good to the bad state.
    pub p_good_to_bad: f64,
    /// Probability per packet of moving from the bad to the good state.
    pub p_bad_to_good: f64,
    /// Loss probability in the good state.
    pub loss_good: f64,
    /// Loss probability in the bad state.
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// The model with these transition and loss probabilities.
    pub fn new(p_good_to_bad: f64, p_bad_to_good: f64, loss_good: f64, loss_bad: f64) -> Self {
        Self {
            p_good_to_bad,
            p_bad_to_good,
            loss_good,
            loss_bad,
        }
    }

    /// The simple Gilbert model: no loss in the good state, all lost in the
    /// bad one.
    pub fn gilbert(p_good_to_bad: f64, p_bad_to_good: f64) -> Self {
        Self::new(p_good_to_bad, p_bad_to_good, 0.0, 1.0)
    }
}

/// Reordering: some packets are held back so that later ones overtake them.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Reorder {
    /// Probability that a packet is held back.
    pub probability: f64,
    /// How long a held-back packet is delayed on top of the link delay.
    pub extra_delay: Duration,
}

impl Reorder {
    /// Hold back a packet with `probability`, for `extra_delay`.
    pub fn new(probability: f64, extra_delay: Duration) -> Self {
        Self {
            probability,
            extra_delay,
        }
    }
}

/// What one direction of a link does to packets.
///
/// A packet put on the link goes through these steps in order:
///
/// 1. dropped (`dropped_down`) if the link is not `up`;
/// 2. dropped (`dropped_mtu`) if longer than `mtu`;
/// 3. with a finite `rate`: transmitted at once if the link is idle, else
///    queued, or dropped (`dropped_queue`) if the bytes already waiting plus
///    its own would exceed `queue_limit_bytes` (drop-tail; the packet being
///    transmitted does not count). Transmission takes `len * 8 / rate`
///    seconds, rounded up to the nanosecond;
/// 4. when it has left the transmitter: dropped if the link went down
///    meanwhile, then lost by the [`GilbertElliott`] model
///    (`dropped_burst`), then by `loss` (`dropped_loss`); one random bit
///    flipped with probability `corrupt`; held back by [`Reorder`]; and
///    copied with probability `duplicate` (the copy arrives right after);
/// 5. delivered `delay` (plus any reordering delay) later.
///
/// Changes at run time apply to packets from the step they reach onwards: a
/// packet in transmission keeps its end time, queued packets stay queued.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LinkConfig {
    /// Whether the link carries packets at all.
    pub up: bool,
    /// Serialization rate.
    pub rate: Rate,
    /// Propagation delay.
    pub delay: Duration,
    /// Drop-tail limit of the bytes waiting behind the packet in transmission.
    pub queue_limit_bytes: usize,
    /// Largest packet carried, in bytes (IP header included).
    pub mtu: usize,
    /// Independent random loss probability per packet.
    pub loss: f64,
    /// Bursty loss, on top of `loss`.
    pub burst_loss: Option<GilbertElliott>,
    /// Reordering by holding packets back.
    pub reorder: Option<Reorder>,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that one random bit of a packet is flipped.
    pub corrupt: f64,
}

impl Default for LinkConfig {
    /// Up, unlimited rate, no delay, a 1 MiB queue, MTU 1500, no impairment.
    fn default() -> Self {
        Self {
            up: true,
            rate: Rate::Unlimited,
            delay: Duration::ZERO,
            queue_limit_bytes: 1 << 20,
            mtu: 1500,
            loss: 0.0,
            burst_loss: None,
            reorder: None,
            duplicate: 0.0,
            corrupt: 0.0,
        }
    }
}

impl LinkConfig {
    /// A link of `rate` and propagation `delay`, otherwise the default.
    pub fn new(rate: Rate, delay: Duration) -> Self {
        Self {
            rate,
            delay,
            ..Self::default()
        }
    }

    /// Return `self` with the random loss probability set.
    #[must_use]
    pub fn with_loss(mut self, loss: f64) -> Self {
        self.loss = loss;
        self
    }

    /// Return `self` with the drop-tail queue limit set.
    #[must_use]
    pub fn with_queue_limit(mut self, bytes: usize) -> Self {
        self.queue_limit_bytes = bytes;
        self
    }

    /// Return `self` with the MTU set.
    #[must_use]
    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// Check every field.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidProbability`] for a probability that is NaN or outside
    /// `[0, 1]`, [`Error::ZeroRate`] for a rate of 0 bit/s.
    pub fn validate(&self) -> Result<(), Error> {
        if self.rate == Rate::BitsPerSecond(0) {
            return Err(Error::ZeroRate);
        }
        check_probability("loss", self.loss)?;
        check_probability("duplicate", self.duplicate)?;
        check_probability("corrupt", self.corrupt)?;
        if let Some(ge) = &self.burst_loss {
            check_probability("burst_loss.p_good_to_bad", ge.p_good_to_bad)?;
            check_probability("burst_loss.p_bad_to_good", ge.p_bad_to_good)?;
            check_probability("burst_loss.loss_good", ge.loss_good)?;
            check_probability("burst_loss.loss_bad", ge.loss_bad)?;
        }
        if let Some(reorder) = &self.reorder {
            check_probability("reorder.probability", reorder.probability)?;
        }
        Ok(())
    }
}

/// Return an error unless `value` is in `[0, 1]` (NaN is not).
fn check_probability(field: &'static str, value: f64) -> Result<(), Error> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::InvalidProbability { field, value })
    }
}

/// Return the channel number of one direction of a link: the simulator
/// keeps both directions of link `n` at `2n` (A to B) and `2n + 1`.
pub(crate) fn channel_index(link: LinkId, dir: Direction) -> u32 {
    link.0.wrapping_mul(2)
        + match dir {
            Direction::AToB => 0,
            Direction::BToA => 1,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmission_time_is_exact_and_rounds_up() {
        assert_eq!(
            Rate::mbit(8).transmission_time(1000),
            Duration::from_millis(1)
        );
        assert_eq!(
            Rate::BitsPerSecond(3).transmission_time(1),
            Duration::from_nanos(2_666_666_667)
        );
        assert_eq!(Rate::Unlimited.transmission_time(1500), Duration::ZERO);
        assert_eq!(
            Rate::BitsPerSecond(1).transmission_time(usize::MAX),
            Duration::from_nanos(u64::MAX)
        );
    }

    #[test]
    fn validation_refuses_bad_values() {
        assert!(LinkConfig::default().validate().is_ok());
        for bad in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
            assert!(matches!(
                LinkConfig::default().with_loss(bad).validate(),
                Err(Error::InvalidProbability { field: "loss", .. })
            ));
        }
        let mut config = LinkConfig::new(Rate::BitsPerSecond(0), Duration::ZERO);
        assert!(matches!(config.validate(), Err(Error::ZeroRate)));
        config.rate = Rate::kbit(1);
        config.burst_loss = Some(GilbertElliott::gilbert(0.1, f64::NAN));
        assert!(matches!(
            config.validate(),
            Err(Error::InvalidProbability {
                field: "burst_loss.p_bad_to_good",
                ..
            })
        ));
        config.burst_loss = None;
        config.reorder = Some(Reorder::new(2.0, Duration::ZERO));
        assert!(config.validate().is_err());
    }
}
