//! When updates happen, which both ends agree on: the supervisor sends an
//! update of a thread's charts half-way through each of its periods on the
//! wall clock (x.5 s at one second), and its worker reads its maps a little
//! before (x.25 s), so that each update carries exactly one reading.
//!
//! Why: Netdata stores one value per whole second of its clock and takes a
//! plugin's collection at the time it reads it. Two collections within one
//! whole second lose the first's value of an `absolute` dimension, and a
//! collection spanning two whole seconds has a value interpolated into the
//! second (measured with Netdata 1.37.1: DESIGN.md, "Netdata's rules").
//! Half-way through the second, with the reading 250 ms before, a
//! collection is never near a boundary.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long before an update its worker reads its maps.
pub const READ_LEAD: Duration = Duration::from_millis(250);

/// The first update time after `now` for updates every `period`: half-way
/// through a period counted from the epoch.
pub fn next_update(period: Duration, now: SystemTime) -> SystemTime {
    let period = period.max(Duration::from_millis(1)).as_nanos();
    let since = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let half = period / 2;
    let mut next = half + since.saturating_sub(half) / period * period;
    if next <= since {
        next += period;
    }
    UNIX_EPOCH + Duration::from_nanos(next as u64)
}

/// The monotonic instant of wall-clock time `at` (now, when it is past).
pub fn instant_of(at: SystemTime) -> Instant {
    let now = SystemTime::now();
    Instant::now() + at.duration_since(now).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(millis)
    }

    #[test]
    fn updates_fall_half_way_through_their_periods() {
        let second = Duration::from_secs(1);
        assert_eq!(next_update(second, at(10_000)), at(10_500));
        assert_eq!(next_update(second, at(10_499)), at(10_500));
        assert_eq!(next_update(second, at(10_500)), at(11_500));
        assert_eq!(next_update(second, at(10_999)), at(11_500));
        let five = Duration::from_secs(5);
        assert_eq!(next_update(five, at(10_000)), at(12_500));
        assert_eq!(next_update(five, at(12_500)), at(17_500));
        assert_eq!(next_update(five, at(0)), at(2_500));
    }
}
