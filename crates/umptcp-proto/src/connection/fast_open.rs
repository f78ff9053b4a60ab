//! MPTCP Fast Open (RFC 8684 Appendix B, with erratum 6609): data on the
//! MP_CAPABLE SYN, in both roles.
//!
//! The data a SYN carries and the server takes lies outside the data
//! sequence space: the server hands it to its application before the data
//! stream, which still starts at the client's IDSN + 1, and both ends count
//! relative subflow sequence numbers from after it (`Subflow::tx_base`,
//! `Subflow::rx_base`). What the SYN/ACK does not acknowledge was not
//! taken: it is the start of the data stream, sent again and mapped like
//! any data. Linux does the same (`net/mptcp/fastopen.c`: `ssn_offset`
//! moves by the SYN's data, which is queued before the stream).

use umptcp_crypto::dss_checksum;
use umptcp_tcp::FastOpenCookie;

use crate::event::MptcpEvent;
use crate::tx_map::TxMapping;

use super::{Mode, MptcpConnection, Role};

/// The longest cookie an MP_CAPABLE SYN has room for beside its other
/// options: 40 bytes less MSS (4), SACK permitted (2), timestamps (10),
/// window scale (3), MP_CAPABLE (4) and the Fast Open option's own kind
/// and length (2). Linux's cookies (8 bytes) fit; a 16-byte one does not.
const MAX_SYN_COOKIE: usize = 40 - 4 - 2 - 10 - 3 - 4 - 2;

/// The longest cookie an MP_CAPABLE SYN/ACK has room for: 40 bytes less
/// MSS, SACK permitted, timestamps, window scale, MP_CAPABLE with the
/// server's key (12) and the Fast Open option's kind and length: 7, so a
/// cookie request gets the 6-byte head of our usual 8-byte cookie (with 8
/// the SYN/ACK could not be built, and the handshake stalled). Linux's
/// MPTCP client keeps and returns it like any cookie (lab_fast_open.rs).
pub(super) const MAX_SYN_ACK_COOKIE: usize = 40 - 4 - 2 - 10 - 3 - 12 - 2;

/// Fast Open on one connection: what the client's SYN took along, and
/// the server's copy of the SYN's data until the application reads it.
#[derive(Debug, Default)]
pub(super) struct FastOpen {
    /// Client: the SYN carries data: with a cookie (RFC 7413 §4.2), or
    /// without one when asked to (RFC 8803 clients).
    syn_data: bool,
    /// Client: bytes of the data-level buffer copied into the initial
    /// subflow for its SYN (`Some` once decided, before the first SYN);
    /// taken when the SYN/ACK says how many of them the server kept.
    queued: Option<u32>,
    /// Server: the SYN's data, read before the data stream.
    prelude: Vec<u8>,
    prelude_read: usize,
}

impl FastOpen {
    /// A client's Fast Open with `cookie` (`None`: the SYN asks for one).
    /// Returns what to give the subflow's engine: a cookie too long to fit
    /// beside MP_CAPABLE becomes a request for a new one.
    pub(super) fn client(cookie: Option<FastOpenCookie>) -> (Self, Option<FastOpenCookie>) {
        let cookie = cookie.filter(|c| c.as_bytes().len() <= MAX_SYN_COOKIE);
        let fast_open = FastOpen {
            syn_data: cookie.is_some(),
            ..FastOpen::default()
        };
        (fast_open, cookie)
    }

    /// A client whose SYN carries data without any Fast Open option.
    pub(super) fn client_without_cookie() -> Self {
        FastOpen {
            syn_data: true,
            ..FastOpen::default()
        }
    }

    /// Bytes of the SYN's data the application has not read.
    pub(super) fn readable(&self) -> usize {
        self.prelude.len() - self.prelude_read
    }

    /// Copy unread SYN data into `buf`; returns how many bytes.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> usize {
        let rest = &self.prelude[self.prelude_read..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.prelude_read += n;
        if self.prelude_read == self.prelude.len() && n > 0 {
            // Read through: give the memory back.
            self.prelude = Vec::new();
            self.prelude_read = 0;
        }
        n
    }

    /// Buffer memory held.
    pub(super) fn allocated(&self) -> usize {
        self.prelude.capacity()
    }
}

