//! Readiness (`GET /readyz`): whether this process can serve, judged on
//! what its backend needs — the embedded database, or on AWS the tables,
//! bus, archives and queues every replica shares (the local database then
//! holds nothing a request needs). A not-ready answer names each failed
//! dependency; the full errors go to the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use store::Database;

/// How long an answer is reused: orchestrators and load balancers probe
/// every few seconds, from several places; on AWS each check is a
/// dozen-odd calls.
pub const REUSE_FOR: Duration = Duration::from_secs(2);

/// A dependency that failed its check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// What it is (`database`, `dynamodb table mediator-parts`, …).
    pub dependency: String,
    /// Why, briefly (public: no account or role names).
    pub reason: String,
}

/// What a backend checks.
#[async_trait]
pub trait Dependencies: Send + Sync {
    /// Checks every dependency; answers the failed ones (none: ready).
    async fn check(&self) -> Vec<Failed>;
}

/// The embedded backend: its database answers.
#[async_trait]
impl Dependencies for Database {
    async fn check(&self) -> Vec<Failed> {
        match self.ping().await {
            Ok(()) => Vec::new(),
            Err(e) => {
                tracing::warn!("not ready: database: {e}");
                vec![Failed {
                    dependency: "database".into(),
                    reason: e.to_string(),
                }]
            }
        }
    }
}

/// The AWS backend: its tables, bus, archives and queues.
#[async_trait]
impl Dependencies for aws_backend::AwsDependencies {
    async fn check(&self) -> Vec<Failed> {
        aws_backend::AwsDependencies::check(self)
            .await
            .into_iter()
            .map(|u| {
                tracing::warn!("not ready: {}: {}", u.dependency, u.detail);
                Failed {
                    dependency: u.dependency,
                    reason: u.reason,
                }
            })
            .collect()
    }
}

/// The readiness check of this process: one check at a time, its answer
/// reused for [`REUSE_FOR`].
pub struct Readiness {
    dependencies: Arc<dyn Dependencies>,
    reuse_for: Duration,
    last: tokio::sync::Mutex<Option<(Instant, Arc<Vec<Failed>>)>>,
}

impl Readiness {
    /// Checks `dependencies`.
    pub fn new(dependencies: Arc<dyn Dependencies>) -> Self {
        Self {
            dependencies,
            reuse_for: REUSE_FOR,
            last: Default::default(),
        }
    }

    /// Reuses answers for `reuse_for` instead of [`REUSE_FOR`].
    pub fn with_reuse_for(mut self, reuse_for: Duration) -> Self {
        self.reuse_for = reuse_for;
        self
    }

    /// The failed dependencies (none: ready), from a check at most
    /// [`REUSE_FOR`] old.
    pub async fn failed(&self) -> Arc<Vec<Failed>> {
        let mut last = self.last.lock().await;
        if let Some((at, failed)) = last.as_ref() {
            if at.elapsed() < self.reuse_for {
                return failed.clone();
            }
        }
        let failed = Arc::new(self.dependencies.check().await);
        *last = Some((Instant::now(), failed.clone()));
        failed
    }

    /// `200 {"status": "ready"}`, or `503 {"status": "unavailable",
    /// "reason": "<dependency>: <reason>", "failed": [{"dependency",
    /// "reason"}, …]}` (`reason` names the first).
    pub async fn answer(&self) -> Response {
        let failed = self.failed().await;
        match failed.first() {
            None => Json(json!({ "status": "ready" })).into_response(),
            Some(first) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable",
                    "reason": format!("{}: {}", first.dependency, first.reason),
                    "failed": failed
                        .iter()
                        .map(|f| json!({ "dependency": f.dependency, "reason": f.reason }))
                        .collect::<Vec<_>>(),
                })),
            )
                .into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize);

    #[async_trait]
    impl Dependencies for Counting {
        async fn check(&self) -> Vec<Failed> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                vec![Failed {
                    dependency: "dynamodb table t".into(),
                    reason: "ResourceNotFoundException".into(),
                }]
            } else {
                Vec::new()
            }
        }
    }

    #[tokio::test]
    async fn answers_are_reused_for_a_while_then_checked_again() {
        let deps = Arc::new(Counting(AtomicUsize::new(0)));
        let reuse = Duration::from_millis(300);
        let r = Readiness::new(deps.clone()).with_reuse_for(reuse);
        let res = r.answer().await;
        assert_eq!(res.status(), 503);
        let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body["reason"],
            "dynamodb table t: ResourceNotFoundException"
        );
        assert_eq!(body["failed"][0]["dependency"], "dynamodb table t");
        assert_eq!(r.failed().await.len(), 1, "reused");
        assert_eq!(deps.0.load(Ordering::SeqCst), 1);
        tokio::time::sleep(reuse).await;
        assert_eq!(r.answer().await.status(), 200);
        assert_eq!(deps.0.load(Ordering::SeqCst), 2);
    }
}
