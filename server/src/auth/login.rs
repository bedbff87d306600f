//! `POST /login` (throttled per user name and address), `POST /logout`,
//! `GET /api/v1/me`, and the `next=` target they redirect to.

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use mediator_core::access::Principal;
use mediator_core::audit::NewAuditEntry;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::json;

use super::caller::peer;
use super::cookies::{cookie, cookie_header, CSRF_COOKIE, SESSION_COOKIE};
use super::csrf::{same_secret, CSRF_HEADER};
use super::refusal::{refuse, too_many};
use super::settings::AuthMode;
use super::state::AuthState;

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

pub(super) async fn post_login(State(state): State<AuthState>, req: Request) -> Response {
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

pub(super) async fn post_logout(State(state): State<AuthState>, req: Request) -> Response {
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

/// The caller: `{"name", "role", "via"}` (`via`: `session`, `token`,
/// `proxy`, or `open` when sign-in is off).
#[utoipa::path(get, path = "/api/v1/me", tag = "access",
    responses(
        (status = 200, description = "Who is calling", body = mediator_wire::Caller),
        (status = 401, description = "No caller (sign in or send a token)", body = mediator_wire::ErrorBody)
    ))]
pub(crate) async fn get_me(Extension(p): Extension<Principal>) -> Json<mediator_wire::Caller> {
    Json((&p).into())
}

/// What a `next=` value keeps as is: letters, digits, `-_.~` and `/`.
const NEXT_KEEPS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a `next=` value.
pub(super) fn encode(s: &str) -> String {
    utf8_percent_encode(s, NEXT_KEEPS).to_string()
}

/// A `next=` target that stays on this site: a path (not `//host`), with
/// no backslash, no control character or whitespace (browsers drop tabs and
/// newlines from URLs, so `/\t/evil.example` would become
/// `//evil.example`), checked again once percent-decoded.
pub(super) fn safe_next(next: Option<&str>) -> String {
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
    percent_decode_str(s).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_targets_are_encoded_and_checked_once_decoded() {
        assert_eq!(
            encode("/replays?name=x y&é~"),
            "/replays%3Fname%3Dx%20y%26%C3%A9~"
        );
        assert_eq!(
            safe_next(Some("/replays%3Fname%3Dx")),
            "/replays%3Fname%3Dx"
        );
        // Decoded bytes read as Latin-1: %85 (NEL) and %A0 (no-break
        // space) are whitespace, so refused like a tab or a backslash.
        for bad in [
            "//evil.example",
            "/%2Fevil.example",
            "/%5Cevil.example",
            "/%09/evil.example",
            "/%85x",
            "/%A0x",
            "evil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        // What is not a %XX sequence stays as it is.
        assert_eq!(percent_decode("/a%2/%zz%"), "/a%2/%zz%");
        assert_eq!(percent_decode("/%41%e9"), "/A\u{e9}");
    }
}
