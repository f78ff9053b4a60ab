//! The seams the MPTCP layer uses: extra options on outgoing segments
//! (with room reserved for them), and what `handle_segment` reports about
//! each incoming segment (accepted, payload position, bytes acknowledged),
//! plus `read_seq` for mapping received bytes.

use std::net::SocketAddr;

use umptcp_tcp::{
    Connection, ExtraOptions, FourTuple, IsnKey, OptionSource, OutgoingSegment, State, TcpConfig,
};
use umptcp_time::Instant;
use umptcp_wire::mptcp::{Dss, DssMapping, DssSeq, MpPrio};
use umptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};
use umptcp_wire::{MptcpOption, TcpOption};

/// A stand-in for an MPTCP subflow: a DSS mapping on every data segment, a
/// data ACK on every other segment, and an MP_PRIO to signal once.
#[derive(Default)]
struct FakeSubflow {
    seen: Vec<OutgoingSegment>,
    prio: Vec<MptcpOption<'static>>,
    prio_sent: usize,
    option: Option<MptcpOption<'static>>,
}

impl OptionSource for FakeSubflow {
    fn reserve(&self) -> usize {
        // A DSS with 8-byte data ACK and 8-byte DSN, no checksum: 28 bytes.
        28
    }

    fn options(&mut self, segment: &OutgoingSegment) -> ExtraOptions<'_> {
        self.seen.push(*segment);
        let mapping = (segment.payload_len > 0).then(|| DssMapping {
            dsn: DssSeq::Long(1_000_000 + u64::from(segment.seq.get())),
            subflow_seq: segment.seq.get(),
            data_len: segment.payload_len as u16,
            checksum: None,
        });
        self.option = Some(MptcpOption::Dss(Dss {
            data_ack: Some(DssSeq::Long(7)),
            mapping,
            data_fin: false,
        }));
        ExtraOptions {
            mptcp: self.option,
            optional: &self.prio[self.prio_sent.min(self.prio.len())..],
        }
    }

    fn sent(&mut self, _segment: &OutgoingSegment, optional_sent: usize) {
        self.prio_sent += optional_sent;
    }
}

fn tuple() -> FourTuple {
    FourTuple {
        local: SocketAddr::from(([10, 0, 0, 1], 40000)),
        remote: SocketAddr::from(([10, 0, 0, 2], 80)),
    }
}

fn parse(bytes: &[u8]) -> Segment<'_> {
    Segment::parse(bytes, ChecksumCheck::Verify).unwrap()
}

