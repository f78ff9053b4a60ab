//! Small test hosts: a node that sends numbered IPv4 packets on a schedule
//! and records what it receives, and a shared pcap sink.

#![allow(dead_code, unreachable_pub)]

use core::time::Duration;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};

use umptcp_sim::{Host, HostId, IfaceId, LinkConfig, LinkId, SimConfig, Simulator};
use umptcp_time::Instant;

/// Length of the IPv4 header the test packets carry.
pub const IP_HEADER: usize = 20;
/// Smallest test packet: the header and a 4-byte sequence number.
pub const MIN_PACKET: usize = IP_HEADER + 4;

/// One received packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub at: Instant,
    pub iface: IfaceId,
    pub seq: u32,
    pub bytes: Vec<u8>,
}

/// Sends `count` packets of `size` bytes, `burst` at a time every
/// `interval` from `start`, on `iface`; sends queued packets at once; and
/// records every arrival.
#[derive(Debug, Clone)]
pub struct Node {
    pub iface: IfaceId,
    pub count: u32,
    pub size: usize,
    pub interval: Duration,
    pub burst: u32,
    pub next: Option<Instant>,
    due: u32,
    sent: u32,
    pub sent_log: Vec<(Instant, u32)>,
    pub queued: VecDeque<(IfaceId, Vec<u8>)>,
    pub arrivals: Vec<Arrival>,
}

impl Node {
    /// A node that sends nothing until told to.
    pub fn sink() -> Self {
        Self::sender(0, MIN_PACKET, Duration::ZERO)
    }

    /// A node that sends `count` packets of `size` bytes, one every
    /// `interval`, from time zero.
    pub fn sender(count: u32, size: usize, interval: Duration) -> Self {
        Self {
            iface: IfaceId(0),
            count,
            size,
            interval,
            burst: 1,
            next: Some(Instant::ZERO),
            due: 0,
            sent: 0,
            sent_log: Vec::new(),
            queued: VecDeque::new(),
            arrivals: Vec::new(),
        }
    }

    /// Send `burst` packets at each tick.
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Return the sequence numbers received, in order of arrival.
    pub fn seqs(&self) -> Vec<u32> {
        self.arrivals.iter().map(|a| a.seq).collect()
    }
}

/// Build the IPv4 test packet number `seq` of `size` bytes (protocol 253,
/// 10.0.0.1 → 10.0.0.2, valid header checksum).
pub fn packet(seq: u32, size: usize) -> Vec<u8> {
    let size = size.max(MIN_PACKET);
    let mut p = vec![0u8; size];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(size as u16).to_be_bytes());
    p[4..6].copy_from_slice(&(seq as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 253;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    let mut sum: u32 = 0;
    for pair in p[..IP_HEADER].chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p[IP_HEADER..MIN_PACKET].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p[MIN_PACKET..].iter_mut().enumerate() {
        *b = (i as u8) ^ (seq as u8);
    }
    p
}

/// Return the sequence number of a test packet.
pub fn seq_of(packet: &[u8]) -> u32 {
    packet
        .get(IP_HEADER..MIN_PACKET)
        .map_or(u32::MAX, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl Host for Node {
    fn handle_packet(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        self.arrivals.push(Arrival {
            at: now,
            iface,
            seq: seq_of(packet),
            bytes: packet.to_vec(),
        });
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)> {
        if let Some((iface, bytes)) = self.queued.pop_front() {
            buf[..bytes.len()].copy_from_slice(&bytes);
            return Some((iface, bytes.len()));
        }
        if self.due == 0 || self.sent >= self.count {
            return None;
        }
        self.due -= 1;
        let seq = self.sent;
        self.sent += 1;
        let p = packet(seq, self.size);
        buf[..p.len()].copy_from_slice(&p);
        self.sent_log.push((now, seq));
        Some((self.iface, p.len()))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.sent < self.count {
            self.next
        } else {
            None
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.due = self.burst;
        self.next = Some(now + self.interval);
    }
}

/// A simulator with two nodes, one interface each, joined by a link.
pub fn pair(
    seed: u64,
    a: Node,
    b: Node,
    a_to_b: LinkConfig,
    b_to_a: LinkConfig,
) -> (Simulator<Node>, HostId, HostId, LinkId) {
    let mut sim = Simulator::new(SimConfig::with_seed(seed)).unwrap();
    let ha = sim.add_host(a).unwrap();
    let hb = sim.add_host(b).unwrap();
    let ia = sim.add_iface(ha, &["10.0.0.1".parse().unwrap()]).unwrap();
    let ib = sim.add_iface(hb, &["10.0.0.2".parse().unwrap()]).unwrap();
    let link = sim.connect((ha, ia), (hb, ib), a_to_b, b_to_a).unwrap();
    (sim, ha, hb, link)
}

/// A sink for captures whose bytes the test can read afterwards.
#[derive(Debug, Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// Return a copy of the bytes written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

impl io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A generous deadline for `run_until_idle`.
pub const FOREVER: Instant = Instant::from_millis(1_000_000_000);
