//! The on-path attacker: bit flips in honest segments (sequence and
//! acknowledgment numbers, flags, options, payload), with the TCP checksum
//! recomputed so the receiver takes them as sent.
//!
//! The IP header is left alone (a packet routed elsewhere is a drop), and a
//! mutation that no longer parses is dropped as a receiver's stack would.

use umptcp_wire::segment::{ChecksumCheck, Segment};

use crate::entropy::Entropy;
use crate::wire::{fix_tcp_checksum, tcp_layout};

/// The on-path attacker of one case.
#[derive(Debug)]
pub struct Mutator {
    e: Entropy,
    rate: u32,
    /// Segments mutated.
    pub mutated: u64,
}

impl Mutator {
    /// Mutate an honest segment with probability `rate` per mille.
    pub fn new(rate: u32, e: Entropy) -> Self {
        Mutator {
            e,
            rate,
            mutated: 0,
        }
    }

    /// What reaches the receiver in place of `packet`: itself, a mutated
    /// copy, both (the original first), or nothing (the mutation broke it).
    pub fn mutate(&mut self, packet: Vec<u8>) -> Vec<Vec<u8>> {
        if self.e.exhausted() || !self.e.chance(self.rate) {
            return vec![packet];
        }
        let Some((start, header, end)) = tcp_layout(&packet) else {
            return vec![packet];
        };
        let mut m = packet.clone();
        let e = &mut self.e;
        // Byte ranges within the TCP segment.
        let (lo, hi) = match e.below(20) {
            0..=2 => (4, 8),   // sequence number
            3..=5 => (8, 12),  // acknowledgment number
            6..=8 => (13, 14), // flags
            9 => (12, 13),     // data offset
            10 => (14, 16),    // window
            11..=15 if header > 20 => (20, header),
            _ if end - start > header => (header, end - start),
            _ => (20, header.max(21)),
        };
        let flips = if e.chance(700) { 1 } else { e.range(2, 8) };
        for _ in 0..flips {
            let at = start + lo + e.below((hi - lo) as u64) as usize;
            if at < end {
                m[at] ^= 1 << e.below(8);
            }
        }
        self.mutated += 1;
        if !fix_tcp_checksum(&mut m) || Segment::parse(&m, ChecksumCheck::Verify).is_err() {
            return Vec::new();
        }
        if e.chance(200) {
            vec![packet, m]
        } else {
            vec![m]
        }
    }
}
