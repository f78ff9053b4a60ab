//! How a connection is opened or accepted: its protocol, TCP Fast Open,
//! its policies; and what the endpoint hands back with each packet it
//! sends ([`Transmit`]), so the driver never parses its own output.

use std::net::SocketAddr;

use umptcp_tcp::FastOpenCookie;

use crate::policy::ConnectionPolicy;

/// The protocol of one connection. A plain-TCP connection is an MPTCP
/// connection fallen back from the start
/// ([`crate::FallbackReason::NotRequested`]): one engine, one interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// MPTCP (RFC 8684), falling back to TCP by itself when the peer or a
    /// middlebox requires it.
    #[default]
    Mptcp,
    /// Plain TCP: no MPTCP option is sent, and one offered is declined.
    Tcp,
}

/// What [`crate::Endpoint::open`] opens.
#[derive(Default)]
pub struct ConnectOptions {
    /// MPTCP (default) or plain TCP.
    pub protocol: Protocol,
    /// TCP Fast Open (RFC 7413; for MPTCP, RFC 8684 Appendix B):
    /// `Some(Some(cookie))` sends the data written before the first
    /// transmission with the SYN; `Some(None)` asks the server for a
    /// cookie (kept by [`crate::MptcpConnection::fast_open_cookie`]).
    /// Default `None`.
    pub fast_open: Option<Option<FastOpenCookie>>,
    /// With `fast_open` `None`: the SYN carries the data written before
    /// the first transmission with no Fast Open option at all (an RFC
    /// 8803 Convert client's SYN, for a server that takes SYN data without
    /// a cookie). Default off.
    pub syn_data_without_cookie: bool,
    /// The connection's own policies (unset parts: the endpoint's).
    pub policy: ConnectionPolicy,
}

/// How a listener answers the SYNs it takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenOptions {
    /// MPTCP (default: a SYN without MP_CAPABLE still gets plain TCP) or
    /// plain TCP for every SYN, MP_CAPABLE or not.
    pub protocol: Protocol,
    /// TCP Fast Open as a server (RFC 7413): cookies for those who ask,
    /// and the data of a SYN with a valid one taken at once, readable as
    /// soon as the connection is accepted. On an MPTCP connection that
    /// data comes ahead of the data stream, outside the data sequence
    /// space (RFC 8684 Appendix B). Default off.
    pub fast_open: bool,
    /// With `fast_open`: take a SYN's data whether or not it carries a
    /// valid cookie (RFC 8803 §4.2, Transport Converters). Default off.
    pub syn_data_without_cookie: bool,
}

/// The caller's name for the network interface a segment arrived by (a
/// TUN device, a simulated link), given to
/// [`crate::Endpoint::handle_segment_from`]. A connection a SYN opened
/// sends by the interface its SYN came in by: the only sure way back to a
/// peer that reached an address no route of ours leads to (transparent
/// capture).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interface(pub u32);

/// One packet [`crate::Endpoint::poll_transmit`] wrote: how long it is,
/// where it goes and by which interface (as quinn-proto's `Transmit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// Bytes written at the start of the buffer: one IP packet.
    pub len: usize,
    /// Its source address and port.
    pub src: SocketAddr,
    /// Its destination address and port.
    pub dst: SocketAddr,
    /// The interface to send it by, when the connection knows one (it was
    /// opened by a SYN that came in by it); `None`: by the route to `dst`
    /// that leaves from `src`.
    pub interface: Option<Interface>,
}
