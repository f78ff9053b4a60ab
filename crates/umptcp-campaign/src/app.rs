//! The applications at both ends of the honest connection: each writes its
//! bytes, reads and checks the peer's, shuts down when done, and records
//! what its connection told it.
//!
//! The bytes are a pattern of the position and a per-side salt, so a byte
//! out of place, duplicated or from the other direction is seen at once
//! and nothing is stored.

use std::fmt::Write as _;

use umptcp_proto::{ConnectionId, FallbackReason, MptcpConnection, MptcpEvent};
use umptcp_time::Instant;

/// The byte at `offset` of the stream salted `salt`.
pub fn pattern(salt: u64, offset: u64) -> u8 {
    let mut x = (offset / 8) ^ salt.rotate_left(17);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x >> (8 * (offset % 8))) as u8
}

/// Bytes written or read in one call at most.
const CHUNK: usize = 64 * 1024;

/// One end's application.
#[derive(Debug)]
pub struct Side {
    /// "client" or "server", in descriptions.
    pub name: &'static str,
    /// Its connection, once it has one.
    pub id: Option<ConnectionId>,
    send_salt: u64,
    to_send: u64,
    written: u64,
    shut: bool,
    recv_salt: u64,
    to_recv: u64,
    /// Bytes read so far.
    pub read: u64,
    /// The first offset whose byte was wrong, or the first beyond the
    /// peer's data.
    pub wrong_at: Option<u64>,
    /// `Connected { mptcp }`, when it came.
    pub connected: Option<bool>,
    /// Its fallback, if any, and when.
    pub fell_back: Option<(FallbackReason, Instant)>,
    /// The peer's DATA_FIN arrived.
    pub peer_closed: bool,
    /// The event that ended the connection, and when.
    pub terminal: Option<(MptcpEvent, Instant)>,
    /// Subflows that closed before the peer's DATA_FIN came, while the
    /// connection was not closing: (when, four-tuple as text).
    pub subflows_lost: Vec<(Instant, String)>,
    /// The application gave up and aborted.
    pub aborted: bool,
    /// Its endpoint forgot the connection.
    pub gone: bool,
    scratch: Vec<u8>,
}

impl Side {
    /// An application that sends `to_send` bytes salted `send_salt` and
    /// expects `to_recv` salted `recv_salt`.
    pub fn new(name: &'static str, send: (u64, u64), recv: (u64, u64)) -> Self {
        Side {
            name,
            id: None,
            send_salt: send.0,
            to_send: send.1,
            written: 0,
            shut: false,
            recv_salt: recv.0,
            to_recv: recv.1,
            read: 0,
            wrong_at: None,
            connected: None,
            fell_back: None,
            peer_closed: false,
            terminal: None,
            subflows_lost: Vec::new(),
            aborted: false,
            gone: false,
            scratch: vec![0; CHUNK],
        }
    }

    /// Write what fits, read what is there, shut down after the last byte.
    /// Whether anything moved.
    pub fn pump(&mut self, conn: &mut MptcpConnection) -> bool {
        let mut moved = false;
        while self.written < self.to_send && conn.writable() > 0 {
            let n = (self.to_send - self.written)
                .min(conn.writable() as u64)
                .min(CHUNK as u64) as usize;
            for (i, b) in self.scratch[..n].iter_mut().enumerate() {
                *b = pattern(self.send_salt, self.written + i as u64);
            }
            let took = conn.write(&self.scratch[..n]);
            if took == 0 {
                break;
            }
            self.written += took as u64;
            moved = true;
        }
        if self.written == self.to_send && !self.shut {
            conn.shutdown();
            self.shut = true;
            moved = true;
        }
        loop {
            let n = conn.read(&mut self.scratch);
            if n == 0 {
                break;
            }
            moved = true;
            self.check(n);
        }
        moved
    }

    fn check(&mut self, n: usize) {
        if self.wrong_at.is_none() {
            for (i, &b) in self.scratch[..n].iter().enumerate() {
                let at = self.read + i as u64;
                if at >= self.to_recv || b != pattern(self.recv_salt, at) {
                    self.wrong_at = Some(at);
                    break;
                }
            }
        }
        self.read += n as u64;
    }

    /// Note an event of the connection.
    pub fn on_event(&mut self, now: Instant, event: MptcpEvent) {
        match event {
            MptcpEvent::Connected { mptcp } => self.connected = Some(mptcp),
            MptcpEvent::FellBack(reason) => {
                self.fell_back.get_or_insert((reason, now));
            }
            MptcpEvent::PeerClosed => self.peer_closed = true,
            MptcpEvent::Closed
            | MptcpEvent::Reset
            | MptcpEvent::TimedOut
            | MptcpEvent::ProtocolError(_) => {
                self.terminal.get_or_insert((event, now));
            }
            _ => {}
        }
    }

    /// Bytes the peer writes.
    pub fn expected(&self) -> u64 {
        self.to_recv
    }

    /// Whether the connection is over for the application.
    pub fn done(&self) -> bool {
        self.terminal.is_some() || self.gone
    }

    /// Everything read, exact, the peer's close seen, then `Closed`, without
    /// the application giving up.
    pub fn complete(&self) -> bool {
        self.read == self.to_recv
            && self.wrong_at.is_none()
            && self.peer_closed
            && matches!(self.terminal, Some((MptcpEvent::Closed, _)))
            && !self.aborted
    }

    /// A few words on where it stands.
    pub fn status(&self) -> String {
        let mut s = format!(
            "{} wrote {}/{} read {}/{}",
            self.name, self.written, self.to_send, self.read, self.to_recv
        );
        if self.peer_closed {
            s.push_str(" peer-closed");
        }
        match self.connected {
            Some(true) => {}
            Some(false) => s.push_str(" tcp"),
            None => s.push_str(" never-connected"),
        }
        if let Some((reason, at)) = self.fell_back {
            let _ = write!(s, " fell-back({reason:?})@{}", secs(at));
        }
        match self.terminal {
            Some((event, at)) => {
                let _ = write!(s, " {event:?}@{}", secs(at));
            }
            None => s.push_str(" open"),
        }
        if self.aborted {
            s.push_str(" aborted");
        }
        s
    }
}

/// An instant as seconds with milliseconds.
pub fn secs(at: Instant) -> String {
    let ms = at.as_nanos() / 1_000_000;
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_tells_positions_and_sides_apart() {
        let a: Vec<u8> = (0..4096).map(|i| pattern(1, i)).collect();
        let b: Vec<u8> = (0..4096).map(|i| pattern(2, i)).collect();
        assert_ne!(a, b);
        assert_ne!(a[..2048], a[2048..]);
        let zeros = a.iter().filter(|&&x| x == 0).count();
        assert!(zeros < 64, "{zeros}");
    }
}
