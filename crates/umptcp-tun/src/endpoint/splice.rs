//! Splices on the stack thread: a connection's received bytes go straight
//! from its core into its partner's, one copy through the stack's scratch
//! buffer, never through the application's shared buffers or threads.

use std::io;
use std::sync::Arc;

use umptcp_proto::ConnectionId;

use super::Endpoint;
use crate::splice::SpliceState;
use crate::stream::Stream;

/// One side of a splice, kept in its connection's slot.
#[derive(Debug)]
pub(super) struct SpliceLink {
    pub(super) partner: ConnectionId,
    /// Bytes this connection received and handed to the partner.
    moved: u64,
    /// This connection's end of stream went across: the partner was shut
    /// down for writing after the last byte.
    passed_eof: bool,
    /// The first stream of `Stack::splice` (its count comes first).
    first: bool,
    state: Arc<SpliceState>,
    /// The application's stream, held so that the connection stays
    /// claimed (not orphaned) while spliced.
    guard: Option<Stream>,
}

impl Endpoint {
    /// Join the connections of `a` and `b`.
    pub(super) fn start_splice(&mut self, a: Stream, b: Stream, state: Arc<SpliceState>) {
        let ids = (a.core_id(), b.core_id());
        let (Some(ia), Some(ib)) = ids else {
            state.finish(Err((
                io::ErrorKind::NotConnected,
                "connection is gone".into(),
            )));
            return;
        };
        // The slot must be this very stream's (a stream of another stack
        // could carry the same id).
        let usable = |e: &Endpoint, id, stream: &Stream| {
            e.slots.get(&id).is_some_and(|s| {
                s.splice.is_none() && !s.finished && Arc::ptr_eq(&s.shared, &stream.shared())
            })
        };
        if ia == ib || !usable(self, ia, &a) || !usable(self, ib, &b) {
            state.finish(Err((
                io::ErrorKind::InvalidInput,
                "a splice takes two open connections of this stack, not spliced yet".into(),
            )));
            return;
        }
        for (id, partner, stream, first) in [(ia, ib, a, true), (ib, ia, b, false)] {
            if let Some(slot) = self.slots.get_mut(&id) {
                slot.splice = Some(SpliceLink {
                    partner,
                    moved: 0,
                    passed_eof: false,
                    first,
                    state: Arc::clone(&state),
                    guard: Some(stream),
                });
            }
            self.mark_dirty(id);
        }
    }

    /// Move what can move for the spliced connections served this round,
    /// both ways, and end the splices that are done.
    pub(super) fn run_splices(&mut self) {
        let mut work = std::mem::take(&mut self.splice_work);
        for &id in &work {
            let Some(partner) = self
                .slots
                .get(&id)
                .and_then(|s| s.splice.as_ref())
                .map(|l| l.partner)
            else {
                continue;
            };
            self.pump(id, partner);
            self.pump(partner, id);
            self.settle_splice(id, partner);
        }
        work.clear();
        self.splice_work = work;
    }

    /// Hand `from`'s received bytes to `to`, as far as `to` has room.
    fn pump(&mut self, from: ConnectionId, to: ConnectionId) {
        let scratch_len = self.scratch.len();
        let mut moved = 0u64;
        loop {
            let room = self.core.connection(to).map_or(0, |c| c.writable());
            let want = room.min(scratch_len);
            if want == 0 {
                break;
            }
            // Bytes the stack moved to the application's side before the
            // splice go first.
            let mut n = self.slots.get(&from).map_or(0, |s| {
                let mut st = s.shared.lock();
                let n = want.min(st.rx.len());
                for (dst, src) in self.scratch[..n].iter_mut().zip(st.rx.drain(..n)) {
                    *dst = src;
                }
                n
            });
            if n == 0 {
                n = self
                    .core
                    .connection(from)
                    .map_or(0, |c| c.read(&mut self.scratch[..want]));
            }
            if n == 0 {
                break;
            }
            if let Some(c) = self.core.connection(to) {
                let taken = c.write(&self.scratch[..n]);
                debug_assert_eq!(taken, n, "bounded by writable");
            }
            moved += n as u64;
        }
        let waiting = self.core.connection(from).map_or(0, |c| c.readable()) > 0
            || self
                .slots
                .get(&from)
                .is_some_and(|s| !s.shared.lock().rx.is_empty());
        if waiting {
            // No room in `to`: a refused write makes the core report
            // `Writable` when room opens (a DATA_ACK over MPTCP, the
            // subflow taking bytes over plain TCP), and that serves the
            // splice again.
            if let Some(c) = self.core.connection(to) {
                let _ = c.write(&[0]);
            }
        }
        let eof = self.slots.get(&from).is_some_and(|s| s.eof) && !waiting;
        let to_open = self
            .slots
            .get(&to)
            .is_some_and(|s| !s.write_shut && !s.finished);
        if eof && to_open {
            if let Some(c) = self.core.connection(to) {
                c.shutdown();
            }
            if let Some(s) = self.slots.get_mut(&to) {
                s.write_shut = true;
            }
        }
        if let Some(link) = self.slots.get_mut(&from).and_then(|s| s.splice.as_mut()) {
            link.moved += moved;
            link.passed_eof |= eof;
        }
    }

    /// End the splice of `a` and `b` if both directions ended, or one
    /// connection failed (the other is reset then).
    fn settle_splice(&mut self, a: ConnectionId, b: ConnectionId) {
        let failure = |e: &Endpoint, id| {
            e.slots.get(&id).and_then(|s| {
                let link = s.splice.as_ref()?;
                (s.finished && !link.passed_eof).then(|| {
                    s.failure.map_or(
                        (
                            io::ErrorKind::ConnectionAborted,
                            "connection closed mid-splice".into(),
                        ),
                        |(kind, msg)| (kind, msg.to_owned()),
                    )
                })
            })
        };
        let done = |e: &Endpoint, id| {
            e.slots
                .get(&id)
                .and_then(|s| s.splice.as_ref())
                .is_some_and(|l| l.passed_eof)
        };
        let outcome = if let Some(err) = failure(self, a).or_else(|| failure(self, b)) {
            for id in [a, b] {
                if let Some(c) = self.core.connection(id) {
                    c.abort();
                }
            }
            Err(err)
        } else if done(self, a) && done(self, b) {
            let moved = |e: &Endpoint, id| {
                e.slots
                    .get(&id)
                    .and_then(|s| s.splice.as_ref())
                    .map_or((true, 0), |l| (l.first, l.moved))
            };
            let (a_first, a_moved) = moved(self, a);
            let (_, b_moved) = moved(self, b);
            Ok(if a_first {
                (a_moved, b_moved)
            } else {
                (b_moved, a_moved)
            })
        } else {
            return;
        };
        let mut guards = Vec::with_capacity(2);
        for id in [a, b] {
            if let Some(mut link) = self.slots.get_mut(&id).and_then(|s| s.splice.take()) {
                link.state.finish(outcome.clone());
                guards.extend(link.guard.take());
            }
            self.mark_dirty(id);
        }
        // The streams go now: their connections close as orphans do.
        drop(guards);
    }
}
