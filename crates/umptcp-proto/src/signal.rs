//! Address signalling (RFC 8684 §3.4.1): the ADD_ADDRs we announce, sent
//! again until the peer echoes them, the echoes we owe, and the addresses
//! the peer announced.
//!
//! Every list is bounded by `max_addresses`; an announcement beyond it is
//! ignored (still echoed, so the peer stops repeating it), as the kernel
//! drops ADD_ADDRs past its `add_addr_accepted` limit.

use std::net::IpAddr;
use std::time::Duration;

use umptcp_crypto::{add_addr_hmac, verify_add_addr_hmac};
use umptcp_time::Instant;
use umptcp_wire::mptcp::AddAddr;
use umptcp_wire::{AddrId, Key};

/// How often an ADD_ADDR goes again without its echo before we stop.
const MAX_RETRIES: u32 = 4;

/// An address the peer announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteAddress {
    /// The peer's ID for it.
    pub id: AddrId,
    /// The address.
    pub addr: IpAddr,
    /// Its port, if not the connection's.
    pub port: Option<u16>,
}

/// Why an announcement is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnounceError {
    /// `max_addresses` announcements are outstanding or known.
    #[error("address limit reached")]
    Limit,
    /// ID 0 is the initial subflow's address, never announced.
    #[error("address ID 0 is the initial subflow's")]
    ReservedId,
    /// An IPv6 address with a port does not fit beside the timestamps
    /// (30 + 12 option bytes > 40).
    #[error("an IPv6 ADD_ADDR with a port does not fit in the option space")]
    TooLong,
}

#[derive(Clone, Copy, Debug)]
struct Announcement {
    address: RemoteAddress,
    /// Its truncated HMAC, computed once (it goes out until echoed).
    hmac: u64,
    /// Waiting for a segment to carry it.
    pending: bool,
    echoed: bool,
    timer: Option<Instant>,
    retries: u32,
}

/// The signalling state of one connection.
#[derive(Debug)]
pub(crate) struct Signals {
    max: usize,
    ours: Vec<Announcement>,
    echoes: Vec<RemoteAddress>,
    theirs: Vec<RemoteAddress>,
}

impl Signals {
    pub(crate) fn new(max: usize) -> Self {
        Signals {
            max,
            ours: Vec::with_capacity(max),
            echoes: Vec::with_capacity(max),
            theirs: Vec::with_capacity(max),
        }
    }

    /// Queue an ADD_ADDR for `address` (§3.4.1), with its HMAC (sender
    /// key first). Announcing an ID again replaces its address.
    pub(crate) fn announce(
        &mut self,
        address: RemoteAddress,
        local_key: Key,
        peer_key: Key,
    ) -> Result<(), AnnounceError> {
        if address.id.0 == 0 {
            return Err(AnnounceError::ReservedId);
        }
        if address.addr.is_ipv6() && address.port.is_some() {
            return Err(AnnounceError::TooLong);
        }
        self.ours.retain(|a| a.address.id != address.id);
        if self.ours.len() >= self.max {
            return Err(AnnounceError::Limit);
        }
        let hmac = add_addr_hmac(local_key, peer_key, address.id, address.addr, address.port);
        self.ours.push(Announcement {
            address,
            hmac,
            pending: true,
            echoed: false,
            timer: None,
            retries: 0,
        });
        Ok(())
    }

    /// Whether an ADD_ADDR or an echo waits for a segment.
    pub(crate) fn has_pending(&self) -> bool {
        !self.echoes.is_empty() || self.ours.iter().any(|a| a.pending)
    }

    /// The next ADD_ADDR to send: an echo first, then an announcement with
    /// its HMAC.
    pub(crate) fn next(&self) -> Option<AddAddr> {
        if let Some(e) = self.echoes.first() {
            return Some(AddAddr {
                echo: true,
                addr_id: e.id,
                addr: e.addr,
                port: e.port,
                hmac: None,
            });
        }
        let a = self.ours.iter().find(|a| a.pending)?;
        Some(AddAddr {
            echo: false,
            addr_id: a.address.id,
            addr: a.address.addr,
            port: a.address.port,
            hmac: Some(a.hmac),
        })
    }

    /// `option` (from [`Signals::next`]) went out; an announcement goes
    /// again after `rto` unless echoed.
    pub(crate) fn sent(&mut self, option: &AddAddr, now: Instant, rto: Duration) {
        if option.echo {
            self.echoes.retain(|e| e.id != option.addr_id);
            return;
        }
        if let Some(a) = self
            .ours
            .iter_mut()
            .find(|a| a.address.id == option.addr_id)
        {
            a.pending = false;
            // An echo may have arrived while this copy was on its way.
            if !a.echoed {
                a.timer = Some(now + rto * (1 << a.retries.min(6)));
            }
        }
    }

