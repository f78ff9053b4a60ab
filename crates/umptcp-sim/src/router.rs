//! A router: a host that forwards IP packets between its interfaces by a
//! static table of longest-prefix routes, so that several flows can share a
//! bottleneck link.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use umptcp_time::Instant;

use crate::{Error, Host, IfaceId};

/// Length of an IPv4 header without options.
const IPV4_MIN_HEADER: usize = 20;
/// Length of the IPv6 fixed header.
const IPV6_HEADER: usize = 40;

/// Where the fields the router reads and writes lie.
mod field {
    use core::ops::Range;

    /// IPv4: total length.
    pub(super) const V4_TOTAL_LEN: Range<usize> = 2..4;
    /// IPv4: time to live (the high byte of the word at 8..10).
    pub(super) const V4_TTL: usize = 8;
    /// IPv4: time to live and protocol, the 16-bit word the TTL is in.
    pub(super) const V4_TTL_PROTO: Range<usize> = 8..10;
    /// IPv4: header checksum.
    pub(super) const V4_CHECKSUM: Range<usize> = 10..12;
    /// IPv4: destination address.
    pub(super) const V4_DST: Range<usize> = 16..20;
    /// IPv6: payload length.
    pub(super) const V6_PAYLOAD_LEN: Range<usize> = 4..6;
    /// IPv6: hop limit.
    pub(super) const V6_HOP_LIMIT: usize = 7;
    /// IPv6: destination address.
    pub(super) const V6_DST: Range<usize> = 24..40;
}

/// One entry of a routing table: packets to an address in
/// `prefix/prefix_len` leave by `iface`.
///
/// The prefix is stored with its host bits cleared, so `10.1.2.3/16` and
/// `10.1.0.0/16` are the same route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    prefix: IpAddr,
    prefix_len: u8,
    iface: IfaceId,
}

impl Route {
    /// The route to `prefix/prefix_len` by `iface`. A prefix length of 0 is
    /// a default route (of the prefix's address family).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPrefixLen`] if `prefix_len` is above 32 for an IPv4
    /// prefix or above 128 for an IPv6 one.
    pub fn new(prefix: IpAddr, prefix_len: u8, iface: IfaceId) -> Result<Route, Error> {
        let prefix = match prefix {
            IpAddr::V4(a) if prefix_len <= 32 => {
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(prefix_len)))
            }
            IpAddr::V6(a) if prefix_len <= 128 => {
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(prefix_len)))
            }
            _ => {
                return Err(Error::InvalidPrefixLen {
                    prefix,
                    len: prefix_len,
                });
            }
        };
        Ok(Route {
            prefix,
            prefix_len,
            iface,
        })
    }

    /// Return the prefix, host bits cleared.
    pub fn prefix(&self) -> IpAddr {
        self.prefix
    }

    /// Return the prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Return the interface packets on this route leave by.
    pub fn iface(&self) -> IfaceId {
        self.iface
    }

    /// Return whether `addr` is in this route's prefix (never for an
    /// address of the other family).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.prefix, addr) {
            (IpAddr::V4(p), IpAddr::V4(a)) => {
                u32::from(a) & mask_v4(self.prefix_len) == u32::from(p)
            }
            (IpAddr::V6(p), IpAddr::V6(a)) => {
                u128::from(a) & mask_v6(self.prefix_len) == u128::from(p)
            }
            _ => false,
        }
    }
}

/// The network mask of an IPv4 prefix length (at most 32).
fn mask_v4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// The network mask of an IPv6 prefix length (at most 128).
fn mask_v6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// What a [`Router`] did with the packets it received.
///
/// Every packet received is forwarded, dropped for one reason, or (at most
/// one) still waiting for [`Host::poll_transmit`]:
/// `received = forwarded + dropped() + pending`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterStats {
    /// Packets handed to the router.
    pub received: u64,
    /// Packets sent on by the route of their destination.
    pub forwarded: u64,
    /// Packets whose destination matched no route.
    pub no_route: u64,
    /// Packets that are not a valid IPv4 or IPv6 packet: too short, a
    /// version other than 4 or 6, a length field larger than the packet or
    /// smaller than the header, or (IPv4) a wrong header checksum.
    pub malformed: u64,
    /// Packets received with a TTL (IPv4) or hop limit (IPv6) of 0 or 1.
    pub ttl_expired: u64,
    /// Packets longer than the buffer [`Host::poll_transmit`] offered (only
    /// when the router is driven outside a simulator, or by one whose
    /// `max_packet_size` is smaller than the packets of another).
    pub oversize: u64,
    /// Packets overwritten by the next one before
    /// [`Host::poll_transmit`] took them (only when the router is driven
    /// outside a simulator: the simulator polls after every packet).
    pub overrun: u64,
}

