//! Moved from mediator-core's `recovery` unit tests: they run on SQLite.

use crate::support::{self, FakeBus};
use async_trait::async_trait;
use chrono::Utc;
use mediator_core::recovery::*;
use mediator_core::replay_records::{NewReplay, Recorded};
use mediator_core::SubmitOutcome;
use mediator_core::*;
use serde_json::json;
use serde_json::Value;
use std::{sync::Arc, time::Duration};
use store::{rusqlite::params, Database};

/// The default parts' flow on `db`, with a SaaS that accepts everything.
fn accepting_flow(db: &Database) -> Arc<SubmissionFlow> {
    Arc::new(support::flow(
        db.clone(),
        Arc::new(support::AcceptAll),
        PartName::defaults(),
        Duration::from_secs(1),
    ))
}

async fn exec(db: &Database, sql: &'static str) {
    db.write(move |tx| tx.execute_batch(sql)).await.unwrap();
}

#[tokio::test]
async fn the_sweeper_replays_only_uncovered_retries_one_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let flow = accepting_flow(&db);
    let bus = Arc::new(FakeBus::default());
    let settings = RecoverySettings {
        margin: Duration::from_secs(2),
        ..Default::default()
    };
    let rec = support::recovery(db.clone(), flow.clone(), bus.clone(), settings);
    exec(
        &db,
        "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', 'down', 'now')",
    )
    .await;
    assert!(
        rec.sweep_step().await.unwrap().is_empty(),
        "nothing pending"
    );
    let a = flow
        .accept_json(&json!({"part": "voucher", "loyalty_request_id": "a", "loyalty_reference": "r",
                             "merchant_reference": "m", "loyalty_order_reference": "o", "payload": {}}))
        .await
        .unwrap();
    assert_eq!(a.voucher.status, VoucherStatus::Retry);
    assert!(rec.sweep_step().await.unwrap().is_empty(), "part down");
    exec(&db, "UPDATE part_status SET status = 'up'").await;
    assert!(
        rec.sweep_step().await.unwrap().is_empty(),
        "retry event not published yet"
    );
    exec(&db, "UPDATE voucher_events SET published = 1").await;
    let started = rec.sweep_step().await.unwrap();
    assert_eq!(started.len(), 1);
    let r = &started[0];
    assert_eq!(r.trigger, "sweeper");
    assert_eq!(
        r.by.as_deref(),
        Some("sweeper"),
        "automatic replays name themselves"
    );
    let at = a.voucher.updated_at;
    assert!(r.window_start <= at - chrono::Duration::seconds(2) && at < r.window_end);
    // Active: never a second one; completed and covering: nothing to do.
    bus.states
        .lock()
        .unwrap()
        .insert(r.name.clone(), "RUNNING".into());
    assert!(rec.sweep_step().await.unwrap().is_empty(), "one at a time");
    assert!(matches!(
        rec.replay_again("voucher", None, "alice").await,
        Err(RecoveryError::Busy { .. })
    ));
    bus.states
        .lock()
        .unwrap()
        .insert(r.name.clone(), "COMPLETED".into());
    // Inside a completed replay's window, but never handled by it (archived
    // too late for it): not covered.
    let again = rec.sweep_step().await.unwrap();
    assert_eq!(again.len(), 1, "in a completed window, unhandled");
    bus.states
        .lock()
        .unwrap()
        .insert(again[0].name.clone(), "CANCELLED".into());
    // The ledger shows an event of `a` handled by that (since cancelled)
    // replay, whose window holds its retry event: covered.
    let name = again[0].name.clone();
    db.write(move |tx| {
        tx.execute(
            "INSERT INTO rec_replay_items VALUES (?1, 'e1', 'a', 'skipped', 0)",
            params![name],
        )
    })
    .await
    .unwrap();
    assert!(rec.sweep_step().await.unwrap().is_empty(), "handled");
    assert_eq!(bus.started.lock().unwrap().len(), 2);
}

