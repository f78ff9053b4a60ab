//! TCP Fast Open (RFC 7413) in both roles, segment by segment: the cookie
//! request and grant, data in the SYN taken by the server before the
//! handshake ends, a bad cookie (data ignored, sent again, new cookie),
//! a server without Fast Open, and a retransmitted SYN without data.

use std::net::SocketAddr;

use umptcp_tcp::{Connection, FastOpenCookie, FourTuple, IsnKey, State, TcpConfig};
use umptcp_time::Instant;
use umptcp_wire::TcpOption;
use umptcp_wire::segment::{ChecksumCheck, Segment, TcpFlags};

fn tuple(port: u16) -> FourTuple {
    FourTuple {
        local: SocketAddr::from(([192, 0, 2, 1], port)),
        remote: SocketAddr::from(([198, 51, 100, 7], 443)),
    }
}

fn server_config(fast_open: bool) -> TcpConfig {
    let mut config = TcpConfig::default();
    config.fast_open = fast_open;
    config
}

fn server_key() -> IsnKey {
    IsnKey::from_bytes([9; 32])
}

/// The Fast Open option of a segment: `None` if absent, `Some(bytes)`.
fn tfo_option(segment: &Segment<'_>) -> Option<Vec<u8>> {
    segment.options().find_map(|o| match o {
        Ok(TcpOption::FastOpen(cookie)) => Some(cookie.to_vec()),
        _ => None,
    })
}

fn transmit(conn: &mut Connection, now: Instant) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2048];
    conn.poll_transmit(now, &mut buf).map(|n| buf[..n].to_vec())
}

fn parse(bytes: &[u8]) -> Segment<'_> {
    Segment::parse(bytes, ChecksumCheck::Verify).unwrap()
}

/// A first connection asks for a cookie; returns the cookie granted.
fn obtain_cookie() -> FastOpenCookie {
    let now = Instant::ZERO;
    let mut client = Connection::connect_fast_open(
        TcpConfig::default(),
        tuple(40000),
        IsnKey::from_bytes([1; 32]),
        now,
        None,
    )
    .unwrap();
    let syn = transmit(&mut client, now).unwrap();
    let syn_seg = parse(&syn);
    assert_eq!(
        tfo_option(&syn_seg),
        Some(vec![]),
        "a cookie request is an empty option"
    );
    assert!(syn_seg.payload().is_empty());
    let mut server = Connection::accept(server_config(true), &syn_seg, server_key(), now).unwrap();
    let syn_ack = transmit(&mut server, now).unwrap();
    let cookie = tfo_option(&parse(&syn_ack)).expect("the SYN-ACK carries a cookie");
    assert_eq!(cookie.len(), umptcp_tcp::SERVER_COOKIE_LEN);
    client.handle_segment(now, &parse(&syn_ack));
    assert_eq!(client.state(), State::Established);
    let granted = client
        .fast_open_cookie()
        .expect("the client keeps the cookie");
    assert_eq!(granted.as_bytes(), &cookie[..]);
    granted
}

#[test]
fn cookie_request_is_granted() {
    let a = obtain_cookie();
    assert_eq!(
        a,
        obtain_cookie(),
        "the same client address gets the same cookie"
    );
}

