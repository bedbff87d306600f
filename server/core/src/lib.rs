//! Vendor Mediator domain.
//!
//! Plain Rust: no web framework, Leptos or AWS types. The server binary and
//! the console's server functions call into this crate; storage is reached
//! through the `store` crate.
//!
//! - [`circuit`]: the per-part circuit state machine.
//! - [`events`]: the events the mediator emits and the patterns that route them.
//! - [`monitor`]: polls each part and records checks, roll-ups and changes.
//! - [`part`]: the SaaS parts the mediator watches, and their names.
//! - [`status`]: each part's current status and the board that reads it.

pub mod circuit;
pub mod events;
pub mod monitor;
pub mod part;
pub mod status;

pub use circuit::{Circuit, StatusChange, Thresholds};
pub use events::{EventPublisher, OutgoingEvent, PublishError};
pub use monitor::{CheckRecord, HealthProbe, Monitor};
pub use part::{PartName, PartNameError, PartSettings};
pub use status::{PartState, PartSummary, StatusBoard};
