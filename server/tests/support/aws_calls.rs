//! A counting reverse proxy in front of an AWS endpoint (moto): every
//! request the SDK clients send is forwarded and recorded as (operation,
//! resource) — the operation from `X-Amz-Target` (EventBridge, DynamoDB and
//! SQS all speak AWS JSON), the resource from the body's `TableName`,
//! `RequestItems` tables, `TransactItems` tables, `QueueUrl` or first
//! `Entries[].EventBusName`. What the proxy counts is
//! what AWS would bill as requests, retries included. DynamoDB requests
//! are forwarded one at a time: moto does not isolate concurrent
//! transactions (a cancelled one can undo another's writes).

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method, StatusCode, Uri};

/// One forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCall {
    /// `PutEvents`, `GetItem`, `ReceiveMessage`, …
    pub op: String,
    /// The table, queue URL or bus it addressed ("" when none).
    pub resource: String,
    /// The HTTP status of the answer (0 until it arrived, or without one).
    pub status: u16,
    /// The request's JSON body (`Null` when it is not JSON).
    pub body: serde_json::Value,
}

/// The proxy; `endpoint` is what the clients should use.
pub struct CountingProxy {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    calls: Arc<Mutex<Vec<AwsCall>>>,
}

fn resource(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    for key in ["TableName", "QueueUrl"] {
        if let Some(s) = v[key].as_str() {
            return s.to_string();
        }
    }
    if let Some(tables) = v["RequestItems"].as_object() {
        // BatchGetItem, BatchWriteItem: keyed by table.
        return tables.keys().cloned().collect::<Vec<_>>().join("+");
    }
    if let Some(items) = v["TransactItems"].as_array() {
        let mut tables: Vec<&str> = items
            .iter()
            .filter_map(|i| i.as_object()?.values().next()?["TableName"].as_str())
            .collect();
        tables.sort_unstable();
        tables.dedup();
        return tables.join("+");
    }
    v["Entries"][0]["EventBusName"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

impl CountingProxy {
    /// Starts the proxy to `upstream`.
    pub async fn start(upstream: &str) -> CountingProxy {
        let client = reqwest::Client::new();
        let calls: Arc<Mutex<Vec<AwsCall>>> = Arc::default();
        let upstream = upstream.to_string();
        let recorded = calls.clone();
        let dynamo_lock = Arc::new(tokio::sync::Mutex::new(()));
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let (client, upstream, calls) =
                    (client.clone(), upstream.clone(), recorded.clone());
                let dynamo_lock = dynamo_lock.clone();
                async move {
                    let target = headers
                        .get("x-amz-target")
                        .and_then(|t| t.to_str().ok())
                        .unwrap_or("?");
                    let dynamodb = target.starts_with("DynamoDB_");
                    let op = target.rsplit('.').next().unwrap_or("?").to_string();
                    let index = {
                        let mut calls = calls.lock().unwrap();
                        calls.push(AwsCall {
                            op,
                            resource: resource(&body),
                            status: 0,
                            body: serde_json::from_slice(&body).unwrap_or_default(),
                        });
                        calls.len() - 1
                    };
                    let url = format!(
                        "{upstream}{}",
                        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
                    );
                    let mut req = client.request(method, url).body(body);
                    for (k, v) in &headers {
                        if k != axum::http::header::HOST {
                            req = req.header(k, v);
                        }
                    }
                    // moto does not isolate concurrent DynamoDB
                    // transactions (see docs/testing.md): one at a time.
                    let _one = if dynamodb {
                        Some(dynamo_lock.lock().await)
                    } else {
                        None
                    };
                    match req.send().await {
                        Ok(r) => {
                            calls.lock().unwrap()[index].status = r.status().as_u16();
                            let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
                            let mut out = HeaderMap::new();
                            for (k, v) in r.headers() {
                                if k != axum::http::header::CONTENT_LENGTH
                                    && k != axum::http::header::TRANSFER_ENCODING
                                {
                                    out.insert(k.clone(), v.clone());
                                }
                            }
                            (status, out, r.bytes().await.unwrap_or_default())
                        }
                        Err(e) => (
                            StatusCode::BAD_GATEWAY,
                            HeaderMap::new(),
                            axum::body::Bytes::from(e.to_string()),
                        ),
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        CountingProxy { endpoint, calls }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<AwsCall> {
        self.calls.lock().unwrap().clone()
    }
}
