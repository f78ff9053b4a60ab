//! Property tests of the MPTCP option codecs: every value round-trips, and
//! no byte string makes the parser panic.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mptcp_wire::mptcp::{
    AddAddr, CapableKeys, Dss, DssMapping, DssSeq, MpCapable, MpCapableFlags, MpFail, MpFastclose,
    MpJoin, MpPrio, MpTcpRst, MptcpOption, OPTION_KIND, RemoveAddr, TcpRstReason,
};
use mptcp_wire::{AddrId, Key, Nonce, Token};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = Key> {
    any::<u64>().prop_map(Key)
}

fn mp_capable() -> impl Strategy<Value = MpCapable> {
    let keys = prop_oneof![
        Just(CapableKeys::None),
        key().prop_map(CapableKeys::Sender),
        (key(), key()).prop_map(|(sender, receiver)| CapableKeys::Both { sender, receiver }),
        (key(), key(), any::<u16>(), any::<Option<u16>>()).prop_map(
            |(sender, receiver, data_len, checksum)| {
                CapableKeys::WithData {
                    sender,
                    receiver,
                    data_len,
                    checksum,
                }
            }
        ),
    ];
    (0u8..16, any::<u8>(), keys).prop_map(|(version, flags, keys)| MpCapable {
        version,
        flags: MpCapableFlags(flags),
        keys,
    })
}

fn mp_join() -> impl Strategy<Value = MpJoin> {
    prop_oneof![
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<u32>()).prop_map(
            |(backup, id, token, nonce)| MpJoin::Syn {
                backup,
                addr_id: AddrId(id),
                token: Token(token),
                nonce: Nonce(nonce),
            }
        ),
        (any::<bool>(), any::<u8>(), any::<u64>(), any::<u32>()).prop_map(
            |(backup, id, hmac, nonce)| {
                MpJoin::SynAck {
                    backup,
                    addr_id: AddrId(id),
                    hmac,
                    nonce: Nonce(nonce),
                }
            }
        ),
        any::<[u8; 20]>().prop_map(|hmac| MpJoin::Ack { hmac }),
    ]
}

fn dss_seq() -> impl Strategy<Value = DssSeq> {
    prop_oneof![
        any::<u32>().prop_map(DssSeq::Short),
        any::<u64>().prop_map(DssSeq::Long)
    ]
}

fn dss() -> impl Strategy<Value = Dss> {
    let mapping = (
        dss_seq(),
        any::<u32>(),
        prop_oneof![Just(0u16), Just(1u16), any::<u16>()],
        any::<Option<u16>>(),
    )
        .prop_map(|(dsn, subflow_seq, data_len, checksum)| DssMapping {
            dsn,
            subflow_seq,
            data_len,
            checksum,
        });
    (
        proptest::option::of(dss_seq()),
        proptest::option::of(mapping),
        any::<bool>(),
    )
        .prop_map(|(data_ack, mapping, data_fin)| Dss {
            data_ack,
            mapping,
            data_fin,
        })
}

fn add_addr() -> impl Strategy<Value = AddAddr> {
    let addr = prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ];
    (
        any::<bool>(),
        any::<u8>(),
        addr,
        any::<Option<u16>>(),
        any::<Option<u64>>(),
    )
        .prop_map(|(echo, id, addr, port, hmac)| AddAddr {
            echo,
            addr_id: AddrId(id),
            addr,
            port,
            hmac,
        })
}

fn tcprst() -> impl Strategy<Value = MpTcpRst> {
    (0u8..16, any::<u8>()).prop_map(|(flags, code)| MpTcpRst {
        flags,
        reason: TcpRstReason::from(code),
    })
}

/// Every option value except REMOVE_ADDR and Unknown, which borrow bytes.
fn owned_option() -> impl Strategy<Value = MptcpOption<'static>> {
    prop_oneof![
        mp_capable().prop_map(MptcpOption::MpCapable),
        mp_join().prop_map(MptcpOption::MpJoin),
        dss().prop_map(MptcpOption::Dss),
        add_addr().prop_map(MptcpOption::AddAddr),
        (any::<bool>(), any::<Option<u8>>()).prop_map(|(backup, id)| MptcpOption::MpPrio(MpPrio {
            backup,
            addr_id: id.map(AddrId)
        })),
        any::<u64>().prop_map(|dsn| MptcpOption::MpFail(MpFail { dsn })),
        key().prop_map(|receiver_key| MptcpOption::MpFastclose(MpFastclose { receiver_key })),
        tcprst().prop_map(MptcpOption::MpTcpRst),
    ]
}

