//! A scheduler written outside the stack, registered by name, and chosen
//! by that name in the simulator and on TUN devices.
//!
//! `sticky` keeps every byte on the oldest regular subflow with the
//! others as spares: the next one takes over only when it is gone (a
//! failover policy, unlike MP_PRIO backups, chosen by the sender alone).
//!
//! ```text
//! cargo run --example custom_scheduler -- simulate --scheduler sticky
//! cargo run --example custom_scheduler -- simulate --scheduler minrtt
//! cargo run --example custom_scheduler -- send --path tun0=10.61.0.2 \
//!     --path tun1=10.62.0.2 --to 10.61.0.1:5000 --scheduler sticky
//! ```
//!
//! Both print one line per subflow, `subflow ID from ADDR: N bytes sent`,
//! then the total.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use umptcp::core::{
    Candidate, ConnectionId, ConnectionPolicy, Endpoint, EndpointConfig, MptcpConfig, MptcpEvent,
    PolicyRegistry, Scheduler,
};
use umptcp::sim::{Application, LinkConfig, Rate, SimConfig, SimHost, Simulator};
use umptcp::time::Instant;
use umptcp::wire::AddrId;
use umptcp::{FourTuple, MptcpSettings, PathConfig, Stack, StackConfig, Stream};

/// Every chunk on the oldest regular subflow (the lowest ID; backups only
/// when no regular one is left); when its window is full, wait for it.
#[derive(Debug, Default)]
struct Sticky;

impl Scheduler for Sticky {
    fn name(&self) -> &'static str {
        "sticky"
    }

    fn pick(&mut self, candidates: &[Candidate]) -> Option<usize> {
        let any_regular = candidates.iter().any(|c| !c.backup);
        let (index, oldest) = candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.backup != any_regular)
            .min_by_key(|(_, c)| c.id.0)?;
        (oldest.space > 0).then_some(index)
    }
}

/// The built-in policies and `sticky`.
fn registry() -> PolicyRegistry {
    let mut registry = PolicyRegistry::with_builtins();
    registry.register_scheduler_fn("sticky", || Box::new(Sticky));
    registry
}

/// A scheduler of your own beside the built-in ones, by name.
#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Two of our stacks over two simulated paths (50 and 20 Mbit/s), in
    /// virtual time: no root, no device.
    Simulate {
        /// The scheduler: sticky, or a built-in one (minrtt, roundrobin,
        /// redundant).
        #[arg(long, default_value = "sticky")]
        scheduler: String,
        /// Bytes the client sends.
        #[arg(long, default_value_t = 4 << 20)]
        bytes: usize,
        /// Seed of the keys and the links.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Send over TUN devices (as root) to a server, one subflow per path.
    Send {
        /// A path: a TUN device and our address on it (`tun0=10.61.0.2`);
        /// repeat for more. A device that does not exist is made.
        #[arg(long = "path", value_name = "DEV=ADDR", required = true, value_parser = parse_path)]
        paths: Vec<(String, IpAddr)>,
        /// The server.
        #[arg(long, value_name = "ADDR:PORT")]
        to: SocketAddr,
        /// The scheduler: sticky, or a built-in one.
        #[arg(long, default_value = "sticky")]
        scheduler: String,
        /// Bytes to send.
        #[arg(long, default_value_t = 4 << 20)]
        bytes: usize,
    },
}

fn parse_path(arg: &str) -> Result<(String, IpAddr), String> {
    let (device, addr) = arg.split_once('=').ok_or("a path is DEV=ADDR")?;
    let addr = addr.parse().map_err(|e| format!("{addr:?}: {e}"))?;
    Ok((device.to_owned(), addr))
}

