//! A blocking listener of the stack, like `std::net::TcpListener`: on a
//! port of every address of the stack, or capturing every SYN a device
//! brings (transparent capture).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crossbeam_channel::Sender;
use umptcp_proto::{PolicyFactory, Protocol};

use crate::command::{Command, ListenAt, ListenerId};
use crate::held_syn::{IncomingSyn, SynQueue};
use crate::readiness::AcceptQueue;
use crate::stack::{Stack, request};
use crate::stream::Stream;

/// How a [`Listener`] answers SYNs. Every field left at its default takes
/// the stack's choice.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ListenerOptions {
    /// MPTCP (a client without it still gets plain TCP) or plain TCP for
    /// every client; `None`: the stack's default.
    pub protocol: Option<Protocol>,
    /// TCP Fast Open as a server (RFC 7413): cookies for clients that ask,
    /// and the data of a SYN with a valid cookie taken at once; such a
    /// connection is handed out by `accept` before its handshake ends, as
    /// Linux does. Over MPTCP too (RFC 8684 Appendix B: the data comes
    /// ahead of the data stream). Default off.
    pub fast_open: bool,
    /// With `fast_open`: take a SYN's data with or without a valid cookie
    /// (what an RFC 8803 Transport Converter does). Default off.
    pub syn_data_without_cookie: bool,
    /// MPTCP: every accepted connection's path manager, scheduler and
    /// congestion controller (each left `None` keeps the stack's), built
    /// when its SYN comes, so the path manager sees the connection from
    /// its first event.
    pub policy: Option<PolicyFactory>,
    /// Answer no SYN by itself: each one is handed out by
    /// [`Listener::incoming`] as an [`crate::IncomingSyn`], and its SYN/ACK
    /// goes only when the application accepts it (an RFC 8803 converter
    /// reaches the server first). `accept` then gives nothing. Held SYNs
    /// count against the backlog. Default off.
    pub hold_syns: bool,
}

impl ListenerOptions {
    /// Every choice the stack's.
    pub fn new() -> Self {
        Self::default()
    }

    /// Speak `protocol`.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Offer TCP Fast Open; `without_cookie` takes SYN data without one.
    pub fn fast_open(mut self, without_cookie: bool) -> Self {
        self.fast_open = true;
        self.syn_data_without_cookie = without_cookie;
        self
    }

    /// Give accepted connections `policies`.
    pub fn policy(mut self, policies: PolicyFactory) -> Self {
        self.policy = Some(policies);
        self
    }

    /// Hold every SYN for the application's decision
    /// ([`ListenerOptions::hold_syns`]).
    pub fn hold_syns(mut self) -> Self {
        self.hold_syns = true;
        self
    }
}

/// Listens on one port on every address of the stack, or captures every
/// SYN arriving by one device ([`Listener::capture`]). It accepts MPTCP
/// clients (their joins on any of our addresses find the connection by
/// token) and plain-TCP ones. Dropping it stops listening and resets
/// connections not yet accepted.
#[derive(Debug)]
pub struct Listener {
    commands: Sender<Command>,
    id: ListenerId,
    port: u16,
    accept_timeout: Option<Duration>,
    /// Established connections, put there by the stack thread.
    queue: Arc<AcceptQueue>,
    /// SYNs held for a decision, with `hold_syns`.
    held: Option<Arc<SynQueue>>,
}

impl Listener {
    /// Listen on `port` with the stack's protocol and policies.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if another listener has the port, `InvalidInput` for port
    /// 0, `NotConnected` if the stack has stopped.
    pub fn bind(stack: &Stack, port: u16) -> io::Result<Listener> {
        Self::bind_with(stack, port, ListenerOptions::default())
    }

    /// Listen on `port` as `options` say.
    ///
    /// # Errors
    ///
    /// As [`Listener::bind`].
    pub fn bind_with(stack: &Stack, port: u16, options: ListenerOptions) -> io::Result<Listener> {
        Self::listen(stack, ListenAt::Port(port), port, options)
    }

    /// Transparent capture: take every SYN that arrives by `device` (one of
    /// the stack's paths), whatever address and port it is for, as a route
    /// into that device sends them. Each accepted connection's
    /// [`Stream::local_addr`] is the address the peer meant to reach, and
    /// its packets go back by `device`. SYNs to the stack's own addresses
    /// on a port a [`Listener::bind`] holds stay that listener's. One
    /// capture listener per stack.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `device` is not one of the stack's, `AddrInUse`
    /// if the stack has a capture listener already.
    pub fn capture(stack: &Stack, device: &str, options: ListenerOptions) -> io::Result<Listener> {
        Self::listen(stack, ListenAt::Capture(device.to_owned()), 0, options)
    }

    fn listen(
        stack: &Stack,
        at: ListenAt,
        port: u16,
        options: ListenerOptions,
    ) -> io::Result<Listener> {
        let ListenerOptions {
            protocol,
            fast_open,
            syn_data_without_cookie,
            policy,
            hold_syns,
        } = options;
        let commands = stack.commands();
        let queue = AcceptQueue::new();
        let held = hold_syns.then(SynQueue::new);
        let id = request(&commands, |reply| Command::Listen {
            at,
            protocol,
            fast_open,
            syn_data_without_cookie,
            policy,
            queue: Arc::clone(&queue),
            held: held.clone(),
            reply,
        })?;
        Ok(Listener {
            commands,
            id,
            port,
            accept_timeout: None,
            queue,
            held,
        })
    }

    /// The port listened on (0 for a capture listener).
    pub fn local_port(&self) -> u16 {
        self.port
    }

    /// How long `accept` waits; `None` waits forever.
    pub fn set_accept_timeout(&mut self, timeout: Option<Duration>) {
        self.accept_timeout = timeout;
    }

    /// Accept without blocking: ready with what `accept` would return, or
    /// pending with `cx`'s waker kept, woken when a connection is
    /// established (the basis of an async adapter).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Stream, SocketAddr)>> {
        self.queue.poll_accept(cx).map_ok(|accepted| {
            let peer = accepted.remote;
            (Stream::from_accepted(self.commands.clone(), accepted), peer)
        })
    }

    /// Wait for the next established connection.
    ///
    /// # Errors
    ///
    /// `TimedOut` after the accept timeout, `NotConnected` if the stack has
    /// stopped.
    pub fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        let accepted = self.queue.accept(self.accept_timeout)?;
        let peer = accepted.remote;
        Ok((Stream::from_accepted(self.commands.clone(), accepted), peer))
    }
}

impl Listener {
    /// Wait for the next SYN of a listener that holds them
    /// ([`ListenerOptions::hold_syns`]), as long as the accept timeout.
    /// A client that sends its SYN again while it is held yields no
    /// second one.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the listener does not hold SYNs, `TimedOut`
    /// after the accept timeout, `NotConnected` if it is closed or the
    /// stack has stopped.
    pub fn incoming(&self) -> io::Result<IncomingSyn> {
        let Some(held) = &self.held else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the listener does not hold SYNs (ListenerOptions::hold_syns)",
            ));
        };
        let syn = held.next(self.accept_timeout)?;
        Ok(IncomingSyn::new(syn, self.commands.clone()))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .commands
            .send(Command::CloseListener { listener: self.id });
    }
}
