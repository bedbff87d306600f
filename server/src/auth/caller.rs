//! Who is calling: a bearer token, a session cookie, the setup cookie or
//! (proxy mode) the trusted proxy's user and groups headers; the client's
//! address; the `Host` check for callers let in without a credential.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mediator_core::access::{Principal, Via};

use super::cookies::{cookie, SESSION_COOKIE, SETUP_COOKIE};
use super::refusal::{refuse, Refusal};
use super::settings::{AuthMode, CookieSecure};
use super::state::AuthState;
use crate::host::host_name;

pub(super) fn peer(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

impl AuthState {
    pub(super) fn trusted(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|p| self.settings.trusted_proxies.contains(&p))
    }

    /// The client's address: the peer, or when the peer is a trusted proxy,
    /// the rightmost `X-Forwarded-For` hop that is not a trusted proxy (the
    /// hops left of it were written by the client, who can write anything).
    pub(super) fn client_ip(&self, req: &Request) -> Option<String> {
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

    /// Whether the request's `Host` is one callers without a credential
    /// may use (DNS rebinding: another site's name resolving to this host).
    pub(super) fn allowed_host(&self, headers: &HeaderMap) -> Result<(), Refusal> {
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

    /// The caller, `Ok(None)` when anonymous, `Err` for a refusal to send as is.
    pub(super) async fn principal(
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

    /// Whether the request reached us over HTTPS (cookies get `Secure`).
    pub(super) fn secure(&self, req: &Request) -> bool {
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
}
