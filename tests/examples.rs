//! The root examples as a user runs them: `simulated` in virtual time
//! (anywhere), `tokio_echo` and `echo_server` in the lab against kernel
//! MPTCP clients.
//! `cargo test` builds the examples before it runs this (with
//! `--all-features` for `tokio_echo`, as `.ci/run` does).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use umptcp_lab::{Netns, kernel_mptcp_connect, require_lab, run_in};

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

/// Run the echo example `name` in a namespace of its own against
/// `CLIENTS` kernel MPTCP clients, each sending 64 KiB.
fn echo_example(test: &str, name: &str, tag: &str, subnet: u8) {
    let Some(_lab) = require_lab(test) else {
        return;
    };
    const CLIENTS: usize = 40;
    const SIZE: usize = 64 * 1024;
    let ns = Netns::new(tag).expect("namespace");
    let mut server = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(example(name))
        .arg("--path")
        .arg(format!("mx{tag}=10.{subnet}.0.2"))
        .args(["--port", "7007"])
        .args(["--connections", &CLIENTS.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    // The device and the listener are up once it says so.
    let mut said = String::new();
    BufReader::new(server.stderr.take().expect("stderr"))
        .read_line(&mut said)
        .unwrap_or_else(|e| panic!("{name} starts: {e}"));
    assert_eq!(said.trim(), "echoing on port 7007");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|k| {
            let server: SocketAddr = format!("10.{subnet}.0.2:7007").parse().unwrap();
            let conn = run_in(&ns, || kernel_mptcp_connect(server))
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
    let out = server.wait_with_output().expect("the example ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{name} failed: {stdout}");
    assert_eq!(exact, CLIENTS, "every client got its bytes back");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), CLIENTS, "a line per connection: {stdout}");
    let expected = format!("mptcp=true subflows=1 echoed={SIZE}");
    assert!(lines.iter().all(|l| l.ends_with(&expected)), "{stdout}");
}

#[test]
fn lab_the_tokio_echo_example_echoes_kernel_mptcp_clients() {
    echo_example(
        "lab_the_tokio_echo_example_echoes_kernel_mptcp_clients",
        "tokio_echo",
        "exa",
        101,
    );
}

#[test]
fn lab_the_echo_server_example_echoes_kernel_mptcp_clients() {
    echo_example(
        "lab_the_echo_server_example_echoes_kernel_mptcp_clients",
        "echo_server",
        "exb",
        102,
    );
}

#[test]
fn lab_the_client_example_sends_a_file_over_two_paths_to_a_kernel_server() {
    let test = "lab_the_client_example_sends_a_file_over_two_paths_to_a_kernel_server";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    const SIZE: usize = 2 << 20;
    let ns = Netns::new("exc").expect("namespace");
    ns.ip(&umptcp_lab::TWO_PATH_LIMITS).expect("MPTCP limits");
    let listener = run_in(&ns, || {
        umptcp_lab::kernel_mptcp_listener("0.0.0.0:5000".parse().unwrap())
    })
    .expect("enter namespace")
    .expect("kernel MPTCP listener");
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("kernel accepts");
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut data = Vec::new();
        conn.read_to_end(&mut data).expect("kernel reads");
        write!(conn, "got {}", data.len()).expect("kernel answers");
        data
    });
    let file = std::env::temp_dir().join(format!("mptcp-client-example-{}", std::process::id()));
    let content: Vec<u8> = (0..SIZE).map(|j| (j % 251) as u8).collect();
    std::fs::write(&file, &content).expect("the file to send");
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(example("client"))
        .args(["--path", "mxca=10.103.0.2", "--path", "mxcb=10.104.0.2"])
        .args(["--to", "10.103.0.1:5000", "--file"])
        .arg(&file)
        .output()
        .expect("run client");
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("got {SIZE}"));
    let received = server.join().expect("server thread");
    assert!(
        received == content,
        "{} of {SIZE} bytes, exact",
        received.len()
    );
    assert!(
        stderr.contains(&format!("sent {SIZE} bytes, MPTCP true")),
        "{stderr}"
    );
    let subflows = stderr.lines().filter(|l| l.starts_with("subflow ")).count();
    assert_eq!(subflows, 2, "a subflow over each path: {stderr}");
    assert!(
        stderr.contains("10.104.0.2:"),
        "the second path's subflow: {stderr}"
    );
}

