//! Routing snapshot of one bus: a compiled [`patterns::Matcher`] over its
//! rules, and what each rule does with a matching event.

use std::sync::Arc;

use patterns::Matcher;
use store::rusqlite::{params, Connection};

use crate::types::Target;
use crate::{arn_tail, Bus};

/// Where a target sends events.
#[derive(Debug, Clone)]
pub(crate) enum TargetKind {
    /// Embedded queue (by name).
    Queue(String),
    /// API destination (HTTP) or in-process consumer: a deliveries row.
    Deferred,
}

#[derive(Debug, Clone)]
pub(crate) struct TargetRoute {
    pub id: String,
    pub arn: String,
    pub kind: TargetKind,
    pub input: Option<Arc<[u8]>>,
    /// `InputPath` as field names (`$.detail.data` → `["detail", "data"]`).
    pub input_path: Option<Vec<String>>,
    /// The target as JSON, copied into deliveries rows (retry policy, DLQ, HTTP parameters).
    pub spec: Arc<str>,
}

#[derive(Debug, Clone)]
pub(crate) struct RuleRoute {
    pub arn: String,
    pub enabled: bool,
    pub archive_id: Option<i64>,
    pub targets: Vec<TargetRoute>,
}

/// One bus's rules compiled for matching.
pub(crate) struct Routing {
    pub matcher: Matcher<u32>,
    pub rules: Vec<RuleRoute>,
}

/// A write produced by routing one event.
#[derive(Debug, Clone)]
pub(crate) enum Row {
    Archive {
        archive_id: i64,
        time_ms: i64,
        body: Arc<[u8]>,
    },
    Queue {
        queue: String,
        body: Arc<[u8]>,
    },
    Delivery {
        target_arn: String,
        rule_arn: String,
        target_id: String,
        spec: Arc<str>,
        body: Arc<[u8]>,
    },
}

/// Which rules a replayed event may reach.
pub(crate) struct ReplayFilter<'a> {
    pub filter_arns: Option<&'a [String]>,
}

impl Routing {
    /// Loads the rules and targets of `bus`.
    pub fn load(conn: &Connection, bus: &Bus, bus_name: &str) -> store::rusqlite::Result<Routing> {
        let mut matcher = Matcher::new();
        let mut rules = Vec::new();
        let mut stmt = conn.prepare(
            "SELECT name, pattern, state, archive_id FROM eb_rules WHERE bus = ?1 AND pattern IS NOT NULL ORDER BY name",
        )?;
        let rows = stmt
            .query_map([bus_name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut tstmt =
            conn.prepare("SELECT spec FROM eb_targets WHERE bus = ?1 AND rule = ?2 ORDER BY id")?;
        for (name, pattern, state, archive_id) in rows {
            let idx = rules.len() as u32;
            if let Err(e) = matcher.add_rule(idx, &pattern) {
                tracing::warn!(rule = %name, "stored pattern no longer valid: {e}");
                continue;
            }
            let mut targets = Vec::new();
            for spec in tstmt.query_map(params![bus_name, name], |r| r.get::<_, String>(0))? {
                targets.extend(TargetRoute::from_spec(&spec?));
            }
            rules.push(RuleRoute {
                arn: bus.rule_arn(bus_name, &name),
                enabled: state == "ENABLED",
                archive_id,
                targets,
            });
        }
        Ok(Routing { matcher, rules })
    }

    /// Routes one event (its envelope JSON) and appends the writes it causes.
    /// Live events reach enabled rules (archive rules included); replayed events
    /// reach enabled non-archive rules, only those in `FilterArns` if given.
    /// Returns how many rules it reached.
    pub fn route(
        &self,
        body: &Arc<[u8]>,
        time_ms: i64,
        replay: Option<&ReplayFilter<'_>>,
        out: &mut Vec<Row>,
    ) -> u64 {
        let hits = match self.matcher.matches_for_event(body) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!("event could not be matched: {e}");
                return 0;
            }
        };
        let mut reached = 0;
        for idx in hits {
            let rule = &self.rules[idx as usize];
            if !rule.enabled {
                continue;
            }
            if let Some(filter) = replay {
                if rule.archive_id.is_some() {
                    continue;
                }
                if let Some(arns) = filter.filter_arns {
                    if !arns.contains(&rule.arn) {
                        continue;
                    }
                }
            }
            reached += 1;
            if let Some(archive_id) = rule.archive_id {
                out.push(Row::Archive {
                    archive_id,
                    time_ms,
                    body: body.clone(),
                });
            }
            push_target_rows(&rule.arn, &rule.targets, body, out);
        }
        reached
    }
}

impl TargetRoute {
    /// A stored target (`eb_targets.spec`); `None` when it no longer parses.
    pub fn from_spec(spec: &str) -> Option<TargetRoute> {
        let t = serde_json::from_str::<Target>(spec).ok()?;
        let kind = match arn_tail(&t.arn, ":sqs:") {
            Some(rest) => TargetKind::Queue(rest.rsplit(':').next().unwrap_or(rest).to_string()),
            None => TargetKind::Deferred,
        };
        Some(TargetRoute {
            id: t.id.clone(),
            arn: t.arn.clone(),
            kind,
            input: t.input.as_ref().map(|i| Arc::from(i.as_bytes())),
            input_path: t.input_path.as_deref().and_then(parse_input_path),
            spec: Arc::from(spec),
        })
    }
}

