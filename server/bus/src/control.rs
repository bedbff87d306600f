//! Control plane: buses, rules, targets, connections, API destinations and
//! archives (with their managed rules and retention).

use std::sync::Arc;
use std::time::Duration;

use patterns::EventPattern;
use store::rusqlite::{params, OptionalExtension, Row as SqlRow};
use tokio_util::sync::CancellationToken;

use crate::routing::Routing;
use crate::types::*;
use crate::{
    arn_tail, paginate, Bus, BusError, BusResult, Timestamp, ARCHIVE_RULE_MANAGER,
    ARCHIVE_RULE_PREFIX, DEFAULT_BUS,
};

/// Rules per bus (AWS's default quota).
pub const MAX_RULES_PER_BUS: i64 = 300;
/// Targets per rule (AWS's quota).
pub const MAX_TARGETS_PER_RULE: usize = 5;

const NAME_CHARS: &str = r"[\.\-_A-Za-z0-9]+";

pub(crate) fn check_name(field: &str, value: &str, max: usize, allow_slash: bool) -> BusResult<()> {
    let ok_char = |c: char| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') || (allow_slash && c == '/')
    };
    if value.is_empty() || value.chars().count() > max {
        return Err(BusError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    if !value.chars().all(ok_char) {
        let pat = if allow_slash {
            r"[/\.\-_A-Za-z0-9]+"
        } else {
            NAME_CHARS
        };
        return Err(BusError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pat}"
        )));
    }
    Ok(())
}

fn ts(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(Timestamp)
}

/// The managed rule's pattern: the archive's pattern (or everything) and no replay-name.
pub(crate) fn archive_rule_pattern(pattern: Option<&str>) -> BusResult<String> {
    let mut obj = match pattern {
        Some(p) => match serde_json::from_str::<serde_json::Value>(p) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => {
                return Err(BusError::InvalidEventPattern(
                    "Event pattern is not valid. Reason: Filter is not an object".into(),
                ))
            }
        },
        None => serde_json::Map::new(),
    };
    obj.insert(
        "replay-name".into(),
        serde_json::json!([{ "exists": false }]),
    );
    Ok(serde_json::Value::Object(obj).to_string())
}

impl Bus {
    // ---- routing snapshots -------------------------------------------------

    pub(crate) fn routing(&self, bus: &str) -> Option<Arc<Routing>> {
        self.inner
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(bus)
            .cloned()
    }

