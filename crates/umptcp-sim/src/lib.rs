//! A deterministic discrete-event network simulator for sans-I/O endpoints.
//!
//! Hosts implement [`Host`] (packets and `now` in, packets and a timeout
//! out); the [`Simulator`] joins their interfaces by point-to-point links and
//! runs them in virtual time, starting at [`Instant::ZERO`](umptcp_time::Instant::ZERO).
//!
//! ```text
//!   host A                                                     host B
//!   iface 0 ──▶ [MTU]─[drop-tail queue]─[rate]─[loss, burst loss, corrupt,
//!                 reorder, duplicate]─[delay] ──▶ iface 0
//!   iface 0 ◀── ... the other direction, configured on its own ... ◀── iface 0
//! ```
//!
//! - **Deterministic**: no clock is read and no OS randomness is used. Every
//!   random decision comes from a ChaCha8 stream seeded by
//!   [`SimConfig::seed`], one stream per link direction, so the same seed,
//!   hosts and calls give bit-identical statistics and captures. Events at
//!   the same instant run in the order they were scheduled.
//! - **Links** ([`LinkConfig`]): rate, propagation delay, drop-tail queue in
//!   bytes, MTU, random loss, Gilbert–Elliott bursty loss, reordering,
//!   duplication, single-bit corruption, up/down; changeable at run time
//!   ([`Simulator::set_link`], [`Simulator::schedule_link`]).
//! - **Routing**: a [`Router`] host forwards by longest-prefix match over
//!   a static table of [`Route`]s (IPv4 and IPv6), so several flows can
//!   cross one shared bottleneck link; it drops and counts
//!   ([`RouterStats`]) what it cannot forward.
//! - **Observation**: [`LinkStats`] per link direction, [`SimStats`] for the
//!   run, and pcap captures ([`Simulator::add_capture`]) of raw IP packets
//!   into sinks the caller opens.
//! - **Cheap**: events are small `Copy` values in a binary heap and packet
//!   bytes live in a slab of reused buffers, so a steady run allocates
//!   nothing per packet.
//!
//! [`Host`] documents the order in which a host is called.
//!
//! ```
//! use core::time::Duration;
//! use umptcp_sim::{Host, IfaceId, LinkConfig, Rate, SimConfig, Simulator};
//! use umptcp_time::Instant;
//!
//! /// Sends one 100-byte packet, counts what it receives.
//! struct Node { to_send: bool, received: usize }
//!
//! impl Host for Node {
//!     fn handle_packet(&mut self, _now: Instant, _iface: IfaceId, _packet: &[u8]) {
//!         self.received += 1;
//!     }
//!     fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)> {
//!         if !std::mem::take(&mut self.to_send) { return None; }
//!         buf[..100].fill(0x45);
//!         Some((IfaceId(0), 100))
//!     }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//!     fn handle_timeout(&mut self, _now: Instant) {}
//! }
//!
//! let mut sim = Simulator::new(SimConfig::with_seed(7))?;
//! let a = sim.add_host(Node { to_send: true, received: 0 })?;
//! let b = sim.add_host(Node { to_send: false, received: 0 })?;
//! let ia = sim.add_iface(a, &["10.0.0.1".parse().unwrap()])?;
//! let ib = sim.add_iface(b, &["10.0.0.2".parse().unwrap()])?;
//! // 100 bytes at 8 Mbit/s take 100 µs, plus 10 ms of propagation.
//! let link = LinkConfig::new(Rate::mbit(8), Duration::from_millis(10));
//! sim.connect((a, ia), (b, ib), link.clone(), link)?;
//! assert!(sim.run_until_idle(Instant::from_millis(1_000)));
//! assert_eq!(sim.now(), Instant::from_micros(10_100));
//! assert_eq!(sim.host(b).map(|n| n.received), Some(1));
//! # Ok::<(), umptcp_sim::Error>(())
//! ```

mod capture;
mod channel;
mod config;
mod error;
mod event;
mod host;
mod link;
mod packet_pool;
mod router;
mod simulator;
mod stats;

pub use capture::{CaptureId, CapturePoint, CaptureScope, CaptureSink};
pub use config::{MAX_PACKET_SIZE_LIMIT, SimConfig};
pub use error::Error;
pub use host::{Host, HostId, IfaceId};
pub use link::{Direction, GilbertElliott, LinkConfig, LinkId, Rate, Reorder};
pub use router::{Route, Router, RouterStats};
pub use simulator::Simulator;
pub use stats::{LinkStats, SimStats};
