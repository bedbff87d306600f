//! The one place where mediator-core's model becomes its wire shape: the
//! JSON API's handlers and the console's server functions both call these
//! (feature `domain`, never in the browser build).
//!
//! Times: the JSON API writes chrono's RFC 3339 ([`time`]: as many
//! fractional digits as the time has); the overview's own fields and the
//! console's replay view whole seconds ([`time_secs`]); override times and
//! snapshot stamps milliseconds ([`time_millis`]).

use chrono::{DateTime, SecondsFormat, Utc};
use mediator_core::{archives, circuit_override, datacache, history, recovery, replay_records};

use crate::access::{AuditEntry, Caller};
use crate::archives::{
    ArchiveEventsView, ArchivePage, ArchiveSummary, ArchivedEvent, ArchivedEventView,
};
use crate::history::{
    Bar, ChangeRef, Incident, IncidentOutcome, IncidentPage, IncidentReplay, IncidentView, Outage,
    OutageView, PartCounters, Timeline, TimelineView, Uptime, UptimeWindow,
};
use crate::latency::{LatencyPoint, LatencySeries, RecentLatency};
use crate::parts::{Override, UptimeSummary};
use crate::replays::{Preview, Replay, ReplayProgress, ReplayView};
use crate::vouchers::{
    DlqPage, DlqVoucher, LifecycleEntry, SubmittedVoucher, Voucher, VoucherDetail, VoucherSearch,
    VoucherStatus,
};

