//! A test harness for plugin authors: run one plugin with what it needs, drive it, watch it.
//!
//! A [`TestBed`] names the plugins under test; it adds the closure of their required
//! dependencies from the registry (the plugins linked into the test binary), takes their
//! configuration from a TOML string and lets the test replace any of them by an instance it
//! built. [`TestBed::start`] runs them under a real [`PluginManager`] and returns a
//! [`RunningBed`], which waits for a plugin's state or for the next event of a type, each
//! under a deadline on tokio's clock and driven by the manager's state-change feed or the
//! event bus: no polling, no sleeps. Tests may therefore run on the paused clock
//! (`#[tokio::test(start_paused = true)]`), where a deadline that is missed costs no real
//! time.
//!
//! ```
//! use std::time::Duration;
//! use plugin_core::prelude::*;
//! use plugin_manager::testing::TestBed;
//! use plugin_manager::PluginState;
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct Ready(u32);
//!
//! /// Announces its configured number once enabled.
//! #[plugin(name = "announcer", config = Settings)]
//! #[derive(Default)]
//! struct Announcer;
//!
//! #[derive(serde::Deserialize)]
//! struct Settings {
//!     number: u32,
//! }
//!
//! #[async_trait]
//! impl Plugin for Announcer {
//!     async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
//!         let settings: Settings = ctx.config()?;
//!         let announcer = ctx.clone();
//!         ctx.spawn(async move {
//!             announcer.publish(Ready(settings.number));
//!             Ok(())
//!         });
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let bed = TestBed::new()
//!     .plugin::<Announcer>()
//!     .config_toml("[announcer]\nnumber = 7\n")?;
//! // Subscribed before anything runs: the event cannot be missed.
//! let mut ready = bed.events::<Ready>();
//! let bed = bed.start().await?;
//! assert_eq!(bed.state("announcer"), Some(PluginState::Enabled));
//! assert_eq!(ready.next(Duration::from_secs(1)).await?, Ready(7));
//!
//! // Nothing else comes: the deadline passes on the paused clock, in no real time.
//! let error = ready.next(Duration::from_secs(5)).await.unwrap_err();
//! assert!(error.to_string().starts_with("timed out after 5s waiting for"), "{error}");
//! bed.shutdown().await;
//! # Ok::<(), plugin_manager::testing::TestBedError>(())
//! # }).unwrap();
//! ```
//!
//! # Which plugins run
//!
//! Exactly the plugins named ([`TestBed::plugin`], [`TestBed::plugin_named`], [`TestBed::spec`],
//! [`TestBed::replace`]) and the closure of their required dependencies (`deps`). Optional
//! dependencies run only when the test names them too, or asks for every registered one with
//! [`TestBed::with_optional_deps`]: which crates a test binary links is the test's choice, so
//! the set under test stays what the test says.
//!
//! A dependency is looked up, in order, among the specs the test gave and then in the registry.
//! A plugin crate is linked into a test binary only if the test refers to it; when a lookup
//! finds nothing, the error names the crate to refer to (`use plugin_commands as _;`).

use std::any::type_name;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::future::IntoFuture;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use plugin_core::{
    ConfigError, EventBus, PluginDescriptor, PluginInstance, PluginMetadata, PluginRef, PluginType,
    Subscription,
};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::config::PluginsConfig;
use crate::error::InvalidPluginSet;
use crate::manager::{ManagerBuilder, PluginManager};
use crate::spec::PluginSpec;
use crate::state::{DisplayDuration, Failure, PluginRecord, PluginState};

/// The file name that errors in a configuration given by [`TestBed::config_toml`] show.
pub const CONFIG_PATH: &str = "test.toml";

/// The owner of the test's own subscriptions on the bus: not a valid plugin name, so the
/// manager never closes it.
const TEST_OWNER: &str = "test bed";

/// The plugins under test, before they start.
///
/// See [the module documentation](self) for an example.
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
    let mut registered: Vec<&str> = plugin_core::registered().map(|d| d.name()).collect();
    registered.sort_unstable();
    TestBedError::NotRegistered {
        plugin: name.to_owned(),
        needed_by,
        registered: registered.into_iter().map(str::to_owned).collect(),
    }
}

