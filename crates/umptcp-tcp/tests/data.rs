//! Data transfer: acknowledgments, delayed ACKs, reassembly, RTO with
//! backoff and Karn's rule, zero-window probing, fast retransmit and
//! NewReno recovery, congestion events.

mod common;

use common::*;
use umptcp_cc::CongestionEvent;
use umptcp_tcp::{Event, State};

fn congestion(conn: &mut umptcp_tcp::Connection) -> Vec<CongestionEvent> {
    std::iter::from_fn(|| conn.poll_congestion_event()).collect()
}

#[test]
fn send_and_ack() {
    let (mut conn, iss) = established();
    assert_eq!(conn.write(b"hello"), 5);
    let seg = recv(&mut conn, ms(10));
    assert_eq!(
        (seg.flags, seg.seq, seg.ack),
        (ACK | PSH, iss + 1, PEER_ISS + 1)
    );
    assert_eq!(seg.payload, b"hello");
    assert_eq!(conn.bytes_in_flight(), 5);
    // The handshake's RTT sample (0 ms) put the RTO at its 200 ms floor.
    assert_eq!(conn.rto(), dur(200));
    assert_eq!(conn.poll_timeout(), Some(ms(210)));
    send(&mut conn, ms(60), In::new(ACK, PEER_ISS + 1, iss + 6));
    assert_eq!(conn.bytes_in_flight(), 0);
    assert_eq!(conn.poll_timeout(), None);
    assert_eq!(conn.rtt_estimator().latest(), Some(dur(50)));
    // SRTT = 7/8 * 0 + 1/8 * 50 ms.
    assert_eq!(conn.srtt(), Some(std::time::Duration::from_micros(6250)));
    match congestion(&mut conn)[..] {
        [
            CongestionEvent::Ack {
                bytes_acked: 5,
                rtt: Some(rtt),
                app_limited: true,
                in_recovery: false,
                ..
            },
        ] => {
            assert_eq!(rtt, dur(50))
        }
        ref other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn segments_are_cut_at_mss_and_window() {
    let (mut conn, iss) = established_with(plain_config(), ms(0), |s| s.mss(100).window(250));
    conn.write(&[7; 1000]);
    let a = recv(&mut conn, ms(1));
    let b = recv(&mut conn, ms(1));
    assert_eq!((a.seq, a.payload.len()), (iss + 1, 100));
    assert_eq!((b.seq, b.payload.len()), (iss + 101, 100));
    // 50 bytes of window left: sender SWS avoidance holds the sliver.
    recv_nothing(&mut conn, ms(1));
    send(
        &mut conn,
        ms(2),
        In::new(ACK, PEER_ISS + 1, iss + 201).window(250),
    );
    assert_eq!(recv(&mut conn, ms(2)).payload.len(), 100);
}

#[test]
fn cwnd_limits_sending() {
    let (mut conn, iss) = established();
    conn.set_congestion_window(3000);
    conn.write(&[1; 10_000]);
    let mut sent = 0;
    while let Some(seg) = try_recv(&mut conn, ms(1)) {
        sent += seg.payload.len();
    }
    assert_eq!(sent, 2920);
    send(&mut conn, ms(2), In::new(ACK, PEER_ISS + 1, iss + 1 + 1460));
    assert_eq!(recv(&mut conn, ms(2)).payload.len(), 1460);
}

#[test]
fn less_than_a_segment_of_unused_window_is_not_app_limited() {
    let app_limited = |cwnd: u64| {
        let (mut conn, iss) = established();
        conn.set_congestion_window(cwnd);
        // Exactly two full segments, all sent: nothing left unsent.
        conn.write(&[1; 2920]);
        while try_recv(&mut conn, ms(1)).is_some() {}
        congestion(&mut conn);
        send(&mut conn, ms(2), In::new(ACK, PEER_ISS + 1, iss + 1 + 1460));
        match congestion(&mut conn)[..] {
            [CongestionEvent::Ack { app_limited, .. }] => app_limited,
            ref other => panic!("unexpected {other:?}"),
        }
    };
    // 2920 in flight when the ACK came (the 1460 bytes still in flight
    // after it are not unsent data): 80 bytes of room cannot carry a
    // segment.
    assert!(!app_limited(3000));
    assert!(!app_limited(4379));
    // 1460 bytes of room: the application left a full segment unsent.
    assert!(app_limited(4380));
}

#[test]
fn nagle_holds_small_segments() {
    let mut config = plain_config();
    config.nagle = true;
    let (mut conn, iss) = established_with(config, ms(0), |s| s);
    conn.write(b"a");
    assert_eq!(recv(&mut conn, ms(1)).payload, b"a");
    conn.write(b"b");
    recv_nothing(&mut conn, ms(1));
    send(&mut conn, ms(2), In::new(ACK, PEER_ISS + 1, iss + 2));
    assert_eq!(recv(&mut conn, ms(2)).payload, b"b");
}

#[test]
fn delayed_ack_timer() {
    let (mut conn, iss) = established();
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(b"abc"),
    );
    assert_eq!(events(&mut conn), [Event::Readable]);
    recv_nothing(&mut conn, ms(1));
    assert_eq!(conn.poll_timeout(), Some(ms(41)));
    conn.handle_timeout(ms(41));
    let ack = recv(&mut conn, ms(41));
    assert_eq!(ack.ack, PEER_ISS + 4);
    assert_eq!(conn.poll_timeout(), None);
    let mut buf = [0; 8];
    assert_eq!(conn.read(&mut buf), 3);
    assert_eq!(&buf[..3], b"abc");
}

#[test]
fn every_second_full_segment_is_acked() {
    let (mut conn, iss) = established();
    let full = vec![9; 1460];
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(&full),
    );
    recv_nothing(&mut conn, ms(1));
    send(
        &mut conn,
        ms(2),
        In::new(ACK, PEER_ISS + 1461, iss + 1).payload(&full),
    );
    let ack = recv(&mut conn, ms(2));
    assert_eq!(ack.ack, PEER_ISS + 2921);
    assert_eq!(ack.window, 65536u32.saturating_sub(2920).min(65535) as u16);
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn out_of_order_is_acked_at_once_and_reassembled() {
    let (mut conn, iss) = established();
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 4, iss + 1).payload(b"def"),
    );
    assert_eq!(recv(&mut conn, ms(1)).ack, PEER_ISS + 1);
    assert_eq!(conn.readable(), 0);
    send(
        &mut conn,
        ms(2),
        In::new(ACK, PEER_ISS + 10, iss + 1).payload(b"jkl"),
    );
    assert_eq!(recv(&mut conn, ms(2)).ack, PEER_ISS + 1);
    send(
        &mut conn,
        ms(3),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(b"abc"),
    );
    // Filling the first hole: ACK at once.
    assert_eq!(recv(&mut conn, ms(3)).ack, PEER_ISS + 7);
    send(
        &mut conn,
        ms(4),
        In::new(ACK, PEER_ISS + 7, iss + 1).payload(b"ghi"),
    );
    assert_eq!(recv(&mut conn, ms(4)).ack, PEER_ISS + 13);
    let mut buf = [0; 32];
    assert_eq!(conn.read(&mut buf), 12);
    assert_eq!(&buf[..12], b"abcdefghijkl");
    assert_eq!(conn.bytes_received(), 12);
}

