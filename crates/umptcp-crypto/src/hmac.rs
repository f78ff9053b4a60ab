//! The one HMAC construction MPTCP uses (RFC 8684 §3.2, §3.4.1).
//!
//! HMAC-SHA256 (RFC 2104, RFC 6234) keyed with two 64-bit MPTCP keys
//! concatenated, each in network byte order. The order of the two keys is
//! the caller's business: MP_JOIN and ADD_ADDR each put the sender's own key
//! first. The Linux kernel's equivalent is `mptcp_crypto_hmac_sha(key1,
//! key2, msg, len, hmac)` in net/mptcp/crypto.c, which returns the full
//! 32-byte digest and leaves truncation to its callers, as this does.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Length of an HMAC-SHA256 digest, in bytes.
pub(crate) const DIGEST_LEN: usize = 32;

/// Compute HMAC-SHA256 with Key = `first_key` ‖ `second_key` (big-endian) over `msg`.
pub(crate) fn hmac_sha256(first_key: u64, second_key: u64, msg: &[u8]) -> [u8; DIGEST_LEN] {
    // RFC 2104 §2: a key shorter than the hash block (64 bytes for SHA-256)
    // is padded with zeros to the block length. Padding here lets us use
    // the infallible fixed-size constructor instead of `new_from_slice`.
    let mut block = [0u8; 64];
    block[..8].copy_from_slice(&first_key.to_be_bytes());
    block[8..16].copy_from_slice(&second_key.to_be_bytes());
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into());
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// Compare two byte strings of equal length without an early exit.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode lower-case hex into bytes (test helper, no crypto logic).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // The Linux kernel's KUnit vectors for mptcp_crypto_hmac_sha()
    // (net/mptcp/crypto_test.c). The kernel reads the *ASCII* characters of
    // the `key` and `msg` strings as bytes: key1 = be64("0b0b0b0b"), key2 =
    // be64("0b0b0b0b"), msg = "48692054" (8 bytes). Re-checked with:
    //   python3 -c 'import hmac,hashlib; print(hmac.new(b"0b0b0b0b0b0b0b0b",
    //     b"48692054", hashlib.sha256).hexdigest())'
    #[test]
    fn kernel_kunit_vectors() {
        let cases = [
            (
                b"0b0b0b0b0b0b0b0b",
                b"48692054",
                "8385e24fb4235ac37556b6b886db106284a1da671699f46db1f235ec622dcafa",
            ),
            (
                b"aaaaaaaaaaaaaaaa",
                b"dddddddd",
                "2c5e219164ff1dca1c4a92318d847bb6b9d44492984e1eb71aff9022f71046e9",
            ),
            (
                b"0102030405060708",
                b"cdcdcdcd",
                "e73b9ba9969969cefb04aa0d6df18ec2fcc075b6f23b4d8c4da736a5dbbc6e7d",
            ),
        ];
        for (key, msg, want) in cases {
            let k1 = u64::from_be_bytes(key[..8].try_into().unwrap());
            let k2 = u64::from_be_bytes(key[8..].try_into().unwrap());
            assert_eq!(hmac_sha256(k1, k2, msg).to_vec(), hex(want));
        }
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
