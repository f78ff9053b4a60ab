//! What the driver keeps beside each connection of the core, and beside
//! each listener: the state shared with the application's handles and
//! what the core told.

use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use umptcp_proto::{FallbackReason, ListenOptions, MptcpConnection, MptcpEvent, PolicyFactory};
use umptcp_tcp::{Connection, FourTuple};
use umptcp_time::Instant;

use crate::command::ListenerId;
use crate::readiness::{AcceptQueue, Shared};
use crate::stats::{ConnectionInfo, MptcpInfo};

/// Where a connection's application handles are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Handle {
    /// None given out yet (a listener's connection not accepted).
    NotYet,
    Open,
    /// Every handle is gone (or none will come): the connection closes
    /// in the background.
    Dropped,
}

/// What the driver keeps beside each `MptcpConnection`.
pub(super) struct Slot {
    pub(super) tuple: FourTuple,
    /// The listener whose SYN it was (`None` for a connect).
    pub(super) listener: Option<ListenerId>,
    /// In the listener's accept queue already.
    pub(super) queued: bool,
    pub(super) shared: Arc<Shared>,
    pub(super) handle: Handle,
    pub(super) connected: bool,
    /// A listener's connection whose Fast Open SYN brought data: handed
    /// out before the handshake ends, as Linux does (RFC 7413 §4.2.2: the
    /// server may deliver the data at once), so a converter can act on it
    /// a round trip earlier.
    pub(super) early_data: bool,
    /// The peer closed its side (the core's `PeerClosed`).
    pub(super) eof: bool,
    /// The core was told to shut down the sending side.
    pub(super) write_shut: bool,
    pub(super) failure: Option<(io::ErrorKind, &'static str)>,
    pub(super) finished: bool,
    pub(super) linger_deadline: Option<Instant>,
    /// Events not yet moved to the shared state.
    pub(super) events: VecDeque<MptcpEvent>,
    /// In the endpoint's list of slots to serve this round.
    pub(super) dirty: bool,
    /// A Fast Open connect: the server whose cookie to remember once the
    /// handshake brings one.
    pub(super) cookie_from: Option<IpAddr>,
    /// The figures when the connection finished: the core forgets a
    /// finished connection, and its handle may still ask.
    pub(super) last_info: Option<(ConnectionInfo, MptcpInfo)>,
    /// Spliced to another connection: its bytes go there, not to the
    /// handles' shared buffer.
    pub(super) splice: Option<super::splice::SpliceLink>,
}

impl Slot {
    pub(super) fn new(tuple: FourTuple, listener: Option<ListenerId>, shared: Arc<Shared>) -> Self {
        Slot {
            tuple,
            listener,
            queued: false,
            shared,
            handle: Handle::NotYet,
            connected: false,
            early_data: false,
            eof: false,
            write_shut: false,
            failure: None,
            finished: false,
            linger_deadline: None,
            events: VecDeque::new(),
            dirty: false,
            cookie_from: None,
            last_info: None,
            splice: None,
        }
    }
}

/// A listener of the driver: its accept queue, shared with its handle.
pub(super) struct Listener {
    pub(super) id: ListenerId,
    /// Each accepted connection's policies (`None`: the stack's).
    pub(super) policy: Option<PolicyFactory>,
    /// How its connections answer (protocol, Fast Open).
    pub(super) options: ListenOptions,
    pub(super) queue: Arc<AcceptQueue>,
    /// Connections of this listener still in their handshake; with the
    /// queue and the held SYNs, at most `accept_backlog`.
    pub(super) children: usize,
    /// With `hold_syns`: where held SYNs go, and how many are held.
    pub(super) hold: Option<Arc<crate::held_syn::SynQueue>>,
    pub(super) held: usize,
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
        token: c.is_mptcp().then(|| umptcp_crypto::token(c.local_key()).0),
        peer_token: c
            .is_mptcp()
            .then(|| c.peer_key().map(|k| umptcp_crypto::token(k).0))
            .flatten(),
        data: c.data_level(),
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