#[test]
fn duplicate_data_is_acked_and_trimmed() {
    let (mut conn, iss) = established();
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(b"abc"),
    );
    send(
        &mut conn,
        ms(2),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(b"abcdef"),
    );
    // Three new bytes in order: the ACK is delayed.
    recv_nothing(&mut conn, ms(2));
    conn.handle_timeout(ms(41));
    let ack = recv(&mut conn, ms(41));
    assert_eq!(ack.ack, PEER_ISS + 7);
    // A pure duplicate is ACKed at once.
    send(
        &mut conn,
        ms(50),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(b"abc"),
    );
    assert_eq!(recv(&mut conn, ms(50)).ack, PEER_ISS + 7);
    let mut buf = [0; 32];
    assert_eq!(conn.read(&mut buf), 6);
    assert_eq!(&buf[..6], b"abcdef");
}

#[test]
fn rto_retransmits_with_backoff_and_karn() {
    let (mut conn, iss) = established();
    conn.write(b"data");
    let first = recv(&mut conn, ms(0));
    let mut now = 0;
    for rto in [200, 400, 800] {
        assert_eq!(conn.poll_timeout(), Some(ms(now + rto)));
        now += rto;
        conn.handle_timeout(ms(now));
        let again = recv(&mut conn, ms(now));
        assert_eq!((again.seq, &again.payload), (first.seq, &first.payload));
        assert!(matches!(
            congestion(&mut conn)[..],
            [CongestionEvent::RetransmissionTimeout {
                bytes_in_flight: 4,
                ..
            }]
        ));
    }
    assert_eq!(conn.retransmissions(), 3);
    // The ACK of a retransmitted segment gives no RTT sample (Karn).
    send(&mut conn, ms(now + 10), In::new(ACK, PEER_ISS + 1, iss + 5));
    assert_eq!(conn.rtt_estimator().latest(), Some(dur(0)));
    // But the backoff is cleared (RFC 6298 §5.7).
    assert_eq!(conn.rto(), dur(200));
    assert_eq!(conn.state(), State::Established);
}

