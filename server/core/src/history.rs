//! The console's read models over the monitor's history: uptime, timelines
//! (days → hours → minutes), outages and incidents, the overview's counters
//! and the archives.
//!
//! Everything is computed from **status-change intervals**
//! (`mon_status_changes`: a part is down from a `down` change to the next
//! change), never by counting checks, so a part polled every 5 minutes and
//! one polled every 15 s report the same minutes down for the same outage.
//! Time without data is reported as such, never as up: before the part's
//! first status change, hours in which the part was not checked at all
//! (the `hour` roll-ups of `mon_rollups` are empty: the mediator was
//! stopped), and the future. Reads touch only indexed rows: the changes of
//! the range, ≤ 24 roll-up rows a day, and per outage its ledger rows, so
//! 90 days stay cheap.
//!
//! An **incident** is an outage: its id is the id of the `down` status
//! change that opened it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::storage::StoreError;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc};

use crate::archives::{ArchiveBrowser, ArchiveCursor, ArchiveError, ArchivePage, ArchiveSummary};
use crate::part::PartSettings;
use crate::recovery::Recovery;
use crate::recovery::{ReplayRecord, ACTIVE_STATES};
use crate::storage::history::{ChangeRow, MonitorHistory};
use crate::storage::replays::ReplayStore;
use crate::storage::VoucherStore;
use crate::voucher::VoucherStatus;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Longest timeline, in days.
pub const MAX_DAYS: u32 = 90;
/// Largest page of incidents.
pub const MAX_INCIDENTS_PAGE: usize = 200;
/// Largest page of archived events.
pub const MAX_ARCHIVE_PAGE: usize = 500;

/// Why a read model could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The part is not configured (field `part`).
    #[error("part {0:?} is not configured")]
    UnknownPart(String),
    /// A parameter is invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// The parameter at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No archive of that name (field `name`).
    #[error("archive {0:?} not found")]
    UnknownArchive(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus failed.
    #[error("bus unavailable: {0}")]
    Bus(String),
    /// The backend cannot do this (e.g. list archived events on AWS).
    #[error("not supported by this backend: {0}")]
    Unsupported(String),
}

impl From<ArchiveError> for HistoryError {
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::NotFound(n) => HistoryError::UnknownArchive(n),
            ArchiveError::Unavailable(m) => HistoryError::Bus(m),
            ArchiveError::Unsupported(m) => HistoryError::Unsupported(m),
        }
    }
}

/// Uptime of one part over the standard windows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Uptime {
    /// The part.
    pub part: String,
    /// 24h, 7d, 30d and 90d, in that order.
    pub windows: Vec<UptimeWindow>,
}

/// Uptime over one window ending now.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UptimeWindow {
    /// `24h`, `7d`, `30d` or `90d`.
    pub window: String,
    /// Seconds the part was up.
    pub up_secs: i64,
    /// Seconds it was down.
    pub down_secs: i64,
    /// Seconds without data (not yet checked, mediator stopped).
    pub no_data_secs: i64,
    /// `up / (up + down) × 100`; `None` when the window has no data at all.
    pub percent: Option<f64>,
}

/// The uptime windows, with their length.
pub const WINDOWS: [(&str, i64); 4] = [
    ("24h", DAY_MS),
    ("7d", 7 * DAY_MS),
    ("30d", 30 * DAY_MS),
    ("90d", 90 * DAY_MS),
];

/// Bars over a range at one granularity, and the outages overlapping it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timeline {
    /// The part.
    pub part: String,
    /// Bar size: `day`, `hour` or `minute`.
    pub granularity: String,
    /// Start of the first bar.
    pub start: DateTime<Utc>,
    /// End of the last bar (exclusive).
    pub end: DateTime<Utc>,
    /// The bars, oldest first.
    pub bars: Vec<Bar>,
    /// Outages overlapping `[start, end)`, oldest first.
    pub outages: Vec<Outage>,
}

/// One bar of a timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bar {
    /// Its start.
    pub start: DateTime<Utc>,
    /// Its end (exclusive).
    pub end: DateTime<Utc>,
    /// `2026-11-26` (day), `10:00` (hour) or `10:42` (minute), UTC.
    pub label: String,
    /// Seconds down.
    pub down_secs: i64,
    /// Seconds up.
    pub up_secs: i64,
    /// Seconds without data (including the future).
    pub no_data_secs: i64,
    /// `down_secs / 60`.
    pub down_minutes: f64,
    /// Outages overlapping the bar.
    pub outages: u32,
}

