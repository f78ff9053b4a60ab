//! A seeded impairment layer between the stack and its devices: loss,
//! delay, reordering and duplication, each direction on its own random
//! stream so a run replays exactly from its seed (given the same packets).
//!
//! It is sans-I/O like the core: packets and `now` in, packets due out.
//! Delayed packets wait in a queue bounded by [`MAX_HELD_PACKETS`]; beyond
//! it a packet is dropped, as a full router queue would.

use std::collections::BinaryHeap;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use umptcp_time::Instant;

/// Most packets held back (delayed or reordered) per direction.
pub const MAX_HELD_PACKETS: usize = 65_536;

/// What to do to packets crossing a device, in each direction. All off by
/// default.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Impairment {
    /// Probability in `[0, 1]` that a packet is dropped.
    pub loss: f64,
    /// Added one-way delay.
    pub delay: Duration,
    /// Probability in `[0, 1]` that a packet is held back by
    /// `reorder_delay` more, so later packets overtake it.
    pub reorder: f64,
    /// How long a reordered packet is held back (beyond `delay`).
    pub reorder_delay: Duration,
    /// Probability in `[0, 1]` that a packet is delivered twice.
    pub duplicate: f64,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            loss: 0.0,
            delay: Duration::ZERO,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            duplicate: 0.0,
        }
    }
}

impl Impairment {
    /// Whether any impairment is on.
    pub fn is_active(&self) -> bool {
        self.loss > 0.0 || !self.delay.is_zero() || self.reorder > 0.0 || self.duplicate > 0.0
    }

    /// Check that the probabilities are probabilities.
    ///
    /// # Errors
    ///
    /// A message naming the field out of range.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("loss", self.loss),
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("impairment {name} must be in [0, 1], got {p}"));
            }
        }
        Ok(())
    }
}

/// A packet waiting for its release time. Ordered so the heap pops the
/// earliest first, and packets due at the same time in arrival order.
#[derive(Debug)]
struct Held {
    due: Instant,
    order: u64,
    device: usize,
    packet: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (other.due, other.order).cmp(&(self.due, self.order))
    }
}

/// What [`Impairer::admit`] decided for one packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver now (no delay configured and not reordered); deliver it
    /// twice if `duplicate`.
    Now {
        /// Deliver a second copy too.
        duplicate: bool,
    },
    /// Held back; it comes out of [`Impairer::pop_due`] later.
    Held,
    /// Dropped.
    Dropped,
}

/// One direction's impairment state.
#[derive(Debug)]
pub struct Impairer {
    config: Impairment,
    rng: ChaCha8Rng,
    held: BinaryHeap<Held>,
    order: u64,
    /// Packets dropped by `loss`.
    pub dropped: u64,
    /// Packets dropped because the hold queue was full.
    pub overflowed: u64,
    /// Extra copies made by `duplicate`.
    pub duplicated: u64,
    /// Packets held back by `reorder`.
    pub reordered: u64,
}

impl Impairer {
    /// An impairer seeded with `seed`.
    pub fn new(config: Impairment, seed: u64) -> Self {
        Impairer {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            held: BinaryHeap::new(),
            order: 0,
            dropped: 0,
            overflowed: 0,
            duplicated: 0,
            reordered: 0,
        }
    }

    /// Whether this direction does anything at all.
    pub fn is_active(&self) -> bool {
        self.config.is_active()
    }

