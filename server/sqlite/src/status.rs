//! The SQLite implementations of the storage traits (the embedded
//! backend): the SQL the domain modules used to run directly, moved here
//! unchanged.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use store::rusqlite::{params, Connection, OptionalExtension, Transaction};
use store::Database;

use crate::db::Db;
use crate::id_runs::execute_over_id_runs;

use mediator_core::latency::{bin_of, LatencyHistogram};
use mediator_core::storage::history::{ChangeRow, LatencyRollup, MonitorHistory};
use mediator_core::storage::{
    CheckWrite, OverrideStore, RecordOutcome, StatusSnapshot, StatusStore, StoreError,
    StoredChange, ROLLUPS,
};
use mediator_core::{Circuit, CircuitOverride, OverrideMode, PartState, StatusChange};

/// [`OverrideStore`] and [`StatusStore`] on the embedded SQLite database
/// (`part_status`, `mon_checks`, `mon_rollups` with their
/// `mon_latency_bins`, `mon_status_changes`).
#[derive(Clone)]
pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
    /// The stores of `db`.
    pub fn new(db: Database) -> Self {
        Self { db: db.into() }
    }
}

#[async_trait]
impl OverrideStore for SqliteStore {
    async fn set_override(
        &self,
        part: &str,
        value: Option<&CircuitOverride>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let part = part.to_owned();
        let row = value.cloned();
        self.db
            .write(move |tx| {
                let (mode, reason, by, at) = match &row {
                    Some(o) => (
                        Some(o.mode.as_str()),
                        Some(o.reason.clone()),
                        o.by.clone(),
                        Some(o.at.to_rfc3339()),
                    ),
                    None => (None, None, None, None),
                };
                tx.execute(
                    "INSERT INTO part_status (part, status, updated_at, override_mode,
                                              override_reason, override_by, override_at)
                     VALUES (?1, 'unknown', ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (part) DO UPDATE SET
                       override_mode = excluded.override_mode,
                       override_reason = excluded.override_reason,
                       override_by = excluded.override_by,
                       override_at = excluded.override_at",
                    params![part, now.to_rfc3339(), mode, reason, by, at],
                )?;
                Ok(())
            })
            .await
    }

    async fn overrides(&self) -> Result<HashMap<String, CircuitOverride>, StoreError> {
        self.db.read(read_overrides).await
    }

    async fn overrides_and_statuses(
        &self,
    ) -> Result<(HashMap<String, CircuitOverride>, HashMap<String, String>), StoreError> {
        self.db
            .read(|c| {
                let o = read_overrides(c)?;
                let s: HashMap<String, String> = c
                    .prepare("SELECT part, status FROM part_status")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                Ok((o, s))
            })
            .await
    }

    async fn mode_of(&self, part: &str) -> Result<Option<OverrideMode>, StoreError> {
        let part = part.to_owned();
        self.db.read(move |c| mode_of(c, &part)).await
    }
}

/// part, mode, reason, by, at.
type OverrideRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn read_overrides(
    c: &Connection,
) -> Result<HashMap<String, CircuitOverride>, store::rusqlite::Error> {
    let rows: Vec<OverrideRow> = c
        .prepare(
            "SELECT part, override_mode, override_reason, override_by, override_at
             FROM part_status WHERE override_mode IS NOT NULL",
        )?
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(part, mode, reason, by, at)| {
            let mode: OverrideMode = mode.parse().ok()?;
            let at = parse_time(at)?;
            Some((
                part,
                CircuitOverride {
                    mode,
                    reason: reason.unwrap_or_default(),
                    by,
                    at,
                },
            ))
        })
        .collect())
}

/// The override mode stored for `part` (also read inside the DataCache's
/// own transactions, which stay on SQLite).
pub(crate) fn mode_of(
    c: &Connection,
    part: &str,
) -> Result<Option<OverrideMode>, store::rusqlite::Error> {
    let m: Option<Option<String>> = c
        .prepare_cached("SELECT override_mode FROM part_status WHERE part = ?1")?
        .query_row([part], |r| r.get(0))
        .optional()?;
    Ok(m.flatten().and_then(|m| m.parse().ok()))
}

