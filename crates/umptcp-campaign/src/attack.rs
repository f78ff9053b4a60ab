//! The attacker of the unknown-tuple, off-path and flood modes: what it
//! sends after each honest segment, and how it answers what reaches its own
//! addresses.
//!
//! It acts after honest segments (not on a clock), so it strikes in every
//! phase of the connection, the handshake and the joins included, however
//! long the transfer takes. Its forgeries arrive 1 µs after the segment
//! that triggered them.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use umptcp_time::Instant;
use umptcp_wire::TcpOption;
use umptcp_wire::mptcp::{CapableKeys, MpCapable, MpCapableFlags, MpJoin, MptcpOption};
use umptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};

use crate::config::{CLIENT_PORT, Family, SERVER_PORT};
use crate::entropy::Entropy;
use crate::forge::{self, Header, Hints};
use crate::mode::Mode;
use crate::observe::{Dir, Observer};

/// A forged packet to deliver.
#[derive(Clone, Debug)]
pub struct Forged {
    /// When it arrives.
    pub at: Instant,
    /// Its destination address (routing).
    pub dst: IpAddr,
    /// The IP packet.
    pub bytes: Vec<u8>,
}

/// The attacker of one case.
#[derive(Debug)]
pub struct Attacker {
    mode: Mode,
    family: Family,
    e: Entropy,
    rate: u32,
    armed: bool,
    stopped: bool,
    next_stranger: u16,
    /// Forged packets sent.
    pub forged: u64,
}

/// Offsets that keep a forged sequence or acknowledgment number more than
/// 2^30 away from every number the receiver could accept (its window and
/// the sender's data in flight are at most a few MiB).
fn far(e: &mut Entropy) -> u32 {
    let lo = (1u64 << 30) + (1 << 22);
    (lo + e.below((1 << 31) - (1 << 23))) as u32
}

impl Attacker {
    /// An attacker for `mode` acting after an honest segment with
    /// probability `rate` per mille, its choices from `e`.
    pub fn new(mode: Mode, family: Family, rate: u32, e: Entropy) -> Self {
        Attacker {
            mode,
            family,
            e,
            rate,
            armed: mode != Mode::Flood,
            stopped: false,
            next_stranger: 1,
            forged: 0,
        }
    }

    /// Start (a flood waits until the honest connection is established:
    /// it attacks a transfer that runs).
    pub fn arm(&mut self) {
        self.armed = true;
    }

    /// Stop for good (the honest connection is over).
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    fn active(&self) -> bool {
        self.armed && !self.stopped && !self.e.exhausted()
    }

    /// React to an honest segment delivered at `now`.
    pub fn after_delivery(&mut self, now: Instant, seen: &Observer, out: &mut Vec<Forged>) {
        if !self.active() || !self.e.chance(self.rate) {
            return;
        }
        let at = now + Duration::from_micros(1);
        let packet = match self.mode {
            Mode::OffPath => self.off_path(seen),
            Mode::UnknownTuple => self.unknown_tuple(seen),
            Mode::Flood => {
                let n = self.e.range(1, 4);
                for _ in 1..n {
                    if let Some((dst, bytes)) = self.flood(seen) {
                        self.push(out, at, dst, bytes);
                    }
                }
                self.flood(seen)
            }
            Mode::Impair | Mode::OnPath => None,
        };
        if let Some((dst, bytes)) = packet {
            self.push(out, at, dst, bytes);
        }
    }

    fn push(&mut self, out: &mut Vec<Forged>, at: Instant, dst: IpAddr, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.forged += 1;
        out.push(Forged { at, dst, bytes });
    }

