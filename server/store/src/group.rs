//! Group commit: the writer thread behind [`crate::Database::write`].
//!
//! Every write is queued for one thread that owns the turn on the writer
//! connection. It takes the first write waiting and every other write queued
//! by then (those that arrived while the previous commit was being synced),
//! runs them one after the other in one transaction, each inside its own
//! savepoint — with the writes queued while they run — commits once, and
//! only then answers them. With
//! `synchronous=FULL` the commit is one fsync for the whole group rather
//! than one per write.
//!
//! What each caller is told:
//! - its write returned `Ok` and the group's commit succeeded (so its
//!   changes are as durable as the configured `Durability` makes them):
//!   `Ok` with its value, sent after the commit returned;
//! - its write returned `Err` or panicked: that error, and only its own
//!   changes are undone (rolled back to its savepoint); the other writes of
//!   the group go on and commit;
//! - the commit itself failed (or SQLite dropped the whole transaction, as it
//!   does on a full disk or an I/O error): an error with SQLite's code, for
//!   every write whose changes were in it; none of them was committed.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::{lock, DbError, Shared, CHECKPOINT_EVERY_WRITES};

/// Writes one transaction takes at most (more wait for the next one).
pub(crate) const MAX_GROUP: usize = 256;

/// A queued write.
pub(crate) trait Job: Send {
    /// Runs the write on `tx`; `Some` (to be answered once the commit's
    /// outcome is known) if it succeeded, `None` if it failed (it has been
    /// answered with its own error: the caller must undo its changes).
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Option<Box<dyn Done>>;
    /// Answers the write with `e` without running it.
    fn fail(self: Box<Self>, e: DbError);
}

/// A write that ran successfully, waiting for its group's commit.
pub(crate) trait Done: Send {
    /// Answers the caller: its value if `committed` is `Ok`.
    fn answer(self: Box<Self>, committed: Result<(), DbError>);
}

/// A caller's closure and where its answer goes.
pub(crate) struct Write<F, R> {
    pub f: F,
    pub reply: oneshot::Sender<Result<R, DbError>>,
}

struct Ran<R> {
    out: R,
    reply: oneshot::Sender<Result<R, DbError>>,
}

impl<F, R> Job for Write<F, R>
where
    F: FnOnce(&Transaction<'_>) -> Result<R, rusqlite::Error> + Send + 'static,
    R: Send + 'static,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Option<Box<dyn Done>> {
        let Write { f, reply } = *self;
        match catch_unwind(AssertUnwindSafe(move || f(tx))) {
            Ok(Ok(out)) => Some(Box::new(Ran { out, reply })),
            Ok(Err(e)) => {
                let _ = reply.send(Err(DbError::Sqlite(e)));
                None
            }
            Err(panic) => {
                let _ = reply.send(Err(DbError::Task(format!(
                    "the write panicked: {}",
                    panic_text(&panic)
                ))));
                None
            }
        }
    }

    fn fail(self: Box<Self>, e: DbError) {
        let _ = self.reply.send(Err(e));
    }
}

impl<R: Send + 'static> Done for Ran<R> {
    fn answer(self: Box<Self>, committed: Result<(), DbError>) {
        let Ran { out, reply } = *self;
        let _ = reply.send(committed.map(|()| out));
    }
}

fn panic_text(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// `e` again, for another write it concerns: SQLite's code (and message)
/// are kept, so a full disk still reads as one.
fn again(e: &rusqlite::Error) -> DbError {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(*code, msg.clone()))
        }
        other => DbError::Task(format!("the group's transaction failed: {other}")),
    }
}

/// Runs one of the group's savepoint statements, prepared once per
/// connection: a group runs two or three of them per write.
fn savepoint(tx: &rusqlite::Transaction<'_>, sql: &str) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The transaction was rolled back as a whole (SQLite does so on some
/// errors: a full disk, an I/O error, out of memory).
fn rolled_back(why: &str) -> DbError {
    DbError::Sqlite(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
        Some(format!(
            "the transaction was rolled back by SQLite after another write's error ({why})"
        )),
    ))
}

