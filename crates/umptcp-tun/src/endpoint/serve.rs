//! The core's events, and the exchange with the state each connection
//! shares with its handles: established or failed, received bytes out,
//! written bytes in, shutdowns, the last handle gone. Only connections
//! something happened to are served in a round (an event of the core, a
//! handle's ring, or bytes still waiting to go into the core).

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use umptcp_proto::{ConnectionId, MptcpConnection, MptcpEvent};
use umptcp_time::Instant;

use super::Endpoint;
use super::slot::{Handle, Listener, Slot, snapshot};
use crate::command::ListenerId;
use crate::readiness::{Accepted, MAX_KEPT_EVENTS, RX_CAPACITY};
use crate::stack_events::StackEvent;

impl Endpoint {
    pub(super) fn take_events(&mut self) {
        while let Some((id, event)) = self.core.poll_event() {
            let Some(slot) = self.slots.get_mut(&id) else {
                continue;
            };
            if !slot.dirty {
                slot.dirty = true;
                self.dirty.push(id);
            }
            if matches!(
                event,
                MptcpEvent::Closed
                    | MptcpEvent::Reset
                    | MptcpEvent::TimedOut
                    | MptcpEvent::ProtocolError(_)
            ) && let Some(c) = self.core.connection(id)
            {
                slot.last_info = Some(snapshot(c));
            }
            // Readiness reaches the handles through their buffers and
            // wakers; the events kept for the application are the
            // connection's life (a bulk transfer's thousands of Readable
            // would push them out of the last 64).
            if !matches!(event, MptcpEvent::Readable | MptcpEvent::Writable) {
                if slot.events.len() >= MAX_KEPT_EVENTS {
                    slot.events.pop_front();
                }
                slot.events.push_back(event);
                if !self.subscribers.is_empty() {
                    let event = StackEvent {
                        connection: id.0,
                        local: slot.tuple.local,
                        peer: slot.tuple.remote,
                        event,
                    };
                    self.subscribers.retain(|s| s.offer(event));
                }
            }
            match event {
                MptcpEvent::Connected { .. } => slot.connected = true,
                MptcpEvent::Readable if slot.listener.is_some() => slot.early_data = true,
                MptcpEvent::PeerClosed => slot.eof = true,
                MptcpEvent::Closed => slot.finished = true,
                MptcpEvent::Reset | MptcpEvent::ProtocolError(_) => {
                    slot.finished = true;
                    slot.failure = Some(if slot.connected || slot.early_data {
                        (io::ErrorKind::ConnectionReset, "connection reset by peer")
                    } else {
                        (io::ErrorKind::ConnectionRefused, "connection refused")
                    });
                }
                MptcpEvent::TimedOut => {
                    slot.finished = true;
                    slot.failure = Some((
                        io::ErrorKind::TimedOut,
                        "connection timed out: the peer stopped answering",
                    ));
                }
                _ => {}
            }
            if let MptcpEvent::Connected { .. } = event
                && let Some(server) = slot.cookie_from.take()
                && let Some(cookie) = self.core.connection(id).and_then(|c| c.fast_open_cookie())
            {
                self.remember_cookie(server, cookie);
            }
        }
    }

    /// Mark connection `id` to be served this round (a handle rang).
    pub(super) fn mark_dirty(&mut self, id: ConnectionId) {
        if let Some(slot) = self.slots.get_mut(&id)
            && !slot.dirty
        {
            slot.dirty = true;
            self.dirty.push(id);
        }
    }

    pub(super) fn serve(&mut self, now: Instant) {
        let Endpoint {
            core,
            slots,
            listeners,
            capture,
            scratch,
            done,
            dirty,
            again,
            close_linger,
            splice_work,
            ..
        } = self;
        for id in dirty.drain(..) {
            let Some(slot) = slots.get_mut(&id) else {
                continue;
            };
            slot.dirty = false;
            let Some(conn) = core.connection(id) else {
                // The core forgot it: it finished and every event was read.
                slot.finished = true;
                if slot.shared.lock().abandoned() {
                    slot.handle = Handle::Dropped;
                }
                done.push(id);
                continue;
            };
            if exchange(now, conn, slot, scratch, *close_linger) {
                again.push(id);
            }
            if slot.splice.is_some() {
                splice_work.push(id);
            }
            if (slot.connected || slot.early_data)
                && !slot.queued
                && let Some(lid) = slot.listener
                && let Some(l) = find_listener(listeners, capture, lid)
            {
                slot.queued = true;
                l.children = l.children.saturating_sub(1);
                l.queue.push(Accepted {
                    shared: Arc::clone(&slot.shared),
                    local: slot.tuple.local,
                    remote: slot.tuple.remote,
                });
            }
            if slot.finished && slot.handle != Handle::Open {
                done.push(id);
            }
        }
        for id in again.drain(..) {
            if let Some(slot) = slots.get_mut(&id)
                && !slot.dirty
            {
                slot.dirty = true;
                dirty.push(id);
            }
        }
        for id in done.drain(..) {
            let Some(slot) = slots.get(&id) else { continue };
            if slot.handle == Handle::Open {
                // The handles still hold it; they see its end.
                continue;
            }
            if let Some(lid) = slot.listener
                && !slot.queued
                && let Some(l) = find_listener(listeners, capture, lid)
            {
                l.children = l.children.saturating_sub(1);
            }
            if let Some(slot) = slots.remove(&id) {
                slot.shared.set_gone();
            }
        }
        if !self.splice_work.is_empty() {
            self.run_splices();
        }
    }
}

