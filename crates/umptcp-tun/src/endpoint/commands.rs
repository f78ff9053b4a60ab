//! The application's requests: connect, listen, a handle's ring,
//! figures, path commands.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use umptcp_proto::{
    Admission, ConnectError, ConnectOptions, ConnectionId, ConnectionPolicy, Listen, ListenOptions,
    MptcpConnection, PolicyFactory, Protocol,
};
use umptcp_tcp::FourTuple;
use umptcp_time::Instant;
use umptcp_wire::AddrId;

use super::slot::{Handle, Listener, Slot, not_connected, plain_by_choice, snapshot};
use super::{Endpoint, MAX_FAST_OPEN_DATA, local_for};
use crate::command::{Command, ListenAt, ListenerId};
use crate::readiness::{AcceptQueue, Shared};
use crate::route::RouteTable;
use crate::stats::{ConnectionInfo, MptcpInfo, PathCommand};

/// What a connect asks for, as the command carried it.
pub(super) struct ConnectRequest {
    pub(super) remote: SocketAddr,
    pub(super) local: Option<SocketAddr>,
    pub(super) protocol: Protocol,
    pub(super) fast_open: Option<Vec<u8>>,
    pub(super) syn_data_without_cookie: bool,
    pub(super) policy: ConnectionPolicy,
}

/// What a listen asks for.
struct ListenRequest {
    at: ListenAt,
    options: ListenOptions,
    policy: Option<PolicyFactory>,
    queue: Arc<AcceptQueue>,
    held: Option<Arc<crate::held_syn::SynQueue>>,
}

