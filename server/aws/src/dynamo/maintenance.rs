//! The parts' maintenance windows on DynamoDB: one item per window beside
//! its part's status (`PART#<part>` / `MAINT#<id>`), and on the part's
//! `STATUS` item `maint`, the holds of its windows not over yet
//! (`start-end` in epoch ms, comma-separated) with `mver`, their version.
//! Scheduling and ending write the window and `maint` in one
//! TransactWriteItems under `mver`, so two replicas never record
//! overlapping windows; the voucher store's hold and claim read `maint`
//! with the circuit and check it is unchanged in their own transaction.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use mediator_core::maintenance::MaintenanceWindow;
use mediator_core::storage::maintenance::{MaintenanceStore, Scheduled};
use mediator_core::storage::StoreError;
use tracing::Instrument;

use super::{
    backend, build_err, get_n, get_s, item_key, ms_time, n, part_key, s, DynamoStore, Item,
    BATCH_ROUNDS,
};

/// Sort-key prefix of a window item.
const MAINT_SK: &str = "MAINT#";

/// Whether the holds `maint` (as stored on a `STATUS` item) hold at `now_ms`.
pub(crate) fn holds_at(maint: Option<&str>, now_ms: i64) -> bool {
    maint.is_some_and(|m| {
        m.split(',').any(|h| match h.split_once('-') {
            Some((a, b)) => matches!(
                (a.parse::<i64>(), b.parse::<i64>()),
                (Ok(a), Ok(b)) if a <= now_ms && now_ms < b
            ),
            None => false,
        })
    })
}

fn window_of(i: &Item) -> Option<MaintenanceWindow> {
    Some(MaintenanceWindow {
        id: get_s(i, "id")?,
        part: get_s(i, "part")?,
        start: ms_time(get_n(i, "start")?)?,
        end: ms_time(get_n(i, "end")?)?,
        reason: get_s(i, "reason").unwrap_or_default(),
        by: get_s(i, "by").unwrap_or_default(),
        created_at: ms_time(get_n(i, "created")?)?,
        ended_at: get_n(i, "ended").and_then(ms_time),
        ended_by: get_s(i, "ended_by"),
        end_reason: get_s(i, "end_reason"),
        replay: get_s(i, "replay"),
    })
}

fn window_item(w: &MaintenanceWindow) -> Item {
    let mut i = item_key(format!("PART#{}", w.part), format!("{MAINT_SK}{}", w.id));
    i.insert("id".into(), s(&w.id));
    i.insert("part".into(), s(&w.part));
    i.insert("start".into(), n(w.start.timestamp_millis()));
    i.insert("end".into(), n(w.end.timestamp_millis()));
    i.insert("reason".into(), s(&w.reason));
    i.insert("by".into(), s(&w.by));
    i.insert("created".into(), n(w.created_at.timestamp_millis()));
    i
}

/// The `maint` of windows `ws` at `now`: the holds not over yet.
fn holds_of(ws: &[MaintenanceWindow], now: DateTime<Utc>) -> Option<String> {
    let v: Vec<String> = ws
        .iter()
        .filter(|w| !w.cancelled() && w.effective_end() > now)
        .map(|w| {
            format!(
                "{}-{}",
                w.start.timestamp_millis(),
                w.effective_end().timestamp_millis()
            )
        })
        .collect();
    (!v.is_empty()).then(|| v.join(","))
}

