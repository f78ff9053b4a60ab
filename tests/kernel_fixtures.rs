//! Real bytes from the Linux kernel (tests/fixtures/kernel/README.md says how
//! they were recorded): every MPTCP option decodes to the value the kernel
//! meant and re-emits byte-identical, and our crypto agrees with the
//! kernel's tokens, IDSNs, HMACs and DSS checksums.
//!
//! Frame numbers are 1-based, as `tshark -r FILE` prints them.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use umptcp::crypto;
use umptcp::wire::mptcp::{
    AddAddr, CapableKeys, Dss, DssMapping, DssSeq, MpCapable, MpCapableFlags, MpJoin,
};
use umptcp::wire::pcap::PcapReader;
use umptcp::wire::segment::{ChecksumCheck, Segment};
use umptcp::wire::{AddrId, Key, MptcpOption, Nonce, TcpOption, Token};

const PLAIN: &[u8] = include_bytes!("fixtures/kernel/mptcp-v1-two-paths.pcap");
const CHECKSUM: &[u8] = include_bytes!("fixtures/kernel/mptcp-v1-two-paths-checksum.pcap");

/// Every packet of a capture, as (frame number, raw IP packet).
fn frames(pcap: &[u8]) -> Vec<(usize, &[u8])> {
    PcapReader::new(pcap)
        .expect("pcap header")
        .enumerate()
        .map(|(i, record)| (i + 1, record.expect("pcap record").data))
        .collect()
}

fn segment(pcap: &[u8], frame: usize) -> Segment<'_> {
    let (_, packet) = frames(pcap)
        .into_iter()
        .find(|(n, _)| *n == frame)
        .unwrap_or_else(|| panic!("no frame {frame}"));
    Segment::parse(packet, ChecksumCheck::Verify).expect("kernel segment parses")
}

/// The one MPTCP option of a frame (the kernel never sends two).
fn mptcp_option(pcap: &[u8], frame: usize) -> MptcpOption<'_> {
    let mut found = segment(pcap, frame)
        .options()
        .map(|option| option.expect("kernel option parses"))
        .filter_map(|option| match option {
            TcpOption::Mptcp(mptcp) => Some(mptcp),
            _ => None,
        });
    let option = found.next().expect("frame carries an MPTCP option");
    assert!(found.next().is_none(), "one MPTCP option per frame");
    option
}

// The keys of each recorded connection, as the MP_CAPABLE third ACK carries them.
const PLAIN_CLIENT_KEY: Key = Key(0x48dd_ba6d_6c15_03ce);
const PLAIN_SERVER_KEY: Key = Key(0x7910_a04d_0c26_b413);
const CSUM_CLIENT_KEY: Key = Key(0x9e55_b858_c112_627b);
const CSUM_SERVER_KEY: Key = Key(0x6312_a0ed_726e_2319);

#[test]
fn every_kernel_packet_parses_and_every_mptcp_option_reemits_byte_identical() {
    for pcap in [PLAIN, CHECKSUM] {
        let mut subtypes = BTreeMap::new();
        for (frame, packet) in frames(pcap) {
            let segment = Segment::parse(packet, ChecksumCheck::Verify)
                .unwrap_or_else(|e| panic!("frame {frame}: {e}"));
            // Walk the raw option bytes beside the parsed options so each
            // MPTCP option is compared with exactly the bytes it came from.
            let mut rest = segment.option_bytes();
            while !rest.is_empty() {
                let (option, tail) =
                    TcpOption::parse(rest).unwrap_or_else(|e| panic!("frame {frame}: option: {e}"));
                let raw = &rest[..rest.len() - tail.len()];
                if let TcpOption::Mptcp(mptcp) = option {
                    let mut out = [0u8; 64];
                    let n = mptcp.emit(&mut out).expect("re-emit");
                    assert_eq!(&out[..n], raw, "frame {frame}: {mptcp:?}");
                    *subtypes.entry(mptcp.subtype()).or_insert(0) += 1;
                }
                if option == TcpOption::EndOfList {
                    break;
                }
                rest = tail;
            }
        }
        // MP_CAPABLE (0), MP_JOIN (1), DSS (2), ADD_ADDR (3) all appear.
        for subtype in 0..=3 {
            assert!(subtypes.contains_key(&subtype), "subtype {subtype} missing");
        }
    }
}

