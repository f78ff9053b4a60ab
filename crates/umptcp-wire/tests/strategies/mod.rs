//! Proptest strategies for every wire value, shared by the property tests
//! of this crate (each test file uses the subset it needs).
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;
use umptcp_wire::mptcp::{
    AddAddr, CapableKeys, Dss, DssMapping, DssSeq, MpCapable, MpCapableFlags, MpFail, MpFastclose,
    MpJoin, MpPrio, MpTcpRst, MptcpOption, RemoveAddr, TcpRstReason,
};
use umptcp_wire::{AddrId, Key, Nonce, Token};

/// Address IDs for REMOVE_ADDR values, which borrow their list.
pub(crate) static IDS: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

pub(crate) fn key() -> impl Strategy<Value = Key> {
    any::<u64>().prop_map(Key)
}

pub(crate) fn ip_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

pub(crate) fn mp_capable() -> impl Strategy<Value = MpCapable> {
    let keys = prop_oneof![
        Just(CapableKeys::None),
        key().prop_map(CapableKeys::Sender),
        (key(), key()).prop_map(|(sender, receiver)| CapableKeys::Both { sender, receiver }),
        (key(), key(), any::<u16>(), any::<Option<u16>>()).prop_map(
            |(sender, receiver, data_len, checksum)| CapableKeys::WithData {
                sender,
                receiver,
                data_len,
                checksum,
            }
        ),
    ];
    (0u8..16, any::<u8>(), keys).prop_map(|(version, flags, keys)| MpCapable {
        version,
        flags: MpCapableFlags(flags),
        keys,
    })
}

pub(crate) fn mp_join() -> impl Strategy<Value = MpJoin> {
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
            |(backup, id, hmac, nonce)| MpJoin::SynAck {
                backup,
                addr_id: AddrId(id),
                hmac,
                nonce: Nonce(nonce),
            }
        ),
        any::<[u8; 20]>().prop_map(|hmac| MpJoin::Ack { hmac }),
    ]
}

pub(crate) fn dss_seq() -> impl Strategy<Value = DssSeq> {
    prop_oneof![
        any::<u32>().prop_map(DssSeq::Short),
        any::<u64>().prop_map(DssSeq::Long)
    ]
}

pub(crate) fn dss() -> impl Strategy<Value = Dss> {
    // Lengths 0 (infinite mapping) and 1 (a bare DATA_FIN) get extra weight.
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

pub(crate) fn add_addr() -> impl Strategy<Value = AddAddr> {
    (
        any::<bool>(),
        any::<u8>(),
        ip_addr(),
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

pub(crate) fn mp_prio() -> impl Strategy<Value = MpPrio> {
    (any::<bool>(), any::<Option<u8>>()).prop_map(|(backup, id)| MpPrio {
        backup,
        addr_id: id.map(AddrId),
    })
}

pub(crate) fn tcprst() -> impl Strategy<Value = MpTcpRst> {
    (0u8..16, any::<u8>()).prop_map(|(flags, code)| MpTcpRst {
        flags,
        reason: TcpRstReason::from(code),
    })
}

/// A REMOVE_ADDR borrowing a suffix of [`IDS`].
pub(crate) fn remove_addr() -> impl Strategy<Value = RemoveAddr<'static>> {
    (0..IDS.len()).prop_map(|start| RemoveAddr { ids: &IDS[start..] })
}

/// An option of an unassigned subtype; `data` starts with the subtype byte.
pub(crate) fn unknown_mptcp() -> impl Strategy<Value = MptcpOption<'static>> {
    (9u8..=15, any::<u8>(), vec(any::<u8>(), 0..20)).prop_map(|(subtype, low, rest)| {
        let mut data = vec![subtype << 4 | (low & 0x0f)];
        data.extend(rest);
        MptcpOption::Unknown {
            subtype,
            data: data.leak(),
        }
    })
}

/// The options a segment must carry when asked to (the builder's `mptcp`).
pub(crate) fn mptcp_required() -> impl Strategy<Value = MptcpOption<'static>> {
    prop_oneof![
        mp_capable().prop_map(MptcpOption::MpCapable),
        mp_join().prop_map(MptcpOption::MpJoin),
        dss().prop_map(MptcpOption::Dss),
        any::<u64>().prop_map(|dsn| MptcpOption::MpFail(MpFail { dsn })),
        key().prop_map(|receiver_key| MptcpOption::MpFastclose(MpFastclose { receiver_key })),
        tcprst().prop_map(MptcpOption::MpTcpRst),
    ]
}

/// Signalling that goes where there is room (the builder's `mptcp_optional`).
pub(crate) fn mptcp_optional() -> impl Strategy<Value = MptcpOption<'static>> {
    prop_oneof![
        add_addr().prop_map(MptcpOption::AddAddr),
        remove_addr().prop_map(MptcpOption::RemoveAddr),
        mp_prio().prop_map(MptcpOption::MpPrio),
    ]
}

/// Every option value except REMOVE_ADDR and Unknown, which borrow bytes.
pub(crate) fn mptcp_owned() -> impl Strategy<Value = MptcpOption<'static>> {
    prop_oneof![
        mptcp_required(),
        add_addr().prop_map(MptcpOption::AddAddr),
        mp_prio().prop_map(MptcpOption::MpPrio),
    ]
}

/// Every MPTCP option value.
pub(crate) fn mptcp_any() -> impl Strategy<Value = MptcpOption<'static>> {
    prop_oneof![mptcp_required(), mptcp_optional(), unknown_mptcp()]
}

/// A Fast Open cookie: empty (a cookie request) or 4 to 16 bytes, even.
pub(crate) fn fast_open_cookie() -> impl Strategy<Value = &'static [u8]> {
    static COOKIE: [u8; 16] = *b"0123456789abcdef";
    prop_oneof![Just(0usize), 2usize..=8].prop_map(|half| &COOKIE[..half * 2])
}
