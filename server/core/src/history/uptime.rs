//! Uptime of a part over the standard windows ending now.

use chrono::{DateTime, Utc};

use super::intervals::Split;
use super::{History, HistoryError, DAY_MS};

/// Uptime of one part over the standard windows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Uptime {
    /// The part.
    pub part: String,
    /// 24h, 7d, 30d and 90d, in that order.
    pub windows: Vec<UptimeWindow>,
}

/// Uptime over one window ending now.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UptimeWindow {
    /// `24h`, `7d`, `30d` or `90d`.
    pub window: String,
    /// Seconds the part was up.
    pub up_secs: i64,
    /// Seconds it was down.
    pub down_secs: i64,
    /// Seconds without data (not yet checked, mediator stopped).
    pub no_data_secs: i64,
    /// `up / (up + down) × 100`; `None` when the window has no data at all.
    pub percent: Option<f64>,
}

/// The uptime windows, with their length.
pub const WINDOWS: [(&str, i64); 4] = [
    ("24h", DAY_MS),
    ("7d", 7 * DAY_MS),
    ("30d", 30 * DAY_MS),
    ("90d", 90 * DAY_MS),
];

impl History {
    /// Uptime of `part` over 24 h, 7 d, 30 d and 90 d ending `now`.
    pub async fn uptime(&self, part: &str, now: DateTime<Utc>) -> Result<Uptime, HistoryError> {
        let part = self.known(part)?;
        let now_ms = now.timestamp_millis();
        let data = self
            .load_part(&part, now_ms - 90 * DAY_MS, now_ms, now_ms)
            .await?;
        // The windows nest: split each slice once and add them up.
        let mut acc = Split::default();
        let mut from = now_ms;
        let windows = WINDOWS
            .iter()
            .map(|(name, len)| {
                let slice = data.split(now_ms - len, from);
                from = now_ms - len;
                acc = Split {
                    up: acc.up + slice.up,
                    down: acc.down + slice.down,
                    none: acc.none + slice.none,
                };
                let s = acc;
                UptimeWindow {
                    window: (*name).into(),
                    up_secs: s.up / 1000,
                    down_secs: s.down / 1000,
                    no_data_secs: s.none / 1000,
                    percent: (s.up + s.down > 0)
                        .then(|| s.up as f64 * 100.0 / (s.up + s.down) as f64),
                }
            })
            .collect();
        Ok(Uptime { part, windows })
    }
}
