//! Proxied goodput and connections per second (issue 16): a download
//! through `mptcp convert` beside a direct MPTCP connection of the same
//! client stack over the same paths, in the same run.
//!
//! `cargo bench -p umptcp-cli --bench proxy_goodput` (needs root).
//!
//! ```text
//!  namespace host                                   namespace far (forwards)
//!  our client stack 10.141.0.2 ─bga0─ 10.141.0.1 ┐
//!  (in this process) 10.142.0.2 ─bgb0─ 10.142.0.1 ┤ ha 10.143.0.1 ══ pa 10.143.0.2 ┐
//!                                                 └ hb 10.144.0.1 ══ pb 10.144.0.2 ┴ 10.145.0.1 ─cvb0─ 10.145.0.2 mptcp convert
//!                                                                                   kernel MPTCP server on 10.145.0.1:9000
//! ```
//!
//! The host sends each path's packets over its own veth pair (policy
//! routing by source); the links are shaped with `tbf` at 50 Mbit/s each
//! way, then unshaped. Direct: our client's MPTCP connection to the
//! kernel server, a subflow over each path. Converted: our Convert client
//! to the converter (a subflow over each path), which reaches the same
//! server by the kernel's sockets inside `far`. The server sends `SIZE`
//! bytes and closes; the client times first byte to last. Then
//! connections per second: `CONNS` conversions each carrying a one-byte
//! answer, `PARALLEL` at a time, beside the same count of direct
//! connections.

#![allow(clippy::disallowed_methods)] // a benchmark reads the clock

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use std::time::{Duration, Instant};

use umptcp_lab::{Netns, TWO_PATH_LIMITS, kernel_mptcp_listener, lab_available, run_in};
use umptcp_proxy::client::ConvertClient;
use umptcp_tun::{MptcpSettings, PathConfig, Stack, StackConfig, Stream};

/// Rounds per case; the median is reported.
const ROUNDS: usize = 3;
const CONNS: usize = 200;
const PARALLEL: usize = 8;

/// A child killed at the end.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn topology() -> (Netns, Netns) {
    let host = Netns::new("pgh").expect("namespace");
    let far = Netns::new("pgf").expect("namespace");
    for (h, p, net) in [("ha", "pa", 143), ("hb", "pb", 144)] {
        host.ip(&[
            "link",
            "add",
            h,
            "type",
            "veth",
            "peer",
            "name",
            p,
            "netns",
            far.name(),
        ])
        .unwrap();
        host.ip(&["addr", "add", &format!("10.{net}.0.1/24"), "dev", h])
            .unwrap();
        far.ip(&["addr", "add", &format!("10.{net}.0.2/24"), "dev", p])
            .unwrap();
        host.ip(&["link", "set", h, "up"]).unwrap();
        far.ip(&["link", "set", p, "up"]).unwrap();
    }
    for ns in [&host, &far] {
        ns.sysctl("net.ipv4.ip_forward", "1").unwrap();
        ns.sysctl("net.ipv4.conf.all.rp_filter", "0").unwrap();
        ns.sysctl("net.ipv4.conf.default.rp_filter", "0").unwrap();
        ns.ip(&TWO_PATH_LIMITS).unwrap();
    }
    // Path A's packets by ha, path B's by hb; far answers each subnet by
    // its own link.
    host.ip(&["route", "add", "10.145.0.0/24", "via", "10.143.0.2"])
        .unwrap();
    host.ip(&["rule", "add", "from", "10.142.0.0/24", "table", "102"])
        .unwrap();
    host.ip(&[
        "route",
        "add",
        "10.145.0.0/24",
        "via",
        "10.144.0.2",
        "table",
        "102",
    ])
    .unwrap();
    far.ip(&["route", "add", "10.141.0.0/24", "via", "10.143.0.1"])
        .unwrap();
    far.ip(&["route", "add", "10.142.0.0/24", "via", "10.144.0.1"])
        .unwrap();
    // The one-path client's subnet, by path A's link.
    far.ip(&["route", "add", "10.146.0.0/24", "via", "10.143.0.1"])
        .unwrap();
    (host, far)
}

/// 50 Mbit/s each way on both links (a queue of about 20 ms), or none.
fn shape(host: &Netns, far: &Netns, on: bool) {
    for (ns, dev) in [(host, "ha"), (host, "hb"), (far, "pa"), (far, "pb")] {
        let _ = ns.run(&["tc", "qdisc", "del", "dev", dev, "root"]);
        if on {
            ns.run(&[
                "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", "50mbit", "burst", "32kb",
                "latency", "20ms",
            ])
            .unwrap();
        }
    }
}

/// `mptcp convert` in `far`, once it listens.
fn converter(far: &Netns) -> Kill {
    let mut child = Command::new("ip")
        .args(["netns", "exec", far.name(), env!("CARGO_BIN_EXE_mptcp")])
        .args(["convert", "--path", "cvb0=10.145.0.2", "--port", "5124"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mptcp convert");
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .expect("its first line");
    assert!(line.contains("converting on port 5124"), "{line}");
    Kill(child)
}

/// A kernel MPTCP server on `addr` sending what the first byte of each
/// request asks for: 'B' for `big` bytes, anything else for one byte.
fn server(far: &Netns, addr: SocketAddr, big: Arc<std::sync::atomic::AtomicUsize>) {
    let listener = run_in(far, || kernel_mptcp_listener(addr))
        .unwrap()
        .expect("kernel MPTCP server");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let big = Arc::clone(&big);
            std::thread::spawn(move || {
                let mut ask = [0u8; 1];
                if conn.read_exact(&mut ask).is_err() {
                    return;
                }
                let n = if ask[0] == b'B' {
                    big.load(std::sync::atomic::Ordering::Relaxed)
                } else {
                    1
                };
                let chunk = vec![0x5a; 256 << 10];
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk.len());
                    if conn.write_all(&chunk[..k]).is_err() {
                        return;
                    }
                    left -= k;
                }
            });
        }
    });
}

