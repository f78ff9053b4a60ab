//! Lab: TCP Fast Open (RFC 7413) against the Linux kernel, in both roles.
//! The kernel's own counters say whether data rode on a SYN:
//! `TcpExtTCPFastOpenPassive` (its server accepted SYN data) and
//! `TcpExtTCPFastOpenActive` (its client's SYN data was acknowledged).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as KernelListener};
use std::time::Duration;

use mptcp_lab::{Netns, nstat, require_lab, run_in};
use mptcp_tun::{Listener, PathConfig, Stack, StackConfig, Stream};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

fn counter(ns: &Netns, name: &str) -> u64 {
    nstat(ns).expect("nstat").get(name).copied().unwrap_or(0)
}

fn stack(ns: &Netns, device: &str, ours: &str, fast_open_server: bool) -> Stack {
    let mut config = StackConfig::new(vec![PathConfig::new(device, ours.parse().unwrap())]);
    config.seed = Some(21);
    config.tcp.fast_open = fast_open_server;
    run_in(ns, || Stack::start(config))
        .unwrap()
        .expect("stack starts")
}

#[test]
fn lab_fast_open_our_client_to_kernel_server() {
    let test = "lab_fast_open_our_client_to_kernel_server";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("tfoc").expect("namespace");
    // 0x402: server side on, for every listener (no TCP_FASTOPEN sockopt).
    ns.sysctl("net.ipv4.tcp_fastopen", "1026").unwrap();
    let stack = stack(&ns, "mtf0", "10.74.0.2", false);
    let server_addr: SocketAddr = "10.74.0.1:7300".parse().unwrap();
    let listener = run_in(&ns, || KernelListener::bind(server_addr))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().unwrap();
            let mut data = Vec::new();
            conn.read_to_end(&mut data).unwrap();
            got.push(data);
        }
        got
    });
    let passive_before = counter(&ns, "TcpExtTCPFastOpenPassive");

    // First: no cookie yet; the SYN asks for one, the data follows.
    let mut first = Stream::connect_fast_open(
        &stack,
        server_addr,
        Duration::from_secs(5),
        b"first request",
    )
    .unwrap();
    first.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).unwrap();
    drop(first);
    assert_eq!(
        counter(&ns, "TcpExtTCPFastOpenPassive"),
        passive_before,
        "no SYN data without a cookie"
    );

    // Second: the cached cookie and the data ride on the SYN.
    let mut second = Stream::connect_fast_open(
        &stack,
        server_addr,
        Duration::from_secs(5),
        b"second request",
    )
    .unwrap();
    second.write_all(b", and more").unwrap();
    second.shutdown(Shutdown::Write).unwrap();
    second.read_to_end(&mut rest).unwrap();
    drop(second);

    let got = server.join().unwrap();
    assert_eq!(got[0], b"first request");
    assert_eq!(got[1], b"second request, and more");
    assert_eq!(
        counter(&ns, "TcpExtTCPFastOpenPassive"),
        passive_before + 1,
        "the kernel server took the data of our second SYN"
    );
    stack.shutdown(Duration::from_secs(2)).unwrap();
}

#[test]
fn lab_fast_open_kernel_client_to_our_server() {
    let test = "lab_fast_open_kernel_client_to_our_server";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("tfos").expect("namespace");
    // 0x1: client side on.
    ns.sysctl("net.ipv4.tcp_fastopen", "1").unwrap();
    let stack = stack(&ns, "mtf1", "10.73.0.2", true);
    let listener = Listener::bind(&stack, 7301).unwrap();
    let server = std::thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().unwrap();
            let mut data = Vec::new();
            conn.read_to_end(&mut data).unwrap();
            got.push(data);
        }
        got
    });
    let ours: SocketAddr = "10.73.0.2:7301".parse().unwrap();
    let active_before = counter(&ns, "TcpExtTCPFastOpenActive");
    for message in [&b"hello over TFO"[..], &b"again, in the SYN"[..]] {
        run_in(&ns, || {
            // sendto(MSG_FASTOPEN) connects and sends in one call, as a
            // Fast Open client does.
            let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
            let sent = socket
                .send_to_with_flags(message, &SockAddr::from(ours), libc::MSG_FASTOPEN)
                .expect("sendto MSG_FASTOPEN");
            assert_eq!(sent, message.len());
            socket.shutdown(Shutdown::Write).unwrap();
            let mut conn: std::net::TcpStream = socket.into();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut rest = Vec::new();
            conn.read_to_end(&mut rest).unwrap();
        })
        .unwrap();
    }
    let got = server.join().unwrap();
    assert_eq!(got[0], b"hello over TFO");
    assert_eq!(got[1], b"again, in the SYN");
    assert_eq!(
        counter(&ns, "TcpExtTCPFastOpenActive"),
        active_before + 1,
        "our server acknowledged the data of the kernel's second SYN"
    );
    stack.shutdown(Duration::from_secs(2)).unwrap();
}
