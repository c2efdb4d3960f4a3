//! The scripted plugin: a [`Script`] says what a plugin does wrong, and when; its
//! [`Scripted`] instances record each hook call in a [`Lab`].
//!
//! The knobs for background tasks that wait on a trigger or run until cancelled are in
//! `sync.rs`, the one for a constructor that blocks in `gate.rs`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use plugin_core::host::Hook;
use plugin_core::{Context, Error, Plugin, PluginInstance, PluginMetadata, Result};
use plugin_manager::{Phase, PluginSpec};
use tokio::sync::Barrier;

use super::lab::Lab;

/// What a scripted plugin does wrong.
#[allow(dead_code)] // Some test files script only plugins that never fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Returns an error.
    Error,
    /// Panics.
    Panic,
    /// Never returns.
    Hang,
}

/// The error text a scripted plugin returns from `phase`.
pub(crate) fn error_text(plugin: &str, phase: Phase) -> String {
    format!("{plugin}: {phase} broke on purpose")
}

/// The panic message of a scripted plugin panicking in `phase`.
pub(crate) fn panic_text(plugin: &str, phase: Phase) -> String {
    format!("{plugin}: {phase} exploded on purpose")
}

impl Lab {
    /// Starts scripting a plugin called `name` that, unless told otherwise, does nothing.
    pub(crate) fn plugin(&self, name: &str) -> Script {
        Script {
            lab: self.clone(),
            metadata: PluginMetadata::new(name),
            plan: Plan {
                fault: None,
                faulty_instances: u32::MAX,
                spared_calls: 0,
                delays: Vec::new(),
                barriers: Vec::new(),
                background: Vec::new(),
                constructor_wait: None,
            },
        }
    }
}

/// A plugin under construction: its metadata and what it will do.
pub(crate) struct Script {
    lab: Lab,
    metadata: PluginMetadata,
    pub(super) plan: Plan,
}

pub(super) struct Plan {
    fault: Option<(Phase, Fault)>,
    /// The fault strikes in instances `1..=faulty_instances`.
    faulty_instances: u32,
    /// The first `spared_calls` calls of the faulty hook on each instance succeed.
    spared_calls: u32,
    delays: Vec<(Hook, Duration)>,
    barriers: Vec<(Hook, Arc<Barrier>)>,
    /// The tasks the plugin starts with `ctx.spawn` in `on_enable`.
    pub(super) background: Vec<Background>,
    /// What the constructor does (synchronously) before anything else.
    pub(super) constructor_wait: Option<ConstructorWait>,
}

/// A wait for the constructor, given the plugin's name.
pub(super) type ConstructorWait = Box<dyn Fn(&str) + Send + Sync>;

/// A task for `on_enable` to spawn, made from the lab, the plugin's name and its instance
/// number (1 for the first).
pub(super) type Background =
    Box<dyn Fn(&Lab, &str, u32) -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send + Sync>;

// Each test file scripts its plugins with its own few of these.
#[allow(dead_code)]
impl Script {
    /// Sets the required dependencies.
    pub(crate) fn deps<const N: usize>(mut self, deps: [&str; N]) -> Self {
        self.metadata = self.metadata.with_deps(deps);
        self
    }

    /// Sets the required dependencies, from a slice.
    pub(crate) fn deps_slice(mut self, deps: &[&str]) -> Self {
        self.metadata = self.metadata.with_deps(deps.iter().copied());
        self
    }

    /// Sets the optional dependencies.
    pub(crate) fn optional_deps<const N: usize>(mut self, deps: [&str; N]) -> Self {
        self.metadata = self.metadata.with_optional_deps(deps);
        self
    }

