//! The storage contract suite: backend-neutral checks every implementation
//! of the storage traits must pass, written against the traits only (no
//! SQL, no SDK). Each check starts from empty stores and panics with what
//! differed. Run for SQLite in this crate's tests and for DynamoDB (moto)
//! in `aws-backend`'s tests, each through [`store_contract!`](crate::store_contract).
//!
//! The race checks take two handles on the same storage — two replicas:
//! two SQLite handles on one file, or two SDK clients on the same tables.
//!
//! One file per area: status and overrides (`status.rs`), the monitor's
//! lease and history (`monitor.rs`), the roll-ups' latency histograms
//! (`latency.rs`), vouchers (`vouchers.rs`: insert, find,
//! claims, dead letters; `voucher_lists.rs`: lists by part, status, time
//! and attempts; `holds.rs`: hold versus claim, `admit`;
//! `voucher_races.rs`: two replicas), the audit log (`audit.rs`), replay
//! records (`replays.rs`), access (`access.rs`), maintenance windows
//! (`maintenance.rs`) and the notification outbox (`notify.rs`). This file has the
//! helpers they share. Every `pub async fn check_*` is run through
//! `store_contract!` (a test below fails when one is missing there).

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::circuit::{PartState, Thresholds};
use crate::circuit_override::{CircuitOverride, OverrideMode};
use crate::datacache::VoucherRef;
use crate::monitor::Monitor;
use crate::part::{PartName, PartSettings};
use crate::storage::{
    CheckWrite, OverrideStore, RecordOutcome, StatusSnapshot, StatusStore, VoucherStore,
};

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

const TH: Thresholds = Thresholds {
    failure: 2,
    recovery: 2,
};

/// Observes one check on `snap` and builds the write.
fn observe(snap: &StatusSnapshot, at: DateTime<Utc>, error: Option<&str>) -> CheckWrite {
    let mut circuit = snap.circuit.clone();
    let change = circuit.observe(error.is_none(), at, TH);
    CheckWrite {
        at,
        ok: error.is_none(),
        latency_ms: 7,
        error: error.map(str::to_owned),
        circuit,
        change,
    }
}

/// Loads, observes and records one check; panics on `Stale` (single writer).
async fn check(
    s: &dyn StatusStore,
    part: &str,
    at: DateTime<Utc>,
    error: Option<&str>,
) -> Option<i64> {
    let snap = s.load(part).await.expect("load");
    match s
        .record(part, &snap, &observe(&snap, at, error))
        .await
        .expect("record")
    {
        RecordOutcome::Recorded { change_id } => change_id,
        RecordOutcome::Stale => panic!("{part}: stale with a single writer"),
    }
}

mod access;
mod audit;
mod holds;
mod latency;
mod maintenance;
mod monitor;
mod notify;
mod replays;
mod status;
mod voucher_lists;
mod voucher_races;
mod vouchers;

pub use access::check_access;
pub use audit::check_audit;
pub use holds::{check_voucher_admit, check_voucher_holds};
pub use latency::check_latency_rollups;
pub use maintenance::{check_maintenance_holds, check_maintenance_windows};
pub use monitor::{check_monitor_history, check_monitor_lease};
pub use notify::{check_notification_claim_race, check_notifications};
pub use replays::check_replays;
pub use status::{check_change_replay_claims, check_overrides, check_status, check_status_race};
pub use voucher_lists::check_voucher_lists;
pub use voucher_races::{check_voucher_claim_race, check_voucher_replicas};
pub use vouchers::{
    check_voucher_claims, check_voucher_dead_letters, check_voucher_insert_and_find,
};

/// A voucher request for `part` with the given references.
fn voucher(part: &str, id: &str, lr: &str, mr: &str, lor: &str) -> crate::voucher::VoucherRequest {
    crate::voucher::VoucherRequest::parse(
        &serde_json::json!({"part": part, "loyalty_request_id": id, "loyalty_reference": lr,
                "merchant_reference": mr, "loyalty_order_reference": lor,
                "payload": {"amount": 5, "id": id}}),
        &PartName::defaults(),
    )
    .expect("valid voucher request")
}

fn ids(v: &[crate::voucher::VoucherRecord]) -> Vec<String> {
    v.iter()
        .map(|r| r.keys.loyalty_request_id.clone())
        .collect()
}

async fn lifecycle_statuses(v: &dyn VoucherStore, id: &str) -> Vec<String> {
    v.lifecycle(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.status)
        .collect()
}

/// Brings `part` to `up` or `down` through the status store (two checks:
/// the contract's thresholds).
async fn set_circuit(s: &dyn StatusStore, part: &str, up: bool, at: DateTime<Utc>) {
    let error = (!up).then_some("503");
    for i in 0..2 {
        check(s, part, at + chrono::Duration::milliseconds(i), error).await;
    }
    let want = if up { PartState::Up } else { PartState::Down };
    assert_eq!(s.load(part).await.unwrap().circuit.status, want, "{part}");
}

/// `open_counts` is `counts` without the final statuses (submitted,
/// error; dead-lettered stays).
async fn check_open_counts(v: &dyn VoucherStore, counts: &[(String, String, u64)]) {
    let mut open = v.open_counts().await.expect("open counts");
    open.sort();
    let want: Vec<(String, String, u64)> = counts
        .iter()
        .filter(|(_, s, _)| s != "submitted" && s != "error")
        .cloned()
        .collect();
    assert_eq!(open, want, "open counts of {counts:?}");
}

#[cfg(test)]
mod tests {
    /// The check functions of one file of the suite.
    fn checks(source: &str) -> Vec<&str> {
        source
            .split("pub async fn check_")
            .skip(1)
            .map(|rest| rest.split('(').next().unwrap_or_default())
            .collect()
    }

    /// Every check of the suite runs on every backend: `store_contract!`
    /// (the one entry point each backend invokes) names each of them.
    #[test]
    fn store_contract_runs_every_check() {
        let macro_source = include_str!("../mod.rs");
        let files = [
            include_str!("access.rs"),
            include_str!("audit.rs"),
            include_str!("holds.rs"),
            include_str!("latency.rs"),
            include_str!("maintenance.rs"),
            include_str!("monitor.rs"),
            include_str!("replays.rs"),
            include_str!("status.rs"),
            include_str!("voucher_lists.rs"),
            include_str!("voucher_races.rs"),
            include_str!("vouchers.rs"),
        ];
        let all: Vec<&str> = files.iter().flat_map(|f| checks(f)).collect();
        assert!(all.len() >= 16, "checks found: {all:?}");
        for check in all {
            assert!(
                macro_source.contains(&format!("contract::check_{check}(")),
                "check_{check} is not run by store_contract!"
            );
        }
    }
}
