//! The data sequence mappings one subflow has received (RFC 8684 §3.3.1).
//!
//! A DSS mapping says that `len` bytes of the subflow, from a subflow
//! sequence number, carry the data sequence numbers from `dsn`. The
//! receiver keeps every mapping whose bytes it has not yet moved up to the
//! data level, looks up the mapping of the next in-order subflow byte, and
//! forgets mappings once their bytes are consumed.
//!
//! Validation: a mapping may be repeated identically (every segment of a
//! mapping, and every retransmission, carries it), but one that overlaps
//! an earlier mapping and disagrees with it is a peer error (§3.3.1: "a
//! data sequence mapping ... cannot be changed"; Linux counts it as
//! `DSSNOMATCH` and resets the subflow). The table is bounded; the caller
//! drops a segment whose new mapping does not fit, so the peer retransmits
//! it once earlier bytes are consumed.

use std::collections::VecDeque;

use umptcp_tcp::SubflowSeq;

use crate::data_seq::DataSeq;

/// One received mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxMapping {
    /// Subflow sequence number of the first mapped byte (absolute).
    pub subflow_seq: SubflowSeq,
    /// The same, relative to the peer's initial sequence number, as on the
    /// wire (the DSS checksum's pseudo-header uses it).
    pub relative_seq: u32,
    /// Data sequence number of the first mapped byte.
    pub dsn: DataSeq,
    /// Data bytes mapped; a DATA_FIN in the mapping is not counted.
    pub len: u16,
    /// The DSS checksum, when checksums are in use.
    pub checksum: Option<u16>,
    /// Whether the mapping ends with the DATA_FIN (its Data-Level Length on
    /// the wire is `len + 1`).
    pub data_fin: bool,
}

impl RxMapping {
    /// The subflow sequence number just past the mapped bytes.
    pub fn end(&self) -> SubflowSeq {
        self.subflow_seq + u32::from(self.len)
    }

    /// The Data-Level Length as carried on the wire (the checksum's
    /// pseudo-header counts the DATA_FIN as one byte).
    pub fn wire_len(&self) -> u16 {
        self.len.wrapping_add(u16::from(self.data_fin))
    }

    fn contains(&self, seq: SubflowSeq) -> bool {
        self.subflow_seq <= seq && seq < self.end()
    }

    fn overlaps(&self, other: &RxMapping) -> bool {
        self.subflow_seq < other.end() && other.subflow_seq < self.end()
    }

    /// Whether `other` is this mapping with the DATA_FIN added (or
    /// dropped): the same bytes at the same data sequence numbers. Linux
    /// extends a mapping by the DATA_FIN when it writes the option, so a
    /// segment retransmitted after the application closed carries its
    /// original mapping plus the DATA_FIN (Data-Level Length one more, and
    /// so another checksum).
    fn same_bytes_as(&self, other: &RxMapping) -> bool {
        self.subflow_seq == other.subflow_seq
            && self.relative_seq == other.relative_seq
            && self.dsn == other.dsn
            && self.len == other.len
            && self.data_fin != other.data_fin
    }

    /// Whether two overlapping mappings put the shared bytes at the same
    /// data sequence numbers.
    fn consistent_with(&self, other: &RxMapping) -> bool {
        let seq_delta = other.subflow_seq.diff(self.subflow_seq);
        other.dsn.diff(self.dsn) == i64::from(seq_delta)
    }
}

/// The mapping that covers a subflow byte, as [`MappingTable::lookup`]
/// reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// The data sequence number of the byte looked up.
    pub dsn: DataSeq,
    /// Mapped bytes from the one looked up to the end of the mapping.
    pub remaining: u32,
    /// How far into the mapping the byte looked up lies.
    pub offset: u32,
    /// The whole mapping.
    pub mapping: RxMapping,
}

/// Why a mapping was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// It overlaps an earlier mapping and disagrees with it.
    #[error("mapping contradicts an earlier one")]
    Contradiction,
    /// The table holds its limit of mappings.
    #[error("too many outstanding mappings")]
    Full,
}

/// The mappings of one subflow not yet consumed, ordered by subflow
/// sequence number, bounded.
#[derive(Debug)]
pub struct MappingTable {
    mappings: VecDeque<RxMapping>,
    limit: usize,
    /// Every subflow byte before this has been moved up.
    consumed: Option<SubflowSeq>,
}

