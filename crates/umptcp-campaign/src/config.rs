//! One case's configuration, drawn from its entropy: addresses, subflows,
//! checksums, transfer sizes, keys, buffers, limits and network.
//!
//! The same seed draws the same configuration in every mode, so a finding
//! in one mode can be compared with the same transfer in another.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use umptcp_proto::{EndpointConfig, MptcpConfig};

use crate::entropy::Entropy;
use crate::keys::{WRAP_LATER, WRAP_SOON};

/// The server's listening port; the client's ports are [`CLIENT_PORT`] + k.
pub const SERVER_PORT: u16 = 80;
/// The client's initial port.
pub const CLIENT_PORT: u16 = 5000;

/// IPv4 or IPv6 for every address of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// 10.0.k.1 (client), 10.0.k.2 (server), 10.9.x.y (strangers).
    V4,
    /// fd00:0:0:k::1, fd00:0:0:k::2 and fd09::x:y.
    V6,
}

impl Family {
    /// The client's address number `k` (0 is the initial one).
    pub fn client(self, k: u8) -> IpAddr {
        self.host(k, 1)
    }

    /// The server's address number `k` (0 is the listening one).
    pub fn server(self, k: u8) -> IpAddr {
        self.host(k, 2)
    }

    fn host(self, k: u8, h: u8) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(10, 0, k, h)),
            Family::V6 => IpAddr::V6(Ipv6Addr::new(
                0xfd00,
                0,
                0,
                u16::from(k),
                0,
                0,
                0,
                u16::from(h),
            )),
        }
    }

    /// A stranger's address (an attacker's own, or a spoofed one no host has).
    pub fn stranger(self, n: u16) -> IpAddr {
        match self {
            Family::V4 => {
                let [a, b] = n.to_be_bytes();
                IpAddr::V4(Ipv4Addr::new(10, 9, a, b))
            }
            Family::V6 => IpAddr::V6(Ipv6Addr::new(0xfd09, 0, 0, 0, 0, 0, 0, n)),
        }
    }

    /// Whether `ip` is one of the client's addresses (any `k`).
    pub fn is_client(self, ip: IpAddr) -> bool {
        (0..4).any(|k| self.client(k) == ip)
    }

    /// Whether `ip` is one of the server's addresses.
    pub fn is_server(self, ip: IpAddr) -> bool {
        (0..4).any(|k| self.server(k) == ip)
    }

    /// The server's listening socket.
    pub fn listener(self) -> SocketAddr {
        SocketAddr::new(self.server(0), SERVER_PORT)
    }
}

/// How the client gets its extra subflows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubflowPlan {
    /// The application calls `open_subflow` from address k of the client
    /// to the server's addresses in turn.
    ManualAddress,
    /// The application calls `open_subflow` from port 5000 + k of the
    /// initial address.
    ManualPort,
    /// The `ndiffports` path manager (ephemeral ports, one address pair).
    NDiffPorts,
    /// `fullmesh` on the client (two addresses) meets `announce` on the
    /// server (ADD_ADDR of its second address).
    Fullmesh,
}

/// Per-mille rates of the meaning-preserving impairments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Impairments {
    /// Segments dropped (never more than [`MAX_CONSECUTIVE_DROPS`] in a row
    /// on one link, so every transfer can finish).
    pub drop: u32,
    /// Segments delivered twice.
    pub duplicate: u32,
    /// Segments held back by up to twice the link's delay.
    pub reorder: u32,
    /// Honest DSS options rebuilt with the other DSN / DATA_ACK width.
    pub reencode: u32,
}

/// Drops in a row on one link at most: loss, not a black hole.
pub const MAX_CONSECUTIVE_DROPS: u32 = 3;

/// One case's configuration.
#[derive(Clone, Debug)]
pub struct CaseConfig {
    /// Address family of every address.
    pub family: Family,
    /// Subflows of the honest connection, the initial one included (1..=3).
    pub subflows: u8,
    /// How the extra subflows are opened.
    pub plan: SubflowPlan,
    /// Whether both sides ask for DSS checksums.
    pub checksum: bool,
    /// Bytes the client writes.
    pub client_bytes: u64,
    /// Bytes the server writes.
    pub server_bytes: u64,
    /// The client calls `shutdown` right after `connect`, with nothing written.
    pub early_shutdown: bool,
    /// The client's key when scripted (its DSNs wrap in their 32-bit form).
    pub client_key: Option<u64>,
    /// The server's key when scripted.
    pub server_key: Option<u64>,
    /// Subflow MSS.
    pub mss: u16,
    /// TCP timestamps offered.
    pub timestamps: bool,
    /// SACK offered.
    pub sack: bool,
    /// Data-level (and subflow) receive buffer.
    pub recv_buffer: usize,
    /// Congestion controller by registry name.
    pub cc: &'static str,
    /// `MptcpConfig::close_timeout`.
    pub close_timeout: Duration,
    /// The server's endpoint limits.
    pub server_limits: (usize, usize),
    /// One-way delay of each link, in microseconds (each link draws its own
    /// in this range).
    pub delay_us: (u64, u64),
    /// Link rate in Mbit/s.
    pub rate_mbps: u64,
    /// Impairments (impair mode only; zero elsewhere).
    pub impair: Impairments,
    /// Per-mille chance that the attacker acts after an honest segment.
    pub attack_rate: u32,
    /// MPTCP Fast Open (RFC 8684 Appendix B): the client's SYN carries a
    /// cookie and its first bytes, and the server's listener takes SYN
    /// data without a valid cookie, as an RFC 8803 converter does.
    pub fast_open: bool,
}

