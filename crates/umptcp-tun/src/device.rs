//! TUN devices: create one or attach to an existing one, and the reader
//! thread that turns its blocking reads into channel messages.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use tun_rs::{DeviceBuilder, InterruptEvent, SyncDevice};

use crate::config::PathConfig;
use crate::error::{StackError, interface_exists};

/// Largest packet a reader accepts (a TUN device without offloads never
/// gives more than its MTU, at most 65535).
pub(crate) const MAX_PACKET: usize = 65_535;

/// Most packets waiting between the readers and the stack thread; a full
/// queue blocks the readers and the kernel's TUN queue then drops, as a
/// full NIC ring would.
pub(crate) const PACKET_QUEUE: usize = 4096;

/// One opened device.
pub(crate) struct Device {
    pub(crate) name: String,
    pub(crate) tun: Arc<SyncDevice>,
    /// Whether we created it (else we attached to an existing one).
    pub(crate) created: bool,
    /// Whether it runs with `IFF_VNET_HDR` offloads (TSO in, GRO out).
    pub(crate) offload: bool,
    /// Its MTU.
    pub(crate) mtu: u16,
}

/// Open the device of `path`: attach if an interface of that name exists,
/// else create it with the kernel-side address, the MTU, and up.
pub(crate) fn open(path: &PathConfig, offload: bool) -> Result<Device, StackError> {
    let name = &path.device;
    if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\0']) {
        return Err(StackError::InvalidConfig(format!(
            "invalid device name {name:?}: 1 to 15 bytes, no '/' or spaces"
        )));
    }
    let exists = interface_exists(name);
    let builder = DeviceBuilder::new()
        .name(name.clone())
        .packet_information(false)
        .offload(offload);
    let builder = if exists {
        // Leave an existing device's addresses alone; only bring it up.
        builder.enable(true)
    } else {
        let builder = builder.mtu(path.mtu).enable(true);
        match path.kernel_addr() {
            IpAddr::V4(a) => builder.ipv4(a, path.prefix, None),
            IpAddr::V6(a) => builder.ipv6(a, path.prefix),
        }
    };
    let tun = builder
        .build_sync()
        .map_err(|e| StackError::from_device(name, e))?;
    if !exists && path.addr.is_ipv6() {
        wait_for_dad(name);
    }
    let mtu = tun.mtu().unwrap_or(path.mtu);
    let offload = tun.tcp_gso();
    Ok(Device {
        name: name.clone(),
        tun: Arc::new(tun),
        created: !exists,
        offload,
        mtu,
    })
}

/// A new IPv6 address is "tentative" while the kernel runs duplicate
/// address detection (RFC 4862 §5.4, about a second); until then the kernel
/// neither accepts packets for it nor sends from it. Wait for it to settle
/// so the first connection does not stall. `IFA_F_TENTATIVE` is 0x40 in
/// the flags column of `/proc/net/if_inet6`.
#[allow(clippy::disallowed_methods)] // the driver may read the clock
fn wait_for_dad(device: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let Ok(table) = std::fs::read_to_string("/proc/thread-self/net/if_inet6") else {
            return;
        };
        let tentative = table.lines().any(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            cols.len() == 6
                && cols[5] == device
                && u32::from_str_radix(cols[4], 16).is_ok_and(|flags| flags & 0x40 != 0)
        });
        if !tentative {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A packet read from device `device`: `buf[..len]`. The buffer goes back
/// to the reader through the recycle channel once handled.
#[derive(Debug)]
pub(crate) struct Packet {
    pub(crate) device: usize,
    pub(crate) buf: Vec<u8>,
    pub(crate) len: usize,
}

/// Start the reader thread of one device. It stops when `stop` is
/// triggered or the stack thread is gone.
pub(crate) fn spawn_reader(
    index: usize,
    device: &Device,
    stop: Arc<InterruptEvent>,
    packets: Sender<Packet>,
    recycle: Receiver<Vec<u8>>,
) -> io::Result<JoinHandle<()>> {
    let offload = device.offload;
    // Split segments are at most an MTU; without offloads a read is one
    // packet of at most 64 KiB.
    let buf_len = if offload {
        usize::from(device.mtu.max(1500)) + 256
    } else {
        MAX_PACKET
    };
    let reader = Reader {
        tun: Arc::clone(&device.tun),
        index,
        stop,
        packets,
        recycle,
        buf_len,
    };
    std::thread::Builder::new()
        .name(format!("umptcp-tun-rx-{}", device.name))
        .spawn(move || {
            if offload {
                reader.read_offload();
            } else {
                reader.read_plain();
            }
        })
}

/// A device's reader thread: where packets go and where buffers come from.
struct Reader {
    tun: Arc<SyncDevice>,
    index: usize,
    stop: Arc<InterruptEvent>,
    packets: Sender<Packet>,
    recycle: Receiver<Vec<u8>>,
    buf_len: usize,
}

impl Reader {
    /// A buffer back from the stack thread, or a new one.
    fn buffer(&self) -> Vec<u8> {
        let mut buf = self.recycle.try_recv().unwrap_or_default();
        buf.resize(self.buf_len, 0);
        buf
    }

    /// Hand `buf[..len]` to the stack thread; false once it is gone.
    fn deliver(&self, buf: Vec<u8>, len: usize) -> bool {
        let packet = Packet {
            device: self.index,
            buf,
            len,
        };
        self.packets.send(packet).is_ok()
    }

    /// Whether a read error means "stop reading": interrupted by the stack
    /// stopping, or the device is gone (deleted under us).
    fn stopping(&self, e: &io::Error) -> bool {
        e.kind() != io::ErrorKind::Interrupted || self.stop.is_trigger()
    }

    /// One packet per read.
    fn read_plain(&self) {
        loop {
            let mut buf = self.buffer();
            let len = match self.tun.recv_intr(&mut buf, &self.stop) {
                Ok(len) => len,
                Err(e) if self.stopping(&e) => return,
                Err(_) => continue,
            };
            if !self.deliver(buf, len) {
                return;
            }
        }
    }

    /// With `IFF_VNET_HDR`: one read may bring a TSO super-packet of up to
    /// 64 KiB, which tun-rs splits into MTU-sized segments (checksums
    /// filled).
    fn read_offload(&self) {
        let mut original = vec![0u8; tun_rs::VIRTIO_NET_HDR_LEN + 65_535];
        let mut bufs: Vec<Vec<u8>> = (0..tun_rs::IDEAL_BATCH_SIZE)
            .map(|_| self.buffer())
            .collect();
        let mut sizes = vec![0usize; bufs.len()];
        loop {
            match self.tun.wait_readable_intr(&self.stop) {
                Ok(()) => {}
                Err(e) if self.stopping(&e) => return,
                Err(_) => continue,
            }
            let n = match self
                .tun
                .recv_multiple(&mut original, &mut bufs, &mut sizes, 0)
            {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A malformed super-packet is dropped, as a NIC would.
                Err(e)
                    if e.kind() == io::ErrorKind::InvalidData
                        || e.kind() == io::ErrorKind::InvalidInput =>
                {
                    continue;
                }
                Err(_) => return,
            };
            for (buf, &len) in bufs.iter_mut().zip(&sizes).take(n) {
                let filled = core::mem::replace(buf, self.buffer());
                if !self.deliver(filled, len) {
                    return;
                }
            }
        }
    }
}
