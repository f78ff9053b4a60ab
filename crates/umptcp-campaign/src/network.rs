//! The in-memory network: one link per address pair (a rate and a delay),
//! a queue of packets in flight ordered by arrival, and routing by address.
//!
//! Virtual time only: a packet's arrival is computed when it is sent, and
//! ties keep send order, so a case is a function of its seed. Forged
//! packets skip the links (an attacker sits next to its victim).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use umptcp_time::Instant;

use crate::config::Family;
use crate::entropy::Entropy;

/// Who receives packets for an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// The client's endpoint.
    Client,
    /// The server's endpoint.
    Server,
    /// Nobody we run: an attacker's own address, or a spoofed one.
    Stranger,
}

/// A packet arriving.
#[derive(Clone, Debug)]
pub struct Arrival {
    /// Where it goes.
    pub to: Host,
    /// The IP packet.
    pub bytes: Vec<u8>,
    /// Whether the attacker made it (not an endpoint's).
    pub forged: bool,
}

#[derive(Clone, Copy, Debug)]
struct Link {
    delay: Duration,
    /// When the link has sent everything queued on it.
    free_at: Instant,
}

/// The network of one case.
#[derive(Debug)]
pub struct Network {
    family: Family,
    delay_us: (u64, u64),
    rate_mbps: u64,
    links: BTreeMap<(IpAddr, IpAddr), Link>,
    queue: BTreeMap<(Instant, u64), Arrival>,
    order: u64,
    e: Entropy,
}

impl Network {
    /// Links with one-way delays drawn from `delay_us` (µs, per link) and
    /// `rate_mbps`; the delays come from `e`.
    pub fn new(family: Family, delay_us: (u64, u64), rate_mbps: u64, e: Entropy) -> Self {
        Network {
            family,
            delay_us,
            rate_mbps: rate_mbps.max(1),
            links: BTreeMap::new(),
            queue: BTreeMap::new(),
            order: 0,
            e,
        }
    }

    /// Who owns `ip`.
    pub fn route(&self, ip: IpAddr) -> Host {
        if self.family.is_client(ip) {
            Host::Client
        } else if self.family.is_server(ip) {
            Host::Server
        } else {
            Host::Stranger
        }
    }

    /// Send an endpoint's packet from `src` to `dst` at `now` over their
    /// link, held back `extra` more (reordering).
    pub fn transmit(
        &mut self,
        now: Instant,
        src: IpAddr,
        dst: IpAddr,
        bytes: Vec<u8>,
        extra: Duration,
    ) {
        let (lo, hi) = self.delay_us;
        let e = &mut self.e;
        let link = self.links.entry((src, dst)).or_insert_with(|| Link {
            delay: Duration::from_micros(e.range(lo, hi.max(lo))),
            free_at: Instant::ZERO,
        });
        // Serialisation: bits / (Mbit/s) = µs; nanoseconds keep small
        // packets from costing nothing.
        let tx = Duration::from_nanos(bytes.len() as u64 * 8 * 1000 / self.rate_mbps);
        let start = link.free_at.max(now);
        link.free_at = start + tx;
        let at = link.free_at + link.delay + extra;
        let to = self.route(dst);
        self.push(at, to, bytes, false);
    }

    /// The one-way delay of the link from `src` to `dst`, once it carried a packet.
    pub fn delay(&self, src: IpAddr, dst: IpAddr) -> Option<Duration> {
        self.links.get(&(src, dst)).map(|l| l.delay)
    }

    /// Deliver a forged packet to whoever owns `dst` at `at`.
    pub fn inject(&mut self, at: Instant, dst: IpAddr, bytes: Vec<u8>) {
        let to = self.route(dst);
        self.push(at, to, bytes, true);
    }

    fn push(&mut self, at: Instant, to: Host, bytes: Vec<u8>, forged: bool) {
        self.order += 1;
        self.queue
            .insert((at, self.order), Arrival { to, bytes, forged });
    }

    /// When the next packet arrives.
    pub fn next_at(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    /// The next packet arriving at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Arrival> {
        let (&(at, order), _) = self.queue.iter().next()?;
        if at > now {
            return None;
        }
        self.queue.remove(&(at, order))
    }

    /// Packets in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}
