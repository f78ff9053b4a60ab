//! Lab, issue 14: the `mptcp` binary and a kernel MPTCP peer two routed
//! hops apart, as a real host reaches a server, in both roles, IPv4 and
//! IPv6, over one and two paths.
//!
//! ```text
//!  namespace host (forwards)            namespace router (forwards)   namespace server
//!  ours 10.20.10.2 ─rta0─ 10.20.10.1 ┐
//!                                    ├ hr 10.20.1.1 ── rh 10.20.1.2
//!  ours 10.20.11.2 ─rtb0─ 10.20.11.1 ┘                  rs 10.20.2.1 ── sr 10.20.2.2  kernel
//!  (IPv6: fd20:10::2, fd20:11::2; fd20:1::/64; fd20:2::/64, the kernel fd20:2::2)
//! ```
//!
//! The TUN devices are made by the binary; the kernel peer is on no subnet
//! of theirs, so every packet crosses the host's and the router's
//! forwarding (the router's counters show it). As a client, `mptcp send`
//! reaches the server by a host name (the host namespace's /etc/hosts)
//! with two paths and by address with one; a second path opens a subflow
//! from our second address (fullmesh). As a server, `mptcp recv` is
//! reached by a kernel MPTCP client, and with two paths it announces the
//! second (ADD_ADDR), which the kernel joins. The data is byte-exact
//! (SHA-256 at both ends) and, with two paths, both subflows carry a share.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{hex, json_field, json_subflows};
use sha2::{Digest, Sha256};
use umptcp_lab::{Netns, kernel_mptcp_connect, kernel_mptcp_listener, require_lab, run_in};

const SIZE: usize = 16 << 20;

/// With two subflows, each must carry at least this much to count as used.
const SPLIT_MIN: u64 = 512 << 10;

const PORT: u16 = 5000;

/// Our TUN devices, in path order.
const DEVICES: [&str; 2] = ["rta0", "rtb0"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    V4,
    V6,
}

impl Family {
    /// Address `host` of the lab's subnet `net` (10.20.NET.HOST or
    /// fd20:NET::HOST).
    fn addr(self, net: u16, host: u16) -> IpAddr {
        match self {
            Family::V4 => format!("10.20.{net}.{host}").parse().unwrap(),
            Family::V6 => format!("fd20:{net}::{host}").parse().unwrap(),
        }
    }

    fn cidr(self, net: u16, host: u16) -> String {
        let len = if self == Family::V4 { 24 } else { 64 };
        format!("{}/{len}", self.addr(net, host))
    }

    /// Our stack's address on path `i` (0 or 1).
    fn ours(self, i: usize) -> IpAddr {
        self.addr(10 + i as u16, 2)
    }

    fn server(self) -> IpAddr {
        self.addr(2, 2)
    }

    fn any(self) -> IpAddr {
        match self {
            Family::V4 => "0.0.0.0".parse().unwrap(),
            Family::V6 => "::".parse().unwrap(),
        }
    }
}

struct Topology {
    host: Netns,
    router: Netns,
    server: Netns,
    family: Family,
}

