//! Maintenance windows: scheduling without overlap (also between two
//! replicas), listing, ending early, the replay mark; and the hold they put
//! on the voucher store's circuit.

use std::sync::Arc;

use super::*;
use crate::maintenance::MaintenanceWindow;
use crate::storage::maintenance::{MaintenanceStore, Scheduled};

fn window(id: &str, part: &str, start: i64, end: i64) -> MaintenanceWindow {
    MaintenanceWindow {
        id: id.into(),
        part: part.into(),
        start: t(start),
        end: t(end),
        reason: format!("upgrade {id}"),
        by: "olga".into(),
        created_at: t(0),
        ended_at: None,
        ended_by: None,
        end_reason: None,
        replay: None,
    }
}

fn ids(v: &[MaintenanceWindow]) -> Vec<&str> {
    v.iter().map(|w| w.id.as_str()).collect()
}

/// Scheduling refuses a window overlapping another of its part (naming
/// it), not one of another part nor one touching its end; two replicas
/// scheduling overlapping windows at once record one. Listing by part and
/// since a time; ending early (once, not after the end); cancelling frees
/// the time; the replay mark is written once.
pub async fn check_maintenance_windows(a: Arc<dyn MaintenanceStore>, b: Arc<dyn MaintenanceStore>) {
    assert_eq!(a.window("mw-1").await.unwrap(), None);
    let w1 = window("mw-1", "voucher", 100, 200);
    assert_eq!(a.schedule(&w1).await.unwrap(), Scheduled::Recorded);
    assert_eq!(a.window("mw-1").await.unwrap().as_ref(), Some(&w1));
    for (s, e) in [(50, 101), (150, 160), (199, 300), (0, 1000)] {
        assert_eq!(
            b.schedule(&window("mw-x", "voucher", s, e)).await.unwrap(),
            Scheduled::Overlaps(Box::new(w1.clone())),
            "[{s}, {e}) overlaps [100, 200)"
        );
    }
    assert_eq!(
        a.schedule(&window("mw-2", "voucher", 200, 300))
            .await
            .unwrap(),
        Scheduled::Recorded,
        "touching its end"
    );
    assert_eq!(
        a.schedule(&window("mw-3", "member", 150, 250))
            .await
            .unwrap(),
        Scheduled::Recorded,
        "another part"
    );
    assert_eq!(
        ids(&b.windows(None, t(0)).await.unwrap()),
        ["mw-1", "mw-3", "mw-2"]
    );
    assert_eq!(
        ids(&b.windows(Some("voucher"), t(0)).await.unwrap()),
        ["mw-1", "mw-2"]
    );
    // Ending early: the hold ends then; once only, never after its end.
    let ended = b
        .end("mw-2", t(250), "vic", "done early")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            ended.ended_at,
            ended.ended_by.as_deref(),
            ended.end_reason.as_deref()
        ),
        (Some(t(250)), Some("vic"), Some("done early"))
    );
    assert_eq!(ended.effective_end(), t(250));
    let again = a.end("mw-2", t(260), "x", "y").await.unwrap().unwrap();
    assert_eq!(again.ended_at, Some(t(250)), "ended once");
    let late = a.end("mw-1", t(200), "x", "y").await.unwrap().unwrap();
    assert_eq!(late.ended_at, None, "not after its end");
    assert_eq!(a.end("nope", t(1), "x", "y").await.unwrap(), None);
    // The time after an early end is free.
    assert_eq!(
        a.schedule(&window("mw-4", "voucher", 250, 280))
            .await
            .unwrap(),
        Scheduled::Recorded
    );
    // Cancelling before the start frees its time too.
    a.schedule(&window("mw-5", "voucher", 400, 500))
        .await
        .unwrap();
    let c = a
        .end("mw-5", t(300), "vic", "not needed")
        .await
        .unwrap()
        .unwrap();
    assert!(c.cancelled());
    assert_eq!(
        a.schedule(&window("mw-6", "voucher", 400, 450))
            .await
            .unwrap(),
        Scheduled::Recorded
    );
    // Listed since a time: holds ending from then, or ended unreplayed.
    assert_eq!(
        ids(&a.windows(Some("voucher"), t(260)).await.unwrap()),
        ["mw-1", "mw-2", "mw-4", "mw-5", "mw-6"],
        "mw-1 and mw-2 are not replayed yet; mw-5 was cancelled at 300"
    );
    assert_eq!(
        ids(&a.windows(Some("voucher"), t(301)).await.unwrap()),
        ["mw-1", "mw-2", "mw-4", "mw-6"],
        "a cancelled window has nothing to replay"
    );
    assert!(a.mark_replayed("mw-1", "VoucherReplay_1").await.unwrap());
    assert!(!b.mark_replayed("mw-1", "VoucherReplay_2").await.unwrap());
    assert_eq!(
        a.window("mw-1").await.unwrap().unwrap().replay.as_deref(),
        Some("VoucherReplay_1")
    );
    assert!(b.mark_replayed("mw-2", "VoucherReplay_3").await.unwrap());
    assert_eq!(
        ids(&a.windows(Some("voucher"), t(301)).await.unwrap()),
        ["mw-4", "mw-6"]
    );
    // Two replicas racing on overlapping windows: one is recorded.
    for round in 0..5 {
        let base = 10_000 + round * 1_000;
        let wa = window(&format!("mw-a{round}"), "points", base, base + 100);
        let wb = window(&format!("mw-b{round}"), "points", base + 50, base + 150);
        let (ra, rb) = tokio::join!(a.schedule(&wa), b.schedule(&wb));
        let recorded = [ra.unwrap(), rb.unwrap()]
            .iter()
            .filter(|r| **r == Scheduled::Recorded)
            .count();
        assert_eq!(recorded, 1, "round {round}");
    }
}

