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
//! - CSRF, for every state-changing request (not GET/HEAD/OPTIONS) whose
//!   caller is not a bearer token (403 naming `csrf` otherwise): a request
//!   a browser says came from another site (`Sec-Fetch-Site`, else
//!   `Origin` against the request's own host) is refused in every mode;
//!   a session's request must carry the session's token in `X-CSRF-Token`
//!   (a synchronizer token the console reads from the `mediator_csrf`
//!   cookie); any other browser request (`--auth none`, proxy mode, setup
//!   mode: cookies a page of another site could ride on) must carry the
//!   `X-CSRF-Token` header, with any value — a custom header no plain form
//!   can send, and no other site's script may (CORS allows no POST).
//! - First run (`--auth local`, no user yet): a caller that opened the
//!   setup link printed at start (`/?setup=TOKEN`, which sets the
//!   `mediator_setup` cookie) acts as the `anonymous` admin.
//! - Callers let in without a credential (`--auth none`, setup mode) must
//!   name an allowed `Host` (`--allowed-hosts`: DNS rebinding), and get no
//!   `Access-Control-Allow-Origin: *` on what they read.

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
use crate::host::{host_name, is_dns_name};

/// Name of the session cookie (HttpOnly); `__Host-` prefixed when the
/// cookie is `Secure` ([`HOST_PREFIX`]).
pub const SESSION_COOKIE: &str = "mediator_session";
/// Name of the CSRF cookie (readable by the console's script).
pub const CSRF_COOKIE: &str = "mediator_csrf";
/// Name of the setup-mode cookie (HttpOnly, `SameSite=Strict`).
pub const SETUP_COOKIE: &str = "mediator_setup";
/// Prefix of `Secure` cookies: the browser then refuses them unless set
/// over HTTPS for this very host and path `/`, so no sibling subdomain can
/// plant or shadow them.
pub const HOST_PREFIX: &str = "__Host-";
/// Header carrying the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long the setup link's cookie lasts.
pub const SETUP_COOKIE_TTL: std::time::Duration = std::time::Duration::from_secs(8 * 3600);

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
    /// Host names (lower case, no port) callers let in without a
    /// credential (`--auth none`, setup mode) may use; `*`: any.
    pub allowed_hosts: Vec<String>,
    /// The first-run setup token, while no user exists (`--auth local`).
    pub setup_token: Option<String>,
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
            allowed_hosts: default_allowed_hosts(None),
            setup_token: None,
        }
    }
}

/// The default `--allowed-hosts`: `localhost`, `127.0.0.1`, `::1`, and the
/// listen address when it is a specific one.
pub fn default_allowed_hosts(listen: Option<IpAddr>) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|h| h.to_string())
        .collect();
    if let Some(ip) = listen.filter(|ip| !ip.is_unspecified()) {
        let ip = ip.to_string();
        if !hosts.contains(&ip) {
            hosts.push(ip);
        }
    }
    hosts
}

