//! Replays: archived events of a time window sent back through the bus with
//! a top-level `replay-name`, in 1-minute slices of event time.
//!
//! Each step reads one chunk of the window in `(event_time, seq)` order,
//! routes it (enabled non-archive rules, only `FilterArns` if given), writes
//! the deliveries and advances the persisted cursor in the same transaction,
//! so a replay interrupted by a crash resumes where its last chunk ended and
//! nothing is replayed twice. `EventLastReplayedTime` is the end of the last
//! completed 1-minute slice (absent while none is, and for a replay whose
//! window held no event).

use std::sync::Arc;
use std::time::Duration;

use store::rusqlite::{params, OptionalExtension, Row as SqlRow};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::control::check_name;
use crate::ingest::with_replay_name;
use crate::routing::{apply_rows, ReplayFilter, Row};
use crate::types::{
    ListReplaysResponse, ListRequest, Replay, ReplayDestination, StartReplayRequest,
};
use crate::{arn_tail, paginate, Bus, BusError, BusResult, Timestamp};

/// Width of a replay slice.
pub const SLICE_MS: i64 = 60_000;
/// Replays that may be active at once (AWS quota).
pub const MAX_ACTIVE_REPLAYS: i64 = 10;
const STATES: [&str; 6] = [
    "STARTING",
    "RUNNING",
    "CANCELLING",
    "COMPLETED",
    "CANCELLED",
    "FAILED",
];

/// What one [`Bus::replay_step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayProgress {
    /// More events remain.
    Running,
    /// The replay reached a final state.
    Finished,
}

impl Bus {
    /// `StartReplay`.
    pub async fn start_replay(&self, req: StartReplayRequest) -> BusResult<Replay> {
        check_name("replayName", &req.replay_name, 64, false)?;
        let archive = arn_tail(&req.event_source_arn, ":archive/")
            .filter(|_| req.event_source_arn.starts_with("arn:aws:events:"))
            .ok_or_else(|| BusError::Validation("Parameter EventSourceArn is not valid.".into()))?;
        let (start, end) = match (req.event_start_time, req.event_end_time) {
            (Some(s), Some(e)) => (s, e),
            _ => {
                return Err(BusError::Validation(
                    "Parameter(s) EventStartTime and EventEndTime must be specified.".into(),
                ))
            }
        };
        if start >= end {
            return Err(BusError::Validation(
                "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime.".into(),
            ));
        }
        let (archive_id, a) = self.archive_row(archive).await.map_err(|_| {
            BusError::Validation(format!(
                "Parameter EventSourceArn is not valid. Reason: Archive {archive} does not exist."
            ))
        })?;
        let source_bus_arn = a.event_source_arn.clone().unwrap_or_default();
        // AWS names a destination bus that does not exist before refusing a
        // replay to another bus.
        self.existing_bus_of_arn(&req.destination.arn, "Destination.Arn")?;
        if req.destination.arn != source_bus_arn {
            return Err(BusError::Validation(
                "Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not permitted.".into(),
            ));
        }
        let bus = arn_tail(&source_bus_arn, ":event-bus/")
            .unwrap_or_default()
            .to_string();
        if let Some(filters) = &req.destination.filter_arns {
            let routing = self.routing(&bus).ok_or_else(|| {
                BusError::ResourceNotFound(format!("Event bus {bus} does not exist."))
            })?;
            for f in filters {
                if !routing
                    .rules
                    .iter()
                    .any(|r| r.arn == *f && r.archive_id.is_none())
                {
                    return Err(BusError::Validation(format!(
                        "Parameter Destination.FilterArns is not valid. Reason: Rule {f} does not exist on event bus {bus}."
                    )));
                }
            }
        }
        let filter_json = req
            .destination
            .filter_arns
            .as_ref()
            .map(|f| serde_json::to_string(f).unwrap_or_default());
        let now = Timestamp::now().0;
        let (r, a_name, b2) = (req.clone(), archive.to_string(), bus.clone());
        let outcome = self
            .inner
            .db
            .write(move |tx| {
                if tx.query_row("SELECT EXISTS(SELECT 1 FROM eb_replays WHERE name = ?1)", [&r.replay_name], |x| x.get::<_, bool>(0))? {
                    return Ok(Err(BusError::ResourceAlreadyExists(format!("Replay {} already exists.", r.replay_name))));
                }
                let active: i64 = tx.query_row(
                    "SELECT count(*) FROM eb_replays WHERE state IN ('STARTING', 'RUNNING', 'CANCELLING')",
                    [],
                    |x| x.get(0),
                )?;
                if active >= MAX_ACTIVE_REPLAYS {
                    return Ok(Err(BusError::LimitExceeded("The requested resource exceeds the maximum number allowed.".into())));
                }
                tx.execute(
                    "INSERT INTO eb_replays (name, description, archive, archive_id, bus, start_ms, end_ms, filter_arns, state, started_ms, cursor_time, cursor_seq)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'STARTING', ?9, ?6, 0)",
                    params![r.replay_name, r.description, a_name, archive_id, b2, start.0, end.0, filter_json, now],
                )?;
                Ok(Ok(()))
            })
            .await?;
        outcome?;
        self.inner.replay_notify.notify_one();
        Ok(Replay {
            replay_arn: Some(self.replay_arn(&req.replay_name)),
            state: "STARTING".into(),
            replay_start_time: Some(Timestamp(now)),
            ..Default::default()
        })
    }

