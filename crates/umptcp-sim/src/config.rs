//! The simulator's own configuration.

use crate::Error;

/// Largest `max_packet_size` accepted (1 MiB).
pub const MAX_PACKET_SIZE_LIMIT: usize = 1 << 20;

/// Settings of a [`Simulator`](crate::Simulator).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimConfig {
    /// Seed of every random decision. The same seed, hosts and calls give a
    /// bit-identical run; each link direction draws from its own stream.
    pub seed: u64,
    /// Size of the buffer handed to [`Host::poll_transmit`](crate::Host::poll_transmit)
    /// (default 65 535, the largest IPv4 packet).
    pub max_packet_size: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            max_packet_size: 65_535,
        }
    }
}

impl SimConfig {
    /// The default configuration with this seed.
    pub fn with_seed(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// Check every field.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMaxPacketSize`] unless `max_packet_size` is in
    /// `1..=`[`MAX_PACKET_SIZE_LIMIT`].
    pub fn validate(&self) -> Result<(), Error> {
        if (1..=MAX_PACKET_SIZE_LIMIT).contains(&self.max_packet_size) {
            Ok(())
        } else {
            Err(Error::InvalidMaxPacketSize(self.max_packet_size))
        }
    }
}
