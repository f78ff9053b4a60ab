//! Lab, issue 4 (i): aggregation over two rate-limited paths, our MPTCP
//! client beside the kernel's, on the same links in the same run.
//!
//! ```text
//!  namespace host                                  namespace peer
//!  our stack 10.100.0.2 ─tun─ 10.100.0.1 ┐
//!                                        ├ ha 10.101.0.1 ══tbf══ pa 10.101.0.2  kernel MPTCP
//!  kernel MPTCP client ──────────────────┤                                      server, signal
//!                                        └ hb 10.102.0.1 ══tbf══ pb 10.102.0.2  endpoint
//! ```
//!
//! The host forwards between its TUN device and two veth pairs, each
//! shaped with `tbf` at 50 Mbit/s both ways. The kernel server announces
//! its second address; a client (the `mptcp` binary, then a kernel MPTCP
//! socket) connects to the first and joins the second, and sends 48 MiB.
//! The server times each transfer from accept to end of stream.
//!
//! The test asserts the functional part: SHA-256 at both ends, two
//! subflows, each carrying at least a quarter of the bytes (one path
//! alone could not give aggregation). The goodputs are printed; their
//! comparison is a benchmark (docs/benchmarks.md), not an assertion.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{hex, json_field, json_subflows};
use sha2::{Digest, Sha256};
use umptcp_lab::{Netns, kernel_mptcp_connect, kernel_mptcp_listener, require_lab, run_in};

const SIZE: usize = 48 << 20;

/// The two namespaces and their links.
fn topology() -> (Netns, Netns) {
    let host = Netns::new("agghost").expect("namespace");
    let peer = Netns::new("aggpeer").expect("namespace");
    for (h, p, subnet) in [("ha", "pa", 101), ("hb", "pb", 102)] {
        host.ip(&[
            "link",
            "add",
            h,
            "type",
            "veth",
            "peer",
            "name",
            p,
            "netns",
            peer.name(),
        ])
        .unwrap();
        host.ip(&["addr", "add", &format!("10.{subnet}.0.1/24"), "dev", h])
            .unwrap();
        peer.ip(&["addr", "add", &format!("10.{subnet}.0.2/24"), "dev", p])
            .unwrap();
        host.ip(&["link", "set", h, "up"]).unwrap();
        peer.ip(&["link", "set", p, "up"]).unwrap();
        // 50 Mbit/s each way, a queue of about 20 ms.
        for (ns, dev) in [(&host, h), (&peer, p)] {
            ns.run(&[
                "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", "50mbit", "burst", "32kb",
                "latency", "20ms",
            ])
            .unwrap();
        }
    }
    host.sysctl("net.ipv4.ip_forward", "1").unwrap();
    // The peer answers our TUN subnet by the path each subflow came over.
    peer.ip(&["route", "add", "10.100.0.0/24", "via", "10.101.0.1"])
        .unwrap();
    peer.ip(&["rule", "add", "from", "10.102.0.2", "table", "102"])
        .unwrap();
    peer.ip(&[
        "route",
        "add",
        "10.100.0.0/24",
        "via",
        "10.102.0.1",
        "table",
        "102",
    ])
    .unwrap();
    for ns in [&host, &peer] {
        ns.ip(&umptcp_lab::TWO_PATH_LIMITS).unwrap();
    }
    peer.ip(&[
        "mptcp",
        "endpoint",
        "add",
        "10.102.0.2",
        "dev",
        "pb",
        "signal",
    ])
    .unwrap();
    (host, peer)
}

/// What the server saw of one transfer.
struct Received {
    bytes: usize,
    sha256: String,
    mbps: f64,
}

#[test]
// A lab test is a driver: it reads the clock to time the transfers.
#[allow(clippy::disallowed_methods)]
fn lab_aggregation_over_two_shaped_paths_beside_the_kernel() {
    let test = "lab_aggregation_over_two_shaped_paths_beside_the_kernel";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let (host, peer) = topology();
    let listener = run_in(&peer, || {
        kernel_mptcp_listener("0.0.0.0:5000".parse().unwrap())
    })
    .unwrap()
    .expect("kernel MPTCP listener");
    // Sequential transfers: first the kernel client, then ours.
    let server = std::thread::spawn(move || {
        let mut results = Vec::new();
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(120)))
                .unwrap();
            let start = Instant::now();
            let mut data = Vec::with_capacity(SIZE);
            conn.read_to_end(&mut data).unwrap();
            let secs = start.elapsed().as_secs_f64();
            results.push(Received {
                bytes: data.len(),
                sha256: hex(&Sha256::digest(&data)),
                mbps: data.len() as f64 * 8.0 / secs / 1e6,
            });
        }
        results
    });

    // The kernel's client, for comparison.
    let data: Vec<u8> = (0..SIZE)
        .map(|j| (j as u8).wrapping_mul(29).wrapping_add((j >> 13) as u8))
        .collect();
    let server_addr: SocketAddr = "10.101.0.2:5000".parse().unwrap();
    let kernel_sha = hex(&Sha256::digest(&data));
    run_in(&host, || {
        let mut c = kernel_mptcp_connect(server_addr).expect("kernel MPTCP connect");
        c.set_write_timeout(Some(Duration::from_secs(120))).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
    })
    .unwrap();

    // Ours: the binary, its device made in the host namespace. The
    // server is on no subnet of ours: the connection leaves by the
    // default route (the only path) and the host forwards it over ha.
    let out = Command::new("ip")
        .args(["netns", "exec", host.name(), env!("CARGO_BIN_EXE_mptcp")])
        .args([
            "send",
            "--path",
            "agt0=10.100.0.2",
            "--to",
            "10.101.0.2:5000",
        ])
        .args(["--bytes", &format!("{}", SIZE), "--seed", "4", "--json"])
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
    let results = server.join().unwrap();
    let (kernel, ours) = (&results[0], &results[1]);
    assert_eq!(kernel.bytes, SIZE);
    assert_eq!(kernel.sha256, kernel_sha);
    assert_eq!(ours.bytes, SIZE, "the kernel got every byte of ours");
    assert_eq!(
        json_field(json, "sha256"),
        ours.sha256,
        "SHA-256 at both ends"
    );
    assert_eq!(json_field(json, "mptcp"), "true", "{json}");
    let sent: Vec<u64> = json_subflows(json)
        .iter()
        .map(|s| json_field(s, "bytes_sent").parse().unwrap())
        .collect();
    assert_eq!(sent.len(), 2, "a subflow per path: {json}");
    for s in &sent {
        assert!(
            *s >= SIZE as u64 / 4,
            "both paths carry a good share of the data: {json}"
        );
    }
    println!("ours: {json}");
    println!(
        "aggregation over 2 x 50 Mbit/s: ours {:.1} Mbit/s ({:.0} %), kernel {:.1} Mbit/s ({:.0} %); \
         ours/kernel {:.2}",
        ours.mbps,
        ours.mbps,
        kernel.mbps,
        kernel.mbps,
        ours.mbps / kernel.mbps
    );
}
