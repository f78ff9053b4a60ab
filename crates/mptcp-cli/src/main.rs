//! The `mptcp` command: send and receive over our userspace stack on Linux
//! TUN devices, run the demo and the congestion-control experiments (see
//! the library, `mptcp_cli`, and `mptcp --help`).

use std::process::ExitCode;

fn main() -> ExitCode {
    mptcp_cli::main_with(mptcp_cc::Registry::with_builtins())
}
