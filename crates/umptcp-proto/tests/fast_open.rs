//! MPTCP Fast Open (RFC 8684 Appendix B, erratum 6609) between two of our
//! endpoints: the MP_CAPABLE SYN carries a cookie and data; the server
//! reads that data at once, ahead of the data stream, outside the data
//! sequence space; whatever the server did not take is sent again as the
//! start of the data stream. Every case checks the whole stream byte for
//! byte, and what went on the wire.

use std::net::SocketAddr;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use umptcp_cc::{CcConfig, CongestionControl, Registry};
use umptcp_proto::{
    Admission, ConnectOptions, ConnectionId, Endpoint, EndpointConfig, Listen, ListenOptions,
    MptcpConfig, MptcpEvent, Protocol, Routed,
};
use umptcp_tcp::{FastOpenCookie, FourTuple};
use umptcp_time::Instant;
use umptcp_wire::TcpOption;
use umptcp_wire::mptcp::MptcpOption;
use umptcp_wire::segment::{ChecksumCheck, Segment, TcpFlags};

fn cc() -> Box<dyn FnMut() -> Box<dyn CongestionControl> + Send> {
    Box::new(|| {
        Registry::with_builtins()
            .build("reno", &CcConfig::default())
            .unwrap()
    })
}

fn endpoint(seed: u64, checksum: bool) -> Endpoint {
    let mut config = MptcpConfig::default();
    config.checksum = checksum;
    Endpoint::new(
        config,
        EndpointConfig::default(),
        Box::new(ChaCha8Rng::seed_from_u64(seed)),
        cc(),
    )
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const SERVER: &str = "10.0.0.2:80";

/// Which way a packet goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    ToServer,
    ToClient,
}

/// What one run saw.
struct Run {
    /// What the server could read as soon as it accepted the SYN: the
    /// SYN's data.
    early: Vec<u8>,
    /// Everything the server read, in order.
    got: Vec<u8>,
    /// What the client sent back the other way arrived whole.
    back: Vec<u8>,
    /// The client's first SYN.
    syn: Vec<u8>,
    /// The server's first SYN/ACK.
    syn_ack: Vec<u8>,
    client_mptcp: bool,
    server_mptcp: bool,
    cookie: Option<FastOpenCookie>,
}

