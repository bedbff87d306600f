//! Concurrent small writes with each durability (a plain bench binary: `cargo
//! bench -p store --bench writes`): `STORE_BENCH_WRITERS` (64) tasks each
//! insert `STORE_BENCH_WRITES` (100) rows, one `Database::write` per row, as
//! the drain's and the bus's concurrent writers do. Prints writes/s per
//! durability; with `full` each commit is an fsync, so this is what group
//! commit changes.

use std::time::Instant;

use store::{Database, Durability};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let writers = env("STORE_BENCH_WRITERS", 64);
    let writes = env("STORE_BENCH_WRITES", 100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for durability in [Durability::Normal, Durability::Full] {
            let tmp = tempfile::tempdir().expect("temp dir");
            let db = Database::open_with(tmp.path(), durability).expect("database");
            db.write(|tx| tx.execute_batch("CREATE TABLE w (id INTEGER PRIMARY KEY, body BLOB)"))
                .await
                .expect("table");
            let t0 = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..writers {
                let db = db.clone();
                set.spawn(async move {
                    for _ in 0..writes {
                        db.write(|tx| {
                            tx.prepare_cached("INSERT INTO w (body) VALUES (?1)")?
                                .execute([vec![b'x'; 300]])
                        })
                        .await
                        .expect("write");
                    }
                });
            }
            while let Some(r) = set.join_next().await {
                r.expect("writer");
            }
            let secs = t0.elapsed().as_secs_f64();
            let n = writers * writes;
            let rows: i64 = db
                .read(|c| c.query_row("SELECT count(*) FROM w", [], |r| r.get(0)))
                .await
                .expect("count");
            assert_eq!(rows as usize, n);
            println!(
                "writes {durability:<6?} {writers} writers x {writes}: {n} writes in {secs:.2} s = {:.0} writes/s",
                n as f64 / secs
            );
        }
    });
}
