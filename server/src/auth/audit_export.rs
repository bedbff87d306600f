//! The audit export `GET /api/v1/audit` (operator): JSON or NDJSON.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use mediator_core::access::{Principal, Role};
use serde::Deserialize;

use super::refusal::{forbidden, refuse};
use super::state::AuthState;

/// Query of the audit export.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    since: Option<String>,
    until: Option<String>,
    format: Option<String>,
}

/// Most entries one export returns (narrow the time range for more).
pub const AUDIT_EXPORT_MAX: usize = 100_000;

/// The audit log, oldest first: replays started and cancelled, overrides,
/// console submissions, redrives, sign-ins (failed too), user and token
/// changes, and refused attempts. Operators and admins.
///
/// `GET /api/v1/audit?since=&until=&format=json|ndjson`: the entries with
/// `since <= at < until`; `json` is `{"entries": […], "truncated"}`,
/// `ndjson` one entry per line.
#[utoipa::path(get, path = "/api/v1/audit", tag = "access",
    params(
        ("since" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Entries at or after (RFC 3339)"),
        ("until" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Entries before (RFC 3339)"),
        ("format" = Option<String>, Query, description = "`json` (default): `{\"entries\", \"truncated\"}`; `ndjson`: one entry per line")
    ),
    responses(
        (status = 200, description = "The entries", body = mediator_wire::AuditExport),
        (status = 401, description = "No caller", body = mediator_wire::ErrorBody),
        (status = 403, description = "Needs the operator role (`field`: `role`)", body = mediator_wire::ErrorBody),
        (status = 422, description = "Bad `since`, `until` or `format`", body = mediator_wire::ErrorBody)
    ))]
pub(crate) async fn get_audit(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<AuditQuery>,
) -> Response {
    if !p.role.allows(Role::Operator) {
        return forbidden(Role::Operator, &p);
    }
    let (since, until) = match (
        crate::params::rfc3339("since", q.since.as_deref()),
        crate::params::rfc3339("until", q.until.as_deref()),
    ) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => return crate::api::ApiError::from(e).into_response(),
    };
    let ndjson = match q.format.as_deref().unwrap_or("json") {
        "json" => false,
        "ndjson" => true,
        other => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("format: {other:?} is not json or ndjson"),
                Some("format"),
            )
        }
    };
    let mut entries = Vec::new();
    let mut after = None;
    let page = mediator_core::audit::AUDIT_PAGE_MAX;
    loop {
        match state.audit.range(since, until, after, page).await {
            Ok(batch) => {
                let full = batch.len() == page;
                after = batch.last().map(|e| e.id);
                entries.extend(batch);
                if !full || entries.len() >= AUDIT_EXPORT_MAX {
                    break;
                }
            }
            Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
        }
    }
    let truncated = entries.len() >= AUDIT_EXPORT_MAX;
    entries.truncate(AUDIT_EXPORT_MAX);
    if ndjson {
        let mut body = String::new();
        for e in &entries {
            let e = mediator_wire::AuditEntry::from(e);
            body.push_str(&serde_json::to_string(&e).unwrap_or_default());
            body.push('\n');
        }
        ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
    } else {
        Json(mediator_wire::AuditExport {
            entries: entries.iter().map(Into::into).collect(),
            truncated,
        })
        .into_response()
    }
}