fn main() -> ExitCode {
    let result = match Args::parse().command {
        Mode::Simulate {
            scheduler,
            bytes,
            seed,
        } => simulate(&scheduler, bytes, seed),
        Mode::Send {
            paths,
            to,
            scheduler,
            bytes,
        } => send(&paths, to, &scheduler, bytes),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("custom_scheduler: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// On TUN: the stack's scheduler is given by name, looked up in the
/// registry the stack was given.
fn send(
    paths: &[(String, IpAddr)],
    to: SocketAddr,
    scheduler: &str,
    bytes: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let paths = paths
        .iter()
        .map(|(dev, addr)| PathConfig::new(dev, *addr))
        .collect();
    let mut config = StackConfig::new(paths);
    config.registry = registry();
    let mut mptcp = MptcpSettings::default();
    mptcp.scheduler = scheduler.to_owned();
    config.mptcp = Some(mptcp);
    let stack = Stack::start(config)?;
    let mut stream = Stream::connect_timeout(&stack, to, Duration::from_secs(10))?;
    // Data starts once the second subflow is up, so the scheduler has a
    // choice from the first byte.
    for _ in 0..100 {
        let info = stream
            .mptcp_info()?
            .ok_or("the server does not speak MPTCP")?;
        if info.subflows.iter().filter(|s| s.established).count() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let chunk = [0x5au8; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        stream.write_all(&chunk[..n])?;
        left -= n;
    }
    stream.shutdown(Shutdown::Write)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    if let Some(info) = stream.mptcp_info()? {
        for sub in &info.subflows {
            println!(
                "subflow {} from {}: {} bytes sent",
                sub.id.0, sub.tuple.local, sub.bytes_sent
            );
        }
    }
    println!("sent {bytes} bytes with scheduler {scheduler}");
    drop(stream);
    stack.shutdown(Duration::from_secs(5))?;
    Ok(())
}

/// The client writes, the server reads.
struct Transfer {
    conn: Option<ConnectionId>,
    left: usize,
    received: usize,
    join: Option<FourTuple>,
}

impl Application for Transfer {
    fn service(&mut self, now: Instant, ep: &mut Endpoint) {
        if let Some(id) = ep.accept() {
            self.conn = Some(id);
        }
        while let Some((id, event)) = ep.poll_event() {
            if let (MptcpEvent::Connected { mptcp: true }, Some(tuple)) = (event, self.join.take())
            {
                let _ = ep.open_subflow(now, id, tuple, AddrId(1), false);
            }
        }
        let Some(conn) = self.conn.and_then(|id| ep.connection(id)) else {
            return;
        };
        let chunk = [0x42u8; 16 * 1024];
        while self.left > 0 {
            let n = self.left.min(chunk.len()).min(conn.writable());
            if n == 0 {
                break;
            }
            self.left -= conn.write(&chunk[..n]);
        }
        let mut buf = [0u8; 16 * 1024];
        loop {
            match conn.read(&mut buf) {
                0 => break,
                n => self.received += n,
            }
        }
    }
}

/// In the simulator: the client's connection gets its scheduler by name
/// from the same registry ([`ConnectionPolicy::by_names`]).
fn simulate(scheduler: &str, bytes: usize, seed: u64) -> Result<(), Box<dyn std::error::Error>> {
    let registry = registry();
    let cc_registry = registry.clone();
    let endpoint = |seed: u64| {
        let registry = cc_registry.clone();
        let cc = Box::new(move || {
            registry
                .congestion("lia", &Default::default())
                .expect("built in")
        });
        let mut config = MptcpConfig::default();
        config.send_buffer = 4 << 20;
        config.recv_buffer = 4 << 20;
        config.tcp.recv_buffer = 4 << 20;
        let rng = Box::new(ChaCha20Rng::seed_from_u64(seed));
        Endpoint::new(config, EndpointConfig::default(), rng, cc)
    };
    let ip = |s: &str| -> IpAddr { s.parse().expect("a constant address") };
    let (client_a, client_b) = (ip("10.0.1.1"), ip("10.0.2.1"));
    let (server_a, server_b) = (ip("10.0.1.2"), ip("10.0.2.2"));
    let server = SocketAddr::new(server_a, 80);
    let mut sim = Simulator::new(SimConfig::with_seed(seed))?;
    let mut client = SimHost::new(
        endpoint(seed),
        &[client_a, client_b],
        Transfer {
            conn: None,
            left: bytes,
            received: 0,
            join: Some(FourTuple {
                local: SocketAddr::new(client_b, 0),
                remote: SocketAddr::new(server_b, 80),
            }),
        },
    );
    let policy =
        ConnectionPolicy::by_names(None, Some(scheduler), None, &registry, &Default::default())?;
    let tuple = FourTuple {
        local: SocketAddr::new(client_a, 40000),
        remote: server,
    };
    let id = client
        .endpoint_mut()
        .connect_with(Instant::ZERO, tuple, policy)?;
    client.app_mut().conn = Some(id);
    let mut server_host = SimHost::new(
        endpoint(seed + 1),
        &[server_a, server_b],
        Transfer {
            conn: None,
            left: 0,
            received: 0,
            join: None,
        },
    );
    server_host.endpoint_mut().listen(server);
    let c = sim.add_host(client)?;
    let s = sim.add_host(server_host)?;
    for (rate, (local, remote)) in [50, 20]
        .into_iter()
        .zip([(client_a, server_a), (client_b, server_b)])
    {
        let link = LinkConfig::new(Rate::mbit(rate), Duration::from_millis(10))
            .with_queue_limit(256 * 1024);
        let (ci, si) = (sim.add_iface(c, &[local])?, sim.add_iface(s, &[remote])?);
        sim.connect((c, ci), (s, si), link.clone(), link)?;
    }
    while sim.host_mut(s).map(|h| h.app().received) != Some(bytes) {
        if sim.now() > Instant::ZERO + Duration::from_secs(600) || sim.next_event_time().is_none() {
            return Err("the transfer stalled".into());
        }
        sim.run_until(sim.now() + Duration::from_millis(100));
    }
    let host = sim.host_mut(c).ok_or("the client is gone")?;
    let (ep, app) = host.parts_mut();
    let conn = app
        .conn
        .and_then(|id| ep.connection(id))
        .ok_or("the connection is gone")?;
    for sub in conn.subflows() {
        println!(
            "subflow {} from {}: {} bytes sent",
            sub.id.0, sub.tuple.local, sub.bytes_sent
        );
    }
    println!("sent {bytes} bytes with scheduler {scheduler}");
    Ok(())
}
