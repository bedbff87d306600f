//! Test support for the storage adapters: the backend-neutral contract
//! suite every implementation of the ports must pass.

pub mod contract;
