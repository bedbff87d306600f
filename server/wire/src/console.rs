//! Shapes only the console's server functions return: the signed-in user
//! as the navigation shows it and the audit log as the `/audit` page lists
//! it (the JSON API answers these with [`crate::Caller`] and
//! [`crate::AuditExport`]).

use serde::{Deserialize, Serialize};

/// The signed-in user, as the navigation shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// User name (`anonymous` when sign-in is off).
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// `session`, `token`, `proxy` or `open` (sign-in off).
    pub via: String,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: Option<String>,
}

impl Me {
    /// Whether the role allows changes (operator or admin).
    pub fn can_operate(&self) -> bool {
        self.role == "operator" || self.role == "admin"
    }

    /// Whether sign-in is on for this user (`false` with `--auth none`,
    /// where forms ask who acts instead).
    pub fn signed_in(&self) -> bool {
        self.via != "open"
    }
}

/// One audit entry as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// Entry number.
    pub id: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Who.
    pub actor: String,
    /// The actor's role then.
    pub role: Option<String>,
    /// How the actor was authenticated.
    pub via: String,
    /// What (`replay.start`, `login.failed`, …).
    pub action: String,
    /// To what.
    pub target: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// `ok`, `failed` or `denied`.
    pub outcome: String,
    /// Extra facts as compact JSON (empty when none).
    pub detail: String,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditRow>,
    /// `before=` of the next (older) page, when there is one.
    pub older: Option<i64>,
}
