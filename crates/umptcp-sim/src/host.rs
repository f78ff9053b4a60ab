//! The endpoint trait: what a sans-I/O stack implements to run in the
//! simulator, and the identifiers of hosts and interfaces.

use umptcp_time::Instant;

/// A host of the simulated network, as the simulator numbers them (in the
/// order of [`Simulator::add_host`](crate::Simulator::add_host), from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub u32);

/// An interface of one host, numbered per host in the order of
/// [`Simulator::add_iface`](crate::Simulator::add_iface), from 0.
///
/// A host knows its interfaces by these numbers: it names the one a packet
/// leaves by in [`Host::poll_transmit`] and is told the one a packet arrived
/// on in [`Host::handle_packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfaceId(pub u32);

/// A sans-I/O endpoint: packets and time in, packets and timeouts out.
///
/// Packets are raw IP packets (IPv4 or IPv6, no link-layer header), exactly
/// what a TUN device carries, so captures open in Wireshark as they are.
///
/// # Call order
///
/// The simulator drives a host only through these four methods, always with
/// a `now` that never goes backwards:
///
/// 1. An input: [`handle_packet`](Host::handle_packet) when a packet arrives
///    on one of its interfaces, or [`handle_timeout`](Host::handle_timeout)
///    once the instant last returned by [`poll_timeout`](Host::poll_timeout)
///    has come (never earlier; possibly later only if that instant was
///    already in the past when it was returned). A host just added, or
///    borrowed mutably through
///    [`Simulator::host_mut`](crate::Simulator::host_mut) so the test or
///    application could act on it, gets no input call but goes straight to 2.
/// 2. [`poll_transmit`](Host::poll_transmit), repeatedly, until it returns
///    `None`. Each packet it returns is put on the link of the named
///    interface at `now`.
/// 3. [`poll_timeout`](Host::poll_timeout), once. The answer replaces the
///    previous one; `None` means "no timer".
///
/// A host that returns `Some` from `poll_transmit` forever, or a timeout at
/// or before `now` again after every `handle_timeout`, keeps the simulator at
/// the same instant forever: that is a bug of the host.
pub trait Host {
    /// Take in a packet that arrived at `now` on interface `iface`.
    fn handle_packet(&mut self, now: Instant, iface: IfaceId, packet: &[u8]);

    /// Write the next packet to send into `buf` and return the interface to
    /// send it on and its length, or `None` when there is nothing to send.
    ///
    /// `buf` holds [`SimConfig::max_packet_size`](crate::SimConfig) bytes,
    /// whatever the previous packet left there. A
    /// returned length larger than `buf`, or an interface that does not exist
    /// or has no link, loses the packet and counts it in
    /// [`SimStats`](crate::SimStats).
    #[must_use]
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)>;

    /// Return the instant at which [`handle_timeout`](Host::handle_timeout)
    /// should next be called, or `None` for no timer.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;

    /// Act on the timer returned by [`poll_timeout`](Host::poll_timeout),
    /// which has expired at `now`.
    fn handle_timeout(&mut self, now: Instant);
}

impl<H: Host + ?Sized> Host for Box<H> {
    fn handle_packet(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        (**self).handle_packet(now, iface, packet);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)> {
        (**self).poll_transmit(now, buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (**self).poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        (**self).handle_timeout(now);
    }
}
