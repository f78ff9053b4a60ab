//! Lab: the `mptcp` binary against the kernel's TCP, as an outside test
//! would drive it: `send` to a kernel server (on a device made with `ip
//! tuntap`, 2 % loss), and `recv` from a kernel client (on a device the
//! binary creates). The result lines are parsed and their SHA-256 compared
//! with what the kernel side saw.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{hex, json_field, json_subflows};
use sha2::{Digest, Sha256};
use umptcp_lab::{Netns, require_lab, run_in};

/// A parsed result line: `<verb> N bytes sha256 HEX in S s (G Mbit/s)`.
fn parse_result(line: &str, verb: &str) -> (u64, String, f64, f64) {
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words.len(), 10, "{line:?}");
    assert_eq!(words[0], verb, "{line:?}");
    assert_eq!(
        (words[2], words[3], words[5], words[7], words[9]),
        ("bytes", "sha256", "in", "s", "Mbit/s)"),
        "{line:?}"
    );
    let n = words[1].parse().expect("N");
    let sha = words[4].to_owned();
    assert!(
        sha.len() == 64
            && sha
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let secs: f64 = words[6].parse().expect("S");
    let rate: f64 = words[8].trim_start_matches('(').parse().expect("G");
    (n, sha, secs, rate)
}

#[test]
fn lab_cli_send_to_kernel_server_with_loss() {
    let test = "lab_cli_send_to_kernel_server_with_loss";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("clis").expect("namespace");
    // The help's recipe: a persistent device with the kernel's address.
    ns.ip(&["tuntap", "add", "dev", "mcs0", "mode", "tun"])
        .unwrap();
    ns.ip(&["addr", "add", "10.91.0.1/24", "dev", "mcs0"])
        .unwrap();
    ns.ip(&["link", "set", "mcs0", "up"]).unwrap();
    let listener = run_in(&ns, || TcpListener::bind("10.91.0.1:5000"))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut data = Vec::new();
        conn.read_to_end(&mut data).unwrap();
        (data.len() as u64, hex(&Sha256::digest(&data)))
    });
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_mptcp")])
        .args(["send", "--path", "mcs0=10.91.0.2", "--to", "10.91.0.1:5000"])
        .args([
            "--bytes",
            "16M",
            "--loss",
            "2",
            "--seed",
            "3",
            "--plain-tcp",
        ])
        .output()
        .expect("run mptcp");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mptcp send failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("a result line");
    let (n, sha, secs, rate) = parse_result(last, "sent");
    let (received, kernel_sha) = server.join().unwrap();
    assert_eq!(n, 16 << 20);
    assert_eq!(received, n, "the kernel got every byte");
    assert_eq!(sha, kernel_sha, "SHA-256 at both ends");
    assert!(secs > 0.0 && rate > 0.0, "{last}");
    let expected_rate = n as f64 * 8.0 / secs / 1e6;
    assert!(
        (rate - expected_rate).abs() / expected_rate < 0.01,
        "{last}"
    );
}