/// The plugins of a [`TestBed`], running under a [`PluginManager`].
///
/// Dropping it without [`RunningBed::shutdown`] aborts the plugins' background tasks without
/// running their `on_disable` and `teardown`.
#[derive(Debug)]
pub struct RunningBed {
    manager: PluginManager,
}

impl RunningBed {
    /// The manager running the plugins, for operator requests (`disable`, `restart`,
    /// `reload_config`) and everything else it offers.
    pub fn manager(&self) -> &PluginManager {
        &self.manager
    }

    /// The event bus the plugins use.
    pub fn bus(&self) -> &EventBus {
        self.manager.bus()
    }

    /// The state of `plugin`, if the bed has such a plugin.
    pub fn state(&self, plugin: &str) -> Option<PluginState> {
        self.manager.state(plugin)
    }

    /// A snapshot of the record of `plugin`, if the bed has such a plugin.
    pub fn record(&self, plugin: &str) -> Option<PluginRecord> {
        self.manager.record(plugin)
    }

    /// The live instance of the plugin type `P`, or an error saying why there is none.
    pub fn get<P: PluginType>(&self) -> Result<PluginRef<P>, TestBedError> {
        self.get_named(P::NAME)
    }

    /// The live instance of `plugin` as a `P`, for plugins given as specs.
    pub fn get_named<P: Send + Sync + 'static>(
        &self,
        plugin: &str,
    ) -> Result<PluginRef<P>, TestBedError> {
        let record = self.known(plugin)?;
        let instance = self
            .manager
            .instance(plugin)
            .ok_or_else(|| TestBedError::NoInstance {
                plugin: plugin.to_owned(),
                state: record.state,
                failure: record.last_error.clone(),
            })?;
        instance
            .downcast::<P>()
            .ok_or_else(|| TestBedError::WrongType {
                plugin: plugin.to_owned(),
                actual: instance.type_name(),
                asked: type_name::<P>(),
            })
    }

    /// Publishes `event` to the plugins' subscribers; returns how many queued it.
    pub fn publish<E: Clone + Send + Sync + 'static>(&self, event: E) -> usize {
        self.manager.bus().publish(event)
    }

    /// Subscribes the test to events of type `E` from now on. Subscribe before doing what
    /// causes the event, so that it cannot pass unseen.
    pub fn events<E: Clone + Send + Sync + 'static>(&self) -> Events<E> {
        Events::new(self.manager.bus())
    }

    /// Waits until `plugin` is in `state` (at once if it is now), at most `timeout` on tokio's
    /// clock, following the manager's state-change feed.
    ///
    /// A timeout error says what was awaited, the state the plugin is in and its last error.
    ///
    /// ```
    /// use std::time::Duration;
    /// use plugin_core::{Plugin, PluginMetadata, async_trait};
    /// use plugin_manager::{PluginSpec, PluginState};
    /// use plugin_manager::testing::TestBed;
    ///
    /// #[derive(Default)]
    /// struct Noop;
    /// #[async_trait]
    /// impl Plugin for Noop {}
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let bed = TestBed::new()
    ///     .spec(PluginSpec::with_default::<Noop>(PluginMetadata::new("noop")))
    ///     .start()
    ///     .await?;
    /// let second = Duration::from_secs(1);
    /// bed.wait_for_state("noop", PluginState::Enabled, second).await?;
    ///
    /// let error = bed.wait_for_state("noop", PluginState::Disabled, second).await.unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "timed out after 1s waiting for plugin `noop` to be disabled: it is enabled"
    /// );
    ///
    /// let (waited, disabled) = tokio::join!(
    ///     bed.wait_for_state("noop", PluginState::Disabled, second),
    ///     bed.manager().disable("noop"),
    /// );
    /// waited?;
    /// disabled.unwrap();
    /// # Ok::<(), plugin_manager::testing::TestBedError>(())
    /// # }).unwrap();
    /// ```
    pub async fn wait_for_state(
        &self,
        plugin: &str,
        state: PluginState,
        timeout: Duration,
    ) -> Result<(), TestBedError> {
        let deadline = Instant::now() + timeout;
        // Subscribed before the state is read: a change right after the read is in the feed.
        let mut changes = self.manager.subscribe();
        loop {
            if self.known(plugin)?.state == state {
                return Ok(());
            }
            loop {
                match tokio::time::timeout_at(deadline, changes.recv()).await {
                    Ok(Ok(change)) if change.plugin == plugin && change.to == state => {
                        return Ok(());
                    }
                    Ok(Ok(_)) => {}
                    // Missed changes: read the state again.
                    Ok(Err(RecvError::Lagged(_))) => break,
                    // The feed ends only with the manager, which `self` keeps alive.
                    Ok(Err(RecvError::Closed)) | Err(_) => {
                        let record = self.known(plugin)?;
                        if record.state == state {
                            return Ok(());
                        }
                        return Err(TestBedError::Timeout {
                            awaited: format!("plugin `{plugin}` to be {state}"),
                            after: timeout,
                            detail: Some(describe(&record)),
                        });
                    }
                }
            }
        }
    }

    /// Shuts the plugins down (dependents first) and returns their records afterwards.
    pub async fn shutdown(self) -> Vec<PluginRecord> {
        self.manager.shutdown().await;
        self.manager.records()
    }

    fn known(&self, plugin: &str) -> Result<PluginRecord, TestBedError> {
        self.manager
            .record(plugin)
            .ok_or_else(|| TestBedError::UnknownPlugin {
                plugin: plugin.to_owned(),
                plugins: self.manager.start_order().to_vec(),
            })
    }
}

