//! Two connections move a megabyte through an in-memory link that drops
//! packets deterministically; the bytes must arrive exact and both sides
//! must close cleanly.

mod common;

use std::collections::VecDeque;

use common::*;
use umptcp_tcp::{Connection, Event, FourTuple, State, TcpConfig};
use umptcp_time::Instant;
use umptcp_wire::segment::{ChecksumCheck, Segment};

/// One direction of the link: packets with their arrival time.
#[derive(Default)]
struct Link {
    queue: VecDeque<(Instant, Vec<u8>)>,
    sent: u64,
    dropped: u64,
}

struct Scenario {
    tuple: FourTuple,
    config: TcpConfig,
    /// Drop the n-th packet of a direction when `drop(n)` is true.
    drop: fn(u64) -> bool,
    delay_ms: u64,
    /// Hold the n-th packet of a direction back by `delay_ms` more, so that
    /// later ones overtake it.
    reorder: fn(u64) -> bool,
    len: usize,
}

impl Link {
    /// Queue `packet` for `at`, keeping the queue in arrival order.
    fn push(&mut self, at: Instant, packet: &[u8]) {
        let pos = self
            .queue
            .iter()
            .rposition(|p| p.0 <= at)
            .map_or(0, |i| i + 1);
        self.queue.insert(pos, (at, packet.to_vec()));
    }
}

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn run(scenario: Scenario) -> (Connection, Connection, Instant) {
    let delay = dur(scenario.delay_ms);
    let data: Vec<u8> = (0..scenario.len).map(pattern).collect();
    let mut now = Instant::ZERO;
    let mut client =
        Connection::connect(scenario.config.clone(), scenario.tuple, key(), now).unwrap();
    let mut server: Option<Connection> = None;
    let mut to_server = Link::default();
    let mut to_client = Link::default();
    let mut written = 0;
    let mut received = Vec::with_capacity(scenario.len);
    let mut buf = vec![0u8; 2048];
    let mut read_buf = vec![0u8; 10_000];
    let mut client_closed = false;
    let mut server_closed = false;
    let mut server_shutdown = false;

    for _round in 0..2_000_000 {
        // Application: the client writes as much as fits, then closes.
        if written < data.len() {
            written += client.write(&data[written..]);
            if written == data.len() {
                client.shutdown();
            }
        }
        if let Some(server) = server.as_mut() {
            loop {
                let n = server.read(&mut read_buf);
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&read_buf[..n]);
            }
            while let Some(event) = server.poll_event() {
                match event {
                    Event::PeerClosed => {
                        server.shutdown();
                        server_shutdown = true;
                    }
                    Event::Closed => server_closed = true,
                    Event::Reset | Event::TimedOut => panic!("server {event:?}"),
                    _ => {}
                }
            }
        }
        while let Some(event) = client.poll_event() {
            match event {
                Event::Closed => client_closed = true,
                Event::Reset | Event::TimedOut => panic!("client {event:?}"),
                _ => {}
            }
        }
        if client_closed && server_closed {
            break;
        }
        // A trivial controller: a fixed window, one MSS after an RTO until
        // the next ACK.
        for conn in std::iter::once(&mut client).chain(server.as_mut()) {
            while let Some(event) = conn.poll_congestion_event() {
                let window = match event {
                    umptcp_cc::CongestionEvent::RetransmissionTimeout { .. } => 1460,
                    umptcp_cc::CongestionEvent::FastRetransmit { .. } => 16 * 1460,
                    _ => 32 * 1460,
                };
                conn.set_congestion_window(window);
            }
        }
        // Transmit.
        while let Some(n) = client.poll_transmit(now, &mut buf) {
            let i = to_server.sent;
            to_server.sent += 1;
            if (scenario.drop)(i) {
                to_server.dropped += 1;
            } else {
                let extra = if (scenario.reorder)(i) { delay } else { dur(0) };
                to_server.push(now + delay + extra, &buf[..n]);
            }
        }
        if let Some(server) = server.as_mut() {
            while let Some(n) = server.poll_transmit(now, &mut buf) {
                let i = to_client.sent;
                to_client.sent += 1;
                if (scenario.drop)(i) {
                    to_client.dropped += 1;
                } else {
                    let extra = if (scenario.reorder)(i) { delay } else { dur(0) };
                    to_client.push(now + delay + extra, &buf[..n]);
                }
            }
        }
        // Advance to the next thing that happens.
        let next = [
            to_server.queue.front().map(|p| p.0),
            to_client.queue.front().map(|p| p.0),
            client.poll_timeout(),
            server.as_ref().and_then(|s| s.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            panic!(
                "stalled: client {} server {:?}, {} of {} bytes",
                client.state(),
                server.as_ref().map(|s| s.state()),
                received.len(),
                data.len()
            );
        };
        now = now.max(next);
        while to_server.queue.front().is_some_and(|p| p.0 <= now) {
            let (_, packet) = to_server.queue.pop_front().unwrap();
            let segment = Segment::parse(&packet, ChecksumCheck::Verify).unwrap();
            match server.as_mut() {
                Some(server) => {
                    server.handle_segment(now, &segment);
                }
                None => {
                    server = Some(
                        Connection::accept(scenario.config.clone(), &segment, key(), now).unwrap(),
                    )
                }
            }
        }
        while to_client.queue.front().is_some_and(|p| p.0 <= now) {
            let (_, packet) = to_client.queue.pop_front().unwrap();
            client.handle_segment(
                now,
                &Segment::parse(&packet, ChecksumCheck::Verify).unwrap(),
            );
        }
        client.handle_timeout(now);
        if let Some(server) = server.as_mut() {
            server.handle_timeout(now);
        }
    }
    assert!(server_shutdown);
    assert!(client_closed && server_closed, "did not finish");
    assert_eq!(received.len(), data.len());
    assert!(received == data, "bytes differ");
    let server = server.unwrap();
    assert_eq!(client.state(), State::Closed);
    assert_eq!(server.state(), State::Closed);
    assert_eq!(server.bytes_received(), data.len() as u64);
    (client, server, now)
}