/// Two replicas (two `Recovery`s, each with its own start lock) on one
/// store and one bus: operators starting a replay of one part at the
/// same moment get one replay and one Busy; a replay recorded but not
/// yet started by the bus (another replica is starting it) blocks the
/// part for the starting grace only.
#[tokio::test]
async fn two_replicas_starting_a_replay_of_one_part_start_one() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let flow = accepting_flow(&db);
    let bus = Arc::new(FakeBus::default());
    bus.running.store(true, std::sync::atomic::Ordering::SeqCst);
    let replica = || {
        support::recovery(
            db.clone(),
            flow.clone(),
            bus.clone(),
            RecoverySettings::default(),
        )
    };
    let (a, b) = (replica(), replica());
    let now = Utc::now();
    let window = Some((
        now - chrono::Duration::minutes(10),
        now - chrono::Duration::minutes(5),
    ));
    for round in 0..5 {
        let (x, y) = tokio::join!(
            a.replay_again("voucher", window, "ann"),
            b.replay_again("voucher", window, "bob")
        );
        let started: Vec<&ReplayRecord> = [&x, &y].into_iter().flatten().collect();
        assert_eq!(started.len(), 1, "round {round}: {x:?} {y:?}");
        let busy = [&x, &y].into_iter().find_map(|r| match r {
            Err(RecoveryError::Busy { replay, .. }) => Some(replay.clone()),
            _ => None,
        });
        assert_eq!(
            busy.as_deref(),
            Some(started[0].name.as_str()),
            "{x:?} {y:?}"
        );
        let name = started[0].name.clone();
        bus.states.lock().unwrap().insert(name, "COMPLETED".into());
    }
    assert_eq!(bus.started.lock().unwrap().len(), 5, "one replay per round");

    // Recorded by a replica that has not started it (yet): busy, until
    // the grace is over (a crash between recording and starting).
    let record = |created_at| NewReplay {
        part: "member".into(),
        archive: "LoyaltyMemberArchive".into(),
        start: now - chrono::Duration::minutes(10),
        end: now - chrono::Duration::minutes(5),
        created_at,
        trigger: "manual".into(),
        change_id: None,
        expected: 0,
        by: "carol".into(),
        after: None,
    };
    let grace = chrono::Duration::from_std(STARTING_GRACE).unwrap();
    let Recorded::Name(old) = a
        .replay_store()
        .create(&record(now - grace * 2))
        .await
        .unwrap()
    else {
        panic!("recorded")
    };
    assert_eq!(
        a.active_replay("member").await.unwrap(),
        None,
        "{old} is stale"
    );
    let Recorded::Name(young) = a
        .replay_store()
        .create(&NewReplay {
            after: Some(old),
            ..record(now)
        })
        .await
        .unwrap()
    else {
        panic!("recorded")
    };
    assert_eq!(
        b.active_replay("member").await.unwrap(),
        Some(young.clone())
    );
    assert!(matches!(
        b.replay_again("member", window, "dan").await,
        Err(RecoveryError::Busy { replay, .. }) if replay == young
    ));
}

#[tokio::test]
async fn each_part_uses_its_own_archive_margin_retention_and_pace() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let flow = accepting_flow(&db);
    let bus = Arc::new(FakeBus::default());
    let mut voucher = mediator_core::PartSettings::new(PartName::parse("voucher").unwrap());
    voucher.archive_name = "VoucherKeep".into();
    voucher.replay_margin = Duration::from_secs(7);
    voucher.retention_days = 1;
    voucher.resubmit_rate = 3.0;
    voucher.resubmit_concurrency = 9;
    let rec = support::recovery(db.clone(), flow, bus.clone(), RecoverySettings::default())
        .with_parts(std::slice::from_ref(&voucher));
    let v = rec.part_recovery(&voucher.name);
    assert_eq!(
        (v.archive.as_str(), v.margin, v.rate_per_sec, v.concurrency),
        ("VoucherKeep", Duration::from_secs(7), 3.0, 9)
    );
    // A part without settings of its own keeps the defaults.
    let member = rec.part_recovery(&PartName::parse("member").unwrap());
    assert_eq!(member.archive, "LoyaltyMemberArchive");
    assert_eq!(member.margin, Duration::from_secs(60));

    // The window is checked against the part's own retention (1 day).
    let end = Utc::now();
    let two_days = end - chrono::Duration::days(2);
    assert!(matches!(
        rec.replay_again("voucher", Some((two_days, end)), "alice")
            .await,
        Err(RecoveryError::Invalid { field: "start", .. })
    ));
    rec.preview("member", two_days, end).await.unwrap();
    // The replay reads the part's archive and is named after it.
    let r = rec
        .replay_again(
            "voucher",
            Some((end - chrono::Duration::hours(1), end)),
            "alice",
        )
        .await
        .unwrap();
    assert_eq!(r.archive, "VoucherKeep");
    assert!(r.name.starts_with("VoucherKeepReplay_"), "{}", r.name);
    assert_eq!(bus.started.lock().unwrap()[0].archive, "VoucherKeep");
}

