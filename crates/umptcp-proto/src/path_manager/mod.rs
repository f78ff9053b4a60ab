//! Which subflows a connection opens and which addresses it announces:
//! the [`PathManager`] trait and the built-in policies.
//!
//! The endpoint shows its path manager every connection event together
//! with what it knows (the host's addresses, the connection's subflows,
//! the addresses the peer announced); the path manager answers with
//! [`PmAction`]s, which the endpoint carries out. Like everything in the
//! core it is sans-I/O and deterministic. Decorators (`decorators.rs`) add
//! a host's own address policy (announcements, backups) to any of them.

mod decorators;

pub use decorators::{AnnounceAlso, BackupFrom};

use std::fmt::Debug;
use std::net::{IpAddr, SocketAddr};

use umptcp_wire::AddrId;

use crate::connection::{Role, SubflowStats};
use crate::event::MptcpEvent;
use crate::id::SubflowId;
use crate::signal::RemoteAddress;

/// What a path manager sees of one connection when an event happens.
#[derive(Clone, Copy, Debug)]
pub struct PmView<'a> {
    /// Which side opened the connection.
    pub role: Role,
    /// The initial subflow's addresses: ours and the peer's.
    pub initial_local: SocketAddr,
    /// The peer's address and port of the initial subflow.
    pub initial_remote: SocketAddr,
    /// The host's addresses other than the initial one, with the IDs they
    /// are announced under (index + 1).
    pub extra_local: &'a [IpAddr],
    /// The connection's subflows, closed ones included.
    pub subflows: &'a [SubflowStats],
    /// The addresses the peer announced.
    pub remote: &'a [RemoteAddress],
    /// Both sides' data is through: opening subflows now would be useless
    /// (the connection refuses them).
    pub closing: bool,
}

/// What a path manager asks the endpoint to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PmAction {
    /// Open a subflow from `local` to `remote` (port 0: any free port).
    Open {
        /// Our address and port.
        local: SocketAddr,
        /// The peer's.
        remote: SocketAddr,
        /// The ID of `local`'s address.
        local_id: AddrId,
        /// Start it as a backup.
        backup: bool,
    },
    /// Announce our address `addr` under `id` (ADD_ADDR).
    Announce {
        /// Its ID.
        id: AddrId,
        /// The address.
        addr: IpAddr,
    },
    /// Use `subflow` only when no regular subflow is there, or again as a
    /// regular one (MP_PRIO, RFC 8684 §3.3.8).
    SetBackup {
        /// The subflow.
        subflow: SubflowId,
        /// Backup or not.
        backup: bool,
    },
}

/// A policy for subflows and announcements. Object-safe: an endpoint
/// holds a `Box<dyn PathManager>`, chosen by name or by value.
pub trait PathManager: Debug + Send {
    /// The policy's name (as `--pm` takes it).
    fn name(&self) -> &'static str;

    /// React to `event` of the connection `view` describes, pushing
    /// actions onto `actions`.
    fn on_event(&mut self, view: &PmView<'_>, event: &MptcpEvent, actions: &mut Vec<PmAction>);
}

/// Whether a subflow between these addresses exists (open or opening).
fn has_subflow(view: &PmView<'_>, local: IpAddr, remote: SocketAddr) -> bool {
    view.subflows
        .iter()
        .any(|s| !s.closed && s.tuple.local.ip() == local && s.tuple.remote == remote)
}

fn open_count(view: &PmView<'_>) -> usize {
    view.subflows.iter().filter(|s| !s.closed).count()
}

/// Opens nothing and announces nothing: the application drives the
/// connection through its API (`open_subflow`, `announce`, `set_backup`,
/// `remove_address`) and reads the events.
#[derive(Clone, Debug, Default)]
pub struct Manual;

impl PathManager for Manual {
    fn name(&self) -> &'static str {
        "manual"
    }

    fn on_event(&mut self, _: &PmView<'_>, _: &MptcpEvent, _: &mut Vec<PmAction>) {}
}

/// The client opens a subflow between every local address and every
/// address of the peer (the initial one and those announced), up to
/// `max_subflows` open at once.
#[derive(Clone, Debug)]
pub struct Fullmesh {
    /// Subflows open at most, the initial one included.
    pub max_subflows: usize,
}

impl Default for Fullmesh {
    fn default() -> Self {
        Fullmesh { max_subflows: 8 }
    }
}

impl PathManager for Fullmesh {
    fn name(&self) -> &'static str {
        "fullmesh"
    }

