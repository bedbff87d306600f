//! Sign-in settings: the mode, cookies, trusted proxies, the proxy mode's
//! headers and roles, and the `Host` names callers without a credential
//! may use; checked once at start-up, errors naming the option.

use std::net::IpAddr;

use clap::ValueEnum;
use mediator_core::access::Role;
use serde::Deserialize;

use crate::host::is_dns_name;

/// How callers sign in (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No sign-in: every caller is an admin (development and tests).
    None,
    /// Local users (argon2 passwords), sessions and API tokens.
    Local,
    /// A trusted authenticating reverse proxy sets user and groups headers.
    Proxy,
}

/// When session cookies carry the `Secure` attribute (`--cookie-secure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieSecure {
    /// When the request came over HTTPS (per a trusted proxy's `X-Forwarded-Proto`).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

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
