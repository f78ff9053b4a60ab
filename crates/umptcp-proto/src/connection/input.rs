//! `handle_segment`: the MPTCP options of an incoming segment, the
//! MP_CAPABLE handshake (the SYN/ACK, the third ACK), and DSS.

use umptcp_tcp::{State, SubflowSeq};
use umptcp_time::Instant;
use umptcp_wire::mptcp::{
    AddAddr, Dss, MpCapable, MpFail, MpFastclose, MpJoin, MpPrio, MptcpOption,
};
use umptcp_wire::segment::TcpFlags;
use umptcp_wire::{AddrId, Key, Segment, TcpOption};

use crate::data_seq::{DataSeq, expand, first_data_seq};
use crate::event::{MptcpEvent, Violation};
use crate::handshake::{self, FallbackReason, Negotiated};
use crate::mapping::RxMapping;
use crate::reassembly::Reassembly;

use super::receive::Incoming;
use super::{Mode, MptcpConnection, Role};

/// The MPTCP options of one incoming segment that this layer acts on.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct IncomingOptions {
    pub(super) capable: Option<MpCapable>,
    pub(super) join: Option<MpJoin>,
    pub(super) dss: Option<Dss>,
    pub(super) fastclose: Option<MpFastclose>,
    pub(super) fail: Option<MpFail>,
    /// Any MPTCP option at all.
    pub(super) any: bool,
    pub(super) add_addr: Option<AddAddr>,
    pub(super) prio: Option<MpPrio>,
    /// REMOVE_ADDR's IDs (the first few; more in one option are rare).
    pub(super) removed: [u8; 8],
    pub(super) removed_len: usize,
}

