//! A closed-loop HTTP load generator shared by the bounded load test
//! (`server/tests/load.rs`) and the 30-second load bench
//! (`server/benches/load.rs`): `connections` clients, each with its own
//! keep-alive connection, send requests back to back for a duration; every
//! answer is checked, latencies are kept for percentiles.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// One request to make, again and again.
#[derive(Clone, Debug)]
pub struct Target {
    /// Label in the report.
    pub name: &'static str,
    /// Full URL.
    pub url: String,
    /// `None`: GET; `Some(body)`: POST of the body.
    pub body: Option<String>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Text a good answer's body contains.
    pub expect: &'static str,
}

/// What a run measured.
#[derive(Debug)]
pub struct LoadResult {
    /// Requests completed.
    pub requests: usize,
    /// Requests per second.
    pub per_sec: f64,
    /// Latency percentiles and maximum, in milliseconds.
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    /// Answers that were not 200 with the expected text (or no answer).
    pub errors: usize,
    /// The first few errors, for the report.
    pub first_errors: Vec<String>,
}

impl std::fmt::Display for LoadResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests, {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} errors",
            self.requests, self.per_sec, self.p50, self.p99, self.max, self.errors
        )
    }
}

/// Loads `target` from `connections` clients for `duration`.
pub async fn run(target: &Target, connections: usize, duration: Duration) -> LoadResult {
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let mut tasks = tokio::task::JoinSet::new();
    let target = Arc::new(target.clone());
    for _ in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let target = target.clone();
        tasks.spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), Vec::new());
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut req = match &target.body {
                    None => client.get(&target.url),
                    Some(b) => client.post(&target.url).body(b.clone()),
                };
                for (k, v) in &target.headers {
                    req = req.header(*k, v);
                }
                let outcome = match req.send().await {
                    Ok(r) => {
                        let status = r.status();
                        match r.text().await {
                            Ok(body) if status == 200 && body.contains(target.expect) => Ok(()),
                            Ok(body) => Err(format!("{status}: {}", &body[..body.len().min(200)])),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                if let Err(e) = outcome {
                    errors.push(e);
                }
            }
            (lat, errors)
        });
    }
    let (mut lat, mut errors) = (Vec::new(), Vec::new());
    while let Some(r) = tasks.join_next().await {
        let (l, e) = r.expect("load task");
        lat.extend(l);
        errors.extend(e);
    }
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if lat.is_empty() {
            return 0.0;
        }
        lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1]
    };
    LoadResult {
        requests: lat.len(),
        per_sec: lat.len() as f64 / secs,
        p50: pct(0.50),
        p99: pct(0.99),
        max: lat.last().copied().unwrap_or(0.0),
        errors: errors.len(),
        first_errors: errors.into_iter().take(3).collect(),
    }
}

/// The three targets of the load test against a server at `base` (console
/// and API) and `events` (the EventBridge wire API): the overview page, the
/// overview as JSON, and PutEvents of one event to the mediator's bus.
pub fn targets(base: &str, events: &str) -> Vec<Target> {
    let entry = serde_json::json!({"Entries": [{"EventBusName": "loyalty-bus", "Source": "load",
        "DetailType": "load", "Detail": "{\"load\":true}"}]});
    vec![
        Target {
            name: "GET / (overview page)",
            url: format!("{base}/"),
            body: None,
            headers: vec![],
            expect: "part-card",
        },
        Target {
            name: "GET /api/v1/parts (API)",
            url: format!("{base}/api/v1/parts"),
            body: None,
            headers: vec![],
            expect: "\"parts\"",
        },
        Target {
            name: "PutEvents (wire API)",
            url: format!("{events}/"),
            body: Some(entry.to_string()),
            headers: vec![
                ("x-amz-target", "AWSEvents.PutEvents".into()),
                ("content-type", "application/x-amz-json-1.1".into()),
            ],
            expect: "\"FailedEntryCount\":0",
        },
    ]
}
