//! The event loop: hosts, the links between them, and virtual time.

use std::io;
use std::net::IpAddr;

use umptcp_time::Instant;

use crate::capture::{CaptureSink, Captures};
use crate::channel::{Admission, Channel, Departure};
use crate::event::{EventKind, EventQueue};
use crate::link::channel_index;
use crate::packet_pool::PacketPool;
use crate::{
    CaptureId, CapturePoint, CaptureScope, Direction, Error, Host, HostId, IfaceId, LinkConfig,
    LinkId, LinkStats, SimConfig, SimStats,
};

/// One interface of a host.
#[derive(Debug)]
struct Iface {
    addrs: Vec<IpAddr>,
    /// The channel packets sent here go on.
    tx_channel: Option<u32>,
}

/// A host and the simulator's bookkeeping about it.
#[derive(Debug)]
struct HostSlot<H> {
    host: H,
    ifaces: Vec<Iface>,
    /// The host's answer to its last `poll_timeout`.
    timer: Option<Instant>,
    /// The time of the timer event in the queue, if one is live.
    scheduled: Option<Instant>,
    /// Timer events of another generation are stale.
    generation: u64,
    /// Waiting to be polled (added, or borrowed mutably).
    dirty: bool,
}

/// A deterministic discrete-event network of hosts `H` joined by
/// point-to-point links.
///
/// See the [crate documentation](crate) for an example.
#[derive(Debug)]
pub struct Simulator<H> {
    config: SimConfig,
    now: Instant,
    hosts: Vec<HostSlot<H>>,
    channels: Vec<Channel>,
    events: EventQueue,
    pool: PacketPool,
    /// The buffer hosts write their packets into.
    scratch: Vec<u8>,
    /// Hosts waiting to be polled, in the order they became dirty.
    dirty: Vec<u32>,
    /// Scheduled link changes, taken when applied.
    pending_changes: Vec<Option<(u32, LinkConfig)>>,
    captures: Captures,
    stats: SimStats,
}

