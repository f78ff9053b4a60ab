//! The DSS checksum of a data-sequence mapping (RFC 8684 §3.3.1).
//!
//! When checksums are negotiated, every DSS mapping carries a 16-bit
//! checksum over a pseudo-header followed by all the payload the mapping
//! covers:
//!
//! ```text
//!    0                   1                   2                   3
//!   +---------------------------------------------------------------+
//!   |          Data Sequence Number (8 octets, always 64 bits)      |
//!   +---------------------------------------------------------------+
//!   |          Subflow Sequence Number (4 octets, relative)         |
//!   +-------------------------------+-------------------------------+
//!   |  Data-Level Length (2 octets) |        Zeros (2 octets)       |
//!   +-------------------------------+-------------------------------+
//!   |  payload of the mapping ...                                   |
//! ```
//!
//! RFC 8684 §3.3.1: the checksum is "the standard TCP checksum [RFC0793]"
//! (the 16-bit ones' complement of the ones' complement sum of 16-bit
//! words) over that pseudo-header and the data, and the data sequence
//! number in the pseudo-header is always the 64-bit value, whatever length
//! the DSS option itself uses. The subflow sequence number is *relative*:
//! counted from the subflow's initial sequence number, so the first payload
//! byte of a subflow is 1. The data-level length is the mapping's length as
//! the DSS option states it, which **includes the 1 that a DATA_FIN
//! occupies** (RFC 8684 §3.3.3); the payload summed is only the real bytes.
//! The Linux receiver says so in `validate_data_csum()`: it passes
//! `map_data_len + map_data_fin` as the length.
//!
//! A mapping's payload usually arrives in several segments, split at any
//! byte. [`DssChecksum`] accumulates it piece by piece; an odd-length piece
//! leaves a byte pending that pairs with the first byte of the next one, so
//! the result does not depend on the split (the kernel does the same with
//! `csum_block_add(..., offset)`).
//!
//! # How a received checksum is checked
//!
//! The Linux kernel (net/mptcp/protocol.c `__mptcp_make_csum()`, and
//! net/mptcp/subflow.c `validate_data_csum()`) starts the sum from the
//! *received* checksum field, adds the payload and the pseudo-header with
//! its checksum field zero, folds, and complements: the mapping is good iff
//! the result is 0, i.e. iff the ones' complement sum of pseudo-header,
//! payload and received checksum is `0xffff`. [`DssChecksum::verify`] does
//! exactly that, so it accepts what the kernel accepts (including both
//! ones'-complement zeros, `0x0000` and `0xffff`, where a plain `==` on
//! [`DssChecksum::finish`] would accept one). On send, the kernel writes
//! `csum_fold(...)` = the complement of the folded sum, which is what
//! [`DssChecksum::finish`] returns.

/// Bytes summed between two foldings of the accumulator, far below overflow.
const FOLD_EVERY: usize = 1 << 16;

/// Fold a wide ones' complement sum to 16 bits with end-around carry.
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop leaves `sum <= 0xffff`.
    sum as u16
}

/// A streaming DSS checksum: the pseudo-header, then payload in any number of pieces.
///
/// ```
/// use umptcp_crypto::{DssChecksum, dss_checksum};
///
/// let mut csum = DssChecksum::new(0x0102_0304_0506_0708, 1, 5);
/// csum.update(b"hel");
/// csum.update(b"lo");
/// assert_eq!(csum.finish(), dss_checksum(0x0102_0304_0506_0708, 1, 5, b"hello"));
/// assert!(csum.verify(csum.finish()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DssChecksum {
    /// Ones' complement sum so far, not yet folded to 16 bits.
    sum: u64,
    /// The last byte of an odd-length piece, waiting for its low half.
    pending: Option<u8>,
}

impl DssChecksum {
    /// Start a checksum with the pseudo-header of a mapping.
    ///
    /// `data_seq` is the full 64-bit data sequence number of the mapping,
    /// `subflow_seq` its relative subflow sequence number and `data_len`
    /// the data-level length as carried in the DSS option (counting a
    /// DATA_FIN as 1).
    pub fn new(data_seq: u64, subflow_seq: u32, data_len: u16) -> Self {
        // RFC 8684 §3.3.1: "the data sequence number used in the
        // pseudo-header is always the 64-bit value".
        let mut header = [0u8; 16];
        header[..8].copy_from_slice(&data_seq.to_be_bytes());
        header[8..12].copy_from_slice(&subflow_seq.to_be_bytes());
        header[12..14].copy_from_slice(&data_len.to_be_bytes());
        // header[14..16]: the checksum field itself, summed as zero.
        let mut csum = Self {
            sum: 0,
            pending: None,
        };
        csum.update(&header);
        csum
    }

    /// Add the next piece of the mapping's payload, of any length.
    pub fn update(&mut self, mut bytes: &[u8]) {
        if let Some(high) = self.pending.take() {
            match bytes.split_first() {
                Some((&low, rest)) => {
                    self.sum += u64::from(u16::from_be_bytes([high, low]));
                    bytes = rest;
                }
                None => {
                    self.pending = Some(high);
                    return;
                }
            }
        }
        for block in bytes.chunks(FOLD_EVERY) {
            let mut words = block.chunks_exact(4);
            for w in &mut words {
                // A 32-bit big-endian word adds the same, modulo 0xffff, as
                // its two 16-bit halves (2^16 ≡ 1 mod 0xffff).
                self.sum += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
            }
            let rest = words.remainder();
            let mut pairs = rest.chunks_exact(2);
            for p in &mut pairs {
                self.sum += u64::from(u16::from_be_bytes([p[0], p[1]]));
            }
            if let [last] = pairs.remainder() {
                // Only the final block of `bytes` can end on an odd byte.
                self.pending = Some(*last);
            }
            self.sum = u64::from(fold(self.sum));
        }
    }

