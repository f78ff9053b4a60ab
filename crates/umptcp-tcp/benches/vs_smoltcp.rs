//! Our TCP engine against smoltcp's TCP socket, in memory, in the same run.
//!
//! `cargo bench -p umptcp-tcp --bench vs_smoltcp`
//!
//! Both move `SIZE` bytes from a client to a server over a zero-delay,
//! lossless in-memory link, IPv4, MSS 1460, 256 KiB send and receive
//! buffers, checksums computed on send and verified on receive, the
//! application writing 64 KiB at a time and checking every byte it
//! receives in place (our `read_with`, smoltcp's `recv` closure). Time is virtual: when no packet moves, the clock jumps to
//! the next timer of either side (no real sleeps). Congestion control is
//! out of the way on both sides: smoltcp's default has none, and ours is
//! given a 1 GiB window. Each side's link buffers are recycled, so the only
//! allocations counted are the stacks' own. Reported: wall time, goodput,
//! packets per second (both directions), and heap allocations per packet
//! after a warm-up of one eighth of the transfer.

#![allow(clippy::disallowed_methods)] // a benchmark reads the clock
#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant as WallClock};

use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use umptcp_tcp::{Connection, FourTuple, IsnKey, TcpConfig};
use umptcp_time::Instant;
use umptcp_wire::segment::{ChecksumCheck, Segment};

const SIZE: u64 = 512 << 20;
const CHUNK: usize = 64 * 1024;
const BUFFER: usize = 256 * 1024;
const ROUNDS: usize = 5;

/// Counts heap allocations while `COUNTING` is on.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static COUNTING: AtomicU64 = AtomicU64::new(0);

#[allow(unsafe_code)]
// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) != 0 {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) != 0 {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The bytes the application sends: a 64 KiB pseudo-random block, repeated.
fn pattern() -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..CHUNK)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Check received bytes at stream offset `offset` against the pattern.
fn check(pattern: &[u8], offset: u64, data: &[u8]) {
    let mut pos = (offset % CHUNK as u64) as usize;
    let mut rest = data;
    while !rest.is_empty() {
        let n = rest.len().min(CHUNK - pos);
        assert!(rest[..n] == pattern[pos..pos + n], "corrupted at {offset}");
        rest = &rest[n..];
        pos = 0;
    }
}

#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    packets: u64,
    steady_packets: u64,
    steady_allocs: u64,
}

// ------------------------------------------------------------------ ours

