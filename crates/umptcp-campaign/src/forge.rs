//! Forged segments: any flags, payload and MPTCP option, built from the
//! attacker's entropy.
//!
//! The option is drawn from every subtype RFC 8684 defines plus an unknown
//! one, with fields random or, where the attacker could guess them, near
//! the honest values ([`Hints`]): a DSS whose DSN is plausible tests that a
//! segment TCP would reject changes nothing, whatever its option says.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use umptcp_wire::mptcp::{
    AddAddr, CapableKeys, Dss, DssMapping, DssSeq, MpCapable, MpCapableFlags, MpFail, MpFastclose,
    MpJoin, MpPrio, MpTcpRst, MptcpOption, RemoveAddr,
};
use umptcp_wire::segment::{SegmentBuilder, TcpFlags};
use umptcp_wire::{AddrId, Key, Nonce, Token};

use crate::entropy::Entropy;

/// What the attacker may know when it picks an option's fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hints {
    /// Near the sender's next data sequence number.
    pub dsn: Option<u64>,
    /// Near what the receiver would accept as a DATA_ACK.
    pub data_ack: Option<u64>,
    /// A token to join (the real one, when the attacker learnt it).
    pub token: Option<Token>,
    /// IPv6 addresses in ADD_ADDR.
    pub v6: bool,
}

/// Which MPTCP options a forgery may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Options {
    /// Any, none included.
    Any,
    /// None, so that a SYN stays a plain SYN.
    None,
}

/// The fields of a forged segment besides its MPTCP option.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    /// Spoofed or own source.
    pub src: SocketAddr,
    /// The victim.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
}

/// Flags as an attacker would send them: the common combinations, and now
/// and then any byte.
pub fn flags(e: &mut Entropy) -> TcpFlags {
    let a = TcpFlags::ACK;
    match e.below(12) {
        0 | 1 => a,
        2 => a | TcpFlags::PSH,
        3 => a | TcpFlags::FIN,
        4 => TcpFlags::RST,
        5 => TcpFlags::RST | a,
        6 => TcpFlags::SYN,
        7 => TcpFlags::SYN | a,
        8 => TcpFlags::FIN,
        9 => TcpFlags::empty(),
        10 => a | TcpFlags::URG,
        _ => TcpFlags::from_bits(e.u8()),
    }
}

/// Payload lengths: none, one byte, a little, about a segment.
fn payload_len(e: &mut Entropy) -> usize {
    match e.below(5) {
        0 | 1 => 0,
        2 => 1,
        3 => e.range(2, 64) as usize,
        _ => e.range(500, 1400) as usize,
    }
}

/// Near `v` (within a few KiB either way), or random without a hint.
fn near(e: &mut Entropy, v: Option<u64>) -> u64 {
    match v {
        Some(v) if e.chance(700) => v.wrapping_add(e.below(8192)).wrapping_sub(4096),
        _ => e.u64(),
    }
}

fn seq(e: &mut Entropy, v: Option<u64>) -> DssSeq {
    let v = near(e, v);
    if e.chance(500) {
        DssSeq::Long(v)
    } else {
        DssSeq::Short(v as u32)
    }
}

/// A DSS with random or plausible fields.
pub fn dss(e: &mut Entropy, h: &Hints) -> Dss {
    let data_ack = e.chance(700).then(|| seq(e, h.data_ack));
    let mapping = (e.chance(700) || data_ack.is_none()).then(|| {
        let any = e.u16();
        DssMapping {
            dsn: seq(e, h.dsn),
            subflow_seq: if e.chance(500) {
                e.below(1 << 20) as u32
            } else {
                e.u32()
            },
            data_len: e.pick(&[0, 1, 1, 100, 1400, 65_535, any]),
            checksum: e.chance(500).then(|| e.u16()),
        }
    });
    Dss {
        data_ack,
        mapping,
        data_fin: e.chance(200),
    }
}

fn addr(e: &mut Entropy, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(
            u128::from(e.u64()) << 64 | u128::from(e.u64()),
        ))
    } else {
        IpAddr::V4(Ipv4Addr::from(e.u32()))
    }
}