    fn on_event(&mut self, view: &PmView<'_>, event: &MptcpEvent, actions: &mut Vec<PmAction>) {
        let relevant = matches!(
            event,
            MptcpEvent::SubflowEstablished(_)
                | MptcpEvent::AddressAnnounced(_)
                | MptcpEvent::SubflowClosed(_)
        ) || *event == (MptcpEvent::Connected { mptcp: true });
        if view.role != Role::Client || !relevant || view.closing {
            return;
        }
        let locals = std::iter::once((AddrId(0), view.initial_local.ip())).chain(
            view.extra_local
                .iter()
                .enumerate()
                .map(|(i, a)| (AddrId(i as u8 + 1), *a)),
        );
        let remotes: Vec<SocketAddr> = std::iter::once(view.initial_remote)
            .chain(
                view.remote
                    .iter()
                    .map(|r| SocketAddr::new(r.addr, r.port.unwrap_or(view.initial_remote.port()))),
            )
            .collect();
        let mut open = open_count(view);
        for (local_id, local) in locals {
            for &remote in &remotes {
                if open >= self.max_subflows {
                    return;
                }
                if local.is_ipv4() != remote.is_ipv4() || has_subflow(view, local, remote) {
                    continue;
                }
                let already = actions.iter().any(|a| {
                    matches!(a, PmAction::Open { local: l, remote: r, .. }
                        if l.ip() == local && *r == remote)
                });
                if already {
                    continue;
                }
                actions.push(PmAction::Open {
                    local: SocketAddr::new(local, 0),
                    remote,
                    local_id,
                    backup: false,
                });
                open += 1;
            }
        }
    }
}

/// The server announces every extra local address once the connection
/// speaks MPTCP (the kernel's `signal` endpoints).
#[derive(Clone, Debug, Default)]
pub struct Announce;

impl PathManager for Announce {
    fn name(&self) -> &'static str {
        "announce"
    }

    fn on_event(&mut self, view: &PmView<'_>, event: &MptcpEvent, actions: &mut Vec<PmAction>) {
        if *event != (MptcpEvent::Connected { mptcp: true }) {
            return;
        }
        for (i, addr) in view.extra_local.iter().enumerate() {
            actions.push(PmAction::Announce {
                id: AddrId(i as u8 + 1),
                addr: *addr,
            });
        }
    }
}

/// The client opens `n` subflows in all over the initial address pair,
/// each from another local port (for paths that balance by flow, such as
/// ECMP in a data centre).
#[derive(Clone, Debug)]
pub struct NDiffPorts {
    /// Subflows in all, the initial one included.
    pub n: usize,
}

impl Default for NDiffPorts {
    fn default() -> Self {
        NDiffPorts { n: 2 }
    }
}

impl PathManager for NDiffPorts {
    fn name(&self) -> &'static str {
        "ndiffports"
    }

    fn on_event(&mut self, view: &PmView<'_>, event: &MptcpEvent, actions: &mut Vec<PmAction>) {
        let trigger = *event == (MptcpEvent::Connected { mptcp: true })
            || matches!(event, MptcpEvent::SubflowClosed(_));
        if view.role != Role::Client || !trigger || view.closing {
            return;
        }
        let open = open_count(view);
        for _ in open..self.n {
            actions.push(PmAction::Open {
                local: SocketAddr::new(view.initial_local.ip(), 0),
                remote: view.initial_remote,
                local_id: AddrId(0),
                backup: false,
            });
        }
    }
}

/// A path manager by name: `manual`, `fullmesh`, `announce` or
/// `ndiffports` (with their defaults).
pub fn by_name(name: &str) -> Option<Box<dyn PathManager>> {
    match name {
        "manual" => Some(Box::new(Manual)),
        "fullmesh" => Some(Box::new(Fullmesh::default())),
        "announce" => Some(Box::new(Announce)),
        "ndiffports" => Some(Box::new(NDiffPorts::default())),
        _ => None,
    }
}

/// The names [`by_name`] knows.
pub const BUILTIN: &[&str] = &["manual", "fullmesh", "announce", "ndiffports"];
