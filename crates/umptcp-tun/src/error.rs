//! Errors of starting and running a stack. Connection-level failures
//! (refused, timed out, reset) are `std::io::Error`s, as with std's sockets.

use std::io;

/// Why a [`crate::Stack`] could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// Creating or attaching a TUN device needs root or `CAP_NET_ADMIN`.
    #[error("TUN device {device}: permission denied (run as root or with CAP_NET_ADMIN)")]
    PermissionDenied {
        /// The device name.
        device: String,
    },
    /// The device exists and another program holds it open.
    #[error("TUN device {device} is busy: another program has it open")]
    DeviceBusy {
        /// The device name.
        device: String,
    },
    /// The name belongs to an interface that is not a TUN device.
    #[error("{device} exists and is not a TUN device")]
    NotTun {
        /// The device name.
        device: String,
    },
    /// Any other failure to create, attach or configure a device.
    #[error("TUN device {device}: {source}")]
    Device {
        /// The device name.
        device: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The pcap file cannot be created or written.
    #[error("pcap file {path}: {source}")]
    Pcap {
        /// The file.
        path: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The stack thread could not be started or has ended.
    #[error("the stack thread has stopped")]
    Stopped,
}

impl StackError {
    /// Classify a device error by its errno: the cases a user can fix get
    /// their own variant and message.
    pub(crate) fn from_device(device: &str, source: io::Error) -> Self {
        let device = device.to_owned();
        match source.raw_os_error() {
            Some(1 | 13) => StackError::PermissionDenied { device },
            Some(16) => StackError::DeviceBusy { device },
            Some(22) if interface_exists(&device) => StackError::NotTun { device },
            _ => StackError::Device { device, source },
        }
    }
}

/// Whether a network interface of that name exists in the calling
/// thread's network namespace. `/proc/thread-self/net/dev` follows the
/// thread's namespace (after `setns`), where `/sys/class/net` shows the
/// namespace sysfs was mounted in.
pub(crate) fn interface_exists(name: &str) -> bool {
    let Ok(dev) = std::fs::read_to_string("/proc/thread-self/net/dev") else {
        return false;
    };
    dev.lines()
        .skip(2)
        .filter_map(|line| line.split_once(':'))
        .any(|(iface, _)| iface.trim() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_exists_and_nonsense_does_not() {
        assert!(interface_exists("lo"));
        assert!(!interface_exists("no-such-if0"));
        assert!(!interface_exists(""));
    }
}