/// The writer thread: one group per iteration until every [`crate::Database`]
/// handle is gone and the queue is empty.
pub(crate) fn writer_loop(shared: Arc<Shared>, jobs: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = jobs.recv() {
        let mut group = Vec::with_capacity(8);
        group.push(first);
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(j) => group.push(j),
                Err(_) => break,
            }
        }
        let n = {
            let mut conn = lock(&shared.writer);
            run_group(&mut conn, group, &jobs)
        };
        if shared.writes.fetch_add(n, Ordering::Relaxed) + n >= CHECKPOINT_EVERY_WRITES {
            shared.writes.store(0, Ordering::Relaxed);
            // Full: a wake-up is pending already.
            let _ = shared.checkpointer.try_send(());
        }
    }
}

/// Runs `group` in one transaction (a savepoint per write when there are
/// several), commits, then answers every write; returns how many writes it
/// handled. Writes queued on `late` while the group runs join it before the
/// commit (up to [`MAX_GROUP`]): they would otherwise wait for this commit
/// and then need one of their own.
pub(crate) fn run_group(
    conn: &mut Connection,
    group: Vec<Box<dyn Job>>,
    late: &mpsc::Receiver<Box<dyn Job>>,
) -> usize {
    let mut group: VecDeque<Box<dyn Job>> = group.into();
    let mut handled = 0;
    while !group.is_empty() {
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                handled += group.len();
                for job in group.drain(..) {
                    job.fail(again(&e));
                }
                return handled;
            }
        };
        // A lone write runs without a savepoint: if it fails, the whole
        // transaction is rolled back (and nothing joins it).
        let alone = group.len() == 1;
        let mut ran: Vec<Box<dyn Done>> = Vec::with_capacity(group.len());
        // Set when SQLite dropped the transaction: the writes in `ran` are
        // undone, the rest of the group goes into a new transaction.
        let mut lost: Option<DbError> = None;
        let mut taken = 0;
        loop {
            let job = match group.pop_front() {
                Some(job) => job,
                None if taken < MAX_GROUP && !tx.is_autocommit() => match late.try_recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
                None => break,
            };
            taken += 1;
            handled += 1;
            if alone && taken == 1 {
                match job.run(&tx) {
                    Some(done) => ran.push(done),
                    None => break,
                }
                continue;
            }
            if let Err(e) = savepoint(&tx, "SAVEPOINT group_write") {
                job.fail(again(&e));
                lost = tx.is_autocommit().then(|| again(&e));
                if lost.is_some() {
                    break;
                }
                continue;
            }
            match job.run(&tx) {
                Some(done) => {
                    ran.push(done);
                    if let Err(e) = savepoint(&tx, "RELEASE group_write") {
                        lost = Some(again(&e));
                        break;
                    }
                }
                None => {
                    // Only this write's changes are undone.
                    if tx.is_autocommit() {
                        lost = Some(rolled_back("its changes were undone too"));
                        break;
                    }
                    if let Err(e) = savepoint(&tx, "ROLLBACK TO group_write")
                        .and_then(|()| savepoint(&tx, "RELEASE group_write"))
                    {
                        lost = Some(again(&e));
                        break;
                    }
                }
            }
        }
        if let Some(e) = lost {
            if !tx.is_autocommit() {
                let _ = tx.rollback();
            }
            for done in ran {
                done.answer(Err(match &e {
                    DbError::Sqlite(e) => again(e),
                    other => DbError::Task(other.to_string()),
                }));
            }
            continue;
        }
        let committed = if tx.is_autocommit() {
            // A lone write whose error made SQLite drop the transaction:
            // nothing to commit (it has been answered already).
            drop(tx);
            Ok(())
        } else if ran.is_empty() {
            tx.rollback()
        } else {
            tx.commit()
        };
        match committed {
            Ok(()) => {
                for done in ran {
                    done.answer(Ok(()));
                }
            }
            Err(e) => {
                for done in ran {
                    done.answer(Err(again(&e)));
                }
            }
        }
    }
    handled
}
