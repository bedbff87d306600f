//! The audit log: who did what, when, to what, why, and how it ended.
//!
//! Append-only (`audit_log`, migration 8). Written for every replay start and
//! cancel, override change, manual (console) voucher submission, redrive,
//! sign-in, failed sign-in, sign-out, user and token change, and for refused
//! attempts at any of these (outcome `denied`). Read newest first for the
//! console page and oldest first, by time range, for the export.

use crate::storage::StoreError;
use chrono::{DateTime, Utc};

use std::sync::Arc;

use crate::storage::audit::AuditStore;

pub use crate::audit_entry::{AuditEntry, NewAuditEntry};

/// Largest page [`Audit::newest`] and [`Audit::range`] return.
pub const AUDIT_PAGE_MAX: usize = 1000;

/// The audit log; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn AuditStore>,
    changes: Option<crate::changes::Changes>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").finish_non_exhaustive()
    }
}

impl Audit {
    /// The audit log kept in `store` (the embedded database, or DynamoDB).
    pub fn new(store: Arc<dyn AuditStore>) -> Self {
        Audit {
            store,
            changes: None,
        }
    }

    /// Counts every entry appended on `changes` ([`crate::Changes::audited`]),
    /// so cached copies of the log's pages are read again.
    pub fn with_changes(mut self, changes: crate::changes::Changes) -> Self {
        self.changes = Some(changes);
        self
    }

    /// Appends an entry, returning its id.
    pub async fn record(&self, e: NewAuditEntry) -> Result<i64, StoreError> {
        let id = self
            .store
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
            .await;
        // Also after an error: the entry may have been written anyway.
        if let Some(c) = &self.changes {
            c.audited();
        }
        id
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
