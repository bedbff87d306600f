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

/// [`crate::Part::maintenance`] as the browser build reads it: the fields
/// the overview's card shows (who holds the circuit, why, until when, the
/// window's id), the others left empty. The full window is read only by
/// the maintenance dialog, whose code is a lazy wasm chunk: reading it here
/// would put its deserializer into the overview's main module. It reads the
/// window by field name, so the console's page copy of the overview keeps
/// the window an object (`app/src/resource/positional.rs`, `BY_NAME`).
pub fn holding<'de, D>(d: D) -> Result<Option<MaintenanceWindow>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    /// What the card reads of the window.
    #[derive(Deserialize)]
    struct Holding {
        id: String,
        end: String,
        ended_at: Option<String>,
        reason: String,
        by: String,
    }
    Ok(
        Option::<Holding>::deserialize(d)?.map(|h| MaintenanceWindow {
            id: h.id,
            part: String::new(),
            state: String::new(),
            start: String::new(),
            end: h.end,
            ended_at: h.ended_at,
            reason: h.reason,
            by: h.by,
            created_at: String::new(),
            ended_by: None,
            end_reason: None,
            replay: None,
        }),
    )
}

/// A part's windows: upcoming, active and those ended in the last day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = MaintenanceListBody))]
pub struct MaintenanceList {
    /// By start.
    pub windows: Vec<MaintenanceWindow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_reads_what_the_card_shows_of_the_holding_window() {
        let w = MaintenanceWindow {
            id: "mw-1".into(),
            part: "voucher".into(),
            state: "active".into(),
            start: "2026-12-07T06:00:00Z".into(),
            end: "2026-12-07T07:00:00Z".into(),
            ended_at: Some("2026-12-07T06:30:00.000Z".into()),
            reason: "vendor upgrade".into(),
            by: "olga".into(),
            created_at: "2026-12-07T05:59:00Z".into(),
            ended_by: Some("ann".into()),
            end_reason: Some("done early".into()),
            replay: Some("r-1".into()),
        };
        let json = serde_json::to_string(&w).unwrap();
        let read = holding(&mut serde_json::Deserializer::from_str(&json))
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                read.id.as_str(),
                read.end.as_str(),
                read.reason.as_str(),
                read.by.as_str()
            ),
            ("mw-1", "2026-12-07T07:00:00Z", "vendor upgrade", "olga")
        );
        assert_eq!(read.ended_at, w.ended_at);
        assert_eq!(
            (read.part, read.state, read.start),
            (String::new(), String::new(), String::new())
        );
        assert_eq!(
            (read.ended_by, read.end_reason, read.replay),
            (None, None, None)
        );
        let none = holding(&mut serde_json::Deserializer::from_str("null")).unwrap();
        assert_eq!(none, None);
    }
}
