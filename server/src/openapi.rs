//! The OpenAPI 3 document of the JSON API, served at `GET /api/openapi.json`.
//!
//! The handlers of [`crate::api`] build their JSON by hand, so the request
//! and response shapes are described here with `utoipa` (derived
//! [`ToSchema`] types and one `#[utoipa::path]` per operation) and gathered
//! by [`ApiDoc`]. `server/tests/openapi.rs` checks over HTTP that every
//! route the router serves under `/api/v1` is documented and answers.

use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// The document, built once per request (cheap, and never stale).
pub async fn openapi_json() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// Every `/api/v1` operation and the schemas they use.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vendor Mediator API",
        description = "Submit vouchers, find and follow them, watch the SaaS parts (uptime, \
                       timelines, incidents, live changes), browse the archives, start and \
                       follow replays of a part's archive, and work the dead-letter queue. \
                       Every error is `{\"error\", \"field\"?}` with `field` naming the \
                       request field at fault. With sign-in on, send `Authorization: Bearer \
                       <token>` (`mediator token add`): reads need any role, changes the \
                       operator role (403 naming it otherwise); no caller: 401."
    ),
    paths(
        get_parts,
        post_override,
        post_voucher,
        get_vouchers,
        get_voucher,
        get_replays,
        post_replay,
        get_preview,
        get_replay,
        post_cancel,
        get_dlq,
        post_redrive,
        get_uptime,
        get_timeline,
        get_counters,
        get_incidents,
        get_incident,
        get_archives,
        get_archive_events,
        get_stream,
        get_me,
        get_audit
    ),
    components(schemas(
        ApiErrorBody,
        VoucherRequestBody,
        VoucherBody,
        VoucherStatusDoc,
        LifecycleEntryBody,
        ReplayRequestBody,
        ReplayBody,
        ReplayProgressBody,
        ReplayList,
        PreviewBody,
        DlqVoucherBody,
        DlqPageBody,
        OverrideRequestBody,
        OverrideBody,
        OverrideResultBody,
        PartsBody,
        PartBody,
        VoucherCountsBody,
        VoucherSearchBody,
        UptimeBody,
        UptimeWindowBody,
        TimelineBody,
        BarBody,
        OutageBody,
        PartCountersBody,
        IncidentReplayBody,
        IncidentPageBody,
        IncidentBody,
        ChangeRefBody,
        IncidentOutcomeBody,
        ArchiveListBody,
        ArchiveSummaryBody,
        ArchivePageBody,
        ArchivedEventBody
    )),
    tags(
        (name = "parts", description = "SaaS parts: status, circuit and manual overrides"),
        (name = "vouchers", description = "The submission flow"),
        (name = "replays", description = "Archive replays that resubmit held vouchers"),
        (name = "dlq", description = "Dead-lettered vouchers"),
        (name = "history", description = "Read models: uptime, timelines, counters, incidents"),
        (name = "archives", description = "The parts' event archives"),
        (name = "stream", description = "Live change notifications (Server-Sent Events)")
    ),
    modifiers(&CommonAnswers)
)]
pub struct ApiDoc;

/// The answers every operation can give besides its own, added to each
/// operation of the document: 401 (sign-in is on and the request names no
/// caller), 403 for changes (the caller lacks the operator role), and for
/// operations with a JSON body 413 (over [`crate::security::API_MAX_BODY_BYTES`])
/// and 415 (not sent as `application/json`).
struct CommonAnswers;

impl utoipa::Modify for CommonAnswers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ApiErrorBody")))
                        .build(),
                )
                .build()
        };
        let too_large = format!(
            "The body is larger than {} bytes (`field`: `body`)",
            crate::security::API_MAX_BODY_BYTES
        );
        for item in doc.paths.paths.values_mut() {
            let operations = [
                (&mut item.get, false),
                (&mut item.post, true),
                (&mut item.put, true),
                (&mut item.patch, true),
                (&mut item.delete, true),
            ];
            for (op, changes) in operations {
                let Some(op) = op.as_mut() else { continue };
                let mut add = |status: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                };
                add("401", "Sign-in is on and the request names no caller (session or `Authorization: Bearer`)");
                if changes {
                    add(
                        "403",
                        "The caller's role may not do this (the role needed is named)",
                    );
                }
                if op.request_body.is_some() {
                    add("413", &too_large);
                    add(
                        "415",
                        "The body is not sent as `application/json` (`field`: `content-type`)",
                    );
                }
            }
        }
    }
}