impl Topology {
    fn new(tag: &str, family: Family) -> Topology {
        let host = Netns::new(&format!("{tag}h")).expect("namespace");
        let router = Netns::new(&format!("{tag}r")).expect("namespace");
        let server = Netns::new(&format!("{tag}s")).expect("namespace");
        let add = |ns: &Netns, addr: String, dev: &str| {
            let mut args = vec!["addr", "add", addr.as_str(), "dev", dev];
            if family == Family::V6 {
                // No duplicate address detection: usable at once.
                args.push("nodad");
            }
            ns.ip(&args).unwrap();
        };
        for (a, a_dev, b, b_dev, net) in [
            (&host, "hr", &router, "rh", 1),
            (&router, "rs", &server, "sr", 2),
        ] {
            a.ip(&[
                "link",
                "add",
                a_dev,
                "type",
                "veth",
                "peer",
                "name",
                b_dev,
                "netns",
                b.name(),
            ])
            .unwrap();
            add(a, family.cidr(net, 1), a_dev);
            add(b, family.cidr(net, 2), b_dev);
            a.ip(&["link", "set", a_dev, "up"]).unwrap();
            b.ip(&["link", "set", b_dev, "up"]).unwrap();
        }
        let (v, default) = match family {
            Family::V4 => ("-4", "default"),
            Family::V6 => ("-6", "default"),
        };
        host.ip(&[
            v,
            "route",
            "add",
            default,
            "via",
            &family.addr(1, 2).to_string(),
        ])
        .unwrap();
        server
            .ip(&[
                v,
                "route",
                "add",
                default,
                "via",
                &family.addr(2, 1).to_string(),
            ])
            .unwrap();
        for net in [10, 11] {
            router
                .ip(&[
                    v,
                    "route",
                    "add",
                    &family.cidr(net, 0),
                    "via",
                    &family.addr(1, 1).to_string(),
                ])
                .unwrap();
        }
        for ns in [&host, &router] {
            match family {
                Family::V4 => ns.sysctl("net.ipv4.ip_forward", "1").unwrap(),
                Family::V6 => ns.sysctl("net.ipv6.conf.all.forwarding", "1").unwrap(),
            }
        }
        server.ip(&umptcp_lab::TWO_PATH_LIMITS).unwrap();
        Topology {
            host,
            router,
            server,
            family,
        }
    }

    /// `--path` arguments for `paths` paths.
    fn path_args(&self, paths: usize) -> Vec<String> {
        let mut args = Vec::new();
        for (i, dev) in DEVICES.iter().enumerate().take(paths) {
            args.push("--path".to_owned());
            args.push(format!("{dev}={}", self.family.ours(i)));
        }
        args
    }

    /// Bytes the router took in on `dev` (`rh` from the host, `rs` from
    /// the server).
    fn router_rx_bytes(&self, dev: &str) -> u64 {
        let text = self
            .router
            .run(&["cat", &format!("/sys/class/net/{dev}/statistics/rx_bytes")])
            .unwrap();
        text.trim().parse().unwrap()
    }
}

/// The test's data, distinct per case.
fn data(salt: u8) -> Vec<u8> {
    (0..SIZE)
        .map(|j| {
            (j as u8)
                .wrapping_mul(37)
                .wrapping_add((j >> 11) as u8 ^ salt)
        })
        .collect()
}

fn check_split(json: &str, paths: usize, field: &str) {
    let subflows = json_subflows(json);
    assert_eq!(subflows.len(), paths, "a subflow per path: {json}");
    if paths > 1 {
        for s in &subflows {
            let n: u64 = json_field(s, field).parse().unwrap();
            assert!(n >= SPLIT_MIN, "each subflow carries data: {json}");
        }
    }
}

/// Our client, two hops from a kernel MPTCP server.
fn our_client(test: &str, tag: &str, family: Family, paths: usize) {
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let t = Topology::new(tag, family);
    let listener = run_in(&t.server, || {
        kernel_mptcp_listener(SocketAddr::new(family.any(), PORT))
    })
    .unwrap()
    .expect("kernel MPTCP listener");
    let server = std::thread::spawn(move || {
        let (mut conn, peer) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        (peer, got.len(), hex(&Sha256::digest(&got)))
    });
    // Two paths: by host name; one path: by address.
    let to = if paths > 1 {
        t.host
            .set_hosts(&format!("{} server.lab\n", family.server()))
            .unwrap();
        format!("server.lab:{PORT}")
    } else {
        SocketAddr::new(family.server(), PORT).to_string()
    };
    let seed = paths + if family == Family::V6 { 10 } else { 0 };
    let before = t.router_rx_bytes("rh");
    let out = Command::new("ip")
        .args(["netns", "exec", t.host.name(), env!("CARGO_BIN_EXE_mptcp")])
        .arg("send")
        .args(t.path_args(paths))
        .args(["--to", &to, "--bytes", &SIZE.to_string(), "--json"])
        .args(["--seed", &seed.to_string()])
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
    let (peer, len, sha) = server.join().unwrap();
    assert_eq!(peer.ip(), family.ours(0), "no NAT on the way: {peer}");
    assert_eq!(len, SIZE, "the kernel got every byte");
    assert_eq!(json_field(json, "sha256"), sha, "SHA-256 at both ends");
    assert_eq!(json_field(json, "mptcp"), "true", "{json}");
    check_split(json, paths, "bytes_sent");
    let crossed = t.router_rx_bytes("rh") - before;
    assert!(
        crossed >= SIZE as u64,
        "the data crossed the router: {crossed} bytes"
    );
}

