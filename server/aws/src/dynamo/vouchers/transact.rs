//! Conditional transactions on vouchers, carrying owed outbox deletes, and
//! the retries around them.

use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, TransactWriteItem, Update};
use mediator_core::storage::StoreError;
use tracing::Instrument;

use super::*;
use crate::dynamo::{backend, build_err, item_key, part_key, s, DynamoStore};

/// Attempts at a conditional transition before giving up (each retry reads
/// afresh; only a voucher changing under every attempt exhausts them).
pub(super) const ROUNDS: usize = 6;

/// Waits a little (with jitter) before the third and later attempts: a
/// transaction conflicting with another writer of the same items (the
/// monitor's status write, another replica) is retried apart from it.
pub(super) async fn backoff(round: usize) {
    if round >= 2 {
        let ms = fastrand::u64(5..20) << (round - 2).min(4);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

impl DynamoStore {
    /// A ConditionCheck that the part's `STATUS` item is still `c`.
    pub(super) fn circuit_check(
        &self,
        part: &str,
        c: &CircuitRead,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut b = ConditionCheck::builder()
            .table_name(&self.tables.parts)
            .set_key(Some(part_key(part)));
        let cond = if !c.exists {
            "attribute_not_exists(pk)".to_string()
        } else {
            b = b.expression_attribute_names("#st", "status");
            let st = match &c.status {
                Some(v) => {
                    b = b.expression_attribute_values(":cst", s(v));
                    "#st = :cst"
                }
                None => "attribute_not_exists(#st)",
            };
            let mode = match &c.mode {
                Some(m) => {
                    b = b.expression_attribute_values(":cmode", s(m));
                    "override_mode = :cmode"
                }
                None => "attribute_not_exists(override_mode)",
            };
            let maint = match &c.maint {
                Some(m) => {
                    b = b.expression_attribute_values(":cmaint", s(m));
                    "maint = :cmaint"
                }
                None => "attribute_not_exists(maint)",
            };
            format!("{st} AND {mode} AND {maint}")
        };
        let cc = b
            .condition_expression(cond)
            .build()
            .map_err(|e| build_err("circuit condition", e))?;
        Ok(TransactWriteItem::builder().condition_check(cc).build())
    }

    pub(super) fn voucher_update(
        &self,
        id: &str,
        e: Expr,
        condition: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let u = Update::builder()
            .table_name(&self.tables.vouchers)
            .set_key(Some(key(id)))
            .update_expression(e.expression())
            .condition_expression(condition)
            .set_expression_attribute_values(Some(e.values))
            .build()
            .map_err(|e| build_err("voucher update", e))?;
        Ok(TransactWriteItem::builder().update(u).build())
    }

    /// Sends a transaction: `Ok(true)` committed, `Ok(false)` cancelled by a
    /// condition or a conflicting transaction (nothing written).
    pub(super) async fn transact(
        &self,
        what: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        Ok(self.transact_carrying(what, items).await?.is_none())
    }

    /// [`DynamoStore::transact_reasons`] for a voucher transition, carrying
    /// up to [`CARRIED_DELETES`] owed outbox deletes (see the module
    /// documentation). The reasons cover `items` only. A delete never fails
    /// the transition: deleting a missing item succeeds; a delete that
    /// conflicted with another writer's (a sweep that published the event
    /// again deletes it too) is given up; the others stay owed when the
    /// transaction is cancelled, and when DynamoDB refuses the request the
    /// transition is sent again without them (they go by BatchWriteItem).
    pub(super) async fn transact_carrying(
        &self,
        what: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let n = items.len();
        let mut sending = Sending::take(
            &self.vouchers.outbox,
            CARRIED_DELETES.min(100usize.saturating_sub(n)),
            false,
        );
        if sending.taken.is_empty() {
            return self.transact_reasons(what, items).await;
        }
        let mut all = items.clone();
        for d in &sending.taken {
            let (pk, sk) = &d.key;
            let del = Delete::builder()
                .table_name(&self.tables.voucher_events)
                .set_key(Some(item_key(pk, sk)))
                .build()
                .map_err(|e| build_err("outbox delete", e))?;
            all.push(TransactWriteItem::builder().delete(del).build());
        }
        let refused = match self.send_transaction(what, all).await {
            Ok(None) => {
                sending.settle(|_| true);
                return Ok(None);
            }
            Ok(Some(mut codes)) => {
                let conflicted =
                    |i: usize| codes.get(n + i).map(String::as_str) == Some("TransactionConflict");
                sending.settle(conflicted);
                codes.truncate(n);
                return Ok(Some(codes));
            }
            Err((e, refused)) => {
                // A refused request wrote nothing: the transition is sent
                // again on its own, the deletes by BatchWriteItem.
                for d in &mut sending.taken {
                    d.batch |= refused;
                }
                sending.settle(|_| false);
                if !refused {
                    return Err(e);
                }
                e
            }
        };
        tracing::warn!("{refused}; sending the {what} again without outbox deletes");
        self.transact_reasons(what, items).await
    }

    /// [`DynamoStore::transact`], with why it was cancelled: `None`
    /// committed, else each item's cancellation code in order (`None` for
    /// the items that did not fail).
    pub(in crate::dynamo) async fn transact_reasons(
        &self,
        what: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        self.send_transaction(what, items).await.map_err(|(e, _)| e)
    }

    /// [`DynamoStore::transact_reasons`]; an error says whether DynamoDB
    /// refused the request as invalid (`ValidationException`: nothing was
    /// written).
    pub(super) async fn send_transaction(
        &self,
        what: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<String>>, (StoreError, bool)> {
        let span = crate::trace::dynamodb("TransactWriteItems", &crate::trace::tables_of(&items));
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .instrument(span)
            .await
        {
            Ok(_) => Ok(None),
            Err(e) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                if let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
                    e.as_service_error()
                {
                    let codes: Vec<String> = tc
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_string())
                        .collect();
                    let retryable = codes.iter().all(|c| {
                        matches!(
                            c.as_str(),
                            "None" | "ConditionalCheckFailed" | "TransactionConflict"
                        )
                    });
                    if retryable {
                        return Ok(Some(codes));
                    }
                }
                if e.code() == Some("TransactionConflictException") {
                    return Ok(Some(vec![]));
                }
                // Refused as a whole: nothing was written.
                let refused = e.code() == Some("ValidationException")
                    || matches!(
                        e.as_service_error(),
                        Some(TransactWriteItemsError::TransactionCanceledException(_))
                    );
                Err((backend(&format!("TransactWriteItems {what}"), &e), refused))
            }
        }
    }
}