#[test]
fn mp_capable_handshake_decodes_to_the_kernels_keys() {
    let h = MpCapableFlags(MpCapableFlags::H_HMAC_SHA256);
    let expect = |keys| {
        MptcpOption::MpCapable(MpCapable {
            version: 1,
            flags: h,
            keys,
        })
    };
    // Frame 1: SYN, 4 bytes, no key.
    assert_eq!(mptcp_option(PLAIN, 1), expect(CapableKeys::None));
    // Frame 2: SYN/ACK, 12 bytes, the server's key.
    assert_eq!(
        mptcp_option(PLAIN, 2),
        expect(CapableKeys::Sender(PLAIN_SERVER_KEY))
    );
    // Frame 3: third ACK, 20 bytes, both keys.
    assert_eq!(
        mptcp_option(PLAIN, 3),
        expect(CapableKeys::Both {
            sender: PLAIN_CLIENT_KEY,
            receiver: PLAIN_SERVER_KEY
        })
    );
    // Frame 4: first data, 22 bytes: keys again and the data-level length.
    assert_eq!(
        mptcp_option(PLAIN, 4),
        expect(CapableKeys::WithData {
            sender: PLAIN_CLIENT_KEY,
            receiver: PLAIN_SERVER_KEY,
            data_len: 4096,
            checksum: None
        })
    );
    // With checksums on, the A flag is set and the first data carries a
    // checksum: 24 bytes.
    let ah = MpCapableFlags(MpCapableFlags::A_CHECKSUM | MpCapableFlags::H_HMAC_SHA256);
    assert_eq!(
        mptcp_option(CHECKSUM, 4),
        MptcpOption::MpCapable(MpCapable {
            version: 1,
            flags: ah,
            keys: CapableKeys::WithData {
                sender: CSUM_CLIENT_KEY,
                receiver: CSUM_SERVER_KEY,
                data_len: 4096,
                checksum: Some(10668)
            }
        })
    );
}

#[test]
fn dss_with_eight_byte_data_ack_and_mapping_matches_the_idsns() {
    // Frame 80: the server's first data: 8-byte data ACK, 8-byte DSN.
    let option = mptcp_option(PLAIN, 80);
    let server_first_dsn = crypto::idsn(PLAIN_SERVER_KEY).wrapping_add(1);
    let client_next_dsn = crypto::idsn(PLAIN_CLIENT_KEY)
        .wrapping_add(1)
        .wrapping_add(64 * 1024);
    assert_eq!(
        option,
        MptcpOption::Dss(Dss {
            data_ack: Some(DssSeq::Long(client_next_dsn)),
            mapping: Some(DssMapping {
                dsn: DssSeq::Long(server_first_dsn),
                subflow_seq: 1,
                data_len: 31240,
                checksum: None
            }),
            data_fin: false
        })
    );
    // Frame 7: the server's pure data ACK for the first 1424 bytes
    // (RFC 8684 §3.1: the first data byte is IDSN + 1).
    let acked = crypto::idsn(PLAIN_CLIENT_KEY).wrapping_add(1 + 1424);
    assert_eq!(
        mptcp_option(PLAIN, 7),
        MptcpOption::Dss(Dss {
            data_ack: Some(DssSeq::Long(acked)),
            mapping: None,
            data_fin: false
        })
    );
}