impl RouterStats {
    /// Return the packets dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.no_route + self.malformed + self.ttl_expired + self.oversize + self.overrun
    }
}

/// A host that forwards IPv4 and IPv6 packets between its interfaces by a
/// static routing table.
///
/// Each packet that arrives, on any interface, leaves by the interface of
/// the longest [`Route`] prefix that contains its destination address
/// (possibly the interface it came in on). The router has no address of its
/// own and no timer. It does, per packet:
///
/// 1. check the IP header (RFC 1812 §5.2.2 for IPv4, checksum included;
///    RFC 8200 §3 for IPv6) and drop a packet that fails (`malformed`).
///    Bytes past the IP total length (IPv4) or payload length (IPv6) are
///    trimmed off; IPv6 jumbograms (RFC 2675) are not supported;
/// 2. look up the destination and drop the packet if no route matches
///    (`no_route`);
/// 3. drop a packet whose TTL or hop limit would reach 0 (`ttl_expired`),
///    else decrement it and, for IPv4, update the header checksum
///    incrementally (RFC 1624).
///
/// Everything else is forwarded as it is: no fragmentation or reassembly
/// (a packet too large for the next link is dropped by that link's MTU),
/// IPv4 options and IPv6 extension headers untouched. The router sends no
/// ICMP or ICMPv6 message of any kind (no time exceeded, destination
/// unreachable or packet too big): each drop is only counted in
/// [`RouterStats`].
///
/// # Queueing
///
/// The router does not queue: it holds at most the one packet it just
/// received, in a buffer reused from packet to packet (no allocation per
/// packet once the buffer has grown to the largest packet), until the next
/// [`poll_transmit`](Host::poll_transmit), which the simulator calls right
/// after each [`handle_packet`](Host::handle_packet). Queueing, and drops
/// under load, happen in the drop-tail queue of the outgoing link, whose
/// [`LinkStats`](crate::LinkStats) count them.
///
/// # Example
///
/// Host A reaches host B through a router, each link 5 ms long:
///
/// ```
/// use core::time::Duration;
/// use std::net::Ipv6Addr;
///
/// use umptcp_sim::{Direction, Host, IfaceId, LinkConfig, Rate, Router, SimConfig, Simulator};
/// use umptcp_time::Instant;
///
/// /// Sends one empty IPv6 packet, if it has one.
/// struct Node { packet: Option<(Ipv6Addr, Ipv6Addr)> }
///
/// impl Host for Node {
///     fn handle_packet(&mut self, _now: Instant, _iface: IfaceId, _packet: &[u8]) {}
///     fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)> {
///         let (src, dst) = self.packet.take()?;
///         buf[..40].fill(0);
///         buf[0] = 0x60; // version 6; payload length 0
///         buf[6] = 59; // no next header
///         buf[7] = 64; // hop limit
///         buf[8..24].copy_from_slice(&src.octets());
///         buf[24..40].copy_from_slice(&dst.octets());
///         Some((IfaceId(0), 40))
///     }
///     fn poll_timeout(&self) -> Option<Instant> { None }
///     fn handle_timeout(&mut self, _now: Instant) {}
/// }
///
/// let (a_addr, b_addr): (Ipv6Addr, Ipv6Addr) = ("fd00:a::2".parse().unwrap(), "fd00:b::2".parse().unwrap());
/// let mut router = Router::new();
/// router
///     .route("fd00:a::".parse().unwrap(), 64, IfaceId(0))?
///     .route("fd00:b::".parse().unwrap(), 64, IfaceId(1))?;
///
/// let mut sim: Simulator<Box<dyn Host>> = Simulator::new(SimConfig::with_seed(1))?;
/// let a = sim.add_host(Box::new(Node { packet: Some((a_addr, b_addr)) }))?;
/// let r = sim.add_host(Box::new(router))?;
/// let b = sim.add_host(Box::new(Node { packet: None }))?;
/// let ia = sim.add_iface(a, &[a_addr.into()])?;
/// let r0 = sim.add_iface(r, &[])?;
/// let r1 = sim.add_iface(r, &[])?;
/// let ib = sim.add_iface(b, &[b_addr.into()])?;
/// let link = LinkConfig::new(Rate::Unlimited, Duration::from_millis(5));
/// sim.connect((a, ia), (r, r0), link.clone(), link.clone())?;
/// let r_to_b = sim.connect((r, r1), (b, ib), link.clone(), link)?;
///
/// assert!(sim.run_until_idle(Instant::from_millis(1_000)));
/// assert_eq!(sim.now(), Instant::from_millis(10));
/// assert_eq!(sim.link_stats(r_to_b, Direction::AToB)?.delivered_packets, 1);
/// # Ok::<(), umptcp_sim::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Router {
    /// The routing table, longest prefix first.
    routes: Vec<Route>,
    /// The packet waiting to leave, TTL already decremented.
    buf: Vec<u8>,
    /// The interface the packet in `buf` leaves by, if there is one.
    pending: Option<IfaceId>,
    stats: RouterStats,
}

