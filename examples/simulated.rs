//! An application on the simulator: our MPTCP stack at both ends of two
//! simulated paths, in virtual time (no root, no device). The client
//! connects over path A, joins path B once MPTCP is up and sends
//! `--bytes`; the server reads them. The same `Endpoint` calls run on TUN
//! devices under `umptcp::Stack`.
//!
//! `cargo run --example simulated -- --help`

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Parser;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use umptcp::FourTuple;
use umptcp::cc::{CcConfig, Registry};
use umptcp::core::{ConnectionId, Endpoint, EndpointConfig, MptcpConfig, MptcpEvent};
use umptcp::sim::{Application, LinkConfig, Rate, SimConfig, SimHost, Simulator};
use umptcp::time::Instant;
use umptcp::wire::AddrId;

/// Two of our MPTCP stacks over two simulated paths: goodput and the
/// bytes each subflow carried.
#[derive(Parser)]
struct Args {
    /// Bytes the client sends.
    #[arg(long, default_value_t = 16 << 20)]
    bytes: usize,
    /// Rate of path A and of path B, in Mbit/s.
    #[arg(long, num_args = 2, default_values_t = [50, 20])]
    rates: Vec<u64>,
    /// One-way delay of path A and of path B, in ms.
    #[arg(long, num_args = 2, default_values_t = [10, 30])]
    delays: Vec<u64>,
    /// Congestion control of both ends (lia, olia, balia, wvegas, cubic, reno).
    #[arg(long, default_value = "lia")]
    cc: String,
    /// Seed of the keys and the links: the same seed, the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The client writes, the server reads; both note when their side ended.
struct Transfer {
    conn: Option<ConnectionId>,
    client: bool,
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
                // A refused join leaves the transfer on path A alone.
                let _ = ep.open_subflow(now, id, tuple, AddrId(1), false);
            }
        }
        let Some(conn) = self.conn.and_then(|id| ep.connection(id)) else {
            return;
        };
        let chunk = [0x42u8; 16 * 1024];
        while self.client && self.left > 0 {
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

fn endpoint(cc: &str, seed: u64) -> Result<Endpoint, String> {
    let registry = Registry::with_builtins();
    registry
        .build(cc, &CcConfig::default())
        .map_err(|_| format!("unknown congestion control {cc:?}"))?;
    let cc = cc.to_owned();
    let make = Box::new(move || registry.build(&cc, &CcConfig::default()).expect("checked"));
    let rng = Box::new(ChaCha20Rng::seed_from_u64(seed));
    let mut config = MptcpConfig::default();
    config.send_buffer = 4 << 20;
    config.recv_buffer = 4 << 20;
    config.tcp.recv_buffer = 4 << 20;
    Ok(Endpoint::new(config, EndpointConfig::default(), rng, make))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let ip = |s: &str| -> IpAddr { s.parse().expect("a constant address") };
    let (client_a, client_b, server_a, server_b) = (
        ip("10.0.1.1"),
        ip("10.0.2.1"),
        ip("10.0.1.2"),
        ip("10.0.2.2"),
    );
    let server = SocketAddr::new(server_a, 80);
    let mut sim = Simulator::new(SimConfig::with_seed(args.seed))?;
    let transfer = |client, left, join| Transfer {
        conn: None,
        client,
        left,
        received: 0,
        join,
    };
    let join = FourTuple {
        local: SocketAddr::new(client_b, 0),
        remote: SocketAddr::new(server_b, 80),
    };
    let mut client = SimHost::new(
        endpoint(&args.cc, args.seed)?,
        &[client_a, client_b],
        transfer(true, args.bytes, Some(join)),
    );
    let tuple = FourTuple {
        local: SocketAddr::new(client_a, 40000),
        remote: server,
    };
    client.app_mut().conn = Some(client.endpoint_mut().connect(Instant::ZERO, tuple)?);
    let mut server_host = SimHost::new(
        endpoint(&args.cc, args.seed + 1)?,
        &[server_a, server_b],
        transfer(false, 0, None),
    );
    server_host.endpoint_mut().listen(server);
    let c = sim.add_host(client)?;
    let s = sim.add_host(server_host)?;
    for (k, (local, remote)) in [(client_a, server_a), (client_b, server_b)]
        .into_iter()
        .enumerate()
    {
        let link = LinkConfig::new(
            Rate::mbit(args.rates[k]),
            Duration::from_millis(args.delays[k]),
        )
        .with_queue_limit(256 * 1024);
        let (ci, si) = (sim.add_iface(c, &[local])?, sim.add_iface(s, &[remote])?);
        sim.connect((c, ci), (s, si), link.clone(), link)?;
    }
    while sim.host_mut(s).map(|h| h.app().received) != Some(args.bytes) {
        if sim.now() > Instant::ZERO + Duration::from_secs(3600) || sim.next_event_time().is_none()
        {
            return Err("the transfer stalled".into());
        }
        sim.run_until(sim.now() + Duration::from_millis(100));
    }
    let seconds = sim.now().as_nanos() as f64 / 1e9;
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
    println!(
        "received {} bytes in {seconds:.2} s of simulated time: {:.1} Mbit/s over {} + {} Mbit/s",
        args.bytes,
        args.bytes as f64 * 8.0 / seconds / 1e6,
        args.rates[0],
        args.rates[1]
    );
    Ok(())
}
