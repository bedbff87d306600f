//! The storage contract suite: backend-neutral checks every implementation
//! of the storage traits must pass, written against the traits only (no
//! SQL, no SDK). Each check starts from empty stores and panics with what
//! differed. Run for SQLite in this crate's tests and for DynamoDB (moto)
//! in `aws-backend`'s `tests/store_contract.rs`.
//!
//! The race checks take two handles on the same storage — two replicas:
//! two SQLite handles on one file, or two SDK clients on the same tables.

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

/// Overrides: set, read back, kept across status writes, cleared; a part
/// without status reads as `unknown`.
pub async fn check_overrides(o: &dyn OverrideStore, s: &dyn StatusStore) {
    assert!(o.overrides().await.unwrap().is_empty(), "starts empty");
    assert_eq!(o.mode_of("voucher").await.unwrap(), None);
    let set = CircuitOverride {
        mode: OverrideMode::ForceOpen,
        reason: "vendor maintenance".into(),
        by: Some("ann".into()),
        at: t(0),
    };
    o.set_override("voucher", Some(&set), t(0)).await.unwrap();
    assert_eq!(o.overrides().await.unwrap().get("voucher"), Some(&set));
    assert_eq!(
        o.mode_of("voucher").await.unwrap(),
        Some(OverrideMode::ForceOpen)
    );
    let (_, statuses) = o.overrides_and_statuses().await.unwrap();
    assert_eq!(
        statuses.get("voucher").map(String::as_str),
        Some("unknown"),
        "an override on a part never checked creates its status as unknown"
    );

    // The monitor's writes keep the override, and the override does not
    // move the circuit.
    check(s, "voucher", t(1), None)
        .await
        .expect("unknown → up is a change");
    let (overrides, statuses) = o.overrides_and_statuses().await.unwrap();
    assert_eq!(overrides.get("voucher"), Some(&set), "kept by a check");
    assert_eq!(statuses.get("voucher").map(String::as_str), Some("up"));
    let snap = s.load("voucher").await.unwrap();
    o.set_override(
        "voucher",
        Some(&CircuitOverride {
            mode: OverrideMode::Disabled,
            reason: "r".into(),
            by: None,
            at: t(2),
        }),
        t(2),
    )
    .await
    .unwrap();
    assert_eq!(
        o.mode_of("voucher").await.unwrap(),
        Some(OverrideMode::Disabled)
    );
    assert_eq!(
        o.overrides().await.unwrap()["voucher"].by,
        None,
        "by cleared"
    );
    assert!(
        matches!(
            s.record("voucher", &snap, &observe(&snap, t(3), None))
                .await
                .unwrap(),
            RecordOutcome::Recorded { .. }
        ),
        "setting an override does not make the monitor's snapshot stale"
    );

    o.set_override("voucher", None, t(4)).await.unwrap();
    assert!(o.overrides().await.unwrap().is_empty(), "cleared");
    assert_eq!(o.mode_of("voucher").await.unwrap(), None);
    assert_eq!(
        s.load("voucher").await.unwrap().circuit.status,
        PartState::Up,
        "clearing keeps the status"
    );
}

/// Status: snapshots round-trip, stale writes write nothing, change ids are
/// monotonic, the outbox drains in order, `changes_after` pages by id.
pub async fn check_status(s: &dyn StatusStore) {
    let fresh = s.load("member").await.unwrap();
    assert_eq!(fresh.circuit, crate::circuit::Circuit::default());
    assert_eq!((fresh.last_error.as_deref(), fresh.version), (None, 0));

    let up = check(s, "member", t(0), None).await.expect("unknown → up");
    let snap = s.load("member").await.unwrap();
    assert_eq!(snap.circuit.status, PartState::Up);
    assert_eq!(snap.circuit.changed_at, Some(t(0)));
    assert_eq!(snap.circuit.prev_status, Some(PartState::Unknown));
    assert_eq!((snap.circuit.successes, snap.circuit.failures), (1, 0));

    assert_eq!(
        check(s, "member", t(1), Some("503")).await,
        None,
        "1/2 failures"
    );
    let one_failure = s.load("member").await.unwrap();
    assert_eq!(one_failure.circuit.failures, 1);
    assert_eq!(one_failure.last_error.as_deref(), Some("503"));
    // A write from a snapshot that is no longer current writes nothing.
    let stale = s
        .record("member", &snap, &observe(&snap, t(1), Some("late")))
        .await
        .unwrap();
    assert_eq!(stale, RecordOutcome::Stale);
    assert_eq!(s.load("member").await.unwrap(), one_failure, "untouched");

    let down = check(s, "member", t(2), Some("timeout"))
        .await
        .expect("up → down");
    assert!(down > up, "change ids grow: {up} then {down}");
    // Another part's change in between.
    let other = check(s, "points", t(3), None).await.expect("points up");
    assert_eq!(
        check(s, "member", t(4), None).await,
        None,
        "1/2 good checks"
    );
    assert_eq!(
        s.load("member").await.unwrap().last_error,
        None,
        "error cleared"
    );
    let back = check(s, "member", t(5), None).await.expect("down → up");
    assert!(down < other && other < back, "ids in commit order");

    let pending = s.unpublished_changes(10).await.unwrap();
    let ids: Vec<i64> = pending.iter().map(|c| c.id).collect();
    assert_eq!(ids, [up, down, other, back], "oldest first");
    let d = &pending[1];
    assert_eq!(
        (d.part.as_str(), d.change.status, d.change.prev_status),
        ("member", PartState::Down, PartState::Up)
    );
    assert_eq!(
        (d.change.changed_at, d.change.prev_change_at),
        (t(2), Some(t(0)))
    );
    assert_eq!(s.unpublished_changes(2).await.unwrap().len(), 2, "limit");

    s.mark_changes_published(&[up, down]).await.unwrap();
    let left: Vec<i64> = s
        .unpublished_changes(10)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(left, [other, back]);
    let after: Vec<i64> = s
        .changes_after(up, 10)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(after, [down, other, back], "published or not");
    let page: Vec<i64> = s
        .changes_after(0, 2)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(page, [up, down]);
    assert!(s.changes_after(back, 10).await.unwrap().is_empty());
    assert!(
        s.has_changes_after("member", down).await.unwrap(),
        "back up"
    );
    assert!(!s.has_changes_after("member", back).await.unwrap());
    assert!(s.has_changes_after("points", up).await.unwrap());
    assert!(
        !s.has_changes_after("points", other).await.unwrap(),
        "member's later change is not points'"
    );
    assert!(!s.has_changes_after("nope", 0).await.unwrap());
}

