//! `mptcp experiment NAME`: run one of `umptcp-experiment`'s experiments
//! with the chosen congestion control, write its CSV and PNG, and print
//! the summary (or one JSON object).

use std::io::Write;

use umptcp_experiment::Options;
use umptcp_proto::PolicyRegistry;

use crate::args::ExperimentArgs;
use crate::error::CliError;

/// Run the experiment.
///
/// # Errors
///
/// The experiment failed, its files could not be written, or stdout is
/// closed.
pub(crate) fn run(args: &ExperimentArgs, registry: &PolicyRegistry) -> Result<(), CliError> {
    let mut options = Options::new(&args.cc);
    options.registry = registry.clone();
    options.tcp_cc = args.tcp_cc.clone();
    options.seed = args.seed;
    options.duration = args.duration;
    options.runs = args.runs;
    let mut report = umptcp_experiment::run(&args.name, &options)
        .map_err(|e| CliError::new(format!("experiment {}: {e}", args.name)))?;
    report
        .write(&args.out)
        .map_err(|e| CliError::new(e.to_string()))?;
    let out = if args.json {
        format!("{}\n", report.json())
    } else {
        report.text()
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::io("printing the result", &e))
}
