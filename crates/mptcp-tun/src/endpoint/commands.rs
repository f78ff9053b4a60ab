//! The application's requests: connect, listen, accept, read, write,
//! shutdown, figures, events, path commands, close.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use mptcp_proto::{
    Admission, ConnectError, ConnectOptions, ConnectionId, ConnectionPolicy, Listen, ListenOptions,
    MptcpConnection, PolicyFactory, Protocol, scheduler,
};
use mptcp_tcp::FourTuple;
use mptcp_time::Instant;
use mptcp_wire::AddrId;

use super::slot::{
    Handle, Listener, Reply, Slot, connection_id, not_connected, plain_by_choice, snapshot,
};
use super::{Endpoint, MAX_FAST_OPEN_DATA, local_for};
use crate::command::{Command, ListenAt, ListenerId, Opened};
use crate::route::RouteTable;
use crate::stats::{ConnectionInfo, MptcpInfo, PathCommand};

/// What a connect asks for, as the command carried it.
pub(super) struct ConnectRequest {
    pub(super) remote: SocketAddr,
    pub(super) local: Option<SocketAddr>,
    pub(super) protocol: Protocol,
    pub(super) fast_open: Option<Vec<u8>>,
    pub(super) policy: ConnectionPolicy,
}

/// What a listen asks for.
struct ListenRequest {
    at: ListenAt,
    options: ListenOptions,
    policy: Option<PolicyFactory>,
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
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
                policy,
                reply,
            } => {
                let request = ConnectRequest {
                    remote,
                    local,
                    protocol: protocol.unwrap_or(self.protocol),
                    fast_open,
                    policy: policy.unwrap_or_default(),
                };
                self.connect(now, request, reply);
            }
            Command::CancelConnect { remote } => self.cancel_connect(remote),
            Command::Listen {
                at,
                protocol,
                fast_open,
                syn_data_without_cookie,
                policy,
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
                };
                let _ = reply.send(self.listen(request));
            }
            Command::Accept { listener, reply } => self.accept(listener, reply),
            Command::CancelAccept { listener } => {
                if let Some(l) = self.listener_mut(listener)
                    && let Some(reply) = l.accept_reply.take()
                {
                    let _ = reply.send(Err(timed_out("accept")));
                }
            }
            Command::CloseListener { listener } => self.close_listener(listener),
            Command::Read { conn, buf, reply } => match self.slots.get_mut(&connection_id(conn)) {
                Some(slot) => slot.read = Some((buf, reply)),
                None => {
                    let _ = reply.send(Err(not_connected()));
                }
            },
            Command::CancelRead { conn } => {
                if let Some((_, reply)) = self
                    .slots
                    .get_mut(&connection_id(conn))
                    .and_then(|s| s.read.take())
                {
                    let _ = reply.send(Err(timed_out("read")));
                }
            }
            Command::Write { conn, data, reply } => {
                match self.slots.get_mut(&connection_id(conn)) {
                    Some(slot) => slot.write = Some((data, reply)),
                    None => {
                        let _ = reply.send(Err(not_connected()));
                    }
                }
            }
            Command::CancelWrite { conn } => {
                if let Some((_, reply)) = self
                    .slots
                    .get_mut(&connection_id(conn))
                    .and_then(|s| s.write.take())
                {
                    let _ = reply.send(Err(timed_out("write")));
                }
            }
            Command::Shutdown {
                conn,
                write,
                read,
                reply,
            } => {
                let id = connection_id(conn);
                let Some(slot) = self.slots.get_mut(&id) else {
                    let _ = reply.send(Err(not_connected()));
                    return;
                };
                slot.read_shut |= read;
                slot.write_shut |= write;
                if write && let Some(c) = self.core.connection(id) {
                    c.shutdown();
                }
                let _ = reply.send(Ok(()));
            }
            Command::Info { conn, reply } => {
                let _ = reply.send(self.snapshot(connection_id(conn)).map(|(tcp, _)| tcp));
            }
            Command::MptcpInfo { conn, reply } => {
                let result = self
                    .snapshot(connection_id(conn))
                    .map(|(_, m)| (!plain_by_choice(&m)).then_some(m));
                let _ = reply.send(result);
            }
            Command::Events { conn, reply } => {
                let result = self
                    .slots
                    .get_mut(&connection_id(conn))
                    .map(|s| s.events.drain(..).collect())
                    .ok_or_else(not_connected);
                let _ = reply.send(result);
            }
            Command::Path {
                conn,
                command,
                reply,
            } => {
                let result = self.path_command(now, connection_id(conn), command);
                let _ = reply.send(result);
            }
            Command::Close { conn } => self.close(now, connection_id(conn)),
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

    pub(super) fn connect(&mut self, now: Instant, request: ConnectRequest, reply: Reply<Opened>) {
        let ConnectRequest {
            remote,
            local,
            protocol,
            fast_open,
            mut policy,
        } = request;
        let refuse = |kind: io::ErrorKind, msg: String| {
            let _ = reply.send(Err(io::Error::new(kind, msg)));
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
            policy.scheduler = scheduler::by_name(&self.scheduler);
        }
        let options = ConnectOptions {
            protocol,
            fast_open: fast_open
                .as_ref()
                .map(|_| self.cookies.get(&remote.ip()).copied()),
            policy,
        };
        let id = match self.core.open(now, tuple, options) {
            Ok(id) => id,
            Err(ConnectError::FastOpenNeedsTcp) => {
                return refuse(
                    io::ErrorKind::Unsupported,
                    "TCP Fast Open is not offered over MPTCP yet (open the connection as plain TCP)"
                        .to_owned(),
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
        let mut slot = Slot::new(tuple, None);
        slot.connect_reply = Some(reply);
        slot.cookie_from = fast_open.map(|_| remote.ip());
        self.slots.insert(id, slot);
    }

    fn cancel_connect(&mut self, remote: SocketAddr) {
        let found = self
            .slots
            .iter()
            .find(|(_, s)| s.connect_reply.is_some() && s.tuple.remote == remote)
            .map(|(id, _)| *id);
        let Some(id) = found else { return };
        if let Some(slot) = self.slots.get_mut(&id) {
            if let Some(reply) = slot.connect_reply.take() {
                let _ = reply.send(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out",
                )));
            }
            slot.handle = Handle::Dropped;
        }
        self.with_connection(id, MptcpConnection::abort);
    }

    fn listen(&mut self, request: ListenRequest) -> io::Result<ListenerId> {
        let ListenRequest {
            at,
            options,
            policy,
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
            queue: VecDeque::new(),
            children: 0,
            accept_reply: None,
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

    pub(super) fn listener_mut(&mut self, id: ListenerId) -> Option<&mut Listener> {
        super::serve::find_listener(&mut self.listeners, &mut self.capture, id)
    }

    fn accept(&mut self, listener: ListenerId, reply: Reply<Opened>) {
        let Some(l) = self.listener_mut(listener) else {
            let _ = reply.send(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "listener closed",
            )));
            return;
        };
        match l.queue.pop_front() {
            Some(id) => {
                l.children = l.children.saturating_sub(1);
                self.hand_out(id, reply);
            }
            None => l.accept_reply = Some(reply),
        }
    }

    fn close_listener(&mut self, listener: ListenerId) {
        let port = self
            .listeners
            .iter()
            .find(|(_, l)| l.id == listener)
            .map(|(p, _)| *p);
        if let Some(port) = port {
            self.listeners.remove(&port);
            self.core.unlisten(Listen::Port(port));
        } else if self.capture.as_ref().is_some_and(|(_, l)| l.id == listener) {
            self.capture = None;
            self.core.unlisten(Listen::Any);
        }
        let orphans: Vec<ConnectionId> = self
            .slots
            .iter()
            .filter(|(_, s)| s.listener == Some(listener))
            .map(|(id, _)| *id)
            .collect();
        for id in orphans {
            if let Some(slot) = self.slots.get_mut(&id) {
                slot.listener = None;
                slot.handle = Handle::Dropped;
            }
            self.with_connection(id, MptcpConnection::abort);
        }
    }

    fn close(&mut self, now: Instant, id: ConnectionId) {
        let linger = self.close_linger;
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        slot.handle = Handle::Dropped;
        slot.read = None;
        slot.write = None;
        if !slot.finished {
            // Orphaned: the DATA_FIN (or FIN) follows the queued data,
            // unread data is discarded, and the close is bounded by the
            // linger.
            slot.linger_deadline = Some(now + linger);
            self.with_connection(id, MptcpConnection::shutdown);
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

    pub(super) fn hand_out(&mut self, id: ConnectionId, reply: Reply<Opened>) {
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.listener = None;
            slot.handle = Handle::Open;
            let _ = reply.send(Ok(slot.opened(id)));
        }
    }
}
