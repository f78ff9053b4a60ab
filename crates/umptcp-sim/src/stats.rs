//! Counters: per link direction, and for the whole simulation.

/// What happened to the packets of one link direction.
///
/// Every packet offered, and every copy made of one, ends up delivered,
/// dropped or still in flight:
/// `offered_packets + duplicated = delivered_packets + dropped() + in flight`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// Packets the sending host put on the link.
    pub offered_packets: u64,
    /// Bytes of those packets.
    pub offered_bytes: u64,
    /// Packets handed to the receiving host (duplicates included).
    pub delivered_packets: u64,
    /// Bytes of those packets.
    pub delivered_bytes: u64,
    /// Packets dropped because the queue was full.
    pub dropped_queue: u64,
    /// Packets lost by the independent random loss.
    pub dropped_loss: u64,
    /// Packets lost by the Gilbert–Elliott bursty loss.
    pub dropped_burst: u64,
    /// Packets dropped for being larger than the MTU.
    pub dropped_mtu: u64,
    /// Packets dropped because the link was down.
    pub dropped_down: u64,
    /// Packets delivered twice (each counts once here).
    pub duplicated: u64,
    /// Packets with one bit flipped.
    pub corrupted: u64,
    /// Packets held back by the reordering delay.
    pub reordered: u64,
    /// Most bytes ever waiting in the queue (behind the packet in transmission).
    pub queue_high_water_bytes: u64,
}

impl LinkStats {
    /// Return the packets dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue
            + self.dropped_loss
            + self.dropped_burst
            + self.dropped_mtu
            + self.dropped_down
    }
}

/// Counters of the whole simulation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStats {
    /// Events taken off the queue (stale timer events included).
    pub events: u64,
    /// Packets put on any link.
    pub packets_sent: u64,
    /// Packets a host returned with a length larger than its buffer (lost).
    pub oversize_transmits: u64,
    /// Packets a host sent on an interface that does not exist or has no
    /// link (lost).
    pub unconnected_transmits: u64,
}
