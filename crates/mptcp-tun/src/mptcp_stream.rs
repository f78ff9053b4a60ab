//! A blocking MPTCP connection: a [`TcpStream`] with subflows.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use mptcp_proto::{ConnectionPolicy, MptcpEvent};

use crate::command::Command;
use crate::stack::{Stack, request};
use crate::stats::{ConnectionInfo, MptcpInfo, PathCommand};
use crate::stream::TcpStream;

/// An MPTCP connection of a stack started with [`crate::StackConfig::mptcp`].
///
/// It reads and writes like a [`TcpStream`] (it derefs to one for the
/// rest: timeouts, addresses). The connection is MPTCP if the peer speaks
/// it and falls back to plain TCP, for good, if it does not
/// ([`MptcpInfo::mptcp`] says which); the stack's path manager opens and
/// closes subflows, and [`MptcpStream::path`] lets the application do so
/// itself. Dropping it closes the connection gracefully (DATA_FIN after
/// the queued data) in the background.
#[derive(Debug)]
pub struct MptcpStream {
    stream: TcpStream,
}

impl MptcpStream {
    pub(crate) fn new(stream: TcpStream) -> Self {
        MptcpStream { stream }
    }

    /// Open a connection to `remote` from the path that reaches it, giving
    /// up after `timeout` (`None`: as long as the SYNs last). The SYN
    /// carries MP_CAPABLE; a peer that ignores it gets plain TCP, and after
    /// `mptcp_syns` unanswered SYNs the rest go without it (RFC 8684 §3.7).
    ///
    /// # Errors
    ///
    /// `Unsupported` on a plain-TCP stack; otherwise as
    /// [`TcpStream::connect_timeout`].
    pub fn connect(
        stack: &Stack,
        remote: SocketAddr,
        timeout: Option<Duration>,
    ) -> io::Result<MptcpStream> {
        if !stack.is_mptcp() {
            return Err(crate::endpoint::not_mptcp());
        }
        Self::connect_with(stack, remote, timeout, ConnectionPolicy::default())
    }

    /// [`MptcpStream::connect`] with the connection's own path manager,
    /// scheduler and congestion controller in place of the stack's
    /// (each left `None` in `policy` keeps the stack's). By name:
    /// [`ConnectionPolicy::by_names`].
    ///
    /// # Errors
    ///
    /// As [`MptcpStream::connect`].
    pub fn connect_with(
        stack: &Stack,
        remote: SocketAddr,
        timeout: Option<Duration>,
        policy: ConnectionPolicy,
    ) -> io::Result<MptcpStream> {
        if !stack.is_mptcp() {
            return Err(crate::endpoint::not_mptcp());
        }
        TcpStream::connect_inner(stack, remote, timeout, None, Some(policy)).map(MptcpStream::new)
    }

    /// The subflows, the fallback state and the peer's addresses.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection or the stack is gone.
    pub fn mptcp_info(&self) -> io::Result<MptcpInfo> {
        let (commands, conn) = self.stream.channel();
        request(
            commands,
            |reply| Command::MptcpInfo { conn, reply },
            None,
            || unreachable!("no timeout"),
        )
    }

    /// The events since the last call, oldest first: subflows established
    /// and closed, addresses announced and removed, the fallback, the
    /// close. The stack keeps the last 64.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection or the stack is gone.
    pub fn events(&self) -> io::Result<Vec<MptcpEvent>> {
        let (commands, conn) = self.stream.channel();
        request(
            commands,
            |reply| Command::Events { conn, reply },
            None,
            || unreachable!("no timeout"),
        )
    }

    /// Open or close a subflow, mark one a backup, announce or withdraw an
    /// address (the "manual" path manager's part, open to any).
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the connection refuses (not MPTCP, a limit, an
    /// address that is not ours), `NotConnected` if it is gone.
    pub fn path(&self, command: PathCommand) -> io::Result<()> {
        let (commands, conn) = self.stream.channel();
        request(
            commands,
            |reply| Command::Path {
                conn,
                command,
                reply,
            },
            None,
            || unreachable!("no timeout"),
        )
    }

    /// Shut down one half or both (see [`TcpStream::shutdown`]); shutting
    /// down writing sends a DATA_FIN after the queued data.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection or the stack is gone.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.stream.shutdown(how)
    }

    /// The initial subflow's state, RTT and window, with bytes and
    /// retransmissions summed over every subflow.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection or the stack is gone.
    pub fn info(&self) -> io::Result<ConnectionInfo> {
        self.stream.info()
    }
}

impl std::ops::Deref for MptcpStream {
    type Target = TcpStream;
    fn deref(&self) -> &TcpStream {
        &self.stream
    }
}

impl std::ops::DerefMut for MptcpStream {
    fn deref_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

impl Read for MptcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for MptcpStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.stream.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
