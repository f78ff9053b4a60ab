//! The `mptcp` binary as a user meets it: help, and one-line errors for
//! mistakes. Nothing here needs root: every error tested is found before a
//! device is opened (the privilege test drops to an unprivileged user when
//! run as root).

use std::process::{Command, Output};

/// Run the built `mptcp` with `args`.
fn mptcp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mptcp"))
        .args(args)
        .output()
        .expect("run the mptcp binary")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Assert that `args` fail with exactly one line on stderr, in our format,
/// containing every one of `wanted`, and nothing on stdout. Returns the line.
fn fails_with_one_line(args: &[&str], wanted: &[&str]) -> String {
    let out = mptcp(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} succeeded: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line:\n{err}");
    assert!(err.ends_with('\n'), "{args:?}: {err:?}");
    assert!(err.starts_with("mptcp: error: "), "{args:?}: {err}");
    for w in wanted {
        assert!(err.contains(w), "{args:?}: {err} does not mention {w:?}");
    }
    assert_eq!(stdout(&out), "", "{args:?}");
    err
}

#[test]
fn top_level_help_explains_the_commands() {
    let out = mptcp(&["--help"]);
    assert!(out.status.success());
    assert_eq!(stderr(&out), "");
    let text = stdout(&out);
    for wanted in [
        "send",
        "recv",
        "TUN",
        "CAP_NET_ADMIN",
        "nc -l 10.9.0.1 5000 > /dev/null &",
        "mptcp send --path tun0=10.9.0.2 --to 10.9.0.1:5000 --bytes 64M",
        "--plain-tcp",
        "mptcp demo",
    ] {
        assert!(text.contains(wanted), "--help lacks {wanted:?}:\n{text}");
    }
    // The short form works too.
    let out = mptcp(&["-h"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("send"));
}

#[test]
fn send_help_documents_every_option() {
    let out = mptcp(&["send", "--help"]);
    assert!(out.status.success());
    assert_eq!(stderr(&out), "");
    let text = stdout(&out);
    for wanted in [
        "--path <DEV=ADDR[/PREFIX]>",
        "--to <HOST:PORT>",
        "--bytes <N>",
        "--file <FILE>",
        "--connect-timeout <SECS>",
        "--plain-tcp",
        "--pcap <FILE>",
        "--loss <PERCENT>",
        "--delay <MS>",
        "--seed <S>",
        "--mtu <BYTES>",
        "sent N bytes sha256 HEX in S s (G Mbit/s)",
        "powers of 1024",
        "CAP_NET_ADMIN",
    ] {
        assert!(
            text.contains(wanted),
            "send --help lacks {wanted:?}:\n{text}"
        );
    }
}

#[test]
fn recv_help_documents_its_options() {
    let out = mptcp(&["recv", "--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for wanted in [
        "--port <PORT>",
        "--count <K>",
        "--output <FILE>",
        "FILE.2",
        "received N bytes sha256 HEX in S s (G Mbit/s)",
    ] {
        assert!(
            text.contains(wanted),
            "recv --help lacks {wanted:?}:\n{text}"
        );
    }
}

#[test]
fn version_prints_and_exits_zero() {
    let out = mptcp(&["--version"]);
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("mptcp "));
}

#[test]
fn no_subcommand_is_one_line() {
    fails_with_one_line(&[], &["subcommand"]);
}

#[test]
fn missing_to_is_named() {
    fails_with_one_line(
        &["send", "--path", "tun0=10.9.0.2", "--bytes", "1M"],
        &["--to"],
    );
}

#[test]
fn missing_path_is_named() {
    fails_with_one_line(
        &["send", "--to", "10.9.0.1:5000", "--bytes", "1M"],
        &["--path"],
    );
}

#[test]
fn missing_data_source_is_named() {
    fails_with_one_line(
        &["send", "--path", "tun0=10.9.0.2", "--to", "10.9.0.1:5000"],
        &["--bytes", "--file"],
    );
}

#[test]
fn both_data_sources_conflict() {
    fails_with_one_line(
        &[
            "send",
            "--path",
            "tun0=10.9.0.2",
            "--to",
            "10.9.0.1:5000",
            "--bytes",
            "1",
            "--file",
            "x",
        ],
        &["--file", "--bytes"],
    );
}

#[test]
fn bad_size_is_named() {
    fails_with_one_line(
        &[
            "send",
            "--path",
            "tun0=10.9.0.2",
            "--to",
            "10.9.0.1:5000",
            "--bytes",
            "12Q",
        ],
        &["12Q", "--bytes", "K, M or G"],
    );
}

#[test]
fn loss_above_100_percent_is_refused() {
    fails_with_one_line(
        &[
            "send",
            "--path",
            "tun0=10.9.0.2",
            "--to",
            "10.9.0.1:5000",
            "--bytes",
            "1M",
            "--loss",
            "150",
        ],
        &["150", "--loss", "0 to 100"],
    );
}

#[test]
fn bad_peer_address_is_named() {
    fails_with_one_line(
        &[
            "send",
            "--path",
            "tun0=10.9.0.2",
            "--to",
            "10.9.0.1",
            "--bytes",
            "1M",
        ],
        &["10.9.0.1", "--to"],
    );
}

#[test]
fn unknown_option_is_named() {
    fails_with_one_line(&["recv", "--bogus"], &["--bogus"]);
}

#[test]
fn recv_needs_a_port() {
    fails_with_one_line(&["recv", "--path", "tun0=10.9.0.2"], &["--port"]);
    fails_with_one_line(
        &["recv", "--path", "tun0=10.9.0.2", "--port", "0"],
        &["--port", "0"],
    );
}

#[test]
fn device_name_longer_than_15_bytes_is_refused() {
    fails_with_one_line(
        &[
            "send",
            "--path",
            "averyveryverylongname=10.9.0.2",
            "--to",
            "10.9.0.1:5000",
            "--bytes",
            "1M",
        ],
        &["averyveryverylongname", "15 bytes"],
    );
}

#[test]
fn bad_path_address_is_named() {
    fails_with_one_line(
        &["recv", "--path", "tun0=10.9.0", "--port", "5000"],
        &["10.9.0", "address"],
    );
}

#[test]
fn exit_status_is_2_for_usage_errors() {
    let out = mptcp(&["send", "--bytes", "12Q"]);
    assert_eq!(out.status.code(), Some(2));
}

// The errors below are found after parsing but before any device is
// opened, so they need no privilege either; their exit status is 1.

#[test]
fn a_peer_of_a_family_no_path_has_is_refused() {
    // Any address of a path's family is routed (the kernel forwards it);
    // one of the other family has no source address to leave from.
    let err = fails_with_one_line(
        &[
            "send",
            "--path",
            "mptcpclit0=10.9.0.2",
            "--to",
            "[2001:db8::1]:5000",
            "--bytes",
            "1M",
        ],
        &[
            "no route to 2001:db8::1",
            "no path has an IPv6 address",
            "mptcpclit0=10.9.0.2/24",
        ],
    );
    assert!(!err.contains("permission"), "{err}");
}

#[test]
fn a_route_through_no_path_is_refused() {
    let err = fails_with_one_line(
        &[
            "send",
            "--path",
            "mptcpclit0=10.9.0.2",
            "--route",
            "192.0.2.0/24=mptcpclit9",
            "--to",
            "192.0.2.1:5000",
            "--bytes",
            "1M",
        ],
        &["192.0.2.0/24=mptcpclit9", "not one of the paths"],
    );
    assert!(!err.contains("permission"), "{err}");
    fails_with_one_line(
        &[
            "send",
            "--path",
            "mptcpclit0=10.9.0.2",
            "--route",
            "192.0.2.0/33=mptcpclit0",
            "--to",
            "192.0.2.1:5000",
            "--bytes",
            "1M",
        ],
        &["--route", "longer than 32 bits"],
    );
}

#[test]
fn unreadable_file_is_reported() {
    let out = mptcp(&[
        "send",
        "--path",
        "mptcpclit0=10.9.0.2",
        "--to",
        "10.9.0.1:5000",
        "--file",
        "/nonexistent/umptcp-cli-input",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "mptcp: error: cannot read /nonexistent/umptcp-cli-input: no such file or directory\n"
    );
}

#[test]
fn unwritable_output_is_reported() {
    fails_with_one_line(
        &[
            "recv",
            "--path",
            "mptcpclit0=10.9.0.2",
            "--port",
            "5000",
            "--output",
            "/nonexistent/umptcp-cli-output",
        ],
        &["cannot write /nonexistent/umptcp-cli-output"],
    );
}

#[test]
fn a_device_named_twice_is_refused() {
    fails_with_one_line(
        &[
            "recv",
            "--path",
            "mptcpclit0=10.9.0.2",
            "--path",
            "mptcpclit0=10.8.0.2",
            "--port",
            "5000",
        ],
        &["mptcpclit0", "two --path"],
    );
}

/// Whether this process runs as root (then opening a TUN device would
/// succeed, and the privilege error cannot be provoked).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(true)
}

#[test]
fn without_privilege_the_device_error_is_one_line() {
    let args = [
        "send",
        "--path",
        "mptcpclit0=10.9.0.2",
        "--to",
        "10.9.0.1:5000",
        "--bytes",
        "1",
        "--connect-timeout",
        "1",
    ];
    // No server is needed: the stack fails to open the device first. As
    // root (CI), drop to an unprivileged user with setpriv(1) so the test
    // still runs.
    let out = if is_root() {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(env!("CARGO_BIN_EXE_mptcp"))
            .args(args)
            .output()
            .expect("setpriv (util-linux) runs")
    } else {
        mptcp(&args)
    };
    let err = stderr(&out);
    assert!(!out.status.success(), "succeeded without privilege: {err}");
    assert_eq!(err.lines().count(), 1, "not one line:\n{err}");
    assert!(err.starts_with("mptcp: error: "), "{err}");
    assert!(err.contains("mptcpclit0"), "{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains("CAP_NET_ADMIN"), "{err}");
}

/// A number field of the demo's one-line JSON object.
fn json_number(json: &str, field: &str) -> f64 {
    let key = format!("\"{field}\":");
    let start = json
        .find(&key)
        .unwrap_or_else(|| panic!("no {field} in {json}"))
        + key.len();
    let rest = &json[start..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].parse().unwrap()
}

#[test]
fn demo_json_reports_the_transfer_over_both_paths() {
    let out = mptcp(&["demo", "--bytes", "4M", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = stdout(&out);
    assert_eq!(json.lines().count(), 1, "one JSON object: {json}");
    assert!(json.contains("\"sha256_match\":true"), "{json}");
    assert_eq!(json_number(&json, "bytes"), (4 << 20) as f64);
    let utilization = json_number(&json, "utilization");
    let goodput = json_number(&json, "goodput_mbps");
    assert!(
        (0.3..=1.0).contains(&utilization),
        "utilization {utilization}: {json}"
    );
    assert!(
        (goodput - utilization * json_number(&json, "link_sum_mbps")).abs() < 0.1,
        "{json}"
    );
    // Both subflows, one per path, each with a share of the bytes.
    assert!(
        json.contains("\"path\":\"A\"") && json.contains("\"path\":\"B\""),
        "{json}"
    );
    // The same arguments give the same run.
    assert_eq!(stdout(&mptcp(&["demo", "--bytes", "4M", "--json"])), json);
}

#[test]
fn demo_prints_a_table_per_subflow() {
    let out = mptcp(&["demo", "--bytes", "2M"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("subflow  path  bytes sent"), "{text}");
    assert!(text.contains("sha256 matches"), "{text}");
    assert_eq!(
        text.lines().count(),
        4,
        "header, two subflows, summary: {text}"
    );
}

#[test]
fn demo_refuses_an_unknown_scheduler() {
    fails_with_one_line(
        &["demo", "--scheduler", "nope"],
        &["scheduler", "nope", "minrtt"],
    );
}

#[test]
fn an_unknown_congestion_control_lists_the_known_ones() {
    let args = [
        "send",
        "--path",
        "t0=10.9.0.2",
        "--to",
        "10.9.0.1:1",
        "--bytes",
        "1",
        "--cc",
        "vegas",
    ];
    let line = fails_with_one_line(
        &args,
        &["'vegas'", "--cc", "lia", "olia", "balia", "wvegas"],
    );
    assert!(line.contains("reno") && line.contains("cubic"), "{line}");
    assert_eq!(mptcp(&args).status.code(), Some(2));
    fails_with_one_line(
        &["experiment", "disjoint", "--tcp-cc", "x"],
        &["'x'", "'--tcp-cc <NAME>'"],
    );
}

#[test]
fn experiment_help_names_every_experiment() {
    let out = mptcp(&["experiment", "--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for wanted in [
        "shared-bottleneck",
        "disjoint",
        "balance",
        "rtt-mismatch",
        "responsiveness",
        "mptcp_share",
        "--json",
        "--out",
        "mptcp experiment shared-bottleneck --cc lia",
    ] {
        assert!(text.contains(wanted), "help lacks {wanted:?}:\n{text}");
    }
    fails_with_one_line(&["experiment", "nonsense"], &["nonsense"]);
}

#[test]
fn an_experiment_writes_its_files_and_one_json_object() {
    let dir = std::env::temp_dir().join(format!("umptcp-cli-exp-{}", std::process::id()));
    let out = mptcp(&[
        "experiment",
        "shared-bottleneck",
        "--cc",
        "lia",
        "--duration",
        "8",
        "--json",
        "--out",
        dir.to_str().expect("utf-8 temp dir"),
    ]);
    let text = stdout(&out);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(text.lines().count(), 1, "{text}");
    for wanted in [
        "{\"experiment\":\"shared-bottleneck\",\"cc\":\"lia\",\"mptcp_share\":",
        "shared-bottleneck-lia.csv\"",
        "shared-bottleneck-lia.png\"",
    ] {
        assert!(text.contains(wanted), "{wanted:?} not in {text}");
    }
}

#[test]
fn unknown_path_manager_and_scheduler_names_list_the_known_ones() {
    let send = [
        "send",
        "--path",
        "t0=10.9.0.2",
        "--to",
        "10.9.0.1:1",
        "--bytes",
        "1",
    ];
    let with = |extra: [&'static str; 2]| {
        let mut args = send.to_vec();
        args.extend(extra);
        args
    };
    fails_with_one_line(
        &with(["--pm", "nope"]),
        &["'nope'", "'--pm <NAME>'", "fullmesh", "ndiffports"],
    );
    fails_with_one_line(
        &with(["--scheduler", "nope"]),
        &["'nope'", "'--scheduler <NAME>'", "minrtt", "redundant"],
    );
    assert_eq!(mptcp(&with(["--pm", "nope"])).status.code(), Some(2));
}

/// A scheduler a program registers is taken by `--scheduler NAME`, and
/// is the one the connection runs.
#[test]
fn a_scheduler_a_program_registers_is_taken_by_name() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use umptcp_proto::{Candidate, MinRtt, PolicyRegistry, Scheduler};

    #[derive(Debug)]
    struct Counting(Arc<AtomicUsize>);
    impl Scheduler for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn pick(&mut self, candidates: &[Candidate]) -> Option<usize> {
            self.0.fetch_add(1, Ordering::Relaxed);
            MinRtt.pick(candidates)
        }
    }
    let picks = Arc::new(AtomicUsize::new(0));
    let mut registry = PolicyRegistry::with_builtins();
    let counter = Arc::clone(&picks);
    registry.register_scheduler_fn("counting", move || Box::new(Counting(Arc::clone(&counter))));
    let args = [
        "mptcp",
        "demo",
        "--scheduler",
        "counting",
        "--bytes",
        "200000",
        "--json",
    ];
    let code = umptcp_cli::main_from(args, registry.clone());
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::SUCCESS)
    );
    assert!(picks.load(Ordering::Relaxed) > 0, "the scheduler ran");
    // Without the registration the same name is a usage error.
    let code = umptcp_cli::main_from(args, PolicyRegistry::with_builtins());
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::from(2))
    );
}

