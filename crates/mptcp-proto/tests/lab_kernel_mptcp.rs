//! Lab: one MPTCP connection of ours against the Linux kernel's MPTCP over
//! a TUN device, in both roles, 32 MiB with SHA-256 compared, the kernel's
//! counters proving it spoke MPTCP and never fell back (LAB.md).
//!
//! The driver here is a minimal single-connection loop (the TUN driver's
//! MPTCP streams come later); it is enough to judge the protocol.
//!
//! Topology (one namespace per test): a TUN device with the kernel's
//! address .1/24; our connection is .2 behind it.

// The test is the driver here: it reads the real clock and feeds `now` in.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant as StdInstant};

use mptcp_cc::{CcConfig, Registry};
use mptcp_lab::{
    Netns, TunConfig, kernel_mptcp_connect, kernel_mptcp_listener, nstat, require_lab, run_in,
    tun_in,
};
use mptcp_proto::{MptcpConfig, MptcpConnection, MptcpEvent};
use mptcp_tcp::{FourTuple, IsnKey};
use mptcp_time::Instant;
use mptcp_wire::Key;
use mptcp_wire::segment::{ChecksumCheck, Segment};
use sha2::{Digest, Sha256};
use tun_rs::SyncDevice;

const SIZE: usize = 32 << 20;

