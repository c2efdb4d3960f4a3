//! Plugin states, what went wrong, and the record the manager keeps of each plugin.
//!
//! Every type here is [`serde::Serialize`], for hosts that export what the manager knows
//! (as JSON, say). Durations serialize as fractional milliseconds in fields ending in `_ms`,
//! and values that read as text ([`Phase`], the restart policy, where a configuration comes
//! from) as the text the reports show.
//!
//! The file runs past 400 lines only because of its unit tests (the `tests` module at the
//! end, about 50 lines); the types themselves take under 360.

use std::fmt;
use std::time::Duration;

use plugin_core::host::Hook;
use plugin_core::{ConfigSource, Health};
use serde::{Serialize, Serializer};

use crate::restart_policy::RestartPolicy;
use crate::timings::HookTimings;

/// Where a plugin is in its lifecycle.
///
/// `Unloaded -> Loaded -> Setup -> Enabled <-> Disabled -> TornDown`, and `Failed` from any
/// state. A restart takes `TornDown` or `Failed` back to `Loaded` with a fresh instance.
/// [`PluginState::can_go_to`] is that table; the other predicates answer the questions the
/// manager asks of a state, so each is answered in one place.
///
/// More states may come, so a `match` on it outside this crate needs a `_` arm; asking the
/// predicates is usually the better question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PluginState {
    /// Registered; no instance yet.
    Unloaded,
    /// The constructor ran; `setup` has not finished.
    Loaded,
    /// `setup` succeeded; not enabled yet.
    Setup,
    /// Serving.
    Enabled,
    /// Stopped by an operator or for a dependency; may be enabled again.
    Disabled,
    /// Torn down; the instance is gone.
    TornDown,
    /// A hook failed, or a dependency did; see the record's last error.
    Failed,
}

impl PluginState {
    /// Every state, in lifecycle order.
    pub const ALL: [PluginState; 7] = [
        PluginState::Unloaded,
        PluginState::Loaded,
        PluginState::Setup,
        PluginState::Enabled,
        PluginState::Disabled,
        PluginState::TornDown,
        PluginState::Failed,
    ];

    /// Whether the table of legal transitions has the edge `self -> to`.
    ///
    /// ```
    /// use plugin_manager::PluginState::*;
    ///
    /// assert!(Enabled.can_go_to(Disabled));
    /// assert!(TornDown.can_go_to(Loaded)); // a restart
    /// assert!(Setup.can_go_to(Failed)); // `Failed` from any state
    /// assert!(!Disabled.can_go_to(Setup));
    /// ```
    pub const fn can_go_to(self, to: PluginState) -> bool {
        use PluginState::*;
        matches!(
            (self, to),
            (Unloaded, Loaded)
                | (Loaded, Setup)
                | (Setup, Enabled)
                | (Enabled, Disabled)
                | (Disabled, Enabled)
                | (Disabled, TornDown)
                | (TornDown | Failed, Loaded)
                // From any state, itself included: a restart that fails again records its
                // new cause (a repeat of the same cause is not recorded).
                | (_, Failed)
        )
    }

    /// Whether an instance is started and its code may run: `loaded`, `setup` or `enabled`.
    /// Leaving these states stops the plugin's background tasks.
    pub const fn is_running(self) -> bool {
        matches!(
            self,
            PluginState::Loaded | PluginState::Setup | PluginState::Enabled
        )
    }

    /// Whether the plugin holds an instance: running or `disabled`. Entering `torn_down` or
    /// `failed` releases it.
    pub const fn has_instance(self) -> bool {
        self.is_running() || matches!(self, PluginState::Disabled)
    }

    /// Whether an enable brings it up: `disabled`, `setup`, or never started (`unloaded`).
    pub const fn can_enable(self) -> bool {
        matches!(
            self,
            PluginState::Disabled | PluginState::Setup | PluginState::Unloaded
        )
    }

    /// Whether a plugin being enabled or restarted may rely on this one as a dependency: it is
    /// `enabled`, or an enable brings it up.
    pub const fn can_serve(self) -> bool {
        matches!(self, PluginState::Enabled) || self.can_enable()
    }

