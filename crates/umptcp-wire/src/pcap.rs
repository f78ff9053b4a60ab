//! Pcap files of raw IP packets: a writer for traces and a zero-copy reader
//! for fixtures.
//!
//! The format is the classic libpcap one (a 24-byte global header, then a
//! 16-byte header before every packet). The writer always produces
//! little-endian, microsecond-resolution files with link type
//! [`LINKTYPE_RAW`] (each record is an IPv4 or IPv6 packet, no link-layer
//! header), which is what a TUN device carries. The reader accepts both byte
//! orders, microsecond and nanosecond magic numbers, and the link types
//! [`LINKTYPE_RAW`], [`LINKTYPE_IPV4`] and [`LINKTYPE_IPV6`].
//!
//! ```
//! use core::time::Duration;
//! use umptcp_wire::pcap::{PcapReader, PcapWriter};
//!
//! let mut file = Vec::new();
//! let mut writer = PcapWriter::new(&mut file)?;
//! writer.write_packet(Duration::from_millis(1500), &[0x45, 0, 0, 20])?;
//! drop(writer);
//!
//! let mut records = PcapReader::new(&file).unwrap();
//! let record = records.next().unwrap().unwrap();
//! assert_eq!(record.timestamp, Duration::from_millis(1500));
//! assert_eq!(record.data, &[0x45, 0, 0, 20]);
//! assert!(records.next().is_none());
//! # Ok::<(), std::io::Error>(())
//! ```

use core::time::Duration;
use std::io;

use crate::{Error, Result};

/// Link type "raw IP": every record starts with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;
/// Link type "IPv4": every record is an IPv4 packet.
pub const LINKTYPE_IPV4: u32 = 228;
/// Link type "IPv6": every record is an IPv6 packet.
pub const LINKTYPE_IPV6: u32 = 229;

/// Magic number of a microsecond-resolution file, in the writer's byte order.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Magic number of a nanosecond-resolution file, in the writer's byte order.
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Length of the global file header.
const GLOBAL_HEADER_LEN: usize = 24;
/// Length of the header before each record.
const RECORD_HEADER_LEN: usize = 16;
/// The snapshot length the writer declares (the largest IP packet).
const SNAPLEN: u32 = 65_535;

/// Writes a pcap file of raw IP packets ([`LINKTYPE_RAW`], microseconds).
#[derive(Debug)]
pub struct PcapWriter<W: io::Write> {
    inner: W,
}

impl<W: io::Write> PcapWriter<W> {
    /// Write the global header to `inner` and return a writer for records.
    ///
    /// # Errors
    ///
    /// Any error of the underlying writer.
    pub fn new(mut inner: W) -> io::Result<Self> {
        let mut header = [0u8; GLOBAL_HEADER_LEN];
        header[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone (8..12) and sigfigs (12..16) stay zero.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
        inner.write_all(&header)?;
        Ok(Self { inner })
    }

    /// Append one packet, stamped `timestamp` (since the Unix epoch, or since
    /// any origin the reader agrees on), truncated to microseconds.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] if the packet is longer than the
    /// snapshot length (65 535 bytes) or the timestamp does not fit the
    /// format's 32-bit seconds; otherwise any error of the underlying writer.
    pub fn write_packet(&mut self, timestamp: Duration, packet: &[u8]) -> io::Result<()> {
        let len = u32::try_from(packet.len())
            .ok()
            .filter(|&len| len <= SNAPLEN)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "packet exceeds 65535"))?;
        let secs = u32::try_from(timestamp.as_secs()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "timestamp beyond 32-bit seconds",
            )
        })?;
        let mut header = [0u8; RECORD_HEADER_LEN];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&timestamp.subsec_micros().to_le_bytes());
        header[8..12].copy_from_slice(&len.to_le_bytes());
        header[12..16].copy_from_slice(&len.to_le_bytes());
        self.inner.write_all(&header)?;
        self.inner.write_all(packet)
    }

    /// Flush the underlying writer.
    ///
    /// # Errors
    ///
    /// Any error of the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// Return the underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// One record of a pcap file: a packet and when it was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapRecord<'a> {
    /// Capture time, as the file states it (usually since the Unix epoch).
    pub timestamp: Duration,
    /// The captured bytes: an IP packet (possibly truncated to the snapshot
    /// length, see [`PcapRecord::original_len`]).
    pub data: &'a [u8],
    /// The packet's length on the wire, which may exceed `data.len()`.
    pub original_len: u32,
}

/// Iterates the records of a pcap file held in memory, without copying.
///
/// Yields `Err` once for malformed input and then stops.
#[derive(Debug, Clone)]
pub struct PcapReader<'a> {
    rest: &'a [u8],
    big_endian: bool,
    nanos: bool,
    link_type: u32,
    failed: bool,
}

