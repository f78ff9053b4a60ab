//! [`ReorderMeter`]: how long received data waits at the data level for
//! the bytes before it (head-of-line blocking across subflows).
//!
//! The meter reads the segments a node receives, before its endpoint
//! does, and finds the data sequence range of each data segment from its
//! DSS mapping:
//!
//! ```text
//!   SYN (no ACK)          → the subflow's ISS, by four-tuple
//!   MP_CAPABLE third ACK  → the data level starts at IDSN(sender's key) + 1
//!   data + DSS mapping    → DSN = mapping DSN + (seq − ISS − mapping subflow seq)
//!   data + MP_CAPABLE     → the first bytes, at IDSN + 1 (subflow sequence 1)
//! ```
//!
//! It keeps its own data-level in-order point. A range that starts at or
//! before it waited 0; one beyond it is held (start, end, arrival) until
//! the point reaches it, and then waited `now − arrival`. A range the
//! point has already passed, or that held ranges already cover, is a
//! duplicate (a redundant copy, a spurious retransmission) and is not
//! counted. Delays go into a log-linear histogram (16 buckets per
//! octave of microseconds, so a percentile is within 1/16 of the value)
//! and an exact sum for the mean.
//!
//! Memory is fixed when the meter is made: the held ranges are a ring of
//! the capacity given (the receive buffer bounds how many ranges can be
//! out of order at once), the subflow table has [`SUBFLOWS`] entries and
//! the histogram [`BINS`]. Nothing is allocated per packet. Should the
//! ring ever fill, the meter stops measuring ([`ReorderMeter::saturated`])
//! rather than give wrong figures.
//!
//! It follows one connection: the first whose MP_CAPABLE third ACK it
//! sees. Put it on a node that receives a single MPTCP connection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use umptcp_proto::data_seq::{DataSeq, expand, first_data_seq};
use umptcp_time::Instant;
use umptcp_wire::TcpOption;
use umptcp_wire::mptcp::{CapableKeys, DssSeq, MptcpOption};
use umptcp_wire::segment::{Segment, TcpFlags};

/// Subflows whose ISS the meter remembers.
pub(crate) const SUBFLOWS: usize = 8;

/// Histogram buckets: 32 exact ones (0 to 31 µs), then 16 per octave up
/// to 2^64 µs.
pub(crate) const BINS: usize = 32 + 59 * 16;

/// A data sequence range held until the in-order point reaches it.
#[derive(Clone, Copy, Debug)]
struct Held {
    start: DataSeq,
    end: DataSeq,
    arrived: Instant,
}

/// A subflow seen opening: its four-tuple as received and its ISS.
#[derive(Clone, Copy, Debug)]
struct Opened {
    from: SocketAddr,
    to: SocketAddr,
    iss: u32,
}

/// The reordering delay of one connection's data at its receiver.
#[derive(Debug)]
pub(crate) struct ReorderMeter {
    subflows: [Option<Opened>; SUBFLOWS],
    /// The data sequence number of the first byte.
    first: Option<DataSeq>,
    /// The data-level in-order point: every byte before it has arrived.
    next: Option<DataSeq>,
    held: VecDeque<Held>,
    capacity: usize,
    histogram: Box<[u64]>,
    samples: u64,
    delayed: u64,
    sum_us: u128,
    max_us: u64,
    duplicates: u64,
    unmapped: u64,
    saturated: bool,
}

