//! Opening a connection: RFC 9293 §3.5 and the options of RFC 7323.

mod common;

use common::*;
use umptcp_tcp::{Connection, Error, Event, State, TcpConfig};
use umptcp_wire::segment::{ChecksumCheck, Segment};

#[test]
fn active_open_sends_syn_with_options() {
    let mut conn = Connection::connect(TcpConfig::default(), tuple(), key(), ms(0)).unwrap();
    assert_eq!(conn.state(), State::SynSent);
    let syn = recv(&mut conn, ms(0));
    assert_eq!(syn.flags, SYN);
    assert_eq!(syn.mss, Some(1460));
    assert_eq!(syn.window_scale, Some(3));
    assert_eq!(syn.window, 65535);
    assert_eq!(syn.timestamps.map(|t| t.1), Some(0));
    // SACK-permitted is offered by default (SACK blocks are generated).
    assert!(syn.sack_permitted);
    recv_nothing(&mut conn, ms(0));
    assert_eq!(conn.poll_timeout(), Some(ms(1000)));
}

#[test]
fn active_open_negotiates_scale_and_timestamps() {
    let (mut conn, iss) = established_with(TcpConfig::default(), ms(0), |s| {
        s.ws(7).ts(500, 0).window(100)
    });
    assert!(conn.timestamps_enabled());
    assert_eq!(conn.window_shifts(), (7, 3));
    // The SYN-ACK's window is not scaled (RFC 7323 §2.2).
    assert_eq!(conn.send_window(), 100);
    // MSS 1460 less 12 bytes of timestamps.
    assert_eq!(conn.mss(), 1448);
    // The next segment from the peer is scaled.
    send(
        &mut conn,
        ms(10),
        In::new(ACK, PEER_ISS + 1, iss + 1).window(100).ts(501, 0),
    );
    assert_eq!(conn.send_window(), 100 << 7);
    // Our segments echo the peer's TSval.
    conn.write(b"hi");
    let out = recv(&mut conn, ms(10));
    assert_eq!(out.timestamps.unwrap().1, 501);
    assert_eq!(out.payload, b"hi");
}

#[test]
fn active_open_without_peer_options_falls_back() {
    let (conn, _) = established_with(TcpConfig::default(), ms(0), |mut s| {
        s.mss = None;
        s
    });
    assert!(!conn.timestamps_enabled());
    assert_eq!(conn.window_shifts(), (0, 0));
    // RFC 9293 §3.7.1: 536 without an MSS option (IPv4).
    assert_eq!(conn.mss(), 536);
}

#[test]
fn rtt_sample_from_handshake() {
    let mut conn = Connection::connect(plain_config(), tuple(), key(), ms(0)).unwrap();
    let syn = recv(&mut conn, ms(0));
    send(
        &mut conn,
        ms(100),
        In::new(SYN | ACK, PEER_ISS, syn.seq + 1).mss(1460),
    );
    assert_eq!(conn.srtt(), Some(dur(100)));
    assert_eq!(conn.rto(), dur(300));
}

#[test]
fn passive_open_via_accept() {
    let syn = In::new(SYN, PEER_ISS, 0).mss(1400).ws(2).ts(7, 0);
    // accept() takes a SYN from REMOTE to LOCAL.
    let bytes = syn.to_bytes();
    let seg = Segment::parse(&bytes, ChecksumCheck::Verify).unwrap();
    let mut conn = Connection::accept(TcpConfig::default(), &seg, key(), ms(0)).unwrap();
    assert_eq!(conn.state(), State::SynReceived);
    let syn_ack = recv(&mut conn, ms(0));
    assert_eq!(syn_ack.flags, SYN | ACK);
    assert_eq!(syn_ack.ack, PEER_ISS + 1);
    assert_eq!(syn_ack.window_scale, Some(3));
    assert_eq!(syn_ack.timestamps.unwrap().1, 7);
    assert_eq!(syn_ack.mss, Some(1460));
    let iss = syn_ack.seq;
    send(
        &mut conn,
        ms(5),
        In::new(ACK, PEER_ISS + 1, iss + 1).ts(8, syn_ack.timestamps.unwrap().0),
    );
    assert_eq!(conn.state(), State::Established);
    assert_eq!(events(&mut conn), [Event::Connected]);
    assert_eq!(conn.mss(), 1400 - 12);
    assert_eq!(conn.srtt(), Some(dur(5)));
}

