//! Starting a replay (one active replay per part, recorded before the bus
//! is asked), following it, and cancelling it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{Recovery, RecoveryError, ReplayError, ReplayInfo, ReplayRecord, ReplayRequest};
use crate::part::PartName;
use crate::replay_records::{NewReplay, Recorded};

/// Replay states in which a replay is still active.
pub const ACTIVE_STATES: [&str; 3] = ["STARTING", "RUNNING", "CANCELLING"];

/// How long a recorded replay that the bus does not know yet (and that was
/// neither started nor refused) counts as active: the moment between one
/// replica recording a replay and the bus starting it, during which another
/// replica must not start a second one. A record left so by a crash or a
/// failed start stops blocking the part after this.
pub const STARTING_GRACE: Duration = Duration::from_secs(30);

/// Attempts at recording a replay while other replicas record theirs.
const RECORD_ATTEMPTS: usize = 3;

impl Recovery {
    /// Replays `part`'s archive over `[start, end)` to its resubmit rule (a
    /// recovery when `change_id` names the down→up change, or a manual
    /// replay), records it with the expected count, who started it (`by`)
    /// and as the part's latest replay interval.
    pub async fn start_window(
        &self,
        part: &PartName,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        trigger: &'static str,
        by: &str,
        change_id: Option<i64>,
    ) -> Result<ReplayRecord, RecoveryError> {
        let by = by.trim().to_owned();
        if by.is_empty() {
            return Err(RecoveryError::Invalid {
                field: "by",
                reason: "must name who starts the replay".into(),
            });
        }
        if start >= end {
            return Err(RecoveryError::Invalid {
                field: "start",
                reason: "must be before end".into(),
            });
        }
        let _one_at_a_time = self.start_lock.lock().await;
        let archive = self.part_recovery(part).archive;
        let expected = self
            .flow
            .cache()
            .count_retry_events(part.as_str(), start, end)
            .await?;
        // One record per replay, written before asking the bus: a recovery
        // that is retried after a failure or a crash finds its record (and
        // name) again. The record is refused when another replica recorded
        // a replay of the part since the check (the store compares the
        // part's newest record in the same write); the check runs again.
        let mut recorded = None;
        let mut newer = String::new();
        for _ in 0..RECORD_ATTEMPTS {
            let newest = self.records.newest_of_part(part.as_str()).await?;
            if let Some(active) = self.active_among(part.as_str(), newest.as_ref()).await? {
                return Err(RecoveryError::Busy {
                    part: part.to_string(),
                    replay: active,
                });
            }
            let new = NewReplay {
                part: part.to_string(),
                archive: archive.clone(),
                start,
                end,
                created_at: Utc::now(),
                trigger: trigger.to_owned(),
                change_id,
                expected,
                by: by.clone(),
                after: newest.map(|r| r.name),
            };
            match self.records.create(&new).await? {
                Recorded::Name(name) => {
                    recorded = Some(name);
                    break;
                }
                Recorded::Superseded(name) => newer = name,
            }
        }
        let Some(name) = recorded else {
            return Err(RecoveryError::Busy {
                part: part.to_string(),
                replay: newer,
            });
        };
        let req = ReplayRequest {
            name: name.clone(),
            part: part.clone(),
            archive,
            start,
            end,
        };
        let started = match self.replays.start_replay(&req).await {
            Ok(()) | Err(ReplayError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
        };
        match &started {
            Ok(()) => self.records.mark_started(&name).await?,
            Err(ReplayError::Rejected(reason)) => self.records.mark_refused(&name, reason).await?,
            // A recovery keeps its record for the retry (same name); any
            // other replay that could not be started is marked so, rather
            // than blocking its part for the starting grace.
            Err(e) if change_id.is_none() => {
                self.records.mark_refused(&name, &e.to_string()).await?
            }
            Err(_) => {}
        }
        started?;
        self.watch_replay(name.clone(), part.to_string());
        Ok(self
            .replay(&name)
            .await?
            .expect("the replay row was just written"))
    }

    /// Follows a started replay on the bus until it is no longer active,
    /// notifying each state change and cursor move.
    fn watch_replay(&self, name: String, part: String) {
        let Some(changes) = self.changes.clone() else {
            return;
        };
        changes.notify(crate::changes::Topic::Replay, Some(&part));
        let replays = self.replays.clone();
        tokio::spawn(async move {
            let mut last: Option<ReplayInfo> = None;
            let deadline = Instant::now() + Duration::from_secs(86_400);
            while Instant::now() < deadline {
                match replays.describe_replay(&name).await {
                    Ok(Some(info)) => {
                        let done = !ACTIVE_STATES.contains(&info.state.as_str());
                        match &last {
                            Some(l) if l.state == info.state => {
                                if l.event_last_replayed_time != info.event_last_replayed_time {
                                    changes.replay_progress(&name, &part);
                                }
                            }
                            _ => changes.notify(crate::changes::Topic::Replay, Some(&part)),
                        }
                        if done {
                            break;
                        }
                        last = Some(info);
                    }
                    Ok(None) => break,
                    Err(e) => tracing::debug!(replay = %name, "watching the replay: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }

    /// Replays the part's latest replay interval again (or `[start, end)`
    /// when given): the operator's "replay this window". `by` names who
    /// starts it (stored with the replay; must not be blank).
    pub async fn replay_again(
        &self,
        part: &str,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
        by: &str,
    ) -> Result<ReplayRecord, RecoveryError> {
        let p = self.known_part(part)?;
        let (start, end) = match window {
            Some((s, e)) => {
                self.validate_part_window(&p, s, e)?;
                (s, e)
            }
            None => self
                .latest_interval(part)
                .await?
                .ok_or_else(|| RecoveryError::Invalid {
                    field: "start",
                    reason: format!("part {part} has no replay yet; give start and end"),
                })?,
        };
        self.start_window(&p, start, end, "manual", by, None).await
    }

    /// The part's active replay (STARTING, RUNNING or CANCELLING on the
    /// bus, or just recorded and being started: [`STARTING_GRACE`]), if
    /// any, among the replays the mediator recorded.
    pub async fn active_replay(&self, part: &str) -> Result<Option<String>, RecoveryError> {
        let newest = self.records.newest_of_part(part).await?;
        self.active_among(part, newest.as_ref()).await
    }

    /// [`Recovery::active_replay`] given the part's newest record (read
    /// consistently; the older ones come from a listing that may lag on
    /// DynamoDB, and only matter for replays recorded before this guard).
    async fn active_among(
        &self,
        part: &str,
        newest: Option<&ReplayRecord>,
    ) -> Result<Option<String>, RecoveryError> {
        if let Some(r) = newest {
            match self.replays.describe_replay(&r.name).await? {
                Some(info) if ACTIVE_STATES.contains(&info.state.as_str()) => {
                    return Ok(Some(r.name.clone()))
                }
                Some(_) => {}
                None => {
                    let age = (Utc::now() - r.created_at).to_std().unwrap_or_default();
                    if !r.started && r.start_error.is_none() && age < STARTING_GRACE {
                        return Ok(Some(r.name.clone()));
                    }
                }
            }
        }
        for r in self.records.newest(Some(part), true, 20).await? {
            if newest.is_some_and(|n| n.name == r.name) {
                continue;
            }
            if let Some(info) = self.replays.describe_replay(&r.name).await? {
                if ACTIVE_STATES.contains(&info.state.as_str()) {
                    return Ok(Some(r.name));
                }
            }
        }
        Ok(None)
    }

    /// Cancels a replay the mediator started (CancelReplay on the bus).
    pub async fn cancel(&self, name: &str) -> Result<ReplayRecord, RecoveryError> {
        let Some(r) = self.replay(name).await? else {
            return Err(ReplayError::NotFound(name.to_owned()).into());
        };
        self.replays.cancel_replay(name).await?;
        if let Some(c) = &self.changes {
            c.notify(crate::changes::Topic::Replay, Some(&r.part));
        }
        Ok(r)
    }
}
