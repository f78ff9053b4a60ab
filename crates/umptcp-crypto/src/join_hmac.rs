//! The MP_JOIN handshake's HMACs and nonces (RFC 8684 §3.2).
//!
//! Host A (the *initiator*, which sends the MP_JOIN SYN) and host B (the
//! *responder*) authenticate a new subflow with the keys they exchanged in
//! MP_CAPABLE and two fresh 32-bit nonces (R-A in the SYN, R-B in the
//! SYN/ACK):
//!
//! ```text
//!   A ── SYN + MP_JOIN(token-B, R-A) ─────────────────────────▶ B
//!   A ◀── SYN/ACK + MP_JOIN(leftmost 64 bits of
//!            HMAC(Key=(Key-B + Key-A), Msg=(R-B + R-A)), R-B) ── B
//!   A ── ACK + MP_JOIN(leftmost 160 bits of
//!            HMAC(Key=(Key-A + Key-B), Msg=(R-A + R-B))) ──────▶ B
//! ```
//!
//! RFC 8684 §3.2: the HMAC key of the message sent by Host A is "Key-A
//! followed by Key-B", and of the one sent by Host B "Key-B followed by
//! Key-A"; the message is the two nonces in the same sender-first order. The
//! SYN/ACK carries a "Sender's Truncated HMAC (64 bits)" and the third ACK
//! a "Sender's HMAC (160 bits)"; both are the *leftmost* bits of the
//! HMAC-SHA256 digest.
//!
//! Every function here takes its arguments in the order they appear in
//! that formula for its message: the sender's key and nonce come first. The
//! Linux kernel builds the same values in `subflow_req_create_thmac()` (B's
//! SYN/ACK: `local_key, remote_key, local_nonce, remote_nonce`,
//! `thmac = get_unaligned_be64(hmac)`), and `subflow_finish_connect()` (A's
//! third ACK: `memcpy(subflow->hmac, hmac, MPTCPOPT_HMAC_LEN)`, 20 bytes),
//! both in net/mptcp/subflow.c.

use rand_core::RngCore;
use subtle::ConstantTimeEq;
use umptcp_wire::{Key, Nonce};

use crate::hmac::{ct_eq, hmac_sha256};

/// Length in bytes of the HMAC carried by the MP_JOIN third ACK (160 bits).
pub const JOIN_ACK_HMAC_LEN: usize = 20;

/// Draw a fresh, non-zero MP_JOIN nonce from the caller's RNG.
///
/// One `next_u32` call; a zero draw is repeated, as the kernel does for its
/// own MP_JOIN SYN nonce in `__mptcp_subflow_connect()`.
pub fn generate_nonce<R: RngCore + ?Sized>(rng: &mut R) -> Nonce {
    loop {
        let nonce = rng.next_u32();
        if nonce != 0 {
            return Nonce(nonce);
        }
    }
}

/// Hash the two nonces in sender-first order with the two keys in sender-first order.
fn join_hmac(sender_key: Key, peer_key: Key, sender_nonce: Nonce, peer_nonce: Nonce) -> [u8; 32] {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&sender_nonce.0.to_be_bytes());
    msg[4..].copy_from_slice(&peer_nonce.0.to_be_bytes());
    hmac_sha256(sender_key.0, peer_key.0, &msg)
}