fn fast_close(mut config: TcpConfig) -> TcpConfig {
    config.time_wait = dur(1000);
    config
}

#[test]
fn megabyte_without_loss() {
    let (client, _, now) = run(Scenario {
        tuple: tuple(),
        config: fast_close(TcpConfig::default()),
        drop: |_| false,
        delay_ms: 10,
        reorder: |_| false,
        len: 1 << 20,
    });
    assert_eq!(client.retransmissions(), 0);
    assert!(client.timestamps_enabled());
    // 1 MiB at 32 MSS per 20 ms RTT is about 0.5 s, plus TIME-WAIT.
    assert!(now < ms(3000), "took {now:?}");
}

#[test]
fn megabyte_with_loss() {
    let (client, server, _) = run(Scenario {
        tuple: tuple(),
        config: fast_close(TcpConfig::default()),
        drop: |i| i % 13 == 7,
        delay_ms: 10,
        reorder: |_| false,
        len: 1 << 20,
    });
    assert!(client.retransmissions() > 0);
    let _ = server;
}

#[test]
fn megabyte_with_loss_plain_options() {
    let mut config = plain_config();
    // TIME-WAIT must outlast the server's RTO: its SYN-ACK is lost, so
    // without timestamps it has no RTT sample and its RTO stays at seconds
    // (RFC 6298 §5.7); a lost last ACK would strand its FIN otherwise.
    config.time_wait = dur(10_000);
    config.nagle = true;
    run(Scenario {
        tuple: tuple(),
        config,
        drop: |i| i % 7 == 3 || i % 31 == 0,
        delay_ms: 5,
        reorder: |_| false,
        len: 1 << 20,
    });
}

#[test]
fn small_receive_buffer_with_loss() {
    // A receive buffer of 4 KiB keeps the window closing and opening.
    let mut config = fast_close(TcpConfig::default());
    config.recv_buffer = 4096;
    config.send_buffer = 8192;
    config.mss = 536;
    run(Scenario {
        tuple: tuple(),
        config,
        drop: |i| i % 11 == 5,
        delay_ms: 3,
        reorder: |_| false,
        len: 200_000,
    });
}

#[test]
fn handshake_and_fin_losses() {
    // Drop the first two packets each way (SYN, SYN-ACK) and more.
    run(Scenario {
        tuple: tuple(),
        config: fast_close(TcpConfig::default()),
        drop: |i| i < 2 || i % 5 == 4,
        delay_ms: 20,
        reorder: |_| false,
        len: 100_000,
    });
}

#[test]
fn megabyte_with_reordering_and_loss() {
    let (client, server, _) = run(Scenario {
        tuple: tuple(),
        config: fast_close(TcpConfig::default()),
        drop: |i| i % 29 == 11,
        delay_ms: 8,
        reorder: |i| i % 9 == 2,
        len: 1 << 20,
    });
    assert!(client.retransmissions() > 0);
    assert_eq!(server.state(), State::Closed);
}

#[test]
fn over_ipv6() {
    let (client, _, _) = run(Scenario {
        tuple: FourTuple {
            local: "[2001:db8::1]:40000".parse().unwrap(),
            remote: "[2001:db8::2]:80".parse().unwrap(),
        },
        config: fast_close(TcpConfig::default()),
        drop: |i| i % 23 == 4,
        delay_ms: 10,
        reorder: |_| false,
        len: 300_000,
    });
    assert!(client.four_tuple().local.is_ipv6());
}
