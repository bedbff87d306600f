//! The part archives as the console shows them: each archive's pattern,
//! retention, size and event-time range, and its events browsed by window.
//!
//! Archives live on the bus, so they are reached through [`ArchiveBrowser`],
//! which the embedded backend implements now and the AWS backend later
//! (`DescribeArchive` plus its own ledger, since EventBridge cannot list
//! archived events).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// One archive.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveSummary {
    /// The archive's name.
    pub name: String,
    /// The configured part whose retry events it keeps, if any.
    pub part: Option<String>,
    /// Its event pattern.
    pub pattern: Option<String>,
    /// Days it keeps events (0: for ever).
    pub retention_days: i64,
    /// ENABLED, DISABLED, …
    pub state: String,
    /// Events it holds.
    pub event_count: i64,
    /// Their size in bytes.
    pub size_bytes: i64,
    /// Event time of the oldest event held.
    pub oldest: Option<DateTime<Utc>>,
    /// Event time of the newest event held.
    pub newest: Option<DateTime<Utc>>,
}

/// One archived event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArchivedEvent {
    /// Its position in the archive (stable, increasing with arrival).
    pub seq: i64,
    /// Its event time.
    pub time: DateTime<Utc>,
    /// The event as archived (JSON).
    pub event: serde_json::Value,
}

/// A page of archived events, oldest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArchivePage {
    /// The events.
    pub events: Vec<ArchivedEvent>,
    /// Pass back to get the next page; absent on the last one.
    pub next_token: Option<String>,
}

/// Where a page of archived events starts: after this (event time, seq).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveCursor {
    /// Event time (epoch ms) of the last event of the previous page.
    pub time_ms: i64,
    /// Its seq.
    pub seq: i64,
}

impl ArchiveCursor {
    /// The token handed out with a page.
    pub fn token(&self) -> String {
        format!("{}.{}", self.time_ms, self.seq)
    }

    /// Parses a token [`ArchiveCursor::token`] made.
    pub fn parse(token: &str) -> Option<Self> {
        let (t, s) = token.split_once('.')?;
        Some(Self {
            time_ms: t.parse().ok()?,
            seq: s.parse().ok()?,
        })
    }
}

/// Why an archive could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// No archive of that name.
    #[error("archive {0:?} not found")]
    NotFound(String),
    /// The bus failed.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// The backend cannot do this at all (EventBridge on AWS cannot list
    /// an archive's events); the message says what it can do instead.
    #[error("not supported by this backend: {0}")]
    Unsupported(String),
}

/// Lists archives and browses their events (the bus side of the console's
/// archives page).
#[async_trait]
pub trait ArchiveBrowser: Send + Sync {
    /// Every archive, by name (`part` is left `None`; the caller fills it in).
    async fn archives(&self) -> Result<Vec<ArchiveSummary>, ArchiveError>;
    /// Events each archive holds, by name (the overview's counter); the
    /// default asks [`ArchiveBrowser::archives`], backends may answer cheaper.
    async fn event_counts(&self) -> Result<std::collections::HashMap<String, i64>, ArchiveError> {
        Ok(self
            .archives()
            .await?
            .into_iter()
            .map(|a| (a.name, a.event_count))
            .collect())
    }
    /// Events `archive` holds with an event time in `[start, end)`, ordered
    /// by (event time, seq), after `after`, at most `limit`.
    async fn archive_events(
        &self,
        archive: &str,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        after: Option<ArchiveCursor>,
        limit: usize,
    ) -> Result<Vec<ArchivedEvent>, ArchiveError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_tokens_round_trip_and_reject_junk() {
        let c = ArchiveCursor {
            time_ms: 1_800_000_000_000,
            seq: 42,
        };
        assert_eq!(ArchiveCursor::parse(&c.token()), Some(c));
        assert_eq!(ArchiveCursor::parse("x.1"), None);
        assert_eq!(ArchiveCursor::parse("12"), None);
    }
}
