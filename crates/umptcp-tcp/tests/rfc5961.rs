//! RFC 5961: blind reset, SYN and data injection mitigations; RFC 7323 PAWS.

mod common;

use common::*;
use umptcp_tcp::{Event, State, TcpConfig};
use umptcp_wire::segment::{ChecksumCheck, Segment, TcpFlags};

#[test]
fn exact_rst_resets() {
    let (mut conn, _) = established();
    send(&mut conn, ms(1), In::new(RST, PEER_ISS + 1, 0));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(events(&mut conn), [Event::Reset]);
    recv_nothing(&mut conn, ms(1));
}

#[test]
fn in_window_rst_gets_challenge_ack() {
    let (mut conn, iss) = established();
    send(&mut conn, ms(1), In::new(RST, PEER_ISS + 100, 0));
    assert_eq!(conn.state(), State::Established);
    let ack = recv(&mut conn, ms(1));
    assert_eq!((ack.flags, ack.seq, ack.ack), (ACK, iss + 1, PEER_ISS + 1));
}

#[test]
fn out_of_window_rst_is_dropped() {
    let (mut conn, _) = established();
    send(&mut conn, ms(1), In::new(RST, PEER_ISS + 1_000_000, 0));
    send(&mut conn, ms(1), In::new(RST, PEER_ISS - 5, 0));
    assert_eq!(conn.state(), State::Established);
    recv_nothing(&mut conn, ms(1));
}

#[test]
fn syn_in_established_gets_challenge_ack() {
    let (mut conn, iss) = established();
    send(&mut conn, ms(1), In::new(SYN, 12345, 0));
    assert_eq!(conn.state(), State::Established);
    let ack = recv(&mut conn, ms(1));
    assert_eq!((ack.flags, ack.seq, ack.ack), (ACK, iss + 1, PEER_ISS + 1));
    // Even an in-window SYN does not reset (RFC 5961 §4.2).
    send(&mut conn, ms(1), In::new(SYN, PEER_ISS + 1, 0));
    assert_eq!(conn.state(), State::Established);
    assert_eq!(recv(&mut conn, ms(1)).flags, ACK);
}

#[test]
fn ack_of_unsent_data_is_answered_and_dropped() {
    let (mut conn, iss) = established();
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1000).payload(b"evil"),
    );
    let ack = recv(&mut conn, ms(1));
    assert_eq!(ack.ack, PEER_ISS + 1, "data must not be accepted");
    assert_eq!(conn.readable(), 0);
}

#[test]
fn too_old_ack_is_dropped() {
    // RFC 5961 §5.2: SEG.ACK below SND.UNA - MAX.SND.WND.
    let (mut conn, iss) = established();
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss.wrapping_sub(200_000)).payload(b"evil"),
    );
    assert_eq!(conn.readable(), 0);
    assert_eq!(recv(&mut conn, ms(1)).ack, PEER_ISS + 1);
    // Within the window behind SND.UNA: a plain old duplicate, data kept.
    send(
        &mut conn,
        ms(2),
        In::new(ACK, PEER_ISS + 1, iss.wrapping_sub(100)).payload(b"ok"),
    );
    assert_eq!(conn.readable(), 2);
}

#[test]
fn challenge_acks_are_rate_limited() {
    let mut config = plain_config();
    config.challenge_ack_limit = 2;
    let (mut conn, _) = established_with(config, ms(0), |s| s);
    let mut sent = 0;
    for _ in 0..5 {
        send(&mut conn, ms(10), In::new(SYN, 1, 0));
        while try_recv(&mut conn, ms(10)).is_some() {
            sent += 1;
        }
    }
    assert_eq!(sent, 2);
    // A second later the budget is back.
    send(&mut conn, ms(1100), In::new(SYN, 1, 0));
    assert!(try_recv(&mut conn, ms(1100)).is_some());
}

#[test]
fn out_of_window_data_gets_ack() {
    let (mut conn, _) = established();
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1 + 70_000, 0).payload(b"x"),
    );
    assert_eq!(recv(&mut conn, ms(1)).ack, PEER_ISS + 1);
    assert_eq!(conn.readable(), 0);
}

fn established_ts() -> (umptcp_tcp::Connection, u32) {
    established_with(TcpConfig::default(), ms(0), |s| s.ts(1000, 0))
}

