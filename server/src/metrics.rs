//! `GET /metrics`: the Prometheus text exposition format (0.0.4), on the
//! console's listener (any signed-in role; see [`crate::auth`]).
//!
//! Per configured part: up, effective circuit open, checks by outcome,
//! vouchers by status, active replays ([`mediator_core::metrics`]).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use mediator_core::{Overrides, Recovery, SubmissionFlow};

use crate::api::ApiError;

/// What the metrics are read from.
#[derive(Clone)]
pub struct MetricsState {
    /// The submission flow (voucher counts).
    pub flow: Arc<SubmissionFlow>,
    /// Recovery (active replays).
    pub recovery: Arc<Recovery>,
    /// Manual overrides and the parts' circuits and statuses.
    pub overrides: Overrides,
    /// The read models (the checks' daily roll-ups).
    pub history: mediator_core::History,
}

impl From<&crate::api::ApiState> for MetricsState {
    fn from(s: &crate::api::ApiState) -> Self {
        MetricsState {
            flow: s.flow.clone(),
            recovery: s.recovery.clone(),
            overrides: s.overrides.clone(),
            history: s.history.clone(),
        }
    }
}

/// The `/metrics` route, to merge into the main router.
pub fn routes<S>(state: MetricsState) -> Router<S> {
    Router::new()
        .route("/metrics", get(get_metrics))
        .with_state(state)
}

/// The metrics page in the text exposition format.
pub async fn metrics_text(s: &MetricsState) -> Result<String, ApiError> {
    let parts = mediator_core::metrics::collect(
        s.flow.cache(),
        &s.recovery,
        &s.overrides,
        s.history.monitor_history(),
    )
    .await?;
    Ok(mediator_core::metrics::render(&parts))
}

async fn get_metrics(State(s): State<MetricsState>) -> Result<Response, ApiError> {
    let text = metrics_text(&s).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
