//! The parts' event archives and their events.

use serde::{Deserialize, Serialize};

/// One archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ArchiveSummaryBody))]
pub struct ArchiveSummary {
    /// Its name.
    pub name: String,
    /// The part whose retry events it keeps, if any.
    pub part: Option<String>,
    /// Its event pattern (JSON text).
    pub pattern: Option<String>,
    /// Days it keeps events (0: for ever).
    pub retention_days: i64,
    /// `ENABLED`, `DISABLED`, …
    pub state: String,
    /// Events it holds.
    pub event_count: i64,
    /// Their size in bytes.
    pub size_bytes: i64,
    /// Event time of the oldest event.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub oldest: Option<String>,
    /// Event time of the newest event.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub newest: Option<String>,
}

/// The archives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ArchiveListBody))]
pub struct ArchiveList {
    /// Every archive of the bus.
    pub archives: Vec<ArchiveSummary>,
}

/// One archived event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ArchivedEventBody))]
pub struct ArchivedEvent {
    /// Its position in the archive.
    pub seq: i64,
    /// Its event time.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub time: String,
    /// The event as archived.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub event: serde_json::Value,
}

/// A page of an archive's events, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ArchivePageBody))]
pub struct ArchivePage {
    /// The events.
    pub events: Vec<ArchivedEvent>,
    /// Pass as `next_token` for the next page; `null` on the last one.
    pub next_token: Option<String>,
}

/// An archived event as the console lists it: a one-line summary and the
/// event pretty-printed as the server holds it (key order kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedEventView {
    /// Position in the archive.
    pub seq: i64,
    /// Event time (RFC 3339).
    pub time: String,
    /// `detail.metadata.status` and the request id, when present.
    pub summary: String,
    /// The event as archived (pretty JSON).
    pub json: String,
}

/// A page of archived events as the console lists them, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveEventsView {
    /// The events.
    pub events: Vec<ArchivedEventView>,
    /// Token of the next page.
    pub next_token: Option<String>,
}
