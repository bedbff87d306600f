//! Online backup and restore of the embedded database, with SQLite's backup
//! API.
//!
//! - [`backup`] copies the data directory's database while a server may be
//!   writing to it: one backup step over every page, inside one read
//!   transaction, so the copy is the database as of one commit (WAL lets
//!   the server's writes go on meanwhile). The copy is written beside the
//!   destination, checked (`PRAGMA quick_check`), synced, then renamed
//!   into place: the destination is never a half-written file.
//! - [`restore`] checks a backup (integrity, a mediator schema this binary
//!   knows), then copies it over the data directory's database through an
//!   exclusive lock, which is refused while any other connection (a
//!   server, a `user` command) has the database open.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, ErrorCode, OpenFlags};

/// What a backup or a restore copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Database pages copied.
    pub pages: i64,
    /// Size of the copy, in bytes.
    pub bytes: u64,
    /// The schema version of the copy (migrations applied).
    pub schema_version: u32,
    /// How long it took.
    pub took: Duration,
}

/// Why a backup or a restore did not happen; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// There is no database where one was expected.
    #[error("{0}: no such database")]
    Missing(PathBuf),
    /// The backup's destination exists.
    #[error("{0}: exists; choose another file or add --force to replace it")]
    Exists(PathBuf),
    /// Another connection has the database open.
    #[error(
        "{0}: in use by a running mediator (or another mediator command); stop it, then restore"
    )]
    InUse(PathBuf),
    /// The file is not a usable backup of a mediator database.
    #[error("{path}: not a mediator database backup: {reason}")]
    NotABackup {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// SQLite failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database being read or written.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> BackupError + '_ {
    move |source| BackupError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How long a step waits for a lock the server holds for a moment (a
/// checkpoint) before trying again, and how many times.
const BUSY_PAUSE: Duration = Duration::from_millis(100);
const BUSY_TRIES: u32 = 300;

/// Copies every page of `from` into `to` in one step (one consistent
/// snapshot of `from`), retrying while a lock is held for a moment.
fn copy(from: &Connection, to: &mut Connection, path: &Path) -> Result<(), BackupError> {
    let backup = Backup::new(from, to).map_err(sqlite(path))?;
    for _ in 0..BUSY_TRIES {
        match backup.step(-1).map_err(sqlite(path))? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked => std::thread::sleep(BUSY_PAUSE),
            _ => std::thread::sleep(BUSY_PAUSE),
        }
    }
    Err(BackupError::InUse(path.to_path_buf()))
}

/// The integrity and schema version of the database on `conn`.
fn check(conn: &Connection, path: &Path) -> Result<(i64, u32), BackupError> {
    let not = |reason: String| BackupError::NotABackup {
        path: path.to_path_buf(),
        reason,
    };
    let ok: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| not(e.to_string()))?;
    if ok != "ok" {
        return Err(not(format!("integrity check failed: {ok}")));
    }
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| not(e.to_string()))?;
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(|e| not(e.to_string()))?;
    Ok((pages, version))
}

fn read_only(path: &Path) -> Result<Connection, BackupError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite(path))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(sqlite(path))?;
    Ok(conn)
}

/// Copies `source` into a new database at `partial`, checked and synced;
/// returns its pages and schema version.
fn write_copy(source: &Path, partial: &Path) -> Result<(i64, u32), BackupError> {
    let from = read_only(source)?;
    let mut to = Connection::open(partial).map_err(sqlite(partial))?;
    copy(&from, &mut to, source)?;
    // A backup is a file of its own: no WAL beside it.
    to.pragma_update(None, "journal_mode", "DELETE")
        .map_err(sqlite(partial))?;
    let (pages, schema_version) = check(&to, partial)?;
    drop(to);
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(io(partial))?;
    Ok((pages, schema_version))
}

/// Backs the database of `data_dir` up to `dest` (replacing it only with
/// `force`); the server may be running.
pub fn backup(data_dir: &Path, dest: &Path, force: bool) -> Result<Copied, BackupError> {
    let started = Instant::now();
    let source = data_dir.join(crate::DB_FILE);
    if !source.is_file() {
        return Err(BackupError::Missing(source));
    }
    if dest.exists() && !force {
        return Err(BackupError::Exists(dest.to_path_buf()));
    }
    let name = dest
        .file_name()
        .ok_or_else(|| BackupError::Missing(dest.to_path_buf()))?
        .to_string_lossy()
        .into_owned();
    let partial = dest.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_file(&partial);
    let written = write_copy(&source, &partial);
    let (pages, schema_version) = match written {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, dest).map_err(io(dest))?;
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself survives a crash once the directory is synced.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    let bytes = std::fs::metadata(dest).map_err(io(dest))?.len();
    Ok(Copied {
        pages,
        bytes,
        schema_version,
        took: started.elapsed(),
    })
}

