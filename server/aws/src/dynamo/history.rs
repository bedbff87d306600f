//! [`MonitorHistory`] on DynamoDB: status changes by part and time from
//! the changes table's `part_time` index, `down` changes newest first from
//! the `CHG` partition, checked hours from the `<part>#hour` roll-ups,
//! latency histograms from a roll-up's `lh<bin>` attributes. The
//! index reads are eventually consistent (history, not decisions).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use mediator_core::latency::LatencyHistogram;
use mediator_core::storage::history::{ChangeRow, LatencyRollup, MonitorHistory};
use mediator_core::storage::StoreError;
use tracing::Instrument;

use super::{
    backend, change_key, get_n, get_s, n, s, DynamoStore, Item, CHANGES_PK, LATENCY_BIN_PREFIX,
};
use crate::tables::PART_TIME_INDEX;

fn change_row(item: &Item) -> Option<ChangeRow> {
    Some(ChangeRow {
        id: get_n(item, "sk")?,
        part: get_s(item, "part")?,
        at_ms: get_n(item, "changed_ms")?,
        status: get_s(item, "status")?,
        prev_status: get_s(item, "prev_status")?,
    })
}

/// A roll-up item's latency histogram (its `lh<bin>` counts).
fn latency_rollup(item: &Item) -> Option<LatencyRollup> {
    let bucket_ms = get_s(item, "sk")?.parse().ok()?;
    let mut histogram = LatencyHistogram::default();
    for (k, v) in item {
        let bin = k
            .strip_prefix(LATENCY_BIN_PREFIX)
            .and_then(|b| b.parse().ok());
        let count = v.as_n().ok().and_then(|c| c.parse::<u64>().ok());
        if let (Some(bin), Some(count)) = (bin, count) {
            histogram.add(bin, count);
        }
    }
    Some(LatencyRollup {
        bucket_ms,
        histogram,
    })
}

impl DynamoStore {
    /// A query of `part`'s changes on the `part_time` index, with
    /// `condition` on `changed_ms` (placeholders `:a`, `:b` as given).
    fn part_time(&self, part: &str, condition: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.tables.changes)
            .index_name(PART_TIME_INDEX)
            .key_condition_expression(format!("#p = :p AND {condition}"))
            .expression_attribute_names("#p", "part")
            .expression_attribute_values(":p", s(part))
    }
}

/// Rows sorted by `(at_ms, id)`.
fn ordered(items: Vec<Item>) -> Vec<ChangeRow> {
    let mut rows: Vec<ChangeRow> = items.iter().filter_map(change_row).collect();
    rows.sort_by_key(|r| (r.at_ms, r.id));
    rows
}

#[async_trait]
impl MonitorHistory for DynamoStore {
    async fn changes_around(
        &self,
        part: &str,
        a: i64,
        b: i64,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        // The time of the change in force at `a`, then everything from it
        // to `b`, then the first change at or after `b`.
        let in_force = self
            .part_time(part, "changed_ms <= :a")
            .expression_attribute_values(":a", n(a))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .instrument(crate::trace::dynamodb("Query", &self.tables.changes))
            .await
            .map_err(|e| backend("Query changes in force", &e))?;
        let from = in_force
            .items()
            .first()
            .and_then(|i| get_n(i, "changed_ms"))
            .unwrap_or(a);
        let mut rows = Vec::new();
        if from < b {
            let inside = self
                .part_time(part, "changed_ms BETWEEN :a AND :b")
                .expression_attribute_values(":a", n(from))
                .expression_attribute_values(":b", n(b - 1));
            rows = ordered(self.query_all("Query changes of a range", inside).await?);
        }
        // Ties at the first time after `b` are ordered by id.
        let after = self
            .part_time(part, "changed_ms >= :b")
            .expression_attribute_values(":b", n(b))
            .limit(10)
            .send()
            .instrument(crate::trace::dynamodb("Query", &self.tables.changes))
            .await
            .map_err(|e| backend("Query the change after a range", &e))?;
        let after = ordered(after.items().to_vec());
        rows.extend(after.into_iter().next());
        Ok(rows)
    }

