//! Known-bytes tests of [`Segment`] and [`SegmentBuilder`].
//!
//! The fixtures are packets Linux 6.x wrote on the loopback for an MPTCP
//! connection (`socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)`), captured
//! with an `AF_PACKET` socket. Loopback leaves the TCP checksum partial, so
//! it was recomputed (with Python, independently of smoltcp) and patched in;
//! every other byte is as the kernel sent it.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::*;
use crate::error::Error;
use crate::mptcp::MptcpOption;
use crate::tcp_option::{SackBlocks, TcpOption};

/// IPv4 SYN 127.0.0.1:45556 → 127.0.0.1:46553: MSS 65495, SACK-permitted,
/// timestamps, NOP, window scale 10, MP_CAPABLE v1 SYN with flag H.
const LINUX_SYN_V4: &str = "45000040854d40004006b7687f0000017f000001b1f4b5d93b9455fb00000000\
                            b002ffd73eab00000204ffd70402080a74577495000000000103030a1e040101";

/// IPv4 first data segment of the same connection: NOP, NOP, timestamps,
/// MP_CAPABLE with both keys and data-level length 5, NOP, NOP, "hello".
const LINUX_DATA_V4: &str = "45000051854f40004006b7557f0000017f000001b1f4b5d93b9455fc3b25d3e6\
                             e018004060e000000101080a745774961ced71e41e160101470411a2adef6e15\
                             40eb0b1a08260a850005010168656c6c6f";

/// IPv6 SYN [::1]:37008 → [::1]:42863, same options as `LINUX_SYN_V4`.
const LINUX_SYN_V6: &str = "60047bcc002c064000000000000000000000000000000001000000000000000000\
                            000000000000019090a76f33e0408f00000000b002ffc4359700000204ffc40402\
                            080a56a2e673000000000103030a1e040101";

const MP_CAPABLE_SYN: [u8; 4] = [0x1e, 0x04, 0x01, 0x01];

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(core::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn options_of<'a>(segment: &Segment<'a>) -> Vec<TcpOption<'a>> {
    segment.options().collect::<crate::Result<_>>().unwrap()
}

fn linux_syn_options(mss: u16, tsval: u32) -> Vec<TcpOption<'static>> {
    vec![
        TcpOption::MaxSegmentSize(mss),
        TcpOption::SackPermitted,
        TcpOption::Timestamps { tsval, tsecr: 0 },
        TcpOption::NoOperation,
        TcpOption::WindowScale(10),
        TcpOption::Mptcp(MptcpOption::parse(&MP_CAPABLE_SYN).unwrap()),
    ]
}

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
}

fn v6(last: u16, port: u16) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)),
        port,
    )
}