    /// A segment on a real four-tuple, either way, its sequence and
    /// acknowledgment numbers far outside the windows.
    fn off_path(&mut self, seen: &Observer) -> Option<(IpAddr, Vec<u8>)> {
        let tuples = seen.tuples();
        if tuples.is_empty() {
            return None;
        }
        let (c, s) = self.e.pick(&tuples);
        let (src, dst) = if self.e.chance(500) { (c, s) } else { (s, c) };
        // Only where both directions were seen: "far" must be far from
        // numbers we know.
        let (Some(snd), Some(rcv)) = (seen.next_seq(src, dst), seen.next_seq(dst, src)) else {
            return None;
        };
        let dir = seen.dir(src);
        let e = &mut self.e;
        let header = Header {
            src,
            dst,
            seq: snd.wrapping_add(far(e)),
            ack: rcv.wrapping_add(far(e)),
            flags: forge::flags(e),
        };
        let hints = Hints {
            dsn: seen.dsn_ref(dir),
            data_ack: seen.dsn_ref(dir.reverse()),
            token: None,
            v6: self.family == Family::V6,
        };
        let mut ids = [0; 4];
        let option = forge::option(e, &hints, &mut ids);
        Some((dst.ip(), forge::packet(e, header, option)))
    }

    /// A segment on a four-tuple no connection has, to either host.
    fn unknown_tuple(&mut self, seen: &Observer) -> Option<(IpAddr, Vec<u8>)> {
        let f = self.family;
        let e = &mut self.e;
        let to_server = e.chance(500);
        let dst_ip = if to_server {
            f.server(e.below(2) as u8)
        } else {
            f.client(e.below(3) as u8)
        };
        let real_port = if to_server {
            SERVER_PORT
        } else {
            CLIENT_PORT + e.below(3) as u16
        };
        let dst_port = match e.below(4) {
            0 | 1 => real_port,
            // In the range subflows take their ports from.
            2 => 32768 + e.below(28232) as u16,
            _ => e.u16(),
        };
        let src_ip = match e.below(3) {
            // The peer's own address, from a port it does not use.
            0 if to_server => f.client(e.below(3) as u8),
            0 => f.server(e.below(2) as u8),
            _ => f.stranger(e.u16()),
        };
        let src_port = if f.is_client(src_ip) || f.is_server(src_ip) {
            e.range(1024, 4999) as u16
        } else {
            let any = e.u16();
            e.pick(&[SERVER_PORT, CLIENT_PORT, any])
        };
        let mut dst = SocketAddr::new(dst_ip, dst_port);
        let src = SocketAddr::new(src_ip, src_port);
        if seen.knows(src, dst) {
            return None;
        }
        let flags = forge::flags(e);
        let hints = Hints {
            dsn: None,
            data_ack: None,
            token: None,
            v6: f == Family::V6,
        };
        let mut ids = [0; 4];
        let option = forge::option(e, &hints, &mut ids);
        // A SYN to a listener opens a connection: that is the flood mode's.
        let join = matches!(option, Some(MptcpOption::MpJoin(MpJoin::Syn { .. })));
        if flags & (TcpFlags::SYN | TcpFlags::ACK | TcpFlags::RST) == TcpFlags::SYN
            && dst == f.listener()
            && !join
        {
            dst.set_port(SERVER_PORT + 1);
        }
        let header = Header {
            src,
            dst,
            seq: e.u32(),
            ack: e.u32(),
            flags,
        };
        Some((dst.ip(), forge::packet(e, header, option)))
    }

    /// One SYN of a flood: MP_CAPABLE (or plain) SYNs to the listener, and
    /// MP_JOIN SYNs with random tokens or the real ones, all from strangers.
    fn flood(&mut self, seen: &Observer) -> Option<(IpAddr, Vec<u8>)> {
        let f = self.family;
        self.next_stranger = self.next_stranger.wrapping_add(1).max(1);
        let stranger = f.stranger(self.next_stranger);
        let e = &mut self.e;
        let src = SocketAddr::new(stranger, e.range(1024, 65535) as u16);
        let (dst, option) = match e.below(6) {
            0 | 1 => {
                let option = match e.below(4) {
                    0 => None,
                    _ => Some(MptcpOption::MpCapable(MpCapable {
                        version: 1,
                        flags: MpCapableFlags(if e.chance(500) { 0x81 } else { 0x01 }),
                        keys: CapableKeys::None,
                    })),
                };
                (f.listener(), option)
            }
            2 => (
                SocketAddr::new(f.server(e.below(2) as u8), SERVER_PORT),
                Some(MptcpOption::MpJoin(forge::join_syn(e, None))),
            ),
            3 | 4 => (
                SocketAddr::new(f.server(e.below(2) as u8), SERVER_PORT),
                Some(MptcpOption::MpJoin(forge::join_syn(
                    e,
                    Some(seen.token(Dir::ServerToClient)?),
                ))),
            ),
            _ => (
                SocketAddr::new(f.client(e.below(3) as u8), e.u16()),
                Some(MptcpOption::MpJoin(forge::join_syn(
                    e,
                    Some(seen.token(Dir::ClientToServer)?),
                ))),
            ),
        };
        let mut b = SegmentBuilder::new(src, dst);
        b.seq = e.u32();
        b.flags = TcpFlags::SYN;
        b.window = 65535;
        b.mss = Some(1460);
        b.timestamps = e.chance(500).then(|| (e.u32(), 0));
        b.mptcp = option;
        Some((dst.ip(), forge::emit(b)?))
    }

