//! [`Settings`]: everything `serve` needs, resolved from flags and
//! environment over the file and the defaults (and the few file values
//! `user` and `token` read).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mediator_core::{PartName, PartSettings};

use super::checks::{
    http_url, AUDIT_RETENTION_DAYS, DEMO_RATE, MAX_ATTEMPTS, POLL_INTERVAL, REPLAY_MARGIN,
    RESUBMIT_CONCURRENCY, RESUBMIT_RATE, SUBMIT_TIMEOUT, SWEEP_INTERVAL,
};
use super::choices::{Backend, Durability, LogFormat};
use super::cli::{ServeArgs, StoreArgs};
use super::file::{read_file_config, FileConfig};
use super::listeners::Listeners;
use super::parts::{parse_parts, resolve_parts, split_file_parts, PartDefaults};

/// Everything `serve` needs, fully resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the bus, queues and shared state live.
    pub backend: Backend,
    /// How to reach AWS (used with [`Backend::Aws`]).
    pub aws: aws_backend::AwsSettings,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Address of the EventBridge wire API.
    pub events_listen: SocketAddr,
    /// Directory of the embedded database.
    pub data_dir: PathBuf,
    /// Built site directory (wasm bundle, CSS, public assets) given with
    /// `--site-root`; `None`: the site built into the binary, or
    /// `target/site` when it has none ([`crate::site::Site::choose`]).
    pub site_root: Option<PathBuf>,
    /// Leptos's settings from the `LEPTOS_*` environment (see
    /// [`super::leptos`]).
    pub leptos: leptos::config::LeptosOptions,
    /// The SaaS parts, in display order.
    pub parts: Vec<PartName>,
    /// Address of the simulated SaaS (used when `saas_url` is `None`).
    pub sim_listen: SocketAddr,
    /// Base URL of the real SaaS, if configured.
    pub saas_url: Option<String>,
    /// Time between two health checks of each part.
    pub poll_interval: Duration,
    /// Per-request time limit.
    pub request_timeout: Duration,
    /// Header-read and idle timeouts and the connection cap of the
    /// console's listener (the simulated SaaS's too).
    pub connections: crate::serve::Limits,
    /// Open change streams at most.
    pub max_stream_subscribers: usize,
    /// Log format.
    pub log_format: LogFormat,
    /// What an acknowledged write survives.
    pub durability: Durability,
    /// Limit of one voucher submission to the SaaS.
    pub submit_timeout: Duration,
    /// Margin around an outage's replay window.
    pub replay_margin: Duration,
    /// Replayed events resubmitted per second and part, at most.
    pub resubmit_rate: f64,
    /// Replayed events resubmitted at once per part, at most.
    pub resubmit_concurrency: usize,
    /// Time between two sweeps for held vouchers no replay covered.
    pub sweep_interval: Duration,
    /// Failed SaaS calls before a voucher is dead-lettered.
    pub max_attempts: u32,
    /// Demo vouchers submitted per second, when the demo traffic is on.
    pub demo_rate: Option<f64>,
    /// CSP `frame-ancestors` sources allowed to frame the embeds (besides 'self').
    pub frame_ancestors: Vec<String>,
    /// Origins allowed by CORS on the read-only JSON (`*`: any).
    pub cors_origins: Vec<String>,
    /// Whether the EventBridge wire API may listen beyond loopback.
    pub events_allow_remote: bool,
    /// Keys whose SigV4 signatures the EventBridge wire API accepts (empty:
    /// signatures are not checked).
    pub events_access_keys: crate::events_api::AccessKeys,
    /// Extra `Host` names the EventBridge wire API accepts (lower case).
    pub events_allowed_hosts: Vec<String>,
    /// Per-request time limit of the EventBridge wire API.
    pub events_request_timeout: Duration,
    /// The EventBridge wire API's listener limits (timeouts as the
    /// console's, its own connection cap).
    pub events_connections: crate::serve::Limits,
    /// Whether API destinations may call loopback, link-local and private
    /// addresses.
    pub events_allow_private_destinations: bool,
    /// Sign-in: mode, cookies, trusted proxies and the proxy mode's headers.
    pub auth: crate::auth::AuthSettings,
    /// How long audit entries are kept.
    pub audit_retention: Duration,
    /// Each part's settings, in the order of `parts`: the global values
    /// above, overridden by the part's `[parts.<name>]` table. A `None`
    /// status or submit URL is the simulated SaaS's.
    pub part_settings: Vec<PartSettings>,
    /// Notification channels and their delivery settings (`[notify]`).
    pub notify: super::NotifyConfig,
}