fn capable(e: &mut Entropy) -> MpCapable {
    let keys = match e.below(4) {
        0 => CapableKeys::None,
        1 => CapableKeys::Sender(Key(e.u64())),
        2 => CapableKeys::Both {
            sender: Key(e.u64()),
            receiver: Key(e.u64()),
        },
        _ => CapableKeys::WithData {
            sender: Key(e.u64()),
            receiver: Key(e.u64()),
            data_len: e.u16(),
            checksum: e.chance(500).then(|| e.u16()),
        },
    };
    MpCapable {
        version: if e.chance(900) { 1 } else { e.below(16) as u8 },
        flags: MpCapableFlags(if e.chance(800) { 0x01 } else { e.u8() }),
        keys,
    }
}

/// An MP_JOIN SYN for `token` (random without one).
pub fn join_syn(e: &mut Entropy, token: Option<Token>) -> MpJoin {
    MpJoin::Syn {
        backup: e.chance(200),
        addr_id: AddrId(e.u8()),
        token: token.unwrap_or(Token(e.u32())),
        nonce: Nonce(e.u32()),
    }
}

/// Any MPTCP option (or none); `ids` backs a REMOVE_ADDR's list.
pub fn option<'a>(e: &mut Entropy, h: &Hints, ids: &'a mut [u8; 4]) -> Option<MptcpOption<'a>> {
    Some(match e.below(13) {
        0 | 1 => return None,
        2 | 3 => MptcpOption::Dss(dss(e, h)),
        4 => MptcpOption::MpFail(MpFail {
            dsn: near(e, h.dsn),
        }),
        5 => MptcpOption::MpFastclose(MpFastclose {
            receiver_key: Key(e.u64()),
        }),
        6 => MptcpOption::AddAddr(AddAddr {
            echo: e.chance(300),
            addr_id: AddrId(e.below(4) as u8),
            addr: addr(e, h.v6),
            port: e.chance(300).then(|| e.u16()),
            hmac: e.chance(800).then(|| e.u64()),
        }),
        7 => {
            let n = e.range(1, 4) as usize;
            for id in ids.iter_mut() {
                *id = e.below(4) as u8;
            }
            MptcpOption::RemoveAddr(RemoveAddr { ids: &ids[..n] })
        }
        8 => MptcpOption::MpPrio(MpPrio {
            backup: e.chance(500),
            addr_id: e.chance(500).then(|| AddrId(e.below(4) as u8)),
        }),
        9 => MptcpOption::MpCapable(capable(e)),
        10 => MptcpOption::MpJoin(match e.below(3) {
            0 => join_syn(e, h.token),
            1 => MpJoin::SynAck {
                backup: e.chance(200),
                addr_id: AddrId(e.u8()),
                hmac: e.u64(),
                nonce: Nonce(e.u32()),
            },
            _ => {
                let mut hmac = [0; 20];
                e.fill(&mut hmac);
                MpJoin::Ack { hmac }
            }
        }),
        11 => MptcpOption::MpTcpRst(MpTcpRst {
            flags: e.below(16) as u8,
            reason: e.u8().into(),
        }),
        _ => {
            // MP_EXPERIMENTAL (0xf): kept as bytes from the subtype byte on.
            let n = e.range(1, 4) as usize;
            e.fill(ids);
            ids[0] = 0xf0 | (ids[0] & 0x0f);
            MptcpOption::Unknown {
                subtype: 0xf,
                data: &ids[..n],
            }
        }
    })
}

/// A forged packet: `header`, a random window and payload, timestamps
/// absent or random (never valid but by chance), and `mptcp`.
pub fn packet(e: &mut Entropy, header: Header, mptcp: Option<MptcpOption<'_>>) -> Vec<u8> {
    let mut payload = vec![0; payload_len(e)];
    e.fill(&mut payload);
    let mut b = SegmentBuilder::new(header.src, header.dst);
    b.seq = header.seq;
    b.ack = header.ack;
    b.flags = header.flags;
    b.window = e.u16();
    b.payload = &payload;
    b.timestamps = e.chance(500).then(|| (e.u32(), e.u32()));
    b.mptcp = mptcp;
    emit(b).unwrap_or_default()
}

/// `b` as a packet; without timestamps, then without the MPTCP option, if
/// the options do not fit.
pub fn emit(mut b: SegmentBuilder<'_>) -> Option<Vec<u8>> {
    for _ in 0..3 {
        let mut out = vec![0; b.buffer_len_max()];
        if let Ok(emitted) = b.emit(&mut out) {
            out.truncate(emitted.len);
            return Some(out);
        }
        if b.timestamps.is_some() {
            b.timestamps = None;
        } else {
            b.mptcp = None;
        }
    }
    None
}
