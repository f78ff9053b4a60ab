//! A blocking TCP stream over the stack, like `std::net::TcpStream`.

use mptcp_proto::ConnectionPolicy;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::command::{Command, ConnId, Opened};
use crate::stack::{Stack, request};
use crate::stats::ConnectionInfo;

/// Largest chunk moved between a handle and the stack in one request.
const MAX_CHUNK: usize = 256 * 1024;
/// Smallest read request: small application reads are served from a local
/// buffer instead of one round trip each.
const MIN_READ_CHUNK: usize = 16 * 1024;

/// A connection of our stack. Dropping it closes the connection gracefully
/// in the background (FIN after the queued data).
#[derive(Debug)]
pub struct TcpStream {
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

impl TcpStream {
    pub(crate) fn from_opened(commands: Sender<Command>, opened: Opened) -> Self {
        TcpStream {
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

    /// Open a connection to `remote`, waiting as long as the SYN
    /// retransmissions last (minutes with the defaults).
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` (the peer answered with a reset), `TimedOut`
    /// (no answer), `HostUnreachable` (an ICMP error came back), or
    /// `NotConnected` if the stack has stopped.
    pub fn connect(stack: &Stack, remote: SocketAddr) -> io::Result<TcpStream> {
        Self::connect_inner(stack, remote, None, None, None)
    }

    /// Open a connection to `remote`, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// As [`TcpStream::connect`]; `TimedOut` when `timeout` passes first.
    pub fn connect_timeout(
        stack: &Stack,
        remote: SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        Self::connect_inner(stack, remote, Some(timeout), None, None)
    }

    /// Open a connection with TCP Fast Open (RFC 7413), `data` being the
    /// first bytes to send. If the stack holds a cookie from an earlier
    /// connection to this server, the SYN carries it and as much of `data`
    /// as fits, and the server may act on it a round trip earlier; if not,
    /// the SYN asks for a cookie (kept for next time) and `data` follows the
    /// handshake. Either way `data` is sent exactly once.
    ///
    /// # Errors
    ///
    /// As [`TcpStream::connect_timeout`]; `InvalidInput` if `data` is over
    /// 64 KiB.
    pub fn connect_fast_open(
        stack: &Stack,
        remote: SocketAddr,
        timeout: Duration,
        data: &[u8],
    ) -> io::Result<TcpStream> {
        if data.len() > crate::endpoint::MAX_FAST_OPEN_DATA {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Fast Open data is limited to 64 KiB",
            ));
        }
        Self::connect_inner(stack, remote, Some(timeout), Some(data.to_vec()), None)
    }

    pub(crate) fn connect_inner(
        stack: &Stack,
        remote: SocketAddr,
        timeout: Option<Duration>,
        fast_open: Option<Vec<u8>>,
        policy: Option<ConnectionPolicy>,
    ) -> io::Result<TcpStream> {
        let commands = stack.commands();
        let opened = request(
            &commands,
            |reply| Command::Connect {
                remote,
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

    /// The stack's channel and this connection's id (for the MPTCP
    /// requests of [`crate::MptcpStream`]).
    pub(crate) fn channel(&self) -> (&Sender<Command>, ConnId) {
        (&self.commands, self.id)
    }

    /// Our end's address.
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

    /// Shut down the sending half (a FIN follows the queued data), the
    /// receiving half (further data is discarded), or both.
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
        request(
            &self.commands,
            |reply| Command::Shutdown {
                conn,
                write,
                read,
                reply,
            },
            None,
            || unreachable!("no timeout"),
        )
    }

    /// A snapshot of the connection's statistics.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection or the stack is gone.
    pub fn info(&self) -> io::Result<ConnectionInfo> {
        let conn = self.id;
        request(
            &self.commands,
            |reply| Command::Info { conn, reply },
            None,
            || unreachable!("no timeout"),
        )
    }
}

impl Read for TcpStream {
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

impl Write for TcpStream {
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

impl Drop for TcpStream {
    fn drop(&mut self) {
        // If the stack is gone there is nothing left to close.
        let _ = self.commands.send(Command::Close { conn: self.id });
    }
}
