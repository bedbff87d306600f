//! The sources: where each fact to tell is recorded, read after a cursor
//! kept with the outbox, each fact under one stable event id.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Notification, NotificationKind, Notifier};
use crate::circuit::PartState;
use crate::datacache::DataCache;
use crate::recovery::Recovery;
use crate::storage::{StatusStore, StoreError};
use crate::voucher::VoucherStatus;

/// Cursor: the last status change read (its id).
pub const CURSOR_STATUS: &str = "status_changes";
/// Cursor: the newest dead-lettering read (epoch ms).
pub const CURSOR_DEAD_LETTERS: &str = "dead_letters";
/// Cursor: `2 × crossings + (1 while the DLQ is at or over its threshold)`.
pub const CURSOR_DLQ: &str = "dlq_threshold";
/// Cursor: replays created from this time on (epoch ms) are reported.
pub const CURSOR_REPLAYS: &str = "replays_since";

/// Dead-lettered vouchers are read again this far behind the cursor: a
/// write that committed late with an older time is still seen (the event
/// id keeps it from being queued twice).
const DEAD_LETTER_LOOKBACK_MS: i64 = 60_000;
/// Dead-lettered vouchers read per page, and pages per step.
const PAGE: usize = 100;
const PAGES: usize = 10;
/// Newest replays looked at.
const REPLAYS: usize = 20;

/// Where the facts are read.
pub struct NotifySources {
    /// The monitor's status changes.
    pub status: Arc<dyn StatusStore>,
    /// The vouchers (dead letters, the DLQ's size).
    pub cache: DataCache,
    /// The replays and their state on the bus.
    pub recovery: Arc<Recovery>,
    /// The parts' maintenance windows: a part's down and up changes during
    /// one are muted.
    pub maintenance: Option<Arc<dyn crate::storage::maintenance::MaintenanceStore>>,
}

impl NotifySources {
    /// Reads every source once and queues what is new; returns how many
    /// notifications were queued. The first step of a fresh outbox starts
    /// each source after what already happened.
    pub async fn step(&self, n: &Notifier, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut queued = self.status_step(n, now).await?;
        queued += self.dead_letter_step(n, now).await?;
        queued += self.dlq_step(n, now).await?;
        queued += self.replay_step(n, now).await?;
        Ok(queued)
    }

    /// Parts going down, and up again after being down.
    async fn status_step(&self, n: &Notifier, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let store = n.store();
        let Some(cursor) = store.cursor(CURSOR_STATUS).await? else {
            let mut last = 0;
            loop {
                let page = self.status.changes_after(last, 500).await?;
                match page.last() {
                    Some(c) => last = c.id,
                    None => break,
                }
                if page.len() < 500 {
                    break;
                }
            }
            store.set_cursor(CURSOR_STATUS, last).await?;
            return Ok(0);
        };
        let mut queued = 0;
        for c in self.status.changes_after(cursor, 100).await? {
            let ch = &c.change;
            let kind = match (ch.status, ch.prev_status) {
                (PartState::Down, _) => Some(NotificationKind::PartDown),
                (PartState::Up, PartState::Down) => Some(NotificationKind::PartUp),
                _ => None,
            };
            let Some(kind) = kind else {
                store.set_cursor(CURSOR_STATUS, c.id).await?;
                continue;
            };
            // A part's planned outage is not news: a down change during one
            // of its maintenance windows, and the up change ending a down
            // that began during one, are not sent.
            let down_at = match kind {
                NotificationKind::PartUp => ch.prev_change_at.unwrap_or(ch.changed_at),
                _ => ch.changed_at,
            };
            if let Some(w) = self.in_maintenance(&c.part, down_at).await? {
                tracing::info!(part = %c.part, change = c.id, kind = kind.as_str(), window = %w, "notification muted: the part is in maintenance");
                store.set_cursor(CURSOR_STATUS, c.id).await?;
                continue;
            }
            let summary = match (kind, ch.prev_change_at) {
                (NotificationKind::PartUp, Some(since)) => format!(
                    "Part {} is up again after {} s down",
                    c.part,
                    (ch.changed_at - since).num_seconds().max(0)
                ),
                (NotificationKind::PartUp, None) => format!("Part {} is up again", c.part),
                _ => format!("Part {} is down", c.part),
            };
            let note = Notification {
                event_id: format!("status-{}", c.id),
                kind,
                part: Some(c.part.clone()),
                summary,
                at: ch.changed_at,
                detail: json!({
                    "part": c.part,
                    "status": ch.status.as_str(),
                    "previous_status": ch.prev_status.as_str(),
                    "changed_at": ch.changed_at,
                    "previous_change_at": ch.prev_change_at,
                }),
            };
            n.notify(&note, Some((CURSOR_STATUS, c.id)), now).await?;
            queued += 1;
        }
        Ok(queued)
    }

    /// The maintenance window of `part` holding at `at`, if any (its id).
    async fn in_maintenance(
        &self,
        part: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let Some(m) = &self.maintenance else {
            return Ok(None);
        };
        Ok(m.windows(Some(part), at)
            .await?
            .into_iter()
            .find(|w| w.holds(at))
            .map(|w| w.id))
    }

