//! Live updates across replicas on the AWS backend: a browser following
//! replica B's change stream sees what is done through replica A (an
//! override, a voucher's outcome) within two seconds, relayed through the
//! shared DynamoDB feed, not when it next polls.

use std::time::{Duration, Instant};

use crate::aws_calls;
use crate::aws_mode::{provisioned_moto, spawn_on_aws, spawn_on_aws_with};
use crate::common::{voucher, TestApp};
use serde_json::{json, Value};

/// An open `/api/v1/stream`: the `change` events as they come.
struct Stream {
    res: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(app: &TestApp) -> Stream {
        let res = app
            .client
            .get(app.url("/api/v1/stream"))
            .send()
            .await
            .expect("open the stream");
        assert_eq!(res.status(), 200);
        let mut s = Stream {
            res,
            buf: String::new(),
        };
        s.next_event(Duration::from_secs(10))
            .await
            .filter(|(event, _)| event == "hello")
            .expect("hello first");
        s
    }

    /// The next `(event, data)` within `wait`.
    async fn next_event(&mut self, wait: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        event = e.trim().to_string();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim());
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                return Some((event, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk())
                .await
                .ok()?
                .expect("stream read")?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Waits up to `wait` for a `change` of `topic` for `part`; answers
    /// how long it took.
    async fn change(&mut self, topic: &str, part: &str, wait: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let left = wait.saturating_sub(start.elapsed());
            match self.next_event(left).await {
                Some((e, d)) if e == "change" && d["topic"] == topic && d["part"] == part => {
                    return start.elapsed()
                }
                Some(_) => continue,
                None => panic!("no {topic} change of {part} within {wait:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_made_through_one_replica_reaches_another_replicas_stream() {
    let (moto, _) = provisioned_moto().await;
    let proxy = aws_calls::CountingProxy::start(&moto.endpoint).await;
    let a = spawn_on_aws(proxy.endpoint.clone()).await;
    let b = spawn_on_aws_with(proxy.endpoint.clone(), Some(a.sim.clone())).await;
    a.wait_for_part("up").await;
    b.wait_for_part("up").await;
    let mut on_b = Stream::open(&b).await;

    // An operator forces a part open through A.
    let (code, body) = a
        .post(
            "/api/v1/parts/member/override",
            &json!({"mode": "force_open", "reason": "vendor maintenance"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let took = on_b
        .change("override", "member", Duration::from_secs(2))
        .await;
    eprintln!("override made on A seen on B's stream after {took:?}");

    // A voucher submitted to A: its outcome shows on B.
    let (code, body) = a.post("/api/v1/vouchers", &voucher("live-1")).await;
    assert_eq!(
        (code, &body["status"]),
        (202, &json!("submitted")),
        "{body}"
    );
    let took = on_b
        .change("voucher", "voucher", Duration::from_secs(2))
        .await;
    eprintln!("voucher outcome on A seen on B's stream after {took:?}");

    a.stop().await;
    b.stop().await;
}
