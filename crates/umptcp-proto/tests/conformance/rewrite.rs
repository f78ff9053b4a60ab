//! A rewriter that turns our sender's MPTCP options into other shapes RFC
//! 8684 allows, so that our receiver meets what another implementation
//! may send: the "independent implementation" of the conformance suite.
//!
//! It sits on one host's outgoing packets (IPv4, as the simulator carries
//! them) and rebuilds each segment with the same TCP header fields, payload
//! and non-MPTCP options, only the MPTCP option changed. It keeps, per
//! subflow, the initial sequence number (DSS subflow sequence numbers are
//! relative to it) and what it declared before, so a retransmission gets
//! the mapping its first copy had (RFC 8684 §3.3.1: a mapping, once sent,
//! does not change).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use umptcp_time::Instant;

use umptcp_crypto::dss_checksum;
use umptcp_wire::mptcp::{CapableKeys, Dss, DssMapping, DssSeq, MptcpOption};
use umptcp_wire::segment::{ChecksumCheck, Segment, SegmentBuilder, TcpFlags};
use umptcp_wire::tcp_option::TcpOption;

/// What the rewriting sender does differently from ours, each one a
/// freedom RFC 8684 leaves to the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Variant {
    /// Nothing changed: the baseline.
    Plain,
    /// §3.3.1 "a single mapping may cover many segments": the mapping
    /// only on the segment where it starts; the later segments of the
    /// mapping carry a DSS with the DATA_ACK alone.
    MappingOnce,
    /// The same, but the later segments carry no MPTCP option at all.
    MappingOnceBare,
    /// A pure third ACK with both keys first, then the first data segment
    /// with MP_CAPABLE again, its Data-Level Length covering many segments
    /// (§3.1), and the later segments of every mapping with no MPTCP
    /// option: what an implementation does that ACKs the SYN/ACK at once
    /// and maps whole writes.
    ThirdAckThenKeysOnData,
    /// Every segment its own mapping, exactly its payload (as the kernel
    /// does), with the DSS checksum recomputed.
    MappingPerSegment,
    /// Mappings that end in the middle of a segment: each declared on the
    /// next segment, starting at the first byte not yet mapped (in the
    /// previous segment) and ending half-way through the segment carrying
    /// it. Without checksums only (a checksum covers a whole mapping).
    SplitWithinSegments,
    /// §3.3: 4-octet data sequence numbers in every mapping.
    Dsn32,
    /// §3.3: 8-octet DATA_ACKs.
    DataAck64,
    /// A DATA_ACK on every n-th segment only; a DSS left with nothing in it
    /// is dropped.
    SparseDataAck(u32),
    /// §3.3.3: the DATA_FIN inside the mapping of the last data (its
    /// Data-Level Length one more than the data), where ours sends it
    /// alone on a pure ACK. The segment that ends the stream (the rewriter
    /// is told where: [`Rewriter::ending_at`]) is held back until our
    /// sender's DATA_FIN comes; then it goes in the DATA_FIN's place,
    /// carrying it, and every retransmission of it keeps it.
    DataFinOnData,
    /// §3.4.1: ADD_ADDR on a data segment, where ours sends it alone on a
    /// pure ACK. The announcement is taken off its pure ACK and put on the
    /// next data segment, whose DSS shrinks to fit TCP's 40 bytes beside
    /// the timestamps: a 4-octet DSN, no DATA_ACK (no checksums).
    AddAddrOnData,
}

/// A mapping this rewriter declared, in relative subflow sequence numbers.
#[derive(Clone, Copy, Debug)]
struct Declared {
    start: u32,
    len: u32,
    dsn: u64,
}

impl Declared {
    fn contains(&self, seq: u32) -> bool {
        seq.wrapping_sub(self.start) < self.len
    }
}