#[test]
fn data_in_the_syn_is_delivered_before_the_handshake_completes() {
    let cookie = obtain_cookie();
    let now = Instant::from_millis(5);
    let mut client = Connection::connect_fast_open(
        TcpConfig::default(),
        tuple(40001),
        IsnKey::from_bytes([2; 32]),
        now,
        Some(cookie),
    )
    .unwrap();
    assert_eq!(client.write(b"GET / HTTP/1.1\r\n\r\n"), 18);
    let syn = transmit(&mut client, now).unwrap();
    let syn_seg = parse(&syn);
    assert_eq!(syn_seg.flags(), TcpFlags::SYN);
    assert_eq!(syn_seg.payload(), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(tfo_option(&syn_seg).unwrap(), cookie.as_bytes());

    let mut server = Connection::accept(server_config(true), &syn_seg, server_key(), now).unwrap();
    assert_eq!(server.state(), State::SynReceived);
    let mut buf = [0u8; 64];
    assert_eq!(server.read(&mut buf), 18, "readable before the third ACK");
    assert_eq!(&buf[..18], b"GET / HTTP/1.1\r\n\r\n");
    let syn_ack = transmit(&mut server, now).unwrap();
    let syn_ack_seg = parse(&syn_ack);
    assert_eq!(
        syn_ack_seg.ack(),
        syn_seg.seq().wrapping_add(1 + 18),
        "SYN and data acknowledged"
    );
    assert_eq!(
        tfo_option(&syn_ack_seg),
        None,
        "no new cookie for a valid one"
    );

    let later = Instant::from_millis(6);
    let got = client.handle_segment(later, &syn_ack_seg);
    assert_eq!(got.acked.map(|(a, b)| b.distance_from(a)), Some(18));
    assert_eq!(client.state(), State::Established);
    assert_eq!(client.bytes_in_flight(), 0);
    let ack = transmit(&mut client, later).unwrap();
    let ack_seg = parse(&ack);
    assert!(ack_seg.payload().is_empty(), "nothing is sent twice");
    assert_eq!(ack_seg.seq(), syn_seg.seq().wrapping_add(19));
    assert_eq!(transmit(&mut client, later), None);
}

#[test]
fn a_bad_cookie_gets_the_data_ignored_resent_and_a_new_cookie() {
    let good = obtain_cookie();
    let bogus = FastOpenCookie::new(&[0xee; 8]).unwrap();
    assert_ne!(good, bogus);
    let now = Instant::ZERO;
    let mut client = Connection::connect_fast_open(
        TcpConfig::default(),
        tuple(40002),
        IsnKey::from_bytes([3; 32]),
        now,
        Some(bogus),
    )
    .unwrap();
    client.write(b"hello");
    let syn = transmit(&mut client, now).unwrap();
    let syn_seg = parse(&syn);
    assert_eq!(syn_seg.payload(), b"hello");
    let mut server = Connection::accept(server_config(true), &syn_seg, server_key(), now).unwrap();
    assert_eq!(server.readable(), 0, "data with a bad cookie is not taken");
    let syn_ack = transmit(&mut server, now).unwrap();
    let syn_ack_seg = parse(&syn_ack);
    assert_eq!(
        syn_ack_seg.ack(),
        syn_seg.seq().wrapping_add(1),
        "only the SYN is acknowledged"
    );
    assert_eq!(
        tfo_option(&syn_ack_seg).unwrap(),
        good.as_bytes(),
        "the right cookie comes back"
    );

    client.handle_segment(now, &syn_ack_seg);
    assert_eq!(client.state(), State::Established);
    assert_eq!(client.fast_open_cookie(), Some(good));
    let data = transmit(&mut client, now).unwrap();
    let data_seg = parse(&data);
    assert_eq!(
        data_seg.payload(),
        b"hello",
        "sent again after the handshake"
    );
    assert_eq!(data_seg.seq(), syn_seg.seq().wrapping_add(1));
    server.handle_segment(now, &data_seg);
    assert_eq!(server.state(), State::Established);
    let mut buf = [0u8; 8];
    assert_eq!(server.read(&mut buf), 5);
    assert_eq!(&buf[..5], b"hello");
}

#[test]
fn a_server_without_fast_open_ignores_it() {
    let cookie = obtain_cookie();
    let now = Instant::ZERO;
    let mut client = Connection::connect_fast_open(
        TcpConfig::default(),
        tuple(40003),
        IsnKey::from_bytes([4; 32]),
        now,
        Some(cookie),
    )
    .unwrap();
    client.write(b"abc");
    let syn = transmit(&mut client, now).unwrap();
    let mut server =
        Connection::accept(server_config(false), &parse(&syn), server_key(), now).unwrap();
    assert_eq!(server.readable(), 0);
    let syn_ack = transmit(&mut server, now).unwrap();
    let syn_ack_seg = parse(&syn_ack);
    assert_eq!(tfo_option(&syn_ack_seg), None);
    assert_eq!(syn_ack_seg.ack(), parse(&syn).seq().wrapping_add(1));
    client.handle_segment(now, &syn_ack_seg);
    assert_eq!(client.fast_open_cookie(), None);
    assert_eq!(
        parse(&transmit(&mut client, now).unwrap()).payload(),
        b"abc"
    );
}

#[test]
fn a_retransmitted_syn_carries_the_cookie_but_no_data() {
    let cookie = obtain_cookie();
    let now = Instant::ZERO;
    let mut client = Connection::connect_fast_open(
        TcpConfig::default(),
        tuple(40004),
        IsnKey::from_bytes([5; 32]),
        now,
        Some(cookie),
    )
    .unwrap();
    client.write(b"data");
    let first = transmit(&mut client, now).unwrap();
    assert_eq!(parse(&first).payload(), b"data");
    let rto = client.poll_timeout().unwrap();
    client.handle_timeout(rto);
    let again = transmit(&mut client, rto).unwrap();
    let again_seg = parse(&again);
    assert_eq!(again_seg.flags(), TcpFlags::SYN);
    assert!(again_seg.payload().is_empty());
    assert_eq!(tfo_option(&again_seg).unwrap(), cookie.as_bytes());
    // The handshake completes and the data follows.
    let mut server =
        Connection::accept(server_config(true), &again_seg, server_key(), rto).unwrap();
    let syn_ack = transmit(&mut server, rto).unwrap();
    client.handle_segment(rto, &parse(&syn_ack));
    let data = transmit(&mut client, rto).unwrap();
    assert_eq!(parse(&data).payload(), b"data");
}

/// A SYN with data from `client`, with the Fast Open option `cookie`
/// (`None`: no option at all).
fn syn_with_data(client: SocketAddr, cookie: Option<&[u8]>, data: &[u8]) -> Vec<u8> {
    let mut b =
        umptcp_wire::segment::SegmentBuilder::new(client, SocketAddr::from(([192, 0, 2, 1], 80)));
    b.seq = 1000;
    b.flags = TcpFlags::SYN;
    b.window = 65535;
    b.mss = Some(1400);
    b.payload = data;
    b.fast_open = cookie;
    let mut buf = vec![0; b.buffer_len_max()];
    let n = b.emit(&mut buf).unwrap().len;
    buf.truncate(n);
    buf
}

/// RFC 8803 §4.2: a converter takes the Convert message from the SYN
/// whether or not a cookie came with it; a cookie request still gets one.
#[test]
fn a_server_taking_syn_data_without_cookie_delivers_it_at_once() {
    let now = Instant::ZERO;
    let mut config = server_config(true);
    config.syn_data_without_cookie = true;
    let client = SocketAddr::from(([198, 51, 100, 9], 40100));
    for (cookie, issues) in [
        (None, false),
        (Some(&[][..]), true),
        (Some(&[1u8; 8][..]), true),
    ] {
        let syn = syn_with_data(client, cookie, b"convert me");
        let syn_seg = parse(&syn);
        let mut server = Connection::accept(config.clone(), &syn_seg, server_key(), now).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(server.read(&mut buf), 10, "cookie {cookie:?}");
        assert_eq!(&buf[..10], b"convert me");
        let syn_ack = transmit(&mut server, now).unwrap();
        let syn_ack_seg = parse(&syn_ack);
        assert_eq!(
            syn_ack_seg.ack(),
            1000 + 1 + 10,
            "SYN and data acknowledged"
        );
        assert_eq!(
            tfo_option(&syn_ack_seg).is_some(),
            issues,
            "cookie {cookie:?}"
        );
    }
    // Without the policy the same SYN's data waits for the retransmission.
    let syn = syn_with_data(client, None, b"convert me");
    let mut server =
        Connection::accept(server_config(true), &parse(&syn), server_key(), now).unwrap();
    assert_eq!(server.read(&mut [0u8; 64]), 0);
    let syn_ack = transmit(&mut server, now).unwrap();
    assert_eq!(parse(&syn_ack).ack(), 1001, "only the SYN acknowledged");
}
