//! Reads through the reference indexes, the sparse `open` index and the
//! `status_received` index.

use mediator_core::storage::StoreError;
use mediator_core::VoucherStatus;
use tracing::Instrument;

use super::*;
use crate::dynamo::{backend, s, DynamoStore, Item};
use crate::tables::{OPEN_INDEX, STATUS_RECEIVED_INDEX};

impl DynamoStore {
    /// Records matching one reference through its index, newest first,
    /// strictly before `before` (an `rk`).
    pub(super) async fn query_ref(
        &self,
        index: &str,
        attr: &str,
        value: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Known>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.tables.vouchers)
                .index_name(index)
                .scan_index_forward(false)
                .limit((limit - out.len()).max(1) as i32)
                .expression_attribute_names("#k", attr)
                .expression_attribute_values(":v", s(value))
                .set_exclusive_start_key(start.take());
            q = match before {
                Some(b) => q
                    .key_condition_expression("#k = :v AND rk < :b")
                    .expression_attribute_values(":b", s(b)),
                None => q.key_condition_expression("#k = :v"),
            };
            let page = q
                .send()
                .instrument(crate::trace::dynamodb("Query", &self.tables.vouchers))
                .await
                .map_err(|e| backend("Query voucher reference", &e))?;
            out.extend(page.items().iter().filter_map(record_of));
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() && out.len() < limit => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// Items of the `open` index with `ps = status`, by `ord`, within
    /// `range` (a key condition on `ord`, with `:o`), at most `limit`.
    pub(super) async fn query_open(
        &self,
        status: VoucherStatus,
        range: Option<(&str, String)>,
        filter_part: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.tables.vouchers)
                .index_name(OPEN_INDEX)
                .expression_attribute_values(":ps", s(status.as_str()))
                .set_exclusive_start_key(start.take());
            q = match &range {
                Some((op, bound)) => q
                    .key_condition_expression(format!("ps = :ps AND ord {op} :o"))
                    .expression_attribute_values(":o", s(bound)),
                None => q.key_condition_expression("ps = :ps"),
            };
            if let Some(p) = filter_part {
                q = q
                    .filter_expression("part = :part")
                    .expression_attribute_values(":part", s(p));
            } else {
                q = q.limit((limit - out.len()).clamp(1, 1000) as i32);
            }
            let page = q
                .send()
                .instrument(crate::trace::dynamodb("Query", &self.tables.vouchers))
                .await
                .map_err(|e| backend("Query open vouchers", &e))?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() && out.len() < limit => start = Some(k.clone()),
                _ => {
                    out.truncate(limit);
                    return Ok(out);
                }
            }
        }
    }

    /// Vouchers in `status` through the `status_received` index, newest
    /// received first, with `rk` in `[lo, hi)`, of `part` and with at least
    /// `min_attempts` calls when given (a filter over the query); at most
    /// `limit`.
    pub(super) async fn query_status_received(
        &self,
        status: VoucherStatus,
        (lo, hi): (&str, &str),
        part: Option<&str>,
        min_attempts: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Known>, StoreError> {
        let mut out = Vec::new();
        if lo >= hi {
            return Ok(out);
        }
        let mut filters = Vec::new();
        if part.is_some() {
            filters.push("#part = :part");
        }
        if min_attempts.is_some() {
            filters.push("#att >= :att");
        }
        let mut start: Option<Item> = None;
        loop {
            let want = limit - out.len();
            // `hi` itself may come back (BETWEEN is inclusive) and is
            // dropped; a filter drops more, so read further ahead.
            let read = if filters.is_empty() {
                want + 1
            } else {
                (want * 4).max(100)
            };
            let mut q = self
                .client
                .query()
                .table_name(&self.tables.vouchers)
                .index_name(STATUS_RECEIVED_INDEX)
                .scan_index_forward(false)
                .limit(read.clamp(1, 1000) as i32)
                .key_condition_expression("#st = :st AND #rk BETWEEN :lo AND :hi")
                .expression_attribute_names("#st", "st")
                .expression_attribute_names("#rk", "rk")
                .expression_attribute_values(":st", s(status.as_str()))
                .expression_attribute_values(":lo", s(lo))
                .expression_attribute_values(":hi", s(hi))
                .set_exclusive_start_key(start.take());
            if let Some(p) = part {
                q = q
                    .expression_attribute_names("#part", "part")
                    .expression_attribute_values(":part", s(p));
            }
            if let Some(a) = min_attempts {
                q = q
                    .expression_attribute_names("#att", "attempts")
                    .expression_attribute_values(":att", crate::dynamo::n(a));
            }
            if !filters.is_empty() {
                q = q.filter_expression(filters.join(" AND "));
            }
            let page = q
                .send()
                .instrument(crate::trace::dynamodb("Query", &self.tables.vouchers))
                .await
                .map_err(|e| backend("Query vouchers by status", &e))?;
            out.extend(
                page.items()
                    .iter()
                    .filter(|i| crate::dynamo::get_s(i, "rk").as_deref() != Some(hi))
                    .filter_map(record_of),
            );
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() && out.len() < limit => start = Some(k.clone()),
                _ => {
                    out.truncate(limit);
                    return Ok(out);
                }
            }
        }
    }
}