    /// Whether an operator may restart it: anything but never started (`unloaded`) or
    /// mid-start (`loaded`).
    pub const fn can_restart(self) -> bool {
        !matches!(self, PluginState::Unloaded | PluginState::Loaded)
    }

    /// The lowercase name used in reports and JSON: `enabled`, `torn_down`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            PluginState::Unloaded => "unloaded",
            PluginState::Loaded => "loaded",
            PluginState::Setup => "setup",
            PluginState::Enabled => "enabled",
            PluginState::Disabled => "disabled",
            PluginState::TornDown => "torn_down",
            PluginState::Failed => "failed",
        }
    }
}

impl fmt::Display for PluginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The piece of plugin code that was running when something went wrong.
///
/// More pieces may come, so a `match` on it needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// The constructor (`Default` or `new = ...`).
    Constructor,
    /// One of the lifecycle hooks.
    Hook(Hook),
    /// A task the plugin started with `Context::spawn`.
    Background,
    /// [`Plugin::reconfigure`](plugin_core::Plugin::reconfigure), after a configuration reload.
    Reconfigure,
}

/// As its text: `"constructor"`, `"setup"`, `"background task"`, ...
impl Serialize for Phase {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Constructor => f.write_str("constructor"),
            Phase::Hook(hook) => f.write_str(hook.name()),
            Phase::Background => f.write_str("background task"),
            Phase::Reconfigure => f.write_str("reconfigure"),
        }
    }
}

/// How a plugin failed.
///
/// Serializes as `{"kind": "timeout", "detail": 2000.0}`: the variant in snake case, and its
/// text, plugin name or duration (in milliseconds) as `detail`.
///
/// More kinds may come, so a `match` on it needs a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// Plugin code returned an error; the text is its whole chain of causes.
    Error(String),
    /// Plugin code panicked; the panic message.
    Panic(String),
    /// Plugin code ran past its deadline and was aborted.
    Timeout(#[serde(serialize_with = "millis")] Duration),
    /// A required dependency failed, so this plugin was not started or was stopped.
    DependencyFailed(String),
    /// Shutdown reached its deadline before this plugin was torn down.
    Abandoned(#[serde(serialize_with = "millis")] Duration),
    /// Its section of the configuration file is invalid; the text names file, line and key.
    Config(String),
    /// It reported [`Health::Unhealthy`] with this reason, and
    /// its configuration says `fail_when_unhealthy = true`.
    Unhealthy(String),
}

/// What went wrong with a plugin: the kind, and the phase it happened in.
///
/// Serializes as `{"phase": "setup", "kind": "panic", "detail": "no config"}`.
///
/// More fields may come: make one with [`Failure::new`] or the constructors of the failures
/// that happen outside plugin code ([`Failure::dependency_failed`], [`Failure::abandoned`],
/// [`Failure::unhealthy`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Failure {
    /// The phase, when plugin code of this plugin was running.
    pub phase: Option<Phase>,
    /// What happened.
    #[serde(flatten)]
    pub kind: FailureKind,
}

impl Failure {
    /// A failure in plugin code.
    ///
    /// ```
    /// use plugin_core::host::Hook;
    /// use plugin_manager::{Failure, FailureKind, Phase};
    ///
    /// let failure = Failure::new(Phase::Hook(Hook::Setup), FailureKind::Panic("boom".into()));
    /// assert_eq!(failure.to_string(), "setup panicked: boom");
    /// ```
    #[must_use]
    pub fn new(phase: Phase, kind: FailureKind) -> Self {
        Self {
            phase: Some(phase),
            kind,
        }
    }

    /// The plugin could not run because its dependency `name` failed.
    #[must_use]
    pub fn dependency_failed(name: &str) -> Self {
        Self {
            phase: None,
            kind: FailureKind::DependencyFailed(name.to_owned()),
        }
    }

    /// Shutdown reached its deadline of `limit` before the plugin was torn down.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let failure = plugin_manager::Failure::abandoned(Duration::from_secs(5));
    /// assert_eq!(failure.to_string(), "abandoned: shutdown deadline of 5s reached");
    /// ```
    #[must_use]
    pub fn abandoned(limit: Duration) -> Self {
        Self {
            phase: None,
            kind: FailureKind::Abandoned(limit),
        }
    }

