//! The backend-neutral contract suite on SQLite, every check: two
//! replicas are two handles (`Database`s) on one file, as two processes
//! sharing a data directory would be.

use mediator_core::testing::Replicas;
use store::Database;

/// Two handles on a fresh database in a directory of its own.
async fn replicas(_check: &'static str) -> Replicas {
    let dir = tempfile::tempdir().unwrap();
    let a = Database::open(dir.path()).unwrap();
    let b = Database::open(dir.path()).unwrap();
    Replicas {
        a: mediator_sqlite::ports(&a),
        b: mediator_sqlite::ports(&b),
        // One process owns an embedded database: its claims are its own.
        exclusive_claims: false,
        status_race_rounds: 20,
        claim_race_rounds: 10,
        keep: Box::new(dir),
    }
}

mediator_core::store_contract!(replicas);
