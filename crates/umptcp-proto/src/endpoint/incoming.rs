//! A SYN a listener took, before anything is built for it (as
//! quinn-proto's `Incoming`): the application looks at it (who, to where,
//! whether it offers MPTCP, its payload and options) and accepts, refuses
//! or ignores it.
//!
//! Only [`Admission::Ask`](crate::Admission::Ask) listeners hand SYNs out.
//! An `Incoming` holds a copy of its SYN and nothing else: no keys, no
//! buffers, no connection. The endpoint counts the live ones against
//! `max_half_open` and `max_connections` (dropping one frees its place,
//! however it goes), and drops a retransmission of a SYN whose `Incoming`
//! is still undecided, so a client that retries yields one `Incoming`.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use umptcp_tcp::FourTuple;
use umptcp_time::Instant;
use umptcp_wire::mptcp::MptcpOption;
use umptcp_wire::segment::ChecksumCheck;
use umptcp_wire::{Segment, TcpOption};

use super::{ConnectionId, Endpoint, Interface, Listen, ListenOptions};
use crate::connection::ConnectError;
use crate::policy::ConnectionPolicy;

/// A SYN waiting for the application's decision (see the module docs).
/// Give it back to [`Endpoint::accept_incoming`],
/// [`Endpoint::refuse_incoming`] or [`Endpoint::ignore_incoming`]; merely
/// dropping it is the same as ignoring it.
#[derive(Debug, PartialEq, Eq)]
pub struct Incoming {
    listener: Listen,
    options: ListenOptions,
    interface: Option<Interface>,
    tuple: FourTuple,
    mptcp: bool,
    received: Instant,
    /// The SYN as it arrived (IP header onwards), checksum verified.
    packet: Vec<u8>,
    /// Alive while this `Incoming` is: the endpoint holds a `Weak` to it.
    live: Arc<()>,
}

impl Incoming {
    pub(super) fn new(
        listener: Listen,
        options: ListenOptions,
        interface: Option<Interface>,
        tuple: FourTuple,
        segment: &Segment<'_>,
        received: Instant,
    ) -> (Incoming, Weak<()>) {
        let mptcp = segment
            .options()
            .flatten()
            .any(|o| matches!(o, TcpOption::Mptcp(MptcpOption::MpCapable(_))));
        let live = Arc::new(());
        let weak = Arc::downgrade(&live);
        let incoming = Incoming {
            listener,
            options,
            interface,
            tuple,
            mptcp,
            received,
            packet: segment.as_bytes().to_vec(),
            live,
        };
        (incoming, weak)
    }

    /// How accepting it answers: its listener's [`ListenOptions`] unless
    /// changed with [`Incoming::set_options`].
    pub fn options(&self) -> ListenOptions {
        self.options
    }

    /// Answer as `options` say when accepted (plain TCP for this one
    /// peer, say).
    pub fn set_options(&mut self, options: ListenOptions) {
        self.options = options;
    }

    /// The interface its SYN came in by, if the caller named one.
    pub fn interface(&self) -> Option<Interface> {
        self.interface
    }

    /// The listener that took it.
    pub fn listener(&self) -> Listen {
        self.listener
    }

    /// Our side: the SYN's destination (for a [`Listen::Any`] listener,
    /// the address the peer meant to reach).
    pub fn local(&self) -> SocketAddr {
        self.tuple.local
    }

    /// The peer's side: the SYN's source.
    pub fn remote(&self) -> SocketAddr {
        self.tuple.remote
    }

    /// Both sides.
    pub fn four_tuple(&self) -> FourTuple {
        self.tuple
    }

    /// Whether the SYN carries MP_CAPABLE (else accepting it gives a
    /// connection fallen back to TCP from the start).
    pub fn offers_mptcp(&self) -> bool {
        self.mptcp
    }

    /// When it arrived.
    pub fn received_at(&self) -> Instant {
        self.received
    }

    /// The SYN itself.
    pub fn segment(&self) -> Segment<'_> {
        Segment::parse(&self.packet, ChecksumCheck::Skip)
            .expect("an Incoming holds a segment that parsed")
    }

    /// The SYN's payload (SYN data: TCP Fast Open, or an RFC 8803 Convert
    /// message sent without a cookie).
    pub fn payload(&self) -> &[u8] {
        self.segment().payload()
    }

    /// The SYN's TCP options, as raw bytes.
    pub fn tcp_options(&self) -> &[u8] {
        self.segment().option_bytes()
    }
}

/// Why [`Endpoint::accept_incoming`] built no connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptError {
    /// `max_connections` is reached.
    #[error("too many connections")]
    Limit,
    /// A connection over the same four-tuple exists by now.
    #[error("a connection over {0:?} exists")]
    TupleInUse(FourTuple),
    /// The connection refused the SYN's contents.
    #[error("the SYN cannot open a connection: {0}")]
    Connection(#[from] ConnectError),
}

impl Endpoint {
    /// Accept `incoming` with the endpoint's policies: the connection is
    /// built now and answers with its SYN/ACK.
    ///
    /// # Errors
    ///
    /// [`AcceptError`]; the SYN is then refused with a reset.
    pub fn accept_incoming(
        &mut self,
        now: Instant,
        incoming: Incoming,
    ) -> Result<ConnectionId, AcceptError> {
        self.accept_incoming_with(now, incoming, ConnectionPolicy::default())
    }

    /// [`Endpoint::accept_incoming`] with policies of the connection's own.
    ///
    /// # Errors
    ///
    /// As [`Endpoint::accept_incoming`].
    pub fn accept_incoming_with(
        &mut self,
        now: Instant,
        incoming: Incoming,
        policy: ConnectionPolicy,
    ) -> Result<ConnectionId, AcceptError> {
        self.last_now = now;
        let tuple = incoming.tuple;
        self.pending.remove(&(tuple.local, tuple.remote));
        let segment = incoming.segment();
        let interface = incoming.interface;
        let refused = |ep: &mut Endpoint, e: AcceptError| {
            ep.refuse(&segment, None, interface);
            Err(e)
        };
        if self.by_tuple.contains_key(&(tuple.local, tuple.remote)) {
            return refused(self, AcceptError::TupleInUse(tuple));
        }
        if self.connections.len() >= self.limits.max_connections {
            return refused(self, AcceptError::Limit);
        }
        match self.build_accepted(now, &segment, tuple, policy, incoming.options, interface) {
            Ok(id) => Ok(id),
            Err(e) => refused(self, e.into()),
        }
    }

    /// Refuse `incoming`: a reset answers its SYN.
    pub fn refuse_incoming(&mut self, incoming: Incoming) {
        let tuple = incoming.tuple;
        self.pending.remove(&(tuple.local, tuple.remote));
        self.refuse(&incoming.segment(), None, incoming.interface);
    }

    /// Ignore `incoming`: nothing is sent; a SYN the peer sends again is
    /// a new `Incoming`.
    pub fn ignore_incoming(&mut self, incoming: Incoming) {
        let tuple = incoming.tuple;
        self.pending.remove(&(tuple.local, tuple.remote));
    }

    /// Incomings handed out and not yet decided (dropped ones do not
    /// count).
    pub fn pending_incoming(&self) -> usize {
        self.pending
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}
