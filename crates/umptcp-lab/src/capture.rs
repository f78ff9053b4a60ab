//! A recorded kernel-to-kernel MPTCP session over two bridged paths.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use umptcp_wire::Token;

use crate::Lab;
use crate::bridge::{Link, RecordedPacket, Recorder, TunBridge};
use crate::kernel::{
    kernel_mptcp_connect, kernel_mptcp_listener, nstat, parse_ss_tokens, ss_mptcp,
};
use crate::netns::{Netns, run_in};
use crate::tun::{TunConfig, tun_in};

/// Counter that gives each capture of this process its own subnets.
static NEXT_CAPTURE: AtomicU32 = AtomicU32::new(0);

/// The TCP port the kernel server listens on.
const SERVER_PORT: u16 = 8080;

/// What [`capture_kernel_session`] sets up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CaptureConfig {
    /// Set `net.mptcp.checksum_enabled=1` on both hosts (DSS checksums).
    pub checksum: bool,
    /// Bytes sent by the client, and then by the server.
    pub bytes_each_way: usize,
    /// Bytes the client sends before waiting for the MP_JOIN subflow.
    pub bytes_before_join: usize,
    /// The bound on every wait (connection, join, close).
    pub timeout: Duration,
    /// The most packets recorded (the rest are counted in `overflow`).
    pub max_packets: usize,
    /// MTU of the TUN devices.
    pub mtu: u16,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            checksum: false,
            bytes_each_way: 64 * 1024,
            bytes_before_join: 4 * 1024,
            timeout: Duration::from_secs(10),
            max_packets: 2_000,
            mtu: 1_500,
        }
    }
}

impl CaptureConfig {
    /// The default session, with DSS checksums on or off.
    pub fn with_checksum(checksum: bool) -> Self {
        Self {
            checksum,
            ..Self::default()
        }
    }
}

/// The result of a capture: every packet both bridges carried and the
/// kernel's view of the connection while it was up.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Every packet, in the order the bridges read them (link 1 or 2 is the
    /// path; [`Direction::AToB`](crate::Direction::AToB) is client to server).
    pub packets: Vec<RecordedPacket>,
    /// Packets not kept because `max_packets` was reached.
    pub overflow: u64,
    /// Client addresses: path 1, path 2.
    pub cli_addrs: [Ipv4Addr; 2],
    /// Server addresses: path 1 (listener), path 2 (announced).
    pub srv_addrs: [Ipv4Addr; 2],
    /// `ss -Mnia` in the client namespace, with both subflows up.
    pub cli_ss: String,
    /// `ss -Mnia` in the server namespace, with both subflows up.
    pub srv_ss: String,
    /// The non-zero `token:` values of `cli_ss` (the client's own token).
    pub cli_tokens: Vec<Token>,
    /// The non-zero `token:` values of `srv_ss` (the server's own token).
    pub srv_tokens: Vec<Token>,
    /// Client counters (`nstat`) after the close.
    pub cli_nstat: BTreeMap<String, u64>,
    /// Server counters (`nstat`) after the close.
    pub srv_nstat: BTreeMap<String, u64>,
}

impl Capture {
    /// Write the packets as a pcap file (raw IP).
    ///
    /// # Errors
    ///
    /// Any error of `w`.
    pub fn write_pcap<W: Write>(&self, w: W) -> io::Result<()> {
        crate::bridge::write_pcap(&self.packets, w)
    }
}

