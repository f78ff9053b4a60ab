//! MP_JOIN (RFC 8684 §3.2): add a subflow to an existing connection.
//!
//! ```text
//!  SYN (Length = 12):
//!  +---------------+---------------+-------+-----+-+---------------+
//!  |     Kind      |  Length = 12  |Subtype|(rsv)|B|   Address ID  |
//!  +---------------+---------------+-------+-----+-+---------------+
//!  |                   Receiver's Token (32 bits)                  |
//!  |                Sender's Random Number (32 bits)               |
//!  +---------------------------------------------------------------+
//!  SYN/ACK (Length = 16):
//!  |     Kind      |  Length = 16  |Subtype|(rsv)|B|   Address ID  |
//!  |                Sender's Truncated HMAC (64 bits)              |
//!  |                Sender's Random Number (32 bits)               |
//!  Third ACK (Length = 24):
//!  |     Kind      |  Length = 24  |Subtype|      (reserved)       |
//!  |                   Sender's HMAC (160 bits)                    |
//! ```

use super::{emit_header, split_header};
use crate::{AddrId, Error, Nonce, Result, Token};

/// Name used in errors.
const WHAT: &str = "MP_JOIN";
/// The B flag in the low nibble of byte 2.
const B_BACKUP: u8 = 0x1;

/// MP_JOIN in one of its three handshake forms, told apart by length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MpJoin {
    /// The SYN (length 12).
    Syn {
        /// B: the sender wants this subflow as a backup.
        backup: bool,
        /// The address ID of the SYN's source address.
        addr_id: AddrId,
        /// The token of the connection to join (from the receiver's key).
        token: Token,
        /// The sender's random number.
        nonce: Nonce,
    },
    /// The SYN/ACK (length 16).
    SynAck {
        /// B: the sender wants this subflow as a backup.
        backup: bool,
        /// The address ID of the SYN/ACK's source address.
        addr_id: AddrId,
        /// The leftmost 64 bits of the sender's HMAC, big-endian on the wire.
        hmac: u64,
        /// The sender's random number.
        nonce: Nonce,
    },
    /// The third ACK (length 24).
    Ack {
        /// The sender's full 160-bit HMAC (leftmost 160 bits of HMAC-SHA256).
        hmac: [u8; 20],
    },
}

impl MpJoin {
    /// The subtype nibble of MP_JOIN.
    pub const SUBTYPE: u8 = 0x1;

    /// Parse a whole MP_JOIN option (kind, length, body).
    ///
    /// Reserved bits are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] unless the length is 12, 16 or 24; header errors
    /// as [`super::MptcpOption::parse`].
    pub fn parse(option: &[u8]) -> Result<Self> {
        let (nibble, mut r) = split_header(option, Self::SUBTYPE, WHAT)?;
        // RFC 8684 §3.2: "B: 1 bit ... backup"; the 3 bits above are reserved.
        let backup = nibble & B_BACKUP != 0;
        Ok(match option.len() {
            // RFC 8684 §3.2, Figure 5: "MP_JOIN Option (for Initial SYN)", Length = 12.
            12 => Self::Syn {
                backup,
                addr_id: AddrId(r.u8()?),
                token: Token(r.u32()?),
                nonce: Nonce(r.u32()?),
            },
            // RFC 8684 §3.2, Figure 6: "MP_JOIN Option (for Responding SYN/ACK)", Length = 16.
            16 => Self::SynAck {
                backup,
                addr_id: AddrId(r.u8()?),
                hmac: r.u64()?,
                nonce: Nonce(r.u32()?),
            },
            // RFC 8684 §3.2, Figure 7: "MP_JOIN Option (for Third ACK)", Length = 24;
            // the 12 bits after the subtype are reserved.
            24 => {
                r.u8()?;
                Self::Ack { hmac: r.array()? }
            }
            len => return Err(Error::BadLength { what: WHAT, len }),
        })
    }

