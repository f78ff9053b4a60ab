//! `mptcp demo`: two of our MPTCP stacks in one process, joined by a
//! simulated network of two paths of different rate and delay. No root,
//! no devices: the deterministic simulator (`umptcp-sim`) carries the
//! packets in virtual time, as fast as the CPU allows.
//!
//! The client connects over path A, joins path B with MP_JOIN once MPTCP
//! is up, and sends `--bytes` of seeded data; the server checks every
//! byte's SHA-256. While it runs, a progress line on stderr shows the
//! throughput of each subflow; at the end a table per subflow and the
//! aggregate goodput against the sum of the link rates (or, with
//! `--json`, one JSON object).

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use umptcp_cc::CcConfig;
use umptcp_experiment::{Application, SimHost};
use umptcp_proto::{
    ConnectionId, Endpoint, EndpointConfig, MptcpConfig, MptcpEvent, PolicyRegistry, SubflowStats,
};
use umptcp_sim::{HostId, LinkConfig, Rate, SimConfig, Simulator};
use umptcp_tcp::FourTuple;
use umptcp_time::Instant;
use umptcp_wire::AddrId;

use crate::args::DemoArgs;
use crate::error::CliError;
use crate::payload::Payload;

const CLIENT_A: &str = "10.0.1.1:40000";
const SERVER_A: &str = "10.0.1.2:80";
const CLIENT_B: &str = "10.0.2.1:40001";
const SERVER_B: &str = "10.0.2.2";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a constant address")
}

/// The application of one of the two simulated hosts.
struct DemoApp {
    conn: Option<ConnectionId>,
    client: bool,
    scheduler: String,
    /// Where `scheduler` is looked up.
    registry: PolicyRegistry,
    /// Client: bytes to send, and how many went into the connection.
    total: u64,
    written: u64,
    payload: Payload,
    /// SHA-256 of what was sent (client) or received (server).
    hash: Sha256,
    received: u64,
    joined: bool,
    done_at: Option<Instant>,
    failure: Option<MptcpEvent>,
    /// The subflows' figures as the connection closed (the endpoint
    /// forgets it afterwards).
    final_stats: Vec<SubflowStats>,
    buf: Vec<u8>,
}

/// One of the two simulated hosts: our endpoint and the demo on top.
type DemoHost = SimHost<DemoApp>;

/// A host of the demo: the client on 10.0.1.1 and 10.0.2.1, or the
/// server on 10.0.1.2 and 10.0.2.2 (path A's address first).
fn demo_host(
    args: &DemoArgs,
    registry: &PolicyRegistry,
    client: bool,
) -> Result<DemoHost, CliError> {
    let mut config = MptcpConfig::default();
    // Room for the bandwidth-delay product of both paths together.
    config.send_buffer = 4 << 20;
    config.recv_buffer = 4 << 20;
    config.tcp.recv_buffer = 4 << 20;
    config.tcp.time_wait = Duration::from_millis(100);
    let cc_name = args.cc.clone();
    registry
        .congestion(&cc_name, &CcConfig::default())
        .map_err(|e| CliError::new(e.to_string()))?;
    let cc_registry = registry.clone();
    let cc = Box::new(move || {
        cc_registry
            .congestion(&cc_name, &CcConfig::default())
            .expect("checked above")
    });
    let seed = args.seed.wrapping_add(u64::from(client));
    let rng = Box::new(ChaCha20Rng::seed_from_u64(seed));
    let mut ep = Endpoint::new(config, EndpointConfig::default(), rng, cc);
    if !client {
        ep.listen(addr(SERVER_A));
    }
    let ifaces = if client {
        [addr(CLIENT_A).ip(), addr(CLIENT_B).ip()]
    } else {
        [addr(SERVER_A).ip(), addr_ip(SERVER_B)]
    };
    let app = DemoApp {
        conn: None,
        client,
        scheduler: args.scheduler.clone(),
        registry: registry.clone(),
        total: if client { args.bytes } else { 0 },
        written: 0,
        payload: Payload::new(args.seed),
        hash: Sha256::new(),
        received: 0,
        joined: false,
        done_at: None,
        failure: None,
        final_stats: Vec::new(),
        buf: vec![0; 64 * 1024],
    };
    Ok(SimHost::new(ep, &ifaces, app))
}

