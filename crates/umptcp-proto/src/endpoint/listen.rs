//! Listeners: which SYNs the endpoint takes, and whether it accepts them
//! itself or asks the application first.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::ListenOptions;
use crate::policy::PolicyFactory;

/// Which SYNs a listener takes. When several match, the most specific
/// wins: an address and port, then a port, then [`Listen::Any`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Listen {
    /// SYNs to this address and port.
    Addr(SocketAddr),
    /// SYNs to this port at any address (either family).
    Port(u16),
    /// Every SYN, whatever its destination (transparent capture: the
    /// connection's local address is the SYN's destination, the address
    /// the peer meant to reach).
    Any,
}

impl Listen {
    /// Whether a SYN to `local` matches.
    pub fn matches(&self, local: SocketAddr) -> bool {
        match *self {
            Listen::Addr(a) => a == local,
            Listen::Port(p) => p == local.port(),
            Listen::Any => true,
        }
    }
}

impl From<SocketAddr> for Listen {
    fn from(addr: SocketAddr) -> Listen {
        Listen::Addr(addr)
    }
}

/// What a listener does with a SYN it takes.
#[derive(Clone)]
pub enum Admission {
    /// Accept it at once, with policies from the factory (`None`: the
    /// endpoint's defaults); the connection shows in [`Endpoint::accept`].
    ///
    /// [`Endpoint::accept`]: crate::Endpoint::accept
    Accept(Option<PolicyFactory>),
    /// Hand it to the application as an [`Incoming`] (from
    /// [`Endpoint::handle_segment`]) before anything is built for it; the
    /// application accepts, refuses or ignores it.
    ///
    /// [`Incoming`]: crate::Incoming
    /// [`Endpoint::handle_segment`]: crate::Endpoint::handle_segment
    Ask,
}

impl core::fmt::Debug for Admission {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Admission::Accept(None) => f.write_str("Accept"),
            Admission::Accept(Some(_)) => f.write_str("Accept(policies)"),
            Admission::Ask => f.write_str("Ask"),
        }
    }
}

/// One listener: how it admits SYNs and how it answers them.
#[derive(Clone, Debug)]
pub(crate) struct Listening {
    pub(crate) admission: Admission,
    pub(crate) options: ListenOptions,
}

/// The listeners of an endpoint, by specificity.
#[derive(Default)]
pub(crate) struct Listeners {
    addrs: BTreeMap<SocketAddr, Listening>,
    ports: BTreeMap<u16, Listening>,
    any: Option<Listening>,
}

impl Listeners {
    /// Add or replace the listener of `listen`.
    pub(crate) fn insert(&mut self, listen: Listen, admission: Admission, options: ListenOptions) {
        let l = Listening { admission, options };
        match listen {
            Listen::Addr(a) => {
                self.addrs.insert(a, l);
            }
            Listen::Port(p) => {
                self.ports.insert(p, l);
            }
            Listen::Any => self.any = Some(l),
        }
    }

    /// Remove the listener of `listen`; whether there was one.
    pub(crate) fn remove(&mut self, listen: Listen) -> bool {
        match listen {
            Listen::Addr(a) => self.addrs.remove(&a).is_some(),
            Listen::Port(p) => self.ports.remove(&p).is_some(),
            Listen::Any => self.any.take().is_some(),
        }
    }

    /// The most specific listener a SYN to `local` matches.
    pub(crate) fn lookup(&self, local: SocketAddr) -> Option<(Listen, &Listening)> {
        if let Some(a) = self.addrs.get(&local) {
            return Some((Listen::Addr(local), a));
        }
        if let Some(a) = self.ports.get(&local.port()) {
            return Some((Listen::Port(local.port()), a));
        }
        self.any.as_ref().map(|a| (Listen::Any, a))
    }

    /// Every listener, for `Debug`.
    pub(crate) fn keys(&self) -> Vec<Listen> {
        let addrs = self.addrs.keys().map(|a| Listen::Addr(*a));
        let ports = self.ports.keys().map(|p| Listen::Port(*p));
        addrs
            .chain(ports)
            .chain(self.any.as_ref().map(|_| Listen::Any))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_most_specific_listener_wins() {
        let mut l = Listeners::default();
        assert!(l.lookup(sa("10.0.0.1:80")).is_none());
        l.insert(Listen::Any, Admission::Ask, ListenOptions::default());
        assert_eq!(l.lookup(sa("10.0.0.1:80")).unwrap().0, Listen::Any);
        l.insert(
            Listen::Port(80),
            Admission::Accept(None),
            ListenOptions::default(),
        );
        assert_eq!(l.lookup(sa("10.0.0.1:80")).unwrap().0, Listen::Port(80));
        assert_eq!(l.lookup(sa("[fd00::1]:80")).unwrap().0, Listen::Port(80));
        assert_eq!(l.lookup(sa("10.0.0.1:81")).unwrap().0, Listen::Any);
        l.insert(
            Listen::Addr(sa("10.0.0.1:80")),
            Admission::Ask,
            ListenOptions::default(),
        );
        assert_eq!(
            l.lookup(sa("10.0.0.1:80")).unwrap().0,
            Listen::Addr(sa("10.0.0.1:80"))
        );
        assert_eq!(l.lookup(sa("10.0.0.2:80")).unwrap().0, Listen::Port(80));
        assert!(l.remove(Listen::Port(80)));
        assert!(!l.remove(Listen::Port(80)));
        assert_eq!(l.lookup(sa("10.0.0.2:80")).unwrap().0, Listen::Any);
        assert_eq!(l.keys().len(), 2);
    }

    #[test]
    fn patterns_match_what_they_say() {
        assert!(Listen::Addr(sa("10.0.0.1:80")).matches(sa("10.0.0.1:80")));
        assert!(!Listen::Addr(sa("10.0.0.1:80")).matches(sa("10.0.0.1:81")));
        assert!(Listen::Port(80).matches(sa("[::1]:80")));
        assert!(Listen::Any.matches(sa("192.0.2.1:9")));
    }
}
