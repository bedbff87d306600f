//! The listeners' limits: each request's time limit, the header-read and
//! idle timeouts and connection caps of the console's and the EventBridge
//! API's listeners, the change streams' cap, and the `Host` names the
//! EventBridge API accepts.

use std::time::Duration;

use super::checks::{CONNECTIONS, EVENTS_REQUEST_TIMEOUT, HEADER_READ_TIMEOUT, IDLE_TIMEOUT};
use super::cli::ServeArgs;
use super::file::FileConfig;
use crate::serve::Limits;

/// The listeners' limits, resolved (flag, environment, file, default).
pub(super) struct Listeners {
    /// Per-request time limit of the console's listener.
    pub request_timeout: Duration,
    /// The console's listener (the simulated SaaS's too).
    pub connections: Limits,
    /// The EventBridge API's listener: the console's timeouts, its own cap.
    pub events_connections: Limits,
    /// Open change streams at most.
    pub max_stream_subscribers: usize,
    /// Per-request time limit of the EventBridge API.
    pub events_request_timeout: Duration,
    /// Extra `Host` names the EventBridge API accepts (lower case).
    pub events_allowed_hosts: Vec<String>,
}

impl Listeners {
    /// Resolves the limits; errors name the setting.
    pub fn resolve(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Self> {
        let request_timeout = args.request_timeout.or(file.request_timeout).unwrap_or(30);
        if request_timeout == 0 {
            anyhow::bail!("request_timeout: must be at least 1 second");
        }
        let header_read_timeout = HEADER_READ_TIMEOUT.check(
            "header_read_timeout",
            args.header_read_timeout
                .or(file.header_read_timeout)
                .unwrap_or(10.0),
        )?;
        let idle_timeout = IDLE_TIMEOUT.check(
            "idle_timeout",
            args.idle_timeout.or(file.idle_timeout).unwrap_or(90.0),
        )?;
        let connections = Limits {
            header_read_timeout,
            idle_timeout,
            max_connections: CONNECTIONS.check(
                "max_connections",
                args.max_connections.or(file.max_connections).unwrap_or(512),
            )?,
        };
        let events_connections = Limits {
            max_connections: CONNECTIONS.check(
                "events_max_connections",
                args.events_max_connections
                    .or(file.events_max_connections)
                    .unwrap_or(256),
            )?,
            ..connections
        };
        let max_stream_subscribers = CONNECTIONS.check(
            "max_stream_subscribers",
            args.max_stream_subscribers
                .or(file.max_stream_subscribers)
                .unwrap_or(128),
        )?;
        let events_request_timeout = EVENTS_REQUEST_TIMEOUT.check(
            "events_request_timeout",
            args.events_request_timeout
                .or(file.events_request_timeout)
                .unwrap_or(30.0),
        )?;
        let events_allowed_hosts = crate::events_api::parse_allowed_hosts(
            args.events_allowed_hosts
                .as_deref()
                .or(file.events_allowed_hosts.as_deref())
                .unwrap_or(""),
        )
        .map_err(|reason| anyhow::anyhow!("events_allowed_hosts: {reason}"))?;
        Ok(Listeners {
            request_timeout: Duration::from_secs(request_timeout),
            connections,
            events_connections,
            max_stream_subscribers,
            events_request_timeout,
            events_allowed_hosts,
        })
    }
}
