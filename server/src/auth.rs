//! Sign-in, roles and CSRF at the HTTP edge.
//!
//! [`authenticate`] runs on every request of the console listener. It turns
//! the request into a [`Principal`] (a session cookie, `Authorization:
//! Bearer <token>`, or, in proxy mode, the trusted proxy's user and groups
//! headers; with `--auth none` everyone is an admin named `anonymous`) and
//! puts it into the request's extensions, where API handlers and the
//! console's server functions read it to check the role they need.
//!
//! - Public, without sign-in: `/healthz`, `/readyz`, `/login`, `/logout`,
//!   the embeds (`/embed/…`), badges (`/badge/…`), the change stream
//!   `/api/v1/stream` (cues only, no data: the embeds follow it),
//!   `/api/openapi.json`, the wasm/CSS bundle and public assets.
//! - Everything else needs a caller: otherwise 401 (`/api/…`, `/metrics`,
//!   non-GET requests) or a redirect to `/login?next=…` (pages).
//! - Every state-changing request (not GET/HEAD/OPTIONS) authenticated by
//!   the session cookie must carry the session's CSRF token in
//!   `X-CSRF-Token` (403 naming `csrf` otherwise): a synchronizer token the
//!   console reads from the `mediator_csrf` cookie. Bearer-token and proxy
//!   requests carry no ambient browser credential and are exempt.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use mediator_core::access::{Access, Principal, Role, Via};
use mediator_core::audit::{Audit, NewAuditEntry};
use serde::Deserialize;
use serde_json::json;

use crate::config::{AuthMode, CookieSecure};

/// Name of the session cookie (HttpOnly).
pub const SESSION_COOKIE: &str = "mediator_session";
/// Name of the CSRF cookie (readable by the console's script).
pub const CSRF_COOKIE: &str = "mediator_csrf";
/// Header carrying the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Sign-in settings, resolved from flags, environment and file.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// How callers sign in.
    pub mode: AuthMode,
    /// When cookies carry `Secure`.
    pub cookie_secure: CookieSecure,
    /// Proxies whose forwarding and identity headers are believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Proxy mode: the user header (lower case).
    pub proxy_user_header: String,
    /// Proxy mode: the groups header (lower case).
    pub proxy_groups_header: String,
    /// Proxy mode: group → role.
    pub proxy_roles: Vec<(String, Role)>,
    /// Embeds, badges and the change stream need a viewer (default: public).
    pub private_embeds: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            mode: AuthMode::Local,
            cookie_secure: CookieSecure::Auto,
            trusted_proxies: Vec::new(),
            proxy_user_header: "x-forwarded-user".into(),
            proxy_groups_header: "x-forwarded-groups".into(),
            proxy_roles: Vec::new(),
            private_embeds: false,
        }
    }
}

impl AuthSettings {
    /// Checks and combines the sign-in options; errors name the option.
    pub fn resolve(
        mode: Option<AuthMode>,
        cookie_secure: Option<CookieSecure>,
        trusted_proxies: Option<&str>,
        user_header: Option<String>,
        groups_header: Option<String>,
        roles: Option<&str>,
    ) -> anyhow::Result<Self> {
        let defaults = AuthSettings::default();
        let trusted_proxies = trusted_proxies
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| anyhow::anyhow!("trusted_proxies: {s:?} is not an IP address"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let header = |field: &str, v: Option<String>, default: String| {
            let v = v.unwrap_or(default).trim().to_ascii_lowercase();
            axum::http::HeaderName::from_bytes(v.as_bytes())
                .map(|_| v.clone())
                .map_err(|_| anyhow::anyhow!("{field}: {v:?} is not a header name"))
        };
        let proxy_user_header =
            header("proxy_user_header", user_header, defaults.proxy_user_header)?;
        let proxy_groups_header = header(
            "proxy_groups_header",
            groups_header,
            defaults.proxy_groups_header,
        )?;
        let proxy_roles = roles
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (group, role) = pair
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("proxy_roles: {pair:?} is not GROUP=ROLE"))?;
                let role = role
                    .parse::<Role>()
                    .map_err(|e| anyhow::anyhow!("proxy_roles: {e}"))?;
                Ok((group.trim().to_owned(), role))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mode = mode.unwrap_or(defaults.mode);
        if mode == AuthMode::Proxy {
            if trusted_proxies.is_empty() {
                anyhow::bail!(
                    "trusted_proxies: --auth proxy needs the address of the proxy that sets \
                     the user headers (e.g. --trusted-proxies 127.0.0.1)"
                );
            }
            if proxy_roles.is_empty() {
                anyhow::bail!(
                    "proxy_roles: --auth proxy needs at least one GROUP=ROLE mapping \
                     (e.g. --proxy-roles sre=admin,support=operator,staff=viewer)"
                );
            }
        }
        Ok(AuthSettings {
            mode,
            cookie_secure: cookie_secure.unwrap_or(defaults.cookie_secure),
            trusted_proxies,
            proxy_user_header,
            proxy_groups_header,
            proxy_roles,
            private_embeds: defaults.private_embeds,
        })
    }
}