    /// The plugin reported itself unhealthy for `reason`, and is configured to fail for it
    /// (`fail_when_unhealthy`); its restart policy applies.
    ///
    /// ```
    /// let failure = plugin_manager::Failure::unhealthy("disk full");
    /// assert_eq!(failure.to_string(), "reported unhealthy: disk full");
    /// ```
    #[must_use]
    pub fn unhealthy(reason: &str) -> Self {
        Self {
            phase: None,
            kind: FailureKind::Unhealthy(reason.to_owned()),
        }
    }

    /// The error or panic message, if the failure has one.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        match &self.kind {
            FailureKind::Error(text) | FailureKind::Panic(text) => Some(text),
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(phase) = self.phase {
            write!(f, "{phase} ")?;
        }
        match &self.kind {
            FailureKind::Error(text) => write!(f, "returned an error: {text}"),
            FailureKind::Panic(text) => write!(f, "panicked: {text}"),
            FailureKind::Timeout(limit) => write!(f, "timed out after {}", DisplayDuration(*limit)),
            FailureKind::DependencyFailed(dep) => write!(f, "dependency `{dep}` failed"),
            FailureKind::Config(text) => write!(f, "invalid configuration: {text}"),
            FailureKind::Unhealthy(reason) => write!(f, "reported unhealthy: {reason}"),
            FailureKind::Abandoned(limit) => write!(
                f,
                "abandoned: shutdown deadline of {} reached",
                DisplayDuration(*limit)
            ),
        }
    }
}

/// A duration the way people write it: `2s`, `500ms`, `1m30s` (in failures, policies and the
/// host kit's reports).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DisplayDuration(pub(crate) Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let ms = d.as_millis();
        if ms == 0 {
            return write!(f, "{}us", d.as_micros());
        }
        if !ms.is_multiple_of(1000) || ms < 1000 {
            if ms < 1000 {
                return write!(f, "{ms}ms");
            }
            return write!(f, "{:.3}s", d.as_secs_f64());
        }
        let secs = d.as_secs();
        match (secs / 60, secs % 60) {
            (0, s) => write!(f, "{s}s"),
            (m, 0) => write!(f, "{m}m"),
            (m, s) => write!(f, "{m}m{s}s"),
        }
    }
}

/// One change of state, as kept in a record's history and sent to observers.
///
/// More fields may come: outside the manager (a host testing how it shows changes), make one
/// with [`StateChange::new`] and [`StateChange::with_cause`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StateChange {
    /// The plugin.
    pub plugin: String,
    /// The state it left.
    pub from: PluginState,
    /// The state it entered.
    pub to: PluginState,
    /// Why, when it entered `Failed`.
    pub cause: Option<Failure>,
    /// When, measured from the manager's creation on tokio's clock (`at_ms` when serialized).
    #[serde(rename = "at_ms", serialize_with = "millis")]
    pub at: Duration,
}

impl StateChange {
    /// `plugin` went `from` one state `to` another, `at` this time since the manager was
    /// created; without a cause.
    ///
    /// ```
    /// use std::time::Duration;
    /// use plugin_manager::{Failure, PluginState, StateChange};
    ///
    /// let change = StateChange::new("dice", PluginState::Enabled, PluginState::Failed, Duration::ZERO)
    ///     .with_cause(Failure::dependency_failed("commands"));
    /// assert_eq!(change.to, PluginState::Failed);
    /// assert_eq!(change.cause.unwrap().to_string(), "dependency `commands` failed");
    /// ```
    #[must_use]
    pub fn new(
        plugin: impl Into<String>,
        from: PluginState,
        to: PluginState,
        at: Duration,
    ) -> Self {
        Self {
            plugin: plugin.into(),
            from,
            to,
            cause: None,
            at,
        }
    }

    /// The same change, caused by `failure`.
    #[must_use]
    pub fn with_cause(mut self, failure: Failure) -> Self {
        self.cause = Some(failure);
        self
    }
}

