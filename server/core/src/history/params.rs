//! The console's time parameters (an hour, a date), parsed naming the field,
//! and the ranges a timeline and a latency series cover.

use chrono::{DateTime, NaiveDate, Timelike, Utc};

use super::{floor, HistoryError, DAY_MS, HOUR_MS, MINUTE_MS};

/// What a timeline or a latency series covers: daily slots ending today, the
/// hours of a day, or the minutes of an hour (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// `n` days ending with today (1–[`MAX_DAYS`](super::MAX_DAYS)).
    Days(u32),
    /// The 24 hours of a day.
    Day(NaiveDate),
    /// The 60 minutes of the hour containing the time.
    Hour(DateTime<Utc>),
}

/// A range's slots: their granularity (`day`, `hour`, `minute`), the start
/// of the first (epoch ms), their size (ms) and their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slots {
    pub granularity: &'static str,
    pub start: i64,
    pub size: i64,
    pub count: i64,
}

impl Slots {
    /// The end of the last slot (exclusive).
    pub fn end(&self) -> i64 {
        self.start + self.size * self.count
    }
}

impl Range {
    /// The slots of this range at `now`.
    pub(crate) fn slots(self, now: DateTime<Utc>) -> Result<Slots, HistoryError> {
        Ok(match self {
            Range::Days(days) => {
                if !(1..=super::MAX_DAYS).contains(&days) {
                    return Err(HistoryError::Invalid {
                        field: "days",
                        reason: format!("must be between 1 and {}", super::MAX_DAYS),
                    });
                }
                let today = floor(now.timestamp_millis(), DAY_MS);
                Slots {
                    granularity: "day",
                    start: today - (i64::from(days) - 1) * DAY_MS,
                    size: DAY_MS,
                    count: days.into(),
                }
            }
            Range::Day(date) => Slots {
                granularity: "hour",
                start: date
                    .and_hms_opt(0, 0, 0)
                    .map(|d| d.and_utc().timestamp_millis())
                    .ok_or(HistoryError::Invalid {
                        field: "date",
                        reason: "is not a valid date".into(),
                    })?,
                size: HOUR_MS,
                count: 24,
            },
            Range::Hour(hour) => Slots {
                granularity: "minute",
                start: hour
                    .with_minute(0)
                    .and_then(|h| h.with_second(0))
                    .and_then(|h| h.with_nanosecond(0))
                    .unwrap_or(hour)
                    .timestamp_millis(),
                size: MINUTE_MS,
                count: 60,
            },
        })
    }
}

/// Parses `YYYY-MM-DDTHH` (an hour of the timeline), naming `field`.
pub fn parse_hour(s: &str, field: &'static str) -> Result<DateTime<Utc>, HistoryError> {
    chrono::NaiveDateTime::parse_from_str(&format!("{s}:00"), "%Y-%m-%dT%H:%M")
        .map(|t| t.and_utc())
        .map_err(|_| HistoryError::Invalid {
            field,
            reason: "must be an hour like 2026-11-26T10".into(),
        })
}

/// Parses `YYYY-MM-DD`, naming `field`.
pub fn parse_date(s: &str, field: &'static str) -> Result<NaiveDate, HistoryError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| HistoryError::Invalid {
        field,
        reason: "must be a date like 2026-11-26".into(),
    })
}
