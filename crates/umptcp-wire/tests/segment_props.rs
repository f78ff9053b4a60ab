//! Properties of `Segment` and `SegmentBuilder`: whatever the builder
//! writes parses back with verified checksums and the same fields; the
//! option precedence holds; no byte string makes `Segment::parse` panic.

mod strategies;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;
use strategies::{fast_open_cookie, mptcp_optional, mptcp_required};
use umptcp_wire::Error;
use umptcp_wire::mptcp::{MpJoin, MptcpOption};
use umptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};
use umptcp_wire::tcp_option::{SackBlocks, TcpOption};

const OPTION_SPACE: usize = 40;

/// A payload to borrow prefixes of.
static PAYLOAD: [u8; 1500] = {
    let mut bytes = [0u8; 1500];
    let mut i = 0;
    while i < bytes.len() {
        bytes[i] = (i * 7 + 3) as u8;
        i += 1;
    }
    bytes
};

fn addresses() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        any::<([u8; 4], [u8; 4])>()
            .prop_map(|(s, d)| (Ipv4Addr::from(s).into(), Ipv4Addr::from(d).into())),
        any::<([u8; 16], [u8; 16])>()
            .prop_map(|(s, d)| (Ipv6Addr::from(s).into(), Ipv6Addr::from(d).into())),
    ]
}

fn option_or_not<T: std::fmt::Debug + Clone + 'static>(
    strategy: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    // Mostly absent, so that the mandatory options usually fit.
    prop_oneof![3 => Just(None), 1 => strategy.prop_map(Some)]
}

prop_compose! {
    fn builder()(
        (src, dst) in addresses(),
        ports in any::<(u16, u16)>(),
        seq in any::<u32>(),
        ack in any::<u32>(),
        flags in any::<u8>(),
        window in any::<u16>(),
        hop_limit in any::<u8>(),
        urgent in any::<u16>(),
        payload_len in 0..=PAYLOAD.len(),
        split in any::<prop::sample::Index>(),
        mss in option_or_not(any::<u16>()),
        window_scale in option_or_not(any::<u8>()),
        sack_permitted in any::<bool>(),
        timestamps in proptest::option::of(any::<(u32, u32)>()),
        fast_open in option_or_not(fast_open_cookie()),
        mptcp in proptest::option::of(mptcp_required()),
        sack_blocks in vec(any::<(u32, u32)>(), 0..6),
        mptcp_optional in vec(mptcp_optional(), 0..4),
    ) -> SegmentBuilder<'static> {
        SegmentBuilder {
            src,
            dst,
            src_port: ports.0,
            dst_port: ports.1,
            seq,
            ack,
            flags: TcpFlags::from_bits(flags),
            window,
            hop_limit,
            urgent,
            // A payload in two pieces, as from a ring buffer.
            payload: &PAYLOAD[..split.index(payload_len + 1)],
            payload_tail: &PAYLOAD[split.index(payload_len + 1)..payload_len],
            mss,
            window_scale,
            sack_permitted,
            timestamps,
            fast_open,
            mptcp,
            sack_blocks: sack_blocks.leak(),
            mptcp_optional: mptcp_optional.leak(),
        }
    }
}