fn run_ours(pattern: &[u8]) -> Run {
    let tuple = FourTuple {
        local: "10.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        remote: "10.0.0.2:80".parse::<SocketAddr>().unwrap(),
    };
    let mut config = TcpConfig::default();
    config.send_buffer = BUFFER;
    config.recv_buffer = BUFFER;
    let mut now = Instant::ZERO;
    let mut client =
        Connection::connect(config.clone(), tuple, IsnKey::from_bytes([1; 32]), now).unwrap();
    let mut server: Option<Connection> = None;
    let mut packet = vec![0u8; 2048];
    let (mut written, mut received, mut packets) = (0u64, 0u64, 0u64);
    let warmup = SIZE / 8;
    let (mut steady_packets, mut start_allocs) = (0u64, None);
    client.set_congestion_window(1 << 30);
    let started = WallClock::now();
    while received < SIZE {
        if start_allocs.is_none() && received >= warmup {
            COUNTING.store(1, Ordering::Relaxed);
            start_allocs = Some((ALLOCS.load(Ordering::Relaxed), packets));
        }
        let mut moved = false;
        while written < SIZE {
            let off = (written % CHUNK as u64) as usize;
            let n = client.write(&pattern[off..CHUNK.min(off + (SIZE - written) as usize)]);
            if n == 0 {
                break;
            }
            written += n as u64;
        }
        while let Some(n) = client.poll_transmit(now, &mut packet) {
            moved = true;
            packets += 1;
            let seg = Segment::parse(&packet[..n], ChecksumCheck::Verify).unwrap();
            match server.as_mut() {
                Some(s) => {
                    s.handle_segment(now, &seg);
                }
                None => {
                    let mut s =
                        Connection::accept(config.clone(), &seg, IsnKey::from_bytes([2; 32]), now)
                            .unwrap();
                    s.set_congestion_window(1 << 30);
                    server = Some(s);
                }
            }
        }
        if let Some(s) = server.as_mut() {
            // Read in place, as smoltcp's `recv` closure lets its side do.
            let n = s.read_with(|head, tail| {
                check(pattern, received, head);
                check(pattern, received + head.len() as u64, tail);
                head.len() + tail.len()
            });
            if n > 0 {
                received += n as u64;
                moved = true;
            }
            while let Some(n) = s.poll_transmit(now, &mut packet) {
                moved = true;
                packets += 1;
                let seg = Segment::parse(&packet[..n], ChecksumCheck::Verify).unwrap();
                client.handle_segment(now, &seg);
            }
            while s.poll_congestion_event().is_some() {}
        }
        while client.poll_congestion_event().is_some() {}
        if !moved {
            let next = [
                client.poll_timeout(),
                server.as_ref().and_then(Connection::poll_timeout),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("a timer is armed when nothing moves");
            now = next.max(now);
            client.handle_timeout(now);
            if let Some(s) = server.as_mut() {
                s.handle_timeout(now);
            }
        }
    }
    let wall = started.elapsed();
    COUNTING.store(0, Ordering::Relaxed);
    let (a0, p0) = start_allocs.unwrap();
    steady_packets += packets - p0;
    Run {
        wall,
        packets,
        steady_packets,
        steady_allocs: ALLOCS.load(Ordering::Relaxed) - a0,
    }
}

// --------------------------------------------------------------- smoltcp

/// One direction of the in-memory link: packets and spare buffers.
#[derive(Default)]
struct Wire {
    queue: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    sent: u64,
}

/// One end of the link: transmits into `tx`, receives from `rx`.
struct End {
    tx: Rc<RefCell<Wire>>,
    rx: Rc<RefCell<Wire>>,
}

struct Rx {
    buf: Vec<u8>,
    wire: Rc<RefCell<Wire>>,
}

struct Tx {
    wire: Rc<RefCell<Wire>>,
}

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.buf);
        self.wire.borrow_mut().spare.push(self.buf);
        r
    }
}

impl phy::TxToken for Tx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut wire = self.wire.borrow_mut();
        let mut buf = wire.spare.pop().unwrap_or_default();
        buf.clear();
        buf.resize(len, 0);
        let r = f(&mut buf);
        wire.queue.push_back(buf);
        wire.sent += 1;
        r
    }
}