    fn replay_from_row(&self, r: &SqlRow<'_>) -> store::rusqlite::Result<Replay> {
        let name: String = r.get(0)?;
        let bus: String = r.get(3)?;
        let filters: Option<String> = r.get(6)?;
        Ok(Replay {
            replay_arn: Some(self.replay_arn(&name)),
            replay_name: Some(name),
            description: r.get(1)?,
            event_source_arn: Some(self.archive_arn(&r.get::<_, String>(2)?)),
            destination: Some(ReplayDestination {
                arn: self.bus_arn(&bus),
                filter_arns: filters.and_then(|f| serde_json::from_str(&f).ok()),
            }),
            event_start_time: Some(Timestamp(r.get(4)?)),
            event_end_time: Some(Timestamp(r.get(5)?)),
            state: r.get(7)?,
            state_reason: r.get(8)?,
            replay_start_time: Some(Timestamp(r.get(9)?)),
            replay_end_time: r.get::<_, Option<i64>>(10)?.map(Timestamp),
            event_last_replayed_time: r.get::<_, Option<i64>>(11)?.map(Timestamp),
        })
    }

    const REPLAY_COLS: &'static str =
        "SELECT name, description, archive, bus, start_ms, end_ms, filter_arns, state, state_reason, started_ms, ended_ms, last_replayed_ms FROM eb_replays";

    /// `DescribeReplay`.
    pub async fn describe_replay(&self, name: &str) -> BusResult<Replay> {
        let me = self.clone();
        let n2 = name.to_string();
        self.inner
            .db
            .read(move |c| {
                c.query_row(
                    &format!("{} WHERE name = ?1", Self::REPLAY_COLS),
                    [&n2],
                    |r| me.replay_from_row(r),
                )
                .optional()
            })
            .await?
            .ok_or_else(|| BusError::ResourceNotFound(format!("Replay {name} does not exist.")))
    }

    /// `ListReplays` (filters NamePrefix, State, EventSourceArn).
    pub async fn list_replays(&self, req: ListRequest) -> BusResult<ListReplaysResponse> {
        if let Some(s) = &req.state {
            if !STATES.contains(&s.as_str()) {
                return Err(BusError::Validation(format!(
                    "1 validation error detected: Value '{s}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [CANCELLED, RUNNING, STARTING, COMPLETED, CANCELLING, FAILED]"
                )));
            }
        }
        let me = self.clone();
        let all: Vec<Replay> = self
            .inner
            .db
            .read(move |c| {
                c.prepare(&format!("{} ORDER BY name", Self::REPLAY_COLS))?
                    .query_map([], |r| me.replay_from_row(r))?
                    .collect()
            })
            .await?;
        let prefix = req.name_prefix.unwrap_or_default();
        let all = all
            .into_iter()
            .filter(|r| {
                r.replay_name
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with(&prefix)
            })
            .filter(|r| req.state.as_ref().is_none_or(|s| *s == r.state))
            .filter(|r| {
                req.event_source_arn
                    .as_ref()
                    .is_none_or(|s| Some(s) == r.event_source_arn.as_ref())
            })
            .map(|mut r| {
                r.replay_arn = None;
                r.description = None;
                r.destination = None;
                r
            })
            .collect();
        let (replays, next_token) = paginate(all, req.next_token.as_deref(), req.limit)?;
        Ok(ListReplaysResponse {
            replays,
            next_token,
        })
    }

