//! Vendor Mediator domain.
//!
//! Plain Rust: no web framework, Leptos or AWS types. The server binary and
//! the console's server functions call into this crate; storage is reached
//! through the `store` crate.
//!
//! - [`part`]: the SaaS parts the mediator watches, and their names.
//! - [`status`]: each part's current status and the board that reads it.

pub mod part;
pub mod status;

pub use part::{PartName, PartNameError};
pub use status::{PartState, PartSummary, StatusBoard};