#[test]
fn data_fin_is_a_one_byte_mapping_without_payload() {
    // Frame 157: the client's DATA_FIN on path 1, after 64 KiB.
    let fin_dsn = crypto::idsn(PLAIN_CLIENT_KEY).wrapping_add(1 + 64 * 1024);
    let server_end = crypto::idsn(PLAIN_SERVER_KEY).wrapping_add(1 + 64 * 1024);
    assert!(segment(PLAIN, 157).payload().is_empty());
    assert_eq!(
        mptcp_option(PLAIN, 157),
        MptcpOption::Dss(Dss {
            data_ack: Some(DssSeq::Long(server_end)),
            mapping: Some(DssMapping {
                dsn: DssSeq::Long(fin_dsn),
                subflow_seq: 0,
                data_len: 1,
                checksum: None
            }),
            data_fin: true
        })
    );
}

#[test]
fn add_addr_hmac_verifies_with_our_function() {
    let addr = IpAddr::V4(Ipv4Addr::new(10, 35, 2, 2));
    let hmac = 17_845_805_600_227_520_863;
    assert_eq!(
        mptcp_option(PLAIN, 10),
        MptcpOption::AddAddr(AddAddr {
            echo: false,
            addr_id: AddrId(1),
            addr,
            port: None,
            hmac: Some(hmac)
        })
    );
    // The server sent it: its key first (RFC 8684 §3.4.1).
    assert_eq!(
        crypto::add_addr_hmac(PLAIN_SERVER_KEY, PLAIN_CLIENT_KEY, AddrId(1), addr, None),
        hmac
    );
    // Frame 11: the client's echo carries no HMAC.
    assert_eq!(
        mptcp_option(PLAIN, 11),
        MptcpOption::AddAddr(AddAddr {
            echo: true,
            addr_id: AddrId(1),
            addr,
            port: None,
            hmac: None
        })
    );
    // The checksum capture's ADD_ADDR verifies too.
    let MptcpOption::AddAddr(add) = mptcp_option(CHECKSUM, 10) else {
        panic!("frame 10 of the checksum capture is an ADD_ADDR");
    };
    assert!(crypto::verify_add_addr_hmac(
        CSUM_SERVER_KEY,
        CSUM_CLIENT_KEY,
        add.addr_id,
        add.addr,
        add.port,
        add.hmac.expect("HMAC present")
    ));
}

#[test]
fn mp_join_token_and_hmacs_verify_with_our_functions() {
    let client_nonce = Nonce(0x5a6e_e85e);
    let server_nonce = Nonce(0xd520_2886);
    // Frame 12: the join SYN names the connection by the server's token.
    assert_eq!(
        mptcp_option(PLAIN, 12),
        MptcpOption::MpJoin(MpJoin::Syn {
            backup: false,
            addr_id: AddrId(1),
            token: Token(0x5b1b_53f8),
            nonce: client_nonce
        })
    );
    assert_eq!(crypto::token(PLAIN_SERVER_KEY), Token(0x5b1b_53f8));
    // Frame 13: SYN/ACK, leftmost 64 bits of HMAC(Key-B + Key-A, R-B + R-A).
    let synack_hmac = 1_248_921_527_202_703_790;
    assert_eq!(
        mptcp_option(PLAIN, 13),
        MptcpOption::MpJoin(MpJoin::SynAck {
            backup: false,
            addr_id: AddrId(1),
            hmac: synack_hmac,
            nonce: server_nonce
        })
    );
    assert_eq!(
        crypto::join_synack_hmac(
            PLAIN_SERVER_KEY,
            PLAIN_CLIENT_KEY,
            server_nonce,
            client_nonce
        ),
        synack_hmac
    );
    // Frame 14: third ACK, leftmost 160 bits of HMAC(Key-A + Key-B, R-A + R-B).
    let ack_hmac = [
        66, 82, 89, 244, 239, 27, 37, 84, 11, 208, 140, 126, 193, 51, 79, 183, 46, 176, 59, 230,
    ];
    assert_eq!(
        mptcp_option(PLAIN, 14),
        MptcpOption::MpJoin(MpJoin::Ack { hmac: ack_hmac })
    );
    assert!(crypto::verify_join_ack_hmac(
        PLAIN_CLIENT_KEY,
        PLAIN_SERVER_KEY,
        client_nonce,
        server_nonce,
        &ack_hmac
    ));
    // A wrong nonce order must not verify: the order is what the RFC fixes.
    assert!(!crypto::verify_join_synack_hmac(
        PLAIN_SERVER_KEY,
        PLAIN_CLIENT_KEY,
        client_nonce,
        server_nonce,
        synack_hmac
    ));
}

