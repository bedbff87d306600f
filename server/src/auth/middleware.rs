//! The middleware over the console router: public paths, deferred
//! callers, sign-in, the `Host` check and CSRF.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use mediator_core::access::{Principal, Via};

use super::caller::peer;
use super::csrf::{changes_state, check_csrf};
use super::login::encode;
use super::refusal::refuse;
use super::settings::AuthMode;
use super::state::AuthState;

/// Whether `path` is served without sign-in.
fn is_public(method: &Method, path: &str, private_embeds: bool) -> bool {
    const EXACT: [&str; 5] = [
        "/healthz",
        "/readyz",
        "/login",
        "/logout",
        "/api/openapi.json",
    ];
    if EXACT.contains(&path) || path.starts_with("/pkg/") {
        return true;
    }
    if path == "/api/v1/stream" || path.starts_with("/embed/") || path.starts_with("/badge/") {
        return !private_embeds;
    }
    // Public assets (favicon, images…) are files with an extension outside
    // /api; the fallback serves them or renders the 404 page.
    (method == Method::GET || method == Method::HEAD)
        && !path.starts_with("/api/")
        && path.rsplit('/').next().is_some_and(|f| f.contains('.'))
}

/// When a public request needs its caller (if it has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallerNeed {
    /// Never: assets of `/pkg`, health, the OpenAPI document, the stream,
    /// embeds, badges, sign-in and sign-out posts (which read the cookie
    /// themselves).
    Never,
    /// Right away: the login page renders the navigation.
    Now,
    /// Only if no file answers: the fallback then renders the 404 page
    /// with the navigation ([`DeferredCaller`]).
    Deferred,
}

/// What a public request needs of its caller.
fn caller_need(method: &Method, path: &str) -> CallerNeed {
    let read = *method == Method::GET || *method == Method::HEAD;
    if path == "/login" && read {
        return CallerNeed::Now;
    }
    let fixed = [
        "/healthz",
        "/readyz",
        "/login",
        "/logout",
        "/api/openapi.json",
        "/api/v1/stream",
    ];
    if !read
        || fixed.contains(&path)
        || path.starts_with("/pkg/")
        || path.starts_with("/embed/")
        || path.starts_with("/badge/")
    {
        return CallerNeed::Never;
    }
    CallerNeed::Deferred
}

/// The caller of a public request that may or may not need it (a public
/// asset, or the 404 page when there is no such file): resolved only when
/// asked, so serving a file never looks up a session.
#[derive(Clone)]
pub struct DeferredCaller {
    state: AuthState,
    headers: HeaderMap,
    peer: Option<IpAddr>,
}

impl DeferredCaller {
    /// The caller, if the request carries valid credentials (a refusal or
    /// an unavailable database counts as anonymous: the page is public).
    pub async fn resolve(&self) -> Option<Principal> {
        self.state
            .principal(&self.headers, self.peer)
            .await
            .ok()
            .flatten()
    }
}

/// The middleware: resolves the caller, enforces sign-in and CSRF.
pub async fn authenticate(
    State(state): State<AuthState>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let peer = peer(&req);
    if state.settings.mode == AuthMode::Local && method == Method::GET {
        let (uri, secure) = (req.uri().clone(), state.secure(&req));
        if let Some(res) = state.setup_link(&uri, secure).await {
            return res;
        }
    }
    if is_public(&method, &path, state.settings.private_embeds) {
        // Public routes learn the caller only when they show it (the login
        // page's and the 404 page's navigation): no session lookup per asset.
        match caller_need(&method, &path) {
            CallerNeed::Never => {}
            CallerNeed::Now => {
                if let Ok(Some(p)) = state.principal(req.headers(), peer).await {
                    crate::access_log::record_user(&p.name);
                    req.extensions_mut().insert(p);
                }
            }
            CallerNeed::Deferred => {
                let deferred = DeferredCaller {
                    state: state.clone(),
                    headers: req.headers().clone(),
                    peer,
                };
                req.extensions_mut().insert(deferred);
            }
        }
        return next.run(req).await;
    }
    let principal = match state.principal(req.headers(), peer).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            let page = method == Method::GET
                && !path.starts_with("/api/")
                && !path.starts_with("/badge/")
                && path != "/metrics";
            if page {
                let target = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                return Redirect::to(&format!("/login?next={}", encode(target))).into_response();
            }
            return refuse(
                StatusCode::UNAUTHORIZED,
                "sign in first: a session cookie (POST /login) or Authorization: Bearer <token>",
                None,
            );
        }
        Err(res) => return res,
    };
    let open = principal.via == Via::Open;
    if open {
        if let Err(r) = state.allowed_host(req.headers()) {
            return r.into_response();
        }
    }
    if changes_state(&method) && principal.via != Via::Token {
        if let Err(r) = check_csrf(&state, req.headers(), peer, &principal) {
            return r.into_response();
        }
    }
    crate::access_log::record_user(&principal.name);
    req.extensions_mut().insert(principal);
    let mut res = next.run(req).await;
    if open
        && res
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_some_and(|v| v == "*")
    {
        // `*` is for callers with nothing to lose: a caller let in without
        // a credential sees everything, so other sites' scripts may not
        // read what it reads (origins listed in --cors-origins still may).
        res.headers_mut()
            .remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    }
    res
}
