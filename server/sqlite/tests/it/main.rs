//! mediator-sqlite's tests: the domain's services on the embedded
//! database (moved from mediator-core's unit tests, assertions unchanged),
//! and the backend-neutral contract suite on SQLite.

mod access;
mod audit;
mod commands;
mod contract;
mod datacache;
mod history;
mod monitor;
mod notify;
mod overrides;
mod recovery;
mod status;
mod submit;
mod support;
