//! A blocking connection of the stack, MPTCP or plain TCP, like
//! `std::net::TcpStream`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::task::{Context, Poll};
use std::time::Duration;

use crossbeam_channel::Sender;
use umptcp_proto::{ConnectionPolicy, MptcpEvent, Protocol};

use crate::command::Command;
use crate::readiness::{Accepted, Handle, Shared};
use crate::stack::{Stack, request};
use crate::stats::{ConnectionInfo, MptcpInfo, PathCommand};

/// How [`Stream::connect_with`] opens a connection. Every field left at
/// its default takes the stack's choice.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// MPTCP or plain TCP; `None`: the stack's default
    /// ([`crate::StackConfig::mptcp`]).
    pub protocol: Option<Protocol>,
    /// The local address to bind, one of the stack's (port 0: any free
    /// one); `None`: the address of the path the route to the peer picks.
    pub local: Option<SocketAddr>,
    /// How long to wait for the handshake; `None`: as long as the SYN
    /// retransmissions last (minutes with the defaults).
    pub timeout: Option<Duration>,
    /// MPTCP: the connection's own path manager, scheduler and congestion
    /// controller (each left `None` keeps the stack's). By name:
    /// [`ConnectionPolicy::by_names`].
    pub policy: Option<ConnectionPolicy>,
    /// With [`Stream::connect_fast_open_with`]: the SYN carries the data
    /// with no Fast Open option at all, cookie or not (an RFC 8803
    /// Convert client's SYN, for a server that takes SYN data without a
    /// cookie; others take it after the handshake). Default off.
    pub syn_data_without_cookie: bool,
}

impl ConnectOptions {
    /// Every choice the stack's.
    pub fn new() -> Self {
        Self::default()
    }

    /// Speak `protocol`.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Bind `local` (see [`ConnectOptions::local`]).
    pub fn local(mut self, local: SocketAddr) -> Self {
        self.local = Some(local);
        self
    }

    /// Give up after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Use `policy` (MPTCP).
    pub fn policy(mut self, policy: ConnectionPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Send Fast Open data without a cookie
    /// ([`ConnectOptions::syn_data_without_cookie`]).
    pub fn syn_data_without_cookie(mut self) -> Self {
        self.syn_data_without_cookie = true;
        self
    }
}

/// A connection of our stack, MPTCP or plain TCP, read and written as one
/// byte stream (std's `Read`/`Write` contracts).
///
/// An MPTCP connection stays MPTCP if the peer speaks it and falls back to
/// plain TCP, for good, if it does not ([`MptcpInfo::mptcp`] says which);
/// the stack's path manager opens and closes subflows, and
/// [`Stream::path`] lets the application do so itself. A connection opened
/// or accepted as plain TCP has no MPTCP figures ([`Stream::mptcp_info`]
/// is `None`). Dropping it closes the connection gracefully in the
/// background (DATA_FIN or FIN after the queued data).
///
/// Handles are cheap to clone ([`Stream::try_clone`]) and to split into a
/// reading and a writing half ([`Stream::split`]); `Read` and `Write` are
/// implemented for `&Stream` too, as for `std::net::TcpStream`. The
/// connection closes when its last handle is gone.
#[derive(Debug)]
pub struct Stream {
    handle: Handle,
    local: SocketAddr,
    peer: SocketAddr,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl Stream {
    /// The stream of a held SYN just accepted.
    pub(crate) fn from_held(handle: Handle, local: SocketAddr, peer: SocketAddr) -> Self {
        Stream {
            handle,
            local,
            peer,
            read_timeout: None,
            write_timeout: None,
        }
    }

    pub(crate) fn from_accepted(commands: Sender<Command>, accepted: Accepted) -> Self {
        Stream {
            handle: Handle::new(accepted.shared, commands),
            local: accepted.local,
            peer: accepted.remote,
            read_timeout: None,
            write_timeout: None,
        }
    }

    /// Open a connection to `remote` with the stack's protocol, waiting as
    /// long as the SYN retransmissions last (minutes with the defaults).
    /// An MPTCP SYN carries MP_CAPABLE; a peer that ignores it gets plain
    /// TCP, and after `mptcp_syns` unanswered SYNs the rest go without it
    /// (RFC 8684 §3.7).
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` (the peer answered with a reset), `TimedOut`
    /// (no answer), `NetworkUnreachable` (no route), or `NotConnected` if
    /// the stack has stopped.
    pub fn connect(stack: &Stack, remote: SocketAddr) -> io::Result<Stream> {
        Self::connect_with(stack, remote, ConnectOptions::default())
    }

    /// Open a connection to `remote`, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Stream::connect`]; `TimedOut` when `timeout` passes first.
    pub fn connect_timeout(
        stack: &Stack,
        remote: SocketAddr,
        timeout: Duration,
    ) -> io::Result<Stream> {
        Self::connect_with(stack, remote, ConnectOptions::new().timeout(timeout))
    }