impl IncomingOptions {
    pub(super) fn of(segment: &Segment<'_>) -> Self {
        let mut out = IncomingOptions::default();
        // Malformed options are ignored one by one (RFC 8684 §3: an
        // invalid option is treated as absent).
        for option in segment.options().flatten() {
            if matches!(option, TcpOption::Mptcp(_)) {
                out.any = true;
            }
            match option {
                TcpOption::Mptcp(MptcpOption::MpFail(f)) => out.fail = Some(f),
                TcpOption::Mptcp(MptcpOption::MpCapable(c)) if out.capable.is_none() => {
                    out.capable = Some(c);
                }
                TcpOption::Mptcp(MptcpOption::MpJoin(j)) if out.join.is_none() => {
                    out.join = Some(j);
                }
                TcpOption::Mptcp(MptcpOption::Dss(d)) if out.dss.is_none() => out.dss = Some(d),
                TcpOption::Mptcp(MptcpOption::MpFastclose(f)) => out.fastclose = Some(f),
                TcpOption::Mptcp(MptcpOption::AddAddr(a)) => out.add_addr = Some(a),
                TcpOption::Mptcp(MptcpOption::MpPrio(p)) => out.prio = Some(p),
                TcpOption::Mptcp(MptcpOption::RemoveAddr(r)) => {
                    for id in r.iter() {
                        if out.removed_len < out.removed.len() {
                            out.removed[out.removed_len] = id.0;
                            out.removed_len += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}

impl MptcpConnection {
    /// Process one segment of this connection's subflows; returns `false`
    /// if no subflow has its four-tuple (the caller routes it elsewhere).
    pub fn handle_segment(&mut self, now: Instant, segment: &Segment<'_>) -> bool {
        let Some(i) = self
            .subflows
            .iter()
            .position(|s| !s.gone && s.owns(segment))
        else {
            return false;
        };
        if self.closed {
            return true;
        }
        // RFC 8684's options ride on TCP segments: one that fails TCP's
        // acceptability tests (RFC 9293 §3.10.7.4, RFC 5961's RST, SYN
        // and ACK checks, PAWS) changes nothing here, neither by its
        // options nor by their absence. Otherwise an off-path attacker
        // who knows only the four-tuple could abort the connection (a
        // bogus mapping), fall it back (an MP_FAIL, data without DSS) or
        // make the two ends disagree on fallback and corrupt the stream.
        // The subflow still answers it (an ACK, a challenge ACK).
        let flags = segment.flags();
        if self.subflows[i].tcp.state() == State::SynSent
            && flags.contains(TcpFlags::SYN)
            && !flags.intersects(TcpFlags::ACK | TcpFlags::RST)
            && (i > 0 || self.mode == Mode::Handshake)
        {
            // A SYN without ACK in SYN-SENT is a simultaneous open to TCP
            // (RFC 9293 §3.5), whatever its sequence number: an off-path
            // attacker could use one to turn a join or an MP_CAPABLE
            // handshake into something RFC 8684 does not define and have
            // its options acted on. MPTCP has no simultaneous open (Linux
            // refuses it too): dropped.
            return true;
        }
        if i == 0
            && self.role == Role::Client
            && self.send_keys
            && segment.flags().contains(TcpFlags::SYN | TcpFlags::ACK)
            && self.subflows[0].tcp.state().is_synchronized()
            && SubflowSeq(segment.seq()) == self.subflows[0].tcp.irs()
        {
            // The server sent its SYN/ACK again: it has not seen our keys
            // (§3.1). They go on the ACK that answers it (TCP's challenge
            // ACK, below), before a DATA_FIN.
            self.bare_keys_went = false;
        }
        if !self.subflows[i].tcp.acceptable(now, segment) {
            self.subflows[i].tcp.handle_segment(now, segment);
            self.after_input(now);
            return true;
        }
        let options = IncomingOptions::of(segment);
        if let Some(fastclose) = options.fastclose
            && self.mode == Mode::Mptcp
            && fastclose.receiver_key == self.local_key
        {
            // §3.5: the peer closed abruptly; every subflow goes, with a
            // reset (harmless where the peer's side is gone already).
            for sub in &mut self.subflows {
                sub.usable = false;
                sub.tcp.abort();
            }
            self.closed = true;
            self.push_event(MptcpEvent::Reset);
            return true;
        }
        if let Some(fail) = options.fail
            && !segment.flags().contains(TcpFlags::RST)
        {
            self.on_mp_fail(i, DataSeq(fail.dsn));
            if self.closed {
                return true;
            }
        }
        let incoming = match (self.mode, options.dss, options.capable) {
            (
                Mode::Mptcp,
                Some(Dss {
                    mapping: Some(m),
                    data_fin,
                    ..
                }),
                _,
            ) => self.incoming_mapping(i, &m, data_fin),
            (Mode::Mptcp, None, Some(capable)) if i == 0 && self.role == Role::Server => {
                self.repeated_first_mapping(&capable)
            }
            _ => None,
        };
        // Data with no DSS: a mapping sent before may cover it (RFC 8684
        // §3.3.1: "a single mapping may cover many segments"); whether one
        // does is known once the subflow took the bytes (below).
        let bare_data = self.mode == Mode::Mptcp
            && options.dss.is_none()
            && options.capable.is_none()
            && self.subflows[i].usable
            && !segment.payload().is_empty();
        if options.any {
            self.fallback.acked_bare = false;
        } else if self.mode == Mode::Mptcp
            && !self.send_keys
            && segment.flags().contains(TcpFlags::ACK)
            && SubflowSeq(segment.ack()) > self.subflows[i].tcp.snd_una()
        {
            // Our data acknowledged with no DSS (so no DATA_ACK), after
            // the peer had shown it speaks MPTCP. A peer may send its
            // DATA_ACK only now and then; one that fell back (its side saw
            // our options vanish), or whose options a middlebox strips,
            // never sends one again. The data-level timer tells them apart.
            self.fallback.acked_bare = true;
        }
        if !self.admit_mapping(i, segment, incoming.as_ref()) {
            return true;
        }
        if i == 0
            && self.mode == Mode::Handshake
            && self.role == Role::Server
            && !self.subflows[0].tcp.state().is_synchronized()
            && options.capable.is_none()
            && options.dss.is_some()
        {
            // The client speaks MPTCP (a DSS) but this segment overtook
            // the ones with its key (the third ACK and the first data, both
            // lost or late): wait for those rather than fall back. The
            // client repeats its key until we answer with a DSS (§3.1), but
            // one with no data to send (only a DATA_FIN, say) repeats it
            // only on the third ACK, which it sends again when it sees our
            // SYN/ACK again: send that now if the segment acknowledges it
            // (so a forger off the path cannot make us send them).
            if segment.flags().contains(TcpFlags::ACK)
                && SubflowSeq(segment.ack()) == self.subflows[0].tcp.iss() + 1u32
            {
                self.subflows[0].tcp.repeat_syn_ack();
                self.after_input(now);
            }
            return true;
        }
        let sub = &mut self.subflows[i];
        let was_synchronized = sub.tcp.state().is_synchronized();
        let read_before = sub.tcp.read_seq();
        let received = sub.tcp.handle_segment(now, segment);
        if !received.accepted {
            self.after_input(now);
            return true;
        }
        if bare_data {
            self.options_vanished(i, segment, read_before);
        }
        let now_synchronized = self.subflows[i].tcp.state().is_synchronized();
        let syn = segment.flags().contains(TcpFlags::SYN);
        if i == 0 {
            if self.mode == Mode::Handshake && !was_synchronized && now_synchronized {
                match self.role {
                    Role::Client => self.on_syn_ack(options.capable.as_ref()),
                    Role::Server => {}
                }
            }
            if self.role == Role::Client && !was_synchronized && now_synchronized {
                // What the SYN/ACK says of a Fast Open SYN's data.
                self.settle_syn_data();
            }
            if self.mode == Mode::Handshake && self.role == Role::Server && now_synchronized && !syn
            {
                self.on_third_ack(options.capable.as_ref());
            }
        } else if !self.subflows[i].joined && now_synchronized {
            self.on_join_step(now, i, syn, options.join.as_ref());
        }
        if self.mode == Mode::Mptcp
            && let Some(dss) = options.dss
        {
            self.on_dss(i, &dss);
        }
        if self.mode == Mode::Mptcp
            && let Some(prio) = options.prio
        {
            // §3.3.8: the peer asks us to use this subflow only as a
            // backup (or no longer).
            self.subflows[i].peer_backup = prio.backup;
        }
        if self.mode == Mode::Mptcp {
            for k in 0..options.removed_len {
                self.on_remove_addr(AddrId(options.removed[k]));
            }
        }
        if self.mode == Mode::Mptcp
            && let (Some(add_addr), Some(peer_key)) = (options.add_addr, self.peer_key)
        {
            if let Some(address) = self
                .signals
                .on_add_addr(&add_addr, self.local_key, peer_key)
            {
                self.push_event(MptcpEvent::AddressAnnounced(address));
            }
            if self.signals.has_pending()
                && let Some(sub) = self.signal_subflow()
            {
                sub.tcp.request_ack();
            }
        }
        if let Some(incoming) = incoming {
            self.apply_mapping(i, incoming);
        }
        self.after_input(now);
        true
    }

    /// The client reads the SYN/ACK's MP_CAPABLE.
    fn on_syn_ack(&mut self, capable: Option<&MpCapable>) {
        match handshake::negotiate(capable, self.config.checksum, true) {
            Ok(Negotiated {
                peer_key: Some(key),
                checksum,
                ..
            }) => {
                self.checksum = checksum;
                self.become_mptcp(key);
            }
            Ok(_) => self.fall_back(FallbackReason::NoMpCapable),
            Err(reason) => self.fall_back(reason),
        }
    }

    /// The server reads the MP_CAPABLE of the segment that completed the
    /// handshake (the third ACK, or the first data if that ACK was lost).
    fn on_third_ack(&mut self, capable: Option<&MpCapable>) {
        let Some(capable) = capable else {
            // RFC 8684 §3.7: MP_CAPABLE stripped from the third ACK.
            self.fall_back(FallbackReason::OptionStripped);
            return;
        };
        match handshake::client_keys(capable, self.local_key) {
            Ok(keys) => {
                self.become_mptcp(keys.client_key);
                match keys.data {
                    Some((data_len, checksum)) => {
                        let mapping = self.first_mapping(keys.client_key, data_len, checksum);
                        if self.subflows[0].rx.insert(mapping).is_err() {
                            self.protocol_error(Violation::MappingContradiction);
                        }
                    }
                    // A pure third ACK: answer it with a DSS at once. The
                    // client opens no join before it sees one (until then
                    // it cannot know we have its key, §3.1), and with no
                    // data to send neither side would send one: a join
                    // opened before any data would wait for good.
                    None => self.subflows[0].tcp.request_ack(),
                }
            }
            Err(_) => self.protocol_error(Violation::BadKeys),
        }
    }

    /// The mapping implied by the MP_CAPABLE of the client's first data
    /// (RFC 8684 §3.1): data sequence IDSN+1, subflow sequence 1.
    fn first_mapping(&self, client_key: Key, data_len: u16, checksum: Option<u16>) -> RxMapping {
        RxMapping {
            subflow_seq: self.subflows[0].rx_base() + 1u32,
            relative_seq: 1,
            dsn: first_data_seq(client_key),
            len: data_len,
            checksum,
            data_fin: false,
        }
    }

    /// The client's first data segment with MP_CAPABLE after a pure third
    /// ACK already completed the handshake. RFC 8684 §3.1: the client
    /// sends MP_CAPABLE on its first data too, with the Data-Level Length
    /// of what it maps (possibly many segments, the later ones without
    /// DSS), so this is the first mapping, not a repeat to ignore. Keys
    /// other than the connection's mean it is no mapping of this
    /// connection.
    fn repeated_first_mapping(&self, capable: &MpCapable) -> Option<Incoming> {
        let keys = handshake::client_keys(capable, self.local_key).ok()?;
        let (data_len, checksum) = keys.data?;
        (Some(keys.client_key) == self.peer_key && data_len > 0)
            .then(|| Incoming::Data(self.first_mapping(keys.client_key, data_len, checksum)))
    }

    fn become_mptcp(&mut self, peer_key: Key) {
        self.peer_key = Some(peer_key);
        let peer_first = first_data_seq(peer_key);
        self.recv.reassembly = Some(Reassembly::new(
            peer_first,
            self.config.recv_buffer,
            self.config.max_rx_ranges,
        ));
        self.mode = Mode::Mptcp;
        self.subflows[0].usable = true;
        self.push_event(MptcpEvent::Connected { mptcp: true });
    }

    fn on_dss(&mut self, i: usize, dss: &Dss) {
        // The client's keys arrived: any DSS from the server says so.
        self.send_keys = false;
        if let Some(ack) = dss.data_ack {
            self.on_data_ack(ack);
            // §3.3.5: the window the segment advertises starts at its
            // DATA_ACK.
            let ack = expand(ack, self.send.data_una);
            let end = ack + u64::from(self.subflows[i].tcp.send_window());
            if self
                .send
                .peer_window_end
                .is_none_or(|old| end.diff(old) > 0)
            {
                self.send.peer_window_end = Some(end);
            }
        }
    }

    /// After any input or timer: move received bytes up, report events,
    /// feed the controller, close what is finished.
    pub(super) fn after_input(&mut self, now: Instant) {
        self.deliver();
        self.subflow_events(now);
        self.feed_controller();
        self.progress_close(now);
    }
}
