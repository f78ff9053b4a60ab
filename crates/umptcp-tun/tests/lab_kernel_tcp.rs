//! Lab: our stack on a TUN device against the Linux kernel's TCP, in both
//! roles, 64 MiB each way, with the driver's impairment off and at 2 %
//! loss. SHA-256 of the bytes is compared at both ends (LAB.md).
//!
//! Topology (one namespace per test): a TUN device `mt0` created by our
//! stack with the kernel-side address 10.77.0.1/24; our stack is 10.77.0.2.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as KernelListener, TcpStream as KernelStream};
use std::time::Duration;

use sha2::{Digest, Sha256};
use umptcp_lab::{Netns, require_lab, run_in};
use umptcp_tun::{Impairment, Listener, PathConfig, Stack, StackConfig, Stream};

const SIZE: u64 = 64 << 20;
const OURS: &str = "10.77.0.2";
const KERNEL: &str = "10.77.0.1";

/// The test's byte stream: SplitMix64 blocks of `seed`.
fn fill(seed: u64, offset: u64, out: &mut [u8]) {
    debug_assert_eq!(offset % 8, 0);
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut z =
            seed.wrapping_add((offset / 8 + i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let bytes = (z ^ (z >> 31)).to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// Write `SIZE` bytes of the stream to `w`; return their SHA-256.
fn send_stream(w: &mut impl Write, seed: u64) -> Vec<u8> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut offset = 0;
    while offset < SIZE {
        let n = (SIZE - offset).min(buf.len() as u64) as usize;
        fill(seed, offset, &mut buf[..n]);
        w.write_all(&buf[..n]).expect("write");
        hash.update(&buf[..n]);
        offset += n as u64;
    }
    hash.finalize().to_vec()
}

/// Read `r` to its end; return the byte count and SHA-256.
fn receive_stream(r: &mut impl Read) -> (u64, Vec<u8>) {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = r.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        total += n as u64;
    }
    (total, hash.finalize().to_vec())
}

fn stack_config(loss: f64, seed: u64) -> StackConfig {
    stack_config_with(loss, seed, false)
}

fn stack_config_with(loss: f64, seed: u64, offload: bool) -> StackConfig {
    let mut config = StackConfig::new(vec![PathConfig::new("mt0", OURS.parse().unwrap())]);
    config.offload = offload;
    config.impairment = Impairment::default();
    config.impairment.loss = loss;
    config.seed = Some(seed);
    config
}

/// Our client sends 64 MiB to a kernel server, which echoes nothing and
/// closes after reading everything.
fn our_client_to_kernel_server(test: &str, loss: f64, offload: bool) {
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("tcpc").expect("namespace");
    let stack = run_in(&ns, || Stack::start(stack_config_with(loss, 11, offload)))
        .expect("enter namespace")
        .expect("stack starts");
    let port = 5001;
    let listener = run_in(&ns, || {
        KernelListener::bind(SocketAddr::new(KERNEL.parse().unwrap(), port))
    })
    .unwrap()
    .expect("kernel listens");
    let server = std::thread::spawn(move || {
        let (mut conn, peer) = listener.accept().expect("kernel accepts");
        conn.set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let result = receive_stream(&mut conn);
        drop(conn);
        (peer, result)
    });

    let remote = SocketAddr::new(KERNEL.parse().unwrap(), port);
    let mut stream = Stream::connect_timeout(&stack, remote, Duration::from_secs(10))
        .expect("our client connects");
    assert_eq!(stream.local_addr().ip().to_string(), OURS);
    let sent_hash = send_stream(&mut stream, 7);
    stream.shutdown(Shutdown::Write).expect("shutdown");
    // The kernel closes once it has everything: our read sees the end.
    stream.set_read_timeout(Some(Duration::from_secs(120)));
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("peer closes");
    assert!(rest.is_empty(), "the server sends nothing");
    let info = stream.info().expect("info");
    drop(stream);

    let (peer, (received, received_hash)) = server.join().expect("server thread");
    assert_eq!(peer.ip().to_string(), OURS);
    assert_eq!(received, SIZE, "the kernel received every byte");
    assert_eq!(received_hash, sent_hash, "SHA-256 at both ends");
    let stats = stack.shutdown(Duration::from_secs(5)).expect("stack stops");
    if loss > 0.0 {
        assert!(
            stats.impairment_dropped > 0,
            "the impairment dropped packets"
        );
        assert!(info.retransmissions > 0, "losses were repaired: {info:?}");
    } else {
        assert_eq!(stats.impairment_dropped, 0);
    }
    eprintln!("{test}: {info:?} {stats:?}");
}

/// A kernel client sends 64 MiB to our server.
fn kernel_client_to_our_server(test: &str, loss: f64, offload: bool) {
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("tcps").expect("namespace");
    let stack = run_in(&ns, || Stack::start(stack_config_with(loss, 12, offload)))
        .expect("enter namespace")
        .expect("stack starts");
    let port = 5002;
    let listener = Listener::bind(&stack, port).expect("our listener");

    let client = {
        let remote = SocketAddr::new(OURS.parse().unwrap(), port);
        let mut conn = run_in(&ns, || {
            KernelStream::connect_timeout(&remote, Duration::from_secs(10))
        })
        .unwrap()
        .expect("kernel connects to our stack");
        std::thread::spawn(move || {
            let hash = send_stream(&mut conn, 9);
            conn.shutdown(Shutdown::Write).expect("kernel shutdown");
            // Wait for our close, so the test sees the whole exchange.
            conn.set_read_timeout(Some(Duration::from_secs(120)))
                .unwrap();
            let mut rest = Vec::new();
            conn.read_to_end(&mut rest).expect("we close");
            hash
        })
    };

    let (mut stream, peer) = listener.accept().expect("we accept");
    assert_eq!(peer.ip().to_string(), KERNEL);
    stream.set_read_timeout(Some(Duration::from_secs(120)));
    let (received, received_hash) = receive_stream(&mut stream);
    let info = stream.info().expect("info");
    drop(stream);
    let sent_hash = client.join().expect("client thread");
    assert_eq!(received, SIZE, "we received every byte");
    assert_eq!(received_hash, sent_hash, "SHA-256 at both ends");
    let stats = stack.shutdown(Duration::from_secs(5)).expect("stack stops");
    if loss > 0.0 {
        assert!(
            stats.impairment_dropped > 0,
            "the impairment dropped packets"
        );
    }
    eprintln!("{test}: {info:?} {stats:?}");
}

#[test]
fn lab_our_client_to_kernel_server() {
    our_client_to_kernel_server("lab_our_client_to_kernel_server", 0.0, false);
}

#[test]
fn lab_our_client_to_kernel_server_2pc_loss() {
    our_client_to_kernel_server("lab_our_client_to_kernel_server_2pc_loss", 0.02, false);
}

#[test]
fn lab_kernel_client_to_our_server() {
    kernel_client_to_our_server("lab_kernel_client_to_our_server", 0.0, false);
}

#[test]
fn lab_kernel_client_to_our_server_2pc_loss() {
    kernel_client_to_our_server("lab_kernel_client_to_our_server_2pc_loss", 0.02, false);
}

/// The same transfers with the TUN offloads on (TSO super-packets split on
/// the way in, segments coalesced on the way out), at 2 % loss. The kernel
/// ACKs coalesced bursts, so a loss yields one duplicate ACK, not three:
/// SACK-based loss detection (RFC 6675) is what keeps this from waiting
/// for an RTO per loss.
#[test]
fn lab_offload_our_client_to_kernel_server_2pc_loss() {
    our_client_to_kernel_server(
        "lab_offload_our_client_to_kernel_server_2pc_loss",
        0.02,
        true,
    );
}

#[test]
fn lab_offload_kernel_client_to_our_server_2pc_loss() {
    kernel_client_to_our_server(
        "lab_offload_kernel_client_to_our_server_2pc_loss",
        0.02,
        true,
    );
}

/// A pcap of a lossy lab transfer, read by tshark: every packet dissects,
/// no malformed packet, no expert item of severity "error".
#[test]
fn lab_pcap_of_a_transfer_reads_clean_in_tshark() {
    let test = "lab_pcap_of_a_transfer_reads_clean_in_tshark";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let tshark_present = std::process::Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !tshark_present {
        // .ci/run installs tshark; a lab without it cannot pass this test.
        assert!(
            std::env::var_os("MPTCP_LAB").is_none_or(|v| v != "required"),
            "{test}: tshark is missing (apt-get install tshark)"
        );
        eprintln!(
            "SKIPPED {test}: tshark is missing (set MPTCP_LAB=required to make this a failure)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("umptcp-tun-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("transfer.pcap");

    let ns = Netns::new("tcpp").expect("namespace");
    let mut config = stack_config(0.02, 13);
    config.pcap = Some(pcap.clone());
    let stack = run_in(&ns, || Stack::start(config))
        .expect("enter namespace")
        .expect("stack starts");
    let port = 5003;
    let listener = run_in(&ns, || {
        KernelListener::bind(SocketAddr::new(KERNEL.parse().unwrap(), port))
    })
    .unwrap()
    .expect("kernel listens");
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("kernel accepts");
        let mut sink = Vec::new();
        conn.read_to_end(&mut sink).expect("kernel reads");
        sink.len()
    });
    let remote = SocketAddr::new(KERNEL.parse().unwrap(), port);
    let mut stream = Stream::connect_timeout(&stack, remote, Duration::from_secs(10))
        .expect("our client connects");
    let data = vec![0x5a; 4 << 20];
    stream.write_all(&data).expect("write");
    stream.shutdown(Shutdown::Write).expect("shutdown");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("peer closes");
    drop(stream);
    assert_eq!(server.join().unwrap(), data.len());
    let stats = stack.shutdown(Duration::from_secs(5)).expect("stack stops");

    let tshark = |args: &[&str]| {
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(args)
            .output()
            .expect("tshark runs");
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let frames = tshark(&["-T", "fields", "-e", "frame.number"])
        .lines()
        .count() as u64;
    assert_eq!(
        frames,
        stats.packets_in + stats.packets_out,
        "every packet that crossed a device is in the pcap"
    );
    let tcp_frames = tshark(&["-Y", "tcp", "-T", "fields", "-e", "frame.number"])
        .lines()
        .count() as u64;
    // The kernel's own chatter on a new interface (IPv6 router and
    // multicast-listener messages) is the only thing that is not TCP.
    let chatter = tshark(&["-Y", "icmpv6 || igmp", "-T", "fields", "-e", "frame.number"])
        .lines()
        .count() as u64;
    assert!(tcp_frames > 3000, "{tcp_frames} TCP frames for 4 MiB");
    assert_eq!(
        tcp_frames + chatter,
        frames,
        "tshark dissects every other frame as TCP"
    );
    let bad = tshark(&[
        "-Y",
        "_ws.malformed || _ws.expert.severity == \"Error\"",
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "_ws.expert.message",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        bad.trim().is_empty(),
        "malformed packets or expert errors:\n{bad}"
    );
}

/// The errors a user meets: a refused connection both ways (RST for a port
/// nobody listens on), a peer that never answers (timeout), a busy port.
#[test]
#[allow(clippy::disallowed_methods)] // a lab test measures real time
fn lab_refused_unreachable_and_busy() {
    let test = "lab_refused_unreachable_and_busy";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("tcpe").expect("namespace");
    let stack = run_in(&ns, || Stack::start(stack_config(0.0, 14)))
        .expect("enter namespace")
        .expect("stack starts");

    // The kernel resets a SYN to a closed port: connection refused.
    let closed = SocketAddr::new(KERNEL.parse().unwrap(), 5999);
    let err = Stream::connect_timeout(&stack, closed, Duration::from_secs(5)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");

    // Nobody has 10.77.0.99: the SYNs go unanswered until the timeout.
    let nowhere = SocketAddr::new("10.77.0.99".parse().unwrap(), 80);
    let started = std::time::Instant::now();
    let err = Stream::connect_timeout(&stack, nowhere, Duration::from_millis(700)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert!(err.to_string().contains("10.77.0.99:80"), "{err}");

    // Our stack resets a SYN to a port it does not listen on.
    let ours = SocketAddr::new(OURS.parse().unwrap(), 6000);
    let err = run_in(&ns, || {
        KernelStream::connect_timeout(&ours, Duration::from_secs(5))
    })
    .unwrap()
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");

    // A second listener on a port is refused with AddrInUse.
    let first = Listener::bind(&stack, 6001).expect("first listener");
    let err = Listener::bind(&stack, 6001).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    drop(first);
    let _again = Listener::bind(&stack, 6001).expect("the port is free again");

    let stats = stack.shutdown(Duration::from_secs(1)).expect("stack stops");
    assert!(stats.resets_sent >= 1, "{stats:?}");
}

/// A persistent device made by `ip tuntap` is attached as it is (its
/// address kept), and a device another stack holds is reported busy.
#[test]
fn lab_attach_existing_device_and_busy_device() {
    let test = "lab_attach_existing_device_and_busy_device";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("tcpa").expect("namespace");
    ns.ip(&["tuntap", "add", "dev", "mtp", "mode", "tun"])
        .expect("ip tuntap");
    ns.ip(&["addr", "add", "10.76.0.1/24", "dev", "mtp"])
        .unwrap();
    let mut config = StackConfig::new(vec![PathConfig::new("mtp", "10.76.0.2".parse().unwrap())]);
    config.seed = Some(15);
    let stack = run_in(&ns, || Stack::start(config.clone()))
        .unwrap()
        .expect("attaches to the existing device");
    assert_eq!(stack.devices(), &[("mtp".to_owned(), false)]);
    let addrs = ns.ip(&["-4", "addr", "show", "dev", "mtp"]).unwrap();
    assert!(addrs.contains("10.76.0.1/24"), "address kept: {addrs}");
    assert!(!addrs.contains("10.76.0.2"), "{addrs}");

    // The kernel reaches our stack through the attached device.
    let listener = Listener::bind(&stack, 7100).unwrap();
    let remote: SocketAddr = "10.76.0.2:7100".parse().unwrap();
    let mut kernel = run_in(&ns, || {
        KernelStream::connect_timeout(&remote, Duration::from_secs(5))
    })
    .unwrap()
    .expect("kernel connects over the attached device");
    let (mut ours, _) = listener.accept().unwrap();
    kernel.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    ours.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");

    // A second stack on the same device: busy, said in one line.
    let err = run_in(&ns, || Stack::start(config)).unwrap().unwrap_err();
    assert!(
        matches!(err, umptcp_tun::StackError::DeviceBusy { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "TUN device mtp is busy: another program has it open"
    );

    // A name that is not a TUN device (the loopback) is refused as such.
    let mut lo = StackConfig::new(vec![PathConfig::new("lo", "10.75.0.2".parse().unwrap())]);
    lo.seed = Some(1);
    let err = run_in(&ns, || Stack::start(lo)).unwrap().unwrap_err();
    assert!(
        matches!(err, umptcp_tun::StackError::NotTun { .. }),
        "{err:?}"
    );
    drop((ours, kernel, listener));
    stack.shutdown(Duration::from_secs(1)).unwrap();
}

/// IPv6 both ways: a kernel client to our server, then our client to a
/// kernel server, 4 MiB each, over a device the stack creates.
#[test]
fn lab_ipv6_both_ways() {
    let test = "lab_ipv6_both_ways";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("tcp6").expect("namespace");
    let mut config = StackConfig::new(vec![PathConfig::new("mt6", "fd77::2".parse().unwrap())]);
    config.seed = Some(16);
    let stack = run_in(&ns, || Stack::start(config))
        .unwrap()
        .expect("stack starts");
    let data: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();

    let listener = Listener::bind(&stack, 7200).unwrap();
    let ours: SocketAddr = "[fd77::2]:7200".parse().unwrap();
    let mut kernel = run_in(&ns, || {
        KernelStream::connect_timeout(&ours, Duration::from_secs(5))
    })
    .unwrap()
    .expect("kernel connects over IPv6");
    let (mut stream, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip().to_string(), "fd77::1");
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        kernel.write_all(&sent).unwrap();
        kernel.shutdown(Shutdown::Write).unwrap();
        kernel
    });
    let mut got = Vec::new();
    stream.read_to_end(&mut got).unwrap();
    assert!(
        got == data,
        "kernel to us: {} of {} bytes, equal: false",
        got.len(),
        data.len()
    );
    drop((stream, writer.join().unwrap()));

    let server_addr: SocketAddr = "[fd77::1]:7201".parse().unwrap();
    let kernel_listener = run_in(&ns, || KernelListener::bind(server_addr))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = kernel_listener.accept().unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        got
    });
    let mut stream = Stream::connect_timeout(&stack, server_addr, Duration::from_secs(5)).unwrap();
    stream.write_all(&data).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let got = server.join().unwrap();
    assert!(
        got == data,
        "us to kernel: {} of {} bytes",
        got.len(),
        data.len()
    );
    drop(stream);
    stack.shutdown(Duration::from_secs(2)).unwrap();
}

/// A real user's proxy-shaped use of one connection from two threads: our
/// client splits its stream, one thread writes 64 MiB to a kernel echo
/// server and drops its half (the half-close reaches the kernel as a
/// FIN), the other reads the echo to its end meanwhile. A `try_clone`
/// asks for the figures while both run. The bytes come back exact, and
/// only after the write half is gone does the kernel close.
#[test]
fn lab_split_stream_echo_with_half_close() {
    let Some(_lab) = require_lab("lab_split_stream_echo_with_half_close") else {
        return;
    };
    let ns = Netns::new("tcps").expect("namespace");
    let stack = run_in(&ns, || Stack::start(stack_config(0.0, 17)))
        .expect("enter namespace")
        .expect("stack starts");
    let port = 5003;
    let listener = run_in(&ns, || {
        KernelListener::bind(SocketAddr::new(KERNEL.parse().unwrap(), port))
    })
    .unwrap()
    .expect("kernel listens");
    let echo = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("kernel accepts");
        conn.set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let mut reader = conn.try_clone().unwrap();
        let mut writer = conn;
        let echoed = std::io::copy(&mut reader, &mut writer).expect("echo");
        // Our FIN reached the kernel: it closes its side in turn.
        writer.shutdown(Shutdown::Write).unwrap();
        echoed
    });

    let remote = SocketAddr::new(KERNEL.parse().unwrap(), port);
    let stream = Stream::connect_timeout(&stack, remote, Duration::from_secs(10))
        .expect("our client connects");
    let watcher = stream.try_clone().expect("a second handle");
    let (mut read_half, mut write_half) = stream.split().expect("halves");
    read_half.set_read_timeout(Some(Duration::from_secs(120)));
    let writer = std::thread::spawn(move || {
        let hash = send_stream(&mut write_half, 23);
        drop(write_half);
        hash
    });
    let (received, received_hash) = receive_stream(&mut read_half);
    let sent_hash = writer.join().expect("writer thread");
    let info = watcher.info().expect("figures from the clone");
    assert_eq!(echo.join().expect("echo thread"), SIZE);
    assert_eq!(received, SIZE, "every byte came back");
    assert_eq!(received_hash, sent_hash, "SHA-256 both ways");
    assert!(info.bytes_sent >= SIZE, "{info:?}");
    drop((read_half, watcher));
    stack.shutdown(Duration::from_secs(5)).expect("stack stops");
}
