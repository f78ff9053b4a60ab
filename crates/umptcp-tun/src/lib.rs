//! The Linux driver: our stack on TUN devices, one per path.
//!
//! ```text
//!  application threads                      stack thread                     kernel
//!  Stream / Listener ──Ready, requests──▶ ┌─────────────────────────┐
//!  (blocking, or poll_*)                   │ endpoint: connections,  │ ──write──▶ tun0, tun1, ...
//!        ▲   shared state per connection   │ listeners, congestion   │
//!        └── (buffers, outcome, wakers) ◀──│ control, impairment,    │
//!  device reader threads ──packets──▶      │ pcap; next timeout      │
//!  (one per TUN device)                    └─────────────────────────┘
//! ```
//!
//! One stack thread owns the sans-I/O core (`umptcp_proto::Endpoint`: every
//! connection, its subflows and their congestion controllers). It waits,
//! with `crossbeam_channel::select`, on three things at once: packets from
//! the device readers, commands from application handles, and the core's
//! next timeout. A reader thread per device turns a blocking TUN read into
//! a channel message (buffers are recycled through a return channel, so
//! the steady state allocates nothing); the stack thread writes to the
//! devices itself. Handles and the stack thread share each connection's
//! state (received and written bytes, the outcome, wakers): a read or a
//! write takes the lock, not a round trip through the stack thread.
//!
//! One core serves both protocols: each connection is MPTCP (RFC 8684,
//! subflows over every path, falling back to plain TCP with peers that do
//! not speak it) or plain TCP (an MPTCP connection fallen back from the
//! start), as its connect or listener chooses; the stack's default is
//! MPTCP when [`StackConfig::mptcp`] is set.
//!
//! Handles are like std's: [`Stream::connect`], [`Listener::bind`],
//! [`Listener::accept`], `read`/`write` through `std::io::Read`/`Write`,
//! [`Stream::shutdown`], read, write and connect timeouts; dropping a
//! stream closes it gracefully in the background. [`Stream::mptcp_info`],
//! [`Stream::events`] and [`Stream::path`] show and steer the subflows;
//! [`Listener::capture`] takes every SYN a device brings (transparent
//! capture).
//!
//! Off by default: a seeded [`Impairment`] (loss, delay, reordering,
//! duplication) applied to both directions, and a pcap of every packet.

#[cfg(feature = "tokio")]
mod async_io;
mod command;
mod config;
mod device;
mod endpoint;
mod error;
mod held_syn;
mod impairment;
mod listener;
mod log;
mod output;
mod readiness;
mod route;
mod socket_splice;
mod splice;
mod stack;
mod stack_events;
mod stats;
mod stream;

#[cfg(feature = "tokio")]
pub use async_io::{AsyncListener, AsyncReadHalf, AsyncStream, AsyncWriteHalf, EventStream};
pub use config::{MptcpSettings, PathConfig, StackConfig};
pub use error::StackError;
pub use held_syn::IncomingSyn;
pub use impairment::{Impairer, Impairment, MAX_HELD_PACKETS, Verdict};
pub use listener::{Listener, ListenerOptions};
pub use route::{Prefix, Route, RouteKind, RouteTable};
pub use splice::{Splice, Spliced};
pub use stack::Stack;
pub use stack_events::{SUBSCRIPTION_CAPACITY, StackEvent, StackEvents};
pub use stats::{ConnectionInfo, MptcpInfo, PathCommand, StackStats};
pub use stream::{ConnectOptions, ReadHalf, Stream, WriteHalf};
pub use umptcp_proto::{
    ConnectionPolicy, DataLevel, PolicyFactory, PolicyRegistry, Protocol, UnknownPolicy,
};
