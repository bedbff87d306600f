//! A simulated third-party SaaS, the vendor the mediator forwards to when no
//! real SaaS URLs are configured (the embedded default, demos and tests).
//!
//! It is a real HTTP server with, per part:
//!
//! - `GET  /saas/{part}/status`: `200 {"status":"up"}` or `503 {"status":"down"}`;
//! - `POST /saas/{part}/submit`: accepts a voucher (`200`) when the part is up,
//!   `503` when down, `500` at the configured error rate, `400` when
//!   `loyalty_request_id` is missing, and the status in the voucher's
//!   `payload.sim_response_status` when given (a hook to force a 4xx).
//!   Like payment APIs, it honours an `Idempotency-Key` header: a request
//!   whose key was already accepted for that part is answered `200` again
//!   without a second acceptance (counted as `deduplicated`), and a key
//!   reused for another `loyalty_request_id` gets `422`;
//!
//! and control endpoints:
//!
//! - `POST /sim/parts/{part}/down`, `POST /sim/parts/{part}/up`;
//! - `POST /sim/parts/{part}/latency` `{"ms": N, "answer_ms": M}` (either; `answer_ms`: accept, then answer M ms later), `/error-rate` `{"rate": 0.0–1.0}`,
//!   `/hang` `{"hang": true|false}` (a hanging part never answers);
//! - `GET /sim/parts`: every part's settings;
//! - `GET /sim/submissions`: `[{"part", "loyalty_request_id", "accepted",
//!   "deduplicated"}]` where `accepted` counts how many times the SaaS
//!   accepted that voucher, so exactly-once delivery can be checked, and
//!   `deduplicated` how many repeats its idempotency key absorbed (a sender
//!   that resent it); `DELETE /sim/submissions` clears it.
//!
//! Unknown parts are created on first use, up, with no latency or errors.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Behaviour of one simulated part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartBehaviour {
    /// Whether the part is up.
    pub up: bool,
    /// Added delay before every answer, in milliseconds.
    pub latency_ms: u64,
    /// Share of submissions answered with 500 while up (0.0–1.0).
    pub error_rate: f64,
    /// When true, requests to this part never get an answer.
    pub hang: bool,
    /// Delay, in milliseconds, between accepting a submission (it is in the
    /// ledger) and answering it: a vendor that is slow to say "yes".
    #[serde(default)]
    pub answer_latency_ms: u64,
}

impl Default for PartBehaviour {
    fn default() -> Self {
        Self {
            up: true,
            latency_ms: 0,
            error_rate: 0.0,
            hang: false,
            answer_latency_ms: 0,
        }
    }
}

/// One voucher as the SaaS saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// The part it was submitted to.
    pub part: String,
    /// The voucher's id.
    pub loyalty_request_id: String,
    /// How many times the SaaS accepted it (more than 1 is a duplicate).
    pub accepted: u64,
    /// How many resends the `Idempotency-Key` absorbed (accepted once, answered
    /// again): 0 unless the sender repeated itself, e.g. after a crash
    /// between the SaaS's answer and the sender recording it.
    #[serde(default)]
    pub deduplicated: u64,
}

#[derive(Default)]
struct Inner {
    parts: BTreeMap<String, PartBehaviour>,
    /// (part, loyalty_request_id) → accepted count, in first-seen order.
    accepted: HashMap<(String, String), u64>,
    order: Vec<(String, String)>,
    /// (part, idempotency key) → the loyalty_request_id accepted under it.
    keys: HashMap<(String, String), String>,
    /// (part, loyalty_request_id) → repeats absorbed by the idempotency key.
    deduplicated: HashMap<(String, String), u64>,
    /// Submissions answered so far, per part, for the error-rate sequence.
    seen: HashMap<String, u64>,
}

/// The simulator's state; cheap to clone, shared by the handlers.
#[derive(Clone, Default)]
pub struct Simulator {
    inner: Arc<Mutex<Inner>>,
}

