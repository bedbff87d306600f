//! CSRF: which requests change state, the cross-site check, and the
//! token a session's (or the header any browser's) request must carry.

use std::net::IpAddr;

use axum::http::{header, HeaderMap, Method, StatusCode};
use mediator_core::access::{Principal, Via};

use super::refusal::Refusal;
use super::state::AuthState;

/// Header carrying the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

impl AuthState {
    /// Whether a browser says the request came from a page of another site:
    /// `Sec-Fetch-Site` when sent (it does not depend on `Host`, which a
    /// proxy may rewrite), else `Origin` against the request's `Host` (or a
    /// trusted proxy's `X-Forwarded-Host`). Requests without either header
    /// do not come from a browser's page.
    pub(super) fn cross_site(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> bool {
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
}

/// Whether the method changes state (and so needs the CSRF token).
pub(super) fn changes_state(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Constant-time comparison (the CSRF token is a secret).
pub(super) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The CSRF rules of a state-changing request by `who` (not a bearer
/// token): never from another site's page; a session's must carry its
/// token; any other browser request must carry the `X-CSRF-Token` header.
pub(super) fn check_csrf(
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