    /// `CancelReplay`: only a STARTING or RUNNING replay can be cancelled.
    pub async fn cancel_replay(&self, name: &str) -> BusResult<Replay> {
        let n2 = name.to_string();
        let outcome = self
            .inner
            .db
            .write(move |tx| {
                let state: Option<String> = tx
                    .query_row("SELECT state FROM eb_replays WHERE name = ?1", [&n2], |r| {
                        r.get(0)
                    })
                    .optional()?;
                Ok(match state.as_deref() {
                    None => Err(BusError::ResourceNotFound(format!(
                        "Replay {n2} does not exist."
                    ))),
                    Some("STARTING" | "RUNNING") => {
                        tx.execute(
                            "UPDATE eb_replays SET state = 'CANCELLING' WHERE name = ?1",
                            [&n2],
                        )?;
                        Ok(())
                    }
                    Some(s) => Err(BusError::IllegalStatus(format!(
                        "Replay {n2} is not in a valid state for this operation (state {s})."
                    ))),
                })
            })
            .await?;
        outcome?;
        self.inner.replay_notify.notify_one();
        Ok(Replay {
            replay_arn: Some(self.replay_arn(name)),
            state: "CANCELLING".into(),
            ..Default::default()
        })
    }

    /// Replays one chunk of `name` (or moves it to its final state); the unit
    /// the background task repeats, tested on its own.
    pub async fn replay_step(&self, name: &str) -> BusResult<ReplayProgress> {
        let n2 = name.to_string();
        let row: Option<(String, String, i64)> = self
            .inner
            .db
            .read(move |c| {
                c.query_row(
                    "SELECT bus, archive, archive_id FROM eb_replays WHERE name = ?1",
                    [&n2],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
            })
            .await?;
        let Some((bus, archive, _)) = row else {
            return Ok(ReplayProgress::Finished);
        };
        let routing = self.routing(&bus);
        let chunk = self.inner.cfg.replay_chunk.max(1) as i64;
        let n2 = name.to_string();
        let now = Timestamp::now().0;
        let (progress, queued, deferred, read, matches) = self
            .inner
            .db
            .write(move |tx| {
                let (state, archive_id, start, end, filters, ct, cs): (String, i64, i64, i64, Option<String>, i64, i64) = tx.query_row(
                    "SELECT state, archive_id, start_ms, end_ms, filter_arns, cursor_time, cursor_seq FROM eb_replays WHERE name = ?1",
                    [&n2],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
                )?;
                let finish = |state: &str, reason: Option<String>| {
                    tx.execute(
                        "UPDATE eb_replays SET state = ?2, state_reason = ?3, ended_ms = ?4 WHERE name = ?1",
                        params![n2, state, reason, now],
                    )
                };
                match state.as_str() {
                    "CANCELLING" => {
                        finish("CANCELLED", None)?;
                        return Ok((ReplayProgress::Finished, 0, 0, 0, 0));
                    }
                    "STARTING" => {
                        tx.execute("UPDATE eb_replays SET state = 'RUNNING' WHERE name = ?1", [&n2])?;
                    }
                    "RUNNING" => {}
                    _ => return Ok((ReplayProgress::Finished, 0, 0, 0, 0)),
                }
                let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM eb_archives WHERE id = ?1)", [archive_id], |r| r.get(0))?;
                let Some(routing) = routing.filter(|_| exists) else {
                    finish("FAILED", Some("The archive or its event bus was deleted.".into()))?;
                    return Ok((ReplayProgress::Finished, 0, 0, 0, 0));
                };
                let filters: Option<Vec<String>> = filters.and_then(|f| serde_json::from_str(&f).ok());
                let filter = ReplayFilter { filter_arns: filters.as_deref() };
                let mut stmt = tx.prepare_cached(
                    "SELECT seq, event_time, body FROM eb_archive_events
                     WHERE archive_id = ?1 AND event_time < ?2 AND (event_time, seq) > (?3, ?4)
                     ORDER BY event_time, seq LIMIT ?5",
                )?;
                let mut rows: Vec<Row> = Vec::new();
                let mut read = 0i64;
                let mut matches = 0u64;
                let mut last = (ct, cs);
                let mut q = stmt.query(params![archive_id, end, ct, cs, chunk])?;
                while let Some(r) = q.next()? {
                    let seq: i64 = r.get(0)?;
                    let t: i64 = r.get(1)?;
                    let body = r.get_ref(2)?.as_blob()?;
                    let replayed: Arc<[u8]> = Arc::from(with_replay_name(body, &n2));
                    matches += routing.route(&replayed, t, Some(&filter), &mut rows);
                    read += 1;
                    last = (t, seq);
                }
                drop(q);
                let (queued, deferred) = apply_rows(tx, &rows, now)?;
                if read < chunk {
                    // A replay that found no event in its window has no
                    // EventLastReplayedTime (AWS omits it); the cursor's
                    // sequence is 0 until a first event is read.
                    let replayed_any = read > 0 || cs > 0;
                    tx.execute(
                        "UPDATE eb_replays SET state = 'COMPLETED', ended_ms = ?2,
                            last_replayed_ms = CASE WHEN ?4 THEN ?3 ELSE last_replayed_ms END,
                            cursor_time = ?3, cursor_seq = 0 WHERE name = ?1",
                        params![n2, now, end, replayed_any],
                    )?;
                    return Ok((ReplayProgress::Finished, queued, deferred, read, matches));
                }
                // Every slice that ends at or before the last event's slice start is complete.
                let done = start + (last.0 - start) / SLICE_MS * SLICE_MS;
                tx.execute(
                    "UPDATE eb_replays SET cursor_time = ?2, cursor_seq = ?3,
                        last_replayed_ms = CASE WHEN ?4 > ?5 THEN ?4 ELSE last_replayed_ms END WHERE name = ?1",
                    params![n2, last.0, last.1, done, start],
                )?;
                Ok((ReplayProgress::Running, queued, deferred, read, matches))
            })
            .await?;
        // Counted once committed: a step that failed is done again.
        let stats = &self.inner.stats;
        stats.add_replayed(&archive, read.max(0) as u64);
        crate::stats::Counters::add(&stats.matches, matches);
        if queued > 0 {
            self.inner.queue_notify.notify_waiters();
        }
        if deferred > 0 {
            self.inner.delivery_notify.notify_one();
        }
        Ok(progress)
    }

