//! [`ExperimentError`]: why an experiment could not run or finish.

/// Why an experiment could not run or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentError {
    /// No experiment has this name.
    #[error("no experiment named {0:?} (known: {known})", known = crate::NAMES.join(", "))]
    UnknownExperiment(String),
    /// No congestion-control algorithm is registered under this name.
    #[error("no congestion control algorithm named {0:?} is registered")]
    UnknownAlgorithm(String),
    /// The simulated network could not be built (a bug of the experiment).
    #[error("setting up the network: {0}")]
    Setup(String),
    /// A connection failed during the run.
    #[error("a connection failed: {0}")]
    Failed(String),
    /// The results could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The plot could not be drawn.
    #[error("drawing {path}: {message}")]
    Plot {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl From<umptcp_sim::Error> for ExperimentError {
    fn from(e: umptcp_sim::Error) -> Self {
        Self::Setup(e.to_string())
    }
}
