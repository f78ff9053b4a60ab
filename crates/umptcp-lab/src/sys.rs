//! The only module of the harness that calls the OS directly.
//!
//! `unsafe` is denied in the workspace; it is allowed here alone, because
//! entering a network namespace (`setns(2)`) and reading the effective user
//! id (`geteuid(2)`) have no safe wrapper in `std` or `libc`.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Move the calling thread into the network namespace bound at `path`
/// (e.g. `/run/netns/NAME`).
///
/// # Errors
///
/// The namespace file cannot be opened, or `setns` fails.
pub(crate) fn enter_netns(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    // SAFETY: `file` is an open descriptor that outlives the call; `setns`
    // only reads it and changes the calling thread's namespace, which affects
    // no memory this process owns.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The effective user id of this process.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: `geteuid` takes no arguments, cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}
