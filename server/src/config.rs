//! Command line, environment and configuration file, merged into [`Settings`].
//!
//! Precedence, highest first: command-line flag, environment variable,
//! configuration file (`--config`), built-in default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use mediator_core::{PartName, PartSettings};
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
    /// Create or update, idempotently, the mediator's cloud resources (AWS:
    /// the bus, one archive per part, the rules, the SQS queues with their
    /// dead-letter queues); prints one line per resource: create, update or
    /// unchanged. The embedded backend provisions itself at start-up.
    Provision(ProvisionArgs),
    /// Manage the local users who sign in to the console (`--auth local`).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens (`Authorization: Bearer <token>`) for scripts.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// Where `user` and `token` find the database.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory of the embedded database, as for `serve` [default: ./data,
    /// or data_dir from the --config file]
    #[arg(long, env = "MEDIATOR_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The same TOML configuration file as `serve` (only data_dir, backend,
    /// endpoint_url and region are read)
    #[arg(long, env = "MEDIATOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where users, tokens and the audit log live: `embedded` (the data
    /// directory's database) or `aws` (the DynamoDB tables every replica
    /// shares) [default: embedded, or backend from the --config file]
    #[arg(long, env = "MEDIATOR_BACKEND", value_enum)]
    pub backend: Option<Backend>,
    /// With --backend aws: endpoint of every AWS service, for emulators
    /// such as moto [default: AWS's own]
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// With --backend aws: the AWS region [default: from AWS_REGION or the
    /// profile]
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

/// `mediator user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is read from the first line of standard
    /// input, or from --password-file; never from the command line.
    Add {
        /// Sign-in name: 1 to 64 letters, digits, '.', '_', '-' or '@'
        name: String,
        /// What the user may do
        #[arg(long, value_parser = ["viewer", "operator", "admin"])]
        role: String,
        /// Read the password from this file's first line instead of stdin
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a user, its sessions and its API tokens.
    Remove {
        /// Sign-in name
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the users and their roles.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `mediator token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token acting as a user, with a role at most the
    /// user's; prints the secret once (only its digest is stored).
    Add {
        /// The user the token acts as
        #[arg(long)]
        user: String,
        /// The token's role [default: the user's role]
        #[arg(long, value_parser = ["viewer", "operator", "admin"])]
        role: Option<String>,
        /// What the token is for (shown by `token list`)
        #[arg(long, default_value = "")]
        label: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke an API token by its id (see `token list`).
    Remove {
        /// Token id
        id: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List API tokens (ids, users, roles, labels; never secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where `serve` keeps its bus, queues and shared state (`--backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// In-process EventBridge (with its wire API) and SQLite: nothing to
    /// set up, one process.
    #[default]
    Embedded,
    /// Amazon EventBridge, SQS and DynamoDB (resources made by `mediator
    /// provision --backend aws`), through the standard AWS credential and
    /// region chain.
    Aws,
}

/// Backends `provision` can set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProvisionBackend {
    /// Amazon EventBridge and SQS, through the standard AWS credential and
    /// region chain (AWS_PROFILE, AWS_REGION, …).
    Aws,
}

/// Options of `mediator provision`.
#[derive(Debug, Clone, Args)]
pub struct ProvisionArgs {
    /// Print the plan without changing anything (only read APIs are called)
    #[arg(long)]
    pub dry_run: bool,
    /// Where to provision
    #[arg(long, value_enum)]
    pub backend: ProvisionBackend,
    /// Endpoint of every AWS service, for emulators such as moto
    /// (e.g. http://127.0.0.1:5000) [default: AWS's own endpoints]
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// AWS region [default: from AWS_REGION or the profile]
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Parts to provision, comma-separated [default: voucher,member,points]
    #[arg(
        long,
        env = "MEDIATOR_PARTS",
        value_name = "NAMES",
        value_delimiter = ','
    )]
    pub parts: Option<Vec<String>>,
    /// The same TOML configuration file as `serve` (parts, their archive
    /// names and retention)
    #[arg(long, env = "MEDIATOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
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

/// What an acknowledged write survives (`--durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every commit fsynced before it is acknowledged: survives power loss.
    Full,
    /// Survives a crash of the process, not of the machine (faster).
    Normal,
}

impl From<Durability> for store::Durability {
    fn from(d: Durability) -> Self {
        match d {
            Durability::Full => Self::Full,
            Durability::Normal => Self::Normal,
        }
    }
}

/// How callers sign in (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No sign-in: every caller is an admin (development and tests).
    None,
    /// Local users (argon2 passwords), sessions and API tokens.
    Local,
    /// A trusted authenticating reverse proxy sets user and groups headers.
    Proxy,
}

