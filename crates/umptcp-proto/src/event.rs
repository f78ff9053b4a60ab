//! What an MPTCP connection tells its application and driver.

use crate::handshake::FallbackReason;
use crate::scheduler::SubflowId;
use crate::signal::RemoteAddress;

/// An event of one MPTCP connection, in the order it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MptcpEvent {
    /// The handshake completed; `mptcp` says whether the connection speaks
    /// MPTCP (false: it fell back to TCP, with a [`MptcpEvent::FellBack`]
    /// first).
    Connected {
        /// MPTCP (true) or plain TCP (false).
        mptcp: bool,
    },
    /// The connection is plain TCP from now on (RFC 8684 §3.7), for good.
    FellBack(FallbackReason),
    /// A subflow joined with MP_JOIN is authenticated and carries data.
    SubflowEstablished(SubflowId),
    /// A subflow closed, failed or was refused while the connection goes
    /// on; its outstanding data is sent again on the others.
    SubflowClosed(SubflowId),
    /// The peer announced an address (ADD_ADDR with a valid HMAC): a
    /// path manager may open a subflow to it.
    AddressAnnounced(RemoteAddress),
    /// The peer withdrew an address (REMOVE_ADDR); subflows to it were
    /// reset.
    AddressRemoved(umptcp_wire::AddrId),
    /// New in-order data can be read.
    Readable,
    /// Room opened in the send buffer after a `write` that did not take
    /// everything.
    Writable,
    /// The peer's DATA_FIN (or, after fallback, FIN) arrived and every byte
    /// before it was delivered: no more data will come.
    PeerClosed,
    /// Both directions finished and every subflow closed.
    Closed,
    /// The peer reset the connection (RST on the last subflow, or
    /// MP_FASTCLOSE).
    Reset,
    /// The peer stopped answering.
    TimedOut,
    /// The peer broke the protocol; the connection was reset.
    ProtocolError(Violation),
}

/// How the peer broke the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// A DSS mapping does not touch the payload of the segment carrying it.
    MappingNotCovering,
    /// A DSS mapping contradicts one received before for the same bytes.
    MappingContradiction,
    /// A DSS checksum failed on the only subflow where no fallback is
    /// safe (a second subflow existed, or data went twice at the data
    /// level), or the peer's MP_FAIL said so.
    BadChecksum,
    /// The third ACK's MP_CAPABLE does not echo our key, or its form is
    /// wrong.
    BadKeys,
}
