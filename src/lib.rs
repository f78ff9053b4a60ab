//! `mptcp`: a userspace Multipath TCP stack (RFC 8684, MPTCP v1).
//!
//! This facade re-exports the workspace crates. Today it holds the wire
//! formats ([`wire`]) and the cryptographic primitives ([`crypto`]); the
//! protocol core and the TUN driver arrive in later releases.

pub use mptcp_crypto as crypto;
pub use mptcp_wire as wire;
