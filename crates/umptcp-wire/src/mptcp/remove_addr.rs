//! REMOVE_ADDR (RFC 8684 §3.4.2): the sender no longer has these addresses.
//!
//! ```text
//!  +---------------+---------------+-------+-------+---------------+
//!  |     Kind      |  Length = 3+n |Subtype|(resvd)|   Address ID  | ...
//!  +---------------+---------------+-------+-------+---------------+
//! ```

use super::{emit_header, split_header};
use crate::{AddrId, Error, Result};

/// Name used in errors.
const WHAT: &str = "REMOVE_ADDR";

/// REMOVE_ADDR: one or more address IDs, borrowed from the option bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemoveAddr<'a> {
    /// The raw address IDs; at least one (at most 252 to fit the length byte).
    pub ids: &'a [u8],
}

impl<'a> RemoveAddr<'a> {
    /// The subtype nibble of REMOVE_ADDR.
    pub const SUBTYPE: u8 = 0x4;

    /// Iterate over the address IDs, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = AddrId> + 'a {
        let ids: &'a [u8] = self.ids;
        ids.iter().copied().map(AddrId)
    }

    /// Parse a whole REMOVE_ADDR option (kind, length, body).
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] if it carries no address ID (length 3); header errors as [`super::MptcpOption::parse`].
    pub fn parse(option: &'a [u8]) -> Result<Self> {
        let (_, r) = split_header(option, Self::SUBTYPE, WHAT)?;
        // RFC 8684 §3.4.2: "Length = 3 + n", one octet per address ID; n >= 1
        // since "the option can be used to remove multiple addresses".
        let ids = r.rest();
        if ids.is_empty() {
            return Err(Error::BadLength {
                what: WHAT,
                len: option.len(),
            });
        }
        Ok(Self { ids })
    }

    /// Return the total length in bytes (3 + number of IDs).
    pub fn buffer_len(&self) -> usize {
        3 + self.ids.len()
    }

    /// Write the option into `buf`; return the bytes written.
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] if `ids` is empty or longer than 252;
    /// [`Error::BufferTooSmall`] if `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        if self.ids.is_empty() {
            return Err(Error::BadLength { what: WHAT, len });
        }
        let mut w = emit_header(buf, len, Self::SUBTYPE, 0, WHAT)?;
        w.put(self.ids)?;
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_three_ids() {
        let one = [30, 4, 0x40, 0x05];
        let v = RemoveAddr::parse(&one).unwrap();
        assert_eq!(v.iter().collect::<Vec<_>>(), vec![AddrId(5)]);
        let mut out = [0u8; 4];
        assert_eq!(v.emit(&mut out), Ok(4));
        assert_eq!(out, one);

        let three = [30, 6, 0x4f, 1, 2, 3];
        let v = RemoveAddr::parse(&three).unwrap();
        assert_eq!(
            v.iter().collect::<Vec<_>>(),
            vec![AddrId(1), AddrId(2), AddrId(3)]
        );
        let mut out = [0u8; 6];
        assert_eq!(v.emit(&mut out), Ok(6));
        assert_eq!(out, [30, 6, 0x40, 1, 2, 3]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            RemoveAddr::parse(&[30, 3, 0x40]),
            Err(Error::BadLength { what: WHAT, len: 3 })
        );
        let mut out = [0u8; 8];
        assert!(RemoveAddr { ids: &[] }.emit(&mut out).is_err());
        assert!(
            RemoveAddr { ids: &[0u8; 253] }
                .emit(&mut [0u8; 256])
                .is_err()
        );
        assert_eq!(
            RemoveAddr { ids: &[1, 2] }.emit(&mut out[..4]),
            Err(Error::BufferTooSmall)
        );
    }
}
