//! Lab: `mptcp convert` against the kernel as an RFC 8803 Convert client
//! (LAB.md; RFC 8803 Appendix A): a kernel MPTCP socket sends the Convert
//! message and its first bytes as SYN data (`sendto(MSG_FASTOPEN)`, with
//! `net.ipv4.tcp_fastopen=5` for data without a cookie) to our converter,
//! which reaches a kernel server through the kernel's sockets; then every
//! Error TLV case a client can meet: refused, unreachable, no answer,
//! malformed, an unsupported version.
//!
//! Topology (one namespace): the converter's TUN device (made by it),
//! the kernel's side `.1`, the converter `.2`; the servers listen on the
//! kernel's own address, so the converter's upstream sockets reach them
//! inside the namespace.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use umptcp_lab::{Netns, nstat, require_lab, run_in};
use umptcp_proxy::convert::{Connect, ErrorCode, Message, TcpOptions};

const CONVERTER: &str = "10.111.0.2:5124";
const SERVER_IP: &str = "10.111.0.1";

/// The converter (killed when dropped), and its result lines as they
/// come.
struct Running {
    _child: Child2,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a result line")
    }
}

fn start(ns: &Netns) -> Running {
    start_on(ns, "mcv0=10.111.0.2")
}

/// `mptcp convert` on one path, `--upstream-timeout 1`.
fn start_on(ns: &Netns, path: &str) -> Running {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_mptcp")])
        .args(["convert", "--path", path, "--port", "5124"])
        .args(["--upstream-timeout", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mptcp convert");
    let stderr = child.stderr.take().unwrap();
    let mut stderr = BufReader::new(stderr);
    let mut ready = String::new();
    stderr
        .read_line(&mut ready)
        .expect("the converter's first line");
    assert!(ready.contains("converting on port 5124"), "{ready}");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Running {
        _child: Child2(child),
        lines,
    }
}

/// A Convert message with a base Connect to `to`, then `data`.
fn convert_to(to: SocketAddr, data: &[u8]) -> Vec<u8> {
    let message = Message {
        connect: Some(Connect {
            addr: to,
            options: TcpOptions::EMPTY,
        }),
        ..Message::default()
    };
    let mut out = vec![0u8; umptcp_proxy::convert::MAX_LEN];
    let n = message.emit(&mut out).unwrap();
    out.truncate(n);
    out.extend_from_slice(data);
    out
}

/// The kernel as a Convert client: an MPTCP socket whose SYN carries
/// `syn_data`; everything it reads until the converter closes.
fn kernel_client(ns: &Netns, syn_data: &[u8]) -> Vec<u8> {
    kernel_client_timed(ns, syn_data).0
}

/// [`kernel_client`], and how long its `sendto` took: a blocking socket's
/// `sendto(MSG_FASTOPEN)` returns once the handshake is done, so this is
/// when the converter answered the SYN.
#[allow(clippy::disallowed_methods)] // the lab reads the clock
fn kernel_client_timed(ns: &Netns, syn_data: &[u8]) -> (Vec<u8>, Duration) {
    let converter: SocketAddr = CONVERTER.parse().unwrap();
    run_in(ns, || -> std::io::Result<(Vec<u8>, Duration)> {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(262)))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        let started = std::time::Instant::now();
        s.send_to_with_flags(syn_data, &converter.into(), libc::MSG_FASTOPEN)?;
        let answered = started.elapsed();
        let mut stream: std::net::TcpStream = s.into();
        let mut got = Vec::new();
        let _ = stream.read_to_end(&mut got);
        Ok((got, answered))
    })
    .expect("enter namespace")
    .expect("the kernel client")
}

fn error_reply(code: ErrorCode, value: u8) -> Vec<u8> {
    vec![1, 2, 0x22, 0x63, 0x1e, 1, code.to_u8(), value]
}