/// Per-subflow memory.
#[derive(Debug)]
struct Flow {
    local: SocketAddr,
    remote: SocketAddr,
    iss: u32,
    declared: VecDeque<Declared>,
    /// Relative subflow sequence number up to which mappings were declared.
    mapped_to: Option<u32>,
    /// `DataFinOnData`: the segment (relative sequence number) whose
    /// mapping took the DATA_FIN, and that mapping.
    fin_merged: Option<(u32, DssMapping)>,
}

/// The rewriting sender's state.
#[derive(Debug)]
pub(crate) struct Rewriter {
    variant: Variant,
    flows: Vec<Flow>,
    /// Segments that carried a DATA_ACK so far (for `SparseDataAck`).
    data_acks: u32,
    /// The highest data sequence number the other side sent, as 64 bits
    /// (to widen our 4-octet DATA_ACK for `DataAck64`).
    peer_dsn: Option<u64>,
    /// The other side's DATA_FIN arrived: its DATA_ACK must go through
    /// (RFC 8684 §3.3.3), so `SparseDataAck` keeps every DATA_ACK from then on.
    peer_data_fin: bool,
    /// Packets rewritten, for the test's own sanity check.
    pub(crate) rewritten: u64,
    /// Pure third ACKs sent ahead of the first data (`ThirdAckThenKeysOnData`).
    pub(crate) inserted: u64,
    /// A packet to send before anything else.
    pending: Option<Vec<u8>>,
    /// `DataFinOnData`: the data sequence number the stream ends at, and
    /// the segment that ends it, held back until the DATA_FIN comes.
    end_dsn: Option<u64>,
    /// `AddAddrOnData`: the announcement waiting for a data segment.
    add_addr: Option<umptcp_wire::mptcp::AddAddr>,
    held: Option<Vec<u8>>,
    /// When the segment held now was first held, the time of the current
    /// packet, and how long segments were held in all (the delay the
    /// rewriter itself adds).
    held_since: Option<Instant>,
    now: Instant,
    pub(crate) held_for: Duration,
    scratch: Vec<u8>,
}

/// Mappings remembered per subflow for retransmissions.
const DECLARED_KEPT: usize = 4096;

impl Rewriter {
    pub(crate) fn new(variant: Variant) -> Self {
        Rewriter {
            variant,
            flows: Vec::new(),
            data_acks: 0,
            peer_dsn: None,
            peer_data_fin: false,
            rewritten: 0,
            inserted: 0,
            pending: None,
            end_dsn: None,
            add_addr: None,
            held: None,
            held_since: None,
            now: Instant::ZERO,
            held_for: Duration::ZERO,
            scratch: vec![0; 70_000],
        }
    }

    /// See a packet the other side sent (its data sequence numbers).
    pub(crate) fn observe_incoming(&mut self, packet: &[u8]) {
        let Ok(seg) = Segment::parse(packet, ChecksumCheck::Skip) else {
            return;
        };
        for option in seg.options().flatten() {
            if let TcpOption::Mptcp(MptcpOption::Dss(Dss {
                mapping: Some(m),
                data_fin,
                ..
            })) = option
                && let DssSeq::Long(dsn) = m.dsn
            {
                self.peer_data_fin |= data_fin;
                let end = dsn.wrapping_add(u64::from(m.data_len));
                if self.peer_dsn.is_none_or(|old| end > old) {
                    self.peer_dsn = Some(end);
                }
            }
        }
    }

    /// A packet the rewriter sends of its own, ahead of what the
    /// connection sends next: copied into `buf`, its length returned.
    pub(crate) fn take_pending(&mut self, buf: &mut [u8]) -> Option<usize> {
        let packet = self.pending.take()?;
        buf[..packet.len()].copy_from_slice(&packet);
        Some(packet.len())
    }

    /// The time of the packets rewritten next.
    pub(crate) fn at(&mut self, now: Instant) {
        self.now = now;
    }

    /// `DataFinOnData`: the stream this side sends ends at data sequence
    /// number `end` (where its DATA_FIN is).
    pub(crate) fn ending_at(mut self, end: u64) -> Self {
        self.end_dsn = Some(end);
        self
    }

