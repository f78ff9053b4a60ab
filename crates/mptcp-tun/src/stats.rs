//! What the stack tells applications about itself and its connections.

use std::time::Duration;

use mptcp_tcp::State;

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
