//! [`TestBed`]: which plugins a test runs, with what configuration and stand-ins.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::{Mutex, PoisonError};

use plugin_core::{EventBus, PluginDescriptor, PluginInstance, PluginMetadata, PluginType};

use super::{CONFIG_PATH, Events, RunningBed, TestBedError};
use crate::config::PluginsConfig;
use crate::manager::{ManagerBuilder, PluginManager};
use crate::spec::PluginSpec;
use crate::state::{PluginRecord, PluginState};

/// The plugins under test, before they start.
///
/// See [the module documentation](super) for an example.
#[must_use = "a test bed does nothing until it is started"]
pub struct TestBed {
    /// Names of the plugins the test asked for, in the order it asked.
    roots: Vec<String>,
    /// Plugins the test gave itself, by name; they win over the registry.
    given: BTreeMap<String, PluginSpec>,
    optional_deps: bool,
    config: PluginsConfig,
    bus: EventBus,
    customize: Vec<Box<dyn FnOnce(ManagerBuilder) -> ManagerBuilder + Send>>,
}

impl TestBed {
    /// A bed with no plugins yet.
    pub fn new() -> Self {
        Self {
            roots: Vec::new(),
            given: BTreeMap::new(),
            optional_deps: false,
            config: PluginsConfig::empty(),
            bus: EventBus::new(),
            customize: Vec::new(),
        }
    }

    /// Adds the plugin type `P` (as `#[plugin]` registered it) and its required dependencies.
    pub fn plugin<P: PluginType>(self) -> Self {
        let descriptor = P::descriptor();
        let mut bed = self.root(descriptor.name());
        bed.given
            .entry(descriptor.name().to_owned())
            .or_insert_with(|| PluginSpec::from_descriptor(descriptor));
        bed
    }

    /// Adds the registered plugin called `name` and its required dependencies; for a plugin
    /// whose type the test cannot name.
    pub fn plugin_named(self, name: &str) -> Self {
        self.root(name)
    }

    /// Adds a plugin assembled in code, e.g. a stand-in for a dependency of another type; a
    /// spec replaces a registered plugin of the same name.
    ///
    /// ```
    /// use plugin_core::{Plugin, PluginMetadata, async_trait};
    /// use plugin_manager::PluginSpec;
    /// use plugin_manager::testing::TestBed;
    ///
    /// #[derive(Default)]
    /// struct Noop;
    /// #[async_trait]
    /// impl Plugin for Noop {}
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bed = TestBed::new()
    ///     .spec(PluginSpec::with_default::<Noop>(PluginMetadata::new("b").with_deps(["a"])))
    ///     .spec(PluginSpec::with_default::<Noop>(PluginMetadata::new("a")))
    ///     .start()
    ///     .await?;
    /// assert_eq!(bed.manager().start_order(), ["a", "b"]);
    /// # Ok::<(), plugin_manager::testing::TestBedError>(())
    /// # }).unwrap();
    /// ```
    pub fn spec(self, spec: PluginSpec) -> Self {
        let name = spec.metadata().name.clone();
        let mut bed = self.root(&name);
        bed.given.insert(name, spec);
        bed
    }

    /// Runs `plugin`, an instance the test built, in place of the plugin type `P`: it keeps
    /// `P`'s name, metadata, dependencies and configuration check, and the plugins that
    /// depend on `P` reach this very instance through `ctx.dep::<P>()`.
    ///
    /// The instance is used once: should the manager make a second one (a restart), that
    /// constructor fails, saying so. Give [`TestBed::replace_with`] a constructor instead
    /// when the test restarts the plugin.
    ///
    /// ```
    /// use plugin_core::prelude::*;
    /// use plugin_manager::testing::TestBed;
    ///
    /// #[plugin(name = "store")]
    /// #[derive(Default)]
    /// struct Store {
    ///     label: &'static str,
    /// }
    /// #[async_trait]
    /// impl Plugin for Store {}
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bed = TestBed::new().replace(Store { label: "the test's" }).start().await?;
    /// assert_eq!(bed.get::<Store>()?.read().await.label, "the test's");
    /// # Ok::<(), plugin_manager::testing::TestBedError>(())
    /// # }).unwrap();
    /// ```
    pub fn replace<P: PluginType>(self, plugin: P) -> Self {
        let name = P::NAME;
        let slot = Mutex::new(Some(plugin));
        self.replace_by::<P>(move || {
            slot.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .map(PluginInstance::new)
                .ok_or_else(|| {
                    plugin_core::Error::msg(format_args!(
                        "plugin `{name}` was replaced by an instance the test built, and the \
                         manager already used it: to make more than one, give a constructor \
                         with `TestBed::replace_with`"
                    ))
                })
        })
    }