/// A time as the JSON API writes it: RFC 3339 in UTC (`Z`), with the
/// fractional digits the time has (chrono's serde format).
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A time to the second (`2026-01-01T12:00:05Z`).
pub fn time_secs(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A time to the millisecond (`2026-01-01T12:00:05.123Z`).
pub fn time_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl From<mediator_core::VoucherStatus> for VoucherStatus {
    fn from(s: mediator_core::VoucherStatus) -> Self {
        use mediator_core::VoucherStatus as S;
        match s {
            S::Received => VoucherStatus::Received,
            S::Submitting => VoucherStatus::Submitting,
            S::Retry => VoucherStatus::Retry,
            S::Submitted => VoucherStatus::Submitted,
            S::Error => VoucherStatus::Error,
            S::DeadLettered => VoucherStatus::DeadLettered,
        }
    }
}

impl From<&datacache::VoucherRecord> for Voucher {
    fn from(v: &datacache::VoucherRecord) -> Self {
        Voucher {
            loyalty_request_id: v.keys.loyalty_request_id.clone(),
            part: v.part.clone(),
            status: v.status.into(),
            loyalty_reference: v.keys.loyalty_reference.clone(),
            merchant_reference: v.keys.merchant_reference.clone(),
            loyalty_order_reference: v.keys.loyalty_order_reference.clone(),
            attempts: v.attempts,
            received_at: time(v.received_at),
            updated_at: time(v.updated_at),
            last_error: v.last_error.clone(),
        }
    }
}

impl From<&datacache::LifecycleEntry> for LifecycleEntry {
    fn from(e: &datacache::LifecycleEntry) -> Self {
        LifecycleEntry {
            status: e.status.clone(),
            at: time(e.at),
            detail: e.detail.clone(),
        }
    }
}

impl From<&mediator_core::submit::Accepted> for SubmittedVoucher {
    fn from(a: &mediator_core::submit::Accepted) -> Self {
        SubmittedVoucher {
            voucher: (&a.voucher).into(),
            duplicate: a.duplicate,
        }
    }
}

impl From<&mediator_core::commands::vouchers::VoucherDetail> for VoucherDetail {
    fn from(d: &mediator_core::commands::vouchers::VoucherDetail) -> Self {
        VoucherDetail {
            voucher: (&d.voucher).into(),
            lifecycle: d.lifecycle.iter().map(Into::into).collect(),
        }
    }
}

impl From<&datacache::VoucherRecord> for DlqVoucher {
    fn from(v: &datacache::VoucherRecord) -> Self {
        DlqVoucher {
            voucher: v.into(),
            reason: v.last_error.clone(),
            dead_lettered_at: time(v.updated_at),
        }
    }
}

/// The `next_token` after `page`'s last voucher, `at` its time in the
/// list's order, when `more` follow ([`crate::page_token`]).
fn token_after(
    page: &[datacache::VoucherRecord],
    more: bool,
    at: fn(&datacache::VoucherRecord) -> DateTime<Utc>,
) -> Option<String> {
    let last = page.last().filter(|_| more)?;
    Some(crate::page_token::encode(
        at(last).timestamp_millis(),
        &last.keys.loyalty_request_id,
    ))
}

impl VoucherSearch {
    /// A page of vouchers found by reference, newest received first; `more`:
    /// another page follows, starting after the last one here.
    pub fn found(page: &[datacache::VoucherRecord], more: bool) -> Self {
        VoucherSearch {
            vouchers: page.iter().map(Voucher::from).collect(),
            next_token: token_after(page, more, |v| v.received_at),
        }
    }
}

impl From<&datacache::VoucherPage> for VoucherSearch {
    fn from(page: &datacache::VoucherPage) -> Self {
        VoucherSearch {
            vouchers: page.vouchers.iter().map(Voucher::from).collect(),
            next_token: page
                .next
                .as_ref()
                .map(|(ms, id)| crate::page_token::encode(*ms, id)),
        }
    }
}

impl DlqPage {
    /// A page of the dead-letter queue, oldest dead-lettered first; `more`:
    /// another page follows, starting after the last one here.
    pub fn dead_lettered(page: &[datacache::VoucherRecord], more: bool) -> Self {
        DlqPage {
            vouchers: page.iter().map(DlqVoucher::from).collect(),
            next_token: token_after(page, more, |v| v.updated_at),
        }
    }
}

impl From<&mediator_core::dlq_filter::DlqFilter> for crate::bulk_redrives::DlqFilter {
    fn from(f: &mediator_core::dlq_filter::DlqFilter) -> Self {
        crate::bulk_redrives::DlqFilter {
            part: f.part.as_ref().map(|p| p.as_str().to_owned()),
            reason_contains: f.reason_contains.clone(),
            received_since: f.received_since.map(time),
            received_until: f.received_until.map(time),
            dead_lettered_since: f.dead_lettered_since.map(time),
            dead_lettered_until: f.dead_lettered_until.map(time),
        }
    }
}

impl From<&recovery::BulkRedrive> for crate::bulk_redrives::BulkRedrive {
    fn from(b: &recovery::BulkRedrive) -> Self {
        crate::bulk_redrives::BulkRedrive {
            id: b.id.clone(),
            state: b.state.as_str().to_owned(),
            filter: (&b.filter).into(),
            rate: b.rate_per_sec,
            total: b.total,
            done: b.done(),
            redriven: b.redriven,
            submitted: b.submitted,
            skipped: b.skipped,
            failed: b.failed,
            started_by: b.started_by.clone(),
            started_at: time(b.started_at),
            ended_at: b.ended_at.map(time),
        }
    }
}

impl From<replay_records::Progress> for ReplayProgress {
    fn from(p: replay_records::Progress) -> Self {
        ReplayProgress {
            expected: p.expected,
            processed: p.processed,
            resubmitted: p.resubmitted,
            skipped: p.skipped,
            failed: p.failed,
        }
    }
}

/// What the bus said about a replay: its state, nothing (it does not know
/// the replay) or why it could not be asked.
pub type BusState = Result<Option<recovery::ReplayInfo>, recovery::ReplayError>;

/// A replay's state as the bus reports it, or `UNKNOWN` (`NOT_STARTED`
/// when the bus refused it) when the bus does not know it — then with
/// `unknown_reason` —, or `UNKNOWN` with the reason it could not be asked.
fn bus_state(
    r: &replay_records::ReplayRecord,
    bus: BusState,
    unknown_reason: Option<String>,
) -> recovery::ReplayInfo {
    match bus {
        Ok(Some(info)) => info,
        Ok(None) => recovery::ReplayInfo {
            state: if r.started { "UNKNOWN" } else { "NOT_STARTED" }.to_string(),
            state_reason: unknown_reason,
            event_last_replayed_time: None,
            replay_start_time: None,
            replay_end_time: None,
        },
        Err(e) => recovery::ReplayInfo {
            state: "UNKNOWN".to_string(),
            state_reason: Some(e.to_string()),
            event_last_replayed_time: None,
            replay_start_time: None,
            replay_end_time: None,
        },
    }
}

impl Replay {
    /// A replay record with what the bus said about it: `UNKNOWN` (or
    /// `NOT_STARTED`) when the bus does not know it, `UNKNOWN` with the
    /// reason when it could not be asked.
    pub fn new(r: replay_records::ReplayRecord, bus: BusState) -> Self {
        let info = bus_state(&r, bus, None);
        Replay {
            name: r.name,
            part: r.part,
            archive: r.archive,
            window_start: time(r.window_start),
            window_end: time(r.window_end),
            created_at: time(r.created_at),
            trigger: r.trigger,
            by: r.by,
            started: r.started,
            start_error: r.start_error,
            progress: r.progress.into(),
            state: info.state,
            state_reason: info.state_reason,
            event_last_replayed_time: info.event_last_replayed_time.map(time),
            replay_start_time: info.replay_start_time.map(time),
            replay_end_time: info.replay_end_time.map(time),
        }
    }
}

impl ReplayView {
    /// A replay record with what the bus said about it (a replay the bus
    /// does not know shows why it refused it), its duration measured up to
    /// `now` while it runs.
    pub fn new(r: replay_records::ReplayRecord, bus: BusState, now: DateTime<Utc>) -> Self {
        let info = bus_state(&r, bus, r.start_error.clone());
        let (started, ended) = (info.replay_start_time, info.replay_end_time);
        ReplayView {
            duration_secs: started.map(|s| (ended.unwrap_or(now) - s).num_seconds()),
            name: r.name,
            part: r.part,
            archive: r.archive,
            window_start: time_secs(r.window_start),
            window_end: time_secs(r.window_end),
            created_at: time_secs(r.created_at),
            trigger: r.trigger,
            by: r.by,
            state: info.state,
            state_reason: info.state_reason,
            cursor: info.event_last_replayed_time.map(time_secs),
            started_at: started.map(time_secs),
            ended_at: ended.map(time_secs),
            expected: r.progress.expected,
            processed: r.progress.processed,
            resubmitted: r.progress.resubmitted,
            skipped: r.progress.skipped,
            failed: r.progress.failed,
        }
    }
}

impl From<recovery::Preview> for Preview {
    fn from(p: recovery::Preview) -> Self {
        Preview {
            archived: p.archived,
            pending: p.pending,
            archive_event_count: p.archive_event_count,
        }
    }
}

impl From<&circuit_override::CircuitOverride> for Override {
    fn from(o: &circuit_override::CircuitOverride) -> Self {
        Override {
            mode: o.mode.as_str().into(),
            reason: o.reason.clone(),
            by: o.by.clone(),
            at: time_millis(o.at),
        }
    }
}

impl crate::parts::OverrideResult {
    /// `part`'s override and effective circuit after a change (the JSON
    /// API's answer and the console's server function's).
    pub fn new(part: &str, set: &mediator_core::commands::overrides::OverrideSet) -> Self {
        crate::parts::OverrideResult {
            part: part.to_owned(),
            override_: set.current.as_ref().map(Override::from),
            circuit: circuit_name(set.closed).into(),
        }
    }
}

impl From<&mediator_core::Principal> for Caller {
    fn from(p: &mediator_core::Principal) -> Self {
        Caller {
            name: p.name.clone(),
            role: p.role.as_str().into(),
            via: p.via.as_str().into(),
        }
    }
}

impl From<&mediator_core::AuditEntry> for AuditEntry {
    fn from(e: &mediator_core::AuditEntry) -> Self {
        AuditEntry {
            id: e.id,
            at: time(e.at),
            actor: e.actor.clone(),
            role: e.role.clone(),
            via: e.via.clone(),
            action: e.action.clone(),
            target: e.target.clone(),
            reason: e.reason.clone(),
            outcome: e.outcome.clone(),
            detail: e.detail.clone(),
        }
    }
}

impl From<&mediator_core::monitor::CheckRecord> for crate::parts::CheckResult {
    fn from(c: &mediator_core::monitor::CheckRecord) -> Self {
        crate::parts::CheckResult {
            part: c.part.clone(),
            at: time(c.at),
            ok: c.ok,
            latency_ms: c.latency_ms,
            error: c.error.clone(),
            status: c.circuit.status.as_str().to_owned(),
            changed: c.change.is_some(),
        }
    }
}

/// `closed` or `open`: the effective circuit as the API names it.
pub fn circuit_name(closed: bool) -> &'static str {
    if closed {
        "closed"
    } else {
        "open"
    }
}

