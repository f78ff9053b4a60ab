//! The Convert codec against the RFC's figures (RFC 8803 §6), its error
//! answers (§6.2.8, §9), and properties over arbitrary messages and bytes.

use std::net::SocketAddr;

use proptest::prelude::*;
use umptcp_proxy::convert::{
    Connect, ErrorCode, ErrorTlv, HEADER_LEN, MAX_LEN, Message, ParseError, Reaction, TcpOptions,
};

fn emit(m: &Message<'_>) -> Vec<u8> {
    let mut out = vec![0u8; MAX_LEN];
    let n = m.emit(&mut out).unwrap();
    out.truncate(n);
    out
}

/// §6.1, Figure 16: version 1, Total Length in words, magic 0x2263.
#[test]
fn the_bare_header_is_one_word() {
    let m = Message::default();
    assert_eq!(emit(&m), [0x01, 0x01, 0x22, 0x63]);
    assert!(m.is_empty());
    assert_eq!(Message::parse(&[1, 1, 0x22, 0x63]), Ok((m, 4)));
}

/// §6.2.2: a base Connect to 192.0.2.1:80, IPv4-mapped, five words; the
/// SYN's application data follows right after the message.
#[test]
fn a_base_connect_to_an_ipv4_server() {
    let m = Message {
        connect: Some(Connect {
            addr: "192.0.2.1:80".parse().unwrap(),
            options: TcpOptions::EMPTY,
        }),
        ..Message::default()
    };
    let mut expected = vec![0x01, 0x06, 0x22, 0x63, 0x0a, 0x05, 0x00, 0x50];
    expected.extend([0; 10]);
    expected.extend([0xff, 0xff, 192, 0, 2, 1]);
    assert_eq!(emit(&m), expected);
    let mut syn_data = expected.clone();
    syn_data.extend(b"GET / HTTP/1.1\r\n");
    let (parsed, used) = Message::parse(&syn_data).unwrap();
    assert_eq!(parsed, m);
    assert_eq!(&syn_data[used..], b"GET / HTTP/1.1\r\n");
}

/// §6.2.2: the extended Connect, to an IPv6 server, with SACK-permitted
/// and a timestamp request, padded to a word.
#[test]
fn an_extended_connect_to_an_ipv6_server() {
    let options = [4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0];
    let m = Message {
        connect: Some(Connect {
            addr: "[2001:db8::7]:443".parse().unwrap(),
            options: TcpOptions::new(&options).unwrap(),
        }),
        ..Message::default()
    };
    let bytes = emit(&m);
    assert_eq!(bytes.len(), 4 + 20 + 12);
    assert_eq!(
        &bytes[..8],
        &[0x01, 0x09, 0x22, 0x63, 0x0a, 0x08, 0x01, 0xbb]
    );
    assert_eq!(
        &bytes[8..24],
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()
    );
    assert_eq!(&bytes[24..], &options);
    let (parsed, _) = Message::parse(&bytes).unwrap();
    let kinds: Vec<u8> = parsed
        .connect
        .unwrap()
        .options
        .iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, [4, 8]);
}

