//! The sweeper: stuck vouchers resumed, and retry events no replay has
//! handled replayed (trigger `sweeper`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{Recovery, RecoveryError, ReplayRecord};
use crate::datacache::time;
use crate::part::PartName;

impl Recovery {
    /// One sweep: resumes stuck vouchers (`received` for longer than a
    /// claim's lease, or an expired `submitting`), then looks at every part
    /// ([`Recovery::sweep_part`]); returns the replays started.
    #[tracing::instrument(name = "sweep", skip_all)]
    pub async fn sweep_step(&self) -> Result<Vec<ReplayRecord>, RecoveryError> {
        let lease = chrono::Duration::from_std(self.flow.lease()).unwrap_or_default();
        self.resume_stuck(Utc::now() - lease).await?;
        let mut started = Vec::new();
        for part in self.parts().to_vec() {
            if let Some(r) = self.sweep_part(&part).await? {
                started.push(r);
            }
        }
        Ok(started)
    }

    /// One sweep of `part` (only while it is up and has no active replay):
    /// vouchers still `retry` whose latest retry event no replay has handled
    /// (late archiving, a crash, a cancelled replay) are replayed over
    /// `[min − margin, max + margin]` of those events' times, trigger
    /// `sweeper`, once the latest of them is the part's archive lag in the
    /// past. Handled means the replays' ledger ([`ReplayStore::count`])
    /// holds an event of the voucher delivered by a replay whose window
    /// holds its retry event: being inside a completed replay's window is
    /// not enough, as an event archived late is not in that replay. Returns
    /// the replay started, if any.
    ///
    /// [`ReplayStore::count`]: crate::storage::replays::ReplayStore::count
    pub async fn sweep_part(&self, part: &PartName) -> Result<Option<ReplayRecord>, RecoveryError> {
        let cache = self.flow.cache();
        if !cache.part_is_up(part.as_str()).await? {
            return Ok(None);
        }
        // The trigger has status changes of this part to handle first.
        let cursor = self.records.cursor().await?;
        let trigger_behind = self.status.has_changes_after(part.as_str(), cursor).await?;
        if trigger_behind {
            return Ok(None);
        }
        let held = cache.retry_event_times(part.as_str()).await?;
        if held.is_empty() || self.active_replay(part.as_str()).await?.is_some() {
            return Ok(None);
        }
        let uncovered = self.unhandled(part, held).await?;
        let (Some(min), Some(max)) = (uncovered.iter().min(), uncovered.iter().max()) else {
            return Ok(None);
        };
        let settings = self.part_recovery(part);
        let lag = chrono::Duration::from_std(settings.archive_lag).unwrap_or_default();
        if Utc::now() < time(*max) + lag {
            // Not archived for sure yet: a replay now could miss it.
            return Ok(None);
        }
        let margin = chrono::Duration::from_std(settings.margin).unwrap_or_default();
        let start = time(*min) - margin;
        // The end is exclusive: keep the latest event inside.
        let end = time(*max) + margin + chrono::Duration::milliseconds(1);
        if cache.retry_events_pending(part.as_str(), end).await? {
            return Ok(None);
        }
        match self
            .start_window(part, start, end, "sweeper", "sweeper", None)
            .await
        {
            Ok(r) => {
                tracing::info!(replay = %r.name, part = %part, pending = uncovered.len(), "sweeper replay started");
                Ok(Some(r))
            }
            Err(RecoveryError::Busy { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The times of the retry events in `held` (voucher, latest retry event
    /// time in ms) that no replay of `part` has handled: no started replay
    /// whose window holds the event counted an event of the voucher.
    async fn unhandled(
        &self,
        part: &PartName,
        held: Vec<(String, i64)>,
    ) -> Result<Vec<i64>, RecoveryError> {
        let lo = held.iter().map(|(_, t)| *t).min().unwrap_or_default();
        let hi = held.iter().map(|(_, t)| *t).max().unwrap_or_default();
        let mut handled: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
        for r in self.records.overlapping(part.as_str(), lo, hi).await? {
            if !r.started {
                continue;
            }
            let window = (
                r.window_start.timestamp_millis(),
                r.window_end.timestamp_millis(),
            );
            for (voucher, _) in self.records.outcomes(&r.name).await? {
                handled.entry(voucher).or_default().push(window);
            }
        }
        Ok(held
            .into_iter()
            .filter(|(voucher, t)| {
                !handled
                    .get(voucher)
                    .is_some_and(|ws| ws.iter().any(|(s, e)| s <= t && t < e))
            })
            .map(|(_, t)| t)
            .collect())
    }

    /// Sends vouchers left behind back through the flow: `received` before
    /// `received_before` (never attempted) and `submitting` with an expired
    /// lease (its holder crashed or hung); each is held (`retry`) if its part
    /// is down. Returns how many were resumed. An expired `submitting` one
    /// may already have been accepted by the SaaS: this is the
    /// at-least-once window of the claim (see ARCHITECTURE.md).
    pub async fn resume_stuck(
        &self,
        received_before: DateTime<Utc>,
    ) -> Result<usize, RecoveryError> {
        let ids = self
            .flow
            .cache()
            .stuck(received_before, Utc::now(), 100)
            .await?;
        for id in &ids {
            let status = self.flow.process(id, "resumed after a stall").await?;
            tracing::info!(loyalty_request_id = %id, status = ?status, "stuck voucher resumed");
        }
        Ok(ids.len())
    }

    /// The sweeper's loop: first the vouchers a previous run left
    /// `received` or `submitting` (before `started_at`), then a
    /// [`Recovery::sweep_step`] every `sweep_interval` until `shutdown`.
    pub(super) async fn sweep_run(
        self: Arc<Self>,
        started_at: DateTime<Utc>,
        shutdown: CancellationToken,
    ) {
        match self.resume_stuck(started_at).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(resumed = n, "stuck vouchers resumed at start-up"),
            Err(e) => tracing::warn!("resuming stuck vouchers: {e}"),
        }
        let mut tick = tokio::time::interval(self.settings.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.sweep_step().await {
                tracing::warn!("sweeper: {e}");
            }
        }
    }
}
