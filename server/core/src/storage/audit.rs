//! [`AuditStore`]: where the audit log (`Audit`) is kept — the
//! embedded database's `audit_log`, or a DynamoDB table every replica
//! shares.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::audit_entry::AuditEntry;

/// The audit log's storage. Ids increase with time (they are the paging
/// cursor) and are unique.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `entry` (its `id` is ignored), returning the id given.
    async fn append(&self, entry: AuditEntry) -> Result<i64, StoreError>;

    /// How many `action` entries by `actor` with `outcome` (and `target`,
    /// when given) were recorded at or after `since`.
    async fn count_since(
        &self,
        action: &str,
        actor: &str,
        outcome: &str,
        target: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Deletes the entries recorded before `before`, at most `limit` of
    /// them (oldest first); returns how many were deleted.
    async fn prune_before(&self, before: DateTime<Utc>, limit: usize) -> Result<u64, StoreError>;

    /// Entries newest first, with an id below `before` when given; at most
    /// `limit`.
    async fn newest(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Entries with `since <= at < until` (either bound optional), oldest
    /// first, with an id above `after` when given; at most `limit`.
    async fn range(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}
