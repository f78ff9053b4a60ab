//! [`SegmentBuilder`]: writes an IP packet carrying one TCP segment.

use core::net::{IpAddr, SocketAddr};

use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket, TcpSeqNumber};

use super::TcpFlags;
use crate::error::{Error, Result};
use crate::mptcp::MptcpOption;
use crate::tcp_option::{MAX_SACK_BLOCKS, SackBlocks, TcpOption, kind};

/// The TCP option space: a data offset of 15 words minus the fixed header.
const OPTION_SPACE: usize = 40;
const TCP_HEADER_LEN: usize = 20;
const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;

/// Everything needed to write one TCP segment in an IPv4 or IPv6 packet.
///
/// A plain struct: set the fields, then call [`SegmentBuilder::emit`].
/// [`SegmentBuilder::new`] gives a bare segment with no flags and no options.
///
/// # Option precedence
///
/// The options share the 40-byte TCP option space. `emit` fills it in
/// three tiers:
///
/// 1. **Mandatory**, always sent, or the whole emit fails with
///    [`Error::OptionsTooLong`]: `mss`, `window_scale`, `sack_permitted`,
///    `fast_open`, the required `mptcp` option, and `timestamps` (RFC 7323
///    §3.2: once negotiated, "the TSopt MUST be sent in every non-\<RST\>
///    segment"). The builder does not check that SYN-only options go on a
///    SYN; that is the caller's decision.
/// 2. **SACK blocks**: the first `n` of `sack_blocks` (at most 4), with `n`
///    as large as fits in what the mandatory options left. RFC 2018 §4 has
///    the first block report the most recent data, so order them that way.
/// 3. **Optional MPTCP signalling** (`mptcp_optional`, e.g. ADD_ADDR,
///    REMOVE_ADDR, MP_PRIO): each whole or not at all, in order, stopping
///    at the first one that does not fit, so what went out is always a
///    prefix of the slice.
///
/// [`Emitted`] says how many SACK blocks and optional options went out, so
/// the caller can send the rest on a later segment.
///
/// # Layout
///
/// The options are written in the order MSS, SACK-permitted, timestamps,
/// window scale, Fast Open, `mptcp`, SACK, `mptcp_optional`, with no padding
/// between them beyond the NOPs needed to round the total up to a multiple
/// of 4; those NOPs go in front of the first options that they make end on
/// a 4-byte boundary, the rest at the end. The option area is therefore as
/// short as it can be, and a Linux-style SYN comes out as Linux writes it:
/// `MSS, SACK-permitted, TS, NOP, WS`.
///
/// # IP header
///
/// IPv4: no IP options, DSCP/ECN 0, identification 0 and DF set (an atomic
/// datagram, RFC 6864 §4.1), the header checksum filled. IPv6: traffic class
/// and flow label 0, no extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentBuilder<'a> {
    /// IP source address (same family as `dst`).
    pub src: IpAddr,
    /// IP destination address (same family as `src`).
    pub dst: IpAddr,
    /// TCP source port.
    pub src_port: u16,
    /// TCP destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (written as given, whatever the ACK flag).
    pub ack: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// Receive window, already scaled down.
    pub window: u16,
    /// IPv4 TTL or IPv6 hop limit.
    pub hop_limit: u8,
    /// Urgent pointer.
    pub urgent: u16,
    /// The TCP payload.
    pub payload: &'a [u8],
    /// More payload, sent right after `payload`: a sender whose data sits
    /// in a ring buffer hands over both pieces instead of copying them
    /// together first.
    pub payload_tail: &'a [u8],
    /// Maximum Segment Size option (mandatory tier).
    pub mss: Option<u16>,
    /// Window Scale option (mandatory tier).
    pub window_scale: Option<u8>,
    /// SACK-Permitted option (mandatory tier).
    pub sack_permitted: bool,
    /// Timestamps option as `(tsval, tsecr)` (mandatory tier).
    pub timestamps: Option<(u32, u32)>,
    /// TCP Fast Open cookie; empty for a cookie request (mandatory tier).
    pub fast_open: Option<&'a [u8]>,
    /// The MPTCP option this segment needs (MP_CAPABLE, MP_JOIN, DSS,
    /// MP_FAIL, MP_FASTCLOSE, MP_TCPRST) (mandatory tier).
    pub mptcp: Option<MptcpOption<'a>>,
    /// SACK blocks, most recent first; as many as fit are sent.
    pub sack_blocks: &'a [(u32, u32)],
    /// MPTCP signalling sent only where there is room (ADD_ADDR,
    /// REMOVE_ADDR, MP_PRIO); a prefix of them is sent.
    pub mptcp_optional: &'a [MptcpOption<'a>],
}

/// What [`SegmentBuilder::emit`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub struct Emitted {
    /// The length of the IP packet written at the front of the buffer.
    pub len: usize,
    /// How many of `sack_blocks` went out (the first ones).
    pub sack_blocks_sent: usize,
    /// How many of `mptcp_optional` went out (the first ones, in order).
    pub optional_sent: usize,
}