/// Move what changed between connection `conn` and the state its handles
/// share; whether it needs serving next round too (written bytes the core
/// had no room for).
fn exchange(
    now: Instant,
    conn: &mut MptcpConnection,
    slot: &mut Slot,
    scratch: &mut [u8],
    linger: std::time::Duration,
) -> bool {
    let mut st = slot.shared.lock();
    st.rung = false;
    let (mut wake_read, mut wake_write) = (false, false);
    if st.abandoned() && slot.handle != Handle::Dropped {
        slot.handle = Handle::Dropped;
        if !slot.finished {
            if slot.connected {
                // Orphaned: the DATA_FIN (or FIN) follows the queued data,
                // unread data is discarded, and the close is bounded by
                // the linger.
                slot.linger_deadline = Some(now + linger);
            } else {
                // A connect given up (its timeout passed).
                conn.abort();
            }
        }
    } else if st.handles > 0 {
        slot.handle = Handle::Open;
    }
    if st.aborted {
        // MP_FASTCLOSE or RST (the core does nothing once closed).
        conn.abort();
    }
    if slot.connected && st.opened.is_none() {
        st.opened = Some((slot.tuple.local, slot.tuple.remote));
        (wake_read, wake_write) = (true, true);
    }
    let mut wake_events = false;
    for event in slot.events.drain(..) {
        if st.events.len() >= MAX_KEPT_EVENTS {
            st.events.pop_front();
        }
        st.events.push_back(event);
        wake_events = true;
    }
    if wake_events && let Some(w) = st.event_waker.take() {
        // Woken under the lock: a waker only schedules its task.
        w.wake();
    }
    if slot.splice.is_some() {
        // The splice moves the received bytes (`splice.rs`).
    } else if slot.handle == Handle::Dropped || st.shut_read {
        while conn.read(scratch) > 0 {}
        st.rx_blocked = false;
    } else {
        let was_empty = st.rx.is_empty();
        let room = RX_CAPACITY.saturating_sub(st.rx.len()).min(conn.readable());
        if room > 0 {
            // Straight from the core into the shared buffer: no copy
            // through a scratch buffer on the way.
            let old = st.rx.len();
            st.rx.resize(old + room, 0);
            let (a, b) = st.rx.as_mut_slices();
            let mut n = 0;
            if old < a.len() {
                n = conn.read(&mut a[old..]);
            }
            if n == a.len().saturating_sub(old) {
                let start = old.saturating_sub(a.len());
                n += conn.read(&mut b[start..]);
            }
            st.rx.truncate(old + n);
        }
        st.rx_blocked = conn.readable() > 0;
        wake_read |= was_empty && !st.rx.is_empty();
    }
    if slot.eof && !st.eof && conn.readable() == 0 {
        st.eof = true;
        wake_read = true;
    }
    if !st.tx.is_empty() && !slot.finished && !slot.write_shut {
        let (a, b) = st.tx.as_slices();
        let mut n = conn.write(a);
        if n == a.len() && !b.is_empty() {
            n += conn.write(b);
        }
        st.tx.drain(..n);
        wake_write |= n > 0;
    }
    if (st.shut_write || slot.handle == Handle::Dropped)
        && !slot.write_shut
        && !slot.finished
        && st.tx.is_empty()
    {
        conn.shutdown();
        slot.write_shut = true;
    }
    if slot.finished && st.failure.is_none() {
        st.failure = Some(match slot.failure {
            Some((kind, msg)) => (kind, msg.to_owned()),
            None if !slot.connected => {
                (io::ErrorKind::ConnectionRefused, "connection closed".into())
            }
            // Closed both ways: reads see the end of the stream first
            // (`eof`), a write this.
            None => (
                io::ErrorKind::BrokenPipe,
                "connection is closed for writing".into(),
            ),
        });
        st.tx.clear();
        (wake_read, wake_write) = (true, true);
    }
    let again = !st.tx.is_empty() && !slot.finished;
    let wakers = [
        if wake_read {
            st.read_waker.take()
        } else {
            None
        },
        if wake_write {
            st.write_waker.take()
        } else {
            None
        },
    ];
    drop(st);
    if wake_read || wake_write {
        slot.shared.wake(wakers);
    }
    again
}

/// Listener `id`, by port or the capture one.
pub(super) fn find_listener<'a>(
    listeners: &'a mut BTreeMap<u16, Listener>,
    capture: &'a mut Option<(usize, Listener)>,
    id: ListenerId,
) -> Option<&'a mut Listener> {
    listeners
        .values_mut()
        .chain(capture.as_mut().map(|(_, l)| l))
        .find(|l| l.id == id)
}
