//! The lab: network namespaces, TUN devices bridged by this process, and the
//! Linux kernel's MPTCP as the reference peer (see `docs/LAB.md` of the
//! shared docs).
//!
//! The basic topology, built by [`capture_kernel_session`]: two namespaces,
//! one per host, joined by one link per path. Each link is a pair of TUN
//! devices, one in each namespace, and a [`TunBridge`] in this process that
//! copies packets between them, recording each one. The bridge is the place
//! where a link's impairments (loss, delay, reordering) will be made.
//!
//! ```text
//!   netns "cli" (kernel MPTCP client)            netns "srv" (kernel MPTCP server)
//!  ┌──────────────────────────────┐             ┌──────────────────────────────┐
//!  │ 10.x.1.1/24  tun "mlp1" ◀─fd─┼─┐         ┌─┼─fd─▶ tun "mlp1"  10.x.1.2/24 │
//!  │ 10.x.2.1/24  tun "mlp2" ◀─fd─┼─┼─┐     ┌─┼─┼─fd─▶ tun "mlp2"  10.x.2.2/24 │
//!  └──────────────────────────────┘ │ │     │ │ └──────────────────────────────┘
//!                                   │ │     │ │
//!               this process:  TunBridge 1 ─┘ │   (path 1: initial subflow)
//!                                     └─ TunBridge 2 (path 2: MP_JOIN subflow)
//!                                     both record into one Recorder → pcap
//! ```
//!
//! Tests call [`require_lab`] first: it returns `None` (printing `SKIPPED`)
//! when the lab cannot be built and `MPTCP_LAB` is unset, and panics when
//! `MPTCP_LAB=required` (as in CI).
//!
//! ```no_run
//! use umptcp_lab::{CaptureConfig, capture_kernel_session, require_lab};
//!
//! let Some(lab) = require_lab("example") else { return };
//! let capture = capture_kernel_session(&lab, &CaptureConfig::default()).unwrap();
//! println!("{} packets, server tokens {:?}", capture.packets.len(), capture.srv_tokens);
//! ```

mod bridge;
mod capture;
mod kernel;
mod middlebox;
mod netns;
mod sys;
mod tun;

use std::path::Path;
use std::process::Command;

pub use bridge::{
    BridgeStats, Direction, DirectionStats, Link, RecordedPacket, Recorder, TunBridge, write_pcap,
};
pub use capture::{Capture, CaptureConfig, capture_kernel_session};
pub use kernel::{
    IPPROTO_MPTCP, TWO_PATH_LIMITS, kernel_mptcp_connect, kernel_mptcp_listener, nstat,
    parse_nstat, parse_ss_tokens, ss_mptcp,
};
pub use middlebox::fix_tcp_checksum_v4;
pub use netns::{Netns, run_in};
pub use tun::{TunConfig, create_tun, tun_in};
pub use tun_rs::SyncDevice;

/// Proof that the lab is available: root, `/dev/net/tun`, `ip`, kernel MPTCP.
#[derive(Debug, Clone, Copy)]
pub struct Lab {
    _private: (),
}

/// Check that the lab can be built here, or say what is missing.
///
/// # Errors
///
/// A description of every missing piece.
pub fn lab_available() -> Result<Lab, String> {
    let mut missing = Vec::new();
    if sys::effective_uid() != 0 {
        missing.push("not root (euid != 0)".to_owned());
    }
    if !Path::new("/dev/net/tun").exists() {
        missing.push("no /dev/net/tun".to_owned());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        missing.push("no `ip` command".to_owned());
    }
    if !Path::new("/proc/sys/net/mptcp/enabled").exists() {
        missing.push("kernel without MPTCP (/proc/sys/net/mptcp/enabled)".to_owned());
    }
    if missing.is_empty() {
        Ok(Lab { _private: () })
    } else {
        Err(missing.join(", "))
    }
}

/// Return the lab for `test`, or `None` after printing why it is skipped.
///
/// # Panics
///
/// When the lab is unavailable and `MPTCP_LAB=required`.
pub fn require_lab(test: &str) -> Option<Lab> {
    match lab_available() {
        Ok(lab) => Some(lab),
        Err(reason) => {
            if std::env::var_os("MPTCP_LAB").is_some_and(|v| v == "required") {
                panic!("lab test {test} cannot run with MPTCP_LAB=required: {reason}");
            }
            eprintln!("SKIPPED {test}: {reason} (set MPTCP_LAB=required to make this a failure)");
            None
        }
    }
}
