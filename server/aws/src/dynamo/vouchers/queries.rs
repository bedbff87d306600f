//! Reads through the reference indexes and the sparse `open` index.

use mediator_core::storage::StoreError;
use mediator_core::VoucherStatus;
use tracing::Instrument;

use super::*;
use crate::dynamo::{backend, s, DynamoStore, Item};
use crate::tables::OPEN_INDEX;

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
}