fn mptcp_options(segment: &Segment<'_>) -> Vec<MptcpOption<'static>> {
    segment
        .options()
        .filter_map(|o| match o {
            Ok(TcpOption::Mptcp(MptcpOption::Dss(d))) => Some(MptcpOption::Dss(d)),
            Ok(TcpOption::Mptcp(MptcpOption::MpPrio(p))) => Some(MptcpOption::MpPrio(p)),
            _ => None,
        })
        .collect()
}

/// An established pair, client first.
fn established() -> (Connection, Connection) {
    established_with(false)
}

fn established_with(nagle: bool) -> (Connection, Connection) {
    let now = Instant::ZERO;
    let mut config = TcpConfig::default();
    config.nagle = nagle;
    let mut client =
        Connection::connect(config.clone(), tuple(), IsnKey::from_bytes([1; 32]), now).unwrap();
    let mut buf = [0u8; 2048];
    let n = client.poll_transmit(now, &mut buf).unwrap();
    let mut server =
        Connection::accept(config, &parse(&buf[..n]), IsnKey::from_bytes([2; 32]), now).unwrap();
    let n = server.poll_transmit(now, &mut buf).unwrap();
    client.handle_segment(now, &parse(&buf[..n]));
    let n = client.poll_transmit(now, &mut buf).unwrap();
    server.handle_segment(now, &parse(&buf[..n]));
    assert_eq!(server.state(), State::Established);
    (client, server)
}

#[test]
fn extra_options_ride_on_every_segment_with_room_reserved() {
    let (mut client, _server) = established();
    let mut source = FakeSubflow {
        prio: vec![MptcpOption::MpPrio(MpPrio {
            backup: true,
            addr_id: None,
        })],
        ..FakeSubflow::default()
    };
    let data = vec![0x42u8; 3000];
    assert_eq!(client.write(&data), 3000);
    let now = Instant::from_millis(1);
    let mut buf = [0u8; 2048];
    let mut segments = Vec::new();
    while let Some(n) = client.poll_transmit_with(now, &mut buf, &mut source) {
        segments.push(buf[..n].to_vec());
    }
    assert!(
        segments.len() >= 3,
        "3000 bytes with 28 reserved per segment"
    );
    let mss = client.mss();
    let mut covered = 0;
    for (i, bytes) in segments.iter().enumerate() {
        let seg = parse(bytes);
        assert!(
            seg.payload().len() <= mss - 28,
            "payload shrunk by the reserve"
        );
        let opts = mptcp_options(&seg);
        let Some(MptcpOption::Dss(dss)) = opts.first() else {
            panic!("segment {i} has no DSS: {opts:?}");
        };
        let mapping = dss.mapping.expect("a data segment has a mapping");
        assert_eq!(mapping.subflow_seq, seg.seq());
        assert_eq!(usize::from(mapping.data_len), seg.payload().len());
        covered += seg.payload().len();
        // MP_PRIO goes once, where room was left.
        let prio = opts
            .iter()
            .filter(|o| matches!(o, MptcpOption::MpPrio(_)))
            .count();
        assert_eq!(prio, usize::from(i == 0), "segment {i}");
    }
    assert_eq!(covered, 3000);
    assert_eq!(source.prio_sent, 1);
    assert_eq!(source.seen.len(), segments.len());
    assert!(
        source
            .seen
            .iter()
            .all(|s| !s.retransmission && s.payload_len > 0)
    );
}

#[test]
fn pure_acks_carry_the_option_without_reserve() {
    let (mut client, mut server) = established();
    let mut source = FakeSubflow::default();
    client.write(&[1; 100]);
    let now = Instant::from_millis(1);
    let mut buf = [0u8; 2048];
    let n = client.poll_transmit(now, &mut buf).unwrap();
    server.handle_segment(now, &parse(&buf[..n]));
    // The delayed ACK.
    let at = server.poll_timeout().unwrap();
    server.handle_timeout(at);
    let n = server
        .poll_transmit_with(at, &mut buf, &mut source)
        .unwrap();
    let ack = parse(&buf[..n]);
    assert!(ack.payload().is_empty());
    let opts = mptcp_options(&ack);
    assert!(
        matches!(
            opts.as_slice(),
            [MptcpOption::Dss(Dss {
                data_ack: Some(DssSeq::Long(7)),
                mapping: None,
                ..
            })]
        ),
        "{opts:?}"
    );
    assert_eq!(source.seen.len(), 1);
    assert_eq!(source.seen[0].payload_len, 0);
}

#[test]
fn received_reports_acceptance_payload_and_acknowledged_range() {
    let (mut client, mut server) = established();
    let now = Instant::from_millis(1);
    let mut buf = [0u8; 2048];
    client.write(&[7; 500]);
    let n = client.poll_transmit(now, &mut buf).unwrap();
    let data = buf[..n].to_vec();
    let seq = parse(&data).seq();
    let got = server.handle_segment(now, &parse(&data));
    assert!(got.accepted);
    assert_eq!(got.payload.map(|(s, len)| (s.get(), len)), Some((seq, 500)));
    assert_eq!(got.acked, None, "it acknowledged nothing new");
    assert_eq!(
        server.read_seq().get(),
        seq,
        "the next byte read is the first of it"
    );
    let mut out = [0u8; 200];
    assert_eq!(server.read(&mut out), 200);
    assert_eq!(server.read_seq().get(), seq.wrapping_add(200));

    // The same segment again lies wholly before RCV.NXT: not acceptable
    // (it is answered with an ACK), so its options must be ignored.
    let again = server.handle_segment(now, &parse(&data));
    assert!(!again.accepted);
    assert_eq!(again.payload, None);
    // A segment far outside the window is refused outright.
    let mut stray = SegmentBuilder::new(tuple().local, tuple().remote);
    stray.seq = seq.wrapping_add(1 << 30);
    stray.ack = parse(&data).ack();
    stray.flags = TcpFlags::ACK;
    stray.payload = b"zz";
    stray.timestamps = Some((u32::MAX / 2, 0));
    let mut sbuf = [0u8; 256];
    let len = stray.emit(&mut sbuf).unwrap().len;
    let refused = server.handle_segment(now, &parse(&sbuf[..len]));
    assert!(!refused.accepted);
    assert_eq!(refused.payload, None);

    // The server's ACK tells the client which bytes it covered.
    let at = server.poll_timeout().unwrap_or(now);
    server.handle_timeout(at);
    let n = server.poll_transmit(at, &mut buf).unwrap();
    let acked = client.handle_segment(at, &parse(&buf[..n]));
    assert!(acked.accepted);
    let (from, to) = acked.acked.expect("the ACK moved SND.UNA");
    assert_eq!((from.get(), to.get()), (seq, seq.wrapping_add(500)));
    assert_eq!(client.snd_una(), to);
}

#[test]
fn read_with_hands_over_data_in_place_and_takes_only_what_was_used() {
    let (mut client, mut server) = established();
    let now = Instant::from_millis(1);
    let mut buf = [0u8; 2048];
    let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    client.write(&data);
    let n = client.poll_transmit(now, &mut buf).unwrap();
    server.handle_segment(now, &parse(&buf[..n]));
    let start = server.read_seq();
    // Take 300 bytes of what is offered.
    let took = server.read_with(|head, tail| {
        assert_eq!(head.len() + tail.len(), 1000);
        assert_eq!(&head[..300], &data[..300]);
        300
    });
    assert_eq!(took, 300);
    assert_eq!(server.readable(), 700);
    assert_eq!(server.read_seq(), start + 300u32);
    // Claiming more than there is takes what there is.
    let took = server.read_with(|head, tail| {
        let mut got = head.to_vec();
        got.extend_from_slice(tail);
        assert_eq!(got, &data[300..]);
        usize::MAX
    });
    assert_eq!(took, 700);
    assert_eq!(server.readable(), 0);
}

/// A source that maps the stream in fixed chunks of `chunk` bytes.
struct Chunked {
    start: u32,
    chunk: u32,
}

impl OptionSource for Chunked {
    fn max_payload(&mut self, seq: umptcp_tcp::SubflowSeq) -> usize {
        let offset = seq.get().wrapping_sub(self.start);
        (self.chunk - offset % self.chunk) as usize
    }

    fn options(&mut self, _segment: &OutgoingSegment) -> ExtraOptions<'_> {
        ExtraOptions::default()
    }
}

