//! What the console exchanges with the server: plain serde types shared by
//! both builds, and thin `#[server]` functions over the domain crate.

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// One SaaS part on the overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartView {
    /// Part name, e.g. `voucher`.
    pub name: String,
    /// `unknown`, `pending`, `up` or `down`.
    pub status: String,
    /// RFC 3339 time of the last status change, if any.
    pub since: Option<String>,
    /// Archive that keeps the part's retry events.
    pub archive: String,
    /// Consecutive failed checks, against `failure_threshold`.
    pub failures: u32,
    /// Failed checks that make the part down.
    pub failure_threshold: u32,
    /// Consecutive good checks, against `recovery_threshold` while down.
    pub successes: u32,
    /// Good checks that bring a down part back up.
    pub recovery_threshold: u32,
    /// RFC 3339 time of the last health check, if any.
    pub last_check_at: Option<String>,
    /// Why the last check failed, if it did.
    pub last_error: Option<String>,
}

/// The overview page's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    /// Every configured part, in configuration order.
    pub parts: Vec<PartView>,
    /// When the server produced this snapshot (RFC 3339, milliseconds).
    pub generated_at: String,
}

/// Errors a server function reports to the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApiError {
    /// The server could not read its state (database unavailable, …).
    #[error("the server could not read its state: {0}")]
    Unavailable(String),
    /// Transport or encoding failure of the server-function call itself.
    #[error("request failed: {0}")]
    Request(String),
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        ApiError::Request(value.to_string())
    }
}

/// Current status of every configured part.
#[server]
pub async fn get_overview() -> Result<Overview, ApiError> {
    let ctx = ssr::context()?;
    ssr::overview(&ctx).await
}

#[cfg(feature = "ssr")]
pub use ssr::ConsoleContext;

#[cfg(feature = "ssr")]
mod ssr {
    //! Server-side halves of the server functions: plain async functions the
    //! JSON API and tests call directly.

    use super::{ApiError, Overview, PartView};
    use chrono::SecondsFormat;
    use mediator_core::StatusBoard;

    /// What the server gives the console at start-up (as Leptos context).
    #[derive(Debug, Clone)]
    pub struct ConsoleContext {
        /// Status of the configured parts.
        pub status: StatusBoard,
    }

    pub(super) fn context() -> Result<ConsoleContext, ApiError> {
        leptos::prelude::use_context::<ConsoleContext>()
            .ok_or_else(|| ApiError::Unavailable("console context missing".into()))
    }

    /// The overview snapshot.
    #[tracing::instrument(skip_all, err)]
    pub async fn overview(ctx: &ConsoleContext) -> Result<Overview, ApiError> {
        let parts = ctx
            .status
            .overview()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(Overview {
            parts: parts
                .into_iter()
                .map(|p| PartView {
                    name: p.name.to_string(),
                    status: p.state.to_string(),
                    since: p
                        .changed_at
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                    archive: p.archive_name,
                    failures: p.failures,
                    failure_threshold: p.thresholds.failure,
                    successes: p.successes,
                    recovery_threshold: p.thresholds.recovery,
                    last_check_at: p
                        .last_check_at
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                    last_error: p.last_error,
                })
                .collect(),
            generated_at: chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        })
    }
}

#[cfg(feature = "ssr")]
pub use ssr::overview;
