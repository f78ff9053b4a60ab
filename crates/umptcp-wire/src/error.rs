//! The one error type of the wire layer.

/// Why a buffer could not be parsed or a value could not be emitted.
///
/// Every parser in this crate returns one of these for malformed input; none
/// of them panics, whatever the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before the structure it should hold.
    #[error("truncated: buffer ends before the structure does")]
    Truncated,
    /// A length field (or the option length) is not one the format allows.
    #[error("{what}: length {len} is not allowed")]
    BadLength {
        /// Which structure carried the bad length.
        what: &'static str,
        /// The offending length in bytes.
        len: usize,
    },
    /// A field holds a value the format forbids.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The IP header or TCP checksum does not verify.
    #[error("checksum mismatch")]
    Checksum,
    /// The IP version nibble is neither 4 nor 6.
    #[error("unsupported IP version {0}")]
    IpVersion(u8),
    /// The IP packet does not carry TCP (next header / protocol given).
    #[error("not a TCP segment (IP protocol {0})")]
    NotTcp(u8),
    /// The IP packet is a fragment; TUN-level reassembly is not done here.
    #[error("IP fragment")]
    Fragmented,
    /// The caller's buffer is too small for the value being emitted.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// The mandatory TCP options alone exceed the 40-byte option space.
    #[error("mandatory options exceed the 40-byte TCP option space")]
    OptionsTooLong,
}

/// The result type of this crate.
pub type Result<T> = core::result::Result<T, Error>;
