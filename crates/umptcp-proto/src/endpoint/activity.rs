//! Which connections may have work, so that the endpoint's polls visit
//! those and not every connection: with thousands of connections, a
//! `poll_transmit`, `poll_event` or `poll_timeout` that asks each one
//! costs thousands of calls per packet (a profile of 2,000 echo
//! connections spent most of its time there).
//!
//! A connection is *ready* from the moment anything may have changed it
//! (a segment, a timer, the application's call, a path-manager action)
//! until a `poll_transmit` finds it with nothing to send and no event to
//! report; that is also when its timer is read and filed. Connections
//! not ready are asleep: only their filed timer can wake them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use umptcp_time::Instant;

use crate::id::ConnectionId;

/// The ready connections, in the order they became ready (for fair
/// transmission), and the filed timers of the others.
#[derive(Debug, Default)]
pub(super) struct Activity {
    ready: VecDeque<ConnectionId>,
    /// The same ids, for membership and a stable order of events.
    is_ready: BTreeSet<ConnectionId>,
    /// Filed timers, earliest first; an entry may be stale for a ready
    /// connection (it is filed again once quiet), never for one asleep.
    timers: BTreeSet<(Instant, ConnectionId)>,
    timer_of: BTreeMap<ConnectionId, Instant>,
}

impl Activity {
    /// Connection `id` may have work.
    pub(super) fn touch(&mut self, id: ConnectionId) {
        if self.is_ready.insert(id) {
            self.ready.push_back(id);
        }
    }

    /// How many connections are ready.
    pub(super) fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// The connection ready longest, no longer counted ready.
    pub(super) fn pop_ready(&mut self) -> Option<ConnectionId> {
        let id = self.ready.pop_front()?;
        self.is_ready.remove(&id);
        Some(id)
    }

    /// The ready connections, by id.
    pub(super) fn ready(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.is_ready.iter().copied()
    }

    /// File connection `id`'s timer (`None`: it has none).
    pub(super) fn file_timer(&mut self, id: ConnectionId, at: Option<Instant>) {
        if let Some(old) = self.timer_of.remove(&id) {
            self.timers.remove(&(old, id));
        }
        if let Some(at) = at {
            self.timers.insert((at, id));
            self.timer_of.insert(id, at);
        }
    }

    /// The earliest filed timer.
    pub(super) fn next_timer(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// Take the connections whose filed timer is due at `now` into `out`
    /// (their timers unfiled: they are made ready and filed again).
    pub(super) fn take_due(&mut self, now: Instant, out: &mut Vec<ConnectionId>) {
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.timer_of.remove(&id);
            out.push(id);
        }
    }

    /// Connection `id` is gone.
    pub(super) fn forget(&mut self, id: ConnectionId) {
        self.file_timer(id, None);
        if self.is_ready.remove(&id) {
            self.ready.retain(|r| *r != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_connection_is_ready_once_until_popped_and_its_timer_is_filed_once() {
        let mut a = Activity::default();
        let (x, y) = (ConnectionId(1), ConnectionId(2));
        a.touch(x);
        a.touch(y);
        a.touch(x);
        assert_eq!(a.ready_len(), 2);
        assert_eq!(a.pop_ready(), Some(x));
        a.touch(x);
        assert_eq!(a.pop_ready(), Some(y), "x went to the back");
        let t = Instant::ZERO + Duration::from_secs(3);
        a.file_timer(x, Some(t + Duration::from_secs(1)));
        a.file_timer(x, Some(t));
        a.file_timer(y, Some(t + Duration::from_secs(5)));
        assert_eq!(
            a.next_timer(),
            Some(t),
            "the refiled timer replaced the old"
        );
        let mut due = Vec::new();
        a.take_due(t, &mut due);
        assert_eq!(due, [x]);
        assert_eq!(a.next_timer(), Some(t + Duration::from_secs(5)));
        a.forget(y);
        assert_eq!(a.next_timer(), None);
        assert_eq!(a.pop_ready(), Some(x));
        assert_eq!(a.pop_ready(), None);
    }
}