/// Build the two-path topology (see the crate docs), run one kernel MPTCP
/// connection over it and return what was recorded.
///
/// The server announces its path-2 address (ADD_ADDR), the client joins it
/// (MP_JOIN), `bytes_each_way` go each way, and both sides close cleanly
/// (DATA_FIN). Everything built is removed before returning.
///
/// # Errors
///
/// A step of the setup fails, a transfer fails, or a wait exceeds
/// `cfg.timeout`; the error says which.
pub fn capture_kernel_session(_lab: &Lab, cfg: &CaptureConfig) -> io::Result<Capture> {
    let n = NEXT_CAPTURE.fetch_add(1, Ordering::Relaxed);
    // Namespaces keep captures apart; distinct subnets keep traces readable.
    let x =
        u8::try_from((std::process::id().wrapping_mul(7).wrapping_add(n)) % 200 + 20).unwrap_or(20);
    let cli_addrs = [Ipv4Addr::new(10, x, 1, 1), Ipv4Addr::new(10, x, 2, 1)];
    let srv_addrs = [Ipv4Addr::new(10, x, 1, 2), Ipv4Addr::new(10, x, 2, 2)];

    let cli = Netns::new("cli")?;
    let srv = Netns::new("srv")?;
    for ns in [&cli, &srv] {
        configure_host(ns, cfg.checksum).map_err(|e| context(e, "configuring a host"))?;
    }

    let recorder = Recorder::new(cfg.max_packets);
    let mut bridges = Vec::new();
    for path in 0..2 {
        let name = format!("mlp{}", path + 1);
        let tun = |addr: Ipv4Addr| TunConfig {
            name: name.clone(),
            addr: addr.into(),
            prefix: 24,
            mtu: cfg.mtu,
        };
        let a = tun_in(&cli, &tun(cli_addrs[path])).map_err(|e| context(e, "client TUN"))?;
        let b = tun_in(&srv, &tun(srv_addrs[path])).map_err(|e| context(e, "server TUN"))?;
        let link = Link::new(path as u8 + 1).record(recorder.clone());
        bridges.push(TunBridge::start(a, b, link)?);
    }

    let server_addr = SocketAddr::from((srv_addrs[0], SERVER_PORT));
    // The listener takes every address: the MP_JOIN SYN arrives on path 2's.
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, SERVER_PORT));
    let listener = run_in(&srv, || kernel_mptcp_listener(any))??;
    listener.set_nonblocking(true)?;

    let payload_up = pattern(cfg.bytes_each_way, 1);
    let payload_down = pattern(cfg.bytes_each_way, 2);
    let first = cfg.bytes_before_join.clamp(1, payload_up.len().max(1));
    let (first_data_tx, first_data_rx) = mpsc::channel();
    let (cli_ss, srv_ss) = std::thread::scope(|scope| -> io::Result<(String, String)> {
        let server = scope.spawn(|| -> io::Result<()> {
            let stream = wait_for(cfg.timeout, "the server's accept", || {
                match listener.accept() {
                    Ok((s, _)) => Ok(Some(s)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                    Err(e) => Err(e),
                }
            })?;
            stream.set_nonblocking(false)?;
            set_timeouts(&stream, cfg.timeout)?;
            serve(stream, &payload_up, &payload_down, first, first_data_tx)
        });

        let client = (|| {
            let mut stream = run_in(&cli, || kernel_mptcp_connect(server_addr))??;
            set_timeouts(&stream, cfg.timeout)?;
            stream.write_all(&payload_up[..first])?;
            // The first data goes out before any ADD_ADDR, so it carries
            // MP_CAPABLE with a data-level length (RFC 8684 §3.1): an
            // ADD_ADDR arriving first would make the client fully
            // established and its first data would carry a plain DSS.
            first_data_rx
                .recv_timeout(cfg.timeout)
                .map_err(|_| io::Error::other("the server did not receive the first data"))?;
            // RFC 8684 §3.4.1: the server announces its second address
            // (ADD_ADDR); the kernel announces an endpoint added to the
            // existing connection, and the client joins it (MP_JOIN).
            srv.ip(&[
                "mptcp",
                "endpoint",
                "add",
                &srv_addrs[1].to_string(),
                "dev",
                "mlp2",
                "signal",
            ])?;
            // Wait for the MP_JOIN handshake to complete on the server.
            wait_for(cfg.timeout, "the MP_JOIN subflow", || {
                Ok((counter(&srv, "MPTcpExtMPJoinAckRx")? >= 1).then_some(()))
            })?;
            let cli_ss = ss_mptcp(&cli)?;
            let srv_ss = ss_mptcp(&srv)?;
            stream.write_all(&payload_up[first..])?;
            let mut down = vec![0; payload_down.len()];
            stream.read_exact(&mut down)?;
            if down != payload_down {
                return Err(io::Error::other("client received corrupted data"));
            }
            // DATA_FIN from the client; then wait for the server's.
            stream.shutdown(std::net::Shutdown::Write)?;
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest)?;
            if !rest.is_empty() {
                return Err(io::Error::other("client received extra data"));
            }
            Ok((cli_ss, srv_ss))
        })();
        let served = server
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let result = client.map_err(|e| context(e, "client"))?;
        served.map_err(|e| context(e, "server"))?;
        Ok(result)
    })?;
    drop(listener);

    // Let the closing handshakes finish: no TCP socket left but in
    // TIME-WAIT, and the links quiet for a moment.
    wait_for(cfg.timeout, "the connection to close", || {
        let settled = [&cli, &srv].iter().try_fold(true, |ok, ns| {
            Ok::<_, io::Error>(ok && only_time_wait(&ns.run(&["ss", "-tanH"])?))
        })?;
        let quiet = recorder
            .idle_for()
            .is_some_and(|d| d >= Duration::from_millis(200));
        Ok((settled && quiet).then_some(()))
    })?;

    for bridge in bridges {
        bridge.stop()?;
    }
    let cli_nstat = nstat(&cli)?;
    let srv_nstat = nstat(&srv)?;
    Ok(Capture {
        packets: recorder.packets(),
        overflow: recorder.overflow(),
        cli_addrs,
        srv_addrs,
        cli_tokens: parse_ss_tokens(&cli_ss),
        srv_tokens: parse_ss_tokens(&srv_ss),
        cli_ss,
        srv_ss,
        cli_nstat,
        srv_nstat,
    })
}

