//! Properties of `TcpOption` and `TcpOptions`: every value round-trips,
//! emitted lengths match `buffer_len`, and no byte string makes the
//! iterator panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mptcp_wire::mptcp::{
    AddAddr, CapableKeys, Dss, DssMapping, DssSeq, MpCapable, MpCapableFlags, MpFail, MpFastclose,
    MpJoin, MpPrio, MpTcpRst, MptcpOption, RemoveAddr, TcpRstReason,
};
use mptcp_wire::tcp_option::{SackBlocks, TcpOption, TcpOptions};
use mptcp_wire::{AddrId, Error, Key, Nonce, Token};
use proptest::collection::vec;
use proptest::prelude::*;

/// Address IDs for REMOVE_ADDR values, which borrow their list.
static IDS: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

fn dss_seq() -> impl Strategy<Value = DssSeq> {
    prop_oneof![
        any::<u32>().prop_map(DssSeq::Short),
        any::<u64>().prop_map(DssSeq::Long)
    ]
}

fn dss() -> impl Strategy<Value = MptcpOption<'static>> {
    let mapping = (dss_seq(), any::<u32>(), any::<u16>(), any::<Option<u16>>()).prop_map(
        |(dsn, subflow_seq, data_len, checksum)| DssMapping {
            dsn,
            subflow_seq,
            data_len,
            checksum,
        },
    );
    (
        proptest::option::of(dss_seq()),
        proptest::option::of(mapping),
        any::<bool>(),
    )
        .prop_map(|(data_ack, mapping, data_fin)| {
            MptcpOption::Dss(Dss {
                data_ack,
                mapping,
                data_fin,
            })
        })
}

fn mp_capable() -> impl Strategy<Value = MptcpOption<'static>> {
    let keys = prop_oneof![
        Just(CapableKeys::None),
        any::<u64>().prop_map(|k| CapableKeys::Sender(Key(k))),
        (any::<u64>(), any::<u64>()).prop_map(|(s, r)| CapableKeys::Both {
            sender: Key(s),
            receiver: Key(r)
        }),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u16>(),
            any::<Option<u16>>()
        )
            .prop_map(|(s, r, data_len, checksum)| CapableKeys::WithData {
                sender: Key(s),
                receiver: Key(r),
                data_len,
                checksum
            }),
    ];
    (0u8..=15, any::<u8>(), keys).prop_map(|(version, flags, keys)| {
        MptcpOption::MpCapable(MpCapable {
            version,
            flags: MpCapableFlags(flags),
            keys,
        })
    })
}

fn mp_join() -> impl Strategy<Value = MptcpOption<'static>> {
    prop_oneof![
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<u32>()).prop_map(
            |(backup, id, token, nonce)| MpJoin::Syn {
                backup,
                addr_id: AddrId(id),
                token: Token(token),
                nonce: Nonce(nonce)
            }
        ),
        (any::<bool>(), any::<u8>(), any::<u64>(), any::<u32>()).prop_map(
            |(backup, id, hmac, nonce)| MpJoin::SynAck {
                backup,
                addr_id: AddrId(id),
                hmac,
                nonce: Nonce(nonce)
            }
        ),
        any::<[u8; 20]>().prop_map(|hmac| MpJoin::Ack { hmac }),
    ]
    .prop_map(MptcpOption::MpJoin)
}

/// The options a segment must carry when asked to (the builder's `mptcp`).
pub fn mptcp_required() -> impl Strategy<Value = MptcpOption<'static>> {
    prop_oneof![
        mp_capable(),
        mp_join(),
        dss(),
        any::<u64>().prop_map(|dsn| MptcpOption::MpFail(MpFail { dsn })),
        any::<u64>().prop_map(|k| MptcpOption::MpFastclose(MpFastclose {
            receiver_key: Key(k)
        })),
        (0u8..=15, any::<u8>()).prop_map(|(flags, code)| MptcpOption::MpTcpRst(MpTcpRst {
            flags,
            reason: TcpRstReason::from(code)
        })),
    ]
}

/// Signalling that goes where there is room (the builder's `mptcp_optional`).
pub fn mptcp_optional() -> impl Strategy<Value = MptcpOption<'static>> {
    let addr = prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ];
    prop_oneof![
        (
            any::<bool>(),
            any::<u8>(),
            addr,
            any::<Option<u16>>(),
            any::<Option<u64>>()
        )
            .prop_map(
                |(echo, id, addr, port, hmac)| MptcpOption::AddAddr(AddAddr {
                    echo,
                    addr_id: AddrId(id),
                    addr,
                    port,
                    hmac
                })
            ),
        (0..IDS.len()).prop_map(|start| MptcpOption::RemoveAddr(RemoveAddr { ids: &IDS[start..] })),
        (any::<bool>(), any::<Option<u8>>()).prop_map(|(backup, id)| MptcpOption::MpPrio(MpPrio {
            backup,
            addr_id: id.map(AddrId)
        })),
    ]
}

