//! The audit log: who did what, when, to what, why, and how it ended.
//!
//! Append-only (`audit_log`, migration 8). Written for every replay start and
//! cancel, override change, manual (console) voucher submission, redrive,
//! sign-in, failed sign-in, sign-out, user and token change, and for refused
//! attempts at any of these (outcome `denied`). Read newest first for the
//! console page and oldest first, by time range, for the export.

use crate::storage::sqlite::Db;
use crate::storage::StoreError;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::Value;
use store::rusqlite::{params, Row};
use store::Database;

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

/// The audit log in the embedded database (`audit_log`).
#[derive(Debug, Clone)]
pub struct SqliteAudit {
    db: Db,
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

impl Audit {
    /// The audit log stored in `db`.
    pub fn new(db: Database) -> Self {
        Self::with_store(Arc::new(SqliteAudit { db: db.into() }))
    }

    /// The audit log in `store` (e.g. DynamoDB).
    pub fn with_store(store: Arc<dyn AuditStore>) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;

    #[tokio::test]
    async fn sqlite_passes_the_audit_contract() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteAudit {
            db: Database::open(dir.path()).unwrap().into(),
        };
        crate::storage::contract::check_audit(&s).await;
    }

    #[tokio::test]
    async fn records_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(Database::open(dir.path()).unwrap());
        let ann = Principal {
            name: "ann".into(),
            role: Role::Operator,
            via: crate::access::Via::Session,
            csrf: None,
        };
        for i in 0..5 {
            let r: Result<(), String> = if i == 3 { Err("busy".into()) } else { Ok(()) };
            audit
                .record(
                    NewAuditEntry::new(&ann, "replay.start")
                        .target(format!("p{i}"))
                        .reason(Some(" outage "))
                        .result(&r),
                )
                .await
                .unwrap();
        }
        let page = audit.newest(None, 2).await.unwrap();
        assert_eq!(
            page.iter()
                .map(|e| e.target.clone().unwrap())
                .collect::<Vec<_>>(),
            ["p4", "p3"]
        );
        assert_eq!(page[1].outcome, "failed");
        assert_eq!(page[1].detail.as_ref().unwrap()["error"], "busy");
        assert_eq!(page[1].reason.as_deref(), Some("outage"));
        let older = audit.newest(Some(page[1].id), 10).await.unwrap();
        assert_eq!(older.len(), 3);
        let all = audit.range(None, None, None, 10).await.unwrap();
        assert_eq!(all.first().unwrap().target.as_deref(), Some("p0"));
        let none = audit
            .range(
                Some(Utc::now() + chrono::Duration::hours(1)),
                None,
                None,
                10,
            )
            .await
            .unwrap();
        assert!(none.is_empty());
    }
}
