//! What the driver keeps beside each connection of the core, and beside
//! each listener: the application's waiting requests and what it was
//! told.

use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;

use crossbeam_channel::Sender;
use mptcp_proto::{
    ConnectionId, FallbackReason, ListenOptions, MptcpConnection, MptcpEvent, PolicyFactory,
};
use mptcp_tcp::{Connection, FourTuple};
use mptcp_time::Instant;

use crate::command::{ConnId, ListenerId, Opened};
use crate::stats::{ConnectionInfo, MptcpInfo};

/// Events each connection keeps for [`crate::Stream::events`]; older ones
/// are dropped first, so a handle that never asks costs nothing more.
pub(super) const MAX_KEPT_EVENTS: usize = 64;

/// Where a connection's application handle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Handle {
    /// Not handed out yet (a listener's connection not accepted, or a
    /// connect not answered).
    NotYet,
    Open,
    /// The handle is gone (or never came): the connection closes in the
    /// background.
    Dropped,
}

pub(super) type Reply<T> = Sender<io::Result<T>>;
pub(super) type PendingRead = (Vec<u8>, Reply<Vec<u8>>);
pub(super) type PendingWrite = (Vec<u8>, Reply<(usize, Vec<u8>)>);

/// What the driver keeps beside each `MptcpConnection`.
pub(super) struct Slot {
    pub(super) tuple: FourTuple,
    pub(super) listener: Option<ListenerId>,
    pub(super) handle: Handle,
    pub(super) connect_reply: Option<Reply<Opened>>,
    pub(super) read: Option<PendingRead>,
    pub(super) write: Option<PendingWrite>,
    pub(super) connected: bool,
    pub(super) eof: bool,
    pub(super) read_shut: bool,
    pub(super) write_shut: bool,
    pub(super) failure: Option<(io::ErrorKind, &'static str)>,
    pub(super) finished: bool,
    pub(super) linger_deadline: Option<Instant>,
    pub(super) events: VecDeque<MptcpEvent>,
    /// A Fast Open connect: the server whose cookie to remember once the
    /// handshake brings one.
    pub(super) cookie_from: Option<IpAddr>,
    /// The figures when the connection finished: the core forgets a
    /// finished connection, and its handle may still ask.
    pub(super) last_info: Option<(ConnectionInfo, MptcpInfo)>,
}

impl Slot {
    pub(super) fn new(tuple: FourTuple, listener: Option<ListenerId>) -> Self {
        Slot {
            tuple,
            listener,
            handle: Handle::NotYet,
            connect_reply: None,
            read: None,
            write: None,
            connected: false,
            eof: false,
            read_shut: false,
            write_shut: false,
            failure: None,
            finished: false,
            linger_deadline: None,
            events: VecDeque::new(),
            cookie_from: None,
            last_info: None,
        }
    }

    pub(super) fn opened(&self, id: ConnectionId) -> Opened {
        Opened {
            id: conn_id(id),
            local: self.tuple.local,
            remote: self.tuple.remote,
        }
    }

    pub(super) fn error(&self) -> io::Error {
        match self.failure {
            Some((kind, msg)) => io::Error::new(kind, msg),
            None => io::Error::new(io::ErrorKind::NotConnected, "connection closed"),
        }
    }
}

/// A listener of the driver: its queue of established connections and
/// the accept waiting for one.
pub(super) struct Listener {
    pub(super) id: ListenerId,
    /// Each accepted connection's policies (`None`: the stack's).
    pub(super) policy: Option<PolicyFactory>,
    /// How its connections answer (protocol, Fast Open).
    pub(super) options: ListenOptions,
    pub(super) queue: VecDeque<ConnectionId>,
    /// Connections of this listener not yet accepted (handshaking or
    /// queued): at most `accept_backlog`.
    pub(super) children: usize,
    pub(super) accept_reply: Option<Reply<Opened>>,
}

/// Connection ids are never reused by `mptcp_proto::Endpoint`, so the
/// handle's generation is not needed.
pub(super) fn conn_id(id: ConnectionId) -> ConnId {
    ConnId {
        index: id.0 as usize,
        generation: 0,
    }
}

pub(super) fn connection_id(id: ConnId) -> ConnectionId {
    ConnectionId(id.index as u64)
}

pub(crate) fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection is gone")
}

/// Both views of a connection; the MPTCP one is `None` for a connection
/// opened or accepted as plain TCP.
pub(super) fn snapshot(c: &MptcpConnection) -> (ConnectionInfo, MptcpInfo) {
    let mptcp = MptcpInfo {
        mptcp: c.is_mptcp(),
        fallback: c.fallback_reason(),
        checksum: c.checksum(),
        subflows: c.subflows().collect(),
        remote_addresses: c.remote_addresses().to_vec(),
    };
    (connection_info(c), mptcp)
}

/// Whether the connection was plain TCP by the application's choice.
pub(super) fn plain_by_choice(info: &MptcpInfo) -> bool {
    info.fallback == Some(FallbackReason::NotRequested)
}

/// The TCP figures of a connection: its initial subflow's state, RTT and
/// window, with the byte and retransmission counts of all subflows.
fn connection_info(c: &MptcpConnection) -> ConnectionInfo {
    let mut info = tcp_info(c.initial_subflow());
    let (mut sent, mut received, mut rtx) = (0, 0, 0);
    for s in c.subflows() {
        sent += s.bytes_sent;
        received += s.bytes_received;
        rtx += s.retransmissions;
    }
    info.bytes_sent = sent;
    info.bytes_received = received;
    info.retransmissions = rtx;
    info
}

fn tcp_info(conn: &Connection) -> ConnectionInfo {
    ConnectionInfo {
        state: conn.state(),
        srtt: conn.srtt(),
        rto: conn.rto(),
        cwnd: conn.cwnd(),
        bytes_in_flight: conn.bytes_in_flight(),
        retransmissions: conn.retransmissions(),
        bytes_sent: conn.bytes_sent(),
        bytes_received: conn.bytes_received(),
        mss: conn.mss(),
    }
}