impl ReorderMeter {
    /// A meter holding up to `capacity` out-of-order ranges (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            subflows: [None; SUBFLOWS],
            first: None,
            next: None,
            held: VecDeque::with_capacity(capacity),
            capacity,
            histogram: vec![0; BINS].into_boxed_slice(),
            samples: 0,
            delayed: 0,
            sum_us: 0,
            max_us: 0,
            duplicates: 0,
            unmapped: 0,
            saturated: false,
        }
    }

    /// Look at one received segment.
    pub(crate) fn on_segment(&mut self, now: Instant, seg: &Segment<'_>) {
        let from = SocketAddr::new(seg.src(), seg.src_port());
        let to = SocketAddr::new(seg.dst(), seg.dst_port());
        let flags = seg.flags();
        if flags.contains(TcpFlags::SYN) {
            if !flags.contains(TcpFlags::ACK) {
                self.opened(from, to, seg.seq());
            }
            return;
        }
        // (DSN, subflow sequence relative to the ISS, Data-Level Length)
        let mut mapping = None;
        for option in seg.options() {
            match option {
                Ok(TcpOption::Mptcp(MptcpOption::MpCapable(capable))) => match capable.keys {
                    CapableKeys::Both { sender, .. } => self.begin(sender),
                    CapableKeys::WithData {
                        sender, data_len, ..
                    } => {
                        // RFC 8684 §3.1: the first data segment's implied
                        // mapping: data sequence IDSN+1 (the kernel's
                        // `mpext->data_seq = idsn + 1`), subflow sequence 1.
                        let first = first_data_seq(sender).get();
                        self.begin(sender);
                        mapping = Some((DssSeq::Long(first), 1, data_len));
                    }
                    _ => {}
                },
                Ok(TcpOption::Mptcp(MptcpOption::Dss(dss))) => {
                    if let Some(m) = dss.mapping {
                        mapping = Some((m.dsn, m.subflow_seq, m.data_len));
                    }
                }
                _ => {}
            }
        }
        let payload = seg.payload().len();
        if payload == 0 {
            return;
        }
        let (Some((dsn, map_seq, map_len)), Some(iss)) = (mapping, self.iss(from, to)) else {
            self.unmapped += 1;
            return;
        };
        // Data-Level Length 0 is the infinite mapping of a fallback.
        let offset = seg.seq().wrapping_sub(iss).wrapping_sub(map_seq);
        if offset >= u32::from(map_len) {
            self.unmapped += 1;
            return;
        }
        // RFC 8684 §3.3.1: a 4-octet DSN is expanded around the most
        // recent 64-bit one; the in-order point is ours.
        let base = expand(dsn, self.next.unwrap_or_default());
        let len = payload.min((u32::from(map_len) - offset) as usize);
        self.arrive(now, base + u64::from(offset), len as u64);
    }

    /// Start the data level at `first` (the data sequence number of the
    /// first byte), unless it started already.
    pub(crate) fn start_at(&mut self, first: DataSeq) {
        if self.next.is_none() {
            self.first = Some(first);
            self.next = Some(first);
        }
    }

    /// Bytes from the first to the in-order point: what has arrived in
    /// order (the receiver's stack cannot have delivered more).
    pub(crate) fn in_order_bytes(&self) -> u64 {
        match (self.first, self.next) {
            (Some(first), Some(next)) => next.distance_from(first),
            _ => 0,
        }
    }

    /// The data sequence range `[start, start + len)` arrived at `now`.
    pub(crate) fn arrive(&mut self, now: Instant, start: DataSeq, len: u64) {
        if self.saturated || len == 0 {
            return;
        }
        let Some(next) = self.next else {
            self.unmapped += 1;
            return;
        };
        let end = start + len;
        if end.diff(next) <= 0 {
            self.duplicates += 1;
            return;
        }
        if start.diff(next) <= 0 {
            self.record(Duration::ZERO);
            self.next = Some(end);
            self.release(now);
            return;
        }
        let at = self.held.partition_point(|h| h.start.diff(start) < 0);
        if self.covered(at, start, end) {
            self.duplicates += 1;
            return;
        }
        if self.held.len() == self.capacity {
            self.saturated = true;
            return;
        }
        self.held.insert(
            at,
            Held {
                start,
                end,
                arrived: now,
            },
        );
    }

    /// Forget the figures so far (not the state), e.g. after a warm-up.
    pub(crate) fn reset_stats(&mut self) {
        self.histogram.fill(0);
        self.samples = 0;
        self.delayed = 0;
        self.sum_us = 0;
        self.max_us = 0;
        self.duplicates = 0;
        self.unmapped = 0;
    }

    /// Ranges measured (first copies; those in order count, with 0).
    pub(crate) fn samples(&self) -> u64 {
        self.samples
    }

    /// Of the ranges measured, those that waited at all.
    pub(crate) fn delayed(&self) -> u64 {
        self.delayed
    }

    /// Copies not measured: already delivered or already held.
    pub(crate) fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Data segments whose data sequence range could not be told (no
    /// mapping, an unknown subflow, before the connection's start).
    pub(crate) fn unmapped(&self) -> u64 {
        self.unmapped
    }

    /// The held ranges filled the capacity, and measuring stopped.
    pub(crate) fn saturated(&self) -> bool {
        self.saturated
    }

    /// `(samples, total delay in µs)`, for means over intervals.
    pub(crate) fn totals(&self) -> (u64, u128) {
        (self.samples, self.sum_us)
    }

    /// The mean delay in ms (0 without samples).
    pub(crate) fn mean_ms(&self) -> f64 {
        if self.samples == 0 {
            return 0.0;
        }
        self.sum_us as f64 / self.samples as f64 / 1000.0
    }

    /// The largest delay in ms.
    pub(crate) fn max_ms(&self) -> f64 {
        self.max_us as f64 / 1000.0
    }

    /// The delay in ms that a share `q` (0 to 1) of the samples do not
    /// exceed, to within 1/16 (the top of its histogram bucket, at most
    /// the largest delay); 0 without samples.
    pub(crate) fn percentile_ms(&self, q: f64) -> f64 {
        if self.samples == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.samples as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bin, n) in self.histogram.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bin_top(bin).min(self.max_us) as f64 / 1000.0;
            }
        }
        self.max_ms()
    }

    /// Remember the ISS of a subflow opening (a retransmitted SYN
    /// replaces it); past [`SUBFLOWS`], later ones are not followed.
    fn opened(&mut self, from: SocketAddr, to: SocketAddr, iss: u32) {
        let slot = self
            .subflows
            .iter()
            .position(|s| s.is_some_and(|s| s.from == from && s.to == to))
            .or_else(|| self.subflows.iter().position(Option::is_none));
        if let Some(slot) = slot {
            self.subflows[slot] = Some(Opened { from, to, iss });
        }
    }

    fn iss(&self, from: SocketAddr, to: SocketAddr) -> Option<u32> {
        self.subflows
            .iter()
            .flatten()
            .find(|s| s.from == from && s.to == to)
            .map(|s| s.iss)
    }

    /// RFC 8684 §3.1: "The data sequence number of the first byte is
    /// IDSN+1"; the IDSN is the low 64 bits of SHA-256 of the sender's key.
    fn begin(&mut self, sender: umptcp_wire::Key) {
        if self.next.is_none() {
            self.start_at(first_data_seq(sender));
        }
    }

    /// Whether the ranges held from index `at - 1` on cover `[start, end)`.
    fn covered(&self, at: usize, start: DataSeq, end: DataSeq) -> bool {
        let mut reach = start;
        for h in self.held.iter().skip(at.saturating_sub(1)) {
            if h.start.diff(reach) > 0 {
                break;
            }
            if h.end.diff(reach) > 0 {
                reach = h.end;
            }
            if reach.diff(end) >= 0 {
                return true;
            }
        }
        false
    }

    /// Let the in-order point run over the held ranges it reaches.
    fn release(&mut self, now: Instant) {
        let Some(mut next) = self.next else {
            return;
        };
        while let Some(h) = self.held.front().copied() {
            if h.start.diff(next) > 0 {
                break;
            }
            self.held.pop_front();
            if h.end.diff(next) <= 0 {
                // Held ranges before it already brought these bytes.
                self.duplicates += 1;
                continue;
            }
            next = h.end;
            self.record(now.saturating_duration_since(h.arrived));
        }
        self.next = Some(next);
    }

    fn record(&mut self, delay: Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.histogram[bin(us)] += 1;
        self.samples += 1;
        self.delayed += u64::from(us > 0);
        self.sum_us += u128::from(us);
        self.max_us = self.max_us.max(us);
    }
}