/// When session cookies carry the `Secure` attribute (`--cookie-secure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieSecure {
    /// When the request came over HTTPS (per a trusted proxy's `X-Forwarded-Proto`).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Options of `mediator serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:3000]
    #[arg(long, env = "MEDIATOR_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Where the bus, archives, queues and shared state live: `embedded`
    /// (in-process EventBridge and SQLite) or `aws` (EventBridge, SQS and
    /// DynamoDB made by `mediator provision --backend aws`) [default: embedded]
    #[arg(long, env = "MEDIATOR_BACKEND", value_enum)]
    pub backend: Option<Backend>,

    /// With --backend aws: endpoint of every AWS service, for emulators
    /// such as moto (e.g. http://127.0.0.1:5000) [default: AWS's own]
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// With --backend aws: the AWS region [default: from AWS_REGION or the
    /// profile]
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Address of the embedded EventBridge's own API (AWS JSON 1.1, for
    /// `aws events --endpoint-url`, boto3, aws-sdk-eventbridge); never the
    /// console's port [default: 127.0.0.1:4010]
    #[arg(long, env = "MEDIATOR_EVENTS_LISTEN", value_name = "ADDR")]
    pub events_listen: Option<SocketAddr>,

    /// Directory for the embedded database; created if missing
    /// [default: ./data]
    #[arg(long, env = "MEDIATOR_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Address of the simulated SaaS, started unless real SaaS URLs are
    /// configured (--saas-url, or every part's own status_url and
    /// submit_url) [default: 127.0.0.1:3100]
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

    /// Seconds a client has to send a request's headers, from connecting
    /// (or from the next request's first byte); slower senders are
    /// disconnected. Applies to every listener [default: 10]
    #[arg(long, env = "MEDIATOR_HEADER_READ_TIMEOUT", value_name = "SECS")]
    pub header_read_timeout: Option<f64>,

    /// Seconds a kept-alive connection may wait for its next request before
    /// it is closed; every listener [default: 90, above common proxies' 60]
    #[arg(long, env = "MEDIATOR_IDLE_TIMEOUT", value_name = "SECS")]
    pub idle_timeout: Option<f64>,

    /// Open connections on the console's listener at most; beyond, a new
    /// connection is answered 503 and closed [default: 512]
    #[arg(long, env = "MEDIATOR_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Open change streams (`/api/v1/stream`) at most; beyond, 503 with
    /// Retry-After [default: 128]
    #[arg(long, env = "MEDIATOR_MAX_STREAM_SUBSCRIBERS", value_name = "N")]
    pub max_stream_subscribers: Option<usize>,

    /// Log format [default: human]
    #[arg(long, env = "MEDIATOR_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// What an acknowledged voucher or event survives: `full` fsyncs every
    /// commit before answering (survives a power cut or kernel crash);
    /// `normal` survives only a crash of the process [default: full]
    #[arg(long, env = "MEDIATOR_DURABILITY", value_enum)]
    pub durability: Option<Durability>,

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

    /// Demo traffic: synthetic valid vouchers submitted per second, spread
    /// over the parts, through the same submission flow [default: off]
    #[arg(long, env = "MEDIATOR_DEMO_RATE", value_name = "PER_SEC")]
    pub demo_rate: Option<f64>,

    /// Who may frame the embeds (`/embed/...`): CSP `frame-ancestors`
    /// sources separated by spaces or commas, e.g. `https://portal.example.com`;
    /// the console itself always may. Every other page is `'self'` only
    /// [default: 'self']
    #[arg(long, env = "MEDIATOR_FRAME_ANCESTORS", value_name = "SOURCES")]
    pub frame_ancestors: Option<String>,

    /// Origins allowed to read the read-only JSON API and badge JSON from
    /// scripts (CORS), separated by commas; `*` for any [default: *]
    #[arg(long, env = "MEDIATOR_CORS_ORIGINS", value_name = "ORIGINS")]
    pub cors_origins: Option<String>,

    /// Allow `--events-listen` on an address other than loopback: the
    /// EventBridge API can change rules and start replays, so serving it
    /// beyond this machine must be asked for, and needs `--events-access-keys`
    #[arg(long, env = "MEDIATOR_EVENTS_ALLOW_REMOTE")]
    pub events_allow_remote: bool,

    /// Check a SigV4 signature on every EventBridge API request, against
    /// these keys: `ACCESS_KEY_ID:SECRET` pairs separated by commas (prefer
    /// the environment variable or the config file: flags show in `ps`)
    /// [default: none, any credentials accepted]
    #[arg(
        long,
        env = "MEDIATOR_EVENTS_ACCESS_KEYS",
        value_name = "ID:SECRET,...",
        hide_env_values = true
    )]
    pub events_access_keys: Option<String>,

    /// Further names clients may use in the EventBridge API's `Host`
    /// header, comma-separated (e.g. `mediator.internal`); loopback names
    /// and the listen address are always accepted. Other names are refused,
    /// which stops DNS-rebinding pages [default: none]
    #[arg(long, env = "MEDIATOR_EVENTS_ALLOWED_HOSTS", value_name = "NAMES")]
    pub events_allowed_hosts: Option<String>,

    /// Seconds an EventBridge API request may take (body included) before
    /// it is answered 500 InternalException [default: 30]
    #[arg(long, env = "MEDIATOR_EVENTS_REQUEST_TIMEOUT", value_name = "SECS")]
    pub events_request_timeout: Option<f64>,

    /// Open connections on the EventBridge API's listener at most; beyond,
    /// 503 [default: 256]
    #[arg(long, env = "MEDIATOR_EVENTS_MAX_CONNECTIONS", value_name = "N")]
    pub events_max_connections: Option<usize>,

    /// Let API destinations call loopback, link-local (cloud metadata) and
    /// private addresses; without it such an endpoint is refused when
    /// created and when a call resolves to one [default: off]
    #[arg(long, env = "MEDIATOR_EVENTS_ALLOW_PRIVATE_DESTINATIONS")]
    pub events_allow_private_destinations: bool,

    /// Who may use the console and the API: `local` (users and API tokens
    /// in the database, managed with `mediator user` / `mediator token`),
    /// `proxy` (an authenticating reverse proxy sets the user and groups
    /// headers; API tokens still work) or `none` (no sign-in: everyone is an
    /// admin; for development and tests only) [default: local]
    #[arg(long, env = "MEDIATOR_AUTH", value_enum)]
    pub auth: Option<AuthMode>,

    /// When the session cookies carry `Secure`: `auto` (when the request
    /// came over HTTPS, i.e. a trusted proxy sent `X-Forwarded-Proto:
    /// https`), `always` or `never` [default: auto]
    #[arg(long, env = "MEDIATOR_COOKIE_SECURE", value_enum)]
    pub cookie_secure: Option<CookieSecure>,

    /// Make the embeds (`/embed/…`), badges (`/badge/…`) and the change
    /// stream need a signed-in viewer (session cookie or Bearer token)
    /// instead of being public and read-only [default: public]
    #[arg(long, env = "MEDIATOR_PRIVATE_EMBEDS")]
    pub private_embeds: bool,

    /// Addresses of reverse proxies whose `X-Forwarded-Proto`, `X-Forwarded-For`
    /// and (with `--auth proxy`) user and groups headers are believed,
    /// comma-separated IPs [default: none]
    #[arg(long, env = "MEDIATOR_TRUSTED_PROXIES", value_name = "IPS")]
    pub trusted_proxies: Option<String>,

    /// `--auth proxy`: header holding the signed-in user's name
    /// [default: X-Forwarded-User]
    #[arg(long, env = "MEDIATOR_PROXY_USER_HEADER", value_name = "NAME")]
    pub proxy_user_header: Option<String>,

    /// `--auth proxy`: header holding the user's groups, separated by commas
    /// [default: X-Forwarded-Groups]
    #[arg(long, env = "MEDIATOR_PROXY_GROUPS_HEADER", value_name = "NAME")]
    pub proxy_groups_header: Option<String>,

    /// `--auth proxy`: which group gives which role, `GROUP=ROLE` pairs
    /// separated by commas (e.g. `sre=admin,support=operator,staff=viewer`);
    /// a user gets the highest role of its groups, none: 403 [default: none]
    #[arg(long, env = "MEDIATOR_PROXY_ROLES", value_name = "GROUP=ROLE,...")]
    pub proxy_roles: Option<String>,

    /// Host names (the `Host` header, without port) callers let in without
    /// a credential (`--auth none`, first-run setup mode) may use, separated
    /// by commas, or `*` for any; others get 403 (DNS rebinding)
    /// [default: localhost, 127.0.0.1, ::1 and the --listen address]
    #[arg(long, env = "MEDIATOR_ALLOWED_HOSTS", value_name = "HOSTS")]
    pub allowed_hosts: Option<String>,

    /// Days the audit log keeps an entry; older ones are deleted by the
    /// maintenance loop [default: 365]
    #[arg(long, env = "MEDIATOR_AUDIT_RETENTION_DAYS", value_name = "DAYS")]
    pub audit_retention_days: Option<u32>,

    /// TOML configuration file; its keys are the long option names with `_`
    /// for `-` (backend, endpoint_url, region, listen, events_listen, sim_listen, saas_url, poll_interval, data_dir, site_root, parts, request_timeout,
    /// header_read_timeout, idle_timeout, max_connections, max_stream_subscribers,
    /// log_format, durability, submit_timeout, replay_margin, resubmit_rate, resubmit_concurrency,
    /// sweep_interval, max_attempts, demo_rate, frame_ancestors, cors_origins,
    /// events_allow_remote, events_access_keys, events_allowed_hosts,
    /// events_request_timeout, events_max_connections,
    /// events_allow_private_destinations, auth, cookie_secure, private_embeds, trusted_proxies,
    /// proxy_user_header, proxy_groups_header, proxy_roles, allowed_hosts,
    /// audit_retention_days).
    /// Flags and environment variables override it. A `[parts.<name>]` table
    /// per part (the tables then list the parts) overrides that part's
    /// status_url, submit_url, poll_interval, check_timeout, submit_timeout,
    /// failure_threshold, recovery_threshold, archive_name, retention_days,
    /// replay_margin, resubmit_rate and resubmit_concurrency, over any flag.
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
}

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
        let (file_names, tables) = split_file_parts(file.parts)?;
        let parts = match args.parts.or(file_names) {
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
        let header_read_timeout = seconds(
            "header_read_timeout",
            args.header_read_timeout
                .or(file.header_read_timeout)
                .unwrap_or(10.0),
            0.1,
            3600.0,
        )?;
        let idle_timeout = seconds(
            "idle_timeout",
            args.idle_timeout.or(file.idle_timeout).unwrap_or(90.0),
            0.1,
            86_400.0,
        )?;
        let count = |field: &str, v: usize, max: usize| -> anyhow::Result<usize> {
            if !(1..=max).contains(&v) {
                anyhow::bail!("{field}: must be between 1 and {max}, got {v}");
            }
            Ok(v)
        };
        let connections = crate::serve::Limits {
            header_read_timeout,
            idle_timeout,
            max_connections: count(
                "max_connections",
                args.max_connections.or(file.max_connections).unwrap_or(512),
                1_000_000,
            )?,
        };
        let events_connections = crate::serve::Limits {
            max_connections: count(
                "events_max_connections",
                args.events_max_connections
                    .or(file.events_max_connections)
                    .unwrap_or(256),
                1_000_000,
            )?,
            ..connections
        };
        let max_stream_subscribers = count(
            "max_stream_subscribers",
            args.max_stream_subscribers
                .or(file.max_stream_subscribers)
                .unwrap_or(128),
            1_000_000,
        )?;
        let events_request_timeout = seconds(
            "events_request_timeout",
            args.events_request_timeout
                .or(file.events_request_timeout)
                .unwrap_or(30.0),
            0.1,
            3600.0,
        )?;
        let events_allowed_hosts = crate::events_api::parse_allowed_hosts(
            args.events_allowed_hosts
                .or(file.events_allowed_hosts)
                .as_deref()
                .unwrap_or(""),
        )
        .map_err(|reason| anyhow::anyhow!("events_allowed_hosts: {reason}"))?;
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
        let demo_rate = args.demo_rate.or(file.demo_rate);
        if let Some(r) = demo_rate {
            if !(r.is_finite() && (0.01..=10_000.0).contains(&r)) {
                anyhow::bail!("demo_rate: must be between 0.01 and 10000 per second, got {r}");
            }
        }
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
        let backend = args.backend.or(file.backend).unwrap_or_default();
        let aws = aws_backend::AwsSettings {
            region: args.region.or(file.region),
            endpoint_url: args.endpoint_url.or(file.endpoint_url),
            max_attempts: None,
        };
        if let Some(url) = &aws.endpoint_url {
            let parsed: axum::http::Uri = url
                .parse()
                .map_err(|e| anyhow::anyhow!("endpoint_url: not a URL ({e}): {url}"))?;
            if !matches!(parsed.scheme_str(), Some("http" | "https")) {
                anyhow::bail!("endpoint_url: must be http:// or https://, got {url}");
            }
        }
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)));
        let allowed_hosts = match args.allowed_hosts.or(file.allowed_hosts) {
            Some(h) => crate::auth::parse_allowed_hosts(&h)?,
            None => crate::auth::default_allowed_hosts(Some(listen.ip())),
        };
        let audit_retention_days = args
            .audit_retention_days
            .or(file.audit_retention_days)
            .unwrap_or(365);
        if !(1..=36_500).contains(&audit_retention_days) {
            anyhow::bail!(
                "audit_retention_days: must be between 1 and 36500 days, got {audit_retention_days}"
            );
        }
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
            site_root: args
                .site_root
                .or(file.site_root)
                .unwrap_or_else(|| PathBuf::from("target/site")),
            parts,
            sim_listen: args
                .sim_listen
                .or(file.sim_listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3100))),
            saas_url,
            poll_interval,
            request_timeout: Duration::from_secs(request_timeout),
            connections,
            max_stream_subscribers,
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
            events_allowed_hosts,
            events_request_timeout,
            events_connections,
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

