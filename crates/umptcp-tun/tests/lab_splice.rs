//! Lab: `Stack::splice` as a proxy's relay, against the kernel (LAB.md).
//! A kernel MPTCP client connects to our listener; we connect to a kernel
//! echo server; the stack splices the two. The client's 16 MiB go to the
//! server and its echo comes back, byte-exact, with each half-close
//! carried across; a reset upstream resets the client.
//!
//! Topology (one namespace per test): a TUN device made by the stack, the
//! kernel's address `.1` and ours `.2`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as KernelListener};
use std::time::Duration;

use umptcp_lab::{Netns, kernel_mptcp_connect, require_lab, run_in};
use umptcp_tun::{Listener, MptcpSettings, PathConfig, Stack, StackConfig, Stream};

const SIZE: usize = 16 << 20;

fn stack(ns: &Netns, dev: &str, ours: &str) -> Stack {
    let mut config = StackConfig::new(vec![PathConfig::new(dev, ours.parse().unwrap())]);
    config.seed = Some(31);
    let mut settings = MptcpSettings::default();
    settings.config.tcp.time_wait = Duration::from_secs(1);
    config.mptcp = Some(settings);
    run_in(ns, || Stack::start(config))
        .expect("enter namespace")
        .expect("stack starts")
}

/// The client's side and the upstream's, spliced: `upstream` serves the
/// kernel's accepted connection.
fn spliced(
    ns: &Netns,
    stack: &Stack,
    ours: &str,
    kernel: SocketAddr,
    upstream: impl FnOnce(std::net::TcpStream) + Send + 'static,
) -> (umptcp_tun::Splice, std::net::TcpStream) {
    let server = run_in(ns, || KernelListener::bind(kernel))
        .expect("enter namespace")
        .expect("kernel listens");
    std::thread::spawn(move || {
        let (conn, _) = server.accept().expect("kernel accepts");
        upstream(conn);
    });
    let listener = Listener::bind(stack, 7200).expect("listen");
    let front: SocketAddr = format!("{ours}:7200").parse().unwrap();
    let client = run_in(ns, || kernel_mptcp_connect(front))
        .expect("enter namespace")
        .expect("the kernel client connects");
    let (downstream, _) = listener.accept().expect("accept the client");
    let upstream =
        Stream::connect_timeout(stack, kernel, Duration::from_secs(5)).expect("connect upstream");
    let splice = stack.splice(downstream, upstream).expect("splice");
    (splice, client)
}

#[test]
fn lab_splice_relays_a_kernel_client_to_a_kernel_echo_server_both_ways() {
    let test = "lab_splice_relays_a_kernel_client_to_a_kernel_echo_server_both_ways";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("splice").expect("namespace");
    let stack = stack(&ns, "msp0", "10.105.0.2");
    let kernel: SocketAddr = "10.105.0.1:7100".parse().unwrap();
    let (splice, client) = spliced(&ns, &stack, "10.105.0.2", kernel, |mut conn| {
        // Echo until the client's half-close arrives across the splice,
        // then half-close back.
        let mut copy = conn.try_clone().expect("clone");
        std::io::copy(&mut conn, &mut copy).expect("echo");
        copy.shutdown(Shutdown::Write).expect("half-close");
    });
    let sent: Vec<u8> = (0..SIZE)
        .map(|j| (j as u8).wrapping_mul(29) ^ (j >> 16) as u8)
        .collect();
    let mut reader = client.try_clone().expect("clone");
    reader
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let echo = std::thread::spawn(move || {
        let mut back = Vec::with_capacity(SIZE);
        reader.read_to_end(&mut back).map(|_| back)
    });
    let mut writer = client;
    writer.write_all(&sent).expect("client writes");
    writer
        .shutdown(Shutdown::Write)
        .expect("client half-closes");
    let back = echo.join().expect("reader").expect("the echo ends");
    assert!(
        back.len() == SIZE && back == sent,
        "{} of {SIZE} bytes back, exact",
        back.len()
    );
    let moved = splice
        .wait_timeout(Duration::from_secs(30))
        .expect("the splice ends")
        .expect("without an error");
    assert_eq!(moved, (SIZE as u64, SIZE as u64), "bytes each way");
    stack.shutdown(Duration::from_secs(5)).expect("stack stops");
}

