//! MPTCP keys chosen so that the 32-bit form of the data sequence numbers
//! wraps during a transfer, and the RNG that hands them to an endpoint.
//!
//! A sender's first data byte has DSN `idsn(key) + 1`, where the IDSN is the
//! low 64 bits of SHA-256(key) (RFC 8684 §3.1). A random key wraps the low
//! 32 bits within a few hundred KiB about once in 10,000 connections, so
//! the campaign scripts keys found by search: every DSN a 4-octet DSS
//! carries (and every 4-octet DATA_ACK) then crosses 2^32 mid-transfer.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use umptcp_crypto::idsn;

/// Keys whose IDSN's low 32 bits are within 2 KiB below 2^32: the wrap
/// comes in the first segments of almost any transfer.
pub const WRAP_SOON: [u64; 8] = [
    0x5eed_0000_0003_795a,
    0x5eed_0000_0019_2ab3,
    0x5eed_0000_005e_5178,
    0x5eed_0000_00b3_b688,
    0x5eed_0000_00f0_9515,
    0x5eed_0000_00f7_4b73,
    0x5eed_0000_0101_f4e0,
    0x5eed_0000_0128_d4f6,
];

/// Keys whose IDSN's low 32 bits are 14 to 94 KiB below 2^32: the wrap comes
/// in the middle of a larger transfer, with data in flight on both sides of it.
pub const WRAP_LATER: [u64; 8] = [
    0x5eed_0000_0001_8f96,
    0x5eed_0000_0007_a842,
    0x5eed_0000_0007_e7e3,
    0x5eed_0000_000a_2dae,
    0x5eed_0000_000d_8ec8,
    0x5eed_0000_0011_f2f7,
    0x5eed_0000_001b_df5d,
    0x5eed_0000_0024_ad17,
];

/// Bytes a sender with `key` sends before the 32-bit form of its DSN wraps.
pub fn bytes_before_wrap(key: u64) -> u64 {
    let first = idsn(umptcp_wire::Key(key)).wrapping_add(1);
    (1u64 << 32) - (first & 0xffff_ffff)
}

/// An endpoint's RNG: its first `next_u64` calls (the keys of its first
/// connections, `umptcp_crypto::generate_key`) return the scripted keys;
/// everything else (ISN secret, nonces, later keys) comes from ChaCha.
#[derive(Debug)]
pub struct ScriptedRng {
    keys: Vec<u64>,
    rng: ChaCha8Rng,
}

impl ScriptedRng {
    /// Keys `keys` first (in order), then ChaCha from `seed`.
    pub fn new(seed: u64, keys: &[u64]) -> Self {
        let mut keys = keys.to_vec();
        keys.reverse();
        ScriptedRng {
            keys,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

impl RngCore for ScriptedRng {
    fn next_u32(&mut self) -> u32 {
        self.rng.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.keys.pop().unwrap_or_else(|| self.rng.next_u64())
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.rng.fill_bytes(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.rng.try_fill_bytes(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_wrap_where_their_tables_say() {
        for key in WRAP_SOON {
            let n = bytes_before_wrap(key);
            assert!((1..=2048).contains(&n), "{key:#x}: {n}");
        }
        for key in WRAP_LATER {
            let n = bytes_before_wrap(key);
            assert!((2048..=96 * 1024).contains(&n), "{key:#x}: {n}");
        }
    }

    #[test]
    fn scripted_keys_come_first() {
        let mut rng = ScriptedRng::new(1, &[5, 6]);
        let mut isn = [0; 32];
        rng.fill_bytes(&mut isn);
        assert_eq!(rng.next_u64(), 5);
        assert_eq!(rng.next_u64(), 6);
        assert_ne!(rng.next_u64(), 0);
    }
}
