//! The session, CSRF and setup cookies: reading them, naming them
//! (`__Host-` when `Secure`) and setting them.

use axum::http::{header, HeaderMap, HeaderValue};

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

/// How long the setup link's cookie lasts.
pub const SETUP_COOKIE_TTL: std::time::Duration = std::time::Duration::from_secs(8 * 3600);

pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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
pub(super) fn cookie_name(name: &str, secure: bool) -> String {
    if secure {
        format!("{HOST_PREFIX}{name}")
    } else {
        name.to_owned()
    }
}

pub(super) fn cookie_header(
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
