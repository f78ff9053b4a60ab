//! Meaning-preserving impairments of honest packets: drop, duplicate,
//! reorder (hold back), and DSS options re-encoded with the other width of
//! DSN and DATA_ACK (RFC 8684 §3.3 lets a sender pick either).
//!
//! Nothing here changes what a packet means, so the transfer must come
//! through exact: only the timing and the encoding a receiver meets differ.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use umptcp_wire::TcpOption;
use umptcp_wire::mptcp::{Dss, DssMapping, DssSeq, MptcpOption};
use umptcp_wire::segment::{ChecksumCheck, Segment};

use crate::config::{Impairments, MAX_CONSECUTIVE_DROPS};
use crate::entropy::Entropy;
use crate::observe::Observer;
use crate::wire::{rebuild, widen};

/// A copy to deliver, held back `extra` beyond the link's delay.
#[derive(Clone, Debug)]
pub struct Copy {
    /// Added delay.
    pub extra: Duration,
    /// The packet (re-encoded or as sent).
    pub bytes: Vec<u8>,
}

/// The impairing network's choices for one case.
#[derive(Debug)]
pub struct Impairer {
    rates: Impairments,
    /// The largest added delay (twice the case's largest link delay).
    hold: Duration,
    e: Entropy,
    drops_in_a_row: BTreeMap<(IpAddr, IpAddr), u32>,
    /// DSS options re-encoded so far.
    pub reencoded: u64,
    /// Packets dropped so far.
    pub dropped: u64,
}

impl Impairer {
    /// Impair at `rates`, holding packets back by up to `hold`.
    pub fn new(rates: Impairments, hold: Duration, e: Entropy) -> Self {
        Impairer {
            rates,
            hold,
            e,
            drops_in_a_row: BTreeMap::new(),
            reencoded: 0,
            dropped: 0,
        }
    }

    /// What becomes of one honest packet: no copy (dropped), one or two.
    pub fn impair(&mut self, bytes: Vec<u8>, seen: &Observer) -> Vec<Copy> {
        let Ok(seg) = Segment::parse(&bytes, ChecksumCheck::Skip) else {
            return vec![Copy {
                extra: Duration::ZERO,
                bytes,
            }];
        };
        let link = (seg.src(), seg.dst());
        let in_a_row = self.drops_in_a_row.entry(link).or_insert(0);
        if *in_a_row < MAX_CONSECUTIVE_DROPS && self.e.chance(self.rates.drop) {
            *in_a_row += 1;
            self.dropped += 1;
            return Vec::new();
        }
        *in_a_row = 0;
        let bytes = if self.e.chance(self.rates.reencode) {
            match reencode(&seg, seen, &mut self.e) {
                Some(b) => {
                    self.reencoded += 1;
                    b
                }
                None => bytes,
            }
        } else {
            bytes
        };
        let mut copies = Vec::with_capacity(2);
        let hold = self.hold.as_micros() as u64;
        if self.e.chance(self.rates.duplicate) {
            copies.push(Copy {
                extra: Duration::from_micros(self.e.below(hold.max(1))),
                bytes: bytes.clone(),
            });
        }
        let extra = if self.e.chance(self.rates.reorder) {
            Duration::from_micros(self.e.below(hold.max(1)))
        } else {
            Duration::ZERO
        };
        copies.push(Copy { extra, bytes });
        copies
    }
}

/// `seg` with its DSS in the other widths: an 8-octet DSN as 4 octets, a
/// 4-octet DATA_ACK as 8 (widened next to what the peer sent), each with
/// even odds. `None` if it has no DSS, or nothing changed, or the segment
/// cannot be rebuilt as it was.
fn reencode(seg: &Segment<'_>, seen: &Observer, e: &mut Entropy) -> Option<Vec<u8>> {
    let dss = seg.options().flatten().find_map(|o| match o {
        TcpOption::Mptcp(MptcpOption::Dss(d)) => Some(d),
        _ => None,
    })?;
    let dir = seen.dir(std::net::SocketAddr::new(seg.src(), seg.src_port()));
    let mapping = dss.mapping.map(|m| {
        let dsn = match m.dsn {
            DssSeq::Long(v) if e.chance(500) => DssSeq::Short(v as u32),
            other => other,
        };
        DssMapping { dsn, ..m }
    });
    // The DATA_ACK acknowledges the other direction's data.
    let data_ack = match (dss.data_ack, seen.dsn_ref(dir.reverse())) {
        (Some(DssSeq::Short(low)), Some(near)) if e.chance(500) => {
            Some(DssSeq::Long(widen(low, near)))
        }
        (other, _) => other,
    };
    let new = Dss {
        data_ack,
        mapping,
        ..dss
    };
    if new == dss {
        return None;
    }
    rebuild(seg, MptcpOption::Dss(new))
}
