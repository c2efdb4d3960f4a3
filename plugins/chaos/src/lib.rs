//! Fails on purpose, to show that one plugin's failure stays its own.
//!
//! Two environment variables choose the failure:
//!
//! - `CHAOS_FAULT`: `error`, `panic` or `hang` (unset: the plugin behaves), or `unhealthy`:
//!   on `!chaos`, the plugin reports `Health::Unhealthy` and goes on running;
//! - `CHAOS_HOOK`: where: `constructor`, `setup` (the default), `on_enable`, `on_disable`,
//!   `teardown`, or `command` — then the fault happens in a background task when someone
//!   says `!chaos` in the chat.
//!
//! ```text
//! CHAOS_FAULT=panic CHAOS_HOOK=setup cargo run --features plugin-chaos
//! ```

use std::future::pending;
use std::sync::Arc;

use plugin_commands::Commands;
use plugin_core::prelude::*;
use tokio::sync::Notify;

/// How the plugin fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Return an error.
    Error,
    /// Panic.
    Panic,
    /// Never return.
    Hang,
    /// Report [`Health::Unhealthy`](plugin_core::Health::Unhealthy) (only on `!chaos`).
    Unhealthy,
}

/// Where the plugin fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In its constructor.
    Constructor,
    /// In one of its hooks, by method name.
    Hook(&'static str),
    /// In a background task, when `!chaos` is said.
    Command,
}

/// The chaos plugin: behaves unless `CHAOS_FAULT` is set.
#[plugin(name = "chaos", deps = [Commands], new = Chaos::from_env)]
#[derive(Debug)]
pub struct Chaos {
    plan: Option<(Fault, Place)>,
    trigger: Arc<Notify>,
}

impl Chaos {
    /// Reads `CHAOS_FAULT` and `CHAOS_HOOK`; a constructor fault happens right here.
    pub fn from_env() -> Result<Self> {
        let plan = plan_from(
            std::env::var("CHAOS_FAULT").ok().as_deref(),
            std::env::var("CHAOS_HOOK").ok().as_deref(),
        )?;
        let chaos = Self {
            plan,
            trigger: Arc::new(Notify::new()),
        };
        chaos.maybe_fail_now(Place::Constructor)?;
        Ok(chaos)
    }

    fn maybe_fail_now(&self, here: Place) -> Result<()> {
        match self.plan {
            Some((fault, place)) if place == here => strike(fault, here),
            _ => Ok(()),
        }
    }

    async fn maybe_fail(&self, here: Place) -> Result<()> {
        if let Some((Fault::Hang, place)) = self.plan
            && place == here
        {
            pending::<()>().await;
        }
        self.maybe_fail_now(here)
    }
}

fn strike(fault: Fault, place: Place) -> Result<()> {
    let place = match place {
        Place::Constructor => "constructor",
        Place::Hook(hook) => hook,
        Place::Command => "background task",
    };
    match fault {
        Fault::Error => Err(Error::msg(format!("chaos: error in {place}, as asked"))),
        Fault::Panic => panic!("chaos: panic in {place}, as asked"),
        // Only the constructor gets here with a hang (async places hang in `maybe_fail`): it
        // blocks its thread for good, as a constructor stuck on a lock or a socket would.
        Fault::Hang => loop {
            std::thread::park();
        },
        // Reported by the background task, which has the context.
        Fault::Unhealthy => Ok(()),
    }
}

/// The plan for `CHAOS_FAULT` and `CHAOS_HOOK`, or an error naming the bad value.
pub fn plan_from(fault: Option<&str>, hook: Option<&str>) -> Result<Option<(Fault, Place)>> {
    let Some(fault) = fault.filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    let fault = match fault {
        "error" => Fault::Error,
        "panic" => Fault::Panic,
        "hang" => Fault::Hang,
        "unhealthy" => return Ok(Some((Fault::Unhealthy, Place::Command))),
        other => {
            return Err(Error::msg(format!(
                "CHAOS_FAULT=`{other}`: expected `error`, `panic`, `hang` or `unhealthy`"
            )));
        }
    };
    let place = match hook.unwrap_or("setup") {
        "constructor" => Place::Constructor,
        "setup" => Place::Hook("setup"),
        "on_enable" => Place::Hook("on_enable"),
        "on_disable" => Place::Hook("on_disable"),
        "teardown" => Place::Hook("teardown"),
        "command" => Place::Command,
        other => {
            return Err(Error::msg(format!(
                "CHAOS_HOOK=`{other}`: expected constructor, setup, on_enable, on_disable, teardown or command"
            )));
        }
    };
    Ok(Some((fault, place)))
}

#[async_trait]
impl Plugin for Chaos {
    async fn setup(&mut self, _ctx: &Context) -> Result<()> {
        self.maybe_fail(Place::Hook("setup")).await
    }

    async fn on_enable(&mut self, ctx: &Context) -> Result<()> {
        self.maybe_fail(Place::Hook("on_enable")).await?;
        let trigger = self.trigger.clone();
        let armed = matches!(self.plan, Some((_, Place::Command)));
        ctx.dep::<Commands>()?.register(
            ctx,
            "chaos",
            "makes the chaos plugin fail",
            move |_| {
                if armed {
                    trigger.notify_one();
                    Ok("chaos: striking".to_owned())
                } else {
                    Ok("chaos: not armed (set CHAOS_FAULT and CHAOS_HOOK=command)".to_owned())
                }
            },
        )?;
        if let Some((fault, Place::Command)) = self.plan {
            let trigger = self.trigger.clone();
            let me = ctx.clone();
            ctx.spawn(async move {
                trigger.notified().await;
                if fault == Fault::Unhealthy {
                    let reason = "chaos: unhealthy, as asked".to_owned();
                    me.health().set(plugin_core::Health::Unhealthy(reason));
                }
                if matches!(fault, Fault::Hang | Fault::Unhealthy) {
                    pending::<()>().await;
                }
                strike(fault, Place::Command)
            });
        }
        Ok(())
    }

    async fn on_disable(&mut self, _ctx: &Context) -> Result<()> {
        self.maybe_fail(Place::Hook("on_disable")).await
    }

    async fn teardown(&mut self, _ctx: &Context) -> Result<()> {
        self.maybe_fail(Place::Hook("teardown")).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_from_the_environment_values() {
        assert_eq!(plan_from(None, Some("setup")).unwrap(), None);
        assert_eq!(
            plan_from(Some("panic"), None).unwrap(),
            Some((Fault::Panic, Place::Hook("setup")))
        );
        assert_eq!(
            plan_from(Some("hang"), Some("command")).unwrap(),
            Some((Fault::Hang, Place::Command))
        );
        let bad = plan_from(Some("explode"), None).unwrap_err().to_string();
        assert!(bad.contains("CHAOS_FAULT=`explode`"), "{bad}");
        assert!(plan_from(Some("error"), Some("nowhere")).is_err());
        assert_eq!(
            plan_from(Some("unhealthy"), None).unwrap(),
            Some((Fault::Unhealthy, Place::Command))
        );
    }
}
