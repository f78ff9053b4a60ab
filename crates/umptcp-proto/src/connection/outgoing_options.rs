//! The MPTCP option on each segment a subflow builds: MP_CAPABLE,
//! MP_JOIN, DSS (mapping, DATA_ACK, DATA_FIN), ADD_ADDR, REMOVE_ADDR,
//! MP_PRIO, MP_FAIL, and on resets MP_TCPRST or MP_FASTCLOSE.

use umptcp_crypto::dss_checksum;
use umptcp_tcp::{ExtraOptions, OptionSource, OutgoingSegment, SubflowSeq};
use umptcp_wire::mptcp::{
    AddAddr, Dss, DssMapping, DssSeq, MpFail, MpFastclose, MpJoin, MpPrio, MpTcpRst, MptcpOption,
    RemoveAddr, TcpRstReason,
};
use umptcp_wire::segment::TcpFlags;
use umptcp_wire::{AddrId, Key};

use crate::data_seq::DataSeq;
use crate::handshake;
use crate::tx_map::TxMap;

use super::{Mode, Role};

/// The state of the handshake options a subflow needs to build its
/// segments, borrowed from the connection for one `poll_transmit`.
pub(super) struct SubflowOptions<'a> {
    pub(super) mode: Mode,
    pub(super) role: Role,
    /// The initial subflow (MP_CAPABLE); otherwise a joined one.
    pub(super) initial: bool,
    /// A joined subflow's MP_JOIN for its SYN, SYN/ACK or third ACK.
    pub(super) join: Option<MpJoin>,
    /// Carries data-level options (DSS).
    pub(super) usable: bool,
    /// The MP_TCPRST on our reset.
    pub(super) rst_reason: Option<TcpRstReason>,
    /// MP_FASTCLOSE with the peer's key on our reset, instead.
    pub(super) fastclose: Option<Key>,
    /// MP_FAIL on our reset, instead (a DSS checksum failed there).
    pub(super) fail: Option<DataSeq>,
    pub(super) local_key: Key,
    pub(super) peer_key: Option<Key>,
    pub(super) checksum: bool,
    /// Client: repeat the keys on the segment at ISS+1 until the server
    /// shows it has them (RFC 8684 §3.1).
    pub(super) send_keys: bool,
    /// A pure ACK with the keys went already: a pending DATA_FIN takes
    /// the next one (as Linux gives it precedence), or it would never ride
    /// before the server's first DSS.
    pub(super) bare_keys_went: bool,
    /// Set when a segment built here carried the keys and no data.
    pub(super) bare_keys_sent: bool,
    /// Set when a segment built here carried data.
    pub(super) data_sent: bool,
    /// The subflow's [`Subflow::tx_base`](super::subflow::Subflow::tx_base):
    /// relative subflow sequence numbers count from it.
    pub(super) base: SubflowSeq,
    pub(super) tx: &'a TxMap,
    pub(super) data_ack: Option<DataSeq>,
    /// Our DATA_FIN's data sequence number, while unacknowledged.
    pub(super) data_fin: Option<DataSeq>,
    pub(super) option: Option<MptcpOption<'static>>,
    /// Set when a segment built here carried the DATA_FIN.
    pub(super) data_fin_sent: bool,
    /// An ADD_ADDR (or its echo) for the next pure ACK.
    pub(super) signal: Option<AddAddr>,
    /// Set when a segment built here carried `signal`.
    pub(super) signal_sent: bool,
    /// A REMOVE_ADDR for the next pure ACK.
    pub(super) remove: Option<AddrId>,
    /// Set when a segment built here carried `remove`.
    pub(super) remove_sent: bool,
    /// An MP_PRIO (its B flag) for the next pure ACK.
    pub(super) prio: Option<bool>,
    pub(super) prio_sent: bool,
    /// MP_FAIL for the next pure ACK (it rides alone, as ADD_ADDR does).
    pub(super) mp_fail: Option<DataSeq>,
    pub(super) mp_fail_sent: bool,
    /// The infinite mapping for the next data segment (after the peer's
    /// MP_FAIL, or its echo of ours).
    pub(super) infinite: bool,
    /// Where the subflow stream met the data stream at a mid-connection
    /// fallback: (subflow sequence, data sequence).
    pub(super) fallback_at: Option<(SubflowSeq, DataSeq)>,
    pub(super) infinite_sent: bool,
}