/// An error: `error` says what is wrong; `field` names the request field
/// (or `part`, `name`, `body`) it concerns, when there is one.
#[derive(Serialize, ToSchema)]
pub struct ApiErrorBody {
    /// What went wrong, e.g. `loyalty_request_id: is required`.
    pub error: String,
    /// The field at fault.
    pub field: Option<String>,
}

/// A voucher request (the Order Processing service's event data).
#[derive(Serialize, ToSchema)]
pub struct VoucherRequestBody {
    /// One of the configured parts, e.g. `voucher`.
    pub part: String,
    /// The voucher's id; a known id is a duplicate and is not submitted again.
    pub loyalty_request_id: String,
    /// Loyalty reference.
    pub loyalty_reference: String,
    /// Merchant reference.
    pub merchant_reference: String,
    /// Loyalty order reference.
    pub loyalty_order_reference: String,
    /// What the SaaS receives besides the keys (any JSON object).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// Where a voucher is in its lifecycle.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoucherStatusDoc {
    /// Stored, not yet decided.
    Received,
    /// Being sent to the SaaS under a claim.
    Submitting,
    /// Held back (circuit open, 5xx or timeout): a replay will resubmit it.
    Retry,
    /// Accepted by the SaaS (final).
    Submitted,
    /// Refused by the SaaS with a 4xx, never retried (final).
    Error,
    /// Given up on after repeated failures; can be redriven.
    DeadLettered,
}

/// A voucher.
#[derive(Serialize, ToSchema)]
pub struct VoucherBody {
    /// The voucher's id.
    pub loyalty_request_id: String,
    /// Its part.
    pub part: String,
    /// Its status.
    pub status: VoucherStatusDoc,
    /// Loyalty reference.
    pub loyalty_reference: String,
    /// Merchant reference.
    pub merchant_reference: String,
    /// Loyalty order reference.
    pub loyalty_order_reference: String,
    /// SaaS calls made so far.
    pub attempts: i64,
    /// When it was first received.
    pub received_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// `POST /api/v1/vouchers` only: the id was known already (200, nothing submitted).
    pub duplicate: Option<bool>,
    /// `GET` only: every status it went through, oldest first.
    pub lifecycle: Option<Vec<LifecycleEntryBody>>,
}

/// One step of a voucher's lifecycle.
#[derive(Serialize, ToSchema)]
pub struct LifecycleEntryBody {
    /// The status entered.
    pub status: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, in words.
    pub detail: String,
}

/// A replay to start: `start` and `end` together, or neither (then the
/// part's latest replay interval is replayed again).
#[derive(Serialize, ToSchema)]
pub struct ReplayRequestBody {
    /// The part whose archive is replayed.
    pub part: String,
    /// Window start (RFC 3339, event time).
    pub start: Option<DateTime<Utc>>,
    /// Window end (RFC 3339, exclusive); at most the archive's retention
    /// after `start`, not in the future.
    pub end: Option<DateTime<Utc>>,
    /// Who starts it (a non-empty string; default `api`), stored with the
    /// replay.
    pub by: Option<String>,
}

/// Progress of a replay, from the mediator's own ledger.
#[derive(Serialize, ToSchema)]
pub struct ReplayProgressBody {
    /// Retry events of the part in the window.
    pub expected: i64,
    /// Replayed events handled.
    pub processed: i64,
    /// …resubmitted and accepted.
    pub resubmitted: i64,
    /// …skipped (already submitted, error or in flight).
    pub skipped: i64,
    /// …failed.
    pub failed: i64,
}

