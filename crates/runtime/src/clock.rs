//! Time as numhub's business logic sees it: from an injected clock, never from
//! SQL `now()`, so tests can move past an expiry without sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant in UTC with microsecond precision, stored as Unix microseconds
/// (a plain BIGINT in both PostgreSQL and SQLite).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    /// This instant moved forward by `duration` (saturating).
    pub fn plus(self, duration: Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(micros))
    }

    /// This instant moved back by `duration` (saturating).
    pub fn minus(self, duration: Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(micros))
    }

    /// This instant moved forward by `months` calendar months, keeping the
    /// time of day and the day of the month, clamped to the last day of a
    /// shorter month (31 January + 1 month = 28 or 29 February).
    pub fn plus_months(self, months: u32) -> Self {
        const DAY: i64 = 86_400_000_000;
        let days = self.0.div_euclid(DAY);
        let time_of_day = self.0.rem_euclid(DAY);
        let (year, month, day) = civil_from_days(days);
        let total = i64::from(month) - 1 + i64::from(months);
        let year = year + total.div_euclid(12);
        let month = (total.rem_euclid(12) + 1) as u32;
        let day = day.min(days_in_month(year, month));
        Self(days_from_civil(year, month, day) * DAY + time_of_day)
    }

    /// Reads a protobuf timestamp, refusing one that is malformed or outside
    /// the years 1970 to 9999.
    pub fn from_proto(ts: &prost_types::Timestamp) -> Result<Self, String> {
        const MAX_SECONDS: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        if !(0..1_000_000_000).contains(&ts.nanos) {
            return Err("nanos must be from 0 to 999,999,999".into());
        }
        if !(0..=MAX_SECONDS).contains(&ts.seconds) {
            return Err("must be between 1970 and 9999".into());
        }
        Ok(Self(ts.seconds * 1_000_000 + i64::from(ts.nanos / 1_000)))
    }

    pub fn to_proto(self) -> prost_types::Timestamp {
        prost_types::Timestamp {
            seconds: self.0.div_euclid(1_000_000),
            nanos: (self.0.rem_euclid(1_000_000) * 1_000) as i32,
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let system = UNIX_EPOCH + Duration::from_micros(self.0.max(0) as u64);
        write!(f, "{}", humantime::format_rfc3339_micros(system))
    }
}

/// (year, month 1-12, day 1-31) of a count of days since 1970-01-01, in the
/// proleptic Gregorian calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a date: the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp(i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to, for tests.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.unix_micros()))
    }

    /// Starts at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.0.fetch_add(micros, Ordering::SeqCst);
    }

    pub fn set(&self, to: Timestamp) {
        self.0.store(to.unix_micros(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_conversion_handles_sub_second_and_negative_instants() {
        let ts = Timestamp::from_unix_micros(1_500_000).to_proto();
        assert_eq!((ts.seconds, ts.nanos), (1, 500_000_000));
        let before_epoch = Timestamp::from_unix_micros(-1).to_proto();
        assert_eq!(
            (before_epoch.seconds, before_epoch.nanos),
            (-1, 999_999_000)
        );
    }

    fn at(text: &str) -> Timestamp {
        let system = humantime::parse_rfc3339(text).unwrap();
        let micros = system.duration_since(UNIX_EPOCH).unwrap().as_micros();
        Timestamp::from_unix_micros(micros as i64)
    }

    #[test]
    fn months_are_calendar_months() {
        let start = at("2026-01-31T10:30:00Z");
        assert_eq!(start.plus_months(1), at("2026-02-28T10:30:00Z"));
        assert_eq!(
            at("2028-01-31T00:00:00Z").plus_months(1),
            at("2028-02-29T00:00:00Z")
        );
        assert_eq!(start.plus_months(3), at("2026-04-30T10:30:00Z"));
        assert_eq!(start.plus_months(12), at("2027-01-31T10:30:00Z"));
        assert_eq!(
            at("2026-11-15T08:00:00Z").plus_months(6),
            at("2027-05-15T08:00:00Z")
        );
        assert_eq!(start.plus_months(0), start);
        for days in [-1_000_000, -1, 0, 59, 10_957, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn proto_timestamps_are_checked() {
        let ts = prost_types::Timestamp {
            seconds: 2,
            nanos: 5_000,
        };
        assert_eq!(Timestamp::from_proto(&ts).unwrap().unix_micros(), 2_000_005);
        assert!(
            Timestamp::from_proto(&prost_types::Timestamp {
                seconds: 1,
                nanos: -1
            })
            .is_err()
        );
        assert!(
            Timestamp::from_proto(&prost_types::Timestamp {
                seconds: -5,
                nanos: 0
            })
            .is_err()
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_unix_micros(0));
        assert_eq!(clock.now().unix_micros(), 0);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now().unix_micros(), 2_000_000);
        clock.set(Timestamp::from_unix_micros(5));
        assert_eq!(clock.now(), Timestamp::from_unix_micros(5));
    }
}