#[test]
fn go_back_n_after_rto() {
    let (mut conn, iss) = established();
    conn.write(&[5; 3000]);
    let segs: Vec<_> = std::iter::from_fn(|| try_recv(&mut conn, ms(0))).collect();
    assert_eq!(segs.len(), 3);
    conn.handle_timeout(ms(200));
    conn.set_congestion_window(1460);
    let a = recv(&mut conn, ms(200));
    assert_eq!(a.seq, iss + 1);
    recv_nothing(&mut conn, ms(200));
    send(&mut conn, ms(1100), In::new(ACK, PEER_ISS + 1, iss + 1461));
    conn.set_congestion_window(2920);
    let b = recv(&mut conn, ms(1100));
    let c = recv(&mut conn, ms(1100));
    assert_eq!((b.seq, c.seq), (iss + 1461, iss + 2921));
    assert_eq!(conn.retransmissions(), 3);
}

#[test]
fn too_many_timeouts_abandon_the_connection() {
    let mut config = plain_config();
    config.max_retransmissions = 2;
    let (mut conn, _) = established_with(config, ms(0), |s| s);
    conn.write(b"x");
    let _ = recv(&mut conn, ms(0));
    for _ in 0..2 {
        let t = conn.poll_timeout().unwrap();
        conn.handle_timeout(t);
        let _ = recv(&mut conn, t);
    }
    let t = conn.poll_timeout().unwrap();
    conn.handle_timeout(t);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(events(&mut conn), [Event::TimedOut]);
}

#[test]
fn zero_window_probe() {
    let (mut conn, iss) = established_with(plain_config(), ms(0), |s| s.window(0));
    conn.write(b"waiting");
    recv_nothing(&mut conn, ms(1));
    // The persist timer runs on the RTO.
    assert_eq!(conn.poll_timeout(), Some(ms(201)));
    conn.handle_timeout(ms(201));
    let probe = recv(&mut conn, ms(201));
    assert_eq!((probe.seq, probe.payload.len()), (iss + 1, 1));
    // Still closed: the peer does not take the byte.
    send(
        &mut conn,
        ms(202),
        In::new(ACK, PEER_ISS + 1, iss + 1).window(0),
    );
    let t = conn.poll_timeout().unwrap();
    assert!(t > ms(202));
    conn.handle_timeout(t);
    let probe = recv(&mut conn, t);
    assert_eq!(probe.payload.len(), 1);
    // The window opens: the rest follows.
    send(
        &mut conn,
        t,
        In::new(ACK, PEER_ISS + 1, iss + 2).window(1000),
    );
    let rest = recv(&mut conn, t);
    assert_eq!(rest.payload, b"aiting");
    assert_eq!(conn.state(), State::Established);
}