/// Parses `--allowed-hosts`: host names or addresses separated by commas
/// (no port, no scheme), or `*`; errors name `allowed_hosts`.
pub fn parse_allowed_hosts(v: &str) -> anyhow::Result<Vec<String>> {
    let hosts: Vec<String> = v
        .split(',')
        .map(|h| h.trim().trim_start_matches('[').trim_end_matches(']'))
        .filter(|h| !h.is_empty())
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    if hosts.is_empty() {
        anyhow::bail!("allowed_hosts: must name at least one host (or *)");
    }
    for h in &hosts {
        let ok = h == "*" || h.parse::<IpAddr>().is_ok() || is_dns_name(h);
        if !ok {
            anyhow::bail!(
                "allowed_hosts: {h:?} is not a host name or address (no scheme, no port), nor *"
            );
        }
    }
    Ok(hosts)
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
            allowed_hosts: defaults.allowed_hosts,
            setup_token: None,
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
    /// Sign-in attempts per address and in flight.
    pub login_limits: std::sync::Arc<crate::login_limits::LoginLimits>,
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

/// 403 naming the role an action needs (the commands' refusal, answered
/// as the JSON API answers every command's).
pub fn forbidden(required: Role, who: &Principal) -> Response {
    crate::api::ApiError::from(mediator_core::CommandError::forbidden(who, required))
        .into_response()
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
    let find = |name: &str| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    // The `__Host-` name first (set over HTTPS), then the plain one (plain
    // HTTP, and sessions started before the prefix was used).
    find(&format!("{HOST_PREFIX}{name}")).or_else(|| find(name))
}

/// A cookie's name: `__Host-` prefixed when it is `Secure`.
fn cookie_name(name: &str, secure: bool) -> String {
    if secure {
        format!("{HOST_PREFIX}{name}")
    } else {
        name.to_owned()
    }
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

    /// The client's address: the peer, or when the peer is a trusted proxy,
    /// the rightmost `X-Forwarded-For` hop that is not a trusted proxy (the
    /// hops left of it were written by the client, who can write anything).
    fn client_ip(&self, req: &Request) -> Option<String> {
        let peer = peer(req)?;
        let mut client = peer;
        if self.trusted(Some(peer)) {
            let hops: Vec<&str> = req
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect();
            for hop in hops.iter().rev() {
                let Ok(ip) = hop.parse::<IpAddr>() else { break };
                client = ip;
                if !self.trusted(Some(ip)) {
                    break;
                }
            }
        }
        Some(client.to_string())
    }

    /// Whether a browser says the request came from a page of another site:
    /// `Sec-Fetch-Site` when sent (it does not depend on `Host`, which a
    /// proxy may rewrite), else `Origin` against the request's `Host` (or a
    /// trusted proxy's `X-Forwarded-Host`). Requests without either header
    /// do not come from a browser's page.
    fn cross_site(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> bool {
        let text = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
        if let Some(site) = text("sec-fetch-site") {
            return !matches!(site.trim(), "same-origin" | "none");
        }
        let Some(origin) = text(header::ORIGIN.as_str()).map(str::trim) else {
            return false;
        };
        let Some((_, origin_host)) = origin.split_once("://") else {
            return true; // "null" (sandboxed frames, redirects) or garbage
        };
        let mut own: Vec<&str> = text(header::HOST.as_str()).into_iter().collect();
        if self.trusted(peer) {
            own.extend(
                headers
                    .get_all("x-forwarded-host")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .map(str::trim),
            );
        }
        !own.iter().any(|h| h.eq_ignore_ascii_case(origin_host))
    }

    /// Whether the request's `Host` is one callers without a credential
    /// may use (DNS rebinding: another site's name resolving to this host).
    fn allowed_host(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let hosts = &self.settings.allowed_hosts;
        if hosts.iter().any(|h| h == "*") {
            return Ok(());
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(host_name)
            .unwrap_or_default();
        if hosts.contains(&host) {
            return Ok(());
        }
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "host: {host:?} is not an allowed host name for callers without sign-in \
                 (--allowed-hosts)"
            ),
            Some("host"),
        ))
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
        if let Some(token) = cookie(headers, SESSION_COOKIE) {
            if let Some(p) = self.access.session(token).await.map_err(unavailable)? {
                return Ok(Some(p));
            }
        }
        let setup = cookie(headers, SETUP_COOKIE);
        if setup.is_some_and(|t| self.setup_token_matches(t))
            && self.setup_mode().await.map_err(unavailable)?
        {
            return Ok(Some(Principal::open()));
        }
        Ok(None)
    }

    fn setup_token_matches(&self, sent: &str) -> bool {
        self.settings
            .setup_token
            .as_deref()
            .is_some_and(|t| same_secret(t, sent))
    }

    /// First run with `--auth local`: until the first user exists, whoever
    /// holds the setup token printed at start (the `/?setup=TOKEN` link
    /// sets it as a cookie) acts as the `anonymous` admin, so `make run`
    /// opens the console at once. Being on this machine is not enough: a
    /// reverse proxy, `ssh -L` or `kubectl port-forward` on this host makes
    /// every caller look local.
    async fn setup_mode(&self) -> Result<bool, mediator_core::AccessError> {
        use std::sync::atomic::Ordering;
        if self.settings.setup_token.is_none() || self.users_exist.load(Ordering::Relaxed) {
            return Ok(false);
        }
        if self.access.user_count().await? > 0 {
            self.users_exist.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        Ok(true)
    }

    /// `GET …?setup=TOKEN`: with the right token while no user exists, sets
    /// the setup cookie and sends the browser to the same page without the
    /// token (so it stays out of history and referrers); a wrong one is a
    /// 403 naming `setup`. `None`: the request has no `setup` parameter.
    async fn setup_link(&self, uri: &axum::http::Uri, secure: bool) -> Option<Response> {
        let query = uri.query()?;
        let mut sent = None;
        let mut rest = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("setup", v)) => sent = Some(v),
                _ if pair == "setup" => sent = Some(""),
                _ => rest.push(pair),
            }
        }
        let sent = sent?;
        let mut target = uri.path().to_owned();
        if !rest.is_empty() {
            target.push('?');
            target.push_str(&rest.join("&"));
        }
        let target = safe_next(Some(&target));
        let mut res = Redirect::to(&target).into_response();
        if !self.setup_mode().await.unwrap_or(false) {
            // Setup is over (or never was): just drop the parameter.
            return Some(res);
        }
        if !self.setup_token_matches(sent) {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "setup: wrong setup token (use the link the server printed at start)",
                Some("setup"),
            ));
        }
        let mut c = format!(
            "{}={sent}; Path=/; SameSite=Strict; HttpOnly; Max-Age={}",
            cookie_name(SETUP_COOKIE, secure),
            SETUP_COOKIE_TTL.as_secs()
        );
        if secure {
            c.push_str("; Secure");
        }
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Some(res)
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

