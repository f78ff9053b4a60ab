//! Closing a connection: RFC 9293 §3.6, every closing state and TIME-WAIT.

mod common;

use common::*;
use umptcp_tcp::{Event, State};

#[test]
fn active_close_through_time_wait() {
    let (mut conn, iss) = established();
    conn.shutdown();
    assert_eq!(conn.state(), State::FinWait1);
    assert_eq!(conn.write(b"late"), 0);
    let fin = recv(&mut conn, ms(1));
    assert_eq!(fin.flags, FIN | ACK);
    assert_eq!(fin.seq, iss + 1);
    recv_nothing(&mut conn, ms(1));
    send(&mut conn, ms(2), In::new(ACK, PEER_ISS + 1, iss + 2));
    assert_eq!(conn.state(), State::FinWait2);
    send(&mut conn, ms(3), In::new(FIN | ACK, PEER_ISS + 1, iss + 2));
    assert_eq!(conn.state(), State::TimeWait);
    assert_eq!(events(&mut conn), [Event::PeerClosed]);
    let ack = recv(&mut conn, ms(3));
    assert_eq!((ack.flags, ack.ack), (ACK, PEER_ISS + 2));
    assert_eq!(conn.poll_timeout(), Some(ms(3) + dur(60_000)));
    conn.handle_timeout(ms(60_002));
    assert_eq!(conn.state(), State::TimeWait);
    conn.handle_timeout(ms(60_003));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(events(&mut conn), [Event::Closed]);
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn fin_with_data_follows_the_data() {
    let (mut conn, iss) = established();
    conn.write(b"bye");
    conn.shutdown();
    let seg = recv(&mut conn, ms(1));
    assert_eq!(seg.flags, FIN | ACK | PSH);
    assert_eq!(seg.payload, b"bye");
    assert_eq!(seg.seq, iss + 1);
    send(&mut conn, ms(2), In::new(ACK, PEER_ISS + 1, iss + 5));
    assert_eq!(conn.state(), State::FinWait2);
}

#[test]
fn fin_wait_1_straight_to_time_wait_on_fin_ack() {
    let (mut conn, iss) = established();
    conn.shutdown();
    let _ = recv(&mut conn, ms(1));
    send(&mut conn, ms(2), In::new(FIN | ACK, PEER_ISS + 1, iss + 2));
    assert_eq!(conn.state(), State::TimeWait);
}

#[test]
fn passive_close_through_last_ack() {
    let (mut conn, iss) = established();
    send(&mut conn, ms(1), In::new(FIN | ACK, PEER_ISS + 1, iss + 1));
    assert_eq!(conn.state(), State::CloseWait);
    assert_eq!(events(&mut conn), [Event::PeerClosed]);
    let ack = recv(&mut conn, ms(1));
    assert_eq!(ack.ack, PEER_ISS + 2);
    // We may still send.
    assert_eq!(conn.write(b"reply"), 5);
    conn.shutdown();
    assert_eq!(conn.state(), State::LastAck);
    let seg = recv(&mut conn, ms(2));
    assert_eq!(seg.flags, FIN | ACK | PSH);
    assert_eq!(seg.payload, b"reply");
    send(&mut conn, ms(3), In::new(ACK, PEER_ISS + 2, iss + 7));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(events(&mut conn), [Event::Closed]);
}

#[test]
fn simultaneous_close_through_closing() {
    let (mut conn, iss) = established();
    conn.shutdown();
    let fin = recv(&mut conn, ms(1));
    assert_eq!(fin.flags, FIN | ACK);
    // The peer's FIN crosses ours: it does not acknowledge our FIN.
    send(&mut conn, ms(2), In::new(FIN | ACK, PEER_ISS + 1, iss + 1));
    assert_eq!(conn.state(), State::Closing);
    let ack = recv(&mut conn, ms(2));
    assert_eq!(ack.ack, PEER_ISS + 2);
    send(&mut conn, ms(3), In::new(ACK, PEER_ISS + 2, iss + 2));
    assert_eq!(conn.state(), State::TimeWait);
}

#[test]
fn fin_is_retransmitted_on_rto() {
    let (mut conn, iss) = established();
    conn.shutdown();
    let fin = recv(&mut conn, ms(1));
    let deadline = conn.poll_timeout().unwrap();
    conn.handle_timeout(deadline);
    let again = recv(&mut conn, deadline);
    assert_eq!(again, fin);
    send(&mut conn, deadline, In::new(ACK, PEER_ISS + 1, iss + 2));
    assert_eq!(conn.state(), State::FinWait2);
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn time_wait_acks_retransmitted_fin_and_restarts_timer() {
    let (mut conn, iss) = established();
    conn.shutdown();
    let _ = recv(&mut conn, ms(1));
    send(&mut conn, ms(2), In::new(FIN | ACK, PEER_ISS + 1, iss + 2));
    let _ = recv(&mut conn, ms(2));
    send(
        &mut conn,
        ms(1000),
        In::new(FIN | ACK, PEER_ISS + 1, iss + 2),
    );
    let ack = recv(&mut conn, ms(1000));
    assert_eq!(ack.ack, PEER_ISS + 2);
    assert_eq!(conn.poll_timeout(), Some(ms(1000) + dur(60_000)));
}

#[test]
fn out_of_order_fin_waits_for_the_hole() {
    let (mut conn, iss) = established();
    send(
        &mut conn,
        ms(1),
        In::new(FIN | ACK, PEER_ISS + 4, iss + 1).payload(b"de"),
    );
    assert_eq!(conn.state(), State::Established);
    let dup = recv(&mut conn, ms(1));
    assert_eq!(dup.ack, PEER_ISS + 1);
    send(
        &mut conn,
        ms(2),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(b"abc"),
    );
    assert_eq!(conn.state(), State::CloseWait);
    let ack = recv(&mut conn, ms(2));
    assert_eq!(ack.ack, PEER_ISS + 7);
    let mut buf = [0; 16];
    assert_eq!(conn.read(&mut buf), 5);
    assert_eq!(&buf[..5], b"abcde");
}

#[test]
fn abort_sends_rst() {
    let (mut conn, iss) = established();
    conn.abort();
    assert_eq!(conn.state(), State::Closed);
    let rst = recv(&mut conn, ms(1));
    assert_eq!(rst.flags, RST);
    assert_eq!(rst.seq, iss + 1);
    recv_nothing(&mut conn, ms(1));
    assert_eq!(events(&mut conn), [Event::Closed]);
}

#[test]
fn shutdown_in_syn_sent_waits_for_establishment() {
    let mut conn = umptcp_tcp::Connection::connect(plain_config(), tuple(), key(), ms(0)).unwrap();
    let syn = recv(&mut conn, ms(0));
    conn.write(b"queued");
    conn.shutdown();
    assert_eq!(conn.state(), State::SynSent);
    recv_nothing(&mut conn, ms(0));
    send(&mut conn, ms(1), In::new(SYN | ACK, PEER_ISS, syn.seq + 1));
    assert_eq!(conn.state(), State::FinWait1);
    let seg = recv(&mut conn, ms(1));
    assert_eq!(
        (seg.flags, seg.payload.as_slice()),
        (FIN | ACK | PSH, &b"queued"[..])
    );
}

#[test]
fn abort_in_syn_sent_closes_silently() {
    let mut conn = umptcp_tcp::Connection::connect(plain_config(), tuple(), key(), ms(0)).unwrap();
    let _ = recv(&mut conn, ms(0));
    conn.abort();
    assert_eq!(conn.state(), State::Closed);
    recv_nothing(&mut conn, ms(0));
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn shutdown_in_syn_received_waits_for_establishment() {
    let mut conn = umptcp_tcp::Connection::listen(plain_config(), local(), key(), ms(0)).unwrap();
    send(&mut conn, ms(0), In::new(SYN, PEER_ISS, 0));
    let syn_ack = recv(&mut conn, ms(0));
    conn.shutdown();
    assert_eq!(conn.state(), State::SynReceived);
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, syn_ack.seq + 1),
    );
    assert_eq!(conn.state(), State::FinWait1);
    let fin = recv(&mut conn, ms(1));
    assert_eq!(fin.flags, FIN | ACK);
}

/// Our FIN sent and acknowledged: FIN-WAIT-2.
fn in_fin_wait2(close: bool) -> (umptcp_tcp::Connection, u32) {
    let (mut conn, iss) = established();
    if close {
        conn.close(ms(1));
    } else {
        conn.shutdown();
    }
    let fin = recv(&mut conn, ms(1));
    assert_eq!(fin.flags, FIN | ACK);
    send(&mut conn, ms(2), In::new(ACK, PEER_ISS + 1, iss + 2));
    assert_eq!(conn.state(), State::FinWait2);
    (conn, iss)
}

#[test]
fn half_closed_fin_wait2_has_no_timeout() {
    let (mut conn, iss) = in_fin_wait2(false);
    assert_eq!(conn.poll_timeout(), None);
    // The peer still sends, much later; the application still reads.
    send(
        &mut conn,
        ms(3_600_000),
        In::new(ACK, PEER_ISS + 1, iss + 2).payload(b"late"),
    );
    let mut buf = [0u8; 8];
    assert_eq!(conn.read(&mut buf), 4);
    assert_eq!(conn.state(), State::FinWait2);
}

#[test]
fn orphaned_fin_wait2_times_out() {
    let (mut conn, iss) = in_fin_wait2(true);
    assert_eq!(conn.poll_timeout(), Some(ms(2) + dur(60_000)));
    conn.handle_timeout(ms(60_001));
    assert_eq!(conn.state(), State::FinWait2);
    conn.handle_timeout(ms(60_002));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(events(&mut conn), [Event::TimedOut]);
    let rst = recv(&mut conn, ms(60_002));
    assert_eq!((rst.flags, rst.seq), (RST, iss + 2));
}

#[test]
fn orphaned_fin_wait2_peer_fin_goes_to_time_wait() {
    let (mut conn, iss) = in_fin_wait2(true);
    send(&mut conn, ms(3), In::new(FIN | ACK, PEER_ISS + 1, iss + 2));
    assert_eq!(conn.state(), State::TimeWait);
    assert_eq!(conn.poll_timeout(), Some(ms(3) + dur(60_000)));
}

#[test]
fn data_after_close_is_answered_by_rst() {
    let (mut conn, iss) = in_fin_wait2(true);
    send(
        &mut conn,
        ms(3),
        In::new(ACK, PEER_ISS + 1, iss + 2).payload(b"unread"),
    );
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(events(&mut conn), [Event::Reset]);
    let rst = recv(&mut conn, ms(3));
    assert_eq!((rst.flags, rst.seq), (RST, iss + 2));
}

/// RFC 2525 §2.17: closing with received data unread resets the connection
/// (the peer learns the data was lost) instead of sending a FIN; with
/// everything read, `close` sends the FIN.
#[test]
fn close_with_unread_data_resets() {
    let (mut conn, iss) = established();
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(b"unread"),
    );
    let _ = events(&mut conn);
    conn.close(ms(2));
    assert_eq!(conn.state(), State::Closed);
    let rst = recv(&mut conn, ms(2));
    assert_eq!((rst.flags, rst.seq), (RST, iss + 1));
    assert_eq!(events(&mut conn), [Event::Closed]);

    let (mut conn, iss) = established();
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(b"read"),
    );
    let mut buf = [0u8; 8];
    assert_eq!(conn.read(&mut buf), 4);
    conn.close(ms(2));
    assert_eq!(conn.state(), State::FinWait1);
}

