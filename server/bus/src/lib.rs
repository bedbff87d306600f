//! Embedded EventBridge: a durable event bus on SQLite with rules, targets,
//! archives and windowed replays, speaking EventBridge's data model.
//!
//! # Module map
//! * [`types`] — EventBridge request/response shapes (serde, PascalCase, epoch seconds).
//! * [`error`] — [`BusError`], one variant per AWS error code.
//! * `ingest` — PutEvents: validation, envelope, routing and the commit of its rows.
//! * `control` — buses, rules, targets, connections, API destinations, archives,
//!   tags, bus policies (one file each under `control/`).
//! * [`queue`] — embedded SQS-like queues (visibility timeout, receive count, DLQ).
//! * [`sqs`] — SQS's API (JSON protocol shapes and answers) over those queues.
//! * `delivery` — worker delivering to API destinations (HTTP) and in-process consumers.
//! * `replay` — replays in 1-minute slices of event time with a persisted cursor.
//! * `schedule` — `ScheduleExpression`s (rate and cron): what PutRule accepts, when they fire.
//! * `scheduler` — scheduled rules fire: a step per due time, next fire time stored.
//! * [`stats`] — counters of puts, matches, deliveries and replayed events; dead-letter depths.
//! * `validation` — every problem of a request in one `ValidationException`, in AWS's words.
//! * [`contract`] — the [`contract::EventBus`] trait and the backend-neutral contract suite.
//!
//! # Invariants
//! * **Durable before reply**: an accepted PutEvents entry's archive rows, queue
//!   messages and deliveries are committed in one SQLite transaction before
//!   `put_events` returns.
//! * **Group commit**: concurrent PutEvents calls share transactions and
//!   fsyncs through the database's group commit (`store::Database::write`),
//!   each call's rows in a savepoint of its own.
//! * **Replays never re-archive**: archive rules carry `"replay-name": [{"exists": false}]`
//!   and replays never route to archive rules.
//!
//! # Targets
//! * `arn:aws:sqs:REGION:ACCOUNT:NAME` — embedded queue `NAME` (created on first use).
//! * `arn:aws:events:REGION:ACCOUNT:api-destination/NAME/UUID` — HTTP call through an
//!   API destination and its connection, retried per the target's `RetryPolicy`, then
//!   sent to its `DeadLetterConfig` queue.
//! * `arn:aws:lambda:REGION:ACCOUNT:function:NAME` — the in-process consumer registered
//!   with [`Bus::register_consumer`] under `NAME` (the product's own handlers play the
//!   part Lambda functions play on AWS), with the same retry and dead-letter handling.

pub mod contract;
mod control;
pub mod delivery;
pub mod endpoint;
pub mod error;
mod ingest;
mod pattern_errors;
pub mod queue;
mod replay;
mod routing;
mod schedule;
mod scheduler;
pub mod sqs;
pub mod stats;
pub mod time;
pub mod types;
mod validation;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

pub use error::{BusError, BusResult};
pub use queue::{QueueConfig, QueueMessage};
pub use replay::ReplayProgress;
pub use stats::BusStats;
pub use store::Database;
pub use time::Timestamp;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Name of the default event bus.
pub const DEFAULT_BUS: &str = "default";
/// Prefix of the managed rule an archive creates (AWS: `Events-Archive-<name>`).
pub const ARCHIVE_RULE_PREFIX: &str = "Events-Archive-";
/// `ManagedBy` of archive rules.
pub const ARCHIVE_RULE_MANAGER: &str = "events.amazonaws.com";

