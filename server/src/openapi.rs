//! The OpenAPI 3 document of the JSON API, served at `GET /api/openapi.json`.
//!
//! Generated from the real handlers: each carries its `#[utoipa::path]`
//! (in [`crate::api`], [`crate::console_api`] and
//! [`crate::auth`]) and answers with a `mediator_wire` type whose
//! `ToSchema` (feature `openapi`) is the documented schema; [`ApiDoc`]
//! gathers them. `server/tests/it/openapi.rs` checks over HTTP that every
//! route the router serves under `/api/v1` is documented and answers, and
//! `openapi_schemas.rs` that each documented answer matches its schema.

use axum::response::IntoResponse;
use axum::Json;
use utoipa::OpenApi;

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
        crate::api::api_parts,
        crate::api::post_check,
        crate::api::post_override,
        crate::api_maintenance::get_maintenance,
        crate::api_maintenance::post_maintenance,
        crate::api_maintenance::delete_maintenance,
        crate::api::post_voucher,
        crate::api::get_vouchers,
        crate::api::get_voucher,
        crate::api::get_replays,
        crate::api::post_replay,
        crate::api::get_preview,
        crate::api::get_replay,
        crate::api::post_cancel,
        crate::api::get_dlq,
        crate::api::post_redrive,
        crate::api_dlq::post_bulk_redrive,
        crate::api_dlq::get_bulk_redrives,
        crate::api_dlq::get_bulk_redrive,
        crate::api_dlq::post_bulk_cancel,
        crate::api_dlq::get_dlq_export,
        crate::api::get_notifications,
        crate::api::test_channel,
        crate::console_api::get_uptime,
        crate::console_api::get_timeline,
        crate::console_api::get_latency,
        crate::console_api::get_counters,
        crate::console_api::get_incidents,
        crate::console_api::get_incident,
        crate::console_api::get_archives,
        crate::console_api::get_archive_events,
        crate::console_api::get_stream,
        crate::auth::login::get_me,
        crate::auth::audit_export::get_audit
    ),
    components(schemas(mediator_wire::ErrorBody)),
    tags(
        (name = "parts", description = "SaaS parts: status, circuit, manual overrides and maintenance windows"),
        (name = "vouchers", description = "The submission flow"),
        (name = "replays", description = "Archive replays that resubmit held vouchers"),
        (name = "dlq", description = "Dead-lettered vouchers"),
        (name = "history", description = "Read models: uptime, timelines, response time, counters, incidents"),
        (name = "archives", description = "The parts' event archives"),
        (name = "notifications", description = "Outbound notifications: channels, delivery log, tests"),
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
