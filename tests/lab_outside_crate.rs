//! Lab: the facade as a program outside the workspace uses it. A
//! throwaway crate (made under `target/`, its own workspace, depending on
//! `umptcp` by path) builds the two programs of `examples/outside/` (the
//! README shows them), and each opens an MPTCP connection over two TUN
//! paths to a kernel MPTCP server: one with the blocking API, one with
//! the async API on tokio.
//!
//! Topology (one namespace per test): two TUN devices made by the stack,
//! the kernel's addresses `.1` and ours `.2` on each.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use umptcp_lab::{Netns, kernel_mptcp_listener, nstat, require_lab, run_in};

const PROGRAMS: [&str; 2] = ["blocking", "tokio"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Build the throwaway crate once; the path of its binaries.
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = root().join("target/outside-crate");
        std::fs::create_dir_all(dir.join("src/bin")).expect("crate directory");
        let manifest = format!(
            "[package]\nname = \"outside\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             # Its own workspace: nothing of the project's but the facade.\n[workspace]\n\n\
             [dependencies]\numptcp = {{ path = {:?}, features = [\"tokio\"] }}\n\
             tokio = {{ version = \"1\", features = [\"rt-multi-thread\", \"macros\", \"io-util\"] }}\n",
            root().display().to_string()
        );
        std::fs::write(dir.join("Cargo.toml"), manifest).expect("manifest");
        // The project's versions of every dependency it shares.
        std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
        for program in PROGRAMS {
            std::fs::copy(
                root().join(format!("examples/outside/{program}.rs")),
                dir.join(format!("src/bin/{program}.rs")),
            )
            .expect("program source");
        }
        let target = root().join("target/outside-target");
        let out = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "the outside crate does not build:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("debug")
    })
}

/// Run `program` in a namespace of its own against a kernel MPTCP server
/// that reads everything and answers with the count.
fn program_over_two_paths(test: &str, program: &str, tag: &str, subnet: u8) {
    let Some(_lab) = require_lab(test) else {
        return;
    };
    let binary = built().join(program);
    let ns = Netns::new(tag).expect("namespace");
    ns.ip(&umptcp_lab::TWO_PATH_LIMITS).expect("MPTCP limits");
    let listener = run_in(&ns, || {
        kernel_mptcp_listener("0.0.0.0:5000".parse().unwrap())
    })
    .expect("enter namespace")
    .expect("kernel MPTCP listener");
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("kernel accepts");
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut data = Vec::new();
        conn.read_to_end(&mut data).expect("kernel reads");
        let exact = data.iter().all(|&b| b == b'x');
        write!(conn, "got {}", data.len()).expect("kernel answers");
        exact
    });
    let (a, b) = (subnet, subnet + 1);
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(&binary)
        .arg(format!("mo{tag}a=10.{a}.0.2"))
        .arg(format!("mo{tag}b=10.{b}.0.2"))
        .arg(format!("10.{a}.0.1:5000"))
        .output()
        .expect("run the program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{program} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        server.join().expect("server thread"),
        "the kernel got 1 MiB of 'x'"
    );
    assert_eq!(
        stdout.trim(),
        "mptcp=true subflows=2 answer=got 1048576",
        "{program}'s result line"
    );
    let counter = |name: &str| nstat(&ns).expect("nstat").get(name).copied().unwrap_or(0);
    assert!(counter("MPTcpExtMPCapableSYNRX") >= 1, "an MPTCP SYN");
    assert!(
        counter("MPTcpExtMPJoinAckRx") >= 1,
        "a subflow joined over the second path"
    );
}

#[test]
fn lab_outside_crate_blocking_program_over_two_paths_to_a_kernel_server() {
    program_over_two_paths(
        "lab_outside_crate_blocking_program_over_two_paths_to_a_kernel_server",
        "blocking",
        "ob",
        97,
    );
}

#[test]
fn lab_outside_crate_tokio_program_over_two_paths_to_a_kernel_server() {
    program_over_two_paths(
        "lab_outside_crate_tokio_program_over_two_paths_to_a_kernel_server",
        "tokio",
        "ot",
        99,
    );
}

/// The README shows the two programs as they are, and each is under 40
/// lines.
#[test]
fn the_readme_shows_the_outside_programs_verbatim() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    for program in PROGRAMS {
        let source = std::fs::read_to_string(root().join(format!("examples/outside/{program}.rs")))
            .expect("program source");
        assert!(
            source.lines().count() < 40,
            "{program}.rs is 40 lines or more"
        );
        assert!(
            readme.contains(&source),
            "README.md does not show examples/outside/{program}.rs as it is"
        );
    }
}
