//! A userspace link between two TUN devices: forwards packets both ways and
//! records them.
//!
//! ```text
//!        side A                                             side B
//!   tun (netns 1) ──read──▶ [thread A→B] ──record, hook──write──▶ tun (netns 2)
//!   tun (netns 1) ◀──write──hook, record── [thread B→A] ◀──read── tun (netns 2)
//! ```
//!
//! Every packet crosses [`Link`]'s hook point (`LinkSide::deliver`) between
//! reading it and writing it: that is where a later impairment layer (loss,
//! delay, reordering, seeded so a failure replays) will sit. Today the hook
//! forwards every packet at once.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tun_rs::{InterruptEvent, SyncDevice};
use umptcp_wire::pcap::PcapWriter;

/// Which way a packet crossed a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Read from side A's device, written to side B's.
    AToB,
    /// Read from side B's device, written to side A's.
    BToA,
}

/// One packet seen by a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedPacket {
    /// The [`Link::id`] of the bridge that carried it.
    pub link: u8,
    /// Which way it went.
    pub direction: Direction,
    /// When the bridge read it, relative to the recorder's creation.
    pub timestamp: Duration,
    /// The raw IP packet.
    pub data: Vec<u8>,
}

/// A bounded, shared log of the packets of one or more bridges, on one
/// clock (cheap to clone; clones share the log).
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Arc<RecorderInner>,
}

#[derive(Debug)]
struct RecorderInner {
    start: Instant,
    limit: usize,
    packets: Mutex<Vec<RecordedPacket>>,
    overflow: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl Recorder {
    /// A recorder that keeps the first `limit` packets (and counts the rest)
    /// and stamps them relative to now.
    #[allow(clippy::disallowed_methods)] // the lab harness is a driver: it reads the clock
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(RecorderInner {
                start: Instant::now(),
                limit,
                packets: Mutex::new(Vec::new()),
                overflow: AtomicU64::new(0),
                last: Mutex::new(None),
            }),
        }
    }

    #[allow(clippy::disallowed_methods)] // the lab harness is a driver: it reads the clock
    fn record(&self, link: u8, direction: Direction, data: &[u8]) {
        let now = Instant::now();
        *lock(&self.inner.last) = Some(now);
        let mut packets = lock(&self.inner.packets);
        if packets.len() >= self.inner.limit {
            self.inner.overflow.fetch_add(1, Ordering::Relaxed);
            return;
        }
        packets.push(RecordedPacket {
            link,
            direction,
            timestamp: now - self.inner.start,
            data: data.to_vec(),
        });
    }

    /// A copy of the packets recorded so far, in the order they were read.
    pub fn packets(&self) -> Vec<RecordedPacket> {
        lock(&self.inner.packets).clone()
    }

    /// How many packets were not kept because the log was full.
    pub fn overflow(&self) -> u64 {
        self.inner.overflow.load(Ordering::Relaxed)
    }

    /// How long ago the last packet was seen (`None` before the first).
    #[allow(clippy::disallowed_methods)] // the lab harness is a driver: it reads the clock
    pub fn idle_for(&self) -> Option<Duration> {
        lock(&self.inner.last).map(|t| t.elapsed())
    }

    /// Write the recorded packets as a pcap file (raw IP, timestamps
    /// relative to the recorder's creation).
    ///
    /// # Errors
    ///
    /// Any error of `w`.
    pub fn write_pcap<W: io::Write>(&self, w: W) -> io::Result<()> {
        write_pcap(&self.packets(), w)
    }
}

/// Write `packets` as a pcap file of raw IP packets.
///
/// # Errors
///
/// Any error of `w`.
pub fn write_pcap<W: io::Write>(packets: &[RecordedPacket], w: W) -> io::Result<()> {
    let mut pcap = PcapWriter::new(w)?;
    for p in packets {
        pcap.write_packet(p.timestamp, &p.data)?;
    }
    pcap.flush()
}

/// Lock a mutex, ignoring poisoning (a panicking bridge thread leaves the
/// log consistent: every push is a single operation).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a bridge does to the packets it carries.
///
/// Today: record them or not. This is the configuration a later impairment
/// layer extends (loss, delay, reordering per direction, with a seed).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Link {
    /// A number naming the link in recordings (e.g. the path number).
    pub id: u8,
    /// Where to record every packet, if anywhere.
    pub recorder: Option<Recorder>,
}

