//! Moved from mediator-core's `submit` unit tests: they run on SQLite.

use crate::support::{self};
use async_trait::async_trait;
use chrono::Utc;
use mediator_core::submit::*;
use mediator_core::*;
use serde_json::json;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::{sync::Arc, time::Duration};
use store::Database;

/// Answers with the status in `payload.status` (200 by default), counting calls.
struct FakeSaas {
    calls: AtomicUsize,
    delay: Duration,
}

#[async_trait]
impl SaasSubmitter for FakeSaas {
    async fn submit(&self, _part: &str, body: &Value) -> SubmitOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        match body
            .pointer("/payload/status")
            .and_then(Value::as_u64)
            .unwrap_or(200)
        {
            s @ 200..=299 => SubmitOutcome::Accepted { status: s as u16 },
            s @ 400..=499 => SubmitOutcome::Rejected {
                status: s as u16,
                reason: "no".into(),
            },
            _ => SubmitOutcome::Unavailable {
                reason: "HTTP 503".into(),
            },
        }
    }
}

struct Recorder(Mutex<Vec<mediator_core::OutgoingEvent>>);

#[async_trait]
impl EventPublisher for Recorder {
    async fn publish(&self, events: &[mediator_core::OutgoingEvent]) -> Result<(), PublishError> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

fn body(id: &str, status: u64) -> Value {
    json!({"part": "voucher", "loyalty_request_id": id, "loyalty_reference": "r",
           "merchant_reference": "m", "loyalty_order_reference": "o",
           "payload": {"status": status}})
}

fn flow(db: &Database, delay: Duration) -> (Arc<FakeSaas>, Arc<SubmissionFlow>) {
    let saas = Arc::new(FakeSaas {
        calls: AtomicUsize::new(0),
        delay,
    });
    let flow = support::flow(
        db.clone(),
        saas.clone(),
        PartName::defaults(),
        Duration::from_secs(5),
    );
    (saas, Arc::new(flow))
}

#[tokio::test]
async fn outcomes_map_to_statuses_and_events() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let (saas, flow) = flow(&db, Duration::ZERO);
    let cases = [
        ("ok", 200, "submitted"),
        ("bad", 422, "error"),
        ("later", 503, "retry"),
    ];
    for (id, status, want) in cases {
        let a = flow.accept_json(&body(id, status)).await.unwrap();
        assert_eq!(a.voucher.status.as_str(), want, "{id}");
        assert!(!a.duplicate);
    }
    // A duplicate is not submitted again.
    let again = flow.accept_json(&body("ok", 200)).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(saas.calls.load(Ordering::SeqCst), 3);
    // An error is final: processing it again calls nothing.
    assert_eq!(
        flow.process("bad", "again").await.unwrap(),
        Some(VoucherStatus::Error)
    );
    assert_eq!(saas.calls.load(Ordering::SeqCst), 3);

