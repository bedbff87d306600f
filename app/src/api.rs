//! What the console exchanges with the server: thin `#[server]` functions
//! over the domain crate, returning the shapes of `mediator_wire` (shared
//! with the JSON API, converted from the model there).
//!
//! Each `#[server]` function only fetches the [`ConsoleContext`] and calls a
//! plain `async fn` of the same module (compiled with `ssr` only), which is
//! also what the JSON API and the tests call: the console and the API can
//! never disagree.
//!
//! - this module: the overview, errors, shared formatting helpers;
//! - [`history`]: timelines, outages, incidents and archives;
//! - [`overrides`]: a part's circuit override, set or cleared;
//! - [`notify`]: notification channels, the delivery log, a test sent;
//! - [`replays`]: replays, preview, start and cancel;
//! - [`vouchers`]: submit, search, lifecycle, dead-letter queue and redrive.

pub mod access;
pub mod dlq;
pub mod history;
pub mod maintenance;
pub mod notify;
pub mod overrides;
pub mod replays;
pub mod vouchers;

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

pub use mediator_wire::{
    CheckResult, Override, Overview, Part, RecentLatency, ReplayView, UptimeSummary, VoucherCounts,
};

/// The least time the replay dialog allows for an archived event to appear
/// in its archive after it was sent: it warns when a window ends more
/// recently than this or than the part's `archive_lag`, whichever is
/// longer (EventBridge archives can lag by several minutes; the embedded
/// bus archives once the status outbox has published), because a replay
/// started then may miss events not yet archived.
pub const ARCHIVE_LAG_SECS: i64 = 300;

/// Items per page in the console's long lists.
pub const PAGE_SIZE: usize = 20;

/// Errors a server function reports to the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApiError {
    /// The server could not read its state (database unavailable, …).
    #[error("the server could not read its state: {0}")]
    Unavailable(String),
    /// A field of the request is invalid; the form shows it next to the field.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// Why.
        reason: String,
    },
    /// Nothing of that name.
    #[error("{0}")]
    NotFound(String),
    /// Refused in the current state (e.g. the part has an active replay).
    #[error("{reason}")]
    Conflict {
        /// What it concerns (`part`, `name`, …).
        field: String,
        /// Why.
        reason: String,
    },
    /// Transport or encoding failure of the server-function call itself.
    #[error("request failed: {0}")]
    Request(String),
    /// Not signed in (or the session ended).
    #[error("not signed in: {0}")]
    Unauthorized(String),
    /// The caller's role does not allow this.
    #[error("{reason}")]
    Forbidden {
        /// The role needed (`operator`, `admin`).
        required: String,
        /// Why, naming the role.
        reason: String,
    },
    /// Asked again too soon (e.g. checking a part now); try again later.
    #[error("{reason}")]
    TooSoon {
        /// What it concerns (`part`).
        field: String,
        /// Why, and when to try again.
        reason: String,
        /// Seconds to wait.
        retry_after_secs: u64,
    },
}

impl ApiError {
    /// The reason for `field`, when this error names that field.
    pub fn for_field(&self, field: &str) -> Option<String> {
        match self {
            ApiError::Invalid { field: f, reason } if f == field => Some(reason.clone()),
            _ => None,
        }
    }
}

impl ApiError {
    /// The HTTP status a server function answers with this error: the
    /// command layer's one mapping ([`mediator_core::CommandError::http_status`]:
    /// 422 for an invalid field, 404, 409, 429, 401, 403, 503); `None` for
    /// [`ApiError::Request`] (the server-function layer's own failures keep
    /// its status).
    #[cfg(feature = "ssr")]
    pub fn http_status(&self) -> Option<u16> {
        use mediator_core::CommandError as C;
        let refusal = match self.clone() {
            ApiError::Invalid { field, reason } => C::Invalid { field, reason },
            ApiError::NotFound(what) => C::not_found(what),
            ApiError::Conflict { field, reason } => C::Conflict { field, reason },
            ApiError::TooSoon {
                field,
                reason,
                retry_after_secs,
            } => C::TooSoon {
                field,
                reason,
                retry_after_secs,
            },
            ApiError::Unauthorized(reason) => C::Unauthenticated(reason),
            ApiError::Forbidden { required, reason } => C::Forbidden {
                required: required.parse().ok()?,
                reason,
            },
            ApiError::Unavailable(e) => C::Unavailable(e),
            ApiError::Request(_) => return None,
        };
        Some(refusal.http_status())
    }
}

