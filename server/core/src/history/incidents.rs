//! Incidents: an outage as a record (what caused it, what it held back,
//! what recovered it), paged newest first.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{time, History, HistoryError};
use crate::recovery::{ReplayRecord, ACTIVE_STATES};
use crate::storage::history::ChangeRow;
use crate::storage::replays::ReplayStore;
use crate::storage::StoreError;
use crate::voucher::VoucherStatus;

/// Largest page of incidents.
pub const MAX_INCIDENTS_PAGE: usize = 200;

/// A status change an incident links.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChangeRef {
    /// Its id in the status-change history.
    pub id: i64,
    /// The new status.
    pub status: String,
    /// The status before.
    pub prev_status: String,
    /// When it changed.
    pub at: DateTime<Utc>,
}

/// A replay whose window overlaps an incident.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IncidentReplay {
    /// The replay's name.
    pub name: String,
    /// `recovery`, `manual` or `sweeper`.
    pub trigger: String,
    /// Who started it (see [`crate::recovery::ReplayRecord::by`]).
    #[serde(default)]
    pub by: Option<String>,
    /// Window start.
    pub window_start: DateTime<Utc>,
    /// Window end.
    pub window_end: DateTime<Utc>,
    /// When the mediator asked for it.
    pub created_at: DateTime<Utc>,
    /// The bus's state (STARTING … COMPLETED), `NOT_STARTED` when the bus
    /// refused it, `UNKNOWN` when the bus does not say.
    pub state: String,
    /// Retry events its window holds (from our ledger).
    pub expected: i64,
    /// Replayed events handled.
    pub processed: i64,
    /// …resubmitted and accepted.
    pub resubmitted: i64,
    /// …skipped (already final or in flight).
    pub skipped: i64,
    /// …failed.
    pub failed: i64,
}

/// What became of the vouchers an incident held back (each counted once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct IncidentOutcome {
    /// Resubmitted by one of the incident's replays.
    pub resubmitted: i64,
    /// Skipped by the replays (submitted meanwhile, e.g. by the sweeper).
    pub skipped: i64,
    /// Failed in the replays.
    pub failed: i64,
    /// Dead-lettered now.
    pub dead_lettered: i64,
    /// Still waiting (received, retry or submitting) now.
    pub pending: i64,
}

/// An outage as a record: what caused it, what it held back, what recovered it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Incident {
    /// The id (of the `down` status change).
    pub id: i64,
    /// The part.
    pub part: String,
    /// When the part went down.
    pub start: DateTime<Utc>,
    /// When it came back up; `None` while ongoing.
    pub end: Option<DateTime<Utc>>,
    /// Whether it is still down.
    pub ongoing: bool,
    /// Seconds from start to end (to now while ongoing).
    pub duration_secs: i64,
    /// Vouchers held back during it.
    pub retries_held: i64,
    /// The `down` change, then the change that ended it.
    pub status_changes: Vec<ChangeRef>,
    /// Replays whose window overlaps it, oldest first.
    pub replays: Vec<IncidentReplay>,
    /// What became of the held vouchers.
    pub outcome: IncidentOutcome,
    /// `ongoing`, `recovering` (vouchers pending or a replay active),
    /// `needs_attention` (vouchers dead-lettered) or `resolved`.
    pub state: String,
}

/// A page of incidents, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IncidentPage {
    /// The incidents.
    pub incidents: Vec<Incident>,
    /// Pass back for the next (older) page; absent on the last one.
    pub next_token: Option<String>,
}

/// A replay record as an incident shows it, and whether the bus accepted it.
pub(super) fn incident_replay(r: ReplayRecord) -> (IncidentReplay, bool) {
    (
        IncidentReplay {
            name: r.name,
            trigger: r.trigger,
            window_start: r.window_start,
            window_end: r.window_end,
            created_at: r.created_at,
            state: String::new(),
            expected: r.progress.expected,
            processed: r.progress.processed,
            resubmitted: r.progress.resubmitted,
            skipped: r.progress.skipped,
            failed: r.progress.failed,
            by: r.by,
        },
        r.started,
    )
}

/// An incident as stored, before the replay states are asked.
struct RawIncident {
    incident: Incident,
    started: Vec<bool>,
}

