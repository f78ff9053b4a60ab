//! The endpoint: routing by four-tuple and by token, listeners, resets for
//! what nobody owns (with MP_TCPRST for an unknown token), unique tokens,
//! and two endpoints moving data with a joined subflow.

use std::net::SocketAddr;

use rand_core::RngCore;
use umptcp_cc::{CcConfig, CongestionControl, Registry};
use umptcp_crypto::token;
use umptcp_proto::path_manager::{Announce, NDiffPorts};
use umptcp_proto::{
    ConnectionPolicy, Endpoint, EndpointConfig, MptcpConfig, MptcpEvent, PolicyFactory, Routed,
};
use umptcp_tcp::FourTuple;
use umptcp_time::Instant;
use umptcp_wire::mptcp::{MpJoin, MptcpOption, TcpRstReason};
use umptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};
use umptcp_wire::{AddrId, Key, Nonce, TcpOption, Token};

/// Hands out the given words, then counts up.
struct Script(Vec<u64>, u64);

impl RngCore for Script {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        if self.0.is_empty() {
            self.1 += 1;
            return self.1.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
        self.0.remove(0)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let word = self.next_u64().to_be_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

fn cc() -> Box<dyn FnMut() -> Box<dyn CongestionControl> + Send> {
    Box::new(|| {
        Registry::with_builtins()
            .build("reno", &CcConfig::default())
            .unwrap()
    })
}

fn endpoint(seed: u64) -> Endpoint {
    let mut config = MptcpConfig::default();
    config.tcp.time_wait = std::time::Duration::from_millis(100);
    Endpoint::new(
        config,
        EndpointConfig::default(),
        Box::new(Script(Vec::new(), seed)),
        cc(),
    )
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn syn(from: &str, to: &str, join: Option<MpJoin>) -> Vec<u8> {
    let mut b = SegmentBuilder::new(addr(from), addr(to));
    b.seq = 1000;
    b.flags = TcpFlags::SYN;
    b.window = 65535;
    b.mptcp = join.map(MptcpOption::MpJoin);
    let mut buf = vec![0; b.buffer_len_max()];
    let n = b.emit(&mut buf).unwrap().len;
    buf.truncate(n);
    buf
}

fn out(ep: &mut Endpoint) -> Option<Vec<u8>> {
    let mut buf = vec![0; 2048];
    ep.poll_transmit(Instant::ZERO, &mut buf)
        .map(|t| t.len)
        .map(|n| buf[..n].to_vec())
}

fn rst_reason(packet: &[u8]) -> Option<TcpRstReason> {
    let seg = Segment::parse(packet, ChecksumCheck::Verify).unwrap();
    assert!(seg.flags().contains(TcpFlags::RST), "{:?}", seg.flags());
    seg.options().flatten().find_map(|o| match o {
        TcpOption::Mptcp(MptcpOption::MpTcpRst(r)) => Some(r.reason),
        _ => None,
    })
}

#[test]
fn an_unknown_token_is_refused_with_mp_tcprst() {
    let mut ep = endpoint(1);
    ep.listen(addr("10.0.0.2:80"));
    let join = MpJoin::Syn {
        backup: false,
        addr_id: AddrId(1),
        token: Token(0xdead_beef),
        nonce: Nonce(7),
    };
    let packet = syn("10.0.1.1:4000", "10.0.0.2:80", Some(join));
    let seg = Segment::parse(&packet, ChecksumCheck::Verify).unwrap();
    assert_eq!(ep.handle_segment(Instant::ZERO, &seg), Routed::Refused);
    let rst = out(&mut ep).expect("a reset");
    assert_eq!(rst_reason(&rst), Some(TcpRstReason::MptcpSpecific));
    let rst = Segment::parse(&rst, ChecksumCheck::Verify).unwrap();
    assert_eq!(rst.ack(), 1001, "RST/ACK of the SYN");
    assert!(ep.is_empty());
}

#[test]
fn a_syn_to_a_closed_port_is_reset_and_a_reset_is_not_answered() {
    let mut ep = endpoint(2);
    let packet = syn("10.0.1.1:4000", "10.0.0.2:81", None);
    let seg = Segment::parse(&packet, ChecksumCheck::Verify).unwrap();
    assert_eq!(ep.handle_segment(Instant::ZERO, &seg), Routed::Refused);
    assert_eq!(rst_reason(&out(&mut ep).unwrap()), None);
    let rst = SegmentBuilder {
        flags: TcpFlags::RST,
        ..SegmentBuilder::new(addr("10.0.1.1:4000"), addr("10.0.0.2:81"))
    };
    let mut buf = vec![0; 128];
    let n = rst.emit(&mut buf).unwrap().len;
    let seg = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
    assert_eq!(ep.handle_segment(Instant::ZERO, &seg), Routed::Refused);
    assert!(out(&mut ep).is_none());
}

/// The second connection's first key has the first one's token: the
/// endpoint draws again, so a token names one connection.
#[test]
fn a_colliding_token_means_a_new_key() {
    const K: u64 = 0x0102_0304_0506_0708;
    // 4 words for the ISN secret, then the same key twice, then another.
    let words = vec![1, 2, 3, 4, K, K, K + 1];
    let mut ep = Endpoint::new(
        MptcpConfig::default(),
        EndpointConfig::default(),
        Box::new(Script(words, 9)),
        cc(),
    );
    let tuple = |port| FourTuple {
        local: addr(&format!("10.0.0.1:{port}")),
        remote: addr("10.0.0.2:80"),
    };
    let a = ep.connect(Instant::ZERO, tuple(1)).unwrap();
    let b = ep.connect(Instant::ZERO, tuple(2)).unwrap();
    let key_a = ep.connection(a).unwrap().local_key();
    let key_b = ep.connection(b).unwrap().local_key();
    assert_eq!(key_a, Key(K));
    assert_eq!(key_b, Key(K + 1));
    assert_ne!(token(key_a), token(key_b));
}

/// Two endpoints back to back: a connection, a join routed by its token,
/// established, the data through, a clean close, and both endpoints
/// forget the connection.
#[test]
fn two_endpoints_join_and_close() {
    let mut client = endpoint(3);
    let mut server = endpoint(4);
    server.listen(addr("10.0.1.2:80"));
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut joined = false;
    server.listen(addr("10.0.0.2:80"));
    let policy = ConnectionPolicy::default();
    let (events, tuples) = transfer_with(
        &mut client,
        &mut server,
        &data,
        policy,
        |ep, id, now, event| {
            // The application opens a subflow itself (the `manual` policy).
            if matches!(event, MptcpEvent::Connected { mptcp: true }) && !joined {
                let tuple = FourTuple {
                    local: addr("10.0.1.1:5001"),
                    remote: addr("10.0.1.2:80"),
                };
                ep.open_subflow(now, id, tuple, AddrId(1), false).unwrap();
                joined = true;
            }
        },
    );
    assert!(joined);
    assert!(
        events.contains(&MptcpEvent::SubflowEstablished(umptcp_proto::SubflowId(1))),
        "{events:?}"
    );
    assert_eq!(tuples[0].local, addr("10.0.1.1:5001"));
}

/// Move `data` from `client` to `server` over one connection from
/// `10.0.0.1:5000` to `10.0.0.2:80`, back to back without loss, until
/// both endpoints forgot it. Returns the client's events and, for each
/// subflow established, its four-tuple.
fn transfer(
    client: &mut Endpoint,
    server: &mut Endpoint,
    data: &[u8],
) -> (Vec<MptcpEvent>, Vec<FourTuple>) {
    server.listen(addr("10.0.0.2:80"));
    let policy = ConnectionPolicy::default();
    transfer_with(client, server, data, policy, |_, _, _, _| {})
}

/// [`transfer`] to a server already listening, the client's connection
/// opened with `policy`; `on_event` sees the client's every event first.
fn transfer_with(
    client: &mut Endpoint,
    server: &mut Endpoint,
    data: &[u8],
    policy: ConnectionPolicy,
    mut on_event: impl FnMut(&mut Endpoint, umptcp_proto::ConnectionId, Instant, MptcpEvent),
) -> (Vec<MptcpEvent>, Vec<FourTuple>) {
    let id = client
        .connect_with(
            Instant::ZERO,
            FourTuple {
                local: addr("10.0.0.1:5000"),
                remote: addr("10.0.0.2:80"),
            },
            policy,
        )
        .unwrap();
    let (mut written, mut received) = (0, Vec::new());
    let (mut events, mut tuples) = (Vec::new(), Vec::new());
    let mut now = Instant::ZERO;
    let mut buf = vec![0; 2048];
    for _ in 0..200_000 {
        now += std::time::Duration::from_micros(100);
        if let Some(c) = client.connection(id) {
            if written < data.len() {
                written += c.write(&data[written..]);
            } else {
                c.shutdown();
            }
        }
        while let Some(n) = client.poll_transmit(now, &mut buf).map(|t| t.len) {
            let seg = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
            server.handle_segment(now, &seg);
        }
        while let Some((sid, event)) = server.poll_event() {
            if event == MptcpEvent::PeerClosed {
                server.connection(sid).unwrap().shutdown();
            }
        }
        while let Some(sid) = server.accept() {
            let _ = sid;
        }
        let ids: Vec<_> = (0..4).map(umptcp_proto::ConnectionId).collect();
        for sid in ids {
            if let Some(s) = server.connection(sid) {
                let mut chunk = [0; 4096];
                loop {
                    let n = s.read(&mut chunk);
                    if n == 0 {
                        break;
                    }
                    received.extend_from_slice(&chunk[..n]);
                }
            }
        }
        while let Some(n) = server.poll_transmit(now, &mut buf).map(|t| t.len) {
            let seg = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
            client.handle_segment(now, &seg);
        }
        while let Some((_, event)) = client.poll_event() {
            on_event(client, id, now, event);
            if let MptcpEvent::SubflowEstablished(sub) = event {
                let stats = client.connection(id).unwrap().subflows();
                tuples.extend(stats.filter(|s| s.id == sub).map(|s| s.tuple));
            }
            if event != MptcpEvent::Writable && event != MptcpEvent::Readable {
                events.push(event);
            }
        }
        client.handle_timeout(now);
        server.handle_timeout(now);
        if client.is_empty() && server.is_empty() {
            break;
        }
    }
    assert!(
        received == data,
        "{} of {} bytes",
        received.len(),
        data.len()
    );
    assert!(client.is_empty() && server.is_empty(), "not closed");
    (events, tuples)
}

/// `fullmesh` on the client and `announce` on the server, each host with
/// a second address: the client joins from its second address, learns
/// the server's by ADD_ADDR, and meshes both pairs: four subflows.
#[test]
fn fullmesh_meets_announce() {
    let mut client = endpoint(5);
    client.add_local_address("10.0.1.1".parse().unwrap());
    client.set_path_manager(umptcp_proto::path_manager::by_name("fullmesh").unwrap());
    let mut server = endpoint(6);
    server.add_local_address("10.0.1.2".parse().unwrap());
    server.set_path_manager(umptcp_proto::path_manager::by_name("announce").unwrap());
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let (events, mut tuples) = transfer(&mut client, &mut server, &data);
    assert!(
        events.contains(&MptcpEvent::AddressAnnounced(umptcp_proto::RemoteAddress {
            id: AddrId(1),
            addr: "10.0.1.2".parse().unwrap(),
            port: None,
        })),
        "{events:?}"
    );
    let mut pairs: Vec<_> = tuples
        .drain(..)
        .map(|t| (t.local.ip().to_string(), t.remote.to_string()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("10.0.0.1".into(), "10.0.1.2:80".into()),
            ("10.0.1.1".into(), "10.0.0.2:80".into()),
            ("10.0.1.1".into(), "10.0.1.2:80".into()),
        ],
        "the three joins besides the initial subflow"
    );
}

/// `ndiffports` with 3: two more subflows over the same address pair,
/// each from its own port.
#[test]
fn ndiffports_opens_subflows_over_one_address_pair() {
    let mut client = endpoint(7);
    client.set_path_manager(Box::new(umptcp_proto::path_manager::NDiffPorts { n: 3 }));
    let mut server = endpoint(8);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let (_, tuples) = transfer(&mut client, &mut server, &data);
    assert_eq!(tuples.len(), 2, "{tuples:?}");
    for t in &tuples {
        assert_eq!(t.local.ip().to_string(), "10.0.0.1");
        assert_eq!(t.remote, addr("10.0.0.2:80"));
        assert_ne!(t.local.port(), 5000);
    }
    assert_ne!(tuples[0].local.port(), tuples[1].local.port());
}

/// A SYN flood fills the backlog, not memory: past `max_half_open`
/// handshakes in progress, a SYN is refused with a reset.
#[test]
fn the_backlog_bounds_half_open_connections() {
    let mut limits = EndpointConfig::default();
    limits.max_half_open = 3;
    let mut ep = Endpoint::new(
        MptcpConfig::default(),
        limits,
        Box::new(Script(Vec::new(), 11)),
        cc(),
    );
    ep.listen(addr("10.0.0.2:80"));
    for port in 0..5u16 {
        let packet = syn(
            &format!("10.0.9.{}:{}", port + 1, 4000 + port),
            "10.0.0.2:80",
            None,
        );
        let seg = Segment::parse(&packet, ChecksumCheck::Verify).unwrap();
        let routed = ep.handle_segment(Instant::ZERO, &seg);
        if port < 3 {
            assert!(matches!(routed, Routed::Accepted(_)), "{port}: {routed:?}");
        } else {
            assert_eq!(routed, Routed::Refused, "{port}");
        }
    }
    assert_eq!(ep.len(), 3);
}

/// A connection's own policy wins over its endpoint's: the client
/// endpoint opens nothing by itself (`manual`), but one connection asks
/// for `ndiffports` with 3 subflows, round-robin and CUBIC, and gets
/// them; the next connection, without a policy, keeps the defaults.
#[test]
fn a_connection_policy_replaces_the_endpoint_defaults() {
    let mut client = endpoint(21);
    let mut server = endpoint(22);
    server.listen(addr("10.0.0.2:80"));
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 249) as u8).collect();
    let cubic = Registry::with_builtins()
        .build("cubic", &CcConfig::default())
        .unwrap();
    let policy = ConnectionPolicy::new()
        .with_path_manager(Box::new(NDiffPorts { n: 3 }))
        .with_scheduler(umptcp_proto::scheduler::by_name("roundrobin").unwrap())
        .with_congestion_control(cubic);
    let mut seen = None;
    let (_, tuples) = transfer_with(&mut client, &mut server, &data, policy, |ep, id, _, e| {
        if e == (MptcpEvent::Connected { mptcp: true }) {
            let conn = ep.connection(id).unwrap();
            seen = Some((
                conn.scheduler().name(),
                conn.congestion_control().name().to_owned(),
            ));
        }
    });
    assert_eq!(tuples.len(), 2, "ndiffports opened two more: {tuples:?}");
    let (scheduler, cc) = seen.expect("connected");
    assert_eq!(scheduler, "roundrobin");
    assert_eq!(cc, "cubic");
    let (_, tuples) = transfer_with(
        &mut client,
        &mut server,
        &data,
        ConnectionPolicy::default(),
        |ep, id, _, e| {
            if e == (MptcpEvent::Connected { mptcp: true }) {
                assert_eq!(ep.connection(id).unwrap().scheduler().name(), "minrtt");
            }
        },
    );
    assert!(
        tuples.is_empty(),
        "the default (manual) opens none: {tuples:?}"
    );
}

/// A listener's policy factory gives each accepted connection its own
/// path manager: this server announces its second address (`announce`)
/// although the endpoint's default is `manual`.
#[test]
fn a_listener_policy_applies_to_every_connection_it_accepts() {
    let mut client = endpoint(23);
    let mut server = endpoint(24);
    server.add_local_address("10.0.1.2".parse().unwrap());
    server.listen_with(
        addr("10.0.0.2:80"),
        PolicyFactory::new(|| ConnectionPolicy::new().with_path_manager(Box::new(Announce))),
    );
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 247) as u8).collect();
    for _ in 0..2 {
        let (events, _) = transfer_with(
            &mut client,
            &mut server,
            &data,
            ConnectionPolicy::default(),
            |_, _, _, _| {},
        );
        assert!(
            events.iter().any(
                |e| matches!(e, MptcpEvent::AddressAnnounced(a) if a.addr.to_string() == "10.0.1.2")
            ),
            "{events:?}"
        );
    }
}

