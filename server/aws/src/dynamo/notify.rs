//! [`NotificationStore`] on DynamoDB: the notification outbox in the
//! `<prefix>-notify` table, shared by replicas.
//!
//! * `EVENT#<event id>`/`E`: a notification, once per event id (a
//!   conditional put), remembered for [`EVENT_MEMORY`] (TTL `ttl`).
//! * `DLV`/`<id:020>`: a delivery (to one channel) with a copy of its
//!   notification, its status, attempts (the claim token) and, while
//!   pending or sending, `dq` = `Q` and `due_ms` (when it is due, or when
//!   its sending claim's lease ends): the sparse `due` index dispatchers
//!   query. Ids come from the `SEQ`/`deliveries` counter, so the newest
//!   deliveries are one descending Query.
//! * `CURSOR`/`<source>`: a source's cursor.
//!
//! A notification, its deliveries and its source's cursor are one
//! TransactWriteItems; a claim is an UpdateItem under `attempts = :a` and
//! `due_ms <= :now`, so of two replicas racing for a delivery one wins;
//! a settle is an UpdateItem under the claim's `attempts`. Ended
//! deliveries are deleted by [`NotificationStore::prune`].

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use mediator_core::notify::Notification;
use mediator_core::storage::notify::{
    Claimed, DeliveryRecord, DeliveryStatus, NotificationStore, Settle, EVENT_MEMORY,
};
use mediator_core::storage::StoreError;
use tracing::Instrument;

use super::{
    applied, backend, build_err, get_n, get_s, item_key, ms_time, n, s, DynamoStore, Item,
};
use crate::tables::NOTIFY_DUE_INDEX;

const DELIVERIES_PK: &str = "DLV";
const CURSOR_PK: &str = "CURSOR";
/// `dq` of an open (pending or sending) delivery: the `due` index's key.
const OPEN: &str = "Q";
/// Attempts at a transaction that keeps conflicting.
const ROUNDS: u32 = 5;

fn event_key(id: &str) -> Item {
    item_key(format!("EVENT#{id}"), "E")
}

fn delivery_sk(id: i64) -> String {
    format!("{id:020}")
}

fn corrupt(what: &str) -> StoreError {
    StoreError::failed(
        "storage backend",
        format!("DynamoDB notify table: {what} is incomplete"),
    )
}

fn notification(item: &Item) -> Result<Notification, StoreError> {
    let body = get_s(item, "body").ok_or_else(|| corrupt("a delivery"))?;
    serde_json::from_str(&body).map_err(|e| StoreError::failed("notification", e))
}

fn record(item: &Item) -> Option<DeliveryRecord> {
    Some(DeliveryRecord {
        id: get_n(item, "id")?,
        channel: get_s(item, "channel")?,
        kind: get_s(item, "kind")?,
        event_id: get_s(item, "event_id")?,
        part: get_s(item, "part"),
        summary: get_s(item, "summary").unwrap_or_default(),
        attempts: get_n(item, "attempts")?,
        status: DeliveryStatus::parse(&get_s(item, "st")?)?,
        last_error: get_s(item, "last_error"),
        created_at: ms_time(get_n(item, "created_ms")?)?,
        updated_at: ms_time(get_n(item, "updated_ms")?)?,
    })
}

impl DynamoStore {
    fn notify_op(&self, op: &'static str) -> tracing::Span {
        crate::trace::dynamodb(op, &self.tables.notify)
    }

    /// Reserves `count` delivery ids; the last one.
    async fn next_delivery_ids(&self, count: usize) -> Result<i64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.notify)
            .set_key(Some(item_key("SEQ", "deliveries")))
            .update_expression("ADD n :k")
            .expression_attribute_values(":k", n(count))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .instrument(self.notify_op("UpdateItem"))
            .await
            .map_err(|e| backend("UpdateItem notify SEQ", &e))?;
        out.attributes()
            .and_then(|a| get_n(a, "n"))
            .ok_or_else(|| corrupt("the delivery counter"))
    }

    fn cursor_update(&self, name: &str, value: i64) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.tables.notify)
            .set_key(Some(item_key(CURSOR_PK, name)))
            .update_expression("SET #v = :v")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":v", n(value))
            .build()
            .map_err(|e| build_err("notify cursor", e))
    }
}