/// An incident from its `down` change (`head`) and the change that ended
/// it (`next`), with what the DataCache and the replay records say.
async fn load_incident(
    replay_store: &dyn ReplayStore,
    head: ChangeRow,
    next: Option<ChangeRow>,
    held: Vec<(String, VoucherStatus)>,
    now: i64,
) -> Result<RawIncident, StoreError> {
    let ChangeRow {
        id,
        part,
        at_ms: start,
        prev_status,
        ..
    } = head;
    let next = next.map(|n| (n.id, n.status, n.prev_status, n.at_ms));
    let end = next.as_ref().map(|n| n.3);
    let until = end.unwrap_or(now);
    let mut status_changes = vec![ChangeRef {
        id,
        status: "down".into(),
        prev_status,
        at: time(start),
    }];
    if let Some((nid, status, prev, at)) = next {
        status_changes.push(ChangeRef {
            id: nid,
            status,
            prev_status: prev,
            at: time(at),
        });
    }
    let (replays, started): (Vec<_>, Vec<_>) = replay_store
        .overlapping(&part, start, until)
        .await?
        .into_iter()
        .map(incident_replay)
        .unzip();
    // The held vouchers' best replay outcome.
    let mut best: HashMap<String, u8> = HashMap::new();
    for r in &replays {
        for (lrid, outcome) in replay_store.outcomes(&r.name).await? {
            let rank = match outcome.as_str() {
                "resubmitted" => 3,
                "skipped" => 2,
                "failed" => 1,
                _ => 0,
            };
            let e = best.entry(lrid).or_default();
            *e = (*e).max(rank);
        }
    }
    let mut outcome = IncidentOutcome::default();
    for (lrid, status) in &held {
        match best.get(lrid) {
            Some(3) => outcome.resubmitted += 1,
            Some(2) => outcome.skipped += 1,
            Some(1) => outcome.failed += 1,
            _ => {}
        }
        match status {
            VoucherStatus::DeadLettered => outcome.dead_lettered += 1,
            VoucherStatus::Received | VoucherStatus::Retry | VoucherStatus::Submitting => {
                outcome.pending += 1
            }
            _ => {}
        }
    }
    Ok(RawIncident {
        incident: Incident {
            id,
            part,
            start: time(start),
            end: end.map(time),
            ongoing: end.is_none(),
            duration_secs: (until - start).max(0) / 1000,
            retries_held: held.len() as i64,
            status_changes,
            replays,
            outcome,
            state: String::new(),
        },
        started,
    })
}

impl History {
    /// The incident whose `down` change is `head`.
    async fn incident_of(&self, head: ChangeRow, now: i64) -> Result<RawIncident, StoreError> {
        let next = self
            .monitor
            .next_change(&head.part, head.at_ms, head.id)
            .await?;
        let until = next.as_ref().map_or(now, |n| n.at_ms);
        let held = self.held(&head.part, head.at_ms, until).await?;
        load_incident(self.replays.as_ref(), head, next, held, now).await
    }

    async fn finish(&self, raw: RawIncident) -> Incident {
        let mut inc = raw.incident;
        for (r, started) in inc.replays.iter_mut().zip(raw.started) {
            r.state = self.replay_state(&r.name, started).await;
        }
        let active = inc
            .replays
            .iter()
            .any(|r| ACTIVE_STATES.contains(&r.state.as_str()));
        inc.state = if inc.ongoing {
            "ongoing"
        } else if inc.outcome.pending > 0 || active {
            "recovering"
        } else if inc.outcome.dead_lettered > 0 {
            "needs_attention"
        } else {
            "resolved"
        }
        .into();
        inc
    }

    /// Incidents newest first (of `part`, or of every part), `limit`
    /// (1–200) per page, after `next_token` (the previous page's).
    pub async fn incidents(
        &self,
        part: Option<&str>,
        limit: usize,
        next_token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<IncidentPage, HistoryError> {
        let part = part.map(|p| self.known(p)).transpose()?;
        if !(1..=MAX_INCIDENTS_PAGE).contains(&limit) {
            return Err(HistoryError::Invalid {
                field: "limit",
                reason: format!("must be between 1 and {MAX_INCIDENTS_PAGE}"),
            });
        }
        let before = next_token
            .map(|t| {
                t.parse::<i64>().map_err(|_| HistoryError::Invalid {
                    field: "next_token",
                    reason: "is not a token this API returned".into(),
                })
            })
            .transpose()?
            .unwrap_or(i64::MAX);
        let now_ms = now.timestamp_millis();
        let mut heads = self
            .monitor
            .downs_before(before, part.as_deref(), limit + 1)
            .await?;
        let more = heads.len() > limit;
        heads.truncate(limit);
        let mut raws = Vec::with_capacity(heads.len());
        for head in heads {
            raws.push(self.incident_of(head, now_ms).await?);
        }
        let next_token = more
            .then(|| raws.last().map(|r| r.incident.id.to_string()))
            .flatten();
        let mut incidents = Vec::with_capacity(raws.len());
        for raw in raws {
            incidents.push(self.finish(raw).await);
        }
        Ok(IncidentPage {
            incidents,
            next_token,
        })
    }

    /// One incident by id; `None` when no outage has that id.
    pub async fn incident(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Incident>, HistoryError> {
        let now_ms = now.timestamp_millis();
        let raw = match self.monitor.change(id).await? {
            Some(head) if head.status == "down" => Some(self.incident_of(head, now_ms).await?),
            _ => None,
        };
        Ok(match raw {
            Some(raw) => Some(self.finish(raw).await),
            None => None,
        })
    }
}
