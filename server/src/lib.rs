//! The `mediator` server: wires configuration, storage, background tasks and
//! the HTTP surface (console pages, server functions, health endpoints,
//! static assets) together.
//!
//! [`Application::build`] binds the listener and prepares everything;
//! [`Application::run_until_stopped`] serves until the given token is
//! cancelled, then drains requests and waits for background tasks.

pub mod access_log;
pub mod api;
pub mod api_dlq;
pub mod api_error;
pub mod api_maintenance;
pub mod api_state;
pub mod auth;
pub mod auth_cli;
pub mod backend;
pub mod cli;
pub mod config;
pub mod console_api;
pub mod demo;
pub mod embed;
pub mod events_api;
mod host;
pub mod http;
pub mod login_limits;
pub mod maintenance;
pub mod metrics;
pub mod notify;
pub mod openapi;
mod page_owner;
pub mod pages;
pub mod params;
pub mod readiness;
pub mod saas;
pub mod security;
pub mod serve;
pub mod site;
pub mod sqs_api;
pub mod telemetry;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use std::sync::Arc;

use mediator_core::archives::ArchiveBrowser;
use mediator_core::storage::{Ports, StatusStore};
use mediator_core::{
    ArchiveReplays, EventPublisher, Monitor, PartSettings, Recovery, RecoverySettings,
    ResubmitQueue, StatusBoard, SubmissionFlow,
};
use store::Database;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{Backend, Settings};

/// How long background tasks get to finish after shutdown is requested, at
/// least; it grows with the longest submit timeout so a SaaS call made just
/// before the signal is answered and recorded.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A built, bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// Timeouts and connection cap of the console's (and the simulator's)
    /// listener.
    connections: serve::Limits,
    db: Database,
    local_addr: SocketAddr,
    /// The embedded EventBridge and its API (`--backend embedded`).
    events: Option<EventsListener>,
    /// The voucher-requests queue's consumer (`--backend aws`).
    intake: Option<aws_backend::AwsIntake>,
    sim: Option<saas::SimListener>,
    monitor: Arc<Monitor>,
    flow: Arc<SubmissionFlow>,
    recovery: Arc<Recovery>,
    /// The parts' maintenance windows (replayed once they end).
    maintenance: Arc<mediator_core::maintenance::Maintenance>,
    demo_rate: Option<f64>,
    /// Bound of the wait for background tasks and in-flight submissions.
    shutdown_grace: Duration,
    streams_stop: CancellationToken,
    /// Where status and voucher events are published.
    publisher: Arc<dyn EventPublisher>,
    /// Where the monitor writes status changes (the SAAS_STATUS outbox).
    status_store: Arc<dyn StatusStore>,
    /// This process's name in publication claims and leases.
    replica: String,
    /// Set when the status outbox is on a billed store: read it on a slow
    /// tick and when these changes notify a status change.
    status_outbox_wake: Option<mediator_core::Changes>,
    /// DynamoDB (`--backend aws`): deletes of published voucher outbox
    /// items still owed are sent at shutdown.
    voucher_outbox: Option<Arc<aws_backend::DynamoStore>>,
    /// The audit log, pruned by the maintenance loop.
    audit: mediator_core::Audit,
    /// How long audit entries are kept.
    audit_retention: Duration,
    /// The first-run setup token, when there was no user at start.
    setup_token: Option<String>,
    /// Relays live changes to and from the other replicas (shared storage).
    relay: Option<Arc<mediator_core::relay::ChangeRelay>>,
    /// Outbound notifications and their sources (when channels are
    /// configured).
    notifier: Option<(
        Arc<mediator_core::notify::Notifier>,
        mediator_core::notify::NotifySources,
    )>,
}

