//! [`EventStream`]: a connection's events as they happen, awaited.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};

use umptcp_proto::MptcpEvent;

use crate::readiness::Shared;

/// The events of one connection (connected, subflows established and
/// closed, addresses announced and removed, the fallback, the close), in
/// order, each taken once: [`crate::Stream::events`] takes from the same
/// queue, which keeps the last 64. It ends (`None`) once the stack has
/// forgotten the connection and every event is taken. It holds no handle:
/// the connection closes when its streams are gone, whatever the events.
#[derive(Debug)]
pub struct EventStream {
    shared: Arc<Shared>,
}

impl EventStream {
    pub(super) fn new(shared: Arc<Shared>) -> EventStream {
        EventStream { shared }
    }

    /// The next event, once there is one; `None` at the end.
    pub async fn next(&mut self) -> Option<MptcpEvent> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The next event without a future: ready with one (or the end), or
    /// pending with `cx`'s waker kept for the next.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<MptcpEvent>> {
        self.shared.poll_event(cx)
    }
}
