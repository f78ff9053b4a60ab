//! SACK generation (RFC 2018), segment by segment: with out-of-order data
//! held, every ACK carries SACK blocks, the block holding the segment that
//! triggered it first; none once the holes are filled, none when SACK was
//! not negotiated.

use std::net::SocketAddr;

use umptcp_tcp::{Connection, FourTuple, IsnKey, TcpConfig};
use umptcp_time::Instant;
use umptcp_wire::TcpOption;
use umptcp_wire::segment::{ChecksumCheck, Segment};

fn parse(bytes: &[u8]) -> Segment<'_> {
    Segment::parse(bytes, ChecksumCheck::Verify).unwrap()
}

fn blocks(segment: &Segment<'_>) -> Vec<(u32, u32)> {
    segment
        .options()
        .find_map(|o| match o {
            Ok(TcpOption::SackBlocks(b)) => Some(b.as_slice().to_vec()),
            _ => None,
        })
        .unwrap_or_default()
}

/// An established pair with SACK as asked on each side, and five segments
/// the client has sent (not yet delivered).
fn five_segments(client_sack: bool, server_sack: bool) -> (Connection, Vec<Vec<u8>>) {
    let (_, server, segments) = five_segments_both(client_sack, server_sack);
    (server, segments)
}

fn five_segments_both(
    client_sack: bool,
    server_sack: bool,
) -> (Connection, Connection, Vec<Vec<u8>>) {
    let now = Instant::ZERO;
    let tuple = FourTuple {
        local: SocketAddr::from(([10, 0, 0, 1], 40000)),
        remote: SocketAddr::from(([10, 0, 0, 2], 80)),
    };
    let config = |sack| {
        let mut c = TcpConfig::default();
        c.sack = sack;
        c.nagle = false;
        c
    };
    let mut client =
        Connection::connect(config(client_sack), tuple, IsnKey::from_bytes([1; 32]), now).unwrap();
    let mut buf = [0u8; 2048];
    let n = client.poll_transmit(now, &mut buf).unwrap();
    let mut server = Connection::accept(
        config(server_sack),
        &parse(&buf[..n]),
        IsnKey::from_bytes([2; 32]),
        now,
    )
    .unwrap();
    let n = server.poll_transmit(now, &mut buf).unwrap();
    client.handle_segment(now, &parse(&buf[..n]));
    let n = client.poll_transmit(now, &mut buf).unwrap();
    server.handle_segment(now, &parse(&buf[..n]));
    assert_eq!(server.sack_permitted(), client_sack && server_sack);
    client.write(&vec![7u8; 5 * client.mss()]);
    let mut segments = Vec::new();
    while let Some(n) = client.poll_transmit(now, &mut buf) {
        segments.push(buf[..n].to_vec());
    }
    assert_eq!(segments.len(), 5);
    (client, server, segments)
}

/// Deliver segment `i`; return the ACK the server sends at once.
fn deliver(server: &mut Connection, segments: &[Vec<u8>], i: usize) -> Vec<u8> {
    let now = Instant::from_millis(1);
    server.handle_segment(now, &parse(&segments[i]));
    let mut buf = [0u8; 2048];
    let n = server
        .poll_transmit(now, &mut buf)
        .expect("an immediate ACK");
    buf[..n].to_vec()
}

fn range(segments: &[Vec<u8>], first: usize, last: usize) -> (u32, u32) {
    let a = parse(&segments[first]);
    let b = parse(&segments[last]);
    (a.seq(), b.seq().wrapping_add(b.payload().len() as u32))
}

#[test]
fn out_of_order_data_is_sacked_most_recent_first() {
    let (mut server, segs) = five_segments(true, true);
    let hole = parse(&segs[0]).seq();

    let ack = deliver(&mut server, &segs, 1);
    assert_eq!(parse(&ack).ack(), hole, "a duplicate ACK");
    assert_eq!(blocks(&parse(&ack)), vec![range(&segs, 1, 1)]);

    let ack = deliver(&mut server, &segs, 2);
    assert_eq!(
        blocks(&parse(&ack)),
        vec![range(&segs, 1, 2)],
        "adjacent ranges merge"
    );

    let ack = deliver(&mut server, &segs, 4);
    assert_eq!(
        blocks(&parse(&ack)),
        vec![range(&segs, 4, 4), range(&segs, 1, 2)],
        "the block of the segment that triggered the ACK comes first"
    );

    // The hole at the front fills: the ACK moves, one block is left.
    let ack = deliver(&mut server, &segs, 0);
    assert_eq!(parse(&ack).ack(), range(&segs, 0, 2).1);
    assert_eq!(blocks(&parse(&ack)), vec![range(&segs, 4, 4)]);

    // Everything in: no blocks.
    let ack = deliver(&mut server, &segs, 3);
    assert_eq!(parse(&ack).ack(), range(&segs, 0, 4).1);
    assert!(blocks(&parse(&ack)).is_empty());
}