#[test]
fn paws_drops_old_timestamp() {
    let (mut conn, iss) = established_ts();
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1)
            .payload(b"new")
            .ts(2000, 0),
    );
    assert_eq!(conn.readable(), 3);
    // A duplicate with an older TSval: dropped, ACKed.
    send(
        &mut conn,
        ms(2),
        In::new(ACK, PEER_ISS + 4, iss + 1)
            .payload(b"old")
            .ts(1500, 0),
    );
    assert_eq!(conn.readable(), 3);
    let ack = loop {
        let out = recv(&mut conn, ms(2));
        if out.ack == PEER_ISS + 4 {
            break out;
        }
    };
    assert_eq!(ack.timestamps.unwrap().1, 2000, "TS.Recent kept");
    // Same TSval is fine (>=).
    send(
        &mut conn,
        ms(3),
        In::new(ACK, PEER_ISS + 4, iss + 1)
            .payload(b"more")
            .ts(2000, 0),
    );
    assert_eq!(conn.readable(), 7);
}

#[test]
fn paws_wraps_around() {
    let (mut conn, iss) = established_with(TcpConfig::default(), ms(0), |s| s.ts(u32::MAX - 10, 0));
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(b"a").ts(5, 0),
    );
    assert_eq!(conn.readable(), 1);
}

#[test]
fn missing_timestamp_is_dropped_but_rst_is_not() {
    let (mut conn, iss) = established_ts();
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(b"nots"),
    );
    assert_eq!(conn.readable(), 0);
    recv_nothing(&mut conn, ms(1));
    send(&mut conn, ms(1), In::new(RST, PEER_ISS + 1, 0));
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn paws_does_not_apply_to_rst() {
    let (mut conn, _) = established_ts();
    send(&mut conn, ms(1), In::new(RST, PEER_ISS + 1, 0).ts(1, 0));
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn in_window_rst_in_syn_received_gets_challenge_ack() {
    let mut conn = umptcp_tcp::Connection::listen(plain_config(), local(), key(), ms(0)).unwrap();
    send(&mut conn, ms(0), In::new(SYN, PEER_ISS, 0));
    let syn_ack = recv(&mut conn, ms(0));
    send(&mut conn, ms(1), In::new(RST, PEER_ISS + 10, 0));
    assert_eq!(conn.state(), State::SynReceived);
    let ack = recv(&mut conn, ms(1));
    assert_eq!(
        (ack.flags, ack.seq, ack.ack),
        (ACK, syn_ack.seq + 1, PEER_ISS + 1)
    );
}

#[test]
fn syn_in_time_wait_gets_challenge_ack() {
    let (mut conn, iss) = established();
    conn.shutdown();
    let _ = recv(&mut conn, ms(1));
    send(&mut conn, ms(2), In::new(FIN | ACK, PEER_ISS + 1, iss + 2));
    let _ = recv(&mut conn, ms(2));
    assert_eq!(conn.state(), State::TimeWait);
    send(&mut conn, ms(3), In::new(SYN, PEER_ISS + 100_000, 0));
    assert_eq!(recv(&mut conn, ms(3)).ack, PEER_ISS + 2);
    assert_eq!(conn.state(), State::TimeWait);
}

/// The next segment, running timers (a delayed ACK) for up to a second.
fn recv_soon(conn: &mut umptcp_tcp::Connection, mut now: umptcp_time::Instant) -> Out {
    let end = now + dur(1000);
    loop {
        if let Some(seg) = try_recv(conn, now) {
            return seg;
        }
        now = conn
            .poll_timeout()
            .filter(|&t| t <= end)
            .expect("a segment within a second");
        conn.handle_timeout(now);
    }
}

/// Issue 18, item 5: replies to segments far outside the window are
/// rate-limited (RFC 5961 §7), or one forged segment starts an ACK
/// ping-pong between two desynchronised ends.
#[test]
fn far_out_of_window_segments_are_answered_at_a_limited_rate() {
    let (mut conn, iss) = established();
    let mut acks = 0;
    for _ in 0..100 {
        send(
            &mut conn,
            ms(10),
            In::new(ACK, PEER_ISS.wrapping_add(1 << 30), iss + 1).payload(b"x"),
        );
        while try_recv(&mut conn, ms(10)).is_some() {
            acks += 1;
        }
    }
    assert_eq!(acks, 1, "one ACK per interval");
    // An ACK of data never sent counts alike.
    send(
        &mut conn,
        ms(20),
        In::new(ACK, PEER_ISS + 1, iss.wrapping_add(1 << 30)),
    );
    recv_nothing(&mut conn, ms(20));
    // Once the interval has passed, the next one is answered.
    send(
        &mut conn,
        ms(600),
        In::new(ACK, PEER_ISS.wrapping_add(1 << 30), iss + 1).payload(b"x"),
    );
    assert_eq!(recv(&mut conn, ms(600)).ack, PEER_ISS + 1);
}

/// Copies of bytes already received (a retransmission that crossed our
/// ACK) are answered every time: that ACK is what tells the sender.
#[test]
fn old_copies_are_answered_at_once() {
    let (mut conn, iss) = established();
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(&[1; 100]),
    );
    assert_eq!(recv_soon(&mut conn, ms(1)).ack, PEER_ISS + 101);
    for k in 0..5 {
        send(
            &mut conn,
            ms(2 + k),
            In::new(ACK, PEER_ISS + 1, iss + 1).payload(&[1; 100]),
        );
        assert_eq!(recv(&mut conn, ms(2 + k)).ack, PEER_ISS + 101, "copy {k}");
    }
}