/// Every address ID as a one-byte slice, so a REMOVE_ADDR option can
/// borrow its ID for as long as any option lives.
static ADDR_IDS: [u8; 256] = {
    let mut ids = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        ids[i] = i as u8;
        i += 1;
    }
    ids
};

/// DSS with a 4-octet DATA_ACK and an 8-octet mapping, plus checksum.
pub(super) const DSS_RESERVE: usize = 4 + 4 + 8 + 4 + 2 + 2;

impl OptionSource for SubflowOptions<'_> {
    fn reserve(&self) -> usize {
        if matches!(self.mode, Mode::Fallback(_)) && !self.infinite {
            0
        } else {
            DSS_RESERVE
        }
    }

    fn max_payload(&mut self, seq: SubflowSeq) -> usize {
        match self.mode {
            Mode::Fallback(_) => usize::MAX,
            _ => self.tx.room_at(seq),
        }
    }

    fn options(&mut self, segment: &OutgoingSegment) -> ExtraOptions<'_> {
        self.option = self.option_for(segment);
        self.data_sent |= segment.payload_len > 0;
        match self.option {
            Some(MptcpOption::Dss(Dss {
                mapping: Some(DssMapping { data_len: 0, .. }),
                ..
            })) => self.infinite_sent = true,
            Some(MptcpOption::MpFail(_)) if !segment.flags.contains(TcpFlags::RST) => {
                self.mp_fail_sent = true;
            }
            Some(MptcpOption::Dss(Dss { data_fin: true, .. })) => self.data_fin_sent = true,
            Some(MptcpOption::AddAddr(_)) => self.signal_sent = true,
            Some(MptcpOption::RemoveAddr(_)) => self.remove_sent = true,
            Some(MptcpOption::MpPrio(_)) => self.prio_sent = true,
            // The keys on a pure ACK; the SYN's MP_CAPABLE carries none.
            Some(MptcpOption::MpCapable(_))
                if segment.payload_len == 0 && !segment.flags.contains(TcpFlags::SYN) =>
            {
                self.bare_keys_sent = true;
            }
            _ => {}
        }
        ExtraOptions {
            mptcp: self.option,
            optional: &[],
        }
    }
}

