//! MP_PRIO (RFC 8684 §3.3.8): change a subflow's backup priority.
//!
//! ```text
//!  +---------------+---------------+-------+-----+-+--------------+
//!  |     Kind      |     Length    |Subtype|     |B| AddrID (opt) |
//!  +---------------+---------------+-------+-----+-+--------------+
//! ```
//!
//! RFC 8684 sends length 3 (the subflow the option travels on is the one
//! changed); RFC 6824 (v0) allowed length 4 with an address ID.

use super::{emit_header, split_header};
use crate::{AddrId, Error, Result};

/// Name used in errors.
const WHAT: &str = "MP_PRIO";
/// The B flag in the low nibble of byte 2.
const B_BACKUP: u8 = 0x1;

/// MP_PRIO: the backup flag, with the v0 address ID if present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpPrio {
    /// B: the sender wants this subflow used only as a backup.
    pub backup: bool,
    /// The address ID of the v0 (RFC 6824) form, length 4; `None` for length 3.
    pub addr_id: Option<AddrId>,
}

impl MpPrio {
    /// The subtype nibble of MP_PRIO.
    pub const SUBTYPE: u8 = 0x5;

    /// Parse a whole MP_PRIO option (kind, length, body).
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] unless the length is 3 or 4; header errors as [`super::MptcpOption::parse`].
    pub fn parse(option: &[u8]) -> Result<Self> {
        let (nibble, mut r) = split_header(option, Self::SUBTYPE, WHAT)?;
        // RFC 8684 §3.3.8: "B: 1 bit ... backup priority"; the 3 bits above it are reserved.
        let backup = nibble & B_BACKUP != 0;
        let addr_id = match option.len() {
            // RFC 8684 §3.3.8: "Length=3" — applies to the subflow it is sent on.
            3 => None,
            // RFC 6824 §3.3.8: "Length=3 or 4", with an optional AddrID.
            4 => Some(AddrId(r.u8()?)),
            len => return Err(Error::BadLength { what: WHAT, len }),
        };
        Ok(Self { backup, addr_id })
    }

    /// Return the total length in bytes (3, or 4 with an address ID).
    pub fn buffer_len(&self) -> usize {
        if self.addr_id.is_some() { 4 } else { 3 }
    }

    /// Write the option into `buf`; return the bytes written.
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] if `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let nibble = if self.backup { B_BACKUP } else { 0 };
        let mut w = emit_header(buf, len, Self::SUBTYPE, nibble, WHAT)?;
        if let Some(id) = self.addr_id {
            w.put(&[id.0])?;
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_3() {
        let bytes = [30, 3, 0x51];
        let v = MpPrio::parse(&bytes).unwrap();
        assert_eq!(
            v,
            MpPrio {
                backup: true,
                addr_id: None
            }
        );
        let mut out = [0u8; 3];
        assert_eq!(v.emit(&mut out), Ok(3));
        assert_eq!(out, bytes);
    }

    #[test]
    fn length_4_v0() {
        let bytes = [30, 4, 0x50, 0x07];
        let v = MpPrio::parse(&bytes).unwrap();
        assert_eq!(
            v,
            MpPrio {
                backup: false,
                addr_id: Some(AddrId(7))
            }
        );
        let mut out = [0u8; 4];
        assert_eq!(v.emit(&mut out), Ok(4));
        assert_eq!(out, bytes);
    }

    #[test]
    fn reserved_ignored_and_bad_length() {
        assert_eq!(
            MpPrio::parse(&[30, 3, 0x5e]).unwrap(),
            MpPrio {
                backup: false,
                addr_id: None
            }
        );
        assert_eq!(
            MpPrio::parse(&[30, 5, 0x50, 1, 2]),
            Err(Error::BadLength { what: WHAT, len: 5 })
        );
    }
}
