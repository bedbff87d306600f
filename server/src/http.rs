//! The HTTP surface: console pages (server-rendered Leptos), server
//! functions, health endpoints, a small JSON API and static assets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use app::api::ConsoleContext;
use app::{shell, App};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use mediator_core::StatusBoard;
use store::Database;
use tower::ServiceExt;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::Settings;

/// Cache policy of the wasm/JS/CSS bundle: its file names are not hashed, so
/// browsers must revalidate (cheap: a 304 against `Last-Modified`).
const PKG_CACHE: &str = "no-cache";
/// Cache policy of the other public assets (favicon, images).
const ASSET_CACHE: &str = "public, max-age=86400";

/// Shared state of the axum handlers.
#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Database,
    pub console: ConsoleContext,
    pub site_root: Arc<PathBuf>,
    pub overrides: mediator_core::Overrides,
}

/// Builds the router for the given settings.
pub fn router(
    settings: &Settings,
    addr: SocketAddr,
    db: Database,
    status: StatusBoard,
    api: crate::api::ApiState,
) -> Router {
    let leptos_options = LeptosOptions::builder()
        .output_name(app::OUTPUT_NAME)
        .site_root(settings.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    let history = api.history.clone();
    let console_api = crate::console_api::ConsoleApiState {
        history: api.history.clone(),
        changes: api.changes.clone(),
        streams_stop: api.streams_stop.clone(),
    };
    let embeds = crate::embed::EmbedState {
        status: status.clone(),
        history: api.history.clone(),
        overrides: api.overrides.clone(),
        embed_csp: Arc::new(crate::embed::embed_csp(&settings.frame_ancestors)),
    };
    let cors = crate::console_api::cors(&settings.cors_origins);
    let state = AppState {
        leptos_options: leptos_options.clone(),
        db,
        console: ConsoleContext {
            status,
            flow: api.flow.clone(),
            recovery: api.recovery.clone(),
            overrides: api.overrides.clone(),
            history,
            audit: api.audit.clone(),
            overview_cache: app::api::overview_cache(api.changes.clone()),
        },
        site_root: Arc::new(settings.site_root.clone()),
        overrides: api.overrides.clone(),
    };
    let auth = crate::auth::AuthState {
        settings: Arc::new(settings.auth.clone()),
        access: mediator_core::Access::new(state.db.clone()),
        audit: api.audit.clone(),
        users_exist: Default::default(),
    };
    let routes = generate_route_list(App);
    let console = state.console.clone();
    let context = move || {
        provide_context(console.clone());
        crate::security::provide_page_csp();
    };

    let pkg = ServeDir::new(settings.site_root.join("pkg"));
    let pkg = tower::ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static(PKG_CACHE),
        ))
        .service(pkg);

    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/parts", get(api_parts).layer(cors.clone()))
        .merge(crate::console_api::routes(console_api.clone()).layer(cors.clone()))
        .merge(crate::console_api::stream_routes(console_api).layer(cors.clone()))
        .merge(crate::embed::badge_routes(embeds.clone()).layer(cors))
        .route("/api/openapi.json", get(crate::openapi::openapi_json))
        .merge(crate::auth::routes(auth.clone()))
        .merge(
            crate::api::routes(api).layer(axum::extract::DefaultBodyLimit::max(
                crate::security::API_MAX_BODY_BYTES,
            )),
        )
        .nest_service("/pkg", pkg)
        .leptos_routes_with_context(&state, routes, context, {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(static_or_not_found)
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
        .layer(TraceLayer::new_for_http())
        .with_state(state);
    crate::security::harden(router)
}

/// Liveness: the process is up and serving.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
async fn readyz(State(db): State<Database>) -> Response {
    match db.ping().await {
        Ok(()) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::warn!("not ready: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable", "reason": e.to_string() })),
            )
                .into_response()
        }
    }
}

/// `GET /api/v1/parts`: the overview as JSON (same data as the console),
/// plus each part's manual `override` and effective `circuit`.
async fn api_parts(
    State(console): State<ConsoleContext>,
    State(overrides): State<mediator_core::Overrides>,
) -> Response {
    match app::api::overview(&console).await {
        Ok(o) => {
            let o = serde_json::to_value(o).unwrap_or_default();
            match crate::api::with_overrides(&overrides, o).await {
                Ok(o) => Json(o).into_response(),
                Err(e) => e.into_response(),
            }
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

/// Serves a public asset from the site root if one exists at the path;
/// otherwise renders the console, whose router shows the 404 page.
async fn static_or_not_found(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD {
        let probe = Request::from_parts(parts.clone(), Body::empty());
        let Ok(mut res) = ServeDir::new(state.site_root.as_path())
            .append_index_html_on_directories(false)
            .oneshot(probe)
            .await;
        if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE));
            return res.map(Body::new);
        }
    }
    let console = state.console.clone();
    let options = state.leptos_options.clone();
    let handler = leptos_axum::render_app_to_stream_with_context(
        move || {
            provide_context(console.clone());
            crate::security::provide_page_csp();
        },
        move || shell(options.clone()),
    );
    handler(Request::from_parts(parts, body))
        .await
        .into_response()
}