/// How large a case's transfers may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    /// Most bytes each way.
    pub max_bytes: u64,
}

impl Scale {
    /// The campaign's: up to 384 KiB each way.
    pub const FULL: Scale = Scale {
        max_bytes: 384 * 1024,
    };
    /// A fuzzer's: up to 48 KiB each way, so that one input runs in
    /// milliseconds under the sanitizers.
    pub const FUZZ: Scale = Scale {
        max_bytes: 48 * 1024,
    };
}

impl CaseConfig {
    /// Draw a configuration; `impaired` gives it impairments.
    pub fn draw(e: &mut Entropy, scale: Scale, impaired: bool) -> Self {
        let family = if e.chance(500) {
            Family::V6
        } else {
            Family::V4
        };
        let subflows = e.pick(&[1, 1, 2, 2, 3]);
        let plan = e.pick(&[
            SubflowPlan::ManualAddress,
            SubflowPlan::ManualPort,
            SubflowPlan::NDiffPorts,
            SubflowPlan::Fullmesh,
        ]);
        let checksum = e.chance(500);
        let early_shutdown = e.chance(80);
        // Half the sizes spread over orders of magnitude (a few bytes, one
        // segment, a window...), half large.
        let size = |e: &mut Entropy| {
            if e.chance(500) {
                e.log_range(1, scale.max_bytes)
            } else {
                e.range(scale.max_bytes / 4, scale.max_bytes)
            }
        };
        let client_bytes = if early_shutdown { 0 } else { size(e) };
        let server_bytes = if e.chance(500) { 0 } else { size(e) };
        let wrap_key = |e: &mut Entropy| match e.below(10) {
            0..=1 => Some(e.pick(&WRAP_SOON)),
            2..=3 => Some(e.pick(&WRAP_LATER)),
            _ => None,
        };
        let client_key = wrap_key(e);
        let server_key = wrap_key(e);
        let mss = e.pick(&[1460, 1460, 1200, 536]);
        let timestamps = !e.chance(200);
        let sack = !e.chance(200);
        let recv_buffer = e.pick(&[1 << 20, 1 << 20, 256 << 10, 64 << 10]);
        let cc = e.pick(&["reno", "cubic", "lia", "olia"]);
        let close_timeout = Duration::from_secs(e.pick(&[60, 5]));
        let server_limits = e.pick(&[(16, 4), (64, 8), (1024, 16)]);
        let lo = e.range(500, 20_000);
        let delay_us = (lo, lo + e.range(0, 20_000));
        let rate_mbps = e.pick(&[10, 50, 200]);
        let impair = if impaired {
            Impairments {
                drop: e.pick(&[0, 5, 20, 50]),
                duplicate: e.pick(&[0, 10, 30]),
                reorder: e.pick(&[0, 20, 100]),
                reencode: e.pick(&[0, 500, 1000]),
            }
        } else {
            Impairments::default()
        };
        let attack_rate = e.pick(&[100, 300, 1000]);
        // Drawn last: earlier inputs keep the cases they had.
        let fast_open = e.chance(250);
        CaseConfig {
            family,
            subflows,
            plan,
            checksum,
            client_bytes,
            server_bytes,
            early_shutdown,
            client_key,
            server_key,
            mss,
            timestamps,
            sack,
            recv_buffer,
            cc,
            close_timeout,
            server_limits,
            delay_us,
            rate_mbps,
            impair,
            attack_rate,
            fast_open,
        }
    }

    /// The connections' configuration (both sides alike).
    pub fn mptcp(&self) -> MptcpConfig {
        let mut c = MptcpConfig::default();
        c.checksum = self.checksum;
        c.recv_buffer = self.recv_buffer;
        c.close_timeout = self.close_timeout;
        c.tcp.mss = self.mss;
        c.tcp.timestamps = self.timestamps;
        c.tcp.sack = self.sack;
        c.tcp.recv_buffer = self.recv_buffer;
        // Short TIME-WAIT and SYN retries: freed connections are the point,
        // and a bounded wait for them keeps each case short.
        c.tcp.time_wait = Duration::from_secs(2);
        c.tcp.syn_retries = 4;
        c
    }

    /// The server endpoint's limits.
    pub fn server_endpoint(&self) -> EndpointConfig {
        let mut l = EndpointConfig::default();
        (l.max_connections, l.max_half_open) = self.server_limits;
        l
    }

    /// The client endpoint's limits (it makes one connection).
    pub fn client_endpoint(&self) -> EndpointConfig {
        let mut l = EndpointConfig::default();
        l.max_connections = 4;
        l
    }

    /// A short description for replay output.
    pub fn summary(&self) -> String {
        format!(
            "{:?} subflows={} {:?} checksum={} client->server={} server->client={}{} keys={:?}/{:?} mss={} ts={} sack={} rcvbuf={} cc={} delay={}..{}us rate={}Mb/s impair={:?}",
            self.family,
            self.subflows,
            self.plan,
            self.checksum,
            self.client_bytes,
            self.server_bytes,
            if self.early_shutdown {
                " early-shutdown"
            } else {
                ""
            },
            self.client_key,
            self.server_key,
            self.mss,
            self.timestamps,
            self.sack,
            self.recv_buffer,
            self.cc,
            self.delay_us.0,
            self.delay_us.1,
            self.rate_mbps,
            self.impair,
        )
    }
}
