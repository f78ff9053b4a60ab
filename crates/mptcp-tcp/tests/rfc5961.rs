//! RFC 5961: blind reset, SYN and data injection mitigations; RFC 7323 PAWS.

mod common;

use common::*;
use mptcp_tcp::{Event, State, TcpConfig};

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

fn established_ts() -> (mptcp_tcp::Connection, u32) {
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
    let mut conn = mptcp_tcp::Connection::listen(plain_config(), local(), key(), ms(0)).unwrap();
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
