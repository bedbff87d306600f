//! First run with `--auth local`: the setup link and cookie that make
//! its holder the `anonymous` admin until the first user exists, and the
//! start-up announcement of how callers sign in.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use mediator_core::access::Access;

use super::cookies::{cookie_name, SETUP_COOKIE, SETUP_COOKIE_TTL};
use super::csrf::same_secret;
use super::login::safe_next;
use super::refusal::refuse;
use super::settings::{AuthMode, AuthSettings};
use super::state::AuthState;

impl AuthState {
    pub(super) fn setup_token_matches(&self, sent: &str) -> bool {
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
    pub(super) async fn setup_mode(&self) -> Result<bool, mediator_core::AccessError> {
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
    pub(super) async fn setup_link(&self, uri: &axum::http::Uri, secure: bool) -> Option<Response> {
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
}

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
