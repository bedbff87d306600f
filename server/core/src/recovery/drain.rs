//! The drain: replayed events taken from a part's resubmit queue at a
//! bounded concurrency and rate, each handled once, and dead-lettered
//! messages' vouchers marked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{ItemOutcome, Lane, Recovery, RecoveryError};
use crate::part::PartName;
use crate::replay_records::HandledEvent;
use crate::storage::StoreError;
use crate::submit::Processed;
use crate::voucher::VoucherStatus;

/// How often the drain extends the visibility of the batch it is handling.
pub const VISIBILITY_HEARTBEAT: Duration = Duration::from_secs(60);
/// How much longer each extension keeps the batch invisible.
pub const VISIBILITY_EXTENSION: Duration = Duration::from_secs(120);

/// Drain loops per part (when its concurrency is at least 2); they share
/// the part's concurrency and rate.
pub(super) const DRAIN_WORKERS: usize = 2;

impl Recovery {
    /// Handles one replayed event (see [`Recovery::handle_batch`]).
    pub async fn handle(&self, body: &str) -> Result<ItemOutcome, RecoveryError> {
        let mut out = self.handle_batch(&[body], 1).await?;
        Ok(out.pop().unwrap_or(ItemOutcome::Ignored))
    }

    /// Handles replayed events together: resubmits each one's voucher unless
    /// it is final or in flight (`concurrency` SaaS calls at a time), and
    /// counts each outcome once per (replay, event id), so a redelivered
    /// message neither resubmits nor counts twice. The whole batch takes a
    /// few transactions (seen?, hold-or-claim, outcomes, counts) rather than
    /// several per event. Outcomes are in the order given.
    pub async fn handle_batch(
        &self,
        bodies: &[&str],
        concurrency: usize,
    ) -> Result<Vec<ItemOutcome>, RecoveryError> {
        let keys: Vec<Option<(String, String, String)>> = bodies
            .iter()
            .map(|b| {
                let event: Value = serde_json::from_str(b).unwrap_or(Value::Null);
                let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
                let key = (
                    s(event.get("replay-name")),
                    s(event.get("id")),
                    s(event.pointer("/detail/data/loyalty_request_id")),
                );
                if let (Some(r), Some(e), Some(l)) = key {
                    Some((r, e, l))
                } else {
                    tracing::warn!("ignoring a queued event that is not a replayed retry event");
                    None
                }
            })
            .collect();
        let mut out = vec![ItemOutcome::Ignored; keys.len()];
        let valid: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].is_some()).collect();
        let pairs: Vec<(String, String)> = keys
            .iter()
            .flatten()
            .map(|(r, e, _)| (r.clone(), e.clone()))
            .collect();
        let seen = self.records.seen(&pairs).await?;
        let mut fresh = Vec::new();
        for (i, seen) in valid.into_iter().zip(seen) {
            if seen {
                out[i] = ItemOutcome::Skipped;
            } else {
                fresh.push(i);
            }
        }
        // Whether each voucher is still to be sent is decided where it is
        // claimed (one read of it): a final one, or one another handler is
        // sending, is left alone.
        let items = fresh
            .iter()
            .filter_map(|&i| {
                let (replay, _, lrid) = keys[i].as_ref()?;
                Some((lrid.clone(), format!("resubmitted by replay {replay}")))
            })
            .collect();
        let processed = self.flow.process_each(items, concurrency).await?;
        for (&i, p) in fresh.iter().zip(processed) {
            out[i] = match p {
                Processed::Unknown => {
                    if let Some((replay, _, lrid)) = &keys[i] {
                        tracing::warn!(
                            loyalty_request_id = %lrid,
                            replay,
                            "replayed event for an unknown voucher"
                        );
                    }
                    ItemOutcome::Failed
                }
                Processed::Left(_) => ItemOutcome::Skipped,
                Processed::Done(VoucherStatus::Submitted) => ItemOutcome::Resubmitted,
                // Held again, refused, or to retry: this delivery failed.
                Processed::Done(_) => ItemOutcome::Failed,
            };
        }
        let counts = fresh
            .iter()
            .filter_map(|&i| {
                let (r, e, l) = keys[i].clone()?;
                Some((r, e, l, out[i]))
            })
            .collect();
        self.count_many(counts).await?;
        Ok(out)
    }

    async fn count(
        &self,
        replay: &str,
        event_id: &str,
        lrid: &str,
        outcome: ItemOutcome,
    ) -> Result<(), StoreError> {
        self.count_many(vec![(
            replay.to_owned(),
            event_id.to_owned(),
            lrid.to_owned(),
            outcome,
        )])
        .await
    }

    /// Counts `(replay, event id, voucher, outcome)`s in one transaction,
    /// each once per (replay, event id), into their replays' progress.
    async fn count_many(
        &self,
        items: Vec<(String, String, String, ItemOutcome)>,
    ) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let events: Vec<HandledEvent> = items
            .into_iter()
            .map(
                |(replay, event_id, loyalty_request_id, outcome)| HandledEvent {
                    replay,
                    event_id,
                    loyalty_request_id,
                    outcome,
                },
            )
            .collect();
        let counted = self.records.count(&events).await?;
        if let Some(c) = &self.changes {
            for p in counted {
                if p.processed >= p.expected {
                    c.notify(crate::changes::Topic::Replay, Some(&p.part));
                } else {
                    c.replay_progress(&p.replay, &p.part);
                }
            }
        }
        Ok(())
    }

    /// Takes a batch of replayed events of `part` (four per unit of
    /// concurrency, at most a second's worth of the rate; waiting up to
    /// `wait` for the first), handles them together with at most
    /// `concurrency` SaaS calls at once ([`Recovery::handle_batch`]) and
    /// deletes them; then marks the vouchers of dead-lettered messages.
    /// Returns how many messages were handled. A batch whose handling
    /// failed stays in the queue and comes back after its visibility timeout.
    pub async fn drain_step(
        self: &Arc<Self>,
        part: &PartName,
        wait: Duration,
    ) -> Result<usize, RecoveryError> {
        self.drain_share(part, wait, 1).await
    }

    /// [`Recovery::drain_step`] for one of `workers` drain loops of `part`:
    /// it uses its share of the part's concurrency and rate, so the loops
    /// together stay within the configured limits.
    #[tracing::instrument(name = "drain", skip_all, fields(part = %part))]
    async fn drain_share(
        self: &Arc<Self>,
        part: &PartName,
        wait: Duration,
        workers: usize,
    ) -> Result<usize, RecoveryError> {
        let settings = self.part_recovery(part);
        let workers = workers.max(1);
        let concurrency = (settings.concurrency / workers).max(1);
        let batch = (concurrency * 4)
            .min((settings.rate_per_sec / workers as f64).max(1.0) as usize)
            .clamp(1, 1024);
        let msgs = self
            .queue
            .receive(part, Lane::Resubmit, batch, wait)
            .await
            .map_err(RecoveryError::Queue)?;
        let mut handled = 0;
        if !msgs.is_empty() {
            let bodies: Vec<&str> = msgs.iter().map(|m| m.body.as_str()).collect();
            let receipts: Vec<String> = msgs.iter().map(|m| m.receipt.clone()).collect();
            // Keep the batch invisible while it is handled (SQS
            // ChangeMessageVisibility on AWS; a no-op on the embedded bus).
            let work = self.handle_batch(&bodies, concurrency);
            tokio::pin!(work);
            let mut beat = tokio::time::interval_at(
                tokio::time::Instant::now() + VISIBILITY_HEARTBEAT,
                VISIBILITY_HEARTBEAT,
            );
            let result = loop {
                tokio::select! {
                    r = &mut work => break r,
                    _ = beat.tick() => {
                        if let Err(e) = self
                            .queue
                            .extend_visibility(part, Lane::Resubmit, &receipts, VISIBILITY_EXTENSION)
                            .await
                        {
                            tracing::warn!(part = %part, "cannot extend visibility: {e}");
                        }
                    }
                }
            };
            match result {
                Ok(_) => {
                    handled = msgs.len();
                    if let Err(e) = self.queue.delete_many(part, Lane::Resubmit, receipts).await {
                        tracing::warn!(part = %part, "cannot delete handled messages: {e}");
                    }
                }
                Err(e) => tracing::warn!(part = %part, "replayed events not handled yet: {e}"),
            }
        }
        for m in self
            .queue
            .receive(part, Lane::DeadLetter, 10, Duration::ZERO)
            .await
            .map_err(RecoveryError::Queue)?
        {
            let event: Value = serde_json::from_str(&m.body).unwrap_or(Value::Null);
            if let Some(lrid) = event
                .pointer("/detail/data/loyalty_request_id")
                .and_then(Value::as_str)
            {
                let replay = event
                    .get("replay-name")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                self.flow
                    .cache()
                    .dead_letter(
                        lrid,
                        format!("replayed event of {replay} failed too often"),
                        Utc::now(),
                    )
                    .await?;
                if let Some(id) = event.get("id").and_then(Value::as_str) {
                    self.count(replay, id, lrid, ItemOutcome::Failed).await?;
                }
            }
            self.queue
                .delete(part, Lane::DeadLetter, &m.receipt)
                .await
                .map_err(RecoveryError::Queue)?;
        }
        Ok(handled)
    }

    pub(super) async fn drain_run(
        self: Arc<Self>,
        part: PartName,
        workers: usize,
        shutdown: CancellationToken,
    ) {
        // Each of the part's `workers` loops paces to its share of the rate.
        let rate = (self.part_recovery(&part).rate_per_sec / workers as f64).max(0.001);
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let started = Instant::now();
            // A step (receive, submit, record, delete) is never cut short:
            // at shutdown the batch in hand finishes (its long poll is
            // 500 ms, its SaaS calls bounded by their timeout), then the
            // loop stops.
            let step = self
                .drain_share(&part, Duration::from_millis(500), workers)
                .await;
            let pause = match step {
                // Pace to the configured rate.
                Ok(n) => Duration::from_secs_f64(n as f64 / rate).saturating_sub(started.elapsed()),
                Err(e) => {
                    tracing::warn!(part = %part, "resubmit drain: {e}");
                    Duration::from_secs(1)
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}
