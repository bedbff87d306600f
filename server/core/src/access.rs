//! Who may do what: local users with argon2 password hashes, roles, browser
//! sessions and API tokens.
//!
//! Secrets never reach the database in clear: passwords are stored as argon2id
//! PHC strings, session and API tokens (32 random bytes each) as SHA-256
//! digests; a fast digest suffices for them because they are random, not
//! chosen by people. Tables from migration 8 (`auth_users`, `auth_sessions`,
//! `auth_tokens`); deleting a user deletes its sessions and tokens.
//!
//! No web types here: the server turns cookies, `Authorization: Bearer` and
//! proxy headers into a [`Principal`] through this module.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::storage::StoreError;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::storage::access::{AccessStore, StoredSession, StoredUser};

pub use crate::identity::{Principal, Role, TokenInfo, UserInfo, Via};

/// How long a browser session lasts after sign-in unless configured.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Prefix of API tokens, so they are recognisable in logs and secret scanners.
pub const TOKEN_PREFIX: &str = "mdt_";

/// Shortest password `user add` accepts.
pub const MIN_PASSWORD_LEN: usize = 8;

/// A new browser session: the secrets go into cookies, only digests are kept.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session cookie's value.
    pub token: String,
    /// The CSRF token the console sends back in `X-CSRF-Token`.
    pub csrf: String,
    /// The signed-in user.
    pub principal: Principal,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// Why a user or token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A field is invalid, named.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such user.
    #[error("user {0:?} does not exist")]
    UnknownUser(String),
    /// The user already exists.
    #[error("user {0:?} already exists")]
    UserExists(String),
    /// No such token.
    #[error("token {0} does not exist")]
    UnknownToken(i64),
    /// Wrong user name or password (deliberately not saying which).
    #[error("wrong user name or password")]
    BadCredentials,
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// Every password-hashing slot is taken: retry shortly.
    #[error("too many sign-ins being checked at once: retry in a second")]
    Busy,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Users, sessions and API tokens ([`AccessStore`]); cheap to clone.
#[derive(Clone)]
pub struct Access {
    store: Arc<dyn AccessStore>,
    session_ttl: Duration,
    hasher: Hasher,
}

/// Runs argon2 (19 MiB, tens of milliseconds of CPU each) on threads of
/// its own, at most one per core at once: sign-in attempts then cannot
/// starve tokio's blocking pool, which every database read and write uses,
/// nor take more than a bounded amount of memory.
#[derive(Clone)]
struct Hasher {
    slots: Arc<tokio::sync::Semaphore>,
}

impl Hasher {
    fn new(slots: usize) -> Self {
        Hasher {
            slots: Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
        }
    }

    /// Runs `f` on a hashing thread; `wait: false` answers
    /// [`AccessError::Busy`] at once when every slot is taken.
    async fn run<T: Send + 'static>(
        &self,
        wait: bool,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AccessError> {
        let slot = if wait {
            self.slots.clone().acquire_owned().await.ok()
        } else {
            self.slots.clone().try_acquire_owned().ok()
        }
        .ok_or(AccessError::Busy)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("argon2".into())
            .spawn(move || {
                let _slot = slot;
                let _ = tx.send(f());
            })
            .map_err(|e| AccessError::Hash(e.to_string()))?;
        rx.await
            .map_err(|_| AccessError::Hash("the hashing thread ended".into()))
    }
}

/// Passwords checked at once by default: one per core.
pub fn default_hash_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("session_ttl", &self.session_ttl)
            .finish_non_exhaustive()
    }
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// 32 random bytes from the OS, URL-safe base64 (43 characters).
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks a user name: 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
pub fn validate_user_name(name: &str) -> Result<(), AccessError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok_char) {
        return Err(AccessError::Invalid {
            field: "name",
            reason: format!("{name:?} must be 1 to 64 letters, digits, '.', '_', '-' or '@'"),
        });
    }
    Ok(())
}

