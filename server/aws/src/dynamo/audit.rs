//! [`AuditStore`] on DynamoDB: one `AUDIT` partition (human actions: a
//! small, steady rate), sorted by id = time in ms × 1000 + a random 0–999,
//! so ids increase with time across replicas and page like SQLite's.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::Select;
use chrono::{DateTime, Utc};
use mediator_core::audit::AuditEntry;
use mediator_core::storage::audit::AuditStore;
use mediator_core::storage::StoreError;
use tracing::Instrument;

use super::{backend, get_n, get_s, ms_time, n, s, DynamoStore, Item};

const AUDIT_PK: &str = "AUDIT";

/// Ids a millisecond holds.
const PER_MS: i64 = 1000;

fn entry(item: &Item) -> Option<AuditEntry> {
    let id = get_n(item, "sk")?;
    Some(AuditEntry {
        id,
        at: ms_time(id.div_euclid(PER_MS))?,
        actor: get_s(item, "actor")?,
        role: get_s(item, "role"),
        via: get_s(item, "via")?,
        action: get_s(item, "action")?,
        target: get_s(item, "target"),
        reason: get_s(item, "reason"),
        outcome: get_s(item, "outcome")?,
        detail: get_s(item, "detail").and_then(|d| serde_json::from_str(&d).ok()),
    })
}

impl DynamoStore {
    /// One page of the `AUDIT` partition between ids `lo` and `hi`
    /// (inclusive), in `forward` order, at most `limit`.
    async fn audit_page(
        &self,
        lo: i64,
        hi: i64,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        if hi < lo {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .query()
            .table_name(&self.tables.audit)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(AUDIT_PK))
            .expression_attribute_values(":lo", n(lo))
            .expression_attribute_values(":hi", n(hi))
            .scan_index_forward(forward)
            .limit(limit.clamp(1, 1000) as i32)
            .consistent_read(true)
            .send()
            .instrument(crate::trace::dynamodb("Query", &self.tables.audit))
            .await
            .map_err(|e| backend("Query audit log", &e))?;
        Ok(out.items().iter().filter_map(entry).collect())
    }
}

#[async_trait]
impl AuditStore for DynamoStore {
    async fn append(&self, e: AuditEntry) -> Result<i64, StoreError> {
        let base = e.at.timestamp_millis() * PER_MS;
        for _ in 0..5 {
            let id = base + fastrand::i64(0..PER_MS);
            let mut put = self
                .client
                .put_item()
                .table_name(&self.tables.audit)
                .item("pk", s(AUDIT_PK))
                .item("sk", n(id))
                .item("actor", s(&e.actor))
                .item("via", s(&e.via))
                .item("action", s(&e.action))
                .item("outcome", s(&e.outcome))
                .condition_expression("attribute_not_exists(sk)");
            for (k, v) in [
                ("role", e.role.clone()),
                ("target", e.target.clone()),
                ("reason", e.reason.clone()),
                ("detail", e.detail.as_ref().map(|d| d.to_string())),
            ] {
                if let Some(v) = v {
                    put = put.item(k, s(v));
                }
            }
            match put
                .send()
                .instrument(crate::trace::dynamodb("PutItem", &self.tables.audit))
                .await
            {
                Ok(_) => return Ok(id),
                // Another entry took this id in the same millisecond.
                Err(err) if err.code() == Some("ConditionalCheckFailedException") => continue,
                Err(err) => return Err(backend("PutItem audit entry", &err)),
            }
        }
        Err(StoreError::Conflict(
            "audit entry: no free id in its millisecond after 5 tries".into(),
        ))
    }

    async fn count_since(
        &self,
        action: &str,
        actor: &str,
        outcome: &str,
        target: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut start: Option<Item> = None;
        let mut filter = "#a = :action AND actor = :actor AND outcome = :outcome".to_string();
        if target.is_some() {
            filter.push_str(" AND target = :target");
        }
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.tables.audit)
                .key_condition_expression("pk = :pk AND sk >= :lo")
                .filter_expression(&filter)
                .expression_attribute_names("#a", "action")
                .expression_attribute_values(":pk", s(AUDIT_PK))
                .expression_attribute_values(":lo", n(since.timestamp_millis() * PER_MS))
                .expression_attribute_values(":action", s(action))
                .expression_attribute_values(":actor", s(actor))
                .expression_attribute_values(":outcome", s(outcome))
                .select(Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if let Some(t) = target {
                query = query.expression_attribute_values(":target", s(t));
            }
            let page = query
                .send()
                .instrument(crate::trace::dynamodb("Query", &self.tables.audit))
                .await
                .map_err(|e| backend("Query audit count", &e))?;
            count += page.count().max(0) as u64;
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(count),
            }
        }
    }

    async fn prune_before(&self, before: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        let hi = before.timestamp_millis() * PER_MS - 1;
        let old = self.audit_page(0, hi, true, limit).await?;
        let mut deleted = 0;
        for e in old {
            self.client
                .delete_item()
                .table_name(&self.tables.audit)
                .key("pk", s(AUDIT_PK))
                .key("sk", n(e.id))
                .send()
                .instrument(crate::trace::dynamodb("DeleteItem", &self.tables.audit))
                .await
                .map_err(|err| backend("DeleteItem audit entry", &err))?;
            deleted += 1;
        }
        Ok(deleted)
    }

    async fn newest(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let hi = before.map_or(i64::MAX, |b| b - 1);
        self.audit_page(0, hi, false, limit).await
    }

    async fn range(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let lo = since.map_or(0, |t| t.timestamp_millis() * PER_MS);
        let lo = after.map_or(lo, |a| lo.max(a + 1));
        let hi = until.map_or(i64::MAX, |t| t.timestamp_millis() * PER_MS - 1);
        self.audit_page(lo, hi, true, limit).await
    }
}