#[test]
fn parse_linux_syn_v4() {
    let packet = hex(LINUX_SYN_V4);
    let segment = Segment::parse(&packet, ChecksumCheck::Verify).unwrap();
    assert_eq!(segment.src(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(segment.dst(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(segment.hop_limit(), 64);
    assert_eq!(segment.ip_header_len(), 20);
    assert_eq!(segment.src_port(), 45556);
    assert_eq!(segment.dst_port(), 46553);
    assert_eq!(segment.seq(), 0x3b94_55fb);
    assert_eq!(segment.ack(), 0);
    assert_eq!(segment.flags(), TcpFlags::SYN);
    assert_eq!(segment.window(), 0xffd7);
    assert_eq!(segment.urgent(), 0);
    assert_eq!(segment.tcp_header_len(), 44);
    assert_eq!(segment.option_bytes().len(), 24);
    assert_eq!(options_of(&segment), linux_syn_options(65495, 0x7457_7495));
    assert_eq!(segment.payload(), b"");
    assert_eq!(segment.seq_len(), 1);
    assert_eq!(segment.as_bytes(), &packet[..]);
}

#[test]
fn parse_linux_mp_capable_with_data() {
    let packet = hex(LINUX_DATA_V4);
    let segment = Segment::parse(&packet, ChecksumCheck::Verify).unwrap();
    assert_eq!(segment.flags(), TcpFlags::ACK | TcpFlags::PSH);
    assert_eq!(segment.payload(), b"hello");
    assert_eq!(segment.seq_len(), 5);
    let options = options_of(&segment);
    assert_eq!(options.len(), 6);
    assert_eq!(
        options[2],
        TcpOption::Timestamps {
            tsval: 0x7457_7496,
            tsecr: 0x1ced_71e4
        }
    );
    let mp_capable = &segment.option_bytes()[12..34];
    assert_eq!(
        options[3],
        TcpOption::Mptcp(MptcpOption::parse(mp_capable).unwrap())
    );
    assert!(matches!(
        options[3],
        TcpOption::Mptcp(MptcpOption::MpCapable(_))
    ));
}

#[test]
fn parse_linux_syn_v6() {
    let packet = hex(LINUX_SYN_V6);
    let segment = Segment::parse(&packet, ChecksumCheck::Verify).unwrap();
    assert_eq!(segment.src(), IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(segment.dst(), IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(segment.hop_limit(), 64);
    assert_eq!(segment.ip_header_len(), 40);
    assert_eq!((segment.src_port(), segment.dst_port()), (37008, 42863));
    assert_eq!(segment.flags(), TcpFlags::SYN);
    assert_eq!(options_of(&segment), linux_syn_options(65476, 0x56a2_e673));
}

#[test]
fn builder_writes_the_linux_syn() {
    for (fixture, src, dst, mss, tsval) in [
        (
            LINUX_SYN_V4,
            v4(127, 0, 0, 1, 45556),
            v4(127, 0, 0, 1, 46553),
            65495,
            0x7457_7495,
        ),
        (
            LINUX_SYN_V6,
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 37008),
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 42863),
            65476,
            0x56a2_e673,
        ),
    ] {
        let linux = hex(fixture);
        let parsed = Segment::parse(&linux, ChecksumCheck::Verify).unwrap();
        let mut syn = SegmentBuilder::new(src, dst);
        syn.seq = parsed.seq();
        syn.flags = TcpFlags::SYN;
        syn.window = parsed.window();
        syn.mss = Some(mss);
        syn.sack_permitted = true;
        syn.timestamps = Some((tsval, 0));
        syn.window_scale = Some(10);
        syn.mptcp = Some(MptcpOption::parse(&MP_CAPABLE_SYN).unwrap());
        let mut buf = [0xee; 128];
        let emitted = syn.emit(&mut buf).unwrap();
        assert_eq!(
            emitted,
            Emitted {
                len: linux.len(),
                sack_blocks_sent: 0,
                optional_sent: 0
            }
        );
        // The TCP segment is byte for byte the kernel's, checksum included;
        // the IP header differs only in identification / flow label.
        let ip_len = parsed.ip_header_len();
        assert_eq!(buf[ip_len..emitted.len], linux[ip_len..]);
        assert_eq!(buf[emitted.len..], [0xee; 128][emitted.len..]);
        let ours = Segment::parse(&buf[..emitted.len], ChecksumCheck::Verify).unwrap();
        assert_eq!((ours.src(), ours.dst()), (parsed.src(), parsed.dst()));
        assert_eq!(ours.hop_limit(), 64);
    }
}

#[test]
fn bad_checksums_are_rejected_only_with_verify() {
    let mut packet = hex(LINUX_DATA_V4);
    // Corrupt one payload byte: the TCP checksum no longer matches.
    *packet.last_mut().unwrap() ^= 0x20;
    assert_eq!(
        Segment::parse(&packet, ChecksumCheck::Verify),
        Err(Error::Checksum)
    );
    let segment = Segment::parse(&packet, ChecksumCheck::Skip).unwrap();
    assert_eq!(segment.payload(), b"hellO");

    // Corrupt the TTL: the IPv4 header checksum no longer matches.
    let mut packet = hex(LINUX_SYN_V4);
    packet[8] = 63;
    assert_eq!(
        Segment::parse(&packet, ChecksumCheck::Verify),
        Err(Error::Checksum)
    );
    assert_eq!(
        Segment::parse(&packet, ChecksumCheck::Skip).map(|s| s.hop_limit()),
        Ok(63)
    );

    // IPv6 has no header checksum, but the TCP one covers the addresses.
    let mut packet = hex(LINUX_SYN_V6);
    packet[39] = 2;
    assert_eq!(
        Segment::parse(&packet, ChecksumCheck::Verify),
        Err(Error::Checksum)
    );
    assert!(Segment::parse(&packet, ChecksumCheck::Skip).is_ok());
}

#[test]
fn every_truncation_is_an_error() {
    for fixture in [LINUX_SYN_V4, LINUX_DATA_V4, LINUX_SYN_V6] {
        let packet = hex(fixture);
        for len in 0..packet.len() {
            assert_eq!(
                Segment::parse(&packet[..len], ChecksumCheck::Skip),
                Err(Error::Truncated),
                "{fixture} cut at {len}"
            );
        }
    }
}

#[test]
fn trailing_bytes_after_the_ip_length_are_ignored() {
    for fixture in [LINUX_DATA_V4, LINUX_SYN_V6] {
        let exact = hex(fixture);
        let mut padded = exact.clone();
        padded.extend_from_slice(&[0; 6]);
        let segment = Segment::parse(&padded, ChecksumCheck::Verify).unwrap();
        assert_eq!(segment.as_bytes(), &exact[..]);
        assert_eq!(
            segment.payload(),
            Segment::parse(&exact, ChecksumCheck::Verify)
                .unwrap()
                .payload()
        );
    }
}

#[test]
fn fragments_are_rejected() {
    let packet = hex(LINUX_DATA_V4);
    // More Fragments.
    let mut first = packet.clone();
    first[6] |= 0x20;
    assert_eq!(
        Segment::parse(&first, ChecksumCheck::Skip),
        Err(Error::Fragmented)
    );
    // A later fragment: nonzero offset, MF clear.
    let mut later = packet.clone();
    later[7] = 0x10;
    assert_eq!(
        Segment::parse(&later, ChecksumCheck::Skip),
        Err(Error::Fragmented)
    );
    // IPv6 Fragment header as the next header.
    let mut v6 = hex(LINUX_SYN_V6);
    v6[6] = 44;
    assert_eq!(
        Segment::parse(&v6, ChecksumCheck::Skip),
        Err(Error::Fragmented)
    );
}

#[test]
fn non_tcp_and_bad_versions_are_rejected() {
    let mut udp = hex(LINUX_SYN_V4);
    udp[9] = 17;
    assert_eq!(
        Segment::parse(&udp, ChecksumCheck::Skip),
        Err(Error::NotTcp(17))
    );
    // IPv6 extension headers are not walked: Hop-by-Hop is "not TCP".
    let mut hop_by_hop = hex(LINUX_SYN_V6);
    hop_by_hop[6] = 0;
    assert_eq!(
        Segment::parse(&hop_by_hop, ChecksumCheck::Skip),
        Err(Error::NotTcp(0))
    );
    let mut v5 = hex(LINUX_SYN_V4);
    v5[0] = 0x55;
    assert_eq!(
        Segment::parse(&v5, ChecksumCheck::Skip),
        Err(Error::IpVersion(5))
    );
    assert_eq!(
        Segment::parse(&[0x00], ChecksumCheck::Skip),
        Err(Error::IpVersion(0))
    );
}

#[test]
fn bad_header_lengths() {
    let packet = hex(LINUX_SYN_V4);
    let mut ihl = packet.clone();
    ihl[0] = 0x44;
    assert_eq!(
        Segment::parse(&ihl, ChecksumCheck::Skip),
        Err(Error::BadLength {
            what: "IPv4 header",
            len: 16
        })
    );
    let mut total = packet.clone();
    total[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(
        Segment::parse(&total, ChecksumCheck::Skip),
        Err(Error::BadLength {
            what: "IPv4 total length",
            len: 19
        })
    );
    // An IP packet too short for the TCP header.
    let mut short = packet.clone();
    short[2..4].copy_from_slice(&39u16.to_be_bytes());
    assert_eq!(
        Segment::parse(&short, ChecksumCheck::Skip),
        Err(Error::Truncated)
    );
    let mut offset = packet.clone();
    offset[32] = 0x40;
    assert_eq!(
        Segment::parse(&offset, ChecksumCheck::Skip),
        Err(Error::BadLength {
            what: "TCP data offset",
            len: 16
        })
    );
    let mut past_end = packet.clone();
    past_end[32] = 0xc0;
    assert_eq!(
        Segment::parse(&past_end, ChecksumCheck::Skip),
        Err(Error::Truncated)
    );
}

fn data_builder<'a>() -> SegmentBuilder<'a> {
    let mut segment = SegmentBuilder::new(v4(192, 0, 2, 1, 40000), v4(198, 51, 100, 7, 443));
    segment.flags = TcpFlags::ACK;
    segment.seq = 1;
    segment.ack = 2;
    segment.window = 512;
    segment
}

#[test]
fn precedence_sack_then_optional_prefix() {
    // DSS with a 4-byte Data ACK: 8 bytes; MP_PRIO: 3 bytes.
    let dss = MptcpOption::parse(&[30, 8, 0x20, 0x01, 0, 0, 0, 9]).unwrap();
    let prio = MptcpOption::parse(&[30, 3, 0x51]).unwrap();
    let blocks = [(10, 20), (30, 40), (50, 60), (70, 80)];
    let optional = [prio, prio];
    let mut segment = data_builder();
    segment.timestamps = Some((7, 8));
    segment.mptcp = Some(dss);
    segment.sack_blocks = &blocks;
    segment.mptcp_optional = &optional;
    let mut buf = [0; 128];
    let emitted = segment.emit(&mut buf).unwrap();
    // 10 (TS) + 8 (DSS) leave 22: two SACK blocks (18), then one MP_PRIO (3),
    // and the second MP_PRIO does not fit in the last byte.
    assert_eq!(emitted.sack_blocks_sent, 2);
    assert_eq!(emitted.optional_sent, 1);
    assert_eq!(emitted.len, 20 + 20 + 40);
    let parsed = Segment::parse(&buf[..emitted.len], ChecksumCheck::Verify).unwrap();
    assert_eq!(
        options_of(&parsed),
        [
            TcpOption::Timestamps { tsval: 7, tsecr: 8 },
            TcpOption::Mptcp(dss),
            TcpOption::SackBlocks(SackBlocks::new(&blocks[..2]).unwrap()),
            // The one padding NOP makes MP_PRIO end on the 4-byte boundary.
            TcpOption::NoOperation,
            TcpOption::Mptcp(prio),
        ]
    );
}

#[test]
fn optional_options_stop_at_the_first_that_does_not_fit() {
    // ADD_ADDR IPv4 with HMAC: 16 bytes; MP_PRIO: 3 bytes.
    let add_addr =
        MptcpOption::parse(&[30, 16, 0x30, 1, 192, 0, 2, 9, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let prio = MptcpOption::parse(&[30, 3, 0x50]).unwrap();
    let optional = [prio, add_addr, prio];
    let mut segment = data_builder();
    segment.timestamps = Some((1, 2));
    // DSS with Data ACK and a checksummed mapping: 20 bytes.
    segment.mptcp = Some(
        MptcpOption::parse(&[
            30, 20, 0x20, 0x05, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 4, 1, 1,
        ])
        .unwrap(),
    );
    segment.mptcp_optional = &optional;
    let mut buf = [0; 128];
    let emitted = segment.emit(&mut buf).unwrap();
    // 10 + 20 + 3 = 33: ADD_ADDR (16) does not fit, so neither does the
    // MP_PRIO behind it, though it would.
    assert_eq!(emitted.optional_sent, 1);
}

#[test]
fn mandatory_overflow_is_options_too_long() {
    let cookie = [0xab; 16];
    let mut syn = data_builder();
    syn.flags = TcpFlags::SYN;
    syn.mss = Some(1460); // 4
    syn.sack_permitted = true; // 2
    syn.timestamps = Some((1, 0)); // 10
    syn.window_scale = Some(7); // 3
    syn.fast_open = Some(&cookie); // 18: 37 so far
    let mut buf = [0; 128];
    assert!(syn.emit(&mut buf).is_ok());
    syn.mptcp = Some(MptcpOption::parse(&MP_CAPABLE_SYN).unwrap()); // 41
    assert_eq!(syn.emit(&mut buf), Err(Error::OptionsTooLong));
}

#[test]
fn exactly_forty_bytes_of_options() {
    // TS (10) + 3 SACK blocks (26) = 36, + REMOVE_ADDR with one ID (4) = 40.
    let remove = MptcpOption::parse(&[30, 4, 0x40, 3]).unwrap();
    let blocks = [(1, 2), (3, 4), (5, 6)];
    let optional = [remove];
    let mut segment = data_builder();
    segment.timestamps = Some((1, 2));
    segment.sack_blocks = &blocks;
    segment.mptcp_optional = &optional;
    let mut buf = [0; 100];
    let emitted = segment.emit(&mut buf).unwrap();
    assert_eq!((emitted.sack_blocks_sent, emitted.optional_sent), (3, 1));
    assert_eq!(emitted.len, 80);
    let parsed = Segment::parse(&buf[..80], ChecksumCheck::Verify).unwrap();
    assert_eq!(parsed.tcp_header_len(), 60);
}

#[test]
fn layout_pads_with_nops_to_align() {
    let mut segment = data_builder();
    segment.timestamps = Some((0x0102_0304, 0x0506_0708));
    let mut buf = [0; 64];
    let emitted = segment.emit(&mut buf).unwrap();
    let parsed = Segment::parse(&buf[..emitted.len], ChecksumCheck::Verify).unwrap();
    assert_eq!(parsed.option_bytes(), [1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8]);
    let blocks = [(0x0a0b_0c0d, 0x0e0f_1011)];
    segment.timestamps = None;
    segment.sack_blocks = &blocks;
    let emitted = segment.emit(&mut buf).unwrap();
    let parsed = Segment::parse(&buf[..emitted.len], ChecksumCheck::Verify).unwrap();
    assert_eq!(
        parsed.option_bytes(),
        [1, 1, 5, 10, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11]
    );
}

#[test]
fn buffer_too_small_writes_nothing_past_the_buffer() {
    let payload = [0x55; 100];
    let mut segment = data_builder();
    segment.payload = &payload;
    segment.timestamps = Some((1, 2));
    let needed = 20 + 20 + 12 + 100;
    assert!(segment.buffer_len_max() >= needed);
    let mut buf = [0xee; 200];
    for len in 0..needed {
        assert_eq!(
            segment.emit(&mut buf[..len]),
            Err(Error::BufferTooSmall),
            "buffer of {len}"
        );
        assert!(buf[len..].iter().all(|&b| b == 0xee));
    }
    assert_eq!(segment.emit(&mut buf[..needed]).map(|e| e.len), Ok(needed));
}

#[test]
fn mixed_address_families_are_refused() {
    let mut segment = SegmentBuilder::new(v4(192, 0, 2, 1, 1), v6(1, 2));
    let mut buf = [0; 128];
    assert!(matches!(segment.emit(&mut buf), Err(Error::Malformed(_))));
    segment.src = v6(2, 1).ip();
    let emitted = segment.emit(&mut buf).unwrap();
    assert_eq!(emitted.len, 60);
}

#[test]
fn payload_too_long_for_the_ip_length_field() {
    let payload = vec![0; 65_536];
    let mut segment = data_builder();
    segment.payload = &payload;
    let mut buf = vec![0; 70_000];
    assert!(matches!(
        segment.emit(&mut buf),
        Err(Error::BadLength {
            what: "IP packet",
            ..
        })
    ));
    // IPv6 counts only the payload: 20 + 65 515 bytes still fit.
    let mut segment = SegmentBuilder::new(v6(1, 1), v6(2, 2));
    segment.payload = &payload[..65_515];
    let emitted = segment.emit(&mut buf).unwrap();
    assert_eq!(emitted.len, 40 + 65_535);
    let parsed = Segment::parse(&buf[..emitted.len], ChecksumCheck::Verify).unwrap();
    assert_eq!(parsed.payload().len(), 65_515);
}

#[test]
fn flags_debug_and_ops() {
    let syn_ack = TcpFlags::SYN | TcpFlags::ACK;
    assert_eq!(format!("{syn_ack:?}"), "SYN|ACK");
    assert_eq!(format!("{:?}", TcpFlags::empty()), "(empty)");
    assert!(syn_ack.contains(TcpFlags::SYN));
    assert!(!syn_ack.contains(TcpFlags::SYN | TcpFlags::FIN));
    assert!(syn_ack.intersects(TcpFlags::SYN | TcpFlags::FIN));
    assert_eq!(syn_ack & !TcpFlags::SYN, TcpFlags::ACK);
    assert_eq!(syn_ack.bits(), 0x12);
}
