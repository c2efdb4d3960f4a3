//! The failures the manager must record for a scripted fault.

use plugin_manager::{Failure, FailureKind, Phase};

use super::clock::HOOK_TIMEOUT;
use super::script::{Fault, error_text, panic_text};

/// The failure the manager must record when `plugin` shows `fault` in `phase`.
pub(crate) fn expected_failure(plugin: &str, phase: Phase, fault: Fault) -> Failure {
    let kind = match fault {
        Fault::Error => FailureKind::Error(error_text(plugin, phase)),
        Fault::Panic => FailureKind::Panic(panic_text(plugin, phase)),
        Fault::Hang => FailureKind::Timeout(HOOK_TIMEOUT),
    };
    Failure::new(phase, kind)
}

/// The failure of a plugin that was not started, or was stopped, because `dependency` failed.
pub(crate) fn dependency_failed(dependency: &str) -> Failure {
    Failure::dependency_failed(dependency)
}
