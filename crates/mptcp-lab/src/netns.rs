//! Network namespaces that clean up after themselves, and running code in one.

use std::io;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys;

/// Counter that makes namespace names unique within this process.
static NEXT_NETNS: AtomicU32 = AtomicU32::new(0);

/// A named network namespace (`ip netns add`), deleted on drop.
///
/// The name is `ml<pid>-<n>-<tag>`, unique across parallel tests and
/// processes. Its loopback is up. Dropping it runs `ip netns del`, also when
/// a test panics; the kernel frees the namespace (and any TUN device in it)
/// once the last socket or thread inside it is gone.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create a namespace whose name ends with `tag` (at most 12 characters
    /// are kept), with its loopback up.
    ///
    /// # Errors
    ///
    /// `ip netns add` or `ip link set lo up` fails (no root, no `ip`).
    pub fn new(tag: &str) -> io::Result<Self> {
        let n = NEXT_NETNS.fetch_add(1, Ordering::Relaxed);
        let tag: String = tag
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        let name = format!("ml{}-{n}-{tag}", std::process::id());
        checked(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns list` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file that holds the namespace (`/run/netns/NAME`).
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Run `args` inside the namespace (`ip netns exec NAME args...`) and
    /// return its output, whatever its exit status.
    ///
    /// # Errors
    ///
    /// The command cannot be started.
    pub fn exec(&self, args: &[&str]) -> io::Result<Output> {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
    }

    /// Run `args` inside the namespace and return its standard output.
    ///
    /// # Errors
    ///
    /// The command cannot be started or exits with a failure; the error
    /// names the command and carries its standard error.
    pub fn run(&self, args: &[&str]) -> io::Result<String> {
        checked(
            Command::new("ip")
                .args(["netns", "exec", &self.name])
                .args(args),
        )
    }

    /// Run `ip -n NAME args...` (e.g. `["mptcp", "limits", "set", ...]`).
    ///
    /// # Errors
    ///
    /// `ip` cannot be started or exits with a failure.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        checked(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Set sysctl `key` (e.g. `net.mptcp.checksum_enabled`) to `value` in
    /// this namespace.
    ///
    /// # Errors
    ///
    /// `sysctl -w` fails (unknown key, bad value).
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        self.run(&["sysctl", "-q", "-w", &format!("{key}={value}")])
            .map(drop)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = checked(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("mptcp-lab: could not delete netns {}: {e}", self.name);
        }
    }
}

/// Run `f` on a new thread that has entered `ns`, and return its result.
///
/// Sockets and TUN devices created by `f` belong to `ns` for their whole
/// life, wherever they are used afterwards, so the usual pattern is to create
/// them here and return them.
///
/// # Errors
///
/// The thread cannot enter the namespace.
///
/// # Panics
///
/// Re-raises a panic of `f`.
pub fn run_in<T, F>(ns: &Netns, f: F) -> io::Result<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let path = ns.path();
    std::thread::scope(|scope| {
        let handle = scope.spawn(move || {
            sys::enter_netns(&path)?;
            Ok(f())
        });
        match handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Run `command`, returning its standard output, or an error carrying its
/// standard error when it fails.
fn checked(command: &mut Command) -> io::Result<String> {
    let out = command.output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "{command:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
