//! A plugin's history: its last [`HISTORY_LIMIT`] state changes, oldest first.
//!
//! Most plugins change state a handful of times: a start is three changes, a stop two. Those
//! first few are kept in the live record itself ([`INLINE`] of them), so that starting a
//! plugin allocates nothing for its history and reading it touches no other memory; a plugin
//! that changes more often moves its history to the heap once, where it is capped.

use std::collections::VecDeque;

use super::Transition;
use crate::state::HISTORY_LIMIT;

/// How many changes are kept in place: a start and a stop.
const INLINE: usize = 5;

/// The capacity a history takes when it leaves its place: room to grow without copying for a
/// while, far below the cap.
const FIRST_SPILL: usize = 16;

/// The last [`HISTORY_LIMIT`] changes of one plugin, oldest first.
///
/// # Invariants
///
/// - `Inline { len, .. }`: exactly the first `len` entries are `Some`, and `len <= INLINE`.
/// - `Spilled(changes)`: `INLINE < changes.len() <= HISTORY_LIMIT`.
pub(super) enum History {
    /// The first changes, in place.
    Inline {
        len: u8,
        changes: [Option<Transition>; INLINE],
    },
    /// More than fit in place.
    Spilled(VecDeque<Transition>),
}

impl History {
    /// No change yet.
    pub(super) const fn new() -> Self {
        Self::Inline {
            len: 0,
            changes: [const { None }; INLINE],
        }
    }

    /// Appends `change`, dropping the oldest once the history holds [`HISTORY_LIMIT`].
    pub(super) fn push(&mut self, change: Transition) {
        match self {
            Self::Inline { len, changes } if usize::from(*len) < INLINE => {
                changes[usize::from(*len)] = Some(change);
                *len += 1;
            }
            Self::Inline { changes, .. } => {
                let mut spilled = VecDeque::with_capacity(FIRST_SPILL.min(HISTORY_LIMIT));
                spilled.extend(changes.iter_mut().filter_map(Option::take));
                spilled.push_back(change);
                *self = Self::Spilled(spilled);
            }
            Self::Spilled(changes) => {
                if changes.len() == HISTORY_LIMIT {
                    changes.pop_front();
                }
                changes.push_back(change);
            }
        }
    }

    /// The changes kept, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Transition> {
        let (inline, spilled) = match self {
            Self::Inline { changes, .. } => (Some(changes.iter().map_while(Option::as_ref)), None),
            Self::Spilled(changes) => (None, Some(changes.iter())),
        };
        inline
            .into_iter()
            .flatten()
            .chain(spilled.into_iter().flatten())
    }

    /// How many changes are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        match self {
            Self::Inline { len, .. } => usize::from(*len),
            Self::Spilled(changes) => changes.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{History, INLINE};
    use crate::lifecycle::Transition;
    use crate::lifecycle::clock::Stamp;
    use crate::state::{HISTORY_LIMIT, PluginState};

    /// A change `n` nanoseconds after the clock's start, told apart by that time.
    fn change(n: u64) -> Transition {
        let created = Instant::now();
        Transition {
            from: PluginState::Unloaded,
            to: PluginState::Loaded,
            cause: None,
            at: Stamp::at(created + Duration::from_nanos(n), created),
        }
    }

    fn times(history: &History) -> Vec<u64> {
        let nanos = |t: &Transition| u64::try_from(t.at.since_creation().as_nanos()).unwrap();
        history.iter().map(nanos).collect()
    }

    #[test]
    fn keeps_every_change_in_order_up_to_the_limit_then_the_latest() {
        let mut history = History::new();
        assert_eq!(times(&history), Vec::<u64>::new());
        for n in 0..(HISTORY_LIMIT as u64 + 40) {
            history.push(change(n));
            let kept = (n + 1).min(HISTORY_LIMIT as u64);
            let expected: Vec<u64> = (n + 1 - kept..=n).collect();
            assert_eq!(times(&history), expected, "after {} changes", n + 1);
            assert_eq!(history.len(), expected.len());
            let in_place = matches!(history, History::Inline { .. });
            assert_eq!(in_place, n < INLINE as u64, "after {} changes", n + 1);
        }
    }

    #[test]
    fn a_start_and_a_stop_stay_in_place() {
        let mut history = History::new();
        for n in 0..INLINE as u64 {
            history.push(change(n));
        }
        assert!(matches!(history, History::Inline { .. }));
        assert_eq!(times(&history), [0, 1, 2, 3, 4]);
    }
}