    /// Names of replays that still have work (STARTING, RUNNING, CANCELLING).
    pub async fn active_replays(&self) -> BusResult<Vec<String>> {
        Ok(self
            .inner
            .db
            .read(|c| {
                c.prepare("SELECT name FROM eb_replays WHERE state IN ('STARTING', 'RUNNING', 'CANCELLING') ORDER BY started_ms")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .await?)
    }

    /// Runs `name` to its end (the per-replay background task).
    pub async fn run_replay(&self, name: &str, shutdown: &CancellationToken) {
        let delay = self.inner.cfg.replay_chunk_delay;
        while !shutdown.is_cancelled() {
            match self.replay_step(name).await {
                Ok(ReplayProgress::Finished) => break,
                Ok(ReplayProgress::Running) => {
                    if delay.is_zero() {
                        tokio::task::yield_now().await;
                    } else {
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(replay = name, "replay step failed: {e}");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }
}

/// The replay scheduler: starts one task per active replay (also after a
/// restart, so interrupted replays resume from their cursor).
pub(crate) async fn run(bus: Bus, tracker: TaskTracker, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(bus.inner.cfg.replay_poll);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
            _ = bus.inner.replay_notify.notified() => {
                // Let STARTING be observable (and cancellable) for a moment, as on AWS.
                tokio::time::sleep(bus.inner.cfg.replay_poll).await;
            }
        }
        let names = match bus.active_replays().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("cannot list replays: {e}");
                continue;
            }
        };
        for name in names {
            let fresh = bus
                .inner
                .running_replays
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name.clone());
            if !fresh {
                continue;
            }
            let (b, s) = (bus.clone(), shutdown.clone());
            tracker.spawn(async move {
                tracing::info!(replay = %name, "replay running");
                b.run_replay(&name, &s).await;
                b.inner
                    .running_replays
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&name);
                tracing::info!(replay = %name, "replay task ended");
            });
        }
    }
}
