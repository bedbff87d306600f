//! The backend-neutral contract suite on SQLite: users and replay records
//! (two handles on one file: two replicas on one database).

use mediator_sqlite::{SqliteAccess, SqliteReplays};
use store::Database;

#[tokio::test]
async fn sqlite_passes_the_access_contract() {
    let dir = tempfile::tempdir().unwrap();
    let a = SqliteAccess::new(Database::open(dir.path()).unwrap());
    let b = SqliteAccess::new(Database::open(dir.path()).unwrap());
    mediator_core::testing::contract::check_access(&a, &b).await;
}

#[tokio::test]
async fn sqlite_passes_the_replay_contract() {
    let dir = tempfile::tempdir().unwrap();
    // Two handles on one file: two replicas on one database.
    let a = SqliteReplays::new(Database::open(dir.path()).unwrap());
    let b = SqliteReplays::new(Database::open(dir.path()).unwrap());
    // A fresh database starts the cursor at the newest status change (0).
    mediator_core::testing::contract::check_replays(&a, &b).await;
}
