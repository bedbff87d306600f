//! [`AccessStore`]: where users, browser sessions and API tokens are kept
//! (`Access`) — the embedded database's `auth_*` tables, or a
//! DynamoDB table every replica shares, so a user added once signs in on
//! any replica and a session cookie works whichever replica answers.
//!
//! Only digests of session and token secrets are stored (see
//! `access`); the store never sees a secret.

use crate::storage::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::identity::{Role, TokenInfo, UserInfo};

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUser {
    /// Sign-in name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The password's argon2id PHC string.
    pub password_hash: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// A session as stored, looked up by its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The session secret's SHA-256 digest.
    pub token_hash: Vec<u8>,
    /// The signed-in user.
    pub user: String,
    /// The CSRF token the console sends back.
    pub csrf: String,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// An API token found by its digest, with its user's current role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundToken {
    /// The token's id.
    pub id: i64,
    /// Its user.
    pub user: String,
    /// The token's own role.
    pub role: Role,
    /// The user's role now.
    pub user_role: Role,
    /// When it was last used.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Users, sessions and API tokens. Removing a user removes its sessions
/// and tokens (or makes them unusable at once).
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Adds `user`; `false` (nothing written) when the name is taken.
    async fn insert_user(&self, user: &StoredUser) -> Result<bool, StoreError>;

    /// Removes a user with its sessions and tokens; `false` when unknown.
    async fn delete_user(&self, name: &str) -> Result<bool, StoreError>;

    /// Every user, by name.
    async fn users(&self) -> Result<Vec<UserInfo>, StoreError>;

    /// How many users exist.
    async fn user_count(&self) -> Result<u64, StoreError>;

    /// A user's role and password hash.
    async fn credentials(&self, name: &str) -> Result<Option<(Role, String)>, StoreError>;

    /// Opens `session` (and forgets sessions that ended).
    async fn insert_session(&self, session: &StoredSession) -> Result<(), StoreError>;

    /// The user (name, current role) and CSRF token of the session with
    /// this digest, if it exists, has not ended by `now` and its user still
    /// exists.
    async fn session(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<(String, Role, String)>, StoreError>;

    /// Ends the session with this digest (unknown ones are ignored).
    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError>;

    /// Adds a token for `user` with `role` and `label`; returns its id.
    async fn insert_token(
        &self,
        token_hash: &[u8],
        user: &str,
        role: Role,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// Removes token `id`; `false` when unknown.
    async fn delete_token(&self, id: i64) -> Result<bool, StoreError>;

    /// Every token, oldest first.
    async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError>;

    /// The token with this digest, if it and its user exist.
    async fn token(&self, token_hash: &[u8]) -> Result<Option<FoundToken>, StoreError>;

    /// Records that token `id` was used at `now`.
    async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError>;
}

/// A role as stored (unknown text reads as the least privileged).
pub fn parse_role(s: &str) -> Role {
    s.parse().unwrap_or(Role::Viewer)
}