impl Link {
    /// A perfect link named `id` that records nothing.
    pub fn new(id: u8) -> Self {
        Self { id, recorder: None }
    }

    /// Record every packet into `recorder`.
    #[must_use]
    pub fn record(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
}

/// Counters of one direction of a bridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Packets read from the source device.
    pub read: u64,
    /// Packets written to the destination device.
    pub written: u64,
    /// Packets the destination device refused (a write error).
    pub write_errors: u64,
}

/// Counters of a stopped bridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Side A to side B.
    pub a_to_b: DirectionStats,
    /// Side B to side A.
    pub b_to_a: DirectionStats,
}

/// Two threads forwarding raw IP packets between two TUN devices (usually in
/// two namespaces), stopped and joined by [`TunBridge::stop`] or on drop.
pub struct TunBridge {
    stop: Arc<InterruptEvent>,
    stopping: Arc<AtomicBool>,
    threads: Vec<JoinHandle<io::Result<DirectionStats>>>,
}

/// The largest packet a TUN device hands over (an IP packet's limit).
const MAX_PACKET: usize = 65_535;

impl TunBridge {
    /// Start forwarding between `a` and `b` as `link` says.
    ///
    /// # Errors
    ///
    /// The devices cannot be made non-blocking or the stop event cannot be
    /// created.
    pub fn start(a: SyncDevice, b: SyncDevice, link: Link) -> io::Result<Self> {
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        let a = Arc::new(a);
        let b = Arc::new(b);
        let stop = Arc::new(InterruptEvent::new()?);
        let stopping = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::with_capacity(2);
        for (from, to, direction) in [
            (a.clone(), b.clone(), Direction::AToB),
            (b, a, Direction::BToA),
        ] {
            let side = LinkSide {
                link: link.clone(),
                direction,
            };
            let stop = stop.clone();
            let stopping = stopping.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("tun-bridge-{}-{direction:?}", link.id))
                    .spawn(move || side.run(&from, &to, &stop, &stopping))?,
            );
        }
        Ok(Self {
            stop,
            stopping,
            threads,
        })
    }

    /// Stop forwarding, join both threads and return their counters.
    ///
    /// # Errors
    ///
    /// A read from a device failed (the first such error).
    pub fn stop(mut self) -> io::Result<BridgeStats> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<BridgeStats> {
        self.stopping.store(true, Ordering::SeqCst);
        let triggered = self.stop.trigger();
        let mut stats = [DirectionStats::default(); 2];
        let mut first_err = triggered.err();
        for (i, t) in self.threads.drain(..).enumerate() {
            match t.join() {
                Ok(Ok(s)) => stats[i] = s,
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(io::Error::other("bridge thread panicked"));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(BridgeStats {
                a_to_b: stats[0],
                b_to_a: stats[1],
            }),
        }
    }
}

impl std::fmt::Debug for TunBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunBridge")
            .field("running", &!self.threads.is_empty())
            .finish_non_exhaustive()
    }
}

impl Drop for TunBridge {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            if let Err(e) = self.shutdown() {
                eprintln!("umptcp-lab: tun bridge: {e}");
            }
        }
    }
}

/// One direction of a link, run by one thread.
struct LinkSide {
    link: Link,
    direction: Direction,
}

impl LinkSide {
    fn run(
        &self,
        from: &SyncDevice,
        to: &SyncDevice,
        stop: &InterruptEvent,
        stopping: &AtomicBool,
    ) -> io::Result<DirectionStats> {
        let mut stats = DirectionStats::default();
        let mut buf = vec![0u8; MAX_PACKET];
        while !stopping.load(Ordering::SeqCst) {
            let n = match from.recv_intr(&mut buf, stop) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            stats.read += 1;
            let packet = &buf[..n];
            if let Some(recorder) = &self.link.recorder {
                recorder.record(self.link.id, self.direction, packet);
            }
            self.deliver(packet, to, &mut stats);
        }
        Ok(stats)
    }

    /// The hook point: decide the fate of one packet and write it out.
    ///
    /// Impairments (drop, hold for a delay, swap with the next packet) will
    /// be decided here from the link's configuration and seeded RNG; today
    /// every packet is written at once.
    fn deliver(&self, packet: &[u8], to: &SyncDevice, stats: &mut DirectionStats) {
        match to.send(packet) {
            Ok(_) => stats.written += 1,
            // A full or vanished device is a lossy link, not a harness error.
            Err(_) => stats.write_errors += 1,
        }
    }
}