#[test]
fn lab_splice_passes_an_upstream_reset_to_the_client() {
    let test = "lab_splice_passes_an_upstream_reset_to_the_client";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("splrst").expect("namespace");
    let stack = stack(&ns, "msp1", "10.106.0.2");
    let kernel: SocketAddr = "10.106.0.1:7100".parse().unwrap();
    let (splice, mut client) = spliced(&ns, &stack, "10.106.0.2", kernel, |conn| {
        // Read a little, then reset (SO_LINGER 0 and close).
        let mut conn = conn;
        let mut first = [0u8; 5];
        conn.read_exact(&mut first)
            .expect("the first bytes come across");
        socket2::SockRef::from(&conn)
            .set_linger(Some(Duration::ZERO))
            .expect("linger 0");
        drop(conn);
    });
    client.write_all(b"hello").expect("client writes");
    let err = splice
        .wait_timeout(Duration::from_secs(30))
        .expect("the splice ends")
        .expect_err("the upstream reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 16];
    let read = client.read(&mut buf);
    assert!(
        matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the client is reset too: {read:?}"
    );
    stack.shutdown(Duration::from_secs(5)).expect("stack stops");
}

/// Plain TCP both sides and a slow reader upstream: the upstream's send
/// buffer fills, and a plain-TCP connection says nothing when room opens
/// again (no DATA_ACK), so the splice must come back by itself. 12 MiB,
/// one way, to a kernel sink that reads 64 KiB per 5 ms.
#[test]
fn lab_splice_waits_out_a_slow_plain_tcp_upstream() {
    let test = "lab_splice_waits_out_a_slow_plain_tcp_upstream";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    const ONE_WAY: u64 = 12 << 20;
    let ns = Netns::new("splslow").expect("namespace");
    let mut config = StackConfig::new(vec![PathConfig::new("msp2", "10.107.0.2".parse().unwrap())]);
    config.seed = Some(1);
    let stack = run_in(&ns, || Stack::start(config))
        .expect("enter namespace")
        .expect("stack starts");
    let sink_addr: SocketAddr = "10.107.0.1:7300".parse().unwrap();
    let sink = run_in(&ns, || KernelListener::bind(sink_addr))
        .expect("enter namespace")
        .expect("kernel listens");
    let sink = std::thread::spawn(move || {
        let (mut conn, _) = sink.accept().expect("kernel accepts");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            match conn.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n as u64,
                Err(e) => return Err(format!("{e} after {total} bytes")),
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let listener = Listener::bind(&stack, 7301).expect("listen");
    let front: SocketAddr = "10.107.0.2:7301".parse().unwrap();
    let mut client = run_in(&ns, || std::net::TcpStream::connect(front))
        .expect("enter namespace")
        .expect("the kernel client connects");
    let (down, _) = listener.accept().expect("accept the client");
    let up = Stream::connect_timeout(&stack, sink_addr, Duration::from_secs(5))
        .expect("connect upstream");
    let splice = stack.splice(down, up).expect("splice");
    client
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let chunk = vec![0x3cu8; 64 * 1024];
    let mut sent = 0;
    while sent < ONE_WAY {
        client
            .write_all(&chunk)
            .expect("the relay keeps taking bytes");
        sent += chunk.len() as u64;
    }
    client
        .shutdown(Shutdown::Write)
        .expect("client half-closes");
    assert_eq!(
        sink.join().expect("sink"),
        Ok(ONE_WAY),
        "the sink got everything"
    );
    let moved = splice
        .wait_timeout(Duration::from_secs(10))
        .expect("the splice ends")
        .expect("without an error");
    assert_eq!(moved, (ONE_WAY, 0), "bytes each way");
    drop(client);
    stack.shutdown(Duration::from_secs(5)).expect("stack stops");
}

/// A kernel MPTCP client through our stack to a server reached through
/// the host's own kernel stack (`splice_socket`): an upstream on this
/// namespace's loopback, as a converter's default upstream is.
fn spliced_to_socket(
    ns: &Netns,
    stack: &Stack,
    ours: &str,
    upstream: impl FnOnce(std::net::TcpStream) + Send + 'static,
) -> (umptcp_tun::Splice, std::net::TcpStream) {
    let server = KernelListener::bind("127.0.0.1:0").expect("kernel listens");
    let at = server.local_addr().unwrap();
    std::thread::spawn(move || {
        let (conn, _) = server.accept().expect("kernel accepts");
        upstream(conn);
    });
    let listener = Listener::bind(stack, 7200).expect("listen");
    let front: SocketAddr = format!("{ours}:7200").parse().unwrap();
    let client = run_in(ns, || kernel_mptcp_connect(front))
        .expect("enter namespace")
        .expect("the kernel client connects");
    let (downstream, _) = listener.accept().expect("accept the client");
    let socket = std::net::TcpStream::connect(at).expect("connect upstream");
    let splice = stack.splice_socket(downstream, socket).expect("splice");
    (splice, client)
}

#[test]
fn lab_splice_socket_relays_a_kernel_client_to_a_kernel_socket_both_ways() {
    let test = "lab_splice_socket_relays_a_kernel_client_to_a_kernel_socket_both_ways";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("spsock").expect("namespace");
    let stack = stack(&ns, "msp3", "10.108.0.2");
    let (splice, client) = spliced_to_socket(&ns, &stack, "10.108.0.2", |mut conn| {
        let mut copy = conn.try_clone().expect("clone");
        std::io::copy(&mut conn, &mut copy).expect("echo");
        copy.shutdown(Shutdown::Write).expect("half-close");
    });
    let sent: Vec<u8> = (0..SIZE)
        .map(|j| (j as u8).wrapping_mul(31) ^ (j >> 15) as u8)
        .collect();
    let mut reader = client.try_clone().expect("clone");
    reader
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let echo = std::thread::spawn(move || {
        let mut back = Vec::with_capacity(SIZE);
        reader.read_to_end(&mut back).map(|_| back)
    });
    let mut writer = client;
    writer.write_all(&sent).expect("client writes");
    writer
        .shutdown(Shutdown::Write)
        .expect("client half-closes");
    let back = echo.join().expect("reader").expect("the echo ends");
    assert!(
        back.len() == SIZE && back == sent,
        "{} of {SIZE} bytes back, exact",
        back.len()
    );
    let moved = splice
        .wait_timeout(Duration::from_secs(30))
        .expect("the splice ends")
        .expect("without an error");
    assert_eq!(moved, (SIZE as u64, SIZE as u64), "bytes each way");
    stack.shutdown(Duration::from_secs(5)).expect("stack stops");
}

#[test]
fn lab_splice_socket_passes_resets_both_ways() {
    let test = "lab_splice_socket_passes_resets_both_ways";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("spsrst").expect("namespace");
    let stack = stack(&ns, "msp4", "10.109.0.2");
    // The upstream socket resets: the client is reset (MP_FASTCLOSE).
    let (splice, mut client) = spliced_to_socket(&ns, &stack, "10.109.0.2", |mut conn| {
        let mut first = [0u8; 5];
        conn.read_exact(&mut first)
            .expect("the first bytes come across");
        socket2::SockRef::from(&conn)
            .set_linger(Some(Duration::ZERO))
            .expect("linger 0");
        drop(conn);
    });
    client.write_all(b"hello").expect("client writes");
    let err = splice
        .wait_timeout(Duration::from_secs(30))
        .expect("the splice ends")
        .expect_err("the upstream reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 16];
    let read = client.read(&mut buf);
    assert!(
        matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the client is reset too: {read:?}"
    );
    drop(stack);
    // The client resets: the upstream socket is reset (an RST, not a FIN).
    let stack = self::stack(&ns, "msp4", "10.109.0.2");
    let (tx, rx) = std::sync::mpsc::channel();
    let (splice, client) = spliced_to_socket(&ns, &stack, "10.109.0.2", move |mut conn| {
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut first = [0u8; 5];
        let _ = conn.read_exact(&mut first);
        let mut rest = [0u8; 16];
        let _ = tx.send(conn.read(&mut rest).map_err(|e| e.kind()));
    });
    let mut client = client;
    client.write_all(b"hello").expect("client writes");
    std::thread::sleep(Duration::from_millis(200));
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .expect("linger 0");
    drop(client);
    let err = splice
        .wait_timeout(Duration::from_secs(30))
        .expect("the splice ends")
        .expect_err("the client reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    let upstream = rx.recv_timeout(Duration::from_secs(30)).expect("upstream");
    assert_eq!(upstream, Err(std::io::ErrorKind::ConnectionReset));
    stack.shutdown(Duration::from_secs(5)).expect("stack stops");
}