fn stream(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Drive `conn` over `dev` until it closes: packets in, packets out,
/// timers. Sends `data` then shuts down; returns what it received.
fn drive(dev: &SyncDevice, conn: &mut MptcpConnection, data: &[u8], epoch: StdInstant) -> Vec<u8> {
    let now = || Instant::from_nanos(epoch.elapsed().as_nanos() as u64);
    let mut written = 0;
    let mut shut = false;
    let mut received = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut packet = vec![0u8; 2048];
    let deadline = StdInstant::now() + Duration::from_secs(120);
    loop {
        assert!(StdInstant::now() < deadline, "no end in 120 s: {conn:?}");
        let mut busy = false;
        loop {
            match dev.recv(&mut packet) {
                Ok(n) => {
                    busy = true;
                    // Anything that is not TCP for us (IPv6 router
                    // solicitations, say) fails to parse and is ignored.
                    if let Ok(seg) = Segment::parse(&packet[..n], ChecksumCheck::Verify) {
                        conn.handle_segment(now(), &seg);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("tun read: {e}"),
            }
        }
        if conn.poll_timeout().is_some_and(|t| t <= now()) {
            conn.handle_timeout(now());
        }
        if written < data.len() {
            written += conn.write(&data[written..]);
        } else if !shut {
            conn.shutdown();
            shut = true;
        }
        loop {
            let n = conn.read(&mut buf);
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
        }
        while let Some(n) = conn.poll_transmit(now(), &mut packet) {
            busy = true;
            dev.send(&packet[..n]).expect("tun write");
        }
        let mut closed = false;
        while let Some(event) = conn.poll_event() {
            match event {
                MptcpEvent::Closed => closed = true,
                MptcpEvent::Reset | MptcpEvent::TimedOut | MptcpEvent::ProtocolError => {
                    panic!("{event:?}")
                }
                _ => {}
            }
        }
        if closed {
            return received;
        }
        if !busy {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn setup(test: &str, subnet: u8) -> Option<(Netns, SyncDevice, IpAddr, IpAddr)> {
    require_lab(test)?;
    let ns = Netns::new(test).expect("namespace");
    let kernel: IpAddr = format!("10.79.{subnet}.1").parse().unwrap();
    let ours: IpAddr = format!("10.79.{subnet}.2").parse().unwrap();
    let dev = tun_in(
        &ns,
        &TunConfig {
            name: "mp0".into(),
            addr: kernel,
            prefix: 24,
            mtu: 1500,
        },
    )
    .expect("tun");
    dev.set_nonblocking(true).unwrap();
    Some((ns, dev, kernel, ours))
}

fn cc() -> Box<dyn mptcp_cc::CongestionControl> {
    Registry::with_builtins()
        .build("cubic", &CcConfig::default())
        .unwrap()
}

fn config() -> MptcpConfig {
    let mut c = MptcpConfig::default();
    c.tcp.time_wait = Duration::from_millis(100);
    c
}

fn counter(counters: &std::collections::BTreeMap<String, u64>, name: &str) -> u64 {
    counters.get(name).copied().unwrap_or(0)
}

fn assert_no_fallback(ns: &Netns) {
    let counters = nstat(ns).expect("nstat");
    for (name, value) in &counters {
        if name.starts_with("MPTcpExt") && name.contains("Fallback") {
            assert_eq!(*value, 0, "{name}: the kernel fell back ({counters:?})");
        }
    }
    assert_eq!(counter(&counters, "MPTcpExtDSSNotMatching"), 0);
    assert_eq!(counter(&counters, "MPTcpExtDataCsumErr"), 0);
}

#[test]
fn lab_our_client_to_kernel_mptcp_server() {
    let Some((ns, dev, kernel, ours)) = setup("mpcli", 1) else {
        return;
    };
    let server_addr = SocketAddr::new(kernel, 5001);
    let listener = run_in(&ns, || kernel_mptcp_listener(server_addr))
        .unwrap()
        .expect("listener");
    let kernel_side = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut hash = Sha256::new();
        let mut total = 0;
        let mut buf = vec![0u8; 65536];
        loop {
            let n = s.read(&mut buf).expect("kernel read");
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            total += n;
        }
        s.write_all(b"done").unwrap();
        (total, hash.finalize().to_vec())
    });
    let data = stream(7, SIZE);
    let epoch = StdInstant::now();
    let mut conn = MptcpConnection::connect(
        config(),
        FourTuple {
            local: SocketAddr::new(ours, 40001),
            remote: server_addr,
        },
        IsnKey::from_bytes([3; 32]),
        Key(0x0123_4567_89ab_cdef),
        cc(),
        Instant::ZERO,
    )
    .unwrap();
    let reply = drive(&dev, &mut conn, &data, epoch);
    let (total, digest) = kernel_side.join().unwrap();
    assert_eq!(total, SIZE);
    assert_eq!(digest, Sha256::digest(&data).to_vec(), "SHA-256 differs");
    assert_eq!(reply, b"done");
    assert!(conn.is_mptcp(), "{:?}", conn.fallback_reason());
    let counters = nstat(&ns).unwrap();
    assert!(
        counter(&counters, "MPTcpExtMPCapableSYNRX") >= 1,
        "{counters:?}"
    );
    assert!(
        counter(&counters, "MPTcpExtMPCapableACKRX") >= 1,
        "{counters:?}"
    );
    assert_no_fallback(&ns);
}

#[test]
fn lab_kernel_mptcp_client_to_our_server() {
    let Some((ns, dev, _kernel, ours)) = setup("mpsrv", 2) else {
        return;
    };
    let target = SocketAddr::new(ours, 5002);
    let data = stream(9, SIZE);
    let (received, reply) = std::thread::scope(|scope| {
        let ns = &ns;
        let data = &data;
        let kernel_side = scope.spawn(move || {
            let mut s = run_in(ns, || kernel_mptcp_connect(target))
                .unwrap()
                .expect("kernel connect");
            s.write_all(data).expect("kernel write");
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut reply = Vec::new();
            s.read_to_end(&mut reply).expect("kernel read");
            reply
        });
        // Wait for the kernel's SYN and answer it.
        let epoch = StdInstant::now();
        let mut packet = vec![0u8; 2048];
        let deadline = StdInstant::now() + Duration::from_secs(10);
        let mut conn = loop {
            assert!(StdInstant::now() < deadline, "no SYN from the kernel");
            match dev.recv(&mut packet) {
                Ok(n) => {
                    let Ok(seg) = Segment::parse(&packet[..n], ChecksumCheck::Verify) else {
                        continue;
                    };
                    if seg.dst_port() != 5002 {
                        continue;
                    }
                    break MptcpConnection::accept(
                        config(),
                        &seg,
                        IsnKey::from_bytes([4; 32]),
                        Key(0x0fed_cba9_8765_4321),
                        cc(),
                        Instant::ZERO,
                    )
                    .expect("accept");
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("tun read: {e}"),
            }
        };
        let received = drive(&dev, &mut conn, b"ok", epoch);
        assert!(conn.is_mptcp(), "{:?}", conn.fallback_reason());
        (received, kernel_side.join().unwrap())
    });
    assert_eq!(received.len(), SIZE);
    assert_eq!(
        Sha256::digest(&received),
        Sha256::digest(&data),
        "SHA-256 differs"
    );
    assert_eq!(reply, b"ok");
    let counters = nstat(&ns).unwrap();
    assert!(
        counter(&counters, "MPTcpExtMPCapableSYNACKRX") >= 1,
        "{counters:?}"
    );
    assert_no_fallback(&ns);
}
