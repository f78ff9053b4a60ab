//! Packet surgery: rebuilding a segment with another MPTCP option (same
//! header, payload and other options), widening a 4-octet data-level
//! number, and recomputing a TCP checksum after bit flips.

use std::net::SocketAddr;

use umptcp_wire::TcpOption;
use umptcp_wire::mptcp::MptcpOption;
use umptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder};

/// `seg` with `main` in place of its main MPTCP option (the one that is not
/// ADD_ADDR, REMOVE_ADDR or MP_PRIO), every other field and option as it
/// was. `None` if the segment has options the builder cannot write again,
/// more than one main MPTCP option, or if the new one leaves no room for
/// every SACK block and signal it had: then it cannot keep its meaning.
pub fn rebuild(seg: &Segment<'_>, main: MptcpOption<'_>) -> Option<Vec<u8>> {
    let mut b = SegmentBuilder::new(
        SocketAddr::new(seg.src(), seg.src_port()),
        SocketAddr::new(seg.dst(), seg.dst_port()),
    );
    let mut sack = Vec::new();
    let mut optional: Vec<MptcpOption<'_>> = Vec::new();
    let mut mains = 0;
    for option in seg.options() {
        match option.ok()? {
            TcpOption::EndOfList | TcpOption::NoOperation => {}
            TcpOption::MaxSegmentSize(mss) => b.mss = Some(mss),
            TcpOption::WindowScale(ws) => b.window_scale = Some(ws),
            TcpOption::SackPermitted => b.sack_permitted = true,
            TcpOption::Timestamps { tsval, tsecr } => b.timestamps = Some((tsval, tsecr)),
            TcpOption::FastOpen(cookie) => b.fast_open = Some(cookie),
            TcpOption::SackBlocks(blocks) => sack.extend_from_slice(blocks.as_slice()),
            TcpOption::Mptcp(
                o @ (MptcpOption::AddAddr(_) | MptcpOption::RemoveAddr(_) | MptcpOption::MpPrio(_)),
            ) => optional.push(o),
            TcpOption::Mptcp(_) => mains += 1,
            TcpOption::Unknown { .. } => return None,
        }
    }
    if mains != 1 {
        return None;
    }
    b.seq = seg.seq();
    b.ack = seg.ack();
    b.flags = seg.flags();
    b.window = seg.window();
    b.hop_limit = seg.hop_limit();
    b.urgent = seg.urgent();
    b.payload = seg.payload();
    b.mptcp = Some(main);
    b.sack_blocks = &sack;
    b.mptcp_optional = &optional;
    let mut out = vec![0; b.buffer_len_max()];
    let emitted = b.emit(&mut out).ok()?;
    if emitted.sack_blocks_sent != sack.len() || emitted.optional_sent != optional.len() {
        return None;
    }
    out.truncate(emitted.len);
    Some(out)
}

/// The 64-bit value whose low 32 bits are `low`, closest to `near` (how a
/// receiver expands a 4-octet DSN or DATA_ACK, RFC 8684 §3.3).
pub fn widen(low: u32, near: u64) -> u64 {
    let candidate = (near & !0xffff_ffff) | u64::from(low);
    [
        candidate.wrapping_sub(1 << 32),
        candidate,
        candidate.wrapping_add(1 << 32),
    ]
    .into_iter()
    .min_by_key(|c| c.wrapping_sub(near).min(near.wrapping_sub(*c)))
    .unwrap_or(candidate)
}

/// Where the TCP header starts and ends in an IP packet, and the pseudo
/// header's sum; `None` if the IP header does not describe the packet.
fn tcp_span(packet: &[u8]) -> Option<(usize, usize, u32)> {
    let version = packet.first()? >> 4;
    let (start, end, mut sum) = match version {
        4 => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            if ihl < 20 {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
            let sum = words(packet.get(12..20)?);
            (ihl, total, sum)
        }
        6 => {
            let len = usize::from(u16::from_be_bytes([*packet.get(4)?, *packet.get(5)?]));
            (40, 40 + len, words(packet.get(8..40)?))
        }
        _ => return None,
    };
    if start + 20 > end || end > packet.len() {
        return None;
    }
    sum += 6 + (end - start) as u32;
    Some((start, end, sum))
}

fn words(bytes: &[u8]) -> u32 {
    bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum()
}

/// Recompute the TCP checksum of an IP packet after its TCP bytes changed
/// (an on-path attacker's edit passes the receiver's checksum). False if
/// the IP header does not describe a TCP segment.
pub fn fix_tcp_checksum(packet: &mut [u8]) -> bool {
    let Some((start, end, pseudo)) = tcp_span(packet) else {
        return false;
    };
    packet[start + 16] = 0;
    packet[start + 17] = 0;
    let mut sum = pseudo + words(&packet[start..end]);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let checksum = !(sum as u16);
    packet[start + 16..start + 18].copy_from_slice(&checksum.to_be_bytes());
    true
}