/// The global values every part starts from.
struct PartDefaults {
    saas_url: Option<String>,
    poll_interval: Duration,
    submit_timeout: Duration,
    replay_margin: Duration,
    resubmit_rate: f64,
    resubmit_concurrency: usize,
}

/// Keys a `[parts.<name>]` table may hold.
const PART_KEYS: [&str; 12] = [
    "status_url",
    "submit_url",
    "poll_interval",
    "check_timeout",
    "submit_timeout",
    "failure_threshold",
    "recovery_threshold",
    "archive_name",
    "retention_days",
    "replay_margin",
    "resubmit_rate",
    "resubmit_concurrency",
];

/// The file's `parts`: a list of names, or `[parts.<name>]` tables (whose
/// names, in file order, are then the list).
type PartTables = Vec<(String, toml::Table)>;

fn split_file_parts(
    parts: Option<toml::Value>,
) -> anyhow::Result<(Option<Vec<String>>, PartTables)> {
    match parts {
        None => Ok((None, Vec::new())),
        Some(toml::Value::Array(items)) => {
            let names = items
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    other => anyhow::bail!(
                        "parts: must list part names (strings), got {}",
                        other.type_str()
                    ),
                })
                .collect::<anyhow::Result<_>>()?;
            Ok((Some(names), Vec::new()))
        }
        Some(toml::Value::Table(table)) => {
            let mut names = Vec::new();
            let mut tables = Vec::new();
            for (name, value) in table {
                let toml::Value::Table(t) = value else {
                    anyhow::bail!(
                        "parts.{name}: must be a table ([parts.{name}]), got {}",
                        value.type_str()
                    );
                };
                names.push(name.clone());
                tables.push((name, t));
            }
            Ok((Some(names), tables))
        }
        Some(other) => anyhow::bail!(
            "parts: must be a list of names or [parts.<name>] tables, got {}",
            other.type_str()
        ),
    }
}