/// Regression (found against the kernel, both ends writing and neither
/// reading): after an unaccepted zero-window probe, SND.NXT is one past the
/// peer's shut window. Our ACKs for the peer's data must go at the window's
/// edge, or the peer drops them as out of window and never learns what we
/// received: both ends stall for good.
#[test]
fn acks_after_an_unaccepted_probe_stay_in_the_peer_window() {
    let (mut conn, iss) = established_with(plain_config(), ms(0), |s| s.window(0));
    conn.write(b"waiting");
    recv_nothing(&mut conn, ms(1));
    conn.handle_timeout(ms(201));
    let probe = recv(&mut conn, ms(201));
    assert_eq!((probe.seq, probe.payload.len()), (iss + 1, 1));
    // The peer refuses the byte, keeps its window shut, and sends data.
    send(
        &mut conn,
        ms(202),
        In::new(ACK, PEER_ISS + 1, iss + 1)
            .window(0)
            .payload(&[5; 100]),
    );
    // The delayed ACK is due 40 ms later.
    conn.handle_timeout(ms(242));
    let ack = recv(&mut conn, ms(242));
    assert_eq!(ack.ack, PEER_ISS + 101);
    assert_eq!(ack.seq, iss + 1, "an ACK beyond the shut window is dropped");
    assert!(ack.payload.is_empty());
}

#[test]
fn full_receive_buffer_closes_window_and_read_reopens_it() {
    let mut config = plain_config();
    config.recv_buffer = 2000;
    let (mut conn, iss) = established_with(config, ms(0), |s| s);
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(&[1; 1000]),
    );
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1001, iss + 1).payload(&[2; 1000]),
    );
    conn.handle_timeout(ms(41));
    let ack = recv(&mut conn, ms(41));
    assert_eq!((ack.ack, ack.window), (PEER_ISS + 2001, 0));
    // A byte past the zero window is refused (and ACKed).
    send(
        &mut conn,
        ms(2),
        In::new(ACK, PEER_ISS + 2001, iss + 1).payload(b"z"),
    );
    let ack = recv(&mut conn, ms(2));
    assert_eq!((ack.ack, ack.window), (PEER_ISS + 2001, 0));
    let mut buf = [0; 1500];
    assert_eq!(conn.read(&mut buf), 1500);
    // The window moved by at least min(buffer/2, MSS): an update goes out.
    let update = recv(&mut conn, ms(3));
    assert_eq!((update.ack, update.window), (PEER_ISS + 2001, 1500));
}

#[test]
fn writable_after_full_send_buffer_drains() {
    let mut config = plain_config();
    config.send_buffer = 1000;
    let (mut conn, iss) = established_with(config, ms(0), |s| s);
    assert_eq!(conn.write(&[0; 1500]), 1000);
    let _ = recv(&mut conn, ms(1));
    send(&mut conn, ms(2), In::new(ACK, PEER_ISS + 1, iss + 501));
    assert_eq!(events(&mut conn), [Event::Writable]);
    assert_eq!(conn.writable(), 500);
}