/// What the sign-in middleware and handlers share.
#[derive(Clone)]
pub struct AuthState {
    /// Settings.
    pub settings: std::sync::Arc<AuthSettings>,
    /// Users, sessions and tokens.
    pub access: Access,
    /// The audit log.
    pub audit: Audit,
    /// Set once a local user exists: ends the first-run setup mode for good
    /// (users are only ever added from then on, so it is never cleared).
    pub users_exist: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A refusal rendered as `{"error", "field"?, "required_role"?}`.
fn refuse(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let mut body = json!({ "error": message });
    if let Some(f) = field {
        body["field"] = json!(f);
    }
    let mut res = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"mediator\""),
        );
    }
    res
}

/// A refusal decided before any response exists; small to pass around.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>, field: Option<&str>) -> Self {
        Refusal {
            status,
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        refuse(self.status, &self.message, self.field.as_deref())
    }
}

/// 403 naming the role an action needs.
pub fn forbidden(required: Role, who: &Principal) -> Response {
    let mut res = refuse(
        StatusCode::FORBIDDEN,
        &format!(
            "requires the {required} role ({} is {})",
            who.name, who.role
        ),
        Some("role"),
    );
    if let Ok(v) = HeaderValue::from_str(required.as_str()) {
        res.headers_mut().insert("x-required-role", v);
    }
    res
}

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

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn peer(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

impl AuthState {
    fn trusted(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|p| self.settings.trusted_proxies.contains(&p))
    }

    /// The client's address: the peer, or the first `X-Forwarded-For` hop
    /// when the peer is a trusted proxy.
    fn client_ip(&self, req: &Request) -> Option<String> {
        let peer = peer(req);
        if self.trusted(peer) {
            if let Some(f) = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
            {
                return Some(f.trim().to_owned());
            }
        }
        peer.map(|p| p.to_string())
    }

    /// Whether the request reached us over HTTPS (cookies get `Secure`).
    fn secure(&self, req: &Request) -> bool {
        match self.settings.cookie_secure {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => {
                self.trusted(peer(req))
                    && req
                        .headers()
                        .get("x-forwarded-proto")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
            }
        }
    }

    /// The caller, `Ok(None)` when anonymous, `Err` for a refusal to send as is.
    async fn principal(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Option<Principal>, Response> {
        if self.settings.mode == AuthMode::None {
            return Ok(Some(Principal::open()));
        }
        let unavailable = |e: mediator_core::AccessError| {
            tracing::error!("sign-in check failed: {e}");
            refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None)
        };
        if let Some(auth) = headers.get(header::AUTHORIZATION) {
            let secret = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            return match secret {
                None => Err(refuse(
                    StatusCode::UNAUTHORIZED,
                    "authorization: expected `Bearer <token>`",
                    Some("authorization"),
                )),
                Some(s) => match self.access.token(s).await.map_err(unavailable)? {
                    Some(p) => Ok(Some(p)),
                    None => Err(refuse(
                        StatusCode::UNAUTHORIZED,
                        "authorization: unknown or revoked token",
                        Some("authorization"),
                    )),
                },
            };
        }
        if self.settings.mode == AuthMode::Proxy {
            return self
                .proxy_principal(headers, peer)
                .map(Some)
                .map_err(IntoResponse::into_response);
        }
        match cookie(headers, SESSION_COOKIE) {
            Some(token) => self.access.session(token).await.map_err(unavailable),
            None if self.setup_mode(headers, peer).await.map_err(unavailable)? => {
                Ok(Some(Principal::open()))
            }
            None => Ok(None),
        }
    }

    /// First run with `--auth local`: until the first user exists, callers
    /// on this machine (a loopback peer that no proxy forwarded) act as the
    /// `anonymous` admin, so `make run` opens the console at once. Anyone
    /// else — another host, or a request carrying forwarding headers (a
    /// reverse proxy on this host) — must sign in, which nobody can yet.
    async fn setup_mode(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<bool, mediator_core::AccessError> {
        use std::sync::atomic::Ordering;
        let local = peer.is_some_and(|p| p.is_loopback())
            && ![
                "forwarded",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-real-ip",
            ]
            .iter()
            .any(|h| headers.contains_key(*h));
        if !local || self.users_exist.load(Ordering::Relaxed) {
            return Ok(false);
        }
        if self.access.user_count().await? > 0 {
            self.users_exist.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        Ok(true)
    }

    fn proxy_principal(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Principal, Refusal> {
        let s = &self.settings;
        if !self.trusted(peer) {
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "sign in through the authenticating proxy (this address is not a trusted proxy)",
                None,
            ));
        }
        let text = |h: &str| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let Some(name) = text(&s.proxy_user_header) else {
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                format!("{}: the proxy sent no user", s.proxy_user_header),
                Some(&s.proxy_user_header),
            ));
        };
        let groups: Vec<&str> = text(&s.proxy_groups_header)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .collect();
        let role = s
            .proxy_roles
            .iter()
            .filter(|(g, _)| groups.contains(&g.as_str()))
            .map(|(_, r)| *r)
            .max();
        match role {
            Some(role) => Ok(Principal {
                name: name.chars().take(128).collect(),
                role,
                via: Via::Proxy,
                csrf: None,
            }),
            None => Err(Refusal::new(
                StatusCode::FORBIDDEN,
                format!(
                    "{}: none of the groups {groups:?} of {name} has a role (--proxy-roles)",
                    s.proxy_groups_header
                ),
                Some(&s.proxy_groups_header),
            )),
        }
    }
}

