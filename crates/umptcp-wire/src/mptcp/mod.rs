//! MPTCP options (TCP option kind 30), every subtype of RFC 8684 §3.
//!
//! Each subtype has its own file and a plain value type with `parse` (the
//! whole TCP option: kind, length, body), `buffer_len` and `emit`.
//! [`MptcpOption`] dispatches on the subtype nibble; subtypes it does not know
//! (including 0xf, MP_EXPERIMENTAL) survive as [`MptcpOption::Unknown`].
//!
//! ```text
//!   0                   1                   2                   3
//!   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!  +---------------+---------------+-------+-----------------------+
//!  |     Kind      |    Length     |Subtype|  (subtype-specific)   |
//!  +---------------+---------------+-------+-----------------------+
//! ```
//!
//! Parsers never panic and never allocate. Reserved bits are ignored on parse
//! and written as zero on emit, so `parse(emit(x)) == x` for every value
//! `emit` accepts, but `emit(parse(b))` need not equal `b` bit for bit.

use crate::{Error, Result};

mod add_addr;
mod dss;
mod mp_capable;
mod mp_fail;
mod mp_fastclose;
mod mp_join;
mod mp_prio;
mod mp_tcprst;
mod remove_addr;

pub use add_addr::AddAddr;
pub use dss::{Dss, DssMapping, DssSeq};
pub use mp_capable::{CapableKeys, MpCapable, MpCapableFlags};
pub use mp_fail::MpFail;
pub use mp_fastclose::MpFastclose;
pub use mp_join::MpJoin;
pub use mp_prio::MpPrio;
pub use mp_tcprst::{MpTcpRst, TcpRstReason};
pub use remove_addr::RemoveAddr;

/// The TCP option kind of MPTCP (RFC 8684 §3, IANA "Multipath TCP").
pub const OPTION_KIND: u8 = 30;

/// The highest subtype this crate parses (MP_TCPRST); above it is `Unknown`.
const LAST_KNOWN_SUBTYPE: u8 = 0x8;

/// One MPTCP option, any subtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MptcpOption<'a> {
    /// MP_CAPABLE, subtype 0x0 (RFC 8684 §3.1).
    MpCapable(MpCapable),
    /// MP_JOIN, subtype 0x1 (RFC 8684 §3.2).
    MpJoin(MpJoin),
    /// DSS, subtype 0x2 (RFC 8684 §3.3).
    Dss(Dss),
    /// ADD_ADDR, subtype 0x3 (RFC 8684 §3.4.1).
    AddAddr(AddAddr),
    /// REMOVE_ADDR, subtype 0x4 (RFC 8684 §3.4.2).
    RemoveAddr(RemoveAddr<'a>),
    /// MP_PRIO, subtype 0x5 (RFC 8684 §3.3.8).
    MpPrio(MpPrio),
    /// MP_FAIL, subtype 0x6 (RFC 8684 §3.7).
    MpFail(MpFail),
    /// MP_FASTCLOSE, subtype 0x7 (RFC 8684 §3.5).
    MpFastclose(MpFastclose),
    /// MP_TCPRST, subtype 0x8 (RFC 8684 §3.6).
    MpTcpRst(MpTcpRst),
    /// Unknown subtype (incl. 0xf MP_EXPERIMENTAL): `data` is the option from the subtype byte on (byte 2 to the end), so the low nibble survives.
    Unknown {
        /// The subtype nibble (0x9..=0xf when produced by `parse`).
        subtype: u8,
        /// The option from byte 2 (subtype byte) to its end; never empty.
        data: &'a [u8],
    },
}

impl<'a> MptcpOption<'a> {
    /// Parse a whole TCP option: kind (must be 30), length (must equal `option.len()`), body.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if fewer than 2 bytes, [`Error::Malformed`] if
    /// the kind is not 30, [`Error::BadLength`] if the length byte disagrees
    /// with the slice or the subtype does not allow this length.
    pub fn parse(option: &'a [u8]) -> Result<Self> {
        let (_, data) = split_common(option)?;
        let subtype = data.first().map_or(0, |b| b >> 4);
        Ok(match subtype {
            MpCapable::SUBTYPE => Self::MpCapable(MpCapable::parse(option)?),
            MpJoin::SUBTYPE => Self::MpJoin(MpJoin::parse(option)?),
            Dss::SUBTYPE => Self::Dss(Dss::parse(option)?),
            AddAddr::SUBTYPE => Self::AddAddr(AddAddr::parse(option)?),
            RemoveAddr::SUBTYPE => Self::RemoveAddr(RemoveAddr::parse(option)?),
            MpPrio::SUBTYPE => Self::MpPrio(MpPrio::parse(option)?),
            MpFail::SUBTYPE => Self::MpFail(MpFail::parse(option)?),
            MpFastclose::SUBTYPE => Self::MpFastclose(MpFastclose::parse(option)?),
            MpTcpRst::SUBTYPE => Self::MpTcpRst(MpTcpRst::parse(option)?),
            // RFC 8684 §3: "Subtype 0xf ... MP_EXPERIMENTAL"; other values
            // are unassigned. Kept as bytes so a caller can log or skip them.
            _ => Self::Unknown { subtype, data },
        })
    }

