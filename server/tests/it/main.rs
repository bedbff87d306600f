//! The server's integration tests, one binary (each file a module): the
//! real router on loopback, the real binary for CLI, crash and fault tests,
//! moto for the AWS backend. One binary links the dependencies once.

#[path = "../support/aws_calls.rs"]
mod aws_calls;
mod common;
#[path = "../support/load.rs"]
mod load_support;

mod archive_lag;
mod auth;
mod aws_live;
mod aws_mode;
mod aws_readiness;
mod aws_replicas;
mod aws_wire_contract;
mod cli;
mod cli_admin;
mod console_api;
mod controls;
mod crash;
mod dlq_bulk;
mod embedded_site;
mod events_api;
mod faults;
mod fuzz_wire;
mod hardening;
mod http;
mod listeners;
mod load;
mod maintenance;
mod metrics;
mod notifications;
mod notifications_email;
mod openapi;
mod openapi_schemas;
mod overview_page;
mod page_cache;
mod recovery;
mod restart;
