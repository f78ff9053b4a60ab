//! Splicing a stack connection to a kernel socket
//! ([`Stack::splice_socket`](crate::Stack::splice_socket)): one relay
//! thread per stack serves every such pair, waiting on the kernel sockets
//! (epoll, through mio) and on the streams (a waker that wakes the same
//! wait). Bytes go from the socket straight into the stream's send
//! buffer and from its receive buffer straight to the socket, through one
//! relay buffer per direction; no thread per connection.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::net::TcpStream as Socket;
use mio::{Events, Interest, Token};

use crate::Stream;
use crate::splice::{SpliceState, Spliced};

/// The token of the relay's own waker; pairs count from 1.
const WAKE: Token = Token(0);
/// Each direction's relay buffer.
const RELAY_BUFFER: usize = 16 * 1024;

/// A pair handed to the relay thread.
struct NewPair {
    stream: Stream,
    socket: Socket,
    state: Arc<SpliceState>,
}

/// What the relay thread and its wakers share.
struct Shared {
    new_pairs: Mutex<Vec<NewPair>>,
    /// Pairs whose stream woke them.
    woken: Mutex<Vec<usize>>,
    waker: mio::Waker,
    stopping: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The relay of one stack: started with the first spliced socket, ended
/// with the stack.
pub(crate) struct SocketRelay {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl SocketRelay {
    pub(crate) fn start() -> io::Result<SocketRelay> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE)?;
        let shared = Arc::new(Shared {
            new_pairs: Mutex::new(Vec::new()),
            woken: Mutex::new(Vec::new()),
            waker,
            stopping: AtomicBool::new(false),
        });
        let relay = Relay {
            poll,
            shared: Arc::clone(&shared),
            pairs: BTreeMap::new(),
            next_token: 1,
        };
        let thread = std::thread::Builder::new()
            .name("umptcp-socket-relay".to_owned())
            .spawn(move || relay.run())?;
        Ok(SocketRelay {
            shared,
            thread: Some(thread),
        })
    }

    /// Relay between `stream` and `socket` until both directions end.
    pub(crate) fn add(
        &self,
        stream: Stream,
        socket: std::net::TcpStream,
        state: Arc<SpliceState>,
    ) -> io::Result<()> {
        socket.set_nonblocking(true)?;
        lock(&self.shared.new_pairs).push(NewPair {
            stream,
            socket: Socket::from_std(socket),
            state,
        });
        self.shared.waker.wake()
    }

    /// End the relay once its pairs have ended (the stack has stopped, so
    /// they end at once).
    pub(crate) fn stop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        let _ = self.shared.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for SocketRelay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A stream's waker: marks its pair and wakes the relay's wait.
struct PairWaker {
    token: usize,
    shared: Arc<Shared>,
}

impl Wake for PairWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.shared.woken).push(self.token);
        let _ = self.shared.waker.wake();
    }
}

/// The relay thread.
struct Relay {
    poll: mio::Poll,
    shared: Arc<Shared>,
    pairs: BTreeMap<usize, Pair>,
    next_token: usize,
}

impl Relay {
    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut due = Vec::new();
        loop {
            if self.shared.stopping.load(Ordering::Acquire) && self.pairs.is_empty() {
                return;
            }
            // With the stack stopping, its streams fail: look again soon
            // even if no waker fires.
            let timeout = self
                .shared
                .stopping
                .load(Ordering::Acquire)
                .then_some(Duration::from_millis(50));
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                for (_, pair) in std::mem::take(&mut self.pairs) {
                    pair.state
                        .finish(Err((e.kind(), format!("socket relay: {e}"))));
                }
                return;
            }
            due.clear();
            due.extend(events.iter().map(|e| e.token().0).filter(|&t| t != WAKE.0));
            due.append(&mut lock(&self.shared.woken));
            let fresh = std::mem::take(&mut *lock(&self.shared.new_pairs));
            for new in fresh {
                due.push(self.register(new));
            }
            if timeout.is_some() {
                due.extend(self.pairs.keys().copied());
            }
            due.sort_unstable();
            due.dedup();
            for &token in &due {
                let Some(pair) = self.pairs.get_mut(&token) else {
                    continue;
                };
                if let Some(outcome) = pair.service() {
                    let mut pair = self.pairs.remove(&token).expect("just served");
                    let _ = self.poll.registry().deregister(&mut pair.socket);
                    pair.state.finish(outcome);
                }
            }
        }
    }

    fn register(&mut self, new: NewPair) -> usize {
        let token = self.next_token;
        self.next_token += 1;
        let NewPair {
            stream,
            mut socket,
            state,
        } = new;
        let waker = Waker::from(Arc::new(PairWaker {
            token,
            shared: Arc::clone(&self.shared),
        }));
        if let Err(e) = self.poll.registry().register(
            &mut socket,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            state.finish(Err((e.kind(), format!("registering the socket: {e}"))));
            return token;
        }
        self.pairs.insert(
            token,
            Pair {
                stream,
                socket,
                waker,
                to_socket: RelayBuffer::new(),
                to_stream: RelayBuffer::new(),
                stream_eof: false,
                socket_eof: false,
                socket_shut: false,
                stream_shut: false,
                moved: (0, 0),
                state,
            },
        );
        token
    }
}

