//! The core's events, and the waiting requests they answer: a connect
//! established or failed, an accept, a read with data or the end, a write
//! with room.

use std::collections::BTreeMap;
use std::io;

use mptcp_proto::{ConnectionId, MptcpEvent};

use super::Endpoint;
use super::slot::{Handle, Listener, MAX_KEPT_EVENTS, snapshot};
use crate::command::ListenerId;

impl Endpoint {
    pub(super) fn take_events(&mut self) {
        while let Some((id, event)) = self.core.poll_event() {
            let Some(slot) = self.slots.get_mut(&id) else {
                continue;
            };
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
            if slot.events.len() >= MAX_KEPT_EVENTS {
                slot.events.pop_front();
            }
            slot.events.push_back(event);
            match event {
                MptcpEvent::Connected { .. } => slot.connected = true,
                MptcpEvent::PeerClosed => slot.eof = true,
                MptcpEvent::Closed => slot.finished = true,
                MptcpEvent::Reset | MptcpEvent::ProtocolError(_) => {
                    slot.finished = true;
                    slot.failure = Some(if slot.connected {
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
            let backup_subflow = match event {
                MptcpEvent::SubflowEstablished(sub) => Some(sub),
                _ => None,
            };
            let connected = matches!(event, MptcpEvent::Connected { mptcp: true });
            if (backup_subflow.is_some() || connected) && !self.backup_addrs.is_empty() {
                self.mark_backups(id);
            }
            if connected && let Some(c) = self.core.connection(id) {
                for &(addr_id, addr) in &self.announce {
                    // A refusal (the limit of addresses) is no reason to
                    // fail the connection: it goes on without.
                    let _ = c.announce(addr_id, addr, None);
                }
            }
        }
    }

    /// Subflows from a backup device's address become backups (MP_PRIO).
    fn mark_backups(&mut self, id: ConnectionId) {
        let backups = &self.backup_addrs;
        if let Some(c) = self.core.connection(id) {
            let mark: Vec<_> = c
                .subflows()
                .filter(|s| !s.closed && !s.backup && backups.contains(&s.tuple.local.ip()))
                .map(|s| s.id)
                .collect();
            for sub in mark {
                c.set_backup(sub, true);
            }
        }
    }

    pub(super) fn serve(&mut self) {
        let Endpoint {
            core,
            slots,
            listeners,
            capture,
            scratch,
            done,
            send_low_water,
            ..
        } = self;
        for (&id, slot) in slots.iter_mut() {
            let Some(conn) = core.connection(id) else {
                // The core forgot it: it finished and every event was read.
                slot.finished = true;
                done.push(id);
                continue;
            };
            if let Some(reply) = slot.connect_reply.take() {
                if slot.connected {
                    slot.handle = Handle::Open;
                    let _ = reply.send(Ok(slot.opened(id)));
                } else if slot.finished {
                    slot.handle = Handle::Dropped;
                    let _ = reply.send(Err(slot.error()));
                } else {
                    slot.connect_reply = Some(reply);
                }
            }
            if slot.connected
                && slot.handle == Handle::NotYet
                && let Some(lid) = slot.listener
                && let Some(l) = find_listener(listeners, capture, lid)
                && !l.queue.contains(&id)
            {
                match l.accept_reply.take() {
                    Some(reply) => {
                        l.children = l.children.saturating_sub(1);
                        slot.listener = None;
                        slot.handle = Handle::Open;
                        let _ = reply.send(Ok(slot.opened(id)));
                    }
                    None => l.queue.push_back(id),
                }
            }

            if slot.handle == Handle::Dropped || slot.read_shut {
                while conn.read(scratch) > 0 {}
            } else if let Some((mut buf, reply)) = slot.read.take() {
                if conn.readable() > 0 {
                    let want = buf.capacity().max(1);
                    buf.resize(want, 0);
                    let n = conn.read(&mut buf);
                    buf.truncate(n);
                    let _ = reply.send(Ok(buf));
                } else if slot.eof {
                    buf.clear();
                    let _ = reply.send(Ok(buf));
                } else if slot.finished {
                    let _ = reply.send(Err(slot.error()));
                } else {
                    slot.read = Some((buf, reply));
                }
            }

            if let Some((data, reply)) = slot.write.take() {
                if slot.finished || slot.write_shut {
                    let err = if slot.failure.is_some() {
                        slot.error()
                    } else {
                        io::Error::new(
                            io::ErrorKind::BrokenPipe,
                            "connection is closed for writing",
                        )
                    };
                    let _ = reply.send(Err(err));
                } else if conn.writable() >= data.len().min(*send_low_water) {
                    let n = conn.write(&data);
                    let _ = reply.send(Ok((n, data)));
                } else {
                    slot.write = Some((data, reply));
                }
            }
            if slot.finished && slot.handle != Handle::Open {
                done.push(id);
            }
        }
        for id in done.drain(..) {
            let Some(slot) = slots.get(&id) else { continue };
            if slot.handle == Handle::Open {
                // The handle still holds it; its requests get the error.
                continue;
            }
            if let Some(lid) = slot.listener
                && let Some(l) = find_listener(listeners, capture, lid)
            {
                l.queue.retain(|&q| q != id);
                l.children = l.children.saturating_sub(1);
            }
            slots.remove(&id);
        }
    }
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
