//! Vendor Mediator domain.
//!
//! Plain Rust: no web framework, Leptos or AWS types. The server binary and
//! the console's server functions call into this crate; storage is reached
//! through the ports in [`storage`] (implemented by `mediator-sqlite` and
//! `aws-backend`).
//!
//! - [`archives`]: the archives as the console shows them (via [`archives::ArchiveBrowser`]).
//! - [`audit_entry`]: one entry of the audit log.
//! - [`changes`]: the live-change hub behind the console's SSE stream.
//! - [`circuit`]: the per-part circuit state machine and a part's health.
//! - [`circuit_override`]: a manual override of a circuit, as stored.
//! - [`commands`]: every change a caller makes (role check, policy, action, audit), once.
//! - [`datacache`]: vouchers, their lifecycle and the status-event outbox.
//! - [`dlq_filter`]: which dead-lettered vouchers a bulk redrive or an export takes.
//! - [`events`]: the events the mediator emits and the patterns that route them.
//! - [`identity`]: roles, principals, users and tokens as listed.
//! - [`history`]: read models: uptime, timelines, outages, incidents, counters, latency.
//! - [`latency`]: the check latencies' fixed-bin histogram and its percentiles.
//! - [`metrics`]: Prometheus metrics per part, formatted by hand.
//! - [`monitor`]: polls each part and records checks, roll-ups and changes.
//! - [`notify`]: outbound notifications: sources, outbox, channels, dispatcher.
//! - [`overrides`]: manual circuit overrides per part (force open/closed, disabled).
//! - [`part`]: the SaaS parts the mediator watches, and their names.
//! - [`recovery`]: replays after an outage and the idempotent resubmit handler.
//! - [`relay`]: live changes relayed between replicas through a shared storage's feed.
//! - [`status`]: each part's current status and the board that reads it.
//! - [`storage`]: the storage ports (traits) and their error.
//! - [`testing`]: the storage ports' contract suite.
//! - [`submit`]: the submission flow and the SaaS submit trait.
//! - [`voucher`]: validated voucher requests and voucher statuses.
//! - [`voucher_filter`]: which vouchers a list shows (part, status, time, attempts).

pub mod access;
pub mod archives;
pub mod audit;
pub mod audit_entry;
pub mod changes;
pub mod circuit;
pub mod circuit_override;
pub mod commands;
pub mod datacache;
pub mod dlq_filter;
pub mod events;
pub mod history;
pub mod identity;
pub mod latency;
pub mod maintenance;
pub mod maintenance_window;
pub mod metrics;
pub mod monitor;
pub mod notification;
pub mod notify;
pub mod overrides;
pub mod part;
pub mod recovery;
pub mod relay;
pub mod replay_records;
pub mod status;
pub mod storage;
pub mod submit;
// Compiled for this crate's own tests too, which check the suite itself.
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod voucher;
pub mod voucher_filter;

pub use access::{Access, AccessError, Principal, Role, Via};
pub use audit::{Audit, AuditEntry, NewAuditEntry};
pub use changes::{Change, Changes, Topic};
pub use circuit::{Circuit, PartState, StatusChange, Thresholds};
pub use commands::CommandError;
pub use datacache::{DataCache, FindCursor, LifecycleEntry, VoucherRecord, VoucherRef};
pub use events::{EventPublisher, OutgoingEvent, PublishError};
pub use history::{History, HistoryError, HistoryPorts};
pub use monitor::{CheckRecord, HealthProbe, Monitor};
pub use overrides::{CircuitOverride, OverrideError, OverrideMode, OverrideRequest, Overrides};
pub use part::{PartName, PartNameError, PartSettings, DEFAULT_RETENTION_DAYS};
pub use recovery::{
    ArchiveReplays, Lane, PartRecovery, Preview, QueuedEvent, Recovery, RecoveryPorts,
    RecoverySettings, ReplayError, ReplayInfo, ReplayRecord, ReplayRequest, ResubmitQueue,
};
pub use status::{PartSummary, StatusBoard};
pub use submit::{SaasSubmitter, SubmissionFlow, SubmitOutcome};
pub use voucher::{VoucherError, VoucherKeys, VoucherRequest, VoucherStatus};
pub use voucher_filter::{FilterError, VoucherFilter};