/// The writes that deliver `body` (an event's envelope) to each of a
/// rule's `targets`, with each target's `Input` or `InputPath` applied.
pub(crate) fn push_target_rows(
    rule_arn: &str,
    targets: &[TargetRoute],
    body: &Arc<[u8]>,
    out: &mut Vec<Row>,
) {
    for t in targets {
        let payload = match (&t.input, &t.input_path) {
            (Some(i), _) => i.clone(),
            (None, Some(path)) => select_path(body, path),
            (None, None) => body.clone(),
        };
        match &t.kind {
            TargetKind::Queue(q) => out.push(Row::Queue {
                queue: q.clone(),
                body: payload,
            }),
            TargetKind::Deferred => out.push(Row::Delivery {
                target_arn: t.arn.clone(),
                rule_arn: rule_arn.to_string(),
                target_id: t.id.clone(),
                spec: t.spec.clone(),
                body: payload,
            }),
        }
    }
}

/// Writes `rows` in `tx`; returns (queue rows, delivery rows) written.
pub(crate) fn apply_rows(
    tx: &Connection,
    rows: &[Row],
    now_ms: i64,
) -> Result<(usize, usize), store::rusqlite::Error> {
    let mut queues = 0;
    let mut deliveries = 0;
    let mut counts: std::collections::HashMap<i64, (i64, i64)> = std::collections::HashMap::new();
    let mut ins_archive = tx.prepare_cached(
        "INSERT INTO eb_archive_events (archive_id, event_time, body) VALUES (?1, ?2, ?3)",
    )?;
    let mut ins_queue = tx.prepare_cached(
        "INSERT INTO eb_queue_messages (queue, body, sent_ms, visible_ms) VALUES (?1, ?2, ?3, ?3)",
    )?;
    let mut ins_delivery = tx.prepare_cached(
        "INSERT INTO eb_deliveries (target_arn, rule_arn, target_id, spec, body, first_ms, next_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?;
    for row in rows {
        match row {
            Row::Archive {
                archive_id,
                time_ms,
                body,
            } => {
                ins_archive.execute(params![archive_id, time_ms, &body[..]])?;
                let c = counts.entry(*archive_id).or_default();
                c.0 += 1;
                c.1 += body.len() as i64;
            }
            Row::Queue { queue, body } => {
                ins_queue.execute(params![queue, &body[..], now_ms])?;
                queues += 1;
            }
            Row::Delivery {
                target_arn,
                rule_arn,
                target_id,
                spec,
                body,
            } => {
                ins_delivery.execute(params![
                    target_arn,
                    rule_arn,
                    target_id,
                    &spec[..],
                    &body[..],
                    now_ms
                ])?;
                deliveries += 1;
            }
        }
    }
    let mut upd = tx.prepare_cached("UPDATE eb_archives SET event_count = event_count + ?2, size_bytes = size_bytes + ?3 WHERE id = ?1")?;
    for (id, (n, size)) in counts {
        upd.execute(params![id, n, size])?;
    }
    Ok((queues, deliveries))
}

/// Parses the `InputPath` forms the embedded bus supports: `$` and
/// `$.a.b` (plain field names); `None` for anything else.
pub(crate) fn parse_input_path(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('$')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let fields: Vec<String> = rest
        .strip_prefix('.')?
        .split('.')
        .map(str::to_string)
        .collect();
    let plain = |f: &String| {
        !f.is_empty()
            && f.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    };
    fields.iter().all(plain).then_some(fields)
}

/// The part of the event at `path` as JSON (`null` when absent).
fn select_path(body: &Arc<[u8]>, path: &[String]) -> Arc<[u8]> {
    if path.is_empty() {
        return body.clone();
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.clone();
    };
    let mut cur = &v;
    for f in path {
        cur = match cur.get(f) {
            Some(x) => x,
            None => &serde_json::Value::Null,
        };
    }
    Arc::from(cur.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_paths() {
        assert_eq!(parse_input_path("$"), Some(vec![]));
        assert_eq!(
            parse_input_path("$.detail.data"),
            Some(vec!["detail".to_string(), "data".to_string()])
        );
        assert_eq!(parse_input_path("$.detail[0]"), None);
        assert_eq!(parse_input_path("detail"), None);
        let body: Arc<[u8]> = Arc::from(&br#"{"detail": {"data": {"k": 1}}}"#[..]);
        assert_eq!(
            &*select_path(&body, &parse_input_path("$.detail.data").unwrap()),
            br#"{"k":1}"#
        );
        assert_eq!(
            &*select_path(&body, &parse_input_path("$.nope").unwrap()),
            b"null"
        );
    }
}
