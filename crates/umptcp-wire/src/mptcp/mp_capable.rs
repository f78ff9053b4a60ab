//! MP_CAPABLE (RFC 8684 §3.1): the handshake that makes a connection MPTCP.
//!
//! ```text
//!  +---------------+---------------+-------+-------+---------------+
//!  |     Kind      |    Length     |Subtype|Version|A|B|C|D|E|F|G|H|
//!  +---------------+---------------+-------+-------+---------------+
//!  |                Option Sender's Key (64 bits)                  |  (len > 4)
//!  +---------------------------------------------------------------+
//!  |               Option Receiver's Key (64 bits)                 |  (len > 12)
//!  +-------------------------------+-------------------------------+
//!  |  Data-Level Length (16 bits)  |  Checksum (16 bits, optional) |  (len 22/24)
//!  +-------------------------------+-------------------------------+
//! ```
//!
//! The option length alone decides which fields are present: 4 (SYN), 12
//! (SYN/ACK, and the v0 SYN), 20 (third ACK), 22 or 24 (first data ACK,
//! without or with checksum). Version 0 parses too, so the stack can decline it.

use super::{emit_header, split_header};
use crate::{Error, Key, Result};

/// Name used in errors.
const WHAT: &str = "MP_CAPABLE";

/// MP_CAPABLE: version, flags and whichever keys this handshake step carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpCapable {
    /// The MPTCP version nibble (1 for RFC 8684, 0 for RFC 6824); at most 15.
    pub version: u8,
    /// The flags byte (byte 3).
    pub flags: MpCapableFlags,
    /// The keys (and data) present, which fix the option length.
    pub keys: CapableKeys,
}

/// The MP_CAPABLE flags byte `A B C D E F G H` (RFC 8684 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MpCapableFlags(pub u8);

impl MpCapableFlags {
    /// A: checksums are required (DSS checksum on every mapping).
    pub const A_CHECKSUM: u8 = 0x80;
    /// B: extensibility; MUST be 0 in RFC 8684.
    pub const B_EXTENSIBILITY: u8 = 0x40;
    /// C: the sender will not accept additional subflows to its source address.
    pub const C_NO_SOURCE_ADDR: u8 = 0x20;
    /// H: HMAC-SHA256 is the crypto algorithm in use.
    pub const H_HMAC_SHA256: u8 = 0x01;

    /// Return whether flag A (checksum required) is set.
    pub fn checksum_required(self) -> bool {
        self.0 & Self::A_CHECKSUM != 0
    }

    /// Return whether flag B (extensibility) is set.
    pub fn extensibility(self) -> bool {
        self.0 & Self::B_EXTENSIBILITY != 0
    }

    /// Return whether flag C (do not join to my source address) is set.
    pub fn no_source_addr(self) -> bool {
        self.0 & Self::C_NO_SOURCE_ADDR != 0
    }

    /// Return whether flag H (HMAC-SHA256) is set.
    pub fn hmac_sha256(self) -> bool {
        self.0 & Self::H_HMAC_SHA256 != 0
    }
}

/// The key material of an MP_CAPABLE, one variant per option length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapableKeys {
    /// Length 4: the v1 SYN carries no key.
    None,
    /// Length 12: the SYN/ACK (and the v0 SYN) carries the sender's key.
    Sender(Key),
    /// Length 20: the third ACK carries both keys.
    Both {
        /// The key of the option's sender.
        sender: Key,
        /// The key of the option's receiver.
        receiver: Key,
    },
    /// Length 22 (24 with checksum): the first ACK carrying data.
    WithData {
        /// The key of the option's sender.
        sender: Key,
        /// The key of the option's receiver.
        receiver: Key,
        /// Data-Level Length of the payload this option maps.
        data_len: u16,
        /// The DSS checksum, present (length 24) when checksums are in use.
        checksum: Option<u16>,
    },
}

impl MpCapable {
    /// The subtype nibble of MP_CAPABLE.
    pub const SUBTYPE: u8 = 0x0;