fn http_url(field: &str, u: &str) -> anyhow::Result<String> {
    let ok = ["http://", "https://"]
        .iter()
        .any(|scheme| u.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()));
    if !ok {
        anyhow::bail!("{field}: must start with http:// or https://, got {u:?}");
    }
    Ok(u.to_owned())
}

/// Each part's settings: the defaults, then the part's table.
fn resolve_parts(
    parts: &[PartName],
    global: &PartDefaults,
    tables: PartTables,
) -> anyhow::Result<Vec<PartSettings>> {
    let mut tables: Vec<(String, toml::Table)> = tables;
    let mut out: Vec<PartSettings> = Vec::with_capacity(parts.len());
    for name in parts {
        let mut p = PartSettings::new(name.clone());
        p.poll_interval = global.poll_interval;
        if let Some(base) = &global.saas_url {
            let (status, submit) = crate::saas::default_urls(base, name.as_str());
            p.status_url = Some(status);
            p.submit_url = Some(submit);
        }
        p.submit_timeout = global.submit_timeout;
        p.replay_margin = global.replay_margin;
        p.resubmit_rate = global.resubmit_rate;
        p.resubmit_concurrency = global.resubmit_concurrency;
        let mut check_timeout_set = false;
        if let Some(i) = tables.iter().position(|(n, _)| n == name.as_str()) {
            let (_, table) = tables.remove(i);
            check_timeout_set = apply_part_table(&mut p, &table)?;
        }
        if !check_timeout_set {
            // The default check timeout never exceeds the part's poll interval.
            p.check_timeout = p
                .check_timeout
                .min(p.poll_interval.max(Duration::from_millis(50)));
        }
        if let Some(other) = out.iter().find(|o| o.archive_name == p.archive_name) {
            anyhow::bail!(
                "parts.{name}.archive_name: {:?} is already the archive of part {}",
                p.archive_name,
                other.name
            );
        }
        out.push(p);
    }
    if let Some((name, _)) = tables.first() {
        let listed: Vec<&str> = parts.iter().map(PartName::as_str).collect();
        anyhow::bail!(
            "parts.{name}: not a configured part (parts are {})",
            listed.join(", ")
        );
    }
    Ok(out)
}