    /// Open a connection as `options` say (protocol, local address,
    /// timeout, policies).
    ///
    /// # Errors
    ///
    /// As [`Stream::connect`]; `AddrNotAvailable` for a local address
    /// that is not the stack's.
    pub fn connect_with(
        stack: &Stack,
        remote: SocketAddr,
        options: ConnectOptions,
    ) -> io::Result<Stream> {
        Self::connect_inner(stack, remote, options, None)
    }

    /// Open a plain-TCP connection with TCP Fast Open (RFC 7413), `data`
    /// being the first bytes to send. If the stack holds a cookie from an
    /// earlier connection to this server, the SYN carries it and as much
    /// of `data` as fits, and the server may act on it a round trip
    /// earlier; if not, the SYN asks for a cookie (kept for next time) and
    /// `data` follows the handshake. Either way `data` is sent exactly
    /// once. For MPTCP's Fast Open see [`Stream::connect_fast_open_with`].
    ///
    /// # Errors
    ///
    /// As [`Stream::connect_timeout`]; `InvalidInput` if `data` is over
    /// 64 KiB.
    pub fn connect_fast_open(
        stack: &Stack,
        remote: SocketAddr,
        timeout: Duration,
        data: &[u8],
    ) -> io::Result<Stream> {
        let options = ConnectOptions::new()
            .protocol(Protocol::Tcp)
            .timeout(timeout);
        Self::connect_fast_open_with(stack, remote, options, data)
    }

