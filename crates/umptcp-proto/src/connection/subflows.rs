//! The connection's subflows: opening and accepting joins (MP_JOIN,
//! §3.2), closing and resetting them, their events, and the congestion
//! controller they share.

use umptcp_cc::CongestionEvent;
use umptcp_tcp::{Connection, Event, FourTuple, IsnKey, State};
use umptcp_time::Instant;
use umptcp_wire::mptcp::{MpJoin, TcpRstReason};
use umptcp_wire::{AddrId, Nonce, Segment};

use crate::event::MptcpEvent;
use crate::handshake::FallbackReason;
use crate::join::{JoinError, JoinInitiator, JoinParams, JoinResponder};
use crate::scheduler::SubflowId;

use crate::trace;

use super::close::Orphaned;
use super::input::IncomingOptions;
use super::subflow::{Origin, Subflow, SubflowError};
use super::{Mode, MptcpConnection, Role};

impl MptcpConnection {
    pub(super) fn live_subflows(&self) -> usize {
        self.subflows.iter().filter(|s| !s.gone).count()
    }

    /// Room for one more subflow with `tuple`: forget closed joined
    /// subflows, then check the limit and uniqueness.
    fn make_room(&mut self, tuple: FourTuple) -> Result<(), SubflowError> {
        if self.mode != Mode::Mptcp || self.peer_key.is_none() || self.closed {
            return Err(SubflowError::NotMptcp);
        }
        if self.is_closing() {
            return Err(SubflowError::Closing);
        }
        self.subflows.retain(|s| s.is_initial() || !s.gone);
        self.tx_cursor = 0;
        if self.live_subflows() >= self.config.max_subflows {
            return Err(SubflowError::Limit);
        }
        if self.subflows.iter().any(|s| s.tcp.four_tuple() == tuple) {
            return Err(SubflowError::Duplicate);
        }
        Ok(())
    }

    fn add_subflow(&mut self, mut sub: Subflow, now: Instant) -> SubflowId {
        let id = sub.id;
        // Wrapping: ids only need to differ from those alive (at most
        // `max_subflows`), and a peer must not be able to overflow it.
        self.next_subflow_id = self.next_subflow_id.wrapping_add(1).max(1);
        sub.tcp.set_congestion_window(sub.tcp.cwnd());
        self.cc.add_path(&sub.tcp.path_info(sub.path), now);
        sub.span = super::subflow_span(&self.span, id, sub.tcp.four_tuple());
        trace::log_event!(parent: &sub.span, tracing::Level::DEBUG, origin = ?sub.origin_kind(), "subflow opens");
        self.subflows.push(sub);
        // A second subflow: its bytes and the first one's interleave in
        // the data stream, which neither subflow's stream is any more.
        self.fallback.allow_infinite = false;
        id
    }

    /// Open a new subflow over `tuple` with MP_JOIN (RFC 8684 §3.2).
    /// `nonce` is fresh randomness from the caller; `local_id` is the
    /// address ID of `tuple.local` (0 for the initial subflow's address).
    /// A client's SYN waits until the server has shown it knows our key.
    ///
    /// # Errors
    ///
    /// [`SubflowError`] if the connection does not speak MPTCP, the limit
    /// is reached, the four-tuple is in use, or the engine refuses it.
    pub fn open_subflow(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        isn_key: IsnKey,
        nonce: Nonce,
        local_id: AddrId,
        backup: bool,
    ) -> Result<SubflowId, SubflowError> {
        self.make_room(tuple)?;
        let peer_key = self.peer_key.ok_or(SubflowError::NotMptcp)?;
        let tcp = Connection::connect(self.config.tcp.clone(), tuple, isn_key, now)?;
        let join = JoinInitiator::new(
            self.local_key,
            peer_key,
            nonce,
            JoinParams {
                addr_id: local_id,
                backup,
            },
        );
        let id = SubflowId(self.next_subflow_id);
        let mut sub = Subflow::new(id, tcp, &self.config, Origin::Initiator(join));
        sub.local_id = local_id;
        sub.local_backup = backup;
        Ok(self.add_subflow(sub, now))
    }

