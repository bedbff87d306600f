//! What this replica remembers between calls: vouchers and circuits as
//! last read or written (a guess checked by conditional writes), the
//! outbox and the counts cache.

use std::collections::HashMap;
use std::sync::Mutex;

use mediator_core::overrides::effective_closed;
use mediator_core::storage::StoreError;
use mediator_core::OverrideMode;
use tracing::Instrument;

use super::*;
use crate::dynamo::{backend, get_s, part_key, DynamoStore};

/// Vouchers (and circuits) remembered per replica; the memory is only a
/// guess checked by conditional writes, so it is simply cleared when full.
pub(super) const KNOWN_MAX: usize = 10_000;

/// What this replica remembers between calls.
#[derive(Default)]
pub(in crate::dynamo) struct VoucherMemory {
    pub(super) known: Mutex<HashMap<String, Known>>,
    pub(super) circuits: Mutex<HashMap<String, CircuitRead>>,
    pub(super) outbox: Mutex<Outbox>,
    pub(super) finals: Mutex<FinalCounts>,
    /// One final-counts Scan at a time.
    pub(super) finals_scan: tokio::sync::Mutex<()>,
}

/// A part's `STATUS` item as read: what hold and claim decide on, and what
/// their ConditionCheck requires still to be there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct CircuitRead {
    pub(super) exists: bool,
    pub(super) status: Option<String>,
    pub(super) mode: Option<String>,
    /// The part's maintenance holds as written with its windows
    /// (`maint`: `start-end` in epoch ms, comma-separated).
    pub(super) maint: Option<String>,
}

impl CircuitRead {
    pub(super) fn mode(&self) -> Option<OverrideMode> {
        self.mode.as_deref().and_then(|m| m.parse().ok())
    }

    /// Whether a maintenance window holds the circuit open at `now_ms`.
    pub(super) fn in_maintenance(&self, now_ms: i64) -> bool {
        crate::dynamo::maintenance::holds_at(self.maint.as_deref(), now_ms)
    }

    /// Whether the circuit is closed at `now_ms`.
    pub(super) fn closed(&self, now_ms: i64) -> bool {
        !self.in_maintenance(now_ms) && effective_closed(self.status.as_deref(), self.mode())
    }
}

impl DynamoStore {
    pub(super) fn remember(&self, k: &Known) {
        let mut m = self.vouchers.known.lock().expect("voucher memory");
        if m.len() >= KNOWN_MAX {
            m.clear();
        }
        m.insert(k.rec.keys.loyalty_request_id.clone(), k.clone());
    }

    pub(super) fn recall(&self, id: &str) -> Option<Known> {
        self.vouchers
            .known
            .lock()
            .expect("voucher memory")
            .get(id)
            .cloned()
    }

    pub(super) fn forget(&self, id: &str) {
        self.vouchers
            .known
            .lock()
            .expect("voucher memory")
            .remove(id);
    }

    /// The voucher, strongly consistent (and remembered).
    pub(super) async fn read_voucher(&self, id: &str) -> Result<Option<Known>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.vouchers)
            .set_key(Some(key(id)))
            .consistent_read(true)
            .send()
            .instrument(crate::trace::dynamodb("GetItem", &self.tables.vouchers))
            .await
            .map_err(|e| backend("GetItem voucher", &e))?;
        let k = out.item().and_then(record_of);
        match &k {
            Some(k) => self.remember(k),
            None => self.forget(id),
        }
        Ok(k)
    }

    /// The part's circuit as stored, strongly consistent (and remembered).
    pub(super) async fn read_circuit(&self, part: &str) -> Result<CircuitRead, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.parts)
            .set_key(Some(part_key(part)))
            .consistent_read(true)
            .projection_expression("#st, override_mode, maint")
            .expression_attribute_names("#st", "status")
            .send()
            .instrument(crate::trace::dynamodb("GetItem", &self.tables.parts))
            .await
            .map_err(|e| backend("GetItem part status", &e))?;
        let c = match out.item() {
            None => CircuitRead::default(),
            Some(i) => CircuitRead {
                exists: true,
                status: get_s(i, "status"),
                mode: get_s(i, "override_mode"),
                maint: get_s(i, "maint"),
            },
        };
        let mut m = self.vouchers.circuits.lock().expect("circuit memory");
        if m.len() >= KNOWN_MAX {
            m.clear();
        }
        m.insert(part.to_string(), c.clone());
        Ok(c)
    }
}
