//! The `mediator` server: wires configuration, storage, background tasks and
//! the HTTP surface (console pages, server functions, health endpoints,
//! static assets) together.
//!
//! [`Application::build`] binds the listener and prepares everything;
//! [`Application::run_until_stopped`] serves until the given token is
//! cancelled, then drains requests and waits for background tasks.

pub mod api;
pub mod auth;
pub mod auth_cli;
pub mod backend;
pub mod cli;
pub mod config;
pub mod console_api;
pub mod demo;
pub mod embed;
pub mod events_api;
pub mod http;
pub mod maintenance;
pub mod openapi;
pub mod saas;
pub mod security;
pub mod telemetry;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use std::sync::Arc;

use mediator_core::{
    Monitor, PartSettings, Recovery, RecoverySettings, StatusBoard, SubmissionFlow,
};
use store::Database;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Settings;

/// How long background tasks get to finish after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A built, bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    db: Database,
    local_addr: SocketAddr,
    events: EventsListener,
    sim: Option<saas::SimListener>,
    monitor: Arc<Monitor>,
    flow: Arc<SubmissionFlow>,
    recovery: Arc<Recovery>,
    demo_rate: Option<f64>,
    streams_stop: CancellationToken,
}

/// The embedded EventBridge and its wire-API listener.
struct EventsListener {
    bus: bus::Bus,
    listener: TcpListener,
    addr: SocketAddr,
    /// Keys whose SigV4 signatures it accepts (empty: any credentials).
    keys: events_api::AccessKeys,
}

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
        let db = Database::open(&settings.data_dir)?;
        auth::announce(&settings.auth, &db, &settings.data_dir).await?;
        let changes = mediator_core::Changes::default();
        let streams_stop = CancellationToken::new();
        let mut parts: Vec<PartSettings> = settings.part_settings.clone();
        let status = StatusBoard::new(db.clone(), parts.clone());
        status
            .seed(chrono::Utc::now())
            .await
            .context("seeding part status")?;
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
        let monitor = Arc::new(
            Monitor::new(db.clone(), Arc::new(probe), parts.clone()).with_changes(changes.clone()),
        );
        let bus = bus::Bus::open(db.clone(), bus::BusConfig::default().with_env())
            .await
            .context("opening the embedded event bus")?;
        backend::provision(&bus, &parts)
            .await
            .context("provisioning the embedded event bus")?;
        let submitter = match submitter {
            Some(s) => s,
            None => Arc::new(saas::HttpSubmitter::new(submit_urls)?),
        };
        let flow = Arc::new(
            SubmissionFlow::new(
                db.clone(),
                submitter,
                settings.parts.clone(),
                settings.longest_submit_timeout(),
            )
            .with_max_attempts(settings.max_attempts)
            .with_changes(changes.clone()),
        );
        backend::register_request_consumer(&bus, flow.clone());
        let plumbing = Arc::new(backend::EmbeddedRecovery::new(bus.clone()));
        let archive_browser: Arc<dyn mediator_core::archives::ArchiveBrowser> = plumbing.clone();
        let recovery = Arc::new(
            Recovery::new(
                db.clone(),
                flow.clone(),
                plumbing.clone(),
                plumbing,
                RecoverySettings {
                    margin: settings.replay_margin,
                    rate_per_sec: settings.resubmit_rate,
                    concurrency: settings.resubmit_concurrency,
                    poll: settings.poll_interval.min(Duration::from_millis(250)),
                    retention: Duration::from_secs(
                        u64::from(mediator_core::DEFAULT_RETENTION_DAYS) * 86_400,
                    ),
                    sweep_interval: settings.sweep_interval,
                },
            )
            .with_parts(&parts)
            .with_changes(changes.clone()),
        );
        let history = mediator_core::History::new(db.clone(), parts.clone())
            .with_recovery(recovery.clone())
            .with_archives(archive_browser);
        let router = http::router(
            &settings,
            local_addr,
            db.clone(),
            status,
            api::ApiState {
                flow: flow.clone(),
                recovery: recovery.clone(),
                overrides: mediator_core::Overrides::new(db.clone(), settings.parts.clone())
                    .with_changes(changes.clone()),
                history,
                changes,
                streams_stop: streams_stop.clone(),
                audit: mediator_core::Audit::new(db.clone()),
            },
        );
        let events_listener = TcpListener::bind(settings.events_listen)
            .await
            .with_context(|| format!("events_listen: cannot bind {}", settings.events_listen))?;
        let events = EventsListener {
            bus,
            addr: events_listener.local_addr()?,
            listener: events_listener,
            keys: settings.events_access_keys.clone(),
        };
        if !events.addr.ip().is_loopback() && events.keys.is_empty() {
            tracing::warn!(
                "EventBridge API on {} beyond loopback without --events-access-keys: \
                 anyone who reaches it can change rules and start replays",
                events.addr
            );
        }
        Ok(Self {
            listener,
            router,
            db,
            local_addr,
            events,
            sim,
            monitor,
            flow,
            recovery,
            demo_rate: settings.demo_rate,
            streams_stop,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the EventBridge wire API (useful with port 0).
    pub fn events_addr(&self) -> SocketAddr {
        self.events.addr
    }

    /// The simulated SaaS's address, when it runs (no `saas_url` configured).
    pub fn sim_addr(&self) -> Option<SocketAddr> {
        self.sim.as_ref().map(|s| s.addr)
    }

    /// The embedded event bus.
    pub fn bus(&self) -> &bus::Bus {
        &self.events.bus
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, drains
    /// in-flight requests and waits (bounded) for background tasks.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let tracker = TaskTracker::new();
        tracker.spawn(maintenance::run(self.db.clone(), shutdown.clone()));
        if let Some(sim) = self.sim {
            tracing::info!("simulated SaaS listening on http://{}", sim.addr);
            let sim_shutdown = shutdown.clone();
            tracker.spawn(async move {
                let served = axum::serve(sim.listener, saas_sim::router(sim.sim))
                    .with_graceful_shutdown(sim_shutdown.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!("simulated SaaS server: {e}");
                }
            });
        }
        self.monitor.clone().spawn(&tracker, shutdown.clone());
        tracker.spawn(mediator_core::monitor::publish_run(
            self.db.clone(),
            Arc::new(backend::EmbeddedEvents::new(
                self.events.bus.clone(),
                backend::BUS_NAME,
            )),
            Duration::from_millis(250),
            shutdown.clone(),
        ));
        tracker.spawn(mediator_core::submit::publish_status_run(
            self.flow.cache().clone(),
            Arc::new(backend::EmbeddedEvents::new(
                self.events.bus.clone(),
                backend::BUS_NAME,
            )),
            Duration::from_millis(100),
            shutdown.clone(),
        ));
        self.recovery.clone().spawn(&tracker, shutdown.clone());
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
        let EventsListener {
            bus,
            listener,
            addr,
            keys,
        } = self.events;
        bus.spawn_workers(&tracker, shutdown.clone());
        tracing::info!("EventBridge API listening on http://{addr}");
        let events_shutdown = shutdown.clone();
        tracker.spawn(async move {
            let served = axum::serve(listener, events_api::router_with_keys(bus, keys))
                .with_graceful_shutdown(events_shutdown.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!("EventBridge API server: {e}");
            }
        });
        tracing::info!("console listening on http://{}", self.local_addr);
        // The peer address tells trusted proxies apart (`--trusted-proxies`).
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await
        .context("http server")?;
        // Also stop the background tasks when the server ended on its own.
        shutdown.cancel();
        tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop within {SHUTDOWN_GRACE:?}");
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