    pub(crate) async fn reload_routes(&self, bus_name: &str) -> BusResult<()> {
        let me = self.clone();
        let name = bus_name.to_string();
        let loaded = self
            .inner
            .db
            .read(move |c| {
                let exists: bool = c.query_row(
                    "SELECT EXISTS(SELECT 1 FROM eb_buses WHERE name = ?1)",
                    [&name],
                    |r| r.get(0),
                )?;
                if !exists {
                    return Ok(None);
                }
                Ok(Some(Routing::load(c, &me, &name)?))
            })
            .await?;
        let mut routes = self.inner.routes.write().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Some(r) => routes.insert(bus_name.to_string(), Arc::new(r)),
            None => routes.remove(bus_name),
        };
        Ok(())
    }

    pub(crate) async fn reload_all_routes(&self) -> BusResult<()> {
        let names: Vec<String> = self
            .inner
            .db
            .read(|c| {
                c.prepare("SELECT name FROM eb_buses")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })
            .await?;
        for n in names {
            self.reload_routes(&n).await?;
        }
        Ok(())
    }

    fn require_bus(&self, bus: &str) -> BusResult<()> {
        match self.routing(bus) {
            Some(_) => Ok(()),
            None => Err(BusError::ResourceNotFound(format!(
                "Event bus {bus} does not exist."
            ))),
        }
    }

    // ---- buses ---------------------------------------------------------------

    /// `CreateEventBus`.
    pub async fn create_event_bus(
        &self,
        req: CreateEventBusRequest,
    ) -> BusResult<CreateEventBusResponse> {
        check_name("name", &req.name, 256, true)?;
        if req.event_source_name.is_some() {
            return Err(BusError::Validation(
                "Partner event sources are not supported by the embedded event bus.".into(),
            ));
        }
        let _g = self.inner.control.lock().await;
        let name = req.name.clone();
        let desc = req.description.clone();
        let now = Timestamp::now().0;
        let inserted = self
            .inner
            .db
            .write(move |tx| {
                let n: i64 = tx.query_row("SELECT count(*) FROM eb_buses", [], |r| r.get(0))?;
                if n >= 100 {
                    return Ok(None);
                }
                Ok(Some(tx.execute(
                    "INSERT OR IGNORE INTO eb_buses (name, description, created_ms, modified_ms) VALUES (?1, ?2, ?3, ?3)",
                    params![name, desc, now],
                )? == 1))
            })
            .await?;
        match inserted {
            None => {
                return Err(BusError::LimitExceeded(
                    "The requested resource exceeds the maximum number allowed.".into(),
                ))
            }
            Some(false) => {
                return Err(BusError::ResourceAlreadyExists(format!(
                    "Event bus {} already exists.",
                    req.name
                )))
            }
            Some(true) => {}
        }
        self.reload_routes(&req.name).await?;
        Ok(CreateEventBusResponse {
            event_bus_arn: self.bus_arn(&req.name),
            description: req.description,
        })
    }

    fn bus_from_row(&self, r: &SqlRow<'_>) -> store::rusqlite::Result<crate::types::EventBus> {
        let name: String = r.get(0)?;
        Ok(crate::types::EventBus {
            arn: self.bus_arn(&name),
            name,
            description: r.get(1)?,
            policy: None,
            creation_time: ts(r.get(2)?),
            last_modified_time: ts(r.get(3)?),
        })
    }

    /// `DescribeEventBus` (no name: the default bus).
    pub async fn describe_event_bus(
        &self,
        name: Option<&str>,
    ) -> BusResult<crate::types::EventBus> {
        let name = self.bus_name(name);
        let me = self.clone();
        let n2 = name.clone();
        self.inner
            .db
            .read(move |c| {
                c.query_row("SELECT name, description, created_ms, modified_ms FROM eb_buses WHERE name = ?1", [&n2], |r| me.bus_from_row(r))
                    .optional()
            })
            .await?
            .ok_or_else(|| BusError::ResourceNotFound(format!("Event bus {name} does not exist.")))
    }

    /// `ListEventBuses`.
    pub async fn list_event_buses(&self, req: ListRequest) -> BusResult<ListEventBusesResponse> {
        let me = self.clone();
        let all: Vec<crate::types::EventBus> = self
            .inner
            .db
            .read(move |c| {
                c.prepare(
                    "SELECT name, description, created_ms, modified_ms FROM eb_buses ORDER BY name",
                )?
                .query_map([], |r| me.bus_from_row(r))?
                .collect()
            })
            .await?;
        let prefix = req.name_prefix.unwrap_or_default();
        let all = all
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix))
            .collect();
        let (event_buses, next_token) = paginate(all, req.next_token.as_deref(), req.limit)?;
        Ok(ListEventBusesResponse {
            event_buses,
            next_token,
        })
    }

    /// `DeleteEventBus`: removes the bus with its rules and targets (a missing bus is not an error).
    pub async fn delete_event_bus(&self, name: &str) -> BusResult<()> {
        let name = self.bus_name(Some(name));
        if name == DEFAULT_BUS {
            return Err(BusError::Validation(
                "Cannot delete event bus default.".into(),
            ));
        }
        let _g = self.inner.control.lock().await;
        let n2 = name.clone();
        self.inner
            .db
            .write(move |tx| {
                tx.execute("DELETE FROM eb_targets WHERE bus = ?1", [&n2])?;
                tx.execute("DELETE FROM eb_rules WHERE bus = ?1", [&n2])?;
                tx.execute("DELETE FROM eb_buses WHERE name = ?1", [&n2])
            })
            .await?;
        self.reload_routes(&name).await
    }

    // ---- rules ------------------------------------------------------------------

    /// `PutRule`: creates or replaces a rule.
    pub async fn put_rule(&self, req: PutRuleRequest) -> BusResult<PutRuleResponse> {
        check_name("name", &req.name, 64, false)?;
        let bus = self.bus_name(req.event_bus_name.as_deref());
        self.require_bus(&bus)?;
        if req.event_pattern.is_none() && req.schedule_expression.is_none() {
            return Err(BusError::Validation(
                "Parameter(s) EventPattern or ScheduleExpression must be specified.".into(),
            ));
        }
        if req.schedule_expression.is_some() && bus != DEFAULT_BUS {
            return Err(BusError::Validation(
                "ScheduleExpression is supported only on the default Event Bus.".into(),
            ));
        }
        if let Some(p) = &req.event_pattern {
            EventPattern::parse(p)?;
        }
        let state = match req.state.as_deref() {
            None | Some("ENABLED") | Some("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS") => "ENABLED",
            Some("DISABLED") => "DISABLED",
            Some(s) => {
                return Err(BusError::Validation(format!(
                    "1 validation error detected: Value '{s}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"
                )))
            }
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
                tx.execute(
                    "INSERT INTO eb_rules (bus, name, pattern, schedule, state, description, role_arn, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (bus, name) DO UPDATE SET pattern = ?3, schedule = ?4, state = ?5, description = ?6, role_arn = ?7",
                    params![b2, r.name, r.event_pattern, r.schedule_expression, state, r.description, r.role_arn, now],
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
                        tx.execute(
                            "UPDATE eb_rules SET state = ?3 WHERE bus = ?1 AND name = ?2",
                            params![b2, n2, state],
                        )?;
                        Ok(())
                    }
                })
            })
            .await?;
        outcome?;
        self.reload_routes(&bus).await
    }

    // ---- targets ----------------------------------------------------------------------

    fn target_problem(&self, t: &Target) -> Option<(String, String)> {
        if check_name("id", &t.id, 64, false).is_err() {
            return Some((
                "ValidationException".into(),
                format!("Parameter Id is not valid: {}", t.id),
            ));
        }
        let supported = arn_tail(&t.arn, ":sqs:").is_some()
            || t.arn.contains(":api-destination/")
            || t.arn.contains(":function:");
        if !supported {
            return Some((
                "ValidationException".into(),
                format!(
                    "Target Arn {} is not supported by the embedded event bus (use an SQS queue, API destination or in-process function ARN).",
                    t.arn
                ),
            ));
        }
        if let Some(input) = &t.input {
            if serde_json::from_str::<serde::de::IgnoredAny>(input).is_err() {
                return Some((
                    "ValidationException".into(),
                    "Parameter Input is not valid JSON.".into(),
                ));
            }
        }
        if let Some(path) = &t.input_path {
            if t.input.is_some() {
                return Some((
                    "ValidationException".into(),
                    "Only one of Input, InputPath can be specified.".into(),
                ));
            }
            if crate::routing::parse_input_path(path).is_none() {
                return Some((
                    "ValidationException".into(),
                    format!("InputPath {path} is not supported by the embedded event bus (use $ or $.field.field)."),
                ));
            }
        }
        if let Some(dlq) = t.dead_letter_config.as_ref().and_then(|d| d.arn.as_ref()) {
            if arn_tail(dlq, ":sqs:").is_none() {
                return Some((
                    "ValidationException".into(),
                    "Parameter DeadLetterConfig.Arn must be an SQS queue ARN.".into(),
                ));
            }
        }
        None
    }

    /// `PutTargets`.
    pub async fn put_targets(&self, req: PutTargetsRequest) -> BusResult<TargetsResponse> {
        let bus = self.bus_name(req.event_bus_name.as_deref());
        self.require_bus(&bus)?;
        if req.targets.is_empty() || req.targets.len() > 10 {
            return Err(BusError::Validation(
                "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and 10".into(),
            ));
        }
        let mut failed = Vec::new();
        let mut good = Vec::new();
        for t in &req.targets {
            match self.target_problem(t) {
                Some((code, msg)) => failed.push(FailedTargetEntry {
                    target_id: t.id.clone(),
                    error_code: code,
                    error_message: msg,
                }),
                None => good.push(t.clone()),
            }
        }
        let _g = self.inner.control.lock().await;
        let (b2, rule) = (bus.clone(), req.rule.clone());
        let now = Timestamp::now().0;
        let queue_names: Vec<String> = good
            .iter()
            .flat_map(|t| {
                [
                    Some(t.arn.clone()),
                    t.dead_letter_config.as_ref().and_then(|d| d.arn.clone()),
                ]
            })
            .flatten()
            .filter_map(|a| {
                arn_tail(&a, ":sqs:").map(|r| r.rsplit(':').next().unwrap_or(r).to_string())
            })
            .collect();
        let outcome = self
            .inner
            .db
            .write(move |tx| {
                let managed: Option<Option<String>> = tx
                    .query_row("SELECT managed_by FROM eb_rules WHERE bus = ?1 AND name = ?2", params![b2, rule], |x| x.get(0))
                    .optional()?;
                match managed {
                    None => return Ok(Err(BusError::ResourceNotFound(format!("Rule {rule} does not exist on EventBus {b2}.")))),
                    Some(Some(m)) => return Ok(Err(BusError::ManagedRule(format!("Rule {rule} is managed by {m} and cannot be modified.")))),
                    Some(None) => {}
                }
                let existing: Vec<String> = tx
                    .prepare("SELECT id FROM eb_targets WHERE bus = ?1 AND rule = ?2")?
                    .query_map(params![b2, rule], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                let mut ids: std::collections::HashSet<String> = existing.into_iter().collect();
                ids.extend(good.iter().map(|t| t.id.clone()));
                if ids.len() > MAX_TARGETS_PER_RULE {
                    return Ok(Err(BusError::LimitExceeded("The requested resource exceeds the maximum number allowed.".into())));
                }
                for t in &good {
                    let spec = serde_json::to_string(t).unwrap_or_default();
                    tx.execute(
                        "INSERT INTO eb_targets (bus, rule, id, spec) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (bus, rule, id) DO UPDATE SET spec = ?4",
                        params![b2, rule, t.id, spec],
                    )?;
                }
                for q in &queue_names {
                    tx.execute(
                        "INSERT OR IGNORE INTO eb_queues (name, visibility_ms, created_ms) VALUES (?1, 30000, ?2)",
                        params![q, now],
                    )?;
                }
                Ok(Ok(()))
            })
            .await?;
        outcome?;
        self.reload_routes(&bus).await?;
        Ok(TargetsResponse {
            failed_entry_count: failed.len() as i64,
            failed_entries: failed,
        })
    }

    /// `ListTargetsByRule`.
    pub async fn list_targets_by_rule(
        &self,
        req: ListTargetsByRuleRequest,
    ) -> BusResult<ListTargetsByRuleResponse> {
        let bus = self.bus_name(req.event_bus_name.as_deref());
        self.describe_rule(&req.rule, Some(&bus)).await?;
        let rule = req.rule.clone();
        let specs: Vec<String> = self
            .inner
            .db
            .read(move |c| {
                c.prepare("SELECT spec FROM eb_targets WHERE bus = ?1 AND rule = ?2 ORDER BY id")?
                    .query_map(params![bus, rule], |r| r.get(0))?
                    .collect()
            })
            .await?;
        let all: Vec<Target> = specs
            .iter()
            .filter_map(|s| serde_json::from_str(s).ok())
            .collect();
        let (targets, next_token) = paginate(all, req.next_token.as_deref(), req.limit)?;
        Ok(ListTargetsByRuleResponse {
            targets,
            next_token,
        })
    }

    /// `RemoveTargets`.
    pub async fn remove_targets(&self, req: RemoveTargetsRequest) -> BusResult<TargetsResponse> {
        let bus = self.bus_name(req.event_bus_name.as_deref());
        let rule = self.describe_rule(&req.rule, Some(&bus)).await?;
        if rule.managed_by.is_some() && !req.force.unwrap_or(false) {
            return Err(BusError::ManagedRule(format!(
                "Rule {} is managed by {ARCHIVE_RULE_MANAGER} and cannot be modified.",
                req.rule
            )));
        }
        let _g = self.inner.control.lock().await;
        let (b2, r2, ids) = (bus.clone(), req.rule.clone(), req.ids.clone());
        self.inner
            .db
            .write(move |tx| {
                for id in &ids {
                    tx.execute(
                        "DELETE FROM eb_targets WHERE bus = ?1 AND rule = ?2 AND id = ?3",
                        params![b2, r2, id],
                    )?;
                }
                Ok(())
            })
            .await?;
        self.reload_routes(&bus).await?;
        Ok(TargetsResponse::default())
    }

    // ---- connections -----------------------------------------------------------------

    fn connection_from_row(
        &self,
        r: &SqlRow<'_>,
        with_details: bool,
    ) -> store::rusqlite::Result<Connection> {
        let name: String = r.get(0)?;
        let uuid: String = r.get(1)?;
        let auth: String = r.get(4)?;
        let created = ts(r.get(5)?);
        let mut params_out: Option<ConnectionAuthParameters> = None;
        if with_details {
            let mut p: ConnectionAuthParameters = serde_json::from_str(&auth).unwrap_or_default();
            if let Some(b) = p.basic_auth_parameters.as_mut() {
                b.password = None;
            }
            if let Some(k) = p.api_key_auth_parameters.as_mut() {
                k.api_key_value = None;
            }
            params_out = Some(p);
        }
        Ok(Connection {
            connection_arn: self.connection_arn(&name, &uuid),
            description: if with_details { r.get(2)? } else { None },
            authorization_type: Some(r.get(3)?),
            secret_arn: with_details.then(|| {
                format!(
                    "arn:aws:secretsmanager:{}:{}:secret:events!connection/{name}/{uuid}",
                    self.inner.cfg.region, self.inner.cfg.account
                )
            }),
            auth_parameters: params_out,
            name: Some(name),
            connection_state: "AUTHORIZED".into(),
            state_reason: None,
            creation_time: created,
            last_modified_time: ts(r.get(6)?),
            last_authorized_time: created,
        })
    }

    const CONNECTION_COLS: &'static str = "SELECT name, uuid, description, auth_type, auth, created_ms, modified_ms FROM eb_connections";

    /// `CreateConnection` (API_KEY and BASIC are used for calls; OAuth is stored only).
    pub async fn create_connection(&self, req: CreateConnectionRequest) -> BusResult<Connection> {
        check_name("name", &req.name, 64, false)?;
        let p = &req.auth_parameters;
        let ok = match req.authorization_type.as_str() {
            "BASIC" => p.basic_auth_parameters.as_ref().is_some_and(|b| b.username.is_some() && b.password.is_some()),
            "API_KEY" => p.api_key_auth_parameters.as_ref().is_some_and(|k| k.api_key_name.is_some() && k.api_key_value.is_some()),
            "OAUTH_CLIENT_CREDENTIALS" => p.o_auth_parameters.is_some(),
            other => {
                return Err(BusError::Validation(format!(
                    "1 validation error detected: Value '{other}' at 'authorizationType' failed to satisfy constraint: Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]"
                )))
            }
        };
        if !ok {
            return Err(BusError::Validation(format!(
                "Parameter AuthParameters is not valid for AuthorizationType {}.",
                req.authorization_type
            )));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        let auth = serde_json::to_string(&req.auth_parameters).unwrap_or_default();
        let now = Timestamp::now().0;
        let (n2, u2, d2, t2) = (
            req.name.clone(),
            uuid.clone(),
            req.description.clone(),
            req.authorization_type.clone(),
        );
        let inserted = self
            .inner
            .db
            .write(move |tx| {
                tx.execute(
                    "INSERT OR IGNORE INTO eb_connections (name, uuid, description, auth_type, auth, created_ms, modified_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    params![n2, u2, d2, t2, auth, now],
                )
            })
            .await?;
        if inserted == 0 {
            return Err(BusError::ResourceAlreadyExists(format!(
                "Connection {} already exists.",
                req.name
            )));
        }
        Ok(Connection {
            connection_arn: self.connection_arn(&req.name, &uuid),
            connection_state: "AUTHORIZED".into(),
            creation_time: Some(Timestamp(now)),
            last_modified_time: Some(Timestamp(now)),
            ..Default::default()
        })
    }

    async fn connection_row(&self, name: &str, details: bool) -> BusResult<Connection> {
        let me = self.clone();
        let n2 = name.to_string();
        self.inner
            .db
            .read(move |c| {
                c.query_row(
                    &format!("{} WHERE name = ?1", Self::CONNECTION_COLS),
                    [&n2],
                    |r| me.connection_from_row(r, details),
                )
                .optional()
            })
            .await?
            .ok_or_else(|| {
                BusError::ResourceNotFound(format!(
                    "Failed to describe the connection(s). Connection '{name}' does not exist."
                ))
            })
    }

    /// `DescribeConnection` (secrets are never returned).
    pub async fn describe_connection(&self, name: &str) -> BusResult<Connection> {
        self.connection_row(name, true).await
    }

    /// `ListConnections`.
    pub async fn list_connections(&self, req: ListRequest) -> BusResult<ListConnectionsResponse> {
        let me = self.clone();
        let all: Vec<Connection> = self
            .inner
            .db
            .read(move |c| {
                c.prepare(&format!("{} ORDER BY name", Self::CONNECTION_COLS))?
                    .query_map([], |r| me.connection_from_row(r, false))?
                    .collect()
            })
            .await?;
        let prefix = req.name_prefix.unwrap_or_default();
        let all = all
            .into_iter()
            .filter(|c| c.name.as_deref().unwrap_or_default().starts_with(&prefix))
            .filter(|c| {
                req.connection_state
                    .as_ref()
                    .is_none_or(|s| *s == c.connection_state)
            })
            .collect();
        let (connections, next_token) = paginate(all, req.next_token.as_deref(), req.limit)?;
        Ok(ListConnectionsResponse {
            connections,
            next_token,
        })
    }

    /// `DeleteConnection`.
    pub async fn delete_connection(&self, name: &str) -> BusResult<Connection> {
        let mut c = self.connection_row(name, false).await?;
        let n2 = name.to_string();
        self.inner
            .db
            .write(move |tx| tx.execute("DELETE FROM eb_connections WHERE name = ?1", [&n2]))
            .await?;
        c.connection_state = "DELETING".into();
        c.name = None;
        c.authorization_type = None;
        Ok(c)
    }

    /// Auth of a connection by ARN: (type, parameters with secrets).
    pub(crate) async fn connection_auth(
        &self,
        arn: &str,
    ) -> BusResult<(String, ConnectionAuthParameters)> {
        let name = arn_tail(arn, ":connection/")
            .and_then(|t| t.split('/').next())
            .unwrap_or_default()
            .to_string();
        let n2 = name.clone();
        let row: Option<(String, String)> = self
            .inner
            .db
            .read(move |c| {
                c.query_row(
                    "SELECT auth_type, auth FROM eb_connections WHERE name = ?1",
                    [&n2],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .await?;
        let (t, a) = row.ok_or_else(|| {
            BusError::ResourceNotFound(format!("Connection {name} does not exist."))
        })?;
        Ok((t, serde_json::from_str(&a).unwrap_or_default()))
    }

    // ---- API destinations ---------------------------------------------------------

    fn api_destination_from_row(&self, r: &SqlRow<'_>) -> store::rusqlite::Result<ApiDestination> {
        let name: String = r.get(0)?;
        let uuid: String = r.get(1)?;
        Ok(ApiDestination {
            api_destination_arn: self.api_destination_arn(&name, &uuid),
            name: Some(name),
            description: r.get(2)?,
            api_destination_state: Some("ACTIVE".into()),
            connection_arn: Some(r.get(3)?),
            invocation_endpoint: Some(r.get(4)?),
            http_method: Some(r.get(5)?),
            invocation_rate_limit_per_second: r.get(6)?,
            creation_time: ts(r.get(7)?),
            last_modified_time: ts(r.get(8)?),
        })
    }

    const API_DEST_COLS: &'static str =
        "SELECT name, uuid, description, connection_arn, endpoint, method, rate_limit, created_ms, modified_ms FROM eb_api_destinations";

    /// `CreateApiDestination`. The endpoint may be `http://` (AWS requires
    /// `https://`); a loopback, link-local or private host is refused unless
    /// [`crate::BusConfig::allow_private_destinations`].
    pub async fn create_api_destination(
        &self,
        req: CreateApiDestinationRequest,
    ) -> BusResult<ApiDestination> {
        check_name("name", &req.name, 64, false)?;
        const METHODS: [&str; 7] = ["POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"];
        if !METHODS.contains(&req.http_method.as_str()) {
            return Err(BusError::Validation(format!(
                "1 validation error detected: Value '{}' at 'httpMethod' failed to satisfy constraint: Member must satisfy enum value set: [POST, GET, HEAD, OPTIONS, PUT, PATCH, DELETE]",
                req.http_method
            )));
        }
        if !(req.invocation_endpoint.starts_with("https://")
            || req.invocation_endpoint.starts_with("http://"))
        {
            return Err(BusError::Validation(
                "Parameter InvocationEndpoint is not valid.".into(),
            ));
        }
        if !self.inner.cfg.allow_private_destinations {
            crate::endpoint::check_public_endpoint(&req.invocation_endpoint).map_err(|reason| {
                BusError::Validation(format!(
                    "Parameter InvocationEndpoint is not valid: {reason}."
                ))
            })?;
        }
        if req.invocation_rate_limit_per_second.is_some_and(|r| r < 1) {
            return Err(BusError::Validation(
                "Parameter InvocationRateLimitPerSecond must be at least 1.".into(),
            ));
        }
        let conn_name = arn_tail(&req.connection_arn, ":connection/")
            .and_then(|t| t.split('/').next())
            .unwrap_or_default();
        self.connection_row(conn_name, false).await?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let now = Timestamp::now().0;
        let r = req.clone();
        let u2 = uuid.clone();
        let rate = req.invocation_rate_limit_per_second.unwrap_or(300);
        let inserted = self
            .inner
            .db
            .write(move |tx| {
                tx.execute(
                    "INSERT OR IGNORE INTO eb_api_destinations (name, uuid, description, connection_arn, endpoint, method, rate_limit, created_ms, modified_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                    params![r.name, u2, r.description, r.connection_arn, r.invocation_endpoint, r.http_method, rate, now],
                )
            })
            .await?;
        if inserted == 0 {
            return Err(BusError::ResourceAlreadyExists(format!(
                "Api destination {} already exists.",
                req.name
            )));
        }
        Ok(ApiDestination {
            api_destination_arn: self.api_destination_arn(&req.name, &uuid),
            api_destination_state: Some("ACTIVE".into()),
            creation_time: Some(Timestamp(now)),
            last_modified_time: Some(Timestamp(now)),
            ..Default::default()
        })
    }

    /// `DescribeApiDestination`.
    pub async fn describe_api_destination(&self, name: &str) -> BusResult<ApiDestination> {
        let me = self.clone();
        let n2 = name.to_string();
        self.inner
            .db
            .read(move |c| {
                c.query_row(&format!("{} WHERE name = ?1", Self::API_DEST_COLS), [&n2], |r| me.api_destination_from_row(r))
                    .optional()
            })
            .await?
            .ok_or_else(|| BusError::ResourceNotFound(format!("Failed to describe the api-destination(s). An api-destination '{name}' does not exist.")))
    }

    /// `ListApiDestinations`.
    pub async fn list_api_destinations(
        &self,
        req: ListRequest,
    ) -> BusResult<ListApiDestinationsResponse> {
        let me = self.clone();
        let all: Vec<ApiDestination> = self
            .inner
            .db
            .read(move |c| {
                c.prepare(&format!("{} ORDER BY name", Self::API_DEST_COLS))?
                    .query_map([], |r| me.api_destination_from_row(r))?
                    .collect()
            })
            .await?;
        let prefix = req.name_prefix.unwrap_or_default();
        let all = all
            .into_iter()
            .filter(|d| d.name.as_deref().unwrap_or_default().starts_with(&prefix))
            .filter(|d| {
                req.connection_arn
                    .as_ref()
                    .is_none_or(|c| Some(c) == d.connection_arn.as_ref())
            })
            .map(|mut d| {
                d.description = None;
                d
            })
            .collect();
        let (api_destinations, next_token) = paginate(all, req.next_token.as_deref(), req.limit)?;
        Ok(ListApiDestinationsResponse {
            api_destinations,
            next_token,
        })
    }

    /// `DeleteApiDestination`.
    pub async fn delete_api_destination(&self, name: &str) -> BusResult<()> {
        self.describe_api_destination(name).await?;
        let n2 = name.to_string();
        self.inner
            .db
            .write(move |tx| tx.execute("DELETE FROM eb_api_destinations WHERE name = ?1", [&n2]))
            .await?;
        Ok(())
    }

    /// API destination by ARN (for delivery).
    pub(crate) async fn api_destination_by_arn(&self, arn: &str) -> BusResult<ApiDestination> {
        let name = arn_tail(arn, ":api-destination/")
            .and_then(|t| t.split('/').next())
            .unwrap_or_default();
        self.describe_api_destination(name).await
    }

    // ---- archives --------------------------------------------------------------------

    /// `CreateArchive`: the archive and its managed rule `Events-Archive-NAME`,
    /// which archives matching events that carry no `replay-name`.
    pub async fn create_archive(&self, req: CreateArchiveRequest) -> BusResult<Archive> {
        check_name("archiveName", &req.archive_name, 48, false)?;
        let bus = arn_tail(&req.event_source_arn, ":event-bus/")
            .map(str::to_string)
            .ok_or_else(|| BusError::Validation("Parameter EventSourceArn is not valid.".into()))?;
        if req.event_source_arn != self.bus_arn(&bus) {
            return Err(BusError::Validation(
                "Parameter EventSourceArn is not valid.".into(),
            ));
        }
        self.require_bus(&bus)?;
        if let Some(p) = &req.event_pattern {
            EventPattern::parse(p)?;
        }
        let retention = req.retention_days.unwrap_or(0);
        if retention < 0 {
            return Err(BusError::Validation(
                "Parameter RetentionDays must be at least 0.".into(),
            ));
        }
        let rule_pattern = archive_rule_pattern(req.event_pattern.as_deref())?;
        let _g = self.inner.control.lock().await;
        let now = Timestamp::now().0;
        let r = req.clone();
        let b2 = bus.clone();
        let created = self
            .inner
            .db
            .write(move |tx| {
                let exists: bool = tx.query_row("SELECT EXISTS(SELECT 1 FROM eb_archives WHERE name = ?1)", [&r.archive_name], |x| x.get(0))?;
                if exists {
                    return Ok(false);
                }
                tx.execute(
                    "INSERT INTO eb_archives (name, bus, pattern, description, retention_days, state, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, 'ENABLED', ?6)",
                    params![r.archive_name, b2, r.event_pattern, r.description, retention, now],
                )?;
                let id = tx.last_insert_rowid();
                tx.execute(
                    "INSERT OR REPLACE INTO eb_rules (bus, name, pattern, state, description, managed_by, archive_id, created_ms)
                     VALUES (?1, ?2, ?3, 'ENABLED', ?4, ?5, ?6, ?7)",
                    params![
                        b2,
                        format!("{ARCHIVE_RULE_PREFIX}{}", r.archive_name),
                        rule_pattern,
                        format!("Managed rule of archive {}", r.archive_name),
                        ARCHIVE_RULE_MANAGER,
                        id,
                        now
                    ],
                )?;
                Ok(true)
            })
            .await?;
        if !created {
            return Err(BusError::ResourceAlreadyExists(format!(
                "Archive {} already exists.",
                req.archive_name
            )));
        }
        self.reload_routes(&bus).await?;
        Ok(Archive {
            archive_arn: Some(self.archive_arn(&req.archive_name)),
            state: "ENABLED".into(),
            creation_time: Some(Timestamp(now)),
            ..Default::default()
        })
    }

    fn archive_from_row(&self, r: &SqlRow<'_>) -> store::rusqlite::Result<(i64, Archive)> {
        let name: String = r.get(1)?;
        let bus: String = r.get(2)?;
        Ok((
            r.get(0)?,
            Archive {
                archive_arn: Some(self.archive_arn(&name)),
                archive_name: Some(name),
                event_source_arn: Some(self.bus_arn(&bus)),
                event_pattern: r.get(3)?,
                description: r.get(4)?,
                retention_days: Some(r.get(5)?),
                state: r.get(6)?,
                state_reason: None,
                event_count: Some(r.get(7)?),
                size_bytes: Some(r.get(8)?),
                creation_time: ts(r.get(9)?),
            },
        ))
    }

    const ARCHIVE_COLS: &'static str =
        "SELECT id, name, bus, pattern, description, retention_days, state, event_count, size_bytes, created_ms FROM eb_archives";

    pub(crate) async fn archive_row(&self, name: &str) -> BusResult<(i64, Archive)> {
        let me = self.clone();
        let n2 = name.to_string();
        self.inner
            .db
            .read(move |c| {
                c.query_row(
                    &format!("{} WHERE name = ?1", Self::ARCHIVE_COLS),
                    [&n2],
                    |r| me.archive_from_row(r),
                )
                .optional()
            })
            .await?
            .ok_or_else(|| BusError::ResourceNotFound(format!("Archive {name} does not exist.")))
    }

    /// `DescribeArchive`, with exact `EventCount` and `SizeBytes`.
    pub async fn describe_archive(&self, name: &str) -> BusResult<Archive> {
        Ok(self.archive_row(name).await?.1)
    }

    /// `ListArchives` (filters NamePrefix, EventSourceArn, State).
    pub async fn list_archives(&self, req: ListRequest) -> BusResult<ListArchivesResponse> {
        let me = self.clone();
        let all: Vec<(i64, Archive)> = self
            .inner
            .db
            .read(move |c| {
                c.prepare(&format!("{} ORDER BY name", Self::ARCHIVE_COLS))?
                    .query_map([], |r| me.archive_from_row(r))?
                    .collect()
            })
            .await?;
        let prefix = req.name_prefix.unwrap_or_default();
        let all = all
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| {
                a.archive_name
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with(&prefix)
            })
            .filter(|a| {
                req.event_source_arn
                    .as_ref()
                    .is_none_or(|s| Some(s) == a.event_source_arn.as_ref())
            })
            .filter(|a| req.state.as_ref().is_none_or(|s| *s == a.state))
            .map(|mut a| {
                a.archive_arn = None;
                a.event_pattern = None;
                a.description = None;
                a
            })
            .collect();
        let (archives, next_token) = paginate(all, req.next_token.as_deref(), req.limit)?;
        Ok(ListArchivesResponse {
            archives,
            next_token,
        })
    }

    /// `UpdateArchive`: a new pattern replaces the managed rule's at once.
    pub async fn update_archive(&self, req: UpdateArchiveRequest) -> BusResult<Archive> {
        let (id, old) = self.archive_row(&req.archive_name).await?;
        if let Some(p) = &req.event_pattern {
            EventPattern::parse(p)?;
        }
        if req.retention_days.is_some_and(|d| d < 0) {
            return Err(BusError::Validation(
                "Parameter RetentionDays must be at least 0.".into(),
            ));
        }
        let pattern = req.event_pattern.clone().or(old.event_pattern.clone());
        let rule_pattern = archive_rule_pattern(pattern.as_deref())?;
        let description = req.description.clone().or(old.description.clone());
        let retention = req.retention_days.or(old.retention_days).unwrap_or(0);
        let bus = arn_tail(
            old.event_source_arn.as_deref().unwrap_or_default(),
            ":event-bus/",
        )
        .unwrap_or(DEFAULT_BUS)
        .to_string();
        let _g = self.inner.control.lock().await;
        self.inner
            .db
            .write(move |tx| {
                tx.execute(
                    "UPDATE eb_archives SET pattern = ?2, description = ?3, retention_days = ?4 WHERE id = ?1",
                    params![id, pattern, description, retention],
                )?;
                tx.execute("UPDATE eb_rules SET pattern = ?2 WHERE archive_id = ?1", params![id, rule_pattern])
            })
            .await?;
        self.reload_routes(&bus).await?;
        Ok(Archive {
            archive_arn: old.archive_arn,
            state: old.state,
            creation_time: old.creation_time,
            ..Default::default()
        })
    }

    /// `DeleteArchive`: the archive, its events and its managed rule.
    pub async fn delete_archive(&self, name: &str) -> BusResult<()> {
        let (id, old) = self.archive_row(name).await?;
        let bus = arn_tail(
            old.event_source_arn.as_deref().unwrap_or_default(),
            ":event-bus/",
        )
        .unwrap_or(DEFAULT_BUS)
        .to_string();
        let _g = self.inner.control.lock().await;
        self.inner
            .db
            .write(move |tx| {
                tx.execute("DELETE FROM eb_rules WHERE archive_id = ?1", [id])?;
                tx.execute("DELETE FROM eb_archive_events WHERE archive_id = ?1", [id])?;
                tx.execute("DELETE FROM eb_archives WHERE id = ?1", [id])
            })
            .await?;
        self.reload_routes(&bus).await
    }

    /// Exact number of archived events whose event time is in `[start, end)`:
    /// the count to show before starting a replay.
    pub async fn count_archive_events(
        &self,
        archive: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> BusResult<i64> {
        let (id, _) = self.archive_row(archive).await?;
        Ok(self
            .inner
            .db
            .read(move |c| {
                c.prepare_cached("SELECT count(*) FROM eb_archive_events WHERE archive_id = ?1 AND event_time >= ?2 AND event_time < ?3")?
                    .query_row(params![id, start.0, end.0], |r| r.get(0))
            })
            .await?)
    }

    /// Event times of the oldest and newest events `archive` holds (both
    /// `None` when it is empty); two index seeks.
    pub async fn archive_time_range(
        &self,
        archive: &str,
    ) -> BusResult<(Option<Timestamp>, Option<Timestamp>)> {
        let (id, _) = self.archive_row(archive).await?;
        Ok(self
            .inner
            .db
            .read(move |c| {
                let first: Option<i64> = c
                    .prepare_cached(
                        "SELECT min(event_time) FROM eb_archive_events WHERE archive_id = ?1",
                    )?
                    .query_row([id], |r| r.get(0))?;
                let last: Option<i64> = c
                    .prepare_cached(
                        "SELECT max(event_time) FROM eb_archive_events WHERE archive_id = ?1",
                    )?
                    .query_row([id], |r| r.get(0))?;
                Ok((first.map(Timestamp), last.map(Timestamp)))
            })
            .await?)
    }

    /// Browses `archive`: up to `limit` events with an event time in
    /// `[start, end)` (either bound open) after `after` = (event time, seq),
    /// ordered by (event time, seq); each as (seq, event time, event JSON).
    pub async fn archived_events(
        &self,
        archive: &str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        after: Option<(i64, i64)>,
        limit: usize,
    ) -> BusResult<Vec<(i64, Timestamp, String)>> {
        let (id, _) = self.archive_row(archive).await?;
        let (after_t, after_s) = after.unwrap_or((i64::MIN, i64::MIN));
        let (start, end) = (
            start.map_or(i64::MIN, |t| t.0),
            end.map_or(i64::MAX, |t| t.0),
        );
        Ok(self
            .inner
            .db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT seq, event_time, body FROM eb_archive_events
                     WHERE archive_id = ?1 AND event_time >= ?2 AND event_time < ?3
                       AND (event_time, seq) > (?4, ?5)
                     ORDER BY event_time, seq LIMIT ?6",
                )?
                .query_map(
                    params![id, start, end, after_t, after_s, limit as i64],
                    |r| {
                        let body = r.get_ref(2)?.as_blob()?;
                        Ok((
                            r.get(0)?,
                            Timestamp(r.get(1)?),
                            String::from_utf8_lossy(body).into_owned(),
                        ))
                    },
                )?
                .collect()
            })
            .await?)
    }

    /// Deletes archived events older than their archive's retention (by event
    /// time); returns how many were purged.
    pub async fn retention_step(&self) -> BusResult<i64> {
        let now = Timestamp::now().0;
        Ok(self
            .inner
            .db
            .write(move |tx| {
                let archives: Vec<(i64, i64)> = tx
                    .prepare("SELECT id, retention_days FROM eb_archives WHERE retention_days > 0")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                let mut purged = 0;
                for (id, days) in archives {
                    let cutoff = now - days * 86_400_000;
                    let (n, size): (i64, i64) = tx.query_row(
                        "SELECT count(*), coalesce(sum(length(body)), 0) FROM eb_archive_events WHERE archive_id = ?1 AND event_time < ?2",
                        params![id, cutoff],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?;
                    if n > 0 {
                        tx.execute("DELETE FROM eb_archive_events WHERE archive_id = ?1 AND event_time < ?2", params![id, cutoff])?;
                        tx.execute(
                            "UPDATE eb_archives SET event_count = event_count - ?2, size_bytes = size_bytes - ?3 WHERE id = ?1",
                            params![id, n, size],
                        )?;
                        purged += n;
                    }
                }
                Ok(purged)
            })
            .await?)
    }
}

/// Runs [`Bus::retention_step`] every `retention_interval` until cancelled.
pub(crate) async fn retention_run(bus: Bus, shutdown: CancellationToken) {
    let every = bus.inner.cfg.retention_interval.max(Duration::from_secs(1));
    // The first purge waits a little (at most a minute) rather than running
    // at start-up, so start-up stays fast and tests are not raced by it.
    let first = tokio::time::Instant::now() + every.min(Duration::from_secs(60));
    let mut tick = tokio::time::interval_at(first, every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                match bus.retention_step().await {
                    Ok(n) if n > 0 => tracing::info!(purged = n, "archive retention"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("archive retention failed: {e}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_pattern_excludes_replays() {
        let p = archive_rule_pattern(Some(r#"{"source": ["a"]}"#)).unwrap();
        let pat = EventPattern::parse(&p).unwrap();
        assert!(pat.matches(r#"{"source": "a"}"#).unwrap());
        assert!(!pat
            .matches(r#"{"source": "a", "replay-name": "r"}"#)
            .unwrap());
        assert!(EventPattern::parse(&archive_rule_pattern(None).unwrap()).is_ok());
        assert!(check_name("name", "ok.name-1_x", 64, false).is_ok());
        assert!(check_name("name", "bad name", 64, false).is_err());
    }
}