fn ms_to_time(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

fn parse_time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

#[async_trait]
impl StatusStore for SqliteStore {
    async fn load(&self, part: &str) -> Result<StatusSnapshot, StoreError> {
        let part = part.to_owned();
        self.db
            .read_on_writer(move |c| load_snapshot(c, &part))
            .await
    }

    async fn record(
        &self,
        part: &str,
        expect: &StatusSnapshot,
        write: &CheckWrite,
    ) -> Result<RecordOutcome, StoreError> {
        let name = part.to_owned();
        let expect = expect.clone();
        let w = write.clone();
        self.db
            .write(move |tx| {
                // One writer per database: comparing the stored circuit and
                // error with the snapshot decides a race exactly as a version
                // would (a write always moves one of them or is a no-op).
                let now = load_snapshot(tx, &name)?;
                if now.circuit != expect.circuit || now.last_error != expect.last_error {
                    return Ok(RecordOutcome::Stale);
                }
                let at_ms = w.at.timestamp_millis();
                save_circuit(tx, &name, &w.circuit, w.at, w.ok, w.error.as_deref())?;
                tx.execute(
                    "INSERT INTO mon_checks (part, at_ms, ok, latency_ms, error) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![name, at_ms, w.ok, w.latency_ms as i64, w.error],
                )?;
                for (granularity, size) in ROLLUPS {
                    tx.execute(
                        "INSERT INTO mon_rollups (part, granularity, bucket_ms, checks, failures, latency_ms_sum, latency_ms_max)
                         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5)
                         ON CONFLICT (part, granularity, bucket_ms) DO UPDATE SET
                           checks = checks + 1,
                           failures = failures + excluded.failures,
                           latency_ms_sum = latency_ms_sum + excluded.latency_ms_sum,
                           latency_ms_max = max(latency_ms_max, excluded.latency_ms_max)",
                        params![name, granularity, at_ms - at_ms.rem_euclid(size), i64::from(!w.ok), w.latency_ms as i64],
                    )?;
                    tx.prepare_cached(
                        "INSERT INTO mon_latency_bins (part, granularity, bucket_ms, bin, checks)
                         VALUES (?1, ?2, ?3, ?4, 1)
                         ON CONFLICT (part, granularity, bucket_ms, bin) DO UPDATE SET checks = checks + 1",
                    )?
                    .execute(params![name, granularity, at_ms - at_ms.rem_euclid(size), bin_of(w.latency_ms) as i64])?;
                }
                let mut change_id = None;
                if let Some(ch) = &w.change {
                    tx.execute(
                        "INSERT INTO mon_status_changes (part, status, changed_ms, prev_status, prev_change_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            name,
                            ch.status.as_str(),
                            ch.changed_at.timestamp_millis(),
                            ch.prev_status.as_str(),
                            ch.prev_change_at.map(|t| t.timestamp_millis())
                        ],
                    )?;
                    change_id = Some(tx.last_insert_rowid());
                }
                Ok(RecordOutcome::Recorded { change_id })
            })
            .await
    }

    async fn unpublished_changes(&self, limit: usize) -> Result<Vec<StoredChange>, StoreError> {
        self.db
            .read(move |c| {
                query_changes(
                    c,
                    "SELECT id, part, status, changed_ms, prev_status, prev_change_ms
                     FROM mon_status_changes WHERE published = 0 ORDER BY id LIMIT ?1",
                    [limit as i64],
                )
            })
            .await
    }

    async fn mark_changes_published(&self, ids: &[i64]) -> Result<(), StoreError> {
        let ids = ids.to_vec();
        self.db
            .write(move |tx| {
                execute_over_id_runs(
                    tx,
                    "UPDATE mon_status_changes SET published = 1 WHERE id BETWEEN ?1 AND ?2",
                    &ids,
                )
            })
            .await
    }

    async fn changes_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredChange>, StoreError> {
        self.db
            .read(move |c| {
                query_changes(
                    c,
                    "SELECT id, part, status, changed_ms, prev_status, prev_change_ms
                     FROM mon_status_changes WHERE id > ?1 ORDER BY id LIMIT ?2",
                    [after, limit as i64],
                )
            })
            .await
    }

    async fn has_changes_after(&self, part: &str, after: i64) -> Result<bool, StoreError> {
        exists_change_after(&self.db, part, after).await
    }

    async fn claim_change_replay(&self, change_id: i64, owner: &str) -> Result<bool, StoreError> {
        let owner = owner.to_owned();
        self.db
            .write(move |tx| {
                let claimed = tx.execute(
                    "UPDATE mon_status_changes SET replay_by = ?2
                     WHERE id = ?1 AND (replay_by IS NULL OR replay_by = ?2)",
                    params![change_id, owner],
                )?;
                Ok(claimed == 1)
            })
            .await
    }

    async fn seed(&self, parts: &[String], now: DateTime<Utc>) -> Result<(), StoreError> {
        let names = parts.to_vec();
        let now = now.to_rfc3339();
        self.db
            .write(move |tx| {
                let mut stmt = tx.prepare(
                    "INSERT INTO part_status (part, status, updated_at) VALUES (?1, 'unknown', ?2)
                     ON CONFLICT (part) DO NOTHING",
                )?;
                for n in &names {
                    stmt.execute(params![n, now])?;
                }
                Ok(())
            })
            .await
    }

    async fn board(
        &self,
        _parts: &[String],
    ) -> Result<HashMap<String, StatusSnapshot>, StoreError> {
        // One read of every row (the board shows all configured parts).
        self.db
            .read(|c| {
                let mut stmt = c.prepare(
                    "SELECT part, status, changed_at, failures, successes, last_check_ms, last_error
                     FROM part_status",
                )?;
                let rows = stmt
                    .query_map([], |r| {
                        let status: String = r.get(1)?;
                        let changed_at: Option<String> = r.get(2)?;
                        let last_check_ms: Option<i64> = r.get(5)?;
                        Ok((
                            r.get(0)?,
                            StatusSnapshot {
                                circuit: Circuit {
                                    status: status.parse().unwrap_or(PartState::Unknown),
                                    changed_at: changed_at
                                        .as_deref()
                                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                                        .map(|t| t.with_timezone(&Utc)),
                                    failures: r.get(3)?,
                                    successes: r.get(4)?,
                                    ..Circuit::default()
                                },
                                last_error: r.get(6)?,
                                last_check_at: last_check_ms
                                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                                version: 0,
                            },
                        ))
                    })?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn stored_status(&self, part: &str) -> Result<Option<String>, StoreError> {
        let name = part.to_owned();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT status FROM part_status WHERE part = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()
            })
            .await
    }

    async fn lease_monitor(
        &self,
        part: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (part, owner) = (part.to_owned(), owner.to_owned());
        let (now, until) = (now.timestamp_millis(), until.timestamp_millis());
        self.db
            .write(move |tx| {
                let written = tx.execute(
                    "INSERT INTO mon_leases (part, owner, until_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (part) DO UPDATE SET owner = excluded.owner,
                         until_ms = excluded.until_ms
                     WHERE mon_leases.owner = excluded.owner OR mon_leases.until_ms < ?4",
                    params![part, owner, until, now],
                )?;
                Ok(written == 1)
            })
            .await
    }
}

