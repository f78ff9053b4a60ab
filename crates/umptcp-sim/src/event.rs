//! The event queue: small `Copy` events in a binary heap, ordered by
//! (time, sequence number) so that equal times pop in the order pushed.

use core::cmp::Ordering;
use std::collections::BinaryHeap;

use umptcp_time::Instant;

/// Something that happens at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// A packet (slot of the pool) reaches the far end of a channel.
    Deliver { channel: u32, slot: u32 },
    /// The transmitter of a channel finishes the packet it is sending.
    TxDone { channel: u32 },
    /// A host's timer, valid only if `generation` is still the host's.
    Timer { host: u32, generation: u64 },
    /// A scheduled link change (index into the pending changes).
    LinkChange { index: u32 },
}

/// An event with its place in the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Event {
    time: Instant,
    seq: u64,
    kind: EventKind,
}

impl Ord for Event {
    /// Reversed, so that the max-heap pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A deterministic priority queue of events.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    heap: BinaryHeap<Event>,
    next_seq: u64,
}

impl EventQueue {
    /// Schedule `kind` at `time`, after everything already at `time`.
    pub(crate) fn push(&mut self, time: Instant, kind: EventKind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Event { time, seq, kind });
    }

    /// Return the time of the next event.
    pub(crate) fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.time)
    }

    /// Take the next event.
    pub(crate) fn pop(&mut self) -> Option<(Instant, EventKind)> {
        self.heap.pop().map(|e| (e.time, e.kind))
    }

    /// Return whether no event is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_insertion_order() {
        let mut q = EventQueue::default();
        let t = |ms| Instant::from_millis(ms);
        q.push(t(5), EventKind::TxDone { channel: 0 });
        q.push(t(1), EventKind::TxDone { channel: 1 });
        q.push(t(5), EventKind::TxDone { channel: 2 });
        q.push(t(1), EventKind::TxDone { channel: 3 });
        let order: Vec<_> = core::iter::from_fn(|| q.pop()).collect();
        let channels: Vec<_> = order
            .iter()
            .map(|(_, k)| match k {
                EventKind::TxDone { channel } => *channel,
                _ => u32::MAX,
            })
            .collect();
        assert_eq!(channels, [1, 3, 0, 2]);
        assert!(q.is_empty());
    }
}