/// What the chosen backend provides: the event publisher, the replay and
/// queue plumbing, and where the circuit state is decided.
struct Plumbing {
    publisher: Arc<dyn EventPublisher>,
    replays: Arc<dyn ArchiveReplays>,
    queue: Arc<dyn ResubmitQueue>,
    archives: Arc<dyn ArchiveBrowser>,
    /// The storage ports: the embedded database's (`mediator-sqlite`) or
    /// DynamoDB's.
    ports: Ports,
    /// Whether the storage is shared by replicas (DynamoDB): each process
    /// then names itself uniquely in leases and claims, and reads the
    /// billed status outbox on a slow tick.
    shared: bool,
    events: Option<EventsListener>,
    intake: Option<aws_backend::AwsIntake>,
    /// The DynamoDB store, flushed at shutdown (`--backend aws`).
    voucher_outbox: Option<Arc<aws_backend::DynamoStore>>,
    /// What readiness checks: the database, or the AWS resources.
    dependencies: Arc<dyn readiness::Dependencies>,
    /// Where replicas relay their live changes to each other (a shared
    /// storage's; the embedded backend is one process).
    feed: Option<Arc<dyn mediator_core::storage::feed::ChangeFeed>>,
}

impl Plumbing {
    fn recovery<T>(
        p: Arc<T>,
    ) -> (
        Arc<dyn ArchiveReplays>,
        Arc<dyn ResubmitQueue>,
        Arc<dyn ArchiveBrowser>,
    )
    where
        T: ArchiveReplays + ResubmitQueue + ArchiveBrowser + 'static,
    {
        (p.clone(), p.clone(), p)
    }

    /// The embedded EventBridge on `db`, provisioned for `parts`, with its
    /// wire API bound.
    async fn embedded(
        settings: &Settings,
        db: &Database,
        parts: &[PartSettings],
    ) -> anyhow::Result<Self> {
        let bus_config = bus::BusConfig {
            allow_private_destinations: settings.events_allow_private_destinations,
            ..bus::BusConfig::default().with_env()
        };
        let bus = bus::Bus::open(db.clone(), bus_config)
            .await
            .context("opening the embedded event bus")?;
        backend::provision(&bus, parts)
            .await
            .context("provisioning the embedded event bus")?;
        let (replays, queue, archives) =
            Self::recovery(Arc::new(backend::EmbeddedRecovery::new(bus.clone())));
        let listener = TcpListener::bind(settings.events_listen)
            .await
            .with_context(|| format!("events_listen: cannot bind {}", settings.events_listen))?;
        let addr = listener.local_addr()?;
        // Settings refuse this already; kept so no other path can open it.
        anyhow::ensure!(
            addr.ip().is_loopback() || !settings.events_access_keys.is_empty(),
            "events_access_keys: required when events_listen ({addr}) is not a loopback address"
        );
        let events = EventsListener {
            bus: bus.clone(),
            addr,
            listener,
            options: events_api::WireOptions {
                keys: settings.events_access_keys.clone(),
                listen: Some(addr),
                allowed_hosts: settings.events_allowed_hosts.clone(),
                request_timeout: settings.events_request_timeout,
            },
            limits: settings.events_connections,
            regions_root: settings.data_dir.join("regions"),
            durability: settings.durability.into(),
        };
        Ok(Self {
            publisher: Arc::new(backend::EmbeddedEvents::new(bus, backend::BUS_NAME)),
            replays,
            queue,
            archives,
            ports: mediator_sqlite::ports(db),
            shared: false,
            events: Some(events),
            intake: None,
            voucher_outbox: None,
            dependencies: Arc::new(db.clone()),
            feed: None,
        })
    }

    /// EventBridge, SQS and DynamoDB as `mediator provision --backend aws`
    /// made them; fails, naming the command, when they are missing.
    async fn aws(settings: &Settings, parts: &[PartSettings]) -> anyhow::Result<Self> {
        let conf = aws_backend::load_config(&settings.aws).await;
        let events = aws_sdk_eventbridge::Client::new(&conf);
        let location = aws_backend::Location::discover(&events, backend::BUS_NAME)
            .await
            .map_err(|e| anyhow::anyhow!("backend aws: cannot reach EventBridge: {e}"))?;
        events
            .describe_event_bus()
            .name(backend::BUS_NAME)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "backend aws: event bus {} not found ({}); run `mediator provision --backend aws` first",
                    backend::BUS_NAME,
                    aws_backend::sdk_message(&e)
                )
            })?;
        let tables = aws_backend::tables::Tables::default();
        aws_backend::check_tables(&conf, &tables)
            .await
            .map_err(|e| {
                anyhow::anyhow!("backend aws: {e}; run `mediator provision --backend aws` first")
            })?;
        let dependencies = Arc::new(aws_backend::AwsDependencies::new(
            &conf,
            &tables,
            backend::BUS_NAME,
            parts,
        ));
        let dynamo = Arc::new(aws_backend::DynamoStore::from_conf(&conf, tables));
        let (replays, queue, archives) =
            Self::recovery(Arc::new(aws_backend::AwsRecovery::new(&conf, location)));
        tracing::info!(
            region = ?conf.region(),
            "backend aws: EventBridge bus {}, SQS queues, DynamoDB tables",
            backend::BUS_NAME
        );
        Ok(Self {
            publisher: Arc::new(aws_backend::AwsEvents::new(
                events,
                backend::BUS_NAME,
                aws_backend::PublishSettings::default(),
            )),
            replays,
            queue,
            archives,
            ports: aws_backend::DynamoStore::ports(&dynamo),
            shared: true,
            voucher_outbox: Some(dynamo.clone()),
            events: None,
            intake: Some(aws_backend::AwsIntake::new(&conf)),
            dependencies,
            feed: Some(dynamo.clone()),
        })
    }
}