    /// Answer a SYN carrying MP_JOIN with this connection's token (the
    /// endpoint found the connection by it). `nonce` is fresh randomness
    /// from the caller; `local_id` is the ID of the address the SYN came
    /// to, unless we announced that address under another.
    ///
    /// # Errors
    ///
    /// [`SubflowError`]; the caller refuses the SYN with a reset carrying
    /// [`SubflowError::reset_reason`].
    pub fn accept_join(
        &mut self,
        now: Instant,
        syn: &Segment<'_>,
        isn_key: IsnKey,
        nonce: Nonce,
        local_id: AddrId,
    ) -> Result<SubflowId, SubflowError> {
        let Some(join @ MpJoin::Syn { token, .. }) = IncomingOptions::of(syn).join else {
            return Err(SubflowError::NotAJoin);
        };
        if token != umptcp_crypto::token(self.local_key) {
            return Err(SubflowError::NotAJoin);
        }
        let tuple = FourTuple {
            local: std::net::SocketAddr::new(syn.dst(), syn.dst_port()),
            remote: std::net::SocketAddr::new(syn.src(), syn.src_port()),
        };
        self.make_room(tuple)?;
        let peer_key = self.peer_key.ok_or(SubflowError::NotMptcp)?;
        // A join to an address we announced carries its ID.
        let local_id = self.signals.local_id_of(tuple.local).unwrap_or(local_id);
        let params = JoinParams {
            addr_id: local_id,
            backup: false,
        };
        let responder = JoinResponder::new(&join, self.local_key, peer_key, nonce, params)
            .map_err(|_| SubflowError::NotAJoin)?;
        let tcp = Connection::accept(self.config.tcp.clone(), syn, isn_key, now)?;
        let id = SubflowId(self.next_subflow_id);
        let peer = responder.peer();
        let mut sub = Subflow::new(id, tcp, &self.config, Origin::Responder(responder));
        sub.local_id = local_id;
        sub.remote_id = Some(peer.addr_id);
        sub.peer_backup = peer.backup;
        Ok(self.add_subflow(sub, now))
    }

    /// Close one subflow with a FIN; the connection goes on over the
    /// others, and the data outstanding on it is sent again there.
    pub fn close_subflow(&mut self, id: SubflowId) {
        if let Some(i) = self.subflows.iter().position(|s| s.id == id && !s.gone) {
            let sub = &mut self.subflows[i];
            sub.usable = false;
            sub.tcp.shutdown();
            self.reinject_outstanding();
        }
    }

    /// Make subflow `id` a backup, or a regular subflow again, and tell
    /// the peer with MP_PRIO (§3.3.8). A backup carries data only while
    /// no regular subflow is established.
    pub fn set_backup(&mut self, id: SubflowId, backup: bool) {
        if let Some(sub) = self.subflows.iter_mut().find(|s| s.id == id && !s.gone) {
            sub.local_backup = backup;
            sub.prio_pending = true;
            sub.tcp.request_ack();
        }
    }

    /// Reset one subflow with MP_TCPRST `reason` (§3.6).
    pub fn reset_subflow(&mut self, id: SubflowId, reason: TcpRstReason) {
        if let Some(i) = self.subflows.iter().position(|s| s.id == id && !s.gone) {
            self.reset_subflow_at(i, reason);
        }
    }

    pub(super) fn reset_subflow_at(&mut self, i: usize, reason: TcpRstReason) {
        let sub = &mut self.subflows[i];
        trace::log_event!(parent: &sub.span, tracing::Level::DEBUG, ?reason, "subflow reset");
        sub.rst_reason = Some(reason);
        sub.usable = false;
        sub.tcp.abort();
        // The engine reports `Closed`; `subflow_events` turns it into
        // `SubflowClosed` and reinjects.
    }

    /// Everything not DATA_ACKed goes again on whichever subflows remain
    /// (duplicates are harmless: the receiver keeps the first copy).
    pub(super) fn reinject_outstanding(&mut self) {
        if self.send.data_nxt != self.send.data_una {
            self.send.reinject = Some((self.send.data_una, self.send.data_nxt));
            self.fallback.allow_infinite = false;
        }
    }

    /// The subflow that carries connection-level signals (DATA_ACK,
    /// DATA_FIN) on a pure ACK: the first usable one that is not stale (a
    /// path that stopped answering would swallow them), else the first
    /// usable one.
    pub(super) fn signal_subflow(&mut self) -> Option<&mut Subflow> {
        let i = self
            .subflows
            .iter()
            .position(|s| s.can_send() && !s.stale)
            .or_else(|| self.subflows.iter().position(Subflow::can_send))
            .or_else(|| self.subflows.iter().position(|s| !s.gone))?;
        Some(&mut self.subflows[i])
    }

