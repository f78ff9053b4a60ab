//! Lab test: a live kernel-to-kernel MPTCP session, recorded by our TUN
//! bridge, checked with our own codecs and crypto.
//!
//! * the tokens our crypto derives from the MP_CAPABLE keys are the ones
//!   `ss -Mni` reports on each side;
//! * the kernel's MP_JOIN SYN/ACK and third-ACK HMACs and its ADD_ADDR HMAC
//!   verify with our functions;
//! * every MPTCP option of every packet parses and re-emits byte-identical.
//!
//! The committed fixtures (`tests/fixtures/kernel/*.pcap`) are checked value
//! by value, without the lab, in `tests/kernel_fixtures.rs`.

use std::net::IpAddr;

use umptcp::crypto;
use umptcp::wire::mptcp::{AddAddr, CapableKeys, Dss, DssSeq, MpCapable, MpJoin};
use umptcp::wire::segment::{ChecksumCheck, Segment, TcpFlags};
use umptcp::wire::tcp_option::TcpOption;
use umptcp::wire::{Key, MptcpOption, Nonce, Token};
use umptcp_lab::{CaptureConfig, capture_kernel_session, require_lab};

/// What the checks found in one trace.
#[derive(Debug, Default)]
struct Findings {
    client_key: Option<Key>,
    server_key: Option<Key>,
    join_syn: Option<(Token, Nonce)>,
    join_synack: Option<(u64, Nonce)>,
    join_ack: Option<[u8; 20]>,
    add_addr: Option<AddAddr>,
    add_addr_echo: bool,
    mpc_syn: bool,
    mpc_with_data: Option<(u16, Option<u16>)>,
    dss_ack64_with_map: bool,
    data_fins: usize,
    mptcp_options: usize,
}

/// Parse every packet with our codecs; check (d) on the way and collect the
/// values the other checks need.
fn examine<'a>(packets: impl IntoIterator<Item = &'a [u8]>) -> Findings {
    let mut f = Findings::default();
    for (i, packet) in packets.into_iter().enumerate() {
        let n = i + 1;
        let seg = Segment::parse(packet, ChecksumCheck::Verify)
            .unwrap_or_else(|e| panic!("packet {n}: {e}"));
        let flags = seg.flags();
        let mut options = seg.options();
        loop {
            let before = options.remaining();
            let Some(option) = options.next() else { break };
            let raw = &before[..before.len() - options.remaining().len()];
            let option = option.unwrap_or_else(|e| panic!("packet {n}: option {raw:02x?}: {e}"));
            let TcpOption::Mptcp(mptcp) = option else {
                continue;
            };
            f.mptcp_options += 1;
            // (d) Every MPTCP option re-emits byte-identical.
            assert_eq!(mptcp.buffer_len(), raw.len(), "packet {n}: {mptcp:?}");
            let mut buf = [0u8; 40];
            let len = mptcp
                .emit(&mut buf)
                .unwrap_or_else(|e| panic!("packet {n}: emit {mptcp:?}: {e}"));
            assert_eq!(&buf[..len], raw, "packet {n}: re-emit of {mptcp:?}");
            assert_eq!(MptcpOption::parse(raw), Ok(mptcp), "packet {n}");

            match mptcp {
                MptcpOption::MpCapable(MpCapable { keys, .. }) => match keys {
                    CapableKeys::None => f.mpc_syn = true,
                    CapableKeys::Sender(k) if flags.contains(TcpFlags::SYN | TcpFlags::ACK) => {
                        f.server_key.get_or_insert(k);
                    }
                    CapableKeys::Both { sender, receiver } => {
                        f.client_key.get_or_insert(sender);
                        f.server_key.get_or_insert(receiver);
                    }
                    CapableKeys::WithData {
                        sender,
                        receiver,
                        data_len,
                        checksum,
                    } => {
                        f.client_key.get_or_insert(sender);
                        f.server_key.get_or_insert(receiver);
                        f.mpc_with_data.get_or_insert((data_len, checksum));
                    }
                    CapableKeys::Sender(_) => {}
                },
                MptcpOption::MpJoin(MpJoin::Syn { token, nonce, .. }) => {
                    f.join_syn.get_or_insert((token, nonce));
                }
                MptcpOption::MpJoin(MpJoin::SynAck { hmac, nonce, .. }) => {
                    f.join_synack.get_or_insert((hmac, nonce));
                }
                MptcpOption::MpJoin(MpJoin::Ack { hmac }) => {
                    f.join_ack.get_or_insert(hmac);
                }
                MptcpOption::AddAddr(a) if a.echo => f.add_addr_echo = true,
                MptcpOption::AddAddr(a) => {
                    f.add_addr.get_or_insert(a);
                }
                MptcpOption::Dss(Dss {
                    data_ack,
                    mapping,
                    data_fin,
                }) => {
                    if matches!(data_ack, Some(DssSeq::Long(_)))
                        && mapping.is_some_and(|m| m.data_len > 0)
                        && !seg.payload().is_empty()
                    {
                        f.dss_ack64_with_map = true;
                    }
                    f.data_fins += usize::from(data_fin);
                }
                _ => {}
            }
        }
    }
    f
}

