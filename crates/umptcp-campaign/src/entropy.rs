//! Where a case's choices come from: a seeded ChaCha stream (the campaign
//! and its replayed seeds) or the fuzzer's bytes.
//!
//! One type for both, so every generator is written once and a fuzzer's
//! input drives exactly the code a seeded case runs. Bytes run out; the
//! generators then see zeros, and [`Entropy::exhausted`] tells the attacker
//! to stop, so a short input is a short attack on a full transfer.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A stream of choices.
#[derive(Clone, Debug)]
pub struct Entropy {
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    Seeded(Box<ChaCha8Rng>),
    Bytes { data: Vec<u8>, pos: usize },
}

impl Entropy {
    /// An endless stream from `seed`, split by `stream` so that the
    /// configuration, the network and the attacker of one case draw
    /// independently (adding a draw to one does not shift the others).
    pub fn seeded(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Entropy {
            source: Source::Seeded(Box::new(rng)),
        }
    }

    /// A finite stream: `data`, then zeros.
    pub fn bytes(data: &[u8]) -> Self {
        Entropy {
            source: Source::Bytes {
                data: data.to_vec(),
                pos: 0,
            },
        }
    }

    /// Whether a byte stream has been read to its end (never for a seeded one).
    pub fn exhausted(&self) -> bool {
        match &self.source {
            Source::Seeded(_) => false,
            Source::Bytes { data, pos } => *pos >= data.len(),
        }
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        match &mut self.source {
            Source::Seeded(rng) => rng.next_u32() as u8,
            Source::Bytes { data, pos } => {
                let b = data.get(*pos).copied().unwrap_or(0);
                *pos = pos.saturating_add(1);
                b
            }
        }
    }

    /// Two bytes, big-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// Four bytes, big-endian (one ChaCha word when seeded).
    pub fn u32(&mut self) -> u32 {
        match &mut self.source {
            Source::Seeded(rng) => rng.next_u32(),
            Source::Bytes { .. } => {
                u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
            }
        }
    }

    /// Eight bytes.
    pub fn u64(&mut self) -> u64 {
        (u64::from(self.u32()) << 32) | u64::from(self.u32())
    }

    /// A value in `0..n` (`n` > 0). From bytes, one byte when `n` ≤ 256
    /// (so a fuzzer's byte maps to one choice), slightly biased: this picks
    /// cases, it is not cryptography.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        if n <= 256 {
            return u64::from(self.u8()) % n;
        }
        if n <= 1 << 16 {
            return u64::from(self.u16()) % n;
        }
        self.u64() % n
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `per_mille` / 1000 (from bytes: a zero byte is
    /// always false, so zeros mean "nothing unusual").
    pub fn chance(&mut self, per_mille: u32) -> bool {
        match &mut self.source {
            Source::Seeded(rng) => rng.next_u32() % 1000 < per_mille,
            Source::Bytes { .. } => {
                let b = u32::from(self.u8());
                b != 0 && (b - 1) * 1000 < per_mille * 255
            }
        }
    }

    /// One of `items` (not empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A value spread evenly over orders of magnitude in `lo..=hi` (`lo` ≥ 1):
    /// small transfers as often as large ones.
    pub fn log_range(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = (lo.max(1).ilog2(), hi.max(1).ilog2());
        let exp = self.range(u64::from(l), u64::from(h)) as u32;
        let base = 1u64 << exp;
        (base + self.below(base)).clamp(lo, hi)
    }

    /// Fill `buf`.
    pub fn fill(&mut self, buf: &mut [u8]) {
        match &mut self.source {
            Source::Seeded(rng) => rng.fill_bytes(buf),
            Source::Bytes { .. } => buf.iter_mut().for_each(|b| *b = self.u8()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_streams_repeat_and_differ() {
        let a: Vec<u64> = (0..4).map(|_| Entropy::seeded(7, 1).u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Entropy::seeded(7, 1).u64(), Entropy::seeded(7, 2).u64());
    }

    #[test]
    fn bytes_run_out_into_zeros() {
        let mut e = Entropy::bytes(&[3, 200]);
        assert!(!e.exhausted());
        assert_eq!(e.below(10), 3);
        assert_eq!(e.u8(), 200);
        assert!(e.exhausted());
        assert_eq!(e.u64(), 0);
        assert!(!e.chance(999), "zeros mean nothing unusual");
    }

    #[test]
    fn log_range_stays_in_bounds() {
        let mut e = Entropy::seeded(1, 0);
        for _ in 0..1000 {
            let v = e.log_range(3, 300_000);
            assert!((3..=300_000).contains(&v), "{v}");
        }
    }
}