    /// Open a connection as `options` say, with Fast Open and `data` as
    /// the first bytes to send, as [`Stream::connect_fast_open`] does. Over
    /// MPTCP (the stack's default protocol) this is RFC 8684 Appendix B:
    /// the MP_CAPABLE SYN carries the cookie and the data, which the
    /// server delivers ahead of the data stream; a server that answers
    /// without MP_CAPABLE gets it as plain TCP Fast Open.
    ///
    /// # Errors
    ///
    /// As [`Stream::connect_with`]; `InvalidInput` if `data` is over
    /// 64 KiB.
    pub fn connect_fast_open_with(
        stack: &Stack,
        remote: SocketAddr,
        options: ConnectOptions,
        data: &[u8],
    ) -> io::Result<Stream> {
        if data.len() > crate::endpoint::MAX_FAST_OPEN_DATA {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Fast Open data is limited to 64 KiB",
            ));
        }
        Self::connect_inner(stack, remote, options, Some(data.to_vec()))
    }

    fn connect_inner(
        stack: &Stack,
        remote: SocketAddr,
        options: ConnectOptions,
        fast_open: Option<Vec<u8>>,
    ) -> io::Result<Stream> {
        let timeout = options.timeout;
        let pending = PendingConnect::start(stack, remote, options, fast_open)?;
        let ends = pending.handle.wait_established(timeout);
        pending.finish(ends)
    }

    /// A stream on a connection whose ends are known.
    fn established(handle: Handle, (local, peer): (SocketAddr, SocketAddr)) -> Stream {
        Stream {
            handle,
            local,
            peer,
            read_timeout: None,
            write_timeout: None,
        }
    }

    /// Our end's address. For a connection a capture listener took, the
    /// address the peer meant to reach.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// How long a `read` waits for data; `None` waits forever.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// How long a `write` waits for buffer space; `None` waits forever.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// Shut down the sending half (a DATA_FIN, or FIN, follows the queued
    /// data), the receiving half (further data is discarded), or both.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection or the stack is gone.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let (read, write) = match how {
            Shutdown::Write => (false, true),
            Shutdown::Read => (true, false),
            Shutdown::Both => (true, true),
        };
        self.handle.shutdown(read, write)
    }

    /// Reset the connection at once: MP_FASTCLOSE over MPTCP (RFC 8684
    /// §3.5), RST over plain TCP. Bytes queued and not yet sent, and
    /// bytes received and not yet read, are discarded; every handle's
    /// reads and writes fail with `ConnectionAborted` from now on. (A
    /// proxy passes an upstream's reset on this way.)
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection or the stack is gone.
    pub fn abort(&self) -> io::Result<()> {
        self.handle.abort()
    }

    /// Another handle on the same connection, with its own timeouts. Reads
    /// and writes through either share one byte stream each way; the
    /// connection closes when the last handle is gone.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is gone.
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(Stream {
            handle: self.handle.try_clone()?,
            local: self.local,
            peer: self.peer,
            read_timeout: self.read_timeout,
            write_timeout: self.write_timeout,
        })
    }

    /// Owned halves for two threads: one reads, the other writes. Dropping
    /// the writing half shuts down the sending side (the peer reads the
    /// end of the stream) while the reading half reads on; a proxy carries
    /// a half-close across this way.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is gone.
    pub fn split(self) -> io::Result<(ReadHalf, WriteHalf)> {
        let write = self.try_clone()?;
        Ok((ReadHalf(self), WriteHalf(write)))
    }

    /// The initial subflow's state, RTT and window, with bytes and
    /// retransmissions summed over every subflow.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection or the stack is gone.
    pub fn info(&self) -> io::Result<ConnectionInfo> {
        let conn = self.id()?;
        self.ask(|reply| Command::Info { conn, reply })
    }

    /// Whether the connection speaks MPTCP now (false while the handshake
    /// runs, after a fallback, and for plain TCP).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection or the stack is gone.
    pub fn is_mptcp(&self) -> io::Result<bool> {
        Ok(self.mptcp_info()?.is_some_and(|m| m.mptcp))
    }

    /// The subflows, the fallback state and the peer's addresses; `None`
    /// for a connection opened or accepted as plain TCP.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection or the stack is gone.
    pub fn mptcp_info(&self) -> io::Result<Option<MptcpInfo>> {
        let conn = self.id()?;
        self.ask(|reply| Command::MptcpInfo { conn, reply })
    }

    /// The events since the last call, oldest first: connected, subflows
    /// established and closed, addresses announced and removed, the
    /// fallback, the close. The stack keeps the last 64.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for a handle that cannot ask.
    pub fn events(&self) -> io::Result<Vec<MptcpEvent>> {
        Ok(self.handle.events())
    }

    /// Open or close a subflow, mark one a backup, announce or withdraw an
    /// address (the "manual" path manager's part, open to any).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the connection refuses (not MPTCP, a limit, an
    /// address that is not ours), `NotConnected` if it is gone.
    pub fn path(&self, command: PathCommand) -> io::Result<()> {
        let conn = self.id()?;
        self.ask(|reply| Command::Path {
            conn,
            command,
            reply,
        })
    }

    /// Read without blocking: ready with what `read` would return, or
    /// pending with `cx`'s waker kept, woken when data, the end of the
    /// stream or an error comes (the basis of an async adapter; the read
    /// timeout does not apply).
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.handle.poll_read(cx, buf)
    }

    /// Write without blocking: ready with what `write` would return, or
    /// pending with `cx`'s waker kept, woken when the stack has taken
    /// bytes (or the connection failed).
    pub fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.handle.poll_write(cx, data)
    }

    /// The connection's shared state (for an event stream, which holds
    /// no handle: it does not keep the connection open, and for a splice
    /// to know the stream is its stack's).
    pub(crate) fn shared(&self) -> std::sync::Arc<crate::readiness::Shared> {
        std::sync::Arc::clone(&self.handle.shared)
    }

    /// One request to the stack thread, and its reply.
    fn ask<T>(&self, make: impl FnOnce(Sender<io::Result<T>>) -> Command) -> io::Result<T> {
        request(self.handle.commands(), make)
    }

    /// The core's id of the connection, if it has one.
    pub(crate) fn core_id(&self) -> Option<umptcp_proto::ConnectionId> {
        self.handle.id()
    }

    fn id(&self) -> io::Result<umptcp_proto::ConnectionId> {
        self.handle
            .id()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection is gone"))
    }
}