    fn chance(&mut self, p: f64) -> bool {
        // 53 random bits make a uniform float in [0, 1).
        p > 0.0 && ((self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// Decide the fate of `packet` bound for `device` at `now`. When the
    /// verdict is [`Verdict::Held`] the impairer keeps the packet (and a
    /// duplicate if one was drawn); otherwise the caller keeps it.
    pub fn admit(&mut self, now: Instant, device: usize, packet: &[u8]) -> Verdict {
        if self.chance(self.config.loss) {
            self.dropped += 1;
            return Verdict::Dropped;
        }
        let duplicate = self.chance(self.config.duplicate);
        if duplicate {
            self.duplicated += 1;
        }
        let mut delay = self.config.delay;
        if self.chance(self.config.reorder) {
            self.reordered += 1;
            delay += self.config.reorder_delay;
        }
        if delay.is_zero() {
            return Verdict::Now { duplicate };
        }
        let copies = if duplicate { 2 } else { 1 };
        for _ in 0..copies {
            if self.held.len() >= MAX_HELD_PACKETS {
                self.overflowed += 1;
                continue;
            }
            self.order += 1;
            self.held.push(Held {
                due: now + delay,
                order: self.order,
                device,
                packet: packet.to_vec(),
            });
        }
        Verdict::Held
    }

    /// When the next held packet is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.held.peek().map(|h| h.due)
    }

    /// Take one packet due at or before `now`: its device and bytes.
    pub fn pop_due(&mut self, now: Instant) -> Option<(usize, Vec<u8>)> {
        if self.held.peek()?.due > now {
            return None;
        }
        self.held.pop().map(|h| (h.device, h.packet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_passes_everything() {
        let mut imp = Impairer::new(Impairment::default(), 1);
        assert!(!imp.is_active());
        for _ in 0..1000 {
            assert_eq!(
                imp.admit(Instant::ZERO, 0, b"x"),
                Verdict::Now { duplicate: false }
            );
        }
    }

    #[test]
    fn loss_rate_is_close_to_configured_and_replays() {
        let config = Impairment {
            loss: 0.02,
            ..Impairment::default()
        };
        let run = |seed| {
            let mut imp = Impairer::new(config.clone(), seed);
            (0..100_000)
                .map(|_| imp.admit(Instant::ZERO, 0, b"x") == Verdict::Dropped)
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7), "same seed, same drops");
        assert_ne!(a, run(8));
        let drops = a.iter().filter(|d| **d).count();
        assert!(
            (1_700..2_300).contains(&drops),
            "{drops} drops of 100000 at 2 %"
        );
    }

    #[test]
    fn delay_holds_until_due_and_keeps_order() {
        let config = Impairment {
            delay: Duration::from_millis(10),
            ..Impairment::default()
        };
        let mut imp = Impairer::new(config, 1);
        assert_eq!(imp.admit(Instant::ZERO, 0, b"a"), Verdict::Held);
        assert_eq!(imp.admit(Instant::from_millis(1), 1, b"b"), Verdict::Held);
        assert_eq!(imp.next_due(), Some(Instant::from_millis(10)));
        assert_eq!(imp.pop_due(Instant::from_millis(9)), None);
        assert_eq!(
            imp.pop_due(Instant::from_millis(11)),
            Some((0, b"a".to_vec()))
        );
        assert_eq!(
            imp.pop_due(Instant::from_millis(11)),
            Some((1, b"b".to_vec()))
        );
        assert_eq!(imp.pop_due(Instant::from_millis(11)), None);
    }

    #[test]
    fn reordering_lets_later_packets_overtake() {
        let config = Impairment {
            reorder: 0.5,
            reorder_delay: Duration::from_millis(5),
            ..Impairment::default()
        };
        let mut imp = Impairer::new(config, 3);
        let mut now_count = 0;
        for i in 0..100u8 {
            match imp.admit(Instant::ZERO, 0, &[i]) {
                Verdict::Now { .. } => now_count += 1,
                Verdict::Held => {}
                Verdict::Dropped => panic!("no loss configured"),
            }
        }
        assert!((25..75).contains(&now_count), "{now_count}");
        assert_eq!(imp.reordered, 100 - now_count);
    }

    #[test]
    fn duplicates_are_counted() {
        let config = Impairment {
            duplicate: 1.0,
            ..Impairment::default()
        };
        let mut imp = Impairer::new(config, 1);
        assert_eq!(
            imp.admit(Instant::ZERO, 0, b"x"),
            Verdict::Now { duplicate: true }
        );
        assert_eq!(imp.duplicated, 1);
    }

    #[test]
    fn validate_rejects_out_of_range() {
        let bad = Impairment {
            loss: 1.5,
            ..Impairment::default()
        };
        assert!(bad.validate().unwrap_err().contains("loss"));
        assert!(Impairment::default().validate().is_ok());
    }
}
