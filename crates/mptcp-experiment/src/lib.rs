//! Reproducible congestion-control experiments on the deterministic
//! simulator (`mptcp-sim`), with our MPTCP stack at both ends.
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
//! | `shared-bottleneck` | two subflows and one single-path flow through one bottleneck: `mptcp_share` |
//!
//! A researcher's controller takes part by being registered in the
//! [`Options::registry`] under its name.
//!
//! ```no_run
//! use mptcp_experiment::{Options, run};
//!
//! let report = run("shared-bottleneck", &Options::new("lia"))?;
//! println!("{}", report.text());
//! # Ok::<(), mptcp_experiment::ExperimentError>(())
//! ```

mod error;
mod experiments;
mod machine;
mod net;
mod node;
mod plot;
mod report;

use std::time::Duration;

use mptcp_cc::Registry;

pub use error::ExperimentError;
pub use report::{Report, Series};

/// The experiments, by name.
pub const NAMES: &[&str] = &["shared-bottleneck"];

/// How to run an experiment.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct Options {
    /// The congestion control of the MPTCP connection under test.
    pub cc: String,
    /// The congestion control of single-path competitors, where an
    /// experiment has them. Default: `"reno"`, or `"cubic"` when `cc` is.
    pub tcp_cc: Option<String>,
    /// Where the names are looked up: the built-ins, plus whatever the
    /// caller registered.
    pub registry: Registry,
    /// Seed of the simulator and of the endpoints.
    pub seed: u64,
    /// Virtual time to run for; each experiment has its own default.
    pub duration: Option<Duration>,
}

impl Options {
    /// Run with congestion control `cc` from the built-in registry,
    /// seed 1, the experiment's own duration.
    pub fn new(cc: &str) -> Self {
        Self {
            cc: cc.to_owned(),
            tcp_cc: None,
            registry: Registry::with_builtins(),
            seed: 1,
            duration: None,
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
        if options.registry.get(&cc).is_none() {
            return Err(ExperimentError::UnknownAlgorithm(cc));
        }
    }
    match name {
        "shared-bottleneck" => experiments::shared_bottleneck::run(options),
        _ => Err(ExperimentError::UnknownExperiment(name.to_owned())),
    }
}