/// A peer that refuses every MP_JOIN (here: its limit of one subflow)
/// does not get a new SYN every round trip: after each failed join over
/// an address pair the next waits 1 s, 2 s, 4 s, ... (the fullmesh path
/// manager asks again at every close).
#[test]
fn refused_joins_are_retried_with_a_doubling_delay() {
    let mut client = endpoint(11);
    client.add_local_address("10.0.1.1".parse().unwrap());
    client.set_path_manager(umptcp_proto::path_manager::by_name("fullmesh").unwrap());
    let mut config = MptcpConfig::default();
    config.max_subflows = 1;
    let mut server = Endpoint::new(
        config,
        EndpointConfig::default(),
        Box::new(Script(Vec::new(), 12)),
        cc(),
    );
    server.listen(addr("10.0.0.2:80"));
    let id = client
        .connect(
            Instant::ZERO,
            FourTuple {
                local: addr("10.0.0.1:5000"),
                remote: addr("10.0.0.2:80"),
            },
        )
        .unwrap();
    // A byte each way confirms MPTCP (a DATA_ACK), which lets the client's
    // path manager start.
    assert_eq!(client.connection(id).unwrap().write(b"?"), 1);
    let mut join_syns = Vec::new();
    let mut buf = vec![0; 2048];
    let step = std::time::Duration::from_millis(1);
    let mut now = Instant::ZERO;
    while now < Instant::from_millis(10_000) {
        now += step;
        client.handle_timeout(now);
        server.handle_timeout(now);
        while let Some(n) = client.poll_transmit(now, &mut buf).map(|t| t.len) {
            let seg = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
            let is_join = seg
                .options()
                .flatten()
                .any(|o| matches!(o, TcpOption::Mptcp(MptcpOption::MpJoin(MpJoin::Syn { .. }))));
            if is_join && seg.flags().contains(TcpFlags::SYN) {
                join_syns.push(now);
            }

            server.handle_segment(now, &seg);
        }
        while server.poll_event().is_some() {}
        while let Some(sid) = server.accept() {
            let conn = server.connection(sid).unwrap();
            assert_eq!(conn.write(b"!"), 1);
        }
        while let Some(n) = server.poll_transmit(now, &mut buf).map(|t| t.len) {
            let seg = Segment::parse(&buf[..n], ChecksumCheck::Verify).unwrap();
            client.handle_segment(now, &seg);
        }
        while client.poll_event().is_some() {}
    }
    assert!(client.connection(id).is_some(), "the connection lives on");
    // Joins at about 0 s, then 1, 2 and 4 s after each refusal: 0, 1, 3
    // and 7 s (each a few milliseconds later, the refusal's round trip).
    let secs: Vec<u64> = join_syns
        .iter()
        .map(|t| t.since_epoch().as_secs())
        .collect();
    assert_eq!(secs, [0, 1, 3, 7], "{join_syns:?}");
}
