//! What a plugin receives in each hook: who it is, its dependencies, the event bus.
//!
//! Over 400 lines because `Context` is what every plugin author reads: most of the file is its
//! documentation and examples, one method at a time.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use crate::bus::{EventBus, RequestError, Requests, ServeError, Subscription};
use crate::cancel::Cancellation;
use crate::config::{ConfigError, ConfigSection, ConfigSource};
use crate::error::{Error, Result};
use crate::health::{Health, HealthHandle};
use crate::host::{Host, NoHost};
use crate::instance::Dep;
use crate::metadata::PluginMetadata;
use crate::plugin::PluginType;
use serde::de::DeserializeOwned;

/// What every error of a detached context says after what could not be done.
const DETACHED: &str = "this context is detached (no manager runs it)";

/// What a detached context's errors suggest instead.
const RUN_IT_UNDER_A_MANAGER: &str = "run the plugin with its dependencies under a manager, \
     e.g. `plugin_manager::testing::TestBed`";

/// A plugin's view of the application, handed to every hook.
///
/// It is cheap to clone; a clone may be moved into tasks the plugin starts.
///
/// ```
/// use plugin_core::{Context, PluginMetadata};
///
/// let ctx = Context::detached(PluginMetadata::new("dice"));
/// assert_eq!(ctx.name(), "dice");
/// ```
#[derive(Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
}

/// What a context holds, with its host in the same allocation: `H` is the host's own type
/// while the context is made, then `dyn Host` (hence the host's place, last).
struct ContextInner<H: ?Sized = dyn Host> {
    /// The metadata's name, shared with every event this context publishes; made at the first
    /// event or counter, so a plugin that publishes nothing never copies its name.
    sender: OnceLock<Arc<str>>,
    metadata: Arc<PluginMetadata>,
    bus: EventBus,
    config: RwLock<Arc<ConfigSection>>,
    health: Mutex<Health>,
    /// This plugin's counters, registered on first use (see [`Counters`]).
    counters: OnceLock<Counters>,
    host: H,
}

/// What a context counts through the `metrics` facade, labelled `plugin="NAME"`:
/// `plugin_events_published_total`, `plugin_events_delivered_total` (queued to subscribers),
/// `plugin_requests_total` and `plugin_requests_failed_total` (the requests this plugin made),
/// `plugin_requests_served_total` and `plugin_requests_unanswered_total` (the requests its
/// servers took: answered, or not; counted by [`Requests`]). Registered on the first event,
/// request or server, with the recorder installed then.
struct Counters {
    published: metrics::Counter,
    delivered: metrics::Counter,
    requests: metrics::Counter,
    requests_failed: metrics::Counter,
    served: metrics::Counter,
    unanswered: metrics::Counter,
}

