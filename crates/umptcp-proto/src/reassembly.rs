//! Data-level reassembly (RFC 8684 §3.3.4-3.3.5): bytes arrive from the
//! subflows by data sequence number, in any order, and leave in order.
//!
//! One ring buffer of fixed capacity holds the bytes not yet read by the
//! application and the out-of-order bytes ahead of them; its free space is
//! the connection-level receive window, so anything beyond it is refused
//! and stays with its subflow. Out-of-order ranges are a sorted list with
//! a bound fixed at creation: bytes that would need one more range are
//! refused the same way, never dropped after acceptance.
//!
//! The bound must be generous. A scheduler hands subflows chunks as their
//! windows open, often a few segments each, so while one subflow has a
//! hole the others' chunks each make a range of their own; if the bound
//! refused them, their bytes would fill their subflows' receive buffers
//! and shut the windows that the retransmission of the hole needs.

use crate::data_seq::DataSeq;
use umptcp_tcp::LazyStorage;

/// The receive side of the data sequence space.
#[derive(Debug)]
pub struct Reassembly {
    /// The ring, allocated when the first byte arrives.
    buf: LazyStorage,
    /// Ring index of the first unread byte.
    head: usize,
    /// In-order bytes not yet read, from `head`.
    readable: usize,
    /// The data sequence number after the in-order bytes.
    rcv_nxt: DataSeq,
    /// The first one expected (the statistics count from it).
    start: DataSeq,
    /// Out-of-order bytes held, as `[start, end)` offsets from `rcv_nxt`,
    /// sorted, disjoint and not touching.
    ranges: Vec<(usize, usize)>,
    /// Most out-of-order ranges held; more come only after a hole fills.
    max_ranges: usize,
    /// The DATA_FIN's data sequence number, once announced.
    data_fin: Option<DataSeq>,
}

impl Reassembly {
    /// Expect data from `rcv_nxt` on, holding at most `capacity` bytes in
    /// at most `max_ranges` out-of-order ranges (preallocated).
    pub fn new(rcv_nxt: DataSeq, capacity: usize, max_ranges: usize) -> Self {
        let max_ranges = max_ranges.max(1);
        Reassembly {
            buf: LazyStorage::new(capacity.max(1)),
            head: 0,
            readable: 0,
            rcv_nxt,
            start: rcv_nxt,
            ranges: Vec::with_capacity(max_ranges),
            max_ranges,
            data_fin: None,
        }
    }

    /// The data sequence number of the next in-order byte expected.
    pub fn rcv_nxt(&self) -> DataSeq {
        self.rcv_nxt
    }

    /// In-order bytes received so far (read or not).
    pub fn received(&self) -> u64 {
        self.rcv_nxt.diff(self.start).unsigned_abs()
    }

    /// Bytes of memory it holds: 0 until the first byte arrives.
    pub fn allocated(&self) -> usize {
        self.buf.allocated()
    }

    /// Bytes the application can read now.
    pub fn readable(&self) -> usize {
        self.readable
    }

    /// The connection-level receive window: room past the unread bytes.
    pub fn window(&self) -> usize {
        self.buf.capacity() - self.readable
    }

    /// Out-of-order bytes held.
    pub fn out_of_order(&self) -> usize {
        self.ranges.iter().map(|(s, e)| e - s).sum()
    }

    /// Take bytes carrying data sequence numbers from `dsn`.
    ///
    /// Returns how many of `data`, from its start, were taken: duplicates
    /// of bytes already received count as taken; the count stops where the
    /// window ends (or where a new out-of-order range would exceed the
    /// bound), and the caller offers the rest again later.
    pub fn insert(&mut self, dsn: DataSeq, data: &[u8]) -> usize {
        let mut offset = dsn.diff(self.rcv_nxt);
        let mut data = data;
        let mut taken = 0;
        if offset < 0 {
            // Bytes before rcv_nxt were received already.
            let old = usize::try_from(offset.unsigned_abs())
                .unwrap_or(usize::MAX)
                .min(data.len());
            taken = old;
            data = &data[old..];
            offset = 0;
        }
        let window = self.window();
        let Ok(start) = usize::try_from(offset) else {
            return taken;
        };
        if data.is_empty() || start >= window {
            return taken;
        }
        let end = start + data.len().min(window - start);
        if !self.add_range(start, end) {
            return taken;
        }
        self.copy_in(start, &data[..end - start]);
        taken += end - start;
        self.advance();
        taken
    }