    /// A joined subflow's handshake, past the SYN (§3.2).
    pub(super) fn on_join_step(
        &mut self,
        now: Instant,
        i: usize,
        syn: bool,
        join: Option<&MpJoin>,
    ) {
        let sub = &mut self.subflows[i];
        let result = match &mut sub.origin {
            Origin::Initiator(initiator) if syn => {
                // The SYN/ACK: its HMAC proves the peer knows the keys.
                match join.map(|j| initiator.on_syn_ack(j)) {
                    Some(Ok(peer)) => {
                        sub.remote_id = Some(peer.addr_id);
                        sub.peer_backup = peer.backup;
                        sub.join_ack_timer = Some(now + sub.tcp.rto());
                        Ok(false)
                    }
                    Some(Err(e)) => Err(e),
                    None => Err(JoinError::UnexpectedForm),
                }
            }
            // Any later segment acknowledges our third ACK: the subflow
            // may carry data now.
            Origin::Initiator(_) => Ok(true),
            Origin::Responder(responder) => match join.map(|j| responder.on_ack(j)) {
                Some(Ok(())) => {
                    // The fourth ACK tells the initiator it may send.
                    sub.tcp.request_ack();
                    Ok(true)
                }
                Some(Err(e)) => Err(e),
                None => Err(JoinError::UnexpectedForm),
            },
            Origin::Initial => Ok(false),
        };
        match result {
            Ok(true) => {
                sub.usable = true;
                sub.joined = true;
                sub.join_ack_timer = None;
                let id = sub.id;
                self.closing.orphaned = None;
                self.push_event(MptcpEvent::SubflowEstablished(id));
            }
            Ok(false) => {}
            Err(e) => self.reset_subflow_at(i, e.reset_reason()),
        }
    }

    pub(super) fn subflow_events(&mut self, now: Instant) {
        for i in 0..self.subflows.len() {
            while let Some(event) = self.subflows[i].tcp.poll_event() {
                self.on_subflow_event(now, i, event);
            }
            // An engine can reach CLOSED without an event to say so (a
            // reset of a subflow that had already closed its side, say):
            // its state is what counts.
            if !self.subflows[i].gone && self.subflows[i].tcp.state() == State::Closed {
                self.subflow_gone(now, i, None);
            }
        }
        if !self.closed && self.closing.orphaned.is_none() && self.subflows.iter().all(|s| s.gone) {
            self.closed = true;
            self.push_event(MptcpEvent::Closed);
        }
    }

    fn on_subflow_event(&mut self, now: Instant, i: usize, event: Event) {
        let fallback = matches!(self.mode, Mode::Fallback(_));
        match event {
            Event::Connected => {
                // A client that fell back on the SYN/ACK reported it
                // there; one that was plain before it had a SYN/ACK (its
                // MP_CAPABLE SYNs went unanswered, or it never sent one)
                // reports it now.
                let reported = self.role == Role::Client
                    && !matches!(
                        self.fallback_reason(),
                        Some(FallbackReason::SynBlackhole | FallbackReason::NotRequested)
                    );
                if fallback && i == 0 && !reported {
                    self.push_event(MptcpEvent::Connected { mptcp: false });
                }
            }
            Event::Writable | Event::Readable => {}
            Event::PeerClosed => {
                self.subflows[i].fin_received = true;
                if fallback {
                    self.recv.fallback_fin = true;
                    if !self.recv.peer_closed && self.subflows[0].tcp.readable() == 0 {
                        self.recv.peer_closed = true;
                        self.push_event(MptcpEvent::PeerClosed);
                    }
                } else if self.live_subflows() > 1 {
                    // The peer closes this subflow while the connection
                    // goes on (the data-level close is the DATA_FIN):
                    // close our side too and move its data elsewhere.
                    let sub = &mut self.subflows[i];
                    sub.usable = false;
                    sub.tcp.shutdown();
                    self.reinject_outstanding();
                }
            }
            Event::Closed => self.subflow_gone(now, i, None),
            Event::Reset => self.subflow_gone(now, i, Some(MptcpEvent::Reset)),
            Event::TimedOut => self.subflow_gone(now, i, Some(MptcpEvent::TimedOut)),
        }
    }