/// A command's refusal as the console's error: the one place the console
/// converts `mediator_core::CommandError` (the JSON API answers it as is).
#[cfg(feature = "ssr")]
impl From<mediator_core::CommandError> for ApiError {
    fn from(e: mediator_core::CommandError) -> Self {
        use mediator_core::CommandError as C;
        match e {
            C::Forbidden { required, reason } => ApiError::Forbidden {
                required: required.as_str().into(),
                reason,
            },
            C::Invalid { field, reason } => ApiError::Invalid { field, reason },
            C::NotFound { what, .. } => ApiError::NotFound(what),
            C::Conflict { field, reason } => ApiError::Conflict { field, reason },
            C::TooSoon {
                field,
                reason,
                retry_after_secs,
            } => ApiError::TooSoon {
                field,
                reason,
                retry_after_secs,
            },
            C::Unavailable(e) => ApiError::Unavailable(e),
            C::Unauthenticated(reason) => ApiError::Unauthorized(reason),
        }
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        ApiError::Request(value.to_string())
    }

    /// Encodes the error as the server function's response body (JSON,
    /// e.g. `{"Invalid":{"field":…,"reason":…}}`) and, on the server, sets
    /// that response's status from the error ([`ApiError::http_status`])
    /// instead of server_fn's default 500. Server functions only encode an
    /// error this way when answering a call (a page render serialises
    /// resources with serde), so pages keep their own status.
    fn ser(&self) -> leptos::server_fn::Bytes {
        #[cfg(feature = "ssr")]
        if let (Some(code), Some(res)) = (
            self.http_status()
                .and_then(|c| http::StatusCode::from_u16(c).ok()),
            use_context::<leptos_axum::ResponseOptions>(),
        ) {
            res.set_status(code);
        }
        use leptos::server_fn::Encodes;
        JsonEncoding::encode(self).unwrap_or_else(|e| {
            // ApiError is plain strings: encoding cannot fail in practice.
            let e = ApiError::Request(format!("encoding the error failed: {e}"));
            leptos::server_fn::Bytes::from(serde_json::to_vec(&e).unwrap_or_default())
        })
    }
}

/// Current status of every configured part.
#[server(client = crate::api::access::CsrfClient)]
pub async fn get_overview() -> Result<Overview, ApiError> {
    access::require_read(mediator_core::Role::Viewer)?;
    let ctx = context()?;
    overview(&ctx).await
}

/// Runs `part`'s health check now (operator; once per 5 s per part) and
/// answers what it found and the part's status after it.
#[server(client = crate::api::access::CsrfClient)]
pub async fn check_part_now(part: String) -> Result<CheckResult, ApiError> {
    let ctx = context()?;
    let who = access::signed_in()?;
    let rec =
        mediator_core::commands::parts::check_now(&ctx.monitor, &ctx.audit, &who, &part).await?;
    Ok(CheckResult::from(&rec))
}

pub use crate::clock::{fmt_time, fmt_utc};

/// A duration in words: `45 s`, `3 min 5 s`, `2 h 5 min`, `3 d 4 h`.
pub fn fmt_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 if s % 60 == 0 => format!("{} min", s / 60),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A percentage with two decimals, or an em dash when unknown.
pub fn fmt_percent(p: Option<f64>) -> String {
    p.map(|p| format!("{p:.2}%")).unwrap_or_else(|| "—".into())
}