#[test]
fn accept_refuses_non_syn() {
    let bytes = In::new(ACK, 1, 1).to_bytes();
    let seg = Segment::parse(&bytes, ChecksumCheck::Verify).unwrap();
    assert_eq!(
        Connection::accept(TcpConfig::default(), &seg, key(), ms(0)).unwrap_err(),
        Error::NotSyn
    );
}

#[test]
fn listen_ignores_rst_and_ack_then_takes_syn() {
    let mut conn = Connection::listen(plain_config(), local(), key(), ms(0)).unwrap();
    assert_eq!(conn.state(), State::Listen);
    send(&mut conn, ms(0), In::new(RST, 5, 0));
    send(&mut conn, ms(0), In::new(ACK, 5, 5));
    assert_eq!(conn.state(), State::Listen);
    recv_nothing(&mut conn, ms(0));
    send(&mut conn, ms(1), In::new(SYN, PEER_ISS, 0));
    assert_eq!(conn.state(), State::SynReceived);
    assert_eq!(conn.four_tuple().remote, remote());
    assert_eq!(recv(&mut conn, ms(1)).flags, SYN | ACK);
}

#[test]
fn syn_retransmitted_with_backoff_then_times_out() {
    let mut config = plain_config();
    config.syn_retries = 3;
    let mut conn = Connection::connect(config, tuple(), key(), ms(0)).unwrap();
    let syn = recv(&mut conn, ms(0));
    let mut now = 0;
    for expected_rto in [1000, 2000, 4000] {
        assert_eq!(conn.poll_timeout(), Some(ms(now + expected_rto)));
        now += expected_rto;
        conn.handle_timeout(ms(now));
        let again = recv(&mut conn, ms(now));
        assert_eq!(again.flags, SYN);
        assert_eq!(again.seq, syn.seq);
    }
    assert_eq!(conn.retransmissions(), 3);
    now += 8000;
    conn.handle_timeout(ms(now));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(events(&mut conn), [Event::TimedOut]);
    recv_nothing(&mut conn, ms(now));
    assert_eq!(conn.poll_timeout(), None);
}

/// By default a SYN is tried for RFC 9293's 3 minutes and then given up:
/// 7 retries at 1, 3, 7, 15, 31, 63 and 123 s (the RTO caps at 60 s), and
/// the end at 183 s, not the 15 retries of an established connection.
#[test]
fn default_syn_retries_span_three_minutes_then_give_up() {
    let mut conn = Connection::connect(plain_config(), tuple(), key(), ms(0)).unwrap();
    let _syn = recv(&mut conn, ms(0));
    let mut sent_at = Vec::new();
    while let Some(t) = conn.poll_timeout() {
        conn.handle_timeout(t);
        if conn.poll_transmit(t, &mut [0u8; 1500]).is_some() {
            sent_at.push(t.as_nanos() / 1_000_000_000);
        }
        if conn.state() == State::Closed {
            assert_eq!(t, ms(183_000));
            break;
        }
    }
    assert_eq!(sent_at, [1, 3, 7, 15, 31, 63, 123]);
    assert_eq!(events(&mut conn), [Event::TimedOut]);
}

#[test]
fn karn_no_sample_from_retransmitted_syn() {
    let mut conn = Connection::connect(plain_config(), tuple(), key(), ms(0)).unwrap();
    let syn = recv(&mut conn, ms(0));
    conn.handle_timeout(ms(1000));
    let _ = recv(&mut conn, ms(1000));
    send(
        &mut conn,
        ms(1100),
        In::new(SYN | ACK, PEER_ISS, syn.seq + 1),
    );
    assert_eq!(conn.state(), State::Established);
    assert_eq!(conn.srtt(), None);
}

