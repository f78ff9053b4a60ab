//! Keepalive (RFC 9293 §3.8.4), off by default, timed as Linux's.

mod common;

use common::*;
use umptcp_tcp::{Event, Keepalive, State, TcpConfig};

fn config() -> TcpConfig {
    let mut c = plain_config();
    c.keepalive = Some(Keepalive {
        idle: dur(10_000),
        interval: dur(1_000),
        probes: 3,
    });
    c
}

#[test]
fn off_by_default() {
    assert_eq!(TcpConfig::default().keepalive, None);
    let (conn, _) = established();
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn linux_defaults() {
    let k = Keepalive::default();
    assert_eq!(
        (k.idle, k.interval, k.probes),
        (dur(7_200_000), dur(75_000), 9)
    );
}

#[test]
fn probe_is_snd_una_minus_one_without_data_and_an_answer_resets() {
    let (mut conn, iss) = established_with(config(), ms(0), |s| s);
    assert_eq!(conn.poll_timeout(), Some(ms(10_000)));
    conn.handle_timeout(ms(10_000));
    let probe = recv(&mut conn, ms(10_000));
    assert_eq!(probe.flags, ACK);
    assert_eq!(probe.seq, iss, "SND.UNA - 1");
    assert!(probe.payload.is_empty());
    recv_nothing(&mut conn, ms(10_000));
    assert_eq!(conn.poll_timeout(), Some(ms(11_000)));
    // The peer answers with an ACK: idle again from now.
    send(&mut conn, ms(10_050), In::new(ACK, PEER_ISS + 1, iss + 1));
    assert_eq!(conn.poll_timeout(), Some(ms(20_050)));
    assert_eq!(conn.state(), State::Established);
    assert!(events(&mut conn).is_empty());
}

#[test]
fn unanswered_probes_time_out() {
    let (mut conn, iss) = established_with(config(), ms(0), |s| s);
    for i in 0..3u64 {
        let t = ms(10_000 + 1_000 * i);
        assert_eq!(conn.poll_timeout(), Some(t));
        conn.handle_timeout(t);
        assert_eq!(recv(&mut conn, t).seq, iss);
    }
    conn.handle_timeout(ms(13_000));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(events(&mut conn), [Event::TimedOut]);
    recv_nothing(&mut conn, ms(13_000));
}

#[test]
fn no_probe_while_data_is_outstanding() {
    let (mut conn, iss) = established_with(config(), ms(0), |s| s);
    assert_eq!(conn.write(b"x"), 1);
    let data = recv(&mut conn, ms(0));
    assert_eq!(data.seq, iss + 1);
    // The retransmission timer runs; keepalive fires and stands aside.
    conn.handle_timeout(ms(10_000));
    while let Some(seg) = try_recv(&mut conn, ms(10_000)) {
        assert_eq!(seg.payload, b"x", "a retransmission, not a probe");
    }
}
