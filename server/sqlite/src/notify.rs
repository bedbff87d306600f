//! [`SqliteNotifications`]: the notification outbox in the embedded
//! database (`notify_events`, `notify_deliveries`, `notify_cursors`).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use mediator_core::notify::Notification;
use mediator_core::storage::notify::{
    Claimed, DeliveryRecord, DeliveryStatus, NotificationStore, Settle,
};
use mediator_core::storage::StoreError;
use store::rusqlite::{params, OptionalExtension};
use store::Database;

use crate::db::Db;

/// The notification outbox in the embedded database.
#[derive(Debug, Clone)]
pub struct SqliteNotifications {
    db: Db,
}

impl SqliteNotifications {
    /// The outbox of `db`.
    pub fn new(db: Database) -> Self {
        Self { db: db.into() }
    }
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn bad_body(e: serde_json::Error) -> store::rusqlite::Error {
    store::rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

#[async_trait::async_trait]
impl NotificationStore for SqliteNotifications {
    async fn enqueue(
        &self,
        n: &Notification,
        channels: &[String],
        cursor: Option<(&str, i64)>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let body = serde_json::to_string(n).map_err(|e| StoreError::failed("notification", e))?;
        let (id, kind, part) = (n.event_id.clone(), n.kind.as_str(), n.part.clone());
        let channels = channels.to_vec();
        let cursor = cursor.map(|(name, v)| (name.to_owned(), v));
        let now = now.timestamp_millis();
        self.db
            .write(move |tx| {
                let new = tx.execute(
                    "INSERT OR IGNORE INTO notify_events (event_id, kind, part, body, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, kind, part, body, now],
                )? == 1;
                if new {
                    for ch in &channels {
                        tx.execute(
                            "INSERT OR IGNORE INTO notify_deliveries
                                (event_id, channel, status, next_ms, created_ms, updated_ms)
                             VALUES (?1, ?2, 'pending', ?3, ?3, ?3)",
                            params![id, ch, now],
                        )?;
                    }
                }
                if let Some((name, value)) = cursor {
                    tx.execute(
                        "INSERT INTO notify_cursors (name, value) VALUES (?1, ?2)
                         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                        params![name, value],
                    )?;
                }
                Ok(new)
            })
            .await
    }

    async fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let name = name.to_owned();
        self.db
            .read_on_writer(move |c| {
                c.query_row(
                    "SELECT value FROM notify_cursors WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()
            })
            .await
    }

    async fn set_cursor(&self, name: &str, value: i64) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO notify_cursors (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    params![name, value],
                )?;
                Ok(())
            })
            .await
    }

    async fn known(&self, event_ids: &[String]) -> Result<Vec<bool>, StoreError> {
        let ids = event_ids.to_vec();
        self.db
            .read_on_writer(move |c| {
                let mut stmt =
                    c.prepare_cached("SELECT 1 FROM notify_events WHERE event_id = ?1")?;
                ids.iter()
                    .map(|id| stmt.exists([id]))
                    .collect::<Result<Vec<bool>, _>>()
            })
            .await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let now = now.timestamp_millis();
        let until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        self.db
            .write(move |tx| {
                let due: Vec<(i64, String, i64, String)> = {
                    let mut stmt = tx.prepare_cached(
                        "SELECT d.id, d.channel, d.attempts, e.body
                         FROM notify_deliveries d JOIN notify_events e USING (event_id)
                         WHERE d.status IN ('pending', 'sending') AND d.next_ms <= ?1
                           AND (d.status = 'pending' OR d.lease_until_ms <= ?1)
                         ORDER BY d.next_ms, d.id LIMIT ?2",
                    )?;
                    let rows = stmt.query_map(params![now, limit as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?;
                    rows.collect::<Result<_, _>>()?
                };
                let mut out = Vec::with_capacity(due.len());
                for (id, channel, attempts, body) in due {
                    tx.execute(
                        "UPDATE notify_deliveries
                         SET status = 'sending', attempts = attempts + 1,
                             lease_until_ms = ?2, updated_ms = ?3
                         WHERE id = ?1",
                        params![id, until, now],
                    )?;
                    out.push(Claimed {
                        id,
                        channel,
                        attempt: attempts + 1,
                        notification: serde_json::from_str(&body).map_err(bad_body)?,
                    });
                }
                Ok(out)
            })
            .await
    }

    async fn settle(
        &self,
        id: i64,
        attempt: i64,
        outcome: &Settle,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = now.timestamp_millis();
        let (status, next_ms, error) = match outcome {
            Settle::Delivered => ("delivered", now, None),
            Settle::Retry { error, next_at } => {
                ("pending", next_at.timestamp_millis(), Some(error.clone()))
            }
            Settle::Failed { error } => ("failed", now, Some(error.clone())),
        };
        self.db
            .write(move |tx| {
                Ok(tx.execute(
                    "UPDATE notify_deliveries
                     SET status = ?3, next_ms = ?4, lease_until_ms = NULL, updated_ms = ?5,
                         last_error = coalesce(?6, last_error)
                     WHERE id = ?1 AND attempts = ?2 AND status = 'sending'",
                    params![id, attempt, status, next_ms, now, error],
                )? == 1)
            })
            .await
    }

    async fn recent(&self, limit: usize) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT d.id, d.channel, e.kind, d.event_id, e.part, e.body, d.attempts,
                            d.status, d.last_error, d.created_ms, d.updated_ms
                     FROM notify_deliveries d JOIN notify_events e USING (event_id)
                     ORDER BY d.id DESC LIMIT ?1",
                )?;
                let rows = stmt.query_map([limit as i64], |r| {
                    let body: String = r.get(5)?;
                    let status: String = r.get(7)?;
                    Ok(DeliveryRecord {
                        id: r.get(0)?,
                        channel: r.get(1)?,
                        kind: r.get(2)?,
                        event_id: r.get(3)?,
                        part: r.get(4)?,
                        summary: serde_json::from_str::<Notification>(&body)
                            .map(|n| n.summary)
                            .unwrap_or_default(),
                        attempts: r.get(6)?,
                        status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Pending),
                        last_error: r.get(8)?,
                        created_at: time(r.get(9)?),
                        updated_at: time(r.get(10)?),
                    })
                })?;
                rows.collect()
            })
            .await
    }

    async fn prune(
        &self,
        deliveries_before: DateTime<Utc>,
        events_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let (deliveries, events) = (
            deliveries_before.timestamp_millis(),
            events_before.timestamp_millis(),
        );
        self.db
            .write(move |tx| {
                let gone = tx.execute(
                    "DELETE FROM notify_deliveries
                     WHERE status IN ('delivered', 'failed') AND updated_ms < ?1",
                    [deliveries],
                )?;
                tx.execute(
                    "DELETE FROM notify_events
                     WHERE created_ms < ?1 AND NOT EXISTS
                        (SELECT 1 FROM notify_deliveries d
                         WHERE d.event_id = notify_events.event_id)",
                    [events],
                )?;
                Ok(gone as u64)
            })
            .await
    }
}