impl<H: Host> Simulator<H> {
    /// An empty network at [`Instant::ZERO`].
    ///
    /// # Errors
    ///
    /// Whatever [`SimConfig::validate`] refuses.
    pub fn new(config: SimConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            scratch: vec![0; config.max_packet_size],
            config,
            now: Instant::ZERO,
            hosts: Vec::new(),
            channels: Vec::new(),
            events: EventQueue::default(),
            pool: PacketPool::default(),
            dirty: Vec::new(),
            pending_changes: Vec::new(),
            captures: Captures::default(),
            stats: SimStats::default(),
        })
    }

    /// Return the configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Return the current virtual instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Return the simulation-wide counters.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Add a host, with no interface yet. It is polled (transmit, then
    /// timeout) before the next event is processed.
    ///
    /// # Errors
    ///
    /// [`Error::TooMany`] past 2^32 hosts.
    pub fn add_host(&mut self, host: H) -> Result<HostId, Error> {
        let id = u32::try_from(self.hosts.len()).map_err(|_| Error::TooMany("hosts"))?;
        self.hosts.push(HostSlot {
            host,
            ifaces: Vec::new(),
            timer: None,
            scheduled: None,
            generation: 0,
            dirty: false,
        });
        self.mark_dirty(id);
        Ok(HostId(id))
    }

    /// Add an interface with these addresses to `host`. The simulator does
    /// not route by address (links are point to point); the addresses are
    /// there for the host and the caller to agree on.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownHost`], or [`Error::TooMany`] past 2^32 interfaces.
    pub fn add_iface(&mut self, host: HostId, addrs: &[IpAddr]) -> Result<IfaceId, Error> {
        let slot = self
            .hosts
            .get_mut(host.0 as usize)
            .ok_or(Error::UnknownHost(host))?;
        let id = u32::try_from(slot.ifaces.len()).map_err(|_| Error::TooMany("interfaces"))?;
        slot.ifaces.push(Iface {
            addrs: addrs.to_vec(),
            tx_channel: None,
        });
        Ok(IfaceId(id))
    }

    /// Return the addresses of an interface.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownHost`] or [`Error::UnknownIface`].
    pub fn iface_addrs(&self, host: HostId, iface: IfaceId) -> Result<&[IpAddr], Error> {
        let slot = self
            .hosts
            .get(host.0 as usize)
            .ok_or(Error::UnknownHost(host))?;
        slot.ifaces
            .get(iface.0 as usize)
            .map(|i| i.addrs.as_slice())
            .ok_or(Error::UnknownIface { host, iface })
    }

    /// Return the number of hosts.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Return a host, or `None` if `id` is not one of this simulator's.
    pub fn host(&self, id: HostId) -> Option<&H> {
        self.hosts.get(id.0 as usize).map(|s| &s.host)
    }

    /// Return a host mutably, so the application side can act on it. The
    /// host is polled (transmit, then timeout) at the current instant before
    /// the next event is processed.
    pub fn host_mut(&mut self, id: HostId) -> Option<&mut H> {
        if (id.0 as usize) < self.hosts.len() {
            self.mark_dirty(id.0);
        }
        self.hosts.get_mut(id.0 as usize).map(|s| &mut s.host)
    }

    /// Join interface `a` and interface `b` by a link, configured per
    /// direction.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownHost`], [`Error::UnknownIface`], [`Error::SelfLoop`],
    /// [`Error::IfaceInUse`], whatever [`LinkConfig::validate`] refuses, or
    /// [`Error::TooMany`] past 2^31 links.
    pub fn connect(
        &mut self,
        a: (HostId, IfaceId),
        b: (HostId, IfaceId),
        a_to_b: LinkConfig,
        b_to_a: LinkConfig,
    ) -> Result<LinkId, Error> {
        for (host, iface) in [a, b] {
            let slot = self
                .hosts
                .get(host.0 as usize)
                .ok_or(Error::UnknownHost(host))?;
            let entry = slot
                .ifaces
                .get(iface.0 as usize)
                .ok_or(Error::UnknownIface { host, iface })?;
            if entry.tx_channel.is_some() {
                return Err(Error::IfaceInUse { host, iface });
            }
        }
        if a == b {
            return Err(Error::SelfLoop);
        }
        a_to_b.validate()?;
        b_to_a.validate()?;
        let link = u32::try_from(self.channels.len() / 2)
            .ok()
            .filter(|&l| l < u32::MAX / 2)
            .ok_or(Error::TooMany("links"))?;
        let link = LinkId(link);
        let seed = self.config.seed;
        for (dir, config, dst) in [(Direction::AToB, a_to_b, b), (Direction::BToA, b_to_a, a)] {
            let index = channel_index(link, dir);
            self.channels.push(Channel::new(
                config,
                (dst.0.0, dst.1.0),
                seed,
                u64::from(index),
            ));
        }
        self.hosts[a.0.0 as usize].ifaces[a.1.0 as usize].tx_channel =
            Some(channel_index(link, Direction::AToB));
        self.hosts[b.0.0 as usize].ifaces[b.1.0 as usize].tx_channel =
            Some(channel_index(link, Direction::BToA));
        Ok(link)
    }

    /// Return the number of links.
    pub fn link_count(&self) -> usize {
        self.channels.len() / 2
    }

    /// Return the counters of one direction of a link.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownLink`].
    pub fn link_stats(&self, link: LinkId, dir: Direction) -> Result<&LinkStats, Error> {
        Ok(&self.channel(link, dir)?.stats)
    }

    /// Return the configuration of one direction of a link.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownLink`].
    pub fn link_config(&self, link: LinkId, dir: Direction) -> Result<&LinkConfig, Error> {
        Ok(&self.channel(link, dir)?.config)
    }

    /// Reconfigure one direction of a link now (see [`LinkConfig`] for what
    /// a change does to packets already on the link).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownLink`] or whatever [`LinkConfig::validate`] refuses.
    pub fn set_link(
        &mut self,
        link: LinkId,
        dir: Direction,
        config: LinkConfig,
    ) -> Result<(), Error> {
        config.validate()?;
        let index = self.channel_checked(link, dir)?;
        self.channels[index as usize].config = config;
        Ok(())
    }

    /// Reconfigure one direction of a link at the virtual instant `at`
    /// (after every event already scheduled for `at`).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownLink`], [`Error::InThePast`], whatever
    /// [`LinkConfig::validate`] refuses, or [`Error::TooMany`] past 2^32
    /// scheduled changes.
    pub fn schedule_link(
        &mut self,
        at: Instant,
        link: LinkId,
        dir: Direction,
        config: LinkConfig,
    ) -> Result<(), Error> {
        config.validate()?;
        let channel = self.channel_checked(link, dir)?;
        if at < self.now {
            return Err(Error::InThePast { at, now: self.now });
        }
        let index = u32::try_from(self.pending_changes.len())
            .map_err(|_| Error::TooMany("scheduled link changes"))?;
        self.pending_changes.push(Some((channel, config)));
        self.events.push(at, EventKind::LinkChange { index });
        Ok(())
    }

    /// Start a pcap capture ([`LINKTYPE_RAW`](umptcp_wire::pcap::LINKTYPE_RAW),
    /// timestamps in virtual time since [`Instant::ZERO`]) into `sink`.
    ///
    /// A sink that fails later closes its capture; see
    /// [`capture_error`](Self::capture_error).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownLink`] for a scope naming no link,
    /// [`Error::Capture`] if writing the file header fails, or
    /// [`Error::TooMany`] past 2^32 captures.
    pub fn add_capture(
        &mut self,
        scope: CaptureScope,
        point: CapturePoint,
        sink: CaptureSink,
    ) -> Result<CaptureId, Error> {
        match scope {
            CaptureScope::Network => {}
            CaptureScope::Link(link) => {
                self.channel_checked(link, Direction::AToB)?;
            }
            CaptureScope::LinkDirection(link, dir) => {
                self.channel_checked(link, dir)?;
            }
        }
        let id = self.captures.add(scope, point, sink)?;
        Ok(CaptureId(id))
    }

    /// Stop a capture, flush it and give its sink back (`None` if there is
    /// no such open capture).
    pub fn remove_capture(&mut self, id: CaptureId) -> Option<CaptureSink> {
        self.captures.remove(id.0)
    }

    /// Flush every open capture.
    ///
    /// # Errors
    ///
    /// The first error of a sink.
    pub fn flush_captures(&mut self) -> io::Result<()> {
        self.captures.flush()
    }

    /// Return the first error a capture sink returned (which closed it).
    pub fn capture_error(&self) -> Option<&io::Error> {
        self.captures.error()
    }

    /// Return the instant of the next pending event, if any (hosts waiting
    /// to be polled count as an event now).
    pub fn next_event_time(&self) -> Option<Instant> {
        if self.dirty.is_empty() {
            self.events.peek_time()
        } else {
            Some(self.now)
        }
    }

    /// Return the number of packets in flight (queued, in transmission or
    /// propagating).
    pub fn packets_in_flight(&self) -> usize {
        self.pool.in_use()
    }

    /// Process the next event: poll the hosts waiting for it, then advance
    /// to the earliest event and handle it. Return `false` if there was
    /// nothing to do.
    pub fn step(&mut self) -> bool {
        let polled = self.poll_dirty();
        let Some((time, kind)) = self.events.pop() else {
            return polled;
        };
        self.now = self.now.max(time);
        self.stats.events += 1;
        self.handle(kind);
        true
    }

    /// Process every event up to and including `deadline`, then set the
    /// clock to `deadline` (if later than now).
    pub fn run_until(&mut self, deadline: Instant) {
        self.process_until(deadline);
        self.now = self.now.max(deadline);
    }

    /// Process events until none is left or the next is after `deadline`.
    /// Return `true` if the network went idle (no event left); the clock
    /// then stays at the last event. Otherwise the clock is set to
    /// `deadline`.
    pub fn run_until_idle(&mut self, deadline: Instant) -> bool {
        self.process_until(deadline);
        if self.events.is_empty() {
            true
        } else {
            self.now = self.now.max(deadline);
            false
        }
    }

    /// Process events up to `deadline` without moving the clock further.
    fn process_until(&mut self, deadline: Instant) {
        self.poll_dirty();
        while self.events.peek_time().is_some_and(|t| t <= deadline) {
            self.step();
        }
    }

    /// Return the channel of one direction of a link.
    fn channel(&self, link: LinkId, dir: Direction) -> Result<&Channel, Error> {
        let index = self.channel_checked(link, dir)?;
        Ok(&self.channels[index as usize])
    }

    /// Return the index of one direction of a link, if it exists.
    fn channel_checked(&self, link: LinkId, dir: Direction) -> Result<u32, Error> {
        let index = channel_index(link, dir);
        if link.0 < u32::MAX / 2 && (index as usize) < self.channels.len() {
            Ok(index)
        } else {
            Err(Error::UnknownLink(link))
        }
    }

    /// Queue `host` for polling, once.
    fn mark_dirty(&mut self, host: u32) {
        let slot = &mut self.hosts[host as usize];
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(host);
        }
    }

    /// Poll every dirty host, in the order they became dirty. Return whether
    /// there was any.
    fn poll_dirty(&mut self) -> bool {
        if self.dirty.is_empty() {
            return false;
        }
        let mut dirty = core::mem::take(&mut self.dirty);
        for &host in &dirty {
            self.hosts[host as usize].dirty = false;
            self.poll_host(host);
        }
        dirty.clear();
        self.dirty = dirty;
        true
    }

    /// Handle one event at `self.now`.
    fn handle(&mut self, kind: EventKind) {
        match kind {
            EventKind::Deliver { channel, slot } => self.deliver(channel, slot),
            EventKind::TxDone { channel } => self.tx_done(channel),
            EventKind::Timer { host, generation } => self.timer(host, generation),
            EventKind::LinkChange { index } => {
                if let Some((channel, config)) = self
                    .pending_changes
                    .get_mut(index as usize)
                    .and_then(Option::take)
                {
                    self.channels[channel as usize].config = config;
                }
            }
        }
    }

    /// Hand the packet in `slot` to the receiving host of `channel`.
    fn deliver(&mut self, channel: u32, slot: u32) {
        let ch = &mut self.channels[channel as usize];
        let (host, iface) = ch.dst;
        let packet = self.pool.get(slot);
        ch.stats.delivered_packets += 1;
        ch.stats.delivered_bytes += packet.len() as u64;
        self.captures
            .record(self.now, channel, CapturePoint::Delivered, packet);
        self.hosts[host as usize]
            .host
            .handle_packet(self.now, IfaceId(iface), packet);
        self.pool.release(slot);
        self.poll_host(host);
    }

    /// The transmitter of `channel` has finished its packet: send it on its
    /// way and start the next one.
    fn tx_done(&mut self, channel: u32) {
        let ch = &mut self.channels[channel as usize];
        if let Some(slot) = ch.transmitting.take() {
            self.depart(channel, slot);
        }
        let ch = &mut self.channels[channel as usize];
        if let Some(next) = ch.dequeue(&self.pool) {
            ch.transmitting = Some(next);
            let end = self.now + ch.config.rate.transmission_time(self.pool.get(next).len());
            self.events.push(end, EventKind::TxDone { channel });
        }
    }

    /// The packet in `slot` leaves the transmitter of `channel` now.
    fn depart(&mut self, channel: u32, slot: u32) {
        let ch = &mut self.channels[channel as usize];
        if let Departure::Arrives { at, duplicate } = ch.depart(self.now, slot, &mut self.pool) {
            self.events.push(at, EventKind::Deliver { channel, slot });
            if let Some(copy) = duplicate {
                self.events.push(
                    at,
                    EventKind::Deliver {
                        channel,
                        slot: copy,
                    },
                );
            }
        }
    }

    /// A timer event of `host` fired.
    fn timer(&mut self, host: u32, generation: u64) {
        let slot = &mut self.hosts[host as usize];
        if slot.generation != generation {
            return;
        }
        slot.scheduled = None;
        match slot.timer {
            Some(t) if t <= self.now => {
                slot.timer = None;
                slot.host.handle_timeout(self.now);
                self.poll_host(host);
            }
            Some(t) => {
                // The host moved its timer later since this event was queued.
                slot.scheduled = Some(t);
                self.events.push(t, EventKind::Timer { host, generation });
            }
            None => {}
        }
    }

    /// Drain `host`'s transmissions, then ask for its timeout.
    fn poll_host(&mut self, host: u32) {
        loop {
            let slot = &mut self.hosts[host as usize];
            let Some((iface, len)) = slot.host.poll_transmit(self.now, &mut self.scratch) else {
                break;
            };
            self.transmit(host, iface, len);
        }
        let slot = &mut self.hosts[host as usize];
        slot.timer = slot.host.poll_timeout();
        if let Some(t) = slot.timer {
            // Keep a queued event that fires no later than needed: when it
            // fires early, `timer` re-arms it (no stale event per re-poll).
            if slot.scheduled.is_none_or(|s| t < s) {
                let at = t.max(self.now);
                slot.generation = slot.generation.wrapping_add(1);
                slot.scheduled = Some(at);
                self.events.push(
                    at,
                    EventKind::Timer {
                        host,
                        generation: slot.generation,
                    },
                );
            }
        }
    }

    /// Put the `len` bytes a host wrote in `scratch` on the link of `iface`.
    fn transmit(&mut self, host: u32, iface: IfaceId, len: usize) {
        if len > self.scratch.len() {
            self.stats.oversize_transmits += 1;
            return;
        }
        let Some(channel) = self.hosts[host as usize]
            .ifaces
            .get(iface.0 as usize)
            .and_then(|i| i.tx_channel)
        else {
            self.stats.unconnected_transmits += 1;
            return;
        };
        self.stats.packets_sent += 1;
        let packet = &self.scratch[..len];
        self.captures
            .record(self.now, channel, CapturePoint::Sent, packet);
        let ch = &mut self.channels[channel as usize];
        match ch.admit(len) {
            Admission::Dropped => {}
            Admission::DepartNow => {
                let slot = self.pool.insert(packet);
                self.depart(channel, slot);
            }
            Admission::Transmit => {
                let slot = self.pool.insert(packet);
                ch.transmitting = Some(slot);
                let end = self.now + ch.config.rate.transmission_time(len);
                self.events.push(end, EventKind::TxDone { channel });
            }
            Admission::Queued => {
                let slot = self.pool.insert(packet);
                ch.enqueue(slot, len);
            }
        }
    }
}
