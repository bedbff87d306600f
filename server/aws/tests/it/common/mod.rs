//! Test fixtures: a private `moto_server` on a free loopback port, and SDK
//! configuration pointing at any endpoint with static test credentials.

#![allow(dead_code)]

use aws_backend::{load_config, AwsSettings};

/// Static credentials, region us-east-1, no instance-metadata look-ups.
pub fn test_env() {
    Moto::env();
}

/// SDK configuration for `endpoint` (test credentials, us-east-1).
pub async fn sdk_config(endpoint: &str, max_attempts: Option<u32>) -> aws_config::SdkConfig {
    test_env();
    load_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.into()),
        max_attempts,
    })
    .await
}

/// moto, from the crate's test-support module.
pub use aws_backend::moto::Moto;

/// SDK configuration pointing at `moto`.
pub async fn moto_config(moto: &Moto) -> aws_config::SdkConfig {
    sdk_config(&moto.endpoint, None).await
}

/// One request a [`FakeAws`] received: the operation (`X-Amz-Target`
/// without its service prefix) and the JSON body.
#[derive(Debug, Clone)]
pub struct Call {
    pub op: String,
    pub body: serde_json::Value,
}

type Responder =
    dyn Fn(&str, &serde_json::Value, &[Call]) -> (u16, serde_json::Value) + Send + Sync + 'static;

/// A recording AWS JSON 1.1 endpoint on loopback: every request is kept,
/// and `respond(op, body, earlier calls)` gives the status and JSON reply.
pub struct FakeAws {
    pub endpoint: String,
    pub calls: std::sync::Arc<std::sync::Mutex<Vec<Call>>>,
}

impl FakeAws {
    pub async fn start(
        respond: impl Fn(&str, &serde_json::Value, &[Call]) -> (u16, serde_json::Value)
            + Send
            + Sync
            + 'static,
    ) -> FakeAws {
        use axum::http::{HeaderMap, StatusCode};
        let calls: std::sync::Arc<std::sync::Mutex<Vec<Call>>> = Default::default();
        let respond: std::sync::Arc<Responder> = std::sync::Arc::new(respond);
        let c2 = calls.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (calls, respond) = (c2.clone(), respond.clone());
                async move {
                    let target = headers
                        .get("x-amz-target")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    let op = target.rsplit('.').next().unwrap_or_default().to_string();
                    let body: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    let earlier = calls.lock().unwrap().clone();
                    let (status, reply) = respond(&op, &body, &earlier);
                    calls.lock().unwrap().push(Call { op, body });
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/x-amz-json-1.1")],
                        reply.to_string(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeAws { endpoint, calls }
    }

    /// The calls of operation `op`, in order.
    pub fn calls(&self, op: &str) -> Vec<serde_json::Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.op == op)
            .map(|c| c.body.clone())
            .collect()
    }
}

/// The server's counting proxy (`server/tests/support/aws_calls.rs`),
/// shared rather than copied: in front of moto it forwards DynamoDB requests
/// one at a time. moto's server is threaded and its TransactWriteItems is
/// not isolated: a transaction whose condition fails restores every table
/// it touched from a copy taken when it started, wiping a concurrent
/// transaction that committed in between. DynamoDB's transactions are
/// serializable, so the race tests put this proxy between the replicas and
/// moto: each replica still reads, decides and sends its conditional write
/// concurrently, and the writes reach moto in some order, as they reach
/// DynamoDB.
#[allow(dead_code)]
#[path = "../../../../tests/support/aws_calls.rs"]
pub mod aws_calls;