    async fn check_totals(&self, part: &str) -> Result<(u64, u64), StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.tables.monitor)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("{part}#day")))
            .projection_expression("#c, #f")
            .expression_attribute_names("#c", "checks")
            .expression_attribute_names("#f", "failures");
        let items = self.query_all("Query day roll-ups", q).await?;
        Ok(items.iter().fold((0, 0), |(all, failed), i| {
            let count = |k| get_n(i, k).unwrap_or(0).max(0) as u64;
            (all + count("checks"), failed + count("failures"))
        }))
    }

    async fn checked_hours(&self, part: &str, lo: i64, hi: i64) -> Result<Vec<i64>, StoreError> {
        if hi <= lo {
            return Ok(Vec::new());
        }
        let q = self
            .client
            .query()
            .table_name(&self.tables.monitor)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(format!("{part}#hour")))
            .expression_attribute_values(":lo", s(format!("{:013}", lo.max(0))))
            .expression_attribute_values(":hi", s(format!("{:013}", (hi - 1).max(0))))
            .projection_expression("sk");
        let items = self.query_all("Query hour roll-ups", q).await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, "sk")?.parse().ok())
            .collect())
    }

    async fn latency_rollups(
        &self,
        part: &str,
        granularity: &str,
        lo: i64,
        hi: i64,
    ) -> Result<Vec<LatencyRollup>, StoreError> {
        if hi <= lo {
            return Ok(Vec::new());
        }
        let q = self
            .client
            .query()
            .table_name(&self.tables.monitor)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(format!("{part}#{granularity}")))
            .expression_attribute_values(":lo", s(format!("{:013}", lo.max(0))))
            .expression_attribute_values(":hi", s(format!("{:013}", (hi - 1).max(0))));
        let items = self.query_all("Query latency roll-ups", q).await?;
        let mut out: Vec<LatencyRollup> = items.iter().filter_map(latency_rollup).collect();
        out.sort_by_key(|r| r.bucket_ms);
        Ok(out)
    }

    async fn downs_before(
        &self,
        before: i64,
        part: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        let mut filter = "#s = :down".to_string();
        let mut q = self
            .client
            .query()
            .table_name(&self.tables.changes)
            .key_condition_expression("pk = :pk AND sk < :before")
            .expression_attribute_values(":pk", s(CHANGES_PK))
            .expression_attribute_values(":before", n(before))
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":down", s("down"))
            .scan_index_forward(false)
            .consistent_read(true);
        if let Some(p) = part {
            filter.push_str(" AND #p = :p");
            q = q
                .expression_attribute_names("#p", "part")
                .expression_attribute_values(":p", s(p));
        }
        let q = q.filter_expression(filter);
        // `Limit` counts items before the filter: page until enough.
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = q
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .instrument(crate::trace::dynamodb("Query", &self.tables.changes))
                .await
                .map_err(|e| backend("Query down changes", &e))?;
            out.extend(page.items().iter().filter_map(change_row));
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() && out.len() < limit => start = Some(k.clone()),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn change(&self, id: i64) -> Result<Option<ChangeRow>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.changes)
            .set_key(Some(change_key(id)))
            .consistent_read(true)
            .send()
            .instrument(crate::trace::dynamodb("GetItem", &self.tables.changes))
            .await
            .map_err(|e| backend("GetItem status change", &e))?;
        Ok(out.item().and_then(change_row))
    }

    async fn next_change(
        &self,
        part: &str,
        at_ms: i64,
        id: i64,
    ) -> Result<Option<ChangeRow>, StoreError> {
        let q = self
            .part_time(part, "changed_ms >= :a")
            .expression_attribute_values(":a", n(at_ms))
            .limit(10);
        let mut start: Option<Item> = None;
        loop {
            let page = q
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .instrument(crate::trace::dynamodb("Query", &self.tables.changes))
                .await
                .map_err(|e| backend("Query the next change", &e))?;
            let next = ordered(page.items().to_vec())
                .into_iter()
                .find(|r| (r.at_ms, r.id) > (at_ms, id));
            if next.is_some() {
                return Ok(next);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(None),
            }
        }
    }
}
