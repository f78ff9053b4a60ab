//! TCP segments inside IPv4 or IPv6 packets: a validated zero-copy view and
//! a builder that writes one into a caller's buffer.
//!
//! ```text
//!   &[u8] IP packet ──Segment::parse(.., ChecksumCheck)──▶ Segment<'a>
//!        ├─ src() dst() hop_limit()             (IP)
//!        ├─ src_port() … flags() window()       (TCP header)
//!        └─ options() ─▶ TcpOptions<'a>, payload() ─▶ &'a [u8]
//!
//!   SegmentBuilder<'a> ──emit(&mut buf)──▶ Emitted { len, sack_blocks_sent, optional_sent }
//! ```
//!
//! [`Segment::parse`] reads the IP version from the first nibble, checks the
//! IP and TCP lengths (and, with [`ChecksumCheck::Verify`], the IPv4 header
//! and TCP checksums) once, and after that no accessor panics. It refuses
//! fragments and anything that is not TCP. For IPv6, only a TCP header that
//! directly follows the fixed header is supported: a packet with any
//! extension header is refused with [`crate::Error::NotTcp`] carrying the first
//! next-header value (or [`crate::Error::Fragmented`] for a Fragment header).
//! IP packets shorter than the buffer are accepted and the trailing bytes
//! (link-layer padding) ignored.
//!
//! The option bytes are not validated by `parse`: iterating
//! [`Segment::options`] may yield an error, which the caller handles (a
//! malformed MPTCP option, for instance, is an MPTCP-level event, not a
//! reason to drop the segment here).
//!
//! [`SegmentBuilder`] fits the options it is given into the 40-byte TCP
//! option space by a fixed precedence, described on the type, and reports
//! what did not fit so that the caller can send it later.
//!
//! ```
//! use umptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};
//!
//! let mut syn = SegmentBuilder::new(
//!     "192.0.2.1:40000".parse().unwrap(),
//!     "198.51.100.7:80".parse().unwrap(),
//! );
//! syn.flags = TcpFlags::SYN;
//! syn.seq = 1000;
//! syn.mss = Some(1460);
//! syn.timestamps = Some((1, 0));
//!
//! let mut buf = [0; 128];
//! let emitted = syn.emit(&mut buf).unwrap();
//! let segment = Segment::parse(&buf[..emitted.len], ChecksumCheck::Verify).unwrap();
//! assert_eq!(segment.flags(), TcpFlags::SYN);
//! assert_eq!(segment.seq(), 1000);
//! assert_eq!(segment.option_bytes().len(), 16); // MSS, NOP, NOP, timestamps
//! ```

mod builder;
mod view;

use core::fmt;
use core::ops;

pub use builder::{Emitted, SegmentBuilder};
pub use view::Segment;

/// Whether [`Segment::parse`] verifies the IPv4 header and TCP checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumCheck {
    /// Verify both checksums; a mismatch is [`crate::Error::Checksum`].
    Verify,
    /// Do not look at the checksums (e.g. offloaded, or a fuzzing corpus).
    Skip,
}

/// The eight TCP control bits (RFC 9293 §3.1, RFC 3168 §6.1 for ECE and CWR).
///
/// A small bitflags-like newtype over the 14th byte of the TCP header; the
/// historic NS bit (RFC 8311) is not represented.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// The acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// The urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    const NAMES: [(TcpFlags, &'static str); 8] = [
        (Self::FIN, "FIN"),
        (Self::SYN, "SYN"),
        (Self::RST, "RST"),
        (Self::PSH, "PSH"),
        (Self::ACK, "ACK"),
        (Self::URG, "URG"),
        (Self::ECE, "ECE"),
        (Self::CWR, "CWR"),
    ];

    /// Return the empty set.
    pub const fn empty() -> Self {
        TcpFlags(0)
    }

    /// Make a set from the flags byte as it is on the wire.
    pub const fn from_bits(bits: u8) -> Self {
        TcpFlags(bits)
    }

    /// Return the flags byte as it is on the wire.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Return whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Return whether any flag of `other` is set in `self`.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Return whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl ops::BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl ops::Not for TcpFlags {
    type Output = TcpFlags;
    fn not(self) -> TcpFlags {
        TcpFlags(!self.0)
    }
}

impl fmt::Debug for TcpFlags {
    /// Print like `SYN|ACK`, or `(empty)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("(empty)");
        }
        let mut first = true;
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