fn unknown_mptcp() -> impl Strategy<Value = MptcpOption<'static>> {
    // `data` starts with the subtype byte, whose high nibble is the subtype.
    (9u8..=15, any::<u8>(), vec(any::<u8>(), 0..20)).prop_map(|(subtype, low, rest)| {
        let mut data = vec![subtype << 4 | (low & 0x0f)];
        data.extend(rest);
        MptcpOption::Unknown {
            subtype,
            data: data.leak(),
        }
    })
}

fn mptcp_any() -> impl Strategy<Value = MptcpOption<'static>> {
    prop_oneof![mptcp_required(), mptcp_optional(), unknown_mptcp()]
}

fn fast_open_cookie() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![
        Just(&[][..]),
        (2usize..=8)
            .prop_flat_map(|half| vec(any::<u8>(), half * 2))
            .prop_map(|cookie| &*cookie.leak()),
    ]
}

/// Every `TcpOption` `emit` accepts.
fn tcp_option() -> impl Strategy<Value = TcpOption<'static>> {
    let known_kinds = [0u8, 1, 2, 3, 4, 5, 8, 30, 34];
    prop_oneof![
        Just(TcpOption::EndOfList),
        Just(TcpOption::NoOperation),
        any::<u16>().prop_map(TcpOption::MaxSegmentSize),
        any::<u8>().prop_map(TcpOption::WindowScale),
        Just(TcpOption::SackPermitted),
        vec(any::<(u32, u32)>(), 1..=4)
            .prop_map(|blocks| TcpOption::SackBlocks(SackBlocks::new(&blocks).unwrap())),
        any::<(u32, u32)>().prop_map(|(tsval, tsecr)| TcpOption::Timestamps { tsval, tsecr }),
        fast_open_cookie().prop_map(TcpOption::FastOpen),
        mptcp_any().prop_map(TcpOption::Mptcp),
        (
            any::<u8>().prop_filter("kind decoded elsewhere", move |k| !known_kinds.contains(k)),
            vec(any::<u8>(), 0..38)
        )
            .prop_map(|(kind, data)| TcpOption::Unknown {
                kind,
                data: data.leak()
            }),
    ]
}

proptest! {
    #[test]
    fn every_option_round_trips(option in tcp_option(), trailing in vec(any::<u8>(), 0..4)) {
        let mut buf = [0u8; 300];
        let len = option.emit(&mut buf).unwrap();
        prop_assert_eq!(len, option.buffer_len());
        let mut bytes = buf[..len].to_vec();
        bytes.extend_from_slice(&trailing);
        let (parsed, rest) = TcpOption::parse(&bytes).unwrap();
        prop_assert_eq!(parsed, option);
        prop_assert_eq!(rest, &trailing[..]);
    }

    #[test]
    fn emit_never_writes_past_a_short_buffer(option in tcp_option(), cut in 1usize..=40) {
        let len = option.buffer_len();
        let short = len.saturating_sub(cut);
        let mut buf = [0xeeu8; 300];
        prop_assert_eq!(option.emit(&mut buf[..short]), Err(Error::BufferTooSmall));
        prop_assert!(buf[short..].iter().all(|&b| b == 0xee));
    }

    #[test]
    fn a_list_of_options_iterates_back(options in vec(tcp_option(), 0..8)) {
        let mut buf = [0u8; 2400];
        let mut len = 0;
        let mut expected = Vec::new();
        for option in options {
            len += option.emit(&mut buf[len..]).unwrap();
            expected.push(option);
            if option == TcpOption::EndOfList {
                break;
            }
        }
        let parsed: Vec<_> = TcpOptions::new(&buf[..len]).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn any_bytes_never_panic(bytes in vec(any::<u8>(), 0..80)) {
        let mut options = TcpOptions::new(&bytes);
        let mut consumed = 0;
        let mut ended = false;
        for item in options.by_ref() {
            prop_assert!(!ended, "an item after an error or End of Option List");
            match item {
                Ok(option) => {
                    consumed += option.buffer_len();
                    ended = option == TcpOption::EndOfList;
                }
                Err(_) => ended = true,
            }
        }
        // Each option parsed took exactly `buffer_len()` bytes.
        prop_assert_eq!(consumed + options.remaining().len(), bytes.len());
        prop_assert_eq!(options.next(), None);
    }

    #[test]
    fn options_with_arbitrary_values_never_panic(kind in any::<u8>(), body in vec(any::<u8>(), 0..40)) {
        let mut bytes = vec![kind, body.len() as u8 + 2];
        bytes.extend_from_slice(&body);
        if let Ok((option, rest)) = TcpOption::parse(&bytes) {
            prop_assert!(rest.is_empty() || matches!(option, TcpOption::EndOfList | TcpOption::NoOperation));
        }
    }
}
