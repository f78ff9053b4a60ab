//! Newtypes for the numbers MPTCP puts on the wire (STYLE.md, habit 4).
//!
//! They live in the wire crate because the wire is where they first appear;
//! `umptcp-crypto` and the stack use the same types.

use core::fmt;

/// A 64-bit MPTCP key (RFC 8684 §3.1), exchanged in MP_CAPABLE.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Key(pub u64);

/// A 32-bit connection token: the most significant 32 bits of SHA-256 of a
/// key (RFC 8684 §3.2). Carried in the MP_JOIN SYN.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Token(pub u32);

/// An address identifier (RFC 8684 §3.4.1), unique per address per host
/// within a connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Debug)]
pub struct AddrId(pub u8);

/// A 32-bit random nonce of the MP_JOIN handshake (RFC 8684 §3.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Nonce(pub u32);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:#018x})", self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({:#010x})", self.0)
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({:#010x})", self.0)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The form `ss -Mni` prints: lower-case hex, no prefix.
        write!(f, "{:x}", self.0)
    }
}
