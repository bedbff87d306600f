//! Bounded load (part of `make test`): the overview page, the overview JSON
//! and the wire API's PutEvents, each for a few seconds from 20 concurrent
//! keep-alive connections against the real server on loopback, with 0
//! errors. The 30-second run at 100 connections is `make load-test`
//! (`server/benches/load.rs`, same generator).

use crate::common;
use crate::load_support as load;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overview_api_and_wire_api_answer_every_request_under_load() {
    let app = common::spawn_app().await;
    common::eventually(10, "parts checked", || async {
        let (_, j) = app.get_json("/api/v1/parts").await;
        if j["parts"][0]["last_check_at"].is_string() {
            Ok(())
        } else {
            Err(j.to_string())
        }
    })
    .await;
    let base = format!("http://{}", app.addr);
    let events = format!("http://{}", app.events_addr);
    for target in load::targets(&base, &events) {
        let r = load::run(&target, 20, Duration::from_secs(2)).await;
        eprintln!("{}: {r}", target.name);
        assert_eq!(
            r.errors, 0,
            "{}: {r}; first: {:?}",
            target.name, r.first_errors
        );
        assert!(r.requests >= 20, "{}: {r}", target.name);
    }
    app.stop().await;
}