    /// Return the total length in bytes, including kind and length.
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::MpCapable(o) => o.buffer_len(),
            Self::MpJoin(o) => o.buffer_len(),
            Self::Dss(o) => o.buffer_len(),
            Self::AddAddr(o) => o.buffer_len(),
            Self::RemoveAddr(o) => o.buffer_len(),
            Self::MpPrio(o) => o.buffer_len(),
            Self::MpFail(o) => o.buffer_len(),
            Self::MpFastclose(o) => o.buffer_len(),
            Self::MpTcpRst(o) => o.buffer_len(),
            Self::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Write kind, length and body into `buf`; return the bytes written (`buffer_len()`).
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] if `buf` is shorter than `buffer_len()`;
    /// [`Error::Malformed`] / [`Error::BadLength`] if the value cannot be
    /// written so that it parses back equal (a version or flag above the
    /// nibble, an empty REMOVE_ADDR, an `Unknown` whose `data` is empty, too
    /// long, disagrees with `subtype`, or uses a subtype this crate parses).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            Self::MpCapable(o) => o.emit(buf),
            Self::MpJoin(o) => o.emit(buf),
            Self::Dss(o) => o.emit(buf),
            Self::AddAddr(o) => o.emit(buf),
            Self::RemoveAddr(o) => o.emit(buf),
            Self::MpPrio(o) => o.emit(buf),
            Self::MpFail(o) => o.emit(buf),
            Self::MpFastclose(o) => o.emit(buf),
            Self::MpTcpRst(o) => o.emit(buf),
            Self::Unknown { subtype, data } => {
                let first = data
                    .first()
                    .copied()
                    .ok_or(Error::Malformed("MPTCP unknown option data"))?;
                if first >> 4 != *subtype || *subtype <= LAST_KNOWN_SUBTYPE {
                    return Err(Error::Malformed("MPTCP unknown option subtype"));
                }
                let len = self.buffer_len();
                let len_byte =
                    u8::try_from(len).map_err(|_| Error::BadLength { what: "MPTCP", len })?;
                let mut w = Writer::new(buf, len)?;
                w.put(&[OPTION_KIND, len_byte])?;
                w.put(data)?;
                Ok(len)
            }
        }
    }

    /// Return the subtype nibble.
    pub fn subtype(&self) -> u8 {
        match self {
            Self::MpCapable(_) => MpCapable::SUBTYPE,
            Self::MpJoin(_) => MpJoin::SUBTYPE,
            Self::Dss(_) => Dss::SUBTYPE,
            Self::AddAddr(_) => AddAddr::SUBTYPE,
            Self::RemoveAddr(_) => RemoveAddr::SUBTYPE,
            Self::MpPrio(_) => MpPrio::SUBTYPE,
            Self::MpFail(_) => MpFail::SUBTYPE,
            Self::MpFastclose(_) => MpFastclose::SUBTYPE,
            Self::MpTcpRst(_) => MpTcpRst::SUBTYPE,
            Self::Unknown { subtype, .. } => *subtype,
        }
    }
}

/// Check kind and length byte; return the length and the bytes from byte 2
/// (the subtype byte) on, which are never empty.
fn split_common(option: &[u8]) -> Result<(usize, &[u8])> {
    let (&kind, rest) = option.split_first().ok_or(Error::Truncated)?;
    let (&len_byte, _) = rest.split_first().ok_or(Error::Truncated)?;
    if kind != OPTION_KIND {
        return Err(Error::Malformed("MPTCP option kind"));
    }
    let len = usize::from(len_byte);
    if len != option.len() {
        return Err(Error::BadLength { what: "MPTCP", len });
    }
    // RFC 8684 §3: every MPTCP option carries a 4-bit subtype in byte 2.
    match option.get(2..) {
        Some(data) if !data.is_empty() => Ok((len, data)),
        _ => Err(Error::BadLength { what: "MPTCP", len }),
    }
}

/// Check the common header of a subtype's option; return the low nibble of
/// byte 2 and a reader over the bytes from byte 3 on.
fn split_header<'a>(option: &'a [u8], subtype: u8, what: &'static str) -> Result<(u8, Reader<'a>)> {
    let (_, data) = split_common(option)?;
    let (&byte2, body) = data.split_first().ok_or(Error::BadLength {
        what,
        len: option.len(),
    })?;
    if byte2 >> 4 != subtype {
        return Err(Error::Malformed(what));
    }
    Ok((byte2 & 0x0f, Reader(body)))
}