impl From<&history::UptimeWindow> for UptimeWindow {
    fn from(w: &history::UptimeWindow) -> Self {
        UptimeWindow {
            window: w.window.clone(),
            up_secs: w.up_secs,
            down_secs: w.down_secs,
            no_data_secs: w.no_data_secs,
            percent: w.percent,
        }
    }
}

impl From<&history::Uptime> for Uptime {
    fn from(u: &history::Uptime) -> Self {
        Uptime {
            part: u.part.clone(),
            windows: u.windows.iter().map(Into::into).collect(),
        }
    }
}

impl From<&history::Uptime> for UptimeSummary {
    fn from(u: &history::Uptime) -> Self {
        let pct = |w: &str| {
            u.windows
                .iter()
                .find(|x| x.window == w)
                .and_then(|x| x.percent)
        };
        UptimeSummary {
            h24: pct("24h"),
            d7: pct("7d"),
            d30: pct("30d"),
            d90: pct("90d"),
        }
    }
}

impl From<&history::Bar> for Bar {
    fn from(b: &history::Bar) -> Self {
        Bar {
            start: time(b.start),
            end: time(b.end),
            label: b.label.clone(),
            down_secs: b.down_secs,
            up_secs: b.up_secs,
            no_data_secs: b.no_data_secs,
            down_minutes: b.down_minutes,
            outages: b.outages,
        }
    }
}