/// Which options go out: the result of applying the precedence.
struct Plan {
    /// Sum of the options' lengths, before padding.
    raw_len: usize,
    sack_blocks: usize,
    optional: usize,
}

impl<'a> SegmentBuilder<'a> {
    /// Make a bare segment from `src` to `dst`: no flags, no options, no
    /// payload, sequence and acknowledgment numbers and window 0, hop limit 64.
    pub fn new(src: SocketAddr, dst: SocketAddr) -> Self {
        SegmentBuilder {
            src: src.ip(),
            dst: dst.ip(),
            src_port: src.port(),
            dst_port: dst.port(),
            seq: 0,
            ack: 0,
            flags: TcpFlags::empty(),
            window: 0,
            hop_limit: 64,
            urgent: 0,
            payload: &[],
            payload_tail: &[],
            mss: None,
            window_scale: None,
            sack_permitted: false,
            timestamps: None,
            fast_open: None,
            mptcp: None,
            sack_blocks: &[],
            mptcp_optional: &[],
        }
    }

    /// Return an upper bound on the bytes [`SegmentBuilder::emit`] writes:
    /// the IP header, a TCP header with a full option space, and the payload.
    pub fn buffer_len_max(&self) -> usize {
        let ip_header_len = if self.src.is_ipv6() || self.dst.is_ipv6() {
            IPV6_HEADER_LEN
        } else {
            IPV4_HEADER_LEN
        };
        ip_header_len + TCP_HEADER_LEN + OPTION_SPACE + self.payload.len() + self.payload_tail.len()
    }

