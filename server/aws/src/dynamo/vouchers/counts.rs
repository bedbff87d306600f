//! The counts cache: the final statuses' counts from a recent Scan plus
//! this replica's own final transitions since.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mediator_core::storage::StoreError;
use mediator_core::VoucherStatus;
use tracing::Instrument;

use crate::dynamo::{backend, get_s, s, DynamoStore};

/// Longest the final statuses' counts from a Scan are reused (see the
/// module documentation).
pub(super) const FINAL_COUNTS_MAX_AGE: Duration = Duration::from_secs(60);

/// Vouchers per (part, status).
pub(super) type Counts = BTreeMap<(String, String), u64>;

/// Per (part, status): the final statuses' counts as last scanned, and this
/// replica's final transitions committed since that Scan began.
#[derive(Default)]
pub(super) struct FinalCounts {
    pub(super) scanned: Option<(Instant, Counts)>,
    pub(super) since: Counts,
}

impl FinalCounts {
    /// The last Scan's counts plus the transitions since, if the Scan is
    /// recent enough.
    pub(super) fn current(&self) -> Option<Counts> {
        let (at, base) = self.scanned.as_ref()?;
        if at.elapsed() >= FINAL_COUNTS_MAX_AGE {
            return None;
        }
        let mut out = base.clone();
        for (k, n) in &self.since {
            *out.entry(k.clone()).or_default() += n;
        }
        Some(out)
    }
}

impl DynamoStore {
    /// The final statuses' counts per (part, status); see the module
    /// documentation.
    pub(super) async fn final_counts(&self) -> Result<Counts, StoreError> {
        let memory = &self.vouchers;
        if let Some(c) = memory.finals.lock().expect("final counts").current() {
            return Ok(c);
        }
        let _one = memory.finals_scan.lock().await;
        let before = {
            let f = memory.finals.lock().expect("final counts");
            if let Some(c) = f.current() {
                return Ok(c);
            }
            f.since.clone()
        };
        let began = Instant::now();
        let scanned = self.scan_final_counts().await?;
        let mut f = memory.finals.lock().expect("final counts");
        // What committed before the Scan began is in it; what committed
        // while it ran may be, and stays counted until the next Scan.
        for (k, n) in before {
            if let Some(v) = f.since.get_mut(&k) {
                *v = v.saturating_sub(n);
            }
        }
        f.since.retain(|_, n| *n > 0);
        f.scanned = Some((began, scanned));
        Ok(f.current().unwrap_or_default())
    }

    /// A Scan of the vouchers table counting the final statuses per part.
    pub(super) async fn scan_final_counts(&self) -> Result<Counts, StoreError> {
        let mut counts = Counts::new();
        let mut items = self
            .client
            .scan()
            .table_name(&self.tables.vouchers)
            .projection_expression("part, st")
            .filter_expression("st IN (:submitted, :error)")
            .expression_attribute_values(":submitted", s(VoucherStatus::Submitted.as_str()))
            .expression_attribute_values(":error", s(VoucherStatus::Error.as_str()))
            .into_paginator()
            .items()
            .send();
        while let Some(i) = items
            .try_next()
            .instrument(crate::trace::dynamodb("Scan", &self.tables.vouchers))
            .await
            .map_err(|e| backend("Scan voucher counts", &e))?
        {
            if let (Some(p), Some(st)) = (get_s(&i, "part"), get_s(&i, "st")) {
                *counts.entry((p, st)).or_default() += 1;
            }
        }
        Ok(counts)
    }
}
