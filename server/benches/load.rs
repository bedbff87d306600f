//! The load test (`make load-test`; never part of `make test`):
//! starts the mediator binary on loopback with a fresh data directory and
//! the simulated SaaS, then loads, one after the other, the overview page
//! (`GET /`), the overview JSON (`GET /api/v1/parts`) and the wire API
//! (`PutEvents` of one event) for `MEDIATOR_LOAD_SECS` (30) seconds each
//! from `MEDIATOR_LOAD_CONNECTIONS` (100) concurrent keep-alive
//! connections; prints requests/s, p50, p99, max and errors per target, and
//! fails on any error. The binary is `MEDIATOR_BENCH_BIN` (default
//! `target/debug/mediator`, as `cargo leptos build` leaves it).

#[path = "../tests/support/load.rs"]
mod load;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_addr() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .to_string()
}

fn main() {
    // `cargo bench` passes --bench; nothing to filter.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

async fn run() {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin: PathBuf = std::env::var("MEDIATOR_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace.join("target/debug/mediator"));
    assert!(
        bin.exists(),
        "{} not found: run `cargo leptos build`",
        bin.display()
    );
    let secs: u64 = env("MEDIATOR_LOAD_SECS", 30);
    let connections: usize = env("MEDIATOR_LOAD_CONNECTIONS", 100);
    let data = tempfile::tempdir().expect("temp dir");
    let (addr, events, sim) = (free_addr(), free_addr(), free_addr());
    let mut child = std::process::Command::new(&bin)
        .arg("serve")
        .args([
            "--listen",
            &addr,
            "--events-listen",
            &events,
            "--sim-listen",
            &sim,
        ])
        .args(["--poll-interval", "1", "--auth", "none"])
        .arg("--data-dir")
        .arg(data.path().join("data"))
        .arg("--site-root")
        .arg(workspace.join("target/site"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the mediator");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client
            .get(format!("http://{addr}/api/v1/parts"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        if let Some(r) = ready {
            if r.text()
                .await
                .unwrap_or_default()
                .contains("last_check_at\":\"")
            {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the mediator did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "binary {}, {connections} connections, {secs} s per target",
        bin.display()
    );
    let mut failed = false;
    for target in load::targets(&format!("http://{addr}"), &format!("http://{events}")) {
        let r = load::run(&target, connections, Duration::from_secs(secs)).await;
        println!("{:<26} {r}", target.name);
        if r.errors > 0 {
            println!("  first errors: {:?}", r.first_errors);
            failed = true;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(!failed, "errors under load");
}
