//! SYNs held for the application's decision ([`ListenerOptions::hold_syns`]):
//! the stack answers nothing until [`IncomingSyn::accept`] (the SYN/ACK
//! goes then), [`IncomingSyn::refuse`] (a reset) or a drop (ignored, as a
//! full backlog does). What an RFC 8803 converter needs: it reads the
//! Convert message off the SYN's data, reaches the server first, and only
//! then answers the client.
//!
//! [`ListenerOptions::hold_syns`]: crate::ListenerOptions::hold_syns

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::Stream;
use crate::command::Command;
use crate::readiness::{Handle, Shared};

/// What the application decided for a held SYN.
#[derive(Debug)]
pub(crate) enum SynDecision {
    /// Build the connection (its SYN/ACK goes now) on this shared state.
    Accept(Arc<Shared>),
    /// A reset answers it.
    Refuse,
    /// Nothing is sent.
    Ignore,
}

/// A SYN a listener holds: who sent it, to where, with what, until the
/// application decides. Dropping it ignores the SYN (a client that sends
/// it again is held again).
#[derive(Debug)]
pub struct IncomingSyn {
    key: u64,
    local: SocketAddr,
    remote: SocketAddr,
    offers_mptcp: bool,
    payload: Vec<u8>,
    tcp_options: Vec<u8>,
    commands: Sender<Command>,
    decided: bool,
}

/// What the stack thread tells of a held SYN.
#[derive(Debug)]
pub(crate) struct HeldSyn {
    pub(crate) key: u64,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) offers_mptcp: bool,
    pub(crate) payload: Vec<u8>,
    pub(crate) tcp_options: Vec<u8>,
}

impl IncomingSyn {
    pub(crate) fn new(held: HeldSyn, commands: Sender<Command>) -> Self {
        let HeldSyn {
            key,
            local,
            remote,
            offers_mptcp,
            payload,
            tcp_options,
        } = held;
        IncomingSyn {
            key,
            local,
            remote,
            offers_mptcp,
            payload,
            tcp_options,
            commands,
            decided: false,
        }
    }

    /// The address the SYN is for (ours; with capture, where the peer
    /// meant to go).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The SYN's source.
    pub fn peer_addr(&self) -> SocketAddr {
        self.remote
    }

    /// Whether the SYN offers MPTCP (MP_CAPABLE).
    pub fn offers_mptcp(&self) -> bool {
        self.offers_mptcp
    }

    /// The SYN's data (TCP Fast Open, or an RFC 8803 Convert message sent
    /// without a cookie). Once accepted, the stream's first bytes are
    /// these (with a listener that takes SYN data).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The SYN's TCP options, as on the wire.
    pub fn tcp_options(&self) -> &[u8] {
        &self.tcp_options
    }

    fn decide(&mut self, decision: SynDecision) -> io::Result<()> {
        self.decided = true;
        self.commands
            .send(Command::DecideSyn {
                key: self.key,
                decision,
            })
            .map_err(|_| io::Error::new(io::ErrorKind::NotConnected, "the stack has stopped"))
    }

    /// Answer the SYN: the connection is built and its SYN/ACK sent now.
    /// The stream is returned at once; reads and writes wait for the
    /// handshake as on any new connection, and fail if it fails.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the stack has stopped.
    pub fn accept(mut self) -> io::Result<Stream> {
        let shared = Shared::new();
        self.decide(SynDecision::Accept(Arc::clone(&shared)))?;
        let commands = self.commands.clone();
        Ok(Stream::from_held(
            Handle::new(shared, commands),
            self.local,
            self.remote,
        ))
    }

    /// Refuse the SYN with a reset.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the stack has stopped.
    pub fn refuse(mut self) -> io::Result<()> {
        self.decide(SynDecision::Refuse)
    }
}

impl Drop for IncomingSyn {
    fn drop(&mut self) {
        if !self.decided {
            let _ = self.decide(SynDecision::Ignore);
        }
    }
}

/// A holding listener's queue of SYNs, shared by its handle and the stack
/// thread.
#[derive(Debug, Default)]
pub(crate) struct SynQueue {
    state: Mutex<SynQueueState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct SynQueueState {
    queue: VecDeque<HeldSyn>,
    closed: bool,
}

fn lock(m: &Mutex<SynQueueState>) -> MutexGuard<'_, SynQueueState> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SynQueue {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(SynQueue::default())
    }

    /// The stack thread: one more SYN to decide.
    pub(crate) fn push(&self, syn: HeldSyn) {
        lock(&self.state).queue.push_back(syn);
        self.changed.notify_all();
    }

    /// The listener is gone (the stack forgets what waits).
    pub(crate) fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        st.queue.clear();
        drop(st);
        self.changed.notify_all();
    }

    /// The next held SYN, waiting at most `timeout` (`None`: forever).
    pub(crate) fn next(&self, timeout: Option<Duration>) -> io::Result<HeldSyn> {
        #[allow(clippy::disallowed_methods)] // the driver's handles wait in real time
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut st = lock(&self.state);
        loop {
            if let Some(syn) = st.queue.pop_front() {
                return Ok(syn);
            }
            if st.closed {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the listener is closed",
                ));
            }
            st = match deadline {
                None => self
                    .changed
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    #[allow(clippy::disallowed_methods)]
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no SYN came in time",
                        ));
                    }
                    self.changed
                        .wait_timeout(st, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}
