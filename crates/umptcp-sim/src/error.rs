//! The one error type of the simulator: what a caller can get wrong.

use std::io;
use std::net::IpAddr;

use umptcp_time::Instant;

use crate::{HostId, IfaceId, LinkId};

/// Why the simulator refused a configuration or a request.
///
/// Every value a caller passes in is checked; a bad one comes back as one of
/// these, never as a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No host has this identifier in this simulator.
    #[error("no host {0:?}")]
    UnknownHost(HostId),
    /// The host exists but has no such interface.
    #[error("host {host:?} has no interface {iface:?}")]
    UnknownIface {
        /// The host.
        host: HostId,
        /// The interface it lacks.
        iface: IfaceId,
    },
    /// No link has this identifier in this simulator.
    #[error("no link {0:?}")]
    UnknownLink(LinkId),
    /// The interface already has a link (links are point to point).
    #[error("interface {iface:?} of host {host:?} already has a link")]
    IfaceInUse {
        /// The host.
        host: HostId,
        /// Its interface that is already connected.
        iface: IfaceId,
    },
    /// Both ends of a link are the same interface.
    #[error("a link cannot connect an interface to itself")]
    SelfLoop,
    /// A field that must be a probability is NaN or outside `[0, 1]`.
    #[error("{field} is {value}, not a probability in [0, 1]")]
    InvalidProbability {
        /// Which field of the configuration.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A link rate of zero bits per second (use `up = false` for a dead link).
    #[error("a link rate must be at least 1 bit/s")]
    ZeroRate,
    /// `max_packet_size` is zero or above the limit.
    #[error("max_packet_size {0} is not in 1..=1048576")]
    InvalidMaxPacketSize(usize),
    /// A change was scheduled for an instant already past.
    #[error("{at:?} is before the simulator's now ({now:?})")]
    InThePast {
        /// The requested instant.
        at: Instant,
        /// The simulator's current instant.
        now: Instant,
    },
    /// A route's prefix length is longer than its address: more than 32
    /// bits for IPv4, more than 128 for IPv6.
    #[error("prefix length {len} is too long for {prefix}")]
    InvalidPrefixLen {
        /// The route's prefix.
        prefix: IpAddr,
        /// The prefix length given.
        len: u8,
    },
    /// More hosts, interfaces, links, captures or scheduled changes than
    /// identifiers can number (2^32).
    #[error("too many {0}")]
    TooMany(&'static str),
    /// Writing the pcap header to a capture sink failed.
    #[error("capture sink: {0}")]
    Capture(#[from] io::Error),
}
