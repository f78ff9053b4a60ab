//! Lab: TCP Fast Open (RFC 7413), and MPTCP's (RFC 8684 Appendix B),
//! against the Linux kernel, in both roles.
//! The kernel's own counters say whether data rode on a SYN:
//! `TcpExtTCPFastOpenPassive` (its server accepted SYN data) and
//! `TcpExtTCPFastOpenActive` (its client's SYN data was acknowledged).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as KernelListener};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use umptcp_lab::{Netns, kernel_mptcp_listener, nstat, require_lab, run_in};
use umptcp_tun::{
    ConnectOptions, Listener, ListenerOptions, MptcpSettings, PathConfig, Stack, StackConfig,
    Stream,
};

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

/// An MPTCP stack of ours in `ns`, Fast Open on as a server if asked.
fn mptcp_stack(ns: &Netns, device: &str, ours: &str, fast_open_server: bool) -> Stack {
    let mut config = StackConfig::new(vec![PathConfig::new(device, ours.parse().unwrap())]);
    config.seed = Some(22);
    let mut settings = MptcpSettings::default();
    settings.config.tcp.fast_open = fast_open_server;
    config.mptcp = Some(settings);
    run_in(ns, || Stack::start(config))
        .unwrap()
        .expect("stack starts")
}

/// Bytes that show a shift or a repeat: no two 251-byte runs alike.
fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ (i / 251) as u8 ^ salt)
        .collect()
}

/// RFC 8684 Appendix B, our client: the first MPTCP connection asks the
/// kernel for a cookie; the second puts MP_CAPABLE, the cookie and the
/// data on its SYN, the kernel takes the data with the SYN
/// (`TcpExtTCPFastOpenPassive`), the connection is MPTCP, and 1 MiB more
/// follows byte-exact: the kernel counts relative subflow sequence
/// numbers past the SYN's data as we do. A third connection does the same
/// with DSS checksums.
#[test]
fn lab_mptcp_fast_open_our_client_to_kernel_server() {
    let test = "lab_mptcp_fast_open_our_client_to_kernel_server";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("mtfc").expect("namespace");
    ns.sysctl("net.ipv4.tcp_fastopen", "1026").unwrap();
    ns.sysctl("net.mptcp.enabled", "1").unwrap();
    let stack = mptcp_stack(&ns, "mtf2", "10.72.0.2", false);
    let server_addr: SocketAddr = "10.72.0.1:7302".parse().unwrap();
    let listener = run_in(&ns, || kernel_mptcp_listener(server_addr))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..3 {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut data = Vec::new();
            conn.read_to_end(&mut data).unwrap();
            conn.write_all(&data[..data.len().min(4096)]).unwrap();
            got.push(data);
        }
        got
    });
    let passive_before = counter(&ns, "TcpExtTCPFastOpenPassive");
    let mut sent = Vec::new();
    let mut mptcp = Vec::new();
    for round in 0..3u8 {
        // The third round with DSS checksums, asked by the kernel: they
        // cover the relative subflow sequence numbers past the SYN's data.
        ns.sysctl(
            "net.mptcp.checksum_enabled",
            if round == 2 { "1" } else { "0" },
        )
        .unwrap();
        let head = pattern(300, round);
        let rest = pattern(1 << 20, round ^ 0x5a);
        let options = ConnectOptions::new().timeout(Duration::from_secs(5));
        let mut conn = Stream::connect_fast_open_with(&stack, server_addr, options, &head).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)));
        conn.write_all(&rest).unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
        let mut echo = Vec::new();
        conn.read_to_end(&mut echo).unwrap();
        let info = conn
            .mptcp_info()
            .unwrap()
            .expect("an MPTCP stack's connection");
        assert_eq!(info.checksum, round == 2, "round {round}: DSS checksums");
        mptcp.push(info.mptcp);
        drop(conn);
        let mut all = head;
        all.extend_from_slice(&rest);
        assert!(
            echo == all[..4096],
            "round {round}: the kernel's echo of our first 4 KiB"
        );
        sent.push(all);
        if round == 0 {
            assert_eq!(
                counter(&ns, "TcpExtTCPFastOpenPassive"),
                passive_before,
                "no SYN data without a cookie"
            );
        }
    }
    let got = server.join().unwrap();
    for (round, (got, sent)) in got.iter().zip(&sent).enumerate() {
        assert!(
            got == sent,
            "round {round}: {} bytes of {}, byte-exact",
            got.len(),
            sent.len()
        );
    }
    assert_eq!(
        counter(&ns, "TcpExtTCPFastOpenPassive"),
        passive_before + 2,
        "the kernel took the data of our second and third MP_CAPABLE SYNs"
    );
    assert_eq!(mptcp, [true; 3], "every connection is MPTCP");
    stack.shutdown(Duration::from_secs(2)).unwrap();
}

