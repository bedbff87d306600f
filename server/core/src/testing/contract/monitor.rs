//! The monitor's lease between replicas, and its records as the history
//! reads them.

use super::*;

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
