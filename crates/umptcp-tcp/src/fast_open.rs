//! TCP Fast Open cookies (RFC 7413).
//!
//! The server's cookie for a client is a keyed hash of the client's IP
//! address (RFC 7413 §4.1.2: "the server ... generates a cookie ... by
//! encrypting the client IP address"; any MAC of it with a server secret
//! serves). The secret is the host's [`IsnKey`], under its own label, so
//! there is no second key to manage; rotating the ISN key rotates cookies.
//! The client keeps cookies per server itself (RFC 7413 §4.1.3) and hands
//! one to [`crate::Connection::connect_fast_open`].

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::IsnKey;

/// Length of the cookies this server issues (RFC 7413 §4.1.1 allows 4 to
/// 16 bytes, even; 8 is what Linux issues).
pub const SERVER_COOKIE_LEN: usize = 8;

/// The shortest cookie this server issues and accepts: the head of the
/// usual one, for a SYN-ACK with no room for 8 bytes (beside MPTCP's
/// MP_CAPABLE, timestamps, window scale and SACK there is room for 6; see
/// [`crate::Connection::fit_fast_open_cookie`]).
pub const MIN_SERVER_COOKIE_LEN: usize = 6;

/// A Fast Open cookie: 4 to 16 bytes, even length (RFC 7413 §4.1.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FastOpenCookie {
    bytes: [u8; 16],
    len: u8,
}

impl FastOpenCookie {
    /// A cookie from its bytes, or `None` if the length is not one RFC
    /// 7413 §4.1.1 allows (even, 4 to 16).
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if !(4..=16).contains(&bytes.len()) || bytes.len() % 2 != 0 {
            return None;
        }
        let mut out = [0; 16];
        out[..bytes.len()].copy_from_slice(bytes);
        Some(FastOpenCookie {
            bytes: out,
            len: bytes.len() as u8,
        })
    }

    /// The cookie's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The cookie a server keyed with `key` gives the client at `client`.
    pub(crate) fn for_client(key: &IsnKey, client: IpAddr) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(key.secret());
        hasher.update(b"tcp fast open cookie");
        match client {
            IpAddr::V4(ip) => hasher.update(ip.octets()),
            IpAddr::V6(ip) => hasher.update(ip.octets()),
        }
        let digest = hasher.finalize();
        Self::new(&digest[..SERVER_COOKIE_LEN]).expect("8 is a valid cookie length")
    }

    /// The cookie cut to at most `len` bytes (even, at least
    /// [`MIN_SERVER_COOKIE_LEN`]), or `None` if that is too short.
    pub(crate) fn truncated(&self, len: usize) -> Option<Self> {
        let len = (len.min(usize::from(self.len))) & !1;
        (len >= MIN_SERVER_COOKIE_LEN)
            .then(|| Self::new(&self.as_bytes()[..len]))
            .flatten()
    }

    /// Whether `self` is the cookie `key` gives `client`, or its head of
    /// at least [`MIN_SERVER_COOKIE_LEN`] bytes, compared in constant time
    /// (a cookie is a secret an attacker may probe).
    pub(crate) fn is_valid_for(&self, key: &IsnKey, client: IpAddr) -> bool {
        let expected = Self::for_client(key, client);
        (MIN_SERVER_COOKIE_LEN..=SERVER_COOKIE_LEN).contains(&usize::from(self.len))
            && self
                .as_bytes()
                .iter()
                .zip(expected.as_bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl core::fmt::Debug for FastOpenCookie {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Not secret to the client that holds it, but keep logs short.
        write!(f, "FastOpenCookie({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_rfc_7413() {
        assert!(FastOpenCookie::new(&[1; 2]).is_none());
        assert!(FastOpenCookie::new(&[1; 5]).is_none());
        assert!(FastOpenCookie::new(&[1; 18]).is_none());
        assert_eq!(FastOpenCookie::new(&[7; 4]).unwrap().as_bytes(), &[7; 4]);
        assert_eq!(FastOpenCookie::new(&[7; 16]).unwrap().as_bytes().len(), 16);
    }

    #[test]
    fn cookies_depend_on_key_and_client() {
        let key = IsnKey::from_bytes([3; 32]);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let ca = FastOpenCookie::for_client(&key, a);
        assert_eq!(ca.as_bytes().len(), SERVER_COOKIE_LEN);
        assert_eq!(ca, FastOpenCookie::for_client(&key, a), "deterministic");
        assert_ne!(ca, FastOpenCookie::for_client(&key, b));
        assert_ne!(
            ca,
            FastOpenCookie::for_client(&IsnKey::from_bytes([4; 32]), a)
        );
        assert!(ca.is_valid_for(&key, a));
        assert!(!ca.is_valid_for(&key, b));
        let short = FastOpenCookie::new(&ca.as_bytes()[..4]).unwrap();
        assert!(!short.is_valid_for(&key, a), "4 bytes are too few");
        let six = ca.truncated(7).unwrap();
        assert_eq!(six.as_bytes(), &ca.as_bytes()[..6], "even, the head");
        assert!(six.is_valid_for(&key, a), "a head of 6 bytes is issued");
        assert!(!six.is_valid_for(&key, b));
        assert!(ca.truncated(5).is_none());
        let mut wrong = *ca.as_bytes().first_chunk::<6>().unwrap();
        wrong[5] ^= 1;
        assert!(!FastOpenCookie::new(&wrong).unwrap().is_valid_for(&key, a));
    }
}