/// Whether the method changes state (and so needs the CSRF token).
fn changes_state(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Constant-time comparison (the CSRF token is a secret).
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
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
    if is_public(&method, &path, state.settings.private_embeds) {
        // Public routes learn the caller only when they show it (the login
        // page's and the 404 page's navigation): no session lookup per asset.
        match caller_need(&method, &path) {
            CallerNeed::Never => {}
            CallerNeed::Now => {
                if let Ok(Some(p)) = state.principal(req.headers(), peer).await {
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
    if principal.via == Via::Open
        && state.settings.mode == AuthMode::Local
        && changes_state(&method)
        && cross_site(req.headers())
    {
        // First-run setup mode trusts this machine's browser, not pages of
        // other sites that browser has open.
        return refuse(
            StatusCode::FORBIDDEN,
            "origin: cross-site request refused (no users yet: add one with `mediator user add`)",
            Some("origin"),
        );
    }
    if principal.via == Via::Session && changes_state(&method) {
        let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let ok =
            matches!((sent, principal.csrf.as_deref()), (Some(s), Some(c)) if same_secret(s, c));
        if !ok {
            return refuse(
                StatusCode::FORBIDDEN,
                "csrf: missing or wrong X-CSRF-Token header (reload the page)",
                Some("csrf"),
            );
        }
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// Percent-encodes a `next=` value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A `next=` target that stays on this site (a path, not `//host`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".into(),
    }
}

/// The sign-in routes (`POST /login`, `POST /logout`, `GET /api/v1/me`,
/// the audit export), to merge into the main router.
pub fn routes<S>(state: AuthState) -> Router<S> {
    Router::new()
        .route("/login", post(post_login))
        .route("/logout", post(post_logout))
        .route("/api/v1/me", get(get_me))
        .route("/api/v1/audit", get(get_audit))
        .with_state(state)
}

/// Failed sign-ins of one user name, within [`LOGIN_WINDOW`], after which
/// its sign-ins are refused until the window has passed.
pub const MAX_FAILED_LOGINS: u64 = 10;
/// See [`MAX_FAILED_LOGINS`].
pub const LOGIN_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

fn cookie_header(
    name: &str,
    value: &str,
    max_age: i64,
    http_only: bool,
    secure: bool,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; SameSite=Lax; Max-Age={max_age}");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A cross-site sign-in attempt (login CSRF): a browser's `Origin` or
/// `Sec-Fetch-Site` says the form was posted from another site.
fn cross_site(headers: &HeaderMap) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(site, Some("cross-site") | Some("same-site")) {
        return true;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some("null"), _) => true,
        (Some(o), Some(h)) => o.split_once("://").map(|(_, rest)| rest) != Some(h),
        _ => false,
    }
}

async fn post_login(State(state): State<AuthState>, req: Request) -> Response {
    if state.settings.mode != AuthMode::Local {
        return refuse(
            StatusCode::NOT_FOUND,
            "sign-in with a password is only available with --auth local",
            None,
        );
    }
    let ip = state.client_ip(&req);
    let secure = state.secure(&req);
    if cross_site(req.headers()) {
        return refuse(
            StatusCode::FORBIDDEN,
            "csrf: sign-in forms must be posted from this site",
            Some("csrf"),
        );
    }
    let Ok(Form(form)) = Form::<LoginForm>::from_request(req, &()).await else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "body: expected a form with username and password",
            Some("body"),
        );
    };
    let next = safe_next(form.next.as_deref());
    // Throttle password guessing per user name: after MAX_FAILED_LOGINS
    // failures within LOGIN_WINDOW, refuse without checking the password.
    let window_start = chrono::Utc::now() - LOGIN_WINDOW;
    let failures = state
        .audit
        .count_since("login.failed", &form.username, "failed", window_start)
        .await
        .unwrap_or(0);
    if failures >= MAX_FAILED_LOGINS {
        state
            .audit
            .log(
                NewAuditEntry::unauthenticated(&form.username, "login.failed")
                    .outcome("denied")
                    .detail(json!({ "ip": ip, "error": "too many failed sign-ins" })),
            )
            .await;
        return Redirect::to(&format!("/login?error=throttled&next={}", encode(&next)))
            .into_response();
    }
    match state
        .access
        .verify_password(&form.username, &form.password)
        .await
    {
        Ok(p) => {
            let session = match state.access.create_session(&p).await {
                Ok(s) => s,
                Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
            };
            state
                .audit
                .log(NewAuditEntry::new(&session.principal, "login").detail(json!({ "ip": ip })))
                .await;
            let max_age = state.access.session_ttl().as_secs() as i64;
            let mut res = Redirect::to(&next).into_response();
            let h = res.headers_mut();
            h.append(
                header::SET_COOKIE,
                cookie_header(SESSION_COOKIE, &session.token, max_age, true, secure),
            );
            h.append(
                header::SET_COOKIE,
                cookie_header(CSRF_COOKIE, &session.csrf, max_age, false, secure),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(mediator_core::AccessError::BadCredentials) => {
            state
                .audit
                .log(
                    NewAuditEntry::unauthenticated(&form.username, "login.failed")
                        .detail(json!({ "ip": ip, "error": "wrong user name or password" })),
                )
                .await;
            Redirect::to(&format!("/login?error=1&next={}", encode(&next))).into_response()
        }
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
    }
}

/// The sign-out form: the session's CSRF token as a field (a plain form
/// cannot set headers).
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

async fn post_logout(State(state): State<AuthState>, req: Request) -> Response {
    let secure = state.secure(&req);
    let token = cookie(req.headers(), SESSION_COOKIE).map(str::to_owned);
    let header_csrf = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let form = Form::<LogoutForm>::from_request(req, &())
        .await
        .map(|Form(f)| f.csrf_token)
        .unwrap_or_default();
    let sent = header_csrf.unwrap_or(form);
    if let Some(token) = token {
        match state.access.session(&token).await {
            Ok(Some(p)) => {
                if !p.csrf.as_deref().is_some_and(|c| same_secret(c, &sent)) {
                    return refuse(
                        StatusCode::FORBIDDEN,
                        "csrf: missing or wrong csrf_token (reload the page)",
                        Some("csrf"),
                    );
                }
                if let Err(e) = state.access.end_session(&token).await {
                    return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None);
                }
                state.audit.log(NewAuditEntry::new(&p, "logout")).await;
            }
            Ok(None) => {}
            Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
        }
    }
    let mut res = Redirect::to("/login").into_response();
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, "", 0, true, secure),
    );
    h.append(
        header::SET_COOKIE,
        cookie_header(CSRF_COOKIE, "", 0, false, secure),
    );
    res
}

