//! [`AsyncStream`] and its owned halves: tokio's `AsyncRead` and
//! `AsyncWrite` over a [`Stream`]'s readiness state.

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::stack::Stack;
use crate::stream::{ConnectOptions, PendingConnect, ReadHalf, Stream, WriteHalf};

use super::EventStream;

/// A connection of the stack for async code: `AsyncRead + AsyncWrite`,
/// connected with `connect(..).await`.
///
/// Reads and writes never block the runtime: a read with nothing to read,
/// or a write with the send buffer full, leaves the task's waker with the
/// connection, and the stack thread wakes it when bytes arrive or room
/// frees. `flush` has nothing to do (written bytes are already the
/// stack's); `shutdown` sends the DATA_FIN (or FIN) after them. The
/// figures (`info`, `mptcp_info`, `events`, `path`) are on
/// [`AsyncStream::get_ref`]: each asks the stack thread once and waits
/// for its answer, which comes within one round of its loop.
#[derive(Debug)]
pub struct AsyncStream {
    inner: Stream,
}

impl AsyncStream {
    /// Open a connection to `remote` with the stack's protocol (MPTCP by
    /// default, falling back to TCP by itself).
    ///
    /// # Errors
    ///
    /// As [`Stream::connect`].
    pub async fn connect(stack: &Stack, remote: SocketAddr) -> io::Result<AsyncStream> {
        Self::connect_with(stack, remote, ConnectOptions::default()).await
    }

    /// Open a connection as `options` say (protocol, local address,
    /// timeout, policies). The timeout is kept with tokio's timer.
    ///
    /// # Errors
    ///
    /// As [`Stream::connect_with`].
    pub async fn connect_with(
        stack: &Stack,
        remote: SocketAddr,
        options: ConnectOptions,
    ) -> io::Result<AsyncStream> {
        Self::connect_inner(stack, remote, options, None).await
    }

    /// Open a connection with Fast Open, `data` being its first bytes (see
    /// [`Stream::connect_fast_open_with`]).
    ///
    /// # Errors
    ///
    /// As [`Stream::connect_fast_open_with`].
    pub async fn connect_fast_open_with(
        stack: &Stack,
        remote: SocketAddr,
        options: ConnectOptions,
        data: &[u8],
    ) -> io::Result<AsyncStream> {
        if data.len() > crate::endpoint::MAX_FAST_OPEN_DATA {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Fast Open data is limited to 64 KiB",
            ));
        }
        Self::connect_inner(stack, remote, options, Some(data.to_vec())).await
    }

    async fn connect_inner(
        stack: &Stack,
        remote: SocketAddr,
        options: ConnectOptions,
        fast_open: Option<Vec<u8>>,
    ) -> io::Result<AsyncStream> {
        // Dropped before it finishes (the future cancelled), the pending
        // connect cancels the connection.
        let pending = PendingConnect::start(stack, remote, options, fast_open)?;
        let established = poll_fn(|cx| pending.poll(cx));
        let ends = match pending.timeout {
            Some(limit) => tokio::time::timeout(limit, established)
                .await
                .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::TimedOut))),
            None => established.await,
        };
        pending.finish(ends).map(AsyncStream::from_std)
    }

    /// The async form of a blocking stream (its timeouts no longer apply;
    /// wrap calls in `tokio::time::timeout` instead).
    pub fn from_std(inner: Stream) -> AsyncStream {
        AsyncStream { inner }
    }

    /// The blocking stream back.
    pub fn into_std(self) -> Stream {
        self.inner
    }

    /// The blocking handle, for addresses, figures, events and path
    /// commands.
    pub fn get_ref(&self) -> &Stream {
        &self.inner
    }

    /// Our end of the connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    /// The peer's end of the connection.
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer_addr()
    }

    /// The connection's events as they happen (see [`EventStream`]).
    pub fn events(&self) -> EventStream {
        EventStream::new(self.inner.shared())
    }

    /// Owned halves for two tasks: one reads, the other writes. Dropping
    /// the writing half shuts down the sending side while the reading half
    /// reads on (a proxy carries a half-close across this way).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is gone.
    pub fn into_split(self) -> io::Result<(AsyncReadHalf, AsyncWriteHalf)> {
        let (read, write) = self.inner.split()?;
        Ok((AsyncReadHalf(read), AsyncWriteHalf(write)))
    }
}

/// The reading half of an [`AsyncStream`] ([`AsyncStream::into_split`]).
#[derive(Debug)]
pub struct AsyncReadHalf(ReadHalf);

/// The writing half of an [`AsyncStream`] ([`AsyncStream::into_split`]);
/// dropping it shuts down the sending side.
#[derive(Debug)]
pub struct AsyncWriteHalf(WriteHalf);

impl AsyncReadHalf {
    /// The whole stream's handle, for its figures.
    pub fn stream(&self) -> &Stream {
        self.0.stream()
    }

    /// The connection's events as they happen (see [`EventStream`]).
    pub fn events(&self) -> EventStream {
        EventStream::new(self.0.stream().shared())
    }
}

impl AsyncWriteHalf {
    /// The whole stream's handle, for its figures.
    pub fn stream(&self) -> &Stream {
        self.0.stream()
    }
}

/// Read into the unfilled part of `buf` (initialised once per buffer by
/// tokio, not per read).
fn poll_read_into(
    stream: &Stream,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    let n = match stream.poll_read(cx, buf.initialize_unfilled()) {
        Poll::Ready(Ok(n)) => n,
        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
        Poll::Pending => return Poll::Pending,
    };
    buf.advance(n);
    Poll::Ready(Ok(()))
}

fn poll_shutdown_write(stream: &Stream) -> Poll<io::Result<()>> {
    Poll::Ready(stream.shutdown(Shutdown::Write))
}

impl AsyncRead for AsyncStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_into(&self.inner, cx, buf)
    }
}

impl AsyncWrite for AsyncStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_shutdown_write(&self.inner)
    }
}

impl AsyncRead for AsyncReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_into(self.0.stream(), cx, buf)
    }
}

impl AsyncWrite for AsyncWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.stream().poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_shutdown_write(self.0.stream())
    }
}