    /// Rewrite the packet in `buf[..len]` in place: `Some(new length)`,
    /// or `None` to drop it. After a `Some`, call `take_pending` first: a
    /// packet rewritten into two sends the first now, the second next.
    pub(crate) fn rewrite(&mut self, buf: &mut [u8], len: usize) -> Option<usize> {
        if self.variant == Variant::Plain {
            return Some(len);
        }
        if self.variant == Variant::DataFinOnData {
            let packet = buf[..len].to_vec();
            let out = self.fin_on_data(packet)?;
            buf[..out.len()].copy_from_slice(&out);
            return Some(out.len());
        }
        let seg = Segment::parse(&buf[..len], ChecksumCheck::Skip).ok()?;
        let local = SocketAddr::new(seg.src(), seg.src_port());
        let remote = SocketAddr::new(seg.dst(), seg.dst_port());
        let flags = seg.flags();
        if flags.contains(TcpFlags::SYN) {
            self.flows
                .retain(|f| f.local != local || f.remote != remote);
            self.flows.push(Flow {
                local,
                remote,
                iss: seg.seq(),
                declared: VecDeque::new(),
                mapped_to: None,
                fin_merged: None,
            });
            return Some(len);
        }
        let flow = self
            .flows
            .iter()
            .position(|f| f.local == local && f.remote == remote)?;
        let rel = seg.seq().wrapping_sub(self.flows[flow].iss);
        let payload = seg.payload();

        let mut main = None;
        let mut optional: Vec<MptcpOption<'_>> = Vec::new();
        let mut builder = SegmentBuilder::new(local, remote);
        let mut sack = Vec::new();
        for option in seg.options().flatten() {
            match option {
                TcpOption::MaxSegmentSize(mss) => builder.mss = Some(mss),
                TcpOption::WindowScale(ws) => builder.window_scale = Some(ws),
                TcpOption::SackPermitted => builder.sack_permitted = true,
                TcpOption::Timestamps { tsval, tsecr } => builder.timestamps = Some((tsval, tsecr)),
                TcpOption::FastOpen(cookie) => builder.fast_open = Some(cookie),
                TcpOption::SackBlocks(blocks) => sack.extend_from_slice(blocks.as_slice()),
                TcpOption::Mptcp(
                    o @ (MptcpOption::AddAddr(_)
                    | MptcpOption::RemoveAddr(_)
                    | MptcpOption::MpPrio(_)),
                ) => optional.push(o),
                TcpOption::Mptcp(o) if main.is_none() => main = Some(o),
                _ => {}
            }
        }
        if self.variant == Variant::ThirdAckThenKeysOnData
            && let Some(MptcpOption::MpCapable(
                capable @ umptcp_wire::mptcp::MpCapable {
                    keys:
                        CapableKeys::WithData {
                            sender, receiver, ..
                        },
                    ..
                },
            )) = main
            && !payload.is_empty()
            && self.inserted == 0
        {
            // The pure third ACK goes first; this data segment, as it is,
            // right after it.
            let mut ack = builder;
            ack.seq = seg.seq();
            ack.ack = seg.ack();
            ack.flags = flags;
            ack.window = seg.window();
            ack.hop_limit = seg.hop_limit();
            ack.mptcp = Some(MptcpOption::MpCapable(umptcp_wire::mptcp::MpCapable {
                keys: CapableKeys::Both { sender, receiver },
                ..capable
            }));
            let emitted = ack.emit(&mut self.scratch).ok()?;
            self.pending = Some(buf[..len].to_vec());
            buf[..emitted.len].copy_from_slice(&self.scratch[..emitted.len]);
            self.inserted += 1;
            return Some(emitted.len);
        }
        let original = main;
        let mut main = match main {
            Some(option) => self.transform(flow, rel, payload, option)?,
            None => None,
        };
        let mut changed = main != original;
        // `AddAddrOnData`: the payload bytes that go on a segment of their
        // own after this one, so that this one keeps within the size the
        // sender chose (the path's MTU).
        let mut split_at = None;
        if self.variant == Variant::AddAddrOnData {
            let is_announcement =
                |o: &MptcpOption<'_>| matches!(o, MptcpOption::AddAddr(a) if !a.echo);
            if payload.is_empty()
                && let Some(MptcpOption::AddAddr(a)) = optional.iter().find(|o| is_announcement(o))
            {
                // Off the pure ACK; onto the next data segment.
                self.add_addr = Some(*a);
                optional.retain(|o| !is_announcement(o));
                changed = true;
            } else if let (Some(a), Some(MptcpOption::Dss(dss))) = (self.add_addr, main)
                && let Some(m) = dss.mapping.filter(|m| m.checksum.is_none())
                && !payload.is_empty()
            {
                let dss = Dss {
                    data_ack: None,
                    mapping: Some(DssMapping {
                        dsn: DssSeq::Short(m.dsn.as_u64() as u32),
                        ..m
                    }),
                    ..dss
                };
                let mut trial = SegmentBuilder::new(local, remote);
                trial.timestamps = builder.timestamps;
                trial.sack_blocks = &sack;
                trial.payload = payload;
                trial.mptcp = Some(MptcpOption::Dss(dss));
                let with = [MptcpOption::AddAddr(a)];
                trial.mptcp_optional = &with;
                let grown = trial
                    .emit(&mut self.scratch)
                    .ok()
                    .map(|e| e.len.saturating_sub(len));
                if let Some(grown) = grown.filter(|g| *g < payload.len()) {
                    if grown > 0 {
                        split_at = Some(payload.len() - grown);
                    }
                    main = Some(MptcpOption::Dss(dss));
                    optional.push(MptcpOption::AddAddr(a));
                    self.add_addr = None;
                    self.inserted += 1;
                    changed = true;
                }
            }
        }
        if !changed {
            return Some(len);
        }
        builder.seq = seg.seq();
        builder.ack = seg.ack();
        builder.flags = flags;
        builder.window = seg.window();
        builder.hop_limit = seg.hop_limit();
        builder.urgent = seg.urgent();
        builder.payload = payload;
        builder.mptcp = main;
        builder.sack_blocks = &sack;
        builder.mptcp_optional = &optional;
        if let Some(k) = split_at {
            // The rest, with the segment's own options (its mapping
            // covers it too), goes next.
            let mut rest = builder;
            rest.seq = seg.seq().wrapping_add(k as u32);
            rest.payload = &payload[k..];
            rest.mptcp = original;
            let others: Vec<MptcpOption<'_>> = optional
                .iter()
                .copied()
                .filter(|o| !matches!(o, MptcpOption::AddAddr(a) if !a.echo))
                .collect();
            rest.mptcp_optional = &others;
            let mut packet = vec![0; rest.buffer_len_max()];
            let n = rest.emit(&mut packet).ok()?.len;
            packet.truncate(n);
            self.pending = Some(packet);
            builder.payload = &payload[..k];
            builder.flags =
                TcpFlags::from_bits(flags.bits() & !(TcpFlags::FIN.bits() | TcpFlags::PSH.bits()));
        }
        let emitted = builder.emit(&mut self.scratch).ok()?;
        let n = emitted.len;
        buf[..n].copy_from_slice(&self.scratch[..n]);
        self.rewritten += 1;
        Some(n)
    }

