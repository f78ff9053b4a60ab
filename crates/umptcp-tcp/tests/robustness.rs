//! Nothing a peer sends may panic the engine or grow its state: random
//! segments, some near the connection's sequence numbers and some not, are
//! thrown at connections in every reachable state.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use umptcp_tcp::{Connection, State, TcpConfig};
use umptcp_wire::segment::TcpFlags;

fn random_segment(rng: &mut StdRng, near_seq: u32, near_ack: u32) -> In {
    let flags = TcpFlags::from_bits(rng.r#gen::<u8>() & 0x3f);
    let seq = if rng.gen_bool(0.7) {
        near_seq
            .wrapping_add(rng.gen_range(0..200_000))
            .wrapping_sub(100_000)
    } else {
        rng.r#gen()
    };
    let ack = if rng.gen_bool(0.7) {
        near_ack
            .wrapping_add(rng.gen_range(0..20_000))
            .wrapping_sub(10_000)
    } else {
        rng.r#gen()
    };
    let len = if rng.gen_bool(0.5) {
        0
    } else {
        rng.gen_range(0..1500)
    };
    let payload: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
    let mut seg = In::new(flags, seq, ack)
        .payload(&payload)
        .window(rng.r#gen());
    if rng.gen_bool(0.3) {
        seg = seg.mss(rng.r#gen());
    }
    if rng.gen_bool(0.3) {
        seg = seg.ws(rng.r#gen());
    }
    if rng.gen_bool(0.5) {
        seg = seg.ts(rng.r#gen(), rng.r#gen());
    }
    seg
}

fn exercise(mut conn: Connection, iss: u32, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut now = 1u64;
    for step in 0..1500 {
        now += rng.gen_range(0..50);
        if step % 7 == 0 {
            let _ = conn.write(&[1; 3000]);
        }
        if step % 11 == 0 {
            let mut buf = [0; 4096];
            let _ = conn.read(&mut buf);
        }
        if step == 1200 {
            conn.shutdown();
        }
        let seg = random_segment(&mut rng, PEER_ISS + 1, iss.wrapping_add(1));
        send(&mut conn, ms(now), seg);
        if rng.gen_bool(0.1) {
            conn.handle_timeout(ms(now));
        }
        conn.set_congestion_window(rng.gen_range(0..100_000));
        let mut sent = 0;
        while try_recv(&mut conn, ms(now)).is_some() {
            sent += 1;
            assert!(sent < 1000, "poll_transmit does not stop");
        }
        while conn.poll_event().is_some() {}
        while conn.poll_congestion_event().is_some() {}
        let _ = conn.poll_timeout();
        assert!(conn.bytes_in_flight() <= (1 << 31));
        if conn.state() == State::Closed {
            return;
        }
    }
}

#[test]
fn random_segments_in_established() {
    for seed in 0..4 {
        let (conn, iss) = established_with(TcpConfig::default(), ms(0), |s| s.ts(1, 0).ws(14));
        exercise(conn, iss, seed);
        let (conn, iss) = established();
        exercise(conn, iss, seed + 1000);
    }
}

#[test]
fn random_segments_in_handshake_states() {
    for seed in 0..4 {
        let mut conn = Connection::connect(TcpConfig::default(), tuple(), key(), ms(0)).unwrap();
        let syn = recv(&mut conn, ms(0));
        exercise(conn, syn.seq, seed);

        let mut conn = Connection::listen(TcpConfig::default(), local(), key(), ms(0)).unwrap();
        send(&mut conn, ms(0), In::new(SYN, PEER_ISS, 0).ts(1, 0));
        let syn_ack = recv(&mut conn, ms(0));
        exercise(conn, syn_ack.seq, seed + 500);
    }
}

#[test]
fn random_segments_in_closing_states() {
    for seed in 0..4 {
        let (mut conn, iss) = established();
        conn.shutdown();
        let _ = recv(&mut conn, ms(0));
        exercise(conn, iss, seed);

        let (mut conn, iss) = established();
        send(&mut conn, ms(1), In::new(FIN | ACK, PEER_ISS + 1, iss + 1));
        let _ = recv(&mut conn, ms(1));
        exercise(conn, iss, seed + 100);
    }
}
