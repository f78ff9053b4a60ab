//! What a connection's handles and the stack thread share: the bytes
//! between them, the connection's state, and who waits for a change.
//!
//! The stack thread moves received bytes from the core into `rx` and
//! written bytes from `tx` into the core, and records the connection's
//! outcome (established, end of stream, failure, events). Handles read
//! and write these buffers under the lock: a blocking handle waits on the
//! condition variable, an async one leaves a `Waker`; the stack thread
//! wakes both when it changes something they wait for. A handle that
//! changes something the stack must act on (bytes to send, room for more
//! received bytes, a shutdown, the last handle gone) rings the stack
//! thread once (`Command::Ready`) until the stack has looked. No request
//! allocates a channel: the data plane is this state alone.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use umptcp_proto::{ConnectionId, MptcpEvent};

use crate::command::Command;

/// Received bytes the stack moves ahead of the application's reads (on
/// top of the core's receive buffer).
pub(crate) const RX_CAPACITY: usize = 256 * 1024;
/// Written bytes the stack holds before the core takes them.
pub(crate) const TX_CAPACITY: usize = 256 * 1024;
/// A write waits until this much room is free (or what it writes fits):
/// no stream of one-byte writes when the buffer is nearly full.
const TX_LOW_WATER: usize = TX_CAPACITY / 4;
/// Events each connection keeps for [`crate::Stream::events`]; older
/// ones are dropped first.
pub(crate) const MAX_KEPT_EVENTS: usize = 64;

/// A connection's shared state and its waiters.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: Mutex<ConnState>,
    changed: Condvar,
}

/// The state itself; the stack thread writes the first group, handles
/// the second.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    /// The core's id, once the stack has opened the connection.
    pub(crate) id: Option<ConnectionId>,
    /// Both ends, once established.
    pub(crate) opened: Option<(SocketAddr, SocketAddr)>,
    pub(crate) rx: VecDeque<u8>,
    /// The peer closed its side and every byte before it is in `rx`.
    pub(crate) eof: bool,
    /// Why the connection failed (reset, refused, timed out).
    pub(crate) failure: Option<(io::ErrorKind, String)>,
    /// The stack forgot the connection or stopped: nothing more comes.
    pub(crate) gone: bool,
    /// The stack left received bytes in the core because `rx` was full:
    /// a read that makes room rings it.
    pub(crate) rx_blocked: bool,
    pub(crate) events: VecDeque<MptcpEvent>,

    pub(crate) tx: VecDeque<u8>,
    pub(crate) shut_read: bool,
    pub(crate) shut_write: bool,
    /// A handle asked for a reset (`Stream::abort`).
    pub(crate) aborted: bool,
    /// Live handles (`Stream`s and halves); the last one gone closes the
    /// connection in the background.
    pub(crate) handles: usize,
    /// A handle was ever given out (a listener's connection not accepted
    /// yet has none, and is not closed for it).
    pub(crate) claimed: bool,
    /// A `Command::Ready` for this connection is on its way.
    pub(crate) rung: bool,
    pub(crate) read_waker: Option<Waker>,
    pub(crate) write_waker: Option<Waker>,
    /// The waker of a pending event stream's `next`.
    pub(crate) event_waker: Option<Waker>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection is gone")
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

impl ConnState {
    fn claim(&mut self) {
        self.handles += 1;
        self.claimed = true;
    }

    /// Every handle given out is gone: the stack closes the connection.
    pub(crate) fn abandoned(&self) -> bool {
        self.claimed && self.handles == 0
    }

    fn error(&self) -> io::Error {
        match &self.failure {
            Some((kind, msg)) => io::Error::new(*kind, msg.clone()),
            None => not_connected(),
        }
    }