impl Simulator {
    /// A simulator whose `parts` start up.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(parts: I) -> Self {
        let sim = Self::default();
        {
            let mut inner = sim.lock();
            for p in parts {
                inner.parts.insert(p.into(), PartBehaviour::default());
            }
        }
        sim
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current behaviour of `part` (creating it, up, if unknown).
    pub fn behaviour(&self, part: &str) -> PartBehaviour {
        self.lock()
            .parts
            .entry(part.to_owned())
            .or_default()
            .clone()
    }

    /// Changes `part`'s behaviour.
    pub fn update(&self, part: &str, f: impl FnOnce(&mut PartBehaviour)) -> PartBehaviour {
        let mut inner = self.lock();
        let b = inner.parts.entry(part.to_owned()).or_default();
        f(b);
        b.clone()
    }

    /// Every accepted voucher with its acceptance count, in first-accepted order.
    pub fn submissions(&self) -> Vec<Submission> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .map(|k| Submission {
                part: k.0.clone(),
                loyalty_request_id: k.1.clone(),
                accepted: inner.accepted[k],
                deduplicated: inner.deduplicated.get(k).copied().unwrap_or(0),
            })
            .collect()
    }

    /// Forgets every recorded submission.
    pub fn clear_submissions(&self) {
        let mut inner = self.lock();
        inner.accepted.clear();
        inner.order.clear();
        inner.keys.clear();
        inner.deduplicated.clear();
    }

    /// Decides the answer to one submission and records it if accepted (what
    /// `POST /saas/{part}/submit` does, without the HTTP and the latency;
    /// benchmarks call it in-process to compare with loopback HTTP).
    pub fn submit(&self, part: &str, body: &Value) -> (StatusCode, Value) {
        self.submit_with_key(part, body, None)
    }

    /// [`Simulator::submit`] with the request's `Idempotency-Key`, if any: a
    /// key already accepted for `part` answers `200` again without a second
    /// acceptance; reused for another voucher, `422`.
    pub fn submit_with_key(
        &self,
        part: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut inner = self.lock();
        let b = inner.parts.entry(part.to_owned()).or_default().clone();
        if !b.up {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": format!("part {part} is down")}),
            );
        }
        let Some(id) = body
            .get("loyalty_request_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            return (
                StatusCode::BAD_REQUEST,
                json!({"error": "loyalty_request_id: required"}),
            );
        };
        if let Some(code) = body
            .pointer("/payload/sim_response_status")
            .and_then(Value::as_u64)
            .and_then(|c| StatusCode::from_u16(c as u16).ok())
            .filter(|c| !c.is_success())
        {
            return (code, json!({"error": "rejected by simulation hook"}));
        }
        if let Some(k) = idempotency_key {
            let slot = (part.to_owned(), k.to_owned());
            if let Some(first) = inner.keys.get(&slot).cloned() {
                if first != id {
                    return (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"error": format!(
                            "Idempotency-Key: already used for loyalty_request_id {first:?}"
                        )}),
                    );
                }
                let voucher = (part.to_owned(), id.to_owned());
                *inner.deduplicated.entry(voucher.clone()).or_default() += 1;
                let times = inner.accepted.get(&voucher).copied().unwrap_or(1);
                return (
                    StatusCode::OK,
                    json!({"accepted": true, "loyalty_request_id": id, "times": times,
                           "idempotent_replay": true}),
                );
            }
        }
        // Deterministic error sequence: with rate r, the n-th submission
        // fails when floor(n*r) advances. Tests get exact, repeatable counts.
        let n = inner.seen.entry(part.to_owned()).or_default();
        *n += 1;
        let fails = b.error_rate > 0.0
            && ((*n as f64) * b.error_rate).floor() > ((*n as f64 - 1.0) * b.error_rate).floor();
        if fails {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "simulated server error"}),
            );
        }
        if let Some(k) = idempotency_key {
            inner
                .keys
                .insert((part.to_owned(), k.to_owned()), id.to_owned());
        }
        let key = (part.to_owned(), id.to_owned());
        let count = match inner.accepted.get_mut(&key) {
            Some(c) => {
                *c += 1;
                *c
            }
            None => {
                inner.accepted.insert(key.clone(), 1);
                inner.order.push(key);
                1
            }
        };
        (
            StatusCode::OK,
            json!({"accepted": true, "loyalty_request_id": id, "times": count}),
        )
    }
}

