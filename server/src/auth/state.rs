//! [`AuthState`]: the sign-in settings, users, audit log and throttles
//! the middleware and the sign-in handlers share.

use mediator_core::access::Access;
use mediator_core::audit::Audit;

use super::settings::AuthSettings;

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