impl From<&history::Outage> for Outage {
    fn from(o: &history::Outage) -> Self {
        Outage {
            id: o.id,
            part: o.part.clone(),
            start: time(o.start),
            end: o.end.map(time),
            ongoing: o.ongoing,
            duration_secs: o.duration_secs,
            retries_held: o.retries_held,
        }
    }
}

impl From<&history::Timeline> for Timeline {
    fn from(t: &history::Timeline) -> Self {
        Timeline {
            part: t.part.clone(),
            granularity: t.granularity.clone(),
            start: time(t.start),
            end: time(t.end),
            bars: t.bars.iter().map(Into::into).collect(),
            outages: t.outages.iter().map(Into::into).collect(),
        }
    }
}

impl From<&history::IncidentReplay> for IncidentReplay {
    fn from(r: &history::IncidentReplay) -> Self {
        IncidentReplay {
            name: r.name.clone(),
            trigger: r.trigger.clone(),
            by: r.by.clone(),
            window_start: time(r.window_start),
            window_end: time(r.window_end),
            created_at: time(r.created_at),
            state: r.state.clone(),
            expected: r.expected,
            processed: r.processed,
            resubmitted: r.resubmitted,
            skipped: r.skipped,
            failed: r.failed,
        }
    }
}

impl From<&history::PartCounters> for PartCounters {
    fn from(c: &history::PartCounters) -> Self {
        PartCounters {
            part: c.part.clone(),
            pending_retries: c.pending_retries,
            archived: c.archived,
            resubmitted: c.resubmitted,
            dead_lettered: c.dead_lettered,
            latest_replay: c.latest_replay.as_ref().map(Into::into),
        }
    }
}

impl From<&history::ChangeRef> for ChangeRef {
    fn from(c: &history::ChangeRef) -> Self {
        ChangeRef {
            id: c.id,
            status: c.status.clone(),
            prev_status: c.prev_status.clone(),
            at: time(c.at),
        }
    }
}

impl From<history::IncidentOutcome> for IncidentOutcome {
    fn from(o: history::IncidentOutcome) -> Self {
        IncidentOutcome {
            resubmitted: o.resubmitted,
            skipped: o.skipped,
            failed: o.failed,
            dead_lettered: o.dead_lettered,
            pending: o.pending,
        }
    }
}

impl From<&history::Incident> for Incident {
    fn from(i: &history::Incident) -> Self {
        Incident {
            id: i.id,
            part: i.part.clone(),
            start: time(i.start),
            end: i.end.map(time),
            ongoing: i.ongoing,
            duration_secs: i.duration_secs,
            retries_held: i.retries_held,
            status_changes: i.status_changes.iter().map(Into::into).collect(),
            replays: i.replays.iter().map(Into::into).collect(),
            outcome: i.outcome.into(),
            state: i.state.clone(),
            vouchers: String::new(),
        }
        .with_vouchers_link()
    }
}

