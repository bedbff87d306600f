//! Periodic database upkeep: checkpoints the WAL so it stays small.

use std::time::Duration;

use store::Database;
use tokio_util::sync::CancellationToken;

/// How often [`step`] runs.
pub const INTERVAL: Duration = Duration::from_secs(300);

/// One round of upkeep; returns the number of WAL frames checkpointed.
pub async fn step(db: &Database) -> Result<i64, store::StoreError> {
    db.checkpoint().await
}

/// Runs [`step`] every [`INTERVAL`] until `shutdown` is cancelled, and once
/// more on the way out so the WAL is folded in before exit.
pub async fn run(db: Database, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.tick().await; // the first tick fires at once; skip it
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                if let Err(e) = step(&db).await {
                    tracing::warn!("database checkpoint failed: {e}");
                }
            }
        }
    }
    if let Err(e) = step(&db).await {
        tracing::warn!("final database checkpoint failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn step_checkpoints_and_run_stops_on_cancel() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        assert!(step(&db).await.unwrap() >= 0);
        let token = CancellationToken::new();
        let task = tokio::spawn(run(db, token.clone()));
        token.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("run must stop promptly after cancel")
            .unwrap();
    }
}