#[test]
fn dss_checksums_of_the_kernel_verify_with_our_function() {
    // The MP_CAPABLE first data (frames 4-6) maps 4096 bytes from DSN
    // IDSN + 1 at relative subflow sequence 1, checksum 10668.
    let payload: Vec<u8> = (4..=6)
        .flat_map(|frame| segment(CHECKSUM, frame).payload().to_vec())
        .collect();
    assert_eq!(payload.len(), 4096);
    let dsn = crypto::idsn(CSUM_CLIENT_KEY).wrapping_add(1);
    assert_eq!(crypto::dss_checksum(dsn, 1, 4096, &payload), 10668);
    assert!(!crypto::verify_dss_checksum(dsn, 2, 4096, &payload, 10668));

    // Every DATA_FIN of the capture (data-level length 1, no payload).
    let mut fins = 0;
    for (frame, packet) in frames(CHECKSUM) {
        let segment = Segment::parse(packet, ChecksumCheck::Verify).expect("parse");
        for option in segment.options() {
            if let Ok(TcpOption::Mptcp(MptcpOption::Dss(Dss {
                data_fin: true,
                mapping: Some(mapping),
                ..
            }))) = option
            {
                let DssSeq::Long(dsn) = mapping.dsn else {
                    panic!("frame {frame}: the kernel sends 8-byte DSNs");
                };
                let checksum = mapping.checksum.expect("checksums negotiated");
                assert!(
                    crypto::verify_dss_checksum(dsn, mapping.subflow_seq, 1, &[], checksum),
                    "frame {frame}"
                );
                fins += 1;
            }
        }
    }
    assert!(fins >= 2, "both directions sent a DATA_FIN");
}

#[test]
fn multi_segment_dss_mapping_checksum_verifies_over_the_reassembled_subflow() {
    // Frame 16 of the checksum capture opens a 37024-byte mapping on path 1
    // at relative subflow sequence 4097; its payload spans many segments.
    let opening = segment(CHECKSUM, 16);
    let MptcpOption::Dss(Dss {
        mapping: Some(mapping),
        ..
    }) = mptcp_option(CHECKSUM, 16)
    else {
        panic!("frame 16 carries a DSS mapping");
    };
    let isn = segment(CHECKSUM, 1).seq();
    assert_eq!(opening.seq().wrapping_sub(isn), mapping.subflow_seq);

    // Reassemble that subflow's bytes by relative sequence number.
    let mut stream = BTreeMap::new();
    for (_, packet) in frames(CHECKSUM) {
        let s = Segment::parse(packet, ChecksumCheck::Verify).expect("parse");
        if (s.src(), s.src_port(), s.dst(), s.dst_port())
            == (
                opening.src(),
                opening.src_port(),
                opening.dst(),
                opening.dst_port(),
            )
            && !s.payload().is_empty()
        {
            stream.insert(s.seq().wrapping_sub(isn), s.payload());
        }
    }
    let start = mapping.subflow_seq;
    let end = start + u32::from(mapping.data_len);
    let mut bytes = Vec::new();
    let mut next = start;
    for (&seq, payload) in stream.range(start..end) {
        assert_eq!(seq, next, "no hole in the mapped range");
        bytes.extend_from_slice(payload);
        next = seq + payload.len() as u32;
    }
    assert_eq!(bytes.len(), usize::from(mapping.data_len));

    let DssSeq::Long(dsn) = mapping.dsn else {
        panic!("8-byte DSN");
    };
    let checksum = mapping.checksum.expect("checksum present");
    let mut streaming = crypto::DssChecksum::new(dsn, mapping.subflow_seq, mapping.data_len);
    for chunk in bytes.chunks(1000) {
        streaming.update(chunk);
    }
    assert!(streaming.verify(checksum));
    assert_eq!(streaming.finish(), checksum);
}