impl MappingTable {
    /// A table of at most `limit` mappings.
    pub fn new(limit: usize) -> Self {
        MappingTable {
            mappings: VecDeque::new(),
            limit: limit.max(1),
            consumed: None,
        }
    }

    /// Mappings held.
    pub fn len(&self) -> usize {
        self.mappings.len()
    }

    /// Whether no mapping is held.
    pub fn is_empty(&self) -> bool {
        self.mappings.is_empty()
    }

    /// Check a mapping without storing it: `Ok(true)` if it is new and
    /// fits, `Ok(false)` if it is already known or entirely consumed.
    ///
    /// # Errors
    ///
    /// [`MappingError`] if it contradicts an earlier mapping or the table
    /// is full.
    pub fn check(&self, mapping: &RxMapping) -> Result<bool, MappingError> {
        if mapping.len == 0 {
            return Ok(false);
        }
        if self.consumed.is_some_and(|c| mapping.end() <= c) {
            // Bytes already moved up: a retransmission.
            return Ok(false);
        }
        let mut known = false;
        for held in self.mappings.iter().filter(|m| m.overlaps(mapping)) {
            if held == mapping || held.same_bytes_as(mapping) {
                // The caller takes a DATA_FIN it announces; the bytes
                // stay under the mapping (and checksum) first held.
                known = true;
            } else if !held.consistent_with(mapping)
                || held.checksum.is_some()
                || mapping.checksum.is_some()
            {
                // With checksums each mapping is verified whole, so even
                // an agreeing overlap cannot be honoured.
                return Err(MappingError::Contradiction);
            }
        }
        if known {
            return Ok(false);
        }
        if self.mappings.len() >= self.limit {
            return Err(MappingError::Full);
        }
        Ok(true)
    }

    /// Store a mapping (see [`MappingTable::check`]).
    ///
    /// # Errors
    ///
    /// [`MappingError`] as for [`MappingTable::check`]; nothing is stored.
    pub fn insert(&mut self, mapping: RxMapping) -> Result<(), MappingError> {
        if !self.check(&mapping)? {
            return Ok(());
        }
        // Keep the order by start; new mappings almost always go last.
        let at = self
            .mappings
            .iter()
            .rposition(|m| m.subflow_seq <= mapping.subflow_seq)
            .map_or(0, |i| i + 1);
        self.mappings.insert(at, mapping);
        Ok(())
    }

    /// The mapping of subflow byte `seq`.
    pub fn lookup(&self, seq: SubflowSeq) -> Option<Found> {
        let mapping = *self.mappings.iter().find(|m| m.contains(seq))?;
        let offset = seq.distance_from(mapping.subflow_seq);
        Some(Found {
            dsn: mapping.dsn + u64::from(offset),
            remaining: u32::from(mapping.len) - offset,
            offset,
            mapping,
        })
    }

