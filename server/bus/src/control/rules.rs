//! Rules: `PutRule`, `DescribeRule`, `ListRules`, `DeleteRule` and
//! `EnableRule`/`DisableRule`, within the per-bus rule quota.

use patterns::EventPattern;
use store::rusqlite::{params, OptionalExtension, Row as SqlRow};

use super::tags::{check_tags, put_tags, Tagged};
use crate::scheduler::first_fire;
use crate::types::*;
use crate::validation::Violations;
use crate::{paginate, Bus, BusError, BusResult, Timestamp, ARCHIVE_RULE_MANAGER, DEFAULT_BUS};

/// A rule's states, in the order AWS lists them.
const RULE_STATES: [&str; 3] = [
    "ENABLED",
    "DISABLED",
    "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
];

/// Rules per bus (AWS's default quota).
pub const MAX_RULES_PER_BUS: i64 = 300;

impl Bus {
    /// `PutRule`: creates or replaces a rule.
    pub async fn put_rule(&self, req: PutRuleRequest) -> BusResult<PutRuleResponse> {
        let mut problems = Violations::new();
        problems.name("name", &req.name, 64, false);
        if let Some(s) = req.state.as_deref() {
            problems.one_of("state", s, &RULE_STATES);
        }
        problems.into_result()?;
        let tags = req.tags.clone().unwrap_or_default();
        check_tags(&tags)?;
        let bus = self.bus_name(req.event_bus_name.as_deref());
        self.require_bus(&bus)?;
        if req.event_pattern.is_none() && req.schedule_expression.is_none() {
            return Err(BusError::Validation(
                "Parameter(s) EventPattern or ScheduleExpression must be specified.".into(),
            ));
        }
        if let Some(schedule) = &req.schedule_expression {
            if bus != DEFAULT_BUS {
                return Err(BusError::Validation(
                    "ScheduleExpression is supported only on the default event bus.".into(),
                ));
            }
            if !crate::schedule::is_valid(schedule) {
                return Err(BusError::Validation(
                    "Parameter ScheduleExpression is not valid.".into(),
                ));
            }
        }
        if let Some(p) = &req.event_pattern {
            EventPattern::parse(p).map_err(|e| BusError::invalid_pattern(p, &e))?;
        }
        let state = match req.state.as_deref() {
            Some("DISABLED") => "DISABLED",
            _ => "ENABLED",
        };
        let _g = self.inner.control.lock().await;
        let (b2, r) = (bus.clone(), req.clone());
        let now = Timestamp::now().0;
        let outcome = self
            .inner
            .db
            .write(move |tx| {
                let managed: Option<Option<String>> = tx
                    .query_row("SELECT managed_by FROM eb_rules WHERE bus = ?1 AND name = ?2", params![b2, r.name], |x| x.get(0))
                    .optional()?;
                if let Some(Some(_)) = managed {
                    return Ok(Err(BusError::ManagedRule(format!(
                        "Rule {} is managed by {ARCHIVE_RULE_MANAGER} and cannot be modified.",
                        r.name
                    ))));
                }
                if managed.is_none() {
                    let n: i64 = tx.query_row("SELECT count(*) FROM eb_rules WHERE bus = ?1", [&b2], |x| x.get(0))?;
                    if n >= MAX_RULES_PER_BUS {
                        return Ok(Err(BusError::LimitExceeded("The requested resource exceeds the maximum number allowed.".into())));
                    }
                }
                // Tags first: beyond the quota nothing is written.
                if let Err(e) = put_tags(tx, &Tagged { bus: b2.clone(), rule: r.name.clone() }, &tags)? {
                    return Ok(Err(e));
                }
                // A rule put again with the same schedule, still enabled,
                // keeps its next fire time; otherwise it is counted from now.
                let next_fire = (state == "ENABLED")
                    .then(|| first_fire(r.schedule_expression.as_deref(), now))
                    .flatten();
                tx.execute(
                    "INSERT INTO eb_rules (bus, name, pattern, schedule, state, description, role_arn, created_ms, next_fire_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (bus, name) DO UPDATE SET pattern = ?3, schedule = ?4, state = ?5, description = ?6, role_arn = ?7,
                        next_fire_ms = CASE WHEN schedule IS ?4 AND state = ?5 AND next_fire_ms IS NOT NULL AND ?9 IS NOT NULL
                                            THEN next_fire_ms ELSE ?9 END",
                    params![b2, r.name, r.event_pattern, r.schedule_expression, state, r.description, r.role_arn, now, next_fire],
                )?;
                Ok(Ok(()))
            })
            .await?;
        outcome?;
        self.reload_routes(&bus).await?;
        Ok(PutRuleResponse {
            rule_arn: self.rule_arn(&bus, &req.name),
        })
    }

    fn rule_from_row(&self, r: &SqlRow<'_>) -> store::rusqlite::Result<Rule> {
        let bus: String = r.get(0)?;
        let name: String = r.get(1)?;
        Ok(Rule {
            arn: self.rule_arn(&bus, &name),
            name,
            event_pattern: r.get(2)?,
            schedule_expression: r.get(3)?,
            state: r.get(4)?,
            description: r.get(5)?,
            role_arn: r.get(6)?,
            managed_by: r.get(7)?,
            event_bus_name: bus,
            created_by: Some(self.inner.cfg.account.clone()),
        })
    }

    const RULE_COLS: &'static str = "SELECT bus, name, pattern, schedule, state, description, role_arn, managed_by FROM eb_rules";

