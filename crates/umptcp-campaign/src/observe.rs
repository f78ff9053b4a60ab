//! What can be learnt from the honest packets on the wire: the four-tuples
//! in use, each direction's sequence numbers, the keys and the data-level
//! sequence numbers.
//!
//! The attacker uses it to aim (real four-tuples, sequence numbers to stay
//! far from), and the DSS re-encoder to widen 4-octet DATA_ACKs correctly.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use umptcp_crypto::{idsn, token};
use umptcp_wire::mptcp::{CapableKeys, Dss, DssSeq, MpCapable, MptcpOption};
use umptcp_wire::segment::{ChecksumCheck, Segment, TcpFlags};
use umptcp_wire::{Key, TcpOption, Token};

use crate::config::Family;

/// One direction of one four-tuple as seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// The sequence number after the last segment sent this way.
    pub next_seq: u32,
}

/// The data-level direction: client to server (0) or server to client (1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Data the client sends.
    ClientToServer,
    /// Data the server sends.
    ServerToClient,
}

impl Dir {
    fn index(self) -> usize {
        self as usize
    }

    /// The other way.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::ClientToServer => Dir::ServerToClient,
            Dir::ServerToClient => Dir::ClientToServer,
        }
    }
}

/// Everything learnt so far.
#[derive(Clone, Debug)]
pub struct Observer {
    family: Family,
    flows: BTreeMap<(SocketAddr, SocketAddr), Flow>,
    /// The keys of the client and the server (MP_CAPABLE is in clear).
    keys: [Option<Key>; 2],
    /// The end of the highest mapping seen, per data direction.
    dsn_end: [Option<u64>; 2],
}

impl Observer {
    /// Nothing seen yet.
    pub fn new(family: Family) -> Self {
        Observer {
            family,
            flows: BTreeMap::new(),
            keys: [None; 2],
            dsn_end: [None; 2],
        }
    }

    /// The direction of a packet from `src`.
    pub fn dir(&self, src: SocketAddr) -> Dir {
        if self.family.is_client(src.ip()) {
            Dir::ClientToServer
        } else {
            Dir::ServerToClient
        }
    }

    /// Learn from an endpoint's packet (those to or from strangers, such
    /// as SYN/ACKs answering a flood, say nothing of the honest connection).
    pub fn observe(&mut self, packet: &[u8]) {
        let Ok(seg) = Segment::parse(packet, ChecksumCheck::Skip) else {
            return;
        };
        let ours = |ip| self.family.is_client(ip) || self.family.is_server(ip);
        if !ours(seg.src()) || !ours(seg.dst()) {
            return;
        }
        let src = SocketAddr::new(seg.src(), seg.src_port());
        let dst = SocketAddr::new(seg.dst(), seg.dst_port());
        let next_seq = seg.seq().wrapping_add(seg.seq_len() as u32);
        if !seg.flags().contains(TcpFlags::RST) {
            self.flows.insert((src, dst), Flow { next_seq });
        }
        let dir = self.dir(src);
        for option in seg.options().flatten() {
            match option {
                TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable { keys, .. })) => match keys {
                    // The first handshake's keys are the honest connection's;
                    // a later SYN/ACK answers a spoofed SYN.
                    CapableKeys::Sender(k) => {
                        self.keys[dir.index()].get_or_insert(k);
                    }
                    CapableKeys::Both { sender, receiver }
                    | CapableKeys::WithData {
                        sender, receiver, ..
                    } => {
                        self.keys[dir.index()].get_or_insert(sender);
                        self.keys[dir.reverse().index()].get_or_insert(receiver);
                    }
                    CapableKeys::None => {}
                },
                TcpOption::Mptcp(MptcpOption::Dss(Dss {
                    mapping: Some(m), ..
                })) => {
                    if let DssSeq::Long(dsn) = m.dsn {
                        let end = dsn.wrapping_add(u64::from(m.data_len));
                        let slot = &mut self.dsn_end[dir.index()];
                        if slot.is_none_or(|old| end.wrapping_sub(old) < 1 << 63) {
                            *slot = Some(end);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The directions seen so far, from `src` to `dst`.
    pub fn flows(&self) -> impl Iterator<Item = (SocketAddr, SocketAddr, Flow)> + '_ {
        self.flows.iter().map(|(&(s, d), &f)| (s, d, f))
    }

    /// The four-tuples in use, as (client side, server side).
    pub fn tuples(&self) -> Vec<(SocketAddr, SocketAddr)> {
        let mut v: Vec<_> = self
            .flows
            .keys()
            .map(|&(s, d)| {
                if self.family.is_client(s.ip()) {
                    (s, d)
                } else {
                    (d, s)
                }
            })
            .collect();
        v.dedup();
        v.sort();
        v.dedup();
        v
    }

    /// Whether a packet has gone from `a` to `b` or back.
    pub fn knows(&self, a: SocketAddr, b: SocketAddr) -> bool {
        self.flows.contains_key(&(a, b)) || self.flows.contains_key(&(b, a))
    }

    /// The sequence number after what `src` last sent to `dst`.
    pub fn next_seq(&self, src: SocketAddr, dst: SocketAddr) -> Option<u32> {
        self.flows.get(&(src, dst)).map(|f| f.next_seq)
    }

    /// A data sequence number near the sender's next one in `dir`: the end of
    /// its highest mapping, or its IDSN + 1 before any.
    pub fn dsn_ref(&self, dir: Dir) -> Option<u64> {
        self.dsn_end[dir.index()]
            .or_else(|| self.keys[dir.index()].map(|k| idsn(k).wrapping_add(1)))
    }

    /// The token of the client's (`ClientToServer`) or server's key.
    pub fn token(&self, of: Dir) -> Option<Token> {
        self.keys[of.index()].map(token)
    }
}