#[test]
fn syn_sent_bad_ack_gets_rst() {
    let mut conn = Connection::connect(plain_config(), tuple(), key(), ms(0)).unwrap();
    let syn = recv(&mut conn, ms(0));
    send(
        &mut conn,
        ms(1),
        In::new(SYN | ACK, PEER_ISS, syn.seq + 1000),
    );
    let rst = recv(&mut conn, ms(1));
    assert_eq!(rst.flags, RST);
    assert_eq!(rst.seq, syn.seq + 1000);
    assert_eq!(conn.state(), State::SynSent);
}

#[test]
fn syn_sent_rst_needs_acceptable_ack() {
    let mut conn = Connection::connect(plain_config(), tuple(), key(), ms(0)).unwrap();
    let syn = recv(&mut conn, ms(0));
    // Without ACK: ignored (RFC 5961 §3.2, RFC 9293 §3.10.7.3).
    send(&mut conn, ms(1), In::new(RST, 0, 0));
    assert_eq!(conn.state(), State::SynSent);
    // With a bad ACK: dropped, no RST in answer to a RST.
    send(&mut conn, ms(1), In::new(RST | ACK, 0, syn.seq + 7));
    assert_eq!(conn.state(), State::SynSent);
    recv_nothing(&mut conn, ms(1));
    send(&mut conn, ms(1), In::new(RST | ACK, 0, syn.seq + 1));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(events(&mut conn), [Event::Reset]);
}

#[test]
fn simultaneous_open() {
    let mut conn = Connection::connect(plain_config(), tuple(), key(), ms(0)).unwrap();
    let syn = recv(&mut conn, ms(0));
    // The peer's SYN crosses ours.
    send(&mut conn, ms(1), In::new(SYN, PEER_ISS, 0).mss(1460));
    assert_eq!(conn.state(), State::SynReceived);
    let syn_ack = recv(&mut conn, ms(1));
    assert_eq!(syn_ack.flags, SYN | ACK);
    assert_eq!(syn_ack.seq, syn.seq);
    assert_eq!(syn_ack.ack, PEER_ISS + 1);
    // The peer's SYN-ACK arrives.
    send(
        &mut conn,
        ms(2),
        In::new(SYN | ACK, PEER_ISS, syn.seq + 1).mss(1460),
    );
    assert_eq!(conn.state(), State::Established);
    assert_eq!(events(&mut conn), [Event::Connected]);
}

#[test]
fn syn_received_retransmits_syn_ack_on_dup_syn_and_timeout() {
    let mut conn = Connection::listen(plain_config(), local(), key(), ms(0)).unwrap();
    send(&mut conn, ms(0), In::new(SYN, PEER_ISS, 0));
    let first = recv(&mut conn, ms(0));
    send(&mut conn, ms(10), In::new(SYN, PEER_ISS, 0));
    let again = recv(&mut conn, ms(10));
    assert_eq!(again, first);
    conn.handle_timeout(ms(1000));
    assert_eq!(recv(&mut conn, ms(1000)).flags, SYN | ACK);
}

#[test]
fn syn_received_bad_ack_gets_rst() {
    let mut conn = Connection::listen(plain_config(), local(), key(), ms(0)).unwrap();
    send(&mut conn, ms(0), In::new(SYN, PEER_ISS, 0));
    let syn_ack = recv(&mut conn, ms(0));
    send(
        &mut conn,
        ms(1),
        In::new(ACK, PEER_ISS + 1, syn_ack.seq + 50),
    );
    let rst = recv(&mut conn, ms(1));
    assert_eq!(rst.flags, RST);
    assert_eq!(rst.seq, syn_ack.seq + 50);
    assert_eq!(conn.state(), State::SynReceived);
}

#[test]
fn syn_received_rst_closes() {
    let mut conn = Connection::listen(plain_config(), local(), key(), ms(0)).unwrap();
    send(&mut conn, ms(0), In::new(SYN, PEER_ISS, 0));
    let _ = recv(&mut conn, ms(0));
    send(&mut conn, ms(1), In::new(RST, PEER_ISS + 1, 0));
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(events(&mut conn), [Event::Reset]);
}

