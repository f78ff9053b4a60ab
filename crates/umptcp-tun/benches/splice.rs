//! The cost of relaying through the stack: a kernel client sends to our
//! listener, we forward to a kernel sink over a second connection, once
//! with `Stack::splice` and once copying through the application (a
//! thread doing `io::copy` between the two streams), in the same run.
//!
//! `cargo bench -p umptcp-tun --bench splice` (needs root: namespaces,
//! TUN). Each case moves `SIZE` bytes once per round; the table shows the
//! median of the rounds: wall time and the process's CPU time per GiB
//! (stack thread, device readers, the copying thread, the kernel's work
//! on our behalf; the kernel peers are in this process too, the same in
//! both cases).

#![allow(clippy::disallowed_methods)] // a benchmark reads the clock

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as KernelListener, TcpStream as KernelStream};
use std::time::{Duration, Instant};

use umptcp_lab::{Netns, lab_available, run_in};
use umptcp_tun::{Listener, PathConfig, Stack, StackConfig, Stream};

const SIZE: u64 = 512 << 20;
const ROUNDS: usize = 3;
const CHUNK: usize = 256 * 1024;

/// CPU time of this process so far (user + system).
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    #[allow(unsafe_code)]
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// One relay of `SIZE` bytes; (wall time, CPU time).
fn relay(splice: bool) -> (Duration, Duration) {
    let ns = Netns::new(if splice { "bsps" } else { "bspc" }).expect("ns");
    let mut config = StackConfig::new(vec![PathConfig::new("bsp0", "10.81.0.2".parse().unwrap())]);
    config.seed = Some(1);
    let stack = run_in(&ns, || Stack::start(config))
        .unwrap()
        .expect("stack");
    let sink_addr: SocketAddr = "10.81.0.1:7300".parse().unwrap();
    let sink = run_in(&ns, || KernelListener::bind(sink_addr))
        .unwrap()
        .unwrap();
    let sink = std::thread::spawn(move || {
        let (mut conn, _) = sink.accept().unwrap();
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            match conn.read(&mut buf).unwrap() {
                0 => return total,
                n => total += n as u64,
            }
        }
    });
    let listener = Listener::bind(&stack, 7301).unwrap();
    let front: SocketAddr = "10.81.0.2:7301".parse().unwrap();
    let client = run_in(&ns, || KernelStream::connect(front))
        .unwrap()
        .unwrap();
    let (down, _) = listener.accept().unwrap();
    let up = Stream::connect_timeout(&stack, sink_addr, Duration::from_secs(5)).unwrap();
    let started = (Instant::now(), cpu_time());
    let relay = if splice {
        let s = stack.splice(down, up).unwrap();
        std::thread::spawn(move || {
            s.wait().unwrap();
        })
    } else {
        std::thread::spawn(move || {
            let mut writer = up;
            std::io::copy(&mut &down, &mut writer).unwrap();
            writer.shutdown(Shutdown::Write).unwrap();
            // Keep both until the sink has everything.
            let mut rest = Vec::new();
            let _ = (&down).read_to_end(&mut rest);
        })
    };
    let mut client = client;
    let buf = vec![0x3cu8; CHUNK];
    let mut left = SIZE;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        client.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(sink.join().unwrap(), SIZE);
    let elapsed = (started.0.elapsed(), cpu_time() - started.1);
    drop(client);
    let _ = relay.join();
    stack.shutdown(Duration::from_secs(2)).unwrap();
    elapsed
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn main() {
    // `cargo test --benches` passes no `--bench`; run only under cargo bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Err(why) = lab_available() {
        eprintln!("splice needs the lab (root, TUN, ip): {why}");
        std::process::exit(1);
    }
    let mut wall: [Vec<Duration>; 2] = Default::default();
    let mut cpu: [Vec<Duration>; 2] = Default::default();
    for _ in 0..ROUNDS {
        for (k, splice) in [(0, true), (1, false)] {
            let (w, c) = relay(splice);
            eprintln!("splice {splice}: {w:?} wall, {c:?} CPU");
            wall[k].push(w);
            cpu[k].push(c);
        }
    }
    let gib = SIZE as f64 / f64::from(1u32 << 30);
    println!(
        "kernel -> our stack -> kernel over TUN, {} MiB, median of {ROUNDS} rounds",
        SIZE >> 20
    );
    println!("| relay | Gbit/s | CPU s per GiB |");
    println!("|---|---|---|");
    let [w_splice, w_copy] = wall.map(median);
    let [c_splice, c_copy] = cpu.map(median);
    for (name, w, c) in [
        ("Stack::splice", w_splice, c_splice),
        ("io::copy through the application", w_copy, c_copy),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} |",
            SIZE as f64 * 8.0 / w.as_secs_f64() / 1e9,
            c.as_secs_f64() / gib
        );
    }
}
