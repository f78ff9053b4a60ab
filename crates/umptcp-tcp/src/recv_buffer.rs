//! The receive buffer: a fixed-capacity ring holding in-order data the
//! application has not read yet, followed by out-of-order data waiting for
//! the holes before it to fill.
//!
//! ```text
//!   head            contig_end (RCV.NXT)          head + capacity
//!    |── readable ───|── hole ──[ooo]── hole ─[ooo]──|
//!                    |<─────── advertised window ───>|
//! ```
//!
//! Positions are absolute byte counts (u64) since the first data byte, so
//! they never wrap. Out-of-order data lives in the ring at its final place;
//! a bounded list of ranges (`max_ranges`) says which parts are filled.

use crate::LazyStorage;

/// The reassembly ring; allocated once, when the first byte arrives.
#[derive(Debug)]
pub(crate) struct RecvBuffer {
    storage: LazyStorage,
    head: u64,
    contig_end: u64,
    /// Filled ranges past `contig_end`: sorted, disjoint, not adjacent.
    ranges: Vec<(u64, u64)>,
    max_ranges: usize,
}

/// What [`RecvBuffer::insert`] did with a segment's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// The data extended the in-order part by this many bytes (holes it
    /// filled included).
    InOrder(usize),
    /// The data was stored out of order.
    OutOfOrder,
    /// The data needed one range more than allowed and was dropped.
    Dropped,
}

impl RecvBuffer {
    pub(crate) fn new(capacity: usize, max_ranges: usize) -> Self {
        RecvBuffer {
            storage: LazyStorage::new(capacity),
            head: 0,
            contig_end: 0,
            ranges: Vec::with_capacity(max_ranges),
            max_ranges,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.storage.capacity()
    }

    /// Bytes of memory it holds: 0 until the first byte arrives.
    pub(crate) fn allocated(&self) -> usize {
        self.storage.allocated()
    }

    /// Give the memory back if it holds no byte (positions are absolute,
    /// so the ring is as good when taken again).
    pub(crate) fn release_if_empty(&mut self) {
        if self.head == self.contig_end && self.ranges.is_empty() {
            self.storage.release();
        }
    }

    /// Bytes ready for the application.
    pub(crate) fn readable(&self) -> usize {
        (self.contig_end - self.head) as usize
    }

    /// Room past the in-order data: the receive window.
    pub(crate) fn window(&self) -> usize {
        self.capacity() - self.readable()
    }

    /// True if out-of-order data is held.
    pub(crate) fn has_out_of_order(&self) -> bool {
        !self.ranges.is_empty()
    }

    /// The filled ranges past the in-order data, as byte offsets from it
    /// (start, end), in sequence order: the SACK blocks.
    pub(crate) fn out_of_order_ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ranges.iter().map(|&(s, e)| {
            (
                (s - self.contig_end) as usize,
                (e - self.contig_end) as usize,
            )
        })
    }

    fn copy_in(&mut self, pos: u64, data: &[u8]) {
        let cap = self.capacity();
        let start = (pos % cap as u64) as usize;
        let first = data.len().min(cap - start);
        let storage = self.storage.bytes_mut();
        storage[start..start + first].copy_from_slice(&data[..first]);
        storage[..data.len() - first].copy_from_slice(&data[first..]);
    }

    /// Store `data`, which starts `offset` bytes past the in-order data.
    /// Bytes beyond the window are cut off.
    pub(crate) fn insert(&mut self, offset: usize, data: &[u8]) -> Inserted {
        let window = self.window();
        if offset >= window || data.is_empty() {
            return if data.is_empty() && offset == 0 {
                Inserted::InOrder(0)
            } else {
                Inserted::Dropped
            };
        }
        let data = &data[..data.len().min(window - offset)];
        let start = self.contig_end + offset as u64;
        let end = start + data.len() as u64;
        if offset == 0 {
            self.copy_in(start, data);
            let before = self.contig_end;
            self.contig_end = end;
            // Pull in every range the new data reaches.
            while let Some(&(s, e)) = self.ranges.first() {
                if s > self.contig_end {
                    break;
                }
                self.contig_end = self.contig_end.max(e);
                self.ranges.remove(0);
            }
            return Inserted::InOrder((self.contig_end - before) as usize);
        }
        // Merge with every range it overlaps or touches.
        let first = self.ranges.iter().position(|&(_, e)| e >= start);
        let mut new = (start, end);
        let idx = first.unwrap_or(self.ranges.len());
        let mut merged = 0;
        while idx + merged < self.ranges.len() && self.ranges[idx + merged].0 <= new.1 {
            let (s, e) = self.ranges[idx + merged];
            new = (new.0.min(s), new.1.max(e));
            merged += 1;
        }
        if merged == 0 && self.ranges.len() >= self.max_ranges {
            return Inserted::Dropped;
        }
        self.copy_in(start, data);
        if merged == 0 {
            self.ranges.insert(idx, new);
        } else {
            self.ranges[idx] = new;
            self.ranges.drain(idx + 1..idx + merged);
        }
        Inserted::OutOfOrder
    }