/// The simulator's HTTP routes.
pub fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/saas/{part}/status", get(status))
        .route("/saas/{part}/submit", post(submit))
        .route("/sim/parts", get(list_parts))
        .route("/sim/parts/{part}/down", post(set_down))
        .route("/sim/parts/{part}/up", post(set_up))
        .route("/sim/parts/{part}/latency", post(set_latency))
        .route("/sim/parts/{part}/error-rate", post(set_error_rate))
        .route("/sim/parts/{part}/hang", post(set_hang))
        .route(
            "/sim/submissions",
            get(list_submissions).delete(clear_submissions),
        )
        .with_state(sim)
}

/// Applies the part's latency, or waits forever when it hangs.
async fn delay(b: &PartBehaviour) {
    if b.hang {
        std::future::pending::<()>().await;
    }
    if b.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(b.latency_ms)).await;
    }
}

async fn status(State(sim): State<Simulator>, Path(part): Path<String>) -> Response {
    let b = sim.behaviour(&part);
    delay(&b).await;
    // Re-read: the part may have changed while we waited.
    if sim.behaviour(&part).up {
        Json(json!({"status": "up"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "down"})),
        )
            .into_response()
    }
}

async fn submit(
    State(sim): State<Simulator>,
    Path(part): Path<String>,
    headers: axum::http::HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let b = sim.behaviour(&part);
    delay(&b).await;
    let Some(Json(body)) = body else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "body: expected a JSON object"})),
        )
            .into_response();
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty());
    let (code, answer) = sim.submit_with_key(&part, &body, key);
    if b.answer_latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(b.answer_latency_ms)).await;
    }
    (code, Json(answer)).into_response()
}

async fn list_parts(State(sim): State<Simulator>) -> Json<BTreeMap<String, PartBehaviour>> {
    Json(sim.lock().parts.clone())
}

async fn set_down(State(sim): State<Simulator>, Path(part): Path<String>) -> Json<PartBehaviour> {
    tracing::info!(part, "simulated SaaS part down");
    Json(sim.update(&part, |b| b.up = false))
}

async fn set_up(State(sim): State<Simulator>, Path(part): Path<String>) -> Json<PartBehaviour> {
    tracing::info!(part, "simulated SaaS part up");
    Json(sim.update(&part, |b| b.up = true))
}

#[derive(Deserialize)]
struct Latency {
    /// Delay before every answer (unchanged when absent).
    ms: Option<u64>,
    /// Delay between accepting a submission and answering (unchanged when absent).
    answer_ms: Option<u64>,
}

async fn set_latency(
    State(sim): State<Simulator>,
    Path(part): Path<String>,
    Json(l): Json<Latency>,
) -> Json<PartBehaviour> {
    Json(sim.update(&part, |b| {
        if let Some(ms) = l.ms {
            b.latency_ms = ms;
        }
        if let Some(ms) = l.answer_ms {
            b.answer_latency_ms = ms;
        }
    }))
}

#[derive(Deserialize)]
struct ErrorRate {
    rate: f64,
}

async fn set_error_rate(
    State(sim): State<Simulator>,
    Path(part): Path<String>,
    Json(r): Json<ErrorRate>,
) -> Response {
    if !(0.0..=1.0).contains(&r.rate) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "rate: must be between 0.0 and 1.0"})),
        )
            .into_response();
    }
    Json(sim.update(&part, |b| b.error_rate = r.rate)).into_response()
}