/// Settings of the embedded bus.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// Account id used in ARNs and envelopes.
    pub account: String,
    /// Region used in ARNs and envelopes.
    pub region: String,
    /// How often the replay scheduler looks for replays to start.
    pub replay_poll: Duration,
    /// Archived events read and routed per replay transaction.
    pub replay_chunk: usize,
    /// Pause between replay chunks (0 in production; tests slow replays down).
    pub replay_chunk_delay: Duration,
    /// How often the delivery worker looks for due deliveries when not woken.
    pub delivery_poll: Duration,
    /// First retry back-off of HTTP/consumer deliveries (doubles per attempt).
    pub retry_base: Duration,
    /// Longest retry back-off.
    pub retry_max: Duration,
    /// Timeout of one HTTP invocation (AWS: 5 s).
    pub http_timeout: Duration,
    /// How often retention is enforced.
    pub retention_interval: Duration,
    /// How often the scheduler looks for scheduled rules that are due.
    pub schedule_poll: Duration,
    /// Whether API destinations may call loopback, link-local (cloud
    /// metadata) and private addresses. Off: whoever can create an API
    /// destination cannot make the bus call services only this host or
    /// network reaches ([`endpoint::is_private_address`]).
    pub allow_private_destinations: bool,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            account: "000000000000".into(),
            region: "us-east-1".into(),
            replay_poll: Duration::from_millis(200),
            replay_chunk: 5_000,
            replay_chunk_delay: Duration::ZERO,
            delivery_poll: Duration::from_millis(500),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            http_timeout: Duration::from_secs(5),
            retention_interval: Duration::from_secs(3600),
            schedule_poll: Duration::from_secs(1),
            allow_private_destinations: false,
        }
    }
}

impl BusConfig {
    /// Overrides from the environment: `MEDIATOR_EVENTS_ACCOUNT`,
    /// `MEDIATOR_EVENTS_REGION`, and replay pacing (a replay rate limit:
    /// at most `MEDIATOR_EVENTS_REPLAY_CHUNK` events per chunk, with
    /// `MEDIATOR_EVENTS_REPLAY_DELAY_MS` between chunks). Unparsable values are ignored.
    pub fn with_env(mut self) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if let Some(a) = var("MEDIATOR_EVENTS_ACCOUNT") {
            self.account = a;
        }
        if let Some(r) = var("MEDIATOR_EVENTS_REGION") {
            self.region = r;
        }
        if let Some(n) = var("MEDIATOR_EVENTS_REPLAY_CHUNK").and_then(|v| v.parse().ok()) {
            self.replay_chunk = n;
        }
        if let Some(ms) = var("MEDIATOR_EVENTS_REPLAY_DELAY_MS").and_then(|v| v.parse().ok()) {
            self.replay_chunk_delay = Duration::from_millis(ms);
        }
        self
    }
}

/// What an in-process consumer returns: `Err(reason)` asks for a retry.
pub type ConsumerFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// An in-process consumer: receives the event JSON (or the target's `Input`).
pub type Consumer = Arc<dyn Fn(String) -> ConsumerFuture + Send + Sync>;

/// Handle to the embedded EventBridge; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Database,
    pub(crate) cfg: BusConfig,
    /// Routing snapshot per bus name, rebuilt after every rule/target change.
    pub(crate) routes: RwLock<HashMap<String, Arc<routing::Routing>>>,
    /// Serialises control-plane changes with the routing reload that follows them.
    pub(crate) control: tokio::sync::Mutex<()>,
    pub(crate) consumers: RwLock<HashMap<String, Consumer>>,
    pub(crate) queue_notify: Notify,
    pub(crate) delivery_notify: Notify,
    pub(crate) replay_notify: Notify,
    pub(crate) running_replays: Mutex<HashSet<String>>,
    pub(crate) http: reqwest::Client,
    pub(crate) rate: Mutex<HashMap<String, i64>>,
    /// When each queue was last purged through SQS's API (one purge a minute).
    pub(crate) purges: Mutex<HashMap<String, i64>>,
    /// Message move tasks started through SQS's API (they complete at once).
    pub(crate) move_tasks: Mutex<Vec<sqs::MoveTask>>,
    /// What the bus did since it was opened ([`Bus::stats`]).
    pub(crate) stats: stats::Counters,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("account", &self.inner.cfg.account)
            .field("region", &self.inner.cfg.region)
            .finish()
    }
}