/// Bytes read from one side and not yet written to the other.
struct RelayBuffer {
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

impl RelayBuffer {
    fn new() -> Self {
        RelayBuffer {
            data: vec![0; RELAY_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// The whole buffer, to fill (only when empty).
    fn space(&mut self) -> &mut [u8] {
        self.start = 0;
        self.end = 0;
        &mut self.data
    }

    fn filled(&mut self, n: usize) {
        self.end = n;
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
    }
}

type Outcome = Result<Spliced, (io::ErrorKind, String)>;

/// One stream and one socket relayed.
struct Pair {
    stream: Stream,
    socket: Socket,
    waker: Waker,
    to_socket: RelayBuffer,
    to_stream: RelayBuffer,
    stream_eof: bool,
    socket_eof: bool,
    socket_shut: bool,
    stream_shut: bool,
    /// Bytes stream to socket, and socket to stream.
    moved: Spliced,
    state: Arc<SpliceState>,
}

impl Pair {
    /// Move what can move both ways; the outcome once the splice ended.
    fn service(&mut self) -> Option<Outcome> {
        let waker = self.waker.clone();
        let mut cx = Context::from_waker(&waker);
        loop {
            let mut progress = false;
            // Stream to socket.
            if self.to_socket.is_empty() && !self.stream_eof {
                match self.stream.poll_read(&mut cx, self.to_socket.space()) {
                    Poll::Ready(Ok(0)) => self.stream_eof = true,
                    Poll::Ready(Ok(n)) => self.to_socket.filled(n),
                    Poll::Ready(Err(e)) => return Some(self.stream_failed(&e)),
                    Poll::Pending => {}
                }
                progress |= !self.to_socket.is_empty() || self.stream_eof;
            }
            if !self.to_socket.is_empty() {
                match self.socket.write(self.to_socket.pending()) {
                    Ok(n) => {
                        self.to_socket.consume(n);
                        self.moved.0 += n as u64;
                        progress |= n > 0;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => progress = true,
                    Err(e) => return Some(self.socket_failed(&e)),
                }
            }
            if self.stream_eof && self.to_socket.is_empty() && !self.socket_shut {
                let _ = self.socket.shutdown(Shutdown::Write);
                self.socket_shut = true;
            }
            // Socket to stream.
            if self.to_stream.is_empty() && !self.socket_eof {
                match self.socket.read(self.to_stream.space()) {
                    Ok(0) => self.socket_eof = true,
                    Ok(n) => self.to_stream.filled(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Some(self.socket_failed(&e)),
                }
                progress |= !self.to_stream.is_empty() || self.socket_eof;
            }
            if !self.to_stream.is_empty() {
                match self.stream.poll_write(&mut cx, self.to_stream.pending()) {
                    Poll::Ready(Ok(n)) => {
                        self.to_stream.consume(n);
                        self.moved.1 += n as u64;
                        progress |= n > 0;
                    }
                    Poll::Ready(Err(e)) => return Some(self.stream_failed(&e)),
                    Poll::Pending => {}
                }
            }
            if self.socket_eof && self.to_stream.is_empty() && !self.stream_shut {
                if let Err(e) = self.stream.shutdown(Shutdown::Write) {
                    return Some(self.stream_failed(&e));
                }
                self.stream_shut = true;
            }
            if self.socket_shut && self.stream_shut {
                return Some(Ok(self.moved));
            }
            if !progress {
                return None;
            }
        }
    }

    /// The stack's connection failed: the socket is reset (SO_LINGER 0,
    /// then closed when the pair is dropped).
    fn stream_failed(&mut self, e: &io::Error) -> Outcome {
        let _ = socket2::SockRef::from(&self.socket).set_linger(Some(Duration::ZERO));
        Err((e.kind(), e.to_string()))
    }

    /// The socket failed: the stack's connection is reset too
    /// (MP_FASTCLOSE over MPTCP).
    fn socket_failed(&mut self, e: &io::Error) -> Outcome {
        let _ = self.stream.abort();
        Err((e.kind(), format!("the socket: {e}")))
    }
}