    /// Append bytes that are in order by construction (a fallen-back
    /// connection's byte stream). Returns how many fit.
    pub fn push_in_order(&mut self, data: &[u8]) -> usize {
        self.insert(self.rcv_nxt, data)
    }

    /// Copy in-order bytes to `out`; returns how many.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.readable);
        if n == 0 {
            return 0;
        }
        let cap = self.buf.capacity();
        let first = n.min(cap - self.head);
        let buf = self.buf.bytes();
        out[..first].copy_from_slice(&buf[self.head..self.head + first]);
        out[first..n].copy_from_slice(&buf[..n - first]);
        self.head = (self.head + n) % cap;
        self.readable -= n;
        n
    }

    /// The peer's DATA_FIN takes data sequence number `dsn`. The first
    /// announcement stands; a different later one is ignored.
    pub fn set_data_fin(&mut self, dsn: DataSeq) {
        if self.data_fin.is_none() && dsn >= self.rcv_nxt {
            self.data_fin = Some(dsn);
        }
    }

    /// Whether every byte before the DATA_FIN has arrived.
    pub fn data_fin_reached(&self) -> bool {
        self.data_fin == Some(self.rcv_nxt)
    }

    /// Record `[start, end)` as held; false if that needs a range more
    /// than the bound allows.
    fn add_range(&mut self, start: usize, end: usize) -> bool {
        // Ranges that touch or overlap the new one merge with it.
        let first = self.ranges.partition_point(|&(_, e)| e < start);
        let last = self.ranges.partition_point(|&(s, _)| s <= end);
        if first == last {
            if self.ranges.len() >= self.max_ranges && start != 0 {
                return false;
            }
            self.ranges.insert(first, (start, end));
        } else {
            let merged = (
                start.min(self.ranges[first].0),
                end.max(self.ranges[last - 1].1),
            );
            self.ranges.drain(first + 1..last);
            self.ranges[first] = merged;
        }
        true
    }

    /// Write bytes at `offset` past the in-order ones.
    fn copy_in(&mut self, offset: usize, data: &[u8]) {
        let cap = self.buf.capacity();
        let at = (self.head + self.readable + offset) % cap;
        let first = data.len().min(cap - at);
        let buf = self.buf.bytes_mut();
        buf[at..at + first].copy_from_slice(&data[..first]);
        buf[..data.len() - first].copy_from_slice(&data[first..]);
    }

    /// Make a range starting at `rcv_nxt` readable.
    fn advance(&mut self) {
        let Some(&(0, end)) = self.ranges.first() else {
            return;
        };
        self.ranges.remove(0);
        for range in &mut self.ranges {
            range.0 -= end;
            range.1 -= end;
        }
        self.readable += end;
        self.rcv_nxt += end as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(r: &mut Reassembly) -> Vec<u8> {
        let mut out = vec![0; r.readable()];
        let n = r.read(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn in_order_bytes_are_readable_at_once() {
        let mut r = Reassembly::new(DataSeq(100), 16, 32);
        assert_eq!(r.insert(DataSeq(100), b"hello"), 5);
        assert_eq!(r.rcv_nxt(), DataSeq(105));
        assert_eq!(read_all(&mut r), b"hello");
    }

    #[test]
    fn out_of_order_bytes_wait_for_the_hole() {
        let mut r = Reassembly::new(DataSeq(0), 16, 32);
        assert_eq!(r.insert(DataSeq(5), b"world"), 5);
        assert_eq!(r.readable(), 0);
        assert_eq!(r.out_of_order(), 5);
        assert_eq!(r.insert(DataSeq(0), b"hello"), 5);
        assert_eq!(r.rcv_nxt(), DataSeq(10));
        assert_eq!(read_all(&mut r), b"helloworld");
    }

    #[test]
    fn duplicates_count_as_taken_and_change_nothing() {
        let mut r = Reassembly::new(DataSeq(0), 16, 32);
        r.insert(DataSeq(0), b"abcdef");
        assert_eq!(r.insert(DataSeq(2), b"cdefgh"), 6);
        assert_eq!(read_all(&mut r), b"abcdefgh");
        assert_eq!(r.insert(DataSeq(0), b"abcd"), 4);
        assert_eq!(r.readable(), 0);
    }

    #[test]
    fn the_window_bounds_what_is_taken() {
        let mut r = Reassembly::new(DataSeq(0), 8, 32);
        assert_eq!(r.insert(DataSeq(0), b"0123456789"), 8);
        assert_eq!(r.window(), 0);
        assert_eq!(r.insert(DataSeq(8), b"89"), 0);
        let mut out = [0; 3];
        r.read(&mut out);
        assert_eq!(r.insert(DataSeq(8), b"89"), 2);
        assert_eq!(read_all(&mut r), b"3456789");
    }

    #[test]
    fn data_fin_is_reached_when_every_byte_before_it_arrived() {
        let mut r = Reassembly::new(DataSeq(0), 8, 32);
        r.set_data_fin(DataSeq(4));
        r.insert(DataSeq(2), b"cd");
        assert!(!r.data_fin_reached());
        r.insert(DataSeq(0), b"ab");
        assert!(r.data_fin_reached());
    }

    #[test]
    fn out_of_order_ranges_are_bounded() {
        let mut r = Reassembly::new(DataSeq(0), 1024, 32);
        for i in 0..32 {
            assert_eq!(r.insert(DataSeq((2 * i + 1) as u64), b"x"), 1);
        }
        assert_eq!(r.insert(DataSeq(1000), b"y"), 0, "one range too many");
        // A byte adjacent to a held range needs no new one.
        assert_eq!(r.insert(DataSeq(2), b"z"), 1);
    }

    proptest! {
        /// Any arrival order of any chunking, with duplicates, reads back
        /// the original stream once a reader drains it.
        #[test]
        fn any_arrival_order_reassembles_the_stream(
            base in any::<u64>(),
            len in 1usize..600,
            cuts in proptest::collection::vec((0usize..600, 1usize..80), 1..60),
            capacity in 64usize..700,
        ) {
            let stream: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut r = Reassembly::new(DataSeq(base), capacity, 32);
            let mut out = Vec::new();
            let mut chunks: Vec<(usize, usize)> = cuts
                .iter()
                .map(|&(s, l)| (s % len, (s % len + l).min(len)))
                .collect();
            // Finally every byte in order, so the stream must complete.
            chunks.extend((0..len).step_by(50).map(|s| (s, (s + 50).min(len))));
            for (s, e) in chunks {
                let mut at = s;
                while at < e {
                    let n = r.insert(DataSeq(base) + at as u64, &stream[at..e]);
                    if n == 0 {
                        // Refused: drain the reader, then try once more.
                        let mut buf = vec![0; r.readable()];
                        let got = r.read(&mut buf);
                        out.extend_from_slice(&buf[..got]);
                        if got == 0 {
                            break;
                        }
                        continue;
                    }
                    at += n;
                }
            }
            let mut buf = vec![0; r.readable()];
            let got = r.read(&mut buf);
            out.extend_from_slice(&buf[..got]);
            prop_assert_eq!(&out[..], &stream[..]);
            prop_assert_eq!(r.rcv_nxt(), DataSeq(base) + len as u64);
        }
    }
}
