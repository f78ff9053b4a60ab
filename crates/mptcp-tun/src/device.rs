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
}

/// Open the device of `path`: attach if an interface of that name exists,
/// else create it with the kernel-side address, the MTU, and up.
pub(crate) fn open(path: &PathConfig) -> Result<Device, StackError> {
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
        .offload(false);
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
    Ok(Device {
        name: name.clone(),
        tun: Arc::new(tun),
        created: !exists,
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
    let tun = Arc::clone(&device.tun);
    std::thread::Builder::new()
        .name(format!("mptcp-tun-rx-{}", device.name))
        .spawn(move || {
            loop {
                let mut buf = recycle.try_recv().unwrap_or_default();
                buf.resize(MAX_PACKET, 0);
                let len = match tun.recv_intr(&mut buf, &stop) {
                    Ok(len) => len,
                    // Interrupted: the stack is stopping.
                    Err(e) if e.kind() == io::ErrorKind::Interrupted && stop.is_trigger() => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // The device is gone (deleted under us): nothing more to read.
                    Err(_) => return,
                };
                if packets
                    .send(Packet {
                        device: index,
                        buf,
                        len,
                    })
                    .is_err()
                {
                    return;
                }
            }
        })
}
