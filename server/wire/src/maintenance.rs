//! Maintenance windows of a part (`/api/v1/parts/{part}/maintenance`).

use serde::{Deserialize, Serialize};

/// A window to schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = MaintenanceRequestBody))]
pub struct MaintenanceRequest {
    /// When the hold starts (RFC 3339); default now, at most 5 minutes ago.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: Option<String>,
    /// When it ends (RFC 3339): after `start`, at most 7 days later.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: String,
    /// Why (required, at most 500 characters).
    pub reason: String,
    /// Who schedules it; the signed-in caller's name when sign-in is on.
    pub by: Option<String>,
}

/// Ending a window now (or cancelling it before it starts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = MaintenanceEndBody))]
pub struct MaintenanceEnd {
    /// Why (required).
    pub reason: String,
    /// Who ends it; the signed-in caller's name when sign-in is on.
    pub by: Option<String>,
}

/// A part's maintenance window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = MaintenanceWindowBody))]
pub struct MaintenanceWindow {
    /// Its id.
    pub id: String,
    /// The part.
    pub part: String,
    /// `scheduled`, `active` (the circuit is held open), `ended` (its
    /// replay has not started yet), `replayed` or `cancelled`.
    pub state: String,
    /// When the hold starts (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: String,
    /// When it ends as scheduled (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: String,
    /// When it ended early or was cancelled, if it was.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub ended_at: Option<String>,
    /// Why it is scheduled.
    pub reason: String,
    /// Who scheduled it.
    pub by: String,
    /// When it was scheduled.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// Who ended or cancelled it.
    pub ended_by: Option<String>,
    /// Why it was ended or cancelled.
    pub end_reason: Option<String>,
    /// The replay of the window, once started.
    pub replay: Option<String>,
}

/// A part's windows: upcoming, active and those ended in the last day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = MaintenanceListBody))]
pub struct MaintenanceList {
    /// By start.
    pub windows: Vec<MaintenanceWindow>,
}