    /// The subflow has moved every byte before `seq` up: forget the
    /// mappings that lie wholly before it.
    pub fn consumed(&mut self, seq: SubflowSeq) {
        self.consumed = Some(seq);
        while self.mappings.front().is_some_and(|m| m.end() <= seq) {
            self.mappings.pop_front();
        }
        // An agreeing overlap can leave a finished mapping behind a longer
        // one that started earlier.
        self.mappings.retain(|m| m.end() > seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(seq: u32, dsn: u64, len: u16) -> RxMapping {
        let dsn = DataSeq(dsn);
        RxMapping {
            subflow_seq: SubflowSeq(seq),
            relative_seq: seq.wrapping_sub(1000),
            dsn,
            len,
            checksum: None,
            data_fin: false,
        }
    }

    #[test]
    fn lookup_finds_the_offset_within_a_mapping() {
        let mut table = MappingTable::new(4);
        table.insert(mapping(1000, 5000, 100)).unwrap();
        table.insert(mapping(1100, 9000, 50)).unwrap();
        let found = table.lookup(SubflowSeq(1030)).unwrap();
        assert_eq!(
            (found.dsn, found.remaining, found.offset),
            (DataSeq(5030), 70, 30)
        );
        let found = table.lookup(SubflowSeq(1149)).unwrap();
        assert_eq!((found.dsn, found.remaining), (DataSeq(9049), 1));
        assert!(table.lookup(SubflowSeq(1150)).is_none());
        assert!(table.lookup(SubflowSeq(999)).is_none());
    }

    #[test]
    fn identical_repeats_are_stored_once_and_consumed_ones_ignored() {
        let mut table = MappingTable::new(2);
        table.insert(mapping(1000, 5000, 100)).unwrap();
        table.insert(mapping(1000, 5000, 100)).unwrap();
        assert_eq!(table.len(), 1);
        table.consumed(SubflowSeq(1100));
        assert!(table.is_empty());
        // A retransmission of consumed bytes: accepted, not stored.
        table.insert(mapping(1000, 5000, 100)).unwrap();
        assert!(table.is_empty());
    }

    #[test]
    fn a_contradicting_overlap_is_refused() {
        let mut table = MappingTable::new(4);
        table.insert(mapping(1000, 5000, 100)).unwrap();
        assert_eq!(
            table.insert(mapping(1050, 7000, 100)),
            Err(MappingError::Contradiction)
        );
        // Agreeing overlap (same data sequence for the shared bytes) is fine
        // without checksums...
        table.insert(mapping(1050, 5050, 100)).unwrap();
        assert_eq!(table.lookup(SubflowSeq(1120)).unwrap().dsn, DataSeq(5120));
        // ...but not with them: each checksummed mapping is checked whole.
        let mut with_checksum = mapping(1020, 5020, 10);
        with_checksum.checksum = Some(0x1234);
        assert_eq!(
            table.insert(with_checksum),
            Err(MappingError::Contradiction)
        );
    }

    #[test]
    fn a_checksummed_mapping_repeated_with_the_data_fin_is_the_same_mapping() {
        let mut table = MappingTable::new(4);
        let mut first = mapping(1000, 5000, 100);
        first.checksum = Some(0x1111);
        table.insert(first).unwrap();
        let mut with_fin = first;
        with_fin.data_fin = true;
        with_fin.checksum = Some(0x2222);
        assert_eq!(table.check(&with_fin), Ok(false), "known bytes");
        table.insert(with_fin).unwrap();
        assert_eq!(table.len(), 1);
        assert_eq!(
            table.lookup(SubflowSeq(1000)).unwrap().mapping.checksum,
            Some(0x1111),
            "the bytes are checked against the mapping first held"
        );
        // Another checksum without the DATA_FIN's difference, or other
        // bytes, still contradicts.
        let mut other_sum = first;
        other_sum.checksum = Some(0x3333);
        assert_eq!(table.insert(other_sum), Err(MappingError::Contradiction));
        let mut longer = with_fin;
        longer.len = 120;
        assert_eq!(table.insert(longer), Err(MappingError::Contradiction));
    }

    #[test]
    fn the_table_is_bounded() {
        let mut table = MappingTable::new(2);
        table.insert(mapping(1000, 5000, 10)).unwrap();
        table.insert(mapping(1010, 5010, 10)).unwrap();
        assert_eq!(
            table.insert(mapping(1020, 5020, 10)),
            Err(MappingError::Full)
        );
        table.consumed(SubflowSeq(1010));
        table.insert(mapping(1020, 5020, 10)).unwrap();
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn out_of_order_arrival_keeps_the_table_sorted() {
        let mut table = MappingTable::new(4);
        table.insert(mapping(1020, 5020, 10)).unwrap();
        table.insert(mapping(1000, 5000, 10)).unwrap();
        table.insert(mapping(1010, 5010, 10)).unwrap();
        table.consumed(SubflowSeq(1020));
        assert_eq!(table.len(), 1);
        assert_eq!(table.lookup(SubflowSeq(1025)).unwrap().dsn, DataSeq(5025));
    }

    #[test]
    fn mappings_work_across_the_subflow_sequence_wrap() {
        let mut table = MappingTable::new(4);
        table.insert(mapping(u32::MAX - 9, 100, 20)).unwrap();
        let found = table.lookup(SubflowSeq(5)).unwrap();
        assert_eq!((found.dsn, found.remaining), (DataSeq(115), 5));
        table.consumed(SubflowSeq(10));
        assert!(table.is_empty());
    }
}
