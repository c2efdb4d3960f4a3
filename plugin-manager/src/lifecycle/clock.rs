//! The lifecycle's clock: a [`Stamp`] is one read of the clock, kept as nanoseconds since the
//! manager was created, so that what a start or a stop records of time (its history's times,
//! its hook timings, its deadlines) is integer arithmetic on stamps, not `Instant` arithmetic,
//! which normalises seconds and nanoseconds at every step. The clock is tokio's, so a test on
//! a paused clock sees the times it advanced.

use std::time::Duration;

use tokio::time::Instant;

use super::Shared;
use crate::timings::HookTimings;

/// A moment on a manager's clock: nanoseconds since the manager was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Stamp(u64);

impl Stamp {
    /// `now` on the clock of a manager created at `created` (saturating, as an `Instant` too
    /// far ahead to count in nanoseconds never comes).
    pub(super) fn at(now: Instant, created: Instant) -> Self {
        let since = now.saturating_duration_since(created).as_nanos();
        Self(u64::try_from(since).unwrap_or(u64::MAX))
    }

    /// The time from the manager's creation to this stamp.
    pub(super) fn since_creation(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// The time from `earlier` to this stamp (zero if `earlier` is the later one).
    pub(super) fn since(self, earlier: Stamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// This stamp `nanos` later, as nanoseconds since creation (`u64::MAX` if that is past
    /// what counts: no deadline).
    pub(super) fn nanos_after(self, nanos: u64) -> u64 {
        self.0.saturating_add(nanos)
    }
}

/// The four reads of the clock of a start that finished: as it began, once constructed, once
/// set up, once enabled. Kept as they were read (32 bytes, and no arithmetic while the start
/// runs); [`HookTimings`] and the start's length are made of them when read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct StartStamps {
    pub(super) began: Stamp,
    pub(super) constructed: Stamp,
    pub(super) set_up: Stamp,
    pub(super) enabled: Stamp,
}

impl StartStamps {
    /// How long each piece took, and when the plugin became enabled.
    pub(super) fn timings(&self) -> HookTimings {
        HookTimings {
            constructor: Some(self.constructed.since(self.began)),
            setup: Some(self.set_up.since(self.constructed)),
            on_enable: Some(self.enabled.since(self.set_up)),
            ready_at: Some(self.enabled.since_creation()),
        }
    }

    /// How long the whole start took.
    pub(super) fn took(&self) -> Duration {
        self.enabled.since(self.began)
    }
}

impl Shared {
    /// Now, on the manager's clock: one read of the clock.
    pub(super) fn stamp(&self) -> Stamp {
        Stamp::at(Instant::now(), self.created)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_count_from_creation_and_subtract_without_underflow() {
        let created = Instant::now();
        let early = Stamp::at(created + Duration::from_millis(5), created);
        let late = Stamp::at(created + Duration::from_millis(12), created);
        assert_eq!(early.since_creation(), Duration::from_millis(5));
        assert_eq!(late.since(early), Duration::from_millis(7));
        assert_eq!(early.since(late), Duration::ZERO);
        assert_eq!(
            Stamp::at(created, created + Duration::from_secs(1)),
            Stamp(0)
        );
        assert_eq!(early.nanos_after(u64::MAX), u64::MAX);
        assert_eq!(early.nanos_after(1_000), 5_001_000);
    }

    #[test]
    fn a_starts_stamps_make_its_timings() {
        let created = Instant::now();
        let at = |ms| Stamp::at(created + Duration::from_millis(ms), created);
        let stamps = StartStamps {
            began: at(10),
            constructed: at(11),
            set_up: at(14),
            enabled: at(20),
        };
        let timings = stamps.timings();
        let ms = |ms| Some(Duration::from_millis(ms));
        assert_eq!(
            (timings.constructor, timings.setup, timings.on_enable),
            (ms(1), ms(3), ms(6))
        );
        assert_eq!(timings.ready_at, ms(20));
        assert_eq!(timings.started_at(), ms(10));
        assert_eq!(stamps.took(), Duration::from_millis(10));
    }
}