impl MptcpConnection {
    /// Client, before the first SYN of an MPTCP handshake: copy the head
    /// of the data-level buffer (as much as a SYN carries) into the
    /// initial subflow, for its SYN to take along. The bytes stay in the
    /// data-level buffer, unassigned, until the SYN/ACK settles them.
    pub(super) fn queue_syn_data(&mut self) {
        if self.role != Role::Client || !self.fast_open.syn_data || self.fast_open.queued.is_some()
        {
            return;
        }
        let sub = &mut self.subflows[0];
        let n = self
            .send
            .buffer
            .len()
            .min(sub.tcp.syn_data_room())
            .min(sub.tcp.writable())
            .min(self.scratch.capacity());
        let copied = self.send.buffer.peek(0, &mut self.scratch.bytes_mut()[..n]);
        debug_assert_eq!(copied, n);
        let written = sub.tcp.write(&self.scratch.bytes()[..n]);
        debug_assert_eq!(written, n);
        self.fast_open.queued = Some(written as u32);
    }

    /// Client: the initial subflow's SYN/ACK came, or the connection fell
    /// back before it. Settle the bytes the SYN took along.
    ///
    /// - Speaking MPTCP, what the SYN/ACK acknowledged is outside the data
    ///   sequence space: gone from the data-level buffer, with no data
    ///   sequence number spent. The rest, still in the subflow, is the
    ///   first data of the stream: data sequence IDSN + 1, relative
    ///   subflow sequence 1, declared by the MP_CAPABLE of the segment
    ///   that carries it (RFC 8684 §3.1).
    /// - Fallen back, the subflow carries all of it as plain TCP.
    pub(super) fn settle_syn_data(&mut self) {
        let Some(queued) = self.fast_open.queued.take().filter(|&n| n > 0) else {
            return;
        };
        match self.mode {
            Mode::Mptcp => {
                let sub = &mut self.subflows[0];
                let first = sub.tcp.iss() + 1u32;
                let taken = sub.tcp.snd_una().distance_from(first).min(queued);
                self.send.buffer.consume(taken as usize);
                sub.syn_data_sent = taken;
                let rest = (queued - taken) as usize;
                if rest == 0 {
                    return;
                }
                let copied = self
                    .send
                    .buffer
                    .peek(0, &mut self.scratch.bytes_mut()[..rest]);
                debug_assert_eq!(copied, rest);
                let dsn = self.send.data_nxt;
                let checksum = self.checksum.then(|| {
                    dss_checksum(dsn.get(), 1, rest as u16, &self.scratch.bytes()[..rest])
                });
                let pushed = sub.tx.push(TxMapping {
                    start: first + taken,
                    dsn,
                    len: rest as u16,
                    checksum,
                });
                debug_assert!(pushed, "the first mapping of an empty table");
                self.send.data_nxt = dsn + rest as u64;
                sub.sent_upto = Some(self.send.data_nxt);
            }
            Mode::Fallback(_) | Mode::Handshake => {
                self.send.buffer.consume(queued as usize);
                self.send.data_una += u64::from(queued);
                self.send.data_nxt = self.send.data_una;
            }
        }
    }

    /// Server, as the connection is built: data the SYN brought and the
    /// engine took (a valid cookie, or a listener that takes SYN data
    /// without one) is readable at once, ahead of the data stream, and
    /// moves the base of the client's relative subflow sequence numbers.
    /// It is copied out of the engine, whose receive buffer is given back:
    /// until the handshake ends the connection holds only those bytes (at
    /// most one MSS), so a flood of SYNs with data costs little memory.
    /// A plain-TCP connection reads it the same way, before its stream.
    pub(super) fn take_syn_data(&mut self) {
        let sub = &mut self.subflows[0];
        let n = sub.tcp.readable();
        if n == 0 {
            return;
        }
        let mut prelude = Vec::with_capacity(n);
        sub.tcp.read_with(|head, tail| {
            prelude.extend_from_slice(head);
            prelude.extend_from_slice(tail);
            head.len() + tail.len()
        });
        sub.tcp.release_idle_buffers();
        sub.syn_data_received = prelude.len() as u32;
        self.fast_open.prelude = prelude;
        self.fast_open.prelude_read = 0;
        self.push_event(MptcpEvent::Readable);
    }
}