    /// An ADD_ADDR from the peer: an echo of ours stops its retransmission;
    /// an announcement with a valid HMAC is remembered (when new) and
    /// echoed. Returns the address when it is new.
    pub(crate) fn on_add_addr(
        &mut self,
        option: &AddAddr,
        local_key: Key,
        peer_key: Key,
    ) -> Option<RemoteAddress> {
        let address = RemoteAddress {
            id: option.addr_id,
            addr: option.addr,
            port: option.port,
        };
        if option.echo {
            if let Some(a) = self.ours.iter_mut().find(|a| a.address == address) {
                a.echoed = true;
                a.pending = false;
                a.timer = None;
            }
            return None;
        }
        let hmac = option.hmac?;
        if !verify_add_addr_hmac(
            peer_key,
            local_key,
            address.id,
            address.addr,
            address.port,
            hmac,
        ) {
            // A forged or corrupted announcement is dropped, unechoed.
            return None;
        }
        if !self.echoes.contains(&address) && self.echoes.len() < self.max {
            self.echoes.push(address);
        }
        if self.theirs.contains(&address) || self.theirs.len() >= self.max {
            return None;
        }
        self.theirs.retain(|t| t.id != address.id);
        self.theirs.push(address);
        Some(address)
    }

    /// The ID we announced `addr` under, if we did.
    pub(crate) fn local_id_of(&self, addr: std::net::SocketAddr) -> Option<AddrId> {
        self.ours
            .iter()
            .find(|a| {
                a.address.addr == addr.ip() && a.address.port.is_none_or(|p| p == addr.port())
            })
            .map(|a| a.address.id)
    }

    /// Stop announcing our address `id`.
    pub(crate) fn withdraw(&mut self, id: AddrId) {
        self.ours.retain(|a| a.address.id != id);
    }

    /// The peer withdrew its address `id`; whether we knew it.
    pub(crate) fn forget_remote(&mut self, id: AddrId) -> bool {
        let before = self.theirs.len();
        self.theirs.retain(|a| a.id != id);
        self.theirs.len() != before
    }

    /// The addresses the peer announced.
    pub(crate) fn remote(&self) -> &[RemoteAddress] {
        &self.theirs
    }

    /// When an announcement goes again.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.ours.iter().filter_map(|a| a.timer).min()
    }

    /// Announcements whose echo is overdue go again, up to a limit.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for a in &mut self.ours {
            if a.timer.is_some_and(|t| t <= now) {
                a.timer = None;
                if a.retries < MAX_RETRIES {
                    a.retries += 1;
                    a.pending = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Key = Key(0x1111);
    const B: Key = Key(0x2222);

    fn addr(id: u8) -> RemoteAddress {
        RemoteAddress {
            id: AddrId(id),
            addr: "10.0.2.1".parse().unwrap(),
            port: None,
        }
    }

    #[test]
    fn announced_until_echoed() {
        let mut ours = Signals::new(4);
        let mut theirs = Signals::new(4);
        ours.announce(addr(1), A, B).unwrap();
        let option = ours.next().unwrap();
        assert!(!option.echo && option.hmac.is_some());
        ours.sent(&option, Instant::ZERO, Duration::from_millis(200));
        assert!(!ours.has_pending());
        // No echo: it goes again.
        ours.handle_timeout(Instant::from_millis(200));
        assert_eq!(ours.next(), Some(option));
        // The peer checks it, remembers it and echoes.
        assert_eq!(theirs.on_add_addr(&option, B, A), Some(addr(1)));
        assert_eq!(theirs.on_add_addr(&option, B, A), None, "known already");
        let echo = theirs.next().unwrap();
        assert!(echo.echo && echo.hmac.is_none());
        theirs.sent(&echo, Instant::ZERO, Duration::ZERO);
        assert!(!theirs.has_pending());
        assert_eq!(ours.on_add_addr(&echo, A, B), None);
        ours.sent(&option, Instant::ZERO, Duration::from_millis(200));
        assert_eq!(ours.poll_timeout(), None, "echoed: no more timer");
    }

    #[test]
    fn a_bad_hmac_is_dropped_unechoed() {
        let mut theirs = Signals::new(4);
        let mut ours = Signals::new(4);
        ours.announce(addr(2), A, B).unwrap();
        let mut option = ours.next().unwrap();
        option.hmac = option.hmac.map(|h| h ^ 1);
        assert_eq!(theirs.on_add_addr(&option, B, A), None);
        assert!(!theirs.has_pending());
    }

    #[test]
    fn limits_and_forms() {
        let mut s = Signals::new(1);
        assert_eq!(s.announce(addr(0), A, B), Err(AnnounceError::ReservedId));
        s.announce(addr(1), A, B).unwrap();
        assert_eq!(s.announce(addr(2), A, B), Err(AnnounceError::Limit));
        let v6 = RemoteAddress {
            id: AddrId(1),
            addr: "fd00::1".parse().unwrap(),
            port: Some(8080),
        };
        assert_eq!(s.announce(v6, A, B), Err(AnnounceError::TooLong));
        // Retransmissions stop after the limit.
        let option = s.next().unwrap();
        let mut now = Instant::ZERO;
        for _ in 0..10 {
            s.sent(&option, now, Duration::from_millis(1));
            now += Duration::from_secs(1);
            s.handle_timeout(now);
        }
        assert!(!s.has_pending());
    }
}
