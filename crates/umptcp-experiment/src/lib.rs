//! Reproducible congestion-control experiments on the deterministic
//! simulator (`umptcp-sim`), with our MPTCP stack at both ends.
//!
//! Each experiment builds a small network of our endpoints, routers and
//! links, runs bulk transfers in virtual time, and returns a [`Report`]: a
//! summary of the figures it is about, time series, and (with
//! [`Report::write`]) a CSV file and a PNG plot. The same seed gives the
//! same figures, to the byte. `mptcp experiment NAME --cc ALG` is the
//! command-line front end.
//!
//! | name | what it shows |
//! |---|---|
//! | `shared-bottleneck` | two subflows and one single-path flow through one bottleneck: `mptcp_share` (RFC 6356 goal 2) |
//! | `disjoint` | two independent paths: goodput against the sum of their rates (goal 1) |
//! | `balance` | paths with different background load: the share on the less congested one (goal 3); Khalili et al.'s scenario where LIA is not Pareto-optimal |
//! | `rtt-mismatch` | 10 ms against 100 ms, the receive buffer by RFC 8684's rule: goodput and data-level reordering delay per scheduler |
//! | `responsiveness` | a path's capacity drops and returns: the time to re-converge |
//!
//! A researcher's controller takes part by being registered in the
//! [`Options::registry`] under its name.
//!
//! ```no_run
//! use umptcp_experiment::{Options, run};
//!
//! let report = run("shared-bottleneck", &Options::new("lia"))?;
//! println!("{}", report.text());
//! # Ok::<(), umptcp_experiment::ExperimentError>(())
//! ```

mod error;
mod experiments;
mod machine;
mod net;
mod node;
mod plot;
mod report;
mod sim_host;

use std::time::Duration;

use umptcp_proto::PolicyRegistry;

pub use error::ExperimentError;
pub use report::{Report, Series};
pub use sim_host::{Application, SimHost};

/// The experiments, by name.
pub const NAMES: &[&str] = &[
    "shared-bottleneck",
    "disjoint",
    "balance",
    "rtt-mismatch",
    "responsiveness",
];

/// How to run an experiment.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct Options {
    /// The congestion control of the MPTCP connection under test.
    pub cc: String,
    /// The congestion control of single-path competitors, where an
    /// experiment has them. Default: `"reno"`, or `"cubic"` when `cc` is.
    pub tcp_cc: Option<String>,
    /// Where the names (controllers, and the schedulers experiments
    /// compare) are looked up: the built-ins, plus whatever the caller
    /// registered.
    pub registry: PolicyRegistry,
    /// Seed of the simulator and of the endpoints.
    pub seed: u64,
    /// Virtual time to run for; each experiment has its own default.
    pub duration: Option<Duration>,
    /// Runs to average, with seeds `seed`, `seed + 1`, ...: the summary
    /// figures are means over the runs (with `_min` and `_max` beside
    /// them), the series those of the first run. Default 1.
    pub runs: u32,
}

impl Options {
    /// Run with congestion control `cc` from the built-in registry,
    /// seed 1, the experiment's own duration.
    pub fn new(cc: &str) -> Self {
        Self {
            cc: cc.to_owned(),
            tcp_cc: None,
            registry: PolicyRegistry::with_builtins(),
            seed: 1,
            duration: None,
            runs: 1,
        }
    }

    /// The competitors' congestion control.
    pub(crate) fn competitor(&self) -> String {
        self.tcp_cc
            .clone()
            .unwrap_or_else(|| if self.cc == "cubic" { "cubic" } else { "reno" }.to_owned())
    }
}

/// Run experiment `name` (one of [`NAMES`]).
///
/// # Errors
///
/// An unknown experiment or algorithm, or a connection that failed.
pub fn run(name: &str, options: &Options) -> Result<Report, ExperimentError> {
    for cc in [options.cc.clone(), options.competitor()] {
        if options.registry.check(None, None, Some(&cc)).is_err() {
            return Err(ExperimentError::UnknownAlgorithm(cc));
        }
    }
    let runs = options.runs.max(1);
    let mut first = run_once(name, options)?;
    if runs == 1 {
        return Ok(first);
    }
    let mut all = vec![first.summary.clone()];
    for k in 1..runs {
        let mut next = options.clone();
        next.seed = options.seed.wrapping_add(u64::from(k));
        all.push(run_once(name, &next)?.summary);
    }
    first.summary = report::mean_of(&all);
    first.notes.push(format!(
        "figures: mean of {runs} runs, seeds {} to {} (min and max beside each); series: seed {}",
        options.seed,
        options.seed.wrapping_add(u64::from(runs - 1)),
        options.seed
    ));
    Ok(first)
}

/// One run of experiment `name`.
fn run_once(name: &str, options: &Options) -> Result<Report, ExperimentError> {
    match name {
        "shared-bottleneck" => experiments::shared_bottleneck::run(options),
        "disjoint" => experiments::disjoint::run(options),
        "balance" => experiments::balance::run(options),
        "rtt-mismatch" => experiments::rtt_mismatch::run(options),
        "responsiveness" => experiments::responsiveness::run(options),
        _ => Err(ExperimentError::UnknownExperiment(name.to_owned())),
    }
}
