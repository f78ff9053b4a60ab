//! [`PolicyRegistry`]: every policy a connection can be given by name
//! (path managers, schedulers, congestion controllers), the built-in ones
//! and any a program registers, so that a custom policy plugs into the
//! stack, the command line and the simulator the same way a built-in one
//! does.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use umptcp_cc::{CcConfig, CongestionControl, CongestionControlFactory, Registry};

use crate::path_manager::{self, PathManager};
use crate::policy::UnknownPolicy;
use crate::scheduler::{self, Scheduler};

/// Builds one [`Scheduler`] per connection, under a name.
pub trait SchedulerFactory: Send + Sync + Debug {
    /// The name it is chosen by (`--scheduler NAME`).
    fn name(&self) -> &str;
    /// A fresh scheduler for one connection.
    fn build(&self) -> Box<dyn Scheduler>;
}

/// Builds one [`PathManager`] per connection, under a name.
pub trait PathManagerFactory: Send + Sync + Debug {
    /// The name it is chosen by (`--pm NAME`).
    fn name(&self) -> &str;
    /// A fresh path manager for one connection.
    fn build(&self) -> Box<dyn PathManager>;
}

/// A factory made of a name and a function: what [`PolicyRegistry`]'s
/// `*_fn` methods register.
pub struct FnFactory<T: ?Sized> {
    name: String,
    build: Box<dyn Fn() -> Box<T> + Send + Sync>,
}

impl<T: ?Sized> Debug for FnFactory<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FnFactory({:?})", self.name)
    }
}

impl SchedulerFactory for FnFactory<dyn Scheduler> {
    fn name(&self) -> &str {
        &self.name
    }
    fn build(&self) -> Box<dyn Scheduler> {
        (self.build)()
    }
}

impl PathManagerFactory for FnFactory<dyn PathManager> {
    fn name(&self) -> &str {
        &self.name
    }
    fn build(&self) -> Box<dyn PathManager> {
        (self.build)()
    }
}

/// Path managers, schedulers and congestion controllers by name, each
/// kind listed in name order. [`PolicyRegistry::default`] holds the
/// built-in ones; registering a name again replaces its factory.
///
/// ```
/// use umptcp_proto::{MinRtt, PolicyRegistry, Scheduler};
///
/// #[derive(Debug)]
/// struct Fastest;
/// impl Scheduler for Fastest {
///     fn name(&self) -> &'static str { "fastest" }
///     fn pick(&mut self, c: &[umptcp_proto::Candidate]) -> Option<usize> {
///         MinRtt.pick(c)
///     }
/// }
///
/// let mut registry = PolicyRegistry::with_builtins();
/// registry.register_scheduler_fn("fastest", || Box::new(Fastest));
/// assert_eq!(registry.scheduler("fastest").unwrap().name(), "fastest");
/// assert!(registry.scheduler_names().any(|n| n == "minrtt"));
/// let err = registry.scheduler("slowest").unwrap_err();
/// assert!(err.known.contains(&"fastest".to_owned()));
/// ```
#[derive(Clone, Debug)]
pub struct PolicyRegistry {
    path_managers: BTreeMap<String, Arc<dyn PathManagerFactory>>,
    schedulers: BTreeMap<String, Arc<dyn SchedulerFactory>>,
    congestion_control: Registry,
}

impl Default for PolicyRegistry {
    fn default() -> Self {
        Self::with_builtins()
    }
}

/// Built-in policies, and `congestion_control` for the controllers.
impl From<Registry> for PolicyRegistry {
    fn from(congestion_control: Registry) -> Self {
        let mut registry = PolicyRegistry::empty();
        for &name in path_manager::BUILTIN {
            registry.register_path_manager_fn(name, move || {
                path_manager::by_name(name).expect("a built-in name")
            });
        }
        for &name in scheduler::BUILTIN {
            registry.register_scheduler_fn(name, move || {
                scheduler::by_name(name).expect("a built-in name")
            });
        }
        registry.congestion_control = congestion_control;
        registry
    }
}

impl PolicyRegistry {
    /// Every built-in policy: path managers `path_manager::BUILTIN`,
    /// schedulers `scheduler::BUILTIN`, controllers
    /// `umptcp_cc::Registry::with_builtins`.
    pub fn with_builtins() -> Self {
        Registry::with_builtins().into()
    }

    /// No policy at all (register your own).
    pub fn empty() -> Self {
        PolicyRegistry {
            path_managers: BTreeMap::new(),
            schedulers: BTreeMap::new(),
            congestion_control: Registry::new(),
        }
    }

    /// Register a path-manager factory under its name; returns the one it
    /// replaces.
    pub fn register_path_manager(
        &mut self,
        factory: Arc<dyn PathManagerFactory>,
    ) -> Option<Arc<dyn PathManagerFactory>> {
        self.path_managers
            .insert(factory.name().to_owned(), factory)
    }

    /// Register `build` as the path manager `name`.
    pub fn register_path_manager_fn(
        &mut self,
        name: &str,
        build: impl Fn() -> Box<dyn PathManager> + Send + Sync + 'static,
    ) -> Option<Arc<dyn PathManagerFactory>> {
        self.register_path_manager(Arc::new(FnFactory::<dyn PathManager> {
            name: name.to_owned(),
            build: Box::new(build),
        }))
    }

    /// Register a scheduler factory under its name; returns the one it
    /// replaces.
    pub fn register_scheduler(
        &mut self,
        factory: Arc<dyn SchedulerFactory>,
    ) -> Option<Arc<dyn SchedulerFactory>> {
        self.schedulers.insert(factory.name().to_owned(), factory)
    }

