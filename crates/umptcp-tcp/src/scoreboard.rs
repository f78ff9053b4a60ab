//! The sender's record of what the peer has SACKed (RFC 6675 §3), bounded.
//!
//! Ranges are kept sorted, merged, and within (SND.UNA, SND.MAX]; blocks
//! outside that are ignored (a D-SACK, RFC 2883, lies below SND.UNA; a
//! block past SND.MAX is bogus). At most [`MAX_RANGES`] ranges are kept;
//! past that the highest are forgotten, which only makes the sender more
//! conservative (it may retransmit something the peer has).

use crate::SubflowSeq;

/// RFC 6675 §2 DupThresh: duplicate ACKs (or SACKed segments) that mean
/// a loss.
pub(crate) const DUP_THRESH: u64 = 3;

/// Most SACKed ranges remembered.
pub(crate) const MAX_RANGES: usize = 32;

#[derive(Clone, Debug)]
pub(crate) struct Scoreboard {
    ranges: [(SubflowSeq, SubflowSeq); MAX_RANGES],
    len: usize,
}

impl Scoreboard {
    pub(crate) fn new() -> Self {
        Scoreboard {
            ranges: [(SubflowSeq(0), SubflowSeq(0)); MAX_RANGES],
            len: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    fn ranges(&self) -> &[(SubflowSeq, SubflowSeq)] {
        &self.ranges[..self.len]
    }

    /// Record the block [left, right) if it lies within (una, max].
    pub(crate) fn add(
        &mut self,
        left: SubflowSeq,
        right: SubflowSeq,
        una: SubflowSeq,
        max: SubflowSeq,
    ) {
        if !(una < left && left < right && right <= max) {
            return;
        }
        let (mut left, mut right) = (left, right);
        // Merge with every range it touches, then insert in order.
        let mut out = [(SubflowSeq(0), SubflowSeq(0)); MAX_RANGES];
        let mut n = 0;
        let mut placed = false;
        for &(l, r) in self.ranges() {
            if r < left {
                out[n] = (l, r);
                n += 1;
            } else if right < l {
                if !placed && n < MAX_RANGES {
                    out[n] = (left, right);
                    n += 1;
                    placed = true;
                }
                if n < MAX_RANGES {
                    out[n] = (l, r);
                    n += 1;
                }
            } else {
                left = left.min_seq(l);
                right = right.max_seq(r);
            }
        }
        if !placed && n < MAX_RANGES {
            out[n] = (left, right);
            n += 1;
        }
        self.ranges = out;
        self.len = n;
    }

    /// The end of the highest SACKed range.
    pub(crate) fn highest_sacked(&self) -> Option<SubflowSeq> {
        self.ranges().last().map(|&(_, r)| r)
    }

    /// Forget everything at or below the cumulative ACK `una`.
    pub(crate) fn trim(&mut self, una: SubflowSeq) {
        let mut n = 0;
        for i in 0..self.len {
            let (l, r) = self.ranges[i];
            if r <= una {
                continue;
            }
            self.ranges[n] = (l.max_seq(una), r);
            n += 1;
        }
        self.len = n;
    }

    /// Bytes SACKed above `seq`.
    pub(crate) fn sacked_above(&self, seq: SubflowSeq) -> u64 {
        self.ranges()
            .iter()
            .filter(|&&(_, r)| r > seq)
            .map(|&(l, r)| u64::from(r.distance_from(l.max_seq(seq))))
            .sum()
    }

    /// RFC 6675 §4 IsLost: "either DupThresh discontiguous SACKed
    /// sequences have arrived above 'SeqNum' or more than (DupThresh - 1) *
    /// SMSS bytes with sequence numbers greater than 'SeqNum' have been
    /// SACKed".
    pub(crate) fn is_lost(&self, seq: SubflowSeq, mss: u64) -> bool {
        let ranges_above = self.ranges().iter().filter(|&&(_, r)| r > seq).count();
        ranges_above >= DUP_THRESH as usize || self.sacked_above(seq) > (DUP_THRESH - 1) * mss
    }

    /// Bytes SACKed within [start, end).
    pub(crate) fn sacked_within(&self, start: SubflowSeq, end: SubflowSeq) -> u64 {
        self.ranges()
            .iter()
            .filter(|&&(l, r)| l < end && start < r)
            .map(|&(l, r)| u64::from(r.min_seq(end).distance_from(l.max_seq(start))))
            .sum()
    }

    /// RFC 6675 §4 SetPipe, first half: the octets in [una, max) that are
    /// neither SACKed nor deemed lost. (The second half, retransmitted
    /// octets, is the retransmission log's.) Holes are walked from the top
    /// so the SACKed bytes and ranges above each are running sums.
    pub(crate) fn pipe(&self, una: SubflowSeq, max: SubflowSeq, mss: u64) -> u64 {
        let mut pipe = 0u64;
        let mut sacked_above = 0u64;
        let mut ranges_above = 0u64;
        let mut hole_end = max;
        for i in (0..=self.len).rev() {
            let hole_start = if i == 0 { una } else { self.ranges[i - 1].1 };
            if hole_start < hole_end {
                let lost = ranges_above >= DUP_THRESH || sacked_above > (DUP_THRESH - 1) * mss;
                if !lost {
                    pipe += u64::from(hole_end.distance_from(hole_start));
                }
            }
            if i > 0 {
                let (l, r) = self.ranges[i - 1];
                sacked_above += u64::from(r.distance_from(l));
                ranges_above += 1;
                hole_end = l;
            }
        }
        pipe
    }

    /// The first hole at or after `from` that has SACKed data above it
    /// (RFC 6675 NextSeg rule 1, with IsLost taken as "something above it
    /// was SACKed"): its start and the start of the SACKed range after it.
    pub(crate) fn next_hole(&self, from: SubflowSeq) -> Option<(SubflowSeq, SubflowSeq)> {
        let mut start = from;
        for &(l, r) in self.ranges() {
            if r <= start {
                continue;
            }
            if l <= start {
                // `start` is SACKed: the hole begins after this range.
                start = r;
                continue;
            }
            return Some((start, l));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SubflowSeq {
        SubflowSeq(n)
    }

    #[test]
    fn blocks_merge_sort_and_stay_in_range() {
        let mut b = Scoreboard::new();
        b.add(s(300), s(400), s(100), s(1000));
        b.add(s(600), s(700), s(100), s(1000));
        b.add(s(400), s(500), s(100), s(1000)); // touches the first
        assert_eq!(b.ranges(), &[(s(300), s(500)), (s(600), s(700))]);
        b.add(s(50), s(90), s(100), s(1000)); // a D-SACK below SND.UNA
        b.add(s(900), s(1100), s(100), s(1000)); // past SND.MAX
        b.add(s(200), s(200), s(100), s(1000)); // empty
        assert_eq!(b.ranges().len(), 2);
        assert_eq!(b.sacked_above(s(100)), 300);
        assert_eq!(b.sacked_above(s(450)), 150);
    }

    #[test]
    fn holes_are_found_in_order() {
        let mut b = Scoreboard::new();
        b.add(s(300), s(500), s(100), s(1000));
        b.add(s(600), s(700), s(100), s(1000));
        assert_eq!(b.next_hole(s(100)), Some((s(100), s(300))));
        assert_eq!(b.next_hole(s(350)), Some((s(500), s(600))));
        assert_eq!(b.next_hole(s(650)), None, "nothing SACKed above");
        b.trim(s(550));
        assert_eq!(b.ranges(), &[(s(600), s(700))]);
        assert_eq!(b.next_hole(s(550)), Some((s(550), s(600))));
    }

    #[test]
    fn is_lost_counts_bytes_and_ranges_above() {
        let mss = 100;
        let mut b = Scoreboard::new();
        b.add(s(200), s(400), s(100), s(1000));
        // 200 bytes SACKed above 150: not more than 2 * MSS, one range.
        assert!(!b.is_lost(s(150), mss));
        b.add(s(450), s(460), s(100), s(1000));
        assert!(b.is_lost(s(150), mss), "210 bytes > 2 * MSS");
        assert!(!b.is_lost(s(420), mss), "10 bytes, one range above");
        let mut c = Scoreboard::new();
        for left in [300u32, 500, 700] {
            c.add(s(left), s(left + 10), s(100), s(1000));
        }
        assert!(c.is_lost(s(150), mss), "three discontiguous ranges above");
        assert!(!c.is_lost(s(450), mss), "two ranges, 20 bytes");
    }

    #[test]
    fn pipe_counts_what_is_neither_sacked_nor_lost() {
        let mss = 100;
        let (una, max) = (s(1000), s(2000));
        let mut b = Scoreboard::new();
        // No SACK: everything outstanding is in the pipe.
        assert_eq!(b.pipe(una, max, mss), 1000);
        // SACKed [1100, 1400): the hole [1000, 1100) has 300 bytes above
        // it, so it is lost; [1400, 2000) has nothing above, in flight.
        b.add(s(1100), s(1400), una, max);
        assert_eq!(b.pipe(una, max, mss), 600);
        // A second SACK range: [1400, 1500) now has 100 bytes and one range
        // above, not lost; [1000, 1100) has 400 bytes above.
        b.add(s(1500), s(1600), una, max);
        assert_eq!(b.pipe(una, max, mss), 100 + 400);
        assert_eq!(b.sacked_within(s(1050), s(1550)), 300 + 50);
        assert_eq!(b.sacked_within(s(1600), s(2000)), 0);
    }

    #[test]
    fn bounded_and_wrapping() {
        let mut b = Scoreboard::new();
        let una = s(u32::MAX - 1000);
        for i in 0..100u32 {
            let left = una + (10 + i * 20);
            b.add(left, left + 10u32, una, una + 5000u32);
        }
        assert_eq!(b.ranges().len(), MAX_RANGES);
        assert!(b.ranges().windows(2).all(|w| w[0].1 < w[1].0));
        b.trim(una + 2000u32);
        assert!(b.is_empty());
    }
}
