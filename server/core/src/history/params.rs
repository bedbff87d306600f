//! The console's time parameters (an hour, a date), parsed naming the field.

use chrono::{DateTime, NaiveDate, Utc};

use super::HistoryError;

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