impl Settings {
    /// Resolves flags and environment (already in `args`) over the optional
    /// configuration file and the defaults.
    pub fn resolve(mut args: ServeArgs) -> anyhow::Result<Self> {
        let mut file = match &args.config {
            Some(path) => read_file_config(path)?,
            None => FileConfig::default(),
        };
        let (file_names, tables) = split_file_parts(file.parts.take())?;
        let parts = match args.parts.take().or(file_names) {
            Some(names) => parse_parts(&names)?,
            None => PartName::defaults(),
        };
        let poll_interval = POLL_INTERVAL.check(
            "poll_interval",
            args.poll_interval.or(file.poll_interval).unwrap_or(15.0),
        )?;
        let listeners = Listeners::resolve(&args, &file)?;
        let submit_timeout = SUBMIT_TIMEOUT.check(
            "submit_timeout",
            args.submit_timeout.or(file.submit_timeout).unwrap_or(10.0),
        )?;
        let replay_margin = REPLAY_MARGIN.check(
            "replay_margin",
            args.replay_margin.or(file.replay_margin).unwrap_or(60.0),
        )?;
        let resubmit_rate = RESUBMIT_RATE.check(
            "resubmit_rate",
            args.resubmit_rate.or(file.resubmit_rate).unwrap_or(50.0),
        )?;
        let resubmit_concurrency = RESUBMIT_CONCURRENCY.check(
            "resubmit_concurrency",
            args.resubmit_concurrency
                .or(file.resubmit_concurrency)
                .unwrap_or(4),
        )?;
        let sweep_interval = SWEEP_INTERVAL.check(
            "sweep_interval",
            args.sweep_interval.or(file.sweep_interval).unwrap_or(60.0),
        )?;
        let max_attempts = MAX_ATTEMPTS.check(
            "max_attempts",
            args.max_attempts.or(file.max_attempts).unwrap_or(5),
        )?;
        let demo_rate = match args.demo_rate.or(file.demo_rate) {
            Some(r) => Some(DEMO_RATE.check("demo_rate", r)?),
            None => None,
        };
        let frame_ancestors: Vec<String> = args
            .frame_ancestors
            .or(file.frame_ancestors)
            .unwrap_or_else(|| "'self'".into())
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        for f in &frame_ancestors {
            crate::embed::valid_frame_ancestor(f)
                .map_err(|reason| anyhow::anyhow!("frame_ancestors: {reason}"))?;
        }
        let cors_origins: Vec<String> = args
            .cors_origins
            .or(file.cors_origins)
            .unwrap_or_else(|| "*".into())
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('/').to_owned())
            .collect();
        for o in &cors_origins {
            let origin_ok = o == "*"
                || (o.starts_with("http://") || o.starts_with("https://"))
                    && !o
                        .split_once("://")
                        .is_some_and(|(_, h)| h.is_empty() || h.contains('/'));
            if !origin_ok {
                anyhow::bail!(
                    "cors_origins: {o:?} is not * or an origin like https://portal.example.com"
                );
            }
        }
        let saas_url = match args.saas_url.or(file.saas_url) {
            Some(u) => Some(http_url("saas_url", &u)?.trim_end_matches('/').to_owned()),
            None => None,
        };
        let global = PartDefaults {
            saas_url: saas_url.clone(),
            poll_interval,
            submit_timeout,
            replay_margin,
            resubmit_rate,
            resubmit_concurrency,
        };
        let part_settings = resolve_parts(&parts, &global, tables)?;
        let part_names: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
        let notify = super::notify::resolve_notify(file.notify.take(), &part_names)?;
        let backend = args.backend.or(file.backend).unwrap_or_default();
        let aws = aws_backend::AwsSettings {
            region: args.region.or(file.region),
            endpoint_url: args.endpoint_url.or(file.endpoint_url),
            max_attempts: None,
        };
        if backend == Backend::Aws {
            aws_backend::check_retry_environment().map_err(anyhow::Error::msg)?;
        }
        if let Some(url) = &aws.endpoint_url {
            let parsed: axum::http::Uri = url
                .parse()
                .map_err(|e| anyhow::anyhow!("endpoint_url: not a URL ({e}): {url}"))?;
            if !matches!(parsed.scheme_str(), Some("http" | "https")) {
                anyhow::bail!("endpoint_url: must be http:// or https://, got {url}");
            }
        }
        let (leptos, leptos_addr_given) = super::leptos::from_env()?;
        let listen = args
            .listen
            .or(file.listen)
            .or(leptos_addr_given.then_some(leptos.site_addr))
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)));
        let allowed_hosts = match args.allowed_hosts.or(file.allowed_hosts) {
            Some(h) => crate::auth::parse_allowed_hosts(&h)?,
            None => crate::auth::default_allowed_hosts(Some(listen.ip())),
        };
        let audit_retention_days = AUDIT_RETENTION_DAYS.check(
            "audit_retention_days",
            args.audit_retention_days
                .or(file.audit_retention_days)
                .unwrap_or(365),
        )?;
        let settings = Settings {
            backend,
            aws,
            listen,
            events_listen: args
                .events_listen
                .or(file.events_listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 4010))),
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("data")),
            site_root: args.site_root.or(file.site_root),
            leptos,
            parts,
            sim_listen: args
                .sim_listen
                .or(file.sim_listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3100))),
            saas_url,
            poll_interval,
            request_timeout: listeners.request_timeout,
            connections: listeners.connections,
            max_stream_subscribers: listeners.max_stream_subscribers,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Human),
            durability: args
                .durability
                .or(file.durability)
                .unwrap_or(Durability::Full),
            submit_timeout,
            replay_margin,
            resubmit_rate,
            resubmit_concurrency,
            sweep_interval,
            max_attempts,
            demo_rate,
            frame_ancestors,
            cors_origins,
            events_allow_remote: args.events_allow_remote
                || file.events_allow_remote.unwrap_or(false),
            events_access_keys: match args.events_access_keys.or(file.events_access_keys) {
                Some(k) => crate::events_api::AccessKeys::parse(&k)
                    .map_err(|reason| anyhow::anyhow!("events_access_keys: {reason}"))?,
                None => crate::events_api::AccessKeys::default(),
            },
            events_allowed_hosts: listeners.events_allowed_hosts,
            events_request_timeout: listeners.events_request_timeout,
            events_connections: listeners.events_connections,
            events_allow_private_destinations: args.events_allow_private_destinations
                || file.events_allow_private_destinations.unwrap_or(false),
            auth: crate::auth::AuthSettings {
                private_embeds: args.private_embeds || file.private_embeds.unwrap_or(false),
                allowed_hosts,
                ..crate::auth::AuthSettings::resolve(
                    args.auth.or(file.auth),
                    args.cookie_secure.or(file.cookie_secure),
                    args.trusted_proxies.or(file.trusted_proxies).as_deref(),
                    args.proxy_user_header.or(file.proxy_user_header),
                    args.proxy_groups_header.or(file.proxy_groups_header),
                    args.proxy_roles.or(file.proxy_roles).as_deref(),
                )?
            },
            audit_retention: Duration::from_secs(u64::from(audit_retention_days) * 86_400),
            part_settings,
            notify,
        };
        if !settings.events_listen.ip().is_loopback() && !settings.events_allow_remote {
            anyhow::bail!(
                "events_listen: {} is not a loopback address; the EventBridge API can change \
                 rules and start replays, so serving it beyond this machine must be explicit: \
                 add --events-allow-remote and --events-access-keys",
                settings.events_listen
            );
        }
        if !settings.events_listen.ip().is_loopback() && settings.events_access_keys.is_empty() {
            anyhow::bail!(
                "events_access_keys: required when events_listen ({}) is not a loopback \
                 address; without keys anyone who reaches the EventBridge API could change \
                 rules and start replays (set MEDIATOR_EVENTS_ACCESS_KEYS=ID:SECRET)",
                settings.events_listen
            );
        }
        // A console request that submits a voucher waits for the SaaS call;
        // the call must end well inside the request's limit, so the answer
        // (and the outcome, recorded either way) is not cut off by a 408.
        for p in &settings.part_settings {
            if p.submit_timeout * 2 > settings.request_timeout {
                let field = if p.submit_timeout == settings.submit_timeout {
                    "submit_timeout".to_owned()
                } else {
                    format!("parts.{}.submit_timeout", p.name)
                };
                anyhow::bail!(
                    "{field}: {} s must be at most half of request_timeout ({} s), so a \
                     submission ends well before the request that waits for it",
                    p.submit_timeout.as_secs_f64(),
                    settings.request_timeout.as_secs()
                );
            }
        }
        if settings.events_listen == settings.listen && settings.listen.port() != 0 {
            anyhow::bail!(
                "events_listen: must differ from listen ({})",
                settings.listen
            );
        }
        Ok(settings)
    }
}