#[test]
fn separate_ranges_are_separate_blocks() {
    let (mut server, segs) = five_segments(true, true);
    // Holes at 0 and 2: blocks {1} and {3}, the newest first.
    deliver(&mut server, &segs, 1);
    let ack = deliver(&mut server, &segs, 3);
    assert_eq!(
        blocks(&parse(&ack)),
        vec![range(&segs, 3, 3), range(&segs, 1, 1)]
    );
    // {4} extends {3}; that block is still the newest.
    let ack = deliver(&mut server, &segs, 4);
    assert_eq!(
        blocks(&parse(&ack)),
        vec![range(&segs, 3, 4), range(&segs, 1, 1)]
    );
}

#[test]
fn no_blocks_without_negotiation() {
    for (client, server_side) in [(false, true), (true, false)] {
        let (mut server, segs) = five_segments(client, server_side);
        let ack = deliver(&mut server, &segs, 2);
        assert!(blocks(&parse(&ack)).is_empty());
    }
}

/// The sender uses the blocks (RFC 6675): three segments SACKed above a
/// hole start recovery, and the retransmissions fill exactly the holes
/// (segments 0 and 3), never what the peer has, as fast as the pipe allows.
#[test]
fn the_sender_retransmits_exactly_the_holes() {
    let (mut client, mut server, segs) = five_segments_both(true, true);
    let mss = parse(&segs[0]).payload().len() as u64;
    let now = Instant::from_millis(2);
    let mut acks = Vec::new();
    for i in [1, 2, 4] {
        acks.push(deliver(&mut server, &segs, i));
    }
    let mut buf = [0u8; 2048];
    for ack in &acks {
        client.handle_segment(now, &parse(ack));
    }
    // What a controller answers to FastRetransmit: about half the flight.
    client.set_congestion_window(2 * mss);
    let first = client
        .poll_transmit(now, &mut buf)
        .expect("a retransmission");
    let first = buf[..first].to_vec();
    assert_eq!(parse(&first).seq(), parse(&segs[0]).seq(), "the first hole");
    assert_eq!(parse(&first).payload().len() as u64, mss);
    // pipe = segment 3 (not yet deemed lost: one SACKed segment above it)
    // + the retransmission = 2 MSS = cwnd.
    assert_eq!(
        client.poll_transmit(now, &mut buf),
        None,
        "the pipe is full"
    );
    // The same duplicate ACK again frees nothing (RFC 6675 counts bytes in
    // the pipe, not duplicate ACKs).
    client.handle_segment(now, &parse(&acks[2]));
    assert_eq!(client.poll_transmit(now, &mut buf), None);
    // The retransmission arrives: the partial ACK takes it out of the pipe
    // and the next hole, segment 3, goes, not 1, 2 or 4.
    let partial = {
        server.handle_segment(now, &parse(&first));
        let n = server.poll_transmit(now, &mut buf).expect("an ACK");
        buf[..n].to_vec()
    };
    assert_eq!(parse(&partial).ack(), parse(&segs[3]).seq());
    client.handle_segment(now, &parse(&partial));
    let second = client.poll_transmit(now, &mut buf).expect("the next hole");
    let second = parse(&buf[..second]);
    assert_eq!(second.seq(), parse(&segs[3]).seq());
    assert_eq!(second.payload().len() as u64, mss);
    assert_eq!(
        client.poll_transmit(now, &mut buf),
        None,
        "no hole left to fill"
    );
    assert_eq!(client.retransmissions(), 2);
}

/// With a window that allows it, RFC 6675 NextSeg sends the hole not yet
/// deemed lost (rule 3) at once, then the rescue retransmission is not
/// needed: nothing unSACKed is left above HighRxt.
#[test]
fn the_pipe_lets_the_window_send_every_hole() {
    let (mut client, mut server, segs) = five_segments_both(true, true);
    let mss = parse(&segs[0]).payload().len() as u64;
    let now = Instant::from_millis(2);
    let mut buf = [0u8; 2048];
    for i in [1, 2, 4] {
        let ack = deliver(&mut server, &segs, i);
        client.handle_segment(now, &parse(&ack));
    }
    client.set_congestion_window(3 * mss);
    let mut sent = Vec::new();
    while let Some(n) = client.poll_transmit(now, &mut buf) {
        sent.push(parse(&buf[..n]).seq());
    }
    assert_eq!(sent, vec![parse(&segs[0]).seq(), parse(&segs[3]).seq()]);
}