/// Why a packet is not forwarded.
enum Refusal {
    Malformed,
    NoRoute,
    TtlExpired,
}

/// The header fields a forwarding decision needs.
struct Header {
    dst: IpAddr,
    /// The packet's length by its IP header (extra bytes are trimmed off).
    len: usize,
    /// TTL or hop limit.
    ttl: u8,
}

impl Router {
    /// A router with an empty routing table (it drops every packet until a
    /// route is added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the route to `prefix/prefix_len` by `iface`, replacing a route
    /// to the same prefix and length. Return `self` to chain calls.
    ///
    /// The interface is not checked: packets routed to an interface that
    /// does not exist or has no link are lost, and the simulator counts
    /// them in [`SimStats::unconnected_transmits`](crate::SimStats).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPrefixLen`] if `prefix_len` is above 32 for an IPv4
    /// prefix or above 128 for an IPv6 one.
    pub fn route(
        &mut self,
        prefix: IpAddr,
        prefix_len: u8,
        iface: IfaceId,
    ) -> Result<&mut Self, Error> {
        self.add_route(Route::new(prefix, prefix_len, iface)?);
        Ok(self)
    }

    /// Add `route`, replacing a route to the same prefix and length.
    /// Return `self` to chain calls.
    pub fn add_route(&mut self, route: Route) -> &mut Self {
        if let Some(same) = self
            .routes
            .iter_mut()
            .find(|r| r.prefix == route.prefix && r.prefix_len == route.prefix_len)
        {
            same.iface = route.iface;
        } else {
            // After every route at least as long: the table stays sorted by
            // decreasing length, so the first match is the longest.
            let at = self
                .routes
                .partition_point(|r| r.prefix_len >= route.prefix_len);
            self.routes.insert(at, route);
        }
        self
    }

    /// Return the routing table, longest prefix first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Return the interface a packet to `dst` leaves by: that of the
    /// longest prefix containing `dst`, or `None` if no route does.
    pub fn lookup(&self, dst: IpAddr) -> Option<IfaceId> {
        self.routes
            .iter()
            .find(|r| r.contains(dst))
            .map(|r| r.iface)
    }

    /// Return the counters.
    pub fn stats(&self) -> &RouterStats {
        &self.stats
    }

    /// Decide what to do with `packet`: the interface it leaves by, or why
    /// it does not. On success `buf` holds the packet ready to leave.
    fn forward(&mut self, packet: &[u8]) -> Result<IfaceId, Refusal> {
        let header = parse(packet).ok_or(Refusal::Malformed)?;
        let iface = self.lookup(header.dst).ok_or(Refusal::NoRoute)?;
        // RFC 1812 §5.3.1: "If the TTL is reduced to zero (or less), the
        // packet MUST be discarded". RFC 8200 §3: "the packet is discarded
        // if Hop Limit was zero when received or is decremented to zero."
        if header.ttl <= 1 {
            return Err(Refusal::TtlExpired);
        }
        self.buf.clear();
        self.buf.extend_from_slice(&packet[..header.len]);
        if header.dst.is_ipv4() {
            decrement_ttl_v4(&mut self.buf);
        } else {
            self.buf[field::V6_HOP_LIMIT] -= 1;
        }
        Ok(iface)
    }
}