/// §6.2.1, §6.2.4, §6.2.3, §6.2.7, §6.2.8: every other TLV's layout.
#[test]
fn info_supported_extended_header_cookie_and_error() {
    let info = Message {
        info: true,
        ..Message::default()
    };
    assert_eq!(emit(&info), [1, 2, 0x22, 0x63, 0x01, 0x01, 0, 0]);
    let supported = Message {
        supported_tcp_extensions: Some(&[4, 8, 30]),
        ..Message::default()
    };
    assert_eq!(
        emit(&supported),
        [1, 3, 0x22, 0x63, 0x15, 0x02, 0, 0, 4, 8, 30, 0]
    );
    // The server's SYN+ACK options as it sent them, NOPs included.
    let synack = [2, 4, 0x05, 0xb4, 1, 1, 4, 2];
    let mut received = vec![1, 4, 0x22, 0x63, 0x14, 0x03, 0, 0];
    received.extend(synack);
    let parsed = Message::parse(&received).unwrap().0;
    let reply = Message {
        extended_tcp_header: parsed.extended_tcp_header,
        ..Message::default()
    };
    let bytes = emit(&reply);
    assert_eq!(
        &bytes[4..],
        &[0x14, 0x03, 0, 0, 2, 4, 0x05, 0xb4, 1, 1, 4, 2]
    );
    let cookie = Message {
        cookie: Some(&[0xde, 0xad, 0xbe, 0xef]),
        ..Message::default()
    };
    assert_eq!(
        emit(&cookie),
        [1, 3, 0x22, 0x63, 0x16, 0x02, 0, 0, 0xde, 0xad, 0xbe, 0xef]
    );
    let unreachable = Message {
        error: Some(ErrorTlv::new(ErrorCode::DestinationUnreachable, 3)),
        ..Message::default()
    };
    assert_eq!(emit(&unreachable), [1, 2, 0x22, 0x63, 0x1e, 0x01, 97, 3]);
    // Missing Cookie: a zero value byte, then the cookie to cache.
    let missing = Message {
        error: Some(ErrorTlv {
            code: ErrorCode::MissingCookie,
            value: 0,
            extra: &[1, 2, 3, 4],
        }),
        ..Message::default()
    };
    let bytes = emit(&missing);
    assert_eq!(&bytes[4..], &[0x1e, 0x02, 3, 0, 1, 2, 3, 4]);
    assert_eq!(Message::parse(&bytes).unwrap().0, missing);
}

fn answer(bytes: &[u8]) -> Reaction {
    Message::parse(bytes).unwrap_err().reaction()
}

/// §6.1, §6.2, §9: every framing fault gets its typed error and the
/// answer the RFC names.
#[test]
fn framing_faults_get_the_rfcs_answers() {
    use ErrorCode::*;
    // Not enough yet: read more.
    assert_eq!(
        Message::parse(&[1, 2]),
        Err(ParseError::Incomplete { need: 4 })
    );
    assert_eq!(
        Message::parse(&[1, 6, 0x22, 0x63, 0x0a, 0x05]),
        Err(ParseError::Incomplete { need: 24 })
    );
    // Version 0 is reserved, 2 unknown.
    assert_eq!(
        answer(&[0, 1, 0x22, 0x63]),
        Reaction::Answer(UnsupportedVersion)
    );
    assert_eq!(
        answer(&[2, 1, 0x22, 0x63]),
        Reaction::Answer(UnsupportedVersion)
    );
    // Total Length zero: reset.
    assert_eq!(
        Message::parse(&[1, 0, 0x22, 0x63]),
        Err(ParseError::ZeroLength)
    );
    assert_eq!(answer(&[1, 0, 0x22, 0x63]), Reaction::Reset);
    // Not the magic.
    assert_eq!(
        answer(&[1, 1, 0x22, 0x64]),
        Reaction::Answer(MalformedMessage)
    );
    // A TLV past Total Length.
    assert_eq!(
        Message::parse(&[1, 2, 0x22, 0x63, 0x01, 0x02, 0, 0, 0, 0, 0, 0]),
        Err(ParseError::OutsideLength)
    );
    // A TLV of length zero.
    assert_eq!(
        Message::parse(&[1, 2, 0x22, 0x63, 0x01, 0x00, 0, 0]),
        Err(ParseError::ShortTlv(1))
    );
    // Type 0 is reserved; an unknown type is unsupported.
    assert_eq!(
        answer(&[1, 2, 0x22, 0x63, 0x00, 0x01, 0, 0]),
        Reaction::Answer(UnsupportedMessage)
    );
    assert_eq!(
        answer(&[1, 2, 0x22, 0x63, 0xc0, 0x01, 0, 0]),
        Reaction::Answer(UnsupportedMessage)
    );
    // Each TLV once.
    assert_eq!(
        Message::parse(&[1, 3, 0x22, 0x63, 0x01, 0x01, 0, 0, 0x01, 0x01, 0, 0]),
        Err(ParseError::Duplicate(1))
    );
    // A Connect too short for its address.
    assert_eq!(
        Message::parse(&[1, 2, 0x22, 0x63, 0x0a, 0x01, 0, 80]),
        Err(ParseError::ShortTlv(0x0a))
    );
    // Connect to multicast, broadcast, loopback (v4 and v6), unspecified.
    for addr in [
        "224.0.0.1:80",
        "255.255.255.255:80",
        "127.0.0.1:80",
        "[::1]:80",
        "[ff02::1]:80",
        "0.0.0.0:80",
    ] {
        let good = emit(&Message {
            connect: Some(Connect {
                addr: "192.0.2.1:80".parse().unwrap(),
                options: TcpOptions::EMPTY,
            }),
            ..Message::default()
        });
        let addr: SocketAddr = addr.parse().unwrap();
        let mut bad = good.clone();
        let v6 = match addr.ip() {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            std::net::IpAddr::V6(v6) => v6,
        };
        bad[8..24].copy_from_slice(&v6.octets());
        assert_eq!(Message::parse(&bad), Err(ParseError::BadAddress), "{addr}");
        assert_eq!(answer(&bad), Reaction::Answer(MalformedMessage));
    }
    // A Connect's option list with a NOP in it.
    let mut nop = vec![1, 7, 0x22, 0x63, 0x0a, 0x06, 0, 80];
    nop.extend([0; 10]);
    nop.extend([0xff, 0xff, 192, 0, 2, 1]);
    nop.extend([1, 4, 2, 0]);
    assert_eq!(Message::parse(&nop), Err(ParseError::BadTcpOption));
}

