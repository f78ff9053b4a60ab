//! The Linux driver: our stack on TUN devices, one per path.
//!
//! ```text
//!  application threads                 stack thread                      kernel
//!  TcpStream / TcpListener ──Command──▶ ┌─────────────────────────┐
//!  (blocking, std::io::Read/Write) ◀──reply── │ endpoint: connections, │ ──write──▶ tun0, tun1, ...
//!                                      │ listeners, congestion   │
//!  device reader threads ──packets──▶  │ control, impairment,    │
//!  (one per TUN device)                │ pcap; next timeout      │
//!                                      └─────────────────────────┘
//! ```
//!
//! One stack thread owns the sans-I/O core (`mptcp_tcp::Connection`s and
//! their congestion controllers). It waits, with `crossbeam_channel::select`,
//! on three things at once: packets from the device readers, commands from
//! application handles, and the core's next timeout. A reader thread per
//! device turns a blocking TUN read into a channel message (buffers are
//! recycled through a return channel, so the steady state allocates
//! nothing); the stack thread writes to the devices itself.
//!
//! Handles are like std's: [`TcpStream::connect`], [`TcpListener::bind`],
//! [`TcpListener::accept`], `read`/`write` through `std::io::Read`/`Write`,
//! [`TcpStream::shutdown`], read, write and connect timeouts; dropping a
//! stream closes it gracefully in the background.
//!
//! Off by default: a seeded [`Impairment`] (loss, delay, reordering,
//! duplication) applied to both directions, and a pcap of every packet.
//!
//! With [`StackConfig::mptcp`] set, the stack thread runs the MPTCP
//! endpoint of `mptcp-proto` instead of the plain-TCP one: connections open
//! subflows over every path, fall back to TCP with peers that do not speak
//! MPTCP, and [`MptcpStream`] adds their subflows, events and path
//! management to what [`TcpStream`] offers.

mod command;
mod config;
mod device;
mod endpoint;
mod error;
mod impairment;
mod listener;
mod mptcp_endpoint;
mod mptcp_listener;
mod mptcp_stream;
mod output;
mod route;
mod stack;
mod stats;
mod stream;

pub use config::{MptcpSettings, PathConfig, StackConfig};
pub use error::StackError;
pub use impairment::{Impairer, Impairment, MAX_HELD_PACKETS, Verdict};
pub use listener::TcpListener;
pub use mptcp_listener::MptcpListener;
pub use mptcp_proto::{ConnectionPolicy, PolicyFactory, UnknownPolicy};
pub use mptcp_stream::MptcpStream;
pub use route::{Prefix, Route, RouteKind, RouteTable};
pub use stack::Stack;
pub use stats::{ConnectionInfo, MptcpInfo, PathCommand, StackStats};
pub use stream::TcpStream;