/// Hashes `password` as an argon2id PHC string (OWASP's parameters:
/// 19 MiB, 2 passes), after checking its length.
pub fn hash_password(password: &str) -> Result<String, AccessError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN || password.len() > 1024 {
        return Err(AccessError::Invalid {
            field: "password",
            reason: format!("must be between {MIN_PASSWORD_LEN} and 1024 characters, got {chars}"),
        });
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccessError::Hash(e.to_string()))
}

fn verify_hash(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

impl Access {
    /// Users and sessions kept in `store` (the embedded database, or
    /// DynamoDB shared by every replica), sessions lasting
    /// [`DEFAULT_SESSION_TTL`].
    pub fn new(store: Arc<dyn AccessStore>) -> Self {
        Access {
            store,
            session_ttl: DEFAULT_SESSION_TTL,
            hasher: Hasher::new(default_hash_slots()),
        }
    }

    /// Sets how many passwords are checked at once (more: refused as
    /// [`AccessError::Busy`]).
    pub fn with_hash_slots(mut self, slots: usize) -> Self {
        self.hasher = Hasher::new(slots);
        self
    }

    /// Sets how long a session lasts after sign-in.
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// How long a session lasts after sign-in.
    pub fn session_ttl(&self) -> Duration {
        self.session_ttl
    }

    /// Adds a user; the password is hashed on a hashing thread (waiting
    /// for a free slot).
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password: &str,
    ) -> Result<(), AccessError> {
        validate_user_name(name)?;
        let password = password.to_owned();
        let phc = self
            .hasher
            .run(true, move || hash_password(&password))
            .await??;
        let user = StoredUser {
            name: name.to_owned(),
            role,
            password_hash: phc,
            created_at: Utc::now(),
        };
        if !self.store.insert_user(&user).await? {
            return Err(AccessError::UserExists(user.name));
        }
        Ok(())
    }

    /// Removes a user with its sessions and tokens.
    pub async fn remove_user(&self, name: &str) -> Result<(), AccessError> {
        if !self.store.delete_user(name).await? {
            return Err(AccessError::UnknownUser(name.to_owned()));
        }
        Ok(())
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserInfo>, AccessError> {
        Ok(self.store.users().await?)
    }

    /// How many users exist.
    pub async fn user_count(&self) -> Result<u64, AccessError> {
        Ok(self.store.user_count().await?)
    }

    /// Checks a user name and password. An unknown user costs the same hash
    /// as a wrong password, so timing does not tell which names exist.
    /// [`AccessError::Busy`] when every hashing slot is taken.
    pub async fn verify_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Principal, AccessError> {
        let row = self.store.credentials(name).await?;
        let password = password.to_owned();
        let (role, phc) = match row {
            Some((role, phc)) => (Some(role), Some(phc)),
            None => (None, None),
        };
        let ok = self
            .hasher
            .run(false, move || {
                verify_hash(phc.as_deref().unwrap_or_else(|| dummy_hash()), &password)
            })
            .await?;
        match (role, ok) {
            (Some(role), true) => Ok(Principal {
                name: name.to_owned(),
                role,
                via: Via::Session,
                csrf: None,
            }),
            _ => Err(AccessError::BadCredentials),
        }
    }

    /// Opens a session for `principal` (whose password was just verified).
    pub async fn create_session(&self, principal: &Principal) -> Result<NewSession, AccessError> {
        let token = random_secret();
        let csrf = random_secret();
        let now = Utc::now();
        let expires_at = now
            + chrono::Duration::from_std(self.session_ttl).unwrap_or(chrono::Duration::hours(12));
        self.store
            .insert_session(&StoredSession {
                token_hash: digest(&token),
                user: principal.name.clone(),
                csrf: csrf.clone(),
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(NewSession {
            token,
            csrf: csrf.clone(),
            principal: Principal {
                via: Via::Session,
                csrf: Some(csrf),
                ..principal.clone()
            },
            expires_at,
        })
    }

    /// The signed-in user of a session cookie's value, if the session is
    /// known and not expired (the role is the user's current one).
    pub async fn session(&self, token: &str) -> Result<Option<Principal>, AccessError> {
        Ok(self
            .store
            .session(&digest(token), Utc::now())
            .await?
            .map(|(name, role, csrf)| Principal {
                name,
                role,
                via: Via::Session,
                csrf: Some(csrf),
            }))
    }

    /// Ends a session (sign-out); unknown tokens are ignored.
    pub async fn end_session(&self, token: &str) -> Result<(), AccessError> {
        Ok(self.store.delete_session(&digest(token)).await?)
    }

    /// Creates an API token acting as `user` with `role` (at most the
    /// user's); returns its id and the secret, which is shown only now.
    pub async fn add_token(
        &self,
        user: &str,
        role: Role,
        label: &str,
    ) -> Result<(i64, String), AccessError> {
        let label = label.trim().to_owned();
        if label.len() > 200 {
            return Err(AccessError::Invalid {
                field: "label",
                reason: "must be at most 200 characters".into(),
            });
        }
        let user_role = self
            .store
            .credentials(user)
            .await?
            .map(|(role, _)| role)
            .ok_or_else(|| AccessError::UnknownUser(user.to_owned()))?;
        if !user_role.allows(role) {
            return Err(AccessError::Invalid {
                field: "role",
                reason: format!("{role} is above the role of user {user:?} ({user_role})"),
            });
        }
        let secret = format!("{TOKEN_PREFIX}{}", random_secret());
        let id = self
            .store
            .insert_token(&digest(&secret), user, role, &label, Utc::now())
            .await?;
        Ok((id, secret))
    }

    /// Revokes an API token.
    pub async fn remove_token(&self, id: i64) -> Result<(), AccessError> {
        if !self.store.delete_token(id).await? {
            return Err(AccessError::UnknownToken(id));
        }
        Ok(())
    }

    /// Every API token, without secrets, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, AccessError> {
        Ok(self.store.tokens().await?)
    }

    /// The caller an API token's secret stands for: the token's role, capped
    /// by its user's current role. Unknown secrets give `None`.
    pub async fn token(&self, secret: &str) -> Result<Option<Principal>, AccessError> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let Some(found) = self.store.token(&digest(secret)).await? else {
            return Ok(None);
        };
        // Record use at most once a minute, so scripts do not turn every read
        // into a write.
        let now = Utc::now();
        if found
            .last_used_at
            .is_none_or(|t| now - t > chrono::Duration::minutes(1))
        {
            self.store.touch_token(found.id, now).await?;
        }
        Ok(Some(Principal {
            name: found.user,
            role: found.role.min(found.user_role),
            via: Via::Token,
            csrf: None,
        }))
    }
}

/// A valid hash of a random password, verified against when the user does
/// not exist.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&random_secret()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Operator.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Operator));
        assert_eq!("Operator".parse::<Role>(), Ok(Role::Operator));
        assert!("root"
            .parse::<Role>()
            .unwrap_err()
            .contains("viewer, operator or admin"));
    }

    #[test]
    fn passwords_are_argon2id_phc_strings() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_hash(&phc, "correct horse"));
        assert!(!verify_hash(&phc, "correct horsE"));
        let short = hash_password("short").unwrap_err().to_string();
        assert!(short.starts_with("password: must be between 8"), "{short}");
    }

    #[tokio::test]
    async fn hashing_runs_a_bounded_number_at_once_off_the_runtime() {
        let h = Hasher::new(1);
        let busy = h.clone();
        let first = tokio::spawn(async move {
            busy.run(false, || {
                std::thread::sleep(Duration::from_millis(300));
                std::thread::current().name().map(str::to_owned)
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            matches!(h.run(false, || ()).await, Err(AccessError::Busy)),
            "the only slot is taken"
        );
        let waited = h.run(true, || 7).await.unwrap();
        assert_eq!(waited, 7, "a caller that may wait gets the slot after");
        assert_eq!(
            first.await.unwrap().unwrap().as_deref(),
            Some("argon2"),
            "a thread of its own, not tokio's blocking pool"
        );
    }

    #[test]
    fn user_names_are_checked() {
        assert!(validate_user_name("ann.o-b_c@x").is_ok());
        for bad in ["", "a b", "ann;drop", &"x".repeat(65)] {
            let e = validate_user_name(bad).unwrap_err().to_string();
            assert!(e.starts_with("name: "), "{e}");
        }
    }
}
