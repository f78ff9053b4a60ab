//! The connection's figures at the data level (what the kernel's
//! `mptcp_info` reports and `ss -Mni` prints: the data sequence numbers
//! and the bytes acknowledged and received above the subflows).

use crate::data_seq::{DataSeq, first_data_seq};

use super::{Mode, MptcpConnection};

/// A snapshot of a connection's data-level send and receive state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataLevel {
    /// The data sequence number the next byte written will carry.
    pub write_seq: DataSeq,
    /// The first byte not yet acknowledged by a DATA_ACK.
    pub snd_una: DataSeq,
    /// The next byte to hand to a subflow for the first time.
    pub snd_nxt: DataSeq,
    /// The next in-order byte expected from the peer, once its data
    /// sequence space is known.
    pub rcv_nxt: Option<DataSeq>,
    /// Bytes the peer acknowledged at the data level. After a fallback the
    /// subflow's own acknowledgements take over: this counts the bytes
    /// handed to it (its `snd_una` tells what the peer has).
    pub bytes_acked: u64,
    /// Bytes received in order at the data level (read or not).
    pub bytes_received: u64,
    /// Bytes written and not yet acknowledged (or, after a fallback, not
    /// yet taken by the subflow).
    pub send_queue: usize,
}

impl MptcpConnection {
    /// The data-level figures now.
    pub fn data_level(&self) -> DataLevel {
        let first = first_data_seq(self.local_key);
        let snd_una = self.send.data_una;
        let send_queue = self.send.buffer.len();
        let reassembly = self.recv.reassembly.as_ref();
        DataLevel {
            write_seq: snd_una + send_queue as u64,
            snd_una,
            snd_nxt: match self.mode {
                Mode::Fallback(_) => snd_una,
                _ => self.send.data_nxt,
            },
            rcv_nxt: reassembly.map(|r| r.rcv_nxt()),
            bytes_acked: snd_una.diff(first).unsigned_abs(),
            bytes_received: reassembly.map_or(0, |r| r.received()),
            send_queue,
        }
    }
}