    /// Runs instances `make` returns in place of the plugin type `P`, keeping `P`'s name,
    /// metadata, dependencies and configuration check; `make` runs at each start (a restart
    /// makes a fresh instance).
    pub fn replace_with<P: PluginType>(self, make: impl Fn() -> P + Send + Sync + 'static) -> Self {
        self.replace_by::<P>(move || Ok(PluginInstance::new(make())))
    }

    fn replace_by<P: PluginType>(
        self,
        factory: impl Fn() -> plugin_core::Result<PluginInstance> + Send + Sync + 'static,
    ) -> Self {
        let descriptor = P::descriptor();
        let mut spec = PluginSpec::new(PluginMetadata::from(descriptor), factory);
        if let Some(check) = descriptor.config_check() {
            spec = spec.with_config_check(check);
        }
        self.spec(spec)
    }

    /// Also runs the optional dependencies of the plugins in the bed that are registered
    /// (linked into this binary), with their own dependencies; without this, an optional
    /// dependency runs only if the test names it.
    pub fn with_optional_deps(mut self) -> Self {
        self.optional_deps = true;
        self
    }

    /// The configuration, as the text of a configuration file (see [`crate::PluginsConfig`]);
    /// errors name [`CONFIG_PATH`], the line and the key.
    ///
    /// Each plugin's own keys are checked against its configuration type when the bed starts:
    /// [`TestBed::start`] then fails naming the key, as it does for a section that names no
    /// plugin of the bed.
    ///
    /// # Errors
    ///
    /// [`TestBedError::Config`] when `text` is not a valid configuration.
    ///
    /// ```
    /// use plugin_manager::testing::TestBed;
    ///
    /// let error = TestBed::new().config_toml("[dice]\nmax_dice = \n").err().unwrap();
    /// assert!(error.to_string().starts_with("test.toml:2: "), "{error}");
    /// ```
    pub fn config_toml(self, text: &str) -> Result<Self, TestBedError> {
        let config = PluginsConfig::parse(CONFIG_PATH, text)
            .map_err(|error| TestBedError::Config(vec![error]))?;
        Ok(self.config(config))
    }

    /// The configuration, already parsed.
    pub fn config(mut self, config: PluginsConfig) -> Self {
        self.config = config;
        self
    }

    /// Changes the manager's settings, e.g. its hook deadline or restart policies; the bed
    /// sets the plugins, the configuration and the bus itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// use plugin_manager::testing::TestBed;
    ///
    /// let bed = TestBed::new().manager_settings(|builder| builder.hook_timeout(Duration::from_secs(1)));
    /// # drop(bed);
    /// ```
    pub fn manager_settings(
        mut self,
        change: impl FnOnce(ManagerBuilder) -> ManagerBuilder + Send + 'static,
    ) -> Self {
        self.customize.push(Box::new(change));
        self
    }

