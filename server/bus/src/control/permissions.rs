//! A bus's resource policy: `PutPermission` and `RemovePermission`, shown
//! as DescribeEventBus's `Policy`. The embedded bus stores and shows the
//! policy; it does not enforce it (every caller of the wire API is this
//! account).

use serde_json::{json, Value};
use store::rusqlite::{params, OptionalExtension};

use crate::types::*;
use crate::{Bus, BusError, BusResult, Timestamp};

/// A statement granting `action` on `bus_arn` to `principal` (an account
/// id, shown as its root user's ARN, or `*`), as AWS writes it.
fn statement(
    sid: &str,
    action: &str,
    principal: &str,
    bus_arn: &str,
    c: Option<&Condition>,
) -> Value {
    let principal = if principal == "*" {
        json!("*")
    } else {
        json!({ "AWS": format!("arn:aws:iam::{principal}:root") })
    };
    let mut s = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": action,
        "Resource": bus_arn,
    });
    if let Some(c) = c {
        let mut test = serde_json::Map::new();
        test.insert(c.key.clone(), json!(c.value));
        let mut condition = serde_json::Map::new();
        condition.insert(c.r#type.clone(), Value::Object(test));
        s["Condition"] = Value::Object(condition);
    }
    s
}

/// The statements of a stored policy document.
fn statements(policy: Option<&str>) -> Vec<Value> {
    policy
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .and_then(|p| p.get("Statement").cloned())
        .and_then(|s| match s {
            Value::Array(a) => Some(a),
            Value::Object(_) => Some(vec![s]),
            _ => None,
        })
        .unwrap_or_default()
}

/// The policy document holding `statements` (none: no policy).
fn document(statements: Vec<Value>) -> Option<String> {
    (!statements.is_empty())
        .then(|| json!({ "Version": "2012-10-17", "Statement": statements }).to_string())
}

impl Bus {
    /// Reads the bus's policy, lets `change` rewrite it, stores the result.
    async fn change_policy(
        &self,
        bus: &str,
        change: impl FnOnce(Option<String>) -> BusResult<Option<String>> + Send + 'static,
    ) -> BusResult<()> {
        let _g = self.inner.control.lock().await;
        let b2 = bus.to_string();
        let now = Timestamp::now().0;
        let outcome = self
            .inner
            .db
            .write(move |tx| {
                let current: Option<Option<String>> = tx
                    .query_row("SELECT policy FROM eb_buses WHERE name = ?1", [&b2], |r| {
                        r.get(0)
                    })
                    .optional()?;
                let Some(current) = current else {
                    return Ok(Err(BusError::ResourceNotFound(format!(
                        "Event bus {b2} does not exist."
                    ))));
                };
                let new = match change(current) {
                    Ok(p) => p,
                    Err(e) => return Ok(Err(e)),
                };
                tx.execute(
                    "UPDATE eb_buses SET policy = ?2, modified_ms = ?3 WHERE name = ?1",
                    params![b2, new, now],
                )?;
                Ok(Ok(()))
            })
            .await?;
        outcome
    }

    /// `PutPermission`: adds (or, with the same `StatementId`, replaces) a
    /// statement, or replaces the whole policy with `Policy`.
    pub async fn put_permission(&self, req: PutPermissionRequest) -> BusResult<()> {
        let bus = self.bus_name(req.event_bus_name.as_deref());
        let bus_arn = self.bus_arn(&bus);
        if let Some(policy) = req.policy {
            let parsed: Value = serde_json::from_str(&policy).map_err(|_| {
                BusError::Validation("Parameter Policy is not valid: not a JSON document.".into())
            })?;
            if !parsed.is_object() {
                return Err(BusError::Validation(
                    "Parameter Policy is not valid: not a JSON object.".into(),
                ));
            }
            return self
                .change_policy(&bus, move |_| Ok(Some(parsed.to_string())))
                .await;
        }
        let (Some(action), Some(principal), Some(sid)) =
            (req.action, req.principal, req.statement_id)
        else {
            return Err(BusError::Validation(
                "Parameter(s) Action, Principal and StatementId must be specified, or Policy."
                    .into(),
            ));
        };
        let added = statement(&sid, &action, &principal, &bus_arn, req.condition.as_ref());
        self.change_policy(&bus, move |current| {
            let mut all: Vec<Value> = statements(current.as_deref())
                .into_iter()
                .filter(|s| s.get("Sid").and_then(Value::as_str) != Some(sid.as_str()))
                .collect();
            all.push(added);
            Ok(document(all))
        })
        .await
    }

    /// `RemovePermission`: one statement by `StatementId`, or all of them.
    pub async fn remove_permission(&self, req: RemovePermissionRequest) -> BusResult<()> {
        let bus = self.bus_name(req.event_bus_name.as_deref());
        let all = req.remove_all_permissions.unwrap_or(false);
        let sid = req.statement_id;
        self.change_policy(&bus, move |current| {
            if all {
                return match current {
                    Some(_) => Ok(None),
                    None => Err(BusError::ResourceNotFound(
                        "EventBus does not have a policy.".into(),
                    )),
                };
            }
            let Some(sid) = sid else {
                return Err(BusError::Validation(
                    "Parameter StatementId must be specified unless RemoveAllPermissions is true."
                        .into(),
                ));
            };
            let before = statements(current.as_deref());
            let n = before.len();
            let kept: Vec<Value> = before
                .into_iter()
                .filter(|s| s.get("Sid").and_then(Value::as_str) != Some(sid.as_str()))
                .collect();
            if kept.len() == n {
                return Err(BusError::ResourceNotFound(
                    "Statement with the provided id does not exist.".into(),
                ));
            }
            Ok(document(kept))
        })
        .await
    }
}
