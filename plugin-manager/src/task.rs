//! Running plugin code in tasks of its own: one function spawns every task, and
//! [`run_isolated`] turns a task's outcome (value, error, panic, deadline) into a `Failure`.

use std::any::Any;
use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::state::{Failure, FailureKind, Phase};

/// Spawns `future` as a task of `plugin` inside a span `plugin{plugin = NAME, task = WHAT}`,
/// so that everything the code logs carries the plugin's name and one plugin's level can be
/// raised alone (`RUST_LOG=error,[plugin{plugin=dice}]=debug`, see docs/operating.md).
///
/// The span is at debug level: under the usual `info` filter it is disabled, which costs one
/// check of the callsite's interest; it exists when debug logging is on, or when a directive
/// names the span.
pub(crate) fn spawn_named<F>(
    plugin: &str,
    what: impl std::fmt::Display,
    future: F,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.instrument(plugin_span(plugin, what)))
}

/// The span plugin code of `plugin` runs in (see [`spawn_named`]): a root span, so that a
/// task one plugin's operation starts for another is filtered by the other's name alone.
pub(crate) fn plugin_span(plugin: &str, what: impl std::fmt::Display) -> tracing::Span {
    tracing::debug_span!(parent: None, "plugin", plugin, task = %what)
}

/// Spawns one of the manager's own tasks (a wavefront, an operator request) in a span
/// `manager{task = WHAT}`, at debug level as [`spawn_named`]'s.
pub(crate) fn spawn_manager<F>(what: &str, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.instrument(tracing::debug_span!("manager", task = what)))
}

/// Runs plugin code in its own task under `limit`; an error, a panic or the deadline becomes a
/// [`Failure`] of `phase`. Past the deadline the task is aborted.
pub(crate) async fn run_isolated<T, F>(
    plugin: &str,
    phase: Phase,
    limit: Duration,
    code: F,
) -> Result<T, Failure>
where
    F: Future<Output = plugin_core::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut handle = AbortOnDrop(spawn_named(plugin, phase, code));
    match tokio::time::timeout(limit, &mut handle.0).await {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(error))) => Err(Failure::new(phase, FailureKind::Error(error.to_string()))),
        Ok(Err(join_error)) => Err(Failure::new(phase, join_failure(join_error))),
        Err(_elapsed) => {
            handle.0.abort();
            Err(Failure::new(phase, FailureKind::Timeout(limit)))
        }
    }
}

/// Aborts the task when dropped. Whoever awaits plugin code may itself be cancelled (shutdown
/// abandons its stop tasks at its deadline); the plugin code must not then run on unsupervised,
/// holding the plugin's resources after the manager has recorded it as abandoned.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a task that did not return tells: its panic message, or that it was cancelled.
pub(crate) fn join_failure(error: tokio::task::JoinError) -> FailureKind {
    match error.try_into_panic() {
        Ok(payload) => FailureKind::Panic(panic_message(payload.as_ref())),
        Err(_cancelled) => FailureKind::Error("task was cancelled".to_owned()),
    }
}

/// The message of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
