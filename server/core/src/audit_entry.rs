//! One entry of the audit log: who did what, when, to what, why, and how it
//! ended. Plain data; [`crate::audit`] keeps the log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::identity::Principal;

/// One recorded action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Increasing number (the pagination cursor).
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who: a user name, `anonymous` when sign-in is off, `cli:<user>`.
    pub actor: String,
    /// The actor's role at the time, when known.
    pub role: Option<String>,
    /// How the actor was authenticated: `session`, `token`, `proxy`, `open`, `cli`, or `none`.
    pub via: String,
    /// What: `replay.start`, `replay.cancel`, `override.set`, `override.clear`,
    /// `voucher.submit`, `dlq.redrive`, `login`, `login.failed`, `logout`,
    /// `user.add`, `user.remove`, `token.add`, `token.remove`.
    pub action: String,
    /// What it was done to (a part, replay, voucher, user or token).
    pub target: Option<String>,
    /// Why, when the action carries a reason.
    pub reason: Option<String>,
    /// `ok`, `failed` (the action was refused by the domain, `detail` says
    /// why) or `denied` (the caller's role does not allow it).
    pub outcome: String,
    /// Extra facts (window, mode, the error, the client address…).
    pub detail: Option<Value>,
}

/// An entry to record; built with [`NewAuditEntry::new`] and the setters.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub(crate) actor: String,
    pub(crate) role: Option<String>,
    pub(crate) via: String,
    pub(crate) action: String,
    pub(crate) target: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) outcome: String,
    pub(crate) detail: Option<Value>,
}

impl NewAuditEntry {
    /// `action` by `who`, outcome `ok` until told otherwise.
    pub fn new(who: &Principal, action: &str) -> Self {
        NewAuditEntry {
            actor: who.name.clone(),
            role: Some(who.role.as_str().to_owned()),
            via: who.via.as_str().to_owned(),
            action: action.to_owned(),
            target: None,
            reason: None,
            outcome: "ok".into(),
            detail: None,
        }
    }

    /// `action` by someone not authenticated (a failed sign-in): `name` as given.
    pub fn unauthenticated(name: &str, action: &str) -> Self {
        NewAuditEntry {
            actor: name.chars().take(128).collect(),
            role: None,
            via: "none".into(),
            action: action.to_owned(),
            target: None,
            reason: None,
            outcome: "failed".into(),
            detail: None,
        }
    }

    /// What it was done to.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Why (empty reasons are dropped).
    pub fn reason(mut self, reason: Option<&str>) -> Self {
        self.reason = reason
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        self
    }

    /// Extra facts.
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The outcome: `ok`, `failed` or `denied`.
    pub fn outcome(mut self, outcome: &str) -> Self {
        self.outcome = outcome.to_owned();
        self
    }

    /// Outcome from a result: `ok`, or `failed` with the error in `detail.error`.
    pub fn result<T, E: std::fmt::Display>(self, result: &Result<T, E>) -> Self {
        match result {
            Ok(_) => self.outcome("ok"),
            Err(e) => {
                let mut detail = self.detail.clone().unwrap_or_else(|| serde_json::json!({}));
                if let Some(o) = detail.as_object_mut() {
                    o.insert("error".into(), Value::String(e.to_string()));
                }
                self.outcome("failed").detail(detail)
            }
        }
    }
}