/// `acceptable` says, without changing anything, what `handle_segment`
/// would accept: the layer above asks it before acting on options.
#[test]
fn acceptable_matches_what_the_engine_accepts() {
    let (mut conn, iss) = established();
    let cases = [
        (In::new(ACK, PEER_ISS + 1, iss + 1).payload(b"ok"), true),
        (
            In::new(ACK, PEER_ISS.wrapping_add(1 << 30), iss + 1).payload(b"x"),
            false,
        ),
        (In::new(ACK, PEER_ISS + 1, iss.wrapping_add(1 << 30)), false),
        (In::new(ACK, PEER_ISS + 1, iss.wrapping_sub(1 << 30)), false),
        (In::new(SYN, PEER_ISS + 1, 0), false),
        (In::new(RST, PEER_ISS + 100, 0), false),
        (In::new(RST, PEER_ISS.wrapping_add(1 << 30), 0), false),
        (
            In::new(TcpFlags::empty(), PEER_ISS + 1, 0).payload(b"no ack"),
            false,
        ),
    ];
    for (k, (seg, expected)) in cases.into_iter().enumerate() {
        let bytes = seg.to_bytes();
        let parsed = Segment::parse(&bytes, ChecksumCheck::Verify).unwrap();
        assert_eq!(conn.acceptable(ms(1), &parsed), expected, "case {k}");
        let received = conn.handle_segment(ms(1), &parsed);
        assert_eq!(received.accepted, expected, "case {k}: handle_segment");
        while try_recv(&mut conn, ms(1)).is_some() {}
    }
    // An exact RST is acceptable (it resets).
    let rst = In::new(RST, PEER_ISS + 3, 0).to_bytes();
    let parsed = Segment::parse(&rst, ChecksumCheck::Verify).unwrap();
    assert!(conn.acceptable(ms(1), &parsed));
}

/// Issue 18, item 5: after a retransmission timeout go-back-N rewinds
/// SND.NXT, but the peer may hold everything we sent: a pure ACK at the
/// rewound SND.NXT is below its RCV.NXT, unacceptable, and its ACK field
/// ignored (with data both ways, both ends did it and the ACKs bounced
/// until both timed out). Pure ACKs go at the highest sequence sent.
#[test]
fn pure_acks_after_a_timeout_go_at_the_highest_sequence_sent() {
    let (mut conn, iss) = established();
    assert_eq!(conn.write(&[9; 4000]), 4000);
    let mut sent = 0;
    while let Some(seg) = try_recv(&mut conn, ms(1)) {
        sent += seg.payload.len();
    }
    assert_eq!(sent, 4000);
    let rto = conn.poll_timeout().unwrap();
    conn.handle_timeout(rto);
    // The controller's answer to the timeout: one segment in flight.
    conn.set_congestion_window(1460);
    let again = recv(&mut conn, rto);
    recv_nothing(&mut conn, rto);
    assert_eq!(again.seq, iss + 1, "go-back-N from SND.UNA");
    assert!(!again.payload.is_empty());
    // The peer's data arrives (its ACKs of ours were lost): our ACK of it.
    // Two full segments: acknowledged at once, on a pure ACK (the window
    // after the timeout is full with the retransmission).
    for k in 0..2 {
        send(
            &mut conn,
            rto,
            In::new(ACK, PEER_ISS + 1 + k * 1460, iss + 1).payload(&[5; 1460]),
        );
    }
    let ack = recv(&mut conn, rto);
    assert!(ack.payload.is_empty(), "a pure ACK: {ack:?}");
    assert_eq!(ack.ack, PEER_ISS + 1 + 2920);
    assert_eq!(
        ack.seq,
        iss + 1 + 4000,
        "at SND.MAX, not the rewound SND.NXT"
    );
}