/// No segment straddles two of the layer above's mappings, and a short
/// segment that ends a mapping is sent at once even with data in flight
/// (it is a boundary, not a silly-window sliver, nor a small write for
/// Nagle).
#[test]
fn segments_stop_at_mapping_boundaries() {
    for nagle in [false, true] {
        let (mut client, _server) = established_with(nagle);
        let chunk = client.mss() as u32 + 100;
        let mut source = Chunked {
            start: client.snd_una().get(),
            chunk,
        };
        assert_eq!(
            client.write(&vec![1u8; 4 * chunk as usize]),
            4 * chunk as usize
        );
        let now = Instant::from_millis(1);
        let mut buf = [0u8; 2048];
        let mut lens = Vec::new();
        while let Some(n) = client.poll_transmit_with(now, &mut buf, &mut source) {
            let seg = parse(&buf[..n]);
            let offset = seg.seq().wrapping_sub(source.start);
            let end = offset + seg.payload().len() as u32;
            assert_eq!(
                offset / chunk,
                (end - 1) / chunk,
                "segment [{offset}, {end}) crosses a boundary"
            );
            lens.push(seg.payload().len());
        }
        let mss = client.mss();
        let mut expected = vec![mss, 100, mss, 100, mss, 100, mss, 100];
        if nagle {
            // The true tail is small and nothing follows it: Nagle holds it
            // while data is unacknowledged, as for plain TCP.
            expected.pop();
        }
        assert_eq!(lens, expected, "nagle {nagle}");
    }
}

/// `request_ack` makes an idle connection send one pure ACK (for news the
/// layer above has, like a DATA_ACK), and `write_seq` says where the next
/// written byte lands.
#[test]
fn request_ack_sends_one_pure_ack_and_write_seq_tracks_writes() {
    let (mut client, _server) = established();
    let now = Instant::from_millis(1);
    let mut buf = [0u8; 2048];
    assert_eq!(client.poll_transmit(now, &mut buf), None, "idle");
    client.request_ack();
    let n = client
        .poll_transmit(now, &mut buf)
        .expect("the requested ACK");
    let ack = parse(&buf[..n]);
    assert!(ack.payload().is_empty());
    assert_eq!(ack.seq(), client.snd_una().get());
    assert_eq!(client.poll_transmit(now, &mut buf), None, "only one");
    let before = client.write_seq();
    assert_eq!(before, client.snd_una());
    client.write(&[1, 2, 3]);
    assert_eq!(client.write_seq(), before + 3u32);
}
