//! A blocking MPTCP listener.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mptcp_proto::PolicyFactory;

use crate::listener::TcpListener;
use crate::mptcp_stream::MptcpStream;
use crate::stack::Stack;

/// Listens on one port on every address of a stack started with
/// [`crate::StackConfig::mptcp`]. It accepts MPTCP clients (their joins on
/// any of our addresses find the connection by token) and plain-TCP ones
/// (a connection that falls back). Dropping it stops listening and resets
/// connections not yet accepted.
#[derive(Debug)]
pub struct MptcpListener {
    listener: TcpListener,
}

impl MptcpListener {
    /// Listen on `port`.
    ///
    /// # Errors
    ///
    /// `Unsupported` on a plain-TCP stack; otherwise as
    /// [`TcpListener::bind`].
    pub fn bind(stack: &Stack, port: u16) -> io::Result<MptcpListener> {
        if !stack.is_mptcp() {
            return Err(crate::endpoint::not_mptcp());
        }
        TcpListener::bind(stack, port).map(|listener| MptcpListener { listener })
    }

    /// Listen on `port`; every connection accepted gets its path manager,
    /// scheduler and congestion controller from `policies` (each it leaves
    /// `None` keeps the stack's). The policy is built when the SYN comes,
    /// so the path manager sees the connection from its first event.
    ///
    /// # Errors
    ///
    /// As [`MptcpListener::bind`].
    pub fn bind_with(
        stack: &Stack,
        port: u16,
        policies: PolicyFactory,
    ) -> io::Result<MptcpListener> {
        if !stack.is_mptcp() {
            return Err(crate::endpoint::not_mptcp());
        }
        TcpListener::bind_inner(stack, port, Some(policies))
            .map(|listener| MptcpListener { listener })
    }

    /// The port listened on.
    pub fn local_port(&self) -> u16 {
        self.listener.local_port()
    }

    /// How long `accept` waits; `None` waits forever.
    pub fn set_accept_timeout(&mut self, timeout: Option<Duration>) {
        self.listener.set_accept_timeout(timeout);
    }

    /// Wait for the next established connection.
    ///
    /// # Errors
    ///
    /// As [`TcpListener::accept`].
    pub fn accept(&self) -> io::Result<(MptcpStream, SocketAddr)> {
        let (stream, peer) = self.listener.accept()?;
        Ok((MptcpStream::new(stream), peer))
    }
}