/// A message this codec can build: any subset of the TLVs, with valid
/// contents.
fn message_parts() -> impl Strategy<Value = (Vec<u8>, Message<'static>)> {
    (
        any::<bool>(),
        proptest::option::of((any::<[u8; 4]>(), any::<u16>(), any::<bool>())),
        proptest::option::of(proptest::collection::vec(3u8..=255, 0..12)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        proptest::option::of((any::<u8>(), any::<u8>())),
    )
        .prop_map(|(info, connect, supported, cookie, error)| {
            // Leak the borrowed parts: a test's few hundred cases.
            let supported: Option<&'static [u8]> =
                supported.map(|v| &*Box::leak(v.into_boxed_slice()));
            let cookie: Option<&'static [u8]> = cookie.map(|mut v| {
                v.resize(v.len().div_ceil(4) * 4, 0);
                &*Box::leak(v.into_boxed_slice())
            });
            let connect = connect.and_then(|(ip, port, sack)| {
                let ip = std::net::Ipv4Addr::from(ip);
                if ip.is_multicast() || ip.is_broadcast() || ip.is_loopback() || ip.is_unspecified()
                {
                    return None;
                }
                let options = if sack { &[4u8, 2][..] } else { &[][..] };
                Some(Connect {
                    addr: SocketAddr::new(ip.into(), port),
                    options: TcpOptions::new(options).unwrap(),
                })
            });
            let m = Message {
                info,
                connect,
                extended_tcp_header: None,
                supported_tcp_extensions: supported,
                cookie,
                error: error.map(|(c, v)| ErrorTlv::new(ErrorCode::from_u8(c), v)),
            };
            (emit(&m), m)
        })
}

proptest! {
    #[test]
    fn what_is_emitted_parses_back(parts in message_parts()) {
        let (bytes, m) = parts;
        prop_assert!(bytes.len() % 4 == 0 && bytes.len() <= MAX_LEN);
        prop_assert_eq!(bytes.len(), m.len());
        let (parsed, used) = Message::parse(&bytes).unwrap();
        prop_assert_eq!(parsed, m);
        prop_assert_eq!(used, bytes.len());
        // Every strict prefix asks for more.
        for cut in 0..bytes.len() {
            let need = match Message::parse(&bytes[..cut]) {
                Err(ParseError::Incomplete { need }) => need,
                other => panic!("prefix {cut}: {other:?}"),
            };
            prop_assert!(need > cut && need <= bytes.len());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        umptcp_proxy::fuzzing::convert(&bytes);
    }

    #[test]
    fn arbitrary_tlvs_behind_a_valid_header_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..60)
    ) {
        let mut bytes = vec![1u8, 0, 0x22, 0x63];
        bytes.extend(&body);
        bytes.resize(bytes.len().div_ceil(4) * 4, 0);
        bytes[1] = (bytes.len() / 4) as u8;
        umptcp_proxy::fuzzing::convert(&bytes);
        prop_assert!(HEADER_LEN <= bytes.len());
    }
}
