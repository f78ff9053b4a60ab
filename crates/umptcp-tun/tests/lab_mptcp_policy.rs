//! Lab: per-connection policies in the driver, against the kernel's MPTCP
//! (LAB.md). The stack's own path manager is `manual` (it opens and
//! announces nothing); a connection or a listener given a policy of its
//! own behaves by that policy instead, and one without keeps the stack's.
//!
//! Topology (one namespace per test): two TUN devices made by the stack,
//! the kernel's addresses `.1` and ours `.2` on each.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use sha2::{Digest, Sha256};
use umptcp_cc::CcConfig;
use umptcp_lab::{Netns, kernel_mptcp_connect, kernel_mptcp_listener, nstat, require_lab, run_in};
use umptcp_proto::path_manager::Announce;
use umptcp_tun::{
    ConnectOptions, ConnectionPolicy, Listener, ListenerOptions, MptcpSettings, PathConfig,
    PolicyFactory, Stack, StackConfig, Stream,
};

const SIZE: usize = 8 << 20;

fn data(seed: u8) -> Vec<u8> {
    (0..SIZE)
        .map(|j| {
            (j as u8)
                .wrapping_mul(31)
                .wrapping_add((j >> 11) as u8 ^ seed)
        })
        .collect()
}

/// A stack over two devices whose own path manager is `manual`.
fn manual_stack(ns: &Netns, devices: [(&str, &str); 2]) -> Stack {
    let paths = devices
        .iter()
        .map(|(dev, addr)| PathConfig::new(*dev, addr.parse().unwrap()))
        .collect();
    let mut config = StackConfig::new(paths);
    config.seed = Some(5);
    let mut settings = MptcpSettings::default();
    settings.path_manager = "manual".to_owned();
    config.mptcp = Some(settings);
    run_in(ns, || Stack::start(config))
        .expect("enter namespace")
        .expect("stack starts")
}

fn counter(ns: &Netns, name: &str) -> u64 {
    nstat(ns).expect("nstat").get(name).copied().unwrap_or(0)
}

/// A client connection with `fullmesh`, round-robin and Reno by name
/// joins from the stack's second address and spreads data over both
/// subflows; the next connection, with no policy, keeps the stack's
/// `manual` and one subflow. The kernel gets both byte-exact.
#[test]
fn lab_a_connection_policy_replaces_the_stack_path_manager() {
    let test = "lab_a_connection_policy_replaces_the_stack_path_manager";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("polc").expect("namespace");
    ns.ip(&umptcp_lab::TWO_PATH_LIMITS).unwrap();
    let listener = run_in(&ns, || {
        kernel_mptcp_listener("0.0.0.0:5000".parse().unwrap())
    })
    .unwrap()
    .expect("kernel MPTCP listener");
    let server = std::thread::spawn(move || {
        (0..2)
            .map(|_| {
                let (mut conn, _) = listener.accept().unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                let mut got = Vec::new();
                conn.read_to_end(&mut got).unwrap();
                Sha256::digest(&got).to_vec()
            })
            .collect::<Vec<_>>()
    });
    let stack = manual_stack(&ns, [("mpa0", "10.98.0.2"), ("mpb0", "10.99.0.2")]);
    let remote: SocketAddr = "10.98.0.1:5000".parse().unwrap();
    let policy = ConnectionPolicy::by_names(
        Some("fullmesh"),
        Some("roundrobin"),
        Some("reno"),
        &umptcp_proto::PolicyRegistry::with_builtins(),
        &CcConfig::default(),
    )
    .expect("known names");
    let mut infos = Vec::new();
    let mut sent = Vec::new();
    for policy in [Some(policy), None] {
        let mut options = ConnectOptions::new().timeout(Duration::from_secs(10));
        if let Some(p) = policy {
            options = options.policy(p);
        }
        let mut stream = Stream::connect_with(&stack, remote, options).expect("connect");
        let bytes = data(infos.len() as u8);
        stream.write_all(&bytes).expect("write");
        stream.shutdown(Shutdown::Write).expect("shutdown");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).expect("the kernel closes");
        infos.push(
            stream
                .mptcp_info()
                .expect("info")
                .expect("an MPTCP connection"),
        );
        sent.push(Sha256::digest(&bytes).to_vec());
    }
    assert_eq!(server.join().unwrap(), sent, "SHA-256 at both ends");
    let with_policy = &infos[0];
    assert!(with_policy.mptcp, "{with_policy:?}");
    assert_eq!(
        with_policy.subflows.len(),
        2,
        "fullmesh joined: {with_policy:?}"
    );
    assert!(
        with_policy
            .subflows
            .iter()
            .all(|s| s.bytes_sent > (SIZE / 8) as u64),
        "round-robin uses both: {with_policy:?}"
    );
    assert_eq!(
        infos[1].subflows.len(),
        1,
        "manual opens none: {:?}",
        infos[1]
    );
    assert!(counter(&ns, "MPTcpExtMPJoinAckRx") >= 1);
    stack.shutdown(Duration::from_secs(5)).expect("stack stops");
}

/// A listener with an `announce` policy: for each connection it accepts
/// our server announces its second address, and the kernel client joins
/// it, although the stack's own path manager is `manual`.
#[test]
fn lab_a_listener_policy_announces_for_every_connection() {
    let test = "lab_a_listener_policy_announces_for_every_connection";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("poll").expect("namespace");
    ns.ip(&umptcp_lab::TWO_PATH_LIMITS).unwrap();
    let stack = manual_stack(&ns, [("mla0", "10.98.0.2"), ("mlb0", "10.99.0.2")]);
    let policies =
        PolicyFactory::new(|| ConnectionPolicy::new().with_path_manager(Box::new(Announce)));
    let mut listener =
        Listener::bind_with(&stack, 5000, ListenerOptions::new().policy(policies)).expect("listen");
    listener.set_accept_timeout(Some(Duration::from_secs(10)));
    let target: SocketAddr = "10.98.0.2:5000".parse().unwrap();
    for round in 0..2u8 {
        let bytes = data(round);
        let client = {
            let ns = &ns;
            let bytes = bytes.clone();
            std::thread::scope(|scope| {
                let client = scope.spawn(move || {
                    let mut s = run_in(ns, || kernel_mptcp_connect(target))
                        .unwrap()
                        .expect("kernel connects");
                    s.write_all(&bytes).unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                    let mut rest = Vec::new();
                    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                    s.read_to_end(&mut rest).unwrap();
                });
                let (mut stream, _) = listener.accept().expect("accept");
                let mut got = Vec::new();
                stream.read_to_end(&mut got).expect("read");
                stream.shutdown(Shutdown::Write).expect("shutdown");
                client.join().unwrap();
                (got, stream)
            })
        };
        let (got, stream) = client;
        assert!(got == bytes, "round {round}: {} of {SIZE} bytes", got.len());
        // The join may still be settling when the data is through: look
        // for up to 5 s.
        let mut info = stream.mptcp_info().expect("info").expect("MPTCP");
        for _ in 0..250 {
            if info.subflows.len() >= 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            info = stream.mptcp_info().expect("info").expect("MPTCP");
        }
        assert!(
            info.subflows.len() >= 2,
            "round {round}: the kernel joined: {info:?}"
        );
    }
    assert!(
        counter(&ns, "MPTcpExtAddAddr") >= 2,
        "one ADD_ADDR per connection"
    );
    assert_eq!(counter(&ns, "MPTcpExtAddAddrDrop"), 0);
    stack.shutdown(Duration::from_secs(5)).expect("stack stops");
}