    /// Parse a whole MP_CAPABLE option (kind, length, body).
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] unless the length is 4, 12, 20, 22 or 24; header
    /// errors as [`super::MptcpOption::parse`].
    pub fn parse(option: &[u8]) -> Result<Self> {
        let (version, mut r) = split_header(option, Self::SUBTYPE, WHAT)?;
        if !matches!(option.len(), 4 | 12 | 20 | 22 | 24) {
            return Err(Error::BadLength {
                what: WHAT,
                len: option.len(),
            });
        }
        let flags = MpCapableFlags(r.u8()?);
        let keys = match option.len() {
            // RFC 8684 §3.1: on the SYN "the option ... only the first four octets (Length = 4)".
            4 => CapableKeys::None,
            // RFC 8684 §3.1: "SYN/ACK (Length = 12)" with "Option Sender's Key";
            // RFC 6824 §3.1: the v0 SYN has length 12 too.
            12 => CapableKeys::Sender(Key(r.u64()?)),
            // RFC 8684 §3.1: "ACK (no data) (Length = 20)": sender's then receiver's key.
            20 => CapableKeys::Both {
                sender: Key(r.u64()?),
                receiver: Key(r.u64()?),
            },
            // RFC 8684 §3.1: "ACK (with data) (Length = 22 or 24)": keys,
            // Data-Level Length, and "Checksum (16 bits, optional)".
            len @ (22 | 24) => CapableKeys::WithData {
                sender: Key(r.u64()?),
                receiver: Key(r.u64()?),
                data_len: r.u16()?,
                checksum: if len == 24 { Some(r.u16()?) } else { None },
            },
            len => return Err(Error::BadLength { what: WHAT, len }),
        };
        Ok(Self {
            version,
            flags,
            keys,
        })
    }

    /// Return the total length in bytes (4, 12, 20, 22 or 24).
    pub fn buffer_len(&self) -> usize {
        match self.keys {
            CapableKeys::None => 4,
            CapableKeys::Sender(_) => 12,
            CapableKeys::Both { .. } => 20,
            CapableKeys::WithData { checksum: None, .. } => 22,
            CapableKeys::WithData {
                checksum: Some(_), ..
            } => 24,
        }
    }

    /// Write the option into `buf`; return the bytes written.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] if `version` exceeds 15;
    /// [`Error::BufferTooSmall`] if `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if self.version > 0x0f {
            return Err(Error::Malformed("MP_CAPABLE version"));
        }
        let len = self.buffer_len();
        let mut w = emit_header(buf, len, Self::SUBTYPE, self.version, WHAT)?;
        w.put(&[self.flags.0])?;
        match self.keys {
            CapableKeys::None => {}
            CapableKeys::Sender(key) => w.put(&key.0.to_be_bytes())?,
            CapableKeys::Both { sender, receiver } => {
                w.put(&sender.0.to_be_bytes())?;
                w.put(&receiver.0.to_be_bytes())?;
            }
            CapableKeys::WithData {
                sender,
                receiver,
                data_len,
                checksum,
            } => {
                w.put(&sender.0.to_be_bytes())?;
                w.put(&receiver.0.to_be_bytes())?;
                w.put(&data_len.to_be_bytes())?;
                if let Some(csum) = checksum {
                    w.put(&csum.to_be_bytes())?;
                }
            }
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KA: [u8; 8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    const KB: [u8; 8] = [0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00];

    fn round_trip(bytes: &[u8], expected: MpCapable) {
        let v = MpCapable::parse(bytes).unwrap();
        assert_eq!(v, expected);
        assert_eq!(v.buffer_len(), bytes.len());
        let mut out = [0u8; 24];
        assert_eq!(v.emit(&mut out), Ok(bytes.len()));
        assert_eq!(&out[..bytes.len()], bytes);
    }

    #[test]
    fn syn_length_4() {
        // v1, flags A and H, as Linux sends with checksums enabled.
        round_trip(
            &[30, 4, 0x01, 0x81],
            MpCapable {
                version: 1,
                flags: MpCapableFlags(0x81),
                keys: CapableKeys::None,
            },
        );
    }

    #[test]
    fn syn_ack_length_12_and_v0_syn() {
        let mut b = vec![30, 12, 0x01, 0x01];
        b.extend_from_slice(&KA);
        round_trip(
            &b,
            MpCapable {
                version: 1,
                flags: MpCapableFlags(0x01),
                keys: CapableKeys::Sender(Key(0x1122_3344_5566_7788)),
            },
        );
        b[2] = 0x00;
        let v0 = MpCapable::parse(&b).unwrap();
        assert_eq!(v0.version, 0);
    }

    #[test]
    fn ack_length_20() {
        let mut b = vec![30, 20, 0x01, 0x21];
        b.extend_from_slice(&KA);
        b.extend_from_slice(&KB);
        let v = MpCapable::parse(&b).unwrap();
        assert!(v.flags.no_source_addr() && v.flags.hmac_sha256());
        round_trip(
            &b,
            MpCapable {
                version: 1,
                flags: MpCapableFlags(0x21),
                keys: CapableKeys::Both {
                    sender: Key(0x1122_3344_5566_7788),
                    receiver: Key(0x99aa_bbcc_ddee_ff00),
                },
            },
        );
    }

    #[test]
    fn ack_with_data_22_and_24() {
        let mut b = vec![30, 22, 0x01, 0x01];
        b.extend_from_slice(&KA);
        b.extend_from_slice(&KB);
        b.extend_from_slice(&[0x05, 0xdc]);
        let keys = |checksum| CapableKeys::WithData {
            sender: Key(0x1122_3344_5566_7788),
            receiver: Key(0x99aa_bbcc_ddee_ff00),
            data_len: 1500,
            checksum,
        };
        round_trip(
            &b,
            MpCapable {
                version: 1,
                flags: MpCapableFlags(0x01),
                keys: keys(None),
            },
        );
        b[1] = 24;
        b[3] = 0x81;
        b.extend_from_slice(&[0xbe, 0xef]);
        let v = MpCapable::parse(&b).unwrap();
        assert!(v.flags.checksum_required() && !v.flags.extensibility());
        round_trip(
            &b,
            MpCapable {
                version: 1,
                flags: MpCapableFlags(0x81),
                keys: keys(Some(0xbeef)),
            },
        );
    }

    #[test]
    fn errors() {
        for len in [3usize, 5, 8, 13, 21, 23, 25] {
            let mut b = [0u8; 25];
            b[0] = 30;
            b[1] = len as u8;
            b[2] = 0x01;
            assert_eq!(
                MpCapable::parse(&b[..len]),
                Err(Error::BadLength { what: WHAT, len }),
                "len {len}"
            );
        }
        let bad = MpCapable {
            version: 16,
            flags: MpCapableFlags(0),
            keys: CapableKeys::None,
        };
        assert_eq!(
            bad.emit(&mut [0u8; 4]),
            Err(Error::Malformed("MP_CAPABLE version"))
        );
        let ok = MpCapable {
            version: 1,
            flags: MpCapableFlags(0),
            keys: CapableKeys::Sender(Key(1)),
        };
        assert_eq!(ok.emit(&mut [0u8; 11]), Err(Error::BufferTooSmall));
    }
}
