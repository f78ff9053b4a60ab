//! What the stack tells applications about itself and its connections.

use std::time::Duration;

use std::net::{IpAddr, SocketAddr};

use umptcp_proto::{DataLevel, FallbackReason, RemoteAddress, SubflowId, SubflowStats};
use umptcp_tcp::State;
use umptcp_wire::AddrId;

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
    /// Our token (RFC 8684 §3.1: from our key), as `ss -M` prints it;
    /// `None` while the connection does not speak MPTCP.
    pub token: Option<u32>,
    /// The peer's token, once its key is known.
    pub peer_token: Option<u32>,
    /// The data-level figures: sequence numbers, bytes acknowledged and
    /// received above the subflows.
    pub data: DataLevel,
}

/// The shape `ss -Mni` prints the kernel's `mptcp_info` in: one line for
/// the connection (`subflows` counting those beside the initial one, as
/// the kernel does; `subflows_total` all that are open), then one
/// indented line per subflow with its TCP figures.
///
/// ```text
/// token:2fe9ee1f peer_token:8d1c0a34 subflows:1 subflows_total:2 checksum:0 write_seq:4660153217 snd_una:4660153217 rcv_nxt:972541889 bytes_acked:1048576 bytes_received:5 send_queue:0
///   subflow:0 10.61.0.2:40000->10.61.1.2:5000 established rtt:1.234ms cwnd:86880 retrans:0 bytes_sent:524288 bytes_received:5
///   subflow:1 10.62.0.2:40001->10.61.1.2:5000 established backup rtt:2.345ms cwnd:43440 retrans:2 bytes_sent:526848 bytes_received:0
/// ```
impl std::fmt::Display for MptcpInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.token {
            Some(t) => write!(f, "token:{t:08x}")?,
            None => f.write_str("token:-")?,
        }
        if let Some(t) = self.peer_token {
            write!(f, " peer_token:{t:08x}")?;
        }
        let open = self.subflows.iter().filter(|s| !s.closed).count();
        write!(
            f,
            " subflows:{} subflows_total:{open} checksum:{}",
            open.saturating_sub(1),
            u8::from(self.checksum)
        )?;
        if let Some(reason) = self.fallback {
            write!(f, " fallback:{reason:?}")?;
        }
        let d = &self.data;
        write!(f, " write_seq:{} snd_una:{}", d.write_seq.0, d.snd_una.0)?;
        if let Some(r) = d.rcv_nxt {
            write!(f, " rcv_nxt:{}", r.0)?;
        }
        write!(
            f,
            " bytes_acked:{} bytes_received:{} send_queue:{}",
            d.bytes_acked, d.bytes_received, d.send_queue
        )?;
        for s in &self.subflows {
            write!(
                f,
                "\n  subflow:{} {}->{} {}",
                s.id.0,
                s.tuple.local,
                s.tuple.remote,
                if s.closed {
                    "closed"
                } else if s.established {
                    "established"
                } else {
                    "opening"
                }
            )?;
            if s.backup {
                f.write_str(" backup")?;
            }
            if let Some(rtt) = s.srtt {
                write!(f, " rtt:{:.3}ms", rtt.as_secs_f64() * 1e3)?;
            }
            write!(
                f,
                " cwnd:{} retrans:{} bytes_sent:{} bytes_received:{}",
                s.cwnd, s.retransmissions, s.bytes_sent, s.bytes_received
            )?;
        }
        Ok(())
    }
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