#[test]
fn fast_retransmit_and_newreno_partial_ack() {
    let (mut conn, iss) = established();
    conn.set_congestion_window(10 * 1460);
    conn.write(&[3; 6 * 1460]);
    let segs: Vec<_> = std::iter::from_fn(|| try_recv(&mut conn, ms(0))).collect();
    assert_eq!(segs.len(), 6);
    let _ = congestion(&mut conn);
    // Segments 1 and 3 are lost; the peer ACKs seq 1 for segments 2, 4, 5, 6.
    let dup = In::new(ACK, PEER_ISS + 1, iss + 1);
    send(&mut conn, ms(10), dup.clone());
    send(&mut conn, ms(10), dup.clone());
    recv_nothing(&mut conn, ms(10));
    send(&mut conn, ms(10), dup.clone());
    match congestion(&mut conn)[..] {
        [
            CongestionEvent::FastRetransmit {
                bytes_in_flight, ..
            },
        ] => assert_eq!(bytes_in_flight, 6 * 1460),
        ref other => panic!("unexpected {other:?}"),
    }
    // The controller halves the window.
    conn.set_congestion_window(3 * 1460);
    let rtx = recv(&mut conn, ms(10));
    assert_eq!((rtx.seq, rtx.payload.len()), (iss + 1, 1460));
    send(&mut conn, ms(11), dup.clone());
    // Partial ACK: segment 2 arrived, 3 did not.
    send(
        &mut conn,
        ms(20),
        In::new(ACK, PEER_ISS + 1, iss + 1 + 2 * 1460),
    );
    let rtx = recv(&mut conn, ms(20));
    assert_eq!(rtx.seq, iss + 1 + 2 * 1460);
    match congestion(&mut conn)[..] {
        [
            CongestionEvent::Ack {
                bytes_acked: 2920,
                in_recovery: true,
                ..
            },
        ] => {}
        ref other => panic!("unexpected {other:?}"),
    }
    // Full ACK: recovery ends.
    send(
        &mut conn,
        ms(30),
        In::new(ACK, PEER_ISS + 1, iss + 1 + 6 * 1460),
    );
    match congestion(&mut conn)[..] {
        [
            CongestionEvent::Ack {
                in_recovery: true, ..
            },
            CongestionEvent::RecoveryExit { .. },
        ] => {}
        ref other => panic!("unexpected {other:?}"),
    }
    assert_eq!(conn.retransmissions(), 2);
    assert_eq!(conn.bytes_in_flight(), 0);
}

#[test]
fn no_fast_retransmit_after_rto_for_old_data() {
    // RFC 6582 §3.2 step 2: duplicates not covering `recover` start nothing.
    let (mut conn, iss) = established();
    conn.write(&[3; 4 * 1460]);
    while try_recv(&mut conn, ms(0)).is_some() {}
    conn.handle_timeout(ms(200));
    let _ = congestion(&mut conn);
    let _ = recv(&mut conn, ms(200));
    for _ in 0..3 {
        send(&mut conn, ms(1001), In::new(ACK, PEER_ISS + 1, iss + 1));
    }
    assert!(congestion(&mut conn).is_empty());
}

#[test]
fn recovery_inflates_window_for_new_data() {
    let (mut conn, iss) = established();
    conn.set_congestion_window(4 * 1460);
    conn.write(&[3; 20 * 1460]);
    while try_recv(&mut conn, ms(0)).is_some() {}
    let dup = In::new(ACK, PEER_ISS + 1, iss + 1);
    for _ in 0..3 {
        send(&mut conn, ms(10), dup.clone());
    }
    conn.set_congestion_window(2 * 1460);
    assert_eq!(recv(&mut conn, ms(10)).seq, iss + 1);
    // cwnd 2 MSS + 3 dupacks: inflated to 5 MSS with 4 in flight: one new.
    let new = recv(&mut conn, ms(10));
    assert_eq!(new.seq, iss + 1 + 4 * 1460);
    recv_nothing(&mut conn, ms(10));
    send(&mut conn, ms(11), dup.clone());
    assert_eq!(recv(&mut conn, ms(11)).seq, iss + 1 + 5 * 1460);
}

#[test]
fn congestion_events_stay_bounded_when_not_polled() {
    let (mut conn, iss) = established();
    conn.set_congestion_window(1 << 20);
    let total = 150_000u32;
    let mut written = 0;
    let mut acked = 0u32;
    let mut now = 1;
    while acked < total {
        if written < total as usize {
            written += conn.write(&vec![0; total as usize - written]);
        }
        while try_recv(&mut conn, ms(now)).is_some() {}
        acked = (acked + 100).min(total);
        now += 1;
        send(
            &mut conn,
            ms(now),
            In::new(ACK, PEER_ISS + 1, iss + 1 + acked),
        );
    }
    let events = congestion(&mut conn);
    assert!(events.len() <= 64, "{} events", events.len());
    let bytes: u64 = events
        .iter()
        .map(|e| match e {
            CongestionEvent::Ack { bytes_acked, .. } => *bytes_acked,
            _ => 0,
        })
        .sum();
    assert_eq!(bytes, u64::from(total), "coalescing keeps the byte count");
}