#[test]
fn lab_the_kernel_converts_through_our_converter_and_meets_every_error() {
    let test = "lab_the_kernel_converts_through_our_converter_and_meets_every_error";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("conv").expect("namespace");
    // Client side: SYN data without a cookie (RFC 8803 Appendix A).
    ns.sysctl("net.ipv4.tcp_fastopen", "5")
        .expect("tcp_fastopen");
    let converter = start(&ns);

    // A server that reads the client's bytes, answers and closes.
    let server_addr: SocketAddr = format!("{SERVER_IP}:8080").parse().unwrap();
    let server = run_in(&ns, || TcpListener::bind(server_addr))
        .unwrap()
        .expect("kernel server");
    let served = std::thread::spawn(move || {
        let (mut conn, _) = server.accept().expect("the converter connects");
        let mut hello = [0u8; 5];
        conn.read_exact(&mut hello)
            .expect("the client's first bytes");
        conn.write_all(b"world").unwrap();
        hello
    });
    let got = kernel_client(&ns, &convert_to(server_addr, b"hello"));
    assert_eq!(
        served.join().unwrap(),
        *b"hello",
        "SYN data reached the server"
    );
    let mut expected = vec![1, 1, 0x22, 0x63];
    expected.extend(b"world");
    assert_eq!(got, expected, "the bare reply, then the server's bytes");
    let line = converter.next_line();
    assert!(
        line.contains(&format!("-> {server_addr} mptcp=true up=5 down=5 in "))
            && line.ends_with(": relayed"),
        "{line}"
    );
    let counters = nstat(&ns).expect("nstat");
    let count = |name: &str| {
        counters
            .iter()
            .find(|(k, _)| *k == name)
            .map_or(0, |(_, v)| *v)
    };
    // The kernel's MP_CAPABLE SYN got an MP_CAPABLE SYN/ACK, and its SYN
    // carried data (Fast Open without a cookie).
    assert!(
        count("MPTcpExtMPCapableSYNACKRX") >= 1,
        "MPTCP: {counters:?}"
    );
    assert!(
        count("TcpExtTCPFastOpenActive") >= 1,
        "SYN data: {counters:?}"
    );

    // Refused: Connection Reset.
    let refused: SocketAddr = format!("{SERVER_IP}:8081").parse().unwrap();
    let got = kernel_client(&ns, &convert_to(refused, b"x"));
    assert_eq!(got, error_reply(ErrorCode::ConnectionReset, 0));
    assert!(
        converter
            .next_line()
            .ends_with("answered Connection Reset (96)")
    );

    // Unreachable: Destination Unreachable, host unreachable (ICMP 1).
    ns.ip(&["route", "add", "unreachable", "203.0.113.0/24"])
        .expect("an unreachable route");
    let got = kernel_client(&ns, &convert_to("203.0.113.9:80".parse().unwrap(), b"x"));
    assert_eq!(got, error_reply(ErrorCode::DestinationUnreachable, 1));
    assert!(
        converter
            .next_line()
            .ends_with("answered Destination Unreachable (97)")
    );

    // No answer within --upstream-timeout: Network Failure.
    // (Routed into the converter's own TUN device, whose stack drops
    // what is not for its addresses: the SYN goes unanswered.)
    ns.ip(&["route", "add", "198.51.100.0/24", "dev", "mcv0"])
        .expect("a route into the void");
    let (got, answered) =
        kernel_client_timed(&ns, &convert_to("198.51.100.2:80".parse().unwrap(), b"x"));
    assert_eq!(got, error_reply(ErrorCode::NetworkFailure, 0));
    // §4.2: the client's SYN was answered only once the upstream attempt
    // had ended (--upstream-timeout 1).
    assert!(
        answered >= Duration::from_millis(900),
        "the SYN/ACK came after {answered:?}, before the upstream gave up"
    );
    assert!(
        converter
            .next_line()
            .ends_with("answered Network Failure (65)")
    );

    // A loopback destination: Malformed Message, the message echoed.
    let mut loopback = convert_to("192.0.2.1:80".parse().unwrap(), b"");
    loopback[20..24].copy_from_slice(&[127, 0, 0, 1]);
    let got = kernel_client(&ns, &loopback);
    let (reply, _) = Message::parse(&got).expect("a Convert reply");
    let error = reply.error.expect("an Error TLV");
    assert_eq!(error.code, ErrorCode::MalformedMessage);
    assert_eq!(error.value, loopback[0]);
    assert_eq!(&error.extra[..20], &loopback[1..21]);
    assert!(
        converter
            .next_line()
            .ends_with("answered Malformed Message (1)")
    );

    // Version 2: Unsupported Version, naming version 1.
    let got = kernel_client(&ns, &[2, 1, 0x22, 0x63]);
    assert_eq!(got, error_reply(ErrorCode::UnsupportedVersion, 1));
    assert!(
        converter
            .next_line()
            .ends_with("answered Unsupported Version (0)")
    );
}

