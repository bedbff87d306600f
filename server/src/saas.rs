//! The SaaS over HTTP: the health probe the status monitor uses, and the
//! embedded simulator started when no real SaaS is configured.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use mediator_core::HealthProbe;

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
