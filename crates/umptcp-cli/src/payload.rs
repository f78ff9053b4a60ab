//! The deterministic pseudo-random data `mptcp send --bytes N` sends.
//!
//! The stream is SplitMix64 (Steele, Lea and Flood, "Fast splittable
//! pseudorandom number generators", OOPSLA 2014) started from the seed,
//! each 64-bit output written little-endian: bytes `8k..8k+8` are
//! `mix(seed + (k + 1) * 0x9E37_79B9_7F4A_7C15)`. Because every word is a
//! function of its index alone, the generator can produce any chunking of
//! the stream (and would seek for free); it costs a few multiplications per
//! 8 bytes, far more than the network can take, and holds nothing in memory.
//!
//! It is not cryptographic and need not be: it only has to be the same on
//! both ends of a test and incompressible enough not to flatter anything.

/// SplitMix64's increment, the golden ratio in 64-bit fixed point.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function applied to its state after `index + 1`
/// steps from `seed`.
fn word(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An endless deterministic byte stream for one seed, read in chunks of
/// any size.
#[derive(Clone, Debug)]
pub(crate) struct Payload {
    seed: u64,
    /// Bytes produced so far.
    offset: u64,
}

impl Payload {
    /// The stream of `seed`, from its first byte.
    pub(crate) fn new(seed: u64) -> Self {
        Payload { seed, offset: 0 }
    }

    /// Fill `buf` with the next `buf.len()` bytes of the stream.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        let mut rest = &mut buf[..];
        // Finish a word a previous call left half used.
        let skip = (self.offset % 8) as usize;
        if skip != 0 && !rest.is_empty() {
            let bytes = word(self.seed, self.offset / 8).to_le_bytes();
            let n = (8 - skip).min(rest.len());
            rest[..n].copy_from_slice(&bytes[skip..skip + n]);
            rest = &mut rest[n..];
            self.offset += n as u64;
        }
        let mut index = self.offset / 8;
        let mut words = rest.chunks_exact_mut(8);
        for chunk in &mut words {
            chunk.copy_from_slice(&word(self.seed, index).to_le_bytes());
            index += 1;
        }
        let tail = words.into_remainder();
        if !tail.is_empty() {
            let bytes = word(self.seed, index).to_le_bytes();
            tail.copy_from_slice(&bytes[..tail.len()]);
        }
        self.offset += rest.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    fn bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        Payload::new(seed).fill(&mut buf);
        buf
    }

    /// Known answers computed independently (Python, from the published
    /// SplitMix64 algorithm).
    #[test]
    fn matches_reference_splitmix64() {
        assert_eq!(word(0, 0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(word(0, 1), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(
            bytes(1, 16),
            [
                0xc1, 0x5c, 0x02, 0x89, 0xec, 0x2d, 0x0a, 0x91, 0x67, 0xec, 0x8e, 0x65, 0xa1, 0x8d,
                0xeb, 0xbe
            ]
        );
        let digest = Sha256::digest(bytes(1, 1 << 20));
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "85b66b3a5816d686deb42f2d2473d9a7121ceb75c822b838f958c76ca86ed8ea"
        );
    }

    #[test]
    fn same_seed_same_bytes() {
        assert_eq!(bytes(7, 10_000), bytes(7, 10_000));
    }

    #[test]
    fn different_seeds_differ() {
        let a = bytes(1, 4096);
        let b = bytes(2, 4096);
        assert_ne!(a, b);
        // Not merely shifted: no shared prefix of any length worth noting.
        assert_ne!(a[..8], b[..8]);
    }

    #[test]
    fn chunking_does_not_change_the_stream() {
        let whole = bytes(42, 100_003);
        for sizes in [
            &[1usize][..],
            &[3, 5, 7],
            &[8],
            &[13, 8, 1, 64, 2],
            &[4096, 1],
            &[65_536],
        ] {
            let mut payload = Payload::new(42);
            let mut out = Vec::new();
            let mut i = 0;
            while out.len() < whole.len() {
                let n = sizes[i % sizes.len()].min(whole.len() - out.len());
                let mut chunk = vec![0; n];
                payload.fill(&mut chunk);
                out.extend_from_slice(&chunk);
                i += 1;
            }
            assert_eq!(out, whole, "chunk sizes {sizes:?}");
        }
    }

    #[test]
    fn empty_fills_are_harmless() {
        let mut payload = Payload::new(5);
        let mut a = [0u8; 3];
        payload.fill(&mut a);
        payload.fill(&mut []);
        let mut b = [0u8; 9];
        payload.fill(&mut b);
        assert_eq!([&a[..], &b[..]].concat(), bytes(5, 12));
    }
}