#[cfg(feature = "ssr")]
pub(crate) use ssr::unavailable as ssr_unavailable;
#[cfg(feature = "ssr")]
pub use ssr::{
    context, overview, overview_cache, overview_snapshot, ConsoleContext, ConsoleParts,
    OVERVIEW_MAX_AGE,
};

#[cfg(feature = "ssr")]
mod ssr {
    //! Server-side halves of the server functions: plain async functions the
    //! JSON API and tests call directly.

    use std::sync::Arc;

    use super::{ApiError, Overview, Part, VoucherCounts};
    use chrono::Utc;
    use mediator_core::changes::Cached;
    use mediator_core::{Changes, History, Overrides, Recovery, StatusBoard, SubmissionFlow};
    use mediator_wire::convert::{circuit_name, time_millis, time_secs};

    /// What the server gives the console at start-up (as Leptos context):
    /// one shared [`ConsoleParts`], so a clone is a reference count (the
    /// router clones its state, and the console's context, per request).
    #[derive(Clone)]
    pub struct ConsoleContext(Arc<ConsoleParts>);

    impl ConsoleContext {
        /// The context over `parts`.
        pub fn new(parts: ConsoleParts) -> Self {
            ConsoleContext(Arc::new(parts))
        }
    }

    impl std::ops::Deref for ConsoleContext {
        type Target = ConsoleParts;

        fn deref(&self) -> &ConsoleParts {
            &self.0
        }
    }

    /// The server's services the console reads and acts through.
    pub struct ConsoleParts {
        /// Status of the configured parts.
        pub status: StatusBoard,
        /// The submission flow (vouchers, DataCache).
        pub flow: Arc<SubmissionFlow>,
        /// Recovery: replays, preview, cancel, dead letters.
        pub recovery: Arc<Recovery>,
        /// Manual circuit overrides.
        pub overrides: Overrides,
        /// Read models: uptime, timelines, incidents, counters, archives.
        pub history: History,
        /// The audit log (console actions are recorded in it).
        pub audit: mediator_core::Audit,
        /// The health monitor (a part checked now, on request).
        pub monitor: Arc<mediator_core::Monitor>,
        /// Outbound notifications (`None`: this backend sends none).
        pub notifier: Option<Arc<mediator_core::notify::Notifier>>,
        /// The parts' maintenance windows.
        pub maintenance: Arc<mediator_core::maintenance::Maintenance>,
        /// The overview as last read: reused until a change is notified on
        /// the server's change hub (or it is [`OVERVIEW_MAX_AGE`] old), so
        /// page loads under load do not each read the database again.
        pub overview_cache: Arc<Cached<Overview>>,
    }

    /// Longest an overview is reused without a notified change: bounds how
    /// far time-based figures (uptime, "since") and writes nobody notifies
    /// (events reaching an archive, another replica's writes) can lag.
    pub const OVERVIEW_MAX_AGE: std::time::Duration = std::time::Duration::from_millis(500);

    /// An empty overview cache following `changes`.
    pub fn overview_cache(changes: Changes) -> Arc<Cached<Overview>> {
        Arc::new(Cached::new(changes, OVERVIEW_MAX_AGE))
    }

