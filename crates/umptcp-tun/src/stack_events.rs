//! Every connection's events, for one subscriber of the whole stack (a
//! proxy that logs each connection's life, say): [`Stack::subscribe`].
//!
//! [`Stack::subscribe`]: crate::Stack::subscribe

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use umptcp_proto::MptcpEvent;

/// Events a subscription holds before the stack drops the newest ones for
/// it (and counts them: [`StackEvents::dropped`]).
pub const SUBSCRIPTION_CAPACITY: usize = 4096;

/// One event of one connection of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackEvent {
    /// The connection, by a number the stack gives it (unique while the
    /// stack runs).
    pub connection: u64,
    /// Our end of its first subflow.
    pub local: SocketAddr,
    /// The peer's end of its first subflow.
    pub peer: SocketAddr,
    /// What happened (readiness, `Readable` and `Writable`, is left out).
    pub event: MptcpEvent,
}

/// A subscription to every connection's events ([`crate::Stack::subscribe`]).
/// Dropping it ends it.
#[derive(Debug)]
pub struct StackEvents {
    events: Receiver<StackEvent>,
    dropped: Arc<AtomicU64>,
}

/// The stack thread's side of a subscription.
#[derive(Debug)]
pub(crate) struct Subscriber {
    events: Sender<StackEvent>,
    dropped: Arc<AtomicU64>,
}

/// A subscription and the stack's side of it.
pub(crate) fn subscription() -> (StackEvents, Subscriber) {
    let (tx, rx) = crossbeam_channel::bounded(SUBSCRIPTION_CAPACITY);
    let dropped = Arc::new(AtomicU64::new(0));
    (
        StackEvents {
            events: rx,
            dropped: Arc::clone(&dropped),
        },
        Subscriber {
            events: tx,
            dropped,
        },
    )
}

impl Subscriber {
    /// Hand `event` over; false once the subscription is gone. A full
    /// subscription loses the event (the stack never waits for a reader).
    pub(crate) fn offer(&self, event: StackEvent) -> bool {
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

impl StackEvents {
    /// The next event, waiting for it; `None` once the stack has stopped.
    pub fn recv(&self) -> Option<StackEvent> {
        self.events.recv().ok()
    }

    /// The next event, waiting at most `timeout`: `Ok(None)` when it
    /// passed.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the stack has stopped and every event is read.
    pub fn recv_timeout(&self, timeout: Duration) -> std::io::Result<Option<StackEvent>> {
        match self.events.recv_timeout(timeout) {
            Ok(event) => Ok(Some(event)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(stopped()),
        }
    }

    /// The next event if one is there.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the stack has stopped and every event is read.
    pub fn try_recv(&self) -> std::io::Result<Option<StackEvent>> {
        match self.events.try_recv() {
            Ok(event) => Ok(Some(event)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(stopped()),
        }
    }

    /// Events lost because the subscription was full (it holds
    /// [`SUBSCRIPTION_CAPACITY`]).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn stopped() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "the stack has stopped")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> StackEvent {
        StackEvent {
            connection: n,
            local: "10.0.0.2:1".parse().unwrap(),
            peer: "10.0.0.1:2".parse().unwrap(),
            event: MptcpEvent::Closed,
        }
    }

    #[test]
    fn a_full_subscription_counts_what_it_lost_and_a_dropped_one_ends() {
        let (events, subscriber) = subscription();
        for n in 0..SUBSCRIPTION_CAPACITY as u64 + 3 {
            assert!(subscriber.offer(event(n)));
        }
        assert_eq!(events.dropped(), 3);
        assert_eq!(events.try_recv().unwrap().map(|e| e.connection), Some(0));
        drop(events);
        assert!(!subscriber.offer(event(9)), "gone");
        let (events, subscriber) = subscription();
        drop(subscriber);
        assert_eq!(
            events.try_recv().unwrap_err().kind(),
            std::io::ErrorKind::NotConnected
        );
    }
}
