//! What the HTTP tests share: the real server on loopback port 0 (every
//! listener), a private data directory and site root, the simulated SaaS,
//! and small helpers to talk to them.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod process;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use server::config::ServeArgs;
use server::{Application, Settings};
use tokio_util::sync::CancellationToken;

/// A running server.
pub struct TestApp {
    /// Console and API.
    pub addr: SocketAddr,
    /// The embedded EventBridge's wire API.
    pub events_addr: SocketAddr,
    /// The simulated SaaS.
    pub sim_addr: SocketAddr,
    /// `http://{sim_addr}`.
    pub sim: String,
    /// A client with a 20 s timeout.
    pub client: reqwest::Client,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The first-run setup token (`--auth local` without users at start).
    pub setup_token: Option<String>,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    _data: tempfile::TempDir,
}

impl TestApp {
    /// Calls the embedded EventBridge's wire API (AWS JSON 1.1); expects 200.
    pub async fn eventbridge(&self, op: &str, body: Value) -> Value {
        let res = self
            .client
            .post(format!("http://{}/", self.events_addr))
            .header("x-amz-target", format!("AWSEvents.{op}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{op}");
        res.json().await.unwrap()
    }

    /// The URL of `path` on the console's listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `GET path`, the raw response.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// `GET path` → status and JSON body (`null` when not JSON).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let res = self.get(path).await;
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// `POST path` with a JSON body → status and JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// `POST` to the simulator's control API; expects 2xx.
    pub async fn sim_post(&self, path: &str) {
        sim_post(&self.client, &self.sim, path).await
    }

    /// The simulator's ledger of accepted submissions.
    /// Waits (up to 60 s: a loaded machine is slow, not wrong) until
    /// `GET /api/v1/parts` shows the `voucher` part as `want`.
    pub async fn wait_for_part(&self, want: &str) {
        eventually(60, &format!("voucher part never {want}"), || async {
            let (_, body) = self.get_json("/api/v1/parts").await;
            let p = body["parts"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == "voucher").cloned())
                .unwrap_or_default();
            if p["status"] == want {
                Ok(())
            } else {
                Err(p.to_string())
            }
        })
        .await
    }

    pub async fn submissions(&self) -> Vec<Value> {
        submissions(&self.client, &self.sim).await
    }

    /// Stops the server and waits (bounded) for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.handle)
            .await
            .expect("server must stop after cancel")
            .expect("join")
            .expect("server result");
    }
}

/// `POST {sim}{path}` on a simulator's control API; expects 2xx.
pub async fn sim_post(client: &reqwest::Client, sim: &str, path: &str) {
    let res = client.post(format!("{sim}{path}")).send().await.unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
}

/// `GET {sim}/sim/submissions`.
pub async fn submissions(client: &reqwest::Client, sim: &str) -> Vec<Value> {
    client
        .get(format!("{sim}/sim/submissions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A server with the test defaults (0.1 s polls, 2 s submit timeout, fast
/// resubmission).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// With `MEDIATOR_TEST_LOG=<filter>` (e.g. `info`, or
/// `mediator_core=debug,server=info`) the servers a test starts log into
/// its output, spans included (request, command, check, drain, sweep).
pub fn test_log() {
    if let Ok(filter) = std::env::var("MEDIATOR_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// A server with the test defaults changed by `tweak`.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut ServeArgs)) -> TestApp {
    spawn_app_wrapping(tweak, None).await
}

/// [`spawn_app_with`], recovery reaching the archive replays through `wrap`.
pub async fn spawn_app_wrapping(
    tweak: impl FnOnce(&mut ServeArgs),
    wrap: Option<server::ReplaysWrapper>,
) -> TestApp {
    test_log();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    let site = data.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(
        site.join("favicon.svg"),
        "<svg xmlns='http://www.w3.org/2000/svg'/>",
    )
    .unwrap();
    std::fs::write(site.join("pkg/mediator.css"), "body{}").unwrap();
    let mut args = ServeArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        events_listen: Some("127.0.0.1:0".parse().unwrap()),
        sim_listen: Some("127.0.0.1:0".parse().unwrap()),
        poll_interval: Some(0.1),
        data_dir: Some(data_dir.clone()),
        site_root: Some(site),
        submit_timeout: Some(2.0),
        resubmit_rate: Some(1000.0),
        resubmit_concurrency: Some(8),
        // Sign-in is the subject of tests/auth.rs only.
        auth: Some(server::config::AuthMode::None),
        ..Default::default()
    };
    tweak(&mut args);
    let settings = Settings::resolve(args).unwrap();
    let app = match wrap {
        Some(wrap) => Application::build_with_replays(settings, wrap).await,
        None => Application::build(settings).await,
    }
    .expect("build");
    let addr = app.local_addr();
    // With --backend aws there is no embedded wire API: calls to it fail
    // to connect (port 0), which is what such a test would deserve.
    let events_addr = app
        .events_addr()
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    // With --saas-url there is no simulator of its own (port 0: unusable).
    let sim_addr = app
        .sim_addr()
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let setup_token = app.setup_token().map(str::to_owned);
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        addr,
        events_addr,
        sim_addr,
        sim: format!("http://{sim_addr}"),
        client: client(),
        data_dir,
        setup_token,
        shutdown,
        handle,
        _data: data,
    }
}

/// An EventBridge client as any application builds one: region
/// us-east-1, the static keys `id`/`secret`, `endpoint`.
pub async fn eventbridge_client(
    endpoint: &str,
    id: &str,
    secret: &str,
) -> aws_sdk_eventbridge::Client {
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_eventbridge::config::Credentials::new(
            id, secret, None, None, "static",
        ))
        .endpoint_url(endpoint)
        .load()
        .await;
    aws_sdk_eventbridge::Client::new(&conf)
}

/// An HTTP client with a 20 s timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A valid voucher request for the `voucher` part.
pub fn voucher(id: &str) -> Value {
    json!({"part": "voucher", "loyalty_request_id": id, "loyalty_reference": format!("ref-{id}"),
           "merchant_reference": "m-1", "loyalty_order_reference": "M101-S76-OP10-T65",
           "payload": {"points": 10}})
}

/// Polls `check` until it returns `Ok`, failing with the last `Err` after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) => assert!(Instant::now() < deadline, "{what}: {last}"),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An AWS SDK error's service code and message (EventBridge's and SQS's
/// errors share the SDK's error types); panics when the call failed before
/// the service answered.
pub fn service_error<E, R>(err: aws_sdk_eventbridge::error::SdkError<E, R>) -> (String, String)
where
    E: aws_sdk_eventbridge::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let e = err
        .as_service_error()
        .unwrap_or_else(|| panic!("not a service error: {err:?}"));
    (
        e.code().unwrap_or_default().to_string(),
        e.message().unwrap_or_default().to_string(),
    )
}
