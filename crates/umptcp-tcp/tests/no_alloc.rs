//! A steady bulk transfer allocates nothing per segment (ARCHITECTURE.md
//! principle 5): a counting allocator watches 4 MiB move, with losses, after
//! the handshake. The only allocations are the two rings the transfer
//! uses, each taken once with its first byte (the client's send ring, the
//! server's receive ring: `LazyStorage`), and none after them.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use umptcp_tcp::{Connection, TcpConfig};
use umptcp_time::Instant;
use umptcp_wire::segment::{ChecksumCheck, Segment};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// The workspace denies `unsafe`; a global allocator cannot be written
// without it. This one only counts, then forwards to `System` (the
// allocation counter ARCHITECTURE.md principle 5 asks for), and lives in a
// test binary of its own.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SLOTS: usize = 512;

/// A fixed-capacity FIFO of packets with arrival times.
struct Pipe {
    data: Vec<[u8; 1600]>,
    lens: [usize; SLOTS],
    times: [Instant; SLOTS],
    head: usize,
    len: usize,
    count: u64,
}

impl Pipe {
    fn new() -> Self {
        Pipe {
            data: vec![[0; 1600]; SLOTS],
            lens: [0; SLOTS],
            times: [Instant::ZERO; SLOTS],
            head: 0,
            len: 0,
            count: 0,
        }
    }

    fn push_from(&mut self, conn: &mut Connection, now: Instant) -> bool {
        assert!(self.len < SLOTS);
        let slot = (self.head + self.len) % SLOTS;
        let Some(n) = conn.poll_transmit(now, &mut self.data[slot]) else {
            return false;
        };
        self.count += 1;
        if self.count % 17 == 9 {
            return true; // lost
        }
        self.lens[slot] = n;
        self.times[slot] = now + dur(5);
        self.len += 1;
        true
    }

    fn next_time(&self) -> Option<Instant> {
        (self.len > 0).then(|| self.times[self.head])
    }

    fn deliver(&mut self, conn: &mut Connection, now: Instant) {
        while self.len > 0 && self.times[self.head] <= now {
            let packet = &self.data[self.head][..self.lens[self.head]];
            conn.handle_segment(now, &Segment::parse(packet, ChecksumCheck::Skip).unwrap());
            self.head = (self.head + 1) % SLOTS;
            self.len -= 1;
        }
    }
}

#[test]
fn bulk_transfer_does_not_allocate() {
    let config = TcpConfig::default();
    let mut now = Instant::ZERO;
    let mut client = Connection::connect(config.clone(), tuple(), key(), now).unwrap();
    let mut syn = [0u8; 128];
    let n = client.poll_transmit(now, &mut syn).unwrap();
    let syn = Segment::parse(&syn[..n], ChecksumCheck::Verify).unwrap();
    let mut server = Connection::accept(config, &syn, key(), now).unwrap();
    let mut to_server = Pipe::new();
    let mut to_client = Pipe::new();
    let chunk = [0x5au8; 8192];
    let mut read_buf = [0u8; 8192];
    let total: u64 = 4 << 20;
    let mut written: u64 = 0;
    let mut read: u64 = 0;

    // The counter works.
    COUNTING.store(true, Ordering::SeqCst);
    drop(std::hint::black_box(vec![1u8; 16]));
    assert_eq!(ALLOCATIONS.swap(0, Ordering::SeqCst), 1);
    // Allocations counted until the first 64 KiB arrived.
    let mut at_start = None;
    for _ in 0..10_000_000 {
        if at_start.is_none() && read >= 64 << 10 {
            at_start = Some(ALLOCATIONS.swap(0, Ordering::SeqCst));
        }
        if read == total {
            break;
        }
        while written < total {
            let n = client.write(&chunk[..chunk.len().min((total - written) as usize)]);
            if n == 0 {
                break;
            }
            written += n as u64;
        }
        loop {
            let n = server.read(&mut read_buf);
            if n == 0 {
                break;
            }
            assert!(read_buf[..n].iter().all(|&b| b == 0x5a));
            read += n as u64;
        }
        while client.poll_event().is_some() {}
        while server.poll_event().is_some() {}
        while client.poll_congestion_event().is_some() {}
        while server.poll_congestion_event().is_some() {}
        client.set_congestion_window(64 * 1460);
        while to_server.push_from(&mut client, now) {}
        while to_client.push_from(&mut server, now) {}
        let next = [
            to_server.next_time(),
            to_client.next_time(),
            client.poll_timeout(),
            server.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("stalled");
        now = now.max(next);
        to_server.deliver(&mut server, now);
        to_client.deliver(&mut client, now);
        client.handle_timeout(now);
        server.handle_timeout(now);
    }
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(read, total);
    assert!(client.retransmissions() > 0);
    assert_eq!(at_start, Some(2), "the two rings, once each");
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0, "after them");
}