/// "it is failed (last error: setup returned an error: ...)".
fn describe(record: &PluginRecord) -> String {
    match &record.last_error {
        Some(failure) if record.state == PluginState::Failed => {
            format!("it is {} ({failure})", record.state)
        }
        Some(failure) => format!("it is {} (last error: {failure})", record.state),
        None => format!("it is {}", record.state),
    }
}

/// The test's subscription to events of type `E`, from [`TestBed::events`] or
/// [`RunningBed::events`].
pub struct Events<E> {
    subscription: Subscription<E>,
}

impl<E: Clone + Send + Sync + 'static> Events<E> {
    fn new(bus: &EventBus) -> Self {
        Self {
            subscription: bus.subscribe(TEST_OWNER),
        }
    }

    /// The next event, waiting at most `timeout` on tokio's clock.
    pub async fn next(&mut self, timeout: Duration) -> Result<E, TestBedError> {
        self.next_matching(timeout, |_| true).await
    }

    /// The next event for which `wanted` is true, skipping the others, waiting at most
    /// `timeout` in all.
    pub async fn next_matching(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&E) -> bool,
    ) -> Result<E, TestBedError> {
        let awaited = format!("an event of type `{}`", type_name::<E>());
        let mut skipped = 0_usize;
        let found = within(timeout, &awaited, async {
            while let Some(event) = self.subscription.recv().await {
                if wanted(&event) {
                    return Some(event);
                }
                skipped += 1;
            }
            None
        })
        .await;
        match found {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(TestBedError::EventsClosed {
                event: type_name::<E>(),
            }),
            Err(TestBedError::Timeout { awaited, after, .. }) if skipped > 0 => {
                Err(TestBedError::Timeout {
                    awaited,
                    after,
                    detail: Some(format!("{skipped} others came")),
                })
            }
            Err(error) => Err(error),
        }
    }

    /// The next event if one is queued now.
    pub fn try_next(&mut self) -> Option<E> {
        self.subscription.try_recv()
    }
}

impl<E> fmt::Debug for Events<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("event", &type_name::<E>())
            .finish_non_exhaustive()
    }
}

/// Awaits `future` for at most `limit` on tokio's clock; on timeout the error says it was
/// `awaited`. For what the harness does not wait for itself, e.g. a reply.
///
/// ```
/// use std::time::Duration;
/// use plugin_manager::testing::within;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// assert_eq!(within(Duration::from_secs(1), "an answer", async { 42 }).await.unwrap(), 42);
/// let error = within(Duration::from_secs(1), "a reply to `!roll`", std::future::pending::<()>())
///     .await
///     .unwrap_err();
/// assert_eq!(error.to_string(), "timed out after 1s waiting for a reply to `!roll`");
/// # });
/// ```
pub async fn within<F: IntoFuture>(
    limit: Duration,
    awaited: &str,
    future: F,
) -> Result<F::Output, TestBedError> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| TestBedError::Timeout {
            awaited: awaited.to_owned(),
            after: limit,
            detail: None,
        })
}

