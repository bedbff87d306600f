//! EventBridge's own wire API (AWS JSON 1.1) over the embedded bus, on its
//! own listener: `POST /` with `X-Amz-Target: AWSEvents.<Operation>`, so the
//! aws CLI (`--endpoint-url`), boto3 and aws-sdk-eventbridge work unchanged.
//! Any `Authorization` header is accepted. Errors are
//! `{"__type": "<Code>", "message": "..."}` with HTTP 400 (500 for internal).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bus::types::*;
use bus::{Bus, BusError};
use serde::de::DeserializeOwned;
use serde::Serialize;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The router of the EventBridge wire API.
pub fn router(bus: Bus) -> axum::Router {
    axum::Router::new()
        .route("/", post(dispatch))
        .with_state(bus)
}

fn reply(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

fn error(e: BusError) -> Response {
    let status = if e.is_internal() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = serde_json::json!({ "__type": e.code(), "message": e.message() });
    reply(status, body.to_string())
}

fn ok<T: Serialize>(v: T) -> Response {
    reply(
        StatusCode::OK,
        serde_json::to_string(&v).unwrap_or_else(|_| "{}".into()),
    )
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, BusError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body)
        .map_err(|e| BusError::Validation(format!("Request body is not valid: {e}")))
}

fn required(v: Option<String>, field: &str) -> Result<String, BusError> {
    v.ok_or_else(|| BusError::Validation(format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null")))
}

#[tracing::instrument(skip_all, fields(op))]
async fn dispatch(State(bus): State<Bus>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(op) = target.strip_prefix("AWSEvents.") else {
        return reply(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"__type": "UnknownOperationException", "message": format!("Unknown target {target:?}")}).to_string(),
        );
    };
    tracing::Span::current().record("op", op);
    match handle(&bus, op, &body).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(op, code = e.code(), "request refused: {e}");
            error(e)
        }
    }
}

async fn handle(bus: &Bus, op: &str, body: &Bytes) -> Result<Response, BusError> {
    let empty = serde_json::json!({});
    Ok(match op {
        "PutEvents" => ok(bus.put_events(parse(body)?).await?),
        "TestEventPattern" => ok(bus.test_event_pattern(&parse(body)?)?),
        "CreateEventBus" => ok(bus.create_event_bus(parse(body)?).await?),
        "DescribeEventBus" => ok(bus.describe_event_bus(parse::<EventBusNameRequest>(body)?.name.as_deref()).await?),
        "ListEventBuses" => ok(bus.list_event_buses(parse(body)?).await?),
        "DeleteEventBus" => {
            let name = required(parse::<EventBusNameRequest>(body)?.name, "name")?;
            bus.delete_event_bus(&name).await?;
            ok(empty)
        }
        "PutRule" => ok(bus.put_rule(parse(body)?).await?),
        "DescribeRule" => {
            let r: RuleNameRequest = parse(body)?;
            ok(bus.describe_rule(&r.name, r.event_bus_name.as_deref()).await?)
        }
        "ListRules" => ok(bus.list_rules(parse(body)?).await?),
        "DeleteRule" => {
            let r: RuleNameRequest = parse(body)?;
            bus.delete_rule(&r.name, r.event_bus_name.as_deref(), r.force.unwrap_or(false)).await?;
            ok(empty)
        }
        "EnableRule" | "DisableRule" => {
            let r: RuleNameRequest = parse(body)?;
            bus.set_rule_state(&r.name, r.event_bus_name.as_deref(), op == "EnableRule").await?;
            ok(empty)
        }
        "PutTargets" => ok(bus.put_targets(parse(body)?).await?),
        "ListTargetsByRule" => ok(bus.list_targets_by_rule(parse(body)?).await?),
        "RemoveTargets" => ok(bus.remove_targets(parse(body)?).await?),
        "CreateConnection" => ok(bus.create_connection(parse(body)?).await?),
        "DescribeConnection" => ok(bus.describe_connection(&required(parse::<NameRequest>(body)?.name, "name")?).await?),
        "ListConnections" => ok(bus.list_connections(parse(body)?).await?),
        "DeleteConnection" => ok(bus.delete_connection(&required(parse::<NameRequest>(body)?.name, "name")?).await?),
        "CreateApiDestination" => ok(bus.create_api_destination(parse(body)?).await?),
        "DescribeApiDestination" => ok(bus.describe_api_destination(&required(parse::<NameRequest>(body)?.name, "name")?).await?),
        "ListApiDestinations" => ok(bus.list_api_destinations(parse(body)?).await?),
        "DeleteApiDestination" => {
            bus.delete_api_destination(&required(parse::<NameRequest>(body)?.name, "name")?).await?;
            ok(empty)
        }
        "CreateArchive" => ok(bus.create_archive(parse(body)?).await?),
        "DescribeArchive" => ok(bus.describe_archive(&required(parse::<NameRequest>(body)?.archive_name, "archiveName")?).await?),
        "ListArchives" => ok(bus.list_archives(parse(body)?).await?),
        "UpdateArchive" => ok(bus.update_archive(parse(body)?).await?),
        "DeleteArchive" => {
            bus.delete_archive(&required(parse::<NameRequest>(body)?.archive_name, "archiveName")?).await?;
            ok(empty)
        }
        "StartReplay" => ok(bus.start_replay(parse(body)?).await?),
        "DescribeReplay" => ok(bus.describe_replay(&required(parse::<NameRequest>(body)?.replay_name, "replayName")?).await?),
        "ListReplays" => ok(bus.list_replays(parse(body)?).await?),
        "CancelReplay" => ok(bus.cancel_replay(&required(parse::<NameRequest>(body)?.replay_name, "replayName")?).await?),
        other => {
            return Ok(reply(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"__type": "UnknownOperationException", "message": format!("Operation {other} is not supported by the embedded event bus.")})
                    .to_string(),
            ))
        }
    })
}