impl From<&history::IncidentPage> for IncidentPage {
    fn from(p: &history::IncidentPage) -> Self {
        IncidentPage {
            incidents: p.incidents.iter().map(Into::into).collect(),
            next_token: p.next_token.clone(),
        }
    }
}

/// The replay window the console proposes for an outage from `start` to
/// `end` (`None`: ongoing): `margin` before and after, ending no later
/// than the commands allow from `now`.
fn proposed_window(
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    margin: chrono::Duration,
    now: DateTime<Utc>,
) -> (String, String) {
    let end = end.unwrap_or(now);
    (
        time_secs(start - margin),
        time_secs(mediator_core::commands::replays::proposed_end(
            end + margin,
            now,
        )),
    )
}

impl OutageView {
    /// An outage with the replay window the console proposes (`margin`:
    /// the part's replay margin), not placed on a timeline.
    pub fn new(o: &history::Outage, margin: chrono::Duration, now: DateTime<Utc>) -> Self {
        let (replay_start, replay_end) = proposed_window(o.start, o.end, margin, now);
        OutageView {
            outage: o.into(),
            replay_start,
            replay_end,
            left_pct: 0.0,
            width_pct: 0.0,
        }
    }
}

impl From<&history::LatencyPoint> for LatencyPoint {
    fn from(p: &history::LatencyPoint) -> Self {
        LatencyPoint {
            start: time(p.start),
            end: time(p.end),
            label: p.label.clone(),
            checks: p.checks,
            p50_ms: p.p50_ms,
            p95_ms: p.p95_ms,
        }
    }
}

impl From<&history::LatencySeries> for LatencySeries {
    fn from(s: &history::LatencySeries) -> Self {
        LatencySeries {
            part: s.part.clone(),
            granularity: s.granularity.clone(),
            start: time(s.start),
            end: time(s.end),
            checks: s.overall.checks,
            p50_ms: s.overall.p50_ms,
            p95_ms: s.overall.p95_ms,
            points: s.points.iter().map(Into::into).collect(),
        }
    }
}

impl From<&history::LatencySeries> for RecentLatency {
    fn from(s: &history::LatencySeries) -> Self {
        RecentLatency {
            p50_ms_per_minute: s.points.iter().map(|p| p.p50_ms).collect(),
            p50_ms: s.overall.p50_ms,
            p95_ms: s.overall.p95_ms,
        }
    }
}

