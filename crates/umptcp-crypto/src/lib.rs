//! The cryptography and checksums of Multipath TCP v1 (RFC 8684).
//!
//! Pure functions of their inputs: no clock, no OS randomness, no
//! allocation. Randomness (keys, MP_JOIN nonces) comes from an RNG the
//! caller passes in, so a simulation seeded the same way replays bit for
//! bit.
//!
//! ```text
//!   RNG ─generate_key──▶ Key ─token_and_idsn──▶ (Token, IDSN)        key.rs
//!   RNG ─generate_nonce▶ Nonce
//!   (keys, nonces) ──join_synack_hmac / join_ack_hmac──▶ MP_JOIN      join_hmac.rs
//!   (keys, id, addr, port) ──add_addr_hmac──▶ ADD_ADDR HMAC           add_addr_hmac.rs
//!   (DSN, subflow seq, len) + payload ──DssChecksum──▶ DSS checksum   dss_checksum.rs
//! ```
//!
//! | value | input | bits kept |
//! |---|---|---|
//! | token | SHA-256(key) | leftmost 32 |
//! | IDSN | SHA-256(key) | rightmost 64 |
//! | MP_JOIN SYN/ACK | HMAC(Key-B‖Key-A, R-B‖R-A) | leftmost 64 |
//! | MP_JOIN third ACK | HMAC(Key-A‖Key-B, R-A‖R-B) | leftmost 160 |
//! | ADD_ADDR | HMAC(sender‖receiver, ID‖addr‖port-or-0) | **rightmost** 64 |
//!
//! Every `verify_*` function compares in constant time.
//!
//! # Example
//!
//! ```
//! use umptcp_crypto::{
//!     add_addr_hmac, generate_key, generate_nonce, join_ack_hmac, join_synack_hmac, token,
//!     verify_add_addr_hmac, verify_join_ack_hmac, verify_join_synack_hmac, AddrId,
//! };
//! use rand::{SeedableRng, rngs::StdRng};
//!
//! let mut rng = StdRng::seed_from_u64(42);
//! let (key_a, key_b) = (generate_key(&mut rng), generate_key(&mut rng));
//!
//! // A opens a second subflow: its SYN names B's connection by B's token.
//! let _token_b = token(key_b);
//! let (nonce_a, nonce_b) = (generate_nonce(&mut rng), generate_nonce(&mut rng));
//!
//! // B answers with a truncated HMAC, which A checks...
//! let thmac = join_synack_hmac(key_b, key_a, nonce_b, nonce_a);
//! assert!(verify_join_synack_hmac(key_b, key_a, nonce_b, nonce_a, thmac));
//! // ...and A proves itself in the third ACK, which B checks.
//! let hmac = join_ack_hmac(key_a, key_b, nonce_a, nonce_b);
//! assert!(verify_join_ack_hmac(key_a, key_b, nonce_a, nonce_b, &hmac));
//!
//! // A announces another address; B checks it with the same argument order.
//! let addr = "192.0.2.7".parse().unwrap();
//! let ahmac = add_addr_hmac(key_a, key_b, AddrId(1), addr, None);
//! assert!(verify_add_addr_hmac(key_a, key_b, AddrId(1), addr, None, ahmac));
//! ```

mod add_addr_hmac;
mod dss_checksum;
mod hmac;
mod join_hmac;
mod key;

pub use add_addr_hmac::{add_addr_hmac, verify_add_addr_hmac};
pub use dss_checksum::{DssChecksum, dss_checksum, verify_dss_checksum};
pub use join_hmac::{
    JOIN_ACK_HMAC_LEN, generate_nonce, join_ack_hmac, join_synack_hmac, verify_join_ack_hmac,
    verify_join_synack_hmac,
};
pub use key::{generate_key, idsn, token, token_and_idsn};
pub use umptcp_wire::{AddrId, Key, Nonce, Token};