    /// Fold the ones' complement sum so far, padding a pending odd byte with zero.
    fn folded_sum(&self) -> u16 {
        let tail = self.pending.map_or(0, |high| u64::from(high) << 8);
        fold(self.sum + tail)
    }

    /// Return the checksum to put in the DSS option for the payload added so far.
    pub fn finish(&self) -> u16 {
        !self.folded_sum()
    }

    /// Check a received checksum against the payload added so far, as Linux does.
    ///
    /// True iff the ones' complement sum of pseudo-header, payload and
    /// `received` is `0xffff` (see the module documentation).
    pub fn verify(&self, received: u16) -> bool {
        fold(u64::from(self.folded_sum()) + u64::from(received)) == 0xffff
    }
}

/// Compute the DSS checksum of a mapping whose payload is in one slice.
pub fn dss_checksum(data_seq: u64, subflow_seq: u32, data_len: u16, payload: &[u8]) -> u16 {
    let mut csum = DssChecksum::new(data_seq, subflow_seq, data_len);
    csum.update(payload);
    csum.finish()
}

/// Check the received DSS checksum of a mapping whose payload is in one slice.
pub fn verify_dss_checksum(
    data_seq: u64,
    subflow_seq: u32,
    data_len: u16,
    payload: &[u8],
    received: u16,
) -> bool {
    let mut csum = DssChecksum::new(data_seq, subflow_seq, data_len);
    csum.update(payload);
    csum.verify(received)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers computed independently with Python (RFC 1071 sum over
    // the packed pseudo-header and payload, odd length padded with a zero
    // byte, then complemented):
    //   python3 -c 'import struct
    //   def csum(dsn,sseq,dlen,payload):
    //     d=struct.pack(">QIHH",dsn,sseq,dlen,0)+payload
    //     d+=b"\0"*(len(d)%2); s=sum(struct.unpack(">%dH"%(len(d)//2),d))
    //     while s>>16: s=(s&0xffff)+(s>>16)
    //     return "%04x"%(~s&0xffff)
    //   print(csum(0x0102030405060708,1,5,b"hello"))'
    #[test]
    fn known_answer_odd_payload() {
        assert_eq!(dss_checksum(0x0102_0304_0506_0708, 1, 5, b"hello"), 0xac13);
    }

    #[test]
    fn known_answer_even_payload() {
        assert_eq!(dss_checksum(0x0102_0304_0506_0708, 1, 4, b"abcd"), 0x2b20);
    }

    #[test]
    fn known_answer_long_payload_with_carries() {
        // csum(0xffffffffffffffff, 0xfffffff0, 1000, bytes(i % 251 for i in range(1000)))
        let payload: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(dss_checksum(u64::MAX, 0xffff_fff0, 1000, &payload), 0xda06);
    }

    #[test]
    fn known_answer_data_fin_alone() {
        // A DATA_FIN with no payload: data-level length 1, nothing summed.
        // csum(0x1000, 0, 1, b"")
        assert_eq!(dss_checksum(0x1000, 0, 1, b""), 0xeffe);
    }

    #[test]
    fn known_answer_data_with_data_fin() {
        // Three bytes of data plus DATA_FIN: the length field says 4.
        // csum(0x1000, 100, 4, b"abc")
        assert_eq!(dss_checksum(0x1000, 100, 4, b"abc"), 0x2b35);
    }

    #[test]
    fn verify_accepts_the_computed_value_and_rejects_others() {
        let c = dss_checksum(0x0102_0304_0506_0708, 1, 5, b"hello");
        assert!(verify_dss_checksum(
            0x0102_0304_0506_0708,
            1,
            5,
            b"hello",
            c
        ));
        assert!(!verify_dss_checksum(
            0x0102_0304_0506_0708,
            1,
            5,
            b"hellp",
            c
        ));
        assert!(!verify_dss_checksum(
            0x0102_0304_0506_0708,
            2,
            5,
            b"hello",
            c
        ));
        assert!(!verify_dss_checksum(
            0x0102_0304_0506_0708,
            1,
            6,
            b"hello",
            c
        ));
        assert!(!verify_dss_checksum(
            0x0102_0304_0506_0709,
            1,
            5,
            b"hello",
            c
        ));
        assert!(!verify_dss_checksum(
            0x0102_0304_0506_0708,
            1,
            5,
            b"hello",
            c ^ 1
        ));
    }

    #[test]
    fn verify_accepts_both_zeros_like_linux() {
        // Choose a payload word that makes the sum 0xffff, so the checksum
        // is 0x0000; its ones'-complement twin 0xffff must pass too.
        let base = DssChecksum::new(0, 0, 2);
        let word = !base.folded_sum(); // header sum + word == 0xffff
        let mut csum = base.clone();
        csum.update(&word.to_be_bytes());
        assert_eq!(csum.finish(), 0x0000);
        assert!(csum.verify(0x0000));
        assert!(csum.verify(0xffff));
        assert!(!csum.verify(0x0001));
    }

    #[test]
    fn empty_updates_change_nothing() {
        let mut a = DssChecksum::new(7, 8, 3);
        a.update(b"a");
        a.update(b"");
        a.update(b"bc");
        assert_eq!(a.finish(), dss_checksum(7, 8, 3, b"abc"));
    }
}
