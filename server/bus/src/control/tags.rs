//! Tags: `TagResource`, `UntagResource`, `ListTagsForResource`, and the
//! `Tags` of CreateEventBus and PutRule. As on AWS, event buses and rules
//! can be tagged; a resource's tags go with it when it is deleted.

use std::collections::HashSet;

use store::rusqlite::{params, Transaction};

use crate::types::*;
use crate::validation::Violations;
use crate::{Bus, BusError, BusResult, DEFAULT_BUS};

/// Tags a resource may carry (AWS's quota).
pub const MAX_TAGS: usize = 50;

/// What a tagged ARN names: a bus (`rule` empty) or a rule on a bus, as
/// the tags table keys them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tagged {
    pub bus: String,
    pub rule: String,
}

/// Checks tag keys (1 to 128 characters) and values (at most 256), naming
/// every problem as AWS does.
pub(crate) fn check_tags(tags: &[Tag]) -> BusResult<()> {
    let mut problems = Violations::new();
    for (i, t) in tags.iter().enumerate() {
        let n = i + 1;
        let key_len = t.key.chars().count();
        if key_len == 0 {
            problems.push(
                Some(&t.key),
                &format!("tags.{n}.member.key"),
                "Member must have length greater than or equal to 1",
            );
        } else if key_len > 128 {
            problems.push(
                Some(&t.key),
                &format!("tags.{n}.member.key"),
                "Member must have length less than or equal to 128",
            );
        }
        if t.value.chars().count() > 256 {
            problems.push(
                Some(&t.value),
                &format!("tags.{n}.member.value"),
                "Member must have length less than or equal to 256",
            );
        }
    }
    problems.into_result()
}

/// Writes `tags` on `resource` (a key already there takes the new value);
/// refused, writing nothing, beyond the quota.
pub(crate) fn put_tags(
    tx: &Transaction<'_>,
    resource: &Tagged,
    tags: &[Tag],
) -> store::rusqlite::Result<BusResult<()>> {
    let mut keys: HashSet<String> = tx
        .prepare("SELECT key FROM eb_tags WHERE bus = ?1 AND rule = ?2")?
        .query_map(params![resource.bus, resource.rule], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    keys.extend(tags.iter().map(|t| t.key.clone()));
    if keys.len() > MAX_TAGS {
        return Ok(Err(BusError::LimitExceeded(
            "The requested resource exceeds the maximum number allowed.".into(),
        )));
    }
    for t in tags {
        tx.execute(
            "INSERT INTO eb_tags (bus, rule, key, value) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (bus, rule, key) DO UPDATE SET value = ?4",
            params![resource.bus, resource.rule, t.key, t.value],
        )?;
    }
    Ok(Ok(()))
}

impl Bus {
    /// The bus or rule `arn` names, if it exists here; AWS's answer otherwise.
    async fn tagged_resource(&self, arn: &str) -> BusResult<Tagged> {
        let resource = arn
            .strip_prefix("arn:aws:events:")
            .and_then(|rest| rest.splitn(3, ':').nth(2))
            .ok_or_else(|| BusError::Validation("Parameter ResourceARN is not valid.".into()))?;
        if let Some(bus) = resource.strip_prefix("event-bus/") {
            if arn != self.bus_arn(bus) || self.routing(bus).is_none() {
                return Err(BusError::ResourceNotFound(format!(
                    "Event bus {bus} does not exist."
                )));
            }
            return Ok(Tagged {
                bus: bus.to_string(),
                rule: String::new(),
            });
        }
        if let Some(path) = resource.strip_prefix("rule/") {
            let (bus, rule) = path.rsplit_once('/').unwrap_or((DEFAULT_BUS, path));
            let missing = || {
                BusError::ResourceNotFound(format!("Rule {rule} does not exist on EventBus {bus}."))
            };
            if arn != self.rule_arn(bus, rule) || self.routing(bus).is_none() {
                return Err(missing());
            }
            self.describe_rule(rule, Some(bus))
                .await
                .map_err(|_| missing())?;
            return Ok(Tagged {
                bus: bus.to_string(),
                rule: rule.to_string(),
            });
        }
        Err(BusError::Validation(
            "Parameter ResourceARN is not valid: only event buses and rules can be tagged.".into(),
        ))
    }

    /// `TagResource`.
    pub async fn tag_resource(&self, req: TagResourceRequest) -> BusResult<()> {
        check_tags(&req.tags)?;
        let _g = self.inner.control.lock().await;
        let resource = self.tagged_resource(&req.resource_arn).await?;
        self.inner
            .db
            .write(move |tx| put_tags(tx, &resource, &req.tags))
            .await?
    }

    /// `UntagResource` (keys the resource does not carry are ignored).
    pub async fn untag_resource(&self, req: UntagResourceRequest) -> BusResult<()> {
        let _g = self.inner.control.lock().await;
        let resource = self.tagged_resource(&req.resource_arn).await?;
        self.inner
            .db
            .write(move |tx| {
                for k in &req.tag_keys {
                    tx.execute(
                        "DELETE FROM eb_tags WHERE bus = ?1 AND rule = ?2 AND key = ?3",
                        params![resource.bus, resource.rule, k],
                    )?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// `ListTagsForResource`, by key.
    pub async fn list_tags_for_resource(
        &self,
        req: ListTagsForResourceRequest,
    ) -> BusResult<ListTagsForResourceResponse> {
        let resource = self.tagged_resource(&req.resource_arn).await?;
        let tags = self
            .inner
            .db
            .read(move |c| {
                c.prepare(
                    "SELECT key, value FROM eb_tags WHERE bus = ?1 AND rule = ?2 ORDER BY key",
                )?
                .query_map(params![resource.bus, resource.rule], |r| {
                    Ok(Tag {
                        key: r.get(0)?,
                        value: r.get(1)?,
                    })
                })?
                .collect()
            })
            .await?;
        Ok(ListTagsForResourceResponse { tags })
    }
}