/// A connect on its way: the stack has the request, the handshake runs.
/// Dropping it cancels the connect (as a connect given up does).
#[derive(Debug)]
pub(crate) struct PendingConnect {
    handle: Handle,
    remote: SocketAddr,
    /// How long the caller waits; the async adapter keeps the time.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) timeout: Option<Duration>,
}

impl PendingConnect {
    /// Hand the connect to the stack thread.
    pub(crate) fn start(
        stack: &Stack,
        remote: SocketAddr,
        options: ConnectOptions,
        fast_open: Option<Vec<u8>>,
    ) -> io::Result<PendingConnect> {
        let ConnectOptions {
            protocol,
            local,
            timeout,
            policy,
            syn_data_without_cookie,
        } = options;
        let commands = stack.commands();
        let shared = Shared::new();
        commands
            .send(Command::Connect {
                remote,
                local,
                protocol,
                fast_open,
                syn_data_without_cookie,
                policy,
                shared: std::sync::Arc::clone(&shared),
            })
            .map_err(|_| io::Error::new(io::ErrorKind::NotConnected, "the stack has stopped"))?;
        Ok(PendingConnect {
            handle: Handle::new(shared, commands),
            remote,
            timeout,
        })
    }

    /// Ready once the connection is established or failed; else `cx`'s
    /// waker is kept for when it is.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<io::Result<(SocketAddr, SocketAddr)>> {
        self.handle.poll_established(cx)
    }

    /// The stream, or the connect's error named for the peer.
    pub(crate) fn finish(self, ends: io::Result<(SocketAddr, SocketAddr)>) -> io::Result<Stream> {
        match ends {
            Ok(ends) => Ok(Stream::established(self.handle, ends)),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer from {}: connection timed out", self.remote),
            )),
            Err(e) => Err(e),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.handle.read(buf, self.read_timeout)
    }
}

impl Write for Stream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        (&*self).write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &Stream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.handle.write(data, self.write_timeout)
    }

    /// Data handed to `write` is already the stack's to send; there is
    /// nothing to flush.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reading half of a [`Stream`] ([`Stream::split`]).
#[derive(Debug)]
pub struct ReadHalf(Stream);

/// The writing half of a [`Stream`] ([`Stream::split`]); dropping it
/// shuts down the sending side.
#[derive(Debug)]
pub struct WriteHalf(Stream);

impl ReadHalf {
    /// The whole stream's handle, for its figures and timeouts.
    pub fn stream(&self) -> &Stream {
        &self.0
    }

    /// How long a `read` waits for data; `None` waits forever.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.0.set_read_timeout(timeout);
    }
}

impl WriteHalf {
    /// The whole stream's handle, for its figures and timeouts.
    pub fn stream(&self) -> &Stream {
        &self.0
    }

    /// How long a `write` waits for buffer space; `None` waits forever.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.0.set_write_timeout(timeout);
    }
}

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for WriteHalf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for WriteHalf {
    fn drop(&mut self) {
        // A connection already gone has nothing to shut down.
        let _ = self.0.shutdown(Shutdown::Write);
    }
}
