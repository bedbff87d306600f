//! Who is calling, and the audit log's export.

use serde::{Deserialize, Serialize};

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CallerBody))]
pub struct Caller {
    /// User name (`anonymous` when sign-in is off).
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// `session`, `token`, `proxy`, or `open` when sign-in is off.
    pub via: String,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AuditEntryBody))]
pub struct AuditEntry {
    /// Increasing number.
    pub id: i64,
    /// When it happened.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub at: String,
    /// Who: a user name, `anonymous` when sign-in is off, `cli:<user>`.
    pub actor: String,
    /// The actor's role at the time, when known.
    pub role: Option<String>,
    /// How the actor was authenticated: `session`, `token`, `proxy`, `open`, `cli` or `none`.
    pub via: String,
    /// What: `replay.start`, `override.set`, `login.failed`, …
    pub action: String,
    /// What it was done to (a part, replay, voucher, user or token).
    pub target: Option<String>,
    /// Why, when the action carries a reason.
    pub reason: Option<String>,
    /// `ok`, `failed` or `denied`.
    pub outcome: String,
    /// Extra facts (window, mode, the error, the client address…).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub detail: Option<serde_json::Value>,
}

/// The audit export as JSON (`format=json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AuditExportBody))]
pub struct AuditExport {
    /// The entries, oldest first.
    pub entries: Vec<AuditEntry>,
    /// Whether the export stopped at its maximum (narrow the range for more).
    pub truncated: bool,
}