    /// Register `build` as the scheduler `name`.
    pub fn register_scheduler_fn(
        &mut self,
        name: &str,
        build: impl Fn() -> Box<dyn Scheduler> + Send + Sync + 'static,
    ) -> Option<Arc<dyn SchedulerFactory>> {
        self.register_scheduler(Arc::new(FnFactory::<dyn Scheduler> {
            name: name.to_owned(),
            build: Box::new(build),
        }))
    }

    /// Register a congestion-control factory under its name; returns the
    /// one it replaces.
    pub fn register_congestion_control(
        &mut self,
        factory: Arc<dyn CongestionControlFactory>,
    ) -> Option<Arc<dyn CongestionControlFactory>> {
        self.congestion_control.register(factory)
    }

    /// A fresh path manager of the kind registered as `name`.
    ///
    /// # Errors
    ///
    /// [`UnknownPolicy`] (listing the names there are) if none is.
    pub fn path_manager(&self, name: &str) -> Result<Box<dyn PathManager>, UnknownPolicy> {
        self.path_managers
            .get(name)
            .map(|f| f.build())
            .ok_or_else(|| unknown("path manager", name, self.path_manager_names()))
    }

    /// A fresh scheduler of the kind registered as `name`.
    ///
    /// # Errors
    ///
    /// [`UnknownPolicy`] (listing the names there are) if none is.
    pub fn scheduler(&self, name: &str) -> Result<Box<dyn Scheduler>, UnknownPolicy> {
        self.schedulers
            .get(name)
            .map(|f| f.build())
            .ok_or_else(|| unknown("scheduler", name, self.scheduler_names()))
    }

    /// A fresh controller of the algorithm registered as `name`.
    ///
    /// # Errors
    ///
    /// [`UnknownPolicy`] (listing the names there are) if none is.
    pub fn congestion(
        &self,
        name: &str,
        config: &CcConfig,
    ) -> Result<Box<dyn CongestionControl>, UnknownPolicy> {
        self.congestion_control
            .build(name, config)
            .map_err(|_| unknown("congestion control", name, self.congestion_control_names()))
    }

    /// Whether a policy of each named kind is registered (`None` is
    /// not checked): for a configuration checked before any connection.
    ///
    /// # Errors
    ///
    /// [`UnknownPolicy`] for the first name nobody knows.
    pub fn check(
        &self,
        path_manager: Option<&str>,
        scheduler: Option<&str>,
        congestion_control: Option<&str>,
    ) -> Result<(), UnknownPolicy> {
        if let Some(name) = path_manager
            && !self.path_managers.contains_key(name)
        {
            return Err(unknown("path manager", name, self.path_manager_names()));
        }
        if let Some(name) = scheduler
            && !self.schedulers.contains_key(name)
        {
            return Err(unknown("scheduler", name, self.scheduler_names()));
        }
        if let Some(name) = congestion_control
            && self.congestion_control.get(name).is_none()
        {
            return Err(unknown(
                "congestion control",
                name,
                self.congestion_control_names(),
            ));
        }
        Ok(())
    }

    /// The path managers' names, in order.
    pub fn path_manager_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.path_managers.keys().map(String::as_str)
    }

    /// The schedulers' names, in order.
    pub fn scheduler_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.schedulers.keys().map(String::as_str)
    }

    /// The congestion controllers' names, in order.
    pub fn congestion_control_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.congestion_control.names()
    }

    /// The congestion-control registry itself.
    pub fn congestion_control(&self) -> &Registry {
        &self.congestion_control
    }
}

fn unknown<'a>(
    kind: &'static str,
    name: &str,
    known: impl Iterator<Item = &'a str>,
) -> UnknownPolicy {
    UnknownPolicy {
        kind,
        name: name.to_owned(),
        known: known.map(str::to_owned).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtins_are_all_there_by_name() {
        let r = PolicyRegistry::with_builtins();
        for &name in path_manager::BUILTIN {
            assert_eq!(r.path_manager(name).unwrap().name(), name);
        }
        for &name in scheduler::BUILTIN {
            assert_eq!(r.scheduler(name).unwrap().name(), name);
        }
        let cc = r.congestion("lia", &CcConfig::default()).unwrap();
        assert_eq!(cc.name(), "lia");
        assert!(
            r.check(Some("fullmesh"), Some("redundant"), Some("olia"))
                .is_ok()
        );
    }

    #[test]
    fn an_unknown_name_lists_what_there_is() {
        let r = PolicyRegistry::with_builtins();
        let e = r.check(None, Some("blest"), None).unwrap_err();
        assert_eq!(e.kind, "scheduler");
        assert_eq!(e.known, ["minrtt", "redundant", "roundrobin"]);
        let e = r.path_manager("none").unwrap_err();
        assert_eq!(e.kind, "path manager");
        assert!(e.to_string().contains("fullmesh"), "{e}");
        assert!(r.congestion("bbr", &CcConfig::default()).is_err());
        assert!(PolicyRegistry::empty().scheduler("minrtt").is_err());
    }

    #[test]
    fn registering_a_name_again_replaces_it() {
        let mut r = PolicyRegistry::with_builtins();
        let old = r.register_scheduler_fn("minrtt", || Box::new(scheduler::Redundant));
        assert!(old.is_some());
        assert_eq!(r.scheduler("minrtt").unwrap().name(), "redundant");
        assert_eq!(r.scheduler_names().count(), scheduler::BUILTIN.len());
    }
}
