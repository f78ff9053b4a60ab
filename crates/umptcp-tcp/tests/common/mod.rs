//! Packet-trace helpers in smoltcp's style: a segment in (built with
//! `SegmentBuilder`), the expected segment out (checked with
//! `Segment::parse`).

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use umptcp_tcp::{Connection, Event, FourTuple, IsnKey, State, TcpConfig};
use umptcp_time::Instant;
use umptcp_wire::TcpOption;
use umptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};

pub const LOCAL: &str = "192.0.2.1:40000";
pub const REMOTE: &str = "198.51.100.7:80";

pub fn local() -> SocketAddr {
    LOCAL.parse().unwrap()
}

pub fn remote() -> SocketAddr {
    REMOTE.parse().unwrap()
}

pub fn tuple() -> FourTuple {
    FourTuple {
        local: local(),
        remote: remote(),
    }
}

pub fn key() -> IsnKey {
    IsnKey::from_bytes([42; 32])
}

pub fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

pub fn dur(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub const ACK: TcpFlags = TcpFlags::ACK;
pub const SYN: TcpFlags = TcpFlags::SYN;
pub const FIN: TcpFlags = TcpFlags::FIN;
pub const RST: TcpFlags = TcpFlags::RST;
pub const PSH: TcpFlags = TcpFlags::PSH;

/// A config without timestamps or scaling, so traces are short.
pub fn plain_config() -> TcpConfig {
    let mut config = TcpConfig::default();
    config.timestamps = false;
    config.window_scaling = false;
    config.recv_buffer = 64 * 1024;
    config.send_buffer = 64 * 1024;
    config.nagle = false;
    config
}

/// A segment sent by the peer, as fields.
#[derive(Clone, Debug)]
pub struct In {
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub payload: Vec<u8>,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub timestamps: Option<(u32, u32)>,
    pub sack_permitted: bool,
}

impl In {
    pub fn new(flags: TcpFlags, seq: u32, ack: u32) -> Self {
        In {
            flags,
            seq,
            ack,
            window: 65535,
            payload: Vec::new(),
            mss: None,
            window_scale: None,
            timestamps: None,
            sack_permitted: false,
        }
    }

    pub fn payload(mut self, data: &[u8]) -> Self {
        self.payload = data.to_vec();
        self
    }

    pub fn window(mut self, window: u16) -> Self {
        self.window = window;
        self
    }

    pub fn ts(mut self, tsval: u32, tsecr: u32) -> Self {
        self.timestamps = Some((tsval, tsecr));
        self
    }

    pub fn mss(mut self, mss: u16) -> Self {
        self.mss = Some(mss);
        self
    }

    pub fn ws(mut self, shift: u8) -> Self {
        self.window_scale = Some(shift);
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = SegmentBuilder::new(remote(), local());
        b.flags = self.flags;
        b.seq = self.seq;
        b.ack = self.ack;
        b.window = self.window;
        b.payload = &self.payload;
        b.mss = self.mss;
        b.window_scale = self.window_scale;
        b.timestamps = self.timestamps;
        b.sack_permitted = self.sack_permitted;
        let mut buf = vec![0; b.buffer_len_max()];
        let len = b.emit(&mut buf).unwrap().len;
        buf.truncate(len);
        buf
    }
}

/// A segment the engine sent, parsed and owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Out {
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub payload: Vec<u8>,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub timestamps: Option<(u32, u32)>,
    pub sack_permitted: bool,
}

impl Out {
    pub fn parse(bytes: &[u8]) -> Out {
        let seg =
            Segment::parse(bytes, ChecksumCheck::Verify).expect("engine emitted a valid segment");
        assert_eq!(SocketAddr::new(seg.src(), seg.src_port()), local());
        assert_eq!(SocketAddr::new(seg.dst(), seg.dst_port()), remote());
        let mut out = Out {
            flags: seg.flags(),
            seq: seg.seq(),
            ack: seg.ack(),
            window: seg.window(),
            payload: seg.payload().to_vec(),
            mss: None,
            window_scale: None,
            timestamps: None,
            sack_permitted: false,
        };
        for option in seg.options() {
            match option.expect("engine emitted valid options") {
                TcpOption::MaxSegmentSize(m) => out.mss = Some(m),
                TcpOption::WindowScale(s) => out.window_scale = Some(s),
                TcpOption::Timestamps { tsval, tsecr } => out.timestamps = Some((tsval, tsecr)),
                TcpOption::SackPermitted => out.sack_permitted = true,
                _ => {}
            }
        }
        out
    }
}

/// Feed one peer segment to the connection.
pub fn send(conn: &mut Connection, now: Instant, seg: In) {
    let bytes = seg.to_bytes();
    let parsed = Segment::parse(&bytes, ChecksumCheck::Verify).unwrap();
    conn.handle_segment(now, &parsed);
}

/// Take the next segment the connection sends, if any.
pub fn try_recv(conn: &mut Connection, now: Instant) -> Option<Out> {
    let mut buf = [0u8; 2048];
    conn.poll_transmit(now, &mut buf)
        .map(|n| Out::parse(&buf[..n]))
}

/// Take the next segment; fail if there is none.
pub fn recv(conn: &mut Connection, now: Instant) -> Out {
    try_recv(conn, now).expect("expected a segment")
}

/// Assert the connection has nothing to send.
pub fn recv_nothing(conn: &mut Connection, now: Instant) {
    if let Some(out) = try_recv(conn, now) {
        panic!("expected no segment, got {out:?}");
    }
}

/// Drain the event queue.
pub fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// The peer's ISN in the traces.
pub const PEER_ISS: u32 = 10_000;

/// An active open completed against a scripted peer that answers with
/// `syn_ack_opts` applied to its SYN-ACK. Returns the connection and our ISS.
pub fn established_with(
    config: TcpConfig,
    now: Instant,
    shape: impl FnOnce(In) -> In,
) -> (Connection, u32) {
    let mut conn = Connection::connect(config, tuple(), key(), now).unwrap();
    let syn = recv(&mut conn, now);
    assert_eq!(syn.flags, SYN);
    let iss = syn.seq;
    let syn_ack = shape(In::new(SYN | ACK, PEER_ISS, iss.wrapping_add(1)).mss(1460));
    send(&mut conn, now, syn_ack);
    let ack = recv(&mut conn, now);
    assert_eq!(ack.flags, ACK);
    assert_eq!(conn.state(), State::Established);
    assert_eq!(events(&mut conn), [Event::Connected]);
    (conn, iss)
}

/// An established connection without timestamps or scaling.
pub fn established() -> (Connection, u32) {
    established_with(plain_config(), ms(0), |s| s)
}
