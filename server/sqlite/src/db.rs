//! [`Db`]: the embedded database as the adapters use it, its errors mapped
//! into the ports' [`StoreError`].

use mediator_core::storage::StoreError;
use store::rusqlite::{self, Connection, Transaction};
use store::{Database, DbError};

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
