//! The messages between application handles and the stack thread.
//!
//! Every request carries its own reply channel and gets exactly one reply.
//! A blocking call whose timeout expires sends a `Cancel*` and then still
//! waits for that one reply: either the result that raced the cancel, or
//! `TimedOut`. So no data is ever lost between a handle and the stack.
//! Buffers travel both ways and are reused: a read sends its buffer in and
//! gets it back filled.

use mptcp_proto::{ConnectionPolicy, PolicyFactory, Protocol};
use std::io;
use std::net::SocketAddr;

use crossbeam_channel::Sender;

use mptcp_proto::MptcpEvent;

use crate::stats::{ConnectionInfo, MptcpInfo, PathCommand};

/// A connection's slot in the stack (index and generation, so a stale id
/// never reaches a newer connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConnId {
    pub(crate) index: usize,
    pub(crate) generation: u64,
}

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

/// A connection handed to an application: its id and both ends.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) id: ConnId,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
}

/// One request to the stack thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// Open a connection; the reply comes when it is established or failed.
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
        /// MPTCP: the connection's own policies (`None`: the stack's).
        policy: Option<ConnectionPolicy>,
        reply: Sender<io::Result<Opened>>,
    },
    /// Give up a pending connect (its timeout expired).
    CancelConnect { remote: SocketAddr },
    /// Listen on a port on every address of the stack, or capture every
    /// SYN arriving by a device.
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
        reply: Sender<io::Result<ListenerId>>,
    },
    /// Take the next established connection; pending until one arrives.
    Accept {
        listener: ListenerId,
        reply: Sender<io::Result<Opened>>,
    },
    /// Give up a pending accept.
    CancelAccept { listener: ListenerId },
    /// Stop listening; unaccepted connections are reset.
    CloseListener { listener: ListenerId },
    /// Fill `buf` (its capacity, from length 0) with received data; pending
    /// until at least one byte, the end of the stream, or an error. An empty
    /// buffer back means end of stream.
    Read {
        conn: ConnId,
        buf: Vec<u8>,
        reply: Sender<io::Result<Vec<u8>>>,
    },
    /// Give up a pending read.
    CancelRead { conn: ConnId },
    /// Queue `data` for sending; pending until at least one byte is taken.
    /// The reply is how many bytes were taken, and the buffer back.
    Write {
        conn: ConnId,
        data: Vec<u8>,
        reply: Sender<io::Result<(usize, Vec<u8>)>>,
    },
    /// Give up a pending write.
    CancelWrite { conn: ConnId },
    /// Send a FIN after the queued data (shutdown(Write)), or stop delivering
    /// data to the application (shutdown(Read)).
    Shutdown {
        conn: ConnId,
        write: bool,
        read: bool,
        reply: Sender<io::Result<()>>,
    },
    /// Statistics of one connection.
    Info {
        conn: ConnId,
        reply: Sender<io::Result<ConnectionInfo>>,
    },
    /// MPTCP figures of one connection: its subflows and signalling.
    MptcpInfo {
        conn: ConnId,
        /// `None` for a connection that is plain TCP by choice.
        reply: Sender<io::Result<Option<MptcpInfo>>>,
    },
    /// The events recorded since the last call, oldest first.
    Events {
        conn: ConnId,
        reply: Sender<io::Result<Vec<MptcpEvent>>>,
    },
    /// Open or close a subflow, announce or withdraw an address.
    Path {
        conn: ConnId,
        command: PathCommand,
        reply: Sender<io::Result<()>>,
    },
    /// The handle is gone: close gracefully in the background.
    Close { conn: ConnId },
    /// Stop the stack once every connection has closed or `linger` passed.
    Stop { linger: std::time::Duration },
}