impl<'a> PcapReader<'a> {
    /// Check the global header of `bytes` and return a reader over its records.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] if `bytes` is shorter than the global header;
    /// [`Error::Malformed`] if the magic number is not a pcap one, the major
    /// version is not 2, or the link type is not raw IP, IPv4 or IPv6.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        let header = bytes.get(..GLOBAL_HEADER_LEN).ok_or(Error::Truncated)?;
        let magic = [header[0], header[1], header[2], header[3]];
        let (big_endian, nanos) = if u32::from_le_bytes(magic) == MAGIC_MICROS {
            (false, false)
        } else if u32::from_be_bytes(magic) == MAGIC_MICROS {
            (true, false)
        } else if u32::from_le_bytes(magic) == MAGIC_NANOS {
            (false, true)
        } else if u32::from_be_bytes(magic) == MAGIC_NANOS {
            (true, true)
        } else {
            return Err(Error::Malformed("pcap magic number"));
        };
        let u16_at = |at: usize| {
            let b = [header[at], header[at + 1]];
            if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        if u16_at(4) != 2 {
            return Err(Error::Malformed("pcap major version"));
        }
        let link_type = read_u32(header, 20, big_endian);
        if !matches!(link_type, LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6) {
            return Err(Error::Malformed("pcap link type (want raw IP)"));
        }
        Ok(Self {
            rest: &bytes[GLOBAL_HEADER_LEN..],
            big_endian,
            nanos,
            link_type,
            failed: false,
        })
    }

    /// The file's link type: [`LINKTYPE_RAW`], [`LINKTYPE_IPV4`] or
    /// [`LINKTYPE_IPV6`].
    pub fn link_type(&self) -> u32 {
        self.link_type
    }

    /// Whether the file's timestamps have nanosecond resolution.
    pub fn is_nanosecond(&self) -> bool {
        self.nanos
    }

    fn next_record(&mut self) -> Result<PcapRecord<'a>> {
        let header = self.rest.get(..RECORD_HEADER_LEN).ok_or(Error::Truncated)?;
        let secs = read_u32(header, 0, self.big_endian);
        let frac = read_u32(header, 4, self.big_endian);
        let incl_len = read_u32(header, 8, self.big_endian);
        let original_len = read_u32(header, 12, self.big_endian);
        let subsec_nanos = if self.nanos {
            (frac < 1_000_000_000).then_some(frac)
        } else {
            (frac < 1_000_000).then(|| frac * 1_000)
        }
        .ok_or(Error::Malformed("pcap timestamp fraction"))?;
        let len = usize::try_from(incl_len).map_err(|_| Error::Truncated)?;
        let end = RECORD_HEADER_LEN.checked_add(len).ok_or(Error::Truncated)?;
        let data = self
            .rest
            .get(RECORD_HEADER_LEN..end)
            .ok_or(Error::Truncated)?;
        self.rest = &self.rest[end..];
        Ok(PcapRecord {
            timestamp: Duration::new(u64::from(secs), subsec_nanos),
            data,
            original_len,
        })
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<PcapRecord<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let record = self.next_record();
        self.failed = record.is_err();
        Some(record)
    }
}