    /// Subflow `i` finished; `failure` is what it means for the connection
    /// if it was the last one.
    fn subflow_gone(&mut self, now: Instant, i: usize, failure: Option<MptcpEvent>) {
        let sub = &mut self.subflows[i];
        if sub.gone {
            return;
        }
        sub.gone = true;
        sub.usable = false;
        // FINs both ways: the peer closed it; not a reset of ours (a join
        // reset for not being finished says nothing about the peer).
        let clean = failure.is_none() && sub.fin_received && sub.rst_reason.is_none();
        let (id, path) = (sub.id, sub.path);
        let others = self.live_subflows() > 0;
        if others {
            self.cc.remove_path(path);
            self.push_event(MptcpEvent::SubflowClosed(id));
            self.reinject_outstanding();
            if clean && self.closing.data_fin_acked && self.recv.peer_closed {
                // This subflow closed cleanly after both DATA_FINs: the
                // peer is done. Paths that stopped answering are reset
                // rather than waited for.
                self.closing.closed_cleanly = true;
                for k in 0..self.subflows.len() {
                    if !self.subflows[k].gone && self.subflows[k].stale {
                        self.reset_subflow_at(k, TcpRstReason::Unspecified);
                    }
                }
            }
            return;
        }
        if self.closed {
            return;
        }
        // Once both DATA_FINs are acknowledged the connection is complete,
        // whatever happens to its last subflow.
        let complete = self.closing.data_fin_acked && self.recv.peer_closed;
        // RFC 8684 §3.3.3: with every subflow closed but the data not
        // through, the connection is closed only after a timeout, so that
        // a new subflow can take over (break-before-make). Like the
        // kernel's `close_timeout`, this holds however the last subflow
        // ended; only an MPTCP connection can take a join.
        let joinable = self.mode == Mode::Mptcp && self.peer_key.is_some();
        if !complete && joinable && !self.config.close_timeout.is_zero() {
            self.cc.remove_path(path);
            self.push_event(MptcpEvent::SubflowClosed(id));
            self.reinject_outstanding();
            self.closing.orphaned = Some(Orphaned {
                deadline: now + self.config.close_timeout,
                failure: failure.unwrap_or(MptcpEvent::TimedOut),
            });
            return;
        }
        match failure {
            Some(event) if !complete => {
                self.closed = true;
                self.push_event(event);
            }
            _ => {
                self.closed = true;
                self.push_event(MptcpEvent::Closed);
            }
        }
    }

    /// What the controller sees of every live subflow, into the reused
    /// `path_infos`.
    pub(super) fn refresh_path_infos(&mut self) {
        self.path_infos.clear();
        self.path_infos.extend(
            self.subflows
                .iter()
                .filter(|s| !s.gone)
                .map(|s| s.tcp.path_info(s.path)),
        );
    }

    pub(super) fn feed_controller(&mut self) {
        let mut changed = false;
        for i in 0..self.subflows.len() {
            while let Some(event) = self.subflows[i].tcp.poll_congestion_event() {
                self.refresh_path_infos();
                let path = self.subflows[i].path;
                self.cc.on_event(path, &event, &self.path_infos);
                changed = true;
                match event {
                    CongestionEvent::RetransmissionTimeout { .. } => self.on_subflow_rto(i),
                    CongestionEvent::Ack { bytes_acked, .. } if bytes_acked > 0 => {
                        self.subflows[i].stale = false;
                    }
                    _ => {}
                }
            }
        }
        if changed {
            // A coupled controller may move every window.
            for sub in self.subflows.iter_mut().filter(|s| !s.gone) {
                sub.tcp.set_congestion_window(self.cc.window(sub.path));
            }
        }
    }

    /// Subflow `i` timed out once: if another subflow can carry data, send
    /// what is outstanding there too rather than wait for this path
    /// (RFC 8684 §3.3.6; Linux reinjects on its MPTCP-level timer).
    fn on_subflow_rto(&mut self, i: usize) {
        self.subflows[i].stale = true;
        if self.closing.closed_cleanly {
            // Another subflow closed with FINs both ways after both
            // DATA_FINs, so the peer is done too (it closes subflows only
            // then): do not wait minutes for this path. Before that the
            // peer may still need our DATA_ACK, and a reset would cost it
            // the connection.
            self.reset_subflow_at(i, TcpRstReason::Unspecified);
            return;
        }
        let other = self
            .subflows
            .iter()
            .enumerate()
            .any(|(k, s)| k != i && s.can_send() && !s.stale);
        if other && self.mode == Mode::Mptcp {
            self.reinject_outstanding();
        }
    }
}
