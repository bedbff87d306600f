//! [`SqliteAccess`]: users, sessions and API tokens in the embedded
//! database (`auth_users`, `auth_sessions`, `auth_tokens`).

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use mediator_core::access::{Role, TokenInfo, UserInfo};
use mediator_core::storage::access::{
    parse_role, AccessStore, FoundToken, StoredSession, StoredUser,
};
use mediator_core::storage::StoreError;
use store::rusqlite::{params, OptionalExtension};
use store::Database;

use crate::db::Db;

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
