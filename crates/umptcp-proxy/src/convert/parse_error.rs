//! What can be wrong with a received Convert message, and what the RFC
//! answers each with (§6.1, §6.2, §9).

use super::ErrorCode;

/// A received Convert message that cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer bytes than the message needs: read more (`need` in all).
    #[error("incomplete Convert message: {need} bytes needed")]
    Incomplete {
        /// The bytes the message needs, counted from its start.
        need: usize,
    },
    /// A version other than 1 (§6.1; 0 is reserved).
    #[error("unsupported Convert version {0}")]
    UnsupportedVersion(u8),
    /// The magic number is not 0x2263: not a Convert message.
    #[error("bad magic number {0:#06x}")]
    BadMagic(u16),
    /// Total Length zero (§6.1: the connection MUST be reset).
    #[error("Total Length is zero")]
    ZeroLength,
    /// Total Length shorter than the fixed header.
    #[error("a TLV header or value runs past Total Length")]
    OutsideLength,
    /// A TLV of length zero, or too short for its type's fixed part.
    #[error("TLV {0} is too short")]
    ShortTlv(u8),
    /// The same TLV twice (§6.2: each at most once).
    #[error("TLV {0} appears twice")]
    Duplicate(u8),
    /// TLV type 0, reserved (§6.2).
    #[error("TLV type 0 is reserved")]
    ReservedType,
    /// A TLV type this implementation does not know.
    #[error("unsupported TLV type {0}")]
    UnknownType(u8),
    /// A Connect address that is multicast, broadcast, loopback or
    /// unspecified (§9).
    #[error("the Connect address is not a unicast destination")]
    BadAddress,
    /// A TCP option list that is not a list of options (a NOP or EOL in a
    /// Connect, a length below 2, an option past the end, bytes after
    /// the padding).
    #[error("malformed TCP option list")]
    BadTcpOption,
}

/// What a converter does with a message it cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaction {
    /// Wait for more bytes.
    ReadMore,
    /// Reset the connection (Total Length zero, §6.1).
    Reset,
    /// Answer with an Error TLV of this code, then close (§6.2.8: never an
    /// RST first).
    Answer(ErrorCode),
}

impl ParseError {
    /// The RFC's answer to it.
    pub fn reaction(self) -> Reaction {
        match self {
            ParseError::Incomplete { .. } => Reaction::ReadMore,
            ParseError::ZeroLength => Reaction::Reset,
            ParseError::UnsupportedVersion(_) => Reaction::Answer(ErrorCode::UnsupportedVersion),
            ParseError::ReservedType | ParseError::UnknownType(_) => {
                Reaction::Answer(ErrorCode::UnsupportedMessage)
            }
            ParseError::BadMagic(_)
            | ParseError::OutsideLength
            | ParseError::ShortTlv(_)
            | ParseError::Duplicate(_)
            | ParseError::BadAddress
            | ParseError::BadTcpOption => Reaction::Answer(ErrorCode::MalformedMessage),
        }
    }
}