    /// Take up to `buf.len()` received bytes; `None` if there are none
    /// yet and the stream has not ended.
    fn take_rx(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        if !self.rx.is_empty() {
            let n = buf.len().min(self.rx.len());
            let (a, b) = self.rx.as_slices();
            let from_a = n.min(a.len());
            buf[..from_a].copy_from_slice(&a[..from_a]);
            buf[from_a..n].copy_from_slice(&b[..n - from_a]);
            self.rx.drain(..n);
            return Some(Ok(n));
        }
        if self.eof || self.shut_read {
            return Some(Ok(0));
        }
        if self.failure.is_some() || self.gone {
            return Some(Err(self.error()));
        }
        None
    }

    /// Queue up to `data.len()` bytes to send; `None` while there is too
    /// little room.
    fn put_tx(&mut self, data: &[u8]) -> Option<io::Result<usize>> {
        if self.failure.is_some() || self.gone {
            return Some(Err(self.error()));
        }
        if self.shut_write {
            return Some(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "connection is closed for writing",
            )));
        }
        let room = TX_CAPACITY - self.tx.len();
        if room < data.len().min(TX_LOW_WATER) {
            return None;
        }
        let n = room.min(data.len());
        self.tx.extend(&data[..n]);
        Some(Ok(n))
    }
}

impl Shared {
    /// The state of a connection with one handle (a connect's).
    pub(crate) fn new() -> Arc<Self> {
        let shared = Shared::default();
        shared.lock().claim();
        Arc::new(shared)
    }

    /// The state of a listener's connection, no handle yet.
    pub(crate) fn unclaimed() -> Arc<Self> {
        Arc::new(Shared::default())
    }

