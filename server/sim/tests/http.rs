//! The simulator over real HTTP on loopback.

use std::time::Duration;

use saas_sim::{router, Simulator};
use serde_json::{json, Value};

async fn spawn() -> (String, reqwest::Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sim = Simulator::new(["voucher", "member", "points"]);
    tokio::spawn(async move { axum::serve(listener, router(sim)).await.unwrap() });
    (format!("http://{addr}"), reqwest::Client::new())
}

/// `GET /sim/submissions`.
async fn submissions(c: &reqwest::Client, base: &str) -> Value {
    let res = c
        .get(format!("{base}/sim/submissions"))
        .send()
        .await
        .unwrap();
    res.json().await.unwrap()
}

#[tokio::test]
async fn down_and_up_change_status_and_submissions() {
    let (base, c) = spawn().await;
    let st = c
        .get(format!("{base}/saas/voucher/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(st.status(), 200);
    assert_eq!(st.json::<Value>().await.unwrap()["status"], "up");

    c.post(format!("{base}/sim/parts/voucher/down"))
        .send()
        .await
        .unwrap();
    let st = c
        .get(format!("{base}/saas/voucher/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(st.status(), 503);
    let sub = c
        .post(format!("{base}/saas/voucher/submit"))
        .json(&json!({"loyalty_request_id": "r1", "payload": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(sub.status(), 503);
    // Other parts are unaffected.
    let st = c
        .get(format!("{base}/saas/points/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(st.status(), 200);

    c.post(format!("{base}/sim/parts/voucher/up"))
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        let sub = c
            .post(format!("{base}/saas/voucher/submit"))
            .json(&json!({"loyalty_request_id": "r1", "payload": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(sub.status(), 200);
    }
    let subs = submissions(&c, &base).await;
    assert_eq!(
        subs,
        json!([{"part": "voucher", "loyalty_request_id": "r1", "accepted": 2, "deduplicated": 0}])
    );

    // With an Idempotency-Key a resend is answered but not accepted again.
    for _ in 0..2 {
        let sub = c
            .post(format!("{base}/saas/voucher/submit"))
            .header("Idempotency-Key", "r2")
            .json(&json!({"loyalty_request_id": "r2", "payload": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(sub.status(), 200);
    }
    let reused = c
        .post(format!("{base}/saas/voucher/submit"))
        .header("Idempotency-Key", "r2")
        .json(&json!({"loyalty_request_id": "r3", "payload": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 422);
    let subs = submissions(&c, &base).await;
    assert_eq!(
        subs[1],
        json!({"part": "voucher", "loyalty_request_id": "r2", "accepted": 1, "deduplicated": 1})
    );

    let del = c
        .delete(format!("{base}/sim/submissions"))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let subs = submissions(&c, &base).await;
    assert_eq!(subs, json!([]));
}

#[tokio::test]
async fn hang_and_latency() {
    let (base, c) = spawn().await;
    c.post(format!("{base}/sim/parts/member/hang"))
        .json(&json!({"hang": true}))
        .send()
        .await
        .unwrap();
    let res = c
        .get(format!("{base}/saas/member/status"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(
        res.unwrap_err().is_timeout(),
        "a hanging part never answers"
    );

    c.post(format!("{base}/sim/parts/points/latency"))
        .json(&json!({"ms": 150}))
        .send()
        .await
        .unwrap();
    let t = std::time::Instant::now();
    let res = c
        .get(format!("{base}/saas/points/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(150));

    let bad = c
        .post(format!("{base}/sim/parts/points/error-rate"))
        .json(&json!({"rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let parts: Value = c
        .get(format!("{base}/sim/parts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(parts["member"]["hang"], true);
    assert_eq!(parts["points"]["latency_ms"], 150);
}