/// A window holds its part's circuit open from its start to its
/// (effective) end in hold and claim, whatever the checks say, and
/// `part_is_up` is false while it holds now; other parts are not held.
pub async fn check_maintenance_holds(
    m: &dyn MaintenanceStore,
    v: &dyn VoucherStore,
    s: &dyn StatusStore,
) {
    use crate::datacache::Hold;
    use crate::voucher::VoucherStatus as St;
    set_circuit(s, "voucher", true, t(1)).await;
    for id in ["a", "b", "c", "d"] {
        v.insert(&voucher("voucher", id, "r", "m", "o"), t(2))
            .await
            .unwrap();
    }
    v.insert(&voucher("member", "m", "r", "m", "o"), t(2))
        .await
        .unwrap();
    m.schedule(&window("mw-1", "voucher", 100, 200))
        .await
        .unwrap();
    m.schedule(&window("mw-2", "member", 10_000, 20_000))
        .await
        .unwrap();
    assert_eq!(
        v.hold_if_open("a", t(99)).await.unwrap(),
        Hold::CircuitClosed
    );
    assert_eq!(v.hold_if_open("a", t(100)).await.unwrap(), Hold::Held);
    let a = v.get("a").await.unwrap().unwrap();
    assert_eq!(
        (a.status, a.last_error.as_deref()),
        (
            St::Retry,
            Some("circuit open: part voucher is in maintenance")
        )
    );
    assert_eq!(
        v.hold_if_open("m", t(150)).await.unwrap(),
        Hold::CircuitClosed
    );
    let lease = std::time::Duration::from_secs(10);
    let out = v
        .hold_or_claim_many(vec![("b".into(), "flow".into())], t(150), lease)
        .await
        .unwrap();
    assert!(
        matches!(out.as_slice(), [crate::datacache::Attempt::Held]),
        "{out:?}"
    );
    // Ended early: the circuit follows the checks again from then.
    m.end("mw-1", t(160), "olga", "done").await.unwrap();
    assert_eq!(v.hold_if_open("c", t(159)).await.unwrap(), Hold::Held);
    assert_eq!(
        v.hold_if_open("d", t(160)).await.unwrap(),
        Hold::CircuitClosed
    );
    assert!(v.part_is_up("voucher").await.unwrap());
    // Holding now: the part is not up for the sweeper.
    let now = Utc::now();
    let mut w = window("mw-now", "voucher", 0, 0);
    w.start = now - chrono::Duration::minutes(1);
    w.end = now + chrono::Duration::minutes(10);
    m.schedule(&w).await.unwrap();
    assert!(!v.part_is_up("voucher").await.unwrap());
}