/// One outage: from a `down` status change to the next change.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outage {
    /// The incident id (the id of the `down` status change).
    pub id: i64,
    /// The part.
    pub part: String,
    /// When the part went down.
    pub start: DateTime<Utc>,
    /// When it came back; `None` while it is still down.
    pub end: Option<DateTime<Utc>>,
    /// Whether it is still down.
    pub ongoing: bool,
    /// Seconds from start to end (to now while ongoing).
    pub duration_secs: i64,
    /// Vouchers held back (sent to `retry`) during the outage.
    pub retries_held: i64,
}

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

/// The overview's counters of one part.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PartCounters {
    /// The part.
    pub part: String,
    /// Vouchers held back now (`retry`).
    pub pending_retries: i64,
    /// Events the part's archive holds; `None` when the bus did not answer.
    pub archived: Option<i64>,
    /// Vouchers resubmitted by the part's replays, in total.
    pub resubmitted: i64,
    /// Vouchers dead-lettered now.
    pub dead_lettered: i64,
    /// The part's latest replay with its progress.
    pub latest_replay: Option<IncidentReplay>,
}

/// The ports [`History`] reads.
#[derive(Clone)]
pub struct HistoryPorts {
    /// The monitor's records (status changes, checked hours).
    pub monitor: Arc<dyn MonitorHistory>,
    /// What vouchers each outage held, and their statuses.
    pub vouchers: Arc<dyn VoucherStore>,
    /// The replays where the recovery records them.
    pub replays: Arc<dyn ReplayStore>,
}

/// The read models; cheap to clone.
#[derive(Clone)]
pub struct History {
    replays: Arc<dyn ReplayStore>,
    monitor: Arc<dyn MonitorHistory>,
    vouchers: Arc<dyn VoucherStore>,
    parts: Arc<Vec<PartSettings>>,
    recovery: Option<Arc<Recovery>>,
    archives: Option<Arc<dyn ArchiveBrowser>>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("parts", &self.parts.len())
            .finish()
    }
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn floor(ms: i64, size: i64) -> i64 {
    ms - ms.rem_euclid(size)
}

/// Status intervals of one part over a range, and the hours it was checked.
struct PartData {
    /// (change id, start ms, status, prev status) in order; each lasts
    /// until the next. Before the first: no status yet (no data).
    changes: Vec<(i64, i64, String, String)>,
    /// Runs of consecutive hour buckets with at least one check, as
    /// (first hour, last hour) in ms, in order.
    covered: Vec<(i64, i64)>,
    /// The down intervals `(id, start, end)` of `changes`, in order (so
    /// their ends are in order too).
    downs: Vec<(i64, i64, Option<i64>)>,
    now: i64,
}

/// Seconds up, down and without data.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Split {
    up: i64,
    down: i64,
    none: i64,
}

impl PartData {
    fn checked(&self, hour: i64) -> bool {
        let i = self.covered.partition_point(|r| r.1 < hour);
        self.covered.get(i).is_some_and(|r| r.0 <= hour)
    }

    /// Milliseconds up/down/without data in `[a, b)`. Time counts only in
    /// hours the part was checked in; the current hour counts as checked
    /// while the previous one was (its first check may be due). Walks the
    /// runs of checked hours (a handful), not the hours (2,160 in 90 days).
    fn split(&self, a: i64, b: i64) -> Split {
        let mut s = Split::default();
        if b <= a {
            return s;
        }
        let known_end = b.min(self.now).max(a);
        s.none += b - known_end;
        // The current hour counts as checked while the previous one was:
        // it extends the run that ends with the previous hour.
        let current = floor(self.now, HOUR_MS);
        let extends = self.checked(current - HOUR_MS);
        let mut covered = 0;
        // One run earlier too: the run the current hour extends.
        let first = self
            .covered
            .partition_point(|r| r.1 + HOUR_MS <= a)
            .saturating_sub(1);
        for &(run_start, run_end) in &self.covered[first..] {
            if run_start >= known_end {
                break;
            }
            let mut end = run_end + HOUR_MS;
            if extends && run_end == current - HOUR_MS {
                end = current + HOUR_MS;
            }
            let (x, y) = (a.max(run_start), known_end.min(end));
            if y > x {
                self.split_status(x, y, &mut s);
                covered += y - x;
            }
        }
        s.none += (known_end - a) - covered;
        s
    }