    /// A packet an endpoint sent to a stranger's address at `now`: a flood's
    /// stranger answers a join's SYN/ACK with a third ACK whose HMAC it
    /// cannot know (or a reset), now and then an MP_CAPABLE SYN/ACK with a
    /// blind third ACK carrying data, and leaves the others half-open.
    pub fn at_stranger(&mut self, now: Instant, packet: &[u8], out: &mut Vec<Forged>) {
        if self.mode != Mode::Flood || self.stopped {
            return;
        }
        let Ok(seg) = Segment::parse(packet, ChecksumCheck::Skip) else {
            return;
        };
        if seg.flags() & (TcpFlags::SYN | TcpFlags::ACK) != TcpFlags::SYN | TcpFlags::ACK {
            return;
        }
        let mut ts = None;
        let mut join = false;
        let mut capable = None;
        for option in seg.options().flatten() {
            match option {
                TcpOption::Timestamps { tsval, .. } => ts = Some(tsval),
                TcpOption::Mptcp(MptcpOption::MpJoin(MpJoin::SynAck { .. })) => join = true,
                TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable {
                    keys: CapableKeys::Sender(key),
                    ..
                })) => capable = Some(key),
                _ => {}
            }
        }
        if self.e.exhausted() {
            return;
        }
        let e = &mut self.e;
        let src = SocketAddr::new(seg.dst(), seg.dst_port());
        let dst = SocketAddr::new(seg.src(), seg.src_port());
        let mut b = SegmentBuilder::new(src, dst);
        b.seq = seg.ack();
        b.ack = seg.seq().wrapping_add(1);
        b.window = 65535;
        b.timestamps = ts.map(|tsecr| (e.u32(), tsecr));
        let mut hmac = [0; 20];
        let payload = [0x5a; 512];
        if join {
            match e.below(10) {
                0 => return,
                1 => b.flags = TcpFlags::RST,
                _ => {
                    e.fill(&mut hmac);
                    b.flags = TcpFlags::ACK;
                    b.mptcp = Some(MptcpOption::MpJoin(MpJoin::Ack { hmac }));
                }
            }
        } else if let Some(key) = capable {
            // A flood's SYN answered: a blind third ACK with data, its ACK
            // number far from the SYN/ACK's (a spoofer's guess). It must
            // neither establish the connection nor make it take buffers.
            if !e.chance(300) {
                return;
            }
            b.ack = b.ack.wrapping_add(far(e));
            b.flags = TcpFlags::ACK | TcpFlags::PSH;
            b.payload = &payload;
            b.mptcp = Some(MptcpOption::MpCapable(MpCapable {
                version: 1,
                flags: MpCapableFlags(0x01),
                keys: CapableKeys::WithData {
                    sender: umptcp_wire::Key(e.u64()),
                    receiver: key,
                    data_len: payload.len() as u16,
                    checksum: None,
                },
            }));
        } else {
            return;
        }
        if let Some(bytes) = forge::emit(b) {
            let at = now + Duration::from_micros(1);
            self.push(out, at, dst.ip(), bytes);
        }
    }
}
