//! TUN devices inside a namespace: raw IP packets, no packet-information
//! header.

use std::io;
use std::net::IpAddr;

use tun_rs::{DeviceBuilder, SyncDevice};

use crate::netns::{Netns, run_in};

/// What a TUN device looks like: name, one address with its prefix, MTU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    /// Interface name (at most 15 bytes; unique within its namespace).
    pub name: String,
    /// The interface's address; the prefix makes its subnet on-link.
    pub addr: IpAddr,
    /// Prefix length of `addr`.
    pub prefix: u8,
    /// The interface MTU.
    pub mtu: u16,
}

/// Create, address and bring up a TUN device in the calling thread's
/// namespace (call it inside [`run_in`]); the device vanishes when the
/// returned handle is dropped.
///
/// Reads and writes on the handle are whole raw IP packets: the device has
/// no packet-information header (`IFF_NO_PI`) and no offloads.
///
/// # Errors
///
/// The device cannot be created or configured.
pub fn create_tun(cfg: &TunConfig) -> io::Result<SyncDevice> {
    let builder = DeviceBuilder::new()
        .name(cfg.name.clone())
        .mtu(cfg.mtu)
        .packet_information(false)
        .offload(false)
        .enable(true);
    let builder = match cfg.addr {
        IpAddr::V4(a) => builder.ipv4(a, cfg.prefix, None),
        IpAddr::V6(a) => builder.ipv6(a, cfg.prefix),
    };
    let dev = builder.build_sync()?;
    if let IpAddr::V6(a) = cfg.addr {
        wait_bindable(a)?;
    }
    Ok(dev)
}

/// Wait until the calling thread's namespace lets a socket bind `addr`.
///
/// An IPv6 address is refused (`EADDRNOTAVAIL`) while the kernel holds it
/// tentative, which it may do for a moment after the link comes up even
/// with duplicate address detection off; a test binding a listener at once
/// would fail before any of its own code ran.
fn wait_bindable(addr: std::net::Ipv6Addr) -> io::Result<()> {
    // 500 tries 10 ms apart: about 5 s, far beyond what the kernel takes.
    let mut tries_left = 500;
    loop {
        tries_left -= 1;
        match std::net::UdpSocket::bind((addr, 0)) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable && tries_left > 0 => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{addr} on the new TUN device never became usable: {e}"),
                ));
            }
        }
    }
}

/// Create a TUN device inside `ns` (see [`create_tun`]).
///
/// # Errors
///
/// The namespace cannot be entered or the device cannot be created.
pub fn tun_in(ns: &Netns, cfg: &TunConfig) -> io::Result<SyncDevice> {
    run_in(ns, || create_tun(cfg))?
}
