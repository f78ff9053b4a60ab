//! Pcap captures of the simulated network, written to sinks the caller
//! opens (the simulator never touches the file system).

use std::io;

use umptcp_time::Instant;
use umptcp_wire::pcap::PcapWriter;

use crate::link::channel_index;
use crate::{Direction, LinkId};

/// A capture, as numbered by [`Simulator::add_capture`](crate::Simulator::add_capture).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaptureId(pub u32);

/// Which packets a capture records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureScope {
    /// Every link, both directions.
    Network,
    /// Both directions of one link.
    Link(LinkId),
    /// One direction of one link.
    LinkDirection(LinkId, Direction),
}

/// Where on a link a capture looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapturePoint {
    /// At the sender, when the host hands the packet to the link: every
    /// packet offered, including those the link then drops, as sent.
    Sent,
    /// At the receiver, when the packet is handed to the host: only packets
    /// delivered, as delivered (corrupted, duplicated, reordered).
    Delivered,
}

/// A sink the caller owns: any writer that can move between threads.
pub type CaptureSink = Box<dyn io::Write + Send>;

/// One open capture.
struct Capture {
    scope: CaptureScope,
    point: CapturePoint,
    writer: PcapWriter<CaptureSink>,
}

impl Capture {
    /// Return whether this capture wants packets of `channel` at `point`.
    fn matches(&self, channel: u32, point: CapturePoint) -> bool {
        if self.point != point {
            return false;
        }
        match self.scope {
            CaptureScope::Network => true,
            CaptureScope::Link(link) => channel / 2 == link.0,
            CaptureScope::LinkDirection(link, dir) => channel == channel_index(link, dir),
        }
    }
}

/// The open captures and the first write error, if any.
#[derive(Default)]
pub(crate) struct Captures {
    list: Vec<Option<Capture>>,
    error: Option<io::Error>,
}

impl core::fmt::Debug for Captures {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Captures")
            .field("open", &self.list.iter().flatten().count())
            .field("error", &self.error)
            .finish()
    }
}

impl Captures {
    /// Start a capture; writes the pcap header to `sink`.
    pub(crate) fn add(
        &mut self,
        scope: CaptureScope,
        point: CapturePoint,
        sink: CaptureSink,
    ) -> io::Result<u32> {
        let writer = PcapWriter::new(sink)?;
        self.list.push(Some(Capture {
            scope,
            point,
            writer,
        }));
        Ok((self.list.len() - 1) as u32)
    }

    /// Stop a capture, flush it and return its sink.
    pub(crate) fn remove(&mut self, id: u32) -> Option<CaptureSink> {
        let mut capture = self.list.get_mut(id as usize)?.take()?;
        if let Err(e) = capture.writer.flush() {
            self.error.get_or_insert(e);
        }
        Some(capture.writer.into_inner())
    }

    /// Record `packet` of `channel` at `point` in every matching capture. A
    /// capture whose sink fails is closed and the error kept.
    pub(crate) fn record(
        &mut self,
        now: Instant,
        channel: u32,
        point: CapturePoint,
        packet: &[u8],
    ) {
        for entry in &mut self.list {
            let Some(capture) = entry else { continue };
            if !capture.matches(channel, point) {
                continue;
            }
            if let Err(e) = capture.writer.write_packet(now.since_epoch(), packet) {
                self.error.get_or_insert(e);
                *entry = None;
            }
        }
    }

    /// Flush every open capture.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        for capture in self.list.iter_mut().flatten() {
            capture.writer.flush()?;
        }
        Ok(())
    }

    /// Return the first write error, which closed its capture.
    pub(crate) fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }
}
