//! What one connection uses in place of its endpoint's defaults: a path
//! manager, a scheduler and a congestion controller, each given by value
//! or by name from a [`PolicyRegistry`].
//!
//! A client passes one to [`Endpoint::connect_with`]; a listener gets a
//! [`PolicyFactory`] ([`Endpoint::listen_with`]) that builds a fresh one
//! for every connection it accepts, before the handshake ends, so the
//! path manager sees the connection's first event.
//!
//! [`Endpoint::connect_with`]: crate::Endpoint::connect_with
//! [`Endpoint::listen_with`]: crate::Endpoint::listen_with

use std::fmt;
use std::sync::Arc;

use umptcp_cc::{CcConfig, CongestionControl};

use crate::path_manager::PathManager;
use crate::registry::PolicyRegistry;
use crate::scheduler::Scheduler;

/// One connection's policies; each `None` keeps the endpoint's default.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ConnectionPolicy {
    /// Which subflows it opens and which addresses it announces.
    pub path_manager: Option<Box<dyn PathManager>>,
    /// How it spreads data over its subflows.
    pub scheduler: Option<Box<dyn Scheduler>>,
    /// Its congestion controller (coupled or per subflow).
    pub congestion_control: Option<Box<dyn CongestionControl>>,
}

impl ConnectionPolicy {
    /// A policy that keeps every default.
    pub fn new() -> Self {
        ConnectionPolicy::default()
    }

    /// With this path manager.
    #[must_use]
    pub fn with_path_manager(mut self, pm: Box<dyn PathManager>) -> Self {
        self.path_manager = Some(pm);
        self
    }

    /// With this scheduler.
    #[must_use]
    pub fn with_scheduler(mut self, scheduler: Box<dyn Scheduler>) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// With this congestion controller.
    #[must_use]
    pub fn with_congestion_control(mut self, cc: Box<dyn CongestionControl>) -> Self {
        self.congestion_control = Some(cc);
        self
    }

    /// A policy by names (`None` keeps that default), each built by
    /// `registry` (the controller with `cc_config`).
    ///
    /// # Errors
    ///
    /// [`UnknownPolicy`] for the first name nobody knows.
    pub fn by_names(
        path_manager: Option<&str>,
        scheduler: Option<&str>,
        congestion_control: Option<&str>,
        registry: &PolicyRegistry,
        cc_config: &CcConfig,
    ) -> Result<Self, UnknownPolicy> {
        let mut policy = ConnectionPolicy::new();
        if let Some(name) = path_manager {
            policy.path_manager = Some(registry.path_manager(name)?);
        }
        if let Some(name) = scheduler {
            policy.scheduler = Some(registry.scheduler(name)?);
        }
        if let Some(name) = congestion_control {
            policy.congestion_control = Some(registry.congestion(name, cc_config)?);
        }
        Ok(policy)
    }
}

/// A policy name nobody knows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?} (known: {})", known.join(", "))]
pub struct UnknownPolicy {
    /// "path manager", "scheduler" or "congestion control".
    pub kind: &'static str,
    /// The name asked for.
    pub name: String,
    /// The names there are.
    pub known: Vec<String>,
}

/// Builds the policy of each connection a listener accepts (a path
/// manager or controller keeps per-connection state, so each gets its
/// own). Cheap to clone: one factory serves every address of a port.
#[derive(Clone)]
pub struct PolicyFactory(Arc<dyn Fn() -> ConnectionPolicy + Send + Sync>);

impl PolicyFactory {
    /// A factory calling `build` once per accepted connection.
    pub fn new(build: impl Fn() -> ConnectionPolicy + Send + Sync + 'static) -> Self {
        PolicyFactory(Arc::new(build))
    }

    /// The policy for one more connection.
    pub fn build(&self) -> ConnectionPolicy {
        (self.0)()
    }
}

impl fmt::Debug for PolicyFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PolicyFactory(..)")
    }
}