    /// Return the total length in bytes (12, 16 or 24).
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::Syn { .. } => 12,
            Self::SynAck { .. } => 16,
            Self::Ack { .. } => 24,
        }
    }

    /// Write the option into `buf`; return the bytes written. Reserved bits are zero.
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] if `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let flag = |backup: bool| if backup { B_BACKUP } else { 0 };
        match *self {
            Self::Syn {
                backup,
                addr_id,
                token,
                nonce,
            } => {
                let mut w = emit_header(buf, len, Self::SUBTYPE, flag(backup), WHAT)?;
                w.put(&[addr_id.0])?;
                w.put(&token.0.to_be_bytes())?;
                w.put(&nonce.0.to_be_bytes())?;
            }
            Self::SynAck {
                backup,
                addr_id,
                hmac,
                nonce,
            } => {
                let mut w = emit_header(buf, len, Self::SUBTYPE, flag(backup), WHAT)?;
                w.put(&[addr_id.0])?;
                w.put(&hmac.to_be_bytes())?;
                w.put(&nonce.0.to_be_bytes())?;
            }
            Self::Ack { hmac } => {
                let mut w = emit_header(buf, len, Self::SUBTYPE, 0, WHAT)?;
                w.put(&[0])?;
                w.put(&hmac)?;
            }
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(bytes: &[u8], expected: MpJoin) {
        let v = MpJoin::parse(bytes).unwrap();
        assert_eq!(v, expected);
        let mut out = [0u8; 24];
        assert_eq!(v.emit(&mut out), Ok(bytes.len()));
        assert_eq!(&out[..bytes.len()], bytes);
    }

    #[test]
    fn syn_12() {
        let bytes = [
            30, 12, 0x11, 0x02, 0xa1, 0xb2, 0xc3, 0xd4, 0x01, 0x02, 0x03, 0x04,
        ];
        round_trip(
            &bytes,
            MpJoin::Syn {
                backup: true,
                addr_id: AddrId(2),
                token: Token(0xa1b2_c3d4),
                nonce: Nonce(0x0102_0304),
            },
        );
    }

    #[test]
    fn syn_ack_16() {
        let bytes = [
            30, 16, 0x10, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0xca, 0xfe, 0xba, 0xbe,
        ];
        round_trip(
            &bytes,
            MpJoin::SynAck {
                backup: false,
                addr_id: AddrId(0),
                hmac: 0x0102_0304_0506_0708,
                nonce: Nonce(0xcafe_babe),
            },
        );
    }

    #[test]
    fn ack_24() {
        let mut bytes = [0u8; 24];
        bytes[..4].copy_from_slice(&[30, 24, 0x10, 0x00]);
        let mut hmac = [0u8; 20];
        for (i, b) in hmac.iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        bytes[4..].copy_from_slice(&hmac);
        round_trip(&bytes, MpJoin::Ack { hmac });
    }

    #[test]
    fn reserved_ignored() {
        let bytes = [30, 12, 0x1e, 0x02, 0, 0, 0, 1, 0, 0, 0, 2];
        assert_eq!(
            MpJoin::parse(&bytes).unwrap(),
            MpJoin::Syn {
                backup: false,
                addr_id: AddrId(2),
                token: Token(1),
                nonce: Nonce(2)
            }
        );
        let mut ack = [0xffu8; 24];
        ack[..3].copy_from_slice(&[30, 24, 0x1f]);
        assert_eq!(
            MpJoin::parse(&ack).unwrap(),
            MpJoin::Ack { hmac: [0xff; 20] }
        );
    }

    #[test]
    fn bad_length() {
        let b = [30, 8, 0x10, 0, 0, 0, 0, 0];
        assert_eq!(
            MpJoin::parse(&b),
            Err(Error::BadLength { what: WHAT, len: 8 })
        );
        assert_eq!(
            MpJoin::parse(&[30, 3, 0x10]),
            Err(Error::BadLength { what: WHAT, len: 3 })
        );
    }
}