    /// Vouchers dead-lettered since the cursor.
    async fn dead_letter_step(
        &self,
        n: &Notifier,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let store = n.store();
        let Some(since) = store.cursor(CURSOR_DEAD_LETTERS).await? else {
            store
                .set_cursor(CURSOR_DEAD_LETTERS, now.timestamp_millis())
                .await?;
            return Ok(0);
        };
        let mut after = Some((since - DEAD_LETTER_LOOKBACK_MS, String::new()));
        let mut newest = since;
        let mut queued = 0;
        for _ in 0..PAGES {
            let page = self.cache.dead_lettered(after.clone(), PAGE).await?;
            let ids: Vec<String> = page
                .iter()
                .map(|v| {
                    format!(
                        "dead-lettered-{}-{}",
                        v.keys.loyalty_request_id,
                        v.updated_at.timestamp_millis()
                    )
                })
                .collect();
            let known = store.known(&ids).await?;
            for ((v, id), known) in page.iter().zip(ids).zip(known) {
                newest = newest.max(v.updated_at.timestamp_millis());
                if known || v.status != VoucherStatus::DeadLettered {
                    continue;
                }
                let lrid = &v.keys.loyalty_request_id;
                let note = Notification {
                    event_id: id,
                    kind: NotificationKind::DeadLettered,
                    part: Some(v.part.clone()),
                    summary: match &v.last_error {
                        Some(e) => {
                            format!("Voucher {lrid} of part {} was dead-lettered: {e}", v.part)
                        }
                        None => format!("Voucher {lrid} of part {} was dead-lettered", v.part),
                    },
                    at: v.updated_at,
                    detail: json!({
                        "loyalty_request_id": lrid,
                        "part": v.part,
                        "attempts": v.attempts,
                        "last_error": v.last_error,
                    }),
                };
                if n.notify(&note, None, now).await? {
                    queued += 1;
                }
            }
            match page.last() {
                Some(v) if page.len() == PAGE => {
                    after = Some((
                        v.updated_at.timestamp_millis(),
                        v.keys.loyalty_request_id.clone(),
                    ))
                }
                _ => break,
            }
        }
        if newest > since {
            store.set_cursor(CURSOR_DEAD_LETTERS, newest).await?;
        }
        Ok(queued)
    }

    /// The DLQ reaching its threshold (once per crossing: it must fall
    /// below the threshold before it is reported again).
    async fn dlq_step(&self, n: &Notifier, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let Some(threshold) = n.settings().dlq_threshold else {
            return Ok(0);
        };
        let store = n.store();
        let state = store.cursor(CURSOR_DLQ).await?.unwrap_or(0);
        let (crossings, above) = (state / 2, state % 2 == 1);
        let size: u64 = self
            .cache
            .store()
            .open_counts()
            .await?
            .into_iter()
            .filter(|(_, status, _)| status == VoucherStatus::DeadLettered.as_str())
            .map(|(_, _, count)| count)
            .sum();
        if size >= threshold && !above {
            let crossing = crossings + 1;
            let note = Notification {
                event_id: format!("dlq-threshold-{crossing}"),
                kind: NotificationKind::DlqThreshold,
                part: None,
                summary: format!(
                    "The dead-letter queue holds {size} vouchers (threshold {threshold})"
                ),
                at: now,
                detail: json!({ "dead_lettered": size, "threshold": threshold }),
            };
            n.notify(&note, Some((CURSOR_DLQ, crossing * 2 + 1)), now)
                .await?;
            return Ok(1);
        }
        if size < threshold && above {
            store.set_cursor(CURSOR_DLQ, crossings * 2).await?;
        }
        Ok(0)
    }

    /// Replays that completed, failed, were cancelled or refused.
    async fn replay_step(&self, n: &Notifier, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let store = n.store();
        let Some(since) = store.cursor(CURSOR_REPLAYS).await? else {
            store
                .set_cursor(CURSOR_REPLAYS, now.timestamp_millis())
                .await?;
            return Ok(0);
        };
        let mut queued = 0;
        for r in self.recovery.list_replays(REPLAYS).await? {
            if r.created_at.timestamp_millis() < since {
                continue;
            }
            let ids = [
                format!("replay-{}-completed", r.name),
                format!("replay-{}-failed", r.name),
            ];
            if store.known(&ids).await?.into_iter().any(|k| k) {
                continue;
            }
            let (state, reason) = if let Some(e) = &r.start_error {
                ("REFUSED".to_owned(), Some(e.clone()))
            } else if !r.started {
                continue;
            } else {
                match self.recovery.replay_state(&r.name).await {
                    Ok(Some(info)) => (info.state, info.state_reason),
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::debug!(replay = %r.name, "notification sources: {e}");
                        continue;
                    }
                }
            };
            let (kind, id) = match state.as_str() {
                "COMPLETED" => (NotificationKind::ReplayCompleted, &ids[0]),
                "FAILED" | "CANCELLED" | "REFUSED" => (NotificationKind::ReplayFailed, &ids[1]),
                _ => continue,
            };
            let p = &r.progress;
            let summary = match kind {
                NotificationKind::ReplayCompleted => format!(
                    "Replay {} of part {} completed: {} resubmitted, {} skipped, {} failed of {} expected",
                    r.name, r.part, p.resubmitted, p.skipped, p.failed, p.expected
                ),
                _ => format!(
                    "Replay {} of part {} {}{}",
                    r.name,
                    r.part,
                    match state.as_str() {
                        "CANCELLED" => "was cancelled",
                        "REFUSED" => "was refused by the bus",
                        _ => "failed",
                    },
                    reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                ),
            };
            let note = Notification {
                event_id: id.clone(),
                kind,
                part: Some(r.part.clone()),
                summary,
                at: now,
                detail: json!({
                    "replay": r.name,
                    "part": r.part,
                    "state": state,
                    "reason": reason,
                    "trigger": r.trigger,
                    "window_start": r.window_start,
                    "window_end": r.window_end,
                    "expected": p.expected,
                    "resubmitted": p.resubmitted,
                    "skipped": p.skipped,
                    "failed": p.failed,
                }),
            };
            if n.notify(&note, None, now).await? {
                queued += 1;
            }
        }
        Ok(queued)
    }
}
