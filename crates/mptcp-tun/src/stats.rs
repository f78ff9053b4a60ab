//! What the stack tells applications about itself and its connections.

use std::time::Duration;

use std::net::{IpAddr, SocketAddr};

use mptcp_proto::{FallbackReason, RemoteAddress, SubflowId, SubflowStats};
use mptcp_tcp::State;
use mptcp_wire::AddrId;

/// A snapshot of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The TCP state.
    pub state: State,
    /// Smoothed RTT, once measured.
    pub srtt: Option<Duration>,
    /// Current retransmission timeout.
    pub rto: Duration,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Bytes sent and not yet acknowledged.
    pub bytes_in_flight: u64,
    /// Segments retransmitted.
    pub retransmissions: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// The negotiated MSS.
    pub mss: usize,
}

/// Counters of the whole stack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackStats {
    /// Packets read from the devices (before the impairment layer).
    pub packets_in: u64,
    /// Packets handed to the devices (after the impairment layer; a failed
    /// write is also counted in `write_errors`). With a pcap, the file holds
    /// exactly `packets_in + packets_out` packets.
    pub packets_out: u64,
    /// Packets read that did not parse as TCP for one of our addresses
    /// (bad checksum, truncated, other protocols, other destinations).
    pub packets_ignored: u64,
    /// Resets sent for segments that matched no connection or listener.
    pub resets_sent: u64,
    /// Packets the impairment layer dropped (both directions).
    pub impairment_dropped: u64,
    /// Extra copies the impairment layer made (both directions).
    pub impairment_duplicated: u64,
    /// Packets the impairment layer held back to reorder them.
    pub impairment_reordered: u64,
    /// Device writes that failed (the packet is lost, as on a wire).
    pub write_errors: u64,
    /// Connections opened (both directions).
    pub connections: u64,
}

/// A snapshot of one MPTCP connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MptcpInfo {
    /// Whether the connection speaks MPTCP (false: it fell back to TCP).
    pub mptcp: bool,
    /// Why it fell back, if it did.
    pub fallback: Option<FallbackReason>,
    /// Whether DSS checksums are on.
    pub checksum: bool,
    /// Every subflow, the closed ones the connection still remembers
    /// included; the first is the initial subflow.
    pub subflows: Vec<SubflowStats>,
    /// The addresses the peer announced.
    pub remote_addresses: Vec<RemoteAddress>,
}

/// Path management from the application (the "manual" path manager's
/// actions, open to any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathCommand {
    /// Open a subflow (MP_JOIN) from `local`, one of the stack's path
    /// addresses, to `remote`.
    OpenSubflow {
        /// Our address (a path's, or an announced one).
        local: IpAddr,
        /// The peer's address and port.
        remote: SocketAddr,
        /// Open it as a backup.
        backup: bool,
    },
    /// Close a subflow with a FIN; the data goes on over the others.
    CloseSubflow(SubflowId),
    /// Make a subflow a backup or a regular one again (MP_PRIO).
    SetBackup(SubflowId, bool),
    /// Announce an address of ours (ADD_ADDR) under `id` (1..=255).
    Announce {
        /// The address's ID.
        id: AddrId,
        /// The address.
        addr: IpAddr,
    },
    /// Withdraw an address (REMOVE_ADDR); our subflows from it are reset.
    RemoveAddress(AddrId),
}
