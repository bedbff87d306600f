//! The HTTP surface: console pages (server-rendered Leptos), server
//! functions, health endpoints, a small JSON API and static assets.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::api::api_parts;
use app::api::ConsoleContext;
use app::{shell, App};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use mediator_core::StatusBoard;
use store::Database;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::Settings;

/// Shared state of the axum handlers: one shared [`AppParts`]. Axum clones
/// a route's service — and so its state — for every request, so a clone
/// must be a reference count; handlers extract the part they need.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

/// What the handlers share (see [`AppState`]).
pub struct AppParts {
    /// Leptos's settings (site root, bundle name).
    pub leptos_options: LeptosOptions,
    /// The database.
    pub db: Database,
    /// What the console reads and acts through.
    pub console: ConsoleContext,
    /// Where the console's static files come from.
    pub site: crate::site::Site,
    /// What `/readyz` checks: the backend's dependencies.
    pub readiness: Arc<crate::readiness::Readiness>,
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos_options.clone()
    }
}

impl axum::extract::FromRef<AppState> for Database {
    fn from_ref(s: &AppState) -> Self {
        s.db.clone()
    }
}

impl axum::extract::FromRef<AppState> for ConsoleContext {
    fn from_ref(s: &AppState) -> Self {
        s.console.clone()
    }
}

/// Builds the router for the given settings.
pub fn router(
    settings: &Settings,
    addr: SocketAddr,
    db: Database,
    readiness: crate::readiness::Readiness,
    status: StatusBoard,
    api: crate::api::ApiState,
    metrics: crate::metrics::MetricsState,
) -> Router {
    let site = crate::site::Site::choose(settings.site_root.as_deref());
    tracing::info!("{}", site.describe());
    let leptos_options = leptos_options(settings, &site, addr);
    let history = api.history.clone();
    let console_api = crate::console_api::ConsoleApiState {
        history: api.history.clone(),
        changes: api.changes.clone(),
        streams_stop: api.streams_stop.clone(),
        subscribers: Arc::new(tokio::sync::Semaphore::new(settings.max_stream_subscribers)),
    };
    let embeds = crate::embed::EmbedState {
        status: status.clone(),
        history: api.history.clone(),
        overrides: api.overrides.clone(),
        maintenance: api.maintenance.clone(),
        embed_csp: Arc::new(crate::embed::embed_csp(&settings.frame_ancestors)),
    };
    let cors = crate::console_api::cors(&settings.cors_origins);
    let state = AppState(Arc::new(AppParts {
        leptos_options: leptos_options.clone(),
        db,
        console: ConsoleContext::new(app::api::ConsoleParts {
            status,
            flow: api.flow.clone(),
            recovery: api.recovery.clone(),
            overrides: api.overrides.clone(),
            history,
            audit: api.audit.clone(),
            monitor: api.monitor.clone(),
            notifier: api.notifier.clone(),
            maintenance: api.maintenance.clone(),
            overview_cache: app::api::overview_cache(api.changes.clone()),
        }),
        site: site.clone(),
        readiness: Arc::new(readiness),
    }));
    let auth = crate::auth::AuthState {
        settings: Arc::new(settings.auth.clone()),
        access: api.access.clone(),
        audit: api.audit.clone(),
        users_exist: Default::default(),
        login_limits: Default::default(),
    };
    let pages = crate::pages::PageCache::new(state.console.clone(), api.changes.clone());
    let routes = generate_route_list(App);
    let context = page_context(&state);

    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/parts", get(api_parts).layer(cors.clone()))
        .merge(crate::console_api::routes(console_api.clone()).layer(cors.clone()))
        .merge(crate::console_api::stream_routes(console_api).layer(cors.clone()))
        .merge(crate::embed::badge_routes(embeds.clone()).layer(cors))
        .route("/api/openapi.json", get(crate::openapi::openapi_json))
        .merge(crate::auth::routes(auth.clone()))
        .merge(crate::metrics::routes(metrics.clone()))
        .merge(
            crate::api::routes(api).layer(axum::extract::DefaultBodyLimit::max(
                crate::security::API_MAX_BODY_BYTES,
            )),
        )
        .nest_service("/pkg", site.pkg_service())
        .leptos_routes_with_context(&state, routes, context, {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(static_or_not_found)
        // The page's owner stays current for its whole render (see page_owner).
        .layer(axum::middleware::from_fn(crate::page_owner::keep))
        // Only the embeds may be framed, by the --frame-ancestors origins;
        // console pages set their own CSP (with the render's nonce).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(crate::security::FALLBACK_CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .merge(crate::embed::routes(embeds))
        // Rendered console pages and embeds, per caller, between changes
        // (inside sign-in: only callers let through reach a kept page).
        .layer(axum::middleware::from_fn_with_state(
            pages,
            crate::pages::page_cache,
        ))
        // Sign-in, roles and CSRF for everything above (see `auth`).
        .layer(axum::middleware::from_fn_with_state(
            auth,
            crate::auth::authenticate,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        .layer(CompressionLayer::new())
        // Request id, the request's span, panics as 500s, the access line.
        .layer(axum::middleware::from_fn(crate::access_log::access))
        // Request durations by route template and status (the 500s above included).
        .layer(axum::middleware::from_fn_with_state(
            metrics.metrics,
            crate::metrics::track_requests,
        ))
        .with_state(state);
    crate::security::harden(router)
}

/// Leptos's settings from the environment ([`crate::config::leptos`]),
/// with what `serve` decides: the address bound, the site's root and the
/// bundle's directory (hashed when the site is in the binary).
fn leptos_options(
    settings: &Settings,
    site: &crate::site::Site,
    addr: SocketAddr,
) -> LeptosOptions {
    let mut options = settings.leptos.clone();
    options.site_addr = addr;
    options.site_pkg_dir = site.pkg_dir().into();
    match site {
        crate::site::Site::Disk(root) => {
            options.site_root = root.to_string_lossy().into();
        }
        crate::site::Site::Embedded(embedded) => {
            options.output_name = embedded.output_name.into();
        }
    }
    options
}

/// What every rendered page gets in its context: the console, the page's
/// CSP and, with the site in the binary, the lazy routes' preloads.
fn page_context(state: &AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    let console = state.console.clone();
    let split_manifest = state.site.split_manifest();
    move || {
        crate::page_owner::remember();
        provide_context(console.clone());
        if let Some(m) = &split_manifest {
            provide_context(m.clone());
        }
        crate::security::provide_page_csp();
    }
}

/// Liveness: the process is up and serving.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: what the backend needs answers (see [`crate::readiness`]).
async fn readyz(State(state): State<AppState>) -> Response {
    state.readiness.answer().await
}

/// Serves a public asset from the site root if one exists at the path;
/// otherwise renders the console, whose router shows the 404 page.
async fn static_or_not_found(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Some(res) = state.site.public_asset(&parts).await {
        return res;
    }
    // A public path (it looked like a file): the 404 page's navigation
    // shows the caller, looked up only now that a page is rendered.
    let mut parts = parts;
    if parts.extensions.get::<mediator_core::Principal>().is_none() {
        let deferred = parts
            .extensions
            .get::<crate::auth::DeferredCaller>()
            .cloned();
        if let Some(p) = match deferred {
            Some(d) => d.resolve().await,
            None => None,
        } {
            parts.extensions.insert(p);
        }
    }
    let options = state.leptos_options.clone();
    let handler = leptos_axum::render_app_to_stream_with_context(page_context(&state), move || {
        shell(options.clone())
    });
    handler(Request::from_parts(parts, body))
        .await
        .into_response()
}
