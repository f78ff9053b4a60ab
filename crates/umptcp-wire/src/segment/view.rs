//! [`Segment`]: the validated view of an IP packet carrying TCP.

use core::net::IpAddr;

use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket};

use super::{ChecksumCheck, TcpFlags};
use crate::error::{Error, Result};
use crate::tcp_option::TcpOptions;

/// Fixed lengths, in bytes.
const IPV4_MIN_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;
const TCP_MIN_HEADER_LEN: usize = 20;
/// IPv6 next-header value of the Fragment extension header (RFC 8200 §4.5).
const IPV6_FRAGMENT_HEADER: u8 = 44;

/// A validated, zero-copy view of an IPv4 or IPv6 packet carrying a TCP
/// segment.
///
/// Made by [`Segment::parse`]; after it succeeds, no accessor panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The IP packet, cut to the IP total length.
    packet: &'a [u8],
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    ip_header_len: usize,
    /// Invariant: at least `TCP_MIN_HEADER_LEN` and `tcp_header_len` long.
    tcp: &'a [u8],
    /// Invariant: a multiple of 4 from 20 to 60, at most `tcp.len()`.
    tcp_header_len: usize,
}

impl<'a> Segment<'a> {
    /// Validate `packet` as an IPv4 or IPv6 packet carrying TCP.
    ///
    /// The first nibble selects the IP version. Bytes after the IP total
    /// length are ignored.
    ///
    /// # Errors
    ///
    /// * [`Error::Truncated`] if the buffer ends before the IP header, the IP
    ///   total length, the TCP header or its data offset;
    /// * [`Error::IpVersion`] if the version nibble is neither 4 nor 6;
    /// * [`Error::BadLength`] for an IPv4 header length below 20, an IPv4
    ///   total length below the header length, or a TCP data offset below 5;
    /// * [`Error::Checksum`] with [`ChecksumCheck::Verify`] if the IPv4
    ///   header or TCP checksum is wrong;
    /// * [`Error::Fragmented`] for an IPv4 fragment (MF set or nonzero
    ///   offset) or an IPv6 packet whose next header is a Fragment header;
    /// * [`Error::NotTcp`] with the protocol (IPv4) or first next header
    ///   (IPv6) when it is not TCP; IPv6 extension headers are not walked.
    pub fn parse(packet: &'a [u8], verify: ChecksumCheck) -> Result<Segment<'a>> {
        let &first = packet.first().ok_or(Error::Truncated)?;
        match first >> 4 {
            4 => Self::parse_ipv4(packet, verify),
            6 => Self::parse_ipv6(packet, verify),
            version => Err(Error::IpVersion(version)),
        }
    }

    fn parse_ipv4(packet: &'a [u8], verify: ChecksumCheck) -> Result<Segment<'a>> {
        if packet.len() < IPV4_MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let ip = Ipv4Packet::new_unchecked(packet);
        let header_len = usize::from(ip.header_len());
        let total_len = usize::from(ip.total_len());
        // RFC 791 §3.1: "the minimum value for a correct header is 5" (IHL).
        if header_len < IPV4_MIN_HEADER_LEN {
            return Err(Error::BadLength {
                what: "IPv4 header",
                len: header_len,
            });
        }
        if total_len < header_len {
            return Err(Error::BadLength {
                what: "IPv4 total length",
                len: total_len,
            });
        }
        if packet.len() < total_len {
            return Err(Error::Truncated);
        }
        let packet = &packet[..total_len];
        // The checks above are those of `check_len`; keep smoltcp's word too.
        let ip = Ipv4Packet::new_checked(packet).map_err(|_| Error::Truncated)?;
        if verify == ChecksumCheck::Verify && !ip.verify_checksum() {
            return Err(Error::Checksum);
        }
        if ip.more_frags() || ip.frag_offset() != 0 {
            return Err(Error::Fragmented);
        }
        if ip.next_header() != IpProtocol::Tcp {
            return Err(Error::NotTcp(u8::from(ip.next_header())));
        }
        Self::parse_tcp(
            packet,
            IpAddr::V4(ip.src_addr()),
            IpAddr::V4(ip.dst_addr()),
            ip.hop_limit(),
            header_len,
            verify,
        )
    }

    fn parse_ipv6(packet: &'a [u8], verify: ChecksumCheck) -> Result<Segment<'a>> {
        if packet.len() < IPV6_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let ip = Ipv6Packet::new_unchecked(packet);
        let total_len = ip.total_len();
        if packet.len() < total_len {
            return Err(Error::Truncated);
        }
        let packet = &packet[..total_len];
        let ip = Ipv6Packet::new_checked(packet).map_err(|_| Error::Truncated)?;
        match u8::from(ip.next_header()) {
            IPV6_FRAGMENT_HEADER => return Err(Error::Fragmented),
            next if next != u8::from(IpProtocol::Tcp) => return Err(Error::NotTcp(next)),
            _ => {}
        }
        Self::parse_tcp(
            packet,
            IpAddr::V6(ip.src_addr()),
            IpAddr::V6(ip.dst_addr()),
            ip.hop_limit(),
            IPV6_HEADER_LEN,
            verify,
        )
    }

    fn parse_tcp(
        packet: &'a [u8],
        src: IpAddr,
        dst: IpAddr,
        hop_limit: u8,
        ip_header_len: usize,
        verify: ChecksumCheck,
    ) -> Result<Segment<'a>> {
        let tcp = packet.get(ip_header_len..).ok_or(Error::Truncated)?;
        if tcp.len() < TCP_MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let view = TcpPacket::new_unchecked(tcp);
        let tcp_header_len = usize::from(view.header_len());
        // RFC 9293 §3.1: the data offset counts 32-bit words, at least 5.
        if tcp_header_len < TCP_MIN_HEADER_LEN {
            return Err(Error::BadLength {
                what: "TCP data offset",
                len: tcp_header_len,
            });
        }
        if tcp_header_len > tcp.len() {
            return Err(Error::Truncated);
        }
        let view = TcpPacket::new_checked(tcp).map_err(|_| Error::Truncated)?;
        if verify == ChecksumCheck::Verify
            && !view.verify_checksum(&IpAddress::from(src), &IpAddress::from(dst))
        {
            return Err(Error::Checksum);
        }
        Ok(Segment {
            packet,
            src,
            dst,
            hop_limit,
            ip_header_len,
            tcp,
            tcp_header_len,
        })
    }

    fn tcp_view(&self) -> TcpPacket<&'a [u8]> {
        // Checked in `parse_tcp`; the slice never changes.
        TcpPacket::new_unchecked(self.tcp)
    }

    /// Return the IP packet, without any bytes past its total length.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.packet
    }

