//! Operator requests on running plugins: enable, disable (with or without the cascade) and
//! restart. Each takes the set lock shared, then the operation locks of every plugin it
//! touches or relies on, in start order, so requests on related plugins take turns and
//! unrelated ones do not wait.

use std::sync::Arc;

use super::Shared;
use crate::error::{Operation, OperationError};
use crate::state::{Failure, PluginState};

impl Shared {
    /// Enables `name`, first enabling any of its dependencies that are disabled.
    pub(crate) async fn enable(self: &Arc<Self>, name: &str) -> Result<(), OperationError> {
        let pos = self.position(name)?;
        let related = self.graph.deps_closure(pos);
        let _locks = self.lock_all(&related).await;
        self.check_running()?;
        let state = self.state(pos);
        if !state.can_enable() {
            return Err(OperationError::InvalidTransition {
                plugin: name.to_owned(),
                state,
                operation: Operation::Enable,
            });
        }
        self.check_dependencies(pos, &related, Operation::Enable)?;
        for &p in &related {
            self.bring_up(p)
                .await
                .map_err(|failure| self.operation_failed(p, failure))?;
        }
        Ok(())
    }

    /// Makes `pos` enabled if it is merely disabled, set up or never started; leaves any other
    /// state alone (the caller checked it).
    async fn bring_up(self: &Arc<Self>, pos: usize) -> Result<(), Failure> {
        match self.state(pos) {
            // Its configuration changed while it was off: a fresh instance takes it.
            PluginState::Disabled | PluginState::Setup if self.config_stale(pos) => {
                self.stop_one(pos).await?;
                self.start_one(pos).await
            }
            PluginState::Disabled | PluginState::Setup => self.enable_one(pos).await,
            // Never started (switched off by the configuration): start it now.
            PluginState::Unloaded => self.start_one(pos).await,
            _ => Ok(()),
        }
    }

    /// Every dependency of `pos` in `closure` must be running or able to be enabled.
    pub(super) fn check_dependencies(
        &self,
        pos: usize,
        closure: &[usize],
        operation: Operation,
    ) -> Result<(), OperationError> {
        for &dep in closure.iter().filter(|&&p| p != pos) {
            let state = self.state(dep);
            if !state.can_serve() {
                return Err(OperationError::DependencyUnavailable {
                    plugin: self.name(pos).to_owned(),
                    dependency: self.name(dep).to_owned(),
                    state,
                    operation,
                });
            }
        }
        Ok(())
    }

    pub(super) fn operation_failed(&self, pos: usize, failure: Failure) -> OperationError {
        OperationError::Failed {
            plugin: self.name(pos).to_owned(),
            failure,
        }
    }

    /// Disables `name`; with `cascade`, disables the enabled plugins that need it first.
    pub(crate) async fn disable(
        self: &Arc<Self>,
        name: &str,
        cascade: bool,
    ) -> Result<(), OperationError> {
        let pos = self.position(name)?;
        let related = self.graph.dependents_closure(pos);
        let _locks = self.lock_all(&related).await;
        self.check_running()?;
        let state = self.state(pos);
        if state != PluginState::Enabled {
            return Err(OperationError::InvalidTransition {
                plugin: name.to_owned(),
                state,
                operation: Operation::Disable,
            });
        }
        let dependents: Vec<usize> = related
            .iter()
            .copied()
            .filter(|&p| p != pos && self.state(p) == PluginState::Enabled)
            .collect();
        if !dependents.is_empty() && !cascade {
            return Err(OperationError::HasEnabledDependents {
                plugin: name.to_owned(),
                dependents: dependents
                    .iter()
                    .map(|&p| self.name(p).to_owned())
                    .collect(),
            });
        }
        let mut first_failure = None;
        for &p in related.iter().rev() {
            if let Err(failure) = self.disable_one(p).await {
                first_failure.get_or_insert_with(|| self.operation_failed(p, failure));
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// Restarts `name` with a fresh instance, then the plugins that need it.
    pub(crate) async fn restart(self: &Arc<Self>, name: &str) -> Result<(), OperationError> {
        let pos = self.position(name)?;
        let (deps, related) = self.restart_scope(pos);
        let _locks = self.lock_all(&related).await;
        self.check_running()?;
        let state = self.state(pos);
        if !state.can_restart() {
            return Err(OperationError::InvalidTransition {
                plugin: name.to_owned(),
                state,
                operation: Operation::Restart,
            });
        }
        self.check_dependencies(pos, &deps, Operation::Restart)?;
        // Dependencies that are merely disabled (or never started) are brought up first, as
        // for `enable`.
        for &p in deps.iter().filter(|&&p| p != pos) {
            self.bring_up(p)
                .await
                .map_err(|failure| self.operation_failed(p, failure))?;
        }
        self.restart_locked(pos).await
    }

    /// The dependencies of `pos` (with it) and every plugin a restart of it locks.
    pub(super) fn restart_scope(&self, pos: usize) -> (Vec<usize>, Vec<usize>) {
        let deps = self.graph.deps_closure(pos);
        let mut related: Vec<usize> = deps
            .iter()
            .chain(&self.graph.dependents_closure(pos))
            .copied()
            .collect();
        related.sort_unstable();
        related.dedup();
        (deps, related)
    }

    /// Restarts `pos` and the plugins that ran on it, with every lock of its scope held and its
    /// dependencies enabled.
    pub(super) async fn restart_locked(self: &Arc<Self>, pos: usize) -> Result<(), OperationError> {
        let dependents = self.graph.dependents_closure(pos);
        // The plugin itself, and the dependents that ran on it or failed for want of it.
        let affected: Vec<usize> = dependents
            .iter()
            .copied()
            .filter(|&p| {
                p == pos || {
                    let live = self.live(p);
                    live.state == PluginState::Enabled || live.failed_for_dependency()
                }
            })
            .collect();
        for &p in affected.iter().rev() {
            // Best effort: a failing `on_disable` or `teardown` leaves `Failed`, which a
            // restart accepts.
            let _ = self.stop_one(p).await;
        }
        let mut result = Ok(());
        for &p in &affected {
            let missing = self
                .graph
                .deps(p)
                .iter()
                .copied()
                .find(|&d| self.state(d) != PluginState::Enabled);
            let outcome = match missing {
                Some(dep) => {
                    let failure = Failure::dependency_failed(self.name(dep));
                    self.fail(p, failure.clone());
                    Err(failure)
                }
                None => self.start_one(p).await,
            };
            if let (Err(failure), true) = (outcome, p == pos) {
                result = Err(self.operation_failed(p, failure));
            }
        }
        result
    }
}
