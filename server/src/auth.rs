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

pub(crate) mod audit_export;
mod caller;
mod cookies;
mod csrf;
pub(crate) mod login;
mod middleware;
mod refusal;
mod settings;
mod setup;
mod state;

use axum::routing::{get, post};
use axum::Router;

use audit_export::get_audit;
use login::{get_me, post_login, post_logout};

pub use audit_export::{AuditQuery, AUDIT_EXPORT_MAX};
pub use cookies::{CSRF_COOKIE, HOST_PREFIX, SESSION_COOKIE, SETUP_COOKIE, SETUP_COOKIE_TTL};
pub use csrf::CSRF_HEADER;
pub use login::{
    LoginForm, LogoutForm, KNOWN_ADDRESS_LOOKBACK, LOGIN_WINDOW, MAX_FAILED_LOGINS,
    MAX_FAILED_LOGINS_PER_NAME,
};
pub use middleware::{authenticate, DeferredCaller};
pub use refusal::{forbidden, Refusal};
pub use settings::{
    default_allowed_hosts, parse_allowed_hosts, AuthMode, AuthSettings, CookieSecure,
};
pub use setup::announce;
pub use state::AuthState;

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
