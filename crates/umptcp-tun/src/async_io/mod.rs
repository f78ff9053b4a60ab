//! Async handles for tokio programs (feature `tokio`): [`AsyncStream`]
//! and [`AsyncListener`], with tokio's `AsyncRead`/`AsyncWrite` and an
//! `accept().await`.
//!
//! They sit on the same per-connection readiness state as the blocking
//! handles: a pending read, write, connect or accept leaves its task's
//! waker in that state and the stack thread wakes it. No thread per
//! connection, no channel per call: thousands of connections on one stack
//! cost one stack thread and the tasks the program spawns.
//!
//! ```no_run
//! # async fn run(stack: &umptcp_tun::Stack) -> std::io::Result<()> {
//! use umptcp_tun::{AsyncListener, AsyncStream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let listener = AsyncListener::bind(stack, 7)?;
//! tokio::spawn(async move {
//!     while let Ok((stream, _peer)) = listener.accept().await {
//!         tokio::spawn(async move {
//!             let (mut rd, mut wr) = stream.into_split()?;
//!             tokio::io::copy(&mut rd, &mut wr).await?;
//!             wr.shutdown().await
//!         });
//!     }
//! });
//! let mut stream = AsyncStream::connect(stack, "10.0.0.1:80".parse().unwrap()).await?;
//! stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
//! let mut reply = Vec::new();
//! stream.read_to_end(&mut reply).await?;
//! # Ok(())
//! # }
//! ```

mod events;
mod listener;
mod stream;

pub use events::EventStream;
pub use listener::AsyncListener;
pub use stream::{AsyncReadHalf, AsyncStream, AsyncWriteHalf};
