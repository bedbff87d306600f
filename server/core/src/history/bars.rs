//! Timelines: bars of a day, hour or minute over a range, and the outages
//! overlapping it.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::intervals::PartData;
use super::params::Range;
use super::{time, History, HistoryError, MINUTE_MS};
use crate::storage::StoreError;

/// Longest timeline, in days.
pub const MAX_DAYS: u32 = 90;

/// Bars over a range at one granularity, and the outages overlapping it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timeline {
    /// The part.
    pub part: String,
    /// Bar size: `day`, `hour` or `minute`.
    pub granularity: String,
    /// Start of the first bar.
    pub start: DateTime<Utc>,
    /// End of the last bar (exclusive).
    pub end: DateTime<Utc>,
    /// The bars, oldest first.
    pub bars: Vec<Bar>,
    /// Outages overlapping `[start, end)`, oldest first.
    pub outages: Vec<Outage>,
}

/// One bar of a timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bar {
    /// Its start.
    pub start: DateTime<Utc>,
    /// Its end (exclusive).
    pub end: DateTime<Utc>,
    /// `2026-11-26` (day), `10:00` (hour) or `10:42` (minute), UTC.
    pub label: String,
    /// Seconds down.
    pub down_secs: i64,
    /// Seconds up.
    pub up_secs: i64,
    /// Seconds without data (including the future).
    pub no_data_secs: i64,
    /// `down_secs / 60`.
    pub down_minutes: f64,
    /// Outages overlapping the bar.
    pub outages: u32,
}

/// One outage: from a `down` status change to the next change.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outage {
    /// The incident id (the id of the `down` status change).
    pub id: i64,
    /// The part.
    pub part: String,
    /// When the part went down.
    pub start: DateTime<Utc>,
    /// When it came back; `None` while it is still down.
    pub end: Option<DateTime<Utc>>,
    /// Whether it is still down.
    pub ongoing: bool,
    /// Seconds from start to end (to now while ongoing).
    pub duration_secs: i64,
    /// Vouchers held back (sent to `retry`) during the outage.
    pub retries_held: i64,
}

impl History {
    async fn timeline(
        &self,
        part: &str,
        granularity: &'static str,
        start: i64,
        size: i64,
        count: i64,
        now: DateTime<Utc>,
    ) -> Result<Timeline, HistoryError> {
        let part = self.known(part)?;
        let now_ms = now.timestamp_millis();
        let end = start + size * count;
        let data = self.load_part(&part, start, end, now_ms).await?;
        let outages = self.outage_rows(&part, &data, start, end).await?;
        let bars = (0..count)
            .map(|i| {
                let (a, b) = (start + i * size, start + (i + 1) * size);
                let s = data.split(a, b);
                let t = time(a);
                Bar {
                    start: t,
                    end: time(b),
                    label: match granularity {
                        "day" => t.format("%Y-%m-%d").to_string(),
                        _ => t.format("%H:%M").to_string(),
                    },
                    down_secs: s.down / 1000,
                    up_secs: s.up / 1000,
                    no_data_secs: s.none / 1000,
                    down_minutes: s.down as f64 / MINUTE_MS as f64,
                    outages: data.outages(a, b).len() as u32,
                }
            })
            .collect();
        Ok(Timeline {
            part,
            granularity: granularity.into(),
            start: time(start),
            end: time(end),
            bars,
            outages,
        })
    }

    /// The bars of `range`.
    pub async fn timeline_of(
        &self,
        part: &str,
        range: Range,
        now: DateTime<Utc>,
    ) -> Result<Timeline, HistoryError> {
        let s = range.slots(now)?;
        self.timeline(part, s.granularity, s.start, s.size, s.count, now)
            .await
    }

    /// `days` daily bars (1–90) ending with today (UTC).
    pub async fn days(
        &self,
        part: &str,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<Timeline, HistoryError> {
        self.timeline_of(part, Range::Days(days), now).await
    }

    /// The 24 hourly bars of `date` (UTC).
    pub async fn day(
        &self,
        part: &str,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Timeline, HistoryError> {
        self.timeline_of(part, Range::Day(date), now).await
    }

    /// The 60 minute bars of the hour containing `hour` (UTC).
    pub async fn hour(
        &self,
        part: &str,
        hour: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Timeline, HistoryError> {
        self.timeline_of(part, Range::Hour(hour), now).await
    }

    /// The outages of `part` overlapping `[start, end)`, oldest first.
    pub async fn outages(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Outage>, HistoryError> {
        let part = self.known(part)?;
        let (a, b, now_ms) = (
            start.timestamp_millis(),
            end.timestamp_millis(),
            now.timestamp_millis(),
        );
        let data = self.load_part(&part, a, b, now_ms).await?;
        Ok(self.outage_rows(&part, &data, a, b).await?)
    }

    /// The outages of `data` overlapping `[a, b)`, with the retries held.
    async fn outage_rows(
        &self,
        part: &str,
        data: &PartData,
        a: i64,
        b: i64,
    ) -> Result<Vec<Outage>, StoreError> {
        let mut out = Vec::new();
        for &(id, s, e) in data.outages(a, b) {
            let until = e.unwrap_or(data.now);
            out.push(Outage {
                id,
                part: part.to_owned(),
                start: time(s),
                end: e.map(time),
                ongoing: e.is_none(),
                duration_secs: (until - s).max(0) / 1000,
                retries_held: self.held(part, s, until).await?.len() as i64,
            });
        }
        Ok(out)
    }
}

/// `now − 90 days`, the oldest time the timelines show.
pub fn horizon(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(MAX_DAYS.into())
}