/// Applies one `[parts.<name>]` table; errors name `parts.<name>.<key>`.
/// Returns whether the table set the check timeout.
fn apply_part_table(p: &mut PartSettings, table: &toml::Table) -> anyhow::Result<bool> {
    let name = p.name.to_string();
    let mut check_timeout_set = false;
    for (key, value) in table {
        let field = format!("parts.{name}.{key}");
        let secs = |min: f64, max: f64| -> anyhow::Result<Duration> {
            let v = match value {
                toml::Value::Integer(i) => *i as f64,
                toml::Value::Float(f) => *f,
                other => anyhow::bail!(
                    "{field}: must be a number of seconds, got {}",
                    other.type_str()
                ),
            };
            seconds(&field, v, min, max)
        };
        let int = |min: i64, max: i64| -> anyhow::Result<i64> {
            match value {
                toml::Value::Integer(i) if (min..=max).contains(i) => Ok(*i),
                toml::Value::Integer(i) => {
                    anyhow::bail!("{field}: must be between {min} and {max}, got {i}")
                }
                other => anyhow::bail!("{field}: must be an integer, got {}", other.type_str()),
            }
        };
        let text = || -> anyhow::Result<&str> {
            match value {
                toml::Value::String(s) => Ok(s.as_str()),
                other => anyhow::bail!("{field}: must be a string, got {}", other.type_str()),
            }
        };
        match key.as_str() {
            "status_url" => p.status_url = Some(http_url(&field, text()?)?),
            "submit_url" => p.submit_url = Some(http_url(&field, text()?)?),
            "poll_interval" => p.poll_interval = secs(0.05, 86_400.0)?,
            "check_timeout" => {
                p.check_timeout = secs(0.05, 300.0)?;
                check_timeout_set = true;
            }
            "submit_timeout" => p.submit_timeout = secs(0.05, 300.0)?,
            "failure_threshold" => p.thresholds.failure = int(1, 1000)? as u32,
            "recovery_threshold" => p.thresholds.recovery = int(1, 1000)? as u32,
            "archive_name" => {
                let a = text()?;
                let valid = (1..=48).contains(&a.len())
                    && a.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
                if !valid {
                    anyhow::bail!(
                        "{field}: must be 1 to 48 letters, digits, '.', '-' or '_', got {a:?}"
                    );
                }
                p.archive_name = a.to_owned();
            }
            "retention_days" => p.retention_days = int(1, 3650)? as u32,
            "replay_margin" => p.replay_margin = secs(0.0, 86_400.0)?,
            "resubmit_rate" => {
                let v = match value {
                    toml::Value::Integer(i) => *i as f64,
                    toml::Value::Float(f) => *f,
                    other => anyhow::bail!("{field}: must be a number, got {}", other.type_str()),
                };
                if !(v.is_finite() && (0.01..=100_000.0).contains(&v)) {
                    anyhow::bail!("{field}: must be between 0.01 and 100000 per second, got {v}");
                }
                p.resubmit_rate = v;
            }
            "resubmit_concurrency" => p.resubmit_concurrency = int(1, 256)? as usize,
            _ => anyhow::bail!(
                "{field}: unknown key (a part's table may set {})",
                PART_KEYS.join(", ")
            ),
        }
    }
    Ok(check_timeout_set)
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
        Ok((
            self.backend.or(file.backend).unwrap_or_default(),
            aws_backend::AwsSettings {
                region: self.region.clone().or(file.region),
                endpoint_url: self.endpoint_url.clone().or(file.endpoint_url),
                max_attempts: None,
            },
        ))
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
    fn allowed_hosts_and_audit_retention_are_checked() {
        let s = Settings::resolve(ServeArgs {
            listen: Some("10.1.2.3:3000".parse().unwrap()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            s.auth.allowed_hosts,
            ["localhost", "127.0.0.1", "::1", "10.1.2.3"],
            "the listen address joins the defaults"
        );
        assert_eq!(s.audit_retention, Duration::from_secs(365 * 86_400));
        let s = with_file(
            "allowed_hosts = \"Mediator.Example., [::1]\"\naudit_retention_days = 30\n",
            ServeArgs::default(),
        )
        .unwrap();
        assert_eq!(s.auth.allowed_hosts, ["mediator.example", "::1"]);
        assert_eq!(s.audit_retention, Duration::from_secs(30 * 86_400));
        for (hosts, days, field) in [
            (Some("https://mediator.example"), None, "allowed_hosts: "),
            (Some("mediator.example:3000"), None, "allowed_hosts: "),
            (Some(" , "), None, "allowed_hosts: "),
            (None, Some(0), "audit_retention_days: "),
        ] {
            let err = Settings::resolve(ServeArgs {
                allowed_hosts: hosts.map(String::from),
                audit_retention_days: days,
                ..Default::default()
            })
            .unwrap_err()
            .to_string();
            assert!(err.starts_with(field), "{err}");
        }
    }

    fn with_file(text: &str, args: ServeArgs) -> anyhow::Result<Settings> {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), text).unwrap();
        Settings::resolve(ServeArgs {
            config: Some(tmp.path().to_path_buf()),
            ..args
        })
    }

    #[test]
    fn a_submit_timeout_not_well_below_the_request_timeout_is_refused() {
        let err = Settings::resolve(ServeArgs {
            request_timeout: Some(10),
            submit_timeout: Some(6.0),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("submit_timeout: 6 s must be at most half of request_timeout (10 s)"),
            "{err}"
        );
        let err = with_file(
            "[parts.voucher]\nsubmit_timeout = 20\n[parts.member]\n",
            ServeArgs::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("parts.voucher.submit_timeout: 20 s"),
            "{err}"
        );
        // Half is enough.
        Settings::resolve(ServeArgs {
            request_timeout: Some(10),
            submit_timeout: Some(5.0),
            ..Default::default()
        })
        .unwrap();
    }

    #[test]
    fn part_tables_override_flags_file_and_defaults() {
        let s = with_file(
            r#"
poll_interval = 7
replay_margin = 30
resubmit_rate = 20

[parts.voucher]
poll_interval = 3
check_timeout = 1.5
submit_timeout = 2
failure_threshold = 5
recovery_threshold = 4
archive_name = "VoucherKeep"
retention_days = 3
replay_margin = 0
resubmit_rate = 200.5
resubmit_concurrency = 16

[parts.member]

[parts.points]
status_url = "https://points.example/health"
submit_url = "https://points.example/api/submit"
"#,
            ServeArgs {
                poll_interval: Some(2.0),
                resubmit_concurrency: Some(8),
                ..Default::default()
            },
        )
        .unwrap();
        let names: Vec<_> = s.parts.iter().map(PartName::as_str).collect();
        assert_eq!(names, ["voucher", "member", "points"], "file order");
        let [v, m, p] = &s.part_settings[..] else {
            panic!("three parts")
        };
        // The part's table wins over flags, file and defaults.
        assert_eq!(v.poll_interval, Duration::from_secs(3));
        assert_eq!(v.check_timeout, Duration::from_millis(1500));
        assert_eq!(v.submit_timeout, Duration::from_secs(2));
        assert_eq!((v.thresholds.failure, v.thresholds.recovery), (5, 4));
        assert_eq!(v.archive_name, "VoucherKeep");
        assert_eq!(v.retention_days, 3);
        assert_eq!(v.replay_margin, Duration::ZERO);
        assert_eq!(v.resubmit_rate, 200.5);
        assert_eq!(v.resubmit_concurrency, 16);
        // Without a table value: flag over file over default.
        assert_eq!(m.poll_interval, Duration::from_secs(2), "flag over file");
        assert_eq!(m.check_timeout, Duration::from_secs(2), "≤ poll interval");
        assert_eq!(m.replay_margin, Duration::from_secs(30), "file");
        assert_eq!(m.resubmit_rate, 20.0);
        assert_eq!(m.resubmit_concurrency, 8);
        assert_eq!(m.submit_timeout, Duration::from_secs(10), "default");
        assert_eq!(m.archive_name, "LoyaltyMemberArchive");
        assert_eq!(m.retention_days, 10);
        assert_eq!(
            (m.status_url.as_deref(), m.submit_url.as_deref()),
            (None, None)
        );
        assert_eq!(
            p.status_url.as_deref(),
            Some("https://points.example/health")
        );
        assert_eq!(
            p.submit_url.as_deref(),
            Some("https://points.example/api/submit")
        );
        assert!(s.needs_simulator(), "voucher and member have no URLs");
        assert_eq!(s.longest_submit_timeout(), Duration::from_secs(10));
    }

    #[test]
    fn saas_url_gives_every_part_its_urls_and_no_simulator() {
        let s = with_file(
            "[parts.voucher]\nsubmit_url = \"http://v.example/in\"\n[parts.points]\n",
            ServeArgs {
                saas_url: Some("http://saas.example/".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let v = &s.part_settings[0];
        assert_eq!(
            v.status_url.as_deref(),
            Some("http://saas.example/saas/voucher/status")
        );
        assert_eq!(v.submit_url.as_deref(), Some("http://v.example/in"));
        assert_eq!(
            s.part_settings[1].submit_url.as_deref(),
            Some("http://saas.example/saas/points/submit")
        );
        assert!(!s.needs_simulator());

        // Distinct hosts per part without saas_url: no simulator either.
        let s = with_file(
            "[parts.a]\nstatus_url = \"http://a/s\"\nsubmit_url = \"http://a/p\"\n\
             [parts.b]\nstatus_url = \"https://b/s\"\nsubmit_url = \"https://b/p\"\n",
            ServeArgs::default(),
        )
        .unwrap();
        assert!(!s.needs_simulator());
    }

    #[test]
    fn bad_part_tables_name_the_key_and_the_reason() {
        let cases = [
            (
                "[parts.voucher]\npoll_intervall = 3\n",
                "parts.voucher.poll_intervall: unknown key",
            ),
            (
                "[parts.voucher]\npoll_interval = \"3s\"\n",
                "parts.voucher.poll_interval: must be a number of seconds, got string",
            ),
            (
                "[parts.voucher]\npoll_interval = 0\n",
                "parts.voucher.poll_interval: must be between 0.05 and 86400 seconds, got 0",
            ),
            (
                "[parts.voucher]\nfailure_threshold = 0\n",
                "parts.voucher.failure_threshold: must be between 1 and 1000, got 0",
            ),
            (
                "[parts.voucher]\nrecovery_threshold = 1.5\n",
                "parts.voucher.recovery_threshold: must be an integer, got float",
            ),
            (
                "[parts.voucher]\nstatus_url = \"ftp://x\"\n",
                "parts.voucher.status_url: must start with http:// or https://",
            ),
            (
                "[parts.voucher]\narchive_name = \"has space\"\n",
                "parts.voucher.archive_name: must be 1 to 48 letters",
            ),
            (
                "[parts.voucher]\nretention_days = 0\n",
                "parts.voucher.retention_days: must be between 1 and 3650",
            ),
            (
                "[parts.voucher]\nresubmit_rate = -1\n",
                "parts.voucher.resubmit_rate: must be between 0.01 and 100000",
            ),
            (
                "[parts.voucher]\nresubmit_concurrency = 1000\n",
                "parts.voucher.resubmit_concurrency: must be between 1 and 256",
            ),
            (
                "[parts.a]\narchive_name = \"X\"\n[parts.b]\narchive_name = \"X\"\n",
                "parts.b.archive_name: \"X\" is already the archive of part a",
            ),
            ("[parts.Bad]\n", "parts: invalid part name \"Bad\""),
            (
                "parts = 3\n",
                "parts: must be a list of names or [parts.<name>] tables, got integer",
            ),
            (
                "[parts]\nvoucher = 1\n",
                "parts.voucher: must be a table ([parts.voucher]), got integer",
            ),
        ];
        for (text, expected) in cases {
            let err = with_file(text, ServeArgs::default()).unwrap_err();
            assert!(
                format!("{err:#}").starts_with(expected),
                "{text:?}: {err:#}"
            );
        }
        // A table for a part the flag does not list.
        let err = with_file(
            "[parts.voucher]\n[parts.member]\n",
            ServeArgs {
                parts: Some(vec!["voucher".into()]),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "parts.member: not a configured part (parts are voucher)"
        );
    }

    #[test]
    fn listener_limits_default_safely_and_name_a_bad_value() {
        let s = Settings::resolve(ServeArgs::default()).unwrap();
        assert_eq!(s.connections.header_read_timeout, Duration::from_secs(10));
        assert_eq!(s.connections.idle_timeout, Duration::from_secs(90));
        assert_eq!(s.connections.max_connections, 512);
        assert_eq!(s.events_connections.max_connections, 256);
        assert_eq!(
            s.events_connections.header_read_timeout,
            s.connections.header_read_timeout
        );
        assert_eq!(s.events_request_timeout, Duration::from_secs(30));
        assert_eq!(s.max_stream_subscribers, 128);
        assert!(s.events_allowed_hosts.is_empty());
        assert!(!s.events_allow_private_destinations);
        let s = with_file(
            "header_read_timeout = 2.5\nidle_timeout = 30\nmax_connections = 100\n\
             max_stream_subscribers = 10\nevents_allowed_hosts = \"eb.internal\"\n\
             events_request_timeout = 5\nevents_max_connections = 8\n\
             events_allow_private_destinations = true\n",
            ServeArgs::default(),
        )
        .unwrap();
        assert_eq!(
            s.connections.header_read_timeout,
            Duration::from_millis(2500)
        );
        assert_eq!(s.connections.idle_timeout, Duration::from_secs(30));
        assert_eq!(s.connections.max_connections, 100);
        assert_eq!(s.max_stream_subscribers, 10);
        assert_eq!(s.events_allowed_hosts, ["eb.internal"]);
        assert_eq!(s.events_request_timeout, Duration::from_secs(5));
        assert_eq!(s.events_connections.max_connections, 8);
        assert!(s.events_allow_private_destinations);
        for (args, expected) in [
            (
                ServeArgs {
                    header_read_timeout: Some(0.0),
                    ..Default::default()
                },
                "header_read_timeout: must be between 0.1 and 3600 seconds, got 0",
            ),
            (
                ServeArgs {
                    idle_timeout: Some(f64::NAN),
                    ..Default::default()
                },
                "idle_timeout: must be between 0.1 and 86400 seconds, got NaN",
            ),
            (
                ServeArgs {
                    max_connections: Some(0),
                    ..Default::default()
                },
                "max_connections: must be between 1 and 1000000, got 0",
            ),
            (
                ServeArgs {
                    max_stream_subscribers: Some(0),
                    ..Default::default()
                },
                "max_stream_subscribers: must be between 1 and 1000000, got 0",
            ),
            (
                ServeArgs {
                    events_request_timeout: Some(-1.0),
                    ..Default::default()
                },
                "events_request_timeout: must be between 0.1 and 3600 seconds, got -1",
            ),
        ] {
            assert_eq!(Settings::resolve(args).unwrap_err().to_string(), expected);
        }
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