impl Application for DemoApp {
    fn service(&mut self, now: Instant, ep: &mut Endpoint) {
        while let Some(id) = ep.accept() {
            self.conn = Some(id);
            set_scheduler(ep, id, &self.registry, &self.scheduler);
        }
        while let Some((id, event)) = ep.poll_event() {
            match event {
                MptcpEvent::Connected { mptcp: true } if self.client && !self.joined => {
                    let tuple = FourTuple {
                        local: addr(CLIENT_B),
                        remote: SocketAddr::new(addr_ip(SERVER_B), 80),
                    };
                    // A refusal leaves the transfer on path A: the table
                    // then shows one subflow.
                    let _ = ep.open_subflow(now, id, tuple, AddrId(1), false);
                    self.joined = true;
                }
                MptcpEvent::PeerClosed => {
                    if let Some(conn) = ep.connection(id) {
                        conn.shutdown();
                    }
                }
                MptcpEvent::Closed => {
                    self.done_at = Some(now);
                    if let Some(conn) = ep.connection(id) {
                        self.final_stats = conn.subflows().collect();
                    }
                }
                MptcpEvent::Reset | MptcpEvent::TimedOut | MptcpEvent::ProtocolError(_) => {
                    self.failure = Some(event);
                }
                _ => {}
            }
        }
        let Some(conn) = self.conn.and_then(|id| ep.connection(id)) else {
            return;
        };
        while self.written < self.total {
            let n = (self.total - self.written).min(self.buf.len() as u64) as usize;
            // The payload stream is generated once per byte: fill, and
            // keep what did not fit for the next round.
            let room = conn.writable().min(n);
            if room == 0 {
                break;
            }
            self.payload.fill(&mut self.buf[..room]);
            let taken = conn.write(&self.buf[..room]);
            debug_assert_eq!(taken, room);
            self.hash.update(&self.buf[..room]);
            self.written += room as u64;
        }
        if self.client && self.written == self.total {
            conn.shutdown();
        }
        loop {
            let n = conn.read(&mut self.buf);
            if n == 0 {
                break;
            }
            self.hash.update(&self.buf[..n]);
            self.received += n as u64;
        }
    }
}

/// Give connection `id` the scheduler named `name` (checked before the
/// run).
fn set_scheduler(ep: &mut Endpoint, id: ConnectionId, registry: &PolicyRegistry, name: &str) {
    if let (Some(conn), Ok(s)) = (ep.connection(id), registry.scheduler(name)) {
        conn.set_scheduler(s);
    }
}

/// The subflows of the host's connection, with their figures now.
fn subflows(host: &mut DemoHost) -> Vec<SubflowStats> {
    let (ep, app) = host.parts_mut();
    app.conn
        .and_then(|id| ep.connection(id))
        .map(|c| c.subflows().collect())
        .unwrap_or_default()
}

fn addr_ip(s: &str) -> IpAddr {
    s.parse().expect("a constant address")
}

/// Path B's addresses are 10.0.2.x.
fn on_path_b(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[2] == 2)
}

/// One subflow's line of the final table.
struct Row {
    id: u32,
    path: &'static str,
    bytes: u64,
    rtt: Option<Duration>,
    cwnd: u64,
    retransmissions: u64,
}

/// What a demo run measured.
struct Outcome {
    bytes: u64,
    seconds: f64,
    goodput_mbps: f64,
    link_sum_mbps: f64,
    sha256_match: bool,
    rows: Vec<Row>,
}

impl Outcome {
    fn utilization(&self) -> f64 {
        self.goodput_mbps / self.link_sum_mbps
    }
}

/// Run the demo.
///
/// # Errors
///
/// An unknown scheduler or congestion control, a failed transfer, or a
/// closed stdout.
pub(crate) fn run(args: &DemoArgs, registry: &PolicyRegistry) -> Result<(), CliError> {
    registry
        .check(None, Some(&args.scheduler), Some(&args.cc))
        .map_err(|e| CliError::new(e.to_string()))?;
    let outcome = simulate(args, registry)?;
    let mut out = String::new();
    if args.json {
        json(&outcome, &mut out);
    } else {
        table(&outcome, &mut out);
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::io("printing the result", &e))
}