/// RFC 6675 NextSeg rule 4: when the tail is lost, nothing is SACKed above
/// it, so it is never "lost"; once the holes below are retransmitted, one
/// rescue retransmission of the highest unSACKed segment goes, only once.
#[test]
fn the_lost_tail_gets_one_rescue_retransmission() {
    let (mut client, mut server, segs) = five_segments_both(true, true);
    let mss = parse(&segs[0]).payload().len() as u64;
    let now = Instant::from_millis(2);
    let mut buf = [0u8; 2048];
    // Segments 0 and 4 lost; 1, 2, 3 arrive.
    for i in [1, 2, 3] {
        let ack = deliver(&mut server, &segs, i);
        client.handle_segment(now, &parse(&ack));
    }
    client.set_congestion_window(3 * mss);
    let mut sent = Vec::new();
    while let Some(n) = client.poll_transmit(now, &mut buf) {
        sent.push(parse(&buf[..n]).seq());
    }
    assert_eq!(sent, vec![parse(&segs[0]).seq(), parse(&segs[4]).seq()]);
    // More duplicate ACKs never bring a second rescue.
    let dup = deliver(&mut server, &segs, 3);
    client.handle_segment(now, &parse(&dup));
    assert_eq!(client.poll_transmit(now, &mut buf), None);
    assert_eq!(client.retransmissions(), 2);
}

/// Hostile blocks (outside the window, reversed, wrapping) are ignored: two
/// duplicate ACKs carrying them would start recovery if any counted (they
/// cover far more than two segments).
#[test]
fn bogus_blocks_are_ignored() {
    let (mut client, mut server, segs) = five_segments_both(true, true);
    let una = parse(&segs[0]).seq();
    // A real duplicate ACK of the server, for its timestamps and window.
    let real = deliver(&mut server, &segs, 1);
    let real = parse(&real);
    let (tsval, tsecr) = real
        .options()
        .find_map(|o| match o {
            Ok(TcpOption::Timestamps { tsval, tsecr }) => Some((tsval, tsecr)),
            _ => None,
        })
        .unwrap();
    let now = Instant::from_millis(2);
    let mut buf = [0u8; 256];
    let hostile = [
        vec![
            (una.wrapping_add(100_000), una.wrapping_add(200_000)),
            (una.wrapping_sub(5000), una),
            (una.wrapping_add(6000), una.wrapping_add(1000)),
        ],
        vec![
            (
                una.wrapping_add(u32::MAX / 2),
                una.wrapping_add(u32::MAX / 2 + 6000)
            );
            3
        ],
    ];
    for blocks in &hostile {
        let mut b = umptcp_wire::segment::SegmentBuilder::new(
            SocketAddr::from(([10, 0, 0, 2], 80)),
            SocketAddr::from(([10, 0, 0, 1], 40000)),
        );
        b.seq = real.seq();
        b.ack = una;
        b.flags = umptcp_wire::segment::TcpFlags::ACK;
        b.window = real.window();
        b.timestamps = Some((tsval, tsecr));
        b.sack_blocks = blocks;
        let n = b.emit(&mut buf).unwrap().len;
        assert!(client.handle_segment(now, &parse(&buf[..n])).accepted);
    }
    let mut out = [0u8; 2048];
    assert_eq!(
        client.poll_transmit(now, &mut out),
        None,
        "no recovery from bogus SACKs"
    );
    assert_eq!(client.retransmissions(), 0);
}

/// A lost retransmission is found without the RTO: once new data sent
/// after it is SACKed, it is sent again (RACK's rule, by sequence).
#[test]
fn a_lost_retransmission_is_sent_again_when_later_data_is_sacked() {
    let (mut client, mut server, segs) = five_segments_both(true, true);
    let mss = parse(&segs[0]).payload().len();
    let now = Instant::from_millis(2);
    let mut buf = [0u8; 2048];
    for i in [1, 2, 3] {
        let ack = deliver(&mut server, &segs, i);
        client.handle_segment(now, &parse(&ack));
    }
    client.set_congestion_window(3 * mss as u64);
    assert_eq!(client.write(&vec![9u8; 2 * mss]), 2 * mss);
    let n = client
        .poll_transmit(now, &mut buf)
        .expect("the retransmission");
    let lost_rtx = parse(&buf[..n]).seq();
    assert_eq!(lost_rtx, parse(&segs[0]).seq());
    let n = client
        .poll_transmit(now, &mut buf)
        .expect("new data (rule 2)");
    let new_data = buf[..n].to_vec();
    assert_eq!(
        parse(&new_data).seq(),
        range(&segs, 0, 4).1,
        "the first new segment"
    );
    assert_eq!(client.poll_transmit(now, &mut buf), None, "pipe full");
    // The retransmission is lost; the new segment arrives and is SACKed.
    server.handle_segment(now, &parse(&new_data));
    let n = server.poll_transmit(now, &mut buf).expect("a SACK");
    client.handle_segment(now, &parse(&buf[..n]));
    assert_eq!(client.lost_retransmissions(), 1);
    let n = client.poll_transmit(now, &mut buf).expect("sent again");
    assert_eq!(parse(&buf[..n]).seq(), lost_rtx);
    assert_eq!(client.retransmissions(), 2);
}
