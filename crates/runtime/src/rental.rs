//! Rental packages: how long a rental lasts, and when it ends. Shared by
//! the catalog, which prices them, and rentals, which adds them to an
//! expiry on renewal: one rule for both.

use crate::clock::Timestamp;

crate::stored_enum! {
    /// How long a rental lasts; stored as its proto number.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum RentalDuration {
        OneDay = 1,
        ThreeDays = 2,
        SevenDays = 3,
        FourteenDays = 4,
        ThirtyDays = 5,
        OneMonth = 6,
        ThreeMonths = 7,
        SixMonths = 8,
        OneYear = 9,
    }
}

impl RentalDuration {
    /// When a rental of this duration that starts at `start` ends: days are
    /// 24 hours, months are calendar months.
    pub fn end(self, start: Timestamp) -> Timestamp {
        let days = |n: u64| start.plus(std::time::Duration::from_secs(n * 86_400));
        match self {
            Self::OneDay => days(1),
            Self::ThreeDays => days(3),
            Self::SevenDays => days(7),
            Self::FourteenDays => days(14),
            Self::ThirtyDays => days(30),
            Self::OneMonth => start.plus_months(1),
            Self::ThreeMonths => start.plus_months(3),
            Self::SixMonths => start.plus_months(6),
            Self::OneYear => start.plus_months(12),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_end_by_days_or_calendar_months() {
        let start = Timestamp::from_unix_micros(0);
        assert_eq!(
            RentalDuration::SevenDays.end(start).unix_micros(),
            7 * 86_400_000_000
        );
        // 1970-01-01 + 1 month = 1970-02-01: 31 days.
        assert_eq!(
            RentalDuration::OneMonth.end(start).unix_micros(),
            31 * 86_400_000_000
        );
        assert_eq!(
            RentalDuration::OneYear.end(start).unix_micros(),
            365 * 86_400_000_000
        );
    }

    #[test]
    fn durations_round_trip_through_storage() {
        for d in RentalDuration::ALL {
            assert_eq!(RentalDuration::from_i64(d as i64), Some(d));
        }
        assert_eq!(RentalDuration::from_i64(0), None);
    }
}