#[tokio::test]
async fn stuck_vouchers_go_back_through_the_flow() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let flow = accepting_flow(&db);
    let bus = Arc::new(FakeBus::default());
    let rec = support::recovery(db.clone(), flow.clone(), bus, RecoverySettings::default());
    let parts = PartName::defaults();
    let req = |id: &str| {
        mediator_core::VoucherRequest::parse(
            &json!({"part": "voucher", "loyalty_request_id": id, "loyalty_reference": "r",
                    "merchant_reference": "m", "loyalty_order_reference": "o", "payload": {}}),
            &parts,
        )
        .unwrap()
    };
    let cache = flow.cache();
    let past = Utc::now() - chrono::Duration::minutes(10);
    // Never attempted; claimed by a handler that died (lease expired);
    // claimed by a live handler (lease running).
    for id in ["received", "expired", "live"] {
        cache.insert(&req(id), past).await.unwrap();
    }
    cache
        .claim("expired", past, Duration::from_secs(1), "crashed".into())
        .await
        .unwrap();
    cache
        .claim("live", Utc::now(), Duration::from_secs(600), "busy".into())
        .await
        .unwrap();
    // A voucher received just now is not stuck yet.
    cache.insert(&req("fresh"), Utc::now()).await.unwrap();
    let cutoff = Utc::now() - chrono::Duration::minutes(1);
    assert_eq!(rec.resume_stuck(cutoff).await.unwrap(), 2);
    let status = |id: &'static str| {
        let cache = cache.clone();
        async move { cache.get(id).await.unwrap().unwrap().status }
    };
    assert_eq!(status("received").await, VoucherStatus::Submitted);
    assert_eq!(status("expired").await, VoucherStatus::Submitted);
    assert_eq!(status("live").await, VoucherStatus::Submitting);
    assert_eq!(status("fresh").await, VoucherStatus::Received);

    // While the part is down, a stuck voucher is held instead.
    exec(
        &db,
        "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', 'down', 'now')",
    )
    .await;
    cache.insert(&req("held"), past).await.unwrap();
    cache
        .claim("held", past, Duration::from_secs(1), "crashed".into())
        .await
        .unwrap();
    assert_eq!(rec.resume_stuck(cutoff).await.unwrap(), 1);
    assert_eq!(status("held").await, VoucherStatus::Retry);
}

#[tokio::test]
async fn a_down_to_up_change_replays_its_window_once_and_counts_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let flow = accepting_flow(&db);
    let bus = Arc::new(FakeBus::default());
    let settings = RecoverySettings {
        margin: Duration::from_secs(5),
        ..Default::default()
    };
    let rec = Arc::new(support::recovery(
        db.clone(),
        flow.clone(),
        bus.clone(),
        settings,
    ));
    exec(
        &db,
        "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', 'down', 'now')",
    )
    .await;
    let a = flow
        .accept_json(&json!({"part": "voucher", "loyalty_request_id": "a", "loyalty_reference": "r",
                             "merchant_reference": "m", "loyalty_order_reference": "o", "payload": {}}))
        .await
        .unwrap();
    assert_eq!(a.voucher.status, VoucherStatus::Retry);
    // The part came back 4.8 s after the hold: the window (5 s margin) ends
    // 0.2 s after it, and the replay waits for that end.
    let down = a.voucher.updated_at.timestamp_millis() - 10_000;
    let up = down + 10_000 - 4_800;
    db.write(move |tx| {
        tx.execute(
            "INSERT INTO mon_status_changes (part, status, changed_ms, prev_status, prev_change_ms)
             VALUES ('voucher', 'down', ?1, 'up', NULL), ('voucher', 'up', ?2, 'down', ?1)",
            params![down, up],
        )
    })
    .await
    .unwrap();
    // The retry event is still in the outbox: the trigger waits.
    assert_eq!(rec.trigger_step().await.unwrap(), 1, "only the down change");
    assert!(bus.started.lock().unwrap().is_empty());
    exec(&db, "UPDATE voucher_events SET published = 1").await;
    exec(&db, "UPDATE part_status SET status = 'up'").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rec.trigger_step().await.unwrap(), 1);
    assert_eq!(rec.trigger_step().await.unwrap(), 0, "consumed once");
    let req = bus.started.lock().unwrap()[0].clone();
    assert_eq!(req.start.timestamp_millis(), down - 5_000);
    assert_eq!(req.end.timestamp_millis(), up + 5_000);
    assert!(req.name.starts_with("LoyaltyVoucherReplay_"));
    let r = rec.replay(&req.name).await.unwrap().unwrap();
    assert_eq!(r.progress.expected, 1);
    assert_eq!(
        (r.trigger.as_str(), r.by.as_deref()),
        ("recovery", Some("recovery"))
    );
    assert_eq!(
        rec.latest_interval("voucher").await.unwrap(),
        Some((req.start, req.end))
    );

    let event = json!({"id": "e1", "replay-name": req.name,
                       "detail": {"data": {"loyalty_request_id": "a"}}})
    .to_string();
    assert_eq!(rec.handle(&event).await.unwrap(), ItemOutcome::Resubmitted);
    assert_eq!(rec.handle(&event).await.unwrap(), ItemOutcome::Skipped);
    let p = rec.replay(&req.name).await.unwrap().unwrap().progress;
    assert_eq!(
        (p.processed, p.resubmitted, p.skipped),
        (1, 1, 0),
        "redelivery counted once"
    );

    // Replaying the window again skips the submitted voucher.
    assert!(matches!(
        rec.replay_again("voucher", None, "  ").await,
        Err(RecoveryError::Invalid { field: "by", .. })
    ));
    let again = rec.replay_again("voucher", None, " alice ").await.unwrap();
    assert_ne!(again.name, req.name);
    assert_eq!(
        (again.trigger.as_str(), again.by.as_deref()),
        ("manual", Some("alice"))
    );
    assert_eq!(
        rec.list_replays(1).await.unwrap()[0].by.as_deref(),
        Some("alice"),
        "stored and listed"
    );
    assert_eq!((again.window_start, again.window_end), (req.start, req.end));
    let event = json!({"id": "e1", "replay-name": again.name,
                       "detail": {"data": {"loyalty_request_id": "a"}}})
    .to_string();
    assert_eq!(rec.handle(&event).await.unwrap(), ItemOutcome::Skipped);
    assert!(matches!(
        rec.replay_again("points", None, "alice").await,
        Err(RecoveryError::Invalid { field: "start", .. })
    ));
}

