//! The configuration file (`--config`, TOML): serde, every key optional,
//! unknown keys refused.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use super::choices::{Backend, Durability, LogFormat};
use crate::auth::{AuthMode, CookieSecure};

/// The configuration file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub backend: Option<Backend>,
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub listen: Option<SocketAddr>,
    pub events_listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub sim_listen: Option<SocketAddr>,
    pub saas_url: Option<String>,
    pub poll_interval: Option<f64>,
    pub site_root: Option<PathBuf>,
    /// A list of part names, or a table of `[parts.<name>]` tables.
    pub parts: Option<toml::Value>,
    pub request_timeout: Option<u64>,
    pub header_read_timeout: Option<f64>,
    pub idle_timeout: Option<f64>,
    pub max_connections: Option<usize>,
    pub max_stream_subscribers: Option<usize>,
    pub log_format: Option<LogFormat>,
    pub durability: Option<Durability>,
    pub submit_timeout: Option<f64>,
    pub replay_margin: Option<f64>,
    pub resubmit_rate: Option<f64>,
    pub resubmit_concurrency: Option<usize>,
    pub sweep_interval: Option<f64>,
    pub max_attempts: Option<u32>,
    pub demo_rate: Option<f64>,
    pub frame_ancestors: Option<String>,
    pub cors_origins: Option<String>,
    pub events_allow_remote: Option<bool>,
    pub events_access_keys: Option<String>,
    pub events_allowed_hosts: Option<String>,
    pub events_request_timeout: Option<f64>,
    pub events_max_connections: Option<usize>,
    pub events_allow_private_destinations: Option<bool>,
    pub auth: Option<AuthMode>,
    pub cookie_secure: Option<CookieSecure>,
    pub private_embeds: Option<bool>,
    pub trusted_proxies: Option<String>,
    pub proxy_user_header: Option<String>,
    pub proxy_groups_header: Option<String>,
    pub proxy_roles: Option<String>,
    pub allowed_hosts: Option<String>,
    pub audit_retention_days: Option<u32>,
    /// `[notify]` and its `[notify.channels.<name>]` tables.
    pub notify: Option<toml::Value>,
}

/// Reads and parses the file; errors name it.
pub(super) fn read_file_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("config: cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config: {} is not valid", path.display()))
}
