//! 0-RTT measured (issue 16): on paths with a 20 ms RTT, the time from
//! the application's connect to the first byte of the server's answer,
//! for a direct connection of our stack, through `mptcp convert` with our
//! Convert client (the request rides in the SYN), and through `mptcp
//! proxy`'s SOCKS5 front (a kernel client on this host; the SOCKS5
//! exchange is local, then the converter), and through a plain SOCKS5
//! proxy at the far end reached over our MPTCP connection (SOCKSv5 over
//! MPTCP, the model deployed before RFC 8803).
//!
//! `cargo bench -p umptcp-cli --bench zero_rtt` (needs root). The client
//! stack's impairment adds 10 ms each way (20 ms RTT) on both its paths;
//! the converter reaches the server inside the namespace. Median of
//! `ROUNDS` connections per case.

#![allow(clippy::disallowed_methods)] // a benchmark reads the clock

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use umptcp_lab::{Netns, lab_available, run_in};
use umptcp_proxy::client::ConvertClient;
use umptcp_tun::{Impairment, MptcpSettings, PathConfig, Stack, StackConfig, Stream};

const ROUNDS: usize = 15;
const REQUEST: &[u8] = b"GET / HTTP/1.0\r\n\r\n";

/// A child killed at the end.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `mptcp ARGS` in `ns`, wait for its first stderr line.
fn mptcp(ns: &Netns, args: &[&str]) -> Kill {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_mptcp")])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mptcp");
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .expect("its first line");
    Kill(child)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Err(why) = lab_available() {
        eprintln!("zero_rtt needs the lab (root, TUN, ip): {why}");
        std::process::exit(1);
    }
    let ns = Netns::new("zrtt").expect("namespace");
    ns.sysctl("net.ipv4.ip_forward", "1").unwrap();
    // The converter, and a server that answers each request at once.
    let _converter = mptcp(
        &ns,
        &["convert", "--path", "mcz0=10.124.0.2", "--port", "5124"],
    );
    let mut config = StackConfig::new(vec![
        PathConfig::new("mcz1", "10.125.0.2".parse().unwrap()),
        PathConfig::new("mcz2", "10.126.0.2".parse().unwrap()),
    ]);
    config.seed = Some(5);
    config.mptcp = Some(MptcpSettings::default());
    let mut impairment = Impairment::default();
    impairment.delay = Duration::from_millis(10);
    config.impairment = impairment.clone();
    let stack = run_in(&ns, || Stack::start(config))
        .unwrap()
        .expect("client stack");
    // The SOCKS5 front on its own stack with the same impairment.
    let _proxy = mptcp(
        &ns,
        &[
            "proxy",
            "--path",
            "mcz3=10.127.0.2",
            "--path",
            "mcz4=10.128.0.2",
            "--delay",
            "10",
            "--converter",
            "10.124.0.2:5124",
            "--socks5",
            "127.0.0.1:1080",
        ],
    );
    let server_addr: SocketAddr = "10.125.0.1:8080".parse().unwrap();
    let server = run_in(&ns, || TcpListener::bind(server_addr))
        .unwrap()
        .expect("server");
    std::thread::spawn(move || {
        for conn in server.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                let mut got = 0;
                while got < REQUEST.len() {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got += n,
                    }
                }
                let _ = conn.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello");
            });
        }
    });
    // A plain SOCKS5 proxy at the far end (SOCKSv5 over MPTCP, as
    // deployed in cellular networks): a kernel listener beside the
    // server, reached by our stack over the same 20 ms paths; it connects
    // onward with the kernel's sockets.
    let remote_socks: SocketAddr = "10.125.0.1:1081".parse().unwrap();
    let socks_server = run_in(&ns, || TcpListener::bind(remote_socks))
        .unwrap()
        .expect("remote SOCKS5 server");
    std::thread::spawn(move || {
        for conn in socks_server.incoming() {
            let Ok(conn) = conn else { continue };
            std::thread::spawn(move || remote_socks5(conn));
        }
    });
    let first_byte = |stream: &mut dyn Read| {
        let mut b = [0u8; 1];
        stream.read_exact(&mut b).expect("the first byte");
    };
    let mut direct = Vec::new();
    let mut converted = Vec::new();
    let mut socks = Vec::new();
    let mut remote = Vec::new();
    let client = ConvertClient::new(
        &stack,
        "10.124.0.2:5124".parse().unwrap(),
        Duration::from_secs(10),
    );
    for _ in 0..ROUNDS {
        // Direct: connect, then the request, then the answer.
        let t = Instant::now();
        let mut s = Stream::connect_timeout(&stack, server_addr, Duration::from_secs(10))
            .expect("direct connect");
        s.write_all(REQUEST).unwrap();
        first_byte(&mut s);
        direct.push(t.elapsed());
        drop(s);
        // Through the converter: the request in the SYN.
        let t = Instant::now();
        let (mut s, _) = client.connect(server_addr, REQUEST).expect("converted");
        first_byte(&mut s);
        converted.push(t.elapsed());
        drop(s);
        // SOCKS5 (local) through the converter: greeting, CONNECT, reply,
        // then the request.
        let t = Instant::now();
        let mut k = run_in(&ns, || TcpStream::connect("127.0.0.1:1080"))
            .unwrap()
            .expect("SOCKS5 front");
        k.write_all(&[5, 1, 0]).unwrap();
        let mut m = [0u8; 2];
        k.read_exact(&mut m).unwrap();
        let mut req = vec![5, 1, 0, 1, 10, 125, 0, 1];
        req.extend(8080u16.to_be_bytes());
        k.write_all(&req).unwrap();
        let mut reply = [0u8; 10];
        k.read_exact(&mut reply).unwrap();
        assert_eq!(reply[1], 0, "SOCKS5 success");
        k.write_all(REQUEST).unwrap();
        first_byte(&mut k);
        socks.push(t.elapsed());
        // A remote SOCKS5 proxy over our MPTCP connection: connect,
        // greeting, CONNECT, then the request (two round trips more).
        let t = Instant::now();
        let mut s = Stream::connect_timeout(&stack, remote_socks, Duration::from_secs(10))
            .expect("remote SOCKS5 connect");
        s.write_all(&[5, 1, 0]).unwrap();
        let mut m = [0u8; 2];
        s.read_exact(&mut m).unwrap();
        let mut req = vec![5, 1, 0, 1, 10, 125, 0, 1];
        req.extend(8080u16.to_be_bytes());
        s.write_all(&req).unwrap();
        let mut reply = [0u8; 10];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(reply[1], 0, "remote SOCKS5 success");
        s.write_all(REQUEST).unwrap();
        first_byte(&mut s);
        remote.push(t.elapsed());
        drop(s);
        std::thread::sleep(Duration::from_millis(50));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("connect to first byte of the answer, 20 ms RTT, median of {ROUNDS}");
    println!("| path | ms |");
    println!("|---|---|");
    println!(
        "| direct MPTCP connection of our stack | {:.1} |",
        ms(median(direct))
    );
    println!(
        "| our Convert client through mptcp convert (request in the SYN) | {:.1} |",
        ms(median(converted))
    );
    println!(
        "| a kernel client through mptcp proxy's SOCKS5 front and the converter | {:.1} |",
        ms(median(socks))
    );
    println!(
        "| our stack to a remote SOCKS5 proxy (SOCKSv5 over MPTCP), then the request | {:.1} |",
        ms(median(remote))
    );
    drop(client);
    let _ = stack.shutdown(Duration::from_secs(2));
}

/// A minimal SOCKS5 server (RFC 1928: no authentication, CONNECT to an
/// IPv4 address) relaying with the kernel's sockets.
fn remote_socks5(mut conn: TcpStream) {
    let mut greeting = [0u8; 3];
    let mut request = [0u8; 10];
    if conn.read_exact(&mut greeting).is_err() || conn.write_all(&[5, 0]).is_err() {
        return;
    }
    if conn.read_exact(&mut request).is_err() {
        return;
    }
    let ip = std::net::Ipv4Addr::new(request[4], request[5], request[6], request[7]);
    let port = u16::from_be_bytes([request[8], request[9]]);
    let Ok(upstream) = TcpStream::connect((ip, port)) else {
        let _ = conn.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
        return;
    };
    if conn.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).is_err() {
        return;
    }
    let (mut a, mut b) = (conn.try_clone().unwrap(), upstream.try_clone().unwrap());
    let (mut conn, mut upstream) = (conn, upstream);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut a, &mut b);
        let _ = b.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut conn);
    let _ = conn.shutdown(std::net::Shutdown::Write);
}