/// Read a `u32` at `at` in `bytes` (the caller checked the bounds).
fn read_u32(bytes: &[u8], at: usize, big_endian: bool) -> u32 {
    let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(magic: u32, big_endian: bool, link_type: u32) -> Vec<u8> {
        let mut v = Vec::new();
        let put32 = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        };
        let put16 = |v: &mut Vec<u8>, x: u16| {
            v.extend_from_slice(&if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        };
        put32(&mut v, magic);
        put16(&mut v, 2);
        put16(&mut v, 4);
        put32(&mut v, 0);
        put32(&mut v, 0);
        put32(&mut v, 65535);
        put32(&mut v, link_type);
        v
    }

    fn record(v: &mut Vec<u8>, big_endian: bool, secs: u32, frac: u32, data: &[u8]) {
        for x in [secs, frac, data.len() as u32, data.len() as u32] {
            v.extend_from_slice(&if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        v.extend_from_slice(data);
    }

    #[test]
    fn writer_output_reads_back() {
        let mut file = Vec::new();
        let mut w = PcapWriter::new(&mut file).unwrap();
        w.write_packet(Duration::new(3, 250_000_999), &[0x45; 40])
            .unwrap();
        w.write_packet(Duration::ZERO, &[]).unwrap();
        w.write_packet(Duration::from_micros(7), &[0x60; 60])
            .unwrap();
        w.flush().unwrap();
        assert_eq!(file.len(), 24 + 16 * 3 + 100);
        assert_eq!(&file[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);

        let r = PcapReader::new(&file).unwrap();
        assert_eq!(r.link_type(), LINKTYPE_RAW);
        assert!(!r.is_nanosecond());
        let recs: Vec<_> = r.map(|r| r.unwrap()).collect();
        assert_eq!(recs.len(), 3);
        // Truncated to microseconds.
        assert_eq!(recs[0].timestamp, Duration::new(3, 250_000_000));
        assert_eq!(recs[0].data, &[0x45; 40][..]);
        assert_eq!(recs[0].original_len, 40);
        assert_eq!(recs[1].data, &[] as &[u8]);
        assert_eq!(recs[2].timestamp, Duration::from_micros(7));
        assert_eq!(recs[2].data.len(), 60);
    }

    #[test]
    fn reads_every_byte_order_and_resolution() {
        for (magic, big_endian, nanos) in [
            (MAGIC_MICROS, false, false),
            (MAGIC_MICROS, true, false),
            (MAGIC_NANOS, false, true),
            (MAGIC_NANOS, true, true),
        ] {
            for link_type in [LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6] {
                let mut file = header(magic, big_endian, link_type);
                record(&mut file, big_endian, 10, 999, &[1, 2, 3]);
                let mut r = PcapReader::new(&file).unwrap();
                assert_eq!(r.link_type(), link_type);
                assert_eq!(r.is_nanosecond(), nanos);
                let rec = r.next().unwrap().unwrap();
                let want = if nanos {
                    Duration::new(10, 999)
                } else {
                    Duration::new(10, 999_000)
                };
                assert_eq!(rec.timestamp, want);
                assert_eq!(rec.data, &[1, 2, 3]);
                assert!(r.next().is_none());
            }
        }
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(PcapReader::new(&[]).unwrap_err(), Error::Truncated);
        let good = header(MAGIC_MICROS, false, LINKTYPE_RAW);
        assert_eq!(PcapReader::new(&good[..23]).unwrap_err(), Error::Truncated);
        let mut bad_magic = good.clone();
        bad_magic[0] ^= 1;
        assert!(matches!(
            PcapReader::new(&bad_magic),
            Err(Error::Malformed(_))
        ));
        let ethernet = header(MAGIC_MICROS, false, 1);
        assert!(matches!(
            PcapReader::new(&ethernet),
            Err(Error::Malformed(_))
        ));
        let mut v3 = good.clone();
        v3[4] = 3;
        assert!(matches!(PcapReader::new(&v3), Err(Error::Malformed(_))));
        // A header alone is a valid, empty file.
        assert_eq!(PcapReader::new(&good).unwrap().count(), 0);
    }

    #[test]
    fn truncated_record_is_an_error_then_stops() {
        let mut file = header(MAGIC_MICROS, false, LINKTYPE_RAW);
        record(&mut file, false, 1, 0, &[9; 20]);
        let full = file.len();
        record(&mut file, false, 2, 0, &[8; 20]);
        for cut in full + 1..file.len() {
            let mut r = PcapReader::new(&file[..cut]).unwrap();
            assert!(r.next().unwrap().is_ok());
            assert_eq!(r.next(), Some(Err(Error::Truncated)));
            assert_eq!(r.next(), None);
        }
    }

    #[test]
    fn bad_fraction_is_malformed() {
        let mut file = header(MAGIC_MICROS, false, LINKTYPE_RAW);
        record(&mut file, false, 1, 1_000_000, &[1]);
        let mut r = PcapReader::new(&file).unwrap();
        assert!(matches!(r.next(), Some(Err(Error::Malformed(_)))));
        assert!(r.next().is_none());
    }

    #[test]
    fn huge_length_does_not_panic() {
        let mut file = header(MAGIC_NANOS, true, LINKTYPE_RAW);
        for x in [0u32, 0, u32::MAX, u32::MAX] {
            file.extend_from_slice(&x.to_be_bytes());
        }
        let mut r = PcapReader::new(&file).unwrap();
        assert_eq!(r.next(), Some(Err(Error::Truncated)));
    }

    #[test]
    fn writer_rejects_oversize() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let big = vec![0u8; 65_536];
        assert_eq!(
            w.write_packet(Duration::ZERO, &big).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            w.write_packet(Duration::from_secs(1 << 33), &[1])
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(w.into_inner().len(), GLOBAL_HEADER_LEN);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep; the fuzz target covers the rest.
        let mut seed = 0x1234_5678_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..2000 {
            let mut file = header(MAGIC_MICROS, next() & 1 == 1, LINKTYPE_RAW);
            let n = (next() % 80) as usize;
            file.extend((0..n).map(|_| next() as u8));
            if let Ok(r) = PcapReader::new(&file) {
                for rec in r {
                    let _ = rec;
                }
            }
        }
    }
}