#[test]
fn dup_acks_need_outstanding_data_and_same_window() {
    let (mut conn, iss) = established();
    // Nothing outstanding: not duplicates.
    for _ in 0..3 {
        send(&mut conn, ms(1), In::new(ACK, PEER_ISS + 1, iss + 1));
    }
    assert!(congestion(&mut conn).is_empty());
    conn.write(&[0; 3000]);
    while try_recv(&mut conn, ms(2)).is_some() {}
    // Window updates are not duplicates either.
    for w in [1000, 2000, 3000] {
        send(
            &mut conn,
            ms(3),
            In::new(ACK, PEER_ISS + 1, iss + 1).window(w),
        );
    }
    assert!(congestion(&mut conn).is_empty());
    assert_eq!(conn.retransmissions(), 0);
}

#[test]
fn partial_ack_deflates_inflated_window() {
    // RFC 6582 §3.2 step 5: cwnd - acked + SMSS.
    let (mut conn, iss) = established();
    conn.set_congestion_window(10 * 1460);
    conn.write(&[3; 20 * 1460]);
    let sent: Vec<_> = std::iter::from_fn(|| try_recv(&mut conn, ms(0))).collect();
    assert_eq!(sent.len(), 10);
    // Segments 1 and 3 lost: 8 duplicates.
    let dup = In::new(ACK, PEER_ISS + 1, iss + 1);
    for _ in 0..3 {
        send(&mut conn, ms(10), dup.clone());
    }
    conn.set_congestion_window(2 * 1460);
    assert_eq!(recv(&mut conn, ms(10)).seq, iss + 1);
    for _ in 0..5 {
        send(&mut conn, ms(10), dup.clone());
    }
    // 2 + 8 MSS: exactly the 10 in flight, nothing new.
    recv_nothing(&mut conn, ms(10));
    // Partial ACK of segments 1 and 2: inflation 8 - 2 + 1 = 7 MSS, window
    // 9 MSS from segment 3: the retransmission and one new segment (11).
    send(
        &mut conn,
        ms(20),
        In::new(ACK, PEER_ISS + 1, iss + 1 + 2 * 1460),
    );
    assert_eq!(recv(&mut conn, ms(20)).seq, iss + 1 + 2 * 1460);
    assert_eq!(recv(&mut conn, ms(20)).seq, iss + 1 + 10 * 1460);
    recv_nothing(&mut conn, ms(20));
}

#[test]
fn path_info_reflects_the_subflow() {
    let (mut conn, _) = established();
    conn.write(&[0; 100]);
    let _ = recv(&mut conn, ms(1));
    let info = conn.path_info(umptcp_cc::PathId(3));
    assert_eq!(info.id, umptcp_cc::PathId(3));
    assert_eq!(info.mss, 1460);
    assert_eq!(info.bytes_in_flight, 100);
    assert_eq!(info.smoothed_rtt, conn.srtt());
}

#[test]
fn data_segment_carries_the_delayed_ack() {
    let (mut conn, iss) = established();
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(b"ping"),
    );
    assert_eq!(conn.poll_timeout(), Some(ms(41)));
    conn.write(b"pong");
    let seg = recv(&mut conn, ms(5));
    assert_eq!(
        (seg.ack, seg.payload.as_slice()),
        (PEER_ISS + 5, &b"pong"[..])
    );
    // The delayed-ACK timer is gone; only the retransmission timer runs.
    assert_eq!(conn.poll_timeout(), Some(ms(5) + conn.rto()));
}

#[test]
fn segments_shorter_than_the_mss_by_their_options_still_count_as_full() {
    // An MPTCP peer's segments carry a DSS our MSS does not count: every
    // second one of them is ACKed at once, not on the delayed-ACK timer.
    let (mut conn, iss) = established();
    let len = conn.mss() - 20;
    let data = vec![7u8; len];
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(&data),
    );
    recv_nothing(&mut conn, ms(1));
    send(
        &mut conn,
        ms(2),
        In::new(ACK, PEER_ISS + 1 + len as u32, iss + 1).payload(&data),
    );
    assert_eq!(recv(&mut conn, ms(2)).ack, PEER_ISS + 1 + 2 * len as u32);
}