    fn split_status(&self, x: i64, y: i64, s: &mut Split) {
        let c = &self.changes;
        // First interval that ends after x.
        let i = c.partition_point(|ch| ch.1 <= x);
        // Before the first change: no status yet.
        if i == 0 {
            let first = c.first().map_or(y, |ch| ch.1.min(y));
            s.none += first - x;
        }
        let mut k = i.saturating_sub(1);
        while k < c.len() && c[k].1 < y {
            let start = c[k].1.max(x);
            let end = c.get(k + 1).map_or(y, |n| n.1.min(y));
            if end > start {
                match c[k].2.as_str() {
                    "down" => s.down += end - start,
                    "up" => s.up += end - start,
                    _ => s.none += end - start,
                }
            }
            k += 1;
        }
    }

    /// Down intervals `(id, start, end)` overlapping `[a, b)`.
    fn outages(&self, a: i64, b: i64) -> &[(i64, i64, Option<i64>)] {
        let d = &self.downs;
        let first = d.partition_point(|(_, _, e)| e.is_some_and(|e| e <= a));
        let last = d.partition_point(|(_, s, _)| *s < b).max(first);
        &d[first..last]
    }
}

/// The part's data for a range: the changes that matter for it (the one
/// in force at its start, those inside, the first after) and the hours it
/// was checked in (ascending hour starts).
fn part_data(rows: Vec<ChangeRow>, hours: Vec<i64>, now: i64) -> PartData {
    let changes: Vec<(i64, i64, String, String)> = rows
        .into_iter()
        .map(|r| (r.id, r.at_ms, r.status, r.prev_status))
        .collect();
    // Only the edges of the runs of checked hours are kept.
    let mut covered: Vec<(i64, i64)> = Vec::new();
    for hour in hours {
        match covered.last_mut() {
            Some(run) if hour - run.1 <= HOUR_MS => run.1 = hour,
            _ => covered.push((hour, hour)),
        }
    }
    let downs = changes
        .iter()
        .enumerate()
        .filter(|(_, ch)| ch.2 == "down")
        .map(|(k, ch)| (ch.0, ch.1, changes.get(k + 1).map(|n| n.1)))
        .collect();
    PartData {
        changes,
        covered,
        downs,
        now,
    }
}

