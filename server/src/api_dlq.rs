//! The dead-letter queue in bulk: redrive what a filter matches at a rate,
//! follow and cancel it, and export the queue (routes in [`crate::api::routes`]).
//!
//! - `POST /api/v1/dlq/redrives` `{filter…, "rate"?}` → 202, the bulk redrive
//!   started (`total` counted); 422 naming the field at fault.
//! - `GET  /api/v1/dlq/redrives` → this server's bulk redrives, newest first.
//! - `GET  /api/v1/dlq/redrives/{id}` → one, with `done` of `total`.
//! - `POST /api/v1/dlq/redrives/{id}/cancel` → 202; 404 unknown, 409 ended.
//! - `GET  /api/v1/dlq/export?format=csv|ndjson&{filter…}` → the matching
//!   dead-lettered vouchers, streamed page by page, oldest first.
//!
//! The filter's fields, in a body or a query: `part`, `reason_contains`,
//! `received_since`, `received_until`, `dead_lettered_since`,
//! `dead_lettered_until` (see [`mediator_core::dlq_filter`]).

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use mediator_core::access::Principal;
use mediator_core::commands::dead_letters::{self, BulkRedriveRequest};
use mediator_core::commands::CommandError;
use mediator_core::dlq_filter::DlqFilter;
use mediator_core::recovery::DlqScan;
use mediator_core::{Recovery, VoucherRecord};
use mediator_wire::{
    BulkRedrive, BulkRedriveList, BulkRedriveRequest as RequestBody, DlqVoucher, ErrorBody,
};
use serde_json::{json, Value};

use crate::api_error::ApiError;
use crate::api_state::ApiState;

/// Dead-lettered vouchers read per page of an export.
const EXPORT_PAGE: usize = 500;

/// The CSV export's columns, in order.
pub const CSV_COLUMNS: [&str; 10] = [
    "loyalty_request_id",
    "part",
    "loyalty_reference",
    "merchant_reference",
    "loyalty_order_reference",
    "attempts",
    "received_at",
    "dead_lettered_at",
    "reason",
    "status",
];

/// Starts redriving every dead-lettered voucher the filter matches, at
/// most `rate` a second; `GET /api/v1/dlq/redrives/{id}` follows it.
#[utoipa::path(post, path = "/api/v1/dlq/redrives", tag = "dlq",
    request_body = RequestBody,
    responses(
        (status = 202, description = "Started; `total` is how many vouchers the filter matched", body = BulkRedrive),
        (status = 400, description = "The body is not JSON (`field`: `body`)", body = ErrorBody),
        (status = 422, description = "A bad filter field or `rate` (named in `field`)", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody)
    ))]
pub(crate) async fn post_bulk_redrive(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<BulkRedrive>), ApiError> {
    let body = crate::api_error::body(payload)?;
    let request = BulkRedriveRequest::parse(&body, s.flow.parts());
    let b = dead_letters::bulk_redrive(&s.recovery, &s.audit, &who, &body, request).await?;
    Ok((StatusCode::ACCEPTED, Json((&b).into())))
}

/// The bulk redrives this server runs and ran, newest first.
#[utoipa::path(get, path = "/api/v1/dlq/redrives", tag = "dlq",
    responses(
        (status = 200, description = "The bulk redrives", body = BulkRedriveList),
        (status = 503, description = "Storage unavailable", body = ErrorBody)
    ))]
pub(crate) async fn get_bulk_redrives(State(s): State<ApiState>) -> Json<BulkRedriveList> {
    Json(BulkRedriveList {
        redrives: s.recovery.bulk_redrives().iter().map(Into::into).collect(),
    })
}

/// One bulk redrive and its progress (`done` of `total`).
#[utoipa::path(get, path = "/api/v1/dlq/redrives/{id}", tag = "dlq",
    params(("id" = String, Path, description = "The bulk redrive's id")),
    responses(
        (status = 200, description = "The bulk redrive", body = BulkRedrive),
        (status = 404, description = "Unknown bulk redrive", body = ErrorBody)
    ))]
pub(crate) async fn get_bulk_redrive(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<BulkRedrive>, ApiError> {
    let b = s.recovery.bulk_redrive(&id).ok_or_else(|| {
        ApiError::from(CommandError::not_found(format!(
            "bulk redrive {id:?} not found"
        )))
    })?;
    Ok(Json((&b).into()))
}

/// Cancels a running bulk redrive: no voucher is started any more; the
/// ones not reached stay dead-lettered.
#[utoipa::path(post, path = "/api/v1/dlq/redrives/{id}/cancel", tag = "dlq",
    params(("id" = String, Path, description = "The bulk redrive's id")),
    responses(
        (status = 202, description = "Cancelling (`state`: `cancelling`, then `cancelled`)", body = BulkRedrive),
        (status = 404, description = "Unknown bulk redrive", body = ErrorBody),
        (status = 409, description = "Already ended (`field`: `id`)", body = ErrorBody)
    ))]
pub(crate) async fn post_bulk_cancel(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<BulkRedrive>), ApiError> {
    let b = dead_letters::cancel_bulk_redrive(&s.recovery, &s.audit, &who, &id).await?;
    Ok((StatusCode::ACCEPTED, Json((&b).into())))
}

/// The export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Ndjson,
}

