//! Watching cancellation: reading a [`Probe`], the lab's count of hung hooks, and background
//! tasks that run until cancelled or fail when a [`Trigger`] fires.

use std::sync::Arc;

use plugin_manager::Phase;
use tokio::sync::watch;

use super::clock::within;
use super::lab::{Lab, Probe};
use super::script::{Fault, Script, strike};

impl Probe {
    /// How many started.
    #[allow(dead_code)] // Not every test file that waits on a probe reads its count.
    pub(crate) fn started(&self) -> u32 {
        *self.started.borrow()
    }

    /// How many were dropped.
    pub(crate) fn dropped(&self) -> u32 {
        *self.dropped.borrow()
    }

    /// Waits until `n` have started.
    pub(crate) async fn wait_started(&self, n: u32) {
        let mut rx = self.started.subscribe();
        within("probe start", rx.wait_for(|&s| s >= n))
            .await
            .expect("the probe lives");
    }

    /// Waits until `n` have been dropped.
    pub(crate) async fn wait_dropped(&self, n: u32) {
        let mut rx = self.dropped.subscribe();
        within("probe drop", rx.wait_for(|&d| d >= n))
            .await
            .expect("the probe lives");
    }
}

impl Lab {
    /// Counts the hooks that hung ([`Fault::Hang`]): started, and dropped (cancelled).
    pub(crate) fn hangs(&self) -> &Probe {
        &self.hangs
    }
}

/// A one-shot signal a test fires to make a background task go on.
#[derive(Clone)]
pub(crate) struct Trigger(Arc<watch::Sender<bool>>);

impl Default for Trigger {
    fn default() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }
}

impl Trigger {
    /// Lets every waiter go on, now and later.
    pub(crate) fn fire(&self) {
        self.0.send_replace(true);
    }

    async fn fired(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|&fired| fired).await;
    }
}

impl Script {
    /// Makes `on_enable` start a background task that shows `fault` once `trigger` fires.
    pub(crate) fn background_fails(mut self, trigger: &Trigger, fault: Fault) -> Self {
        let trigger = trigger.clone();
        self.plan.background.push(Box::new(move |lab, name, _| {
            let (trigger, lab, name) = (trigger.clone(), lab.clone(), name.to_owned());
            Box::pin(async move {
                trigger.fired().await;
                strike(&lab, &name, Phase::Background, fault).await
            })
        }));
        self
    }

    /// Makes `on_enable` start a background task that runs until cancelled, counted by `probe`.
    #[allow(dead_code)] // Not every test file with background tasks needs one that runs on.
    pub(crate) fn background_runs(mut self, probe: &Probe) -> Self {
        let probe = probe.clone();
        self.plan.background.push(Box::new(move |_, _, _| {
            let probe = probe.clone();
            Box::pin(async move {
                let _guard = probe.enter();
                std::future::pending::<()>().await;
                Ok(())
            })
        }));
        self
    }
}