/// Two replicas racing on one status change, `rounds` times: both read the
/// same circuit and both observe the check that flips it; exactly one
/// writes the change (the other gets `Stale`), and through [`Monitor`] the
/// loser re-observes on top of the winner's change instead of writing a
/// second one. With `exclusive_claims` (stores shared by replicas, i.e.
/// not SQLite, whose claims are per process), publication claims split the
/// outbox between replicas.
pub async fn check_status_race(
    a: Arc<dyn StatusStore>,
    b: Arc<dyn StatusStore>,
    rounds: usize,
    exclusive_claims: bool,
) {
    let part = "voucher";
    check(a.as_ref(), part, t(0), None)
        .await
        .expect("first change");
    for round in 0..rounds {
        let at = t(10 + 10 * round as i64);
        // Raw trait level: the same snapshot, the same flipping write.
        let error = if round % 2 == 0 { Some("503") } else { None };
        // Bring the circuit one check short of flipping.
        check(a.as_ref(), part, at, error).await;
        let snap = a.load(part).await.unwrap();
        assert_eq!(
            snap,
            b.load(part).await.unwrap(),
            "round {round}: both replicas read the same"
        );
        let w = observe(&snap, at + chrono::Duration::seconds(1), error);
        assert!(
            w.change.is_some(),
            "round {round}: the write flips the circuit: {snap:?}"
        );
        let (ra, rb) = tokio::join!(a.record(part, &snap, &w), b.record(part, &snap, &w));
        let outcomes = [ra.unwrap(), rb.unwrap()];
        let won = outcomes
            .iter()
            .filter(|o| matches!(o, RecordOutcome::Recorded { change_id: Some(_) }))
            .count();
        let lost = outcomes
            .iter()
            .filter(|o| **o == RecordOutcome::Stale)
            .count();
        assert_eq!((won, lost), (1, 1), "round {round}: {outcomes:?}");
    }
    let changes = a.changes_after(0, 1000).await.unwrap();
    assert_eq!(changes.len(), 1 + rounds, "one change per round");

    // Domain level: two monitors record the same flipping check at once.
    let mut settings = PartSettings::new(PartName::parse(part).unwrap());
    settings.thresholds = TH;
    let probe: Arc<dyn crate::monitor::HealthProbe> = Arc::new(NoProbe);
    let ma = Monitor::new(a.clone(), probe.clone(), vec![]);
    let mb = Monitor::new(b.clone(), probe, vec![]);
    let status = a.load(part).await.unwrap().circuit.status;
    let error = (status == PartState::Up).then(|| "503".to_string());
    let at = t(100_000);
    ma.record(&settings, at, error.clone(), 3).await.unwrap();
    let (x, y) = tokio::join!(
        ma.record(
            &settings,
            at + chrono::Duration::seconds(1),
            error.clone(),
            3
        ),
        mb.record(&settings, at + chrono::Duration::seconds(1), error, 3)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(
        usize::from(x.change.is_some()) + usize::from(y.change.is_some()),
        1,
        "exactly one monitor reports the change: {:?} / {:?}",
        x.change,
        y.change
    );
    assert_eq!(a.changes_after(0, 1000).await.unwrap().len(), 2 + rounds);
    assert_ne!(
        a.load(part).await.unwrap().circuit.status,
        status,
        "flipped once"
    );

    if !exclusive_claims {
        return;
    }
    // Publication: concurrent claims by two owners never overlap.
    let ids: Vec<i64> = a
        .unpublished_changes(100)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    let until = Utc::now() + chrono::Duration::seconds(60);
    let (ca, cb) = tokio::join!(
        a.claim_publication(&ids, "replica-a", until),
        b.claim_publication(&ids, "replica-b", until)
    );
    let (ca, cb) = (ca.unwrap(), cb.unwrap());
    assert!(
        ca.iter().all(|id| !cb.contains(id)),
        "a change is claimed by one replica: {ca:?} / {cb:?}"
    );
    let mut all: Vec<i64> = ca.iter().chain(&cb).copied().collect();
    all.sort_unstable();
    assert_eq!(all, ids, "every change claimed by someone");
}

/// The recovery of a down→up change is claimed by one replica: `a` and
/// `b` are two handles on the same storage.
pub async fn check_change_replay_claims(a: &dyn StatusStore, b: &dyn StatusStore) {
    let part = "claim-part";
    check(a, part, t(0), None).await;
    check(a, part, t(1), Some("HTTP 503")).await;
    let down = check(a, part, t(2), Some("HTTP 503")).await.expect("down");
    check(a, part, t(3), None).await;
    let up = check(a, part, t(4), None).await.expect("up");
    assert!(a.claim_change_replay(up, "a").await.unwrap(), "first claim");
    assert!(
        !b.claim_change_replay(up, "b").await.unwrap(),
        "claimed by a"
    );
    assert!(
        a.claim_change_replay(up, "a").await.unwrap(),
        "a again: still a's"
    );
    assert!(
        b.claim_change_replay(down, "b").await.unwrap(),
        "per change"
    );
    assert!(
        !a.claim_change_replay(i64::MAX - 7, "a").await.unwrap(),
        "no such change"
    );
}

/// (replica, its name, part, now, until, granted?, why) in
/// [`check_monitor_lease`].
type LeaseStep<'a> = (
    &'a dyn StatusStore,
    &'a str,
    &'a str,
    i64,
    i64,
    bool,
    &'a str,
);

/// The monitor lease, between two replicas `a` and `b` on the same storage:
/// one holder per part at a time, renewals by the holder, take-over once the
/// holder's lease has run out, parts independent.
pub async fn check_monitor_lease(a: &dyn StatusStore, b: &dyn StatusStore) {
    let (p, other) = ("lease-part", "other-part");
    let steps: [LeaseStep; 7] = [
        (a, "a", p, 0, 30, true, "a free lease is granted"),
        (
            b,
            "b",
            p,
            1,
            31,
            false,
            "a running lease is not granted to another replica",
        ),
        (a, "a", p, 10, 40, true, "the holder renews its lease"),
        (
            b,
            "b",
            p,
            35,
            65,
            false,
            "the renewal counts: still a's at t+35",
        ),
        (b, "b", other, 35, 65, true, "leases are per part"),
        (b, "b", p, 41, 71, true, "an ended lease is taken over"),
        (a, "a", p, 42, 72, false, "the old holder lost it"),
    ];
    for (store, owner, part, now, until, granted, why) in steps {
        let got = store
            .lease_monitor(part, owner, t(now), t(until))
            .await
            .expect("lease_monitor");
        assert_eq!(got, granted, "{why}");
    }
}

struct NoProbe;

