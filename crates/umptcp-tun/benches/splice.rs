//! The cost of relaying through the stack: a kernel client sends to our
//! listener, we forward to a kernel sink over a second connection, once
//! with `Stack::splice` and once copying through the application (a
//! thread doing `io::copy` between the two streams), in the same run;
//! then the same to a sink reached through a kernel socket (on loopback),
//! with `Stack::splice_socket` and with `io::copy` from the stream to the
//! socket.
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

/// How the bytes go from our listener's connection to the sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relay {
    /// `Stack::splice` to a second connection of the stack.
    Splice,
    /// `io::copy` between the two streams, on a thread.
    Copy,
    /// `Stack::splice_socket` to a kernel socket.
    SpliceSocket,
    /// `io::copy` from the stream to a kernel socket, on a thread.
    CopySocket,
}

impl Relay {
    const ALL: [Relay; 4] = [
        Relay::Splice,
        Relay::Copy,
        Relay::SpliceSocket,
        Relay::CopySocket,
    ];

    fn name(self) -> &'static str {
        match self {
            Relay::Splice => "Stack::splice",
            Relay::Copy => "io::copy through the application",
            Relay::SpliceSocket => "Stack::splice_socket",
            Relay::CopySocket => "io::copy to the socket through the application",
        }
    }

    fn to_socket(self) -> bool {
        matches!(self, Relay::SpliceSocket | Relay::CopySocket)
    }
}

/// A sink that counts what it reads, on its own thread.
fn sink(listener: KernelListener) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            match conn.read(&mut buf).unwrap() {
                0 => return total,
                n => total += n as u64,
            }
        }
    })
}

/// One relay of `SIZE` bytes; (wall time, CPU time).
fn relay(mode: Relay) -> (Duration, Duration) {
    let ns = Netns::new(match mode {
        Relay::Splice => "bsps",
        Relay::Copy => "bspc",
        Relay::SpliceSocket => "bspk",
        Relay::CopySocket => "bspq",
    })
    .expect("ns");
    let mut config = StackConfig::new(vec![PathConfig::new("bsp0", "10.81.0.2".parse().unwrap())]);
    config.seed = Some(1);
    let stack = run_in(&ns, || Stack::start(config))
        .unwrap()
        .expect("stack");
    // Behind the TUN device in the namespace, or on this namespace's
    // loopback for the kernel-socket cases.
    let sink_addr: SocketAddr = if mode.to_socket() {
        "127.0.0.1:0".parse().unwrap()
    } else {
        "10.81.0.1:7300".parse().unwrap()
    };
    let listener = if mode.to_socket() {
        KernelListener::bind(sink_addr).unwrap()
    } else {
        run_in(&ns, || KernelListener::bind(sink_addr))
            .unwrap()
            .unwrap()
    };
    let sink_addr = listener.local_addr().unwrap();
    let sink = sink(listener);
    let front_listener = Listener::bind(&stack, 7301).unwrap();
    let front: SocketAddr = "10.81.0.2:7301".parse().unwrap();
    let client = run_in(&ns, || KernelStream::connect(front))
        .unwrap()
        .unwrap();
    let (down, _) = front_listener.accept().unwrap();
    let started;
    let relay = match mode {
        Relay::Splice | Relay::Copy => {
            let up = Stream::connect_timeout(&stack, sink_addr, Duration::from_secs(5)).unwrap();
            started = (Instant::now(), cpu_time());
            if mode == Relay::Splice {
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
            }
        }
        Relay::SpliceSocket | Relay::CopySocket => {
            let up = KernelStream::connect(sink_addr).unwrap();
            started = (Instant::now(), cpu_time());
            if mode == Relay::SpliceSocket {
                let s = stack.splice_socket(down, up).unwrap();
                std::thread::spawn(move || {
                    s.wait().unwrap();
                })
            } else {
                std::thread::spawn(move || {
                    let mut writer = up;
                    std::io::copy(&mut &down, &mut writer).unwrap();
                    writer.shutdown(Shutdown::Write).unwrap();
                    let mut rest = Vec::new();
                    let _ = (&down).read_to_end(&mut rest);
                })
            }
        }
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
    let mut wall: [Vec<Duration>; 4] = Default::default();
    let mut cpu: [Vec<Duration>; 4] = Default::default();
    for _ in 0..ROUNDS {
        for (k, mode) in Relay::ALL.into_iter().enumerate() {
            let (w, c) = relay(mode);
            eprintln!("{mode:?}: {w:?} wall, {c:?} CPU");
            wall[k].push(w);
            cpu[k].push(c);
        }
    }
    let gib = SIZE as f64 / f64::from(1u32 << 30);
    println!(
        "kernel -> our stack -> kernel over TUN (the socket cases: to a kernel socket on loopback), {} MiB, median of {ROUNDS} rounds",
        SIZE >> 20
    );
    println!("| relay | Gbit/s | CPU s per GiB |");
    println!("|---|---|---|");
    let wall = wall.map(median);
    let cpu = cpu.map(median);
    for (k, mode) in Relay::ALL.into_iter().enumerate() {
        println!(
            "| {} | {:.2} | {:.2} |",
            mode.name(),
            SIZE as f64 * 8.0 / wall[k].as_secs_f64() / 1e9,
            cpu[k].as_secs_f64() / gib
        );
    }
}