    /// Sets the plugin's own hook deadline.
    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.metadata = self.metadata.with_timeout(timeout);
        self
    }

    /// Shows `fault` in `phase` (the constructor or a hook; see [`Script::background_fails`]).
    pub(crate) fn fails(mut self, phase: Phase, fault: Fault) -> Self {
        assert!(
            matches!(phase, Phase::Constructor | Phase::Hook(_)),
            "use `background_fails` for background tasks"
        );
        assert!(
            !(phase == Phase::Constructor && fault == Fault::Hang),
            "a constructor is a synchronous function: it cannot hang in a way a runtime can stop"
        );
        self.plan.fault = Some((phase, fault));
        self
    }

    /// Limits the fault to the first instance, so that a restart succeeds.
    pub(crate) fn only_first_instance(mut self) -> Self {
        self.plan.faulty_instances = 1;
        self
    }

    /// Lets the first `calls` calls of the faulty hook on each instance succeed.
    pub(crate) fn sparing(mut self, calls: u32) -> Self {
        self.plan.spared_calls = calls;
        self
    }

    /// Makes `hook` take `delay` (on tokio's clock) before doing anything else.
    pub(crate) fn delay(mut self, hook: Hook, delay: Duration) -> Self {
        self.plan.delays.push((hook, delay));
        self
    }

    /// Makes `hook` wait on `barrier` before doing anything else.
    pub(crate) fn waits(mut self, hook: Hook, barrier: Arc<Barrier>) -> Self {
        self.plan.barriers.push((hook, barrier));
        self
    }

    /// Makes `on_enable` start a background task that shows `fault` at once in every
    /// `every`-th instance (every instance for 1); in the other instances the task
    /// ends at once with `Ok`. No task is left running, so a test can wait for quiescence.
    pub(crate) fn background_fails_at_once(mut self, every: u32, fault: Fault) -> Self {
        assert!(every > 0, "`every` counts instances from 1");
        assert!(
            fault != Fault::Hang,
            "a task that fails at once cannot hang; use `background_fails`"
        );
        self.plan
            .background
            .push(Box::new(move |lab, name, instance| {
                let strikes = instance.is_multiple_of(every);
                let (lab, name) = (lab.clone(), name.to_owned());
                Box::pin(async move {
                    if strikes {
                        strike(&lab, &name, Phase::Background, fault).await
                    } else {
                        Ok(())
                    }
                })
            }));
        self
    }
}

impl Script {
    /// The finished spec.
    pub(crate) fn spec(self) -> PluginSpec {
        let Script {
            lab,
            metadata,
            plan,
        } = self;
        let plan = Arc::new(plan);
        let name = metadata.name.clone();
        PluginSpec::new(metadata, move || {
            let instance = lab.next_instance(&name);
            let plugin = Scripted {
                name: name.clone(),
                instance,
                faulty_hook_calls: 0,
                plan: plan.clone(),
                lab: lab.clone(),
            };
            if let Some(wait) = &plugin.plan.constructor_wait {
                wait(&name);
            }
            match plugin.fault_in(Phase::Constructor) {
                None => Ok(PluginInstance::new(plugin)),
                Some(Fault::Error) => Err(Error::msg(error_text(&name, Phase::Constructor))),
                Some(Fault::Panic) => panic!("{}", panic_text(&name, Phase::Constructor)),
                Some(Fault::Hang) => unreachable!("refused by `Script::fails`"),
            }
        })
    }
}

/// The plugin every test uses; what it does is set by its [`Script`].
pub(crate) struct Scripted {
    name: String,
    /// Which instance this is: 1 for the first one the factory made, 2 for the next, ...
    pub(super) instance: u32,
    faulty_hook_calls: u32,
    plan: Arc<Plan>,
    lab: Lab,
}

impl Scripted {
    fn fault_in(&self, phase: Phase) -> Option<Fault> {
        match self.plan.fault {
            Some((at, fault)) if at == phase && self.instance <= self.plan.faulty_instances => {
                Some(fault)
            }
            _ => None,
        }
    }

    async fn run(&mut self, hook: Hook, ctx: &Context) -> Result<()> {
        self.lab.record(&self.name, self.instance, hook);
        for (_, delay) in self.plan.delays.iter().filter(|(h, _)| *h == hook) {
            tokio::time::sleep(*delay).await;
        }
        for (_, barrier) in self.plan.barriers.iter().filter(|(h, _)| *h == hook) {
            barrier.wait().await;
        }
        if hook == Hook::Enable {
            for background in &self.plan.background {
                ctx.spawn(background(&self.lab, &self.name, self.instance));
            }
        }
        let fault = self.fault_in(Phase::Hook(hook));
        if fault.is_some() {
            self.faulty_hook_calls += 1;
        }
        match fault.filter(|_| self.faulty_hook_calls > self.plan.spared_calls) {
            Some(fault) => strike(&self.lab, &self.name, Phase::Hook(hook), fault).await,
            None => Ok(()),
        }
    }
}

/// Shows `fault` as `plugin` in `phase`.
pub(super) async fn strike(lab: &Lab, plugin: &str, phase: Phase, fault: Fault) -> Result<()> {
    match fault {
        Fault::Error => Err(Error::msg(error_text(plugin, phase))),
        Fault::Panic => panic!("{}", panic_text(plugin, phase)),
        Fault::Hang => {
            let _guard = lab.hangs.enter();
            std::future::pending().await
        }
    }
}

#[plugin_core::async_trait]
impl Plugin for Scripted {
    async fn setup(&mut self, ctx: &Context) -> Result<()> {
        self.run(Hook::Setup, ctx).await
    }

    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        self.run(Hook::Enable, ctx).await
    }

    async fn on_disable(&mut self, ctx: &Context) -> Result<()> {
        self.run(Hook::Disable, ctx).await
    }

    async fn teardown(&mut self, ctx: &Context) -> Result<()> {
        self.run(Hook::Teardown, ctx).await
    }
}