/// The TCP header of an IP packet: its offset in the packet, its length, and
/// the end of the segment.
pub fn tcp_layout(packet: &[u8]) -> Option<(usize, usize, usize)> {
    let (start, end, _) = tcp_span(packet)?;
    let header = usize::from(packet[start + 12] >> 4) * 4;
    Some((start, header.clamp(20, end - start), end))
}

/// A segment in a few words, for finding lines: flags, numbers, length and
/// MPTCP options.
pub fn describe(packet: &[u8]) -> String {
    let Ok(seg) = Segment::parse(packet, ChecksumCheck::Skip) else {
        return format!("{} unparsable bytes", packet.len());
    };
    let mut s = format!(
        "{}:{}->{}:{} {:?} seq={} ack={} len={}",
        seg.src(),
        seg.src_port(),
        seg.dst(),
        seg.dst_port(),
        seg.flags(),
        seg.seq(),
        seg.ack(),
        seg.payload().len()
    );
    for option in seg.options().flatten() {
        if let TcpOption::Mptcp(m) = option {
            s.push_str(&format!(" {m:?}"));
        }
    }
    s
}

/// A mutated packet in a few words, with the offsets of the TCP bytes that
/// differ from `original`.
pub fn describe_diff(original: &[u8], mutated: &[u8]) -> String {
    let start = tcp_layout(mutated).map_or(0, |(s, _, _)| s);
    let changed: Vec<String> = original
        .iter()
        .zip(mutated)
        .enumerate()
        .filter(|(i, (a, b))| a != b && !(start + 16..start + 18).contains(i))
        .map(|(i, (a, b))| format!("tcp[{}] {a:#04x}->{b:#04x}", i.wrapping_sub(start)))
        .collect();
    format!("{} ({})", describe(mutated), changed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use umptcp_wire::mptcp::{Dss, DssSeq};
    use umptcp_wire::segment::TcpFlags;

    fn packet(v6: bool) -> Vec<u8> {
        let (s, d) = if v6 {
            ("[fd00::1]:5000", "[fd00::2]:80")
        } else {
            ("10.0.0.1:5000", "10.0.0.2:80")
        };
        let mut b = SegmentBuilder::new(s.parse().unwrap(), d.parse().unwrap());
        b.seq = 7;
        b.ack = 9;
        b.flags = TcpFlags::ACK;
        b.timestamps = Some((1, 2));
        b.payload = b"hello";
        b.mptcp = Some(MptcpOption::Dss(Dss {
            data_ack: Some(DssSeq::Short(5)),
            mapping: None,
            data_fin: false,
        }));
        let mut out = vec![0; b.buffer_len_max()];
        let n = b.emit(&mut out).unwrap().len;
        out.truncate(n);
        out
    }

    #[test]
    fn a_flipped_bit_passes_again_after_fix() {
        for v6 in [false, true] {
            let mut p = packet(v6);
            let (start, _, _) = tcp_layout(&p).unwrap();
            p[start + 5] ^= 0x10;
            assert!(Segment::parse(&p, ChecksumCheck::Verify).is_err());
            assert!(fix_tcp_checksum(&mut p));
            let seg = Segment::parse(&p, ChecksumCheck::Verify).unwrap();
            assert_eq!(seg.seq(), 7 ^ 0x0010_0000);
        }
    }

    #[test]
    fn rebuild_keeps_the_rest() {
        let p = packet(false);
        let seg = Segment::parse(&p, ChecksumCheck::Verify).unwrap();
        let main = MptcpOption::Dss(Dss {
            data_ack: Some(DssSeq::Long(5)),
            mapping: None,
            data_fin: false,
        });
        let q = rebuild(&seg, main).unwrap();
        let again = Segment::parse(&q, ChecksumCheck::Verify).unwrap();
        assert_eq!(again.payload(), b"hello");
        assert_eq!((again.seq(), again.ack()), (7, 9));
        assert!(
            again
                .options()
                .flatten()
                .any(|o| o == TcpOption::Mptcp(main))
        );
    }

    #[test]
    fn widen_picks_the_nearest() {
        assert_eq!(widen(5, 0x1_0000_0000), 0x1_0000_0005);
        assert_eq!(widen(0xffff_fff0, 0x1_0000_0005), 0xffff_fff0);
        assert_eq!(widen(3, 0xffff_fff0), 0x1_0000_0003);
    }
}