/// `GET /api/v1/me`: `{"name", "role", "via"}` of the caller.
async fn get_me(Extension(p): Extension<Principal>) -> Response {
    Json(json!({ "name": p.name, "role": p.role, "via": p.via })).into_response()
}

/// Query of the audit export.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    since: Option<String>,
    until: Option<String>,
    format: Option<String>,
}

fn time_param(
    field: &str,
    v: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, Refusal> {
    v.filter(|s| !s.trim().is_empty())
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s.trim())
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|e| {
                    Refusal::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("{field}: not an RFC 3339 time ({e})"),
                        Some(field),
                    )
                })
        })
        .transpose()
}

/// Most entries one export returns (narrow the time range for more).
pub const AUDIT_EXPORT_MAX: usize = 100_000;

/// `GET /api/v1/audit?since=&until=&format=json|ndjson` (operator): the
/// audit entries with `since <= at < until`, oldest first; `json` is
/// `{"entries": […], "truncated"}`, `ndjson` one entry per line.
async fn get_audit(
    State(state): State<AuthState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<AuditQuery>,
) -> Response {
    if !p.role.allows(Role::Operator) {
        return forbidden(Role::Operator, &p);
    }
    let (since, until) = match (
        time_param("since", q.since.as_deref()),
        time_param("until", q.until.as_deref()),
    ) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    let ndjson = match q.format.as_deref().unwrap_or("json") {
        "json" => false,
        "ndjson" => true,
        other => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("format: {other:?} is not json or ndjson"),
                Some("format"),
            )
        }
    };
    let mut entries = Vec::new();
    let mut after = None;
    let page = mediator_core::audit::AUDIT_PAGE_MAX;
    loop {
        match state.audit.range(since, until, after, page).await {
            Ok(batch) => {
                let full = batch.len() == page;
                after = batch.last().map(|e| e.id);
                entries.extend(batch);
                if !full || entries.len() >= AUDIT_EXPORT_MAX {
                    break;
                }
            }
            Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
        }
    }
    let truncated = entries.len() >= AUDIT_EXPORT_MAX;
    entries.truncate(AUDIT_EXPORT_MAX);
    if ndjson {
        let mut body = String::new();
        for e in &entries {
            body.push_str(&serde_json::to_string(e).unwrap_or_default());
            body.push('\n');
        }
        ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
    } else {
        Json(json!({ "entries": entries, "truncated": truncated })).into_response()
    }
}

