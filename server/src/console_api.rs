//! The console's read-only JSON API and its live-change stream: thin axum
//! handlers over `mediator_core::history::History` and
//! `mediator_core::Changes` (the same functions the console's server
//! functions call).
//!
//! - `GET /api/v1/parts/{part}/uptime` → uptime over 24h / 7d / 30d / 90d.
//! - `GET /api/v1/parts/{part}/timeline` with one of `?days=1..90` (daily bars,
//!   default 90), `?date=YYYY-MM-DD` (24 hourly bars) or `?hour=YYYY-MM-DDTHH`
//!   (60 minute bars), plus the outages overlapping the range.
//! - `GET /api/v1/parts/{part}/latency` with the timeline's range → the
//!   checks' p50 and p95 per bar and over the range.
//! - `GET /api/v1/parts/{part}/counters` → pending retries, archived,
//!   resubmitted, dead-lettered, latest replay with its progress.
//! - `GET /api/v1/incidents?part=&limit=&next_token=` → newest first; and
//!   `GET /api/v1/incidents/{id}`.
//! - `GET /api/v1/archives` and
//!   `GET /api/v1/archives/{name}/events?start=&end=&limit=&next_token=`.
//! - `GET /api/v1/stream` → Server-Sent Events: `hello` first, then `change`
//!   events `{"topic", "part", "at"}`; `resync` when the stream fell behind
//!   (read everything again). Ends at shutdown.
//!
//! Errors are `{"error", "field"?}` like the rest of the API. The GET JSON
//! endpoints answer cross-origin requests ([`cors`]) so portal scripts can
//! read them. Answers are `mediator_wire` types, converted from the read
//! models there; each handler carries its `#[utoipa::path]`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, Stream, StreamExt};
use mediator_core::history::{self, HistoryError};
use mediator_core::{Changes, History};
use mediator_wire::{
    ArchiveList, ArchivePage, ErrorBody, Incident, IncidentPage, LatencySeries, PartCounters,
    Timeline, Uptime,
};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::api::ApiError;
use mediator_core::CommandError;

/// What the console API's handlers share.
#[derive(Clone)]
pub struct ConsoleApiState {
    /// The read models.
    pub history: History,
    /// The live-change hub.
    pub changes: Changes,
    /// Cancelled at shutdown: ends open event streams so the server can drain.
    pub streams_stop: CancellationToken,
    /// One permit per open event stream (`--max-stream-subscribers`): the
    /// stream is public, and each holds a connection for as long as the
    /// client wants.
    pub subscribers: Arc<Semaphore>,
}

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::UnknownPart(p) => CommandError::unknown_part(&p).into(),
            HistoryError::Invalid { field, reason } => CommandError::invalid(field, reason).into(),
            e @ HistoryError::UnknownArchive(_) => CommandError::not_found(e.to_string()).into(),
            other => CommandError::unavailable(other).into(),
        }
    }
}

/// The read-only JSON routes (to be wrapped in [`cors`]).
pub fn routes<S>(state: ConsoleApiState) -> Router<S> {
    Router::new()
        .route("/api/v1/parts/{part}/uptime", get(get_uptime))
        .route("/api/v1/parts/{part}/timeline", get(get_timeline))
        .route("/api/v1/parts/{part}/latency", get(get_latency))
        .route("/api/v1/parts/{part}/counters", get(get_counters))
        .route("/api/v1/incidents", get(get_incidents))
        .route("/api/v1/incidents/{id}", get(get_incident))
        .route("/api/v1/archives", get(get_archives))
        .route("/api/v1/archives/{name}/events", get(get_archive_events))
        .with_state(state)
}

/// The event stream's route.
pub fn stream_routes<S>(state: ConsoleApiState) -> Router<S> {
    Router::new()
        .route("/api/v1/stream", get(get_stream))
        .with_state(state)
}

/// CORS for read-only endpoints: GET (and HEAD) from any origin when
/// `origins` is empty or `*`, else from the listed origins only.
pub fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.is_empty() || origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    CorsLayer::new()
        .allow_methods([Method::GET, Method::HEAD])
        .allow_origin(allow)
        .max_age(std::time::Duration::from_secs(600))
}

