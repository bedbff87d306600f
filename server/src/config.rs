//! Command line, environment and configuration file, merged into [`Settings`].
//!
//! Precedence, highest first: command-line flag, environment variable,
//! configuration file (`--config`), built-in default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use mediator_core::PartName;
use serde::Deserialize;

/// Vendor Mediator: forwards requests to a third-party SaaS without losing
/// any during its outages, and serves the support console.
#[derive(Debug, Parser)]
#[command(name = "mediator", version)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of `serve`, the default command.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the mediator and its console (the default when no command is given).
    Serve(Box<ServeArgs>),
    /// Test whether an event matches an EventBridge event pattern; prints
    /// `true` or `false`. An invalid pattern exits with status 2.
    TestEventPattern(TestEventPatternArgs),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Options of `mediator serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:3000]
    #[arg(long, env = "MEDIATOR_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Address of the embedded EventBridge's own API (AWS JSON 1.1, for
    /// `aws events --endpoint-url`, boto3, aws-sdk-eventbridge); never the
    /// console's port [default: 127.0.0.1:4010]
    #[arg(long, env = "MEDIATOR_EVENTS_LISTEN", value_name = "ADDR")]
    pub events_listen: Option<SocketAddr>,

    /// Directory for the embedded database; created if missing
    /// [default: ./data]
    #[arg(long, env = "MEDIATOR_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Address of the simulated SaaS, started when no --saas-url is given
    /// [default: 127.0.0.1:3100]
    #[arg(long, env = "MEDIATOR_SIM_LISTEN", value_name = "ADDR")]
    pub sim_listen: Option<SocketAddr>,

    /// Base URL of the real SaaS (`{url}/saas/{part}/status`,
    /// `{url}/saas/{part}/submit`); when set, no simulator is started
    #[arg(long, env = "MEDIATOR_SAAS_URL", value_name = "URL")]
    pub saas_url: Option<String>,

    /// Seconds between two health checks of each part [default: 15]
    #[arg(long, env = "MEDIATOR_POLL_INTERVAL", value_name = "SECS")]
    pub poll_interval: Option<f64>,

    /// Directory holding the built site (`pkg/` with the wasm bundle, and
    /// the public assets). `cargo leptos build` writes it to target/site
    /// [default: target/site]
    #[arg(long, env = "LEPTOS_SITE_ROOT", value_name = "DIR")]
    pub site_root: Option<PathBuf>,

    /// SaaS parts to watch, comma-separated [default: voucher,member,points]
    #[arg(
        long,
        env = "MEDIATOR_PARTS",
        value_name = "NAMES",
        value_delimiter = ','
    )]
    pub parts: Option<Vec<String>>,

    /// Seconds a console or API request may take before it is answered with
    /// 408 [default: 30]
    #[arg(long, env = "MEDIATOR_REQUEST_TIMEOUT", value_name = "SECS")]
    pub request_timeout: Option<u64>,

    /// Log format [default: human]
    #[arg(long, env = "MEDIATOR_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// Seconds a voucher submission to the SaaS may take before it counts
    /// as unavailable (retry) [default: 10]
    #[arg(long, env = "MEDIATOR_SUBMIT_TIMEOUT", value_name = "SECS")]
    pub submit_timeout: Option<f64>,

    /// Seconds added before an outage's start and after its end when its
    /// window is replayed [default: 60]
    #[arg(long, env = "MEDIATOR_REPLAY_MARGIN", value_name = "SECS")]
    pub replay_margin: Option<f64>,

    /// Replayed events resubmitted per second and part, at most [default: 50]
    #[arg(long, env = "MEDIATOR_RESUBMIT_RATE", value_name = "PER_SEC")]
    pub resubmit_rate: Option<f64>,

    /// Replayed events resubmitted at once per part, at most [default: 4]
    #[arg(long, env = "MEDIATOR_RESUBMIT_CONCURRENCY", value_name = "N")]
    pub resubmit_concurrency: Option<usize>,

    /// Seconds between two sweeps for held vouchers no replay covered
    /// (late archiving, a crash, a cancelled replay) [default: 60]
    #[arg(long, env = "MEDIATOR_SWEEP_INTERVAL", value_name = "SECS")]
    pub sweep_interval: Option<f64>,

    /// Failed SaaS calls (5xx, timeout, no connection) after which a voucher
    /// is dead-lettered; a redrive starts the count again [default: 5]
    #[arg(long, env = "MEDIATOR_MAX_ATTEMPTS", value_name = "N")]
    pub max_attempts: Option<u32>,

    /// TOML configuration file; its keys are the long option names with `_`
    /// for `-` (listen, events_listen, sim_listen, saas_url, poll_interval, data_dir, site_root, parts, request_timeout,
    /// log_format, submit_timeout, replay_margin, resubmit_rate, resubmit_concurrency,
    /// sweep_interval, max_attempts).
    /// Flags and environment variables override it.
    #[arg(long, env = "MEDIATOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Options of `mediator test-event-pattern`.
#[derive(Debug, Clone, Args)]
pub struct TestEventPatternArgs {
    /// The event pattern: JSON text, or @FILE to read it from a file
    #[arg(long, value_name = "JSON|@FILE")]
    pub event_pattern: String,
    /// The event (with the EventBridge envelope): JSON text, or @FILE
    #[arg(long, value_name = "JSON|@FILE")]
    pub event: String,
}

/// The configuration file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub events_listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub sim_listen: Option<SocketAddr>,
    pub saas_url: Option<String>,
    pub poll_interval: Option<f64>,
    pub site_root: Option<PathBuf>,
    pub parts: Option<Vec<String>>,
    pub request_timeout: Option<u64>,
    pub log_format: Option<LogFormat>,
    pub submit_timeout: Option<f64>,
    pub replay_margin: Option<f64>,
    pub resubmit_rate: Option<f64>,
    pub resubmit_concurrency: Option<usize>,
    pub sweep_interval: Option<f64>,
    pub max_attempts: Option<u32>,
}

/// Everything `serve` needs, fully resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Address of the EventBridge wire API.
    pub events_listen: SocketAddr,
    /// Directory of the embedded database.
    pub data_dir: PathBuf,
    /// Built site directory (wasm bundle, CSS, public assets).
    pub site_root: PathBuf,
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
    /// Log format.
    pub log_format: LogFormat,
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
}

fn seconds(field: &str, v: f64, min: f64, max: f64) -> anyhow::Result<Duration> {
    if !(v.is_finite() && (min..=max).contains(&v)) {
        anyhow::bail!("{field}: must be between {min} and {max} seconds, got {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

impl Settings {
    /// Resolves flags and environment (already in `args`) over the optional
    /// configuration file and the defaults.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file_config(path)?,
            None => FileConfig::default(),
        };
        let parts = match args.parts.or(file.parts) {
            Some(names) => parse_parts(&names)?,
            None => PartName::defaults(),
        };
        let poll_secs = args.poll_interval.or(file.poll_interval).unwrap_or(15.0);
        if !(poll_secs.is_finite() && (0.05..=86_400.0).contains(&poll_secs)) {
            anyhow::bail!("poll_interval: must be between 0.05 and 86400 seconds, got {poll_secs}");
        }
        let poll_interval = Duration::from_secs_f64(poll_secs);
        let request_timeout = args.request_timeout.or(file.request_timeout).unwrap_or(30);
        if request_timeout == 0 {
            anyhow::bail!("request_timeout: must be at least 1 second");
        }
        let submit_timeout = seconds(
            "submit_timeout",
            args.submit_timeout.or(file.submit_timeout).unwrap_or(10.0),
            0.05,
            300.0,
        )?;
        let replay_margin = seconds(
            "replay_margin",
            args.replay_margin.or(file.replay_margin).unwrap_or(60.0),
            0.0,
            86_400.0,
        )?;
        let resubmit_rate = args.resubmit_rate.or(file.resubmit_rate).unwrap_or(50.0);
        if !(resubmit_rate.is_finite() && (0.01..=100_000.0).contains(&resubmit_rate)) {
            anyhow::bail!(
                "resubmit_rate: must be between 0.01 and 100000 per second, got {resubmit_rate}"
            );
        }
        let resubmit_concurrency = args
            .resubmit_concurrency
            .or(file.resubmit_concurrency)
            .unwrap_or(4);
        if !(1..=256).contains(&resubmit_concurrency) {
            anyhow::bail!(
                "resubmit_concurrency: must be between 1 and 256, got {resubmit_concurrency}"
            );
        }
        let sweep_interval = seconds(
            "sweep_interval",
            args.sweep_interval.or(file.sweep_interval).unwrap_or(60.0),
            0.05,
            86_400.0,
        )?;
        let max_attempts = args.max_attempts.or(file.max_attempts).unwrap_or(5);
        if !(1..=1000).contains(&max_attempts) {
            anyhow::bail!("max_attempts: must be between 1 and 1000, got {max_attempts}");
        }
        let settings = Settings {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000))),
            events_listen: args
                .events_listen
                .or(file.events_listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 4010))),
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("data")),
            site_root: args
                .site_root
                .or(file.site_root)
                .unwrap_or_else(|| PathBuf::from("target/site")),
            parts,
            sim_listen: args
                .sim_listen
                .or(file.sim_listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3100))),
            saas_url: match args.saas_url.or(file.saas_url) {
                Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                    anyhow::bail!("saas_url: must start with http:// or https://, got {u:?}")
                }
                other => other.map(|u| u.trim_end_matches('/').to_owned()),
            },
            poll_interval,
            request_timeout: Duration::from_secs(request_timeout),
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Human),
            submit_timeout,
            replay_margin,
            resubmit_rate,
            resubmit_concurrency,
            sweep_interval,
            max_attempts,
        };
        if settings.events_listen == settings.listen && settings.listen.port() != 0 {
            anyhow::bail!(
                "events_listen: must differ from listen ({})",
                settings.listen
            );
        }
        Ok(settings)
    }
}

fn read_file_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("config: cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config: {} is not valid", path.display()))
}

fn parse_parts(names: &[String]) -> anyhow::Result<Vec<PartName>> {
    let mut parts = Vec::with_capacity(names.len());
    for raw in names {
        let name = PartName::parse(raw.trim()).map_err(|e| anyhow::anyhow!("parts: {e}"))?;
        if parts.contains(&name) {
            anyhow::bail!("parts: {name:?} is listed twice");
        }
        parts.push(name);
    }
    if parts.is_empty() {
        anyhow::bail!("parts: at least one part is required");
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_without_anything() {
        let s = Settings::resolve(ServeArgs::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(s.events_listen.to_string(), "127.0.0.1:4010");
        assert_eq!(s.data_dir, PathBuf::from("data"));
        assert_eq!(s.site_root, PathBuf::from("target/site"));
        let parts: Vec<_> = s.parts.iter().map(|p| p.to_string()).collect();
        assert_eq!(parts, ["voucher", "member", "points"]);
        assert_eq!(s.log_format, LogFormat::Human);
    }

    #[test]
    fn flags_override_file() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            tmp.path(),
            "listen = \"127.0.0.1:4000\"\ndata_dir = \"/tmp/x\"\nparts = [\"a\", \"b\"]\nlog_format = \"json\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            listen: Some("127.0.0.1:5000".parse().unwrap()),
            config: Some(tmp.path().to_path_buf()),
            ..Default::default()
        };
        let s = Settings::resolve(args).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:5000");
        assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(s.parts.len(), 2);
        assert_eq!(s.log_format, LogFormat::Json);
    }

    #[test]
    fn bad_config_names_the_field() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), "listen = 12\n").unwrap();
        let err = Settings::resolve(ServeArgs {
            config: Some(tmp.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("listen"), "{err:#}");

        let err = Settings::resolve(ServeArgs {
            parts: Some(vec!["voucher".into(), "Bad Name".into()]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("parts: invalid part name \"Bad Name\""),
            "{err}"
        );

        let err = Settings::resolve(ServeArgs {
            parts: Some(vec!["a".into(), "a".into()]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
    }

    #[test]
    fn serve_flags_work_without_the_subcommand() {
        let cli = Cli::try_parse_from(["mediator", "--listen", "127.0.0.1:9"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.listen.unwrap().port(), 9);
        let cli = Cli::try_parse_from(["mediator", "serve", "--data-dir", "d"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Serve(a)) if a.data_dir == Some("d".into())));
    }
}