use axum::extract::FromRequest;

/// Checks that `who` may act as `required`; records a refusal of `action`
/// in the audit log and answers 403 naming the role otherwise.
pub async fn require(
    audit: &Audit,
    who: &Principal,
    required: Role,
    action: &str,
    target: &str,
) -> Result<(), Response> {
    if who.role.allows(required) {
        return Ok(());
    }
    audit
        .log(
            NewAuditEntry::new(who, action)
                .target(target)
                .outcome("denied")
                .detail(json!({ "required_role": required })),
        )
        .await;
    Err(forbidden(required, who))
}

/// Logs how callers sign in at start-up; with `--auth local` and no users
/// yet, says how to add the first admin.
pub async fn announce(
    settings: &AuthSettings,
    access: &Access,
    add_user_hint: &str,
) -> anyhow::Result<()> {
    match settings.mode {
        AuthMode::None => tracing::warn!(
            "sign-in is off (--auth none): every caller is an admin; use only for development"
        ),
        AuthMode::Proxy => tracing::info!(
            "sign-in through the proxy at {:?} (user header {}, groups header {})",
            settings.trusted_proxies,
            settings.proxy_user_header,
            settings.proxy_groups_header
        ),
        AuthMode::Local => {
            let users = access.user_count().await?;
            if users == 0 {
                tracing::warn!(
                    "no users yet: first-run setup mode — callers on this machine act as an \
                     admin, everyone else is refused, until the first user exists. Add an admin \
                     with `mediator user add admin --role admin {add_user_hint}` (password on stdin)"
                );
            } else {
                tracing::info!("sign-in with local users ({users})");
            }
        }
    }
    Ok(())
}
