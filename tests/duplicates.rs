//! Two crates may each register a plugin of the same name; the compiler cannot see it (neither
//! crate knows the other), so the manager refuses the set at startup, before any hook runs,
//! and names both types and both crates.
//!
//! This test's own `dice` plugin meets the real one from `plugin-dice`.

use std::sync::atomic::{AtomicBool, Ordering};

use plugin_core::prelude::*;
use plugin_manager::{GraphError, PluginManager};
// Linked for its registration only: an unreferenced crate would be dropped by the linker.
use plugin_dice as _;

/// Set by any code of the impostor that runs: its constructor or one of its hooks.
static IMPOSTOR_RAN: AtomicBool = AtomicBool::new(false);

/// A second plugin named `dice`, in the host package (`chatbot`) rather than `plugin-dice`.
#[plugin(name = "dice", new = Impostor::new)]
#[derive(Debug)]
pub struct Impostor;

impl Impostor {
    fn new() -> Self {
        IMPOSTOR_RAN.store(true, Ordering::SeqCst);
        Impostor
    }
}

#[async_trait]
impl Plugin for Impostor {
    async fn setup(&mut self, _: &Context) -> Result<()> {
        IMPOSTOR_RAN.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn on_enable(&mut self, _: &Context) -> Result<()> {
        IMPOSTOR_RAN.store(true, Ordering::SeqCst);
        Ok(())
    }
}

const REAL: &str = "`plugin_dice::Dice` in crate `plugin-dice`";
const IMPOSTOR: &str = "`duplicates::Impostor` in crate `chatbot`";

#[test]
fn the_same_name_in_two_crates_is_refused_at_startup_naming_both() {
    let mut dice_crates: Vec<&str> = plugin_core::registered()
        .filter(|d| d.name() == "dice")
        .map(|d| d.crate_name())
        .collect();
    dice_crates.sort_unstable();
    assert_eq!(dice_crates, ["chatbot", "plugin-dice"], "both are linked");

    let invalid = PluginManager::from_registry().expect_err("two plugins named `dice`");
    let [
        GraphError::DuplicateName {
            name,
            first,
            second,
        },
    ] = invalid.errors.as_slice()
    else {
        panic!("expected only the duplicate name, got: {invalid}");
    };
    assert_eq!(name, "dice");
    // Ordered by crate, never by link order, so the message is the same in every build.
    assert_eq!([first.as_str(), second.as_str()], [IMPOSTOR, REAL]);
    assert_eq!(
        invalid.to_string(),
        format!(
            "invalid plugin set\n  - plugin name `dice` is registered twice: by {IMPOSTOR} and \
             by {REAL}; names must be unique in one program: rename one with \
             `#[plugin(name = ...)]` or leave one crate out"
        ),
    );
    assert!(
        !IMPOSTOR_RAN.load(Ordering::SeqCst),
        "no plugin code runs when the set is invalid"
    );
}