/// (`has_changes_after`'s SQL, moved from the recovery's sweeper.)
async fn exists_change_after(db: &Db, part: &str, after: i64) -> Result<bool, StoreError> {
    let part = part.to_owned();
    db.read(move |c| {
        c.query_row(
            "SELECT EXISTS(SELECT 1 FROM mon_status_changes WHERE part = ?1 AND id > ?2)",
            params![part, after],
            |r| r.get(0),
        )
    })
    .await
}

fn query_changes(
    c: &Connection,
    sql: &str,
    args: impl store::rusqlite::Params,
) -> Result<Vec<StoredChange>, store::rusqlite::Error> {
    let mut stmt = c.prepare(sql)?;
    let rows = stmt
        .query_map(args, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, part, status, changed, prev, prev_changed)| {
            Some(StoredChange {
                id,
                part,
                change: StatusChange {
                    status: status.parse().ok()?,
                    changed_at: ms_to_time(changed)?,
                    prev_status: prev.parse().ok()?,
                    prev_change_at: prev_changed.and_then(ms_to_time),
                },
            })
        })
        .collect())
}

fn load_snapshot(c: &Connection, part: &str) -> Result<StatusSnapshot, store::rusqlite::Error> {
    let row = c
        .query_row(
            "SELECT status, changed_at, prev_status, prev_change_at, failures, successes, last_error,
                    last_check_ms
             FROM part_status WHERE part = ?1",
            [part],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, u32>(4)?,
                    r.get::<_, u32>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                ))
            },
        )
        .optional()?;
    Ok(match row {
        None => StatusSnapshot {
            circuit: Circuit::default(),
            last_error: None,
            last_check_at: None,
            version: 0,
        },
        Some((status, changed, prev, prev_changed, failures, successes, last_error, checked)) => {
            StatusSnapshot {
                circuit: Circuit {
                    status: match status.parse().unwrap_or(PartState::Unknown) {
                        PartState::Pending => PartState::Up,
                        s => s,
                    },
                    changed_at: parse_time(changed),
                    prev_status: prev.and_then(|p| p.parse().ok()),
                    prev_change_at: parse_time(prev_changed),
                    failures,
                    successes,
                },
                last_error,
                last_check_at: checked.and_then(ms_to_time),
                version: 0,
            }
        }
    })
}

