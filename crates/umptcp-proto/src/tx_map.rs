//! The mappings one subflow has declared for the bytes it sends (RFC 8684
//! §3.3.1): each chunk of data-level bytes handed to the subflow becomes
//! one mapping, fixed from then on, repeated on every segment that carries
//! part of it (first transmission or retransmission alike). Segments never
//! straddle two mappings (the engine asks [`TxMap::room_at`]).

use std::collections::VecDeque;

use umptcp_tcp::SubflowSeq;

use crate::data_seq::DataSeq;

/// One declared mapping: `len` subflow bytes from `start` carry the data
/// sequence numbers from `dsn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxMapping {
    /// Subflow sequence number of the first byte (absolute).
    pub start: SubflowSeq,
    /// Data sequence number of the first byte.
    pub dsn: DataSeq,
    /// Bytes mapped (at most `u16::MAX`, the Data-Level Length field).
    pub len: u16,
    /// The DSS checksum of the mapping, when checksums are on.
    pub checksum: Option<u16>,
}

impl TxMapping {
    /// The subflow sequence number just past the mapping.
    pub fn end(&self) -> SubflowSeq {
        self.start + u32::from(self.len)
    }

    fn contains(&self, seq: SubflowSeq) -> bool {
        self.start <= seq && seq < self.end()
    }
}

/// The declared mappings of one subflow, oldest first, bounded.
#[derive(Debug)]
pub struct TxMap {
    mappings: VecDeque<TxMapping>,
    limit: usize,
}

impl TxMap {
    /// At most `limit` mappings outstanding (allocated now).
    pub fn new(limit: usize) -> Self {
        TxMap {
            mappings: VecDeque::with_capacity(limit),
            limit: limit.max(1),
        }
    }

    /// Return whether another mapping can be declared.
    pub fn has_room(&self) -> bool {
        self.mappings.len() < self.limit
    }

    /// Return whether no mapping is outstanding.
    pub fn is_empty(&self) -> bool {
        self.mappings.is_empty()
    }

    /// Declare a mapping. It must start where the previous one ended (the
    /// subflow's bytes are all mapped, in order); returns `false`, doing
    /// nothing, when full or out of order.
    pub fn push(&mut self, mapping: TxMapping) -> bool {
        if !self.has_room() || mapping.len == 0 {
            return false;
        }
        if let Some(last) = self.mappings.back()
            && last.end() != mapping.start
        {
            return false;
        }
        self.mappings.push_back(mapping);
        true
    }

    /// The mapping that holds subflow byte `seq`.
    pub fn find(&self, seq: SubflowSeq) -> Option<&TxMapping> {
        // Outstanding mappings are few and contiguous; the oldest are the
        // ones retransmissions ask for, new data asks for the newest.
        let back = self.mappings.back()?;
        if back.contains(seq) {
            return Some(back);
        }
        self.mappings.iter().find(|m| m.contains(seq))
    }

    /// How many bytes from `seq` a segment may carry without leaving its
    /// mapping (0 if no mapping holds `seq`).
    pub fn room_at(&self, seq: SubflowSeq) -> usize {
        self.find(seq)
            .map_or(0, |m| m.end().distance_from(seq) as usize)
    }

    /// Forget the mappings the subflow's cumulative ACK `una` has passed.
    pub fn acknowledge(&mut self, una: SubflowSeq) {
        while self.mappings.front().is_some_and(|m| m.end() <= una) {
            self.mappings.pop_front();
        }
    }

    /// The mappings outstanding, oldest first (for reinjection).
    pub fn iter(&self) -> impl Iterator<Item = &TxMapping> {
        self.mappings.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(start: u32, dsn: u64, len: u16) -> TxMapping {
        let dsn = DataSeq(dsn);
        TxMapping {
            start: SubflowSeq(start),
            dsn,
            len,
            checksum: None,
        }
    }

    #[test]
    fn segments_stay_inside_one_mapping() {
        let mut map = TxMap::new(4);
        assert!(map.push(m(100, 5000, 50)));
        assert!(map.push(m(150, 9000, 10)));
        assert_eq!(map.room_at(SubflowSeq(100)), 50);
        assert_eq!(map.room_at(SubflowSeq(149)), 1);
        assert_eq!(map.room_at(SubflowSeq(150)), 10);
        assert_eq!(map.room_at(SubflowSeq(160)), 0, "nothing mapped there");
        assert_eq!(map.find(SubflowSeq(155)).unwrap().dsn, DataSeq(9000));
    }

    #[test]
    fn bounded_contiguous_and_trimmed_by_acks() {
        let mut map = TxMap::new(2);
        assert!(map.push(m(0, 0, 10)));
        assert!(!map.push(m(11, 10, 10)), "a gap in the subflow space");
        assert!(!map.push(m(10, 10, 0)), "empty");
        assert!(map.push(m(10, 10, 10)));
        assert!(!map.push(m(20, 20, 10)), "full");
        map.acknowledge(SubflowSeq(15));
        assert_eq!(map.iter().count(), 1, "the first is fully acknowledged");
        assert!(map.push(m(20, 20, 10)));
        map.acknowledge(SubflowSeq(30));
        assert!(map.is_empty());
    }

    #[test]
    fn wraps_the_subflow_space() {
        let mut map = TxMap::new(4);
        assert!(map.push(m(u32::MAX - 4, 1, 10)));
        assert_eq!(map.room_at(SubflowSeq(2)), 3);
        map.acknowledge(SubflowSeq(5));
        assert!(map.is_empty());
    }
}
