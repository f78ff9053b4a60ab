//! Initial sequence numbers (RFC 6528): `ISN = M + F(4-tuple, secret)`,
//! where M is a 4-microsecond clock and F a keyed hash (here SHA-256 of the
//! key followed by the addresses and ports).

use core::fmt;
use std::net::IpAddr;

use rand_core::RngCore;
use sha2::{Digest, Sha256};
use umptcp_time::Instant;

use crate::SubflowSeq;
pub use umptcp_wire::FourTuple;

/// The secret of RFC 6528's hash; one per host, from the caller's RNG.
#[derive(Clone)]
pub struct IsnKey([u8; 32]);

impl IsnKey {
    /// Draw a key from `rng` (a seeded RNG makes a simulation replay).
    pub fn random<R: RngCore + ?Sized>(rng: &mut R) -> Self {
        let mut key = [0; 32];
        rng.fill_bytes(&mut key);
        IsnKey(key)
    }

    /// Use the given bytes as the key.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        IsnKey(bytes)
    }

    /// The secret itself, for other keyed hashes of this host (Fast Open
    /// cookies).
    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.0
    }

    /// Return F(4-tuple, key) of RFC 6528 §3, without the clock.
    pub(crate) fn hash(&self, tuple: &FourTuple, label: u8) -> u32 {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update([label]);
        for addr in [tuple.local, tuple.remote] {
            match addr.ip() {
                IpAddr::V4(ip) => hasher.update(ip.octets()),
                IpAddr::V6(ip) => hasher.update(ip.octets()),
            }
            hasher.update(addr.port().to_be_bytes());
        }
        let digest = hasher.finalize();
        u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
    }

    /// Return the ISN for `tuple` at `now` (RFC 6528 §3: "ISN = M + F(localip,
    /// localport, remoteip, remoteport, secretkey)", M ticking every 4 µs).
    pub fn isn(&self, tuple: &FourTuple, now: Instant) -> SubflowSeq {
        let m = (now.as_nanos() / 4_000) as u32;
        SubflowSeq(m.wrapping_add(self.hash(tuple, 0)))
    }

    /// Return a per-connection offset for the timestamp clock (RFC 7323
    /// §5.4 recommends randomizing it per connection).
    pub(crate) fn ts_offset(&self, tuple: &FourTuple) -> u32 {
        self.hash(tuple, 1)
    }
}

impl fmt::Debug for IsnKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IsnKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: "10.0.0.1:1000".parse().unwrap(),
            remote: SocketAddr::new("10.0.0.2".parse().unwrap(), port),
        }
    }

    #[test]
    fn isn_depends_on_tuple_and_clock() {
        let key = IsnKey::from_bytes([7; 32]);
        let t0 = Instant::ZERO;
        assert_ne!(key.isn(&tuple(80), t0), key.isn(&tuple(81), t0));
        let later = Instant::from_micros(400);
        assert_eq!(
            key.isn(&tuple(80), later).diff(key.isn(&tuple(80), t0)),
            100
        );
        let other = IsnKey::from_bytes([8; 32]);
        assert_ne!(key.isn(&tuple(80), t0), other.isn(&tuple(80), t0));
    }
}