#[async_trait::async_trait]
impl crate::monitor::HealthProbe for NoProbe {
    async fn check(&self, _part: &str) -> Result<(), String> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Vouchers (the DataCache's store)

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

/// Insert and duplicates, get, lookup by each reference with paging, and
/// the lifecycle's order.
pub async fn check_voucher_insert_and_find(v: &dyn VoucherStore) {
    assert_eq!(v.get("x1").await.unwrap(), None, "starts empty");
    let rows = [
        voucher("voucher", "x1", "L", "m1", "o1"),
        voucher("voucher", "x2", "L", "M", "o2"),
        voucher("member", "x3", "L", "m3", "o3"),
        voucher("voucher", "x4", "l4", "m4", "L"),
        voucher("voucher", "x5", "x1", "m5", "o5"),
    ];
    for (i, r) in rows.iter().enumerate() {
        let (rec, new) = v.insert(r, t(i as i64)).await.unwrap();
        assert!(new, "{i}: new");
        assert_eq!(rec.status, crate::voucher::VoucherStatus::Received);
        assert_eq!(
            (rec.received_at, rec.updated_at),
            (t(i as i64), t(i as i64))
        );
        assert_eq!(&rec.keys, r.keys());
        assert_eq!(rec.part, r.part().to_string());
        assert_eq!(rec.attempts, 0);
        assert_eq!(rec.last_error, None);
        assert_eq!(rec.payload["amount"], 5, "payload round-trips");
    }
    // A duplicate id (even with other fields) returns the stored voucher.
    let (dup, new) = v
        .insert(&voucher("points", "x1", "zz", "zz", "zz"), t(99))
        .await
        .unwrap();
    assert!(!new, "duplicate");
    assert_eq!(
        (
            dup.part.as_str(),
            dup.keys.loyalty_reference.as_str(),
            dup.received_at
        ),
        ("voucher", "L", t(0)),
        "the stored one, untouched"
    );
    assert_eq!(v.get("x1").await.unwrap().unwrap(), dup);
    assert_eq!(lifecycle_statuses(v, "x1").await, ["received"]);
    assert!(v.lifecycle("nope").await.unwrap().is_empty());

    let find = |f, val: &'static str, after, limit| async move {
        ids(&v.find(f, val, after, limit).await.unwrap())
    };
    assert_eq!(
        find(VoucherRef::Any, "L", None, 100).await,
        ["x4", "x3", "x2", "x1"],
        "any reference, newest first"
    );
    assert_eq!(
        find(VoucherRef::LoyaltyReference, "L", None, 10).await,
        ["x3", "x2", "x1"]
    );
    assert_eq!(
        find(VoucherRef::MerchantReference, "M", None, 10).await,
        ["x2"]
    );
    assert_eq!(
        find(VoucherRef::LoyaltyOrderReference, "L", None, 10).await,
        ["x4"]
    );
    assert_eq!(
        find(VoucherRef::LoyaltyRequestId, "x1", None, 10).await,
        ["x1"]
    );
    assert_eq!(find(VoucherRef::Any, "x1", None, 10).await, ["x5", "x1"]);
    assert!(
        find(VoucherRef::Any, "l", None, 10).await.is_empty(),
        "exact"
    );
    assert!(find(VoucherRef::MerchantReference, "L", None, 10)
        .await
        .is_empty());
    // Pages continue strictly after the cursor, for each kind of lookup.
    let cursor = |id: &str, s: i64| Some((t(s).timestamp_millis(), id.to_string()));
    assert_eq!(find(VoucherRef::Any, "L", None, 2).await, ["x4", "x3"]);
    assert_eq!(
        find(VoucherRef::Any, "L", cursor("x3", 2), 2).await,
        ["x2", "x1"]
    );
    assert!(find(VoucherRef::Any, "L", cursor("x1", 0), 2)
        .await
        .is_empty());
    assert_eq!(
        find(VoucherRef::LoyaltyReference, "L", cursor("x3", 2), 1).await,
        ["x2"]
    );
    assert_eq!(
        find(VoucherRef::LoyaltyReference, "L", cursor("x2", 1), 5).await,
        ["x1"]
    );
    assert_eq!(find(VoucherRef::Any, "L", None, 0).await.len(), 1, "≥ 1");

    let mut counts = v.counts().await.unwrap();
    counts.sort();
    check_open_counts(v, &counts).await;
    assert_eq!(
        counts,
        [
            ("member".to_string(), "received".to_string(), 1),
            ("voucher".to_string(), "received".to_string(), 4)
        ]
    );
    assert_eq!(
        v.statuses(vec!["x3".into(), "nope".into(), "x1".into()])
            .await
            .unwrap(),
        [
            Some(crate::voucher::VoucherStatus::Received),
            None,
            Some(crate::voucher::VoucherStatus::Received)
        ]
    );
}

/// Claims: one at a time, the token is the attempt number, an expired lease
/// is taken over and the first holder's finish is refused; final vouchers
/// are untouchable; the lifecycle records each step in order.
pub async fn check_voucher_claims(v: &dyn VoucherStore) {
    use crate::datacache::Claim;
    use crate::voucher::VoucherStatus as St;
    let lease = std::time::Duration::from_secs(10);
    v.insert(&voucher("voucher", "a", "r", "m", "o"), t(0))
        .await
        .unwrap();
    let Claim::Claimed {
        token,
        voucher: rec,
    } = v.claim("a", t(1), lease, "x".into()).await.unwrap()
    else {
        panic!("the first claim wins")
    };
    assert_eq!(token, 1, "the token is the attempt number");
    assert_eq!((rec.status, rec.attempts), (St::Submitting, 1));
    assert_eq!(rec.updated_at, t(1));
    assert_eq!(
        v.claim("a", t(5), lease, "y".into()).await.unwrap(),
        Claim::Busy(St::Submitting),
        "within the lease"
    );
    assert_eq!(
        v.hold_if_open("a", t(5)).await.unwrap(),
        crate::datacache::Hold::NotHoldable(Some(St::Submitting)),
        "a live claim is not held"
    );
    assert!(
        v.stuck(t(0), t(5), 10).await.unwrap().is_empty(),
        "lease runs"
    );
    assert_eq!(
        v.stuck(t(0), t(12), 10).await.unwrap(),
        ["a"],
        "lease ran out"
    );
    let Claim::Claimed { token: t2, .. } = v.claim("a", t(12), lease, "z".into()).await.unwrap()
    else {
        panic!("an expired lease is taken over")
    };
    assert_eq!(t2, 2);
    assert!(
        !v.finish("a", token, St::Submitted, "late".into(), t(13))
            .await
            .unwrap(),
        "the first holder lost its claim"
    );
    assert_eq!(v.get("a").await.unwrap().unwrap().status, St::Submitting);
    assert!(v
        .finish("a", t2, St::Submitted, "accepted".into(), t(14))
        .await
        .unwrap());
    let done = v.get("a").await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.attempts, done.updated_at),
        (St::Submitted, 2, t(14))
    );
    assert_eq!(done.last_error, None, "submitted keeps no error");
    assert!(
        !v.finish("a", t2, St::Error, "again".into(), t(15))
            .await
            .unwrap(),
        "finished once"
    );
    assert_eq!(
        v.claim("a", t(100), lease, "again".into()).await.unwrap(),
        Claim::Busy(St::Submitted)
    );
    assert!(
        !v.dead_letter("a", "x".into(), t(16)).await.unwrap(),
        "final"
    );
    assert_eq!(v.redrive("a", t(16)).await.unwrap(), Some(St::Submitted));
    let life = v.lifecycle("a").await.unwrap();
    let steps: Vec<(&str, DateTime<Utc>)> =
        life.iter().map(|e| (e.status.as_str(), e.at)).collect();
    assert_eq!(
        steps,
        [
            ("received", t(0)),
            ("submitting", t(1)),
            ("submitting", t(12)),
            ("submitted", t(14))
        ]
    );
    assert_eq!(life[1].detail, "attempt 1: x");
    assert_eq!(life[2].detail, "attempt 2: z");
    assert_eq!(life[3].detail, "accepted");
    assert_eq!(
        v.claim("nope", t(1), lease, "x".into()).await.unwrap(),
        Claim::NotFound
    );
    assert_eq!(
        v.hold_if_open("nope", t(1)).await.unwrap(),
        crate::datacache::Hold::NotHoldable(None)
    );

    // Error keeps the reason; the submitted and error events wait in the
    // outbox in commit order.
    v.insert(&voucher("points", "b", "r", "m", "o"), t(20))
        .await
        .unwrap();
    let Claim::Claimed { token, .. } = v.claim("b", t(21), lease, "x".into()).await.unwrap() else {
        panic!("claim b")
    };
    assert!(v
        .finish("b", token, St::Error, "refused: 422".into(), t(22))
        .await
        .unwrap());
    let b = v.get("b").await.unwrap().unwrap();
    assert_eq!(
        (b.status, b.last_error.as_deref()),
        (St::Error, Some("refused: 422"))
    );
    let events = v.unpublished_events(10).await.unwrap();
    let seen: Vec<(&str, St, DateTime<Utc>)> = events
        .iter()
        .map(|e| (e.keys.loyalty_request_id.as_str(), e.status, e.at))
        .collect();
    assert_eq!(seen, [("a", St::Submitted, t(14)), ("b", St::Error, t(22))]);
    assert_eq!(events[1].part, "points");
    assert_eq!(events[1].keys.merchant_reference, "m");
    let mut counts = v.counts().await.unwrap();
    counts.sort();
    check_open_counts(v, &counts).await;
    assert_eq!(
        counts,
        [
            ("points".to_string(), "error".to_string(), 1),
            ("voucher".to_string(), "submitted".to_string(), 1)
        ]
    );
}