/// What went wrong in a test bed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TestBedError {
    /// A plugin of the bed is neither given by the test nor registered in this binary.
    #[error("{}", not_registered_text(plugin, needed_by.as_ref(), registered))]
    NotRegistered {
        /// The plugin nothing answers to.
        plugin: String,
        /// The plugin that needs it and that plugin's crate, unless the test named it itself.
        needed_by: Option<(String, Option<String>)>,
        /// The names of the plugins registered in this binary, sorted.
        registered: Vec<String>,
    },
    /// The manager refused the set of plugins.
    #[error(transparent)]
    InvalidSet(InvalidPluginSet),
    /// The configuration is not valid TOML, or names no plugin of the bed.
    #[error("{}", config_text(.0))]
    Config(Vec<ConfigError>),
    /// After [`TestBed::start`], these plugins were not enabled (their records).
    #[error("{}", not_enabled_text(.0))]
    NotEnabled(Vec<PluginRecord>),
    /// A wait reached its deadline.
    #[error(
        "timed out after {} waiting for {awaited}{}",
        DisplayDuration(*after),
        detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
    )]
    Timeout {
        /// What was awaited.
        awaited: String,
        /// The deadline it had.
        after: Duration,
        /// What was seen instead, when known.
        detail: Option<String>,
    },
    /// The bed has no plugin of this name.
    #[error("the test bed has no plugin `{plugin}`; it has {}", plugins.join(", "))]
    UnknownPlugin {
        /// The name asked for.
        plugin: String,
        /// The plugins of the bed, in start order.
        plugins: Vec<String>,
    },
    /// The plugin has no live instance in its state.
    #[error(
        "plugin `{plugin}` has no instance: it is {state}{}",
        failure.as_ref().map(|f| format!(" ({f})")).unwrap_or_default()
    )]
    NoInstance {
        /// The plugin.
        plugin: String,
        /// Its state.
        state: PluginState,
        /// Its last failure, if any.
        failure: Option<Failure>,
    },
    /// The plugin is not of the type asked for.
    #[error("plugin `{plugin}` is a `{actual}`, not a `{asked}`")]
    WrongType {
        /// The plugin.
        plugin: String,
        /// Its type.
        actual: &'static str,
        /// The type asked for.
        asked: &'static str,
    },
    /// The test's subscription was closed.
    #[error("the test's subscription to `{event}` events was closed")]
    EventsClosed {
        /// The event type.
        event: &'static str,
    },
}

fn not_registered_text(
    plugin: &str,
    needed_by: Option<&(String, Option<String>)>,
    registered: &[String],
) -> String {
    let mut text = match needed_by {
        Some((by, Some(krate))) => {
            format!("plugin `{plugin}`, which `{by}` (crate `{krate}`) needs, is not registered")
        }
        Some((by, None)) => format!("plugin `{plugin}`, which `{by}` needs, is not registered"),
        None => format!("plugin `{plugin}` is not registered"),
    };
    let guess = format!("plugin_{}", plugin.replace('-', "_"));
    text.push_str(&format!(
        " in this binary. A plugin crate is linked into a test only if the test refers to it: \
         name the crate that defines `{plugin}` in the test, e.g. `use {guess} as _;` (with \
         that crate among the dev-dependencies), or give the bed a stand-in with \
         `TestBed::spec` or `TestBed::replace`. Registered here: "
    ));
    if registered.is_empty() {
        text.push_str("none");
    } else {
        text.push_str(&registered.join(", "));
    }
    text
}

fn config_text(problems: &[ConfigError]) -> String {
    match problems {
        [one] => one.to_string(),
        many => {
            let lines: Vec<String> = many.iter().map(|p| format!("\n  - {p}")).collect();
            format!("invalid test configuration:{}", lines.concat())
        }
    }
}

fn not_enabled_text(records: &[PluginRecord]) -> String {
    let lines: Vec<String> = records
        .iter()
        .map(|r| format!("\n  - `{}`: {}", r.name, describe(r)))
        .collect();
    format!(
        "not every plugin of the test bed is enabled:{}",
        lines.concat()
    )
}
