//! The `mptcp` command: send and receive over our userspace stack on Linux
//! TUN devices, run the demo and the congestion-control experiments (see
//! the library, `umptcp_cli`, and `mptcp --help`).

use std::process::ExitCode;

fn main() -> ExitCode {
    umptcp_cli::main_with(umptcp_cc::Registry::with_builtins())
}