#[derive(Deserialize)]
struct Hang {
    hang: bool,
}

async fn set_hang(
    State(sim): State<Simulator>,
    Path(part): Path<String>,
    Json(h): Json<Hang>,
) -> Json<PartBehaviour> {
    Json(sim.update(&part, |b| b.hang = h.hang))
}

async fn list_submissions(State(sim): State<Simulator>) -> Json<Vec<Submission>> {
    Json(sim.submissions())
}

async fn clear_submissions(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_submissions();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voucher(id: &str) -> Value {
        json!({"loyalty_request_id": id, "payload": {}})
    }

    #[test]
    fn counts_each_acceptance() {
        let sim = Simulator::new(["voucher"]);
        assert_eq!(sim.submit("voucher", &voucher("a")).0, StatusCode::OK);
        assert_eq!(sim.submit("voucher", &voucher("a")).0, StatusCode::OK);
        assert_eq!(sim.submit("voucher", &voucher("b")).0, StatusCode::OK);
        let subs = sim.submissions();
        assert_eq!(subs.len(), 2);
        assert_eq!(
            (subs[0].loyalty_request_id.as_str(), subs[0].accepted),
            ("a", 2)
        );
        assert_eq!(
            (subs[1].loyalty_request_id.as_str(), subs[1].accepted),
            ("b", 1)
        );
    }

    #[test]
    fn an_idempotency_key_absorbs_resends() {
        let sim = Simulator::new(["voucher"]);
        let once = |id: &str, key: &str| sim.submit_with_key("voucher", &voucher(id), Some(key));
        assert_eq!(once("a", "a").0, StatusCode::OK);
        let again = once("a", "a");
        assert_eq!(again.0, StatusCode::OK);
        assert_eq!(again.1["idempotent_replay"], true);
        assert_eq!(once("b", "a").0, StatusCode::UNPROCESSABLE_ENTITY);
        // The same key on another part is another request.
        let other = sim.submit_with_key("points", &voucher("a"), Some("a"));
        assert_eq!(other.0, StatusCode::OK);
        let subs = sim.submissions();
        let seen: Vec<_> = subs
            .iter()
            .map(|s| {
                (
                    s.part.as_str(),
                    s.loyalty_request_id.as_str(),
                    s.accepted,
                    s.deduplicated,
                )
            })
            .collect();
        assert_eq!(seen, [("voucher", "a", 1, 1), ("points", "a", 1, 0)]);
        // Without a key every acceptance counts.
        assert_eq!(sim.submit("voucher", &voucher("a")).0, StatusCode::OK);
        assert_eq!(sim.submissions()[0].accepted, 2);
    }

    #[test]
    fn down_parts_refuse_and_record_nothing() {
        let sim = Simulator::new(["voucher"]);
        sim.update("voucher", |b| b.up = false);
        assert_eq!(
            sim.submit("voucher", &voucher("a")).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(sim.submissions().is_empty());
    }

    #[test]
    fn error_rate_is_exact_and_repeatable() {
        let sim = Simulator::new(["points"]);
        sim.update("points", |b| b.error_rate = 0.25);
        let failures = (0..100)
            .filter(|i| {
                sim.submit("points", &voucher(&i.to_string())).0
                    == StatusCode::INTERNAL_SERVER_ERROR
            })
            .count();
        assert_eq!(failures, 25);
        assert_eq!(sim.submissions().len(), 75);
    }

    #[test]
    fn client_errors() {
        let sim = Simulator::new(["voucher"]);
        assert_eq!(
            sim.submit("voucher", &json!({"payload": {}})).0,
            StatusCode::BAD_REQUEST
        );
        let forced = json!({"loyalty_request_id": "x", "payload": {"sim_response_status": 422}});
        assert_eq!(
            sim.submit("voucher", &forced).0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert!(sim.submissions().is_empty());
    }
}
