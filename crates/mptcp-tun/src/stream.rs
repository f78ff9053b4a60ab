//! A blocking connection of the stack, MPTCP or plain TCP, like
//! `std::net::TcpStream`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use crossbeam_channel::Sender;
use mptcp_proto::{ConnectionPolicy, MptcpEvent, Protocol};

use crate::command::{Command, ConnId, Opened};
use crate::stack::{Stack, request};
use crate::stats::{ConnectionInfo, MptcpInfo, PathCommand};

/// Largest chunk moved between a handle and the stack in one request.
const MAX_CHUNK: usize = 256 * 1024;
/// Smallest read request: small application reads are served from a local
/// buffer instead of one round trip each.
const MIN_READ_CHUNK: usize = 16 * 1024;

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
#[derive(Debug)]
pub struct Stream {
    commands: Sender<Command>,
    id: ConnId,
    local: SocketAddr,
    peer: SocketAddr,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// Received bytes not yet handed to the application: `pending[consumed..]`.
    pending: Vec<u8>,
    consumed: usize,
    /// A spare buffer for writes, returned by the stack each time.
    write_buf: Vec<u8>,
}

impl Stream {
    pub(crate) fn from_opened(commands: Sender<Command>, opened: Opened) -> Self {
        Stream {
            commands,
            id: opened.id,
            local: opened.local,
            peer: opened.remote,
            read_timeout: None,
            write_timeout: None,
            pending: Vec::new(),
            consumed: 0,
            write_buf: Vec::new(),
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
    /// once. (MPTCP's Fast Open, RFC 8684 Appendix B, is not implemented.)
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
        if data.len() > crate::endpoint::MAX_FAST_OPEN_DATA {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Fast Open data is limited to 64 KiB",
            ));
        }
        let options = ConnectOptions::new()
            .protocol(Protocol::Tcp)
            .timeout(timeout);
        Self::connect_inner(stack, remote, options, Some(data.to_vec()))
    }

    fn connect_inner(
        stack: &Stack,
        remote: SocketAddr,
        options: ConnectOptions,
        fast_open: Option<Vec<u8>>,
    ) -> io::Result<Stream> {
        let ConnectOptions {
            protocol,
            local,
            timeout,
            policy,
        } = options;
        let commands = stack.commands();
        let opened = request(
            &commands,
            |reply| Command::Connect {
                remote,
                local,
                protocol,
                fast_open,
                policy,
                reply,
            },
            timeout,
            || Command::CancelConnect { remote },
        )
        .map_err(|e| {
            if e.kind() == io::ErrorKind::TimedOut {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer from {remote}: connection timed out"),
                )
            } else {
                e
            }
        })?;
        Ok(Self::from_opened(commands, opened))
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
        let (write, read) = match how {
            Shutdown::Write => (true, false),
            Shutdown::Read => (false, true),
            Shutdown::Both => (true, true),
        };
        let conn = self.id;
        self.ask(|reply| Command::Shutdown {
            conn,
            write,
            read,
            reply,
        })
    }

    /// The initial subflow's state, RTT and window, with bytes and
    /// retransmissions summed over every subflow.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection or the stack is gone.
    pub fn info(&self) -> io::Result<ConnectionInfo> {
        let conn = self.id;
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
        let conn = self.id;
        self.ask(|reply| Command::MptcpInfo { conn, reply })
    }

    /// The events since the last call, oldest first: connected, subflows
    /// established and closed, addresses announced and removed, the
    /// fallback, the close. The stack keeps the last 64.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection or the stack is gone.
    pub fn events(&self) -> io::Result<Vec<MptcpEvent>> {
        let conn = self.id;
        self.ask(|reply| Command::Events { conn, reply })
    }

    /// Open or close a subflow, mark one a backup, announce or withdraw an
    /// address (the "manual" path manager's part, open to any).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the connection refuses (not MPTCP, a limit, an
    /// address that is not ours), `NotConnected` if it is gone.
    pub fn path(&self, command: PathCommand) -> io::Result<()> {
        let conn = self.id;
        self.ask(|reply| Command::Path {
            conn,
            command,
            reply,
        })
    }

    /// One request without a timeout, and its reply.
    fn ask<T>(&self, make: impl FnOnce(Sender<io::Result<T>>) -> Command) -> io::Result<T> {
        request(&self.commands, make, None, || unreachable!("no timeout"))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.consumed == self.pending.len() {
            let mut chunk = core::mem::take(&mut self.pending);
            chunk.clear();
            let want = buf.len().clamp(MIN_READ_CHUNK, MAX_CHUNK);
            chunk.reserve(want);
            let conn = self.id;
            self.pending = request(
                &self.commands,
                |reply| Command::Read {
                    conn,
                    buf: chunk,
                    reply,
                },
                self.read_timeout,
                || Command::CancelRead { conn },
            )?;
            self.consumed = 0;
            if self.pending.is_empty() {
                return Ok(0);
            }
        }
        let available = &self.pending[self.consumed..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consumed += n;
        Ok(n)
    }
}

impl Write for Stream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let mut chunk = core::mem::take(&mut self.write_buf);
        chunk.clear();
        chunk.extend_from_slice(&data[..data.len().min(MAX_CHUNK)]);
        let conn = self.id;
        let (n, back) = request(
            &self.commands,
            |reply| Command::Write {
                conn,
                data: chunk,
                reply,
            },
            self.write_timeout,
            || Command::CancelWrite { conn },
        )?;
        self.write_buf = back;
        Ok(n)
    }

    /// Data handed to `write` is already in the stack's send buffer; there
    /// is nothing to flush.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // If the stack is gone there is nothing left to close.
        let _ = self.commands.send(Command::Close { conn: self.id });
    }
}