/// Read `stream` to its end: the bytes and the time from the first byte
/// to the last.
fn download(stream: &mut Stream) -> (usize, Duration) {
    let mut buf = vec![0u8; 256 << 10];
    let n = stream.read(&mut buf).expect("the first bytes");
    let t = Instant::now();
    let mut total = n;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => total += k,
            Err(e) => panic!("after {total} bytes: {e}"),
        }
    }
    (total, t.elapsed())
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64() / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Err(why) = lab_available() {
        eprintln!("proxy_goodput needs the lab (root, TUN, ip): {why}");
        std::process::exit(1);
    }
    let (host, far) = topology();
    let _converter = converter(&far);
    let server_addr: SocketAddr = "10.145.0.1:9000".parse().unwrap();
    let big = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    server(&far, server_addr, Arc::clone(&big));
    let mut config = StackConfig::new(vec![
        PathConfig::new("bga0", "10.141.0.2".parse().unwrap()),
        PathConfig::new("bgb0", "10.142.0.2".parse().unwrap()),
    ]);
    config.seed = Some(16);
    config.mptcp = Some(MptcpSettings::default());
    let stack = run_in(&host, || Stack::start(config))
        .unwrap()
        .expect("client stack");
    let client = ConvertClient::new(
        &stack,
        "10.145.0.2:5124".parse().unwrap(),
        Duration::from_secs(10),
    );
    // A second client stack with one path only (by path A's link).
    let mut config = StackConfig::new(vec![PathConfig::new("bgc0", "10.146.0.2".parse().unwrap())]);
    config.seed = Some(17);
    config.mptcp = Some(MptcpSettings::default());
    let one_path = run_in(&host, || Stack::start(config))
        .unwrap()
        .expect("one-path client stack");
    let one_path_client = ConvertClient::new(
        &one_path,
        "10.145.0.2:5124".parse().unwrap(),
        Duration::from_secs(10),
    );

    println!("| case | direct MPTCP | through the converter | ratio |");
    println!("|---|---|---|---|");
    for (label, shaped, size, paths) in [
        ("two 50 Mbit/s paths, 64 MiB", true, 64usize << 20, 2),
        ("one unshaped path, 512 MiB", false, 512 << 20, 1),
        ("two unshaped paths, 512 MiB", false, 512 << 20, 2),
    ] {
        shape(&host, &far, shaped);
        let (stack, client) = if paths == 2 {
            (&stack, &client)
        } else {
            (&one_path, &one_path_client)
        };
        big.store(size, std::sync::atomic::Ordering::Relaxed);
        let (mut direct, mut converted) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let mut s = Stream::connect_timeout(stack, server_addr, Duration::from_secs(10))
                .expect("direct connect");
            s.write_all(b"B").unwrap();
            let (n, d) = download(&mut s);
            assert_eq!(n, size, "direct: every byte");
            let info = s.mptcp_info().unwrap().expect("MPTCP figures");
            assert!(info.mptcp && info.subflows.len() == paths, "direct: {info}");
            direct.push(mbps(n, d));
            drop(s);
            let (mut s, _) = client.connect(server_addr, b"B").expect("converted");
            let (n, d) = download(&mut s);
            assert_eq!(n, size, "converted: every byte");
            let info = s.mptcp_info().unwrap().expect("MPTCP figures");
            assert!(
                info.mptcp && info.subflows.len() == paths,
                "converted: {info}"
            );
            converted.push(mbps(n, d));
            drop(s);
        }
        let (d, c) = (median(direct), median(converted));
        println!("| {label} | {d:.1} Mbit/s | {c:.1} Mbit/s | {:.3} |", c / d);
    }

    // Connections per second, unshaped: a one-byte answer each.
    let rate = |converted: bool| {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for t in 0..PARALLEL {
                let (stack, client) = (&stack, &client);
                scope.spawn(move || {
                    for _ in (t..CONNS).step_by(PARALLEL) {
                        let mut s = if converted {
                            client.connect(server_addr, b"s").expect("converted").0
                        } else {
                            let mut s = Stream::connect_timeout(
                                stack,
                                server_addr,
                                Duration::from_secs(10),
                            )
                            .expect("direct connect");
                            s.write_all(b"s").unwrap();
                            s
                        };
                        let mut one = [0u8; 1];
                        s.read_exact(&mut one).expect("the answer");
                    }
                });
            }
        });
        CONNS as f64 / started.elapsed().as_secs_f64()
    };
    let (d, c) = (rate(false), rate(true));
    println!(
        "| connections per second, {PARALLEL} at a time, {CONNS} each | {d:.0}/s | {c:.0}/s | {:.3} |",
        c / d
    );
    drop((client, one_path_client));
    let _ = stack.shutdown(Duration::from_secs(2));
    let _ = one_path.shutdown(Duration::from_secs(2));
}