/// Hold versus claim on the circuit the status store wrote: held (with a
/// retry event in the outbox and the ledger) while the part is down or
/// forced open, claimed once it is up; `hold_or_claim_many` in order with
/// repeats skipped; the retry ledger's window counts; the outbox drains.
pub async fn check_voucher_holds(v: &dyn VoucherStore, s: &dyn StatusStore, o: &dyn OverrideStore) {
    use crate::datacache::{Attempt, Hold};
    use crate::voucher::VoucherStatus as St;
    let lease = std::time::Duration::from_secs(10);
    for (i, id) in ["h1", "h2", "h3", "h4"].iter().enumerate() {
        v.insert(&voucher("voucher", id, "r", "m", "o"), t(i as i64))
            .await
            .unwrap();
    }
    v.insert(&voucher("member", "m1", "r", "m", "o"), t(0))
        .await
        .unwrap();
    // No status yet: the circuit is closed.
    assert_eq!(
        v.hold_if_open("h1", t(5)).await.unwrap(),
        Hold::CircuitClosed
    );
    set_circuit(s, "voucher", true, t(6)).await;
    assert!(v.part_is_up("voucher").await.unwrap());
    assert_eq!(
        v.hold_if_open("h1", t(8)).await.unwrap(),
        Hold::CircuitClosed
    );
    set_circuit(s, "voucher", false, t(10)).await;
    assert!(!v.part_is_up("voucher").await.unwrap());
    assert_eq!(v.hold_if_open("h1", t(20)).await.unwrap(), Hold::Held);
    let h1 = v.get("h1").await.unwrap().unwrap();
    assert_eq!((h1.status, h1.updated_at), (St::Retry, t(20)));
    assert_eq!(
        h1.last_error.as_deref(),
        Some("circuit open: part voucher is down")
    );
    assert_eq!(lifecycle_statuses(v, "h1").await, ["received", "retry"]);
    assert_eq!(
        v.hold_if_open("m1", t(20)).await.unwrap(),
        Hold::CircuitClosed,
        "another part's circuit"
    );
    // Many: held in order, unknown and repeated ids skipped.
    let out = v
        .hold_or_claim_many(
            vec![
                ("h2".into(), "flow".into()),
                ("nope".into(), "flow".into()),
                ("h3".into(), "flow".into()),
                ("h2".into(), "flow".into()),
            ],
            t(21),
            lease,
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        [
            Attempt::Held,
            Attempt::Skipped(None),
            Attempt::Held,
            Attempt::Held
        ],
        "a retry voucher is held again while the part is down"
    );
    // Forced closed: claimed although down.
    o.set_override(
        "voucher",
        Some(&CircuitOverride {
            mode: OverrideMode::ForceClosed,
            reason: "r".into(),
            by: None,
            at: t(22),
        }),
        t(22),
    )
    .await
    .unwrap();
    assert!(v.part_is_up("voucher").await.unwrap(), "forced closed");
    let out = v
        .hold_or_claim_many(vec![("h4".into(), "forced".into())], t(23), lease)
        .await
        .unwrap();
    let [Attempt::Claimed { token, voucher: h4 }] = out.as_slice() else {
        panic!("h4 claimed: {out:?}")
    };
    assert_eq!((*token, h4.status), (1, St::Submitting));
    assert_eq!(
        v.finish_many(
            vec![crate::datacache::Finish {
                id: "h4".into(),
                token: *token,
                status: St::Submitted,
                detail: "ok".into(),
            }],
            3,
            t(24),
        )
        .await
        .unwrap(),
        [St::Submitted]
    );
    o.set_override(
        "voucher",
        Some(&CircuitOverride {
            mode: OverrideMode::ForceOpen,
            reason: "maintenance".into(),
            by: None,
            at: t(25),
        }),
        t(25),
    )
    .await
    .unwrap();
    set_circuit(s, "voucher", true, t(26)).await;
    assert!(!v.part_is_up("voucher").await.unwrap(), "forced open");
    assert_eq!(v.hold_if_open("h1", t(30)).await.unwrap(), Hold::Held);
    assert_eq!(
        v.get("h1").await.unwrap().unwrap().last_error.as_deref(),
        Some("circuit open: part voucher is forced open")
    );
    o.set_override("voucher", None, t(31)).await.unwrap();
    assert!(v.part_is_up("voucher").await.unwrap());

    // The ledger: retry events h1@20, h2@21, h3@21, h2@21, h1@30.
    let n = |a: i64, b: i64| v.count_retry_events("voucher", t(a), t(b));
    assert_eq!(n(0, 100).await.unwrap(), 5);
    assert_eq!(n(20, 21).await.unwrap(), 1, "end excluded");
    assert_eq!(n(21, 30).await.unwrap(), 3);
    assert_eq!(n(21, 31).await.unwrap(), 4, "start included");
    assert_eq!(
        v.count_retry_events("member", t(0), t(100)).await.unwrap(),
        0
    );
    let mut times = v.retry_event_times("voucher").await.unwrap();
    times.sort_unstable();
    let ms = |s: i64| t(s).timestamp_millis();
    assert_eq!(times, [ms(21), ms(21), ms(30)], "latest per retry voucher");

    // Up: claimed in order; the repeat is skipped.
    let out = v
        .hold_or_claim_many(
            vec![
                ("h1".into(), "replayed".into()),
                ("h1".into(), "replayed".into()),
                ("h4".into(), "replayed".into()),
            ],
            t(40),
            lease,
        )
        .await
        .unwrap();
    assert!(
        matches!(&out[0], Attempt::Claimed { token: 1, .. }),
        "{out:?}"
    );
    assert_eq!(
        &out[1..],
        [
            Attempt::Skipped(Some(St::Submitting)),
            Attempt::Skipped(Some(St::Submitted))
        ]
    );
    assert_eq!(
        v.count_pending_in_window("voucher", t(0), t(100))
            .await
            .unwrap(),
        2,
        "h2, h3 still retry; h1 is submitting"
    );
    assert_eq!(
        v.count_pending_in_window("voucher", t(21), t(22))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        v.count_pending_in_window("voucher", t(30), t(31))
            .await
            .unwrap(),
        0,
        "h1's event, but h1 is no longer waiting"
    );
    assert_eq!(v.retry_event_times("voucher").await.unwrap().len(), 2);
    let held = |a: i64, b: i64| async move {
        let mut h = v.held_in_window("voucher", t(a), t(b)).await.unwrap();
        h.sort_unstable_by(|x, y| x.0.cmp(&y.0));
        h
    };
    assert_eq!(
        held(0, 100).await,
        [
            ("h1".to_string(), St::Submitting),
            ("h2".to_string(), St::Retry),
            ("h3".to_string(), St::Retry)
        ],
        "each held voucher once, with its status now"
    );
    assert_eq!(held(21, 30).await.len(), 2, "end excluded, start included");
    assert!(held(31, 100).await.is_empty());
    assert!(v
        .held_in_window("member", t(0), t(100))
        .await
        .unwrap()
        .is_empty());

    // The outbox: every retry event plus h4's submitted, oldest first.
    assert!(v.retry_events_pending("voucher", t(21)).await.unwrap());
    assert!(
        !v.retry_events_pending("voucher", t(20)).await.unwrap(),
        "end excluded"
    );
    assert!(!v.retry_events_pending("member", t(100)).await.unwrap());
    let events = v.unpublished_events(100).await.unwrap();
    let seen: Vec<(&str, St)> = events
        .iter()
        .map(|e| (e.keys.loyalty_request_id.as_str(), e.status))
        .collect();
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(seen[0], ("h1", St::Retry));
    assert_eq!(&seen[4..], [("h4", St::Submitted), ("h1", St::Retry)]);
    let mut mid = seen[1..4].to_vec();
    mid.sort_unstable_by_key(|(id, _)| *id);
    assert_eq!(
        mid,
        [("h2", St::Retry), ("h2", St::Retry), ("h3", St::Retry)]
    );
    let first = v.unpublished_events(2).await.unwrap();
    assert_eq!(first.len(), 2, "limit");
    v.mark_published(first.iter().map(|e| e.id).collect())
        .await
        .unwrap();
    let left = v.unpublished_events(100).await.unwrap();
    assert_eq!(left.len(), 4);
    assert!(!v.retry_events_pending("voucher", t(21)).await.unwrap());
    assert!(v.retry_events_pending("voucher", t(22)).await.unwrap());
    v.mark_published(left.iter().map(|e| e.id).collect())
        .await
        .unwrap();
    assert!(v.unpublished_events(100).await.unwrap().is_empty());
    assert!(!v.retry_events_pending("voucher", t(100)).await.unwrap());
    assert_eq!(
        n(0, 100).await.unwrap(),
        5,
        "the ledger outlives publication"
    );
}

