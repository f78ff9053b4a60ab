//! Lab: transparent capture. A kernel client connects to an address that
//! exists nowhere; a route sends that destination into our TUN device,
//! where a capture listener accepts the connection, sees the address the
//! client meant to reach as its local address, and carries data both ways
//! byte-exact. IPv4 and IPv6, with the kernel's plain TCP and with its
//! MPTCP (which our MPTCP capture listener speaks back).
//!
//! Topology (one namespace per test): our stack creates `mc0` with the
//! kernel-side address 10.93.0.1/24 (fd93::1/64), ours 10.93.0.2
//! (fd93::2); the namespace routes 203.0.113.0/24 (2001:db8:93::/64), a
//! documentation prefix no host has, into `mc0`.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream as KernelStream};
use std::time::Duration;

use sha2::{Digest, Sha256};
use umptcp_lab::{Netns, kernel_mptcp_connect, require_lab, run_in};
use umptcp_tun::{Listener, ListenerOptions, MptcpSettings, PathConfig, Stack, StackConfig};

const SIZE: usize = 4 << 20;

struct Family {
    ours: &'static str,
    kernel: &'static str,
    routed: &'static str,
    /// An address in the routed prefix, the client's destination.
    nowhere: &'static str,
}

const V4: Family = Family {
    ours: "10.93.0.2",
    kernel: "10.93.0.1",
    routed: "203.0.113.0/24",
    nowhere: "203.0.113.9",
};

const V6: Family = Family {
    ours: "fd93::2",
    kernel: "fd93::1",
    routed: "2001:db8:93::/64",
    nowhere: "2001:db8:93::9",
};

fn data(seed: u8) -> Vec<u8> {
    (0..SIZE)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn capture(test: &str, tag: &str, family: &Family, kernel_mptcp: bool) {
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new(tag).expect("namespace");
    let mut config = StackConfig::new(vec![PathConfig::new("mc0", family.ours.parse().unwrap())]);
    config.seed = Some(93);
    config.mptcp = Some(MptcpSettings::default());
    let stack = run_in(&ns, || Stack::start(config))
        .expect("enter namespace")
        .expect("stack starts");
    ns.ip(&["route", "add", family.routed, "dev", "mc0"])
        .expect("route the prefix into the TUN device");
    let mut listener = Listener::capture(&stack, "mc0", ListenerOptions::new()).expect("capture");
    listener.set_accept_timeout(Some(Duration::from_secs(10)));

    let target = SocketAddr::new(family.nowhere.parse().unwrap(), 8443);
    let upload = data(1);
    let download = data(2);
    let client = {
        let ns = &ns;
        let to_send = upload.clone();
        std::thread::scope(|scope| {
            let client = scope.spawn(move || {
                let mut s = run_in(ns, || {
                    if kernel_mptcp {
                        kernel_mptcp_connect(target)
                    } else {
                        KernelStream::connect_timeout(&target, Duration::from_secs(10))
                    }
                })
                .unwrap()
                .expect("the kernel connects to an address that is nowhere");
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let local = s.local_addr().unwrap();
                s.write_all(&to_send).unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                let mut got = Vec::new();
                s.read_to_end(&mut got).unwrap();
                (local, got)
            });
            let (mut conn, peer) = listener.accept().expect("the capture listener accepts");
            assert_eq!(conn.local_addr(), target, "the original destination");
            assert_eq!(peer.ip(), family.kernel.parse::<IpAddr>().unwrap());
            conn.set_read_timeout(Some(Duration::from_secs(30)));
            let mut got = Vec::new();
            conn.read_to_end(&mut got).expect("our side reads");
            assert_eq!(
                Sha256::digest(&got),
                Sha256::digest(&upload),
                "client to us, byte-exact"
            );
            conn.write_all(&download).expect("our side writes");
            let info = conn.mptcp_info().expect("info").expect("an MPTCP listener");
            drop(conn);
            let (local, got) = client.join().expect("client thread");
            assert_eq!(local, peer, "both ends agree on the four-tuple");
            (got, info)
        })
    };
    let (got, info) = client;
    assert_eq!(
        Sha256::digest(&got),
        Sha256::digest(&download),
        "us to client, byte-exact"
    );
    assert_eq!(
        info.mptcp, kernel_mptcp,
        "MPTCP exactly when the client offered it: {info:?}"
    );
    stack.shutdown(Duration::from_secs(5)).expect("stack stops");
}

#[test]
fn lab_capture_kernel_tcp_client_ipv4() {
    capture("lab_capture_kernel_tcp_client_ipv4", "cap4", &V4, false);
}

#[test]
fn lab_capture_kernel_tcp_client_ipv6() {
    capture("lab_capture_kernel_tcp_client_ipv6", "cap6", &V6, false);
}

#[test]
fn lab_capture_kernel_mptcp_client_ipv4() {
    capture("lab_capture_kernel_mptcp_client_ipv4", "capm", &V4, true);
}
