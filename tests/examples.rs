//! The root examples as a user runs them: `simulated` in virtual time
//! (anywhere), `tokio_echo` in the lab against kernel MPTCP clients.
//! `cargo test` builds the examples before it runs this (with
//! `--all-features` for `tokio_echo`, as `.ci/run` does).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use mptcp_lab::{Netns, kernel_mptcp_connect, require_lab, run_in};

/// The built example `name` (next to this test's own binary).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test --workspace --all-features`, which builds the examples",
        path.display()
    );
    path
}

#[test]
fn the_simulated_example_moves_its_bytes_over_both_paths() {
    let out = Command::new(example("simulated"))
        .args(["--bytes", "4000000", "--rates", "40", "10", "--seed", "3"])
        .output()
        .expect("run simulated");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("received 4000000 bytes in ") && last.ends_with("over 40 + 10 Mbit/s"),
        "{stdout}"
    );
    let sent: Vec<u64> = stdout
        .lines()
        .filter(|l| l.starts_with("subflow "))
        .map(|l| {
            l.split(": ")
                .nth(1)
                .and_then(|b| b.split(' ').next())
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(sent.len(), 2, "two subflows: {stdout}");
    assert!(
        sent.iter().all(|&b| b > 100_000),
        "both paths carry data: {stdout}"
    );
    let help = Command::new(example("simulated"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--bytes"));
}

#[test]
fn lab_the_tokio_echo_example_echoes_kernel_mptcp_clients() {
    let test = "lab_the_tokio_echo_example_echoes_kernel_mptcp_clients";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    const CLIENTS: usize = 40;
    const SIZE: usize = 64 * 1024;
    let ns = Netns::new("exech").expect("namespace");
    let mut server = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(example("tokio_echo"))
        .args(["--path", "mxe0=10.101.0.2", "--port", "7007"])
        .args(["--connections", &CLIENTS.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tokio_echo");
    // The device and the listener are up once it says so.
    let mut said = String::new();
    BufReader::new(server.stderr.take().expect("stderr"))
        .read_line(&mut said)
        .expect("tokio_echo starts");
    assert_eq!(said.trim(), "echoing on port 7007");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|k| {
            let conn = run_in(&ns, || {
                kernel_mptcp_connect("10.101.0.2:7007".parse().unwrap())
            })
            .expect("enter namespace")
            .expect("kernel connects");
            std::thread::spawn(move || {
                let mut conn = conn;
                conn.set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                let sent: Vec<u8> = (0..SIZE).map(|j| (j as u8) ^ (k as u8)).collect();
                let mut reader = conn.try_clone().unwrap();
                let echo = std::thread::spawn(move || {
                    let mut back = Vec::new();
                    reader.read_to_end(&mut back).map(|_| back)
                });
                conn.write_all(&sent).unwrap();
                conn.shutdown(std::net::Shutdown::Write).unwrap();
                echo.join()
                    .unwrap()
                    .map(|back| back == sent)
                    .unwrap_or(false)
            })
        })
        .collect();
    let exact = clients
        .into_iter()
        .map(|c| c.join().unwrap_or(false))
        .filter(|&ok| ok)
        .count();
    let out = server.wait_with_output().expect("tokio_echo ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "tokio_echo failed: {stdout}");
    assert_eq!(exact, CLIENTS, "every client got its bytes back");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), CLIENTS, "a line per connection: {stdout}");
    let expected = format!("mptcp=true subflows=1 echoed={SIZE}");
    assert!(lines.iter().all(|l| l.ends_with(&expected)), "{stdout}");
}