impl Bus {
    /// Opens the bus on `db`: makes sure the default bus exists, loads the
    /// routing tables (needs a tokio runtime).
    /// Call [`Bus::spawn_workers`] to start delivery, replays and retention.
    pub async fn open(db: Database, cfg: BusConfig) -> BusResult<Bus> {
        // Redirects are not followed: a destination could otherwise send the
        // call (with the connection's credentials) anywhere, private
        // addresses included.
        let http = reqwest::Client::builder()
            .timeout(cfg.http_timeout)
            .redirect(reqwest::redirect::Policy::none());
        let http = if cfg.allow_private_destinations {
            http
        } else {
            http.dns_resolver(Arc::new(endpoint::PublicOnly))
        };
        let http = http
            .build()
            .map_err(|e| BusError::Internal(e.to_string()))?;
        let bus = Bus {
            inner: Arc::new(Inner {
                db: db.clone(),
                cfg,
                routes: RwLock::new(HashMap::new()),
                control: tokio::sync::Mutex::new(()),
                consumers: RwLock::new(HashMap::new()),
                queue_notify: Notify::new(),
                delivery_notify: Notify::new(),
                replay_notify: Notify::new(),
                running_replays: Mutex::new(HashSet::new()),
                http,
                rate: Mutex::new(HashMap::new()),
                purges: Mutex::new(HashMap::new()),
                move_tasks: Mutex::new(Vec::new()),
                stats: stats::Counters::default(),
            }),
        };
        let now = Timestamp::now().0;
        db.write(move |tx| {
            // The archive index and queue tables are hot: give the writer
            // connection a 32 MB page cache (SQLite's default is 2 MB).
            tx.pragma_update(None, "cache_size", -32_768)?;
            tx.execute(
                "INSERT OR IGNORE INTO eb_buses (name, description, created_ms, modified_ms) VALUES ('default', NULL, ?1, ?1)",
                [now],
            )
        })
        .await?;
        bus.reload_all_routes().await?;
        Ok(bus)
    }

    /// The database this bus stores into.
    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    /// The configuration.
    pub fn config(&self) -> &BusConfig {
        &self.inner.cfg
    }

