//! A coupled congestion controller written outside the stack, registered
//! by name, and used by the simulator and by `mptcp send --cc ewtcp`.
//!
//! EWTCP (Honda et al., "Multipath congestion control for shared
//! bottleneck", PFLDNeT 2009): each subflow runs Reno with its increase
//! weighted by `a = 1/n^2` for `n` subflows. A Reno window grows as the
//! square root of its increase, so each subflow gets `1/n` of a TCP flow
//! and the connection as a whole is as fair as one TCP flow.
//!
//! ```text
//! cargo run --release --example custom_cc                 # the simulator
//! cargo run --release --example custom_cc -- send --cc ewtcp --path ...
//! ```
//!
//! With no arguments it runs the `shared-bottleneck` experiment with
//! `ewtcp`; with arguments it is the whole `mptcp` command line, with
//! `ewtcp` among the `--cc` names.

use std::process::ExitCode;
use std::sync::Arc;

use umptcp_cc::{
    CcConfig, CongestionControl, CongestionControlFactory, Coupled, CoupledAlgorithm, PathId,
    PathWindow, Registry,
};

/// The EWTCP increase: Reno's, divided by the number of paths squared.
#[derive(Debug, Default)]
struct Ewtcp;

impl CoupledAlgorithm for Ewtcp {
    fn name(&self) -> &str {
        "ewtcp"
    }

    fn increase(&mut self, path: PathId, bytes_acked: u64, paths: &[PathWindow]) -> f64 {
        let Some(me) = paths.iter().find(|p| p.id == path) else {
            return 0.0;
        };
        let n = paths.len() as f64;
        // Reno: one MSS per window of acknowledged bytes; weighted by a.
        let reno = bytes_acked as f64 * me.mss as f64 / me.cwnd.max(1) as f64;
        reno / (n * n)
    }
    // The decrease is Reno's halving: the trait's default.
}

/// Builds an EWTCP controller per connection.
#[derive(Debug)]
struct EwtcpFactory;

impl CongestionControlFactory for EwtcpFactory {
    fn name(&self) -> &str {
        "ewtcp"
    }

    fn build(&self, config: &CcConfig) -> Box<dyn CongestionControl> {
        Box::new(Coupled::new(config, Ewtcp))
    }
}

fn main() -> ExitCode {
    let mut registry = Registry::with_builtins();
    registry.register(Arc::new(EwtcpFactory));
    if std::env::args_os().len() > 1 {
        // The `mptcp` command line, with ewtcp registered.
        return umptcp_cli::main_with(registry);
    }
    let mut options = umptcp_experiment::Options::new("ewtcp");
    options.registry = registry.into();
    match umptcp_experiment::run("shared-bottleneck", &options) {
        Ok(report) => {
            print!("{}", report.text());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("custom_cc: {e}");
            ExitCode::FAILURE
        }
    }
}
