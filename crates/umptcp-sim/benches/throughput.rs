//! Simulated packets per CPU-second: two hosts blast numbered packets at
//! each other over a 10 Gbit/s, 1 ms link with 1 % loss, each sending one
//! packet every 1.2 µs (a timer event per packet, then a transmission
//! event and a delivery event), until `PACKETS` packets have been put on
//! the link. Run with `cargo bench -p umptcp-sim --bench throughput`.
//!
//! CPU time is the thread's on-CPU time from `/proc/self/schedstat` (Linux),
//! wall time elsewhere; the run is single-threaded, so the two agree. A
//! counting global allocator reports the allocations made during the run,
//! to show that a steady run allocates nothing per packet.

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::alloc::{GlobalAlloc, Layout, System};

use umptcp_sim::{Direction, Host, IfaceId, LinkConfig, LinkId, Rate, SimConfig, Simulator};
use umptcp_time::Instant;

/// Packets sent in total, by both hosts.
const PACKETS: u64 = 4_000_000;
/// Bytes per packet.
const SIZE: usize = 1200;

/// The system allocator, counting allocations.
struct Counting;

/// Allocations (and reallocations) so far.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// The only unsafe code of the crate: a `GlobalAlloc` must be an unsafe impl.
// It forwards every call to `System` unchanged.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Return the on-CPU time of this (single-threaded) process, if the system
/// tells it.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Sends `left` packets, one every `interval`, and counts arrivals.
struct Blaster {
    left: u64,
    next: Instant,
    interval: Duration,
    due: bool,
    seq: u64,
    received: u64,
}

impl Host for Blaster {
    fn handle_packet(&mut self, _now: Instant, _iface: IfaceId, packet: &[u8]) {
        self.received += u64::from(packet[0] == 0x45);
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)> {
        if !self.due || self.left == 0 {
            return None;
        }
        self.due = false;
        self.left -= 1;
        self.seq += 1;
        buf[0] = 0x45;
        buf[4..12].copy_from_slice(&self.seq.to_be_bytes());
        Some((IfaceId(0), SIZE))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (self.left > 0).then_some(self.next)
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.due = true;
        self.next = now + self.interval;
    }
}

#[allow(clippy::disallowed_methods)] // a benchmark measures real time
fn main() {
    let mut sim = Simulator::new(SimConfig::with_seed(1)).expect("valid config");
    let mut ends = Vec::new();
    for _ in 0..2 {
        let host = sim
            .add_host(Blaster {
                left: PACKETS / 2,
                next: Instant::ZERO,
                interval: Duration::from_nanos(1_200),
                due: false,
                seq: 0,
                received: 0,
            })
            .expect("host");
        let iface = sim.add_iface(host, &[]).expect("iface");
        ends.push((host, iface));
    }
    let link = LinkConfig::new(Rate::gbit(10), Duration::from_millis(1)).with_loss(0.01);
    let id = sim
        .connect(ends[0], ends[1], link.clone(), link)
        .expect("link");

    let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);
    let cpu_start = cpu_time();
    let start = std::time::Instant::now();
    let idle = sim.run_until_idle(Instant::from_millis(1_000_000));
    let wall = start.elapsed();
    let cpu = cpu_time()
        .zip(cpu_start)
        .map(|(end, start)| end.saturating_sub(start));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    let (elapsed, clock) = match cpu {
        Some(cpu) if !cpu.is_zero() => (cpu, "CPU time"),
        _ => (wall, "wall time"),
    };

    assert!(idle, "the scenario ends");
    let offered: u64 = Direction::BOTH
        .iter()
        .map(|&d| link_stats(&sim, id, d).offered_packets)
        .sum();
    let delivered: u64 = Direction::BOTH
        .iter()
        .map(|&d| link_stats(&sim, id, d).delivered_packets)
        .sum();
    assert_eq!(offered, PACKETS);
    let per_sec = offered as f64 / elapsed.as_secs_f64();
    println!(
        "umptcp-sim throughput: {offered} packets offered ({delivered} delivered, {} events) \
         in {:.3} s of {clock} ({:.3} s wall): {:.2} M simulated packets per CPU-second; \
         {allocations} allocations during the run ({:.6} per packet)",
        sim.stats().events,
        elapsed.as_secs_f64(),
        wall.as_secs_f64(),
        per_sec / 1e6,
        allocations as f64 / offered as f64,
    );
}

/// Return the counters of one direction.
fn link_stats(sim: &Simulator<Blaster>, link: LinkId, dir: Direction) -> umptcp_sim::LinkStats {
    sim.link_stats(link, dir).expect("link exists").clone()
}