    /// `DescribeRule`.
    pub async fn describe_rule(&self, name: &str, bus: Option<&str>) -> BusResult<Rule> {
        let bus = self.bus_name(bus);
        self.require_bus(&bus)?;
        let me = self.clone();
        let (b2, n2) = (bus.clone(), name.to_string());
        self.inner
            .db
            .read(move |c| {
                c.query_row(
                    &format!("{} WHERE bus = ?1 AND name = ?2", Self::RULE_COLS),
                    params![b2, n2],
                    |r| me.rule_from_row(r),
                )
                .optional()
            })
            .await?
            .ok_or_else(|| {
                BusError::ResourceNotFound(format!("Rule {name} does not exist on EventBus {bus}."))
            })
    }

    /// `ListRules`.
    pub async fn list_rules(&self, req: ListRequest) -> BusResult<ListRulesResponse> {
        let bus = self.bus_name(req.event_bus_name.as_deref());
        self.require_bus(&bus)?;
        let me = self.clone();
        let all: Vec<Rule> = self
            .inner
            .db
            .read(move |c| {
                c.prepare(&format!("{} WHERE bus = ?1 ORDER BY name", Self::RULE_COLS))?
                    .query_map([&bus], |r| me.rule_from_row(r))?
                    .collect()
            })
            .await?;
        let prefix = req.name_prefix.unwrap_or_default();
        let all = all
            .into_iter()
            .filter(|r| r.name.starts_with(&prefix))
            // AWS's ListRules items carry no CreatedBy (DescribeRule does).
            .map(|r| Rule {
                created_by: None,
                ..r
            })
            .collect();
        let (rules, next_token) = paginate(all, req.next_token.as_deref(), req.limit)?;
        Ok(ListRulesResponse { rules, next_token })
    }

    /// `DeleteRule`: refused while the rule has targets, and for managed rules unless `force`.
    pub async fn delete_rule(&self, name: &str, bus: Option<&str>, force: bool) -> BusResult<()> {
        let bus = self.bus_name(bus);
        self.require_bus(&bus)?;
        let _g = self.inner.control.lock().await;
        let (b2, n2) = (bus.clone(), name.to_string());
        let outcome = self
            .inner
            .db
            .write(move |tx| {
                let managed: Option<Option<String>> = tx
                    .query_row(
                        "SELECT managed_by FROM eb_rules WHERE bus = ?1 AND name = ?2",
                        params![b2, n2],
                        |x| x.get(0),
                    )
                    .optional()?;
                match managed {
                    None => return Ok(Ok(())),
                    Some(Some(m)) if !force => {
                        return Ok(Err(BusError::ManagedRule(format!(
                            "Rule {n2} is managed by {m} and cannot be deleted."
                        ))))
                    }
                    _ => {}
                }
                let targets: i64 = tx.query_row(
                    "SELECT count(*) FROM eb_targets WHERE bus = ?1 AND rule = ?2",
                    params![b2, n2],
                    |x| x.get(0),
                )?;
                if targets > 0 {
                    return Ok(Err(BusError::Validation(
                        "Rule can't be deleted since it has targets.".into(),
                    )));
                }
                tx.execute(
                    "DELETE FROM eb_rules WHERE bus = ?1 AND name = ?2",
                    params![b2, n2],
                )?;
                tx.execute(
                    "DELETE FROM eb_tags WHERE bus = ?1 AND rule = ?2",
                    params![b2, n2],
                )?;
                Ok(Ok(()))
            })
            .await?;
        outcome?;
        self.reload_routes(&bus).await
    }

    /// `EnableRule` / `DisableRule`.
    pub async fn set_rule_state(
        &self,
        name: &str,
        bus: Option<&str>,
        enabled: bool,
    ) -> BusResult<()> {
        let bus = self.bus_name(bus);
        self.require_bus(&bus)?;
        let _g = self.inner.control.lock().await;
        let (b2, n2) = (bus.clone(), name.to_string());
        let state = if enabled { "ENABLED" } else { "DISABLED" };
        let now = Timestamp::now().0;
        let outcome = self
            .inner
            .db
            .write(move |tx| {
                let managed: Option<Option<String>> = tx
                    .query_row(
                        "SELECT managed_by FROM eb_rules WHERE bus = ?1 AND name = ?2",
                        params![b2, n2],
                        |x| x.get(0),
                    )
                    .optional()?;
                Ok(match managed {
                    None => Err(BusError::ResourceNotFound(format!(
                        "Rule {n2} does not exist on EventBus {b2}."
                    ))),
                    Some(Some(m)) => Err(BusError::ManagedRule(format!(
                        "Rule {n2} is managed by {m} and cannot be modified."
                    ))),
                    Some(None) => {
                        // Disabled, a scheduled rule has no next fire time;
                        // enabled again, its schedule counts from now.
                        let schedule: Option<String> = tx.query_row(
                            "SELECT schedule FROM eb_rules WHERE bus = ?1 AND name = ?2",
                            params![b2, n2],
                            |x| x.get(0),
                        )?;
                        let next_fire = enabled
                            .then(|| first_fire(schedule.as_deref(), now))
                            .flatten();
                        tx.execute(
                            "UPDATE eb_rules SET next_fire_ms = CASE WHEN state = ?3 AND ?4 IS NOT NULL THEN next_fire_ms ELSE ?4 END,
                                state = ?3 WHERE bus = ?1 AND name = ?2",
                            params![b2, n2, state, next_fire],
                        )?;
                        Ok(())
                    }
                })
            })
            .await?;
        outcome?;
        self.reload_routes(&bus).await
    }
}