impl Endpoint {
    /// Handle one application request. `Stop` is the stack thread's.
    pub(crate) fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Connect {
                remote,
                local,
                protocol,
                fast_open,
                syn_data_without_cookie,
                policy,
                shared,
            } => {
                let request = ConnectRequest {
                    remote,
                    local,
                    protocol: protocol.unwrap_or(self.protocol),
                    fast_open,
                    syn_data_without_cookie,
                    policy: policy.unwrap_or_default(),
                };
                self.connect(now, request, shared);
            }
            Command::Listen {
                at,
                protocol,
                fast_open,
                syn_data_without_cookie,
                policy,
                queue,
                held,
                reply,
            } => {
                let options = ListenOptions {
                    protocol: protocol.unwrap_or(self.protocol),
                    fast_open,
                    syn_data_without_cookie,
                };
                let request = ListenRequest {
                    at,
                    options,
                    policy,
                    queue,
                    held,
                };
                let _ = reply.send(self.listen(request));
            }
            Command::DecideSyn { key, decision } => self.decide_syn(now, key, decision),
            Command::CloseListener { listener } => self.close_listener(listener),
            Command::Ready(conn) => self.mark_dirty(conn),
            Command::Subscribe(subscriber) => self.subscribers.push(subscriber),
            Command::Splice { a, b, state } => self.start_splice(a, b, state),
            Command::Info { conn, reply } => {
                let _ = reply.send(self.snapshot(conn).map(|(tcp, _)| tcp));
            }
            Command::MptcpInfo { conn, reply } => {
                let result = self
                    .snapshot(conn)
                    .map(|(_, m)| (!plain_by_choice(&m)).then_some(m));
                let _ = reply.send(result);
            }
            Command::Path {
                conn,
                command,
                reply,
            } => {
                let result = self.path_command(now, conn, command);
                let _ = reply.send(result);
            }
            // The stack thread handles Stop itself.
            Command::Stop { .. } => {}
        }
    }

    /// The connection's figures: live, or as they were when it finished.
    fn snapshot(&mut self, id: ConnectionId) -> io::Result<(ConnectionInfo, MptcpInfo)> {
        let Some(slot) = self.slots.get(&id) else {
            return Err(not_connected());
        };
        match self.core.connection(id) {
            Some(c) => Ok(snapshot(c)),
            None => slot.last_info.clone().ok_or_else(not_connected),
        }
    }

    pub(super) fn connect(&mut self, now: Instant, request: ConnectRequest, shared: Arc<Shared>) {
        let ConnectRequest {
            remote,
            local,
            protocol,
            fast_open,
            syn_data_without_cookie,
            mut policy,
        } = request;
        let refuse = |kind: io::ErrorKind, msg: String| {
            shared.lock().failure = Some((kind, msg));
            shared.set_gone();
        };
        if let Some(local) = local
            && !self.is_ours(local.ip())
        {
            return refuse(
                io::ErrorKind::AddrNotAvailable,
                format!("{} is not an address of this stack", local.ip()),
            );
        }
        let device = match local {
            Some(l) => self.paths.iter().position(|p| p.addr == l.ip()),
            None => self.routes.lookup(remote.ip()),
        };
        let Some(device) = device.or_else(|| self.routes.lookup(remote.ip())) else {
            return refuse(
                io::ErrorKind::NetworkUnreachable,
                RouteTable::unreachable(remote.ip()),
            );
        };
        if fast_open
            .as_ref()
            .is_some_and(|d| d.len() > MAX_FAST_OPEN_DATA)
        {
            return refuse(
                io::ErrorKind::InvalidInput,
                "Fast Open data is limited to 64 KiB".to_owned(),
            );
        }
        let tuple = FourTuple {
            local: local_for(&self.paths, device, local),
            remote,
        };
        if policy.scheduler.is_none() {
            policy.scheduler = self.registry.scheduler(&self.scheduler).ok();
        }
        policy.path_manager = policy
            .path_manager
            .take()
            .map(|pm| self.own_path_manager(pm));
        let without_cookie = syn_data_without_cookie && fast_open.is_some();
        let options = ConnectOptions {
            protocol,
            fast_open: fast_open
                .as_ref()
                .filter(|_| !without_cookie)
                .map(|_| self.cookies.get(&remote.ip()).copied()),
            syn_data_without_cookie: without_cookie,
            policy,
        };
        let id = match self.core.open(now, tuple, options) {
            Ok(id) => id,
            Err(ConnectError::TupleInUse) => {
                return refuse(
                    io::ErrorKind::AddrInUse,
                    format!("{} to {remote} is in use", tuple.local),
                );
            }
            Err(e) => return refuse(io::ErrorKind::Other, e.to_string()),
        };
        let conn = self.core.connection(id).expect("just opened");
        let tuple = conn.initial_subflow().four_tuple();
        if let Some(data) = &fast_open {
            // Queued before the first transmission: what fits goes in the
            // SYN.
            let taken = conn.write(data);
            if taken < data.len() {
                conn.abort();
                return refuse(
                    io::ErrorKind::InvalidInput,
                    "Fast Open data is larger than the send buffer".to_owned(),
                );
            }
        }
        self.stats.connections += 1;
        shared.lock().id = Some(id);
        let mut slot = Slot::new(tuple, None, shared);
        slot.cookie_from = fast_open.map(|_| remote.ip());
        self.slots.insert(id, slot);
        // A handle that gave up before this ran is seen at once.
        self.mark_dirty(id);
    }

    fn listen(&mut self, request: ListenRequest) -> io::Result<ListenerId> {
        let ListenRequest {
            at,
            options,
            policy,
            queue,
            held,
        } = request;
        let (listen, device) = match &at {
            ListenAt::Port(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot listen on port 0",
                ));
            }
            ListenAt::Port(port) if self.listeners.contains_key(port) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("port {port} is already listened on"),
                ));
            }
            ListenAt::Port(port) => (Listen::Port(*port), None),
            ListenAt::Capture(_) if self.capture.is_some() => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "the stack has a capture listener already",
                ));
            }
            ListenAt::Capture(name) => match self.paths.iter().position(|p| &p.device == name) {
                Some(d) => (Listen::Any, Some(d)),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{name} is not one of the stack's devices"),
                    ));
                }
            },
        };
        let id = self.new_listener_id();
        // The driver decides on each SYN (its backlog, its capture device):
        // the core asks.
        self.core.listen_on_with(listen, Admission::Ask, options);
        let listener = Listener {
            id,
            policy,
            options,
            queue,
            children: 0,
            hold: held,
            held: 0,
        };
        match (listen, device) {
            (Listen::Port(port), _) => {
                self.listeners.insert(port, listener);
            }
            (_, Some(d)) => self.capture = Some((d, listener)),
            _ => unreachable!("a port or a capture device"),
        }
        Ok(id)
    }

    fn close_listener(&mut self, listener: ListenerId) {
        let port = self
            .listeners
            .iter()
            .find(|(_, l)| l.id == listener)
            .map(|(p, _)| *p);
        let removed = if let Some(port) = port {
            self.core.unlisten(Listen::Port(port));
            self.listeners.remove(&port)
        } else if self.capture.as_ref().is_some_and(|(_, l)| l.id == listener) {
            self.core.unlisten(Listen::Any);
            self.capture.take().map(|(_, l)| l)
        } else {
            None
        };
        let Some(removed) = removed else { return };
        // Its held SYNs are forgotten (nothing was answered).
        if let Some(hold) = &removed.hold {
            hold.close();
            self.held_syns.retain(|_, (_, l)| *l != listener);
        }
        // Connections nobody accepted, queued or still handshaking, are
        // reset; accepted ones are their handles' now.
        let unaccepted = removed.queue.close();
        let orphans: Vec<ConnectionId> = self
            .slots
            .iter()
            .filter(|(_, s)| {
                s.listener == Some(listener)
                    && (!s.queued || unaccepted.iter().any(|a| Arc::ptr_eq(&a.shared, &s.shared)))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in orphans {
            if let Some(slot) = self.slots.get_mut(&id) {
                slot.listener = None;
                slot.handle = Handle::Dropped;
            }
            self.with_connection(id, MptcpConnection::abort);
            self.mark_dirty(id);
        }
    }

    fn path_command(
        &mut self,
        now: Instant,
        id: ConnectionId,
        command: PathCommand,
    ) -> io::Result<()> {
        if !self.slots.contains_key(&id) {
            return Err(not_connected());
        }
        let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
        match command {
            PathCommand::OpenSubflow {
                local,
                remote,
                backup,
            } => {
                let local_id = self
                    .address_id(local)
                    .ok_or_else(|| invalid(format!("{local} is not one of our addresses")))?;
                // Port 0: the core's one allocator picks it.
                let tuple = FourTuple {
                    local: SocketAddr::new(local, 0),
                    remote,
                };
                self.core
                    .open_subflow(now, id, tuple, local_id, backup)
                    .map(|_| ())
                    .map_err(|e| invalid(e.to_string()))
            }
            PathCommand::CloseSubflow(sub) => {
                self.with_connection(id, |c| c.close_subflow(sub));
                Ok(())
            }
            PathCommand::SetBackup(sub, backup) => {
                self.with_connection(id, |c| c.set_backup(sub, backup));
                Ok(())
            }
            PathCommand::Announce { id: addr_id, addr } => match self.core.connection(id) {
                Some(c) => c
                    .announce(addr_id, addr, None)
                    .map_err(|e| invalid(e.to_string())),
                None => Err(not_connected()),
            },
            PathCommand::RemoveAddress(addr_id) => {
                self.with_connection(id, |c| c.remove_address(addr_id));
                Ok(())
            }
        }
    }

    /// Our address ID of `local` (RFC 8684 §3.4.1): 0 for the first
    /// path's, then the others' in path order, then announced ones.
    fn address_id(&self, local: std::net::IpAddr) -> Option<AddrId> {
        if local == self.paths[0].addr {
            return Some(AddrId(0));
        }
        if let Some(i) = self.extra_local.iter().position(|a| *a == local) {
            return u8::try_from(i + 1).ok().map(AddrId);
        }
        self.announce
            .iter()
            .find(|(_, a)| *a == local)
            .map(|(id, _)| *id)
    }
}
