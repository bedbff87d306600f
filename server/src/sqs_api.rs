//! SQS's JSON protocol for the embedded queues, on the EventBridge
//! listener (`--events-listen`): `POST /` with `X-Amz-Target:
//! AmazonSQS.<Operation>` and `application/x-amz-json-1.0`, so
//! aws-sdk-sqs, boto3 and the aws CLI (`--endpoint-url`) read and write the
//! queues that rules deliver to. Queue URLs are
//! `http://<Host of the request>/<account>/<queue>`.
//!
//! Errors are SQS's: `{"__type": "com.amazonaws.sqs#<Code>", "message": …}`
//! with the query protocol's code in `x-amzn-query-error` (`<Code>;Sender`),
//! which boto3 and the CLI show as the error code. The listener's gate
//! (signatures, browsers, `Host`) and body limit apply as to EventBridge.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bus::sqs::{SqsError, SqsResult};
use bus::Bus;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The `X-Amz-Target` prefix of SQS's operations.
pub const TARGET_PREFIX: &str = "AmazonSQS.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// Answers one SQS operation `op` (the target without its prefix).
pub async fn handle(bus: &Bus, op: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    // The gate admitted this Host (a loopback name, the listen address or
    // an allowed name), so it is what the caller reached us by.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let sqs = bus.sqs(&format!("http://{host}"));
    match answer(&sqs, op, body).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(op, code = e.code, "SQS request refused: {}", e.message);
            error(&e)
        }
    }
}

async fn answer(sqs: &bus::sqs::Sqs<'_>, op: &str, body: &Bytes) -> SqsResult<Response> {
    match op {
        "CreateQueue" => ok(sqs.create_queue(parse(body)?).await),
        "GetQueueUrl" => ok(sqs.get_queue_url(parse(body)?).await),
        "ListQueues" => ok(sqs.list_queues(parse(body)?).await),
        "DeleteQueue" => empty(sqs.delete_queue(parse(body)?).await),
        "GetQueueAttributes" => ok(sqs.get_queue_attributes(parse(body)?).await),
        "SetQueueAttributes" => empty(sqs.set_queue_attributes(parse(body)?).await),
        "SendMessage" => ok(sqs.send_message(parse(body)?).await),
        "SendMessageBatch" => ok(sqs.send_message_batch(parse(body)?).await),
        "ReceiveMessage" => ok(sqs.receive_message(parse(body)?).await),
        "DeleteMessage" => empty(sqs.delete_message(parse(body)?).await),
        "DeleteMessageBatch" => ok(sqs.delete_message_batch(parse(body)?).await),
        "ChangeMessageVisibility" => empty(sqs.change_message_visibility(parse(body)?).await),
        "ChangeMessageVisibilityBatch" => {
            ok(sqs.change_message_visibility_batch(parse(body)?).await)
        }
        "PurgeQueue" => empty(sqs.purge_queue(parse(body)?).await),
        "StartMessageMoveTask" => ok(sqs.start_message_move_task(parse(body)?).await),
        "ListMessageMoveTasks" => ok(sqs.list_message_move_tasks(parse(body)?).await),
        "CancelMessageMoveTask" => empty(sqs.cancel_message_move_task(parse(body)?).await),
        other => Err(SqsError::unsupported_operation(other)),
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> SqsResult<T> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(SqsError::malformed("must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(SqsError::malformed)
}

fn reply(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

fn ok<T: Serialize>(r: SqsResult<T>) -> SqsResult<Response> {
    let v = r?;
    Ok(reply(
        StatusCode::OK,
        serde_json::to_string(&v).unwrap_or_else(|_| "{}".into()),
    ))
}

fn empty(r: SqsResult<()>) -> SqsResult<Response> {
    r?;
    Ok(reply(StatusCode::OK, "{}".into()))
}

/// SQS's error answer.
fn error(e: &SqsError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.sqs#{}", e.code),
        "message": e.message,
    });
    let mut response = reply(status, body.to_string());
    let fault = if e.is_sender_fault() {
        "Sender"
    } else {
        "Receiver"
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{};{fault}", e.query_code)) {
        response.headers_mut().insert("x-amzn-query-error", v);
    }
    response
}