    /// Return the IP source address.
    pub fn src(&self) -> IpAddr {
        self.src
    }

    /// Return the IP destination address.
    pub fn dst(&self) -> IpAddr {
        self.dst
    }

    /// Return the IPv4 TTL or IPv6 hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.hop_limit
    }

    /// Return the IP header length in bytes (20 to 60 for IPv4, 40 for IPv6).
    pub fn ip_header_len(&self) -> usize {
        self.ip_header_len
    }

    /// Return the TCP source port.
    pub fn src_port(&self) -> u16 {
        self.tcp_view().src_port()
    }

    /// Return the TCP destination port.
    pub fn dst_port(&self) -> u16 {
        self.tcp_view().dst_port()
    }

    /// Return the sequence number.
    pub fn seq(&self) -> u32 {
        self.tcp_view().seq_number().0 as u32
    }

    /// Return the acknowledgment number (meaningful only with ACK set).
    pub fn ack(&self) -> u32 {
        self.tcp_view().ack_number().0 as u32
    }

    /// Return the eight control bits.
    pub fn flags(&self) -> TcpFlags {
        // Byte 13 of the TCP header: CWR ECE URG ACK PSH RST SYN FIN.
        TcpFlags::from_bits(self.tcp[13])
    }

    /// Return the receive window, unscaled, as on the wire.
    pub fn window(&self) -> u16 {
        self.tcp_view().window_len()
    }

    /// Return the urgent pointer.
    pub fn urgent(&self) -> u16 {
        self.tcp_view().urgent_at()
    }

    /// Return the TCP checksum field as on the wire.
    pub fn tcp_checksum(&self) -> u16 {
        self.tcp_view().checksum()
    }

    /// Return the TCP header length in bytes (20 to 60).
    pub fn tcp_header_len(&self) -> usize {
        self.tcp_header_len
    }

    /// Return the raw option bytes (between the urgent pointer and the data).
    pub fn option_bytes(&self) -> &'a [u8] {
        &self.tcp[TCP_MIN_HEADER_LEN..self.tcp_header_len]
    }

    /// Iterate over the TCP options; see [`TcpOptions`] for its errors.
    pub fn options(&self) -> TcpOptions<'a> {
        TcpOptions::new(self.option_bytes())
    }

    /// Return the TCP payload.
    pub fn payload(&self) -> &'a [u8] {
        &self.tcp[self.tcp_header_len..]
    }

    /// Return the sequence space the segment occupies: payload plus one for
    /// SYN and one for FIN.
    pub fn seq_len(&self) -> usize {
        let flags = self.flags();
        self.payload().len()
            + usize::from(flags.contains(TcpFlags::SYN))
            + usize::from(flags.contains(TcpFlags::FIN))
    }
}