/// Sysctls and path-manager limits of one host.
fn configure_host(ns: &Netns, checksum: bool) -> io::Result<()> {
    // No IPv6 chatter (router solicitations, MLD) in the traces.
    ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
    ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
    // Each side's TUN subnet is on-link, so strict rp_filter would pass too;
    // loose filtering keeps the lab independent of the host's defaults.
    ns.sysctl("net.ipv4.conf.all.rp_filter", "0")?;
    ns.sysctl("net.ipv4.conf.default.rp_filter", "0")?;
    ns.sysctl("net.mptcp.enabled", "1")?;
    ns.sysctl(
        "net.mptcp.checksum_enabled",
        if checksum { "1" } else { "0" },
    )?;
    ns.ip(&crate::TWO_PATH_LIMITS)?;
    Ok(())
}

/// The server side: read the client's bytes (saying when the first `first`
/// have come), send ours, wait for the client's DATA_FIN, close.
fn serve(
    mut stream: TcpStream,
    expect: &[u8],
    send: &[u8],
    first: usize,
    first_data: mpsc::Sender<()>,
) -> io::Result<()> {
    let mut up = vec![0; expect.len()];
    stream.read_exact(&mut up[..first])?;
    // The client may have given up already; it then reports its own error.
    let _ = first_data.send(());
    stream.read_exact(&mut up[first..])?;
    if up != expect {
        return Err(io::Error::other("server received corrupted data"));
    }
    stream.write_all(send)?;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest)?;
    if !rest.is_empty() {
        return Err(io::Error::other("server received extra data"));
    }
    Ok(())
}

fn set_timeouts(stream: &TcpStream, timeout: Duration) -> io::Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))
}

/// A recognizable byte pattern (so a misplaced mapping shows as bad data).
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// One counter of `ns` (0 when absent).
fn counter(ns: &Netns, name: &str) -> io::Result<u64> {
    Ok(nstat(ns)?.get(name).copied().unwrap_or(0))
}

/// Whether `ss -tanH` lists no TCP socket except listeners and TIME-WAIT.
fn only_time_wait(ss: &str) -> bool {
    ss.lines()
        .filter_map(|line| line.split_whitespace().next())
        .all(|state| state == "TIME-WAIT" || state == "LISTEN")
}

/// Poll `check` every 10 ms until it returns `Some`, for at most `timeout`.
#[allow(clippy::disallowed_methods)] // the lab harness is a driver: it reads the clock
fn wait_for<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> io::Result<Option<T>>,
) -> io::Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out after {timeout:?} waiting for {what}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
