//! [`ProjectedStatus`]: a [`StatusStore`] whose decisions are made by a
//! shared primary (DynamoDB: conditional writes, leases, publication
//! claims) and whose recorded checks are also applied to a local store
//! (this replica's SQLite), for what still reads the local monitor tables
//! (today only the metrics' check totals).
//!
//! The local copy never decides anything: its write is a projection, and a
//! failure there is logged, not returned. Only checks this replica records
//! reach its projection (ARCHITECTURE.md, "AWS backend stages").

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{CheckWrite, RecordOutcome, StatusSnapshot, StatusStore, StoreError, StoredChange};

/// Decides with `primary`, projects recorded checks into `local`.
pub struct ProjectedStatus {
    primary: Arc<dyn StatusStore>,
    local: Arc<dyn StatusStore>,
}

/// Local writes tried per projected check (the local store only races
/// with itself, so one attempt is the norm).
const PROJECTION_ATTEMPTS: usize = 3;

impl ProjectedStatus {
    /// `primary` decides, `local` is kept in step.
    pub fn new(primary: Arc<dyn StatusStore>, local: Arc<dyn StatusStore>) -> Self {
        Self { primary, local }
    }

    /// Applies `write` to the local store on top of whatever it holds.
    async fn project(&self, part: &str, write: &CheckWrite) -> Result<(), StoreError> {
        for _ in 0..PROJECTION_ATTEMPTS {
            let snap = self.local.load(part).await?;
            if let RecordOutcome::Recorded { .. } = self.local.record(part, &snap, write).await? {
                return Ok(());
            }
        }
        Err(StoreError::Backend(format!(
            "part {part}: the local status moved under {PROJECTION_ATTEMPTS} writes"
        )))
    }
}

#[async_trait]
impl StatusStore for ProjectedStatus {
    async fn load(&self, part: &str) -> Result<StatusSnapshot, StoreError> {
        self.primary.load(part).await
    }

    async fn record(
        &self,
        part: &str,
        expect: &StatusSnapshot,
        write: &CheckWrite,
    ) -> Result<RecordOutcome, StoreError> {
        let outcome = self.primary.record(part, expect, write).await?;
        if let RecordOutcome::Recorded { .. } = outcome {
            if let Err(e) = self.project(part, write).await {
                tracing::warn!(part, "projecting a check into the local store failed: {e}");
            }
        }
        Ok(outcome)
    }

    async fn unpublished_changes(&self, limit: usize) -> Result<Vec<StoredChange>, StoreError> {
        self.primary.unpublished_changes(limit).await
    }

    async fn claim_publication(
        &self,
        ids: &[i64],
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        self.primary.claim_publication(ids, owner, until).await
    }

    async fn mark_changes_published(&self, ids: &[i64]) -> Result<(), StoreError> {
        self.primary.mark_changes_published(ids).await
    }

    async fn changes_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredChange>, StoreError> {
        self.primary.changes_after(after, limit).await
    }

    async fn has_changes_after(&self, part: &str, after: i64) -> Result<bool, StoreError> {
        self.primary.has_changes_after(part, after).await
    }

    async fn claim_change_replay(&self, change_id: i64, owner: &str) -> Result<bool, StoreError> {
        self.primary.claim_change_replay(change_id, owner).await
    }

    async fn lease_monitor(
        &self,
        part: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.primary.lease_monitor(part, owner, now, until).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStore;
    use crate::{Monitor, PartName, PartSettings, PartState};
    use store::Database;

    struct Down;

    #[async_trait]
    impl crate::HealthProbe for Down {
        async fn check(&self, _part: &str) -> Result<(), String> {
            Err("HTTP 503".into())
        }
    }

    #[tokio::test]
    async fn the_primary_decides_and_the_local_store_follows() {
        let (p, l) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let primary = Arc::new(SqliteStore::new(Database::open(p.path()).unwrap()));
        let local = Arc::new(SqliteStore::new(Database::open(l.path()).unwrap()));
        let projected = Arc::new(ProjectedStatus::new(primary.clone(), local.clone()));
        let mut part = PartSettings::new(PartName::parse("voucher").unwrap());
        part.thresholds.failure = 2;
        let monitor =
            Monitor::new_with_store(projected.clone(), Arc::new(Down), vec![part.clone()]);
        for _ in 0..2 {
            monitor.check_once(&part).await.unwrap();
        }
        let (ps, ls) = (
            primary.load("voucher").await.unwrap(),
            local.load("voucher").await.unwrap(),
        );
        assert_eq!(ps.circuit.status, PartState::Down);
        assert_eq!(
            ls.circuit, ps.circuit,
            "the local store follows the primary"
        );
        assert_eq!(ls.last_error.as_deref(), Some("HTTP 503"));
        let (pc, lc) = (
            primary.changes_after(0, 10).await.unwrap(),
            local.changes_after(0, 10).await.unwrap(),
        );
        assert_eq!(pc.len(), 1);
        assert_eq!(lc.len(), 1, "the change is in the local history too");
        assert_eq!(lc[0].change, pc[0].change);
        // Publication is the primary's alone.
        assert_eq!(projected.unpublished_changes(10).await.unwrap(), pc);
        // A write based on an outdated read (another replica recorded
        // first): the primary says stale, nothing reaches the local store.
        let stale = projected
            .record(
                "voucher",
                &StatusSnapshot {
                    circuit: crate::Circuit::default(),
                    last_error: None,
                    last_check_at: None,
                    version: 0,
                },
                &CheckWrite {
                    at: Utc::now(),
                    ok: true,
                    latency_ms: 1,
                    error: None,
                    circuit: crate::Circuit::default(),
                    change: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(stale, RecordOutcome::Stale);
        assert_eq!(local.load("voucher").await.unwrap().circuit, ps.circuit);
    }
}