fn save_circuit(
    tx: &Transaction<'_>,
    part: &str,
    c: &Circuit,
    at: DateTime<Utc>,
    ok: bool,
    error: Option<&str>,
) -> Result<(), store::rusqlite::Error> {
    let fmt = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339());
    tx.execute(
        "INSERT INTO part_status (part, status, changed_at, prev_status, prev_change_at, updated_at,
                                  failures, successes, last_check_ms, last_check_ok, last_error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (part) DO UPDATE SET
           status = excluded.status, changed_at = excluded.changed_at,
           prev_status = excluded.prev_status, prev_change_at = excluded.prev_change_at,
           updated_at = excluded.updated_at, failures = excluded.failures,
           successes = excluded.successes, last_check_ms = excluded.last_check_ms,
           last_check_ok = excluded.last_check_ok, last_error = excluded.last_error",
        params![
            part,
            c.status.as_str(),
            fmt(c.changed_at),
            c.prev_status.map(|s| s.as_str()),
            fmt(c.prev_change_at),
            at.to_rfc3339(),
            c.failures,
            c.successes,
            at.timestamp_millis(),
            ok,
            error,
        ],
    )?;
    Ok(())
}

const CHANGE_COLUMNS: &str = "id, part, changed_ms, status, prev_status";

fn change_row(r: &store::rusqlite::Row<'_>) -> store::rusqlite::Result<ChangeRow> {
    Ok(ChangeRow {
        id: r.get(0)?,
        part: r.get(1)?,
        at_ms: r.get(2)?,
        status: r.get(3)?,
        prev_status: r.get(4)?,
    })
}