fn path_config(rate_mbit: u64, delay_ms: u64) -> LinkConfig {
    // A drop-tail queue of about 100 ms at the link's rate.
    let queue = (rate_mbit as usize * 1_000_000 / 8 / 10).max(64 * 1024);
    LinkConfig::new(Rate::mbit(rate_mbit), Duration::from_millis(delay_ms)).with_queue_limit(queue)
}

fn simulate(args: &DemoArgs, registry: &PolicyRegistry) -> Result<Outcome, CliError> {
    let mut sim = Simulator::new(SimConfig::with_seed(args.seed))
        .map_err(|e| CliError::new(format!("simulator: {e}")))?;
    let sim_err = |e: umptcp_sim::Error| CliError::new(format!("simulator: {e}"));
    let mut client = demo_host(args, registry, true)?;
    let tuple = FourTuple {
        local: addr(CLIENT_A),
        remote: addr(SERVER_A),
    };
    let (ep, app) = client.parts_mut();
    let id = ep
        .connect(Instant::ZERO, tuple)
        .map_err(|e| CliError::new(format!("connect: {e}")))?;
    app.conn = Some(id);
    set_scheduler(ep, id, registry, &args.scheduler);
    let c = sim.add_host(client).map_err(sim_err)?;
    let s = sim
        .add_host(demo_host(args, registry, false)?)
        .map_err(sim_err)?;
    let ca = sim.add_iface(c, &[addr(CLIENT_A).ip()]).map_err(sim_err)?;
    let cb = sim.add_iface(c, &[addr(CLIENT_B).ip()]).map_err(sim_err)?;
    let sa = sim.add_iface(s, &[addr(SERVER_A).ip()]).map_err(sim_err)?;
    let sb = sim.add_iface(s, &[addr_ip(SERVER_B)]).map_err(sim_err)?;
    let a = path_config(args.rate_a, args.delay_a);
    let b = path_config(args.rate_b, args.delay_b);
    sim.connect((c, ca), (s, sa), a.clone(), a)
        .map_err(sim_err)?;
    sim.connect((c, cb), (s, sb), b.clone(), b)
        .map_err(sim_err)?;

    let progress = !args.json && std::io::stderr().is_terminal();
    let step = Duration::from_millis(250);
    let mut last = (Instant::ZERO, Vec::<u64>::new());
    let deadline = Instant::ZERO + Duration::from_secs(3600);
    loop {
        let next = sim.now() + step;
        sim.run_until(next);
        let server_done = host(&mut sim, s).received == args.bytes;
        let failure = host(&mut sim, c).failure.or(host(&mut sim, s).failure);
        if let Some(event) = failure {
            return Err(CliError::new(format!("the transfer failed: {event:?}")));
        }
        if progress {
            let stats = subflows(sim.host_mut(c).expect("added above"));
            let received = host(&mut sim, s).received;
            print_progress(sim.now(), &stats, &mut last, received, args.bytes);
        }
        let closed = host(&mut sim, c).done_at.is_some() && host(&mut sim, s).done_at.is_some();
        if server_done && closed {
            break;
        }
        if sim.now() >= deadline || sim.next_event_time().is_none() {
            let received = host(&mut sim, s).received;
            return Err(CliError::new(format!(
                "the transfer stalled: {received} of {} bytes after {:.1} s of simulated time",
                args.bytes,
                sim.now().as_nanos() as f64 / 1e9
            )));
        }
    }
    if progress {
        eprintln!();
    }
    let rows = host(&mut sim, c)
        .final_stats
        .iter()
        .map(|st| Row {
            id: st.id.0,
            path: if on_path_b(st.tuple.local.ip()) {
                "B"
            } else {
                "A"
            },
            bytes: st.bytes_sent,
            rtt: st.srtt,
            cwnd: st.cwnd,
            retransmissions: st.retransmissions,
        })
        .collect();
    let sent_hash = std::mem::take(&mut host(&mut sim, c).hash).finalize();
    let server = host(&mut sim, s);
    let received_hash = std::mem::take(&mut server.hash).finalize();
    // Goodput to the moment the last byte arrived in order would need a
    // timestamp per byte; the server's close (its DATA_FIN exchange) ends
    // the transfer instead, a few RTTs later.
    let end = server.done_at.expect("checked in the loop");
    let seconds = end.as_nanos() as f64 / 1e9;
    let link_sum_mbps = (args.rate_a + args.rate_b) as f64;
    Ok(Outcome {
        bytes: server.received,
        seconds,
        goodput_mbps: server.received as f64 * 8.0 / seconds / 1e6,
        link_sum_mbps,
        sha256_match: sent_hash == received_hash,
        rows,
    })
}

