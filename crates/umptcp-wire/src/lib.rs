//! Wire formats of Multipath TCP: zero-copy views and plain value types.
//!
//! This crate turns bytes into typed values and back, and nothing else: no
//! state, no clock, no allocation on the parse path.
//!
//! ```text
//!   IPv4/IPv6 packet ──Segment::parse──▶ Segment<'a> ──options()──▶ TcpOption<'a>
//!                                                                    └─ Mptcp(MptcpOption<'a>)
//!   SegmentBuilder ──emit(buf)──▶ IPv4/IPv6 packet (checksums filled, options within 40 bytes)
//! ```
//!
//! * [`mptcp`]: every MPTCP option subtype of RFC 8684 §3 in every length
//!   variant, with unknown subtypes kept as bytes.
//! * [`tcp_option`]: the TCP options a subflow uses (MSS, window scale,
//!   SACK, timestamps, Fast Open) and an allocation-free iterator over them.
//! * [`segment`]: a validated view of an IP packet carrying TCP, and a
//!   builder that writes one into a caller's buffer.
//! * [`pcap`]: reading and writing pcap files of raw IP packets, for
//!   fixtures and traces.
//!
//! IP and TCP headers and their checksums come from `smoltcp::wire`; the
//! MPTCP codecs are this crate's own.
//!
//! # Contract
//!
//! Parsers never panic, whatever the input: they return [`Error`]. After a
//! successful parse no accessor panics. `emit` writes exactly
//! `buffer_len()` bytes and `parse(emit(x)) == x` for every value.

pub mod error;
pub mod four_tuple;
#[doc(hidden)]
pub mod fuzzing;
pub mod mptcp;
pub mod pcap;
pub mod segment;
pub mod tcp_option;
pub mod types;

pub use error::{Error, Result};
pub use four_tuple::FourTuple;
pub use mptcp::MptcpOption;
pub use segment::{Segment, SegmentBuilder};
pub use tcp_option::{TcpOption, TcpOptions};
pub use types::{AddrId, Key, Nonce, Token};
