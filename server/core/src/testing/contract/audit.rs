//! The audit log.

use super::*;

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
