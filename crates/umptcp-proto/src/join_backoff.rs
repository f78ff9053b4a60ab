//! [`JoinBackoff`]: how soon a path manager may try again to join over an
//! address pair whose last joins failed.
//!
//! A path manager reopens a missing subflow on the next event, and the
//! close of a failed join is such an event: a peer that resets every
//! MP_JOIN (its subflow limit, a listener gone, a firewall) would get a
//! new SYN every round trip, forever. RFC 8684 sets no retry policy, and
//! the kernel's in-kernel manager does not retry a failed subflow at all;
//! retrying keeps a path that comes back usable, so we retry, after a
//! delay that doubles with each consecutive failure of the pair.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use umptcp_time::Instant;

use crate::connection::SubflowStats;
use crate::endpoint::ConnectionId;
use crate::event::MptcpEvent;
use crate::path_manager::PmAction;
use crate::scheduler::SubflowId;

/// The wait after the first failure of a pair; it doubles per failure.
pub(crate) const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(32);

type Pair = (ConnectionId, IpAddr, SocketAddr);

/// Failed joins per address pair, and the opens waiting for their turn.
///
/// Bounded: one entry per (connection, local address, remote address)
/// the path manager asked for, at most one deferred open per pair, one
/// mark per live subflow; a connection's entries go with it.
#[derive(Debug, Default)]
pub(crate) struct JoinBackoff {
    /// Consecutive failures of a pair and when it may be tried again.
    failures: BTreeMap<Pair, (u32, Instant)>,
    /// Subflows that reached the established state (a later close is not
    /// a failed join).
    established: BTreeSet<(ConnectionId, SubflowId)>,
    /// Opens the path manager asked for too early, by when they are due.
    deferred: BTreeMap<Pair, (Instant, PmAction)>,
}

impl JoinBackoff {
    /// Learn from `event` of connection `conn`, whose subflows are
    /// `subflows` (the closed one still listed).
    pub(crate) fn on_event(
        &mut self,
        conn: ConnectionId,
        event: &MptcpEvent,
        subflows: &[SubflowStats],
        now: Instant,
    ) {
        let pair_of = |sid: SubflowId| {
            subflows
                .iter()
                .find(|s| s.id == sid)
                .map(|s| (conn, s.tuple.local.ip(), s.tuple.remote))
        };
        match *event {
            MptcpEvent::SubflowEstablished(sid) => {
                self.established.insert((conn, sid));
                if let Some(pair) = pair_of(sid) {
                    self.failures.remove(&pair);
                }
            }
            MptcpEvent::SubflowClosed(sid) => {
                if self.established.remove(&(conn, sid)) {
                    return;
                }
                if let Some(pair) = pair_of(sid) {
                    let entry = self.failures.entry(pair).or_insert((0, now));
                    entry.0 = entry.0.saturating_add(1);
                    entry.1 = now + retry_delay(entry.0);
                }
            }
            _ => {}
        }
    }

    /// Hold `action` (an open of `local` → `remote` for `conn`) until the
    /// pair's wait is over; returns whether it was held.
    pub(crate) fn hold(
        &mut self,
        conn: ConnectionId,
        local: IpAddr,
        remote: SocketAddr,
        action: PmAction,
        now: Instant,
    ) -> bool {
        let pair = (conn, local, remote);
        match self.failures.get(&pair) {
            Some(&(_, not_before)) if now < not_before => {
                self.deferred.insert(pair, (not_before, action));
                true
            }
            _ => false,
        }
    }

    /// When the next held open is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.deferred.values().map(|(due, _)| *due).min()
    }

    /// Move the opens due at `now` into `out`.
    pub(crate) fn take_due(&mut self, now: Instant, out: &mut Vec<(ConnectionId, PmAction)>) {
        let due: Vec<Pair> = self
            .deferred
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(pair, _)| *pair)
            .collect();
        for pair in due {
            if let Some((_, action)) = self.deferred.remove(&pair) {
                out.push((pair.0, action));
            }
        }
    }

    /// Forget everything about `conn` (it is gone).
    pub(crate) fn forget(&mut self, conn: ConnectionId) {
        self.failures.retain(|(c, _, _), _| *c != conn);
        self.deferred.retain(|(c, _, _), _| *c != conn);
        self.established.retain(|(c, _)| *c != conn);
    }
}