    /// Subscribes the test to events of type `E` on the bus the plugins will use, before any
    /// of them runs: events published while they start are kept for [`Events::next`].
    pub fn events<E: Clone + Send + Sync + 'static>(&self) -> Events<E> {
        Events::new(&self.bus)
    }

    /// The plugins that will run, by name: the ones named and the closure of their
    /// dependencies; fails as [`TestBed::start`] does when one cannot be found.
    ///
    /// # Errors
    ///
    /// [`TestBedError::NotRegistered`] when a plugin, or a dependency of one, is neither given
    /// nor registered in this binary.
    ///
    /// ```
    /// use plugin_core::{Plugin, PluginMetadata, async_trait};
    /// use plugin_manager::PluginSpec;
    /// use plugin_manager::testing::TestBed;
    ///
    /// #[derive(Default)]
    /// struct Noop;
    /// #[async_trait]
    /// impl Plugin for Noop {}
    ///
    /// let bed = TestBed::new().spec(PluginSpec::with_default::<Noop>(
    ///     PluginMetadata::new("dice").with_deps(["no-such-plugin"]),
    /// ));
    /// let error = bed.plugins().unwrap_err().to_string();
    /// assert!(error.starts_with("plugin `no-such-plugin`, which `dice` needs, is not registered"), "{error}");
    /// ```
    pub fn plugins(&self) -> Result<Vec<String>, TestBedError> {
        Ok(self.resolve()?.into_iter().map(|(name, _)| name).collect())
    }

    /// Starts the plugins and checks that every one of them is enabled.
    ///
    /// Fails, after shutting the plugins down again, if one cannot be found, if the set is
    /// invalid, if the configuration has a problem (a bad key, a section naming no plugin of
    /// the bed), or if a plugin did not become enabled (the error shows its state and last
    /// error). Use [`TestBed::start_allowing_failures`] to look at a plugin that fails on
    /// purpose.
    ///
    /// # Errors
    ///
    /// [`TestBedError::NotRegistered`], [`TestBedError::InvalidSet`],
    /// [`TestBedError::Config`] or [`TestBedError::NotEnabled`], as above.
    pub async fn start(self) -> Result<RunningBed, TestBedError> {
        let bed = self.launch(true).await?;
        let not_enabled: Vec<PluginRecord> = bed
            .manager
            .records()
            .into_iter()
            .filter(|record| record.state != PluginState::Enabled)
            .collect();
        if not_enabled.is_empty() {
            Ok(bed)
        } else {
            bed.shutdown().await;
            Err(TestBedError::NotEnabled(not_enabled))
        }
    }

    /// Starts the plugins and leaves them as they came out, failed or not: for tests of
    /// failures. Fails only if a plugin cannot be found or the set is invalid; configuration
    /// problems are the manager's, as in an application (the plugin fails with them, or
    /// [`PluginManager::config_problems`] lists them).
    ///
    /// # Errors
    ///
    /// [`TestBedError::NotRegistered`] or [`TestBedError::InvalidSet`].
    pub async fn start_allowing_failures(self) -> Result<RunningBed, TestBedError> {
        self.launch(false).await
    }

    async fn launch(self, strict: bool) -> Result<RunningBed, TestBedError> {
        let specs = self.resolve()?;
        let mut builder = PluginManager::builder()
            .plugins(specs.into_iter().map(|(_, spec)| spec))
            .config(self.config)
            .bus(self.bus);
        for change in self.customize {
            builder = change(builder);
        }
        let manager = builder.build().map_err(TestBedError::InvalidSet)?;
        if strict && !manager.config_problems().is_empty() {
            return Err(TestBedError::Config(manager.config_problems().to_vec()));
        }
        manager.start().await;
        Ok(RunningBed { manager })
    }

    fn root(mut self, name: &str) -> Self {
        if !self.roots.iter().any(|root| root == name) {
            self.roots.push(name.to_owned());
        }
        self
    }

    /// The specs to run: the roots and the closure of their dependencies, by name.
    fn resolve(&self) -> Result<Vec<(String, PluginSpec)>, TestBedError> {
        let mut chosen: Vec<(String, PluginSpec)> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<(String, Option<String>)> =
            self.roots.iter().map(|name| (name.clone(), None)).collect();
        // Given plugins run even when nothing names them as a root (a replaced dependency).
        queue.extend(self.given.keys().map(|name| (name.clone(), None)));
        while let Some((name, needed_by)) = queue.pop_front() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let specs = match self.given.get(&name) {
                Some(spec) => vec![spec.clone()],
                None => {
                    let found: Vec<PluginSpec> = registered_named(&name)
                        .map(PluginSpec::from_descriptor)
                        .collect();
                    if found.is_empty() {
                        return Err(not_registered(&name, needed_by, &chosen));
                    }
                    // More than one: the manager reports the duplicate name.
                    found
                }
            };
            for spec in specs {
                let metadata = spec.metadata();
                for dep in &metadata.deps {
                    queue.push_back((dep.clone(), Some(name.clone())));
                }
                if self.optional_deps {
                    for dep in &metadata.optional_deps {
                        if self.given.contains_key(dep) || registered_named(dep).next().is_some() {
                            queue.push_back((dep.clone(), Some(name.clone())));
                        }
                    }
                }
                chosen.push((name.clone(), spec));
            }
        }
        Ok(chosen)
    }
}

impl Default for TestBed {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TestBed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestBed")
            .field("plugins", &self.roots)
            .field("given", &self.given.keys().collect::<Vec<_>>())
            .field("optional_deps", &self.optional_deps)
            .field("config", &self.config.path())
            .finish_non_exhaustive()
    }
}

fn registered_named(name: &str) -> impl Iterator<Item = &'static PluginDescriptor> + '_ {
    plugin_core::registered().filter(move |d| d.name() == name)
}

fn not_registered(
    name: &str,
    needed_by: Option<String>,
    chosen: &[(String, PluginSpec)],
) -> TestBedError {
    let crate_of = |plugin: &str| {
        chosen
            .iter()
            .find(|(n, _)| n == plugin)
            .map(|(_, spec)| spec.metadata().crate_name.clone())
            .filter(|krate| !krate.is_empty())
    };
    let needed_by = needed_by.map(|plugin| {
        let krate = crate_of(&plugin);
        (plugin, krate)
    });
    let mut registered: Vec<&str> = plugin_core::registered()
        .map(PluginDescriptor::name)
        .collect();
    registered.sort_unstable();
    TestBedError::NotRegistered {
        plugin: name.to_owned(),
        needed_by,
        registered: registered.into_iter().map(str::to_owned).collect(),
    }
}