/// `--log debug`: the connections' and subflows' events on stderr, each
/// in its connection's span; the result on stdout as without it.
#[test]
fn log_debug_shows_connection_and_subflow_events_in_their_spans() {
    let out = mptcp(&["demo", "--bytes", "300K", "--json", "--log", "debug"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    let lines: Vec<&str> = log.lines().collect();
    let has = |what: &str| {
        lines
            .iter()
            .any(|l| l.contains("DEBUG") && l.contains(what))
    };
    assert!(has("event=Connected { mptcp: true }"), "{log}");
    assert!(has("subflow opens origin=\"our MP_JOIN\""), "{log}");
    assert!(has("subflow opens origin=\"the peer's MP_JOIN\""), "{log}");
    assert!(has("event=SubflowEstablished(SubflowId(1))"), "{log}");
    assert!(has("event=Closed"), "{log}");
    // Every core line sits in a connection span naming role and token.
    let core: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("umptcp_proto"))
        .collect();
    assert!(!core.is_empty());
    for l in &core {
        assert!(l.contains("mptcp{role=") && l.contains(" token="), "{l}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("subflow{id=1 local=10.0.2.1:")),
        "{log}"
    );
    assert!(
        stdout(&out).contains("\"sha256_match\":true"),
        "{}",
        stdout(&out)
    );
    // Off by default, and at info there is nothing of the connections.
    let quiet = mptcp(&["demo", "--bytes", "300K", "--json"]);
    assert_eq!(stderr(&quiet), "");
    let info = mptcp(&["demo", "--bytes", "300K", "--json", "--log", "info"]);
    assert!(!stderr(&info).contains("umptcp_proto"), "{}", stderr(&info));
}

#[test]
fn convert_and_proxy_help_teach_their_recipes() {
    let out = mptcp(&["convert", "--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for wanted in [
        "RFC 8803",
        "answers the client only once the server has",
        "Connection Reset (the server refused)",
        "Unreachable (with the ICMP code)",
        "Network Failure (no answer",
        "MSG_FASTOPEN",
        "converted CLIENT -> SERVER",
        "--allow",
        "--deny",
        "--max-pending-per-client",
        "--upstream-timeout",
        "sudo mptcp convert --path tun0=10.61.0.2",
    ] {
        assert!(
            text.contains(wanted),
            "convert --help lacks {wanted:?}:\n{text}"
        );
    }
    let out = mptcp(&["proxy", "--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for wanted in [
        "SOCKS5",
        "--converter",
        "--direct",
        "127.0.0.1:1080",
        "curl --socks5-hostname 127.0.0.1:1080",
        "proxied CLIENT -> DEST",
    ] {
        assert!(
            text.contains(wanted),
            "proxy --help lacks {wanted:?}:\n{text}"
        );
    }
    let top = stdout(&mptcp(&["--help"]));
    assert!(
        top.contains("mptcp convert") && top.contains("mptcp proxy"),
        "{top}"
    );
}

#[test]
fn proxy_needs_a_converter_or_direct_and_convert_a_port() {
    fails_with_one_line(
        &["proxy", "--path", "t0=10.9.0.2"],
        &["--converter", "--direct"],
    );
    fails_with_one_line(
        &[
            "proxy",
            "--path",
            "t0=10.9.0.2",
            "--direct",
            "--converter",
            "10.0.0.1:5124",
        ],
        &["--direct", "--converter"],
    );
    fails_with_one_line(&["convert", "--path", "t0=10.9.0.2"], &["--port"]);
    fails_with_one_line(
        &[
            "convert",
            "--path",
            "t0=10.9.0.2",
            "--port",
            "1",
            "--allow",
            "bogus",
        ],
        &["--allow", "bogus"],
    );
}