#[test]
fn lab_cli_recv_from_kernel_clients() {
    let test = "lab_cli_recv_from_kernel_clients";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("clir").expect("namespace");
    // mcr0 does not exist: the binary creates it, kernel side 10.92.0.1.
    let child = Command::new("ip")
        .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_mptcp")])
        .args([
            "recv",
            "--path",
            "mcr0=10.92.0.2",
            "--port",
            "5000",
            "--count",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mptcp");
    let ours: SocketAddr = "10.92.0.2:5000".parse().unwrap();
    let mut hashes = Vec::new();
    for (i, size) in [(0u8, 16usize << 20), (1, 1 << 20)] {
        let data: Vec<u8> = (0..size)
            .map(|j| (j as u8).wrapping_mul(31).wrapping_add(i))
            .collect();
        hashes.push((size as u64, hex(&Sha256::digest(&data))));
        // Until the binary has made its device and listener, connecting
        // fails fast (no route, or our reset): retry for a while.
        let mut conn = None;
        for _ in 0..100 {
            match run_in(&ns, || {
                TcpStream::connect_timeout(&ours, Duration::from_secs(2))
            })
            .unwrap()
            {
                Ok(c) => {
                    conn = Some(c);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        let mut conn = conn.expect("kernel client reaches mptcp recv");
        conn.write_all(&data).unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mptcp recv failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<_> = stdout
        .lines()
        .filter(|l| l.starts_with("received "))
        .map(|l| parse_result(l, "received"))
        .collect();
    assert_eq!(results.len(), 2, "{stdout}");
    for ((n, sha, _, _), (size, want)) in results.iter().zip(&hashes) {
        assert_eq!(n, size);
        assert_eq!(sha, want, "SHA-256 at both ends");
    }
    // The device the binary made is gone with it.
    let links = ns.ip(&["link", "show"]).unwrap();
    assert!(!links.contains("mcr0"), "{links}");
}

/// The kernel's scheduler decides its split over two subflows: each must
/// carry at least this much to count as used.
const SPLIT_MIN: u64 = 1 << 20;

/// A counter of `nstat -az` in `ns` (0 if absent).
fn nstat(ns: &Netns, name: &str) -> u64 {
    umptcp_lab::nstat(ns)
        .expect("nstat")
        .get(name)
        .copied()
        .unwrap_or(0)
}

/// Issue 4, CLI: `mptcp send` speaks MPTCP by default. Over two devices it
/// makes, it connects to a kernel MPTCP server over the first and joins
/// from the second (fullmesh); 32 MiB arrive byte-exact, both subflows
/// carry data, and the kernel counted our MP_CAPABLE and MP_JOIN.
#[test]
fn lab_cli_mptcp_send_over_two_paths_to_a_kernel_server() {
    let test = "lab_cli_mptcp_send_over_two_paths_to_a_kernel_server";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("clims").expect("namespace");
    ns.ip(&umptcp_lab::TWO_PATH_LIMITS).unwrap();
    let listener = run_in(&ns, || {
        umptcp_lab::kernel_mptcp_listener("0.0.0.0:5000".parse().unwrap())
    })
    .unwrap()
    .expect("kernel MPTCP listener");
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let mut data = Vec::new();
        conn.read_to_end(&mut data).unwrap();
        (data.len() as u64, hex(&Sha256::digest(&data)))
    });
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_mptcp")])
        .args([
            "send",
            "--path",
            "mma0=10.93.0.2",
            "--path",
            "mmb0=10.94.0.2",
        ])
        .args(["--to", "10.93.0.1:5000", "--bytes", "32M", "--json", "--ss"])
        .output()
        .expect("run mptcp");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mptcp send failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let json = stdout.lines().last().expect("a JSON line");
    let (received, kernel_sha) = server.join().unwrap();
    assert_eq!(json_field(json, "bytes"), (32u64 << 20).to_string());
    assert_eq!(received, 32 << 20, "the kernel got every byte");
    assert_eq!(
        json_field(json, "sha256"),
        kernel_sha,
        "SHA-256 at both ends"
    );
    assert_eq!(json_field(json, "mptcp"), "true", "{json}");
    assert_eq!(json_field(json, "fallback"), "null", "{json}");
    let subflows = json_subflows(json);
    assert_eq!(subflows.len(), 2, "{json}");
    let locals: Vec<&str> = subflows
        .iter()
        .map(|s| &s[2..s.find(',').unwrap() - 1])
        .collect();
    assert!(
        locals[0].starts_with("10.93.0.2:") && locals[1].starts_with("10.94.0.2:"),
        "{json}"
    );
    for s in &subflows {
        let sent: u64 = json_field(s, "bytes_sent").parse().unwrap();
        assert!(sent >= SPLIT_MIN, "each subflow carries data: {json}");
    }
    assert!(nstat(&ns, "MPTcpExtMPCapableSYNRX") >= 1);
    assert!(nstat(&ns, "MPTcpExtMPJoinSynRx") >= 1);
    assert!(nstat(&ns, "MPTcpExtMPJoinAckRx") >= 1);
    assert_eq!(nstat(&ns, "MPTcpExtMPJoinAckHMacFailure"), 0);
    assert_eq!(nstat(&ns, "MPTcpExtDSSNotMatching"), 0);
    // `--ss`: the figures in `ss -Mni`'s shape on stderr, every byte
    // acknowledged at the data level, a line per subflow.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ss: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.starts_with("token:"))
        .take_while(|l| l.starts_with("token:") || l.starts_with("  subflow:"))
        .collect();
    assert_eq!(ss.len(), 3, "{stderr}");
    // (Open subflows at the end: the kernel may be closing them already.)
    assert!(
        ss[0].contains(" peer_token:") && ss[0].contains(" subflows_total:"),
        "{stderr}"
    );
    assert!(
        ss[0].contains(&format!(" bytes_acked:{} ", 32u64 << 20)),
        "{stderr}"
    );
    assert!(ss[1].starts_with("  subflow:0 10.93.0.2:"), "{stderr}");
    assert!(ss[2].starts_with("  subflow:1 10.94.0.2:"), "{stderr}");
}

/// Issue 4, CLI: `mptcp recv --pm announce --backup`-less, two devices:
/// a kernel MPTCP client connects over the first, accepts our ADD_ADDR of
/// the second and joins it; 32 MiB arrive byte-exact over both.
#[test]
fn lab_cli_mptcp_recv_announces_its_second_path_to_a_kernel_client() {
    let test = "lab_cli_mptcp_recv_announces_its_second_path_to_a_kernel_client";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("climr").expect("namespace");
    ns.ip(&umptcp_lab::TWO_PATH_LIMITS).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_mptcp")])
        .args([
            "recv",
            "--path",
            "mra0=10.95.0.2",
            "--path",
            "mrb0=10.96.0.2",
        ])
        .args(["--port", "5000", "--pm", "announce", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mptcp");
    let ours: SocketAddr = "10.95.0.2:5000".parse().unwrap();
    let data: Vec<u8> = (0..32usize << 20)
        .map(|j| (j as u8).wrapping_mul(13).wrapping_add((j >> 12) as u8))
        .collect();
    let want = hex(&Sha256::digest(&data));
    // Until the binary has made its devices and listener, connecting fails.
    let mut conn = None;
    for _ in 0..100 {
        // Both devices must exist before the transfer, for the join.
        let links = ns.ip(&["link", "show"]).unwrap();
        if links.contains("mrb0") {
            if let Ok(c) = run_in(&ns, || umptcp_lab::kernel_mptcp_connect(ours)).unwrap() {
                conn = Some(c);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut conn = conn.expect("kernel MPTCP client reaches mptcp recv");
    conn.set_write_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    conn.write_all(&data).unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mptcp recv failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let json = stdout.lines().last().expect("a JSON line");
    assert_eq!(json_field(json, "direction"), "received");
    assert_eq!(json_field(json, "bytes"), (32u64 << 20).to_string());
    assert_eq!(json_field(json, "sha256"), want, "SHA-256 at both ends");
    assert_eq!(json_field(json, "mptcp"), "true", "{json}");
    let subflows = json_subflows(json);
    assert_eq!(
        subflows.len(),
        2,
        "the kernel joined our announced address: {json}"
    );
    for s in &subflows {
        let got: u64 = json_field(s, "bytes_received").parse().unwrap();
        assert!(got >= SPLIT_MIN, "each subflow carries data: {json}");
    }
    assert!(
        nstat(&ns, "MPTcpExtAddAddr") >= 1,
        "the kernel took our ADD_ADDR"
    );
    assert_eq!(nstat(&ns, "MPTcpExtAddAddrDrop"), 0);
    assert!(nstat(&ns, "MPTcpExtMPJoinSynAckRx") >= 1);
    assert_eq!(nstat(&ns, "MPTcpExtMPJoinSynAckHMacFailure"), 0);
}
