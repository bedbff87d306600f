//! `GET /metrics` on the console's listener (any signed-in role; see
//! [`crate::auth`]), built with `prometheus-client`: the Prometheus text
//! format 0.0.4 (`text/plain; version=0.0.4`), or OpenMetrics 1.0 when the
//! scraper asks for it (`Accept: application/openmetrics-text`, as
//! Prometheus does).
//!
//! Families (docs/operations.md lists them with their labels):
//!
//! - read from the store on each scrape ([`scrape`]): `mediator_part_up`,
//!   `mediator_circuit_open`, `mediator_checks_total`, `mediator_vouchers`,
//!   `mediator_replays_active`; with the embedded backend, the bus's
//!   counters (`mediator_bus_*`, `mediator_replay_events_total`) and
//!   dead-letter depths;
//! - observed as things happen ([`Metrics`]): request durations by route
//!   template and status ([`track_requests`]), health-check durations by
//!   part and outcome ([`probe::TimedProbe`]);
//! - about the process: `mediator_build_info` and `process_*`
//!   ([`process`], from `/proc/self` on Linux).

pub mod probe;
pub mod process;
pub mod scrape;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::api::ApiError;

/// Content type of the text format 0.0.4.
pub const TEXT_0_0_4: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics 1.0.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The commit built (`make build-release` sets it from git).
const GIT_SHA: Option<&str> = option_env!("MEDIATOR_GIT_SHA");

/// Buckets of the request durations, in seconds.
const REQUEST_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of the health-check durations, in seconds.
const CHECK_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Labels of a request duration.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The request's method.
    pub method: String,
    /// The matched route's template (`/api/v1/vouchers/{id}`), `/pkg/*` for
    /// the bundle, `unmatched` otherwise (public assets, 404 pages): never
    /// the raw path, whose values are unbounded.
    pub route: String,
    /// The answer's status code.
    pub status: u16,
}

/// Labels of a health-check duration.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    /// The part checked.
    pub part: String,
    /// `ok`, `failed`, or `timed_out` (the monitor gave up waiting).
    pub outcome: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS)
}

fn check_histogram() -> Histogram {
    Histogram::new(CHECK_BUCKETS)
}

/// The metrics observed as things happen; cheap to clone (shared).
#[derive(Clone)]
pub struct Metrics {
    requests: Histograms<RequestLabels>,
    checks: Histograms<CheckLabels>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::new_with_constructor(request_histogram),
            checks: Family::new_with_constructor(check_histogram),
        }
    }
}

impl Metrics {
    /// Records one answered request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .observe(took.as_secs_f64());
    }

    /// Records one health check of `part`.
    pub fn observe_check(&self, part: &str, outcome: &'static str, took: Duration) {
        self.checks
            .get_or_create(&CheckLabels {
                part: part.to_owned(),
                outcome,
            })
            .observe(took.as_secs_f64());
    }

    /// A registry of every family: these, the process's, and `state` read
    /// for this scrape.
    pub fn registry(&self, state: scrape::ScrapeState) -> Registry {
        let mut registry = Registry::default();
        registry.register_with_unit(
            "mediator_http_request_duration",
            "Time to answer a request of the console's listener, by method, route template and status",
            Unit::Seconds,
            self.requests.clone(),
        );
        registry.register_with_unit(
            "mediator_health_check_duration",
            "Time of one health check of the part's status URL, by outcome",
            Unit::Seconds,
            self.checks.clone(),
        );
        registry.register(
            "mediator_build",
            "The running build: version and git commit",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION")),
                (
                    "git_sha",
                    GIT_SHA.filter(|s| !s.is_empty()).unwrap_or("unknown"),
                ),
            ]),
        );
        registry.register_collector(Box::new(process::ProcessCollector));
        registry.register_collector(Box::new(state));
        registry
    }
}

/// The route label of a request: its route template, never its raw path.
pub fn route_label(matched: Option<&str>) -> String {
    match matched {
        Some(r) if r.starts_with("/pkg") => "/pkg/*".to_owned(),
        Some(r) => r.to_owned(),
        None => "unmatched".to_owned(),
    }
}

/// Middleware: times every request of the console's listener (outside the
/// access log, so a panic's 500 is counted too).
pub async fn track_requests(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route = route_label(
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let started = Instant::now();
    let res = next.run(req).await;
    metrics.observe_request(&method, &route, res.status().as_u16(), started.elapsed());
    res
}

/// What `/metrics` reads.
#[derive(Clone)]
pub struct MetricsState {
    /// The observed metrics.
    pub metrics: Metrics,
    /// What the per-scrape families are read from.
    pub sources: Arc<scrape::Sources>,
}

/// The `/metrics` route, to merge into the main router.
pub fn routes<S>(state: MetricsState) -> Router<S> {
    Router::new()
        .route("/metrics", get(get_metrics))
        .with_state(state)
}

/// Whether the caller asked for OpenMetrics (`Accept`).
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}

/// Every family in the text format 0.0.4, or OpenMetrics.
pub async fn metrics_text(s: &MetricsState, openmetrics: bool) -> Result<String, ApiError> {
    let state = s.sources.read().await?;
    let registry = s.metrics.registry(state);
    let mut out = String::new();
    let encoded = if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
    };
    if let Err(e) = encoded {
        tracing::error!("metrics could not be encoded: {e}");
    }
    Ok(out)
}

async fn get_metrics(
    State(s): State<MetricsState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let openmetrics = wants_openmetrics(&headers);
    let text = metrics_text(&s, openmetrics).await?;
    let content_type = if openmetrics { OPENMETRICS } else { TEXT_0_0_4 };
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