/// Failed calls dead-letter a voucher after `dead_letter_after` failures
/// since its redrive; a lost claim in a batch leaves the voucher alone; the
/// DLQ pages by `(updated_ms, id)`; a redrive restarts the count.
pub async fn check_voucher_dead_letters(v: &dyn VoucherStore) {
    use crate::datacache::{Claim, Finish};
    use crate::voucher::VoucherStatus as St;
    let lease = std::time::Duration::from_secs(10);
    for id in ["d1", "d2", "d3"] {
        v.insert(&voucher("voucher", id, "r", "m", "o"), t(0))
            .await
            .unwrap();
    }
    let claim = |id: &'static str, at: i64| async move {
        match v.claim(id, t(at), lease, "try".into()).await.unwrap() {
            Claim::Claimed { token, .. } => token,
            other => panic!("{id}: {other:?}"),
        }
    };
    let failed = |id: &str, token| Finish {
        id: id.into(),
        token,
        status: St::Retry,
        detail: "SaaS unavailable: 503".into(),
    };
    let (a, b) = (claim("d1", 1).await, claim("d2", 1).await);
    assert_eq!(
        v.finish_many(vec![failed("d1", a), failed("d2", b)], 2, t(2))
            .await
            .unwrap(),
        [St::Retry, St::Retry],
        "one failure each"
    );
    assert_eq!(v.attempts_since_redrive("d1").await.unwrap(), 1);
    let (a, b) = (claim("d1", 3).await, claim("d2", 3).await);
    assert_eq!(
        v.finish_many(
            vec![
                failed("d1", a),
                // A stale token: the claim was lost, nothing is written.
                Finish {
                    status: St::Submitted,
                    ..failed("d2", b - 1)
                },
            ],
            2,
            t(4)
        )
        .await
        .unwrap(),
        [St::DeadLettered, St::Submitted]
    );
    let d1 = v.get("d1").await.unwrap().unwrap();
    assert_eq!((d1.status, d1.attempts), (St::DeadLettered, 2));
    assert_eq!(
        d1.last_error.as_deref(),
        Some("gave up after 2 failed attempts; last: SaaS unavailable: 503")
    );
    assert_eq!(
        lifecycle_statuses(v, "d1").await,
        [
            "received",
            "submitting",
            "retry",
            "submitting",
            "retry",
            "dead_lettered"
        ]
    );
    assert_eq!(
        v.get("d2").await.unwrap().unwrap().status,
        St::Submitting,
        "untouched"
    );
    assert!(v.dead_letter("d3", "by hand".into(), t(5)).await.unwrap());
    assert!(!v.dead_letter("d3", "again".into(), t(6)).await.unwrap());
    assert!(
        v.dead_letter("d2", "by hand".into(), t(5)).await.unwrap(),
        "submitting"
    );
    assert!(!v.dead_letter("nope", "x".into(), t(5)).await.unwrap());

    // DLQ pages: d1@4, then d2 and d3 @5 by id.
    let page = v.dead_lettered(None, 2).await.unwrap();
    assert_eq!(ids(&page), ["d1", "d2"]);
    let last = page.last().unwrap();
    let after = Some((last.updated_at.timestamp_millis(), "d2".to_string()));
    assert_eq!(ids(&v.dead_lettered(after, 10).await.unwrap()), ["d3"]);
    assert_eq!(
        v.stuck(t(100), t(100), 10).await.unwrap().len(),
        0,
        "DLQ is not stuck"
    );

    assert_eq!(v.redrive("d1", t(7)).await.unwrap(), Some(St::Retry));
    let d1 = v.get("d1").await.unwrap().unwrap();
    assert_eq!((d1.status, d1.updated_at), (St::Retry, t(7)));
    assert_eq!(
        v.attempts_since_redrive("d1").await.unwrap(),
        0,
        "restarted"
    );
    assert_eq!(v.attempts_since_redrive("nope").await.unwrap(), 0);
    assert_eq!(
        v.redrive("d1", t(8)).await.unwrap(),
        Some(St::Retry),
        "not DLQ'd"
    );
    assert_eq!(v.redrive("nope", t(8)).await.unwrap(), None);
    assert_eq!(ids(&v.dead_lettered(None, 10).await.unwrap()), ["d2", "d3"]);
    // After a redrive it takes `dead_letter_after` new failures again.
    let a = claim("d1", 9).await;
    assert_eq!(a, 3);
    assert_eq!(
        v.finish_many(vec![failed("d1", a)], 2, t(10))
            .await
            .unwrap(),
        [St::Retry]
    );
    assert_eq!(v.attempts_since_redrive("d1").await.unwrap(), 1);
    // The redrive's retry event is published like a hold's.
    let redriven: Vec<_> = v
        .unpublished_events(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.keys.loyalty_request_id == "d1" && e.at == t(7))
        .collect();
    assert_eq!(redriven.len(), 1);
    assert_eq!(
        v.count_retry_events("voucher", t(7), t(8)).await.unwrap(),
        1
    );
    // `received` vouchers left behind are stuck once old enough.
    v.insert(&voucher("voucher", "s1", "r", "m", "o"), t(50))
        .await
        .unwrap();
    assert!(v.stuck(t(50), t(50), 10).await.unwrap().is_empty());
    assert_eq!(v.stuck(t(51), t(51), 10).await.unwrap(), ["s1"]);
    let mut counts = v.counts().await.unwrap();
    counts.sort();
    assert!(
        counts.iter().any(|(_, st, _)| st == "dead_lettered"),
        "{counts:?}"
    );
    check_open_counts(v, &counts).await;
}

/// Two replicas (`a`, and `b` with its status store `sb`): hold and claim
/// decide on the circuit and the voucher as stored when they commit, not as
/// `a` last saw them — a voucher is held before the part's down→up change
/// commits, or sees the part up.
pub async fn check_voucher_replicas(
    a: &dyn VoucherStore,
    b: &dyn VoucherStore,
    sb: &dyn StatusStore,
) {
    use crate::datacache::{Attempt, Claim, Hold};
    use crate::voucher::VoucherStatus as St;
    let lease = std::time::Duration::from_secs(10);
    for id in ["r1", "r2", "r3", "r4"] {
        a.insert(&voucher("voucher", id, "r", "m", "o"), t(0))
            .await
            .unwrap();
    }
    set_circuit(sb, "voucher", false, t(1)).await;
    assert_eq!(a.hold_if_open("r1", t(5)).await.unwrap(), Hold::Held);
    // b's monitor sees the part come back.
    set_circuit(sb, "voucher", true, t(6)).await;
    assert_eq!(
        a.hold_if_open("r2", t(7)).await.unwrap(),
        Hold::CircuitClosed,
        "a sees the up b committed"
    );
    let out = a
        .hold_or_claim_many(vec![("r2".into(), "flow".into())], t(8), lease)
        .await
        .unwrap();
    assert!(
        matches!(out[0], Attempt::Claimed { token: 1, .. }),
        "{out:?}"
    );
    // And go down again.
    set_circuit(sb, "voucher", false, t(9)).await;
    let out = a
        .hold_or_claim_many(vec![("r3".into(), "flow".into())], t(10), lease)
        .await
        .unwrap();
    assert_eq!(out, [Attempt::Held], "a sees the down b committed");
    assert_eq!(lifecycle_statuses(b, "r3").await, ["received", "retry"]);
    // A voucher b claimed is not a's to hold or claim.
    assert!(matches!(
        b.claim("r4", t(11), lease, "b".into()).await.unwrap(),
        Claim::Claimed { token: 1, .. }
    ));
    let out = a
        .hold_or_claim_many(vec![("r4".into(), "flow".into())], t(12), lease)
        .await
        .unwrap();
    assert_eq!(out, [Attempt::Skipped(Some(St::Submitting))]);
    assert!(b
        .finish("r4", 1, St::Submitted, "ok".into(), t(13))
        .await
        .unwrap());
    assert_eq!(a.get("r4").await.unwrap().unwrap().status, St::Submitted);
    // b redrives what a dead-lettered; a's next finish of an old claim fails.
    assert!(a.dead_letter("r2", "by hand".into(), t(14)).await.unwrap());
    assert_eq!(b.redrive("r2", t(15)).await.unwrap(), Some(St::Retry));
    assert!(
        !a.finish("r2", 1, St::Submitted, "late".into(), t(16))
            .await
            .unwrap(),
        "the claim ended with the dead-lettering"
    );
    assert_eq!(a.get("r2").await.unwrap().unwrap().status, St::Retry);
}

/// `admit`: a new voucher is stored and claimed while its part is up (or
/// unknown), stored and held while it is down; a known id is returned
/// untouched.
pub async fn check_voucher_admit(v: &dyn VoucherStore, s: &dyn StatusStore) {
    use crate::storage::Admitted;
    use crate::voucher::VoucherStatus as St;
    let lease = std::time::Duration::from_secs(10);
    let admit = |id: &'static str, at: i64| async move {
        v.admit(
            &voucher("voucher", id, "r", "m", "o"),
            t(at),
            lease,
            "flow".into(),
        )
        .await
        .unwrap()
    };
    let Admitted::Claimed { token, voucher: a1 } = admit("a1", 0).await else {
        panic!("no status yet: claimed")
    };
    assert_eq!(token, 1);
    assert_eq!(
        (a1.status, a1.attempts, a1.received_at, a1.updated_at),
        (St::Submitting, 1, t(0), t(0))
    );
    assert_eq!(a1.payload["id"], "a1");
    assert_eq!(v.get("a1").await.unwrap().unwrap(), *a1, "as stored");
    let life = v.lifecycle("a1").await.unwrap();
    let steps: Vec<(&str, &str)> = life
        .iter()
        .map(|e| (e.status.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("received", "stored in the DataCache"),
            ("submitting", "attempt 1: flow")
        ]
    );
    assert_eq!(
        v.claim("a1", t(1), lease, "x".into()).await.unwrap(),
        crate::datacache::Claim::Busy(St::Submitting),
        "the lease runs"
    );
    assert!(v
        .finish("a1", token, St::Submitted, "ok".into(), t(2))
        .await
        .unwrap());
    let Admitted::Duplicate(dup) = admit("a1", 3).await else {
        panic!("a known id")
    };
    assert_eq!(
        (dup.status, dup.updated_at),
        (St::Submitted, t(2)),
        "untouched"
    );

    set_circuit(s, "voucher", false, t(4)).await;
    let Admitted::Held(a2) = admit("a2", 5).await else {
        panic!("circuit open: held")
    };
    assert_eq!((a2.status, a2.attempts), (St::Retry, 0));
    assert_eq!(v.get("a2").await.unwrap().unwrap(), *a2, "as stored");
    let a2 = v.get("a2").await.unwrap().unwrap();
    assert_eq!((a2.status, a2.attempts), (St::Retry, 0));
    assert_eq!(
        a2.last_error.as_deref(),
        Some("circuit open: part voucher is down")
    );
    assert_eq!(lifecycle_statuses(v, "a2").await, ["received", "retry"]);
    assert_eq!(
        v.count_retry_events("voucher", t(5), t(6)).await.unwrap(),
        1
    );
    assert!(v.retry_events_pending("voucher", t(6)).await.unwrap());
    let events: Vec<(String, St)> = v
        .unpublished_events(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.keys.loyalty_request_id, e.status))
        .collect();
    assert_eq!(
        events,
        [
            ("a1".to_string(), St::Submitted),
            ("a2".to_string(), St::Retry)
        ]
    );
    set_circuit(s, "voucher", true, t(7)).await;
    assert!(matches!(
        admit("a3", 8).await,
        Admitted::Claimed { token: 1, .. }
    ));
    let mut counts = v.counts().await.unwrap();
    counts.sort();
    check_open_counts(v, &counts).await;
    assert_eq!(
        counts,
        [
            ("voucher".to_string(), "retry".to_string(), 1),
            ("voucher".to_string(), "submitted".to_string(), 1),
            ("voucher".to_string(), "submitting".to_string(), 1)
        ]
    );
}

