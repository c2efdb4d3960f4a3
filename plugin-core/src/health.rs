//! A plugin's own account of its health, reported through [`Context::health`].

use std::fmt;

use serde::{Serialize, Serializer};

use crate::context::Context;

/// How a plugin says it is doing. The manager records the last report of each instance (a new
/// instance starts [`Healthy`](Health::Healthy)), shows it and, if the plugin's configuration
/// says `fail_when_unhealthy = true`, treats [`Unhealthy`](Health::Unhealthy) as a failure.
///
/// Displayed and serialized as `healthy`, `degraded: REASON` or `unhealthy: REASON`.
///
/// ```
/// use plugin_core::Health;
///
/// assert_eq!(Health::Degraded("disk 91% full".into()).to_string(), "degraded: disk 91% full");
/// assert!(Health::Healthy.is_healthy());
/// assert!(!Health::Unhealthy("no database".into()).is_healthy());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Health {
    /// Working as it should.
    #[default]
    Healthy,
    /// Working, but worse than it should: the reason.
    Degraded(String),
    /// Not doing its job: the reason.
    Unhealthy(String),
}

impl Health {
    /// Whether it is [`Health::Healthy`].
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        matches!(self, Health::Healthy)
    }

    /// `healthy`, `degraded` or `unhealthy`.
    ///
    /// ```
    /// assert_eq!(plugin_core::Health::Unhealthy("x".into()).as_str(), "unhealthy");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded(_) => "degraded",
            Health::Unhealthy(_) => "unhealthy",
        }
    }

    /// The reason given, unless healthy.
    ///
    /// ```
    /// assert_eq!(plugin_core::Health::Degraded("slow".into()).reason(), Some("slow"));
    /// ```
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        match self {
            Health::Healthy => None,
            Health::Degraded(reason) | Health::Unhealthy(reason) => Some(reason),
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(reason) => write!(f, "{}: {reason}", self.as_str()),
            None => f.write_str(self.as_str()),
        }
    }
}

/// As its text (see [`Health`]).
impl Serialize for Health {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where a plugin reports its health: [`Context::health`].
///
/// ```
/// use plugin_core::{Context, Health, PluginMetadata};
///
/// let ctx = Context::detached(PluginMetadata::new("store"));
/// ctx.health().set(Health::Degraded("disk 91% full".into()));
/// assert_eq!(ctx.health().get(), Health::Degraded("disk 91% full".into()));
/// ctx.health().set(Health::Healthy);
/// assert!(ctx.health().get().is_healthy());
/// ```
#[derive(Debug, Clone)]
pub struct HealthHandle {
    pub(crate) context: Context,
}

impl HealthHandle {
    /// Reports `health`; it stands until the next report, or until the instance is replaced.
    pub fn set(&self, health: Health) {
        self.context.set_health(health);
    }

    /// The last health reported through this context.
    #[must_use]
    pub fn get(&self) -> Health {
        self.context.current_health()
    }
}
