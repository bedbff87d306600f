//! The SaaS over HTTP: the health probe the status monitor uses, and the
//! embedded simulator started when no real SaaS is configured.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use mediator_core::{HealthProbe, SaasSubmitter, SubmitOutcome};

/// The SaaS URLs of a part whose configuration names none: `{base}/saas/{part}/status`
/// and `{base}/saas/{part}/submit` (`base` without a trailing slash).
pub fn default_urls(base: &str, part: &str) -> (String, String) {
    (
        format!("{base}/saas/{part}/status"),
        format!("{base}/saas/{part}/submit"),
    )
}

/// Checks each part with `GET` on its status URL: any 2xx is healthy.
pub struct HttpProbe {
    client: reqwest::Client,
    urls: HashMap<String, String>,
}

impl HttpProbe {
    /// A probe of `urls` (part → status URL); each check is bounded by
    /// `timeout` (the monitor bounds it by the part's check timeout too).
    pub fn new(urls: HashMap<String, String>, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .pool_max_idle_per_host(4)
                .build()?,
            urls,
        })
    }
}

#[async_trait]
impl HealthProbe for HttpProbe {
    async fn check(&self, part: &str) -> Result<(), String> {
        let Some(url) = self.urls.get(part) else {
            return Err(format!("no status URL for part {part:?}"));
        };
        match self.client.get(url).send().await {
            Ok(res) if res.status().is_success() => Ok(()),
            Ok(res) => Err(format!("HTTP {}", res.status().as_u16())),
            Err(e) if e.is_timeout() => Err("timed out".into()),
            Err(e) if e.is_connect() => Err("connection refused".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Submits vouchers with `POST` of the voucher JSON to their part's submit
/// URL: 2xx accepted; 4xx refused (except 408 and 429, which are
/// transient); 5xx, timeout or no connection unavailable.
pub struct HttpSubmitter {
    client: reqwest::Client,
    urls: HashMap<String, (String, Duration)>,
}

impl HttpSubmitter {
    /// A submitter to `urls` (part → submit URL and the time one call may take).
    pub fn new(urls: HashMap<String, (String, Duration)>) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                // Resubmission runs up to 256 calls at once per part: keep
                // their connections rather than reopening them.
                .pool_max_idle_per_host(256)
                .build()?,
            urls,
        })
    }
}

/// Header carrying the voucher's `loyalty_request_id` on every submission.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

#[async_trait]
impl SaasSubmitter for HttpSubmitter {
    async fn submit(&self, part: &str, body: &serde_json::Value) -> SubmitOutcome {
        let Some((url, timeout)) = self.urls.get(part) else {
            return SubmitOutcome::Unavailable {
                reason: format!("no submit URL for part {part:?}"),
            };
        };
        let mut req = self.client.post(url).timeout(*timeout).json(body);
        // The voucher's id is its idempotency key: a SaaS that honours the
        // header absorbs the one resend a crash can cause (between its
        // answer and our recording it).
        if let Some(id) = body.get("loyalty_request_id").and_then(|v| v.as_str()) {
            req = req.header(IDEMPOTENCY_KEY, id);
        }
        match req.send().await {
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
