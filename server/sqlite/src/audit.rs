//! [`SqliteAudit`]: the audit log in the embedded database (`audit_log`).

use chrono::{DateTime, TimeZone, Utc};
use mediator_core::storage::audit::AuditStore;
use mediator_core::storage::StoreError;
use mediator_core::AuditEntry;
use store::rusqlite::{params, Row};
use store::Database;

use crate::db::Db;

/// The audit log in the embedded database (`audit_log`).
#[derive(Debug, Clone)]
pub struct SqliteAudit {
    db: Db,
}

impl SqliteAudit {
    /// The audit log of `db`.
    pub fn new(db: Database) -> Self {
        Self { db: db.into() }
    }
}

fn entry(r: &Row<'_>) -> store::rusqlite::Result<AuditEntry> {
    let detail: Option<String> = r.get(9)?;
    Ok(AuditEntry {
        id: r.get(0)?,
        at: Utc
            .timestamp_millis_opt(r.get(1)?)
            .single()
            .unwrap_or_default(),
        actor: r.get(2)?,
        role: r.get(3)?,
        via: r.get(4)?,
        action: r.get(5)?,
        target: r.get(6)?,
        reason: r.get(7)?,
        outcome: r.get(8)?,
        detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
    })
}

const COLUMNS: &str = "id, at_ms, actor, role, via, action, target, reason, outcome, detail";

#[async_trait::async_trait]
impl AuditStore for SqliteAudit {
    async fn append(&self, e: AuditEntry) -> Result<i64, StoreError> {
        let at = e.at.timestamp_millis();
        let detail = e.detail.map(|d| d.to_string());
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO audit_log (at_ms, actor, role, via, action, target, reason, outcome, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![at, e.actor, e.role, e.via, e.action, e.target, e.reason, e.outcome, detail],
                )?;
                Ok(tx.last_insert_rowid())
            })
            .await
    }

    async fn count_since(
        &self,
        action: &str,
        actor: &str,
        outcome: &str,
        target: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let (action, actor, outcome) = (action.to_owned(), actor.to_owned(), outcome.to_owned());
        let target = target.map(str::to_owned);
        let since = since.timestamp_millis();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT count(*) FROM audit_log
                     WHERE at_ms >= ?1 AND action = ?2 AND actor = ?3 AND outcome = ?4
                       AND (?5 IS NULL OR target = ?5)",
                    params![since, action, actor, outcome, target],
                    |r| r.get(0),
                )
            })
            .await
    }

    async fn prune_before(&self, before: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        let before = before.timestamp_millis();
        let limit = limit as i64;
        self.db
            .write(move |tx| {
                let n = tx.execute(
                    "DELETE FROM audit_log WHERE id IN
                       (SELECT id FROM audit_log WHERE at_ms < ?1 ORDER BY at_ms LIMIT ?2)",
                    params![before, limit],
                )?;
                Ok(n as u64)
            })
            .await
    }

    async fn newest(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit as i64;
        let before = before.unwrap_or(i64::MAX);
        self.db
            .read(move |c| {
                let mut st = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM audit_log WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
                ))?;
                let rows = st.query_map(params![before, limit], entry)?;
                rows.collect()
            })
            .await
    }

    async fn range(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit as i64;
        let since = since.map_or(i64::MIN, |t| t.timestamp_millis());
        let until = until.map_or(i64::MAX, |t| t.timestamp_millis());
        let after = after.unwrap_or(0);
        self.db
            .read(move |c| {
                let mut st = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM audit_log
                     WHERE at_ms >= ?1 AND at_ms < ?2 AND id > ?3 ORDER BY id LIMIT ?4"
                ))?;
                let rows = st.query_map(params![since, until, after, limit], entry)?;
                rows.collect()
            })
            .await
    }
}