    /// The state, for the stack thread.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ConnState> {
        lock(&self.state)
    }

    /// Wake every waiter (the stack thread, after a change, with the lock
    /// released).
    pub(crate) fn wake(&self, wakers: [Option<Waker>; 2]) {
        self.changed.notify_all();
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
    }

    /// The stack forgot the connection (or stopped): wake everyone, for
    /// good.
    pub(crate) fn set_gone(&self) {
        let wakers = {
            let mut st = self.lock();
            st.gone = true;
            if let Some(w) = st.event_waker.take() {
                w.wake();
            }
            [st.read_waker.take(), st.write_waker.take()]
        };
        self.wake(wakers);
    }

    /// The next event kept for the connection, taken (as
    /// [`Handle::events`] takes them); ready with `None` once the stack
    /// has forgotten the connection and none is left; else `cx`'s waker is
    /// kept for the next event.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn poll_event(&self, cx: &Context<'_>) -> Poll<Option<MptcpEvent>> {
        let mut st = self.lock();
        if let Some(event) = st.events.pop_front() {
            Poll::Ready(Some(event))
        } else if st.gone {
            Poll::Ready(None)
        } else {
            st.event_waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// Wait until `ready` gives an answer, or `timeout` passes (`None` as
    /// the answer then).
    fn wait<T>(
        &self,
        timeout: Option<Duration>,
        mut ready: impl FnMut(&mut ConnState) -> Option<T>,
    ) -> (MutexGuard<'_, ConnState>, Option<T>) {
        #[allow(clippy::disallowed_methods)] // the driver's handles wait in real time
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = lock(&self.state);
        loop {
            if let Some(answer) = ready(&mut st) {
                return (st, Some(answer));
            }
            match deadline {
                None => {
                    st = self
                        .changed
                        .wait(st)
                        .unwrap_or_else(PoisonError::into_inner)
                }
                Some(d) => {
                    #[allow(clippy::disallowed_methods)]
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return (st, None);
                    }
                    st = self
                        .changed
                        .wait_timeout(st, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }
}

/// A handle's side: the shared state and the way to ring the stack.
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) shared: Arc<Shared>,
    commands: Sender<Command>,
}

impl Handle {
    /// A handle on `shared`, which already counts it.
    pub(crate) fn new(shared: Arc<Shared>, commands: Sender<Command>) -> Self {
        Handle { shared, commands }
    }

    /// The stack's command channel, for requests beside the data.
    pub(crate) fn commands(&self) -> &Sender<Command> {
        &self.commands
    }

    /// One more handle on the same connection.
    pub(crate) fn try_clone(&self) -> io::Result<Self> {
        let mut st = self.shared.lock();
        if st.gone {
            return Err(not_connected());
        }
        st.handles += 1;
        drop(st);
        Ok(Handle {
            shared: Arc::clone(&self.shared),
            commands: self.commands.clone(),
        })
    }

    /// Tell the stack thread to look at the connection, once until it
    /// has.
    fn ring(&self, mut st: MutexGuard<'_, ConnState>) {
        if st.rung || st.gone {
            return;
        }
        let Some(id) = st.id else { return };
        st.rung = true;
        drop(st);
        // A stopped stack has nothing left to do with it.
        let _ = self.commands.send(Command::Ready(id));
    }

    /// Wait until the connection is established (both ends) or failed.
    pub(crate) fn wait_established(
        &self,
        timeout: Option<Duration>,
    ) -> io::Result<(SocketAddr, SocketAddr)> {
        let (st, answer) = self.shared.wait(timeout, |st| {
            if let Some(ends) = st.opened {
                Some(Ok(ends))
            } else if st.failure.is_some() || st.gone {
                Some(Err(st.error()))
            } else {
                None
            }
        });
        drop(st);
        answer.unwrap_or_else(|| Err(timed_out("connect")))
    }

    /// Established (both ends) or failed; else `cx`'s waker is kept and
    /// woken when it is (the stack wakes the writer then, as a socket
    /// becomes writable once connected).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn poll_established(
        &self,
        cx: &Context<'_>,
    ) -> Poll<io::Result<(SocketAddr, SocketAddr)>> {
        let mut st = self.shared.lock();
        if let Some(ends) = st.opened {
            Poll::Ready(Ok(ends))
        } else if st.failure.is_some() || st.gone {
            Poll::Ready(Err(st.error()))
        } else {
            st.write_waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    pub(crate) fn read(&self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (st, answer) = self.shared.wait(timeout, |st| st.take_rx(buf));
        let answer = answer.unwrap_or_else(|| Err(timed_out("read")));
        if st.rx_blocked && matches!(answer, Ok(n) if n > 0) {
            self.ring(st);
        }
        answer
    }

    pub(crate) fn poll_read(&self, cx: &Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut st = self.shared.lock();
        match st.take_rx(buf) {
            Some(answer) => {
                if st.rx_blocked && matches!(answer, Ok(n) if n > 0) {
                    self.ring(st);
                }
                Poll::Ready(answer)
            }
            None => {
                st.read_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    pub(crate) fn write(&self, data: &[u8], timeout: Option<Duration>) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let (st, answer) = self.shared.wait(timeout, |st| st.put_tx(data));
        let answer = answer.unwrap_or_else(|| Err(timed_out("write")));
        if answer.is_ok() {
            self.ring(st);
        }
        answer
    }

    pub(crate) fn poll_write(&self, cx: &Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut st = self.shared.lock();
        match st.put_tx(data) {
            Some(answer) => {
                if answer.is_ok() {
                    self.ring(st);
                }
                Poll::Ready(answer)
            }
            None => {
                st.write_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Shut down either half or both; the stack sends the DATA_FIN (or
    /// FIN) once the queued bytes are in the core.
    pub(crate) fn shutdown(&self, read: bool, write: bool) -> io::Result<()> {
        let mut st = self.shared.lock();
        if st.gone {
            return Err(not_connected());
        }
        st.shut_read |= read;
        st.shut_write |= write;
        if read {
            st.rx.clear();
        }
        self.ring(st);
        // Readers and writers of other handles learn it at once.
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Reset the connection: the stack aborts it at its next look, and
    /// every handle's reads and writes fail from now on.
    pub(crate) fn abort(&self) -> io::Result<()> {
        let mut st = self.shared.lock();
        if st.gone {
            return Err(not_connected());
        }
        st.aborted = true;
        st.tx.clear();
        st.rx.clear();
        if st.failure.is_none() {
            st.failure = Some((
                io::ErrorKind::ConnectionAborted,
                "connection aborted by this side".to_owned(),
            ));
        }
        let wakers = [st.read_waker.take(), st.write_waker.take()];
        self.ring(st);
        self.shared.changed.notify_all();
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
        Ok(())
    }

    /// The events recorded since the last call, oldest first.
    pub(crate) fn events(&self) -> Vec<MptcpEvent> {
        self.shared.lock().events.drain(..).collect()
    }

    /// The core's id of the connection, if it has one.
    pub(crate) fn id(&self) -> Option<ConnectionId> {
        self.shared.lock().id
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.handles = st.handles.saturating_sub(1);
        if st.handles == 0 {
            self.ring(st);
        }
    }
}

/// A connection a listener has established, waiting for `accept`.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) shared: Arc<Shared>,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
}

/// A listener's queue of established connections, shared by its handle
/// and the stack thread.
#[derive(Debug, Default)]
pub(crate) struct AcceptQueue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    queue: VecDeque<Accepted>,
    /// The listener is gone (closed, or the stack stopped).
    closed: bool,
    waker: Option<Waker>,
}

impl AcceptQueue {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(AcceptQueue::default())
    }

    /// Connections waiting for `accept`.
    pub(crate) fn len(&self) -> usize {
        lock(&self.state).queue.len()
    }

    /// The stack thread: one more established connection.
    pub(crate) fn push(&self, accepted: Accepted) {
        let waker = {
            let mut st = lock(&self.state);
            st.queue.push_back(accepted);
            st.waker.take()
        };
        self.changed.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The stack thread: the listener is gone; the connections nobody
    /// accepted, to reset.
    pub(crate) fn close(&self) -> Vec<Accepted> {
        let (left, waker) = {
            let mut st = lock(&self.state);
            st.closed = true;
            (st.queue.drain(..).collect(), st.waker.take())
        };
        self.changed.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
        left
    }

    fn take(st: &mut QueueState) -> Option<io::Result<Accepted>> {
        if let Some(a) = st.queue.pop_front() {
            a.shared.lock().claim();
            return Some(Ok(a));
        }
        st.closed.then(|| {
            Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "listener closed",
            ))
        })
    }

    /// The next connection, waiting at most `timeout`.
    pub(crate) fn accept(&self, timeout: Option<Duration>) -> io::Result<Accepted> {
        #[allow(clippy::disallowed_methods)] // the driver's handles wait in real time
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = lock(&self.state);
        loop {
            if let Some(answer) = Self::take(&mut st) {
                return answer;
            }
            match deadline {
                None => {
                    st = self
                        .changed
                        .wait(st)
                        .unwrap_or_else(PoisonError::into_inner)
                }
                Some(d) => {
                    #[allow(clippy::disallowed_methods)]
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(timed_out("accept"));
                    }
                    st = self
                        .changed
                        .wait_timeout(st, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }

    /// The next connection, or the waker left for when one comes.
    pub(crate) fn poll_accept(&self, cx: &Context<'_>) -> Poll<io::Result<Accepted>> {
        let mut st = lock(&self.state);
        match Self::take(&mut st) {
            Some(answer) => Poll::Ready(answer),
            None => {
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn handle() -> (Handle, crossbeam_channel::Receiver<Command>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Shared::new();
        shared.lock().id = Some(ConnectionId(7));
        (Handle::new(shared, tx), rx)
    }

    #[test]
    fn a_write_rings_the_stack_once_until_it_looked() {
        let (h, rx) = handle();
        assert_eq!(h.write(b"abc", None).unwrap(), 3);
        assert_eq!(h.write(b"def", None).unwrap(), 3);
        assert!(matches!(rx.try_recv(), Ok(Command::Ready(ConnectionId(7)))));
        assert!(rx.try_recv().is_err(), "rung twice");
        h.shared.lock().rung = false;
        h.write(b"g", None).unwrap();
        assert!(matches!(rx.try_recv(), Ok(Command::Ready(_))));
        assert_eq!(h.shared.lock().tx.len(), 7);
    }

    #[test]
    fn a_pending_read_leaves_a_waker_the_stack_wakes() {
        let (h, _rx) = handle();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let cx = Context::from_waker(&waker);
        let mut buf = [0; 8];
        assert!(h.poll_read(&cx, &mut buf).is_pending());
        // The stack thread delivers and wakes.
        let wakers = {
            let mut st = h.shared.lock();
            st.rx.extend(b"hello");
            [st.read_waker.take(), st.write_waker.take()]
        };
        h.shared.wake(wakers);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(h.poll_read(&cx, &mut buf), Poll::Ready(Ok(5))));
        assert_eq!(&buf[..5], b"hello");
    }

    #[test]
    fn a_full_send_buffer_makes_a_write_wait_and_time_out() {
        let (h, _rx) = handle();
        let big = vec![1; TX_CAPACITY];
        assert_eq!(h.write(&big, None).unwrap(), TX_CAPACITY);
        let e = h.write(b"x", Some(Duration::from_millis(20))).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        // Room below the low water is not enough for a large write...
        h.shared.lock().tx.drain(..10);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        assert!(
            h.poll_write(&Context::from_waker(&waker), &big)
                .is_pending()
        );
        // ...but it is for one that fits.
        assert!(matches!(
            h.poll_write(&Context::from_waker(&waker), &big[..10]),
            Poll::Ready(Ok(10))
        ));
    }

    #[test]
    fn end_of_stream_failure_and_gone_are_told_apart() {
        let (h, _rx) = handle();
        let mut buf = [0; 4];
        h.shared.lock().eof = true;
        assert_eq!(h.read(&mut buf, None).unwrap(), 0);
        let (h, _rx) = handle();
        h.shared.lock().failure = Some((io::ErrorKind::ConnectionReset, "reset".into()));
        assert_eq!(
            h.read(&mut buf, None).unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(
            h.write(b"x", None).unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
        let (h, _rx) = handle();
        h.shared.lock().gone = true;
        assert_eq!(
            h.read(&mut buf, None).unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );
    }

    #[test]
    fn the_last_handle_gone_rings_the_stack() {
        let (h, rx) = handle();
        let second = h.try_clone().unwrap();
        drop(h);
        assert!(rx.try_recv().is_err(), "one handle is left");
        drop(second);
        assert!(matches!(rx.try_recv(), Ok(Command::Ready(_))));
    }

    #[test]
    fn an_accepted_connection_is_claimed_and_a_closed_queue_answers() {
        let q = AcceptQueue::new();
        let addr: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let shared = Shared::unclaimed();
        assert!(!shared.lock().abandoned());
        q.push(Accepted {
            shared: Arc::clone(&shared),
            local: addr,
            remote: addr,
        });
        let a = q.accept(Some(Duration::ZERO)).unwrap();
        assert_eq!(a.shared.lock().handles, 1);
        assert_eq!(
            q.accept(Some(Duration::from_millis(5))).unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
        assert!(q.close().is_empty());
        assert_eq!(
            q.accept(None).unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );
    }

    #[test]
    fn a_blocked_reader_wakes_when_another_thread_delivers() {
        let (h, _rx) = handle();
        let shared = Arc::clone(&h.shared);
        let deliver = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            shared.lock().rx.extend(b"late");
            shared.wake([None, None]);
        });
        let mut buf = [0; 8];
        assert_eq!(h.read(&mut buf, Some(Duration::from_secs(10))).unwrap(), 4);
        deliver.join().unwrap();
    }
}
