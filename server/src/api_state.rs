//! What the JSON API's handlers share: the services they call.

use std::sync::Arc;

use mediator_core::{Overrides, Recovery, SubmissionFlow};

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The submission flow.
    pub flow: Arc<SubmissionFlow>,
    /// Recovery (replays and their progress).
    pub recovery: Arc<Recovery>,
    /// Manual circuit overrides.
    pub overrides: Overrides,
    /// The console's read models (uptime, timelines, incidents, counters, archives).
    pub history: mediator_core::History,
    /// The live-change hub (`/api/v1/stream`).
    pub changes: mediator_core::Changes,
    /// Cancelled at shutdown: ends open event streams.
    pub streams_stop: tokio_util::sync::CancellationToken,
    /// The audit log (replays, overrides, redrives, sign-ins…).
    pub audit: mediator_core::Audit,
    /// Users, sessions and API tokens.
    pub access: mediator_core::Access,
    /// The health monitor (checks run on request).
    pub monitor: Arc<mediator_core::Monitor>,
    /// Outbound notifications (`None`: this backend sends none).
    pub notifier: Option<Arc<mediator_core::notify::Notifier>>,
    /// The parts' maintenance windows.
    pub maintenance: Arc<mediator_core::maintenance::Maintenance>,
}
