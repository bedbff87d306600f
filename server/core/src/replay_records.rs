//! Replay records, the model of the replays the mediator starts, and
//! [`ReplayStore`], the port where they are kept: their progress, which
//! replayed events were handled (so counts stay exact under redelivery),
//! each part's latest replay interval, and how far the recovery trigger has
//! read the status changes. The recovery service uses them; the storage
//! adapters (SQLite here, DynamoDB in the AWS backend) implement the port.

use chrono::{DateTime, Utc};

use crate::events::replay_name;

/// Progress of one replay, from our own ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Progress {
    /// Retry events of the part in the window (what the replay will deliver).
    pub expected: i64,
    /// Replayed events handled.
    pub processed: i64,
    /// …of which were resubmitted and accepted.
    pub resubmitted: i64,
    /// …of which were skipped (already submitted, error or in flight).
    pub skipped: i64,
    /// …of which failed (refused, still unavailable, unknown, dead-lettered).
    pub failed: i64,
}

/// A replay the mediator started.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplayRecord {
    /// Its name.
    pub name: String,
    /// The part.
    pub part: String,
    /// The archive replayed.
    pub archive: String,
    /// Window start.
    pub window_start: DateTime<Utc>,
    /// Window end.
    pub window_end: DateTime<Utc>,
    /// When the mediator asked for it.
    pub created_at: DateTime<Utc>,
    /// `recovery` (a down→up change), `sweeper` or `manual`.
    pub trigger: String,
    /// Who started it: the operator's name, `api` (a JSON API call that named
    /// nobody), or `recovery` / `sweeper` for automatic ones; `None` for
    /// manual replays recorded before this was stored.
    pub by: Option<String>,
    /// Whether the bus accepted it.
    pub started: bool,
    /// Why the bus refused it.
    pub start_error: Option<String>,
    /// Its progress.
    pub progress: Progress,
}

/// What handling one replayed event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Resubmitted and accepted.
    Resubmitted,
    /// Already final or in flight.
    Skipped,
    /// Not accepted (refused, unavailable, unknown voucher, dead-lettered).
    Failed,
    /// Not a replayed retry event; nothing to count.
    Ignored,
}

impl ItemOutcome {
    /// `resubmitted`, `skipped`, `failed` or `ignored`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resubmitted => "resubmitted",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::Ignored => "ignored",
        }
    }

    /// The progress counter it adds to: 0 resubmitted, 1 skipped, 2 failed
    /// (`ignored` counts as failed; it is never counted).
    pub fn column(self) -> usize {
        match self {
            Self::Resubmitted => 0,
            Self::Skipped => 1,
            _ => 2,
        }
    }
}

/// A replay to record before the bus is asked to start it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReplay {
    /// The part.
    pub part: String,
    /// The archive replayed (the name's base).
    pub archive: String,
    /// Window start.
    pub start: DateTime<Utc>,
    /// Window end.
    pub end: DateTime<Utc>,
    /// When the mediator asked for it (the name's time).
    pub created_at: DateTime<Utc>,
    /// `recovery`, `sweeper` or `manual`.
    pub trigger: String,
    /// The down→up status change a recovery replay is for.
    pub change_id: Option<i64>,
    /// Retry events of the window, from the DataCache's ledger.
    pub expected: i64,
    /// Who started it.
    pub by: String,
    /// The part's most recently recorded replay when the caller found no
    /// active one (`None`: the part had none). Recording is refused with
    /// [`Recorded::Superseded`] when another replay of the part was recorded
    /// since: "one active replay per part" across replicas, checked in the
    /// same write as the record.
    pub after: Option<String>,
}

/// What [`ReplayStore::create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded under this name; or, when a replay for the status change
    /// was recorded before, that replay's name (nothing new recorded).
    Name(String),
    /// Nothing recorded: this replay of the part was recorded after the
    /// one [`NewReplay::after`] names.
    Superseded(String),
}

impl NewReplay {
    /// The replay's name when created `offset` seconds after its creation
    /// time (names are unique: a taken name moves to the next second).
    pub fn name_at(&self, offset: i64) -> String {
        replay_name(
            &self.archive,
            self.created_at + chrono::Duration::seconds(offset),
        )
    }
}

/// One handled replayed event to count: `(replay, event id, voucher,
/// outcome)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandledEvent {
    /// The replay that delivered it.
    pub replay: String,
    /// The replayed event's id.
    pub event_id: String,
    /// Its voucher's `loyalty_request_id`.
    pub loyalty_request_id: String,
    /// What handling it did.
    pub outcome: ItemOutcome,
}

/// Adds `event`'s outcome to its replay's (resubmitted, skipped, failed)
/// in `per_replay`, in first-seen order: both stores add their counts per
/// replay, once per transaction.
pub fn tally<'a>(per_replay: &mut Vec<(&'a str, [i64; 3])>, event: &'a HandledEvent) {
    let column = event.outcome.column();
    match per_replay.iter_mut().find(|(r, _)| *r == event.replay) {
        Some((_, n)) => n[column] += 1,
        None => {
            let mut n = [0; 3];
            n[column] = 1;
            per_replay.push((&event.replay, n));
        }
    }
}

/// A replay's progress after counting, for live notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// The replay.
    pub replay: String,
    /// Its part.
    pub part: String,
    /// Replayed events handled so far.
    pub processed: i64,
    /// Retry events its window holds.
    pub expected: i64,
}
