//! MP_FASTCLOSE (RFC 8684 §3.5): abruptly close the whole connection.
//!
//! ```text
//!  +---------------+---------------+-------+-----------------------+
//!  |     Kind      |   Length=12   |Subtype|      (reserved)       |
//!  +---------------+---------------+-------+-----------------------+
//!  |                  Option Receiver's Key (64 bits)              |
//!  +---------------------------------------------------------------+
//! ```

use super::{emit_header, split_header};
use crate::{Error, Key, Result};

/// Length of MP_FASTCLOSE.
const LEN: usize = 12;
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
    /// [`Error::BadLength`] unless the length is 12; header errors as [`super::MptcpOption::parse`].
    pub fn parse(option: &[u8]) -> Result<Self> {
        let (_, mut r) = split_header(option, Self::SUBTYPE, WHAT)?;
        // RFC 8684 §3.5: "the option includes the Option Receiver's Key"; length 12.
        if option.len() != LEN {
            return Err(Error::BadLength {
                what: WHAT,
                len: option.len(),
            });
        }
        // Reserved: byte 2 low nibble and byte 3, ignored.
        r.u8()?;
        Ok(Self {
            receiver_key: Key(r.u64()?),
        })
    }

    /// Return the total length in bytes (always 12).
    pub fn buffer_len(&self) -> usize {
        LEN
    }

    /// Write the option into `buf`; return the bytes written.
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] if `buf` is shorter than 12 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let mut w = emit_header(buf, LEN, Self::SUBTYPE, 0, WHAT)?;
        w.put(&[0])?;
        w.put(&self.receiver_key.0.to_be_bytes())?;
        Ok(LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