/// Accepts everything, counting the calls.
struct Counting(std::sync::atomic::AtomicUsize);

#[async_trait]
impl mediator_core::SaasSubmitter for Counting {
    async fn submit(&self, _part: &str, _body: &Value) -> SubmitOutcome {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        SubmitOutcome::Accepted { status: 200 }
    }
}

#[tokio::test]
async fn a_batch_submits_each_voucher_once_and_counts_each_event_once() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let saas = Arc::new(Counting(Default::default()));
    let flow = Arc::new(support::flow(
        db.clone(),
        saas.clone(),
        PartName::defaults(),
        Duration::from_secs(1),
    ));
    let bus = Arc::new(FakeBus::default());
    let rec = support::recovery(
        db.clone(),
        flow.clone(),
        bus.clone(),
        RecoverySettings::default(),
    );
    exec(
        &db,
        "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', 'down', 'now')",
    )
    .await;
    for id in ["a", "b"] {
        let v = flow
            .accept_json(&json!({"part": "voucher", "loyalty_request_id": id, "loyalty_reference": "r",
                                 "merchant_reference": "m", "loyalty_order_reference": "o", "payload": {}}))
            .await
            .unwrap();
        assert_eq!(v.voucher.status, VoucherStatus::Retry);
    }
    exec(&db, "UPDATE part_status SET status = 'up'").await;
    assert_eq!(
        flow.process("b", "by hand").await.unwrap(),
        Some(VoucherStatus::Submitted)
    );
    let now = Utc::now();
    let part = PartName::parse("voucher").unwrap();
    let r = rec
        .start_window(
            &part,
            now - chrono::Duration::hours(1),
            now + chrono::Duration::minutes(1),
            "manual",
            "tester",
            None,
        )
        .await
        .unwrap();
    let ev = |id: &str, lrid: &str| {
        json!({"id": id, "replay-name": r.name, "detail": {"data": {"loyalty_request_id": lrid}}})
            .to_string()
    };
    let bodies = [
        ev("e1", "a"),
        ev("e2", "a"),
        ev("e1", "a"),
        ev("e3", "b"),
        ev("e4", "unknown"),
        "not an event".to_owned(),
    ];
    let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
    let out = rec.handle_batch(&refs, 4).await.unwrap();
    use ItemOutcome::*;
    assert_eq!(
        out,
        [Resubmitted, Skipped, Skipped, Skipped, Failed, Ignored]
    );
    assert_eq!(
        saas.0.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "b by hand, a once"
    );
    let p = rec.replay(&r.name).await.unwrap().unwrap().progress;
    assert_eq!(
        (p.processed, p.resubmitted, p.skipped, p.failed),
        (4, 1, 2, 1),
        "each (replay, event) counted once"
    );
    // The whole batch again: nothing resubmitted, nothing counted twice.
    let again = rec.handle_batch(&refs, 4).await.unwrap();
    assert_eq!(
        again,
        [Skipped, Skipped, Skipped, Skipped, Skipped, Ignored]
    );
    assert_eq!(saas.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    let p2 = rec.replay(&r.name).await.unwrap().unwrap().progress;
    assert_eq!(p2, p);
}
