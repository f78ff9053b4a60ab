//! The sans-I/O MPTCP v1 connection (RFC 8684).
//!
//! [`MptcpConnection`] sits above one [`umptcp_tcp::Connection`] per
//! subflow: it runs the MP_CAPABLE handshake, keeps the 64-bit data
//! sequence space, declares DSS mappings for what it sends and validates
//! the ones it receives, reassembles data across subflows, and falls back
//! to plain TCP when the peer or a middlebox requires it (§3.7). Like the
//! engine below it, it never reads a clock or touches a socket: segments
//! and `now` in, segments, timeouts and events out.
//!
//! An [`Endpoint`] holds every connection of a host: it routes segments
//! by four-tuple and MP_JOINs by token, and answers what nobody owns. A
//! [`Scheduler`] spreads each connection's data over its subflows; a
//! [`PolicyRegistry`] names every path manager, scheduler and controller
//! a connection can be given, built in or a program's own.
//!
//! The building blocks are public for tools and tests: [`handshake`]
//! (MP_CAPABLE negotiation), [`join`] (MP_JOIN), [`data_seq`] (32-to-64-bit
//! expansion), [`mapping`] (received mappings), [`tx_map`] (declared
//! mappings) and [`reassembly`] (data-level receive buffer).

pub mod config;
pub mod connection;
pub mod data_seq;
pub mod endpoint;
pub mod event;
pub mod handshake;
pub mod id;
pub mod join;
mod join_backoff;
pub mod mapping;
pub mod path_manager;
pub mod policy;
pub mod reassembly;
pub mod registry;
pub mod scheduler;
pub mod signal;
mod trace;
pub mod tx_map;

pub use config::{InvalidConfig, MptcpConfig};
pub use connection::{ConnectError, DataLevel, MptcpConnection, Role, SubflowError, SubflowStats};
pub use data_seq::DataSeq;
pub use endpoint::{
    AcceptError, Admission, ConnectOptions, ConnectionId, Endpoint, EndpointConfig, Incoming,
    Interface, Listen, ListenOptions, Protocol, Routed, Transmit,
};
pub use event::{MptcpEvent, Violation};
pub use handshake::FallbackReason;
pub use join::{JoinError, JoinInitiator, JoinParams, JoinResponder};
pub use path_manager::{PathManager, PmAction, PmView};
pub use policy::{ConnectionPolicy, PolicyFactory, UnknownPolicy};
pub use registry::{PathManagerFactory, PolicyRegistry, SchedulerFactory};
pub use scheduler::{Candidate, MinRtt, RoundRobin, Scheduler, SubflowId};
pub use signal::{AnnounceError, RemoteAddress};
