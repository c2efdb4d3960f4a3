//! The lifecycle's clock: a [`Stamp`] is one read of the clock, kept as nanoseconds since the
//! manager was created, so that what a start or a stop records of time (its history's times,
//! its hook timings, its deadlines) is integer arithmetic on stamps, not `Instant` arithmetic,
//! which normalises seconds and nanoseconds at every step. The clock is tokio's, so a test on
//! a paused clock sees the times it advanced.

use std::time::Duration;

use tokio::time::Instant;

use super::Shared;

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
}
