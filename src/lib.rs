//! `umptcp`: a userspace Multipath TCP stack (RFC 8684, MPTCP v1) for Linux
//! TUN devices, with coupled congestion control and a deterministic
//! simulator.
//!
//! This facade is the one dependency an application needs. A [`Stack`]
//! runs the protocol over one TUN device per path; [`Stream`] and
//! [`Listener`] are its blocking handles with std's `Read`/`Write`
//! contracts, and with the `tokio` feature `AsyncStream` and
//! `AsyncListener` are their async forms. Policies (path manager,
//! scheduler, congestion control) are chosen per stack, per connection or
//! per listener, by value ([`ConnectionPolicy`]) or by name from a
//! [`PolicyRegistry`], where a program registers its own beside the
//! built-in ones (`examples/custom_scheduler.rs`).
//!
//! ```no_run
//! use std::io::{Read, Write};
//!
//! use umptcp::{MptcpSettings, PathConfig, Stack, StackConfig, Stream};
//!
//! // Two paths, one TUN device each; MPTCP by default.
//! let mut config = StackConfig::new(vec![
//!     PathConfig::new("tun0", "10.61.0.2".parse()?),
//!     PathConfig::new("tun1", "10.62.0.2".parse()?),
//! ]);
//! config.mptcp = Some(MptcpSettings::default());
//! let stack = Stack::start(config)?;
//! let mut stream = Stream::connect(&stack, "10.61.1.2:5000".parse()?)?;
//! stream.write_all(b"hello over two paths")?;
//! println!("MPTCP: {}", stream.is_mptcp()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same protocol core runs in virtual time in [`sim`], with no root
//! and no device: [`sim::SimHost`] puts an endpoint and an application of
//! yours on a simulated host.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Duration;
//!
//! use umptcp::cc::{CcConfig, Registry};
//! use umptcp::core::{ConnectionId, Endpoint, EndpointConfig, MptcpConfig};
//! use umptcp::sim::{Application, LinkConfig, Rate, SimConfig, SimHost, Simulator};
//! use umptcp::time::Instant;
//! use rand_chacha::ChaCha20Rng;
//! use rand_chacha::rand_core::SeedableRng;
//!
//! /// Writes `left` bytes once connected; counts what it reads.
//! struct App { conn: Option<ConnectionId>, left: usize, read: usize }
//!
//! impl Application for App {
//!     fn service(&mut self, _now: Instant, ep: &mut Endpoint) {
//!         if let Some(id) = ep.accept() { self.conn = Some(id) }
//!         while ep.poll_event().is_some() {}
//!         let Some(conn) = self.conn.and_then(|id| ep.connection(id)) else { return };
//!         let n = self.left.min(conn.writable()).min(4096);
//!         self.left -= conn.write(&[7; 4096][..n]);
//!         let mut buf = [0; 4096];
//!         loop {
//!             match conn.read(&mut buf) { 0 => break, n => self.read += n }
//!         }
//!     }
//! }
//!
//! fn endpoint(seed: u64) -> Endpoint {
//!     let cc = Box::new(|| Registry::with_builtins().build("lia", &CcConfig::default()).unwrap());
//!     let rng = Box::new(ChaCha20Rng::seed_from_u64(seed));
//!     Endpoint::new(MptcpConfig::default(), EndpointConfig::default(), rng, cc)
//! }
//!
//! let (client, server): (SocketAddr, SocketAddr) =
//!     ("10.0.1.1:40000".parse()?, "10.0.1.2:80".parse()?);
//! let mut sim = Simulator::new(SimConfig::with_seed(1))?;
//! let mut c = SimHost::new(endpoint(1), &[client.ip()], App { conn: None, left: 1 << 20, read: 0 });
//! let id = c.endpoint_mut().connect(Instant::ZERO, umptcp::FourTuple { local: client, remote: server })?;
//! c.app_mut().conn = Some(id);
//! let mut s = SimHost::new(endpoint(2), &[server.ip()], App { conn: None, left: 0, read: 0 });
//! s.endpoint_mut().listen(server);
//! let (c, s) = (sim.add_host(c)?, sim.add_host(s)?);
//! let (ci, si) = (sim.add_iface(c, &[client.ip()])?, sim.add_iface(s, &[server.ip()])?);
//! let link = LinkConfig::new(Rate::mbit(100), Duration::from_millis(10));
//! sim.connect((c, ci), (s, si), link.clone(), link)?;
//! sim.run_until(Instant::ZERO + Duration::from_secs(5));
//! assert_eq!(sim.host_mut(s).unwrap().app().read, 1 << 20);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The crates behind it, for what the facade does not name: [`core`]
//! (the sans-I/O endpoint and connections), [`cc`] (congestion control
//! and its registry), [`sim`], [`wire`] (every option and segment),
//! [`crypto`] (keys, tokens, HMACs, the DSS checksum) and [`time`] (the
//! deterministic `Instant` the core takes).

#![deny(missing_docs)]

pub use umptcp_cc as cc;
pub use umptcp_crypto as crypto;
pub use umptcp_proto as core;
pub use umptcp_time as time;
pub use umptcp_wire as wire;

pub use umptcp_proto::{DataLevel, MptcpEvent, SubflowStats, path_manager, scheduler};
pub use umptcp_tcp::FourTuple;
#[cfg(feature = "tokio")]
pub use umptcp_tun::{AsyncListener, AsyncReadHalf, AsyncStream, AsyncWriteHalf, EventStream};
pub use umptcp_tun::{
    ConnectOptions, ConnectionInfo, ConnectionPolicy, Impairment, Listener, ListenerOptions,
    MptcpInfo, MptcpSettings, PathCommand, PathConfig, PolicyFactory, PolicyRegistry, Prefix,
    Protocol, ReadHalf, Route, RouteKind, RouteTable, SUBSCRIPTION_CAPACITY, Splice, Spliced,
    Stack, StackConfig, StackError, StackEvent, StackEvents, StackStats, Stream, UnknownPolicy,
    WriteHalf,
};

/// The deterministic network simulator, and the adapter that runs our
/// endpoint and an application of yours on one of its hosts.
pub mod sim {
    pub use umptcp_experiment::{Application, SimHost};
    pub use umptcp_sim::*;
}