impl Device for End {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx)> {
        let buf = self.rx.borrow_mut().queue.pop_front()?;
        Some((
            Rx {
                buf,
                wire: Rc::clone(&self.rx),
            },
            Tx {
                wire: Rc::clone(&self.tx),
            },
        ))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx> {
        Some(Tx {
            wire: Rc::clone(&self.tx),
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1500;
        caps
    }
}

fn run_smoltcp(pattern: &[u8]) -> Run {
    let ab = Rc::new(RefCell::new(Wire::default()));
    let ba = Rc::new(RefCell::new(Wire::default()));
    let mut dev_a = End {
        tx: Rc::clone(&ab),
        rx: Rc::clone(&ba),
    };
    let mut dev_b = End {
        tx: Rc::clone(&ba),
        rx: Rc::clone(&ab),
    };
    let mut now = smoltcp::time::Instant::from_micros(0);
    let mut iface_a = Interface::new(Config::new(HardwareAddress::Ip), &mut dev_a, now);
    iface_a.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::v4(10, 0, 0, 1), 24)).unwrap());
    let mut iface_b = Interface::new(Config::new(HardwareAddress::Ip), &mut dev_b, now);
    iface_b.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::v4(10, 0, 0, 2), 24)).unwrap());
    let socket = || {
        tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; BUFFER]),
            tcp::SocketBuffer::new(vec![0; BUFFER]),
        )
    };
    let mut set_a = SocketSet::new(vec![]);
    let mut set_b = SocketSet::new(vec![]);
    let client = set_a.add(socket());
    let server = set_b.add(socket());
    set_b.get_mut::<tcp::Socket<'_>>(server).listen(80).unwrap();
    set_a
        .get_mut::<tcp::Socket<'_>>(client)
        .connect(iface_a.context(), (IpAddress::v4(10, 0, 0, 2), 80), 40000)
        .unwrap();
    let (mut written, mut received) = (0u64, 0u64);
    let warmup = SIZE / 8;
    let mut start_allocs = None;
    let packets = || ab.borrow().sent + ba.borrow().sent;
    let started = WallClock::now();
    while received < SIZE {
        if start_allocs.is_none() && received >= warmup {
            COUNTING.store(1, Ordering::Relaxed);
            start_allocs = Some((ALLOCS.load(Ordering::Relaxed), packets()));
        }
        let before = packets();
        let mut moved = false;
        iface_a.poll(now, &mut dev_a, &mut set_a);
        iface_b.poll(now, &mut dev_b, &mut set_b);
        let c = set_a.get_mut::<tcp::Socket<'_>>(client);
        while written < SIZE && c.can_send() {
            let n = c
                .send(|buf| {
                    let mut n = 0;
                    while n < buf.len() && written + (n as u64) < SIZE {
                        let off = ((written + n as u64) % CHUNK as u64) as usize;
                        let k = (buf.len() - n)
                            .min(CHUNK - off)
                            .min((SIZE - written) as usize - n);
                        buf[n..n + k].copy_from_slice(&pattern[off..off + k]);
                        n += k;
                    }
                    (n, n)
                })
                .unwrap();
            if n == 0 {
                break;
            }
            written += n as u64;
            moved = true;
        }
        let s = set_b.get_mut::<tcp::Socket<'_>>(server);
        while s.can_recv() {
            let n = s
                .recv(|buf| {
                    check(pattern, received, buf);
                    (buf.len(), buf.len())
                })
                .unwrap();
            if n == 0 {
                break;
            }
            received += n as u64;
            moved = true;
        }
        if !moved
            && packets() == before
            && ab.borrow().queue.is_empty()
            && ba.borrow().queue.is_empty()
        {
            let delay = [
                iface_a.poll_delay(now, &set_a),
                iface_b.poll_delay(now, &set_b),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(smoltcp::time::Duration::from_millis(1));
            now += delay.max(smoltcp::time::Duration::from_micros(1));
        }
    }
    let wall = started.elapsed();
    COUNTING.store(0, Ordering::Relaxed);
    let (a0, p0) = start_allocs.unwrap();
    Run {
        wall,
        packets: packets(),
        steady_packets: packets() - p0,
        steady_allocs: ALLOCS.load(Ordering::Relaxed) - a0,
    }
}

fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|r| r.wall);
    runs[runs.len() / 2]
}

fn main() {
    // `cargo test --benches` passes no `--bench`; run only under cargo bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let pattern = pattern();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..ROUNDS {
        ours.push(run_ours(&pattern));
        theirs.push(run_smoltcp(&pattern));
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "{} MiB client to server in memory, median of {ROUNDS} rounds",
        SIZE >> 20
    );
    println!("| stack | seconds | Gbit/s | packets/s | allocations per packet (steady) |");
    println!("|---|---|---|---|---|");
    for (name, r) in [("umptcp-tcp", ours), ("smoltcp 0.14", theirs)] {
        let secs = r.wall.as_secs_f64();
        println!(
            "| {name} | {secs:.3} | {:.2} | {:.2} M | {:.4} ({} in {} packets) |",
            SIZE as f64 * 8.0 / secs / 1e9,
            r.packets as f64 / secs / 1e6,
            r.steady_allocs as f64 / r.steady_packets.max(1) as f64,
            r.steady_allocs,
            r.steady_packets
        );
    }
    println!(
        "ours / smoltcp goodput: {:.2}x",
        theirs.wall.as_secs_f64() / ours.wall.as_secs_f64()
    );
}