#[test]
fn data_queued_before_establishment_goes_after() {
    let mut conn = Connection::connect(plain_config(), tuple(), key(), ms(0)).unwrap();
    assert_eq!(conn.write(b"early"), 5);
    let syn = recv(&mut conn, ms(0));
    assert!(syn.payload.is_empty());
    send(&mut conn, ms(1), In::new(SYN | ACK, PEER_ISS, syn.seq + 1));
    let data = recv(&mut conn, ms(1));
    assert_eq!(data.flags, ACK | PSH);
    assert_eq!(data.payload, b"early");
    assert_eq!(data.seq, syn.seq + 1);
}

#[test]
fn segments_of_other_tuples_are_ignored() {
    let (mut conn, iss) = established();
    let mut b = umptcp_wire::SegmentBuilder::new("203.0.113.9:80".parse().unwrap(), local());
    b.flags = RST;
    b.seq = PEER_ISS + 1;
    b.ack = iss + 1;
    let mut buf = [0; 64];
    let n = b.emit(&mut buf).unwrap().len;
    conn.handle_segment(
        ms(1),
        &Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap(),
    );
    assert_eq!(conn.state(), State::Established);
}

#[test]
fn window_scale_above_14_is_used_as_14() {
    // RFC 7323 §2.3.
    let (conn, _) = established_with(TcpConfig::default(), ms(0), |s| s.ws(20));
    assert_eq!(conn.window_shifts().0, 14);
}

#[test]
fn sack_permitted_is_negotiated_only_when_both_offer() {
    let mut config = plain_config();
    config.sack = true;
    let mut conn = Connection::connect(config.clone(), tuple(), key(), ms(0)).unwrap();
    let syn = recv(&mut conn, ms(0));
    assert!(syn.sack_permitted);
    let mut syn_ack = In::new(SYN | ACK, PEER_ISS, syn.seq + 1);
    syn_ack.sack_permitted = true;
    send(&mut conn, ms(1), syn_ack);
    assert!(conn.sack_permitted());
    let (conn, _) = established_with(config, ms(0), |s| s);
    assert!(!conn.sack_permitted());
}

#[test]
fn syn_ack_answers_only_offered_options() {
    let mut conn = Connection::listen(TcpConfig::default(), local(), key(), ms(0)).unwrap();
    send(&mut conn, ms(0), In::new(SYN, PEER_ISS, 0));
    let syn_ack = recv(&mut conn, ms(0));
    assert_eq!(syn_ack.window_scale, None);
    assert_eq!(syn_ack.timestamps, None);
    assert!(!syn_ack.sack_permitted);
    assert_eq!(syn_ack.mss, Some(1460));
}

#[test]
fn handshake_ack_may_carry_data() {
    let mut conn = Connection::listen(plain_config(), local(), key(), ms(0)).unwrap();
    send(&mut conn, ms(0), In::new(SYN, PEER_ISS, 0));
    let syn_ack = recv(&mut conn, ms(0));
    send(
        &mut conn,
        ms(1),
        In::new(ACK | PSH, PEER_ISS + 1, syn_ack.seq + 1).payload(b"GET /"),
    );
    assert_eq!(conn.state(), State::Established);
    assert_eq!(events(&mut conn), [Event::Connected, Event::Readable]);
    assert_eq!(conn.readable(), 5);
}

#[test]
fn ipv6_defaults_peer_mss_to_1220() {
    let v6 = umptcp_tcp::FourTuple {
        local: "[2001:db8::1]:1".parse().unwrap(),
        remote: "[2001:db8::2]:2".parse().unwrap(),
    };
    let conn = Connection::connect(TcpConfig::default(), v6, key(), ms(0)).unwrap();
    assert_eq!(conn.mss(), 1220);
    let mixed = umptcp_tcp::FourTuple {
        local: "[2001:db8::1]:1".parse().unwrap(),
        remote: "192.0.2.1:2".parse().unwrap(),
    };
    assert_eq!(
        Connection::connect(TcpConfig::default(), mixed, key(), ms(0)).unwrap_err(),
        Error::AddressFamilyMismatch
    );
}