/// A snapshot of everything the manager knows about one plugin.
///
/// Serialized, the durations are `start_time_ms` and `stop_time_ms`, the configuration
/// source and the restart policy their text. (A host's `list --json` shape, a flat and
/// stable subset of this, is `host_kit::report::ListEntry`.)
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PluginRecord {
    /// The plugin's name.
    pub name: String,
    /// Its crate's version.
    pub version: String,
    /// Its crate's description.
    pub description: String,
    /// The crate it comes from (empty for plugins given in code).
    pub crate_name: String,
    /// Names of required dependencies.
    pub deps: Vec<String>,
    /// Names of optional dependencies (present or not).
    pub optional_deps: Vec<String>,
    /// The current state.
    pub state: PluginState,
    /// The most recent failure; kept after a successful restart until the next failure.
    pub last_error: Option<Failure>,
    /// How long the last start took, from the constructor to `enabled`.
    #[serde(rename = "start_time_ms", serialize_with = "optional_millis")]
    pub start_time: Option<Duration>,
    /// How long the last stop took, from `on_disable` to `torn_down`.
    #[serde(rename = "stop_time_ms", serialize_with = "optional_millis")]
    pub stop_time: Option<Duration>,
    /// How long each piece of the last start took, and when it became enabled.
    pub timings: HookTimings,
    /// What the current instance last reported of its health (`healthy` until it reports).
    pub health: Health,
    /// Events this plugin's subscriptions lost because they fell a whole queue capacity behind
    /// (the oldest unread ones go first).
    pub dropped_events: u64,
    /// Where its configuration comes from: `default`, or `file:line` of its section.
    #[serde(serialize_with = "as_text")]
    pub config_source: ConfigSource,
    /// Whether the configuration switches it on.
    pub configured_on: bool,
    /// What happens when it fails through its own fault.
    #[serde(serialize_with = "as_text")]
    pub restart_policy: RestartPolicy,
    /// How many times the manager restarted it automatically.
    pub restart_count: u32,
    /// Why it was not restarted after its last failure, when its policy's limit was reached.
    pub gave_up: Option<String>,
    /// Every state change, oldest first (capped at the most recent [`HISTORY_LIMIT`]).
    pub history: Vec<StateChange>,
}

/// How many state changes a record keeps.
pub const HISTORY_LIMIT: usize = 256;

/// A duration in the unit of the reports: milliseconds, with fractions.
pub(crate) fn as_millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(as_millis(*duration))
}

fn optional_millis<S: Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    duration.map(as_millis).serialize(serializer)
}

fn as_text<S: Serializer, T: fmt::Display>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_as_sentences() {
        let panic = Failure::new(Phase::Hook(Hook::Setup), FailureKind::Panic("boom".into()));
        assert_eq!(panic.to_string(), "setup panicked: boom");
        let timeout = Failure::new(
            Phase::Hook(Hook::Enable),
            FailureKind::Timeout(Duration::from_secs(2)),
        );
        assert_eq!(timeout.to_string(), "on_enable timed out after 2s");
        assert_eq!(
            Failure::dependency_failed("x").to_string(),
            "dependency `x` failed"
        );
    }

    #[test]
    fn the_predicates_agree_with_the_table() {
        for state in PluginState::ALL {
            // Only a running plugin's start goes on; only a plugin with an instance stops.
            assert_eq!(
                state.can_go_to(PluginState::Setup) || state.can_go_to(PluginState::Enabled),
                matches!(
                    state,
                    PluginState::Loaded | PluginState::Setup | PluginState::Disabled
                ),
                "{state}"
            );
            assert!(state.can_go_to(PluginState::Failed), "{state}");
            assert_eq!(
                state.can_go_to(PluginState::TornDown),
                state == PluginState::Disabled,
                "{state}"
            );
            assert!(!state.can_go_to(PluginState::Unloaded), "{state}");
            assert!(!state.can_enable() || state.can_serve(), "{state}");
            assert!(!state.is_running() || state.has_instance(), "{state}");
        }
    }

    #[test]
    fn durations_read_as_written() {
        let show = |d| DisplayDuration(d).to_string();
        assert_eq!(show(Duration::from_millis(500)), "500ms");
        assert_eq!(show(Duration::from_secs(30)), "30s");
        assert_eq!(show(Duration::from_secs(90)), "1m30s");
        assert_eq!(show(Duration::from_secs(120)), "2m");
        assert_eq!(show(Duration::from_millis(1500)), "1.500s");
    }
}
