//! The trigger: a part going down → up starts a replay of its archive over
//! the outage (see the module's overview).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{Recovery, RecoveryError, ReplayError};
use crate::datacache::time;

impl Recovery {
    /// Starts replays for new down→up changes; returns how many changes it
    /// consumed. Stops early (to resume next time) until the part came up
    /// at least its archive lag ago, while a part's retry events of
    /// the window are still in the outbox, or while the bus is unavailable.
    pub async fn trigger_step(&self) -> Result<usize, RecoveryError> {
        let cursor = self.records.cursor().await?;
        let changes: Vec<(i64, String, String, i64, String, Option<i64>)> = self
            .status
            .changes_after(cursor, 100)
            .await?
            .into_iter()
            .map(|c| {
                (
                    c.id,
                    c.part,
                    c.change.status.as_str().to_owned(),
                    c.change.changed_at.timestamp_millis(),
                    c.change.prev_status.as_str().to_owned(),
                    c.change.prev_change_at.map(|t| t.timestamp_millis()),
                )
            })
            .collect();
        let mut consumed = 0;
        for (id, part, status, changed_ms, prev, prev_ms) in changes {
            if let (Some(p), "up", "down") = (self.part(&part), status.as_str(), prev.as_str()) {
                let p = p.clone();
                let settings = self.part_recovery(&p);
                let margin = chrono::Duration::from_std(settings.margin).unwrap_or_default();
                let lag = chrono::Duration::from_std(settings.archive_lag).unwrap_or_default();
                let start = time(prev_ms.unwrap_or(changed_ms)) - margin;
                let end = time(changed_ms) + margin;
                // Events of the window reach the archive up to the archive
                // lag after they were put: a replay started earlier would
                // miss the late ones. No hold is written once the stored
                // circuit is closed (it is checked in the hold's write), so
                // the window's events are those up to `up`; the margin after
                // it only absorbs clock skew, and a straggler there is the
                // sweeper's (it replays what no replay handled).
                if chrono::Utc::now() < time(changed_ms) + lag {
                    tracing::debug!(part = %p, "recovery waits until its window is archived");
                    break;
                }
                if self
                    .flow
                    .cache()
                    .retry_events_pending(p.as_str(), end)
                    .await?
                {
                    tracing::debug!(part = %p, "recovery waits for retry events to be published");
                    break;
                }
                if !self.status.claim_change_replay(id, &self.replica).await? {
                    tracing::info!(part = %p, change = id, "another replica recovers this outage");
                } else {
                    match self
                        .start_window(&p, start, end, "recovery", "recovery", Some(id))
                        .await
                    {
                        Ok(r) => {
                            tracing::info!(replay = %r.name, part = %p, expected = r.progress.expected, "recovery replay started")
                        }
                        Err(RecoveryError::Replay(ReplayError::Rejected(e))) => {
                            tracing::error!(part = %p, "recovery replay refused: {e}")
                        }
                        Err(RecoveryError::Busy { replay, .. }) => {
                            tracing::debug!(part = %p, replay, "recovery waits for the active replay");
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            self.records.advance_cursor(id).await?;
            consumed += 1;
        }
        Ok(consumed)
    }

    /// The trigger's loop: a [`Recovery::trigger_step`] every `poll`
    /// until `shutdown`.
    pub(super) async fn trigger_run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.trigger_step().await {
                tracing::warn!("recovery trigger: {e}");
            }
        }
    }
}

impl Recovery {
    /// Replays a part's ended maintenance window `[start − margin, end +
    /// margin]` like an outage (trigger `maintenance`, started by `by`):
    /// `Ok(None)` while it must wait — until `end + archive_lag`, while the
    /// part's retry events of the window are in the outbox, or while
    /// another replay of the part is active; else the replay's name.
    pub async fn replay_maintenance(
        &self,
        part: &crate::part::PartName,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
        by: &str,
    ) -> Result<Option<String>, RecoveryError> {
        let settings = self.part_recovery(part);
        let margin = chrono::Duration::from_std(settings.margin).unwrap_or_default();
        let lag = chrono::Duration::from_std(settings.archive_lag).unwrap_or_default();
        if chrono::Utc::now() < end + lag {
            return Ok(None);
        }
        if self
            .flow
            .cache()
            .retry_events_pending(part.as_str(), end + margin)
            .await?
        {
            return Ok(None);
        }
        match self
            .start_window(part, start - margin, end + margin, "maintenance", by, None)
            .await
        {
            Ok(r) => Ok(Some(r.name)),
            Err(RecoveryError::Busy { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