    /// `DataFinOnData` (see the variant): the packet to send now in place
    /// of `packet`, or `None` for nothing now.
    fn fin_on_data(&mut self, packet: Vec<u8>) -> Option<Vec<u8>> {
        let seg = Segment::parse(&packet, ChecksumCheck::Skip).ok()?;
        let local = SocketAddr::new(seg.src(), seg.src_port());
        let remote = SocketAddr::new(seg.dst(), seg.dst_port());
        if seg.flags().contains(TcpFlags::SYN) {
            self.flows
                .retain(|f| f.local != local || f.remote != remote);
            self.flows.push(Flow {
                local,
                remote,
                iss: seg.seq(),
                declared: VecDeque::new(),
                mapped_to: None,
                fin_merged: None,
            });
            return Some(packet);
        }
        let Some(flow) = self
            .flows
            .iter()
            .position(|f| f.local == local && f.remote == remote)
        else {
            return Some(packet);
        };
        let rel = seg.seq().wrapping_sub(self.flows[flow].iss);
        let payload_len = seg.payload().len() as u32;
        let dss = seg.options().flatten().find_map(|o| match o {
            TcpOption::Mptcp(MptcpOption::Dss(d)) => Some(d),
            _ => None,
        });
        // A retransmission of the segment that took the DATA_FIN keeps it.
        if let Some((at, merged)) = self.flows[flow].fin_merged
            && at == rel
            && payload_len > 0
            && let Some(d) = dss
        {
            let out = rebuild(
                &seg,
                Dss {
                    mapping: Some(merged),
                    data_fin: true,
                    ..d
                },
                &mut self.scratch,
            )?;
            return Some(out);
        }
        let Some(d) = dss else {
            return Some(packet);
        };
        let fin_alone = payload_len == 0
            && d.data_fin
            && d.mapping
                .is_some_and(|m| m.subflow_seq == 0 && m.data_len == 1);
        if fin_alone && let Some(held) = self.held.take() {
            let fin_dsn = d.mapping.map(|m| m.dsn.as_u64());
            let merged = Segment::parse(&held, ChecksumCheck::Skip)
                .ok()
                .and_then(|h| {
                    let h_flow = self.flows.iter().position(|f| {
                        f.local == SocketAddr::new(h.src(), h.src_port())
                            && f.remote == SocketAddr::new(h.dst(), h.dst_port())
                    })?;
                    let h_rel = h.seq().wrapping_sub(self.flows[h_flow].iss);
                    let hd = h.options().flatten().find_map(|o| match o {
                        TcpOption::Mptcp(MptcpOption::Dss(d)) => Some(d),
                        _ => None,
                    })?;
                    let m = hd.mapping?;
                    if Some(m.dsn.as_u64().wrapping_add(u64::from(m.data_len))) != fin_dsn {
                        return None;
                    }
                    let data_len = m.data_len.checked_add(1)?;
                    let checksum = m.checksum.map(|_| {
                        dss_checksum(m.dsn.as_u64(), m.subflow_seq, data_len, h.payload())
                    });
                    let extended = DssMapping {
                        data_len,
                        checksum,
                        ..m
                    };
                    let out = rebuild(
                        &h,
                        Dss {
                            mapping: Some(extended),
                            data_fin: true,
                            ..hd
                        },
                        &mut self.scratch,
                    )?;
                    Some((h_flow, h_rel, extended, out))
                });
            return match merged {
                Some((h_flow, at, extended, out)) => {
                    if let Some(since) = self.held_since.take() {
                        self.held_for += self.now - since;
                    }
                    self.flows[h_flow].fin_merged = Some((at, extended));
                    self.inserted += 1;
                    self.rewritten += 1;
                    Some(out)
                }
                None => {
                    self.pending = Some(packet);
                    Some(held)
                }
            };
        }
        let ends_stream = d.mapping.is_some_and(|m| {
            payload_len > 0
                && rel.wrapping_add(payload_len)
                    == m.subflow_seq.wrapping_add(u32::from(m.data_len))
                && Some(m.dsn.as_u64().wrapping_add(u64::from(m.data_len))) == self.end_dsn
                && !d.data_fin
                // A checksum covers the whole mapping: only one that is
                // this segment alone can be extended.
                && (m.checksum.is_none()
                    || (m.subflow_seq == rel && u32::from(m.data_len) == payload_len))
        });
        if ends_stream && !seg.flags().contains(TcpFlags::FIN) {
            // Held (a retransmission replaces the copy held before) until
            // the DATA_FIN comes.
            self.held = Some(packet);
            self.held_since.get_or_insert(self.now);
            return None;
        }
        Some(packet)
    }