    impl std::fmt::Debug for ConsoleContext {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("ConsoleContext").finish_non_exhaustive()
        }
    }

    /// The console context provided by the server (an error if missing).
    pub fn context() -> Result<ConsoleContext, ApiError> {
        leptos::prelude::use_context::<ConsoleContext>()
            .ok_or_else(|| ApiError::Unavailable("console context missing".into()))
    }

    pub(crate) fn unavailable(e: impl std::fmt::Display) -> ApiError {
        ApiError::Unavailable(e.to_string())
    }

    /// The overview snapshot: the cached one while it is current (see
    /// [`ConsoleContext::overview_cache`]), else read now.
    pub async fn overview(ctx: &ConsoleContext) -> Result<Overview, ApiError> {
        Ok((*overview_snapshot(ctx).await?).clone())
    }

    /// The cached overview itself (read now if it is not current): the same
    /// `Arc` until the cache is refreshed, so a caller can tell whether what
    /// it derived from an earlier snapshot is still current with
    /// `Arc::ptr_eq` (the server's cache of the rendered overview page).
    pub async fn overview_snapshot(ctx: &ConsoleContext) -> Result<Arc<Overview>, ApiError> {
        ctx.overview_cache.get_or_try(|| read_overview(ctx)).await
    }

    /// Reads the overview from the database, the bus and the history.
    #[tracing::instrument(skip_all, err)]
    async fn read_overview(ctx: &ConsoleContext) -> Result<Overview, ApiError> {
        let now = Utc::now();
        let parts = ctx.status.overview().await.map_err(unavailable)?;
        let circuits = ctx.overrides.circuits().await.map_err(unavailable)?;
        let counts = ctx.flow.cache().counts().await.map_err(unavailable)?;
        let replays = ctx.recovery.list_replays(200).await.map_err(unavailable)?;
        let counters = ctx.history.all_counters().await.map_err(unavailable)?;
        let holding = ctx.maintenance.holding(now).await.map_err(unavailable)?;
        let mut out = Vec::with_capacity(parts.len());
        for p in parts {
            let name = p.name.to_string();
            let (override_, closed) = circuits
                .iter()
                .find(|(n, _, _)| n.as_str() == name)
                .map(|(_, o, c)| (o.clone(), *c))
                .unwrap_or((None, p.state.as_str() != "down"));
            // A maintenance window holds the circuit open, whatever the
            // checks and the override say.
            let maintenance = holding
                .get(&name)
                .map(|w| mediator_wire::MaintenanceWindow::new(w, now));
            let closed = closed && maintenance.is_none();
            let mut vouchers = VoucherCounts::default();
            for (part, status, n) in counts.iter().filter(|(part, _, _)| *part == name) {
                let _ = part;
                match status.as_str() {
                    "received" => vouchers.received = *n,
                    "submitting" => vouchers.submitting = *n,
                    "retry" => vouchers.retry = *n,
                    "submitted" => vouchers.submitted = *n,
                    "error" => vouchers.error = *n,
                    "dead_lettered" => vouchers.dead_lettered = *n,
                    _ => {}
                }
            }
            let counter = counters.iter().find(|c| c.part == name);
            let resubmitted = counter.map(|c| c.resubmitted.max(0) as u64).unwrap_or(0);
            let archived = counter.and_then(|c| c.archived).map(|n| n.max(0) as u64);
            let uptime = super::history::uptime(ctx, &name).await?;
            let recent_latency = super::history::recent_latency(ctx, &name).await?;
            let latest_replay = match replays.iter().find(|r| r.part == name) {
                Some(r) => Some(super::replays::view(ctx, r.clone()).await),
                None => None,
            };
            let margin =
                mediator_core::commands::replays::margin(&ctx.recovery, &name).as_secs() as i64;
            let m = chrono::Duration::seconds(margin);
            let (suggest_start, suggest_end) = match (&latest_replay, p.changed_at) {
                (_, Some(since)) if p.state.as_str() == "down" => (since - m, now),
                (Some(r), _) => (
                    chrono::DateTime::parse_from_rfc3339(&r.window_start)
                        .map(|t| t.with_timezone(&Utc))
                        .unwrap_or(now - chrono::Duration::hours(1)),
                    chrono::DateTime::parse_from_rfc3339(&r.window_end)
                        .map(|t| t.with_timezone(&Utc))
                        .unwrap_or(now),
                ),
                _ => (now - chrono::Duration::hours(1), now),
            };
            out.push(Part {
                suggest_start: time_secs(suggest_start),
                suggest_end: time_secs(suggest_end),
                since: p.changed_at.map(time_secs),
                since_secs: p.changed_at.map(|t| (now - t).num_seconds()),
                archive: p.archive_name,
                failures: p.failures,
                failure_threshold: p.thresholds.failure,
                successes: p.successes,
                recovery_threshold: p.thresholds.recovery,
                last_check_at: p.last_check_at.map(time_secs),
                last_error: p.last_error,
                circuit: circuit_name(closed).into(),
                override_: override_.as_ref().map(Into::into),
                maintenance,
                vouchers,
                uptime,
                recent_latency,
                archived,
                resubmitted,
                latest_replay,
                replay_margin_secs: margin,
                status: p.state.to_string(),
                name,
            });
        }
        Ok(Overview {
            parts: out,
            generated_at: time_millis(now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_read_well() {
        assert_eq!(fmt_time("2026-01-01T12:00:05Z"), "2026-01-01 12:00:05 UTC");
        assert_eq!(
            fmt_time("2026-01-01T12:00:05.123Z"),
            "2026-01-01 12:00:05 UTC"
        );
        assert_eq!(fmt_time("soon"), "soon");
        assert_eq!(fmt_duration(42), "42 s");
        assert_eq!(fmt_duration(120), "2 min");
        assert_eq!(fmt_duration(185), "3 min 5 s");
        assert_eq!(fmt_duration(7500), "2 h 5 min");
        assert_eq!(fmt_duration(3 * 86_400 + 4 * 3600), "3 d 4 h");
        assert_eq!(fmt_percent(Some(99.5)), "99.50%");
        assert_eq!(fmt_percent(None), "—");
    }

    #[test]
    fn errors_name_their_field() {
        let e = ApiError::Invalid {
            field: "loyalty_reference".into(),
            reason: "is required".into(),
        };
        assert_eq!(
            e.for_field("loyalty_reference").as_deref(),
            Some("is required")
        );
        assert_eq!(e.for_field("merchant_reference"), None);
    }
}

/// Every read server function checks its caller itself.
#[cfg(all(test, feature = "ssr"))]
mod read_checks {
    use super::ApiError;

    /// Called without the sign-in middleware (no caller in the request),
    /// every read server function refuses by itself.
    #[test]
    fn read_server_functions_check_their_caller() {
        use crate::api::{access, history, replays, vouchers};
        use futures::executor::block_on;
        let unauthorized = |r: Result<(), ApiError>, name: &str| {
            assert!(matches!(r, Err(ApiError::Unauthorized(_))), "{name}: {r:?}");
        };
        unauthorized(
            block_on(crate::api::get_overview()).map(drop),
            "get_overview",
        );
        unauthorized(
            block_on(history::get_timelines(None)).map(drop),
            "get_timelines",
        );
        unauthorized(
            block_on(history::list_incidents(None, None)).map(drop),
            "list_incidents",
        );
        unauthorized(block_on(history::get_incident(1)).map(drop), "get_incident");
        unauthorized(
            block_on(history::list_archives()).map(drop),
            "list_archives",
        );
        unauthorized(
            block_on(history::archive_events(
                "a".into(),
                String::new(),
                String::new(),
                None,
            ))
            .map(drop),
            "archive_events",
        );
        unauthorized(
            block_on(vouchers::find_vouchers("r".into(), None)).map(drop),
            "find_vouchers",
        );
        unauthorized(
            block_on(vouchers::list_vouchers(Default::default(), None)).map(drop),
            "list_vouchers",
        );
        unauthorized(
            block_on(vouchers::get_voucher("v".into())).map(drop),
            "get_voucher",
        );
        unauthorized(block_on(vouchers::get_dlq(None)).map(drop), "get_dlq");
        unauthorized(block_on(replays::list_replays(0)).map(drop), "list_replays");
        unauthorized(
            block_on(replays::get_replay("r".into())).map(drop),
            "get_replay",
        );
        unauthorized(
            block_on(replays::preview_replay(
                "p".into(),
                String::new(),
                String::new(),
            ))
            .map(drop),
            "preview_replay",
        );
        unauthorized(block_on(access::list_audit(None)).map(drop), "list_audit");
        unauthorized(
            block_on(crate::api::notify::get_notifications()).map(drop),
            "get_notifications",
        );
    }
}