/// A replay the mediator started, with the bus's state and cursor.
#[derive(Serialize, ToSchema)]
pub struct ReplayBody {
    /// `<ArchiveBase>Replay_YYYYMMDDHHMMSS`.
    pub name: String,
    /// The part.
    pub part: String,
    /// The archive replayed.
    pub archive: String,
    /// Window start.
    pub window_start: DateTime<Utc>,
    /// Window end.
    pub window_end: DateTime<Utc>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// `recovery`, `sweeper` or `manual`.
    pub trigger: String,
    /// Who started it: the operator's name (or `api`), `recovery` or
    /// `sweeper`; `null` for manual replays recorded before this was stored.
    pub by: Option<String>,
    /// Whether the bus accepted it.
    pub started: bool,
    /// Why the bus refused it.
    pub start_error: Option<String>,
    /// Progress.
    pub progress: ReplayProgressBody,
    /// STARTING, RUNNING, CANCELLING, COMPLETED, CANCELLED, FAILED (or
    /// UNKNOWN / NOT_STARTED when the bus does not know it).
    pub state: String,
    /// Why it is in that state.
    pub state_reason: Option<String>,
    /// The replay's cursor: event time replayed so far.
    pub event_last_replayed_time: Option<DateTime<Utc>>,
    /// When the bus started it.
    pub replay_start_time: Option<DateTime<Utc>>,
    /// When the bus finished it.
    pub replay_end_time: Option<DateTime<Utc>>,
}

/// The replays the mediator started, newest first (at most 100).
#[derive(Serialize, ToSchema)]
pub struct ReplayList {
    /// The replays.
    pub replays: Vec<ReplayBody>,
}

/// What replaying a window would touch.
#[derive(Serialize, ToSchema)]
pub struct PreviewBody {
    /// Events the part's archive holds in the window.
    pub archived: i64,
    /// Vouchers of the part still `retry`/`received` whose retry event is in the window.
    pub pending: i64,
}

/// A dead-lettered voucher.
#[derive(Serialize, ToSchema)]
pub struct DlqVoucherBody {
    /// The voucher.
    #[serde(flatten)]
    pub voucher: VoucherBody,
    /// Why it was dead-lettered.
    pub reason: Option<String>,
    /// When.
    pub dead_lettered_at: DateTime<Utc>,
}

/// One page of the dead-letter queue, oldest first.
#[derive(Serialize, ToSchema)]
pub struct DlqPageBody {
    /// The vouchers.
    pub vouchers: Vec<DlqVoucherBody>,
    /// Pass as `next_token` for the next page; absent on the last page.
    pub next_token: Option<String>,
}

/// A manual circuit override to set (`mode` `none` clears it).
#[derive(Serialize, ToSchema)]
pub struct OverrideRequestBody {
    /// `force_open`, `force_closed`, `disabled` or `none`.
    #[schema(pattern = "^(force_open|force_closed|disabled|none)$")]
    pub mode: String,
    /// Why; required unless `mode` is `none`.
    pub reason: Option<String>,
    /// Who sets it.
    pub by: Option<String>,
}