/// Checks (b) and (c), and that the trace holds every handshake step.
/// Returns the keys (client, server).
fn verify(f: &Findings, checksum: bool) -> (Key, Key) {
    assert!(f.mpc_syn, "no MP_CAPABLE SYN");
    let client_key = f.client_key.expect("no MP_CAPABLE third ACK");
    let server_key = f.server_key.expect("no MP_CAPABLE SYN/ACK");
    let (data_len, dss_checksum) = f.mpc_with_data.expect("no MP_CAPABLE with data");
    assert!(data_len > 0);
    assert_eq!(dss_checksum.is_some(), checksum, "MP_CAPABLE data checksum");
    assert!(
        f.dss_ack64_with_map,
        "no DSS with 8-byte data ACK and mapping"
    );
    assert!(f.data_fins >= 2, "DATA_FIN each way: {}", f.data_fins);
    assert!(f.add_addr_echo, "no ADD_ADDR echo");

    // The MP_JOIN SYN names the connection by the server's token.
    let (token, client_nonce) = f.join_syn.expect("no MP_JOIN SYN");
    assert_eq!(token, crypto::token(server_key), "MP_JOIN SYN token");

    // (b) The responder's (server's) SYN/ACK HMAC, then the initiator's
    // (client's) third-ACK HMAC.
    let (synack_hmac, server_nonce) = f.join_synack.expect("no MP_JOIN SYN/ACK");
    assert!(
        crypto::verify_join_synack_hmac(
            server_key,
            client_key,
            server_nonce,
            client_nonce,
            synack_hmac
        ),
        "MP_JOIN SYN/ACK HMAC {synack_hmac:#x} does not verify (expected {:#x})",
        crypto::join_synack_hmac(server_key, client_key, server_nonce, client_nonce)
    );
    let ack_hmac = f.join_ack.expect("no MP_JOIN third ACK");
    assert!(
        crypto::verify_join_ack_hmac(
            client_key,
            server_key,
            client_nonce,
            server_nonce,
            &ack_hmac
        ),
        "MP_JOIN ACK HMAC does not verify"
    );

    // (c) The server's ADD_ADDR, keyed by the server's key first.
    let add = f.add_addr.expect("no ADD_ADDR");
    let hmac = add.hmac.expect("a v1 ADD_ADDR carries an HMAC");
    assert!(
        crypto::verify_add_addr_hmac(
            server_key,
            client_key,
            add.addr_id,
            add.addr,
            add.port,
            hmac
        ),
        "ADD_ADDR HMAC {hmac:#x} does not verify (expected {:#x})",
        crypto::add_addr_hmac(server_key, client_key, add.addr_id, add.addr, add.port)
    );
    (client_key, server_key)
}

fn live(test: &str, checksum: bool) {
    let Some(lab) = require_lab(test) else {
        return;
    };
    let capture = capture_kernel_session(&lab, &CaptureConfig::with_checksum(checksum))
        .unwrap_or_else(|e| panic!("capture failed: {e}"));
    assert_eq!(capture.overflow, 0);
    let f = examine(capture.packets.iter().map(|p| p.data.as_slice()));
    let (client_key, server_key) = verify(&f, checksum);

    // (a) Our tokens are the kernel's.
    let server_token = crypto::token(server_key);
    let client_token = crypto::token(client_key);
    assert!(
        capture.srv_tokens.contains(&server_token),
        "server token {server_token} not in ss -Mni of srv:\n{}",
        capture.srv_ss
    );
    assert!(
        capture.cli_tokens.contains(&client_token),
        "client token {client_token} not in ss -Mni of cli:\n{}",
        capture.cli_ss
    );

    // The ADD_ADDR announced the server's second address, and the kernel
    // counted the join on both sides.
    assert_eq!(
        f.add_addr.map(|a| a.addr),
        Some(IpAddr::V4(capture.srv_addrs[1]))
    );
    assert_eq!(capture.srv_nstat.get("MPTcpExtMPJoinAckRx"), Some(&1));
    assert_eq!(capture.cli_nstat.get("MPTcpExtMPJoinSynAckRx"), Some(&1));
    if checksum {
        assert_eq!(capture.srv_nstat.get("MPTcpExtDataCsumErr"), Some(&0));
    }
}

#[test]
fn kernel_session_two_paths() {
    live("kernel_session_two_paths", false);
}

#[test]
fn kernel_session_two_paths_checksum() {
    live("kernel_session_two_paths_checksum", true);
}