impl TimelineView {
    /// A timeline with each outage's proposed replay window and its place
    /// on the timeline (in % of its range), and the response time per bar
    /// (`latency`, over the same range).
    pub fn new(
        t: &history::Timeline,
        latency: &history::LatencySeries,
        margin: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Self {
        let range = (t.end - t.start).num_milliseconds().max(1) as f64;
        TimelineView {
            part: t.part.clone(),
            granularity: t.granularity.clone(),
            start: time(t.start),
            end: time(t.end),
            bars: t.bars.iter().map(Into::into).collect(),
            latency: latency.into(),
            outages: t
                .outages
                .iter()
                .map(|o| {
                    let a = o.start.max(t.start);
                    let b = o.end.unwrap_or(now).min(t.end).max(a);
                    OutageView {
                        left_pct: (a - t.start).num_milliseconds() as f64 * 100.0 / range,
                        width_pct: (b - a).num_milliseconds() as f64 * 100.0 / range,
                        ..OutageView::new(o, margin, now)
                    }
                })
                .collect(),
        }
    }
}

impl IncidentView {
    /// An incident with the replay window the console proposes.
    pub fn new(i: &history::Incident, margin: chrono::Duration, now: DateTime<Utc>) -> Self {
        let (replay_start, replay_end) = proposed_window(i.start, i.end, margin, now);
        IncidentView {
            incident: i.into(),
            replay_start,
            replay_end,
        }
    }
}

impl From<&archives::ArchiveSummary> for ArchiveSummary {
    fn from(a: &archives::ArchiveSummary) -> Self {
        ArchiveSummary {
            name: a.name.clone(),
            part: a.part.clone(),
            pattern: a.pattern.clone(),
            retention_days: a.retention_days,
            state: a.state.clone(),
            event_count: a.event_count,
            size_bytes: a.size_bytes,
            oldest: a.oldest.map(time),
            newest: a.newest.map(time),
        }
    }
}

impl From<archives::ArchivedEvent> for ArchivedEvent {
    fn from(e: archives::ArchivedEvent) -> Self {
        ArchivedEvent {
            seq: e.seq,
            time: time(e.time),
            event: e.event,
        }
    }
}

impl From<archives::ArchivePage> for ArchivePage {
    fn from(p: archives::ArchivePage) -> Self {
        ArchivePage {
            events: p.events.into_iter().map(Into::into).collect(),
            next_token: p.next_token,
        }
    }
}

impl From<archives::ArchivedEvent> for ArchivedEventView {
    fn from(e: archives::ArchivedEvent) -> Self {
        let detail = e.event.get("detail");
        let text = |pointer: &str| {
            detail
                .and_then(|d| d.pointer(pointer))
                .and_then(|s| s.as_str())
                .unwrap_or("")
        };
        ArchivedEventView {
            seq: e.seq,
            time: time_secs(e.time),
            summary: format!(
                "{} {}",
                text("/metadata/status"),
                text("/data/loyalty_request_id")
            )
            .trim()
            .to_string(),
            json: serde_json::to_string_pretty(&e.event).unwrap_or_default(),
        }
    }
}

impl From<archives::ArchivePage> for ArchiveEventsView {
    fn from(p: archives::ArchivePage) -> Self {
        ArchiveEventsView {
            events: p.events.into_iter().map(Into::into).collect(),
            next_token: p.next_token,
        }
    }
}

impl From<&mediator_core::notify::Channel> for crate::notify::NotificationChannel {
    fn from(c: &mediator_core::notify::Channel) -> Self {
        crate::notify::NotificationChannel {
            name: c.name.clone(),
            type_: c.target.type_name().to_owned(),
            parts: c.filter.parts.clone(),
            kinds: c
                .filter
                .kinds
                .iter()
                .map(|k| k.as_str().to_owned())
                .collect(),
        }
    }
}

impl From<&mediator_core::storage::notify::DeliveryRecord> for crate::notify::NotificationDelivery {
    fn from(d: &mediator_core::storage::notify::DeliveryRecord) -> Self {
        crate::notify::NotificationDelivery {
            channel: d.channel.clone(),
            kind: d.kind.clone(),
            event_id: d.event_id.clone(),
            part: d.part.clone(),
            summary: d.summary.clone(),
            attempts: d.attempts,
            status: d.status.as_str().to_owned(),
            last_error: d.last_error.clone(),
            created_at: time(d.created_at),
            updated_at: time(d.updated_at),
        }
    }
}

/// The channels of `notifier` (`None`: this backend sends none) and the
/// newest `deliveries`, as the API and the console show them.
pub fn notifications(
    notifier: Option<&mediator_core::notify::Notifier>,
    deliveries: &[mediator_core::storage::notify::DeliveryRecord],
) -> crate::notify::Notifications {
    crate::notify::Notifications {
        available: notifier.is_some(),
        channels: notifier
            .map(|n| n.channels().iter().map(Into::into).collect())
            .unwrap_or_default(),
        deliveries: deliveries.iter().map(Into::into).collect(),
    }
}

impl crate::MaintenanceWindow {
    /// `w` as the JSON API and the console show it at `now`.
    pub fn new(w: &mediator_core::maintenance::MaintenanceWindow, now: DateTime<Utc>) -> Self {
        crate::MaintenanceWindow {
            id: w.id.clone(),
            part: w.part.clone(),
            state: w.state(now).as_str().into(),
            start: time(w.start),
            end: time(w.end),
            ended_at: w.ended_at.map(time),
            reason: w.reason.clone(),
            by: w.by.clone(),
            created_at: time(w.created_at),
            ended_by: w.ended_by.clone(),
            end_reason: w.end_reason.clone(),
            replay: w.replay.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API's times are written exactly as chrono's serde writes them
    /// (what the handlers answered before they were typed).
    #[test]
    fn api_times_match_chronos_serde_format() {
        for t in [
            "2026-01-01T12:00:05Z",
            "2026-01-01T12:00:05.120Z",
            "2026-01-01T12:00:05.123456Z",
            "2026-01-01T12:00:05.123456789Z",
        ] {
            let t = DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::Value::String(time(t))
            );
        }
        let t = DateTime::parse_from_rfc3339("2026-01-01T12:00:05.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(time_secs(t), "2026-01-01T12:00:05Z");
        assert_eq!(time_millis(t), "2026-01-01T12:00:05.500Z");
    }
}