/// One connection from `client` to `server` (listening as `listen`)
/// opened with `fast_open`, `data` written before the first transmission
/// and 64 KiB sent back; `filter` drops a packet when it returns `false`.
fn run(
    client: &mut Endpoint,
    server: &mut Endpoint,
    listen: ListenOptions,
    fast_open: Option<Option<FastOpenCookie>>,
    data: &[u8],
    filter: impl FnMut(Dir, &Segment<'_>) -> bool,
) -> Run {
    let options = ConnectOptions {
        fast_open,
        ..ConnectOptions::default()
    };
    run_with(client, server, listen, options, data, filter)
}

/// [`run`] with the client's whole `ConnectOptions`.
fn run_with(
    client: &mut Endpoint,
    server: &mut Endpoint,
    listen: ListenOptions,
    options: ConnectOptions,
    data: &[u8],
    mut filter: impl FnMut(Dir, &Segment<'_>) -> bool,
) -> Run {
    server.listen_on_with(Listen::Port(80), Admission::Accept(None), listen);
    let tuple = FourTuple {
        local: addr("10.0.1.1:0"),
        remote: addr(SERVER),
    };
    let mut now = Instant::ZERO;
    let cid = client.open(now, tuple, options).unwrap();
    let first = client.connection(cid).unwrap().write(data);
    let mut written = first;
    let reply = vec![0xa5u8; 64 * 1024];
    let mut replied = 0;
    let mut sid: Option<ConnectionId> = None;
    let mut run = Run {
        early: Vec::new(),
        got: Vec::new(),
        back: Vec::new(),
        syn: Vec::new(),
        syn_ack: Vec::new(),
        client_mptcp: false,
        server_mptcp: false,
        cookie: None,
    };
    let mut buf = vec![0; 65_536];
    let mut chunk = vec![0; 16 * 1024];
    for _ in 0..20_000 {
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            let seg = Segment::parse(&buf[..t.len], ChecksumCheck::Verify).unwrap();
            if run.syn.is_empty() && seg.flags() == TcpFlags::SYN {
                run.syn = buf[..t.len].to_vec();
            }
            if !filter(Dir::ToServer, &seg) {
                continue;
            }
            if let Routed::Accepted(id) = server.handle_segment(now, &seg) {
                sid = Some(id);
                // What is readable as the SYN is accepted.
                let c = server.connection(id).unwrap();
                assert!(!c.is_mptcp(), "the handshake has not ended");
                loop {
                    let n = c.read(&mut chunk);
                    if n == 0 {
                        break;
                    }
                    run.early.extend_from_slice(&chunk[..n]);
                    run.got.extend_from_slice(&chunk[..n]);
                }
            }
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            let seg = Segment::parse(&buf[..t.len], ChecksumCheck::Verify).unwrap();
            if run.syn_ack.is_empty() && seg.flags() == TcpFlags::SYN | TcpFlags::ACK {
                run.syn_ack = buf[..t.len].to_vec();
            }
            if !filter(Dir::ToClient, &seg) {
                continue;
            }
            let _ = client.handle_segment(now, &seg);
        }
        if let Some(c) = sid.and_then(|id| server.connection(id)) {
            loop {
                let n = c.read(&mut chunk);
                if n == 0 {
                    break;
                }
                run.got.extend_from_slice(&chunk[..n]);
            }
            if replied < reply.len() {
                replied += c.write(&reply[replied..]);
            }
        }
        if let Some(c) = client.connection(cid) {
            if written < data.len() {
                written += c.write(&data[written..]);
            }
            loop {
                let n = c.read(&mut chunk);
                if n == 0 {
                    break;
                }
                run.back.extend_from_slice(&chunk[..n]);
            }
        }
        while let Some((id, e)) = client.poll_event() {
            assert!(
                !matches!(e, MptcpEvent::Reset | MptcpEvent::ProtocolError(_)),
                "client {id:?}: {e:?}"
            );
        }
        while let Some((_, e)) = server.poll_event() {
            assert!(
                !matches!(e, MptcpEvent::Reset | MptcpEvent::ProtocolError(_)),
                "server: {e:?}"
            );
        }
        if run.got.len() == data.len() && run.back.len() == reply.len() {
            break;
        }
        now += Duration::from_millis(1);
        client.handle_timeout(now);
        server.handle_timeout(now);
    }
    let c = client.connection(cid).unwrap();
    run.client_mptcp = c.is_mptcp();
    run.cookie = c.fast_open_cookie();
    run.server_mptcp = server
        .connection(sid.expect("accepted"))
        .unwrap()
        .is_mptcp();
    assert!(
        run.back == reply,
        "the server's data, byte-exact: {} of {} bytes",
        run.back.len(),
        reply.len()
    );
    assert!(
        run.got == data,
        "the client's data, byte-exact and once: {} bytes of {}",
        run.got.len(),
        data.len()
    );
    run
}

fn payload(packet: &[u8]) -> Vec<u8> {
    Segment::parse(packet, ChecksumCheck::Verify)
        .unwrap()
        .payload()
        .to_vec()
}

fn ack(packet: &[u8]) -> u32 {
    Segment::parse(packet, ChecksumCheck::Verify).unwrap().ack()
}

fn seq(packet: &[u8]) -> u32 {
    Segment::parse(packet, ChecksumCheck::Verify).unwrap().seq()
}

/// The Fast Open option of a packet: `Some(cookie)` (empty: a request).
fn fast_open_option(packet: &[u8]) -> Option<Vec<u8>> {
    let seg = Segment::parse(packet, ChecksumCheck::Verify).unwrap();
    seg.options().flatten().find_map(|o| match o {
        TcpOption::FastOpen(c) => Some(c.to_vec()),
        _ => None,
    })
}

fn has_mp_capable(packet: &[u8]) -> bool {
    let seg = Segment::parse(packet, ChecksumCheck::Verify).unwrap();
    seg.options()
        .flatten()
        .any(|o| matches!(o, TcpOption::Mptcp(MptcpOption::MpCapable(_))))
}

fn fast_open_server() -> ListenOptions {
    ListenOptions {
        protocol: Protocol::Mptcp,
        fast_open: true,
        syn_data_without_cookie: false,
    }
}

fn request(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// The first connection asks for a cookie (its data follows the
/// handshake); the second sends cookie and data on the MP_CAPABLE SYN, the
/// server reads the data before the handshake ends, and relative subflow
/// sequence numbers and DSS checksums agree on both ends past it.
#[test]
fn a_cookie_is_learned_then_the_syn_carries_data_over_mptcp() {
    for checksum in [false, true] {
        let mut client = endpoint(1, checksum);
        let mut server = endpoint(2, checksum);
        let first = run(
            &mut client,
            &mut server,
            fast_open_server(),
            Some(None),
            &request(3000),
            |_, _| true,
        );
        assert_eq!(fast_open_option(&first.syn), Some(Vec::new()), "a request");
        assert!(payload(&first.syn).is_empty(), "no data without a cookie");
        assert!(first.early.is_empty());
        assert!(first.client_mptcp && first.server_mptcp);
        let cookie = first.cookie.expect("the server granted a cookie");

        let data = request(200_000);
        let second = run(
            &mut client,
            &mut server,
            fast_open_server(),
            Some(Some(cookie)),
            &data,
            |_, _| true,
        );
        let on_syn = payload(&second.syn);
        assert!(has_mp_capable(&second.syn));
        assert_eq!(
            fast_open_option(&second.syn).as_deref(),
            Some(cookie.as_bytes())
        );
        assert!(
            !on_syn.is_empty() && on_syn.len() < 1460,
            "{}",
            on_syn.len()
        );
        assert!(on_syn == data[..on_syn.len()], "the head of the stream");
        assert_eq!(
            ack(&second.syn_ack),
            seq(&second.syn).wrapping_add(1 + on_syn.len() as u32),
            "SYN and data acknowledged"
        );
        assert!(has_mp_capable(&second.syn_ack));
        assert_eq!(second.early, on_syn, "readable before the handshake ends");
        assert!(
            second.client_mptcp && second.server_mptcp,
            "checksum {checksum}"
        );
    }
}

/// A server that does not take SYN data (no Fast Open there) acknowledges
/// the SYN only: the bytes are sent again as the first data of the stream,
/// with the implied mapping (data sequence IDSN + 1, relative sequence 1).
#[test]
fn syn_data_the_server_leaves_starts_the_data_stream() {
    for checksum in [false, true] {
        let mut client = endpoint(3, checksum);
        let mut server = endpoint(4, checksum);
        let cookie = FastOpenCookie::new(&[9; 8]).unwrap();
        let data = request(50_000);
        let r = run(
            &mut client,
            &mut server,
            ListenOptions::default(),
            Some(Some(cookie)),
            &data,
            |_, _| true,
        );
        assert!(!payload(&r.syn).is_empty(), "the SYN took data along");
        assert_eq!(ack(&r.syn_ack), seq(&r.syn).wrapping_add(1), "SYN only");
        assert!(r.early.is_empty());
        assert!(r.client_mptcp && r.server_mptcp);
    }
}

/// A cookie the server did not issue: with `syn_data_without_cookie` (an
/// RFC 8803 converter) the data is taken anyway; without, it is left and
/// a fresh cookie comes back for next time.
#[test]
fn a_foreign_cookie_is_refused_unless_the_listener_takes_any_syn_data() {
    let foreign = FastOpenCookie::new(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let data = request(10_000);
    let mut client = endpoint(5, false);
    let mut server = endpoint(6, false);
    let refused = run(
        &mut client,
        &mut server,
        fast_open_server(),
        Some(Some(foreign)),
        &data,
        |_, _| true,
    );
    assert!(refused.early.is_empty());
    assert_eq!(ack(&refused.syn_ack), seq(&refused.syn).wrapping_add(1));
    assert!(
        refused.cookie.is_some_and(|c| c != foreign),
        "a fresh cookie"
    );

    let mut client = endpoint(7, false);
    let mut server = endpoint(8, false);
    let taken = run(
        &mut client,
        &mut server,
        ListenOptions {
            syn_data_without_cookie: true,
            ..fast_open_server()
        },
        Some(Some(foreign)),
        &data,
        |_, _| true,
    );
    assert_eq!(taken.early, payload(&taken.syn));
    assert!(!taken.early.is_empty());
    assert!(taken.client_mptcp && taken.server_mptcp);
}

/// The SYN with data is lost: the SYN sent again carries none (as Linux's),
/// and all the data goes in the stream.
#[test]
fn a_lost_syn_with_data_is_sent_again_without() {
    for checksum in [false, true] {
        let mut client = endpoint(9, checksum);
        let mut server = endpoint(10, checksum);
        let cookie = FastOpenCookie::new(&[3; 8]).unwrap();
        let mut syns = 0;
        let data = request(30_000);
        let r = run(
            &mut client,
            &mut server,
            ListenOptions {
                syn_data_without_cookie: true,
                ..fast_open_server()
            },
            Some(Some(cookie)),
            &data,
            |dir, seg| {
                if dir == Dir::ToServer && seg.flags() == TcpFlags::SYN {
                    syns += 1;
                    return syns > 1;
                }
                true
            },
        );
        assert!(!payload(&r.syn).is_empty());
        assert!(r.early.is_empty(), "the second SYN carried nothing");
        assert!(r.client_mptcp && r.server_mptcp);
    }
}

/// The SYN/ACK with the cookie's answer is lost: the server took the SYN's
/// data and sends its SYN/ACK again; the client's repeated SYN (no data)
/// is answered with the same, and the stream goes on past the data.
#[test]
fn a_lost_syn_ack_leaves_the_syn_data_taken_once() {
    let mut client = endpoint(11, true);
    let mut server = endpoint(12, true);
    let cookie = FastOpenCookie::new(&[4; 8]).unwrap();
    let mut syn_acks = 0;
    let data = request(30_000);
    let r = run(
        &mut client,
        &mut server,
        ListenOptions {
            syn_data_without_cookie: true,
            ..fast_open_server()
        },
        Some(Some(cookie)),
        &data,
        |dir, seg| {
            if dir == Dir::ToClient && seg.flags() == TcpFlags::SYN | TcpFlags::ACK {
                syn_acks += 1;
                return syn_acks > 1;
            }
            true
        },
    );
    assert_eq!(r.early, payload(&r.syn));
    assert!(r.client_mptcp && r.server_mptcp);
}

/// A server that does not speak MPTCP (a plain-TCP listener with Fast
/// Open) takes the data of the MP_CAPABLE SYN as plain Fast Open; the
/// client falls back with the rest of the data in the TCP stream.
#[test]
fn a_plain_tcp_server_takes_the_data_as_plain_fast_open() {
    let mut client = endpoint(13, false);
    let mut server = endpoint(14, false);
    let data = request(40_000);
    let r = run(
        &mut client,
        &mut server,
        ListenOptions {
            protocol: Protocol::Tcp,
            fast_open: true,
            syn_data_without_cookie: true,
        },
        Some(Some(FastOpenCookie::new(&[5; 8]).unwrap())),
        &data,
        |_, _| true,
    );
    assert!(has_mp_capable(&r.syn));
    assert!(!has_mp_capable(&r.syn_ack));
    assert_eq!(
        ack(&r.syn_ack),
        seq(&r.syn).wrapping_add(1 + payload(&r.syn).len() as u32)
    );
    assert!(!r.client_mptcp && !r.server_mptcp, "fell back");
}

/// A 16-byte cookie does not fit beside MP_CAPABLE and the other SYN
/// options: the SYN asks for a new cookie instead and carries no data.
#[test]
fn a_cookie_too_long_for_an_mp_capable_syn_becomes_a_request() {
    let mut client = endpoint(15, false);
    let mut server = endpoint(16, false);
    let long = FastOpenCookie::new(&[6; 16]).unwrap();
    let data = request(5_000);
    let r = run(
        &mut client,
        &mut server,
        fast_open_server(),
        Some(Some(long)),
        &data,
        |_, _| true,
    );
    assert_eq!(fast_open_option(&r.syn), Some(Vec::new()));
    assert!(payload(&r.syn).is_empty());
    assert!(r.cookie.is_some());
    assert!(r.client_mptcp && r.server_mptcp);
}

/// SYN data without any Fast Open option (an RFC 8803 Convert client's
/// SYN), over MPTCP and plain TCP: a listener that takes SYN data without
/// a cookie takes it with the SYN; one that wants a cookie acknowledges
/// only the SYN and gets the data again after the handshake, once.
#[test]
fn syn_data_without_a_cookie_is_taken_only_by_a_listener_that_allows_it() {
    for (protocol, mptcp) in [(Protocol::Mptcp, true), (Protocol::Tcp, false)] {
        for takes in [true, false] {
            let mut client = endpoint(21, false);
            let mut server = endpoint(22, false);
            let data = request(30_000);
            let options = ConnectOptions {
                protocol,
                syn_data_without_cookie: true,
                ..ConnectOptions::default()
            };
            let listen = ListenOptions {
                protocol: Protocol::Mptcp,
                fast_open: true,
                syn_data_without_cookie: takes,
            };
            let r = run_with(&mut client, &mut server, listen, options, &data, |_, _| {
                true
            });
            let sent = payload(&r.syn);
            assert!(!sent.is_empty(), "{protocol:?}: the SYN carries data");
            assert_eq!(&sent[..], &data[..sent.len()]);
            assert_eq!(fast_open_option(&r.syn), None, "no Fast Open option");
            assert_eq!(has_mp_capable(&r.syn), mptcp);
            let syn_only = seq(&r.syn).wrapping_add(1);
            if takes {
                assert_eq!(ack(&r.syn_ack), syn_only.wrapping_add(sent.len() as u32));
                assert_eq!(r.early, sent, "taken with the SYN");
            } else {
                assert_eq!(ack(&r.syn_ack), syn_only, "SYN only");
                assert!(r.early.is_empty());
            }
            assert_eq!((r.client_mptcp, r.server_mptcp), (mptcp, mptcp));
        }
    }
}