/// The mandatory options of `b`, in the documented layout order.
fn mandatory(b: &SegmentBuilder<'static>) -> Vec<TcpOption<'static>> {
    let mut options = Vec::new();
    options.extend(b.mss.map(TcpOption::MaxSegmentSize));
    if b.sack_permitted {
        options.push(TcpOption::SackPermitted);
    }
    options.extend(
        b.timestamps
            .map(|(tsval, tsecr)| TcpOption::Timestamps { tsval, tsecr }),
    );
    options.extend(b.window_scale.map(TcpOption::WindowScale));
    options.extend(b.fast_open.map(TcpOption::FastOpen));
    options.extend(b.mptcp.map(TcpOption::Mptcp));
    options
}

fn total_len(options: &[TcpOption<'_>]) -> usize {
    options.iter().map(TcpOption::buffer_len).sum()
}

/// Call every accessor; none may panic after a successful parse.
fn touch_everything(segment: &Segment<'_>) {
    let _ = (
        segment.src(),
        segment.dst(),
        segment.hop_limit(),
        segment.ip_header_len(),
    );
    let _ = (
        segment.src_port(),
        segment.dst_port(),
        segment.seq(),
        segment.ack(),
    );
    let _ = (
        segment.flags(),
        segment.window(),
        segment.urgent(),
        segment.tcp_checksum(),
    );
    let _ = (
        segment.option_bytes(),
        segment.payload(),
        segment.seq_len(),
        segment.as_bytes(),
    );
    let _ = segment.tcp_header_len();
    for option in segment.options() {
        let _ = option;
    }
}

proptest! {
    #[test]
    fn emitted_segments_parse_back(b in builder()) {
        let mandatory = mandatory(&b);
        let mut buf = vec![0u8; b.buffer_len_max()];
        let emitted = match b.emit(&mut buf) {
            Err(Error::OptionsTooLong) => {
                prop_assert!(total_len(&mandatory) > OPTION_SPACE);
                return Ok(());
            }
            other => other.unwrap(),
        };
        prop_assert!(emitted.len <= b.buffer_len_max());
        let segment = Segment::parse(&buf[..emitted.len], ChecksumCheck::Verify).unwrap();
        prop_assert_eq!(segment.src(), b.src);
        prop_assert_eq!(segment.dst(), b.dst);
        prop_assert_eq!(segment.hop_limit(), b.hop_limit);
        prop_assert_eq!(segment.src_port(), b.src_port);
        prop_assert_eq!(segment.dst_port(), b.dst_port);
        prop_assert_eq!(segment.seq(), b.seq);
        prop_assert_eq!(segment.ack(), b.ack);
        prop_assert_eq!(segment.flags(), b.flags);
        prop_assert_eq!(segment.window(), b.window);
        prop_assert_eq!(segment.urgent(), b.urgent);
        prop_assert_eq!(segment.payload(), [b.payload, b.payload_tail].concat());
        prop_assert_eq!(segment.as_bytes().len(), emitted.len);

        // Exactly the options reported as sent, in the documented order.
        let mut expected = mandatory.clone();
        if emitted.sack_blocks_sent > 0 {
            let blocks = SackBlocks::new(&b.sack_blocks[..emitted.sack_blocks_sent]).unwrap();
            expected.push(TcpOption::SackBlocks(blocks));
        }
        expected.extend(b.mptcp_optional[..emitted.optional_sent].iter().copied().map(TcpOption::Mptcp));
        let parsed: Vec<_> = segment
            .options()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .into_iter()
            .filter(|o| *o != TcpOption::NoOperation)
            .collect();
        prop_assert_eq!(&parsed, &expected);

        // The precedence: the option area is as short as it can be, and
        // neither one more SACK block nor the next optional option would fit.
        let used = total_len(&expected);
        prop_assert!(used <= OPTION_SPACE);
        prop_assert_eq!(segment.option_bytes().len(), used.next_multiple_of(4));
        let wanted_blocks = b.sack_blocks.len().min(4);
        if emitted.sack_blocks_sent < wanted_blocks {
            let extra = if emitted.sack_blocks_sent == 0 { 10 } else { 8 };
            let before_optional = total_len(&mandatory) + if emitted.sack_blocks_sent > 0 {
                2 + 8 * emitted.sack_blocks_sent
            } else {
                0
            };
            prop_assert!(before_optional + extra > OPTION_SPACE);
        }
        if let Some(next) = b.mptcp_optional.get(emitted.optional_sent) {
            prop_assert!(used + next.buffer_len() > OPTION_SPACE);
        }
    }

    #[test]
    fn mandatory_overflow_is_options_too_long(
        mut b in builder(),
        cookie_half in 2usize..=8,
        join_ack in any::<[u8; 20]>(),
    ) {
        // Timestamps (10) + MP_JOIN third ACK (24) + a Fast Open cookie of
        // at least 4 bytes (6) = 40 or more, plus anything else mandatory.
        static COOKIE: [u8; 16] = [7; 16];
        b.timestamps = Some((1, 2));
        b.mptcp = Some(MptcpOption::MpJoin(MpJoin::Ack { hmac: join_ack }));
        b.fast_open = Some(&COOKIE[..cookie_half * 2]);
        if b.mss.is_none() && b.window_scale.is_none() && !b.sack_permitted && cookie_half == 2 {
            b.sack_permitted = true;
        }
        prop_assert!(total_len(&mandatory(&b)) > OPTION_SPACE);
        let mut buf = vec![0u8; 4000];
        prop_assert_eq!(b.emit(&mut buf), Err(Error::OptionsTooLong));
    }

    #[test]
    fn a_short_buffer_is_refused_and_not_overrun(b in builder(), cut in 1usize..100) {
        let mut buf = vec![0u8; b.buffer_len_max()];
        let Ok(emitted) = b.emit(&mut buf) else { return Ok(()) };
        let short = emitted.len.saturating_sub(cut);
        let mut buf = vec![0xeeu8; emitted.len + 8];
        prop_assert_eq!(b.emit(&mut buf[..short]), Err(Error::BufferTooSmall));
        prop_assert!(buf[short..].iter().all(|&x| x == 0xee));
    }

    #[test]
    fn any_bytes_never_panic(bytes in vec(any::<u8>(), 0..200), v6 in any::<bool>()) {
        let mut bytes = bytes;
        // Steer half the inputs past the version check.
        if let Some(first) = bytes.first_mut() {
            *first = (*first & 0x0f) | if v6 { 0x60 } else { 0x40 };
        }
        for check in [ChecksumCheck::Verify, ChecksumCheck::Skip] {
            if let Ok(segment) = Segment::parse(&bytes, check) {
                touch_everything(&segment);
            }
        }
    }

    #[test]
    fn damaged_segments_never_panic(
        b in builder(),
        damage in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = vec![0u8; b.buffer_len_max()];
        let Ok(emitted) = b.emit(&mut buf) else { return Ok(()) };
        let packet = &mut buf[..emitted.len];
        for (at, byte) in damage {
            packet[at.index(emitted.len)] = byte;
        }
        let len = cut.index(emitted.len + 1);
        for check in [ChecksumCheck::Verify, ChecksumCheck::Skip] {
            if let Ok(segment) = Segment::parse(&packet[..len], check) {
                touch_everything(&segment);
            }
        }
    }
}
