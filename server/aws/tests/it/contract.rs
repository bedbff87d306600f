//! The bus contract suite (`bus::contract`) run through [`AwsBus`] against
//! moto (`moto_server` on loopback).
//!
//! Where each check runs:
//! * here, against moto: buses and rules, PutEvents validation/envelope/
//!   routing, archives (create, duplicates, `EventCount`, no re-archiving of
//!   replays) and replay validation and delivery (`replay-name`).
//! * not against moto (it ignores the replay window and `FilterArns`,
//!   finishes replays inside StartReplay, never sets `EventLastReplayedTime`,
//!   and disabled rules still deliver): those checks run through the same
//!   `AwsBus` against the embedded EventBridge wire API in
//!   `server/tests/aws_wire_contract.rs`, which must behave like AWS; what
//!   the adapter *sends* (StartReplay's window and `FilterArns`) is checked
//!   on a recording endpoint in `tests/recovery.rs`.

use crate::common;

use aws_backend::AwsBus;
use bus::contract;

async fn bus(m: &common::Moto) -> AwsBus {
    AwsBus::connect(&common::moto_config(m).await)
        .await
        .expect("connect to moto")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_buses_and_rules() {
    let m = common::Moto::start();
    contract::check_buses_and_rules(&bus(&m).await, "m1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_put_events_and_routing() {
    let m = common::Moto::start();
    contract::check_put_events_and_routing_with(&bus(&m).await, "m2", contract::Fidelity::MOTO)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_archive_and_replay() {
    let m = common::Moto::start();
    contract::check_archive_and_replay_with(&bus(&m).await, "m3", contract::Fidelity::MOTO).await;
}