/// Replaces the database of `data_dir` with the backup at `file`; refused
/// while anything else has that database open.
pub fn restore(file: &Path, data_dir: &Path) -> Result<Copied, BackupError> {
    let started = Instant::now();
    if !file.is_file() {
        return Err(BackupError::Missing(file.to_path_buf()));
    }
    let from = read_only(file).map_err(|e| BackupError::NotABackup {
        path: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    let (pages, schema_version) = check(&from, file)?;
    let latest = crate::latest_schema_version();
    if schema_version == 0 {
        return Err(BackupError::NotABackup {
            path: file.to_path_buf(),
            reason: "it has no mediator schema".into(),
        });
    }
    if schema_version > latest {
        return Err(BackupError::NotABackup {
            path: file.to_path_buf(),
            reason: format!(
                "its schema version {schema_version} is newer than this binary's {latest}: \
                 restore it with the mediator version that made it"
            ),
        });
    }
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let target = data_dir.join(crate::DB_FILE);
    let mut to = Connection::open(&target).map_err(sqlite(&target))?;
    // Exclusive locking mode keeps the lock after the transaction: no other
    // connection may open the database until this one closes.
    to.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(sqlite(&target))?;
    match to.execute_batch("BEGIN EXCLUSIVE; COMMIT;") {
        Ok(()) => {}
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
            return Err(BackupError::InUse(target));
        }
        Err(e) => return Err(sqlite(&target)(e)),
    }
    copy(&from, &mut to, &target)?;
    // Fold the restored pages into the database file and leave no WAL.
    if let Err(e) = to.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::warn!("restore: checkpoint after the copy: {e}");
    }
    drop(to);
    let bytes = std::fs::metadata(&target).map_err(io(&target))?.len();
    Ok(Copied {
        pages,
        bytes,
        schema_version,
        took: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(dir: &Path) -> crate::Database {
        crate::Database::open(dir).unwrap()
    }

    async fn count(db: &crate::Database) -> i64 {
        db.read(|c| c.query_row("SELECT count(*) FROM probe", [], |r| r.get(0)))
            .await
            .unwrap()
    }

    /// Writes one row of the test's own table through the writer.
    async fn add(db: &crate::Database, name: &'static str) {
        db.write(move |tx| {
            tx.execute("CREATE TABLE IF NOT EXISTS probe (name TEXT)", [])?;
            tx.execute("INSERT INTO probe (name) VALUES (?1)", [name])
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn backup_while_open_then_restore_when_closed() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let db = database(&data);
        add(&db, "ann").await;
        let file = dir.path().join("b.db");
        let copied = backup(&data, &file, false).unwrap();
        assert!(copied.pages > 0 && copied.bytes > 0);
        assert_eq!(copied.schema_version, crate::latest_schema_version());
        assert!(matches!(
            backup(&data, &file, false),
            Err(BackupError::Exists(_))
        ));
        add(&db, "bob").await;
        assert!(matches!(restore(&file, &data), Err(BackupError::InUse(_))));
        assert_eq!(count(&db).await, 2, "a refused restore changes nothing");
        drop(db);
        restore(&file, &data).unwrap();
        assert_eq!(
            count(&database(&data)).await,
            1,
            "bob came after the backup"
        );
    }

    #[test]
    fn restore_refuses_what_is_not_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, b"not a database at all, just some bytes").unwrap();
        let err = restore(&junk, &dir.path().join("data")).unwrap_err();
        assert!(matches!(err, BackupError::NotABackup { .. }), "{err}");
        assert!(err.to_string().contains("junk.db"), "{err}");
        let empty = dir.path().join("empty.db");
        Connection::open(&empty)
            .unwrap()
            .execute_batch("CREATE TABLE t(x)")
            .unwrap();
        let err = restore(&empty, &dir.path().join("data")).unwrap_err();
        assert!(err.to_string().contains("no mediator schema"), "{err}");
    }
}
