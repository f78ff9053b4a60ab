//! Converter cookies (RFC 8803 §6.2.7, validated as RFC 7413's
//! IsCookieValid): a cookie is a MAC of the client's address under the
//! converter's secret key, so the converter keeps no state per client and
//! a client can use only the cookie of its own address.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of a cookie: four words of the Cookie TLV.
pub(crate) const COOKIE_LEN: usize = 16;

/// What a Connect's cookie (or its absence) is worth.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A valid cookie: convert.
    Valid,
    /// None sent: answer Missing Cookie with this one, for the client to
    /// cache and send next time.
    Missing([u8; COOKIE_LEN]),
    /// One that is not this client's: Not Authorized.
    Invalid,
}

fn mac(key: &[u8; 32], client: IpAddr) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    match client {
        IpAddr::V4(a) => mac.update(&a.octets()),
        IpAddr::V6(a) => mac.update(&a.octets()),
    }
    mac
}

/// The cookie of `client` under `key`.
pub(crate) fn cookie_for(key: &[u8; 32], client: IpAddr) -> [u8; COOKIE_LEN] {
    let digest = mac(key, client).finalize().into_bytes();
    let mut cookie = [0u8; COOKIE_LEN];
    cookie.copy_from_slice(&digest[..COOKIE_LEN]);
    cookie
}

/// Judge the cookie `sent` by `client` (compared in constant time).
pub(crate) fn check(key: &[u8; 32], client: IpAddr, sent: Option<&[u8]>) -> Verdict {
    match sent {
        None => Verdict::Missing(cookie_for(key, client)),
        Some(c) if c.len() == COOKIE_LEN && mac(key, client).verify_truncated_left(c).is_ok() => {
            Verdict::Valid
        }
        Some(_) => Verdict::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_cookie_is_valid_for_its_client_only() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let Verdict::Missing(cookie) = check(&KEY, a, None) else {
            panic!("no cookie sent: Missing Cookie")
        };
        assert_eq!(cookie, cookie_for(&KEY, a));
        assert_eq!(check(&KEY, a, Some(&cookie)), Verdict::Valid);
        assert_eq!(
            check(&KEY, b, Some(&cookie)),
            Verdict::Invalid,
            "another client's"
        );
        let mut tampered = cookie;
        tampered[15] ^= 1;
        assert_eq!(check(&KEY, a, Some(&tampered)), Verdict::Invalid);
        assert_eq!(
            check(&KEY, a, Some(&cookie[..8])),
            Verdict::Invalid,
            "too short"
        );
        assert_eq!(
            check(&[8; 32], a, Some(&cookie)),
            Verdict::Invalid,
            "another key"
        );
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(check(&KEY, v6, Some(&cookie_for(&KEY, v6))), Verdict::Valid);
    }
}