/// Our Convert client (`umptcp_proxy::client`, on a stack with two TUN
/// paths) through `mptcp convert` to a kernel server: the Convert message
/// and the first bytes ride in the SYN, the reply is taken off before
/// the server's bytes, both paths carry the connection, and a refusal
/// becomes the client's `ConnectionRefused`. The namespace's kernel
/// forwards between the two stacks' devices.
#[test]
fn lab_our_convert_client_through_the_converter_over_two_paths() {
    use umptcp_proxy::client::{ConvertClient, Route};
    use umptcp_tun::{MptcpSettings, PathConfig, Stack, StackConfig};

    let test = "lab_our_convert_client_through_the_converter_over_two_paths";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("cvc").expect("namespace");
    ns.sysctl("net.ipv4.ip_forward", "1").expect("forwarding");
    let converter = start_on(&ns, "mcc0=10.116.0.2");
    let mut config = StackConfig::new(vec![
        PathConfig::new("mcd0", "10.117.0.2".parse().unwrap()),
        PathConfig::new("mcd1", "10.118.0.2".parse().unwrap()),
    ]);
    config.seed = Some(42);
    config.mptcp = Some(MptcpSettings::default());
    let stack = run_in(&ns, || Stack::start(config))
        .expect("enter namespace")
        .expect("the client's stack");

    let server_addr: SocketAddr = "10.117.0.1:8080".parse().unwrap();
    let server = run_in(&ns, || TcpListener::bind(server_addr))
        .unwrap()
        .expect("kernel server");
    const ANSWER: usize = 4 << 20;
    let served = std::thread::spawn(move || {
        let (mut conn, _) = server.accept().expect("the converter connects");
        let mut request = [0u8; 5];
        conn.read_exact(&mut request).expect("the first bytes");
        let body: Vec<u8> = (0..ANSWER).map(|i| (i % 253) as u8).collect();
        conn.write_all(&body).unwrap();
        request
    });
    let client = ConvertClient::new(
        &stack,
        "10.116.0.2:5124".parse().unwrap(),
        Duration::from_secs(10),
    );
    let (mut stream, route) = client.connect(server_addr, b"GET /").expect("converted");
    assert_eq!(route, Route::Converted);
    stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut body = Vec::new();
    if let Err(e) = stream.read_to_end(&mut body) {
        panic!("after {} bytes: {e}", body.len());
    }
    assert!(
        body.len() == ANSWER && body.iter().enumerate().all(|(i, &b)| b == (i % 253) as u8),
        "{} of {ANSWER} bytes, exact (no Convert reply left in them)",
        body.len()
    );
    assert_eq!(
        &served.join().unwrap(),
        b"GET /",
        "the SYN's bytes reached the server"
    );
    let info = stream.mptcp_info().unwrap().expect("MPTCP figures");
    assert!(info.mptcp, "{info}");
    assert_eq!(info.subflows.len(), 2, "a subflow over each path: {info}");
    drop(stream);
    let line = converter.next_line();
    assert!(
        line.contains(&format!(
            "-> {server_addr} mptcp=true up=5 down={ANSWER} in "
        )) && line.ends_with(": relayed"),
        "{line}"
    );

    // A server that refuses: Connection Reset becomes ConnectionRefused.
    let refused: SocketAddr = "10.117.0.1:8081".parse().unwrap();
    let err = client.connect(refused, b"x").expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    assert!(err.to_string().contains("Connection Reset (96)"), "{err}");
    assert!(
        converter
            .next_line()
            .ends_with("answered Connection Reset (96)")
    );
    drop(client);
    stack
        .shutdown(Duration::from_secs(2))
        .expect("the client's stack stops");
}

