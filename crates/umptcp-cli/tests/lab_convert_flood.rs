//! Lab: `mptcp convert` under a flood of SYNs whose Convert messages are
//! malformed (RFC 8803 §9: a converter rate-limits its error replies),
//! from a hundred spoofed sources, while honest kernel clients convert
//! through it. The flood gets Malformed Message answers at most at the
//! configured rate and is dropped beyond it; the honest conversions all
//! complete byte-exact; the converter's memory stays bounded (three
//! rounds: within what its limits admit, and not growing).
//!
//! Topology (one namespace): the converter's TUN device `mfl0`, the
//! kernel's side 10.124.0.1, the converter 10.124.0.2. The flood is raw
//! IPv4 packets (`IP_HDRINCL`) from 10.124.1.0/24, an address range
//! nobody has: the converter's SYN/ACKs to it are dropped by the kernel,
//! as they would be for a spoofed flood. The honest client is the kernel
//! (an MPTCP socket, `sendto(MSG_FASTOPEN)`) to a kernel echo server on
//! 10.124.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use umptcp_lab::{Netns, require_lab, run_in};
use umptcp_proxy::convert::{Connect, Message, TcpOptions};

const CONVERTER: Ipv4Addr = Ipv4Addr::new(10, 124, 0, 2);
const ECHO: &str = "10.124.0.1:7000";
/// Error replies per second the converter is given.
const ERRORS_PER_SECOND: usize = 50;
/// Flood SYNs, sent over about `FLOOD_SECS`.
const FLOOD: usize = 6000;
const FLOOD_SECS: u64 = 3;
/// Honest conversions during the flood, each echoing this much.
const HONEST: usize = 20;
const ECHOED: usize = 64 << 10;

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The RFC 1071 checksum of `data` added to `sum`.
fn checksum(mut sum: u32, data: &[u8]) -> u16 {
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 SYN from `src` to the converter's port 5124 whose data is
/// `payload`, checksums filled in.
fn syn_packet(src: SocketAddrV4, payload: &[u8], isn: u32) -> Vec<u8> {
    let total = 20 + 20 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6] = 0x40; // don't fragment
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&src.ip().octets());
    p[16..20].copy_from_slice(&CONVERTER.octets());
    let ip_sum = checksum(0, &p[..20]);
    p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    let tcp = &mut p[20..];
    tcp[0..2].copy_from_slice(&src.port().to_be_bytes());
    tcp[2..4].copy_from_slice(&5124u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&isn.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02; // SYN
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    tcp[20..].copy_from_slice(payload);
    let mut pseudo = 0u32;
    for word in [src.ip().octets(), CONVERTER.octets()] {
        pseudo += u32::from(u16::from_be_bytes([word[0], word[1]]));
        pseudo += u32::from(u16::from_be_bytes([word[2], word[3]]));
    }
    pseudo += 6 + (20 + payload.len()) as u32;
    let tcp_sum = checksum(pseudo, tcp);
    tcp[16..18].copy_from_slice(&tcp_sum.to_be_bytes());
    p
}

/// The converter's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("its status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// One honest conversion from the kernel: `data` after the Convert
/// message in the SYN, everything read back until the echo closes.
fn honest(ns: &Netns, data: &[u8]) -> Vec<u8> {
    let message = Message {
        connect: Some(Connect {
            addr: ECHO.parse().unwrap(),
            options: TcpOptions::EMPTY,
        }),
        ..Message::default()
    };
    let mut syn = vec![0u8; umptcp_proxy::convert::MAX_LEN];
    let n = message.emit(&mut syn).unwrap();
    syn.truncate(n);
    let converter: SocketAddr = SocketAddrV4::new(CONVERTER, 5124).into();
    run_in(ns, || -> std::io::Result<Vec<u8>> {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(262)))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        s.send_to_with_flags(&syn, &converter.into(), libc::MSG_FASTOPEN)?;
        let mut stream: std::net::TcpStream = s.into();
        stream.write_all(data)?;
        stream.shutdown(std::net::Shutdown::Write)?;
        // The converter's reply first: the bare header (a base Connect).
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply)?;
        assert_eq!(reply, [1, 1, 0x22, 0x63], "the converter's reply");
        let mut got = Vec::new();
        stream.read_to_end(&mut got)?;
        Ok(got)
    })
    .expect("enter namespace")
    .unwrap_or_else(|e| panic!("an honest conversion during the flood: {e}"))
}