type Params = Query<HashMap<String, String>>;

fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn time_param(
    q: &HashMap<String, String>,
    name: &'static str,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    Ok(crate::params::rfc3339(name, param(q, name))?)
}

fn int_param(
    q: &HashMap<String, String>,
    name: &'static str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match param(q, name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                CommandError::invalid(name, format!("must be an integer between 1 and {max}"))
                    .into()
            }),
    }
}

/// A part's uptime windows.
pub async fn uptime(h: &History, part: &str) -> Result<Uptime, ApiError> {
    Ok((&h.uptime(part, Utc::now()).await?).into())
}

/// The range the query names (`days`, `date` or `hour`; at most one;
/// default the longest run of days), as the timeline and the response time
/// read it.
fn range(q: &HashMap<String, String>) -> Result<history::Range, ApiError> {
    let given: Vec<&str> = ["days", "date", "hour"]
        .into_iter()
        .filter(|k| param(q, k).is_some())
        .collect();
    if given.len() > 1 {
        return Err(CommandError::invalid(
            given[1],
            format!(
                "give only one of days, date or hour (got {})",
                given.join(", ")
            ),
        )
        .into());
    }
    Ok(if let Some(d) = param(q, "date") {
        history::Range::Day(history::parse_date(d, "date")?)
    } else if let Some(hr) = param(q, "hour") {
        history::Range::Hour(history::parse_hour(hr, "hour")?)
    } else {
        let days = int_param(
            q,
            "days",
            history::MAX_DAYS as usize,
            history::MAX_DAYS as usize,
        )?;
        history::Range::Days(days as u32)
    })
}

/// A part's timeline from the query (`days`, `date` or `hour`).
pub async fn timeline(
    h: &History,
    part: &str,
    q: &HashMap<String, String>,
) -> Result<Timeline, ApiError> {
    Ok((&h.timeline_of(part, range(q)?, Utc::now()).await?).into())
}

/// A part's response time from the query (`days`, `date` or `hour`).
pub async fn latency(
    h: &History,
    part: &str,
    q: &HashMap<String, String>,
) -> Result<LatencySeries, ApiError> {
    Ok((&h.latency(part, range(q)?, Utc::now()).await?).into())
}

/// One page of incidents.
pub async fn incidents(h: &History, q: &HashMap<String, String>) -> Result<IncidentPage, ApiError> {
    let limit = int_param(q, "limit", 50, history::MAX_INCIDENTS_PAGE)?;
    Ok((&h
        .incidents(param(q, "part"), limit, param(q, "next_token"), Utc::now())
        .await?)
        .into())
}

/// One incident.
pub async fn incident(h: &History, id: &str) -> Result<Incident, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| CommandError::invalid("id", "must be an incident id (an integer)"))?;
    let inc = h
        .incident(id, Utc::now())
        .await?
        .ok_or_else(|| CommandError::not_found(format!("incident {id} not found")))?;
    Ok((&inc).into())
}

/// One page of an archive's events.
pub async fn archive_events(
    h: &History,
    name: &str,
    q: &HashMap<String, String>,
) -> Result<ArchivePage, ApiError> {
    let limit = int_param(q, "limit", 100, history::MAX_ARCHIVE_PAGE)?;
    Ok(h.archive_events(
        name,
        time_param(q, "start")?,
        time_param(q, "end")?,
        limit,
        param(q, "next_token"),
    )
    .await?
    .into())
}

/// A part's uptime over 24 h, 7 d, 30 d and 90 d.
#[utoipa::path(get, path = "/api/v1/parts/{part}/uptime", tag = "history",
    params(("part" = String, Path, description = "A configured part")),
    responses(
        (status = 200, description = "The windows", body = Uptime),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody)
    ))]
pub(crate) async fn get_uptime(
    State(s): State<ConsoleApiState>,
    Path(part): Path<String>,
) -> Result<Json<Uptime>, ApiError> {
    Ok(Json(uptime(&s.history, &part).await?))
}

