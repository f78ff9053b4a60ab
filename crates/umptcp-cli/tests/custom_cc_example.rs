//! `examples/custom_cc.rs`, a coupled controller written outside the
//! crates (EWTCP), registered by name: it runs in the simulator, and it
//! runs on TUN with `send --cc ewtcp` against the kernel's MPTCP.
//!
//! `cargo test` builds the examples with the tests; the binary is found
//! beside the test's own (`target/<profile>/examples/custom_cc`).

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output};

use common::{hex, json_field};
use sha2::{Digest, Sha256};
use umptcp_lab::{Netns, kernel_mptcp_listener, nstat, require_lab, run_in};

/// The example's binary, built by `cargo test` beside this test.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join("custom_cc");
    assert!(
        path.exists(),
        "{} is missing: `cargo test -p umptcp-cli` builds it (or `cargo build -p umptcp-cli --example custom_cc`)",
        path.display()
    );
    path
}

fn run(args: &[&str]) -> Output {
    Command::new(example())
        .args(args)
        .output()
        .expect("run the example")
}

#[test]
fn the_example_controller_runs_in_the_simulator_by_name() {
    let dir = std::env::temp_dir().join(format!("custom-cc-{}", std::process::id()));
    let out = run(&[
        "experiment",
        "shared-bottleneck",
        "--cc",
        "ewtcp",
        "--duration",
        "30",
        "--json",
        "--out",
        dir.to_str().expect("utf-8 temp dir"),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"cc\":\"ewtcp\""), "{stdout}");
    let share: f64 = json_field(&stdout, "mptcp_share").parse().unwrap();
    // EWTCP weights each of the two subflows by 1/4: together about one
    // TCP flow's share, clearly less than two uncoupled flows' 2/3.
    assert!((0.35..0.62).contains(&share), "ewtcp share {share}");
    // The binary's own built-ins do not know the name.
    let plain = Command::new(env!("CARGO_BIN_EXE_mptcp"))
        .args(["experiment", "shared-bottleneck", "--cc", "ewtcp"])
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(2));
}

#[test]
fn lab_the_example_controller_sends_over_tun_to_the_kernel() {
    let test = "lab_the_example_controller_sends_over_tun_to_the_kernel";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let ns = Netns::new("ccex").expect("namespace");
    ns.ip(&["tuntap", "add", "dev", "ccx0", "mode", "tun"])
        .unwrap();
    ns.ip(&["addr", "add", "10.93.0.1/24", "dev", "ccx0"])
        .unwrap();
    ns.ip(&["link", "set", "ccx0", "up"]).unwrap();
    let listener = run_in(&ns, || {
        kernel_mptcp_listener("10.93.0.1:5000".parse().unwrap())
    })
    .unwrap()
    .expect("kernel MPTCP listener");
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut data = Vec::new();
        conn.read_to_end(&mut data).unwrap();
        (data.len() as u64, hex(&Sha256::digest(&data)))
    });
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(example())
        .args(["send", "--path", "ccx0=10.93.0.2", "--to", "10.93.0.1:5000"])
        .args(["--bytes", "16M", "--cc", "ewtcp", "--json"])
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "send --cc ewtcp failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (received, kernel_sha) = server.join().unwrap();
    assert_eq!(received, 16 << 20, "the kernel got every byte");
    assert_eq!(
        json_field(&stdout, "sha256"),
        kernel_sha,
        "SHA-256 at both ends"
    );
    assert_eq!(json_field(&stdout, "mptcp"), "true", "{stdout}");
    let counters = nstat(&ns).unwrap();
    assert!(
        counters.get("MPTcpExtMPCapableACKRX").copied().unwrap_or(0) >= 1,
        "{counters:?}"
    );
}
