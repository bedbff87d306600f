//! [`SqliteMaintenance`]: the parts' maintenance windows
//! (`maintenance_windows`, migration 18). The voucher store's hold and
//! claim read them in their own transaction ([`holds_at`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use store::rusqlite::{params, Connection, OptionalExtension, Row};
use store::Database;

use crate::db::Db;
use mediator_core::maintenance::MaintenanceWindow;
use mediator_core::storage::maintenance::{MaintenanceStore, Scheduled};
use mediator_core::storage::StoreError;

/// [`MaintenanceStore`] on the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteMaintenance {
    db: Db,
}

impl SqliteMaintenance {
    /// The windows of `db`.
    pub fn new(db: Database) -> Self {
        Self { db: db.into() }
    }
}

const COLUMNS: &str = "id, part, start_ms, end_ms, reason, by_name, created_ms, ended_ms, \
                       ended_by, end_reason, replay";

/// The hold's end: the early end when there is one before the end.
const HOLD_END: &str = "min(end_ms, coalesce(ended_ms, end_ms))";

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn window(r: &Row<'_>) -> store::rusqlite::Result<MaintenanceWindow> {
    Ok(MaintenanceWindow {
        id: r.get(0)?,
        part: r.get(1)?,
        start: time(r.get(2)?),
        end: time(r.get(3)?),
        reason: r.get(4)?,
        by: r.get(5)?,
        created_at: time(r.get(6)?),
        ended_at: r.get::<_, Option<i64>>(7)?.map(time),
        ended_by: r.get(8)?,
        end_reason: r.get(9)?,
        replay: r.get(10)?,
    })
}

fn by_id(c: &Connection, id: &str) -> store::rusqlite::Result<Option<MaintenanceWindow>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM maintenance_windows WHERE id = ?1"
    ))?
    .query_row([id], window)
    .optional()
}

/// Whether a maintenance window holds `part`'s circuit open at `now_ms`
/// (read inside the voucher store's transactions).
pub(crate) fn holds_at(c: &Connection, part: &str, now_ms: i64) -> store::rusqlite::Result<bool> {
    c.prepare_cached(&format!(
        "SELECT EXISTS (SELECT 1 FROM maintenance_windows
          WHERE part = ?1 AND start_ms <= ?2 AND {HOLD_END} > ?2
            AND coalesce(ended_ms, end_ms) > start_ms)"
    ))?
    .query_row(params![part, now_ms], |r| r.get(0))
}

#[async_trait]
impl MaintenanceStore for SqliteMaintenance {
    async fn schedule(&self, w: &MaintenanceWindow) -> Result<Scheduled, StoreError> {
        let w = w.clone();
        self.db
            .write(move |tx| {
                // One writer: the overlap check and the insert are one
                // transaction, so two overlapping windows are never both
                // recorded.
                let other = tx
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM maintenance_windows
                          WHERE part = ?1 AND start_ms < ?3 AND {HOLD_END} > ?2
                            AND coalesce(ended_ms, end_ms) > start_ms
                          ORDER BY start_ms LIMIT 1"
                    ))?
                    .query_row(
                        params![w.part, w.start.timestamp_millis(), w.end.timestamp_millis()],
                        window,
                    )
                    .optional()?;
                if let Some(o) = other {
                    return Ok(Scheduled::Overlaps(Box::new(o)));
                }
                tx.prepare_cached(
                    "INSERT INTO maintenance_windows
                       (id, part, start_ms, end_ms, reason, by_name, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    w.id,
                    w.part,
                    w.start.timestamp_millis(),
                    w.end.timestamp_millis(),
                    w.reason,
                    w.by,
                    w.created_at.timestamp_millis()
                ])?;
                Ok(Scheduled::Recorded)
            })
            .await
    }

    async fn window(&self, id: &str) -> Result<Option<MaintenanceWindow>, StoreError> {
        let id = id.to_owned();
        self.db.read(move |c| by_id(c, &id)).await
    }

    async fn windows(
        &self,
        part: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<MaintenanceWindow>, StoreError> {
        let part = part.map(str::to_owned);
        let since = since.timestamp_millis();
        self.db
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM maintenance_windows
                      WHERE (?1 IS NULL OR part = ?1)
                        AND ({HOLD_END} >= ?2
                             OR (replay IS NULL AND coalesce(ended_ms, end_ms) > start_ms))
                      ORDER BY start_ms, id"
                ))?
                .query_map(params![part, since], window)?
                .collect()
            })
            .await
    }

    async fn end(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        reason: &str,
    ) -> Result<Option<MaintenanceWindow>, StoreError> {
        let (id, by, reason) = (id.to_owned(), by.to_owned(), reason.to_owned());
        let at = at.timestamp_millis();
        self.db
            .write(move |tx| {
                tx.prepare_cached(&format!(
                    "UPDATE maintenance_windows
                        SET ended_ms = ?2, ended_by = ?3, end_reason = ?4
                      WHERE id = ?1 AND {HOLD_END} > ?2
                        AND coalesce(ended_ms, end_ms) > start_ms"
                ))?
                .execute(params![id, at, by, reason])?;
                by_id(tx, &id)
            })
            .await
    }

    async fn mark_replayed(&self, id: &str, replay: &str) -> Result<bool, StoreError> {
        let (id, replay) = (id.to_owned(), replay.to_owned());
        self.db
            .write(move |tx| {
                Ok(tx
                    .prepare_cached(
                        "UPDATE maintenance_windows SET replay = ?2 WHERE id = ?1 AND replay IS NULL",
                    )?
                    .execute(params![id, replay])?
                    == 1)
            })
            .await
    }
}
