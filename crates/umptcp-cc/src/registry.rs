//! [`Registry`]: congestion-control factories by name, so a connection can
//! pick its algorithm at run time (`"reno"`, `"cubic"`, or your own).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::balia::BaliaFactory;
use crate::controller::{CcConfig, CongestionControl, CongestionControlFactory};
use crate::cubic::{self, Cubic};
use crate::lia::LiaFactory;
use crate::olia::OliaFactory;
use crate::reno::{self, NewReno};
use crate::wvegas::WVegasFactory;

/// Builds [`NewReno`] controllers, under the name `"reno"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NewRenoFactory;

impl CongestionControlFactory for NewRenoFactory {
    fn name(&self) -> &str {
        reno::NAME
    }

    fn build(&self, config: &CcConfig) -> Box<dyn CongestionControl> {
        Box::new(NewReno::new(config))
    }
}

/// Builds [`Cubic`] controllers, under the name `"cubic"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CubicFactory;

impl CongestionControlFactory for CubicFactory {
    fn name(&self) -> &str {
        cubic::NAME
    }

    fn build(&self, config: &CcConfig) -> Box<dyn CongestionControl> {
        Box::new(Cubic::new(config))
    }
}

/// No factory is registered under the name asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no congestion control algorithm named {name:?} is registered")]
pub struct UnknownAlgorithm {
    /// The name that was asked for.
    pub name: String,
}

/// Congestion-control factories by name, listed in name order.
///
/// ```
/// use umptcp_cc::{CcConfig, Registry};
///
/// let registry = Registry::with_builtins();
/// assert_eq!(
///     registry.names().collect::<Vec<_>>(),
///     ["balia", "cubic", "lia", "olia", "reno", "wvegas"]
/// );
/// let cc = registry.build("reno", &CcConfig::default()).unwrap();
/// assert_eq!(cc.name(), "reno");
/// assert!(registry.build("vegas", &CcConfig::default()).is_err());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Registry {
    factories: BTreeMap<String, Arc<dyn CongestionControlFactory>>,
}

impl Registry {
    /// Make an empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Make a registry holding the built-in algorithms: uncoupled `"reno"`
    /// and `"cubic"`, coupled `"lia"`, `"olia"` and `"balia"`, and the
    /// delay-based coupled `"wvegas"`.
    pub fn with_builtins() -> Self {
        let mut registry = Self::new();
        registry.register(Arc::new(NewRenoFactory));
        registry.register(Arc::new(CubicFactory));
        registry.register(Arc::new(LiaFactory));
        registry.register(Arc::new(OliaFactory));
        registry.register(Arc::new(BaliaFactory));
        registry.register(Arc::new(WVegasFactory));
        registry
    }

    /// Register `factory` under its name, returning the factory it replaces
    /// if one had the same name.
    pub fn register(
        &mut self,
        factory: Arc<dyn CongestionControlFactory>,
    ) -> Option<Arc<dyn CongestionControlFactory>> {
        self.factories.insert(factory.name().to_owned(), factory)
    }

    /// Return the factory registered under `name`, if any.
    pub fn get(&self, name: &str) -> Option<Arc<dyn CongestionControlFactory>> {
        self.factories.get(name).cloned()
    }

    /// Build a controller of the algorithm registered under `name`.
    ///
    /// # Errors
    ///
    /// [`UnknownAlgorithm`] if no factory has that name.
    pub fn build(
        &self,
        name: &str,
        config: &CcConfig,
    ) -> Result<Box<dyn CongestionControl>, UnknownAlgorithm> {
        self.factories
            .get(name)
            .map(|f| f.build(config))
            .ok_or_else(|| UnknownAlgorithm {
                name: name.to_owned(),
            })
    }

    /// Iterate over the registered names in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.factories.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_listed_in_name_order_and_build() {
        let registry = Registry::with_builtins();
        let builtins = ["balia", "cubic", "lia", "olia", "reno", "wvegas"];
        assert_eq!(registry.names().collect::<Vec<_>>(), builtins);
        for name in builtins {
            let factory = registry.get(name).expect("registered");
            assert_eq!(factory.name(), name);
            assert_eq!(factory.build(&CcConfig::default()).name(), name);
        }
        assert!(registry.get("mine").is_none());
        assert!(Registry::new().names().next().is_none());
    }

    #[test]
    fn register_replaces_a_same_named_factory() {
        /// Builds NewReno but claims the name "cubic".
        #[derive(Debug)]
        struct Impostor;
        impl CongestionControlFactory for Impostor {
            fn name(&self) -> &str {
                "cubic"
            }
            fn build(&self, config: &CcConfig) -> Box<dyn CongestionControl> {
                Box::new(NewReno::new(config))
            }
        }
        let mut registry = Registry::with_builtins();
        let old = registry.register(Arc::new(Impostor)).expect("replaced");
        assert_eq!(old.build(&CcConfig::default()).name(), "cubic");
        let cc = registry.build("cubic", &CcConfig::default()).unwrap();
        assert_eq!(cc.name(), "reno");
        assert_eq!(
            registry.names().count(),
            Registry::with_builtins().names().count()
        );
    }

    #[test]
    fn unknown_name_is_an_error() {
        let err = Registry::with_builtins()
            .build("vegas", &CcConfig::default())
            .unwrap_err();
        assert_eq!(err.name, "vegas");
        assert_eq!(
            err.to_string(),
            "no congestion control algorithm named \"vegas\" is registered"
        );
    }
}
