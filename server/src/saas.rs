//! The SaaS over HTTP: the health probe the status monitor uses, and the
//! embedded simulator started when no real SaaS is configured.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use mediator_core::{HealthProbe, SaasSubmitter, SubmitOutcome};

/// Checks `GET {base}/saas/{part}/status`: any 2xx is healthy.
pub struct HttpProbe {
    client: reqwest::Client,
    base: String,
}

impl HttpProbe {
    /// A probe against `base` (no trailing slash).
    pub fn new(base: impl Into<String>, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .pool_max_idle_per_host(4)
                .build()?,
            base: base.into(),
        })
    }
}

#[async_trait]
impl HealthProbe for HttpProbe {
    async fn check(&self, part: &str) -> Result<(), String> {
        let url = format!("{}/saas/{part}/status", self.base);
        match self.client.get(&url).send().await {
            Ok(res) if res.status().is_success() => Ok(()),
            Ok(res) => Err(format!("HTTP {}", res.status().as_u16())),
            Err(e) if e.is_timeout() => Err("timed out".into()),
            Err(e) if e.is_connect() => Err("connection refused".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Submits vouchers with `POST {base}/saas/{part}/submit` (the voucher
/// JSON): 2xx accepted; 4xx refused (except 408 and 429, which are
/// transient); 5xx, timeout or no connection unavailable.
pub struct HttpSubmitter {
    client: reqwest::Client,
    base: String,
}

impl HttpSubmitter {
    /// A submitter against `base` (no trailing slash); each call is bounded by `timeout`.
    pub fn new(base: impl Into<String>, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .pool_max_idle_per_host(16)
                .build()?,
            base: base.into(),
        })
    }
}

#[async_trait]
impl SaasSubmitter for HttpSubmitter {
    async fn submit(&self, part: &str, body: &serde_json::Value) -> SubmitOutcome {
        let url = format!("{}/saas/{part}/submit", self.base);
        match self.client.post(&url).json(body).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                if res.status().is_success() {
                    return SubmitOutcome::Accepted { status };
                }
                let mut reason = res.text().await.unwrap_or_default();
                reason.truncate(200);
                if res_is_client_error(status) {
                    SubmitOutcome::Rejected { status, reason }
                } else {
                    SubmitOutcome::Unavailable {
                        reason: format!("HTTP {status} {reason}"),
                    }
                }
            }
            Err(e) if e.is_timeout() => SubmitOutcome::Unavailable {
                reason: "timed out".into(),
            },
            Err(e) if e.is_connect() => SubmitOutcome::Unavailable {
                reason: "connection refused".into(),
            },
            Err(e) => SubmitOutcome::Unavailable {
                reason: e.to_string(),
            },
        }
    }
}

/// A 4xx that will not change on retry (408 and 429 will).
fn res_is_client_error(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

/// The simulator's bound listener, before it serves.
pub struct SimListener {
    pub(crate) listener: tokio::net::TcpListener,
    pub(crate) sim: saas_sim::Simulator,
    pub(crate) addr: SocketAddr,
}

impl SimListener {
    /// Binds the simulator for `parts`.
    pub async fn bind(addr: SocketAddr, parts: &[String]) -> anyhow::Result<Self> {
        use anyhow::Context;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("sim_listen: cannot bind {addr}"))?;
        Ok(Self {
            addr: listener.local_addr()?,
            listener,
            sim: saas_sim::Simulator::new(parts.iter().cloned()),
        })
    }
}
