//! The HTTP surface: console pages (server-rendered Leptos), server
//! functions, health endpoints, a small JSON API and static assets.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::api::api_parts;
use app::api::ConsoleContext;
use app::{shell, App};
use axum::body::Body;
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
    let overview_pages = OverviewPages::new(state.console.clone(), api.changes.clone());
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
        // The overview's rendered HTML, per caller (inside sign-in).
        .layer(axum::middleware::from_fn_with_state(
            overview_pages,
            overview_page_cache,
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

/// Most rendered overview pages kept at once (one per caller and query
/// string); past that, pages are rendered without being kept.
const OVERVIEW_PAGES_MAX: usize = 128;

/// The overview page (`GET /`) as rendered, reused while what it shows is
/// current.
///
/// **Freshness** follows the overview read model's own rule
/// ([`app::api::overview_snapshot`]): a page is current while no change was
/// notified on the hub since it was rendered and the snapshot it shows is
/// younger than [`app::api::OVERVIEW_MAX_AGE`]. When it is not, one request
/// renders it again (one render at a time) and the requests arriving
/// meanwhile wait for that render. So caching the HTML adds no staleness:
/// a page load that starts after a change was notified shows it, and no
/// page shows data older than `OVERVIEW_MAX_AGE` (500 ms).
///
/// **Keys**: the path and query, and the caller (the navigation shows the
/// signed-in user and the sign-out form carries the session's CSRF token).
///
/// **Nonce**: only the CSP nonce differs between two responses of one
/// page: the body and headers are kept split at the nonce they were
/// rendered with, and every response gets a fresh one
/// ([`leptos::nonce::Nonce::new`], 128 random bits) in its scripts and its
/// `Content-Security-Policy`. Only complete `200` pages without
/// `Set-Cookie` are kept.
#[derive(Clone)]
pub struct OverviewPages {
    inner: Arc<OverviewPagesInner>,
}

struct OverviewPagesInner {
    console: ConsoleContext,
    changes: mediator_core::Changes,
    entries: std::sync::Mutex<std::collections::HashMap<String, Arc<RenderedPage>>>,
    render: tokio::sync::Mutex<()>,
}

/// One rendered page: what it shows, its headers and body, each kept as the
/// pieces between occurrences of its nonce.
struct RenderedPage {
    /// The hub's change count read before the page was rendered.
    version: u64,
    /// When the snapshot the page shows (or an older one) was read.
    data_at: std::time::Instant,
    status: StatusCode,
    /// Headers without the nonce, as is.
    headers: axum::http::HeaderMap,
    /// Headers that carried the nonce, split at it.
    nonce_headers: Vec<(header::HeaderName, Vec<String>)>,
    /// The body split at the nonce.
    body: Vec<axum::body::Bytes>,
    body_len: usize,
}

impl RenderedPage {
    /// Splits a rendered response at its nonce; `None` if it must not be
    /// kept (not a complete 200 HTML page, or it sets a cookie).
    fn capture(
        version: u64,
        data_at: std::time::Instant,
        parts: &axum::http::response::Parts,
        body: &[u8],
    ) -> Option<RenderedPage> {
        let is_html = parts
            .headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
        if parts.status != StatusCode::OK
            || !is_html
            || parts.headers.contains_key(header::SET_COOKIE)
        {
            return None;
        }
        let nonce = page_nonce(&parts.headers)?;
        let text = std::str::from_utf8(body).ok()?;
        let pieces: Vec<axum::body::Bytes> = text
            .split(nonce.as_str())
            .map(|s| axum::body::Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        let mut headers = axum::http::HeaderMap::new();
        let mut nonce_headers = Vec::new();
        for (name, value) in &parts.headers {
            match value.to_str() {
                Ok(v) if v.contains(nonce.as_str()) => nonce_headers.push((
                    name.clone(),
                    v.split(nonce.as_str()).map(str::to_owned).collect(),
                )),
                _ => {
                    headers.append(name.clone(), value.clone());
                }
            }
        }
        headers.remove(header::CONTENT_LENGTH);
        Some(RenderedPage {
            version,
            data_at,
            status: parts.status,
            headers,
            nonce_headers,
            body_len: text.len() - (pieces.len() - 1) * nonce.len(),
            body: pieces,
        })
    }

    /// Whether nothing was notified since the render and the data is
    /// younger than the read model's bound.
    fn current(&self, version: u64) -> bool {
        self.version == version && self.data_at.elapsed() < app::api::OVERVIEW_MAX_AGE
    }

    /// Whether the data is still within the read model's bound (a change may
    /// have been notified since).
    fn recent(&self) -> bool {
        self.data_at.elapsed() < app::api::OVERVIEW_MAX_AGE
    }

    /// The page with a fresh nonce.
    fn respond(&self) -> Response {
        let nonce = leptos::nonce::Nonce::new();
        let nonce: &str = &nonce;
        let mut body = Vec::with_capacity(self.body_len + self.body.len() * nonce.len());
        for (i, piece) in self.body.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(nonce.as_bytes());
            }
            body.extend_from_slice(piece);
        }
        let mut res = Response::new(Body::from(body));
        *res.status_mut() = self.status;
        *res.headers_mut() = self.headers.clone();
        for (name, pieces) in &self.nonce_headers {
            if let Ok(v) = HeaderValue::from_str(&pieces.join(nonce)) {
                res.headers_mut().insert(name.clone(), v);
            }
        }
        res
    }
}

/// The nonce of a rendered console page, from its CSP (`'nonce-…'`).
fn page_nonce(headers: &axum::http::HeaderMap) -> Option<String> {
    let csp = headers
        .get(header::CONTENT_SECURITY_POLICY)?
        .to_str()
        .ok()?;
    let (_, rest) = csp.split_once("'nonce-")?;
    let (nonce, _) = rest.split_once('\'')?;
    // Leptos's nonces are 22 URL-safe base64 characters; anything short
    // could occur in the page by chance.
    (nonce.len() >= 16
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then(|| nonce.to_owned())
}

impl OverviewPages {
    /// An empty cache of the overview page rendered from `console`'s
    /// overview read model, which follows `changes`.
    pub fn new(console: ConsoleContext, changes: mediator_core::Changes) -> Self {
        OverviewPages {
            inner: Arc::new(OverviewPagesInner {
                console,
                changes,
                entries: Default::default(),
                render: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn page(&self, key: &str) -> Option<Arc<RenderedPage>> {
        let entries = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).cloned()
    }

    fn keep(&self, key: String, page: RenderedPage) {
        let mut entries = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= OVERVIEW_PAGES_MAX && !entries.contains_key(&key) {
            // Outdated entries first; if the map is still full, keep nothing.
            entries.retain(|_, p| p.recent());
            if entries.len() >= OVERVIEW_PAGES_MAX {
                return;
            }
        }
        entries.insert(key, Arc::new(page));
    }

    /// Renders the page through `next` and keeps it.
    async fn render(&self, key: String, req: Request, next: axum::middleware::Next) -> Response {
        // Read in this order: the page shows the snapshot read after
        // `version` (or a newer one), never data from before it.
        let version = self.inner.changes.version();
        let data_at = match app::api::overview_snapshot(&self.inner.console).await {
            Ok(o) => snapshot_instant(&o.generated_at),
            // The read model is unavailable: the page shows the error.
            Err(_) => return next.run(req).await,
        };
        let (parts, body) = next.run(req).await.into_parts();
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("overview page: {e}");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        if let Some(page) = RenderedPage::capture(version, data_at, &parts, &body) {
            self.keep(key, page);
        }
        Response::from_parts(parts, Body::from(body))
    }
}

/// The moment a snapshot generated at `generated_at` (RFC 3339) was read;
/// an unreadable time counts as already too old to reuse.
fn snapshot_instant(generated_at: &str) -> std::time::Instant {
    let now = std::time::Instant::now();
    let age = chrono::DateTime::parse_from_rfc3339(generated_at)
        .ok()
        .and_then(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        })
        .unwrap_or(app::api::OVERVIEW_MAX_AGE);
    now.checked_sub(age).unwrap_or(now)
}

/// What the overview page's HTML depends on besides the data and the
/// nonce: the path and query, and the caller the navigation shows.
fn page_key(req: &Request) -> Option<String> {
    let who = req.extensions().get::<mediator_core::Principal>()?;
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    Some(format!(
        "{pq}\n{}\n{}\n{}\n{}",
        who.name,
        who.role.as_str(),
        who.via.as_str(),
        who.csrf.as_deref().unwrap_or("")
    ))
}

/// Middleware: `GET /` from [`OverviewPages`]; every other request passes.
pub async fn overview_page_cache(
    State(pages): State<OverviewPages>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() != axum::http::Method::GET || req.uri().path() != "/" {
        return next.run(req).await;
    }
    let Some(key) = page_key(&req) else {
        return next.run(req).await;
    };
    let version = pages.inner.changes.version();
    if let Some(page) = pages.page(&key).filter(|p| p.current(version)) {
        return page.respond();
    }
    // Stale or missing: one render at a time; the others wait for it
    // (never the previous page: a change notified before this request
    // started must be on it).
    let one = pages.inner.render.lock().await;
    // Whoever held the lock may have just rendered it.
    if let Some(page) = pages
        .page(&key)
        .filter(|p| p.current(pages.inner.changes.version()))
    {
        return page.respond();
    }
    let res = pages.render(key, req, next).await;
    drop(one);
    res
}