fn host(sim: &mut Simulator<DemoHost>, id: HostId) -> &mut DemoApp {
    sim.host_mut(id).expect("added above").app_mut()
}

/// One progress line on stderr: done so far, and each subflow's
/// throughput over the last step of simulated time.
fn print_progress(
    now: Instant,
    stats: &[SubflowStats],
    last: &mut (Instant, Vec<u64>),
    received: u64,
    total: u64,
) {
    let dt = (now.as_nanos().saturating_sub(last.0.as_nanos())) as f64 / 1e9;
    let mut line = format!(
        "\r{:5.1} s  {:5.1} %",
        now.as_nanos() as f64 / 1e9,
        received as f64 * 100.0 / total.max(1) as f64
    );
    let width = 30;
    let filled = (received as usize).saturating_mul(width) / (total.max(1) as usize);
    line.push_str("  [");
    line.push_str(&"#".repeat(filled.min(width)));
    line.push_str(&" ".repeat(width - filled.min(width)));
    line.push(']');
    for (k, st) in stats.iter().enumerate() {
        let before = last.1.get(k).copied().unwrap_or(0);
        let rate = if dt > 0.0 {
            st.bytes_sent.saturating_sub(before) as f64 * 8.0 / dt / 1e6
        } else {
            0.0
        };
        let _ = write!(line, "  subflow {}: {:6.1} Mbit/s", st.id.0, rate);
    }
    *last = (now, stats.iter().map(|s| s.bytes_sent).collect());
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.flush();
}

fn table(o: &Outcome, out: &mut String) {
    let _ = writeln!(
        out,
        "subflow  path  bytes sent    share   srtt ms   cwnd bytes   retransmissions"
    );
    let total: u64 = o.rows.iter().map(|r| r.bytes).sum::<u64>().max(1);
    for r in &o.rows {
        let _ = writeln!(
            out,
            "{:>7}  {:>4}  {:>10}  {:>6.1} %  {:>8}  {:>11}  {:>16}",
            r.id,
            r.path,
            r.bytes,
            r.bytes as f64 * 100.0 / total as f64,
            r.rtt
                .map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3)),
            r.cwnd,
            r.retransmissions
        );
    }
    let _ = writeln!(
        out,
        "received {} bytes in {:.2} s of simulated time: {:.1} Mbit/s, {:.0} % of the {:.0} Mbit/s \
         of both links; sha256 {}",
        o.bytes,
        o.seconds,
        o.goodput_mbps,
        o.utilization() * 100.0,
        o.link_sum_mbps,
        if o.sha256_match { "matches" } else { "DIFFERS" }
    );
}

fn json(o: &Outcome, out: &mut String) {
    let _ = write!(
        out,
        "{{\"bytes\":{},\"seconds\":{:.6},\"goodput_mbps\":{:.3},\"link_sum_mbps\":{:.3},\
         \"utilization\":{:.4},\"sha256_match\":{},\"subflows\":[",
        o.bytes,
        o.seconds,
        o.goodput_mbps,
        o.link_sum_mbps,
        o.utilization(),
        o.sha256_match
    );
    for (k, r) in o.rows.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let rtt = r
            .rtt
            .map_or("null".into(), |d| format!("{:.3}", d.as_secs_f64() * 1e3));
        let _ = write!(
            out,
            "{{\"id\":{},\"path\":\"{}\",\"bytes\":{},\"srtt_ms\":{},\"cwnd\":{},\
             \"retransmissions\":{}}}",
            r.id, r.path, r.bytes, rtt, r.cwnd, r.retransmissions
        );
    }
    out.push_str("]}\n");
}