/// The CSRF rules of a state-changing request by `who` (not a bearer
/// token): never from another site's page; a session's must carry its
/// token; any other browser request must carry the `X-CSRF-Token` header.
fn check_csrf(
    state: &AuthState,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    who: &Principal,
) -> Result<(), Refusal> {
    if state.cross_site(headers, peer) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "csrf: cross-site request refused (sent from another site's page)",
            Some("csrf"),
        ));
    }
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let ok = match who.via {
        Via::Session => {
            matches!((sent, who.csrf.as_deref()), (Some(s), Some(c)) if same_secret(s, c))
        }
        // No ambient credential to protect outside a browser; a browser
        // says where it is (`Origin`, `Sec-Fetch-*`) on every POST.
        _ => sent.is_some() || !from_browser(headers),
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "csrf: missing or wrong X-CSRF-Token header (reload the page)",
            Some("csrf"),
        ))
    }
}

/// Whether a browser sent the request (browsers add `Origin` to every
/// POST and `Sec-Fetch-*` to every request; scripts such as curl do not).
fn from_browser(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN)
        || headers.contains_key("sec-fetch-site")
        || headers.contains_key("sec-fetch-mode")
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

/// A `next=` target that stays on this site: a path (not `//host`), with
/// no backslash, no control character or whitespace (browsers drop tabs and
/// newlines from URLs, so `/\t/evil.example` would become
/// `//evil.example`), checked again once percent-decoded.
fn safe_next(next: Option<&str>) -> String {
    fn local_path(n: &str) -> bool {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.contains('\\')
            && !n.chars().any(|c| c.is_control() || c.is_whitespace())
    }
    match next {
        Some(n) if local_path(n) && local_path(&percent_decode(n)) => n.to_owned(),
        _ => "/".into(),
    }
}

/// `%XX` sequences decoded (bytes as Latin-1: only ASCII matters here).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(char::from((h * 16 + l) as u8));
                i += 3;
                continue;
            }
        }
        out.push(char::from(b[i]));
        i += 1;
    }
    out
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

/// Failed sign-ins of one user name from one client address within
/// [`LOGIN_WINDOW`], after which that name's sign-ins from that address are
/// refused until the window has passed.
pub const MAX_FAILED_LOGINS: u64 = 10;
/// Failed sign-ins of one user name from all addresses within
/// [`LOGIN_WINDOW`], after which that name's sign-ins are refused except
/// from addresses it signed in from before ([`KNOWN_ADDRESS_LOOKBACK`]):
/// an attacker with many addresses cannot lock its owner out.
pub const MAX_FAILED_LOGINS_PER_NAME: u64 = 100;
/// See [`MAX_FAILED_LOGINS`].
pub const LOGIN_WINDOW: chrono::Duration = chrono::Duration::minutes(15);
/// How far back a successful sign-in makes an address known.
pub const KNOWN_ADDRESS_LOOKBACK: chrono::Duration = chrono::Duration::days(30);

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
    let name = cookie_name(name, secure);
    let mut c = format!("{name}={value}; Path=/; SameSite=Lax; Max-Age={max_age}");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// 429 with `Retry-After` (whole seconds, at least 1).