/// Two replicas racing to claim the same vouchers, `rounds` times (the
/// batch claim of the replay handler on one, the single claim or the batch
/// on the other): exactly one claims each voucher, and only its token
/// finishes it.
pub async fn check_voucher_claim_race(
    a: Arc<dyn VoucherStore>,
    b: Arc<dyn VoucherStore>,
    rounds: usize,
) {
    use crate::datacache::{Attempt, Claim};
    use crate::voucher::VoucherStatus as St;
    let lease = std::time::Duration::from_secs(10);
    for round in 0..rounds {
        let id = format!("race{round}");
        let at = t(round as i64);
        a.insert(&voucher("member", &id, "r", "m", "o"), at)
            .await
            .unwrap();
        let batch = vec![(id.clone(), "replayed".to_string())];
        let (x, y) = if round % 2 == 0 {
            let (x, y) = tokio::join!(
                a.hold_or_claim_many(batch.clone(), at, lease),
                b.hold_or_claim_many(batch, at, lease)
            );
            (x.unwrap().remove(0), y.unwrap().remove(0))
        } else {
            let (x, y) = tokio::join!(
                a.hold_or_claim_many(batch, at, lease),
                b.claim(&id, at, lease, "replayed".into())
            );
            let y = match y.unwrap() {
                Claim::Claimed { token, voucher } => Attempt::Claimed { token, voucher },
                Claim::Busy(s) => Attempt::Skipped(Some(s)),
                Claim::NotFound => Attempt::Skipped(None),
            };
            (x.unwrap().remove(0), y)
        };
        let (winner, token, loser) = match (&x, &y) {
            (Attempt::Claimed { token, .. }, other) => (&a, *token, other),
            (other, Attempt::Claimed { token, .. }) => (&b, *token, other),
            _ => panic!("round {round}: nobody claimed: {x:?} / {y:?}"),
        };
        assert_eq!(token, 1, "round {round}");
        assert_eq!(
            *loser,
            Attempt::Skipped(Some(St::Submitting)),
            "round {round}: one claim: {x:?} / {y:?}"
        );
        let other = if Arc::ptr_eq(winner, &a) { &b } else { &a };
        assert!(
            !other
                .finish(&id, token + 1, St::Submitted, "no".into(), at)
                .await
                .unwrap(),
            "round {round}: a token never issued"
        );
        assert!(winner
            .finish(&id, token, St::Submitted, "ok".into(), at)
            .await
            .unwrap());
        assert_eq!(
            lifecycle_statuses(a.as_ref(), &id).await,
            ["received", "submitting", "submitted"],
            "round {round}"
        );
    }
}

/// The monitor's records as the history reads them ([`MonitorHistory`]),
/// after checks recorded through `s` (the same storage as `h`): changes
/// around a range in order, checked hours, `down` changes newest first,
/// one change by id, the change after one.
pub async fn check_monitor_history(
    s: &dyn StatusStore,
    h: &dyn crate::storage::history::MonitorHistory,
) {
    let part = "history-part";
    let hour = 3_600;
    // up at t(0); two failures → down at t(120); two good checks two hours
    // later → up at t(2h + 60).
    let script: [(i64, Option<&str>); 6] = [
        (0, None),
        (1, None),
        (60, Some("HTTP 503")),
        (120, Some("HTTP 503")),
        (2 * hour, None),
        (2 * hour + 60, None),
    ];
    for (at, error) in script {
        check(s, part, t(at), error).await;
    }
    let ms = |secs: i64| t(secs).timestamp_millis();
    let all = h
        .changes_around(part, ms(-10 * hour), ms(10 * hour))
        .await
        .expect("changes_around");
    let statuses: Vec<&str> = all.iter().map(|c| c.status.as_str()).collect();
    assert_eq!(statuses, ["up", "down", "up"], "{all:?}");
    assert!(all.iter().all(|c| c.part == part));
    assert_eq!(all[1].at_ms, ms(120));
    assert_eq!(all[1].prev_status, "up");
    let (down, up) = (all[1].clone(), all[2].clone());
    // Inside the outage: the change in force (down) and the first after.
    let inside = h
        .changes_around(part, ms(hour), ms(hour + 60))
        .await
        .expect("changes_around");
    assert_eq!(inside, [down.clone(), up.clone()]);
    let hours = h
        .checked_hours(part, ms(-hour), ms(3 * hour))
        .await
        .expect("checked_hours");
    assert_eq!(
        h.check_totals(part).await.expect("totals"),
        (6, 2),
        "six checks, two failed (day roll-ups)"
    );
    assert_eq!(
        h.check_totals("no-such-part").await.expect("totals"),
        (0, 0)
    );
    let first_hour = ms(0) - ms(0).rem_euclid(3_600_000);
    assert_eq!(
        hours,
        [first_hour, first_hour + 2 * 3_600_000],
        "hours with checks"
    );
    assert_eq!(
        h.downs_before(i64::MAX, Some(part), 10)
            .await
            .expect("downs"),
        std::slice::from_ref(&down)
    );
    assert!(h
        .downs_before(down.id, Some(part), 10)
        .await
        .expect("downs")
        .is_empty());
    assert!(h
        .downs_before(i64::MAX, None, 10)
        .await
        .expect("downs")
        .contains(&down));
    assert_eq!(h.change(down.id).await.expect("change"), Some(down.clone()));
    assert_eq!(h.change(i64::MAX - 1).await.expect("change"), None);
    assert_eq!(
        h.next_change(part, down.at_ms, down.id)
            .await
            .expect("next"),
        Some(up.clone())
    );
    assert_eq!(
        h.next_change(part, up.at_ms, up.id).await.expect("next"),
        None
    );
}

