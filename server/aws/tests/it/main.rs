//! The AWS adapters' integration tests, one binary (each file a module):
//! against moto (started by the tests) and, for `dynamodb_local`, AWS's
//! DynamoDB Local (`make test-dynamodb-local`).

mod common;

mod contract;
mod dynamodb_local;
mod events;
mod intake;
mod provision;
mod recovery;
mod sdk_config;
mod spans;
mod store_contract;
