//! MP_FAIL (RFC 8684 §3.7): fall back to single-path after a checksum failure.
//!
//! ```text
//!  +---------------+---------------+-------+----------------------+
//!  |     Kind      |   Length=12   |Subtype|      (reserved)      |
//!  +---------------+---------------+-------+----------------------+
//!  |                Data Sequence Number (8 octets)               |
//!  +--------------------------------------------------------------+
//! ```

use super::{RESERVED_U64_LEN, emit_reserved_u64, parse_reserved_u64};
use crate::Result;

/// Name used in errors.
const WHAT: &str = "MP_FAIL";

/// MP_FAIL: the data sequence number of the first byte whose checksum failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpFail {
    /// The 64-bit data sequence number to fall back at.
    pub dsn: u64,
}

impl MpFail {
    /// The subtype nibble of MP_FAIL.
    pub const SUBTYPE: u8 = 0x6;

    /// Parse a whole MP_FAIL option (kind, length, body).
    ///
    /// # Errors
    ///
    /// [`crate::Error::BadLength`] unless the length is 12; header errors as [`super::MptcpOption::parse`].
    pub fn parse(option: &[u8]) -> Result<Self> {
        // RFC 8684 §3.7: MP_FAIL is 12 octets: "the 64-bit Data Sequence Number".
        // The 12 reserved bits (byte 2 low nibble and byte 3) are ignored.
        let dsn = parse_reserved_u64(option, Self::SUBTYPE, WHAT)?;
        Ok(Self { dsn })
    }

    /// Return the total length in bytes (always 12).
    pub fn buffer_len(&self) -> usize {
        RESERVED_U64_LEN
    }

    /// Write the option into `buf`; return the bytes written.
    ///
    /// # Errors
    ///
    /// [`crate::Error::BufferTooSmall`] if `buf` is shorter than 12 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_reserved_u64(buf, Self::SUBTYPE, WHAT, self.dsn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    const BYTES: [u8; 12] = [30, 12, 0x60, 0x00, 1, 2, 3, 4, 5, 6, 7, 8];

    #[test]
    fn parse_and_emit_known_bytes() {
        let v = MpFail::parse(&BYTES).unwrap();
        assert_eq!(
            v,
            MpFail {
                dsn: 0x0102_0304_0506_0708
            }
        );
        let mut out = [0u8; 12];
        assert_eq!(v.emit(&mut out), Ok(12));
        assert_eq!(out, BYTES);
    }

    #[test]
    fn reserved_bits_ignored() {
        let mut b = BYTES;
        b[2] = 0x6f;
        b[3] = 0xff;
        assert_eq!(MpFail::parse(&b).unwrap().dsn, 0x0102_0304_0506_0708);
    }

    #[test]
    fn bad_length() {
        let b = [30, 11, 0x60, 0, 1, 2, 3, 4, 5, 6, 7];
        assert_eq!(
            MpFail::parse(&b),
            Err(Error::BadLength {
                what: WHAT,
                len: 11
            })
        );
        assert_eq!(
            MpFail { dsn: 1 }.emit(&mut [0u8; 11]),
            Err(Error::BufferTooSmall)
        );
    }
}