/// The histogram bucket of `us` microseconds.
fn bin(us: u64) -> usize {
    if us < 32 {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros() as usize; // 5..=63
    let sub = ((us >> (octave - 4)) & 15) as usize;
    (32 + (octave - 5) * 16 + sub).min(BINS - 1)
}

/// The largest value in bucket `bin`.
fn bin_top(bin: usize) -> u64 {
    if bin < 32 {
        return bin as u64;
    }
    let octave = 5 + (bin - 32) / 16;
    let sub = ((bin - 32) % 16) as u64;
    ((16 + sub + 1) << (octave - 4)).wrapping_sub(1)
}

#[cfg(test)]
mod tests {
    use umptcp_wire::Key;
    use umptcp_wire::mptcp::{Dss, DssMapping, MpCapable, MpCapableFlags};
    use umptcp_wire::segment::{ChecksumCheck, SegmentBuilder};

    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn a_hand_made_arrival_sequence() {
        let mut m = ReorderMeter::new(8);
        m.start_at(DataSeq(1000));
        // [1000,1100) in order; [1200,1300) and [1300,1400) over the gap.
        m.arrive(ms(0), DataSeq(1000), 100);
        m.arrive(ms(10), DataSeq(1200), 100);
        m.arrive(ms(20), DataSeq(1300), 100);
        // A copy of a held range, and one of delivered data: not counted.
        m.arrive(ms(25), DataSeq(1200), 100);
        m.arrive(ms(26), DataSeq(1000), 50);
        // The gap fills at 50 ms: it waited 0, the two held 40 and 30 ms.
        m.arrive(ms(50), DataSeq(1100), 100);
        // In order again.
        m.arrive(ms(60), DataSeq(1400), 100);
        // A range that starts before the point and goes past it is new.
        m.arrive(ms(70), DataSeq(1450), 100);
        assert_eq!(m.samples(), 6);
        assert_eq!(m.delayed(), 2);
        assert_eq!(m.duplicates(), 2);
        assert!((m.mean_ms() - 70.0 / 6.0).abs() < 1e-9);
        assert_eq!(m.max_ms(), 40.0);
        // Four of six waited 0: the median is 0, the top is 40 ms.
        assert_eq!(m.percentile_ms(0.5), 0.0);
        assert_eq!(m.percentile_ms(0.99), 40.0);
        // 30 ms is the fifth of six: the 0.8 quantile, within 1/16.
        let p = m.percentile_ms(0.8);
        assert!((30.0..30.0 * 17.0 / 16.0).contains(&p), "{p}");
        assert!(m.held.is_empty());
        assert_eq!(m.next, Some(DataSeq(1550)));
        assert_eq!(m.in_order_bytes(), 550);
    }

    #[test]
    fn overlapping_held_ranges_are_released_once() {
        let mut m = ReorderMeter::new(8);
        m.start_at(DataSeq(0));
        m.arrive(ms(0), DataSeq(100), 100); // held [100,200)
        m.arrive(ms(5), DataSeq(150), 100); // overlaps it: held [150,250)
        m.arrive(ms(6), DataSeq(120), 50); // inside the first: a copy
        m.arrive(ms(7), DataSeq(110), 130); // covered by the two together: a copy
        m.arrive(ms(10), DataSeq(0), 100);
        assert_eq!(m.samples(), 3);
        assert_eq!(m.duplicates(), 2);
        assert!((m.mean_ms() - (0.0 + 10.0 + 5.0) / 3.0).abs() < 1e-9);
        assert_eq!(m.next, Some(DataSeq(250)));
    }

    #[test]
    fn a_full_ring_stops_the_meter() {
        let mut m = ReorderMeter::new(2);
        m.start_at(DataSeq(0));
        m.arrive(ms(0), DataSeq(10), 1);
        m.arrive(ms(0), DataSeq(20), 1);
        assert!(!m.saturated());
        m.arrive(ms(0), DataSeq(30), 1);
        assert!(m.saturated());
        m.arrive(ms(1), DataSeq(0), 10);
        assert_eq!(m.samples(), 0);
    }

    #[test]
    fn data_sequence_wraps() {
        let mut m = ReorderMeter::new(4);
        m.start_at(DataSeq(u64::MAX - 9));
        m.arrive(ms(0), DataSeq(5), 10);
        m.arrive(ms(3), DataSeq(u64::MAX - 9), 15);
        assert_eq!(m.samples(), 2);
        assert_eq!(m.max_ms(), 3.0);
        assert_eq!(m.next, Some(DataSeq(15)));
    }

    #[test]
    fn buckets_are_within_a_sixteenth() {
        for us in [
            0,
            1,
            31,
            32,
            33,
            47,
            48,
            1000,
            123_456,
            10_000_000,
            u64::MAX,
        ] {
            let b = bin(us);
            assert!(b < BINS);
            let top = bin_top(b);
            assert!(top >= us, "{us}: {top}");
            assert!(top - us <= us / 16, "{us}: {top}");
            if b > 0 {
                assert!(bin_top(b - 1) < us, "{us}");
            }
        }
    }

    /// Segments as a sender would emit them: a SYN per subflow, the
    /// MP_CAPABLE third ACK with data, DSS-mapped data on both subflows.
    #[test]
    fn reads_ranges_from_segments() {
        let client = "10.1.0.1:4000".parse::<SocketAddr>().unwrap();
        let join = "10.2.0.1:4001".parse::<SocketAddr>().unwrap();
        let server = "10.9.0.1:80".parse::<SocketAddr>().unwrap();
        let key = Key(0x0123_4567_89ab_cdef);
        let first = umptcp_crypto::idsn(key).wrapping_add(1);
        let (iss1, iss2) = (1_000u32, u32::MAX - 5);
        let payload = [0u8; 100];
        let mut m = ReorderMeter::new(8);
        let feed = |m: &mut ReorderMeter, now: u64, b: SegmentBuilder<'_>| {
            let mut buf = [0u8; 400];
            let len = b.emit(&mut buf).unwrap().len;
            let seg = Segment::parse(&buf[..len], ChecksumCheck::Verify).unwrap();
            m.on_segment(ms(now), &seg);
        };
        let syn = |from: SocketAddr, iss: u32| {
            let mut b = SegmentBuilder::new(from, server);
            b.flags = TcpFlags::SYN;
            b.seq = iss;
            b
        };
        let data = |from: SocketAddr, seq: u32, option: MptcpOption<'static>| {
            let mut b = SegmentBuilder::new(from, server);
            b.flags = TcpFlags::ACK;
            b.seq = seq;
            b.payload = &payload;
            b.mptcp = Some(option);
            b
        };
        let dss = |dsn: u64, subflow_seq: u32, data_len: u16| {
            MptcpOption::Dss(Dss {
                data_ack: None,
                mapping: Some(DssMapping {
                    dsn: DssSeq::Long(dsn),
                    subflow_seq,
                    data_len,
                    checksum: None,
                }),
                data_fin: false,
            })
        };
        feed(&mut m, 0, syn(client, iss1));
        // The third ACK with the first 100 bytes, then a mapping of 300
        // bytes from subflow sequence 101 whose middle segment is lost.
        let capable = MptcpOption::MpCapable(MpCapable {
            version: 1,
            flags: MpCapableFlags(MpCapableFlags::H_HMAC_SHA256),
            keys: CapableKeys::WithData {
                sender: key,
                receiver: Key(7),
                data_len: 100,
                checksum: None,
            },
        });
        feed(&mut m, 10, data(client, iss1 + 1, capable));
        feed(
            &mut m,
            11,
            data(client, iss1 + 101, dss(first + 100, 101, 300)),
        );
        feed(
            &mut m,
            13,
            data(client, iss1 + 301, dss(first + 100, 101, 300)),
        );
        // A joined subflow whose sequence numbers wrap carries the bytes
        // after the mapping above, in a short (4-octet) DSN.
        feed(&mut m, 14, syn(join, iss2));
        let short = MptcpOption::Dss(Dss {
            data_ack: None,
            mapping: Some(DssMapping {
                dsn: DssSeq::Short((first + 400) as u32),
                subflow_seq: 1,
                data_len: 200,
                checksum: None,
            }),
            data_fin: false,
        });
        feed(&mut m, 15, data(join, iss2.wrapping_add(101), short));
        // The lost segment, retransmitted at 40 ms, releases both.
        feed(
            &mut m,
            40,
            data(client, iss1 + 201, dss(first + 100, 101, 300)),
        );
        // In order: the first 100, the next 100, the retransmission; the
        // segment at 13 ms waited 27 ms; the join's is still held.
        assert_eq!(m.unmapped(), 0);
        assert_eq!(m.samples(), 4);
        assert_eq!(m.delayed(), 1);
        assert!((m.mean_ms() - 27.0 / 4.0).abs() < 1e-9);
        assert_eq!(m.next, Some(DataSeq(first + 400)));
        // The join's first 100 bytes ([first + 400, first + 500)) close
        // the last gap: the range that came at 15 ms waited 26 ms.
        feed(
            &mut m,
            41,
            data(join, iss2.wrapping_add(1), dss(first + 400, 1, 200)),
        );
        assert_eq!(m.samples(), 6);
        assert_eq!(m.delayed(), 2);
        assert!((m.mean_ms() - 53.0 / 6.0).abs() < 1e-9);
        assert_eq!(m.next, Some(DataSeq(first + 600)));
        // A segment of a subflow never seen opening cannot be placed.
        let stranger = "10.3.0.1:4002".parse::<SocketAddr>().unwrap();
        feed(&mut m, 42, data(stranger, 1, dss(first + 600, 1, 100)));
        assert_eq!(m.unmapped(), 1);
    }
}
