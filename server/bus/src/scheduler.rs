//! Scheduled rules fire: at each due time a rule with a `ScheduleExpression`
//! (default bus only, as on AWS) sends its targets a "Scheduled Event"
//! whose `time` is the scheduled time and whose `resources` name the rule.
//!
//! Each rule's next fire time is stored (`eb_rules.next_fire_ms`). A step
//! writes a due rule's deliveries and advances its next fire time in the
//! same transaction, so a crash never fires a due time twice nor loses it:
//! after a restart the step finds the rule due (or not) exactly as it was
//! left. Missed periods (the process was down) are not made up one by one:
//! the due time fires once, late, and the next is the first one after now.
//! A disabled rule does not fire; enabling it counts its schedule from then.

use std::sync::Arc;
use std::time::Duration;

use store::rusqlite::params;
use tokio_util::sync::CancellationToken;

use crate::ingest::envelope;
use crate::routing::{apply_rows, push_target_rows, Row, TargetRoute};
use crate::schedule::Schedule;
use crate::types::PutEventsRequestEntry;
use crate::{Bus, BusResult, Timestamp, DEFAULT_BUS};

/// `next_fire_ms` of a schedule that never fires again (a cron whose years are over).
pub(crate) const NEVER: i64 = i64::MAX;

/// The first fire time of `schedule` for a rule put (or enabled) at `now`:
/// `None` for no schedule, [`NEVER`] for one that has no future time.
pub(crate) fn first_fire(schedule: Option<&str>, now: i64) -> Option<i64> {
    let s = Schedule::parse(schedule?)?;
    Some(s.next_after(now, now).unwrap_or(NEVER))
}

/// A scheduled rule that is due.
struct DueRule {
    name: String,
    schedule: String,
    next_fire_ms: Option<i64>,
}

impl Bus {
    /// Fires every enabled scheduled rule whose next fire time is at or
    /// before `now` (one event per rule and step) and stores each one's
    /// next fire time; a rule without one yet (stored before schedules ran)
    /// gets it counted from `now`, without firing. Returns how many rules
    /// fired. The scheduler's unit of work, tested with its own clock.
    pub async fn schedule_step(&self, now: Timestamp) -> BusResult<usize> {
        let me = self.clone();
        let now = now.0;
        let (fired, queued, deferred) = self
            .inner
            .db
            .write(move |tx| {
                let due: Vec<DueRule> = tx
                    .prepare_cached(
                        "SELECT name, schedule, next_fire_ms FROM eb_rules
                         WHERE bus = ?1 AND schedule IS NOT NULL AND state = 'ENABLED'
                           AND (next_fire_ms IS NULL OR next_fire_ms <= ?2)
                         ORDER BY name",
                    )?
                    .query_map(params![DEFAULT_BUS, now], |r| {
                        Ok(DueRule {
                            name: r.get(0)?,
                            schedule: r.get(1)?,
                            next_fire_ms: r.get(2)?,
                        })
                    })?
                    .collect::<Result<_, _>>()?;
                let mut rows: Vec<Row> = Vec::new();
                let mut fired = 0;
                let mut set_next = tx.prepare_cached(
                    "UPDATE eb_rules SET next_fire_ms = ?3 WHERE bus = ?1 AND name = ?2",
                )?;
                let mut targets = tx.prepare_cached(
                    "SELECT spec FROM eb_targets WHERE bus = ?1 AND rule = ?2 ORDER BY id",
                )?;
                for rule in due {
                    let Some(schedule) = Schedule::parse(&rule.schedule) else {
                        tracing::warn!(rule = %rule.name, "stored schedule no longer valid");
                        set_next.execute(params![DEFAULT_BUS, rule.name, NEVER])?;
                        continue;
                    };
                    let Some(due_ms) = rule.next_fire_ms else {
                        let next = schedule.next_after(now, now).unwrap_or(NEVER);
                        set_next.execute(params![DEFAULT_BUS, rule.name, next])?;
                        continue;
                    };
                    let specs: Vec<String> = targets
                        .query_map(params![DEFAULT_BUS, rule.name], |r| r.get(0))?
                        .collect::<Result<_, _>>()?;
                    let routes: Vec<TargetRoute> = specs
                        .iter()
                        .filter_map(|s| TargetRoute::from_spec(s))
                        .collect();
                    let rule_arn = me.rule_arn(DEFAULT_BUS, &rule.name);
                    let body = scheduled_event(&me, &rule_arn, Timestamp(due_ms));
                    push_target_rows(&rule_arn, &routes, &body, &mut rows);
                    fired += 1;
                    let next = schedule.next_after(now, due_ms).unwrap_or(NEVER);
                    set_next.execute(params![DEFAULT_BUS, rule.name, next])?;
                    tracing::debug!(rule = %rule.name, targets = routes.len(), "scheduled rule fired");
                }
                // Messages and deliveries are due from the wall clock, not
                // from the step's `now` (which tests set ahead).
                let (queued, deferred) = apply_rows(tx, &rows, Timestamp::now().0)?;
                Ok((fired, queued, deferred))
            })
            .await?;
        if queued > 0 {
            self.inner.queue_notify.notify_waiters();
        }
        if deferred > 0 {
            self.inner.delivery_notify.notify_one();
        }
        Ok(fired)
    }
}

/// The event a scheduled rule sends, in AWS's envelope.
fn scheduled_event(bus: &Bus, rule_arn: &str, time: Timestamp) -> Arc<[u8]> {
    let entry = PutEventsRequestEntry {
        source: Some("aws.events".into()),
        detail_type: Some("Scheduled Event".into()),
        resources: Some(vec![rule_arn.to_string()]),
        ..Default::default()
    };
    let id = uuid::Uuid::now_v7().to_string();
    Arc::from(envelope(bus, &id, &entry, time, "{}").into_bytes())
}

/// Runs [`Bus::schedule_step`] every `schedule_poll` with the system clock
/// until cancelled.
pub(crate) async fn run(bus: Bus, shutdown: CancellationToken) {
    let every = bus.inner.cfg.schedule_poll.max(Duration::from_millis(10));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                match bus.schedule_step(Timestamp::now()).await {
                    Ok(n) if n > 0 => tracing::info!(fired = n, "scheduled rules fired"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("scheduled rules not fired: {e}"),
                }
            }
        }
    }
}
