//! The messages from application handles to the stack thread.
//!
//! The data plane (reads, writes, shutdowns, accepts, events, closes) is
//! not here: it is the shared state of `readiness.rs`, with one `Ready`
//! to ring the stack thread. What remains asks the stack to act once: open
//! a connection, listen, report figures, steer the paths, stop. A request
//! that needs an answer carries its reply channel.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use crossbeam_channel::Sender;
use umptcp_proto::{ConnectionId, ConnectionPolicy, PolicyFactory, Protocol};

use crate::readiness::{AcceptQueue, Shared};
use crate::stats::{ConnectionInfo, MptcpInfo, PathCommand};

/// A listener's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ListenerId(pub(crate) u64);

/// Where a listener takes its SYNs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListenAt {
    /// This port on every address of the stack (its paths' and the
    /// announced ones).
    Port(u16),
    /// Every SYN that arrives by this device, whatever its destination
    /// (transparent capture).
    Capture(String),
}

/// One request to the stack thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// Open a connection; its outcome goes into `shared`.
    Connect {
        remote: SocketAddr,
        /// The local address to bind (one of a path's; port 0: any);
        /// `None`: the address of the path the route picks.
        local: Option<SocketAddr>,
        /// `None`: the stack's default protocol.
        protocol: Option<Protocol>,
        /// TCP Fast Open: the data to send with the SYN (with a cookie
        /// cached for this peer) or right after the handshake (asking for
        /// one). `None`: a plain open.
        fast_open: Option<Vec<u8>>,
        /// With `fast_open`: the SYN carries the data without any Fast
        /// Open option, cookie or not.
        syn_data_without_cookie: bool,
        /// MPTCP: the connection's own policies (`None`: the stack's).
        policy: Option<ConnectionPolicy>,
        shared: Arc<Shared>,
    },
    /// Listen on a port on every address of the stack, or capture every
    /// SYN arriving by a device; established connections go into `queue`.
    Listen {
        at: ListenAt,
        /// `None`: the stack's default protocol.
        protocol: Option<Protocol>,
        /// TCP Fast Open as a server, and SYN data without a cookie.
        fast_open: bool,
        syn_data_without_cookie: bool,
        /// MPTCP: the policies of each connection accepted (`None`: the
        /// stack's).
        policy: Option<PolicyFactory>,
        queue: Arc<AcceptQueue>,
        /// With `Some`, SYNs are held there for the application.
        held: Option<Arc<crate::held_syn::SynQueue>>,
        reply: Sender<io::Result<ListenerId>>,
    },
    /// The application's decision on a held SYN.
    DecideSyn {
        key: u64,
        decision: crate::held_syn::SynDecision,
    },
    /// Stop listening; unaccepted connections are reset.
    CloseListener { listener: ListenerId },
    /// A handle changed the connection's shared state (bytes to send,
    /// room for received ones, a shutdown, its last handle gone).
    Ready(ConnectionId),
    /// Statistics of one connection.
    Info {
        conn: ConnectionId,
        reply: Sender<io::Result<ConnectionInfo>>,
    },
    /// MPTCP figures of one connection: its subflows and signalling.
    MptcpInfo {
        conn: ConnectionId,
        /// `None` for a connection that is plain TCP by choice.
        reply: Sender<io::Result<Option<MptcpInfo>>>,
    },
    /// Open or close a subflow, announce or withdraw an address.
    Path {
        conn: ConnectionId,
        command: PathCommand,
        reply: Sender<io::Result<()>>,
    },
    /// Join two connections: each one's received bytes go to the other.
    Splice {
        a: crate::stream::Stream,
        b: crate::stream::Stream,
        state: Arc<crate::splice::SpliceState>,
    },
    /// Every connection's events from now on, to this subscriber.
    Subscribe(crate::stack_events::Subscriber),
    /// Stop the stack once every connection has closed or `linger` passed.
    Stop { linger: std::time::Duration },
}