/// A part's timeline: daily bars (`days`, default 90), the hours of a day
/// (`date`) or the minutes of an hour (`hour`); give at most one.
#[utoipa::path(get, path = "/api/v1/parts/{part}/timeline", tag = "history",
    params(
        ("part" = String, Path, description = "A configured part"),
        ("days" = Option<u32>, Query, description = "Daily bars ending today, 1–90"),
        ("date" = Option<String>, Query, description = "A UTC day, `YYYY-MM-DD`: 24 hourly bars"),
        ("hour" = Option<String>, Query, description = "A UTC hour, `YYYY-MM-DDTHH`: 60 minute bars")
    ),
    responses(
        (status = 200, description = "The bars and outages", body = Timeline),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ErrorBody),
        (status = 422, description = "Bad or several of `days`, `date`, `hour`", body = ErrorBody)
    ))]
pub(crate) async fn get_timeline(
    State(s): State<ConsoleApiState>,
    Path(part): Path<String>,
    Query(q): Params,
) -> Result<Json<Timeline>, ApiError> {
    Ok(Json(timeline(&s.history, &part, &q).await?))
}

/// A part's health-check response time: p50 and p95 per day (`days`,
/// default 90), per hour of a day (`date`) or per minute of an hour
/// (`hour`), and over the whole range; give at most one. Estimated from
/// fixed latency bins: exact below 8 ms, otherwise within 25%.
#[utoipa::path(get, path = "/api/v1/parts/{part}/latency", tag = "history",
    params(
        ("part" = String, Path, description = "A configured part"),
        ("days" = Option<u32>, Query, description = "Daily points ending today, 1–90"),
        ("date" = Option<String>, Query, description = "A UTC day, `YYYY-MM-DD`: 24 hourly points"),
        ("hour" = Option<String>, Query, description = "A UTC hour, `YYYY-MM-DDTHH`: 60 minute points")
    ),
    responses(
        (status = 200, description = "The points and the range's percentiles", body = LatencySeries),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ErrorBody),
        (status = 422, description = "Bad or several of `days`, `date`, `hour`", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody)
    ))]
pub(crate) async fn get_latency(
    State(s): State<ConsoleApiState>,
    Path(part): Path<String>,
    Query(q): Params,
) -> Result<Json<LatencySeries>, ApiError> {
    Ok(Json(latency(&s.history, &part, &q).await?))
}

/// A part's counters: pending retries, archived, resubmitted,
/// dead-lettered, and the latest replay with its progress.
#[utoipa::path(get, path = "/api/v1/parts/{part}/counters", tag = "history",
    params(("part" = String, Path, description = "A configured part")),
    responses(
        (status = 200, description = "The counters", body = PartCounters),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody)
    ))]
pub(crate) async fn get_counters(
    State(s): State<ConsoleApiState>,
    Path(part): Path<String>,
) -> Result<Json<PartCounters>, ApiError> {
    Ok(Json((&s.history.counters(&part).await?).into()))
}

/// Incidents (outages as records), newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "history",
    params(
        ("part" = Option<String>, Query, description = "Only this part's"),
        ("limit" = Option<u32>, Query, description = "Page size, 1–200 (default 50)"),
        ("next_token" = Option<String>, Query, description = "The previous page's `next_token`")
    ),
    responses(
        (status = 200, description = "The page", body = IncidentPage),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ErrorBody),
        (status = 422, description = "Bad `limit` or `next_token`", body = ErrorBody)
    ))]
pub(crate) async fn get_incidents(
    State(s): State<ConsoleApiState>,
    Query(q): Params,
) -> Result<Json<IncidentPage>, ApiError> {
    Ok(Json(incidents(&s.history, &q).await?))
}

/// One incident with its status changes, replays and outcome.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "history",
    params(("id" = i64, Path, description = "The incident id (of its `down` status change)")),
    responses(
        (status = 200, description = "The incident", body = Incident),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 422, description = "`id` is not an integer", body = ErrorBody)
    ))]
pub(crate) async fn get_incident(
    State(s): State<ConsoleApiState>,
    Path(id): Path<String>,
) -> Result<Json<Incident>, ApiError> {
    Ok(Json(incident(&s.history, &id).await?))
}

/// Every archive with its pattern, retention, event count, size, oldest
/// and newest event.
#[utoipa::path(get, path = "/api/v1/archives", tag = "archives",
    responses(
        (status = 200, description = "The archives", body = ArchiveList),
        (status = 503, description = "The bus did not answer", body = ErrorBody)
    ))]