/// The audit log: ids increase with time; newest-first pages chain by
/// `before`; ranges by time chain by `after`; `count_since` counts one
/// actor's entries of one action and outcome (and target); `prune_before`
/// deletes the oldest entries, at most `limit` a call.
pub async fn check_audit(s: &dyn crate::storage::audit::AuditStore) {
    let entry = |i: i64, action: &str, outcome: &str| crate::audit::AuditEntry {
        id: 0,
        at: t(i),
        actor: if i % 2 == 0 { "ann" } else { "bob" }.into(),
        role: Some("operator".into()),
        via: "session".into(),
        action: action.into(),
        target: Some(format!("p{i}")),
        reason: (i == 1).then(|| "outage".to_string()),
        outcome: outcome.into(),
        detail: (i == 3).then(|| serde_json::json!({"error": "busy"})),
    };
    let mut ids = Vec::new();
    for i in 0..6 {
        let outcome = if i == 4 { "failed" } else { "ok" };
        ids.push(s.append(entry(i, "login", outcome)).await.expect("append"));
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let targets = |es: &[crate::audit::AuditEntry]| -> Vec<String> {
        es.iter()
            .map(|e| e.target.clone().unwrap_or_default())
            .collect()
    };
    let page = s.newest(None, 2).await.expect("newest");
    assert_eq!(targets(&page), ["p5", "p4"]);
    assert_eq!(page[1].outcome, "failed");
    assert_eq!(page[1].at, t(4));
    let older = s.newest(Some(page[1].id), 10).await.expect("newest");
    assert_eq!(targets(&older), ["p3", "p2", "p1", "p0"]);
    assert_eq!(older[0].detail.as_ref().unwrap()["error"], "busy");
    assert_eq!(older[2].reason.as_deref(), Some("outage"));
    assert_eq!(older[2].actor, "bob");
    let window = s
        .range(Some(t(1)), Some(t(4)), None, 2)
        .await
        .expect("range");
    assert_eq!(
        targets(&window),
        ["p1", "p2"],
        "since included, oldest first"
    );
    let rest = s
        .range(Some(t(1)), Some(t(4)), Some(window[1].id), 10)
        .await
        .expect("range");
    assert_eq!(targets(&rest), ["p3"], "until excluded");
    assert_eq!(s.range(None, None, None, 100).await.expect("all").len(), 6);
    assert_eq!(
        s.count_since("login", "ann", "ok", None, t(1))
            .await
            .expect("count"),
        1,
        "p2 (p0 is before, p4 failed)"
    );
    assert_eq!(
        s.count_since("login", "ann", "failed", None, t(0))
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        s.count_since("logout", "ann", "ok", None, t(0))
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        s.count_since("login", "ann", "ok", Some("p2"), t(0))
            .await
            .expect("count"),
        1,
        "one target"
    );
    assert_eq!(
        s.count_since("login", "ann", "ok", Some("p1"), t(0))
            .await
            .expect("count"),
        0,
        "p1 is bob's"
    );
    assert_eq!(s.prune_before(t(3), 2).await.expect("prune"), 2);
    assert_eq!(s.prune_before(t(3), 10).await.expect("prune"), 1);
    let left = s.range(None, None, None, 100).await.expect("all");
    assert_eq!(targets(&left), ["p3", "p4", "p5"], "older than t(3) pruned");
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

/// Replay records on two handles of one storage (two replicas): unique
/// names per creation second, one record per recovered status change,
/// started/refused marks and the latest interval, listing by part and
/// time, window overlap, the cursor never going back, and each replayed
/// event counted once even when both replicas count it.
pub async fn check_replays(
    a: &dyn crate::storage::replays::ReplayStore,
    b: &dyn crate::storage::replays::ReplayStore,
) {
    use crate::recovery::ItemOutcome;
    use crate::storage::replays::{HandledEvent, NewReplay, Recorded};

    assert_eq!(a.cursor().await.expect("cursor"), 0, "cursor starts at 0");
    a.advance_cursor(7).await.expect("advance");
    b.advance_cursor(5).await.expect("advance");
    assert_eq!(b.cursor().await.expect("cursor"), 7, "never backwards");
    b.advance_cursor(9).await.expect("advance");
    assert_eq!(a.cursor().await.expect("cursor"), 9, "shared");

    let new = |part: &str, s: i64, e: i64, created: i64, change: Option<i64>| NewReplay {
        after: None,
        part: part.into(),
        archive: format!(
            "Loyalty{}Archive",
            if part == "voucher" {
                "Voucher"
            } else {
                "Member"
            }
        ),
        start: t(s),
        end: t(e),
        created_at: t(created),
        trigger: if change.is_some() {
            "recovery"
        } else {
            "manual"
        }
        .into(),
        change_id: change,
        expected: 3,
        by: if change.is_some() { "recovery" } else { "ann" }.into(),
    };
    let recorded = |r: Result<Recorded, crate::storage::StoreError>| match r.expect("create") {
        Recorded::Name(name) => name,
        other => panic!("not recorded: {other:?}"),
    };
    let newest_name = |r: Result<
        Option<crate::recovery::ReplayRecord>,
        crate::storage::StoreError,
    >| { r.expect("newest of part").map(|r| r.name) };
    assert_eq!(newest_name(a.newest_of_part("voucher").await), None);
    let r1 = recorded(a.create(&new("voucher", 0, 100, 200, Some(11))).await);
    assert_eq!(r1, new("voucher", 0, 100, 200, None).name_at(0));
    // The same outage recovered again (a retry, or another replica): same
    // name, no new record, whatever the caller last saw.
    let again = recorded(b.create(&new("voucher", 0, 100, 260, Some(11))).await);
    assert_eq!(again, r1, "one record per status change");
    // Recording after a check that did not see r1: refused, nothing recorded.
    assert_eq!(
        b.create(&new("voucher", 50, 150, 200, None))
            .await
            .expect("create"),
        Recorded::Superseded(r1.clone())
    );
    assert_eq!(
        newest_name(b.newest_of_part("voucher").await),
        Some(r1.clone())
    );
    // A manual replay in the same second gets the next second's name.
    let r2 = recorded(
        b.create(&NewReplay {
            after: Some(r1.clone()),
            ..new("voucher", 50, 150, 200, None)
        })
        .await,
    );
    assert_eq!(r2, new("voucher", 0, 0, 201, None).name_at(0));
    assert_eq!(
        newest_name(a.newest_of_part("voucher").await),
        Some(r2.clone())
    );
    let r3 = recorded(a.create(&new("member", 10, 20, 300, None)).await);
    assert_eq!(
        newest_name(b.newest_of_part("member").await),
        Some(r3.clone())
    );
    assert_eq!(newest_name(b.newest_of_part("points").await), None);

    let rec = b.get(&r1).await.expect("get").expect("recorded");
    assert_eq!(
        (
            rec.part.as_str(),
            rec.archive.as_str(),
            rec.window_start,
            rec.window_end
        ),
        ("voucher", "LoyaltyVoucherArchive", t(0), t(100))
    );
    assert_eq!(
        (rec.trigger.as_str(), rec.by.as_deref()),
        ("recovery", Some("recovery"))
    );
    assert_eq!(rec.created_at, t(200));
    assert!(!rec.started && rec.start_error.is_none());
    assert_eq!(rec.progress.expected, 3);
    assert!(a
        .get("LoyaltyVoucherReplay_19700101000000")
        .await
        .expect("get")
        .is_none());

    assert_eq!(a.latest_interval("voucher").await.expect("latest"), None);
    a.mark_started(&r1).await.expect("started");
    b.mark_refused(&r2, "window too old")
        .await
        .expect("refused");
    a.mark_started(&r3).await.expect("started");
    assert_eq!(
        b.latest_interval("voucher").await.expect("latest"),
        Some((t(0), t(100)))
    );
    assert_eq!(
        b.latest_interval("member").await.expect("latest"),
        Some((t(10), t(20)))
    );
    let refused = a.get(&r2).await.expect("get").expect("recorded");
    assert_eq!(refused.start_error.as_deref(), Some("window too old"));
    assert!(!refused.started);

    let names = |rs: Vec<crate::recovery::ReplayRecord>| -> Vec<String> {
        rs.into_iter().map(|r| r.name).collect()
    };
    assert_eq!(
        names(b.newest(None, false, 10).await.expect("newest")),
        [r3.as_str(), r2.as_str(), r1.as_str()]
    );
    assert_eq!(
        names(b.newest(None, false, 2).await.expect("newest")),
        [r3.as_str(), r2.as_str()]
    );
    assert_eq!(
        names(a.newest(Some("voucher"), false, 10).await.expect("newest")),
        [r2.as_str(), r1.as_str()]
    );
    assert_eq!(
        names(a.newest(Some("voucher"), true, 10).await.expect("newest")),
        [r1.as_str()]
    );
    assert!(a
        .newest(Some("points"), false, 10)
        .await
        .expect("newest")
        .is_empty());
    // Windows [0, 100] and [50, 150] against [100, 120] (inclusive ends): both.
    let ms = |s: i64| t(s).timestamp_millis();
    assert_eq!(
        names(
            b.overlapping("voucher", ms(100), ms(120))
                .await
                .expect("overlap")
        ),
        [r1.as_str(), r2.as_str()],
        "oldest first"
    );
    assert_eq!(
        names(
            b.overlapping("voucher", ms(101), ms(120))
                .await
                .expect("overlap")
        ),
        [r2.as_str()]
    );
    assert!(b
        .overlapping("voucher", ms(151), ms(160))
        .await
        .expect("overlap")
        .is_empty());

    // Counting: both replicas count an overlapping batch; each event once.
    let ev = |r: &str, e: &str, v: &str, o| HandledEvent {
        replay: r.into(),
        event_id: e.into(),
        loyalty_request_id: v.into(),
        outcome: o,
    };
    let pairs = vec![
        (r1.clone(), "e1".to_string()),
        (r1.clone(), "e2".to_string()),
    ];
    assert_eq!(a.seen(&pairs).await.expect("seen"), [false, false]);
    let counted = a
        .count(&[
            ev(&r1, "e1", "v1", ItemOutcome::Resubmitted),
            ev(&r1, "e2", "v2", ItemOutcome::Skipped),
        ])
        .await
        .expect("count");
    assert_eq!(counted.len(), 1);
    assert_eq!(
        (
            counted[0].replay.as_str(),
            counted[0].part.as_str(),
            counted[0].processed,
            counted[0].expected
        ),
        (r1.as_str(), "voucher", 2, 3)
    );
    assert_eq!(b.seen(&pairs).await.expect("seen"), [true, true]);
    let counted = b
        .count(&[
            ev(&r1, "e2", "v2", ItemOutcome::Resubmitted),
            ev(&r1, "e3", "v3", ItemOutcome::Failed),
            ev(&r3, "m1", "w1", ItemOutcome::Resubmitted),
        ])
        .await
        .expect("count");
    let mut progress: Vec<(String, i64)> = counted
        .iter()
        .map(|c| (c.replay.clone(), c.processed))
        .collect();
    progress.sort();
    let mut want = vec![(r1.clone(), 3), (r3.clone(), 1)];
    want.sort();
    assert_eq!(progress, want, "e2 counted once");
    assert!(b.count(&[]).await.expect("count").is_empty());
    let p = a.get(&r1).await.expect("get").expect("recorded").progress;
    assert_eq!(
        (p.processed, p.resubmitted, p.skipped, p.failed),
        (3, 1, 1, 1),
        "e2 keeps its first outcome"
    );
    let mut outcomes = b.outcomes(&r1).await.expect("outcomes");
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("v1".to_string(), "resubmitted".to_string()),
            ("v2".to_string(), "skipped".to_string()),
            ("v3".to_string(), "failed".to_string())
        ]
    );
    assert_eq!(a.resubmitted_total("voucher").await.expect("total"), 1);
    assert_eq!(a.resubmitted_total("member").await.expect("total"), 1);
    assert_eq!(a.resubmitted_total("points").await.expect("total"), 0);

    // Two replicas counting the same fresh events at once: counted once.
    let batch: Vec<HandledEvent> = (0..30)
        .map(|i| {
            ev(
                &r3,
                &format!("x{i}"),
                &format!("w{i}"),
                ItemOutcome::Skipped,
            )
        })
        .collect();
    let (x, y) = tokio::join!(a.count(&batch), b.count(&batch));
    x.expect("count");
    y.expect("count");
    let p = b.get(&r3).await.expect("get").expect("recorded").progress;
    assert_eq!((p.processed, p.skipped), (31, 30), "each event once");

    // Two replicas that both found the part idle record at once: one is
    // recorded, the other told which replay came first.
    let (px, py) = (
        new("points", 0, 10, 400, None),
        new("points", 5, 10, 400, None),
    );
    let (x, y) = tokio::join!(a.create(&px), b.create(&py));
    let (x, y) = (x.expect("create"), y.expect("create"));
    let first = match (&x, &y) {
        (Recorded::Name(n), Recorded::Superseded(m))
        | (Recorded::Superseded(m), Recorded::Name(n))
            if n == m =>
        {
            n.clone()
        }
        _ => panic!("one record and one refusal naming it: {x:?}, {y:?}"),
    };
    assert_eq!(newest_name(a.newest_of_part("points").await), Some(first));
    assert_eq!(
        a.newest(Some("points"), false, 10)
            .await
            .expect("newest")
            .len(),
        1
    );
}

