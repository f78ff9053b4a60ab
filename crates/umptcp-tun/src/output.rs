//! The way out: pcap, then the device, one write per packet or, with
//! offloads, one batch per device per round of the stack thread.

use std::fs::File;
use std::io::BufWriter;

use tun_rs::{GROTable, VIRTIO_NET_HDR_LEN};
use umptcp_time::Instant;
use umptcp_wire::pcap::PcapWriter;

use crate::device::Device;

/// Most packets batched per device before a batch is written out even in
/// the middle of a round.
const MAX_BATCH: usize = tun_rs::IDEAL_BATCH_SIZE;

/// Capacity of a batch buffer: a whole coalesced packet (64 KiB) plus the
/// headroom tun-rs asks for. `MAX_BATCH` of them per device is 8 MiB.
const COALESCE_CAPACITY: usize = 65_535 + 2 * VIRTIO_NET_HDR_LEN;

/// Where the stack thread's packets go.
pub(crate) struct Output {
    pub(crate) devices: Vec<Device>,
    pcap: Option<PcapWriter<BufWriter<File>>>,
    pub(crate) packets_out: u64,
    pub(crate) write_errors: u64,
    /// Per device: packets waiting for the end of the round, each behind
    /// `VIRTIO_NET_HDR_LEN` bytes of headroom (offload devices only).
    batches: Vec<Vec<Vec<u8>>>,
    /// Spare batch buffers.
    pool: Vec<Vec<u8>>,
    gro: GROTable,
}

impl Output {
    pub(crate) fn new(devices: Vec<Device>, pcap: Option<PcapWriter<BufWriter<File>>>) -> Self {
        let batches = devices.iter().map(|_| Vec::new()).collect();
        Output {
            devices,
            pcap,
            packets_out: 0,
            write_errors: 0,
            batches,
            pool: Vec::new(),
            gro: GROTable::default(),
        }
    }

    /// Record a packet in the pcap, if there is one.
    pub(crate) fn record(&mut self, now: Instant, packet: &[u8]) {
        if let Some(pcap) = self.pcap.as_mut() {
            // A pcap that cannot be written loses packets, not the stack.
            let _ = pcap.write_packet(now.since_epoch(), packet);
        }
    }

    /// Record `packet` and send it out of `device` (now, or at the end of
    /// the round on an offload device).
    pub(crate) fn write(&mut self, now: Instant, device: usize, packet: &[u8]) {
        self.record(now, packet);
        let Some(dev) = self.devices.get(device) else {
            return;
        };
        self.packets_out += 1;
        if dev.offload {
            // Any packet may become the head of a coalesced group of up to
            // 64 KiB, and tun-rs coalesces only within the capacity it finds.
            let mut buf = self
                .pool
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(COALESCE_CAPACITY));
            buf.clear();
            // A zeroed virtio-net header: no GSO, checksums complete.
            buf.resize(VIRTIO_NET_HDR_LEN, 0);
            buf.extend_from_slice(packet);
            self.batches[device].push(buf);
            if self.batches[device].len() >= MAX_BATCH {
                self.flush_device(device);
            }
        } else if let Err(e) = dev.tun.send(packet) {
            // A failed write loses the packet, as a wire would; TCP recovers.
            self.write_errors += 1;
            log_write_error(&dev.name, self.write_errors, &e);
        }
    }

    /// Write every batched packet: segments of one flow are coalesced into
    /// large ones the kernel takes in one go (tun-rs's GRO table).
    pub(crate) fn flush(&mut self) {
        for device in 0..self.batches.len() {
            if !self.batches[device].is_empty() {
                self.flush_device(device);
            }
        }
    }

    fn flush_device(&mut self, device: usize) {
        let batch = &mut self.batches[device];
        let dev = &self.devices[device];
        if let Err(e) = dev
            .tun
            .send_multiple(&mut self.gro, batch, VIRTIO_NET_HDR_LEN)
        {
            self.write_errors += 1;
            log_write_error(&dev.name, self.write_errors, &e);
        }
        self.pool.append(batch);
    }

    /// Flush the pcap file.
    pub(crate) fn finish(&mut self) {
        self.flush();
        if let Some(pcap) = self.pcap.as_mut() {
            let _ = pcap.flush();
        }
    }
}

/// A failed device write, logged at the 1st, 2nd, 4th, 8th... so a
/// device that refuses every packet cannot flood the log.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
fn log_write_error(device: &str, count: u64, error: &std::io::Error) {
    if count.is_power_of_two() {
        crate::log::log_event!(
            tracing::Level::WARN,
            device,
            count,
            %error,
            "device write failed (the packet is lost)",
        );
    }
}
