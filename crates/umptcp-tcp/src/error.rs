//! Errors of the TCP engine's constructors.
//!
//! Nothing a peer sends produces an error here: a bad segment is dropped (or
//! answered with an ACK or a RST) inside `handle_segment`, as RFC 9293
//! requires. Errors are for a caller's mistakes.

/// An error building a [`crate::Connection`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The segment given to `accept` is not an initial SYN (SYN set, ACK and
    /// RST clear).
    #[error("segment is not an initial SYN")]
    NotSyn,
    /// The local and remote addresses are of different IP families.
    #[error("local and remote addresses are of different IP families")]
    AddressFamilyMismatch,
    /// A configuration value is out of range; the field is named.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}
