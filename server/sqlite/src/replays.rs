//! [`SqliteReplays`]: the [`ReplayStore`] port on SQLite's `rec_*` tables.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use mediator_core::replay_records::{
    tally, Counted, HandledEvent, NewReplay, Progress, Recorded, ReplayRecord,
};
use mediator_core::storage::replays::ReplayStore;
use mediator_core::storage::StoreError;
use store::rusqlite::{params, OptionalExtension, Row};
use store::Database;

use crate::db::Db;

/// [`ReplayStore`] on the embedded database (`rec_replays`,
/// `rec_replay_items`, `rec_latest`, `rec_cursor`).
#[derive(Clone)]
pub struct SqliteReplays {
    db: Db,
}

impl SqliteReplays {
    /// The replay records of `db`.
    pub fn new(db: Database) -> Self {
        Self { db: db.into() }
    }
}

const CURSOR: &str = "status_changes";
const REPLAY_COLS: &str = "name, part, archive, start_ms, end_ms, created_ms, trigger, started,
    start_error, expected, processed, resubmitted, skipped, failed, started_by";

/// The part's most recently recorded replay (rowids only grow: replay
/// records are never deleted).
const NEWEST_OF_PART: &str =
    "SELECT name FROM rec_replays WHERE part = ?1 ORDER BY rowid DESC LIMIT 1";

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn replay_record(r: &Row<'_>) -> store::rusqlite::Result<ReplayRecord> {
    Ok(ReplayRecord {
        name: r.get(0)?,
        part: r.get(1)?,
        archive: r.get(2)?,
        window_start: time(r.get(3)?),
        window_end: time(r.get(4)?),
        created_at: time(r.get(5)?),
        trigger: r.get(6)?,
        started: r.get(7)?,
        start_error: r.get(8)?,
        progress: Progress {
            expected: r.get(9)?,
            processed: r.get(10)?,
            resubmitted: r.get(11)?,
            skipped: r.get(12)?,
            failed: r.get(13)?,
        },
        by: r.get(14)?,
    })
}

#[async_trait]
impl ReplayStore for SqliteReplays {
    async fn cursor(&self) -> Result<i64, StoreError> {
        self.db
            .read(|c| {
                c.query_row(
                    "SELECT value FROM rec_cursor WHERE name = ?1",
                    [CURSOR],
                    |r| r.get(0),
                )
                .optional()
                .map(|v| v.unwrap_or(0))
            })
            .await
    }

