//! Waiting on the live state-change feed.

use plugin_manager::{StateChange, StateChanges};

use super::clock::within;

/// Waits for the first change on `feed` that `matches`.
pub(crate) async fn wait_for(
    feed: &mut StateChanges,
    what: &str,
    matches: impl Fn(&StateChange) -> bool,
) -> StateChange {
    within(what, async {
        loop {
            let change = feed.recv().await.expect("the state-change feed is open");
            if matches(&change) {
                return change;
            }
        }
    })
    .await
}
