//! One direction of a link at run time: its transmitter, drop-tail queue,
//! random stream and the decisions taken on each packet.

use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use umptcp_time::Instant;

use crate::packet_pool::PacketPool;
use crate::{LinkConfig, LinkStats, Rate};

/// What happens to a packet offered to a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Dropped before entering (down, MTU, full queue); counted.
    Dropped,
    /// Leaves at once (unlimited rate): call [`Channel::depart`] now.
    DepartNow,
    /// Starts transmission now: schedule its end after the given time.
    Transmit,
    /// Waits in the queue.
    Queued,
}

/// What happens to a packet that has left the transmitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Departure {
    /// Lost (down or loss); the slot has been released.
    Lost,
    /// Arrives at `at`; if `duplicate` is set, its copy arrives right after.
    Arrives { at: Instant, duplicate: Option<u32> },
}

/// One direction of a link.
#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) config: LinkConfig,
    pub(crate) stats: LinkStats,
    /// Receiving host and interface.
    pub(crate) dst: (u32, u32),
    /// The packet being serialized, if any.
    pub(crate) transmitting: Option<u32>,
    queue: VecDeque<u32>,
    queued_bytes: usize,
    in_bad_state: bool,
    rng: ChaCha8Rng,
}

impl Channel {
    /// A channel to `dst`, drawing from stream `stream` of `seed`.
    pub(crate) fn new(config: LinkConfig, dst: (u32, u32), seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Self {
            config,
            stats: LinkStats::default(),
            dst,
            transmitting: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            in_bad_state: false,
            rng,
        }
    }

    /// Decide whether a packet of `len` bytes, offered now, may enter. The
    /// caller stores it in the pool unless [`Admission::Dropped`] and then
    /// calls [`Channel::enqueue`] for [`Admission::Queued`] or sets
    /// `transmitting` for [`Admission::Transmit`].
    pub(crate) fn admit(&mut self, len: usize) -> Admission {
        self.stats.offered_packets += 1;
        self.stats.offered_bytes += len as u64;
        if !self.config.up {
            self.stats.dropped_down += 1;
            return Admission::Dropped;
        }
        if len > self.config.mtu {
            self.stats.dropped_mtu += 1;
            return Admission::Dropped;
        }
        if self.config.rate == Rate::Unlimited && self.transmitting.is_none() {
            return Admission::DepartNow;
        }
        if self.transmitting.is_none() {
            return Admission::Transmit;
        }
        if self.queued_bytes.saturating_add(len) > self.config.queue_limit_bytes {
            self.stats.dropped_queue += 1;
            return Admission::Dropped;
        }
        Admission::Queued
    }

    /// Put the packet in `slot` (of `len` bytes) at the tail of the queue.
    pub(crate) fn enqueue(&mut self, slot: u32, len: usize) {
        self.queue.push_back(slot);
        self.queued_bytes += len;
        self.stats.queue_high_water_bytes = self
            .stats
            .queue_high_water_bytes
            .max(self.queued_bytes as u64);
    }

    /// Take the packet at the head of the queue.
    pub(crate) fn dequeue(&mut self, pool: &PacketPool) -> Option<u32> {
        let slot = self.queue.pop_front()?;
        self.queued_bytes -= pool.get(slot).len();
        Some(slot)
    }

    /// Apply losses, corruption, reordering and duplication to the packet
    /// in `slot`, which leaves the transmitter at `now`.
    pub(crate) fn depart(&mut self, now: Instant, slot: u32, pool: &mut PacketPool) -> Departure {
        if !self.config.up {
            self.stats.dropped_down += 1;
            pool.release(slot);
            return Departure::Lost;
        }
        if let Some(ge) = self.config.burst_loss {
            let loss = if self.in_bad_state {
                ge.loss_bad
            } else {
                ge.loss_good
            };
            let lost = self.chance(loss);
            let flip = if self.in_bad_state {
                ge.p_bad_to_good
            } else {
                ge.p_good_to_bad
            };
            if self.chance(flip) {
                self.in_bad_state = !self.in_bad_state;
            }
            if lost {
                self.stats.dropped_burst += 1;
                pool.release(slot);
                return Departure::Lost;
            }
        }
        if self.chance(self.config.loss) {
            self.stats.dropped_loss += 1;
            pool.release(slot);
            return Departure::Lost;
        }
        if self.chance(self.config.corrupt) {
            let packet = pool.get_mut(slot);
            if !packet.is_empty() {
                let bit = self.below(packet.len() as u64 * 8);
                packet[(bit / 8) as usize] ^= 1 << (bit % 8);
                self.stats.corrupted += 1;
            }
        }
        let mut at = now + self.config.delay;
        if let Some(reorder) = self.config.reorder {
            if self.chance(reorder.probability) {
                at += reorder.extra_delay;
                self.stats.reordered += 1;
            }
        }
        let duplicate = if self.chance(self.config.duplicate) {
            self.stats.duplicated += 1;
            Some(pool.duplicate(slot))
        } else {
            None
        };
        Departure::Arrives { at, duplicate }
    }

    /// Return true with probability `p` (draws nothing when `p` is 0 or 1).
    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            // 53 random bits, uniform in [0, 1).
            let unit = (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            unit < p
        }
    }

    /// Return a number uniform in `0..n` (`n > 0`), by multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.rng.next_u64()) * u128::from(n)) >> 64) as u64
    }
}
