//! A constructor that blocks its thread until the test lets it through.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use super::lab::Probe;
use super::script::Script;

/// A gate that blocks a constructor's thread (synchronously, as a constructor is a plain `fn`)
/// until the test opens it; [`Gate::entered`] counts the constructors that reached it.
#[derive(Clone, Default)]
pub(crate) struct Gate {
    entered: Probe,
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl Gate {
    /// How long, in real time, a constructor waits before giving up with a panic. Only a
    /// safety net: a manager that blocks on the constructor keeps the test from ever opening
    /// the gate, and the test should then fail, not hang. A passing test opens it at once.
    const SAFETY_NET: Duration = Duration::from_secs(10);

    /// Counts the constructors that reached the gate (started) and passed it (dropped).
    pub(crate) fn entered(&self) -> &Probe {
        &self.entered
    }

    /// Lets every waiting constructor, and every later one, through.
    pub(crate) fn open(&self) {
        let (open, opened) = &*self.open;
        *open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        opened.notify_all();
    }

    fn pass(&self, plugin: &str) {
        let _guard = self.entered.enter();
        let (open, opened) = &*self.open;
        let guard = open.lock().unwrap_or_else(PoisonError::into_inner);
        let (_guard, waited) = opened
            .wait_timeout_while(guard, Self::SAFETY_NET, |open| !*open)
            .unwrap_or_else(PoisonError::into_inner);
        assert!(
            !waited.timed_out(),
            "{plugin}: the constructor blocked the runtime for {:?} of real time: the manager \
             never got to abandon it at its deadline",
            Self::SAFETY_NET
        );
    }
}

impl Script {
    /// Makes the constructor block its thread at `gate` until the test opens it: a
    /// synchronous hang, which only a manager that runs constructors off the runtime's
    /// threads can survive.
    pub(crate) fn constructor_blocks(mut self, gate: &Gate) -> Self {
        let gate = gate.clone();
        self.plan.constructor_wait = Some(Box::new(move |plugin| gate.pass(plugin)));
        self
    }
}