/// The dead-lettered vouchers the filter matches, oldest dead-lettered
/// first, streamed: `format=csv` (a header row, then one row per voucher)
/// or `format=ndjson` (one voucher per line, as `GET /api/v1/dlq` lists
/// them).
#[utoipa::path(get, path = "/api/v1/dlq/export", tag = "dlq",
    params(
        ("format" = String, Query, description = "`csv` or `ndjson` (required)"),
        ("part" = Option<String>, Query, description = "Only this part's vouchers"),
        ("reason_contains" = Option<String>, Query, description = "Only those whose dead-letter reason contains this text (case-insensitive)"),
        ("received_since" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Received at or after (RFC 3339)"),
        ("received_until" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Received before (RFC 3339)"),
        ("dead_lettered_since" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Dead-lettered at or after (RFC 3339)"),
        ("dead_lettered_until" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Dead-lettered before (RFC 3339)")
    ),
    responses(
        (status = 200, description = "The vouchers: CSV with the columns loyalty_request_id, part, loyalty_reference, merchant_reference, loyalty_order_reference, attempts, received_at, dead_lettered_at, reason, status; or NDJSON, one `DlqVoucherBody` a line",
            content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 422, description = "A missing or bad `format`, or a bad filter field (named in `field`)", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody)
    ))]
pub(crate) async fn get_dlq_export(
    State(s): State<ApiState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let format = match q.get("format").map(|f| f.trim()) {
        Some("csv") => Format::Csv,
        Some("ndjson") => Format::Ndjson,
        None | Some("") => {
            return Err(CommandError::invalid("format", "is required: csv or ndjson").into())
        }
        Some(other) => {
            return Err(
                CommandError::invalid("format", format!("{other:?} is not csv or ndjson")).into(),
            )
        }
    };
    let filter = DlqFilter::parse(&json!(q), s.flow.parts())
        .map_err(|e| CommandError::invalid(e.field, e.reason))?;
    // The first page is read before answering, so a store that is down
    // gets a 503 rather than a cut stream.
    let first = s
        .recovery
        .dead_letters(&filter, None, EXPORT_PAGE)
        .await
        .map_err(CommandError::from)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let (ctype, name) = match format {
        Format::Csv => ("text/csv; charset=utf-8", format!("dlq-{stamp}.csv")),
        Format::Ndjson => ("application/x-ndjson", format!("dlq-{stamp}.ndjson")),
    };
    let stream = export_stream(s.recovery.clone(), filter, format, first);
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The export's body: the CSV header (for CSV), then each page's rows as
/// it is read; a storage failure mid-way ends the stream with an error
/// (the client sees a cut download, never a silently short one).
fn export_stream(
    recovery: std::sync::Arc<Recovery>,
    filter: DlqFilter,
    format: Format,
    first: DlqScan,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    enum Step {
        Page(DlqScan, bool),
        Next((i64, String)),
        End,
    }
    // Fused: the response's compression polls the body again after its end.
    let pages = futures_util::stream::unfold(Step::Page(first, true), move |step| {
        let (recovery, filter) = (recovery.clone(), filter.clone());
        async move {
            let (page, head) = match step {
                Step::End => return None,
                Step::Page(p, head) => (p, head),
                Step::Next(after) => match recovery
                    .dead_letters(&filter, Some(after), EXPORT_PAGE)
                    .await
                {
                    Ok(p) => (p, false),
                    Err(e) => {
                        tracing::warn!("dead-letter export cut short: {e}");
                        return Some((Err(std::io::Error::other(e.to_string())), Step::End));
                    }
                },
            };
            let mut out = String::new();
            if head && format == Format::Csv {
                out.push_str(&CSV_COLUMNS.join(","));
                out.push_str("\r\n");
            }
            for v in &page.vouchers {
                match format {
                    Format::Csv => csv_row(&mut out, v),
                    Format::Ndjson => {
                        out.push_str(
                            &serde_json::to_string(&DlqVoucher::from(v)).unwrap_or_default(),
                        );
                        out.push('\n');
                    }
                }
            }
            let next = match page.next {
                Some(after) => Step::Next(after),
                None => Step::End,
            };
            Some((Ok(Bytes::from(out)), next))
        }
    });
    futures_util::StreamExt::fuse(pages)
}

/// One voucher as a CSV row (RFC 4180: fields with a comma, quote or line
/// break are quoted, quotes doubled; a field a spreadsheet would read as a
/// formula, starting with `=`, `+`, `-`, `@`, is prefixed with `'`).
fn csv_row(out: &mut String, v: &VoucherRecord) {
    let d = DlqVoucher::from(v);
    let attempts = d.voucher.attempts.to_string();
    let fields = [
        d.voucher.loyalty_request_id.as_str(),
        d.voucher.part.as_str(),
        d.voucher.loyalty_reference.as_str(),
        d.voucher.merchant_reference.as_str(),
        d.voucher.loyalty_order_reference.as_str(),
        attempts.as_str(),
        d.voucher.received_at.as_str(),
        d.dead_lettered_at.as_str(),
        d.reason.as_deref().unwrap_or(""),
        d.voucher.status.as_str(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&csv_field(f));
    }
    out.push_str("\r\n");
}

fn csv_field(f: &str) -> String {
    let f = if f.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{f}")
    } else {
        f.to_owned()
    };
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(csv_field("-x,y"), "\"'-x,y\"");
    }
}