/// Emit `opt`, check the length, parse it back and compare.
fn check_round_trip(opt: &MptcpOption<'_>) -> Result<(), TestCaseError> {
    let mut buf = [0u8; 256];
    let n = opt
        .emit(&mut buf)
        .map_err(|e| TestCaseError::fail(format!("emit failed: {e}")))?;
    prop_assert_eq!(n, opt.buffer_len());
    prop_assert_eq!(usize::from(buf[1]), n);
    prop_assert_eq!(buf[0], OPTION_KIND);
    // A buffer one byte short is refused, not overrun.
    prop_assert!(opt.emit(&mut buf[..n - 1]).is_err());
    let parsed = MptcpOption::parse(&buf[..n])
        .map_err(|e| TestCaseError::fail(format!("parse failed: {e}")))?;
    prop_assert_eq!(&parsed, opt);
    prop_assert_eq!(parsed.subtype(), opt.subtype());
    Ok(())
}

/// Parse `bytes`; if that succeeds, the value must re-emit and parse equal.
fn check_parse_is_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(opt) = MptcpOption::parse(bytes) {
        let mut buf = [0u8; 256];
        let n = opt
            .emit(&mut buf)
            .map_err(|e| TestCaseError::fail(format!("re-emit failed: {e}")))?;
        prop_assert_eq!(n, opt.buffer_len());
        prop_assert_eq!(n, bytes.len());
        let again = MptcpOption::parse(&buf[..n])
            .map_err(|e| TestCaseError::fail(format!("re-parse: {e}")))?;
        prop_assert_eq!(again, opt);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn every_owned_value_round_trips(opt in owned_option()) {
        check_round_trip(&opt)?;
    }

    #[test]
    fn remove_addr_round_trips(ids in proptest::collection::vec(any::<u8>(), 1..=37)) {
        check_round_trip(&MptcpOption::RemoveAddr(RemoveAddr { ids: &ids }))?;
        let r = RemoveAddr { ids: &ids };
        prop_assert!(r.iter().map(|a| a.0).eq(ids.iter().copied()));
    }

    #[test]
    fn unknown_round_trips(subtype in 9u8..16, low in 0u8..16, rest in proptest::collection::vec(any::<u8>(), 0..38)) {
        let mut data = vec![(subtype << 4) | low];
        data.extend_from_slice(&rest);
        check_round_trip(&MptcpOption::Unknown { subtype, data: &data })?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_parse_is_canonical(&bytes)?;
        // Again with the MPTCP kind, so the length check is what rejects most.
        if let Some(kind) = bytes.first_mut() {
            *kind = OPTION_KIND;
        }
        check_parse_is_canonical(&bytes)?;
    }

    #[test]
    fn consistent_headers_never_panic(
        subtype in 0u8..16,
        low in 0u8..16,
        body in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut bytes = vec![OPTION_KIND, 0, (subtype << 4) | low];
        bytes.extend_from_slice(&body);
        bytes[1] = bytes.len() as u8;
        check_parse_is_canonical(&bytes)?;
    }

    #[test]
    fn every_dss_flag_combination_parses_at_its_length(flags in 0u8..32, reserved in 0u8..8, csum in any::<bool>()) {
        let has_ack = flags & 0x01 != 0;
        let has_map = flags & 0x04 != 0;
        let ack = if has_ack { if flags & 0x02 != 0 { 8 } else { 4 } } else { 0 };
        let map = if has_map { if flags & 0x08 != 0 { 14 } else { 10 } } else { 0 };
        let len = 4 + ack + map + if has_map && csum { 2 } else { 0 };
        let mut bytes = vec![0xa5u8; len];
        bytes[..4].copy_from_slice(&[OPTION_KIND, len as u8, 0x20, (reserved << 5) | flags]);
        let parsed = MptcpOption::parse(&bytes);
        let Ok(MptcpOption::Dss(d)) = parsed else {
            return Err(TestCaseError::fail(format!("{bytes:02x?} gave {parsed:?}")));
        };
        prop_assert_eq!(d.data_ack.is_some(), has_ack);
        prop_assert_eq!(d.mapping.is_some(), has_map);
        prop_assert_eq!(d.data_fin, flags & 0x10 != 0);
        prop_assert_eq!(d.mapping.is_some_and(|m| m.checksum.is_some()), has_map && csum);
        check_round_trip(&MptcpOption::Dss(d))?;
    }
}