/// A child process killed when the test ends, however it ends.
struct Child2(Child);

impl Drop for Child2 {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// curl, unmodified, through `mptcp proxy`'s SOCKS5 front: our client
/// stack over two TUN paths to `mptcp convert`, then a kernel HTTP server
/// (`python3 -m http.server`); a 64 MiB file, SHA-256 compared, by
/// address (`--socks5`) and by name (`--socks5-hostname`, resolved by the
/// proxy).
#[test]
fn lab_curl_through_the_socks5_front_and_the_converter() {
    use sha2::{Digest, Sha256};

    let test = "lab_curl_through_the_socks5_front_and_the_converter";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("curl").expect("namespace");
    ns.sysctl("net.ipv4.ip_forward", "1").expect("forwarding");
    // Seen by programs `ip netns exec` starts: the proxy resolves it.
    ns.set_hosts("10.120.0.1 web.lab\n").expect("hosts");
    let converter = start_on(&ns, "mce0=10.119.0.2");
    let mut proxy = Command::new("ip")
        .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_mptcp")])
        .args([
            "proxy",
            "--path",
            "mcf0=10.120.0.2",
            "--path",
            "mcf1=10.121.0.2",
        ])
        .args([
            "--converter",
            "10.119.0.2:5124",
            "--socks5",
            "127.0.0.1:1080",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mptcp proxy");
    let mut ready = String::new();
    BufReader::new(proxy.stderr.take().unwrap())
        .read_line(&mut ready)
        .expect("the proxy's first line");
    assert!(ready.contains("SOCKS5 on 127.0.0.1:1080"), "{ready}");
    let (tx, proxy_lines) = mpsc::channel();
    let stdout = proxy.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let _proxy = Child2(proxy);

    let dir = std::env::temp_dir().join(format!("umptcp-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    const SIZE: usize = 64 << 20;
    let file: Vec<u8> = (0..SIZE)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect();
    std::fs::write(dir.join("file"), &file).unwrap();
    let expected = Sha256::digest(&file);
    let server = Child2(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.name(),
                "python3",
                "-m",
                "http.server",
                "8000",
            ])
            .args(["--bind", "10.120.0.1", "--directory"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server"),
    );
    // Until the server listens.
    for _ in 0..100 {
        let up = run_in(&ns, || {
            std::net::TcpStream::connect("10.120.0.1:8000".parse::<SocketAddr>().unwrap())
        })
        .unwrap();
        if up.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for (flag, url) in [
        ("--socks5", "http://10.120.0.1:8000/file"),
        ("--socks5-hostname", "http://web.lab:8000/file"),
    ] {
        let out = dir.join("got");
        let status = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.name(),
                "curl",
                "-sS",
                "--max-time",
                "120",
            ])
            .args([flag, "127.0.0.1:1080", url, "-o"])
            .arg(&out)
            .output()
            .expect("curl");
        assert!(
            status.status.success(),
            "curl {flag}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let got = std::fs::read(&out).expect("curl's output");
        assert!(
            got.len() == SIZE && Sha256::digest(&got) == expected,
            "curl {flag}: {} of {SIZE} bytes, SHA-256 {}",
            got.len(),
            if Sha256::digest(&got) == expected {
                "equal"
            } else {
                "differs"
            }
        );
        let line = proxy_lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the proxy's line");
        assert!(
            line.contains("-> 10.120.0.1:8000 mptcp=true subflows=2 ")
                && line.ends_with(": relayed"),
            "{line}"
        );
        let line = converter.next_line();
        assert!(
            line.contains("-> 10.120.0.1:8000 mptcp=true ") && line.ends_with(": relayed"),
            "{line}"
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Load: 500 connections of our Convert client open at once through one
/// `mptcp convert` to a kernel echo server, each echoing 16 KiB, every
/// byte back; the opens are paced 50 at a time (a burst of 500 SYNs
/// overflows the TUN queue), and all 500 are open before any data moves.
#[test]
fn lab_500_concurrent_conversions_through_one_converter() {
    use std::sync::Barrier;

    use umptcp_proxy::client::ConvertClient;
    use umptcp_tun::{MptcpSettings, PathConfig, Stack, StackConfig};

    let test = "lab_500_concurrent_conversions_through_one_converter";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    const CONNECTIONS: usize = 500;
    const SIZE: usize = 16 * 1024;
    let ns = Netns::new("cvl").expect("namespace");
    ns.sysctl("net.ipv4.ip_forward", "1").expect("forwarding");
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_mptcp")])
        .args(["convert", "--path", "mcl0=10.129.0.2", "--port", "5124"])
        .args(["--max-pending-per-client", "1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mptcp convert");
    let mut ready = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let _converter = Child2(child);
    let mut config = StackConfig::new(vec![PathConfig::new("mcl1", "10.130.0.2".parse().unwrap())]);
    config.seed = Some(7);
    config.mptcp = Some(MptcpSettings::default());
    let stack = run_in(&ns, || Stack::start(config))
        .unwrap()
        .expect("stack");
    let server_addr: SocketAddr = "10.130.0.1:8090".parse().unwrap();
    let server = run_in(&ns, || TcpListener::bind(server_addr))
        .unwrap()
        .expect("echo server");
    std::thread::spawn(move || {
        for conn in server.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut copy = conn.try_clone().unwrap();
                let _ = std::io::copy(&mut conn, &mut copy);
            });
        }
    });
    let client = ConvertClient::new(
        &stack,
        "10.129.0.2:5124".parse().unwrap(),
        Duration::from_secs(30),
    );
    let opened = Barrier::new(CONNECTIONS);
    let exact = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for k in 0..CONNECTIONS {
            if k % 50 == 0 {
                std::thread::sleep(Duration::from_millis(200));
            }
            let (client, opened) = (&client, &opened);
            handles.push(scope.spawn(move || {
                let connected = client.connect(server_addr, &[]);
                // Everyone waits, failed or not, so a failure cannot hang
                // the others.
                opened.wait();
                let (mut s, _) = connected.expect("converted");
                let mptcp = s.is_mptcp().unwrap_or(false);
                let data: Vec<u8> = (0..SIZE).map(|i| (i + k) as u8).collect();
                s.set_read_timeout(Some(Duration::from_secs(60)));
                let mut reader = s.try_clone().unwrap();
                let echo = std::thread::spawn(move || {
                    let mut back = vec![0u8; SIZE];
                    reader.read_exact(&mut back).map(|()| back)
                });
                s.write_all(&data).unwrap();
                let back = echo.join().unwrap().expect("the echo");
                (back == data, mptcp)
            }));
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("a connection's thread"))
            .collect::<Vec<_>>()
    });
    let good = exact.iter().filter(|(ok, _)| *ok).count();
    let mptcp = exact.iter().filter(|(_, m)| *m).count();
    assert_eq!(good, CONNECTIONS, "every connection's bytes came back");
    assert_eq!(mptcp, CONNECTIONS, "every connection spoke MPTCP");
    drop(client);
    stack.shutdown(Duration::from_secs(5)).expect("stack stops");
}
