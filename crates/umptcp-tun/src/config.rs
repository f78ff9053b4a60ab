//! What a stack is made of: its paths (one TUN device each) and its knobs.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use umptcp_proto::{MptcpConfig, PolicyRegistry};
use umptcp_tcp::TcpConfig;

use crate::impairment::Impairment;
use crate::route::Route;

/// One path: a TUN device and our stack's address behind it.
///
/// If the device does not exist it is created, brought up with `mtu`, and
/// given the *kernel-side* address [`PathConfig::kernel_addr`] in the
/// path's subnet, so that programs on this host reach our stack at `addr`
/// through it. An existing device (for example one made persistent with
/// `ip tuntap add dev NAME mode tun`) is attached to as it is: its
/// addresses and routes are left alone, it is only brought up.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PathConfig {
    /// The TUN device's name (at most 15 bytes).
    pub device: String,
    /// Our stack's address on this path (the source of what it sends).
    pub addr: IpAddr,
    /// The path's subnet prefix length: destinations inside `addr/prefix`
    /// leave through this device. Default 24 for IPv4, 64 for IPv6.
    pub prefix: u8,
    /// The device MTU used when it is created. Default 1500.
    pub mtu: u16,
}

impl PathConfig {
    /// A path with the default prefix and MTU.
    pub fn new(device: impl Into<String>, addr: IpAddr) -> Self {
        PathConfig {
            device: device.into(),
            addr,
            prefix: if addr.is_ipv4() { 24 } else { 64 },
            mtu: 1500,
        }
    }

    /// Whether `dst` lies in this path's subnet.
    pub fn contains(&self, dst: IpAddr) -> bool {
        match (self.addr, dst) {
            (IpAddr::V4(a), IpAddr::V4(d)) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(a) & mask == u32::from(d) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(d)) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                u128::from(a) & mask == u128::from(d) & mask
            }
            _ => false,
        }
    }

    /// The address the kernel's side of a device we create gets: host 1 of
    /// the subnet, or host 2 when our own address is host 1.
    pub fn kernel_addr(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let bits = u32::from(self.prefix.min(30));
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                let net = u32::from(a) & mask;
                let host = if u32::from(a) == net + 1 { 2 } else { 1 };
                IpAddr::V4((net + host).into())
            }
            IpAddr::V6(a) => {
                let bits = u32::from(self.prefix.min(126));
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                let net = u128::from(a) & mask;
                let host = if u128::from(a) == net + 1 { 2 } else { 1 };
                IpAddr::V6((net + host).into())
            }
        }
    }
}

/// The configuration of a [`crate::Stack`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StackConfig {
    /// The paths, one TUN device each. At least one.
    pub paths: Vec<PathConfig>,
    /// Explicit routes: which path a connection to a destination leaves
    /// by. Without them a destination leaves by the path whose subnet
    /// holds it, else by the first path of its family; the kernel behind
    /// the device forwards it from there (see [`crate::RouteTable`]).
    /// Default none.
    pub routes: Vec<Route>,
    /// The TCP configuration of a stack whose default is plain TCP
    /// (`mptcp` is `None`); an MPTCP stack's connections take
    /// [`MptcpSettings::config`]'s. Its MSS is lowered to fit the smallest
    /// path MTU.
    pub tcp: TcpConfig,
    /// The congestion controller by name, looked up in `registry`.
    /// Default "cubic".
    pub congestion_control: String,
    /// Where policy names are looked up (the congestion controller here,
    /// [`MptcpSettings::path_manager`] and [`MptcpSettings::scheduler`]):
    /// the built-ins (`PolicyRegistry::with_builtins`) plus any the
    /// application registers. Default the built-ins.
    pub registry: PolicyRegistry,
    /// Impairment of packets in each direction. Default off.
    pub impairment: Impairment,
    /// Write every packet (both directions, after impairment on the way
    /// out, before it on the way in) to this pcap file. Default none.
    pub pcap: Option<PathBuf>,
    /// Seed of the ISN key, the ephemeral ports and the impairment. `None`
    /// draws one from the OS.
    pub seed: Option<u64>,
    /// Most connections at once (established, opening and closing).
    /// Default 1024.
    pub max_connections: usize,
    /// Most connections a listener holds that the application has not
    /// accepted yet; further SYNs are dropped. Default 128.
    pub accept_backlog: usize,
    /// How long a connection whose handle was dropped may take to close
    /// gracefully before it is aborted. Default 60 s.
    pub close_linger: Duration,
    /// Use the TUN devices' offloads (`IFF_VNET_HDR`): the kernel hands over
    /// TSO super-packets, which are split into segments, and the segments
    /// of one round are coalesced per flow before they are written, so the
    /// kernel takes many in one write. Far fewer system calls and much less
    /// kernel work per byte. An existing device must have been created with
    /// the same setting. Default off.
    pub offload: bool,
    /// MPTCP (RFC 8684) by default: with `Some`, a [`crate::Stream`] or
    /// [`crate::Listener`] that names no protocol speaks MPTCP (subflows
    /// over every path, falling back to plain TCP with peers that do not
    /// speak it), run with these settings. With `None` they speak plain
    /// TCP, with [`StackConfig::tcp`]. Either way each connect and each
    /// listener may choose the other protocol
    /// ([`crate::ConnectOptions::protocol`],
    /// [`crate::ListenerOptions::protocol`]). Default `None`.
    pub mptcp: Option<MptcpSettings>,
}

