//! Who acts: roles, the principal behind a request (a signed-in user, an API
//! token, the command line), and users and tokens as the console lists
//! them. Plain data; [`crate::access`] signs people in and keeps them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a person or script may do. Ordered: each role may do everything the
/// roles before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees everything, changes nothing.
    Viewer,
    /// Also starts and cancels replays, sets overrides, submits and redrives vouchers.
    Operator,
    /// Also reads the audit export and manages users and tokens.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// Name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what `required` may.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?} (viewer, operator or admin)"
            )),
        }
    }
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// A browser session cookie.
    Session,
    /// An API token (`Authorization: Bearer`).
    Token,
    /// Headers set by a trusted authenticating proxy.
    Proxy,
    /// Sign-in is switched off (`--auth none`): everyone is an admin.
    Open,
    /// The `mediator` command line on the server itself.
    Cli,
}

impl Via {
    /// Name as stored in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Session => "session",
            Via::Token => "token",
            Via::Proxy => "proxy",
            Via::Open => "open",
            Via::Cli => "cli",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// User name (for proxy mode: as the proxy sent it).
    pub name: String,
    /// What the caller may do.
    pub role: Role,
    /// How it was authenticated.
    pub via: Via,
    /// The session's CSRF token (sessions only).
    #[serde(skip)]
    pub csrf: Option<String>,
}

impl Principal {
    /// The caller when sign-in is off: an admin named `anonymous`.
    pub fn open() -> Self {
        Principal {
            name: "anonymous".into(),
            role: Role::Admin,
            via: Via::Open,
            csrf: None,
        }
    }

    /// The `mediator` command line (user and token management).
    pub fn cli() -> Self {
        let name = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .map(|u| format!("cli:{u}"))
            .unwrap_or_else(|| "cli".into());
        Principal {
            name,
            role: Role::Admin,
            via: Via::Cli,
            csrf: None,
        }
    }
}

/// A local user, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    /// Sign-in name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// An API token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Number used to remove it.
    pub id: i64,
    /// The user it acts as.
    pub user: String,
    /// Its role (never above the user's, checked again at each use).
    pub role: Role,
    /// What it is for.
    pub label: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last used, if ever.
    pub last_used_at: Option<DateTime<Utc>>,
}
