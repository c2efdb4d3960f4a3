//! The running instance of one plugin: the object, its context, its background tasks and the
//! token that tells them to stop.

use plugin_core::PluginInstance;
use plugin_core::host::ContextHandle;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::state::PluginState;
use crate::task::spawn_named;

/// One plugin's instance and what hangs off it.
///
/// # Invariants
///
/// - `plugin` and `context` are set together ([`Instance::install`]) and taken together
///   ([`Instance::take`]).
/// - `generation` counts installed instances; a context, a background task or a supervisor
///   carries the generation it was made for, and anything it reports for an older one
///   changes nothing (ARCHITECTURE.md, invariant 6).
/// - Every handle in `tasks` is of the current generation; [`Instance::stop_tasks`] cancels
///   the token and aborts them all, and runs whenever the plugin stops running.
pub(super) struct Instance {
    plugin: Option<PluginInstance>,
    context: Option<ContextHandle>,
    tasks: Vec<AbortHandle>,
    generation: u64,
    /// `on_enable` of a `Disabled` plugin is running: the state still reads `Disabled`, but
    /// the hook may start background tasks, as it may when the plugin first starts.
    enabling: bool,
    /// Cancelled when the plugin leaves `enabled`; replaced when it starts or is enabled again.
    /// Made when the instance first asks for it (most never do, and a token is an allocation
    /// and a lock to cancel): none until then.
    cancellation: Option<CancellationToken>,
    /// Whether the current run was cancelled here, with or without a token: a stop cancels up
    /// to four times (at `on_disable`, at `teardown`, at each state it leaves running for),
    /// and each cancel of a token takes its lock. (A plugin may cancel its own token too; that
    /// one is found by [`Instance::renew_cancellation`].)
    cancelled: bool,
}

impl Instance {
    pub(super) fn new() -> Self {
        Self {
            plugin: None,
            context: None,
            tasks: Vec::new(),
            generation: 0,
            enabling: false,
            cancellation: None,
            cancelled: false,
        }
    }

    /// The instance, if there is one.
    pub(super) fn plugin(&self) -> Option<PluginInstance> {
        self.plugin.clone()
    }

    /// The instance and its context, to run a hook with.
    pub(super) fn handles(&self) -> Option<(PluginInstance, ContextHandle)> {
        Some((self.plugin.clone()?, self.context.clone()?))
    }

    /// The context, if there is an instance.
    pub(super) fn context(&self) -> Option<&ContextHandle> {
        self.context.as_ref()
    }

    /// The generation of the current (or last) instance.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// The generation the next installed instance will have.
    pub(super) fn next_generation(&self) -> u64 {
        self.generation + 1
    }

    /// Makes `plugin` (of `generation`, from [`Instance::next_generation`]) the instance.
    pub(super) fn install(
        &mut self,
        plugin: PluginInstance,
        context: ContextHandle,
        generation: u64,
    ) {
        self.plugin = Some(plugin);
        self.context = Some(context);
        self.generation = generation;
    }

    /// Whether this is still instance `generation`.
    pub(super) fn is(&self, generation: u64) -> bool {
        self.generation == generation
    }

    /// Removes the instance and its context, for [`release`].
    pub(super) fn take(&mut self) -> (Option<PluginInstance>, Option<ContextHandle>) {
        (self.plugin.take(), self.context.take())
    }

    /// Tells the background tasks to wind down, without aborting them yet.
    pub(super) fn cancel(&mut self) {
        if !std::mem::replace(&mut self.cancelled, true)
            && let Some(token) = &self.cancellation
        {
            token.cancel();
        }
    }

    /// Cancels the token and aborts every background task.
    pub(super) fn stop_tasks(&mut self) {
        self.cancel();
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }

    /// A fresh run, whose token is made when asked for, if the last one was cancelled.
    pub(super) fn renew_cancellation(&mut self) {
        let used = self.cancelled
            || self
                .cancellation
                .as_ref()
                .is_some_and(CancellationToken::is_cancelled);
        if used {
            self.cancellation = None;
            self.cancelled = false;
        }
    }

    /// Marks `on_enable` of a disabled plugin as running (or done).
    pub(super) fn set_enabling(&mut self, enabling: bool) {
        self.enabling = enabling;
    }

    /// The token instance `generation` watches: the current one (made now if it was not yet,
    /// cancelled if its run was), or one already cancelled for an old instance, whatever it
    /// starts being already over.
    pub(super) fn cancellation_for(&mut self, generation: u64) -> CancellationToken {
        let cancelled = self.cancelled || !self.is(generation);
        let made = || {
            let token = CancellationToken::new();
            if cancelled {
                token.cancel();
            }
            token
        };
        if self.is(generation) {
            self.cancellation.get_or_insert_with(made).clone()
        } else {
            made()
        }
    }

    /// Whether instance `generation` may start a background task while the plugin is `state`:
    /// it is the current instance, and running or in `on_enable`.
    pub(super) fn accepts_tasks(&self, state: PluginState, generation: u64) -> bool {
        self.is(generation)
            && (state.is_running() || state == PluginState::Disabled && self.enabling)
    }

    /// Keeps `task` to abort when the plugin stops, if it is still welcome; aborts it if not.
    pub(super) fn track(&mut self, state: PluginState, generation: u64, task: AbortHandle) {
        if self.accepts_tasks(state, generation) {
            self.tasks.retain(|t| !t.is_finished());
            self.tasks.push(task);
        } else {
            task.abort();
        }
    }
}

/// What a plugin leaves when it leaves the states with an instance: the instance and its
/// context, whose `Drop`s are plugin code.
pub(super) type Released = (Option<PluginInstance>, Option<ContextHandle>);

/// Drops a plugin instance in a task of its own: its `Drop` is plugin code, and one that
/// panics must not unwind into the manager or the caller of an operator request.
pub(super) fn release(plugin: &str, (instance, context): Released) {
    if instance.is_some() || context.is_some() {
        drop(spawn_named(plugin, "drop", async move {
            drop(context);
            drop(instance);
        }));
    }
}

/// Drops what a plugin task released, in that task, after its last transition (a stop's
/// teardown), saving the task `release` would spawn. A panic in a `Drop` is caught and
/// logged; one that blocks holds the plugin task only, whose caller does not wait for it
/// past the deadline (`driver`, `Progress::settle`).
pub(super) fn drop_released(plugin: &str, (instance, context): Released) {
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        drop(context);
        drop(instance);
    }));
    if let Err(payload) = dropped {
        let panic = crate::task::panic_message(payload.as_ref());
        tracing::warn!(plugin, %panic, "the plugin's instance panicked when dropped");
    }
}
