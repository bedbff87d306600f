//! The embedded backend's storage: every port of `mediator-core`
//! ([`mediator_core::storage`]) on the SQLite database of the `store` crate
//! (which owns the connections and the migrations). All of the mediator's
//! SQL outside the embedded event bus lives here.
//!
//! - [`status`]: circuits, checks, roll-ups, status changes and leases
//!   ([`SqliteStore`]: `StatusStore`, `OverrideStore`, `MonitorHistory`);
//! - [`vouchers`]: the DataCache's vouchers ([`SqliteVoucherStore`]);
//! - [`replays`]: replay records and the recovery cursor ([`SqliteReplays`]);
//! - [`audit`]: the audit log ([`SqliteAudit`]);
//! - [`access`]: users, sessions and API tokens ([`SqliteAccess`]).

use std::sync::Arc;

use mediator_core::storage::{Ports, StoreError};
use store::rusqlite::{self, Connection, Transaction};
use store::{Database, DbError};

pub mod access;
pub mod audit;
pub mod replays;
pub mod status;
pub mod vouchers;

pub use access::SqliteAccess;
pub use audit::SqliteAudit;
pub use replays::SqliteReplays;
pub use status::SqliteStore;
pub use vouchers::SqliteVoucherStore;

/// Every port on `db`, for building the services.
pub fn ports(db: &Database) -> Ports {
    let status = Arc::new(SqliteStore::new(db.clone()));
    Ports {
        status: status.clone(),
        overrides: status.clone(),
        monitor_history: status,
        vouchers: Arc::new(SqliteVoucherStore::new(db.clone())),
        audit: Arc::new(SqliteAudit::new(db.clone())),
        replays: Arc::new(SqliteReplays::new(db.clone())),
        access: Arc::new(SqliteAccess::new(db.clone())),
    }
}

/// The embedded database as the SQLite adapters use it: [`Database`]'s
/// `read`, `write` and `read_on_writer`, with its errors mapped into the
/// ports' [`StoreError`] ([`store_error`]).
#[derive(Clone, Debug)]
pub struct Db(Database);

impl From<Database> for Db {
    fn from(db: Database) -> Self {
        Self(db)
    }
}

impl Db {
    /// The database itself.
    pub fn database(&self) -> &Database {
        &self.0
    }

    /// [`Database::write`].
    pub async fn write<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        self.0.write(f).await.map_err(store_error)
    }

    /// [`Database::read`].
    pub async fn read<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        self.0.read(f).await.map_err(store_error)
    }

    /// [`Database::read_on_writer`].
    pub async fn read_on_writer<F, R>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        self.0.read_on_writer(f).await.map_err(store_error)
    }
}

/// The embedded database's error as the ports see it: a full disk, a
/// read-only file, a busy or locked database, or a failed blocking task
/// are [`StoreError::Unavailable`]; anything else is
/// [`StoreError::Failed`]. Both keep SQLite's text ("database error:
/// database or disk is full").
pub fn store_error(e: DbError) -> StoreError {
    use rusqlite::ErrorCode;
    match e {
        DbError::Sqlite(e) => {
            let passing = matches!(
                e.sqlite_error_code(),
                Some(
                    ErrorCode::DiskFull
                        | ErrorCode::ReadOnly
                        | ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                        | ErrorCode::CannotOpen
                        | ErrorCode::SystemIoFailure
                        | ErrorCode::OutOfMemory
                )
            );
            if passing {
                StoreError::unavailable("database error", e)
            } else {
                StoreError::failed("database error", e)
            }
        }
        DbError::Task(reason) => StoreError::unavailable("database task failed", reason),
        DbError::DataDir { path, reason } => {
            StoreError::unavailable(format!("data directory {}", path.display()), reason)
        }
        DbError::Migration(e) => StoreError::failed("database migration failed", e),
    }
}