/// Start emitting an option of `len` bytes: check `buf`, write kind, length and
/// the subtype byte, and return a writer over the rest of the option.
fn emit_header<'b>(
    buf: &'b mut [u8],
    len: usize,
    subtype: u8,
    nibble: u8,
    what: &'static str,
) -> Result<Writer<'b>> {
    let len_byte = u8::try_from(len).map_err(|_| Error::BadLength { what, len })?;
    let mut w = Writer::new(buf, len)?;
    w.put(&[OPTION_KIND, len_byte, (subtype << 4) | (nibble & 0x0f)])?;
    Ok(w)
}

/// Length of the two options made of 12 reserved bits and one 64-bit value
/// (MP_FAIL's DSN, MP_FASTCLOSE's key).
const RESERVED_U64_LEN: usize = 12;

/// Parse an option laid out as kind, length 12, subtype, 12 reserved bits
/// (ignored) and a 64-bit big-endian value; return the value.
fn parse_reserved_u64(option: &[u8], subtype: u8, what: &'static str) -> Result<u64> {
    let (_, mut r) = split_header(option, subtype, what)?;
    if option.len() != RESERVED_U64_LEN {
        return Err(Error::BadLength {
            what,
            len: option.len(),
        });
    }
    r.u8()?;
    r.u64()
}

/// Emit the layout [`parse_reserved_u64`] reads, reserved bits zero.
fn emit_reserved_u64(buf: &mut [u8], subtype: u8, what: &'static str, value: u64) -> Result<usize> {
    let mut w = emit_header(buf, RESERVED_U64_LEN, subtype, 0, what)?;
    w.put(&[0])?;
    w.put(&value.to_be_bytes())?;
    Ok(RESERVED_U64_LEN)
}

/// A cursor over untrusted bytes; every read is checked.
#[derive(Debug)]
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// Take the next `n` bytes.
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n).ok_or(Error::Truncated)?;
        self.0 = tail;
        Ok(head)
    }

    /// Take the next `N` bytes as an array.
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| Error::Truncated)
    }

    /// Take one byte.
    fn u8(&mut self) -> Result<u8> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    /// Take a big-endian u16.
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Take a big-endian u32.
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Take a big-endian u64.
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Return the bytes not yet read.
    fn rest(&self) -> &'a [u8] {
        self.0
    }
}

/// A cursor over the caller's output buffer; every write is checked.
#[derive(Debug)]
struct Writer<'b>(&'b mut [u8]);

impl<'b> Writer<'b> {
    /// Limit `buf` to its first `len` bytes, or fail if it is shorter.
    fn new(buf: &'b mut [u8], len: usize) -> Result<Self> {
        buf.get_mut(..len).map(Writer).ok_or(Error::BufferTooSmall)
    }

    /// Write `bytes` and advance.
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let buf = core::mem::take(&mut self.0);
        let (head, tail) = buf
            .split_at_mut_checked(bytes.len())
            .ok_or(Error::BufferTooSmall)?;
        head.copy_from_slice(bytes);
        self.0 = tail;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_subtype_keeps_bytes_from_byte_two() {
        let bytes = [30, 5, 0xf3, 0xaa, 0xbb];
        let opt = MptcpOption::parse(&bytes).unwrap();
        assert_eq!(
            opt,
            MptcpOption::Unknown {
                subtype: 0xf,
                data: &bytes[2..]
            }
        );
        assert_eq!(opt.subtype(), 0xf);
        let mut out = [0u8; 5];
        assert_eq!(opt.emit(&mut out), Ok(5));
        assert_eq!(out, bytes);
    }

    #[test]
    fn header_errors() {
        assert_eq!(MptcpOption::parse(&[]), Err(Error::Truncated));
        assert_eq!(MptcpOption::parse(&[30]), Err(Error::Truncated));
        assert_eq!(
            MptcpOption::parse(&[29, 3, 0x50]),
            Err(Error::Malformed("MPTCP option kind"))
        );
        assert_eq!(
            MptcpOption::parse(&[30, 4, 0x50]),
            Err(Error::BadLength {
                what: "MPTCP",
                len: 4
            })
        );
        assert_eq!(
            MptcpOption::parse(&[30, 2]),
            Err(Error::BadLength {
                what: "MPTCP",
                len: 2
            })
        );
    }

    #[test]
    fn unknown_emit_rejects_inconsistent_values() {
        let mut out = [0u8; 8];
        let empty = MptcpOption::Unknown {
            subtype: 0xf,
            data: &[],
        };
        assert!(empty.emit(&mut out).is_err());
        let mismatch = MptcpOption::Unknown {
            subtype: 0xf,
            data: &[0x90],
        };
        assert!(mismatch.emit(&mut out).is_err());
        let known = MptcpOption::Unknown {
            subtype: 0x2,
            data: &[0x20, 0],
        };
        assert!(known.emit(&mut out).is_err());
        let ok = MptcpOption::Unknown {
            subtype: 0x9,
            data: &[0x90, 1, 2],
        };
        assert_eq!(ok.emit(&mut out[..4]), Err(Error::BufferTooSmall));
    }
}