    let rec = Recorder(Mutex::new(vec![]));
    assert_eq!(publish_status_step(flow.cache(), &rec).await.unwrap(), 3);
    assert_eq!(publish_status_step(flow.cache(), &rec).await.unwrap(), 0);
    let seen = rec.0.lock().unwrap();
    let statuses: Vec<_> = seen
        .iter()
        .map(|e| e.detail["metadata"]["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!("submitted"), json!("error"), json!("retry")]
    );
    assert!(seen
        .iter()
        .all(|e| e.detail["data"].get("payload").is_none()));
}

#[tokio::test]
async fn a_caller_that_goes_away_mid_submission_still_records_the_outcome() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let (saas, flow) = flow(&db, Duration::from_millis(300));
    // The request's task is dropped while the SaaS is answering (a
    // client disconnecting, a request timeout, shutdown).
    let f = flow.clone();
    let request = tokio::spawn(async move { f.accept_json(&body("gone", 200)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(saas.calls.load(Ordering::SeqCst), 1, "call in flight");
    request.abort();
    assert!(request.await.unwrap_err().is_cancelled());
    // The unit runs to the end: the outcome is recorded (not left
    // `submitting` until the claim's lease runs out and it is resent).
    flow.in_flight().close();
    tokio::time::timeout(Duration::from_secs(5), flow.in_flight().wait())
        .await
        .expect("in-flight submissions finish");
    assert_eq!(
        flow.cache().get("gone").await.unwrap().unwrap().status,
        VoucherStatus::Submitted
    );
    assert_eq!(saas.calls.load(Ordering::SeqCst), 1);
}

/// Panics on every call, as a submitter with a bug would on a vendor's
/// unexpected answer.
struct PanickingSaas(AtomicUsize);

#[async_trait]
impl SaasSubmitter for PanickingSaas {
    async fn submit(&self, _part: &str, _body: &Value) -> SubmitOutcome {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("byte index 200 is not a char boundary");
    }
}

#[tokio::test]
async fn a_panicking_submission_is_that_vouchers_failed_attempt() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let saas = Arc::new(PanickingSaas(AtomicUsize::new(0)));
    let flow = support::flow(
        db.clone(),
        saas.clone(),
        PartName::defaults(),
        Duration::from_secs(5),
    )
    .with_max_attempts(2);
    let a = flow.accept_json(&body("p", 200)).await.unwrap();
    assert_eq!(
        a.voucher.status,
        VoucherStatus::Retry,
        "recorded, not left claimed"
    );
    assert!(
        a.voucher
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("internal error"),
        "{:?}",
        a.voucher.last_error
    );
    // Counted toward the dead-letter limit like any failed call.
    assert_eq!(
        flow.process("p", "again").await.unwrap(),
        Some(VoucherStatus::DeadLettered)
    );
    assert_eq!(saas.0.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn concurrent_handlers_submit_once() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let (saas, flow) = flow(&db, Duration::from_millis(50));
    flow.accept_json(&body("a", 503)).await.unwrap();
    assert_eq!(saas.calls.load(Ordering::SeqCst), 1);
    // Make the SaaS accept it now, then race ten handlers.
    db.write(|tx| tx.execute("UPDATE vouchers SET payload = '{}'", []))
        .await
        .unwrap();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let f = flow.clone();
        set.spawn(async move { f.process("a", "race").await.unwrap() });
    }
    while set.join_next().await.is_some() {}
    assert_eq!(
        saas.calls.load(Ordering::SeqCst),
        2,
        "exactly one more call"
    );
    assert_eq!(
        flow.cache().get("a").await.unwrap().unwrap().status,
        VoucherStatus::Submitted
    );
}

#[tokio::test]
async fn a_down_part_holds_vouchers() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    db.write(|tx| {
        tx.execute(
            "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', 'down', 'now')",
            [],
        )
    })
    .await
    .unwrap();
    let (saas, flow) = flow(&db, Duration::ZERO);
    let a = flow.accept_json(&body("a", 200)).await.unwrap();
    assert_eq!(a.voucher.status, VoucherStatus::Retry);
    assert_eq!(saas.calls.load(Ordering::SeqCst), 0);
    let e = flow
        .accept_json(&json!({"part": "voucher"}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, FlowError::Invalid(ref v) if v.field == "loyalty_request_id"),
        "{e}"
    );
}
#[tokio::test]
async fn overrides_route_the_circuit() {
    use mediator_core::OverrideRequest;
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    db.write(|tx| {
        tx.execute(
            "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', 'up', 'now')",
            [],
        )
    })
    .await
    .unwrap();
    let (saas, flow) = flow(&db, Duration::ZERO);
    let o = support::overrides(db.clone(), PartName::defaults());
    let set = |m: &'static str| {
        let o = o.clone();
        async move {
            let req = OverrideRequest::parse(&json!({"mode": m, "reason": "ops"})).unwrap();
            o.set("voucher", req, Utc::now()).await.unwrap();
        }
    };
    // Forced open while up: held.
    set("force_open").await;
    let a = flow.accept_json(&body("a", 200)).await.unwrap();
    assert_eq!(a.voucher.status, VoucherStatus::Retry);
    assert!(a.voucher.last_error.unwrap().contains("forced open"));
    assert!(!flow.cache().part_is_up("voucher").await.unwrap());
    assert_eq!(saas.calls.load(Ordering::SeqCst), 0);
    // Cleared: submitted.
    set("none").await;
    assert_eq!(
        flow.process("a", "again").await.unwrap(),
        Some(VoucherStatus::Submitted)
    );
    // Down but forced closed (or disabled): submitted anyway.
    db.write(|tx| tx.execute("UPDATE part_status SET status = 'down'", []))
        .await
        .unwrap();
    for (id, mode) in [("b", "force_closed"), ("c", "disabled")] {
        set(mode).await;
        let v = flow.accept_json(&body(id, 200)).await.unwrap();
        assert_eq!(v.voucher.status, VoucherStatus::Submitted, "{mode}");
    }
    set("none").await;
    let d = flow.accept_json(&body("d", 200)).await.unwrap();
    assert_eq!(d.voucher.status, VoucherStatus::Retry);
    assert_eq!(saas.calls.load(Ordering::SeqCst), 3);
}
