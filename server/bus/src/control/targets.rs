//! Targets: `PutTargets`, `ListTargetsByRule`, `ListRuleNamesByTarget`,
//! `RemoveTargets`, with the checks of what the embedded bus can deliver to.

use store::rusqlite::{params, OptionalExtension};

use crate::types::*;
use crate::validation::Violations;
use crate::{arn_tail, paginate, Bus, BusError, BusResult, Timestamp, ARCHIVE_RULE_MANAGER};

/// Targets per rule (AWS's quota).
pub const MAX_TARGETS_PER_RULE: usize = 5;

impl Bus {
    fn target_problem(&self, t: &Target) -> Option<(String, String)> {
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
        // A malformed target id refuses the whole request, as on AWS.
        let mut problems = Violations::new();
        for (i, t) in req.targets.iter().enumerate() {
            problems.name(&format!("targets.{}.member.id", i + 1), &t.id, 64, false);
        }
        problems.into_result()?;
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

    /// `ListRuleNamesByTarget`: the rules of one bus (default: the default
    /// bus) with a target whose `Arn` is `TargetArn`, by name.
    pub async fn list_rule_names_by_target(
        &self,
        req: ListRuleNamesByTargetRequest,
    ) -> BusResult<ListRuleNamesByTargetResponse> {
        let Some(target_arn) = req.target_arn.filter(|a| !a.is_empty()) else {
            return Err(BusError::Validation(
                "1 validation error detected: Value null at 'targetArn' failed to satisfy constraint: Member must not be null".into(),
            ));
        };
        let bus = self.bus_name(req.event_bus_name.as_deref());
        self.require_bus(&bus)?;
        let specs: Vec<(String, String)> = self
            .inner
            .db
            .read(move |c| {
                c.prepare("SELECT rule, spec FROM eb_targets WHERE bus = ?1 ORDER BY rule, id")?
                    .query_map([bus], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .await?;
        let mut names: Vec<String> = specs
            .into_iter()
            .filter(|(_, spec)| {
                serde_json::from_str::<Target>(spec).is_ok_and(|t| t.arn == target_arn)
            })
            .map(|(rule, _)| rule)
            .collect();
        names.dedup();
        let (rule_names, next_token) = paginate(names, req.next_token.as_deref(), req.limit)?;
        Ok(ListRuleNamesByTargetResponse {
            rule_names,
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
}
