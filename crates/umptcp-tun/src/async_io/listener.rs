//! [`AsyncListener`]: a [`Listener`] whose accept is awaited.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use crate::listener::{Listener, ListenerOptions};
use crate::stack::Stack;

use super::AsyncStream;

/// A listener whose `accept` is a future: pending, it leaves the task's
/// waker where the stack thread finds it when a connection is
/// established.
#[derive(Debug)]
pub struct AsyncListener {
    inner: Listener,
}

impl AsyncListener {
    /// Listen on `port` at every address of the stack, with the stack's
    /// protocol. The stack thread answers at once; this does not wait on
    /// the network.
    ///
    /// # Errors
    ///
    /// As [`Listener::bind`].
    pub fn bind(stack: &Stack, port: u16) -> io::Result<AsyncListener> {
        Listener::bind(stack, port).map(AsyncListener::from_std)
    }

    /// Listen on `port` as `options` say (protocol, Fast Open, policies).
    ///
    /// # Errors
    ///
    /// As [`Listener::bind_with`].
    pub fn bind_with(
        stack: &Stack,
        port: u16,
        options: ListenerOptions,
    ) -> io::Result<AsyncListener> {
        Listener::bind_with(stack, port, options).map(AsyncListener::from_std)
    }

    /// Take every connection that arrives by `device`, whatever its
    /// destination (transparent capture; see [`Listener::capture`]).
    ///
    /// # Errors
    ///
    /// As [`Listener::capture`].
    pub fn capture(
        stack: &Stack,
        device: &str,
        options: ListenerOptions,
    ) -> io::Result<AsyncListener> {
        Listener::capture(stack, device, options).map(AsyncListener::from_std)
    }

    /// The async form of a blocking listener (its accept timeout no longer
    /// applies; wrap `accept` in `tokio::time::timeout` instead).
    pub fn from_std(inner: Listener) -> AsyncListener {
        AsyncListener { inner }
    }

    /// The blocking listener back.
    pub fn into_std(self) -> Listener {
        self.inner
    }

    /// The port listened on (0 for a capture listener).
    pub fn local_port(&self) -> u16 {
        self.inner.local_port()
    }

    /// The next established connection and its peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the stack has stopped.
    pub async fn accept(&self) -> io::Result<(AsyncStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Accept without a future: ready with a connection, or pending with
    /// `cx`'s waker kept.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(AsyncStream, SocketAddr)>> {
        self.inner
            .poll_accept(cx)
            .map_ok(|(stream, peer)| (AsyncStream::from_std(stream), peer))
    }
}
