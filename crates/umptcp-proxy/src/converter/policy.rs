//! Who may convert, to where, and how much (RFC 8803 §9): an allowlist of
//! client prefixes, destinations refused by prefix, pending requests per
//! client, converted connections in total, and error replies per second.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use umptcp_tun::Prefix;

use crate::convert::ErrorCode;

/// The converter's limits and policy.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Clients allowed to convert (§9: "accept Convert only from the
    /// internal realm"); empty allows all. Others get Not Authorized.
    pub allow: Vec<Prefix>,
    /// Destinations refused (Not Authorized), e.g. the converter's own
    /// private networks. Default none.
    pub deny: Vec<Prefix>,
    /// Conversions at once, pending and relaying; beyond it, Resource
    /// Exceeded. Default 1024.
    pub max_connections: usize,
    /// Requests of one client waiting for their upstream; beyond it,
    /// Resource Exceeded. Default 16.
    pub max_pending_per_client: usize,
    /// Error replies per second; beyond it SYNs are dropped unanswered
    /// (§9: rate-limit error replies). Default 100.
    pub errors_per_second: u32,
    /// How long the upstream connect may take; then Network Failure.
    /// Default 10 s.
    pub upstream_timeout: Duration,
    /// Reach servers over our own stack (its routes, MPTCP when the
    /// server speaks it, plain TCP otherwise) rather than the kernel's
    /// sockets. Default false.
    pub upstream_stack: bool,
    /// Require a cookie (RFC 8803 §6.2.7) keyed with this secret: a
    /// Connect without one is answered Missing Cookie with the client's
    /// cookie, one that is not the client's Not Authorized. Default none
    /// (no cookie asked).
    pub cookie_key: Option<[u8; 32]>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            allow: Vec::new(),
            deny: Vec::new(),
            max_connections: 1024,
            max_pending_per_client: 16,
            errors_per_second: 100,
            upstream_timeout: Duration::from_secs(10),
            upstream_stack: false,
            cookie_key: None,
        }
    }
}

/// The counters the limits are checked against.
#[derive(Debug)]
pub(crate) struct Gate {
    limits: Limits,
    state: Mutex<GateState>,
}

#[derive(Debug)]
struct GateState {
    active: usize,
    pending: HashMap<IpAddr, usize>,
    /// Error replies sent in the current second, and when it began.
    errors: u32,
    second: Instant,
}

/// A conversion's place, given back when it is dropped (see
/// [`Gate::enter`]).
pub(crate) struct Ticket<'a> {
    gate: &'a Gate,
    client: IpAddr,
    pending: bool,
}

impl Ticket<'_> {
    /// The upstream answered: no longer pending.
    pub(crate) fn connected(&mut self) {
        if std::mem::take(&mut self.pending) {
            self.gate.unpend(self.client);
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.connected();
        self.gate.lock().active -= 1;
    }
}

impl Gate {
    #[allow(clippy::disallowed_methods)] // the proxy application reads the clock
    pub(crate) fn new(limits: Limits) -> Gate {
        Gate {
            limits,
            state: Mutex::new(GateState {
                active: 0,
                pending: HashMap::new(),
                errors: 0,
                second: Instant::now(),
            }),
        }
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn unpend(&self, client: IpAddr) {
        let mut st = self.lock();
        if let Some(n) = st.pending.get_mut(&client) {
            *n -= 1;
            if *n == 0 {
                st.pending.remove(&client);
            }
        }
    }

    /// May `client` start a conversion? A ticket, or the error to answer.
    pub(crate) fn enter(&self, client: IpAddr) -> Result<Ticket<'_>, ErrorCode> {
        if !self.limits.allow.is_empty() && !self.limits.allow.iter().any(|p| p.contains(client)) {
            return Err(ErrorCode::NotAuthorized);
        }
        let mut st = self.lock();
        if st.active >= self.limits.max_connections {
            return Err(ErrorCode::ResourceExceeded);
        }
        let pending = st.pending.get(&client).copied().unwrap_or(0);
        if pending >= self.limits.max_pending_per_client {
            return Err(ErrorCode::ResourceExceeded);
        }
        st.active += 1;
        *st.pending.entry(client).or_insert(0) += 1;
        Ok(Ticket {
            gate: self,
            client,
            pending: true,
        })
    }

    /// Whether the destination may be reached.
    pub(crate) fn destination_allowed(&self, dst: IpAddr) -> bool {
        !self.limits.deny.iter().any(|p| p.contains(dst))
    }

    /// One more error reply, if this second's budget allows it.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn may_answer_error(&self) -> bool {
        let mut st = self.lock();
        let now = Instant::now();
        if now.duration_since(st.second) >= Duration::from_secs(1) {
            st.second = now;
            st.errors = 0;
        }
        if st.errors >= self.limits.errors_per_second {
            return false;
        }
        st.errors += 1;
        true
    }

    /// Conversions now.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn active(&self) -> usize {
        self.lock().active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_enforced_and_given_back() {
        let limits = Limits {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
            deny: vec!["192.168.0.0/16".parse().unwrap()],
            max_connections: 3,
            max_pending_per_client: 2,
            errors_per_second: 2,
            ..Limits::default()
        };
        let gate = Gate::new(limits);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            gate.enter("172.16.0.1".parse().unwrap()).err(),
            Some(ErrorCode::NotAuthorized)
        );
        let t1 = gate.enter(a).unwrap();
        let mut t2 = gate.enter(a).unwrap();
        assert_eq!(gate.enter(a).err(), Some(ErrorCode::ResourceExceeded));
        t2.connected();
        let t3 = gate.enter(a).unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(gate.enter(b).err(), Some(ErrorCode::ResourceExceeded));
        drop((t1, t2, t3));
        assert_eq!(gate.active(), 0);
        assert!(gate.enter(b).is_ok());
        assert!(!gate.destination_allowed("192.168.1.1".parse().unwrap()));
        assert!(gate.destination_allowed("192.0.2.1".parse().unwrap()));
        assert!(gate.may_answer_error() && gate.may_answer_error());
        assert!(!gate.may_answer_error(), "the third error this second");
    }
}