impl Host for Router {
    fn handle_packet(&mut self, _now: Instant, _iface: IfaceId, packet: &[u8]) {
        self.stats.received += 1;
        if self.pending.take().is_some() {
            self.stats.overrun += 1;
        }
        match self.forward(packet) {
            Ok(iface) => self.pending = Some(iface),
            Err(Refusal::Malformed) => self.stats.malformed += 1,
            Err(Refusal::NoRoute) => self.stats.no_route += 1,
            Err(Refusal::TtlExpired) => self.stats.ttl_expired += 1,
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<(IfaceId, usize)> {
        let iface = self.pending.take()?;
        let len = self.buf.len();
        let Some(out) = buf.get_mut(..len) else {
            self.stats.oversize += 1;
            return None;
        };
        out.copy_from_slice(&self.buf);
        self.stats.forwarded += 1;
        Some((iface, len))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}

/// Check the IP header of `packet` and read what forwarding needs, or
/// `None` if it is not a valid IPv4 or IPv6 packet.
fn parse(packet: &[u8]) -> Option<Header> {
    match packet.first()? >> 4 {
        4 => parse_v4(packet),
        6 => parse_v6(packet),
        _ => None,
    }
}

/// Check an IPv4 header (version already checked).
fn parse_v4(packet: &[u8]) -> Option<Header> {
    // RFC 1812 §5.2.2: "(1) The packet length reported by the Link Layer
    // must be large enough to hold the minimum length legal IP datagram (20
    // bytes)."
    if packet.len() < IPV4_MIN_HEADER {
        return None;
    }
    // "(4) The IP header length field must be large enough to hold the
    // minimum length legal IP datagram (20 bytes = 5 words)."
    let header_len = usize::from(packet[0] & 0x0f) * 4;
    if header_len < IPV4_MIN_HEADER || header_len > packet.len() {
        return None;
    }
    // "(5) The IP total length field must be large enough to hold the IP
    // datagram header, whose length is specified in the IP header length
    // field." And no longer than what arrived.
    let total = usize::from(be16(&packet[field::V4_TOTAL_LEN]));
    if total < header_len || total > packet.len() {
        return None;
    }
    // "(2) The IP checksum must be correct."
    if ones_complement_sum(&packet[..header_len]) != 0xffff {
        return None;
    }
    let dst: [u8; 4] = packet[field::V4_DST].try_into().ok()?;
    Some(Header {
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        len: total,
        ttl: packet[field::V4_TTL],
    })
}

/// Check an IPv6 header (version already checked).
fn parse_v6(packet: &[u8]) -> Option<Header> {
    if packet.len() < IPV6_HEADER {
        return None;
    }
    let total = IPV6_HEADER + usize::from(be16(&packet[field::V6_PAYLOAD_LEN]));
    if total > packet.len() {
        return None;
    }
    let dst: [u8; 16] = packet[field::V6_DST].try_into().ok()?;
    Some(Header {
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
        len: total,
        ttl: packet[field::V6_HOP_LIMIT],
    })
}

/// Decrement the TTL (at least 2) of the valid IPv4 header at the start
/// of `packet` and update its checksum to match.
fn decrement_ttl_v4(packet: &mut [u8]) {
    let old = be16(&packet[field::V4_TTL_PROTO]);
    packet[field::V4_TTL] -= 1;
    let new = be16(&packet[field::V4_TTL_PROTO]);
    // RFC 1624 §3, eqn. 3: HC' = ~(~HC + ~m + m').
    let hc = be16(&packet[field::V4_CHECKSUM]);
    let sum = fold(u32::from(!hc) + u32::from(!old) + u32::from(new));
    packet[field::V4_CHECKSUM].copy_from_slice(&(!sum).to_be_bytes());
}

/// Read a big-endian `u16` from the two bytes of `b`.
fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Return the 16-bit ones' complement sum of `data`, an even number of
/// bytes (RFC 1071).
fn ones_complement_sum(data: &[u8]) -> u16 {
    // An IPv4 header is at most 30 words: no overflow of a u32.
    fold(data.chunks_exact(2).map(|w| u32::from(be16(w))).sum())
}

/// Fold the carries of a 32-bit sum back into 16 bits.
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_v4(0), 0);
        assert_eq!(mask_v4(8), 0xff00_0000);
        assert_eq!(mask_v4(32), u32::MAX);
        assert_eq!(mask_v6(0), 0);
        assert_eq!(mask_v6(1), 1 << 127);
        assert_eq!(mask_v6(128), u128::MAX);
    }

    #[test]
    fn incremental_checksum_equals_recomputed() {
        // Every TTL with a few protocols, so the checksum takes values on
        // both sides of the 0x0000 / 0xffff corner RFC 1624 §3 is about.
        for proto in [0u8, 6, 17, 0xff] {
            for ttl in 2..=255u8 {
                let mut h = [0u8; 20];
                h[0] = 0x45;
                h[2..4].copy_from_slice(&20u16.to_be_bytes());
                h[8] = ttl;
                h[9] = proto;
                let c = !ones_complement_sum(&h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                decrement_ttl_v4(&mut h);
                assert_eq!(h[8], ttl - 1);
                assert_eq!(ones_complement_sum(&h), 0xffff, "ttl {ttl} proto {proto}");
            }
        }
    }
}
