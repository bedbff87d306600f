//! Status and overrides: snapshots, stale writes, the change outbox, a
//! two-replica race, and the claims on down→up changes.

use super::*;

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

struct NoProbe;

#[async_trait::async_trait]
impl crate::monitor::HealthProbe for NoProbe {
    async fn check(&self, _part: &str) -> Result<(), String> {
        Ok(())
    }
}