impl Context {
    /// A context for the plugin described by `metadata`; the manager makes these through
    /// [`ContextHandle::new`](crate::host::ContextHandle::new).
    pub(crate) fn new<H: Host + 'static>(
        metadata: Arc<PluginMetadata>,
        bus: EventBus,
        host: H,
        section: Arc<ConfigSection>,
    ) -> Self {
        let inner: Arc<ContextInner> = Arc::new(ContextInner {
            sender: OnceLock::new(),
            metadata,
            bus,
            config: RwLock::new(section),
            health: Mutex::new(Health::Healthy),
            counters: OnceLock::new(),
            host,
        });
        Self { inner }
    }

    /// A context with its own bus, no other plugins and no task runner, e.g. to unit-test a
    /// plugin's hooks one by one.
    ///
    /// What needs a manager says so: [`Context::dep`] fails with "this context is detached",
    /// [`Context::request`] with [`RequestError::Detached`], a failed [`Context::config`]
    /// says that no configuration was given; [`Context::optional_dep`] is `None` and
    /// [`Context::is_enabled`] `false`; tasks given to [`Context::spawn`] are dropped unrun.
    ///
    /// ```
    /// use plugin_core::{Context, PluginMetadata};
    ///
    /// let ctx = Context::detached(PluginMetadata::new("dice").with_deps(["commands"]));
    /// let error = ctx.dep_named::<()>("commands").unwrap_err().to_string();
    /// assert!(
    ///     error.starts_with("plugin `dice`: dependency `commands` is not available: this context is detached"),
    ///     "{error}"
    /// );
    /// ```
    #[must_use]
    pub fn detached(metadata: PluginMetadata) -> Self {
        Self::new(Arc::new(metadata), EventBus::new(), NoHost, Arc::default())
    }

    /// A detached context (see [`Context::detached`]) whose [`Context::config`] reads
    /// `section`, e.g. to unit-test how a plugin takes its configuration.
    #[must_use]
    pub fn detached_with_config(metadata: PluginMetadata, section: ConfigSection) -> Self {
        let ctx = Self::detached(metadata);
        ctx.set_config(Arc::new(section));
        ctx
    }

    /// This plugin's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.metadata.name
    }

    /// This plugin's metadata.
    #[must_use]
    pub fn metadata(&self) -> &PluginMetadata {
        &self.inner.metadata
    }

    /// This plugin's configuration, deserialized into its own type.
    ///
    /// Without a section in the host's file, `T` is made from an empty table, so give its
    /// fields serde defaults. Errors name the file, line and key.
    ///
    /// ```
    /// use plugin_core::{ConfigSection, Context, PluginMetadata};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Limits {
    ///     #[serde(default = "ten")]
    ///     max: u32,
    /// }
    /// fn ten() -> u32 { 10 }
    ///
    /// let ctx = Context::detached(PluginMetadata::new("dice"));
    /// assert_eq!(ctx.config::<Limits>()?.max, 10);
    /// let section = ConfigSection::parse_toml("plugins.toml", 1, "max = 3")?;
    /// let ctx = Context::detached_with_config(PluginMetadata::new("dice"), section);
    /// assert_eq!(ctx.config::<Limits>()?.max, 3);
    /// # Ok::<(), plugin_core::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file, line and key when the section does not deserialize
    /// into `T`; on a detached context that was given no section, the error says so.
    pub fn config<T: DeserializeOwned>(&self) -> std::result::Result<T, ConfigError> {
        let section = self.config_section();
        section.deserialize(self.name()).map_err(|mut error| {
            if self.is_detached() && *section.source() == ConfigSource::Default {
                error.message = format!(
                    "{}; {DETACHED}, so no configuration file gave it a section: give it \
                     one with `Context::detached_with_config`, or {RUN_IT_UNDER_A_MANAGER} and its \
                     configuration",
                    error.message
                );
            }
            error
        })
    }

    /// This plugin's configuration section as it is now.
    #[must_use]
    pub fn config_section(&self) -> Arc<ConfigSection> {
        self.inner
            .config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the configuration section. Not public: a plugin must not change its own
    /// configuration; the manager does it through its [`ContextHandle`](crate::host::ContextHandle).
    pub(crate) fn set_config(&self, section: Arc<ConfigSection>) {
        *self
            .inner
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner) = section;
    }

    /// The dependency `P`, which this plugin must have declared in `deps = [...]`.
    ///
    /// # Errors
    ///
    /// Fails, naming both plugins, if `P` was not declared; if it was declared but is not
    /// enabled (possible only for an optional dependency), or while one of its hooks runs;
    /// on a detached context (see [`Context::detached`]), always, saying so.
    pub fn dep<P: PluginType>(&self) -> Result<Dep<P>> {
        self.dep_named(P::NAME)
    }

    /// The optional dependency `P`: `None` when it is not compiled in or not enabled.
    ///
    /// A detached context sees no other plugin, so there it is always `None`.
    ///
    /// # Errors
    ///
    /// Fails only if `P` was not declared in `deps` or `optional`.
    pub fn optional_dep<P: PluginType>(&self) -> Result<Option<Dep<P>>> {
        if self.is_detached() {
            return Ok(None);
        }
        self.check_declared(P::NAME)?;
        Ok(self
            .inner
            .host
            .enabled_instance(P::NAME)
            .and_then(|instance| instance.downcast::<P>())
            .and_then(|plugin| plugin.try_read_owned()))
    }

    /// The dependency called `name`, as type `P`; for plugins assembled in code.
    ///
    /// # Errors
    ///
    /// As [`Context::dep`], and also when the plugin called `name` is not a `P`.
    pub fn dep_named<P: Send + Sync + 'static>(&self, name: &str) -> Result<Dep<P>> {
        let me = self.name();
        if self.is_detached() {
            // Checked first: a detached context is often given bare metadata, and "did not
            // declare" would then blame a declaration that is right.
            return Err(Error::msg(format_args!(
                "plugin `{me}`: dependency `{name}` is not available: {DETACHED}, so it \
                 reaches no other plugin; {RUN_IT_UNDER_A_MANAGER}"
            )));
        }
        self.check_declared(name)?;
        let instance = self.inner.host.enabled_instance(name).ok_or_else(|| {
            Error::msg(format_args!(
                "plugin `{me}`: dependency `{name}` is not enabled"
            ))
        })?;
        let plugin = instance.downcast::<P>().ok_or_else(|| {
            Error::msg(format_args!(
                "plugin `{me}`: dependency `{name}` is a `{}`, not a `{}`",
                instance.type_name(),
                std::any::type_name::<P>()
            ))
        })?;
        plugin.try_read_owned().ok_or_else(|| {
            Error::msg(format_args!(
                "plugin `{me}`: dependency `{name}` is busy running one of its hooks"
            ))
        })
    }

    /// Whether the plugin called `name` is enabled right now (e.g. an optional dependency);
    /// always `false` on a detached context.
    #[must_use]
    pub fn is_enabled(&self, name: &str) -> bool {
        self.inner.host.enabled_instance(name).is_some()
    }

    /// Whether this context is detached: no manager runs it (see [`Context::detached`]).
    ///
    /// ```
    /// use plugin_core::{Context, PluginMetadata};
    ///
    /// assert!(Context::detached(PluginMetadata::new("dice")).is_detached());
    /// ```
    #[must_use]
    pub fn is_detached(&self) -> bool {
        self.inner.host.is_detached()
    }

    /// Whether `other` was handed out by the same manager as this context (they share one
    /// bus): a plugin that receives a context can tell it from one made up with another
    /// plugin's name, e.g. with [`Context::detached`].
    ///
    /// ```
    /// use plugin_core::{Context, PluginMetadata};
    ///
    /// let mine = Context::detached(PluginMetadata::new("commands"));
    /// let made_up = Context::detached(PluginMetadata::new("dice"));
    /// assert!(mine.is_sibling_of(&mine.clone()));
    /// assert!(!mine.is_sibling_of(&made_up));
    /// ```
    #[must_use]
    pub fn is_sibling_of(&self, other: &Context) -> bool {
        self.inner.bus.is_same(&other.inner.bus)
    }

    fn check_declared(&self, name: &str) -> Result<()> {
        if self.metadata().declares(name) {
            Ok(())
        } else {
            Err(Error::msg(format_args!(
                "plugin `{}` did not declare `{name}` as a dependency: add it to `deps = [...]`",
                self.name()
            )))
        }
    }

    /// Runs `task` in the background while this plugin is enabled.
    ///
    /// The manager owns the task. When the plugin leaves `enabled`, the manager first cancels
    /// [`Context::cancellation`], then runs `on_disable` (or `teardown`), then aborts the tasks
    /// still running: a task that watches the token can finish its work cleanly meanwhile.
    /// If a task returns an error or panics, the plugin becomes `failed` with that cause.
    ///
    /// A detached context (see [`Context::detached`]) has nothing to run the task on and drops
    /// it unrun.
    ///
    /// ```
    /// # use plugin_core::prelude::*;
    /// # async fn on_enable(ctx: &Context) -> Result<()> {
    /// let stop = ctx.cancellation();
    /// ctx.spawn(async move {
    ///     let mut ticks = 0u64;
    ///     loop {
    ///         tokio::select! {
    ///             _ = stop.cancelled() => break, // disabling: flush and leave
    ///             _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => ticks += 1,
    ///         }
    ///     }
    ///     Ok(())
    /// });
    /// # Ok(())
    /// # }
    /// ```
    pub fn spawn(&self, task: impl Future<Output = Result<()>> + Send + 'static) {
        self.inner.host.spawn(self.name(), Box::pin(task));
    }

    /// A token that is cancelled when this plugin next leaves `enabled` (disable, teardown,
    /// failure). Each time the plugin is enabled again it gets a fresh one.
    #[must_use]
    pub fn cancellation(&self) -> Cancellation {
        Cancellation::from_token(self.inner.host.cancellation(self.name()))
    }

    /// Serves requests `Q` answered with `R` as this plugin; the server closes when the
    /// plugin leaves `enabled` (see [`crate::bus`]).
    ///
    /// Each request the server takes is counted for this plugin, once it is replied to or
    /// dropped, as `plugin_requests_served_total` (the answer reached the requester) or
    /// `plugin_requests_unanswered_total` (dropped without a reply, given up by the requester
    /// before the answer came, or still queued when the server closed).
    ///
    /// # Errors
    ///
    /// [`ServeError::AlreadyServed`] if another plugin serves `(Q, R)`.
    pub fn serve<Q: Send + 'static, R: Send + 'static>(
        &self,
    ) -> std::result::Result<Requests<Q, R>, ServeError> {
        self.inner.host.opens_on_bus(self.name());
        let requests = self.inner.bus.serve(self.name())?;
        let counters = self.counters();
        Ok(requests.counted(counters.served.clone(), counters.unanswered.clone()))
    }

    /// Asks whoever serves `(Q, R)`, waiting at most `timeout` (see [`RequestError`]).
    ///
    /// # Errors
    ///
    /// As [`EventBus::request`]; on a detached context only this plugin itself could serve
    /// it, and when it does not, the error is [`RequestError::Detached`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future withdraws the request (see [`EventBus::request`]).
    pub async fn request<Q: Send + 'static, R: Send + 'static>(
        &self,
        query: Q,
        timeout: Duration,
    ) -> std::result::Result<R, RequestError> {
        let outcome = match self.inner.bus.request(query, timeout).await {
            Err(RequestError::NoServer { request }) if self.is_detached() => {
                Err(RequestError::Detached {
                    request,
                    plugin: self.name().to_owned(),
                })
            }
            outcome => outcome,
        };
        let counters = self.counters();
        counters.requests.increment(1);
        if outcome.is_err() {
            counters.requests_failed.increment(1);
        }
        outcome
    }

    /// Publishes an event to every enabled subscriber; returns how many open subscriptions it
    /// was published to.
    ///
    /// Subscribers see this plugin as its sender ([`Subscription::recv_stamped`]).
    pub fn publish<E: Clone + Send + Sync + 'static>(&self, event: E) -> usize {
        let delivered = self.inner.bus.publish_from(self.sender(), event);
        let counters = self.counters();
        counters.published.increment(1);
        counters.delivered.increment(delivered as u64);
        delivered
    }

    /// The plugin's name as events carry it.
    fn sender(&self) -> &Arc<str> {
        self.inner
            .sender
            .get_or_init(|| self.inner.metadata.name.as_str().into())
    }

    fn counters(&self) -> &Counters {
        self.inner.counters.get_or_init(|| {
            let plugin = self.sender().clone();
            Counters {
                published: metrics::counter!("plugin_events_published_total", "plugin" => plugin.clone()),
                delivered: metrics::counter!("plugin_events_delivered_total", "plugin" => plugin.clone()),
                requests: metrics::counter!("plugin_requests_total", "plugin" => plugin.clone()),
                requests_failed: metrics::counter!("plugin_requests_failed_total", "plugin" => plugin.clone()),
                served: metrics::counter!("plugin_requests_served_total", "plugin" => plugin.clone()),
                unanswered: metrics::counter!("plugin_requests_unanswered_total", "plugin" => plugin),
            }
        })
    }

    /// Where this plugin reports its health (see [`Health`]): the manager records the last
    /// report, shows it to operators and in metrics, and may treat `Unhealthy` as a failure.
    ///
    /// ```
    /// # use plugin_core::prelude::*;
    /// use plugin_core::Health;
    ///
    /// # fn check(ctx: &Context, used: u8) {
    /// if used > 90 {
    ///     ctx.health().set(Health::Degraded(format!("disk {used}% full")));
    /// } else {
    ///     ctx.health().set(Health::Healthy);
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn health(&self) -> HealthHandle {
        HealthHandle {
            context: self.clone(),
        }
    }

    pub(crate) fn set_health(&self, health: Health) {
        let mut current = self
            .inner
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *current != health {
            *current = health.clone();
            drop(current);
            self.inner.host.report_health(self.name(), health);
        }
    }

    pub(crate) fn current_health(&self) -> Health {
        self.inner
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Subscribes this plugin to events of type `E`.
    ///
    /// The subscription closes when the plugin leaves `enabled` (see [`crate::bus`]).
    pub fn subscribe<E: Clone + Send + Sync + 'static>(&self) -> Subscription<E> {
        self.inner.host.opens_on_bus(self.name());
        self.inner.bus.subscribe(self.name())
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("plugin", &self.name())
            .finish_non_exhaustive()
    }
}