/// Our server, two hops from a kernel MPTCP client.
fn our_server(test: &str, tag: &str, family: Family, paths: usize) {
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let t = Topology::new(tag, family);
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", t.host.name(), env!("CARGO_BIN_EXE_mptcp")])
        .arg("recv")
        .args(t.path_args(paths))
        .args(["--port", &PORT.to_string(), "--json"]);
    if paths > 1 {
        cmd.args(["--pm", "announce"]);
    }
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mptcp");
    let ours = SocketAddr::new(family.ours(0), PORT);
    let salt = 20 + paths as u8 + if family == Family::V6 { 10 } else { 0 };
    let data = data(salt);
    let want = hex(&Sha256::digest(&data));
    let last_device = DEVICES[paths - 1];
    // Until the binary has made its devices and listener, connecting fails.
    let mut conn = None;
    for _ in 0..100 {
        let links = t.host.ip(&["link", "show"]).unwrap();
        if links.contains(last_device)
            && let Ok(c) = run_in(&t.server, || kernel_mptcp_connect(ours)).unwrap()
        {
            conn = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut conn = conn.expect("the kernel client reaches mptcp recv two hops away");
    conn.set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let before = t.router_rx_bytes("rs");
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
    assert_eq!(json_field(json, "bytes"), SIZE.to_string());
    assert_eq!(json_field(json, "sha256"), want, "SHA-256 at both ends");
    assert_eq!(json_field(json, "mptcp"), "true", "{json}");
    check_split(json, paths, "bytes_received");
    let crossed = t.router_rx_bytes("rs") - before;
    assert!(
        crossed >= SIZE as u64,
        "the data crossed the router: {crossed} bytes"
    );
}

#[test]
fn lab_routed_our_client_ipv4_one_path() {
    our_client("lab_routed_our_client_ipv4_one_path", "rc41", Family::V4, 1);
}

#[test]
fn lab_routed_our_client_ipv4_two_paths() {
    our_client(
        "lab_routed_our_client_ipv4_two_paths",
        "rc42",
        Family::V4,
        2,
    );
}

#[test]
fn lab_routed_our_client_ipv6_one_path() {
    our_client("lab_routed_our_client_ipv6_one_path", "rc61", Family::V6, 1);
}

#[test]
fn lab_routed_our_client_ipv6_two_paths() {
    our_client(
        "lab_routed_our_client_ipv6_two_paths",
        "rc62",
        Family::V6,
        2,
    );
}

#[test]
fn lab_routed_our_server_ipv4_one_path() {
    our_server("lab_routed_our_server_ipv4_one_path", "rs41", Family::V4, 1);
}

#[test]
fn lab_routed_our_server_ipv4_two_paths() {
    our_server(
        "lab_routed_our_server_ipv4_two_paths",
        "rs42",
        Family::V4,
        2,
    );
}

#[test]
fn lab_routed_our_server_ipv6_one_path() {
    our_server("lab_routed_our_server_ipv6_one_path", "rs61", Family::V6, 1);
}

#[test]
fn lab_routed_our_server_ipv6_two_paths() {
    our_server(
        "lab_routed_our_server_ipv6_two_paths",
        "rs62",
        Family::V6,
        2,
    );
}