impl Settings {
    /// Whether the simulated SaaS must run: some part has no status or
    /// submit URL of its own and no `saas_url` gives one.
    pub fn needs_simulator(&self) -> bool {
        self.part_settings
            .iter()
            .any(|p| p.status_url.is_none() || p.submit_url.is_none())
    }

    /// The longest submit timeout of any part (bounds a claim's lease).
    pub fn longest_submit_timeout(&self) -> Duration {
        self.part_settings
            .iter()
            .map(|p| p.submit_timeout)
            .max()
            .unwrap_or(self.submit_timeout)
    }
}

impl StoreArgs {
    fn file(&self) -> anyhow::Result<FileConfig> {
        match &self.config {
            Some(path) => read_file_config(path),
            None => Ok(FileConfig::default()),
        }
    }

    /// The data directory: the flag or environment, else the config file's
    /// `data_dir`, else `./data` (as `serve` resolves it).
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(d) = &self.data_dir {
            return Ok(d.clone());
        }
        Ok(self
            .file()?
            .data_dir
            .unwrap_or_else(|| PathBuf::from("data")))
    }

    /// The backend and, for AWS, how to reach it (flags, else the config
    /// file, as `serve` resolves them).
    pub fn backend(&self) -> anyhow::Result<(Backend, aws_backend::AwsSettings)> {
        let file = self.file()?;
        let backend = self.backend.or(file.backend).unwrap_or_default();
        if backend == Backend::Aws {
            aws_backend::check_retry_environment().map_err(anyhow::Error::msg)?;
        }
        Ok((
            backend,
            aws_backend::AwsSettings {
                region: self.region.clone().or(file.region),
                endpoint_url: self.endpoint_url.clone().or(file.endpoint_url),
                max_attempts: None,
            },
        ))
    }
}
