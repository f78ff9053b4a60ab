//! Subflow sequence numbers: 32-bit values compared modulo 2^32
//! (RFC 9293 §3.4, "it is essential to remember that the actual sequence
//! number space is finite ... all arithmetic dealing with sequence numbers
//! must be performed modulo 2**32").

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, Sub};

/// A TCP sequence number of one subflow, compared with wrapping arithmetic.
///
/// `a < b` means `b` is ahead of `a` by less than 2^31. The order is only
/// meaningful for numbers within 2^31 of each other, which the windows of
/// one connection guarantee.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubflowSeq(pub u32);

impl SubflowSeq {
    /// Return the raw 32-bit value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Return the signed distance from `other` to `self` (`self - other`).
    pub const fn diff(self, other: SubflowSeq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Return `self - other` as a byte count, or 0 if `other` is ahead.
    pub const fn distance_from(self, other: SubflowSeq) -> u32 {
        let d = self.diff(other);
        if d < 0 { 0 } else { d as u32 }
    }

    /// Return the later of two sequence numbers.
    pub fn max_seq(self, other: SubflowSeq) -> SubflowSeq {
        if self.diff(other) >= 0 { self } else { other }
    }

    /// Return the earlier of two sequence numbers.
    pub fn min_seq(self, other: SubflowSeq) -> SubflowSeq {
        if self.diff(other) <= 0 { self } else { other }
    }
}

impl PartialOrd for SubflowSeq {
    fn partial_cmp(&self, other: &SubflowSeq) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl Add<u32> for SubflowSeq {
    type Output = SubflowSeq;
    fn add(self, rhs: u32) -> SubflowSeq {
        SubflowSeq(self.0.wrapping_add(rhs))
    }
}

impl Add<usize> for SubflowSeq {
    type Output = SubflowSeq;
    /// Adds modulo 2^32 (only the low 32 bits of `rhs` matter).
    fn add(self, rhs: usize) -> SubflowSeq {
        SubflowSeq(self.0.wrapping_add(rhs as u32))
    }
}

impl Sub<u32> for SubflowSeq {
    type Output = SubflowSeq;
    fn sub(self, rhs: u32) -> SubflowSeq {
        SubflowSeq(self.0.wrapping_sub(rhs))
    }
}

impl fmt::Debug for SubflowSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq({})", self.0)
    }
}

impl fmt::Display for SubflowSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_wrap() {
        let a = SubflowSeq(u32::MAX - 1);
        let b = a + 5u32;
        assert_eq!(b, SubflowSeq(3));
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b.diff(a), 5);
        assert_eq!(a.diff(b), -5);
        assert_eq!(b.distance_from(a), 5);
        assert_eq!(a.distance_from(b), 0);
        assert_eq!(a.max_seq(b), b);
        assert_eq!(a.min_seq(b), a);
        assert_eq!(b - 5u32, a);
    }
}