    /// The new main MPTCP option: `Some(None)` drops it, `None` drops the
    /// whole packet.
    fn transform<'a>(
        &mut self,
        flow: usize,
        rel: u32,
        payload: &[u8],
        option: MptcpOption<'a>,
    ) -> Option<Option<MptcpOption<'a>>> {
        let data = !payload.is_empty();
        match (self.variant, option) {
            (
                Variant::MappingOnce | Variant::MappingOnceBare | Variant::ThirdAckThenKeysOnData,
                MptcpOption::Dss(dss),
            ) => {
                let Some(m) = dss.mapping else {
                    return Some(Some(option));
                };
                if !data || m.subflow_seq == rel || m.data_len == 0 {
                    return Some(Some(option));
                }
                if self.variant == Variant::MappingOnce && dss.data_ack.is_some() {
                    return Some(Some(MptcpOption::Dss(Dss {
                        mapping: None,
                        data_fin: false,
                        ..dss
                    })));
                }
                Some(None)
            }
            (Variant::MappingPerSegment, MptcpOption::Dss(dss)) => {
                let Some(m) = dss.mapping.filter(|m| data && m.data_len != 0) else {
                    return Some(Some(option));
                };
                let offset = rel.wrapping_sub(m.subflow_seq);
                let dsn = m.dsn.as_u64().wrapping_add(u64::from(offset));
                let len = payload.len() as u16;
                // The mapping's own DATA_FIN stays only on its last segment.
                let last =
                    offset + u32::from(len) == u32::from(m.data_len) - u32::from(dss.data_fin);
                Some(Some(MptcpOption::Dss(Dss {
                    mapping: Some(DssMapping {
                        dsn: DssSeq::Long(dsn),
                        subflow_seq: rel,
                        data_len: len + u16::from(last && dss.data_fin),
                        checksum: m.checksum.map(|_| {
                            dss_checksum(dsn, rel, len + u16::from(last && dss.data_fin), payload)
                        }),
                    }),
                    data_fin: last && dss.data_fin,
                    ..dss
                })))
            }
            (Variant::SplitWithinSegments, MptcpOption::Dss(dss)) => {
                let Some(m) = dss
                    .mapping
                    .filter(|m| data && m.data_len != 0 && !dss.data_fin)
                else {
                    return Some(Some(option));
                };
                let declared = self.split(flow, rel, payload.len() as u32, &m);
                Some(Some(MptcpOption::Dss(Dss {
                    mapping: Some(DssMapping {
                        dsn: DssSeq::Long(declared.dsn),
                        subflow_seq: declared.start,
                        data_len: declared.len as u16,
                        checksum: None,
                    }),
                    ..dss
                })))
            }
            (Variant::Dsn32, MptcpOption::Dss(dss)) => Some(Some(MptcpOption::Dss(Dss {
                mapping: dss.mapping.map(|m| DssMapping {
                    dsn: DssSeq::Short(m.dsn.as_u64() as u32),
                    ..m
                }),
                ..dss
            }))),
            (Variant::DataAck64, MptcpOption::Dss(dss)) => {
                let data_ack = match (dss.data_ack, self.peer_dsn) {
                    (Some(DssSeq::Short(low)), Some(near)) => {
                        Some(DssSeq::Long(widen(u64::from(low), near)))
                    }
                    (other, _) => other,
                };
                Some(Some(MptcpOption::Dss(Dss { data_ack, ..dss })))
            }
            (Variant::SparseDataAck(n), MptcpOption::Dss(dss)) if dss.data_ack.is_some() => {
                self.data_acks += 1;
                if self.data_acks % n == 0 || self.peer_data_fin {
                    return Some(Some(option));
                }
                if dss.mapping.is_none() && !dss.data_fin {
                    return Some(None);
                }
                Some(Some(MptcpOption::Dss(Dss {
                    data_ack: None,
                    ..dss
                })))
            }
            _ => Some(Some(option)),
        }
    }

    /// `SplitWithinSegments`: the mapping to declare on the segment at
    /// `rel` of `len` bytes that our sender mapped with `m`.
    fn split(&mut self, flow: usize, rel: u32, len: u32, m: &DssMapping) -> Declared {
        let flow = &mut self.flows[flow];
        if let Some(d) = flow.declared.iter().find(|d| d.contains(rel)) {
            // A retransmission: what its first copy carried.
            return *d;
        }
        let m_start = m.subflow_seq;
        let m_end = m_start.wrapping_add(u32::from(m.data_len));
        let start = match flow.mapped_to {
            Some(to) if to.wrapping_sub(m_start) < u32::from(m.data_len) => to,
            _ => m_start,
        };
        let seg_end = rel.wrapping_add(len);
        let end = if seg_end == m_end {
            m_end
        } else {
            // At least one byte of the segment itself, so the mapping
            // overlaps the segment that carries it.
            rel.wrapping_add((len / 2).max(1))
        };
        let declared = Declared {
            start,
            len: end.wrapping_sub(start),
            dsn: m
                .dsn
                .as_u64()
                .wrapping_add(u64::from(start.wrapping_sub(m_start))),
        };
        flow.mapped_to = Some(end);
        if flow.declared.len() == DECLARED_KEPT {
            flow.declared.pop_front();
        }
        flow.declared.push_back(declared);
        declared
    }
}