#[test]
#[allow(clippy::disallowed_methods)] // the lab reads the clock
fn lab_a_flood_of_malformed_convert_syns_is_rate_limited_and_honest_clients_get_through() {
    let test =
        "lab_a_flood_of_malformed_convert_syns_is_rate_limited_and_honest_clients_get_through";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("flood").expect("namespace");
    // SYN data without a cookie (0x4) for the kernel's Convert client.
    ns.sysctl("net.ipv4.tcp_fastopen", "5").expect("fast open");
    let rate = ERRORS_PER_SECOND.to_string();
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_mptcp")])
        .args(["convert", "--path", "mfl0=10.124.0.2", "--port", "5124"])
        .args(["--errors-per-second", &rate, "--summary-every", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mptcp convert");
    let mut ready = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    stderr.read_line(&mut ready).expect("its first line");
    assert!(ready.contains("converting on port 5124"), "{ready}");
    let (tx, summaries) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let pid = child.id();
    let _converter = Killed(child);

    // The echo server the honest clients convert to.
    let echo = run_in(&ns, || TcpListener::bind(ECHO))
        .unwrap()
        .expect("echo");
    std::thread::spawn(move || {
        for conn in echo.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut copy = conn.try_clone().unwrap();
                let _ = std::io::copy(&mut conn, &mut copy);
                let _ = copy.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    // One conversion before the flood: the converter's memory at work.
    let data: Vec<u8> = (0..ECHOED).map(|i| (i % 251) as u8).collect();
    assert!(honest(&ns, &data) == data, "the first conversion echoes");
    let before = rss_kib(pid);
    let first_line = lines
        .recv_timeout(Duration::from_secs(10))
        .expect("its line");
    assert!(first_line.ends_with(": relayed"), "{first_line}");

    let first = flood_round(&ns, &lines, pid, 0);
    let second = flood_round(&ns, &lines, pid, 1);
    let third = flood_round(&ns, &lines, pid, 2);
    for (round, r) in [&first, &second, &third].into_iter().enumerate() {
        eprintln!(
            "round {round}: {FLOOD} SYNs in {:?}: {} answered, {} dropped; {} honest relayed; \
             RSS {} KiB at the end (before any flood: {before} KiB)",
            r.elapsed, r.answered, r.dropped, r.relayed, r.rss_kib
        );
        assert!(
            r.answered > 0,
            "round {round}: the flood got Malformed Message answers"
        );
        // Rate-limited: at most the budget of each second the flood
        // lasted (one more for each edge).
        let budget = ERRORS_PER_SECOND * (r.elapsed.as_secs() as usize + 2);
        assert!(
            r.answered <= budget,
            "round {round}: {} error replies in {:?}, budget {budget}",
            r.answered,
            r.elapsed
        );
        assert_eq!(
            r.answered + r.dropped,
            FLOOD,
            "round {round}: every flood SYN answered or dropped, none left pending"
        );
        assert!(
            r.relayed >= HONEST,
            "round {round}: {} honest relayed",
            r.relayed
        );
    }
    // The summary line, once every conversion has ended: the three floods
    // and the 61 honest conversions, counted by outcome.
    let want_finished = 3 * FLOOD + 3 * HONEST + 1;
    let last = loop {
        let line = summaries
            .recv_timeout(Duration::from_secs(5))
            .expect("a summary line every second");
        if line.starts_with(&format!("summary: active=0 finished={want_finished} ")) {
            break line;
        }
    };
    let honest_bytes = (3 * HONEST + 1) * ECHOED;
    assert_eq!(
        last,
        format!(
            "summary: active=0 finished={want_finished} relayed={} failed={} up={honest_bytes} down={honest_bytes}",
            3 * HONEST + 1,
            3 * FLOOD
        )
    );
    // Memory. Each answered SYN holds one connection (its send ring
    // taken by the error) for at most 5 s, and at most ERRORS_PER_SECOND
    // are answered a second: about 300 at once, each well within 1 MiB
    // (two 256 KiB TCP rings and the MPTCP level) and a thread. Every
    // round stays within that; and the state is bounded, not growing:
    // the allocator's arenas fill over the first two rounds, and the
    // third takes no more than the second did.
    let admitted_at_once = (5 + 1) * ERRORS_PER_SECOND as u64;
    for (round, r) in [&first, &second, &third].into_iter().enumerate() {
        assert!(
            r.rss_kib < before + admitted_at_once * 1024,
            "round {round} took the converter from {before} KiB to {} KiB",
            r.rss_kib
        );
    }
    assert!(
        third.rss_kib < second.rss_kib + second.rss_kib / 10 + 8 * 1024,
        "the third flood grew the converter again: {} KiB after the second, {} KiB after the third",
        second.rss_kib,
        third.rss_kib
    );
}

/// What one flood round did.
struct Round {
    elapsed: Duration,
    answered: usize,
    dropped: usize,
    relayed: usize,
    rss_kib: u64,
}

/// One flood of FLOOD malformed SYNs over FLOOD_SECS from 100 spoofed
/// sources (ports distinct per `round`), HONEST conversions meanwhile;
/// then the converter's lines for all of it.
#[allow(clippy::disallowed_methods)] // the lab reads the clock
fn flood_round(ns: &Netns, lines: &mpsc::Receiver<String>, pid: u32, round: u16) -> Round {
    let started = Instant::now();
    let elapsed = std::thread::scope(|scope| {
        let flooder = scope.spawn(move || {
            let raw = run_in(ns, || {
                let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP))?;
                s.set_header_included_v4(true)?;
                Ok::<_, std::io::Error>(s)
            })
            .unwrap()
            .expect("a raw socket");
            // A Convert header with a bad magic number: Malformed
            // Message (§6.1).
            let malformed = [1u8, 1, 0xde, 0xad];
            let to: SocketAddr = SocketAddrV4::new(CONVERTER, 5124).into();
            let pace = Duration::from_secs(FLOOD_SECS).as_nanos() / FLOOD as u128;
            for i in 0..FLOOD {
                let src = SocketAddrV4::new(
                    Ipv4Addr::new(10, 124, 1, (i % 100) as u8 + 1),
                    20_000 + round * 100 + (i / 100) as u16,
                );
                let packet = syn_packet(src, &malformed, 0x1000_0000 + i as u32);
                raw.send_to(&packet, &to.into()).expect("a flood SYN");
                let due = started + Duration::from_nanos((pace * (i as u128 + 1)) as u64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            started.elapsed()
        });
        // Honest conversions meanwhile, one after the other.
        for k in 0..HONEST {
            let data: Vec<u8> = (0..ECHOED).map(|i| ((i + k) % 241) as u8).collect();
            let t = Instant::now();
            let echoed = honest(ns, &data);
            assert!(
                echoed == data,
                "honest conversion {k}: {} of {ECHOED} bytes, exact: no",
                echoed.len()
            );
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "honest conversion {k} took {:?} during the flood",
                t.elapsed()
            );
        }
        flooder.join().expect("the flood")
    });
    // The converter's lines: each flood SYN answered or dropped. Answered
    // ones wait up to 5 s for their (absent) client to close.
    let deadline = Instant::now() + Duration::from_secs(12);
    let mut r = Round {
        elapsed,
        answered: 0,
        dropped: 0,
        relayed: 0,
        rss_kib: 0,
    };
    while Instant::now() < deadline && (r.answered + r.dropped < FLOOD || r.relayed < HONEST) {
        let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        if line.starts_with("converted 10.124.1.") {
            if line.ends_with("answered Malformed Message (1)") {
                r.answered += 1;
            } else if line.ends_with(": dropped") {
                r.dropped += 1;
            } else {
                panic!("a flood SYN ended otherwise: {line}");
            }
        } else if line.ends_with(": relayed") {
            r.relayed += 1;
        }
    }
    r.rss_kib = rss_kib(pid);
    r
}
