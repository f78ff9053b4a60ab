//! Transparent capture: every TCP connection that programs' traffic brings
//! into one TUN device, whatever its destination, is carried to that
//! destination over the multipath stack (through the converter, or
//! straight over MPTCP). The programs are unmodified: a route into the
//! device is all they need.
//!
//! The device belongs to a stack of its own (plain TCP, one path), so
//! that the multipath stack never opens subflows over it nor announces
//! its address. Each client's SYN is held ([`umptcp_tun::IncomingSyn`])
//! until the destination has answered: a destination that refuses is a
//! reset to the client, as a direct connection would have seen, and a
//! client whose SYN/ACK arrives has a destination behind it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use umptcp_tun::{IncomingSyn, Listener, ListenerOptions, Stack, Stream};

use crate::socks5::Proxied;

/// Opens the upstream connection of a captured one, to the destination
/// the client meant to reach.
pub type Connector = dyn Fn(SocketAddr) -> io::Result<Stream> + Send + Sync;

/// A capture front: the listener taking every SYN one device brings.
pub struct Capture {
    /// Kept alive as long as the front: the device is this stack's.
    _stack: Arc<Stack>,
    listener: Listener,
    max_connections: usize,
    tally: Arc<crate::summary::Tally>,
}

impl Capture {
    /// Take every connection arriving by `device` of `stack` (a stack
    /// whose paths include that device), at most `max_connections` at
    /// once (a SYN beyond it is refused).
    ///
    /// # Errors
    ///
    /// The capture listener could not be opened: no such device on the
    /// stack, a capture listener already there, the stack stopped.
    pub fn bind(stack: Arc<Stack>, device: &str, max_connections: usize) -> io::Result<Capture> {
        let listener = Listener::capture(&stack, device, ListenerOptions::new().hold_syns())?;
        Ok(Capture {
            _stack: stack,
            listener,
            max_connections,
            tally: Arc::default(),
        })
    }

    /// Count into `tally` (another front's, for one summary of both).
    pub fn with_tally(mut self, tally: Arc<crate::summary::Tally>) -> Self {
        self.tally = tally;
        self
    }

    /// Serve captured connections until the listener fails (the stack
    /// stops): `connect` opens each one's upstream to the destination its
    /// client meant, and `report` is called once per finished connection,
    /// from its thread.
    ///
    /// # Errors
    ///
    /// The listener failed, or no thread could be started.
    pub fn run(
        self,
        connect: Arc<Connector>,
        report: impl Fn(&Proxied) + Send + Sync + 'static,
    ) -> io::Result<()> {
        let report = Arc::new(report);
        let active = Arc::new(AtomicUsize::new(0));
        loop {
            let syn = self.listener.incoming()?;
            if active.load(Ordering::Acquire) >= self.max_connections {
                // Each connection holds two threads and two stack
                // connections.
                let _ = syn.refuse();
                continue;
            }
            active.fetch_add(1, Ordering::AcqRel);
            self.tally.start();
            let (connect, report, active, tally) = (
                Arc::clone(&connect),
                Arc::clone(&report),
                Arc::clone(&active),
                Arc::clone(&self.tally),
            );
            std::thread::Builder::new()
                .name("umptcp-capture".to_owned())
                .spawn(move || {
                    let proxied = session(syn, &*connect);
                    active.fetch_sub(1, Ordering::AcqRel);
                    tally.finish(proxied.outcome.is_ok(), proxied.up, proxied.down);
                    report(&proxied);
                })?;
        }
    }
}

#[allow(clippy::disallowed_methods)] // the proxy application reads the clock
fn session(syn: IncomingSyn, connect: &Connector) -> Proxied {
    let started = Instant::now();
    let mut proxied = Proxied {
        client: syn.peer_addr(),
        // The captured SYN's destination is the one the client meant.
        destination: Some(syn.local_addr()),
        mptcp: false,
        subflows: 0,
        up: 0,
        down: 0,
        duration: Duration::ZERO,
        outcome: Ok(()),
    };
    proxied.outcome = relay(syn, connect, &mut proxied);
    proxied.duration = started.elapsed();
    proxied
}

fn relay(syn: IncomingSyn, connect: &Connector, proxied: &mut Proxied) -> Result<(), String> {
    let upstream = match connect(syn.local_addr()) {
        Ok(s) => s,
        Err(e) => {
            // The client sees what a direct connection would have: a
            // reset (its connect fails at once rather than timing out).
            let _ = syn.refuse();
            return Err(e.to_string());
        }
    };
    let client = syn
        .accept()
        .map_err(|e| format!("accepting the client: {e}"))?;
    let watch = upstream.try_clone().ok();
    // Client to upstream is up.
    let moved = crate::relay::streams(client, upstream);
    proxied.record(watch, moved)
}
