//! MP_FASTCLOSE (RFC 8684 §3.5): abruptly close the whole connection.
//!
//! ```text
//!  +---------------+---------------+-------+-----------------------+
//!  |     Kind      |   Length=12   |Subtype|      (reserved)       |
//!  +---------------+---------------+-------+-----------------------+
//!  |                  Option Receiver's Key (64 bits)              |
//!  +---------------------------------------------------------------+
//! ```

use super::{RESERVED_U64_LEN, emit_reserved_u64, parse_reserved_u64};
use crate::{Key, Result};

/// Name used in errors.
const WHAT: &str = "MP_FASTCLOSE";

/// MP_FASTCLOSE: the key of the option's receiver, proving the sender knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpFastclose {
    /// The receiver's 64-bit key.
    pub receiver_key: Key,
}

impl MpFastclose {
    /// The subtype nibble of MP_FASTCLOSE.
    pub const SUBTYPE: u8 = 0x7;

    /// Parse a whole MP_FASTCLOSE option (kind, length, body).
    ///
    /// # Errors
    ///
    /// [`crate::Error::BadLength`] unless the length is 12; header errors as [`super::MptcpOption::parse`].
    pub fn parse(option: &[u8]) -> Result<Self> {
        // RFC 8684 §3.5: "the option includes the Option Receiver's Key"; length 12.
        // Reserved: byte 2 low nibble and byte 3, ignored.
        let key = parse_reserved_u64(option, Self::SUBTYPE, WHAT)?;
        Ok(Self {
            receiver_key: Key(key),
        })
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
        emit_reserved_u64(buf, Self::SUBTYPE, WHAT, self.receiver_key.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    const BYTES: [u8; 12] = [30, 12, 0x70, 0x00, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1];

    #[test]
    fn parse_and_emit_known_bytes() {
        let v = MpFastclose::parse(&BYTES).unwrap();
        assert_eq!(
            v,
            MpFastclose {
                receiver_key: Key(0xdead_beef_0000_0001)
            }
        );
        let mut out = [0u8; 12];
        assert_eq!(v.emit(&mut out), Ok(12));
        assert_eq!(out, BYTES);
    }

    #[test]
    fn bad_length_and_subtype() {
        let b = [30, 4, 0x70, 0];
        assert_eq!(
            MpFastclose::parse(&b),
            Err(Error::BadLength { what: WHAT, len: 4 })
        );
        let mut w = BYTES;
        w[2] = 0x60;
        assert_eq!(MpFastclose::parse(&w), Err(Error::Malformed(WHAT)));
    }
}