/// A replay record as an incident shows it, and whether the bus accepted it.
fn incident_replay(r: ReplayRecord) -> (IncidentReplay, bool) {
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
    /// Read models over `ports` for `parts` (in configuration order). Without
    /// [`History::with_recovery`] replay states are `UNKNOWN`; without
    /// [`History::with_archives`] archive counts are `None`.
    pub fn new(ports: HistoryPorts, parts: Vec<PartSettings>) -> Self {
        Self {
            monitor: ports.monitor,
            vouchers: ports.vouchers,
            replays: ports.replays,
            parts: Arc::new(parts),
            recovery: None,
            archives: None,
        }
    }

    /// Where the monitor's records are read.
    pub fn monitor_history(&self) -> &dyn MonitorHistory {
        self.monitor.as_ref()
    }

    /// The changes and checked hours of `part` for `[a, b)`.
    async fn load_part(
        &self,
        part: &str,
        a: i64,
        b: i64,
        now: i64,
    ) -> Result<PartData, StoreError> {
        let rows = self.monitor.changes_around(part, a, b).await?;
        // From the hour before `a`: a run of checks reaching into the range.
        let hours = self
            .monitor
            .checked_hours(part, floor(a, HOUR_MS) - HOUR_MS, b)
            .await?;
        Ok(part_data(rows, hours, now))
    }

    /// The vouchers of `part` held back between `start` and `until` (both
    /// included) and their current statuses.
    async fn held(
        &self,
        part: &str,
        start: i64,
        until: i64,
    ) -> Result<Vec<(String, VoucherStatus)>, StoreError> {
        self.vouchers
            .held_in_window(part, time(start), time(until + 1))
            .await
    }

    /// The outages of `data` overlapping `[a, b)`, with the retries held.
    async fn outage_rows(
        &self,
        part: &str,
        data: &PartData,
        a: i64,
        b: i64,
    ) -> Result<Vec<Outage>, StoreError> {
        let mut out = Vec::new();
        for &(id, s, e) in data.outages(a, b) {
            let until = e.unwrap_or(data.now);
            out.push(Outage {
                id,
                part: part.to_owned(),
                start: time(s),
                end: e.map(time),
                ongoing: e.is_none(),
                duration_secs: (until - s).max(0) / 1000,
                retries_held: self.held(part, s, until).await?.len() as i64,
            });
        }
        Ok(out)
    }

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

    /// Asks `recovery` (the bus) for replay states, and reads the replays
    /// where `recovery` records them ([`Recovery::replay_store`]).
    pub fn with_recovery(mut self, recovery: Arc<Recovery>) -> Self {
        self.replays = recovery.replay_store();
        self.recovery = Some(recovery);
        self
    }

    /// Reads archives through `archives`.
    pub fn with_archives(mut self, archives: Arc<dyn ArchiveBrowser>) -> Self {
        self.archives = Some(archives);
        self
    }

    /// The configured parts.
    pub fn parts(&self) -> &[PartSettings] {
        &self.parts
    }

    fn known(&self, part: &str) -> Result<String, HistoryError> {
        self.parts
            .iter()
            .find(|p| p.name.as_str() == part)
            .map(|p| p.name.to_string())
            .ok_or_else(|| HistoryError::UnknownPart(part.to_owned()))
    }

    async fn replay_state(&self, name: &str, started: bool) -> String {
        if !started {
            return "NOT_STARTED".into();
        }
        match &self.recovery {
            Some(r) => match r.replay_state(name).await {
                Ok(Some(info)) => info.state,
                _ => "UNKNOWN".into(),
            },
            None => "UNKNOWN".into(),
        }
    }

    /// Uptime of `part` over 24 h, 7 d, 30 d and 90 d ending `now`.
    pub async fn uptime(&self, part: &str, now: DateTime<Utc>) -> Result<Uptime, HistoryError> {
        let part = self.known(part)?;
        let now_ms = now.timestamp_millis();
        let data = self
            .load_part(&part, now_ms - 90 * DAY_MS, now_ms, now_ms)
            .await?;
        // The windows nest: split each slice once and add them up.
        let mut acc = Split::default();
        let mut from = now_ms;
        let windows = WINDOWS
            .iter()
            .map(|(name, len)| {
                let slice = data.split(now_ms - len, from);
                from = now_ms - len;
                acc = Split {
                    up: acc.up + slice.up,
                    down: acc.down + slice.down,
                    none: acc.none + slice.none,
                };
                let s = acc;
                UptimeWindow {
                    window: (*name).into(),
                    up_secs: s.up / 1000,
                    down_secs: s.down / 1000,
                    no_data_secs: s.none / 1000,
                    percent: (s.up + s.down > 0)
                        .then(|| s.up as f64 * 100.0 / (s.up + s.down) as f64),
                }
            })
            .collect();
        Ok(Uptime { part, windows })
    }

    async fn timeline(
        &self,
        part: &str,
        granularity: &'static str,
        start: i64,
        size: i64,
        count: i64,
        now: DateTime<Utc>,
    ) -> Result<Timeline, HistoryError> {
        let part = self.known(part)?;
        let now_ms = now.timestamp_millis();
        let end = start + size * count;
        let data = self.load_part(&part, start, end, now_ms).await?;
        let outages = self.outage_rows(&part, &data, start, end).await?;
        let bars = (0..count)
            .map(|i| {
                let (a, b) = (start + i * size, start + (i + 1) * size);
                let s = data.split(a, b);
                let t = time(a);
                Bar {
                    start: t,
                    end: time(b),
                    label: match granularity {
                        "day" => t.format("%Y-%m-%d").to_string(),
                        _ => t.format("%H:%M").to_string(),
                    },
                    down_secs: s.down / 1000,
                    up_secs: s.up / 1000,
                    no_data_secs: s.none / 1000,
                    down_minutes: s.down as f64 / MINUTE_MS as f64,
                    outages: data.outages(a, b).len() as u32,
                }
            })
            .collect();
        Ok(Timeline {
            part,
            granularity: granularity.into(),
            start: time(start),
            end: time(end),
            bars,
            outages,
        })
    }

    /// `days` daily bars (1–90) ending with today (UTC).
    pub async fn days(
        &self,
        part: &str,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<Timeline, HistoryError> {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(HistoryError::Invalid {
                field: "days",
                reason: format!("must be between 1 and {MAX_DAYS}"),
            });
        }
        let today = floor(now.timestamp_millis(), DAY_MS);
        let start = today - (i64::from(days) - 1) * DAY_MS;
        self.timeline(part, "day", start, DAY_MS, days.into(), now)
            .await
    }

    /// The 24 hourly bars of `date` (UTC).
    pub async fn day(
        &self,
        part: &str,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Timeline, HistoryError> {
        let start = date
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc().timestamp_millis())
            .ok_or(HistoryError::Invalid {
                field: "date",
                reason: "is not a valid date".into(),
            })?;
        self.timeline(part, "hour", start, HOUR_MS, 24, now).await
    }

    /// The 60 minute bars of the hour containing `hour` (UTC).
    pub async fn hour(
        &self,
        part: &str,
        hour: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Timeline, HistoryError> {
        let start = hour
            .with_minute(0)
            .and_then(|h| h.with_second(0))
            .and_then(|h| h.with_nanosecond(0))
            .unwrap_or(hour)
            .timestamp_millis();
        self.timeline(part, "minute", start, MINUTE_MS, 60, now)
            .await
    }

    /// The outages of `part` overlapping `[start, end)`, oldest first.
    pub async fn outages(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Outage>, HistoryError> {
        let part = self.known(part)?;
        let (a, b, now_ms) = (
            start.timestamp_millis(),
            end.timestamp_millis(),
            now.timestamp_millis(),
        );
        let data = self.load_part(&part, a, b, now_ms).await?;
        Ok(self.outage_rows(&part, &data, a, b).await?)
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

    /// The overview counters of every configured part, in configuration order.
    pub async fn all_counters(&self) -> Result<Vec<PartCounters>, HistoryError> {
        let archived: Option<HashMap<String, i64>> = match &self.archives {
            Some(a) => a.event_counts().await.ok(),
            None => None,
        };
        let counts = self.vouchers.open_counts().await?;
        let count = |part: &str, status: VoucherStatus| -> i64 {
            counts
                .iter()
                .filter(|(p, st, _)| p == part && st == status.as_str())
                .map(|(_, _, n)| *n as i64)
                .sum()
        };
        let mut replays = Vec::with_capacity(self.parts.len());
        for p in self.parts.iter().map(|p| p.name.to_string()) {
            let resubmitted = self.replays.resubmitted_total(&p).await?;
            let latest = self
                .replays
                .newest(Some(&p), false, 1)
                .await?
                .pop()
                .map(incident_replay);
            replays.push((p, resubmitted, latest));
        }
        let rows: Vec<_> = replays
            .into_iter()
            .map(|(p, resubmitted, latest)| {
                let (pending, dead) = (
                    count(&p, VoucherStatus::Retry),
                    count(&p, VoucherStatus::DeadLettered),
                );
                (p, pending, dead, resubmitted, latest)
            })
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for ((part, pending_retries, dead_lettered, resubmitted, latest), settings) in
            rows.into_iter().zip(self.parts.iter())
        {
            let latest_replay = match latest {
                Some((mut r, started)) => {
                    r.state = self.replay_state(&r.name, started).await;
                    Some(r)
                }
                None => None,
            };
            out.push(PartCounters {
                archived: archived
                    .as_ref()
                    .map(|a| a.get(&settings.archive_name).copied().unwrap_or(0)),
                part,
                pending_retries,
                resubmitted,
                dead_lettered,
                latest_replay,
            });
        }
        Ok(out)
    }

    /// The overview counters of one part.
    pub async fn counters(&self, part: &str) -> Result<PartCounters, HistoryError> {
        let part = self.known(part)?;
        Ok(self
            .all_counters()
            .await?
            .into_iter()
            .find(|c| c.part == part)
            .expect("a configured part has counters"))
    }

    fn browser(&self) -> Result<&Arc<dyn ArchiveBrowser>, HistoryError> {
        self.archives
            .as_ref()
            .ok_or_else(|| HistoryError::Bus("no archive browser configured".into()))
    }

    /// Every archive, with the part whose retry events it keeps.
    pub async fn archives(&self) -> Result<Vec<ArchiveSummary>, HistoryError> {
        let mut list = self.browser()?.archives().await?;
        for a in &mut list {
            a.part = self
                .parts
                .iter()
                .find(|p| p.archive_name == a.name)
                .map(|p| p.name.to_string());
        }
        Ok(list)
    }

    /// The events of archive `name` with an event time in `[start, end)`
    /// (either open), oldest first, `limit` (1–500) per page.
    pub async fn archive_events(
        &self,
        name: &str,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        limit: usize,
        next_token: Option<&str>,
    ) -> Result<ArchivePage, HistoryError> {
        if !(1..=MAX_ARCHIVE_PAGE).contains(&limit) {
            return Err(HistoryError::Invalid {
                field: "limit",
                reason: format!("must be between 1 and {MAX_ARCHIVE_PAGE}"),
            });
        }
        if let (Some(s), Some(e)) = (start, end) {
            if s >= e {
                return Err(HistoryError::Invalid {
                    field: "start",
                    reason: "must be before end".into(),
                });
            }
        }
        let after = next_token
            .map(|t| {
                ArchiveCursor::parse(t).ok_or(HistoryError::Invalid {
                    field: "next_token",
                    reason: "is not a token this API returned".into(),
                })
            })
            .transpose()?;
        let mut events = self
            .browser()?
            .archive_events(name, start, end, after, limit + 1)
            .await?;
        let more = events.len() > limit;
        events.truncate(limit);
        let next_token = more
            .then(|| {
                events.last().map(|e| {
                    ArchiveCursor {
                        time_ms: e.time.timestamp_millis(),
                        seq: e.seq,
                    }
                    .token()
                })
            })
            .flatten();
        Ok(ArchivePage { events, next_token })
    }
}

/// Parses `YYYY-MM-DDTHH` (an hour of the timeline), naming `field`.
pub fn parse_hour(s: &str, field: &'static str) -> Result<DateTime<Utc>, HistoryError> {
    chrono::NaiveDateTime::parse_from_str(&format!("{s}:00"), "%Y-%m-%dT%H:%M")
        .map(|t| t.and_utc())
        .map_err(|_| HistoryError::Invalid {
            field,
            reason: "must be an hour like 2026-11-26T10".into(),
        })
}

/// Parses `YYYY-MM-DD`, naming `field`.
pub fn parse_date(s: &str, field: &'static str) -> Result<NaiveDate, HistoryError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| HistoryError::Invalid {
        field,
        reason: "must be a date like 2026-11-26".into(),
    })
}

/// `now − 90 days`, the oldest time the timelines show.
pub fn horizon(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(MAX_DAYS.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_by_runs_matches_hour_by_hour() {
        let h = HOUR_MS;
        let base = 1_800_000_000_000 - 1_800_000_000_000 % DAY_MS;
        let reference = |d: &PartData, a: i64, b: i64| {
            let mut s = Split::default();
            let known_end = b.min(d.now).max(a);
            s.none += b - known_end;
            let mut hr = floor(a, h);
            while hr < known_end {
                let (x, y) = (a.max(hr), known_end.min(hr + h));
                let covered = d.checked(hr) || (hr == floor(d.now, h) && d.checked(hr - h));
                if y > x {
                    if covered {
                        d.split_status(x, y, &mut s);
                    } else {
                        s.none += y - x;
                    }
                }
                hr += h;
            }
            s
        };
        let changes = vec![
            (
                1,
                base + 2 * h + 5_000,
                "up".to_string(),
                "unknown".to_string(),
            ),
            (
                2,
                base + 7 * h + 17_000,
                "down".to_string(),
                "up".to_string(),
            ),
            (
                3,
                base + 9 * h + 1_000,
                "up".to_string(),
                "down".to_string(),
            ),
            (
                4,
                base + 20 * h + 30_000,
                "down".to_string(),
                "up".to_string(),
            ),
        ];
        for (now_hour, covered) in [
            // The current hour (22) not checked yet, 21 was: it counts.
            (
                22,
                vec![(base + h, base + 5 * h), (base + 8 * h, base + 21 * h)],
            ),
            // 21 not checked: the current hour does not count.
            (
                22,
                vec![(base + h, base + 5 * h), (base + 8 * h, base + 20 * h)],
            ),
            // The current hour checked.
            (22, vec![(base, base + 22 * h)]),
            (3, vec![]),
        ] {
            let d = PartData {
                changes: changes.clone(),
                covered,
                downs: vec![],
                now: base + now_hour * h + 1_234_567,
            };
            for a in (0..25 * 4).map(|q| base + q * h / 4 + 7) {
                for len in [1, 60_000, h / 3, h, 5 * h + 11, 30 * h] {
                    assert_eq!(
                        d.split(a, a + len),
                        reference(&d, a, a + len),
                        "[{a}, +{len})"
                    );
                }
            }
        }
    }
}