/// Users, sessions and tokens on two handles of one storage (two
/// replicas): a user added on one signs in on the other, a session opened
/// on one is found on the other until it ends or its user goes (even if a
/// user of the same name is added again), tokens carry their user's
/// current role and go with their user.
pub async fn check_access(
    a: &dyn crate::storage::access::AccessStore,
    b: &dyn crate::storage::access::AccessStore,
) {
    use crate::access::Role;
    use crate::storage::access::{StoredSession, StoredUser};

    let user = |name: &str, role, at| StoredUser {
        name: name.into(),
        role,
        password_hash: format!("$argon2id$fake${name}"),
        created_at: t(at),
    };
    assert_eq!(a.user_count().await.expect("count"), 0);
    assert!(a
        .insert_user(&user("vic", Role::Viewer, 1))
        .await
        .expect("insert"));
    assert!(b
        .insert_user(&user("ann", Role::Operator, 2))
        .await
        .expect("insert"));
    assert!(
        !b.insert_user(&user("vic", Role::Admin, 3))
            .await
            .expect("insert"),
        "a taken name"
    );
    assert_eq!(b.user_count().await.expect("count"), 2);
    let users = a.users().await.expect("users");
    let names: Vec<(&str, Role)> = users.iter().map(|u| (u.name.as_str(), u.role)).collect();
    assert_eq!(
        names,
        [("ann", Role::Operator), ("vic", Role::Viewer)],
        "by name"
    );
    assert_eq!(users[1].created_at, t(1));
    assert_eq!(
        b.credentials("vic").await.expect("credentials"),
        Some((Role::Viewer, "$argon2id$fake$vic".to_string()))
    );
    assert_eq!(b.credentials("nobody").await.expect("credentials"), None);

    let session = |hash: u8, user: &str, at: i64, hours: i64| StoredSession {
        token_hash: vec![hash; 32],
        user: user.into(),
        csrf: format!("csrf-{hash}"),
        created_at: t(at),
        expires_at: t(at + hours * 3600),
    };
    a.insert_session(&session(1, "ann", 10, 12))
        .await
        .expect("session");
    a.insert_session(&session(2, "vic", 10, 1))
        .await
        .expect("session");
    assert_eq!(
        b.session(&[1; 32], t(20)).await.expect("session"),
        Some(("ann".to_string(), Role::Operator, "csrf-1".to_string()))
    );
    assert_eq!(
        b.session(&[2; 32], t(10 + 3600)).await.expect("session"),
        None,
        "ended"
    );
    assert_eq!(
        b.session(&[9; 32], t(20)).await.expect("session"),
        None,
        "unknown"
    );
    b.delete_session(&[1; 32]).await.expect("end");
    b.delete_session(&[9; 32]).await.expect("end unknown");
    assert_eq!(
        a.session(&[1; 32], t(20)).await.expect("session"),
        None,
        "signed out"
    );

    let t1 = a
        .insert_token(&[3; 32], "ann", Role::Viewer, "grafana", t(30))
        .await
        .expect("token");
    let t2 = b
        .insert_token(&[4; 32], "vic", Role::Viewer, "script", t(31))
        .await
        .expect("token");
    assert!(t1 < t2, "ids increase: {t1} {t2}");
    let tokens = a.tokens().await.expect("tokens");
    let listed: Vec<(i64, &str, &str)> = tokens
        .iter()
        .map(|t| (t.id, t.user.as_str(), t.label.as_str()))
        .collect();
    assert_eq!(
        listed,
        [(t1, "ann", "grafana"), (t2, "vic", "script")],
        "oldest first"
    );
    assert_eq!(tokens[0].created_at, t(30));
    assert_eq!(tokens[0].last_used_at, None);
    let found = b.token(&[3; 32]).await.expect("token").expect("found");
    assert_eq!(
        (found.id, found.user.as_str(), found.role, found.user_role),
        (t1, "ann", Role::Viewer, Role::Operator)
    );
    b.touch_token(t1, t(40)).await.expect("touch");
    assert_eq!(
        a.token(&[3; 32])
            .await
            .expect("token")
            .expect("found")
            .last_used_at,
        Some(t(40))
    );
    assert_eq!(a.token(&[8; 32]).await.expect("token"), None);
    assert!(a.delete_token(t1).await.expect("delete"));
    assert!(!b.delete_token(t1).await.expect("delete"), "already gone");
    assert_eq!(b.token(&[3; 32]).await.expect("token"), None);

    // Removing a user ends its sessions and tokens, also for a user later
    // added again under the same name.
    a.insert_session(&session(5, "vic", 50, 12))
        .await
        .expect("session");
    assert!(b.delete_user("vic").await.expect("delete"));
    assert!(!a.delete_user("vic").await.expect("delete"), "already gone");
    assert!(a
        .insert_user(&user("vic", Role::Admin, 60))
        .await
        .expect("insert"));
    assert_eq!(b.session(&[5; 32], t(70)).await.expect("session"), None);
    assert_eq!(b.token(&[4; 32]).await.expect("token"), None);
    assert!(b.tokens().await.expect("tokens").is_empty());
    assert_eq!(a.user_count().await.expect("count"), 2);
}
