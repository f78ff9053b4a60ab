//! DSS, the Data Sequence Signal (RFC 8684 §3.3): data ACK, mapping, DATA_FIN.
//!
//! ```text
//!  +---------------+---------------+-------+----------------------+
//!  |     Kind      |    Length     |Subtype| (reserved) |F|m|M|a|A|
//!  +---------------+---------------+-------+----------------------+
//!  |           Data ACK (4 or 8 octets, depending on flags)       |  (A)
//!  +--------------------------------------------------------------+
//!  |   Data Sequence Number (4 or 8 octets, depending on flags)   |  (M)
//!  +--------------------------------------------------------------+
//!  |              Subflow Sequence Number (4 octets)              |  (M)
//!  +-------------------------------+------------------------------+
//!  |  Data-Level Length (2 octets) |      Checksum (2 octets)     |  (M; checksum optional)
//!  +-------------------------------+------------------------------+
//! ```
//!
//! Flag `a` is read only when `A` is set and `m` only when `M` is set (RFC
//! 8684 §3.3: they give the size of the field that A / M announce); alone they
//! are ignored on parse and never emitted. Whether the checksum is present is
//! decided by the option length; a checksum needs a mapping, so a length that
//! is 2 more than the fields without a mapping is a `BadLength`.

use super::{Reader, emit_header, split_header};
use crate::{Error, Result};

/// Name used in errors.
const WHAT: &str = "DSS";

/// Flag A: Data ACK present.
const FLAG_A: u8 = 0x01;
/// Flag a: Data ACK is 8 octets.
const FLAG_A8: u8 = 0x02;
/// Flag M: DSN, subflow sequence number, data-level length (and checksum) present.
const FLAG_M: u8 = 0x04;
/// Flag m: DSN is 8 octets.
const FLAG_M8: u8 = 0x08;
/// Flag F: DATA_FIN.
const FLAG_F: u8 = 0x10;

/// The DSS option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dss {
    /// The Data ACK (flag A), in its 4- or 8-octet form (flag a).
    pub data_ack: Option<DssSeq>,
    /// The data sequence mapping (flag M).
    pub mapping: Option<DssMapping>,
    /// F: this mapping's last data-level octet is the DATA_FIN.
    pub data_fin: bool,
}

/// A data-level sequence number in its 4- or 8-octet wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DssSeq {
    /// The low 32 bits (flag a / m clear); the receiver expands it.
    Short(u32),
    /// The full 64 bits (flag a / m set).
    Long(u64),
}

/// A data sequence mapping: `data_len` octets from `subflow_seq` map to `dsn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DssMapping {
    /// The data sequence number of the first mapped octet.
    pub dsn: DssSeq,
    /// The subflow sequence number, relative to the subflow's initial sequence number.
    pub subflow_seq: u32,
    /// The number of mapped octets; 0 means the infinite mapping.
    pub data_len: u16,
    /// The DSS checksum, present when checksums were negotiated.
    pub checksum: Option<u16>,
}

impl DssSeq {
    /// Return the number of octets on the wire (4 or 8).
    pub fn wire_len(self) -> usize {
        match self {
            Self::Short(_) => 4,
            Self::Long(_) => 8,
        }
    }

    /// Return the value widened to 64 bits (a `Short` is not expanded, only zero-extended).
    pub fn as_u64(self) -> u64 {
        match self {
            Self::Short(v) => u64::from(v),
            Self::Long(v) => v,
        }
    }

    /// Read the 8-octet form if `long`, else the 4-octet form.
    fn read(r: &mut Reader<'_>, long: bool) -> Result<Self> {
        Ok(if long {
            Self::Long(r.u64()?)
        } else {
            Self::Short(r.u32()?)
        })
    }

    /// Return whether this is the 8-octet form.
    fn is_long(self) -> bool {
        matches!(self, Self::Long(_))
    }
}

impl DssMapping {
    /// Return the octets this mapping takes on the wire (10, 12, 14 or 16).
    fn wire_len(&self) -> usize {
        self.dsn.wire_len() + 4 + 2 + if self.checksum.is_some() { 2 } else { 0 }
    }
}

impl Dss {
    /// The subtype nibble of DSS.
    pub const SUBTYPE: u8 = 0x2;