fn too_many(message: &str, retry_after: std::time::Duration) -> Response {
    let mut res = refuse(StatusCode::TOO_MANY_REQUESTS, message, None);
    let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

async fn post_login(State(state): State<AuthState>, req: Request) -> Response {
    if state.settings.mode != AuthMode::Local {
        return refuse(
            StatusCode::NOT_FOUND,
            "sign-in with a password is only available with --auth local",
            None,
        );
    }
    let ip = state
        .client_ip(&req)
        .unwrap_or_else(|| "unknown".to_owned());
    let secure = state.secure(&req);
    if state.cross_site(req.headers(), peer(&req)) {
        return refuse(
            StatusCode::FORBIDDEN,
            "csrf: sign-in forms must be posted from this site",
            Some("csrf"),
        );
    }
    // Per address, before any query or hash: random user names do not help.
    if let Err(wait) = state.login_limits.take(&ip) {
        return too_many(
            "too many sign-in attempts from this address: retry later",
            wait,
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
    let name = form.username.as_str();
    // Counted as failures until recorded (atomic within this process).
    let in_flight = state.login_limits.begin(name, &ip);
    let unavailable = |e: &dyn std::fmt::Display| {
        // Fail closed: without the counts, no password is checked.
        tracing::error!("sign-in throttle check failed: {e}");
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "sign-in is unavailable (the failure count could not be read): retry later",
            None,
        )
    };
    let now = chrono::Utc::now();
    let window_start = now - LOGIN_WINDOW;
    let from_here = match state
        .audit
        .count_since("login.failed", name, "failed", Some(&ip), window_start)
        .await
    {
        Ok(n) => n + in_flight.here,
        Err(e) => return unavailable(&e),
    };
    let mut throttled = from_here >= MAX_FAILED_LOGINS;
    if !throttled {
        let everywhere = match state
            .audit
            .count_since("login.failed", name, "failed", None, window_start)
            .await
        {
            Ok(n) => n + in_flight.for_name,
            Err(e) => return unavailable(&e),
        };
        if everywhere >= MAX_FAILED_LOGINS_PER_NAME {
            let known = match state
                .audit
                .count_since("login", name, "ok", Some(&ip), now - KNOWN_ADDRESS_LOOKBACK)
                .await
            {
                Ok(n) => n > 0,
                Err(e) => return unavailable(&e),
            };
            throttled = !known;
        }
    }
    if throttled {
        state
            .audit
            .log(
                NewAuditEntry::unauthenticated(name, "login.failed")
                    .target(&ip)
                    .outcome("denied")
                    .detail(json!({ "ip": ip, "error": "too many failed sign-ins" })),
            )
            .await;
        return Redirect::to(&format!("/login?error=throttled&next={}", encode(&next)))
            .into_response();
    }
    match state.access.verify_password(name, &form.password).await {
        Ok(p) => {
            let session = match state.access.create_session(&p).await {
                Ok(s) => s,
                Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
            };
            state
                .audit
                .log(
                    NewAuditEntry::new(&session.principal, "login")
                        .target(&ip)
                        .detail(json!({ "ip": ip })),
                )
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
                    NewAuditEntry::unauthenticated(name, "login.failed")
                        .target(&ip)
                        .detail(json!({ "ip": ip, "error": "wrong user name or password" })),
                )
                .await;
            drop(in_flight);
            Redirect::to(&format!("/login?error=1&next={}", encode(&next))).into_response()
        }
        Err(mediator_core::AccessError::Busy) => too_many(
            "too many sign-ins being checked at once: retry in a second",
            std::time::Duration::from_secs(1),
        ),
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
    // Both names: a session may predate the `__Host-` prefix.
    for prefixed in [secure, false] {
        h.append(
            header::SET_COOKIE,
            cookie_header(SESSION_COOKIE, "", 0, true, prefixed),
        );
        h.append(
            header::SET_COOKIE,
            cookie_header(CSRF_COOKIE, "", 0, false, prefixed),
        );
        if !secure {
            break;
        }
    }
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

/// Logs how callers sign in at start-up; with `--auth local` and no users
/// yet, prints the setup link (`setup_url`) and how to add the first admin.
pub async fn announce(
    settings: &AuthSettings,
    access: &Access,
    add_user_hint: &str,
    setup_url: Option<&str>,
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
                    "no users yet: first-run setup mode — whoever opens the setup link acts as \
                     an admin until the first user exists. Add an admin with \
                     `mediator user add admin --role admin {add_user_hint}` (password on stdin)"
                );
                if let Some(url) = setup_url {
                    // Printed as is (like Jupyter's token link): the log is
                    // the operator's; the token dies with the first user.
                    eprintln!("\n    Setup link (valid until the first user exists): {url}\n");
                    tracing::info!("setup link: {url}");
                }
            } else {
                tracing::info!("sign-in with local users ({users})");
            }
        }
    }
    Ok(())
}