/// The embedded EventBridge and its wire-API listener.
struct EventsListener {
    bus: bus::Bus,
    listener: TcpListener,
    addr: SocketAddr,
    /// Keys, accepted `Host` names and the request time limit.
    options: events_api::WireOptions,
    /// Header and idle timeouts, connection cap.
    limits: serve::Limits,
    /// Where other regions' buses keep their databases
    /// ([`events_api::regions`]), and their durability.
    regions_root: std::path::PathBuf,
    durability: store::Durability,
}

/// Wraps the archive replays recovery uses ([`Application::build_with_replays`]).
pub type ReplaysWrapper =
    Box<dyn FnOnce(Arc<dyn ArchiveReplays>) -> Arc<dyn ArchiveReplays> + Send>;

impl Application {
    /// Opens the database (applying migrations), seeds the part status rows
    /// and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_submitter(settings, None).await
    }

    /// [`Application::build`], submitting vouchers through `submitter`
    /// instead of HTTP to the SaaS when one is given (the benchmark compares
    /// an in-process simulator with loopback HTTP).
    pub async fn build_with_submitter(
        settings: Settings,
        submitter: Option<Arc<dyn mediator_core::SaasSubmitter>>,
    ) -> anyhow::Result<Self> {
        Self::build_with(settings, submitter, None).await
    }

    /// [`Application::build`], with recovery reaching the bus's archive
    /// replays through `wrap` (tests: an archive that receives events late).
    pub async fn build_with_replays(
        settings: Settings,
        wrap: ReplaysWrapper,
    ) -> anyhow::Result<Self> {
        Self::build_with(settings, None, Some(wrap)).await
    }

    async fn build_with(
        settings: Settings,
        submitter: Option<Arc<dyn mediator_core::SaasSubmitter>>,
        wrap: Option<ReplaysWrapper>,
    ) -> anyhow::Result<Self> {
        let db = Database::open_with(&settings.data_dir, settings.durability.into())?;
        let changes = mediator_core::Changes::default();
        let changes_for_outbox = changes.clone();
        let streams_stop = CancellationToken::new();
        let mut parts: Vec<PartSettings> = settings.part_settings.clone();
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listen: cannot bind {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        // The simulator serves every part that has no URL of its own.
        let sim = if settings.needs_simulator() {
            let names: Vec<String> = settings.parts.iter().map(|p| p.to_string()).collect();
            let sim = saas::SimListener::bind(settings.sim_listen, &names).await?;
            let base = format!("http://{}", sim.addr);
            for p in &mut parts {
                let (status, submit) = saas::default_urls(&base, p.name.as_str());
                p.status_url.get_or_insert(status);
                p.submit_url.get_or_insert(submit);
            }
            Some(sim)
        } else {
            None
        };
        let status_urls = parts
            .iter()
            .map(|p| (p.name.to_string(), p.status_url.clone().unwrap_or_default()))
            .collect();
        let submit_urls = parts
            .iter()
            .map(|p| {
                let url = p.submit_url.clone().unwrap_or_default();
                (p.name.to_string(), (url, p.submit_timeout))
            })
            .collect();
        let longest_check = parts.iter().map(|p| p.check_timeout).max();
        let probe = saas::HttpProbe::new(
            status_urls,
            longest_check.unwrap_or(Duration::from_secs(30)),
        )?;
        let mut plumbing = match settings.backend {
            Backend::Embedded => Plumbing::embedded(&settings, &db, &parts).await?,
            Backend::Aws => Plumbing::aws(&settings, &parts).await?,
        };
        if let Some(wrap) = wrap {
            plumbing.replays = wrap(plumbing.replays.clone());
        }
        let ports = plumbing.ports.clone();
        // Every replica shows the circuits as decided in the (shared) store.
        let status = StatusBoard::new(ports.status.clone(), parts.clone());
        status
            .seed(chrono::Utc::now())
            .await
            .context("seeding part status")?;
        let access = mediator_core::Access::new(ports.access.clone());
        let add_user_hint = match settings.backend {
            Backend::Embedded => format!("--data-dir {}", settings.data_dir.display()),
            Backend::Aws => "--backend aws".to_string(),
        };
        let mut settings = settings;
        let setup_url = if settings.auth.mode == crate::config::AuthMode::Local
            && access.user_count().await? == 0
        {
            let token = mediator_core::access::random_secret();
            let host = match local_addr.ip() {
                ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            settings.auth.setup_token = Some(token.clone());
            Some(format!(
                "http://{host}:{}/?setup={token}",
                local_addr.port()
            ))
        } else {
            None
        };
        auth::announce(
            &settings.auth,
            &access,
            &add_user_hint,
            setup_url.as_deref(),
        )
        .await?;
        let status_store: Arc<dyn StatusStore> = ports.status.clone();
        let observed = metrics::Metrics::default();
        let probe = metrics::probe::TimedProbe::new(probe, observed.clone());
        let monitor = Monitor::new(ports.status.clone(), Arc::new(probe), parts.clone());
        // One process owns an embedded database: a restarted server takes
        // its parts back at once instead of waiting out the lease.
        let monitor = if plumbing.shared {
            monitor
        } else {
            monitor.with_replica(mediator_core::monitor::EMBEDDED_REPLICA)
        };
        let replica = monitor.replica().to_string();
        let relay = plumbing.feed.clone().map(|feed| {
            Arc::new(mediator_core::relay::ChangeRelay::new(
                feed,
                changes.clone(),
                replica.clone(),
            ))
        });
        let monitor = Arc::new(monitor.with_changes(changes.clone()));
        let submitter = match submitter {
            Some(s) => s,
            None => Arc::new(saas::HttpSubmitter::new(submit_urls)?),
        };
        let cache = mediator_core::DataCache::new(ports.vouchers.clone());
        let flow = Arc::new(
            SubmissionFlow::new(
                cache,
                submitter,
                settings.parts.clone(),
                settings.longest_submit_timeout(),
            )
            .with_max_attempts(settings.max_attempts)
            .with_changes(changes.clone()),
        );
        if let Some(events) = &plumbing.events {
            backend::register_request_consumer(&events.bus, flow.clone());
        }
        let archive_browser = plumbing.archives.clone();
        let recovery = Recovery::new(
            mediator_core::RecoveryPorts {
                status: ports.status.clone(),
                records: ports.replays.clone(),
            },
            flow.clone(),
            plumbing.replays.clone(),
            plumbing.queue.clone(),
            RecoverySettings {
                margin: settings.replay_margin,
                rate_per_sec: settings.resubmit_rate,
                concurrency: settings.resubmit_concurrency,
                poll: settings.poll_interval.min(Duration::from_millis(250)),
                retention: Duration::from_secs(
                    u64::from(mediator_core::DEFAULT_RETENTION_DAYS) * 86_400,
                ),
                sweep_interval: settings.sweep_interval,
                // The embedded bus archives an event in the transaction
                // that accepts it; EventBridge some time later.
                archive_lag: match settings.backend {
                    Backend::Embedded => Duration::ZERO,
                    Backend::Aws => mediator_core::recovery::AWS_ARCHIVE_LAG,
                },
            },
        )
        .with_parts(&parts)
        .with_changes(changes.clone());
        let recovery = Arc::new(recovery.with_replica(replica.clone()));
        let history = mediator_core::History::new(
            mediator_core::HistoryPorts {
                monitor: ports.monitor_history.clone(),
                vouchers: ports.vouchers.clone(),
                replays: ports.replays.clone(),
            },
            parts.clone(),
        )
        .with_recovery(recovery.clone())
        .with_archives(archive_browser);
        let overrides =
            mediator_core::Overrides::new(ports.overrides.clone(), settings.parts.clone())
                .with_changes(changes.clone());
        let maintenance = Arc::new(
            mediator_core::maintenance::Maintenance::new(
                ports.maintenance.clone(),
                settings.parts.clone(),
            )
            .with_recovery(recovery.clone())
            .with_changes(changes.clone()),
        );
        let audit = mediator_core::Audit::new(ports.audit.clone()).with_changes(changes.clone());
        let notifier = Some(Arc::new(
            mediator_core::notify::Notifier::new(
                ports.notifications.clone(),
                Arc::new(notify::HttpNotifier::new(
                    settings.notify.settings.send_timeout,
                )?),
                settings.notify.channels.clone(),
                settings.notify.settings.clone(),
            )
            .with_changes(changes.clone()),
        ));
        let metrics_state = metrics::MetricsState {
            metrics: observed,
            sources: Arc::new(metrics::scrape::Sources {
                flow: flow.clone(),
                recovery: recovery.clone(),
                overrides: overrides.clone(),
                history: history.clone(),
                bus: plumbing.events.as_ref().map(|e| e.bus.clone()),
                notifier: notifier.clone(),
            }),
        };
        let router = http::router(
            &settings,
            local_addr,
            db.clone(),
            readiness::Readiness::new(plumbing.dependencies.clone()),
            status,
            api::ApiState {
                flow: flow.clone(),
                recovery: recovery.clone(),
                overrides,
                history,
                changes,
                streams_stop: streams_stop.clone(),
                audit: audit.clone(),
                access,
                monitor: monitor.clone(),
                notifier: notifier.clone(),
                maintenance: maintenance.clone(),
            },
            metrics_state,
        );
        let notifier = notifier.filter(|n| !n.channels().is_empty()).map(|n| {
            let sources = mediator_core::notify::NotifySources {
                status: ports.status.clone(),
                cache: flow.cache().clone(),
                recovery: recovery.clone(),
                maintenance: Some(ports.maintenance.clone()),
            };
            (n, sources)
        });
        Ok(Self {
            listener,
            router,
            connections: settings.connections,
            db,
            local_addr,
            events: plumbing.events,
            intake: plumbing.intake,
            sim,
            monitor,
            flow,
            recovery,
            maintenance,
            demo_rate: settings.demo_rate,
            shutdown_grace: SHUTDOWN_GRACE.max(settings.longest_submit_timeout() * 2),
            streams_stop,
            publisher: plumbing.publisher,
            status_outbox_wake: plumbing.shared.then_some(changes_for_outbox),
            voucher_outbox: plumbing.voucher_outbox,
            status_store,
            replica,
            audit,
            audit_retention: settings.audit_retention,
            setup_token: settings.auth.setup_token.clone(),
            relay,
            notifier,
        })
    }

    /// The first-run setup token (`--auth local` with no user at start):
    /// `/?setup=TOKEN` signs the browser in as the setup admin.
    pub fn setup_token(&self) -> Option<&str> {
        self.setup_token.as_deref()
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the embedded EventBridge's wire API (useful with port
    /// 0); `None` with `--backend aws`.
    pub fn events_addr(&self) -> Option<SocketAddr> {
        self.events.as_ref().map(|e| e.addr)
    }

    /// The simulated SaaS's address, when it runs (no `saas_url` configured).
    pub fn sim_addr(&self) -> Option<SocketAddr> {
        self.sim.as_ref().map(|s| s.addr)
    }

    /// The embedded event bus; `None` with `--backend aws`.
    pub fn bus(&self) -> Option<&bus::Bus> {
        self.events.as_ref().map(|e| &e.bus)
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, drains
    /// in-flight requests and waits (bounded) for background tasks.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let tracker = TaskTracker::new();
        tracker.spawn(maintenance::run(
            self.db.clone(),
            self.audit.clone(),
            self.audit_retention,
            self.notifier.as_ref().map(|(n, _)| n.clone()),
            shutdown.clone(),
        ));
        if let Some(sim) = self.sim {
            tracing::info!("simulated SaaS listening on http://{}", sim.addr);
            let sim_shutdown = shutdown.clone();
            let limits = self.connections;
            tracker.spawn(async move {
                let served = serve::serve(
                    sim.listener,
                    saas_sim::router(sim.sim),
                    limits,
                    sim_shutdown,
                )
                .await;
                if let Err(e) = served {
                    tracing::error!("simulated SaaS server: {e}");
                }
            });
        }
        self.monitor.clone().spawn(&tracker, shutdown.clone());
        // SQLite's outbox is read every 250 ms; DynamoDB's (billed per
        // Query) every 10 s, and at once when this replica records a change
        // (another replica publishes its own; the tick covers one that died).
        let (every, wake) = match self.status_outbox_wake {
            Some(changes) => (Duration::from_secs(10), Some(changes)),
            None => (Duration::from_millis(250), None),
        };
        tracker.spawn(mediator_core::monitor::publish_run_with(
            self.status_store.clone(),
            self.publisher.clone(),
            self.replica.clone(),
            every,
            wake,
            shutdown.clone(),
        ));
        tracker.spawn(mediator_core::submit::publish_status_run(
            self.flow.cache().clone(),
            self.publisher.clone(),
            Duration::from_millis(100),
            shutdown.clone(),
        ));
        if let Some(intake) = self.intake {
            tracker.spawn(intake.run(self.flow.clone(), shutdown.clone()));
        }
        self.recovery.clone().spawn(&tracker, shutdown.clone());
        self.maintenance.clone().spawn(&tracker, shutdown.clone());
        if let Some(relay) = self.relay {
            relay.spawn(&tracker, shutdown.clone());
        }
        if let Some((notifier, sources)) = self.notifier {
            notifier.spawn(sources, &tracker, shutdown.clone());
        }
        // Open event streams end at shutdown, so the server can drain.
        let (stop, token) = (self.streams_stop.clone(), shutdown.clone());
        tracker.spawn(async move {
            token.cancelled().await;
            stop.cancel();
        });
        if let Some(rate) = self.demo_rate {
            let demo = Arc::new(demo::DemoTraffic::new(self.flow.clone(), rate));
            tracker.spawn(demo.run(shutdown.clone()));
        }
        if let Some(EventsListener {
            bus,
            listener,
            addr,
            options,
            limits,
            regions_root,
            durability,
        }) = self.events
        {
            bus.spawn_workers(&tracker, shutdown.clone());
            let opener = events_api::regions::Opener {
                root: regions_root,
                durability,
                config: bus.config().clone(),
                tracker: tracker.clone(),
                shutdown: shutdown.clone(),
            };
            let regions = events_api::regions::Regions::with_opener(bus, opener)
                .await
                .context("opening the EventBridge API's other regions")?;
            tracing::info!("EventBridge API listening on http://{addr}");
            let events_shutdown = shutdown.clone();
            tracker.spawn(async move {
                let router = events_api::router_with_regions(Arc::new(regions), options);
                let served = serve::serve(listener, router, limits, events_shutdown).await;
                if let Err(e) = served {
                    tracing::error!("EventBridge API server: {e}");
                }
            });
        }
        tracing::info!("console listening on http://{}", self.local_addr);
        // Requests carry the peer address (`ConnectInfo`), which tells
        // trusted proxies apart (`--trusted-proxies`).
        serve::serve(
            self.listener,
            self.router,
            self.connections,
            shutdown.clone(),
        )
        .await
        .context("http server")?;
        // Also stop the background tasks when the server ended on its own.
        shutdown.cancel();
        tracker.close();
        // New work has stopped (no listener, loops cancelled); submissions
        // already made to the SaaS are recorded before the process ends.
        let in_flight = self.flow.in_flight().clone();
        in_flight.close();
        let grace = self.shutdown_grace;
        let drained = async {
            tracker.wait().await;
            in_flight.wait().await;
        };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!(
                submissions_in_flight = in_flight.len(),
                "background tasks did not stop within {grace:?}"
            );
        }
        if let Some(store) = &self.voucher_outbox {
            // Left owed, they would be published again by a sweep.
            if let Err(e) = store.flush_published().await {
                tracing::warn!("published voucher outbox items not deleted: {e}");
            }
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    tracing::warn!("cannot listen for SIGTERM: {e}");
                    std::future::pending::<()>().await
                }
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
            _ = term => tracing::info!("SIGTERM received, shutting down"),
        }
        token.cancel();
    });
}