#[async_trait]
impl MonitorHistory for SqliteStore {
    async fn check_totals(&self, part: &str) -> Result<(u64, u64), StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT coalesce(sum(checks), 0), coalesce(sum(failures), 0) FROM mon_rollups
                     WHERE granularity = 'day' AND part = ?1",
                )?
                .query_row([part], |r| {
                    let (all, failed): (i64, i64) = (r.get(0)?, r.get(1)?);
                    Ok((all.max(0) as u64, failed.max(0) as u64))
                })
            })
            .await
    }

    async fn changes_around(
        &self,
        part: &str,
        a: i64,
        b: i64,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                let from: Option<i64> = c
                    .prepare_cached(
                        "SELECT max(changed_ms) FROM mon_status_changes
                         WHERE part = ?1 AND changed_ms <= ?2",
                    )?
                    .query_row(params![part, a], |r| r.get(0))?;
                let mut rows: Vec<ChangeRow> = c
                    .prepare_cached(&format!(
                        "SELECT {CHANGE_COLUMNS} FROM mon_status_changes
                         WHERE part = ?1 AND changed_ms >= ?2 AND changed_ms < ?3
                         ORDER BY changed_ms, id"
                    ))?
                    .query_map(params![part, from.unwrap_or(i64::MIN), b], change_row)?
                    .collect::<Result<_, _>>()?;
                let next = c
                    .prepare_cached(&format!(
                        "SELECT {CHANGE_COLUMNS} FROM mon_status_changes
                         WHERE part = ?1 AND changed_ms >= ?2 ORDER BY changed_ms, id LIMIT 1"
                    ))?
                    .query_row(params![part, b], change_row)
                    .optional()?;
                rows.extend(next);
                Ok(rows)
            })
            .await
    }

    async fn checked_hours(&self, part: &str, lo: i64, hi: i64) -> Result<Vec<i64>, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                // A walk of the primary key (at most 24 rows a day).
                c.prepare_cached(
                    "SELECT bucket_ms FROM mon_rollups
                     WHERE part = ?1 AND granularity = 'hour' AND bucket_ms >= ?2 AND bucket_ms < ?3
                     ORDER BY bucket_ms",
                )?
                .query_map(params![part, lo, hi], |r| r.get(0))?
                .collect()
            })
            .await
    }

    async fn latency_rollups(
        &self,
        part: &str,
        granularity: &str,
        lo: i64,
        hi: i64,
    ) -> Result<Vec<LatencyRollup>, StoreError> {
        let (part, granularity) = (part.to_owned(), granularity.to_owned());
        self.db
            .read(move |c| {
                // A walk of the primary key: the bins of each roll-up in order.
                let rows: Vec<(i64, i64, i64)> = c
                    .prepare_cached(
                        "SELECT bucket_ms, bin, checks FROM mon_latency_bins
                         WHERE part = ?1 AND granularity = ?2 AND bucket_ms >= ?3 AND bucket_ms < ?4
                         ORDER BY bucket_ms, bin",
                    )?
                    .query_map(params![part, granularity, lo, hi], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?
                    .collect::<Result<_, _>>()?;
                let mut out: Vec<LatencyRollup> = Vec::new();
                for (bucket_ms, bin, checks) in rows {
                    if out.last().is_none_or(|r| r.bucket_ms != bucket_ms) {
                        out.push(LatencyRollup {
                            bucket_ms,
                            histogram: LatencyHistogram::default(),
                        });
                    }
                    if let Some(r) = out.last_mut() {
                        r.histogram.add(bin.max(0) as usize, checks.max(0) as u64);
                    }
                }
                Ok(out)
            })
            .await
    }

    async fn downs_before(
        &self,
        before: i64,
        part: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        let part = part.map(str::to_owned);
        self.db
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {CHANGE_COLUMNS} FROM mon_status_changes
                     WHERE status = 'down' AND id < ?1 AND (?2 IS NULL OR part = ?2)
                     ORDER BY id DESC LIMIT ?3"
                ))?
                .query_map(params![before, part, limit as i64], change_row)?
                .collect()
            })
            .await
    }

    async fn change(&self, id: i64) -> Result<Option<ChangeRow>, StoreError> {
        self.db
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {CHANGE_COLUMNS} FROM mon_status_changes WHERE id = ?1"
                ))?
                .query_row([id], change_row)
                .optional()
            })
            .await
    }

    async fn next_change(
        &self,
        part: &str,
        at_ms: i64,
        id: i64,
    ) -> Result<Option<ChangeRow>, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {CHANGE_COLUMNS} FROM mon_status_changes
                     WHERE part = ?1 AND (changed_ms > ?2 OR (changed_ms = ?2 AND id > ?3))
                     ORDER BY changed_ms, id LIMIT 1"
                ))?
                .query_row(params![part, at_ms, id], change_row)
                .optional()
            })
            .await
    }
}
