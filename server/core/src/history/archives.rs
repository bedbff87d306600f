//! The archives as the console browses them (through [`ArchiveBrowser`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{History, HistoryError};
use crate::archives::{ArchiveBrowser, ArchiveCursor, ArchivePage, ArchiveSummary};

/// Largest page of archived events.
pub const MAX_ARCHIVE_PAGE: usize = 500;

impl History {
    fn browser(&self) -> Result<&Arc<dyn ArchiveBrowser>, HistoryError> {
        self.archives
            .as_ref()
            .ok_or_else(|| HistoryError::Bus("no archive browser configured".into()))
    }

    /// Every archive, with the part whose retry events it keeps.
    pub async fn archives(&self) -> Result<Vec<ArchiveSummary>, HistoryError> {
        let mut list = self.browser()?.archives().await?;
        for a in &mut list {
            a.part = self
                .parts
                .iter()
                .find(|p| p.archive_name == a.name)
                .map(|p| p.name.to_string());
        }
        Ok(list)
    }

    /// The events of archive `name` with an event time in `[start, end)`
    /// (either open), oldest first, `limit` (1–500) per page.
    pub async fn archive_events(
        &self,
        name: &str,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        limit: usize,
        next_token: Option<&str>,
    ) -> Result<ArchivePage, HistoryError> {
        if !(1..=MAX_ARCHIVE_PAGE).contains(&limit) {
            return Err(HistoryError::Invalid {
                field: "limit",
                reason: format!("must be between 1 and {MAX_ARCHIVE_PAGE}"),
            });
        }
        if let (Some(s), Some(e)) = (start, end) {
            if s >= e {
                return Err(HistoryError::Invalid {
                    field: "start",
                    reason: "must be before end".into(),
                });
            }
        }
        let after = next_token
            .map(|t| {
                ArchiveCursor::parse(t).ok_or(HistoryError::Invalid {
                    field: "next_token",
                    reason: "is not a token this API returned".into(),
                })
            })
            .transpose()?;
        let mut events = self
            .browser()?
            .archive_events(name, start, end, after, limit + 1)
            .await?;
        let more = events.len() > limit;
        events.truncate(limit);
        let next_token = more
            .then(|| {
                events.last().map(|e| {
                    ArchiveCursor {
                        time_ms: e.time.timestamp_millis(),
                        seq: e.seq,
                    }
                    .token()
                })
            })
            .flatten();
        Ok(ArchivePage { events, next_token })
    }
}