    /// The in-order data as the (at most) two slices of the ring it
    /// occupies: no copy.
    pub(crate) fn readable_slices(&self) -> (&[u8], &[u8]) {
        let n = self.readable();
        if n == 0 {
            return (&[], &[]);
        }
        let cap = self.capacity();
        let start = (self.head % cap as u64) as usize;
        let first = n.min(cap - start);
        let storage = self.storage.bytes();
        (&storage[start..start + first], &storage[..n - first])
    }

    /// Drop the `n` oldest in-order bytes (the application took them).
    pub(crate) fn advance(&mut self, n: usize) {
        self.head += n.min(self.readable()) as u64;
    }

    /// Copy in-order data into `out`; return how much.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.readable());
        if n == 0 {
            return 0;
        }
        let cap = self.capacity();
        let start = (self.head % cap as u64) as usize;
        let first = n.min(cap - start);
        let storage = self.storage.bytes();
        out[..first].copy_from_slice(&storage[start..start + first]);
        out[first..n].copy_from_slice(&storage[..n - first]);
        self.head += n as u64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(buf: &mut RecvBuffer) -> Vec<u8> {
        let mut out = vec![0; buf.capacity()];
        let n = buf.read(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn in_order_and_wrap() {
        let mut buf = RecvBuffer::new(8, 4);
        assert_eq!(buf.insert(0, b"abcdef"), Inserted::InOrder(6));
        assert_eq!(read_all(&mut buf), b"abcdef");
        assert_eq!(buf.window(), 8);
        assert_eq!(buf.insert(0, b"ghijklmnop"), Inserted::InOrder(8));
        assert_eq!(buf.window(), 0);
        assert_eq!(read_all(&mut buf), b"ghijklmn");
    }

    #[test]
    fn reassembles_out_of_order() {
        let mut buf = RecvBuffer::new(16, 4);
        assert_eq!(buf.insert(4, b"efgh"), Inserted::OutOfOrder);
        assert_eq!(buf.insert(10, b"kl"), Inserted::OutOfOrder);
        assert_eq!(
            buf.out_of_order_ranges().collect::<Vec<_>>(),
            [(4, 8), (10, 12)]
        );
        assert_eq!(buf.insert(8, b"ij"), Inserted::OutOfOrder);
        assert_eq!(buf.out_of_order_ranges().collect::<Vec<_>>(), [(4, 12)]);
        assert_eq!(buf.insert(0, b"abcd"), Inserted::InOrder(12));
        assert!(!buf.has_out_of_order());
        assert_eq!(read_all(&mut buf), b"abcdefghijkl");
    }

    #[test]
    fn overlapping_and_duplicate_data() {
        let mut buf = RecvBuffer::new(16, 4);
        assert_eq!(buf.insert(2, b"cdef"), Inserted::OutOfOrder);
        assert_eq!(buf.insert(3, b"def"), Inserted::OutOfOrder);
        assert_eq!(buf.insert(0, b"abcdefgh"), Inserted::InOrder(8));
        assert_eq!(read_all(&mut buf), b"abcdefgh");
    }

    #[test]
    fn range_limit_drops() {
        let mut buf = RecvBuffer::new(32, 2);
        assert_eq!(buf.insert(2, b"x"), Inserted::OutOfOrder);
        assert_eq!(buf.insert(4, b"y"), Inserted::OutOfOrder);
        assert_eq!(buf.insert(6, b"z"), Inserted::Dropped);
        // Extending an existing range is still fine.
        assert_eq!(buf.insert(5, b"Y"), Inserted::OutOfOrder);
        assert_eq!(buf.out_of_order_ranges().count(), 2);
    }

    #[test]
    fn beyond_window_is_cut() {
        let mut buf = RecvBuffer::new(4, 2);
        assert_eq!(buf.insert(6, b"zz"), Inserted::Dropped);
        assert_eq!(buf.insert(2, b"cdef"), Inserted::OutOfOrder);
        assert_eq!(buf.insert(0, b"ab"), Inserted::InOrder(4));
        assert_eq!(read_all(&mut buf), b"abcd");
    }
}