impl DynamoStore {
    /// The windows of `part` (strongly consistent), by start.
    async fn part_windows(&self, part: &str) -> Result<Vec<MaintenanceWindow>, StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.tables.parts)
            .key_condition_expression("pk = :pk AND begins_with(sk, :m)")
            .expression_attribute_values(":pk", s(format!("PART#{part}")))
            .expression_attribute_values(":m", s(MAINT_SK))
            .consistent_read(true);
        let items = self.query_all("Query maintenance windows", q).await?;
        let mut out: Vec<MaintenanceWindow> = items.iter().filter_map(window_of).collect();
        out.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        Ok(out)
    }

    /// The window `id` of whichever part holds it (a Scan of the parts'
    /// items: for ids not naming their part).
    async fn window_anywhere(&self, id: &str) -> Result<Option<MaintenanceWindow>, StoreError> {
        let mut items = self
            .client
            .scan()
            .table_name(&self.tables.parts)
            .consistent_read(true)
            .filter_expression("sk = :sk")
            .expression_attribute_values(":sk", s(format!("{MAINT_SK}{id}")))
            .into_paginator()
            .items()
            .send();
        while let Some(i) = items
            .try_next()
            .instrument(crate::trace::dynamodb("Scan", &self.tables.parts))
            .await
            .map_err(|e| backend("Scan maintenance window", &e))?
        {
            if let Some(w) = window_of(&i) {
                return Ok(Some(w));
            }
        }
        Ok(None)
    }

    /// The part's `mver` (0 before its first window).
    async fn maint_version(&self, part: &str) -> Result<i64, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.parts)
            .set_key(Some(part_key(part)))
            .consistent_read(true)
            .projection_expression("mver")
            .send()
            .instrument(crate::trace::dynamodb("GetItem", &self.tables.parts))
            .await
            .map_err(|e| backend("GetItem maintenance version", &e))?;
        Ok(out.item().and_then(|i| get_n(i, "mver")).unwrap_or(0))
    }

    /// The `STATUS` item's update to `maint` from version `ver`.
    fn holds_update(
        &self,
        part: &str,
        ver: i64,
        maint: Option<String>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut b = Update::builder()
            .table_name(&self.tables.parts)
            .set_key(Some(part_key(part)))
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":unknown", s("unknown"))
            .expression_attribute_values(":now", s(Utc::now().to_rfc3339()))
            .expression_attribute_values(":nv", n(ver + 1));
        let base = "#st = if_not_exists(#st, :unknown), updated_at = if_not_exists(updated_at, :now), mver = :nv";
        let expr = match maint {
            Some(m) => {
                b = b.expression_attribute_values(":m", s(m));
                format!("SET {base}, maint = :m")
            }
            None => format!("SET {base} REMOVE maint"),
        };
        let cond = if ver == 0 {
            "attribute_not_exists(mver)"
        } else {
            b = b.expression_attribute_values(":v", n(ver));
            "mver = :v"
        };
        let u = b
            .update_expression(expr)
            .condition_expression(cond)
            .build()
            .map_err(|e| build_err("maintenance holds", e))?;
        Ok(TransactWriteItem::builder().update(u).build())
    }

    /// Writes `actions` in one transaction: `Ok(false)` when a condition
    /// failed (another writer was first).
    async fn maint_transact(&self, actions: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .instrument(crate::trace::dynamodb(
                "TransactWriteItems",
                &self.tables.parts,
            ))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match backend("TransactWriteItems maintenance window", &e) {
                StoreError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }
}