/// The subflow lines of the custom_scheduler example: (address, bytes).
fn subflow_bytes(stdout: &str) -> Vec<(String, u64)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("subflow "))
        .map(|l| {
            let (head, tail) = l
                .split_once(": ")
                .expect("subflow ID from ADDR: N bytes sent");
            let from = head.split(" from ").nth(1).unwrap().to_owned();
            (from, tail.split(' ').next().unwrap().parse().unwrap())
        })
        .collect()
}

#[test]
fn the_custom_scheduler_example_is_chosen_by_name_in_the_simulator() {
    let run = |scheduler: &str| {
        let out = Command::new(example("custom_scheduler"))
            .args(["simulate", "--scheduler", scheduler, "--bytes", "3000000"])
            .output()
            .expect("run custom_scheduler");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.ends_with(&format!("sent 3000000 bytes with scheduler {scheduler}\n")),
            "{stdout}"
        );
        subflow_bytes(&stdout)
    };
    // The registered scheduler keeps every byte on the first subflow...
    let sticky = run("sticky");
    assert_eq!(sticky.len(), 2, "{sticky:?}");
    assert_eq!((sticky[0].1, sticky[1].1), (3_000_000, 0), "{sticky:?}");
    // ...where the built-in default, on the same paths, uses both.
    let minrtt = run("minrtt");
    assert!(minrtt.iter().all(|(_, b)| *b > 100_000), "{minrtt:?}");
    let out = Command::new(example("custom_scheduler"))
        .args(["simulate", "--scheduler", "nope"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("unknown scheduler \"nope\"") && stderr.contains("sticky"),
        "{stderr}"
    );
}

#[test]
fn lab_the_custom_scheduler_example_is_chosen_by_name_on_tun() {
    let test = "lab_the_custom_scheduler_example_is_chosen_by_name_on_tun";
    let Some(_lab) = require_lab(test) else {
        return;
    };
    const SIZE: usize = 4 << 20;
    let ns = Netns::new("exs").expect("namespace");
    ns.ip(&umptcp_lab::TWO_PATH_LIMITS).expect("MPTCP limits");
    let listener = run_in(&ns, || {
        umptcp_lab::kernel_mptcp_listener("0.0.0.0:5000".parse().unwrap())
    })
    .expect("enter namespace")
    .expect("kernel MPTCP listener");
    let server = std::thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().expect("kernel accepts");
            conn.set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            let mut n = 0;
            let mut buf = vec![0; 64 * 1024];
            loop {
                match conn.read(&mut buf).expect("kernel reads") {
                    0 => break,
                    k => n += k,
                }
            }
            got.push(n);
        }
        got
    });
    let run = |scheduler: &str| {
        let out = Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .arg(example("custom_scheduler"))
            .args([
                "send",
                "--path",
                "mxsa=10.105.0.2",
                "--path",
                "mxsb=10.106.0.2",
            ])
            .args(["--to", "10.105.0.1:5000", "--scheduler", scheduler])
            .args(["--bytes", &SIZE.to_string()])
            .output()
            .expect("run custom_scheduler");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.ends_with(&format!("sent {SIZE} bytes with scheduler {scheduler}\n")),
            "{stdout}"
        );
        let subflows = subflow_bytes(&stdout);
        assert_eq!(subflows.len(), 2, "a subflow over each path: {stdout}");
        assert!(subflows[1].0.starts_with("10.106.0.2:"), "{stdout}");
        subflows
    };
    let sticky = run("sticky");
    // (Bytes sent count retransmissions too.)
    assert!(
        sticky[0].1 >= SIZE as u64 && sticky[1].1 == 0,
        "every byte on the first subflow: {sticky:?}"
    );
    let minrtt = run("minrtt");
    assert!(
        minrtt[1].1 > 0 && minrtt[0].1 + minrtt[1].1 >= SIZE as u64,
        "the default uses the second path too: {minrtt:?}"
    );
    assert_eq!(server.join().expect("server"), [SIZE, SIZE]);
}