    /// Write the IP packet at the front of `buffer`, with both checksums
    /// filled, and report what went out.
    ///
    /// # Errors
    ///
    /// * [`Error::Malformed`] if `src` and `dst` are of different families;
    /// * [`Error::OptionsTooLong`] if the mandatory options alone exceed
    ///   40 bytes;
    /// * [`Error::BadLength`] if the packet would not fit the IP length
    ///   field, or an option value is invalid (e.g. a Fast Open cookie of
    ///   odd length);
    /// * [`Error::BufferTooSmall`] if `buffer` is shorter than the packet;
    ///   nothing is written past `buffer`, whatever the error;
    /// * whatever [`MptcpOption::emit`] returns for an MPTCP option.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<Emitted> {
        let ip_header_len = match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => IPV4_HEADER_LEN,
            (IpAddr::V6(_), IpAddr::V6(_)) => IPV6_HEADER_LEN,
            _ => return Err(Error::Malformed("IP address families differ")),
        };
        let plan = self.plan()?;
        let option_len = plan.raw_len.next_multiple_of(4);
        let tcp_len = TCP_HEADER_LEN + option_len + self.payload.len() + self.payload_tail.len();
        let total_len = ip_header_len + tcp_len;
        // IPv4 counts the whole packet in its 16-bit length, IPv6 the payload.
        let length_field = if ip_header_len == IPV4_HEADER_LEN {
            total_len
        } else {
            tcp_len
        };
        let length_field = u16::try_from(length_field).map_err(|_| Error::BadLength {
            what: "IP packet",
            len: total_len,
        })?;
        let packet = buffer.get_mut(..total_len).ok_or(Error::BufferTooSmall)?;
        let (ip_header, tcp) = packet.split_at_mut(ip_header_len);

        // The TCP segment first: a failing option emit leaves no half-made
        // IP header behind that could look valid.
        tcp[..TCP_HEADER_LEN].fill(0);
        let (header, rest) = tcp.split_at_mut(TCP_HEADER_LEN);
        let (options, payload) = rest.split_at_mut(option_len);
        self.write_options(&plan, options)?;
        let (head, tail) = payload.split_at_mut(self.payload.len());
        head.copy_from_slice(self.payload);
        tail.copy_from_slice(self.payload_tail);
        // Byte 12: data offset in 32-bit words, then reserved bits (zero).
        header[12] = (((TCP_HEADER_LEN + option_len) / 4) as u8) << 4;
        header[13] = self.flags.bits();
        let mut tcp = TcpPacket::new_unchecked(tcp);
        tcp.set_src_port(self.src_port);
        tcp.set_dst_port(self.dst_port);
        tcp.set_seq_number(TcpSeqNumber(self.seq as i32));
        tcp.set_ack_number(TcpSeqNumber(self.ack as i32));
        tcp.set_window_len(self.window);
        tcp.set_urgent_at(self.urgent);
        tcp.fill_checksum(&IpAddress::from(self.src), &IpAddress::from(self.dst));

        ip_header.fill(0);
        match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let mut ip = Ipv4Packet::new_unchecked(ip_header);
                ip.set_version(4);
                ip.set_header_len(IPV4_HEADER_LEN as u8);
                ip.set_total_len(length_field);
                ip.set_dont_frag(true);
                ip.set_hop_limit(self.hop_limit);
                ip.set_next_header(IpProtocol::Tcp);
                ip.set_src_addr(src);
                ip.set_dst_addr(dst);
                ip.fill_checksum();
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let mut ip = Ipv6Packet::new_unchecked(ip_header);
                ip.set_version(6);
                ip.set_payload_len(length_field);
                ip.set_next_header(IpProtocol::Tcp);
                ip.set_hop_limit(self.hop_limit);
                ip.set_src_addr(src);
                ip.set_dst_addr(dst);
            }
            _ => return Err(Error::Malformed("IP address families differ")),
        }
        Ok(Emitted {
            len: total_len,
            sack_blocks_sent: plan.sack_blocks,
            optional_sent: plan.optional,
        })
    }

    /// Apply the precedence of the type's docs to the option space.
    fn plan(&self) -> Result<Plan> {
        let mut raw_len = 0;
        self.for_each_mandatory(|option| {
            raw_len += option.buffer_len();
            Ok(())
        })?;
        if raw_len > OPTION_SPACE {
            return Err(Error::OptionsTooLong);
        }
        // Tier 2: each SACK block costs 8 bytes, plus 2 for kind and length.
        let mut sack_blocks = 0;
        let wanted = self.sack_blocks.len().min(MAX_SACK_BLOCKS);
        if wanted > 0 && OPTION_SPACE - raw_len >= 2 + 8 {
            sack_blocks = wanted.min((OPTION_SPACE - raw_len - 2) / 8);
            raw_len += 2 + 8 * sack_blocks;
        }
        // Tier 3: a prefix of the optional MPTCP options, each whole.
        let mut optional = 0;
        for option in self.mptcp_optional {
            let len = option.buffer_len();
            if len > OPTION_SPACE - raw_len {
                break;
            }
            raw_len += len;
            optional += 1;
        }
        Ok(Plan {
            raw_len,
            sack_blocks,
            optional,
        })
    }

    /// Call `f` on each mandatory option, in layout order.
    fn for_each_mandatory(&self, mut f: impl FnMut(TcpOption<'a>) -> Result<()>) -> Result<()> {
        if let Some(mss) = self.mss {
            f(TcpOption::MaxSegmentSize(mss))?;
        }
        if self.sack_permitted {
            f(TcpOption::SackPermitted)?;
        }
        if let Some((tsval, tsecr)) = self.timestamps {
            f(TcpOption::Timestamps { tsval, tsecr })?;
        }
        if let Some(shift) = self.window_scale {
            f(TcpOption::WindowScale(shift))?;
        }
        if let Some(cookie) = self.fast_open {
            f(TcpOption::FastOpen(cookie))?;
        }
        if let Some(option) = self.mptcp {
            f(TcpOption::Mptcp(option))?;
        }
        Ok(())
    }

    /// Write the planned options into `area`, exactly `plan.raw_len`
    /// rounded up to 4 bytes long.
    fn write_options(&self, plan: &Plan, area: &mut [u8]) -> Result<()> {
        let mut writer = OptionWriter {
            free_padding: area.len() - plan.raw_len,
            area,
            pos: 0,
        };
        self.for_each_mandatory(|option| writer.put(option))?;
        if plan.sack_blocks > 0 {
            let blocks = SackBlocks::new(&self.sack_blocks[..plan.sack_blocks])?;
            writer.put(TcpOption::SackBlocks(blocks))?;
        }
        for option in &self.mptcp_optional[..plan.optional] {
            writer.put(TcpOption::Mptcp(*option))?;
        }
        writer.finish()
    }
}

/// Lays options out back to back, spending the padding NOPs (there are
/// fewer than four) to make options end on a 4-byte boundary.
struct OptionWriter<'b> {
    area: &'b mut [u8],
    pos: usize,
    free_padding: usize,
}

impl OptionWriter<'_> {
    fn put(&mut self, option: TcpOption<'_>) -> Result<()> {
        let len = option.buffer_len();
        let misalignment = (4 - (self.pos + len) % 4) % 4;
        if misalignment <= self.free_padding {
            self.nops(misalignment)?;
            self.free_padding -= misalignment;
        }
        let out = self.area.get_mut(self.pos..).ok_or(Error::BufferTooSmall)?;
        let written = option.emit(out)?;
        if written != len {
            return Err(Error::Malformed(
                "option emit length differs from buffer_len",
            ));
        }
        self.pos += written;
        Ok(())
    }

    fn nops(&mut self, count: usize) -> Result<()> {
        let end = self.pos + count;
        self.area
            .get_mut(self.pos..end)
            .ok_or(Error::BufferTooSmall)?
            .fill(kind::NO_OPERATION);
        self.pos = end;
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.nops(self.free_padding)?;
        if self.pos != self.area.len() {
            return Err(Error::Malformed("option layout length"));
        }
        Ok(())
    }
}
