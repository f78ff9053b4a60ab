//! The 64-bit data sequence space (RFC 8684 §3.3).
//!
//! DSS options may carry only the low 32 bits of a data sequence number
//! or DATA_ACK. "The receiver ... MUST expand the 32-bit value to 64 bits
//! using the most recently received (or sent) 64-bit sequence number as
//! the reference" (§3.3.1); like Linux (`expand_seq`), we take the 64-bit
//! value nearest the reference.
//!
//! [`DataSeq`] keeps data sequence numbers apart from byte counts and
//! subflow sequence numbers: it adds byte counts with wrapping, compares
//! by signed distance, and never mixes with a plain `u64` by accident.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, AddAssign};

use umptcp_crypto::{Key, idsn};
use umptcp_wire::mptcp::DssSeq;

/// A data sequence number (RFC 8684 §3.3), compared with wrapping
/// arithmetic at 2^64.
///
/// `a < b` means `b` is ahead of `a` by less than 2^63; the order is only
/// meaningful for numbers within 2^63 of each other, which the windows of
/// one connection guarantee.
///
/// ```
/// use umptcp_proto::data_seq::DataSeq;
///
/// let near_top = DataSeq(u64::MAX - 1);
/// let past = near_top + 3;
/// assert_eq!(past, DataSeq(1));
/// assert!(near_top < past);
/// assert_eq!(past.diff(near_top), 3);
/// assert_eq!(near_top.distance_from(past), 0);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataSeq(pub u64);

impl DataSeq {
    /// The raw 64-bit value, as a DSS option carries it.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The signed distance from `other` to `self` (`self - other`).
    pub const fn diff(self, other: DataSeq) -> i64 {
        self.0.wrapping_sub(other.0) as i64
    }

    /// `self - other` as a byte count, or 0 if `other` is ahead.
    pub const fn distance_from(self, other: DataSeq) -> u64 {
        let d = self.diff(other);
        if d < 0 { 0 } else { d as u64 }
    }

    /// The later of two data sequence numbers.
    pub fn max_seq(self, other: DataSeq) -> DataSeq {
        if self.diff(other) >= 0 { self } else { other }
    }

    /// The earlier of two data sequence numbers.
    pub fn min_seq(self, other: DataSeq) -> DataSeq {
        if self.diff(other) <= 0 { self } else { other }
    }
}

impl PartialOrd for DataSeq {
    fn partial_cmp(&self, other: &DataSeq) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl Add<u64> for DataSeq {
    type Output = DataSeq;
    fn add(self, bytes: u64) -> DataSeq {
        DataSeq(self.0.wrapping_add(bytes))
    }
}

impl AddAssign<u64> for DataSeq {
    fn add_assign(&mut self, bytes: u64) {
        *self = *self + bytes;
    }
}

impl fmt::Debug for DataSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataSeq({})", self.0)
    }
}

impl fmt::Display for DataSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The data sequence number of the first data byte the owner of `key`
/// sends: IDSN + 1 (RFC 8684 §3.1; the SYN consumes the IDSN itself).
pub fn first_data_seq(key: Key) -> DataSeq {
    DataSeq(idsn(key)) + 1
}

/// Expand a DSS sequence number to 64 bits around `reference`.
///
/// A long value passes through; a short one becomes the 64-bit value
/// whose low 32 bits match and which lies within 2^31 of `reference`
/// (wrapping at 2^64 like the data sequence space itself).
///
/// ```
/// use umptcp_proto::data_seq::{DataSeq, expand};
/// use umptcp_wire::mptcp::DssSeq;
///
/// assert_eq!(expand(DssSeq::Short(5), DataSeq(0x1_ffff_fff0)), DataSeq(0x2_0000_0005));
/// assert_eq!(expand(DssSeq::Short(0xffff_fff0), DataSeq(0x2_0000_0005)), DataSeq(0x1_ffff_fff0));
/// assert_eq!(expand(DssSeq::Long(7), DataSeq(u64::MAX)), DataSeq(7));
/// ```
pub fn expand(seq: DssSeq, reference: DataSeq) -> DataSeq {
    match seq {
        DssSeq::Long(value) => DataSeq(value),
        DssSeq::Short(low) => {
            // The signed 32-bit distance from the reference's low half.
            let delta = low.wrapping_sub(reference.0 as u32) as i32;
            DataSeq(reference.0.wrapping_add(i64::from(delta) as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_values_expand_forward_and_backward_across_a_32_bit_boundary() {
        let reference = DataSeq(0x0000_0003_ffff_ff00);
        assert_eq!(
            expand(DssSeq::Short(0x10), reference),
            DataSeq(0x0000_0004_0000_0010)
        );
        assert_eq!(
            expand(DssSeq::Short(0xffff_fe00), reference),
            DataSeq(0x0000_0003_ffff_fe00)
        );
        assert_eq!(expand(DssSeq::Short(0xffff_ff00), reference), reference);
    }

    #[test]
    fn expansion_wraps_at_the_top_of_the_64_bit_space() {
        assert_eq!(expand(DssSeq::Short(1), DataSeq(u64::MAX - 1)), DataSeq(1));
        assert_eq!(
            expand(DssSeq::Short(u32::MAX), DataSeq(2)),
            DataSeq(u64::MAX)
        );
    }

    proptest! {
        #[test]
        fn any_value_within_2_31_of_the_reference_round_trips(
            reference: u64,
            offset in -(1i64 << 31) + 1..(1i64 << 31),
        ) {
            let reference = DataSeq(reference);
            let value = reference + offset as u64;
            prop_assert_eq!(expand(DssSeq::Short(value.0 as u32), reference), value);
            prop_assert_eq!(value.diff(reference), offset);
            prop_assert_eq!(value > reference, offset > 0);
            prop_assert_eq!(value.distance_from(reference), offset.max(0) as u64);
        }
    }
}