/// Compute the truncated HMAC the responder (B) sends in the MP_JOIN SYN/ACK.
///
/// RFC 8684 §3.2: the leftmost 64 bits of
/// HMAC(Key=(Key-B + Key-A), Msg=(R-B + R-A)), returned as the big-endian
/// number the option carries.
pub fn join_synack_hmac(
    responder_key: Key,
    initiator_key: Key,
    responder_nonce: Nonce,
    initiator_nonce: Nonce,
) -> u64 {
    let h = join_hmac(
        responder_key,
        initiator_key,
        responder_nonce,
        initiator_nonce,
    );
    u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

/// Check, in constant time, the truncated HMAC received in an MP_JOIN SYN/ACK.
///
/// The initiator calls this with its own key and nonce in the `initiator_*`
/// places and the responder's in the `responder_*` places.
pub fn verify_join_synack_hmac(
    responder_key: Key,
    initiator_key: Key,
    responder_nonce: Nonce,
    initiator_nonce: Nonce,
    received: u64,
) -> bool {
    let expected = join_synack_hmac(
        responder_key,
        initiator_key,
        responder_nonce,
        initiator_nonce,
    );
    expected.ct_eq(&received).into()
}

/// Compute the HMAC the initiator (A) sends in the MP_JOIN third ACK.
///
/// RFC 8684 §3.2: the leftmost 160 bits of
/// HMAC(Key=(Key-A + Key-B), Msg=(R-A + R-B)), in wire order.
pub fn join_ack_hmac(
    initiator_key: Key,
    responder_key: Key,
    initiator_nonce: Nonce,
    responder_nonce: Nonce,
) -> [u8; JOIN_ACK_HMAC_LEN] {
    let h = join_hmac(
        initiator_key,
        responder_key,
        initiator_nonce,
        responder_nonce,
    );
    let mut out = [0u8; JOIN_ACK_HMAC_LEN];
    out.copy_from_slice(&h[..JOIN_ACK_HMAC_LEN]);
    out
}

/// Check, in constant time, the HMAC received in an MP_JOIN third ACK.
///
/// The responder calls this with its own key and nonce in the
/// `responder_*` places and the initiator's in the `initiator_*` places.
pub fn verify_join_ack_hmac(
    initiator_key: Key,
    responder_key: Key,
    initiator_nonce: Nonce,
    responder_nonce: Nonce,
    received: &[u8; JOIN_ACK_HMAC_LEN],
) -> bool {
    let expected = join_ack_hmac(
        initiator_key,
        responder_key,
        initiator_nonce,
        responder_nonce,
    );
    ct_eq(&expected, received)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: Key = Key(0x0123_4567_89ab_cdef);
    const KEY_B: Key = Key(0xfedc_ba98_7654_3210);
    const R_A: Nonce = Nonce(0x1122_3344);
    const R_B: Nonce = Nonce(0xaabb_ccdd);

    // Known answers computed independently with Python:
    //   python3 -c 'import hmac,hashlib,struct
    //   KA,KB,RA,RB=0x0123456789abcdef,0xfedcba9876543210,0x11223344,0xaabbccdd
    //   m=lambda k1,k2,msg: hmac.new(struct.pack(">QQ",k1,k2),msg,hashlib.sha256).digest()
    //   print(m(KB,KA,struct.pack(">II",RB,RA))[:8].hex())    # SYN/ACK
    //   print(m(KA,KB,struct.pack(">II",RA,RB))[:20].hex())'  # third ACK
    #[test]
    fn synack_known_answer() {
        assert_eq!(
            join_synack_hmac(KEY_B, KEY_A, R_B, R_A),
            0x3bae_5abc_810a_33c2
        );
        assert!(verify_join_synack_hmac(
            KEY_B,
            KEY_A,
            R_B,
            R_A,
            0x3bae_5abc_810a_33c2
        ));
    }

    #[test]
    fn ack_known_answer() {
        let want = [
            0xf6, 0x17, 0x53, 0xd6, 0xb8, 0xac, 0x22, 0x77, 0x64, 0xb9, 0xd1, 0xb1, 0x7a, 0x6f,
            0x5c, 0xee, 0xec, 0x9d, 0x1a, 0x8a,
        ];
        assert_eq!(join_ack_hmac(KEY_A, KEY_B, R_A, R_B), want);
        assert!(verify_join_ack_hmac(KEY_A, KEY_B, R_A, R_B, &want));
    }

    // The kernel's KUnit vector (net/mptcp/crypto_test.c, first case) read
    // as an MP_JOIN: key1/nonce1 are the sender's. key = ASCII
    // "0b0b0b0b0b0b0b0b", msg = ASCII "48692054", digest
    // 8385e24fb4235ac37556b6b886db106284a1da67 1699f46d...
    #[test]
    fn kernel_kunit_vector_as_join() {
        let k1 = Key(u64::from_be_bytes(*b"0b0b0b0b"));
        let k2 = Key(u64::from_be_bytes(*b"0b0b0b0b"));
        let n1 = Nonce(u32::from_be_bytes(*b"4869"));
        let n2 = Nonce(u32::from_be_bytes(*b"2054"));
        assert_eq!(join_synack_hmac(k1, k2, n1, n2), 0x8385_e24f_b423_5ac3);
        let want = [
            0x83, 0x85, 0xe2, 0x4f, 0xb4, 0x23, 0x5a, 0xc3, 0x75, 0x56, 0xb6, 0xb8, 0x86, 0xdb,
            0x10, 0x62, 0x84, 0xa1, 0xda, 0x67,
        ];
        assert_eq!(join_ack_hmac(k1, k2, n1, n2), want);
    }

    #[test]
    fn the_two_directions_differ() {
        // Swapping roles must change the value: a reflected SYN/ACK HMAC
        // must not pass as a third-ACK HMAC.
        let synack = join_synack_hmac(KEY_B, KEY_A, R_B, R_A);
        let ack = join_ack_hmac(KEY_A, KEY_B, R_A, R_B);
        assert_ne!(synack.to_be_bytes(), ack[..8]);
        assert!(!verify_join_synack_hmac(KEY_A, KEY_B, R_A, R_B, synack));
    }

    #[test]
    fn generate_nonce_is_deterministic_and_non_zero() {
        use rand::SeedableRng;
        use rand::rngs::StdRng;
        let a = generate_nonce(&mut StdRng::seed_from_u64(3));
        let b = generate_nonce(&mut StdRng::seed_from_u64(3));
        assert_eq!(a, b);
        assert_ne!(a, Nonce(0));
    }
}