/// Issue 18, item 6: MPTCP closes its subflows once both DATA_FINs are
/// acknowledged, while a reinjected copy may still be on its way. After
/// `close` such data meant a RST (abort-on-data) and the last ACK and FIN
/// never left; after `close_discarding` it is acknowledged and dropped,
/// and the close completes.
#[test]
fn data_after_close_discarding_is_acknowledged_not_reset() {
    let (mut conn, iss) = established();
    conn.close_discarding(ms(1));
    let fin = recv(&mut conn, ms(1));
    assert!(fin.flags.contains(FIN));
    // The peer's late copy of data, then its ACK of our FIN and its FIN.
    send(
        &mut conn,
        ms(2),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(&[3; 50]),
    );
    // The ACK may be delayed: run the timer.
    let ack = try_recv(&mut conn, ms(2)).unwrap_or_else(|| {
        let t = conn.poll_timeout().unwrap();
        conn.handle_timeout(t);
        recv(&mut conn, t)
    });
    assert!(!ack.flags.contains(RST), "{ack:?}");
    assert_eq!(ack.ack, PEER_ISS + 51);
    assert_eq!(conn.readable(), 0, "thrown away");
    send(
        &mut conn,
        ms(300),
        In::new(ACK | FIN, PEER_ISS + 51, iss + 2),
    );
    assert_eq!(recv(&mut conn, ms(300)).ack, PEER_ISS + 52);
    assert_eq!(conn.state(), State::TimeWait);
    assert!(!events(&mut conn).contains(&Event::Reset));
}

/// Plain `close` keeps Linux's abort-on-data (RFC 2525 §2.17).
#[test]
fn data_after_close_is_still_reset() {
    let (mut conn, iss) = established();
    conn.close(ms(1));
    let _fin = recv(&mut conn, ms(1));
    send(
        &mut conn,
        ms(2),
        In::new(ACK, PEER_ISS + 1, iss + 1).payload(&[3; 50]),
    );
    assert!(recv(&mut conn, ms(2)).flags.contains(RST));
    assert!(events(&mut conn).contains(&Event::Reset));
}
