//! The audit log: who did what, when, to what, why, and how it ended.
//!
//! Append-only (`audit_log`, migration 8). Written for every replay start and
//! cancel, override change, manual (console) voucher submission, redrive,
//! sign-in, failed sign-in, sign-out, user and token change, and for refused
//! attempts at any of these (outcome `denied`). Read newest first for the
//! console page and oldest first, by time range, for the export.

use crate::storage::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use std::sync::Arc;

use crate::access::Principal;
use crate::storage::audit::AuditStore;

/// Largest page [`Audit::newest`] and [`Audit::range`] return.
pub const AUDIT_PAGE_MAX: usize = 1000;

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
    actor: String,
    role: Option<String>,
    via: String,
    action: String,
    target: Option<String>,
    reason: Option<String>,
    outcome: String,
    detail: Option<Value>,
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

/// The audit log; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn AuditStore>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").finish_non_exhaustive()
    }
}

impl Audit {
    /// The audit log kept in `store` (the embedded database, or DynamoDB).
    pub fn new(store: Arc<dyn AuditStore>) -> Self {
        Audit { store }
    }

    /// Appends an entry, returning its id.
    pub async fn record(&self, e: NewAuditEntry) -> Result<i64, StoreError> {
        self.store
            .append(AuditEntry {
                id: 0,
                at: Utc::now(),
                actor: e.actor,
                role: e.role,
                via: e.via,
                action: e.action,
                target: e.target,
                reason: e.reason,
                outcome: e.outcome,
                detail: e.detail,
            })
            .await
    }

    /// Records an entry, logging (not failing) when storage refuses: the
    /// action itself already happened.
    pub async fn log(&self, e: NewAuditEntry) {
        let action = e.action.clone();
        if let Err(err) = self.record(e).await {
            tracing::error!(%action, "audit entry not recorded: {err}");
        }
    }

    /// How many `action` entries by `actor` with outcome `outcome` (and
    /// `target`, when given) were recorded at or after `since` (sign-in
    /// throttling counts failures per user name and client address).
    pub async fn count_since(
        &self,
        action: &str,
        actor: &str,
        outcome: &str,
        target: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.store
            .count_since(action, actor, outcome, target, since)
            .await
    }

    /// Deletes the entries older than `retention`, oldest first, at most
    /// `limit` per call (the maintenance loop calls it until nothing is
    /// left); returns how many were deleted.
    pub async fn prune(
        &self,
        retention: std::time::Duration,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let Some(before) = Utc::now().checked_sub_signed(retention) else {
            return Ok(0);
        };
        self.store.prune_before(before, limit.max(1)).await
    }

    /// A page of entries, newest first, older than entry `before` when given.
    pub async fn newest(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.store
            .newest(before, limit.clamp(1, AUDIT_PAGE_MAX))
            .await
    }

    /// Entries with `since <= at < until` (either bound optional), oldest
    /// first, after entry `after` when given.
    pub async fn range(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.store
            .range(since, until, after, limit.clamp(1, AUDIT_PAGE_MAX))
            .await
    }
}
