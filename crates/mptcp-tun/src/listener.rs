//! A blocking listener over the stack, like `std::net::TcpListener`.

use mptcp_proto::PolicyFactory;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::command::{Command, ListenerId};
use crate::stack::{Stack, request};
use crate::stream::TcpStream;

/// Listens on one port on every path address of the stack. Dropping it
/// stops listening and resets connections not yet accepted.
#[derive(Debug)]
pub struct TcpListener {
    commands: Sender<Command>,
    id: ListenerId,
    port: u16,
    accept_timeout: Option<Duration>,
}

impl TcpListener {
    /// Listen on `port`.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if another listener has the port, `InvalidInput` for port
    /// 0, `NotConnected` if the stack has stopped.
    pub fn bind(stack: &Stack, port: u16) -> io::Result<TcpListener> {
        Self::bind_inner(stack, port, None)
    }

    pub(crate) fn bind_inner(
        stack: &Stack,
        port: u16,
        policy: Option<PolicyFactory>,
    ) -> io::Result<TcpListener> {
        let commands = stack.commands();
        let id = request(
            &commands,
            |reply| Command::Listen {
                port,
                policy,
                reply,
            },
            None,
            || unreachable!("no timeout"),
        )?;
        Ok(TcpListener {
            commands,
            id,
            port,
            accept_timeout: None,
        })
    }

    /// The port listened on.
    pub fn local_port(&self) -> u16 {
        self.port
    }

    /// How long `accept` waits; `None` waits forever.
    pub fn set_accept_timeout(&mut self, timeout: Option<Duration>) {
        self.accept_timeout = timeout;
    }

    /// Wait for the next established connection.
    ///
    /// # Errors
    ///
    /// `TimedOut` after the accept timeout, `NotConnected` if the stack has
    /// stopped.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let listener = self.id;
        let opened = request(
            &self.commands,
            |reply| Command::Accept { listener, reply },
            self.accept_timeout,
            || Command::CancelAccept { listener },
        )?;
        let peer = opened.remote;
        Ok((TcpStream::from_opened(self.commands.clone(), opened), peer))
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let _ = self
            .commands
            .send(Command::CloseListener { listener: self.id });
    }
}
