//! Network namespaces that clean up after themselves, and running code in one.

use std::io;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys;

/// Counter that makes namespace names unique within this process.
static NEXT_NETNS: AtomicU32 = AtomicU32::new(0);

/// Reaping of namespaces left by dead processes happens once per process.
static REAP_STALE: Once = Once::new();

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
        REAP_STALE.call_once(reap_stale);
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

    /// Give programs run by [`Netns::exec`] and [`Netns::run`] their own
    /// `/etc/hosts` (`ip netns exec` bind-mounts `/etc/netns/NAME/hosts`
    /// over it), e.g. `"10.1.0.2 server.lab\n"`. Removed on drop.
    ///
    /// # Errors
    ///
    /// The file cannot be written.
    pub fn set_hosts(&self, contents: &str) -> io::Result<()> {
        let dir = self.etc_dir();
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("hosts"), contents)
    }

    fn etc_dir(&self) -> PathBuf {
        PathBuf::from("/etc/netns").join(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let etc = self.etc_dir();
        if etc.exists()
            && let Err(e) = std::fs::remove_dir_all(&etc)
        {
            eprintln!("umptcp-lab: could not remove {}: {e}", etc.display());
        }
        if let Err(e) = checked(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("umptcp-lab: could not delete netns {}: {e}", self.name);
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

/// Delete the namespaces named `ml<pid>-...` whose process is gone.
///
/// `Drop` cleans up on success and on a panic, but a test process killed
/// outright (SIGKILL, a timeout, the machine's session ending) leaves its
/// namespaces behind, and CI fails on leftovers. Nothing can be using the
/// namespaces of a dead process, so the next lab run removes them. A pid
/// that is alive, possibly reused, keeps its namespaces.
fn reap_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if PathBuf::from(format!("/proc/{pid}")).exists() {
            continue;
        }
        match checked(Command::new("ip").args(["netns", "del", &name])) {
            Ok(_) => eprintln!("umptcp-lab: deleted {name}, left by process {pid} (gone)"),
            Err(e) => eprintln!("umptcp-lab: could not delete stale netns {name}: {e}"),
        }
    }
}

/// The pid in a name made by [`Netns::new`] (`ml<pid>-<n>-<tag>`).
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("ml")?;
    let (pid, rest) = rest.split_once('-')?;
    let (n, _tag) = rest.split_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
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

#[cfg(test)]
mod tests {
    use super::{checked, owner_pid, reap_stale};
    use std::process::Command;

    #[test]
    fn only_our_names_have_an_owner() {
        assert_eq!(owner_pid("ml16510-1-aggpeer"), Some(16510));
        assert_eq!(owner_pid("ml7-0-"), Some(7));
        assert_eq!(owner_pid("mlp1"), None);
        assert_eq!(owner_pid("ml-1-x"), None);
        assert_eq!(owner_pid("mlx-1-x"), None);
        assert_eq!(owner_pid("ml12-a-x"), None);
        assert_eq!(owner_pid("ml12"), None);
        assert_eq!(owner_pid("other-1-x"), None);
    }

    #[test]
    fn lab_a_dead_process_namespace_is_reaped_and_a_live_one_kept() {
        if crate::require_lab("lab_a_dead_process_namespace_is_reaped_and_a_live_one_kept")
            .is_none()
        {
            return;
        }
        let mut child = Command::new("true").spawn().expect("spawn true");
        let dead = child.id();
        child.wait().expect("wait for true");
        let stale = format!("ml{dead}-0-reaptest");
        let live = format!("ml{}-999-reaptest", std::process::id());
        let listed = || checked(Command::new("ip").args(["netns", "list"])).expect("ip netns list");
        let has = |list: &str, name: &str| {
            list.lines()
                .any(|l| l.split_whitespace().next() == Some(name))
        };
        for name in [&stale, &live] {
            checked(Command::new("ip").args(["netns", "add", name])).expect("ip netns add");
        }
        reap_stale();
        let after = listed();
        let _ = checked(Command::new("ip").args(["netns", "del", &live]));
        let _ = checked(Command::new("ip").args(["netns", "del", &stale]));
        assert!(!has(&after, &stale), "{stale} survived: {after}");
        assert!(has(&after, &live), "{live} was reaped: {after}");
    }
}
