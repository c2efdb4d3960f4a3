//! The link-time registration record that `#[plugin]` submits to `inventory`.

use std::any::TypeId;
use std::fmt;
use std::time::Duration;

use crate::config::ConfigCheck;
use crate::error::Result;
use crate::instance::PluginInstance;

/// Everything the manager needs to know about a compiled-in plugin, built at compile time.
///
/// `#[plugin]` creates one per plugin type and submits it with `inventory`; [`registered`]
/// iterates them. The manager never relies on their iteration order. Each is built with `const`
/// methods, so it can live in a `static`:
///
/// ```
/// use plugin_core::{Plugin, PluginDescriptor, PluginInstance, Result, async_trait};
///
/// #[derive(Default)]
/// struct Probe;
/// #[async_trait]
/// impl Plugin for Probe {}
///
/// fn make() -> Result<PluginInstance> {
///     Ok(PluginInstance::new(Probe))
/// }
///
/// static PROBE: PluginDescriptor =
///     PluginDescriptor::new("probe", "Probe", || std::any::TypeId::of::<Probe>(), make)
///         .with_deps(&["commands"]);
/// assert_eq!(PROBE.deps(), ["commands"]);
/// ```
pub struct PluginDescriptor {
    name: &'static str,
    type_name: &'static str,
    type_id: fn() -> TypeId,
    factory: fn() -> Result<PluginInstance>,
    crate_name: &'static str,
    version: &'static str,
    description: &'static str,
    authors: &'static str,
    deps: &'static [&'static str],
    optional_deps: &'static [&'static str],
    timeout: Option<Duration>,
    depth: usize,
    config: Option<(ConfigCheck, &'static str)>,
}

impl PluginDescriptor {
    /// A descriptor with a name, the plugin type's name and id, and its constructor.
    pub const fn new(
        name: &'static str,
        type_name: &'static str,
        type_id: fn() -> TypeId,
        factory: fn() -> Result<PluginInstance>,
    ) -> Self {
        Self {
            name,
            type_name,
            type_id,
            factory,
            crate_name: "",
            version: "",
            description: "",
            authors: "",
            deps: &[],
            optional_deps: &[],
            timeout: None,
            depth: 0,
            config: None,
        }
    }

    /// Sets the crate facts, as Cargo gives them (`authors` separated by `:`).
    pub const fn with_crate(
        mut self,
        crate_name: &'static str,
        version: &'static str,
        description: &'static str,
        authors: &'static str,
    ) -> Self {
        self.crate_name = crate_name;
        self.version = version;
        self.description = description;
        self.authors = authors;
        self
    }

    /// Sets the names of the required dependencies.
    pub const fn with_deps(mut self, deps: &'static [&'static str]) -> Self {
        self.deps = deps;
        self
    }

    /// Sets the names of the optional dependencies.
    pub const fn with_optional_deps(mut self, deps: &'static [&'static str]) -> Self {
        self.optional_deps = deps;
        self
    }

    /// Sets the plugin's own hook deadline.
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the length of the longest dependency chain below this plugin (1 for no deps).
    ///
    /// `#[plugin]` computes it in a `const`, which is what turns a dependency cycle inside one
    /// crate into a compile error (rustc refuses a cyclic constant evaluation).
    pub const fn with_depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// Sets the plugin's configuration type: the check of a section against it, and its name.
    pub const fn with_config(mut self, check: ConfigCheck, type_name: &'static str) -> Self {
        self.config = Some((check, type_name));
        self
    }

    /// The check of a configuration section against the plugin's configuration type.
    pub const fn config_check(&self) -> Option<ConfigCheck> {
        match self.config {
            Some((check, _)) => Some(check),
            None => None,
        }
    }

    /// The name of the plugin's configuration type, if it declared one.
    pub const fn config_type(&self) -> Option<&'static str> {
        match self.config {
            Some((_, name)) => Some(name),
            None => None,
        }
    }

    /// The plugin's unique name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The Rust type implementing the plugin.
    pub const fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The `TypeId` of the plugin type.
    pub fn type_id(&self) -> TypeId {
        (self.type_id)()
    }

    /// Makes a fresh instance (the plugin's `Default` or its `new = ...` constructor).
    pub fn instantiate(&self) -> Result<PluginInstance> {
        (self.factory)()
    }

    /// The constructor, as a function pointer.
    pub const fn factory(&self) -> fn() -> Result<PluginInstance> {
        self.factory
    }

    /// The package that defines the plugin.
    pub const fn crate_name(&self) -> &'static str {
        self.crate_name
    }

    /// The plugin crate's version.
    pub const fn version(&self) -> &'static str {
        self.version
    }

    /// The plugin crate's description.
    pub const fn description(&self) -> &'static str {
        self.description
    }

    /// The plugin crate's authors.
    pub fn authors(&self) -> impl Iterator<Item = &'static str> {
        self.authors.split(':').filter(|a| !a.is_empty())
    }

    /// Names of the required dependencies.
    pub const fn deps(&self) -> &'static [&'static str] {
        self.deps
    }

    /// Names of the optional dependencies.
    pub const fn optional_deps(&self) -> &'static [&'static str] {
        self.optional_deps
    }

    /// The plugin's own hook deadline, if it set one.
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The length of the longest dependency chain below this plugin.
    pub const fn depth(&self) -> usize {
        self.depth
    }
}

impl fmt::Debug for PluginDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginDescriptor")
            .field("name", &self.name)
            .field("type_name", &self.type_name)
            .field("crate_name", &self.crate_name)
            .field("version", &self.version)
            .field("deps", &self.deps)
            .field("optional_deps", &self.optional_deps)
            .field("timeout", &self.timeout)
            .field("config", &self.config_type())
            .finish_non_exhaustive()
    }
}

inventory::collect!(PluginDescriptor);

/// Every plugin compiled into this binary, in no particular order.
///
/// A plugin crate is only linked if the binary refers to it: an application writes
/// `plugin_manager::link_plugins!();` so that every plugin crate its features select is.
pub fn registered() -> impl Iterator<Item = &'static PluginDescriptor> {
    inventory::iter::<PluginDescriptor>.into_iter()
}
