//! The command line (clap): the commands and their options. Every option
//! of `serve` is also an environment variable and a key of the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::choices::{Backend, Durability, LogFormat};
use crate::auth::{AuthMode, CookieSecure};

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
    /// Copy the embedded database to FILE while the mediator may keep
    /// serving (SQLite's online backup: a consistent snapshot), then check
    /// the copy's integrity. Restore it with `mediator restore`.
    Backup(BackupArgs),
    /// Replace the embedded database with a backup made by `mediator
    /// backup`; refused while a server (or any other command) has the
    /// database open: stop the mediator first.
    Restore(RestoreArgs),
    /// Print a completion script for SHELL (bash, zsh, fish, elvish or
    /// powershell), e.g. `mediator completions bash >
    /// /etc/bash_completion.d/mediator`.
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// A role of the console and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Sees everything, changes nothing
    Viewer,
    /// Also starts and cancels replays, sets overrides, submits and
    /// redrives vouchers
    Operator,
    /// Also reads the audit export and manages users and tokens
    Admin,
}

impl From<RoleArg> for mediator_core::access::Role {
    fn from(r: RoleArg) -> Self {
        use mediator_core::access::Role;
        match r {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Operator => Role::Operator,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// Options of `mediator backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where to write the backup (a SQLite database file); written beside
    /// it first, then renamed, so FILE is never half-written
    pub file: PathBuf,
    /// Replace FILE if it exists
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub data: DataDirArgs,
}

/// Options of `mediator restore`.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The backup to restore (made by `mediator backup`)
    pub file: PathBuf,
    #[command(flatten)]
    pub data: DataDirArgs,
}

/// Where `backup` and `restore` find the embedded database.
#[derive(Debug, Clone, Args)]
pub struct DataDirArgs {
    /// Directory of the embedded database, as for `serve` [default: ./data,
    /// or data_dir from the --config file]
    #[arg(long, env = "MEDIATOR_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The same TOML configuration file as `serve` (only data_dir and
    /// backend are read)
    #[arg(long, env = "MEDIATOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl DataDirArgs {
    /// As [`StoreArgs`] for the embedded backend.
    pub fn store(&self) -> StoreArgs {
        StoreArgs {
            data_dir: self.data_dir.clone(),
            config: self.config.clone(),
            backend: None,
            endpoint_url: None,
            region: None,
        }
    }
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
    /// such as moto; overrides AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL
    /// and the profile [default: what they say, else AWS's own]
    #[arg(long, value_name = "URL")]
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
        #[arg(long, value_enum)]
        role: RoleArg,
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
    /// List the users and their roles (tab-separated: name, role, created).
    List {
        /// Print a JSON array of `{"name", "role", "created_at"}` instead
        #[arg(long)]
        json: bool,
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
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
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
        /// Print a JSON array of `{"id", "user", "role", "label",
        /// "created_at", "last_used_at"}` instead
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
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
    /// (e.g. http://127.0.0.1:5000); overrides AWS_ENDPOINT_URL_<SERVICE>,
    /// AWS_ENDPOINT_URL and the profile [default: what they say, else AWS's
    /// own endpoints]
    #[arg(long, value_name = "URL")]
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
    /// such as moto (e.g. http://127.0.0.1:5000); overrides
    /// AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL and the profile
    /// [default: what they say, else AWS's own]
    #[arg(long, value_name = "URL")]
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

    /// Serve the console's files from this directory (`pkg/` with the wasm
    /// bundle, and the public assets; `cargo leptos build` writes
    /// target/site), uncached, instead of the site built into the binary:
    /// for development [default: the site in the binary (release builds),
    /// else target/site]
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