/// RFC 8684 Appendix B, the kernel's MPTCP client (`sendto(MSG_FASTOPEN)`
/// on an IPPROTO_MPTCP socket): with cookies (`tcp_fastopen=1`) its first
/// SYN asks, our SYN/ACK gives a 6-byte cookie beside MP_CAPABLE, its
/// second SYN brings it with data; without (`tcp_fastopen=5`, an RFC 8803
/// client) data rides on every SYN and our listener takes it as a
/// converter does; then with DSS checksums. Each time the kernel counts
/// its SYN data acknowledged (`TcpExtTCPFastOpenActive`), we read the
/// SYN's data first, then 1 MiB more byte-exact, over MPTCP.
#[test]
fn lab_mptcp_fast_open_kernel_client_to_our_server() {
    let test = "lab_mptcp_fast_open_kernel_client_to_our_server";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("mtfs").expect("namespace");
    ns.sysctl("net.mptcp.enabled", "1").unwrap();
    let stack = mptcp_stack(&ns, "mtf3", "10.71.0.2", false);
    let ours: SocketAddr = "10.71.0.2:7303".parse().unwrap();
    // (sysctl, checksums, connections, of which with SYN data acked)
    let rounds: [(&str, bool, usize, u64); 3] =
        [("1", false, 2, 1), ("5", false, 2, 2), ("5", true, 1, 1)];
    for (round, &(sysctl, checksum, connections, with_data)) in rounds.iter().enumerate() {
        ns.sysctl("net.ipv4.tcp_fastopen", sysctl).unwrap();
        ns.sysctl(
            "net.mptcp.checksum_enabled",
            if checksum { "1" } else { "0" },
        )
        .unwrap();
        let options = ListenerOptions::new().fast_open(sysctl == "5");
        let listener = Listener::bind_with(&stack, ours.port(), options).unwrap();
        let server = std::thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..connections {
                let (mut conn, _) = listener.accept().unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(20)));
                let mut data = Vec::new();
                conn.read_to_end(&mut data).unwrap();
                let info = conn.mptcp_info().unwrap().expect("an MPTCP listener's");
                assert_eq!(info.checksum, checksum, "DSS checksums as the client asked");
                got.push((data, info.mptcp));
            }
            got
        });
        let active_before = counter(&ns, "TcpExtTCPFastOpenActive");
        let mut sent = Vec::new();
        for k in 0..connections {
            let salt = (round * 4 + k) as u8;
            let head = pattern(700, salt);
            let rest = pattern(1 << 20, salt ^ 0xa5);
            run_in(&ns, || {
                let socket =
                    Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(262))).unwrap();
                let n = socket
                    .send_to_with_flags(&head, &SockAddr::from(ours), libc::MSG_FASTOPEN)
                    .expect("sendto MSG_FASTOPEN");
                let mut conn: std::net::TcpStream = socket.into();
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                conn.write_all(&head[n..]).unwrap();
                conn.write_all(&rest).unwrap();
                conn.shutdown(Shutdown::Write).unwrap();
                let mut back = Vec::new();
                conn.read_to_end(&mut back).unwrap();
            })
            .unwrap();
            let mut all = head;
            all.extend_from_slice(&rest);
            sent.push(all);
        }
        let got = server.join().unwrap();
        for (k, ((got, mptcp), sent)) in got.iter().zip(&sent).enumerate() {
            assert!(
                got == sent,
                "tcp_fastopen={sysctl} checksums {checksum} connection {k}: {} bytes of {}",
                got.len(),
                sent.len()
            );
            assert!(*mptcp, "tcp_fastopen={sysctl} connection {k} is MPTCP");
        }
        assert_eq!(
            counter(&ns, "TcpExtTCPFastOpenActive"),
            active_before + with_data,
            "tcp_fastopen={sysctl} checksums {checksum}: SYNs whose data we took"
        );
    }
    stack.shutdown(Duration::from_secs(2)).unwrap();
}