impl SubflowOptions<'_> {
    /// The data sequence number of the byte at subflow sequence `seq`:
    /// by its mapping, or, for bytes written after a fallback, from where
    /// the streams met.
    fn dsn_of(&self, seq: SubflowSeq) -> Option<DataSeq> {
        match self.tx.find(seq) {
            Some(m) => Some(m.dsn + u64::from(seq.distance_from(m.start))),
            None => self
                .fallback_at
                .map(|(at, dsn)| dsn + u64::from(seq.distance_from(at))),
        }
    }

    fn option_for(&self, segment: &OutgoingSegment) -> Option<MptcpOption<'static>> {
        let flags = segment.flags;
        if !flags.intersects(TcpFlags::RST | TcpFlags::SYN | TcpFlags::FIN) {
            // §3.7: our MP_FAIL (a checksum failed here, or the peer's
            // echoed) alone on a pure ACK; after the peer's, the infinite
            // mapping in place of the next data segment's mapping.
            if let Some(dsn) = self.mp_fail
                && segment.payload_len == 0
                && self.mode == Mode::Mptcp
            {
                return Some(MptcpOption::MpFail(MpFail { dsn: dsn.get() }));
            }
            if self.infinite
                && segment.payload_len > 0
                && let Some(dsn) = self.dsn_of(segment.seq)
            {
                let relative = segment.seq.get().wrapping_sub(self.base.get());
                return Some(MptcpOption::Dss(Dss {
                    data_ack: None,
                    mapping: Some(DssMapping {
                        dsn: DssSeq::Long(dsn.get()),
                        subflow_seq: relative,
                        data_len: 0,
                        checksum: self
                            .checksum
                            .then(|| dss_checksum(dsn.get(), relative, 0, &[])),
                    }),
                    data_fin: false,
                }));
            }
        }
        if matches!(self.mode, Mode::Fallback(_)) {
            return None;
        }
        if flags.contains(TcpFlags::RST) {
            if let Some(receiver_key) = self.fastclose {
                return Some(MptcpOption::MpFastclose(MpFastclose { receiver_key }));
            }
            if let Some(dsn) = self.fail {
                return Some(MptcpOption::MpFail(MpFail { dsn: dsn.get() }));
            }
            return self
                .rst_reason
                .map(|reason| MptcpOption::MpTcpRst(MpTcpRst { flags: 0, reason }));
        }
        if !self.initial {
            // A joined subflow: MP_JOIN on the SYN, SYN/ACK and third ACK
            // (repeated until the peer acknowledges it), DSS once usable.
            let syn = flags.contains(TcpFlags::SYN);
            if syn || !self.usable {
                return self
                    .join
                    .filter(|j| syn || matches!(j, MpJoin::Ack { .. }))
                    .map(MptcpOption::MpJoin);
            }
        } else if flags.contains(TcpFlags::SYN) {
            return Some(MptcpOption::MpCapable(match self.role {
                Role::Client => handshake::syn_option(self.checksum),
                Role::Server => handshake::syn_ack_option(self.local_key, self.checksum),
            }));
        }
        let mapping = self.tx.find(segment.seq).copied();
        let data_fin_first =
            segment.payload_len == 0 && self.data_fin.is_some() && self.bare_keys_went;
        if self.role == Role::Client
            && self.send_keys
            && segment.seq == self.base + 1u32
            && !data_fin_first
            && let Some(peer_key) = self.peer_key
        {
            // The third ACK, and the first data segment with its implied
            // mapping (data sequence IDSN+1, subflow sequence 1).
            let data = (segment.payload_len > 0)
                .then(|| mapping.map(|m| (m.len, m.checksum)))
                .flatten();
            return Some(MptcpOption::MpCapable(handshake::keys_option(
                self.local_key,
                peer_key,
                self.checksum,
                data,
            )));
        }
        if segment.payload_len == 0
            && !flags.contains(TcpFlags::FIN)
            && self.data_fin.is_none()
            && let Some(signal) = self.signal
        {
            // §3.4.1: an ADD_ADDR rides alone on a pure ACK (beside a DSS
            // it may not fit); the next segment carries the DATA_ACK.
            return Some(MptcpOption::AddAddr(signal));
        }
        if segment.payload_len == 0
            && !flags.contains(TcpFlags::FIN)
            && self.data_fin.is_none()
            && let Some(backup) = self.prio
        {
            // §3.3.8: on the subflow whose priority changes.
            return Some(MptcpOption::MpPrio(MpPrio {
                backup,
                addr_id: None,
            }));
        }
        if segment.payload_len == 0
            && !flags.contains(TcpFlags::FIN)
            && self.data_fin.is_none()
            && let Some(AddrId(id)) = self.remove
        {
            let id = usize::from(id);
            return Some(MptcpOption::RemoveAddr(RemoveAddr {
                ids: &ADDR_IDS[id..=id],
            }));
        }
        let mapping = if segment.payload_len > 0 {
            mapping.map(|m| DssMapping {
                dsn: DssSeq::Long(m.dsn.get()),
                subflow_seq: m.start.get().wrapping_sub(self.base.get()),
                data_len: m.len,
                checksum: m.checksum,
            })
        } else {
            // RFC 8684 §3.3.3: a DATA_FIN on a segment without data has
            // subflow sequence 0 and Data-Level Length 1.
            self.data_fin.map(|fin| DssMapping {
                dsn: DssSeq::Long(fin.get()),
                subflow_seq: 0,
                data_len: 1,
                checksum: self.checksum.then(|| dss_checksum(fin.get(), 0, 1, &[])),
            })
        };
        let data_fin = segment.payload_len == 0 && self.data_fin.is_some();
        let data_ack = self.data_ack.map(|a| DssSeq::Short(a.get() as u32));
        if data_ack.is_none() && mapping.is_none() {
            return None;
        }
        Some(MptcpOption::Dss(Dss {
            data_ack,
            mapping,
            data_fin,
        }))
    }
}