#[async_trait]
impl NotificationStore for DynamoStore {
    async fn enqueue(
        &self,
        note: &Notification,
        channels: &[String],
        cursor: Option<(&str, i64)>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if channels.len() > 98 {
            return Err(StoreError::failed(
                "notification",
                "at most 98 channels per notification on DynamoDB",
            ));
        }
        let body =
            serde_json::to_string(note).map_err(|e| StoreError::failed("notification", e))?;
        let now_ms = now.timestamp_millis();
        let expires = now.timestamp() + EVENT_MEMORY.as_secs() as i64;
        let last = if channels.is_empty() {
            0
        } else {
            self.next_delivery_ids(channels.len()).await?
        };
        let mut event = event_key(&note.event_id);
        event.insert("kind".into(), s(note.kind.as_str()));
        event.insert("body".into(), s(&body));
        event.insert("created_ms".into(), n(now_ms));
        event.insert("ttl".into(), n(expires));
        if let Some(p) = &note.part {
            event.insert("part".into(), s(p));
        }
        let mut items = vec![TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.tables.notify)
                    .set_item(Some(event))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(|e| build_err("notify event", e))?,
            )
            .build()];
        let first = last - channels.len() as i64 + 1;
        for (i, ch) in channels.iter().enumerate() {
            let id = first + i as i64;
            let mut d = item_key(DELIVERIES_PK, delivery_sk(id));
            d.insert("id".into(), n(id));
            d.insert("event_id".into(), s(&note.event_id));
            d.insert("channel".into(), s(ch));
            d.insert("kind".into(), s(note.kind.as_str()));
            if let Some(p) = &note.part {
                d.insert("part".into(), s(p));
            }
            d.insert("summary".into(), s(&note.summary));
            d.insert("body".into(), s(&body));
            d.insert("st".into(), s(DeliveryStatus::Pending.as_str()));
            d.insert("attempts".into(), n(0));
            d.insert("dq".into(), s(OPEN));
            d.insert("due_ms".into(), n(now_ms));
            d.insert("created_ms".into(), n(now_ms));
            d.insert("updated_ms".into(), n(now_ms));
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.tables.notify)
                            .set_item(Some(d))
                            .build()
                            .map_err(|e| build_err("notify delivery", e))?,
                    )
                    .build(),
            );
        }
        if let Some((name, value)) = cursor {
            items.push(
                TransactWriteItem::builder()
                    .update(self.cursor_update(name, value)?)
                    .build(),
            );
        }
        for round in 0..ROUNDS {
            match self.transact_reasons("notification", items.clone()).await? {
                None => return Ok(true),
                Some(codes)
                    if codes.first().map(String::as_str) == Some("ConditionalCheckFailed") =>
                {
                    // Known: only the cursor moves.
                    if let Some((name, value)) = cursor {
                        self.set_cursor(name, value).await?;
                    }
                    return Ok(false);
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(20 << round)).await,
            }
        }
        Err(StoreError::unavailable(
            "storage backend",
            "DynamoDB TransactWriteItems notification: kept conflicting",
        ))
    }

    async fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.notify)
            .set_key(Some(item_key(CURSOR_PK, name)))
            .consistent_read(true)
            .send()
            .instrument(self.notify_op("GetItem"))
            .await
            .map_err(|e| backend("GetItem notify cursor", &e))?;
        Ok(out.item().and_then(|i| get_n(i, "value")))
    }

    async fn set_cursor(&self, name: &str, value: i64) -> Result<(), StoreError> {
        let u = self.cursor_update(name, value)?;
        self.client
            .update_item()
            .table_name(u.table_name())
            .set_key(Some(u.key().clone()))
            .update_expression(u.update_expression())
            .set_expression_attribute_names(u.expression_attribute_names().cloned())
            .set_expression_attribute_values(u.expression_attribute_values().cloned())
            .send()
            .instrument(self.notify_op("UpdateItem"))
            .await
            .map_err(|e| backend("UpdateItem notify cursor", &e))?;
        Ok(())
    }

    async fn known(&self, event_ids: &[String]) -> Result<Vec<bool>, StoreError> {
        let keys = event_ids.iter().map(|id| event_key(id)).collect();
        let found: std::collections::HashSet<String> = self
            .batch_get("notify events", &self.tables.notify, keys, Some("pk"))
            .await?
            .iter()
            .filter_map(|i| get_s(i, "pk"))
            .collect();
        Ok(event_ids
            .iter()
            .map(|id| found.contains(&format!("EVENT#{id}")))
            .collect())
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let now_ms = now.timestamp_millis();
        let until = now_ms + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let page = self
            .client
            .query()
            .table_name(&self.tables.notify)
            .index_name(NOTIFY_DUE_INDEX)
            .key_condition_expression("dq = :q AND due_ms <= :now")
            .expression_attribute_values(":q", s(OPEN))
            .expression_attribute_values(":now", n(now_ms))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .instrument(self.notify_op("Query"))
            .await
            .map_err(|e| backend("Query notify due", &e))?;
        let mut out = Vec::new();
        for item in page.items() {
            let (Some(id), Some(attempts), Some(channel)) = (
                get_n(item, "id"),
                get_n(item, "attempts"),
                get_s(item, "channel"),
            ) else {
                continue;
            };
            // The index may lag: the item itself must still be open, due
            // and at the attempts seen.
            let claim = self
                .client
                .update_item()
                .table_name(&self.tables.notify)
                .set_key(Some(item_key(DELIVERIES_PK, delivery_sk(id))))
                .update_expression(
                    "SET st = :sending, attempts = :next, due_ms = :until, updated_ms = :now",
                )
                .condition_expression("attempts = :a AND dq = :q AND due_ms <= :now")
                .expression_attribute_values(":sending", s(DeliveryStatus::Sending.as_str()))
                .expression_attribute_values(":next", n(attempts + 1))
                .expression_attribute_values(":until", n(until))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":a", n(attempts))
                .expression_attribute_values(":q", s(OPEN))
                .send()
                .instrument(self.notify_op("UpdateItem"))
                .await;
            if applied("UpdateItem notify claim", claim)? {
                out.push(Claimed {
                    id,
                    channel,
                    attempt: attempts + 1,
                    notification: notification(item)?,
                });
            }
        }
        Ok(out)
    }

    async fn settle(
        &self,
        id: i64,
        attempt: i64,
        outcome: &Settle,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now_ms = now.timestamp_millis();
        let mut values: HashMap<String, AttributeValue> = HashMap::from([
            (":a".to_string(), n(attempt)),
            (":sending".to_string(), s(DeliveryStatus::Sending.as_str())),
            (":now".to_string(), n(now_ms)),
        ]);
        let expression = match outcome {
            Settle::Delivered => {
                values.insert(":st".into(), s(DeliveryStatus::Delivered.as_str()));
                "SET st = :st, updated_ms = :now REMOVE dq, due_ms"
            }
            Settle::Retry { error, next_at } => {
                values.insert(":st".into(), s(DeliveryStatus::Pending.as_str()));
                values.insert(":due".into(), n(next_at.timestamp_millis()));
                values.insert(":err".into(), s(error));
                "SET st = :st, updated_ms = :now, due_ms = :due, last_error = :err"
            }
            Settle::Failed { error } => {
                values.insert(":st".into(), s(DeliveryStatus::Failed.as_str()));
                values.insert(":err".into(), s(error));
                "SET st = :st, updated_ms = :now, last_error = :err REMOVE dq, due_ms"
            }
        };
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.notify)
            .set_key(Some(item_key(DELIVERIES_PK, delivery_sk(id))))
            .update_expression(expression)
            .condition_expression("attempts = :a AND st = :sending")
            .set_expression_attribute_values(Some(values))
            .send()
            .instrument(self.notify_op("UpdateItem"))
            .await;
        applied("UpdateItem notify settle", r)
    }

    async fn recent(&self, limit: usize) -> Result<Vec<DeliveryRecord>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.tables.notify)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(DELIVERIES_PK))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .instrument(self.notify_op("Query"))
            .await
            .map_err(|e| backend("Query notify deliveries", &e))?;
        Ok(page.items().iter().filter_map(record).collect())
    }

    async fn prune(
        &self,
        deliveries_before: DateTime<Utc>,
        _events_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // Notification items expire by TTL; ended deliveries are found in
        // the deliveries' partition (kept small by this very pruning).
        let mut old = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.tables.notify)
                .key_condition_expression("pk = :pk")
                .filter_expression("st IN (:d, :f) AND updated_ms < :before")
                .expression_attribute_values(":pk", s(DELIVERIES_PK))
                .expression_attribute_values(":d", s(DeliveryStatus::Delivered.as_str()))
                .expression_attribute_values(":f", s(DeliveryStatus::Failed.as_str()))
                .expression_attribute_values(":before", n(deliveries_before.timestamp_millis()))
                .projection_expression("pk, sk")
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .instrument(self.notify_op("Query"))
                .await
                .map_err(|e| backend("Query notify deliveries", &e))?;
            old.extend(page.items().iter().filter_map(|i| get_s(i, "sk")));
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        let mut gone = 0;
        for sk in old {
            let r = self
                .client
                .delete_item()
                .table_name(&self.tables.notify)
                .set_key(Some(item_key(DELIVERIES_PK, sk)))
                .condition_expression("st IN (:d, :f)")
                .expression_attribute_values(":d", s(DeliveryStatus::Delivered.as_str()))
                .expression_attribute_values(":f", s(DeliveryStatus::Failed.as_str()))
                .send()
                .instrument(self.notify_op("DeleteItem"))
                .await;
            if applied("DeleteItem notify delivery", r)? {
                gone += 1;
            }
        }
        Ok(gone)
    }
}