    /// Parse a whole DSS option (kind, length, body).
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] if the length does not match the flags; header
    /// errors as [`super::MptcpOption::parse`].
    pub fn parse(option: &[u8]) -> Result<Self> {
        let (_, mut r) = split_header(option, Self::SUBTYPE, WHAT)?;
        let len = option.len();
        let flags = r.u8().map_err(|_| Error::BadLength { what: WHAT, len })?;
        let has_ack = flags & FLAG_A != 0;
        let has_map = flags & FLAG_M != 0;
        // RFC 8684 §3.3: "'a' = Data ACK is 8 octets (if not set, Data ACK is
        // 4 octets)" and "'m' = Data sequence number is 8 octets"; they only
        // size fields that A / M say are present.
        let ack_len = match (has_ack, flags & FLAG_A8 != 0) {
            (false, _) => 0,
            (true, false) => 4,
            (true, true) => 8,
        };
        let map_len = match (has_map, flags & FLAG_M8 != 0) {
            (false, _) => 0,
            (true, false) => 4 + 4 + 2,
            (true, true) => 8 + 4 + 2,
        };
        let expected = 4 + ack_len + map_len;
        // RFC 8684 §3.3: "Checksum (2 octets)" follows the mapping and is
        // present only if checksums were negotiated, so the length decides.
        let has_checksum = if len == expected {
            false
        } else if has_map && len == expected + 2 {
            true
        } else {
            return Err(Error::BadLength { what: WHAT, len });
        };
        let data_ack = if has_ack {
            Some(DssSeq::read(&mut r, ack_len == 8)?)
        } else {
            None
        };
        let mapping = if has_map {
            Some(DssMapping {
                dsn: DssSeq::read(&mut r, map_len == 14)?,
                subflow_seq: r.u32()?,
                data_len: r.u16()?,
                checksum: if has_checksum { Some(r.u16()?) } else { None },
            })
        } else {
            None
        };
        // RFC 8684 §3.3: "'F' = DATA_FIN"; read whether or not a mapping is present.
        Ok(Self {
            data_ack,
            mapping,
            data_fin: flags & FLAG_F != 0,
        })
    }

    /// Return the total length in bytes (4 to 28).
    pub fn buffer_len(&self) -> usize {
        4 + self.data_ack.map_or(0, DssSeq::wire_len)
            + self.mapping.as_ref().map_or(0, DssMapping::wire_len)
    }

    /// Write the option into `buf`; return the bytes written.
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] if `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let mut flags = 0;
        if let Some(ack) = self.data_ack {
            flags |= FLAG_A | if ack.is_long() { FLAG_A8 } else { 0 };
        }
        if let Some(map) = &self.mapping {
            flags |= FLAG_M | if map.dsn.is_long() { FLAG_M8 } else { 0 };
        }
        if self.data_fin {
            flags |= FLAG_F;
        }
        let mut w = emit_header(buf, len, Self::SUBTYPE, 0, WHAT)?;
        w.put(&[flags])?;
        let put_seq = |w: &mut super::Writer<'_>, seq: DssSeq| match seq {
            DssSeq::Short(v) => w.put(&v.to_be_bytes()),
            DssSeq::Long(v) => w.put(&v.to_be_bytes()),
        };
        if let Some(ack) = self.data_ack {
            put_seq(&mut w, ack)?;
        }
        if let Some(map) = &self.mapping {
            put_seq(&mut w, map.dsn)?;
            w.put(&map.subflow_seq.to_be_bytes())?;
            w.put(&map.data_len.to_be_bytes())?;
            if let Some(csum) = map.checksum {
                w.put(&csum.to_be_bytes())?;
            }
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(bytes: &[u8], expected: Dss) {
        let v = Dss::parse(bytes).unwrap();
        assert_eq!(v, expected);
        assert_eq!(v.buffer_len(), bytes.len());
        let mut out = [0u8; 28];
        assert_eq!(v.emit(&mut out), Ok(bytes.len()));
        assert_eq!(&out[..bytes.len()], bytes);
    }

    #[test]
    fn ack_only_4_and_8() {
        round_trip(
            &[30, 8, 0x20, 0x01, 0xaa, 0xbb, 0xcc, 0xdd],
            Dss {
                data_ack: Some(DssSeq::Short(0xaabb_ccdd)),
                mapping: None,
                data_fin: false,
            },
        );
        round_trip(
            &[30, 12, 0x20, 0x03, 1, 2, 3, 4, 5, 6, 7, 8],
            Dss {
                data_ack: Some(DssSeq::Long(0x0102_0304_0506_0708)),
                mapping: None,
                data_fin: false,
            },
        );
    }

    #[test]
    fn long_ack_and_long_mapping_with_checksum_28() {
        // The form Linux sends with checksums: A a M m, length 28.
        let bytes = [
            30, 28, 0x20, 0x0f, //
            0, 0, 0, 0, 0, 0, 0x10, 0x00, // data ACK
            0, 0, 0, 1, 0, 0, 0, 0, // DSN
            0, 0, 0, 1, // subflow seq
            0x05, 0xa0, // data-level length 1440
            0x12, 0x34, // checksum
        ];
        round_trip(
            &bytes,
            Dss {
                data_ack: Some(DssSeq::Long(0x1000)),
                mapping: Some(DssMapping {
                    dsn: DssSeq::Long(0x1_0000_0000),
                    subflow_seq: 1,
                    data_len: 1440,
                    checksum: Some(0x1234),
                }),
                data_fin: false,
            },
        );
    }

    #[test]
    fn short_mapping_without_ack_14_and_16() {
        let mut bytes = vec![30, 14, 0x20, 0x04, 0, 0, 0, 9, 0, 0, 0, 1, 0, 100];
        let map = |checksum| Dss {
            data_ack: None,
            mapping: Some(DssMapping {
                dsn: DssSeq::Short(9),
                subflow_seq: 1,
                data_len: 100,
                checksum,
            }),
            data_fin: false,
        };
        round_trip(&bytes, map(None));
        bytes[1] = 16;
        bytes.extend_from_slice(&[0xff, 0xfe]);
        round_trip(&bytes, map(Some(0xfffe)));
    }

    #[test]
    fn data_fin_with_zero_length_mapping_and_infinite_mapping() {
        // RFC 8684 §3.3.3: a DATA_FIN without data is a mapping with subflow seq 0, length 1;
        // here the degenerate length 0 must still round-trip.
        round_trip(
            &[30, 18, 0x20, 0x15, 0, 0, 0, 7, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0],
            Dss {
                data_ack: Some(DssSeq::Short(7)),
                mapping: Some(DssMapping {
                    dsn: DssSeq::Short(8),
                    subflow_seq: 0,
                    data_len: 0,
                    checksum: None,
                }),
                data_fin: true,
            },
        );
        // DATA_FIN flag alone, no ACK, no mapping.
        round_trip(
            &[30, 4, 0x20, 0x10],
            Dss {
                data_ack: None,
                mapping: None,
                data_fin: true,
            },
        );
    }

    #[test]
    fn infinite_mapping_with_checksum() {
        // RFC 8684 §3.3.1: the infinite mapping has "Data-Level Length 0"
        // (and, with checksums, a zero checksum as Linux writes it).
        round_trip(
            &[
                30, 20, 0x20, 0x0c, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            Dss {
                data_ack: None,
                mapping: Some(DssMapping {
                    dsn: DssSeq::Long(0x1234),
                    subflow_seq: 0,
                    data_len: 0,
                    checksum: Some(0),
                }),
                data_fin: false,
            },
        );
    }

    #[test]
    fn size_flags_without_presence_flags_are_ignored() {
        // 'a' without 'A' and 'm' without 'M': nothing follows.
        let v = Dss::parse(&[30, 4, 0x2f, 0xea]).unwrap();
        assert_eq!(
            v,
            Dss {
                data_ack: None,
                mapping: None,
                data_fin: false
            }
        );
        let mut out = [0u8; 4];
        assert_eq!(v.emit(&mut out), Ok(4));
        assert_eq!(out, [30, 4, 0x20, 0x00]);
    }

    #[test]
    fn bad_lengths() {
        assert_eq!(
            Dss::parse(&[30, 3, 0x20]),
            Err(Error::BadLength { what: WHAT, len: 3 })
        );
        // A set but only 2 octets follow.
        assert_eq!(
            Dss::parse(&[30, 6, 0x20, 0x01, 0, 0]),
            Err(Error::BadLength { what: WHAT, len: 6 })
        );
        // No mapping, yet two extra octets that could only be a checksum.
        assert_eq!(
            Dss::parse(&[30, 10, 0x20, 0x01, 0, 0, 0, 0, 0, 0]),
            Err(Error::BadLength {
                what: WHAT,
                len: 10
            })
        );
        // M set, length 4.
        assert_eq!(
            Dss::parse(&[30, 4, 0x20, 0x04]),
            Err(Error::BadLength { what: WHAT, len: 4 })
        );
    }
}
