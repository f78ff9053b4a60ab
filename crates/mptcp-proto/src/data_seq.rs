//! The 64-bit data sequence space (RFC 8684 §3.3).
//!
//! DSS options may carry only the low 32 bits of a data sequence number
//! or DATA_ACK. "The receiver ... MUST expand the 32-bit value to 64 bits
//! using the most recently received (or sent) 64-bit sequence number as
//! the reference" (§3.3.1); like Linux (`expand_seq`), we take the 64-bit
//! value nearest the reference.

use mptcp_wire::mptcp::DssSeq;

/// Expand a DSS sequence number to 64 bits around `reference`.
///
/// A long value passes through; a short one becomes the 64-bit value
/// whose low 32 bits match and which lies within 2^31 of `reference`
/// (wrapping at 2^64 like the data sequence space itself).
///
/// ```
/// use mptcp_proto::data_seq::expand;
/// use mptcp_wire::mptcp::DssSeq;
///
/// assert_eq!(expand(DssSeq::Short(5), 0x1_ffff_fff0), 0x2_0000_0005);
/// assert_eq!(expand(DssSeq::Short(0xffff_fff0), 0x2_0000_0005), 0x1_ffff_fff0);
/// assert_eq!(expand(DssSeq::Long(7), u64::MAX), 7);
/// ```
pub fn expand(seq: DssSeq, reference: u64) -> u64 {
    match seq {
        DssSeq::Long(value) => value,
        DssSeq::Short(low) => {
            // The signed 32-bit distance from the reference's low half.
            let delta = low.wrapping_sub(reference as u32) as i32;
            reference.wrapping_add(i64::from(delta) as u64)
        }
    }
}

/// `a - b` in the data sequence space, as a signed distance (the two are
/// assumed within 2^63 of each other).
pub fn diff(a: u64, b: u64) -> i64 {
    a.wrapping_sub(b) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_values_expand_forward_and_backward_across_a_32_bit_boundary() {
        let reference = 0x0000_0003_ffff_ff00;
        assert_eq!(
            expand(DssSeq::Short(0x10), reference),
            0x0000_0004_0000_0010
        );
        assert_eq!(
            expand(DssSeq::Short(0xffff_fe00), reference),
            0x0000_0003_ffff_fe00
        );
        assert_eq!(expand(DssSeq::Short(0xffff_ff00), reference), reference);
    }

    #[test]
    fn expansion_wraps_at_the_top_of_the_64_bit_space() {
        assert_eq!(expand(DssSeq::Short(1), u64::MAX - 1), 1);
        assert_eq!(expand(DssSeq::Short(u32::MAX), 2), u64::MAX);
    }

    proptest! {
        #[test]
        fn any_value_within_2_31_of_the_reference_round_trips(
            reference: u64,
            offset in -(1i64 << 31) + 1..(1i64 << 31),
        ) {
            let value = reference.wrapping_add(offset as u64);
            prop_assert_eq!(expand(DssSeq::Short(value as u32), reference), value);
            prop_assert_eq!(diff(value, reference), offset);
        }
    }
}
