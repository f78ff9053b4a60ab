//! Goodput of one connection over TUN, our stack against the kernel, beside
//! kernel-to-kernel TCP over a veth pair, measured in the same run.
//!
//! `cargo bench -p umptcp-tun --bench tun_goodput` (needs root: namespaces,
//! TUN, veth). Each case moves `SIZE` bytes once per round; the table shows
//! the median of the rounds. Our stack runs without offloads (the target's
//! condition) and, for comparison, with the TUN offloads of
//! `StackConfig::offload`; the veth pair has the kernel's defaults.

#![allow(clippy::disallowed_methods)] // a benchmark reads the clock

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as KernelListener, TcpStream as KernelStream};
use std::time::{Duration, Instant};

use umptcp_lab::{Netns, lab_available, run_in};
use umptcp_tun::{Listener, PathConfig, Stack, StackConfig, Stream};

const SIZE: u64 = 512 << 20;
const ROUNDS: usize = 3;
const CHUNK: usize = 256 * 1024;

fn write_all_of(w: &mut impl Write) {
    let buf = vec![0xa5u8; CHUNK];
    let mut left = SIZE;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        w.write_all(&buf[..n]).expect("write");
        left -= n as u64;
    }
}

fn read_all_of(r: &mut impl Read) -> u64 {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = r.read(&mut buf).expect("read");
        if n == 0 {
            return total;
        }
        total += n as u64;
    }
}

/// Kernel client in one namespace to a kernel server in another, over veth.
fn kernel_veth() -> Duration {
    let a = Netns::new("bva").expect("ns");
    let b = Netns::new("bvb").expect("ns");
    a.ip(&[
        "link",
        "add",
        "bv0",
        "type",
        "veth",
        "peer",
        "name",
        "bv1",
        "netns",
        b.name(),
    ])
    .expect("veth");
    a.ip(&["addr", "add", "10.78.0.1/24", "dev", "bv0"])
        .unwrap();
    b.ip(&["addr", "add", "10.78.0.2/24", "dev", "bv1"])
        .unwrap();
    a.ip(&["link", "set", "bv0", "up"]).unwrap();
    b.ip(&["link", "set", "bv1", "up"]).unwrap();
    let server_addr: SocketAddr = "10.78.0.2:7000".parse().unwrap();
    let listener = run_in(&b, || KernelListener::bind(server_addr))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        read_all_of(&mut conn)
    });
    let started = Instant::now();
    run_in(&a, || {
        let mut conn = KernelStream::connect(server_addr).unwrap();
        write_all_of(&mut conn);
        conn.shutdown(Shutdown::Write).unwrap();
    })
    .unwrap();
    assert_eq!(server.join().unwrap(), SIZE);
    started.elapsed()
}

fn stack_in(ns: &Netns, offload: bool) -> Stack {
    let mut config = StackConfig::new(vec![PathConfig::new("bt0", "10.79.0.2".parse().unwrap())]);
    config.seed = Some(1);
    config.offload = offload;
    run_in(ns, || Stack::start(config)).unwrap().expect("stack")
}

/// Our client over TUN to a kernel server in the same namespace.
fn ours_to_kernel(offload: bool) -> Duration {
    let ns = Netns::new("btc").expect("ns");
    let stack = stack_in(&ns, offload);
    let server_addr: SocketAddr = "10.79.0.1:7001".parse().unwrap();
    let listener = run_in(&ns, || KernelListener::bind(server_addr))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        read_all_of(&mut conn)
    });
    let started = Instant::now();
    let mut stream = Stream::connect_timeout(&stack, server_addr, Duration::from_secs(5)).unwrap();
    write_all_of(&mut stream);
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(server.join().unwrap(), SIZE);
    let elapsed = started.elapsed();
    drop(stream);
    stack.shutdown(Duration::from_secs(2)).unwrap();
    elapsed
}

/// A kernel client to our server over TUN.
fn kernel_to_ours(offload: bool) -> Duration {
    let ns = Netns::new("bts").expect("ns");
    let stack = stack_in(&ns, offload);
    let listener = Listener::bind(&stack, 7002).unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let n = read_all_of(&mut conn);
        (n, Instant::now())
    });
    let server_addr: SocketAddr = "10.79.0.2:7002".parse().unwrap();
    let started = Instant::now();
    run_in(&ns, || {
        let mut conn = KernelStream::connect(server_addr).unwrap();
        write_all_of(&mut conn);
        conn.shutdown(Shutdown::Write).unwrap();
        // Keep the socket until our side has read everything.
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
    })
    .unwrap();
    let (n, done) = server.join().unwrap();
    assert_eq!(n, SIZE);
    stack.shutdown(Duration::from_secs(2)).unwrap();
    done - started
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn gbps(d: Duration) -> f64 {
    SIZE as f64 * 8.0 / d.as_secs_f64() / 1e9
}

fn main() {
    // `cargo test --benches` passes no `--bench`; run only under cargo bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Err(why) = lab_available() {
        eprintln!("tun_goodput needs the lab (root, TUN, ip): {why}");
        std::process::exit(1);
    }
    let mut runs: [Vec<Duration>; 5] = Default::default();
    for _ in 0..ROUNDS {
        runs[0].push(kernel_veth());
        runs[1].push(ours_to_kernel(false));
        runs[2].push(kernel_to_ours(false));
        runs[3].push(ours_to_kernel(true));
        runs[4].push(kernel_to_ours(true));
    }
    let [veth, tx, rx, tx_off, rx_off] = runs.map(median);
    println!(
        "one connection, {} MiB, median of {ROUNDS} rounds",
        SIZE >> 20
    );
    println!("| case | seconds | Gbit/s | vs kernel veth |");
    println!("|---|---|---|---|");
    for (name, d) in [
        ("kernel -> kernel, veth", veth),
        ("our stack -> kernel, TUN", tx),
        ("kernel -> our stack, TUN", rx),
        ("our stack -> kernel, TUN with offloads", tx_off),
        ("kernel -> our stack, TUN with offloads", rx_off),
    ] {
        println!(
            "| {name} | {:.3} | {:.2} | {:.0} % |",
            d.as_secs_f64(),
            gbps(d),
            100.0 * veth.as_secs_f64() / d.as_secs_f64()
        );
    }
}