/// How the stack's MPTCP connections are run, by name (as the command line
/// takes them) or by value.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MptcpSettings {
    /// Every connection's MPTCP configuration. Subflows use its `tcp`
    /// field, not [`StackConfig::tcp`], with the MSS lowered to fit the
    /// smallest path MTU (a subflow may use any path).
    pub config: MptcpConfig,
    /// The path manager, by its name in [`StackConfig::registry`]
    /// (built in: "manual", "fullmesh", "announce", "ndiffports"). Default
    /// "fullmesh": a client opens a subflow between every pair of its path
    /// addresses and the server's addresses; a server opens none.
    pub path_manager: String,
    /// The scheduler of each connection, by its name in
    /// [`StackConfig::registry`] (built in: "minrtt", "roundrobin",
    /// "redundant"). Default "minrtt".
    pub scheduler: String,
    /// Addresses announced (ADD_ADDR) on every MPTCP connection once it is
    /// established, whatever the path manager; the stack also accepts
    /// subflows to them. (The "announce" path manager announces every path
    /// address but the first by itself.) Default none.
    pub announce: Vec<IpAddr>,
    /// Devices whose subflows are backups (MP_PRIO, RFC 8684 §3.3.8): they
    /// carry data only while no other subflow can. Default none.
    pub backup: Vec<String>,
}

impl Default for MptcpSettings {
    fn default() -> Self {
        MptcpSettings {
            config: MptcpConfig::default(),
            path_manager: "fullmesh".to_owned(),
            scheduler: "minrtt".to_owned(),
            announce: Vec::new(),
            backup: Vec::new(),
        }
    }
}

impl StackConfig {
    /// A configuration with the given paths and every other field at its
    /// default.
    pub fn new(paths: Vec<PathConfig>) -> Self {
        StackConfig {
            paths,
            routes: Vec::new(),
            tcp: TcpConfig::default(),
            congestion_control: "cubic".to_owned(),
            registry: PolicyRegistry::with_builtins(),
            impairment: Impairment::default(),
            pcap: None,
            seed: None,
            max_connections: 1024,
            accept_backlog: 128,
            close_linger: Duration::from_secs(60),
            offload: false,
            mptcp: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_membership() {
        let p = PathConfig::new("tun0", "10.7.0.2".parse().unwrap());
        assert!(p.contains("10.7.0.1".parse().unwrap()));
        assert!(!p.contains("10.8.0.1".parse().unwrap()));
        assert!(!p.contains("fd00::1".parse().unwrap()));
        let p6 = PathConfig::new("tun1", "fd00:7::2".parse().unwrap());
        assert!(p6.contains("fd00:7::99".parse().unwrap()));
        assert!(!p6.contains("fd00:8::1".parse().unwrap()));
    }

    #[test]
    fn kernel_side_address() {
        let p = PathConfig::new("tun0", "10.7.0.2".parse().unwrap());
        assert_eq!(p.kernel_addr(), "10.7.0.1".parse::<IpAddr>().unwrap());
        let p = PathConfig::new("tun0", "10.7.0.1".parse().unwrap());
        assert_eq!(p.kernel_addr(), "10.7.0.2".parse::<IpAddr>().unwrap());
        let p = PathConfig::new("tun0", "fd00::2".parse().unwrap());
        assert_eq!(p.kernel_addr(), "fd00::1".parse::<IpAddr>().unwrap());
    }
}