    /// Registers the in-process consumer `name`, reached by targets whose Arn is
    /// [`Bus::consumer_arn`]`(name)`. Replaces an earlier one of that name.
    pub fn register_consumer<F, Fut>(&self, name: &str, f: F)
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let c: Consumer = Arc::new(move |body| Box::pin(f(body)));
        self.inner
            .consumers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), c);
        self.inner.delivery_notify.notify_one();
    }

    /// Starts the background workers (deliveries, replays, scheduled rules,
    /// retention) on `tracker`; they stop when `shutdown` is cancelled.
    pub fn spawn_workers(&self, tracker: &TaskTracker, shutdown: CancellationToken) {
        tracker.spawn(delivery::run(self.clone(), shutdown.clone()));
        tracker.spawn(scheduler::run(self.clone(), shutdown.clone()));
        tracker.spawn(replay::run(self.clone(), tracker.clone(), shutdown.clone()));
        tracker.spawn(control::retention_run(self.clone(), shutdown));
    }

    // ---- ARNs ------------------------------------------------------------

    fn arn_prefix(&self, service: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:",
            self.inner.cfg.region, self.inner.cfg.account
        )
    }
    /// `arn:aws:events:REGION:ACCOUNT:event-bus/NAME`.
    pub fn bus_arn(&self, bus: &str) -> String {
        format!("{}event-bus/{bus}", self.arn_prefix("events"))
    }
    /// `rule/NAME` on the default bus, `rule/BUS/NAME` on custom buses.
    pub fn rule_arn(&self, bus: &str, rule: &str) -> String {
        if bus == DEFAULT_BUS {
            format!("{}rule/{rule}", self.arn_prefix("events"))
        } else {
            format!("{}rule/{bus}/{rule}", self.arn_prefix("events"))
        }
    }
    /// `arn:aws:events:REGION:ACCOUNT:archive/NAME`.
    pub fn archive_arn(&self, name: &str) -> String {
        format!("{}archive/{name}", self.arn_prefix("events"))
    }
    /// `arn:aws:events:REGION:ACCOUNT:replay/NAME`.
    pub fn replay_arn(&self, name: &str) -> String {
        format!("{}replay/{name}", self.arn_prefix("events"))
    }
    /// `arn:aws:events:REGION:ACCOUNT:connection/NAME/UUID`.
    pub fn connection_arn(&self, name: &str, uuid: &str) -> String {
        format!("{}connection/{name}/{uuid}", self.arn_prefix("events"))
    }
    /// `arn:aws:events:REGION:ACCOUNT:api-destination/NAME/UUID`.
    pub fn api_destination_arn(&self, name: &str, uuid: &str) -> String {
        format!("{}api-destination/{name}/{uuid}", self.arn_prefix("events"))
    }
    /// `arn:aws:sqs:REGION:ACCOUNT:NAME`.
    pub fn queue_arn(&self, name: &str) -> String {
        format!("{}{name}", self.arn_prefix("sqs"))
    }
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`: the in-process consumer `NAME`.
    pub fn consumer_arn(&self, name: &str) -> String {
        format!("{}function:{name}", self.arn_prefix("lambda"))
    }

    /// Bus name from a name or an event-bus ARN.
    pub(crate) fn bus_name(&self, name_or_arn: Option<&str>) -> String {
        match name_or_arn {
            None | Some("") => DEFAULT_BUS.to_string(),
            Some(s) => match s.strip_prefix("arn:") {
                Some(_) => s
                    .rsplit_once("event-bus/")
                    .map(|(_, n)| n)
                    .unwrap_or(s)
                    .to_string(),
                None => s.to_string(),
            },
        }
    }
}

/// Last ARN segment after `marker`, e.g. the queue name of an SQS ARN.
pub(crate) fn arn_tail<'a>(arn: &'a str, marker: &str) -> Option<&'a str> {
    arn.split_once(marker).map(|(_, t)| t)
}

/// What a `NextToken` carries before encoding: a marker and the offset.
const PAGE_TOKEN_PREFIX: &str = "mediator-events-page:";

/// The opaque `NextToken` of the page starting at `offset` (AWS's tokens are
/// opaque strings; clients pass them back unchanged).
pub(crate) fn page_token(offset: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{PAGE_TOKEN_PREFIX}{offset}"))
}

/// The offset a `NextToken` from [`page_token`] stands for; `None` for
/// anything else.
pub(crate) fn page_offset(token: &str) -> Option<usize> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix(PAGE_TOKEN_PREFIX)?
        .parse()
        .ok()
}

/// Next page of `items`, from the offset `next_token` stands for.
pub(crate) fn paginate<T>(
    items: Vec<T>,
    next_token: Option<&str>,
    limit: Option<i64>,
) -> BusResult<(Vec<T>, Option<String>)> {
    let start = match next_token {
        None | Some("") => 0usize,
        Some(t) => page_offset(t)
            .ok_or_else(|| BusError::Validation("The NextToken provided is not valid.".into()))?,
    };
    let limit = match limit {
        None => 100usize,
        Some(l) if (1..=100).contains(&l) => l as usize,
        Some(_) => {
            return Err(BusError::Validation(
                "1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value between 1 and 100".into(),
            ))
        }
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next = (start + page.len() < total).then(|| page_token(start + page.len()));
    Ok((page, next))
}

impl Bus {
    /// `TestEventPattern`.
    pub fn test_event_pattern(
        &self,
        req: &types::TestEventPatternRequest,
    ) -> BusResult<types::TestEventPatternResponse> {
        match patterns::test_event_pattern(&req.event_pattern, &req.event) {
            Ok(result) => Ok(types::TestEventPatternResponse { result }),
            Err(patterns::TestEventPatternError::InvalidEventPattern(e)) => {
                Err(BusError::invalid_pattern(&req.event_pattern, &e))
            }
            Err(e) => Err(BusError::Validation(e.message())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_are_opaque_and_round_trip() {
        let (page, next) = paginate((0..5).collect(), None, Some(2)).unwrap();
        assert_eq!(page, [0, 1]);
        let next = next.unwrap();
        assert!(next.parse::<i64>().is_err(), "not a bare number: {next}");
        // Passed back, with another limit, it continues where the page ended.
        let (page, last) = paginate((0..5).collect(), Some(&next), Some(3)).unwrap();
        assert_eq!(page, [2, 3, 4]);
        assert_eq!(last, None);
        for garbage in ["2", "not-a-token", "bWVkaWF0b3I"] {
            let err = paginate((0..5).collect::<Vec<i32>>(), Some(garbage), None).unwrap_err();
            assert_eq!(err.code(), "ValidationException", "{garbage}");
        }
    }
}
