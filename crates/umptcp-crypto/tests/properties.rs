//! Property tests of umptcp-crypto's public API.
//!
//! Known answers live next to each module; these check the laws that must
//! hold for every input: splitting a payload never changes its DSS
//! checksum, a fresh HMAC or checksum always verifies and never does after
//! any single bit flip, and a seeded RNG always yields the same key.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use umptcp_crypto::{
    AddrId, DssChecksum, JOIN_ACK_HMAC_LEN, Key, Nonce, add_addr_hmac, dss_checksum, generate_key,
    generate_nonce, join_ack_hmac, join_synack_hmac, token_and_idsn, verify_add_addr_hmac,
    verify_dss_checksum, verify_join_ack_hmac, verify_join_synack_hmac,
};

/// Any IPv4 or IPv6 address.
fn any_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

/// Cut `payload` at the given positions (taken modulo its length, sorted).
fn pieces<'a>(payload: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (payload.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in at {
        out.push(&payload[start..cut]);
        start = cut;
    }
    out.push(&payload[start..]);
    out
}

proptest! {
    #[test]
    fn streaming_dss_checksum_equals_one_shot(
        data_seq: u64,
        subflow_seq: u32,
        data_len: u16,
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut csum = DssChecksum::new(data_seq, subflow_seq, data_len);
        for piece in pieces(&payload, &cuts) {
            csum.update(piece);
        }
        let one_shot = dss_checksum(data_seq, subflow_seq, data_len, &payload);
        prop_assert_eq!(csum.finish(), one_shot);
        prop_assert!(csum.verify(one_shot));
    }

    #[test]
    fn dss_checksum_detects_any_single_bit_flip(
        data_seq: u64,
        subflow_seq: u32,
        data_len: u16,
        payload in proptest::collection::vec(any::<u8>(), 1..1500),
        bit: usize,
    ) {
        let csum = dss_checksum(data_seq, subflow_seq, data_len, &payload);
        prop_assert!(verify_dss_checksum(data_seq, subflow_seq, data_len, &payload, csum));

        let mut flipped = payload.clone();
        let bit = bit % (payload.len() * 8);
        flipped[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify_dss_checksum(data_seq, subflow_seq, data_len, &flipped, csum));

        let csum_bit = bit % 16;
        prop_assert!(!verify_dss_checksum(
            data_seq, subflow_seq, data_len, &payload, csum ^ (1 << csum_bit)
        ));
    }

    #[test]
    fn join_synack_hmac_verifies_until_a_bit_flips(
        responder: u64, initiator: u64, r_nonce: u32, i_nonce: u32, bit in 0u32..64,
    ) {
        let (kb, ka, rb, ra) = (Key(responder), Key(initiator), Nonce(r_nonce), Nonce(i_nonce));
        let thmac = join_synack_hmac(kb, ka, rb, ra);
        prop_assert!(verify_join_synack_hmac(kb, ka, rb, ra, thmac));
        prop_assert!(!verify_join_synack_hmac(kb, ka, rb, ra, thmac ^ (1 << bit)));
    }

    #[test]
    fn join_ack_hmac_verifies_until_a_bit_flips(
        initiator: u64, responder: u64, i_nonce: u32, r_nonce: u32,
        bit in 0usize..JOIN_ACK_HMAC_LEN * 8,
    ) {
        let (ka, kb, ra, rb) = (Key(initiator), Key(responder), Nonce(i_nonce), Nonce(r_nonce));
        let hmac = join_ack_hmac(ka, kb, ra, rb);
        prop_assert!(verify_join_ack_hmac(ka, kb, ra, rb, &hmac));
        let mut flipped = hmac;
        flipped[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify_join_ack_hmac(ka, kb, ra, rb, &flipped));
    }

    #[test]
    fn add_addr_hmac_verifies_until_a_bit_flips(
        sender: u64, receiver: u64, id: u8, addr in any_addr(), port: Option<u16>,
        bit in 0u32..64,
    ) {
        let (ks, kr, id) = (Key(sender), Key(receiver), AddrId(id));
        let h = add_addr_hmac(ks, kr, id, addr, port);
        prop_assert!(verify_add_addr_hmac(ks, kr, id, addr, port, h));
        prop_assert!(!verify_add_addr_hmac(ks, kr, id, addr, port, h ^ (1 << bit)));
    }

    #[test]
    fn same_seed_same_key_and_nonce(seed: u64) {
        let mut a = StdRng::seed_from_u64(seed);
        let mut b = StdRng::seed_from_u64(seed);
        let key = generate_key(&mut a);
        prop_assert_eq!(key, generate_key(&mut b));
        prop_assert_ne!(key, Key(0));
        prop_assert_eq!(generate_nonce(&mut a), generate_nonce(&mut b));
        prop_assert_eq!(token_and_idsn(key), token_and_idsn(generate_key(&mut StdRng::seed_from_u64(seed))));
    }
}
