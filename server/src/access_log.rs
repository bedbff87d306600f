//! One access-log line per request, a request id in every log line of the
//! request, and a panic turned into a 500 instead of a dropped connection.
//!
//! The request id is the caller's `X-Request-Id` when it is a sane token
//! (a load balancer's or proxy's, so one id follows the request across
//! hops), otherwise a new UUID; it is echoed in the response's
//! `X-Request-Id`. Each request runs in a `request` span carrying the
//! method, the matched route, the id and (once sign-in resolves it) the
//! user, so every line logged while serving it names them; the closing
//! line (`served`, at `info`) adds the status and the latency.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::FutureExt;
use tracing::Instrument;

/// The request id header, read and answered.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller-given request id kept; a longer or odd one is replaced.
const MAX_ID_LEN: usize = 128;

/// The caller's id if it is short and made of token characters only (no
/// spaces or quotes that could forge fields in a log line).
fn given_id(req: &Request) -> Option<String> {
    let v = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= MAX_ID_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b));
    ok.then(|| v.to_owned())
}

/// Records the signed-in caller on the current request's span (called by
/// sign-in once it knows who is calling).
pub fn record_user(name: &str) {
    tracing::Span::current().record("user", name);
}

/// The middleware: request id, span, panic guard and the access line.
pub async fn access(mut req: Request, next: Next) -> Response {
    let id = given_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let value = HeaderValue::from_str(&id).expect("request ids are visible ASCII");
    req.headers_mut().insert(REQUEST_ID.clone(), value.clone());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        route = route.as_deref().unwrap_or("-"),
        path = route.is_none().then(|| req.uri().path().to_owned()),
        request_id = %id,
        user = tracing::field::Empty,
    );
    let started = Instant::now();
    let outcome = AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .instrument(span.clone())
        .await;
    let mut response = match outcome {
        Ok(response) => response,
        Err(panic) => {
            span.in_scope(
                || tracing::error!(panic = %panic_message(&*panic), "request handler panicked"),
            );
            internal_error(&id)
        }
    };
    response.headers_mut().insert(REQUEST_ID.clone(), value);
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, latency_ms, "served"));
    response
}

/// What a panic carried, as text.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

/// The 500 a panicking handler is answered with: the request id lets an
/// operator find the logged panic.
fn internal_error(id: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({
            "error": format!("internal error (request id {id})"),
            "request_id": id,
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use mediator_core::testing::CapturedLogs;
    use tower::ServiceExt;

    fn router() -> Router {
        Router::new()
            .route(
                "/parts/{part}",
                get(|| async {
                    record_user("ann");
                    tracing::info!("inside the handler");
                    "ok"
                }),
            )
            .route(
                "/boom",
                get(|| async {
                    if std::hint::black_box(true) {
                        panic!("a vendor's body was not what we thought");
                    }
                    "never"
                }),
            )
            .layer(axum::middleware::from_fn(access))
    }

    async fn call(path: &str, id: Option<&str>) -> (Response, String) {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(logs.writer())
            .with_max_level(tracing::Level::INFO)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut req = Request::get(path);
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        let response = router()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        (response, logs.text())
    }

    fn lines(text: &str) -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn every_line_of_a_request_names_its_id_route_and_user() {
        let (response, logs) = call("/parts/voucher", Some("lb-7f3a")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-request-id"], "lb-7f3a");
        let lines = lines(&logs);
        assert_eq!(lines.len(), 2, "{logs}");
        for line in &lines {
            let span = &line["span"];
            assert_eq!(span["request_id"], "lb-7f3a", "{line}");
            assert_eq!(span["route"], "/parts/{part}", "{line}");
            assert_eq!(span["method"], "GET", "{line}");
        }
        let served = &lines[1];
        assert_eq!(served["level"], "INFO");
        assert_eq!(served["fields"]["message"], "served");
        assert_eq!(served["fields"]["status"], 200);
        assert!(served["fields"]["latency_ms"].as_f64().unwrap() >= 0.0);
        assert_eq!(served["span"]["user"], "ann");
    }

    #[tokio::test]
    async fn a_missing_or_odd_request_id_is_replaced_by_a_new_one() {
        for given in [None, Some("two words"), Some(&*"x".repeat(200))] {
            let (response, logs) = call("/parts/voucher", given).await;
            let id = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
            assert_eq!(lines(&logs)[1]["span"]["request_id"], id.as_str());
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_request_id_and_is_logged() {
        let (response, logs) = call("/boom", Some("req-1")).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["x-request-id"], "req-1");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["request_id"], "req-1");
        let lines = lines(&logs);
        let panic = lines.iter().find(|l| l["level"] == "ERROR").expect(&logs);
        assert_eq!(
            panic["fields"]["panic"],
            "a vendor's body was not what we thought"
        );
        assert_eq!(panic["span"]["request_id"], "req-1");
        assert_eq!(lines.last().unwrap()["fields"]["status"], 500);
    }
}