/// The wait after `failures` consecutive failures: 1 s, 2 s, 4 s, ... up
/// to [`MAX_RETRY`].
pub(crate) fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use umptcp_tcp::FourTuple;

    fn stats(id: u32, local: &str, remote: &str) -> SubflowStats {
        SubflowStats {
            id: SubflowId(id),
            tuple: FourTuple {
                local: local.parse().unwrap(),
                remote: remote.parse().unwrap(),
            },
            established: false,
            backup: false,
            closed: true,
            srtt: None,
            cwnd: 0,
            bytes_sent: 0,
            bytes_received: 0,
            retransmissions: 0,
        }
    }

    fn open(remote: &str) -> PmAction {
        PmAction::Open {
            local: "10.0.1.1:0".parse().unwrap(),
            remote: remote.parse().unwrap(),
            local_id: umptcp_wire::AddrId(1),
            backup: false,
        }
    }

    #[test]
    fn the_delay_doubles_up_to_the_cap() {
        let secs: Vec<u64> = (1..=8).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 32, 32]);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY);
    }

    #[test]
    fn failed_joins_hold_the_next_open_until_due() {
        let c = ConnectionId(3);
        let subflows = [stats(2, "10.0.1.1:40000", "10.0.0.2:80")];
        let local: IpAddr = "10.0.1.1".parse().unwrap();
        let remote: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let mut b = JoinBackoff::default();
        let t0 = Instant::from_millis(500);
        // No failure yet: nothing is held.
        assert!(!b.hold(c, local, remote, open("10.0.0.2:80"), t0));
        b.on_event(c, &MptcpEvent::SubflowClosed(SubflowId(2)), &subflows, t0);
        assert!(b.hold(c, local, remote, open("10.0.0.2:80"), t0));
        assert_eq!(b.next_due(), Some(Instant::from_millis(1500)));
        let mut out = Vec::new();
        b.take_due(Instant::from_millis(1499), &mut out);
        assert!(out.is_empty());
        b.take_due(Instant::from_millis(1500), &mut out);
        assert_eq!(out, [(c, open("10.0.0.2:80"))]);
        assert_eq!(b.next_due(), None);
        // A second failure: 2 s.
        let t1 = Instant::from_millis(1600);
        b.on_event(c, &MptcpEvent::SubflowClosed(SubflowId(2)), &subflows, t1);
        assert!(b.hold(c, local, remote, open("10.0.0.2:80"), t1));
        assert_eq!(b.next_due(), Some(Instant::from_millis(3600)));
        // Another pair is not held.
        let other: SocketAddr = "10.0.9.2:80".parse().unwrap();
        assert!(!b.hold(c, local, other, open("10.0.9.2:80"), t1));
        b.forget(c);
        assert_eq!(b.next_due(), None);
        assert!(!b.hold(c, local, remote, open("10.0.0.2:80"), t1));
    }

    #[test]
    fn an_established_subflow_clears_the_pair_and_its_close_is_no_failure() {
        let c = ConnectionId(1);
        let subflows = [stats(4, "10.0.1.1:40001", "10.0.0.2:80")];
        let local: IpAddr = "10.0.1.1".parse().unwrap();
        let remote: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let mut b = JoinBackoff::default();
        let now = Instant::ZERO;
        b.on_event(c, &MptcpEvent::SubflowClosed(SubflowId(4)), &subflows, now);
        assert!(b.hold(c, local, remote, open("10.0.0.2:80"), now));
        b.on_event(
            c,
            &MptcpEvent::SubflowEstablished(SubflowId(4)),
            &subflows,
            now,
        );
        assert!(!b.hold(c, local, remote, open("10.0.0.2:80"), now));
        // It worked, then closed (a path failure): reopen at once.
        b.on_event(c, &MptcpEvent::SubflowClosed(SubflowId(4)), &subflows, now);
        assert!(!b.hold(c, local, remote, open("10.0.0.2:80"), now));
    }
}
