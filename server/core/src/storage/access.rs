//! [`AccessStore`]: where users, browser sessions and API tokens are kept
//! ([`crate::Access`]) — the embedded database's `auth_*` tables, or a
//! DynamoDB table every replica shares, so a user added once signs in on
//! any replica and a session cookie works whichever replica answers.
//!
//! Only digests of session and token secrets are stored (see
//! [`crate::access`]); the store never sees a secret.

use crate::storage::sqlite::Db;
use crate::storage::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use store::rusqlite::{params, OptionalExtension};
use store::Database;

use crate::access::{Role, TokenInfo, UserInfo};

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

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

/// [`AccessStore`] on the embedded database (`auth_users`,
/// `auth_sessions`, `auth_tokens`; deleting a user cascades).
#[derive(Debug, Clone)]
pub struct SqliteAccess {
    db: Db,
}

impl SqliteAccess {
    /// The users of `db`.
    pub fn new(db: Database) -> Self {
        Self { db: db.into() }
    }
}

#[async_trait]
impl AccessStore for SqliteAccess {
    async fn insert_user(&self, u: &StoredUser) -> Result<bool, StoreError> {
        let u = u.clone();
        let inserted = self
            .db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO auth_users (name, role, password_hash, created_ms)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO NOTHING",
                    params![u.name, u.role.as_str(), u.password_hash, ms(u.created_at)],
                )
            })
            .await?;
        Ok(inserted == 1)
    }

    async fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        let owned = name.to_owned();
        let removed = self
            .db
            .write(move |tx| tx.execute("DELETE FROM auth_users WHERE name = ?1", [owned]))
            .await?;
        Ok(removed == 1)
    }

    async fn users(&self) -> Result<Vec<UserInfo>, StoreError> {
        self.db
            .read(|c| {
                let mut st =
                    c.prepare("SELECT name, role, created_ms FROM auth_users ORDER BY name")?;
                let rows = st.query_map([], |r| {
                    Ok(UserInfo {
                        name: r.get(0)?,
                        role: parse_role(&r.get::<_, String>(1)?),
                        created_at: from_ms(r.get(2)?),
                    })
                })?;
                rows.collect()
            })
            .await
    }

    async fn user_count(&self) -> Result<u64, StoreError> {
        self.db
            .read(|c| c.query_row("SELECT count(*) FROM auth_users", [], |r| r.get(0)))
            .await
    }

    async fn credentials(&self, name: &str) -> Result<Option<(Role, String)>, StoreError> {
        let owned = name.to_owned();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT role, password_hash FROM auth_users WHERE name = ?1",
                    [owned],
                    |r| Ok((parse_role(&r.get::<_, String>(0)?), r.get(1)?)),
                )
                .optional()
            })
            .await
    }

    async fn insert_session(&self, s: &StoredSession) -> Result<(), StoreError> {
        let s = s.clone();
        self.db
            .write(move |tx| {
                // Expired sessions are pruned whenever someone signs in.
                tx.execute(
                    "DELETE FROM auth_sessions WHERE expires_ms <= ?1",
                    [ms(s.created_at)],
                )?;
                tx.execute(
                    "INSERT INTO auth_sessions (token_hash, user_name, csrf_token, created_ms, expires_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![s.token_hash, s.user, s.csrf, ms(s.created_at), ms(s.expires_at)],
                )
                .map(drop)
            })
            .await
    }

    async fn session(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<(String, Role, String)>, StoreError> {
        let hash = token_hash.to_vec();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT u.name, u.role, s.csrf_token FROM auth_sessions s
                     JOIN auth_users u ON u.name = s.user_name
                     WHERE s.token_hash = ?1 AND s.expires_ms > ?2",
                    params![hash, ms(now)],
                    |r| Ok((r.get(0)?, parse_role(&r.get::<_, String>(1)?), r.get(2)?)),
                )
                .optional()
            })
            .await
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        let hash = token_hash.to_vec();
        self.db
            .write(move |tx| {
                tx.execute("DELETE FROM auth_sessions WHERE token_hash = ?1", [hash])
                    .map(drop)
            })
            .await
    }

    async fn insert_token(
        &self,
        token_hash: &[u8],
        user: &str,
        role: Role,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (hash, user, label) = (token_hash.to_vec(), user.to_owned(), label.to_owned());
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO auth_tokens (token_hash, user_name, role, label, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![hash, user, role.as_str(), label, ms(now)],
                )?;
                Ok(tx.last_insert_rowid())
            })
            .await
    }

    async fn delete_token(&self, id: i64) -> Result<bool, StoreError> {
        let removed = self
            .db
            .write(move |tx| tx.execute("DELETE FROM auth_tokens WHERE id = ?1", [id]))
            .await?;
        Ok(removed == 1)
    }

    async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.db
            .read(|c| {
                let mut st = c.prepare(
                    "SELECT id, user_name, role, label, created_ms, last_used_ms
                     FROM auth_tokens ORDER BY id",
                )?;
                let rows = st.query_map([], |r| {
                    Ok(TokenInfo {
                        id: r.get(0)?,
                        user: r.get(1)?,
                        role: parse_role(&r.get::<_, String>(2)?),
                        label: r.get(3)?,
                        created_at: from_ms(r.get(4)?),
                        last_used_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
                    })
                })?;
                rows.collect()
            })
            .await
    }

    async fn token(&self, token_hash: &[u8]) -> Result<Option<FoundToken>, StoreError> {
        let hash = token_hash.to_vec();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT t.id, u.name, t.role, u.role, t.last_used_ms FROM auth_tokens t
                     JOIN auth_users u ON u.name = t.user_name WHERE t.token_hash = ?1",
                    [hash],
                    |r| {
                        Ok(FoundToken {
                            id: r.get(0)?,
                            user: r.get(1)?,
                            role: parse_role(&r.get::<_, String>(2)?),
                            user_role: parse_role(&r.get::<_, String>(3)?),
                            last_used_at: r.get::<_, Option<i64>>(4)?.map(from_ms),
                        })
                    },
                )
                .optional()
            })
            .await
    }

    async fn touch_token(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE auth_tokens SET last_used_ms = ?2 WHERE id = ?1",
                    params![id, ms(now)],
                )
                .map(drop)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_passes_the_access_contract() {
        let dir = tempfile::tempdir().unwrap();
        let a = SqliteAccess::new(Database::open(dir.path()).unwrap());
        let b = SqliteAccess::new(Database::open(dir.path()).unwrap());
        crate::storage::contract::check_access(&a, &b).await;
    }
}
