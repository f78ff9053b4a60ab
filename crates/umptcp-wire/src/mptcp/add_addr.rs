//! ADD_ADDR (RFC 8684 §3.4.1): announce an additional address of the sender.
//!
//! ```text
//!  +---------------+---------------+-------+-------+---------------+
//!  |     Kind      |     Length    |Subtype| (rsv)|E|  Address ID  |
//!  +---------------+---------------+-------+-------+---------------+
//!  |           Address (IPv4: 4 octets / IPv6: 16 octets)          |
//!  +-------------------------------+-------------------------------+
//!  |   Port (2 octets, optional)   |                               |
//!  +-------------------------------+                               |
//!  |                Truncated HMAC (8 octets, if E=0)              |
//!  +---------------------------------------------------------------+
//! ```
//!
//! The length alone tells IPv4 from IPv6 and whether port and HMAC are
//! present: IPv4 8 / 10 / 16 / 18, IPv6 20 / 22 / 28 / 30 (bare, with port,
//! with HMAC, with both). The parser accepts an HMAC with E=1 and no HMAC with
//! E=0; whether that is acceptable is for the path manager to decide.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{emit_header, split_header};
use crate::{AddrId, Error, Result};

/// Name used in errors.
const WHAT: &str = "ADD_ADDR";
/// The E (echo) flag in the low nibble of byte 2.
const E_ECHO: u8 = 0x1;

/// ADD_ADDR: an address (and optional port) with its ID and HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddAddr {
    /// E: this is the echo acknowledging the peer's ADD_ADDR.
    pub echo: bool,
    /// The address ID given to `addr`.
    pub addr_id: AddrId,
    /// The announced address; its family fixes the option length.
    pub addr: IpAddr,
    /// The port, if other than the connection's.
    pub port: Option<u16>,
    /// The truncated HMAC (leftmost 64 bits), big-endian on the wire.
    pub hmac: Option<u64>,
}

impl AddAddr {
    /// The subtype nibble of ADD_ADDR.
    pub const SUBTYPE: u8 = 0x3;

    /// Parse a whole ADD_ADDR option (kind, length, body).
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] unless the length is one of 8, 10, 16, 18, 20, 22,
    /// 28, 30; header errors as [`super::MptcpOption::parse`].
    pub fn parse(option: &[u8]) -> Result<Self> {
        let (nibble, mut r) = split_header(option, Self::SUBTYPE, WHAT)?;
        let len = option.len();
        // RFC 8684 §3.4.1: "The 'E' flag ... is used ... to signal an echo"; it
        // is the lowest of the 4 bits after the subtype, the others reserved.
        let echo = nibble & E_ECHO != 0;
        // RFC 8684 §3.4.1: lengths are 8 (IPv4) or 20 (IPv6), "+2 if a port is
        // included" and +8 for the "Truncated HMAC".
        let (v6, port, hmac) = match len {
            8 => (false, false, false),
            10 => (false, true, false),
            16 => (false, false, true),
            18 => (false, true, true),
            20 => (true, false, false),
            22 => (true, true, false),
            28 => (true, false, true),
            30 => (true, true, true),
            _ => return Err(Error::BadLength { what: WHAT, len }),
        };
        let addr_id = AddrId(r.u8()?);
        let addr = if v6 {
            IpAddr::V6(Ipv6Addr::from(r.array::<16>()?))
        } else {
            IpAddr::V4(Ipv4Addr::from(r.array::<4>()?))
        };
        let port = if port { Some(r.u16()?) } else { None };
        let hmac = if hmac { Some(r.u64()?) } else { None };
        Ok(Self {
            echo,
            addr_id,
            addr,
            port,
            hmac,
        })
    }

    /// Return the total length in bytes (one of 8, 10, 16, 18, 20, 22, 28, 30).
    pub fn buffer_len(&self) -> usize {
        let base = match self.addr {
            IpAddr::V4(_) => 8,
            IpAddr::V6(_) => 20,
        };
        base + if self.port.is_some() { 2 } else { 0 } + if self.hmac.is_some() { 8 } else { 0 }
    }

    /// Write the option into `buf`; return the bytes written.
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] if `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let nibble = if self.echo { E_ECHO } else { 0 };
        let mut w = emit_header(buf, len, Self::SUBTYPE, nibble, WHAT)?;
        w.put(&[self.addr_id.0])?;
        match self.addr {
            IpAddr::V4(a) => w.put(&a.octets())?,
            IpAddr::V6(a) => w.put(&a.octets())?,
        }
        if let Some(port) = self.port {
            w.put(&port.to_be_bytes())?;
        }
        if let Some(hmac) = self.hmac {
            w.put(&hmac.to_be_bytes())?;
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(bytes: &[u8], expected: AddAddr) {
        let v = AddAddr::parse(bytes).unwrap();
        assert_eq!(v, expected);
        assert_eq!(v.buffer_len(), bytes.len());
        let mut out = [0u8; 30];
        assert_eq!(v.emit(&mut out), Ok(bytes.len()));
        assert_eq!(&out[..bytes.len()], bytes);
    }

    const V4: [u8; 4] = [192, 0, 2, 1];
    const V6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const PORT: [u8; 2] = [0x1f, 0x90];
    const HMAC: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    fn bytes(echo: bool, addr: &[u8], port: bool, hmac: bool) -> Vec<u8> {
        let mut b = vec![30, 0, 0x30 | u8::from(echo), 3];
        b.extend_from_slice(addr);
        if port {
            b.extend_from_slice(&PORT);
        }
        if hmac {
            b.extend_from_slice(&HMAC);
        }
        b[1] = b.len() as u8;
        b
    }

    #[test]
    fn every_length() {
        for (raw, addr) in [
            (&V4[..], IpAddr::V4(Ipv4Addr::from(V4))),
            (&V6[..], IpAddr::V6(Ipv6Addr::from(V6))),
        ] {
            for port in [false, true] {
                for hmac in [false, true] {
                    let echo = !hmac;
                    round_trip(
                        &bytes(echo, raw, port, hmac),
                        AddAddr {
                            echo,
                            addr_id: AddrId(3),
                            addr,
                            port: port.then_some(8080),
                            hmac: hmac.then_some(0x0102_0304_0506_0708),
                        },
                    );
                }
            }
        }
        // Spot-check lengths against the RFC list.
        assert_eq!(bytes(false, &V4, false, false).len(), 8);
        assert_eq!(bytes(false, &V4, true, true).len(), 18);
        assert_eq!(bytes(false, &V6, false, true).len(), 28);
        assert_eq!(bytes(false, &V6, true, true).len(), 30);
    }

    #[test]
    fn reserved_ignored_and_bad_length() {
        let mut b = bytes(false, &V4, false, true);
        b[2] = 0x3e;
        assert!(!AddAddr::parse(&b).unwrap().echo);
        for len in [3usize, 4, 9, 12, 19, 24, 31] {
            let mut b = [0u8; 31];
            b[..3].copy_from_slice(&[30, len as u8, 0x30]);
            assert_eq!(
                AddAddr::parse(&b[..len]),
                Err(Error::BadLength { what: WHAT, len }),
                "len {len}"
            );
        }
    }
}