    async fn advance_cursor(&self, id: i64) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO rec_cursor (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
                    params![CURSOR, id],
                )
                .map(drop)
            })
            .await
    }

    async fn create(&self, new: &NewReplay) -> Result<Recorded, StoreError> {
        let new = new.clone();
        self.db
            .write(move |tx| {
                if let Some(id) = new.change_id {
                    let existing: Option<String> = tx
                        .query_row(
                            "SELECT name FROM rec_replays WHERE status_change_id = ?1",
                            [id],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if let Some(n) = existing {
                        return Ok(Recorded::Name(n));
                    }
                }
                let newest: Option<String> = tx
                    .prepare_cached(NEWEST_OF_PART)?
                    .query_row([&new.part], |r| r.get(0))
                    .optional()?;
                if let Some(newest) = newest.filter(|n| Some(n) != new.after.as_ref()) {
                    return Ok(Recorded::Superseded(newest));
                }
                let mut offset = 0;
                let name = loop {
                    let n = new.name_at(offset);
                    let taken: bool = tx.query_row(
                        "SELECT EXISTS(SELECT 1 FROM rec_replays WHERE name = ?1)",
                        [&n],
                        |r| r.get(0),
                    )?;
                    if !taken {
                        break n;
                    }
                    offset += 1;
                };
                tx.execute(
                    "INSERT INTO rec_replays (name, part, archive, start_ms, end_ms, created_ms, trigger,
                        status_change_id, expected, started_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        name,
                        new.part,
                        new.archive,
                        new.start.timestamp_millis(),
                        new.end.timestamp_millis(),
                        new.created_at.timestamp_millis(),
                        new.trigger,
                        new.change_id,
                        new.expected,
                        new.by
                    ],
                )?;
                Ok(Recorded::Name(name))
            })
            .await
    }

    async fn newest_of_part(&self, part: &str) -> Result<Option<ReplayRecord>, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                c.query_row(
                    &format!(
                        "SELECT {REPLAY_COLS} FROM rec_replays WHERE part = ?1
                         ORDER BY rowid DESC LIMIT 1"
                    ),
                    [part],
                    replay_record,
                )
                .optional()
            })
            .await
    }

    async fn mark_started(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE rec_replays SET started = 1 WHERE name = ?1",
                    [&name],
                )?;
                tx.execute(
                    "INSERT INTO rec_latest (part, replay, start_ms, end_ms)
                       SELECT part, name, start_ms, end_ms FROM rec_replays WHERE name = ?1
                     ON CONFLICT (part) DO UPDATE SET replay = excluded.replay,
                       start_ms = excluded.start_ms, end_ms = excluded.end_ms",
                    [&name],
                )?;
                Ok(())
            })
            .await
    }

    async fn mark_refused(&self, name: &str, reason: &str) -> Result<(), StoreError> {
        let (name, reason) = (name.to_owned(), reason.to_owned());
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE rec_replays SET start_error = ?2 WHERE name = ?1",
                    params![name, reason],
                )
                .map(drop)
            })
            .await
    }

    async fn get(&self, name: &str) -> Result<Option<ReplayRecord>, StoreError> {
        let name = name.to_owned();
        self.db
            .read(move |c| {
                c.query_row(
                    &format!("SELECT {REPLAY_COLS} FROM rec_replays WHERE name = ?1"),
                    [name],
                    replay_record,
                )
                .optional()
            })
            .await
    }

    async fn newest(
        &self,
        part: Option<&str>,
        started_only: bool,
        limit: usize,
    ) -> Result<Vec<ReplayRecord>, StoreError> {
        let part = part.map(str::to_owned);
        self.db
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {REPLAY_COLS} FROM rec_replays
                     WHERE (?1 IS NULL OR part = ?1) AND (NOT ?2 OR started = 1)
                     ORDER BY created_ms DESC, name DESC LIMIT ?3"
                ))?
                .query_map(params![part, started_only, limit as i64], replay_record)?
                .collect()
            })
            .await
    }

    async fn overlapping(
        &self,
        part: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<ReplayRecord>, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {REPLAY_COLS} FROM rec_replays
                     WHERE part = ?1 AND start_ms <= ?3 AND end_ms >= ?2
                     ORDER BY created_ms, name"
                ))?
                .query_map(params![part, start, end], replay_record)?
                .collect()
            })
            .await
    }

    async fn latest_interval(
        &self,
        part: &str,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT start_ms, end_ms FROM rec_latest WHERE part = ?1",
                    [part],
                    |r| Ok((time(r.get(0)?), time(r.get(1)?))),
                )
                .optional()
            })
            .await
    }

    async fn resubmitted_total(&self, part: &str) -> Result<i64, StoreError> {
        let part = part.to_owned();
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT coalesce(sum(resubmitted), 0) FROM rec_replays WHERE part = ?1",
                )?
                .query_row([part], |r| r.get(0))
            })
            .await
    }

    async fn seen(&self, pairs: &[(String, String)]) -> Result<Vec<bool>, StoreError> {
        let pairs = pairs.to_vec();
        // On the writer: the drain interleaves these reads with its own
        // commits, which would make a read-only connection re-read its pages.
        self.db
            .read_on_writer(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM rec_replay_items WHERE replay = ?1 AND event_id = ?2)",
                )?;
                pairs
                    .iter()
                    .map(|(r, e)| stmt.query_row(params![r, e], |x| x.get(0)))
                    .collect()
            })
            .await
    }

    async fn count(&self, events: &[HandledEvent]) -> Result<Vec<Counted>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let items = events.to_vec();
        self.db
            .write(move |tx| {
                let now = Utc::now().timestamp_millis();
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO rec_replay_items (replay, event_id, loyalty_request_id, outcome, at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                // Per replay: newly counted (resubmitted, skipped, failed),
                // added in one UPDATE per replay rather than one per item.
                let mut touched: Vec<(&str, [i64; 3])> = Vec::new();
                for e in &items {
                    let row = params![
                        e.replay,
                        e.event_id,
                        e.loyalty_request_id,
                        e.outcome.as_str(),
                        now
                    ];
                    if insert.execute(row)? == 0 {
                        continue;
                    }
                    tally(&mut touched, e);
                }
                let mut add = tx.prepare_cached(
                    "UPDATE rec_replays SET processed = processed + ?2 + ?3 + ?4,
                        resubmitted = resubmitted + ?2, skipped = skipped + ?3, failed = failed + ?4
                     WHERE name = ?1",
                )?;
                for (r, [resubmitted, skipped, failed]) in &touched {
                    add.execute(params![r, resubmitted, skipped, failed])?;
                }
                let mut progress = tx.prepare_cached(
                    "SELECT part, processed, expected FROM rec_replays WHERE name = ?1",
                )?;
                let mut out = Vec::new();
                for (r, _) in touched {
                    if let Some((part, processed, expected)) = progress
                        .query_row([r], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                        .optional()?
                    {
                        out.push(Counted {
                            replay: r.to_owned(),
                            part,
                            processed,
                            expected,
                        });
                    }
                }
                Ok(out)
            })
            .await
    }

    async fn outcomes(&self, replay: &str) -> Result<Vec<(String, String)>, StoreError> {
        let replay = replay.to_owned();
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT loyalty_request_id, outcome FROM rec_replay_items WHERE replay = ?1",
                )?
                .query_map([replay], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
            })
            .await
    }
}