pub(crate) async fn get_archives(
    State(s): State<ConsoleApiState>,
) -> Result<Json<ArchiveList>, ApiError> {
    let archives = s.history.archives().await?;
    Ok(Json(ArchiveList {
        archives: archives.iter().map(Into::into).collect(),
    }))
}

/// A page of an archive's events in a window, oldest first.
#[utoipa::path(get, path = "/api/v1/archives/{name}/events", tag = "archives",
    params(
        ("name" = String, Path, description = "The archive's name"),
        ("start" = Option<DateTime<Utc>>, Query, description = "Window start (RFC 3339, event time)"),
        ("end" = Option<DateTime<Utc>>, Query, description = "Window end (RFC 3339, exclusive)"),
        ("limit" = Option<u32>, Query, description = "Page size, 1–500 (default 100)"),
        ("next_token" = Option<String>, Query, description = "The previous page's `next_token`")
    ),
    responses(
        (status = 200, description = "The page", body = ArchivePage),
        (status = 404, description = "Unknown archive (`field`: `name`)", body = ErrorBody),
        (status = 422, description = "Bad `start`, `end`, `limit` or `next_token`", body = ErrorBody)
    ))]
pub(crate) async fn get_archive_events(
    State(s): State<ConsoleApiState>,
    Path(name): Path<String>,
    Query(q): Params,
) -> Result<Json<ArchivePage>, ApiError> {
    Ok(Json(archive_events(&s.history, &name, &q).await?))
}

/// The change stream as SSE events: `hello`, then `change` per
/// notification, `resync` after a lag; ends when `stop` is cancelled.
pub fn change_events(
    changes: &Changes,
    stop: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let rx = changes.subscribe();
    let hello = Event::default()
        .event("hello")
        .data(json!({ "at": Utc::now() }).to_string());
    let changes = stream::unfold((rx, stop), |(mut rx, stop)| async move {
        let next = tokio::select! {
            _ = stop.cancelled() => return None,
            r = rx.recv() => r,
        };
        let event = match next {
            Ok(c) => Event::default()
                .event("change")
                .data(json!({ "topic": c.topic, "part": c.part, "at": c.at }).to_string()),
            Err(RecvError::Lagged(n)) => Event::default()
                .event("resync")
                .data(json!({ "skipped": n, "at": Utc::now() }).to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), (rx, stop)))
    });
    stream::once(async move { Ok(hello) }).chain(changes)
}

/// Seconds a refused subscriber is asked to wait (`Retry-After`); the
/// console's live module retries, then polls.
const STREAM_RETRY_AFTER_SECS: u64 = 5;

/// Live change notifications as Server-Sent Events, until shutdown: first
/// `hello` (`{"at"}`), then `change` events with data `{"topic", "part",
/// "at"}` — `topic` is `status` (a part's status or counters changed),
/// `check` (a routine health check that changed neither), `override`,
/// `replay`, `voucher` or `dlq` — and `resync` (`{"skipped", "at"}`) when
/// the stream fell behind: read everything again.
#[utoipa::path(get, path = "/api/v1/stream", tag = "stream",
    responses(
        (status = 200, description = "The event stream (ends only at shutdown)", content_type = "text/event-stream", body = String),
        (status = 503, description = "Every subscriber slot is taken (`Retry-After`; `field`: `max_stream_subscribers`)", body = ErrorBody)
    ))]
pub(crate) async fn get_stream(State(s): State<ConsoleApiState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Ok(permit) = s.subscribers.clone().try_acquire_owned() else {
        tracing::debug!("change stream refused: every subscriber slot is taken");
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            [(
                axum::http::header::RETRY_AFTER,
                STREAM_RETRY_AFTER_SECS.to_string(),
            )],
            Json(ErrorBody::new(
                "too many open change streams; retry later",
                Some("max_stream_subscribers"),
            )),
        )
            .into_response();
    };
    // The permit lives as long as the stream.
    let events = change_events(&s.changes, s.streams_stop.clone()).map(move |e| {
        let _held = &permit;
        e
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