#[async_trait]
impl MaintenanceStore for DynamoStore {
    async fn schedule(&self, w: &MaintenanceWindow) -> Result<Scheduled, StoreError> {
        for round in 0..BATCH_ROUNDS {
            if round > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << round.min(5))).await;
            }
            let ver = self.maint_version(&w.part).await?;
            let mut ws = self.part_windows(&w.part).await?;
            if let Some(o) = ws.iter().find(|o| o.overlaps(w.start, w.end)) {
                return Ok(Scheduled::Overlaps(Box::new(o.clone())));
            }
            ws.push(w.clone());
            let put = Put::builder()
                .table_name(&self.tables.parts)
                .set_item(Some(window_item(w)))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| build_err("maintenance window", e))?;
            let actions = vec![
                TransactWriteItem::builder().put(put).build(),
                self.holds_update(&w.part, ver, holds_of(&ws, Utc::now()))?,
            ];
            if self.maint_transact(actions).await? {
                return Ok(Scheduled::Recorded);
            }
        }
        Err(StoreError::Conflict(format!(
            "maintenance window {}: too many concurrent writers",
            w.id
        )))
    }

    async fn window(&self, id: &str) -> Result<Option<MaintenanceWindow>, StoreError> {
        // The service's ids end with their part (`mw-<ms>-<part>`): one
        // GetItem; any other id is looked for among every part's items.
        let Some(part) = id.splitn(3, '-').nth(2) else {
            return self.window_anywhere(id).await;
        };
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.parts)
            .set_key(Some(item_key(
                format!("PART#{part}"),
                format!("{MAINT_SK}{id}"),
            )))
            .consistent_read(true)
            .send()
            .instrument(crate::trace::dynamodb("GetItem", &self.tables.parts))
            .await
            .map_err(|e| backend("GetItem maintenance window", &e))?;
        match out.item().and_then(window_of) {
            Some(w) => Ok(Some(w)),
            None => self.window_anywhere(id).await,
        }
    }

    async fn windows(
        &self,
        part: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<MaintenanceWindow>, StoreError> {
        let mut all = match part {
            Some(p) => self.part_windows(p).await?,
            None => {
                let mut out = Vec::new();
                for item in self.status_items().await? {
                    if let Some(p) =
                        get_s(&item, "pk").and_then(|p| p.strip_prefix("PART#").map(str::to_owned))
                    {
                        out.extend(self.part_windows(&p).await?);
                    }
                }
                out
            }
        };
        all.retain(|w| w.effective_end() >= since || (w.replay.is_none() && !w.cancelled()));
        all.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        Ok(all)
    }

    async fn end(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        reason: &str,
    ) -> Result<Option<MaintenanceWindow>, StoreError> {
        for round in 0..BATCH_ROUNDS {
            if round > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << round.min(5))).await;
            }
            let Some(w) = self.window(id).await? else {
                return Ok(None);
            };
            if w.cancelled() || w.effective_end() <= at {
                return Ok(Some(w));
            }
            let ver = self.maint_version(&w.part).await?;
            let mut ws = self.part_windows(&w.part).await?;
            let mut ended = w.clone();
            ended.ended_at = Some(at);
            ended.ended_by = Some(by.to_owned());
            ended.end_reason = Some(reason.to_owned());
            for x in ws.iter_mut().filter(|x| x.id == id) {
                *x = ended.clone();
            }
            let u = Update::builder()
                .table_name(&self.tables.parts)
                .set_key(Some(item_key(
                    format!("PART#{}", w.part),
                    format!("{MAINT_SK}{id}"),
                )))
                .update_expression("SET ended = :at, ended_by = :by, end_reason = :r")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(ended)")
                .expression_attribute_values(":at", n(at.timestamp_millis()))
                .expression_attribute_values(":by", s(by))
                .expression_attribute_values(":r", s(reason))
                .build()
                .map_err(|e| build_err("maintenance window end", e))?;
            let actions = vec![
                TransactWriteItem::builder().update(u).build(),
                self.holds_update(&w.part, ver, holds_of(&ws, Utc::now().min(at)))?,
            ];
            if self.maint_transact(actions).await? {
                return Ok(Some(ended));
            }
        }
        Err(StoreError::Conflict(format!(
            "maintenance window {id}: too many concurrent writers"
        )))
    }

    async fn mark_replayed(&self, id: &str, replay: &str) -> Result<bool, StoreError> {
        let Some(w) = self.window(id).await? else {
            return Ok(false);
        };
        let part = w.part.as_str();
        super::applied(
            "UpdateItem maintenance replay",
            self.client
                .update_item()
                .table_name(&self.tables.parts)
                .set_key(Some(item_key(
                    format!("PART#{part}"),
                    format!("{MAINT_SK}{id}"),
                )))
                .update_expression("SET replay = :r")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(replay)")
                .expression_attribute_values(":r", s(replay))
                .send()
                .instrument(crate::trace::dynamodb("UpdateItem", &self.tables.parts))
                .await,
        )
    }
}
