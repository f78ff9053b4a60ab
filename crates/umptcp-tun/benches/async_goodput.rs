//! Goodput of one connection over TUN to and from the kernel, through the
//! blocking handles and through the async ones (feature `tokio`), measured
//! in the same run, and an echo of many connections at once through one
//! `AsyncListener`.
//!
//! `cargo bench -p umptcp-tun --features tokio --bench async_goodput`
//! (needs root: namespaces, TUN). Each case moves `SIZE` bytes once per
//! round; the table shows the median of the rounds.

#![allow(clippy::disallowed_methods)] // a benchmark reads the clock

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as KernelListener, TcpStream as KernelStream};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use umptcp_lab::{Netns, lab_available, run_in};
use umptcp_tun::{AsyncListener, AsyncStream, Listener, PathConfig, Stack, StackConfig, Stream};

const SIZE: u64 = 512 << 20;
const ROUNDS: usize = 3;
const CHUNK: usize = 256 * 1024;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn stack_in(ns: &Netns) -> Stack {
    let mut config = StackConfig::new(vec![PathConfig::new("ba0", "10.80.0.2".parse().unwrap())]);
    config.seed = Some(1);
    run_in(ns, || Stack::start(config)).unwrap().expect("stack")
}

fn kernel_sink(ns: &Netns, addr: SocketAddr) -> std::thread::JoinHandle<u64> {
    let listener = run_in(ns, || KernelListener::bind(addr)).unwrap().unwrap();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0;
        loop {
            match conn.read(&mut buf).unwrap() {
                0 => return total,
                n => total += n as u64,
            }
        }
    })
}

/// Our client sends `SIZE` to a kernel sink: blocking or async.
fn ours_to_kernel(asynchronous: bool) -> Duration {
    let ns = Netns::new("bac").expect("ns");
    let stack = stack_in(&ns);
    let addr: SocketAddr = "10.80.0.1:7001".parse().unwrap();
    let sink = kernel_sink(&ns, addr);
    let buf = vec![0xa5u8; CHUNK];
    let started = Instant::now();
    if asynchronous {
        runtime().block_on(async {
            let mut stream = AsyncStream::connect(&stack, addr).await.unwrap();
            let mut left = SIZE;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                stream.write_all(&buf[..n]).await.unwrap();
                left -= n as u64;
            }
            stream.shutdown().await.unwrap();
        });
    } else {
        let mut stream = Stream::connect(&stack, addr).unwrap();
        let mut left = SIZE;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            stream.write_all(&buf[..n]).unwrap();
            left -= n as u64;
        }
        stream.shutdown(Shutdown::Write).unwrap();
    }
    assert_eq!(sink.join().unwrap(), SIZE);
    let elapsed = started.elapsed();
    stack.shutdown(Duration::from_secs(2)).unwrap();
    elapsed
}

/// A kernel client sends `SIZE` to our listener: blocking or async.
fn kernel_to_ours(asynchronous: bool) -> Duration {
    let ns = Netns::new("bas").expect("ns");
    let stack = stack_in(&ns);
    let addr: SocketAddr = "10.80.0.2:7002".parse().unwrap();
    let client = |ns: &Netns| {
        run_in(ns, move || {
            let mut conn = KernelStream::connect(addr).unwrap();
            let buf = vec![0x5au8; CHUNK];
            let mut left = SIZE;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                conn.write_all(&buf[..n]).unwrap();
                left -= n as u64;
            }
            conn.shutdown(Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            let _ = conn.read_to_end(&mut rest);
        })
        .unwrap();
    };
    let started = Instant::now();
    let received = if asynchronous {
        let rt = runtime();
        let listener = AsyncListener::bind(&stack, addr.port()).unwrap();
        let reader = rt.spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; CHUNK];
            let mut total = 0u64;
            loop {
                match conn.read(&mut buf).await.unwrap() {
                    0 => return total,
                    n => total += n as u64,
                }
            }
        });
        client(&ns);
        rt.block_on(reader).unwrap()
    } else {
        let listener = Listener::bind(&stack, addr.port()).unwrap();
        let reader = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; CHUNK];
            let mut total = 0u64;
            loop {
                match conn.read(&mut buf).unwrap() {
                    0 => return total,
                    n => total += n as u64,
                }
            }
        });
        client(&ns);
        reader.join().unwrap()
    };
    let elapsed = started.elapsed();
    assert_eq!(received, SIZE);
    stack.shutdown(Duration::from_secs(2)).unwrap();
    elapsed
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
        eprintln!("async_goodput needs the lab (root, TUN, ip): {why}");
        std::process::exit(1);
    }
    let mut runs: [Vec<Duration>; 4] = Default::default();
    for _ in 0..ROUNDS {
        runs[0].push(ours_to_kernel(false));
        runs[1].push(ours_to_kernel(true));
        runs[2].push(kernel_to_ours(false));
        runs[3].push(kernel_to_ours(true));
    }
    let [tx, tx_async, rx, rx_async] = runs.map(median);
    println!(
        "one connection over TUN, {} MiB, median of {ROUNDS} rounds",
        SIZE >> 20
    );
    println!("| case | blocking Gbit/s | async Gbit/s | async / blocking |");
    println!("|---|---|---|---|");
    for (name, b, a) in [
        ("our stack -> kernel", tx, tx_async),
        ("kernel -> our stack", rx, rx_async),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.0} % |",
            gbps(b),
            gbps(a),
            100.0 * b.as_secs_f64() / a.as_secs_f64()
        );
    }
}
