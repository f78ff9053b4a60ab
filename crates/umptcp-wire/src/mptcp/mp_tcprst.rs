//! MP_TCPRST (RFC 8684 §3.6): why a subflow was reset.
//!
//! ```text
//!  +---------------+---------------+-------+-+-+-+-+---------------+
//!  |     Kind      |    Length=4   |Subtype|U|V|W|T|    Reason     |
//!  +---------------+---------------+-------+-+-+-+-+---------------+
//! ```

use super::{emit_header, split_header};
use crate::{Error, Result};

/// Length of MP_TCPRST.
const LEN: usize = 4;
/// Name used in errors.
const WHAT: &str = "MP_TCPRST";

/// MP_TCPRST: flags and a reason code sent with a subflow RST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpTcpRst {
    /// The low nibble of byte 2: U V W T; only T ([`Self::T_TRANSIENT`]) is defined.
    pub flags: u8,
    /// Why the subflow was reset.
    pub reason: TcpRstReason,
}

/// The MP_TCPRST reason codes (RFC 8684 §3.6, IANA "MPTCP MP_TCPRST Reason Codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpRstReason {
    /// 0x00: unspecified error.
    Unspecified,
    /// 0x01: MPTCP-specific error.
    MptcpSpecific,
    /// 0x02: lack of resources.
    LackOfResources,
    /// 0x03: administratively prohibited.
    AdministrativelyProhibited,
    /// 0x04: too much outstanding data.
    TooMuchOutstandingData,
    /// 0x05: unacceptable performance.
    UnacceptablePerformance,
    /// 0x06: middlebox interference.
    MiddleboxInterference,
    /// Any other code (0x07..=0xff), kept as is.
    Unknown(u8),
}

impl From<u8> for TcpRstReason {
    fn from(code: u8) -> Self {
        match code {
            0 => Self::Unspecified,
            1 => Self::MptcpSpecific,
            2 => Self::LackOfResources,
            3 => Self::AdministrativelyProhibited,
            4 => Self::TooMuchOutstandingData,
            5 => Self::UnacceptablePerformance,
            6 => Self::MiddleboxInterference,
            other => Self::Unknown(other),
        }
    }
}

impl From<TcpRstReason> for u8 {
    fn from(reason: TcpRstReason) -> Self {
        match reason {
            TcpRstReason::Unspecified => 0,
            TcpRstReason::MptcpSpecific => 1,
            TcpRstReason::LackOfResources => 2,
            TcpRstReason::AdministrativelyProhibited => 3,
            TcpRstReason::TooMuchOutstandingData => 4,
            TcpRstReason::UnacceptablePerformance => 5,
            TcpRstReason::MiddleboxInterference => 6,
            TcpRstReason::Unknown(code) => code,
        }
    }
}

impl MpTcpRst {
    /// The subtype nibble of MP_TCPRST.
    pub const SUBTYPE: u8 = 0x8;
    /// The T flag: the error is transient, the subflow may be retried.
    pub const T_TRANSIENT: u8 = 0x1;

    /// Return whether the T (transient) flag is set.
    pub fn transient(&self) -> bool {
        self.flags & Self::T_TRANSIENT != 0
    }

    /// Parse a whole MP_TCPRST option (kind, length, body).
    ///
    /// `Unknown(c)` is produced only for codes 7 and above, so values round-trip.
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] unless the length is 4; header errors as [`super::MptcpOption::parse`].
    pub fn parse(option: &[u8]) -> Result<Self> {
        let (flags, mut r) = split_header(option, Self::SUBTYPE, WHAT)?;
        // RFC 8684 §3.6: MP_TCPRST has "Length=4": flags U V W T and a 1-octet Reason.
        if option.len() != LEN {
            return Err(Error::BadLength {
                what: WHAT,
                len: option.len(),
            });
        }
        Ok(Self {
            flags,
            reason: TcpRstReason::from(r.u8()?),
        })
    }

    /// Return the total length in bytes (always 4).
    pub fn buffer_len(&self) -> usize {
        LEN
    }

    /// Write the option into `buf`; return the bytes written.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] if `flags` has bits above the low nibble, or
    /// `reason` is `Unknown(c)` with `c` a defined code (0..=6) — it would not
    /// parse back equal; [`Error::BufferTooSmall`] if `buf` is shorter than 4 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        if self.flags > 0x0f {
            return Err(Error::Malformed("MP_TCPRST flags"));
        }
        let code = u8::from(self.reason);
        if TcpRstReason::from(code) != self.reason {
            return Err(Error::Malformed("MP_TCPRST reason"));
        }
        let mut w = emit_header(buf, LEN, Self::SUBTYPE, self.flags, WHAT)?;
        w.put(&[code])?;
        Ok(LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_emit_known_bytes() {
        let bytes = [30, 4, 0x81, 0x06];
        let v = MpTcpRst::parse(&bytes).unwrap();
        assert_eq!(
            v,
            MpTcpRst {
                flags: 0x1,
                reason: TcpRstReason::MiddleboxInterference
            }
        );
        assert!(v.transient());
        let mut out = [0u8; 4];
        assert_eq!(v.emit(&mut out), Ok(4));
        assert_eq!(out, bytes);
    }

    #[test]
    fn unknown_reason_kept() {
        let v = MpTcpRst::parse(&[30, 4, 0x80, 0x42]).unwrap();
        assert_eq!(v.reason, TcpRstReason::Unknown(0x42));
        assert!(!v.transient());
    }

    #[test]
    fn reason_codes_round_trip() {
        for code in 0..=u8::MAX {
            assert_eq!(u8::from(TcpRstReason::from(code)), code);
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            MpTcpRst::parse(&[30, 5, 0x80, 0, 0]),
            Err(Error::BadLength { what: WHAT, len: 5 })
        );
        assert_eq!(
            MpTcpRst::parse(&[30, 3, 0x80]),
            Err(Error::BadLength { what: WHAT, len: 3 })
        );
        let mut out = [0u8; 4];
        let bad = MpTcpRst {
            flags: 0x10,
            reason: TcpRstReason::Unspecified,
        };
        assert!(bad.emit(&mut out).is_err());
        let bad = MpTcpRst {
            flags: 0,
            reason: TcpRstReason::Unknown(1),
        };
        assert!(bad.emit(&mut out).is_err());
    }
}