/// A manual circuit override in force.
#[derive(Serialize, ToSchema)]
pub struct OverrideBody {
    /// `force_open`, `force_closed` or `disabled`.
    pub mode: String,
    /// Why.
    pub reason: String,
    /// Who set it.
    pub by: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A part's override and effective circuit after a change.
#[derive(Serialize, ToSchema)]
pub struct OverrideResultBody {
    /// The part.
    pub part: String,
    /// The override in force, `null` when none.
    #[serde(rename = "override")]
    pub override_: Option<OverrideBody>,
    /// `closed` (vouchers are submitted) or `open` (held as `retry`).
    pub circuit: String,
}

/// How many vouchers of a part are in each status.
#[derive(Serialize, ToSchema)]
pub struct VoucherCountsBody {
    /// Stored, not yet decided.
    pub received: u64,
    /// Being submitted.
    pub submitting: u64,
    /// Held back.
    pub retry: u64,
    /// Accepted.
    pub submitted: u64,
    /// Refused.
    pub error: u64,
    /// Given up on.
    pub dead_lettered: u64,
}

/// One part on the overview (the console's data; more fields may appear).
#[derive(Serialize, ToSchema)]
pub struct PartBody {
    /// The part's name.
    pub name: String,
    /// `unknown`, `pending`, `up` or `down`.
    pub status: String,
    /// When the status last changed.
    pub since: Option<DateTime<Utc>>,
    /// The archive keeping the part's retry events.
    pub archive: String,
    /// Consecutive failed checks.
    pub failures: u32,
    /// Failed checks that make the part down.
    pub failure_threshold: u32,
    /// Consecutive good checks.
    pub successes: u32,
    /// Good checks that bring a down part back up.
    pub recovery_threshold: u32,
    /// Last health check.
    pub last_check_at: Option<DateTime<Utc>>,
    /// Why the last check failed.
    pub last_error: Option<String>,
    /// Effective circuit: `closed` or `open`.
    pub circuit: String,
    /// The manual override in force.
    #[serde(rename = "override")]
    pub override_: Option<OverrideBody>,
    /// Vouchers by status.
    pub vouchers: VoucherCountsBody,
    /// Events the archive holds, when known.
    pub archived: Option<u64>,
    /// Vouchers resubmitted by the part's replays.
    pub resubmitted: u64,
    /// The part's newest replay.
    #[schema(value_type = Option<Object>)]
    pub latest_replay: Option<serde_json::Value>,
}

/// The overview: every configured part, in configuration order.
#[derive(Serialize, ToSchema)]
pub struct PartsBody {
    /// The parts.
    pub parts: Vec<PartBody>,
    /// When the snapshot was taken.
    pub generated_at: DateTime<Utc>,
}

/// Vouchers matching a reference, newest received first.
#[derive(Serialize, ToSchema)]
pub struct VoucherSearchBody {
    /// The matches (without lifecycle).
    pub vouchers: Vec<VoucherBody>,
    /// Present when the page is full: pass as `next_token` for older matches.
    pub next_token: Option<String>,
}

/// A part's uptime over the standard windows.
#[derive(Serialize, ToSchema)]
pub struct UptimeBody {
    /// The part.
    pub part: String,
    /// `24h`, `7d`, `30d` and `90d`, in that order.
    pub windows: Vec<UptimeWindowBody>,
}

/// Uptime over one window ending now (from status changes, not checks).
#[derive(Serialize, ToSchema)]
pub struct UptimeWindowBody {
    /// `24h`, `7d`, `30d` or `90d`.
    pub window: String,
    /// Seconds up.
    pub up_secs: i64,
    /// Seconds down.
    pub down_secs: i64,
    /// Seconds without data (before the first check, mediator stopped).
    pub no_data_secs: i64,
    /// `up / (up + down) × 100`; `null` when the window has no data.
    pub percent: Option<f64>,
}

/// Bars over a range at one granularity, with the outages overlapping it.
#[derive(Serialize, ToSchema)]
pub struct TimelineBody {
    /// The part.
    pub part: String,
    /// `day`, `hour` or `minute`.
    pub granularity: String,
    /// Start of the first bar.
    pub start: DateTime<Utc>,
    /// End of the last bar (exclusive).
    pub end: DateTime<Utc>,
    /// The bars, oldest first.
    pub bars: Vec<BarBody>,
    /// The outages overlapping the range, oldest first.
    pub outages: Vec<OutageBody>,
}

/// One bar of a timeline.
#[derive(Serialize, ToSchema)]
pub struct BarBody {
    /// Its start.
    pub start: DateTime<Utc>,
    /// Its end (exclusive).
    pub end: DateTime<Utc>,
    /// `2026-11-26`, `10:00` or `10:42` (UTC).
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

/// An outage: from a `down` status change to the next change.
#[derive(Serialize, ToSchema)]
pub struct OutageBody {
    /// The incident id.
    pub id: i64,
    /// The part.
    pub part: String,
    /// When the part went down.
    pub start: DateTime<Utc>,
    /// When it came back; `null` while ongoing.
    pub end: Option<DateTime<Utc>>,
    /// Whether it is still down.
    pub ongoing: bool,
    /// Seconds from start to end (to now while ongoing).
    pub duration_secs: i64,
    /// Vouchers held back during it.
    pub retries_held: i64,
}

/// A replay as the read models show it.
#[derive(Serialize, ToSchema)]
pub struct IncidentReplayBody {
    /// The replay's name.
    pub name: String,
    /// `recovery`, `manual` or `sweeper`.
    pub trigger: String,
    /// Who started it (see `ReplayBody.by`).
    pub by: Option<String>,
    /// Window start.
    pub window_start: DateTime<Utc>,
    /// Window end.
    pub window_end: DateTime<Utc>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// The bus's state, `NOT_STARTED` or `UNKNOWN`.
    pub state: String,
    /// Retry events its window holds.
    pub expected: i64,
    /// Replayed events handled.
    pub processed: i64,
    /// …resubmitted.
    pub resubmitted: i64,
    /// …skipped.
    pub skipped: i64,
    /// …failed.
    pub failed: i64,
}

/// A part's overview counters.
#[derive(Serialize, ToSchema)]
pub struct PartCountersBody {
    /// The part.
    pub part: String,
    /// Vouchers held back now.
    pub pending_retries: i64,
    /// Events the part's archive holds; `null` when the bus did not answer.
    pub archived: Option<i64>,
    /// Vouchers resubmitted by the part's replays.
    pub resubmitted: i64,
    /// Vouchers dead-lettered now.
    pub dead_lettered: i64,
    /// The latest replay with its progress.
    pub latest_replay: Option<IncidentReplayBody>,
}

/// A status change an incident links.
#[derive(Serialize, ToSchema)]
pub struct ChangeRefBody {
    /// Its id.
    pub id: i64,
    /// The new status.
    pub status: String,
    /// The status before.
    pub prev_status: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// What became of the vouchers an incident held back.
#[derive(Serialize, ToSchema)]
pub struct IncidentOutcomeBody {
    /// Resubmitted by a replay.
    pub resubmitted: i64,
    /// Skipped by the replays.
    pub skipped: i64,
    /// Failed in the replays.
    pub failed: i64,
    /// Dead-lettered now.
    pub dead_lettered: i64,
    /// Still waiting now.
    pub pending: i64,
}

/// An outage as a record: the status changes, the retries held, the
/// replays that recovered them and the outcome.
#[derive(Serialize, ToSchema)]
pub struct IncidentBody {
    /// The id (of the `down` status change).
    pub id: i64,
    /// The part.
    pub part: String,
    /// When the part went down.
    pub start: DateTime<Utc>,
    /// When it came back; `null` while ongoing.
    pub end: Option<DateTime<Utc>>,
    /// Whether it is still down.
    pub ongoing: bool,
    /// Seconds it lasted (so far).
    pub duration_secs: i64,
    /// Vouchers held back.
    pub retries_held: i64,
    /// The `down` change, then the one that ended it.
    pub status_changes: Vec<ChangeRefBody>,
    /// Replays whose window overlaps it, oldest first.
    pub replays: Vec<IncidentReplayBody>,
    /// What became of the held vouchers.
    pub outcome: IncidentOutcomeBody,
    /// `ongoing`, `recovering`, `needs_attention` or `resolved`.
    pub state: String,
}

/// A page of incidents, newest first.
#[derive(Serialize, ToSchema)]
pub struct IncidentPageBody {
    /// The incidents.
    pub incidents: Vec<IncidentBody>,
    /// Pass as `next_token` for older ones; absent on the last page.
    pub next_token: Option<String>,
}

/// One archive.
#[derive(Serialize, ToSchema)]
pub struct ArchiveSummaryBody {
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
    pub oldest: Option<DateTime<Utc>>,
    /// Event time of the newest event.
    pub newest: Option<DateTime<Utc>>,
}

/// The archives.
#[derive(Serialize, ToSchema)]
pub struct ArchiveListBody {
    /// Every archive of the bus.
    pub archives: Vec<ArchiveSummaryBody>,
}

/// One archived event.
#[derive(Serialize, ToSchema)]
pub struct ArchivedEventBody {
    /// Its position in the archive.
    pub seq: i64,
    /// Its event time.
    pub time: DateTime<Utc>,
    /// The event as archived.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

/// A page of an archive's events, oldest first.
#[derive(Serialize, ToSchema)]
pub struct ArchivePageBody {
    /// The events.
    pub events: Vec<ArchivedEventBody>,
    /// Pass as `next_token` for the next page; absent on the last one.
    pub next_token: Option<String>,
}

// The operations. The handlers are in `crate::api` (and `crate::http` for
// the overview); these functions only carry their documentation.

/// The parts with status, circuit, counters and latest replay.
#[utoipa::path(get, path = "/api/v1/parts", tag = "parts",
    responses(
        (status = 200, description = "The overview", body = PartsBody),
        (status = 503, description = "Storage unavailable", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_parts() {}

/// Sets or clears a part's manual circuit override.
#[utoipa::path(post, path = "/api/v1/parts/{part}/override", tag = "parts",
    params(("part" = String, Path, description = "A configured part")),
    request_body = OverrideRequestBody,
    responses(
        (status = 200, description = "The override in force and the effective circuit", body = OverrideResultBody),
        (status = 400, description = "The body is not JSON (`field`: `body`)", body = ApiErrorBody),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ApiErrorBody),
        (status = 422, description = "Bad `mode`, or `reason` missing", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn post_override() {}

/// Accepts a voucher: validates, stores and submits it (or holds it while
/// its part is down).
#[utoipa::path(post, path = "/api/v1/vouchers", tag = "vouchers",
    request_body = VoucherRequestBody,
    responses(
        (status = 202, description = "Accepted; `status` says what the flow did", body = VoucherBody),
        (status = 200, description = "A known id: the stored voucher, `duplicate: true`", body = VoucherBody),
        (status = 400, description = "The body is not JSON (`field`: `body`)", body = ApiErrorBody),
        (status = 422, description = "A field is missing or invalid (named in `field`)", body = ApiErrorBody),
        (status = 503, description = "Storage unavailable", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn post_voucher() {}

/// Vouchers whose reference matches exactly, newest received first. Give
/// `ref` (matches any of the four references) or exactly one of
/// `loyalty_request_id`, `loyalty_reference`, `merchant_reference`,
/// `loyalty_order_reference`.
#[utoipa::path(get, path = "/api/v1/vouchers", tag = "vouchers",
    params(
        ("ref" = Option<String>, Query, description = "Matches any of the four references"),
        ("loyalty_request_id" = Option<String>, Query, description = "Matches this reference only"),
        ("loyalty_reference" = Option<String>, Query, description = "Matches this reference only"),
        ("merchant_reference" = Option<String>, Query, description = "Matches this reference only"),
        ("loyalty_order_reference" = Option<String>, Query, description = "Matches this reference only"),
        ("limit" = Option<u32>, Query, description = "Page size, 1–100 (default 20)"),
        ("next_token" = Option<String>, Query, description = "The previous page's `next_token`")
    ),
    responses(
        (status = 200, description = "The matches", body = VoucherSearchBody),
        (status = 422, description = "No reference, two references, an empty one, or a bad `limit` / `next_token` (named in `field`)", body = ApiErrorBody),
        (status = 503, description = "Storage unavailable", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_vouchers() {}

/// A voucher and its lifecycle.
#[utoipa::path(get, path = "/api/v1/vouchers/{loyalty_request_id}", tag = "vouchers",
    params(("loyalty_request_id" = String, Path, description = "The voucher's id")),
    responses(
        (status = 200, description = "The voucher with `lifecycle`", body = VoucherBody),
        (status = 404, description = "Unknown voucher", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_voucher() {}

/// The replays the mediator started, newest first.
#[utoipa::path(get, path = "/api/v1/replays", tag = "replays",
    responses(
        (status = 200, description = "The replays", body = ReplayList),
        (status = 503, description = "Storage unavailable", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_replays() {}

/// Replays a window of a part's archive to its resubmit rule.
#[utoipa::path(post, path = "/api/v1/replays", tag = "replays",
    request_body = ReplayRequestBody,
    responses(
        (status = 202, description = "Started", body = ReplayBody),
        (status = 400, description = "The body is not JSON", body = ApiErrorBody),
        (status = 409, description = "The part has an active replay (`field`: `part`)", body = ApiErrorBody),
        (status = 422, description = "Unknown part, or a bad window (`start` not before `end`, longer than the retention, `end` in the future)", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn post_replay() {}

/// What replaying a window would touch, before launching it.
#[utoipa::path(get, path = "/api/v1/replays/preview", tag = "replays",
    params(
        ("part" = String, Query, description = "The part"),
        ("start" = DateTime<Utc>, Query, description = "Window start (RFC 3339)"),
        ("end" = DateTime<Utc>, Query, description = "Window end (RFC 3339)")
    ),
    responses(
        (status = 200, description = "Archived and still-pending counts", body = PreviewBody),
        (status = 422, description = "Missing or bad `part`, `start` or `end`", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_preview() {}

/// One replay: the bus's state and cursor, and the progress.
#[utoipa::path(get, path = "/api/v1/replays/{name}", tag = "replays",
    params(("name" = String, Path, description = "The replay's name")),
    responses(
        (status = 200, description = "The replay", body = ReplayBody),
        (status = 404, description = "Unknown replay", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_replay() {}

/// Cancels a running replay.
#[utoipa::path(post, path = "/api/v1/replays/{name}/cancel", tag = "replays",
    params(("name" = String, Path, description = "The replay's name")),
    responses(
        (status = 202, description = "Cancelling", body = ReplayBody),
        (status = 404, description = "Unknown replay", body = ApiErrorBody),
        (status = 409, description = "Already finished (`field`: `name`)", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn post_cancel() {}

/// One page of dead-lettered vouchers, oldest first.
#[utoipa::path(get, path = "/api/v1/dlq", tag = "dlq",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1–1000 (default 100)"),
        ("next_token" = Option<String>, Query, description = "The previous page's `next_token`")
    ),
    responses(
        (status = 200, description = "The page", body = DlqPageBody),
        (status = 422, description = "Bad `limit` or `next_token`", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_dlq() {}

/// Redrives a dead-lettered voucher: back to `retry` and resubmitted now.
#[utoipa::path(post, path = "/api/v1/dlq/{loyalty_request_id}/redrive", tag = "dlq",
    params(("loyalty_request_id" = String, Path, description = "The voucher's id")),
    responses(
        (status = 200, description = "The voucher after the resubmission, with its lifecycle", body = VoucherBody),
        (status = 404, description = "Unknown voucher", body = ApiErrorBody),
        (status = 409, description = "Not dead-lettered (`field`: `loyalty_request_id`)", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn post_redrive() {}

/// A part's uptime over 24 h, 7 d, 30 d and 90 d.
#[utoipa::path(get, path = "/api/v1/parts/{part}/uptime", tag = "history",
    params(("part" = String, Path, description = "A configured part")),
    responses(
        (status = 200, description = "The windows", body = UptimeBody),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ApiErrorBody),
        (status = 503, description = "Storage unavailable", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_uptime() {}

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
        (status = 200, description = "The bars and outages", body = TimelineBody),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ApiErrorBody),
        (status = 422, description = "Bad or several of `days`, `date`, `hour`", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_timeline() {}

/// A part's counters: pending retries, archived, resubmitted,
/// dead-lettered, and the latest replay with its progress.
#[utoipa::path(get, path = "/api/v1/parts/{part}/counters", tag = "history",
    params(("part" = String, Path, description = "A configured part")),
    responses(
        (status = 200, description = "The counters", body = PartCountersBody),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ApiErrorBody),
        (status = 503, description = "Storage unavailable", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_counters() {}

/// Incidents (outages as records), newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "history",
    params(
        ("part" = Option<String>, Query, description = "Only this part's"),
        ("limit" = Option<u32>, Query, description = "Page size, 1–200 (default 50)"),
        ("next_token" = Option<String>, Query, description = "The previous page's `next_token`")
    ),
    responses(
        (status = 200, description = "The page", body = IncidentPageBody),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ApiErrorBody),
        (status = 422, description = "Bad `limit` or `next_token`", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_incidents() {}

/// One incident with its status changes, replays and outcome.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "history",
    params(("id" = i64, Path, description = "The incident id (of its `down` status change)")),
    responses(
        (status = 200, description = "The incident", body = IncidentBody),
        (status = 404, description = "Unknown incident", body = ApiErrorBody),
        (status = 422, description = "`id` is not an integer", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_incident() {}

/// Every archive with its pattern, retention, event count, size, oldest
/// and newest event.
#[utoipa::path(get, path = "/api/v1/archives", tag = "archives",
    responses(
        (status = 200, description = "The archives", body = ArchiveListBody),
        (status = 503, description = "The bus did not answer", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_archives() {}

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
        (status = 200, description = "The page", body = ArchivePageBody),
        (status = 404, description = "Unknown archive (`field`: `name`)", body = ApiErrorBody),
        (status = 422, description = "Bad `start`, `end`, `limit` or `next_token`", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_archive_events() {}

/// Live change notifications as Server-Sent Events, until shutdown: first
/// `hello` (`{"at"}`), then `change` events with data `{"topic", "part",
/// "at"}` — `topic` is `status` (a part's status or counters changed),
/// `check` (a routine health check that changed neither), `override`,
/// `replay`, `voucher` or `dlq` — and `resync` (`{"skipped", "at"}`) when
/// the stream fell behind: read everything again.
#[utoipa::path(get, path = "/api/v1/stream", tag = "stream",
    responses(
        (status = 200, description = "The event stream (ends only at shutdown)", content_type = "text/event-stream", body = String)
    ))]
#[allow(dead_code)]
fn get_stream() {}

/// The caller: `{"name", "role", "via"}` (`via`: `session`, `token`,
/// `proxy`, or `open` when sign-in is off).
#[utoipa::path(get, path = "/api/v1/me", tag = "access",
    responses(
        (status = 200, description = "Who is calling", body = Object),
        (status = 401, description = "No caller (sign in or send a token)", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_me() {}

/// The audit log, oldest first: replays started and cancelled, overrides,
/// console submissions, redrives, sign-ins (failed too), user and token
/// changes, and refused attempts. Operators and admins.
#[utoipa::path(get, path = "/api/v1/audit", tag = "access",
    params(
        ("since" = Option<DateTime<Utc>>, Query, description = "Entries at or after (RFC 3339)"),
        ("until" = Option<DateTime<Utc>>, Query, description = "Entries before (RFC 3339)"),
        ("format" = Option<String>, Query, description = "`json` (default): `{\"entries\", \"truncated\"}`; `ndjson`: one entry per line")
    ),
    responses(
        (status = 200, description = "The entries (`{id, at, actor, role, via, action, target, reason, outcome, detail}`)", body = Object),
        (status = 401, description = "No caller", body = ApiErrorBody),
        (status = 403, description = "Needs the operator role (`field`: `role`)", body = ApiErrorBody),
        (status = 422, description = "Bad `since`, `until` or `format`", body = ApiErrorBody)
    ))]
#[allow(dead_code)]
fn get_audit() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for r in text.split("\"$ref\":\"").skip(1) {
            let target = r.split('"').next().unwrap();
            let name = target.strip_prefix("#/components/schemas/").unwrap();
            assert!(schemas.contains_key(name), "dangling {target}");
        }
    }
}
