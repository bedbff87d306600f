//! Two replicas deciding on the same vouchers.

use super::*;

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
    assert_eq!(
        b.redrive("r2", t(15)).await.unwrap(),
        Some(crate::voucher::Redriven::Moved)
    );
    assert_eq!(
        a.redrive("r2", t(15)).await.unwrap(),
        Some(crate::voucher::Redriven::NotDeadLettered(St::Retry)),
        "the second replica's redrive does not move it again"
    );
    assert!(
        !a.finish("r2", 1, St::Submitted, "late".into(), t(16))
            .await
            .unwrap(),
        "the claim ended with the dead-lettering"
    );
    assert_eq!(a.get("r2").await.unwrap().unwrap().status, St::Retry);
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
