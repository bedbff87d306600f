//! The retry ledger: one item per held voucher, read by the history.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Put, Select, TransactWriteItem};
use chrono::{DateTime, Utc};
use mediator_core::storage::StoreError;
use tracing::Instrument;

use crate::dynamo::{backend, build_err, get_s, n, s, DynamoStore, Item};

/// Days a ledger item lives (the history counts retry vouchers per
/// incident up to 90 days back).
pub(super) const LEDGER_TTL_DAYS: i64 = 91;

impl DynamoStore {
    /// The retry ledger item of the voucher `id` of `part` at `at`.
    pub(super) fn ledger_put(
        &self,
        part: &str,
        id: &str,
        at: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let item: Item = HashMap::from([
            ("pk".to_string(), s(format!("RL#{part}"))),
            (
                "sk".to_string(),
                s(format!("{at:013}#{id}#{:08x}", fastrand::u32(..))),
            ),
            ("vid".to_string(), s(id)),
            ("ttl".to_string(), n(at / 1000 + LEDGER_TTL_DAYS * 86_400)),
        ]);
        let put = Put::builder()
            .table_name(&self.tables.voucher_events)
            .set_item(Some(item))
            .build()
            .map_err(|e| build_err("ledger item", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

impl DynamoStore {
    /// The retry ledger of `part` in `[start, end)`: how many retry events,
    /// and with `ids` their vouchers (one per event).
    pub(super) async fn ledger(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        ids: bool,
    ) -> Result<(i64, Vec<String>), StoreError> {
        let (a, b) = (start.timestamp_millis(), end.timestamp_millis());
        if b <= a {
            return Ok((0, vec![]));
        }
        let mut count = 0i64;
        let mut out = Vec::new();
        let mut from: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.tables.voucher_events)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :b")
                .expression_attribute_values(":pk", s(format!("RL#{part}")))
                .expression_attribute_values(":a", s(format!("{a:013}")))
                .expression_attribute_values(":b", s(format!("{:013}~", b - 1)))
                .set_exclusive_start_key(from.take());
            q = if ids {
                q.projection_expression("vid")
            } else {
                q.select(Select::Count)
            };
            let page = q
                .send()
                .instrument(crate::trace::dynamodb("Query", &self.tables.voucher_events))
                .await
                .map_err(|e| backend("Query retry ledger", &e))?;
            count += i64::from(page.count());
            out.extend(page.items().iter().filter_map(|i| get_s(i, "vid")));
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => from = Some(k.clone()),
                _ => return Ok((count, out)),
            }
        }
    }
}