/// The 64-bit value whose low 32 bits are `low`, closest to `near`.
fn widen(low: u64, near: u64) -> u64 {
    let candidate = (near & !0xffff_ffff) | low;
    [
        candidate.wrapping_sub(1 << 32),
        candidate,
        candidate.wrapping_add(1 << 32),
    ]
    .into_iter()
    .min_by_key(|c| c.abs_diff(near))
    .unwrap_or(candidate)
}

/// `seg` again, with `dss` in place of its main MPTCP option and every
/// other header field and option as it was.
fn rebuild(seg: &Segment<'_>, dss: Dss, scratch: &mut [u8]) -> Option<Vec<u8>> {
    let mut builder = SegmentBuilder::new(
        SocketAddr::new(seg.src(), seg.src_port()),
        SocketAddr::new(seg.dst(), seg.dst_port()),
    );
    let mut sack = Vec::new();
    let mut optional: Vec<MptcpOption<'_>> = Vec::new();
    for option in seg.options().flatten() {
        match option {
            TcpOption::MaxSegmentSize(mss) => builder.mss = Some(mss),
            TcpOption::WindowScale(ws) => builder.window_scale = Some(ws),
            TcpOption::SackPermitted => builder.sack_permitted = true,
            TcpOption::Timestamps { tsval, tsecr } => builder.timestamps = Some((tsval, tsecr)),
            TcpOption::SackBlocks(blocks) => sack.extend_from_slice(blocks.as_slice()),
            TcpOption::Mptcp(
                o @ (MptcpOption::AddAddr(_) | MptcpOption::RemoveAddr(_) | MptcpOption::MpPrio(_)),
            ) => optional.push(o),
            _ => {}
        }
    }
    builder.seq = seg.seq();
    builder.ack = seg.ack();
    builder.flags = seg.flags();
    builder.window = seg.window();
    builder.hop_limit = seg.hop_limit();
    builder.urgent = seg.urgent();
    builder.payload = seg.payload();
    builder.sack_blocks = &sack;
    builder.mptcp_optional = &optional;
    builder.mptcp = Some(MptcpOption::Dss(dss));
    let n = builder.emit(scratch).ok()?.len;
    Some(scratch[..n].to_vec())
}
