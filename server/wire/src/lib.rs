//! The JSON shapes of the mediator's HTTP surface, defined once: what the
//! JSON API (`/api/v1/…`) answers and takes, and what the console's server
//! functions return. The server's handlers answer with these types, the
//! OpenAPI document (`/api/openapi.json`) is derived from them, and the
//! console (server-rendered and in the browser) deserialises them — so the
//! document cannot drift from what is served.
//!
//! The crate compiles for `wasm32-unknown-unknown` (the console's browser
//! build), so it holds plain serde types only: times are RFC 3339 strings
//! (the browser build carries no date library). Two features add the
//! server's side:
//!
//! - `openapi`: a utoipa `ToSchema` for every type (the schema names are
//!   the document's, e.g. `VoucherBody`); the server enables it, the
//!   browser build does not, so the wasm module does not grow;
//! - `domain`: the conversions from mediator-core's model
//!   ([`convert`]), the one place where a core value becomes its wire shape
//!   (both the JSON API and the server functions call them).
//!
//! **API boundary:** field names and shapes are a contract with third-party
//! clients: extend, never rename.

pub mod access;
pub mod archives;
pub mod bulk_redrives;
pub mod console;
pub mod error;
pub mod history;
pub mod latency;
pub mod maintenance;
pub mod notify;
pub mod page_token;
pub mod parts;
pub mod query;
pub mod replays;
pub mod vouchers;

#[cfg(feature = "domain")]
pub mod convert;

pub use access::{AuditEntry, AuditExport, Caller};
pub use archives::{
    ArchiveEventsView, ArchiveList, ArchivePage, ArchiveSummary, ArchivedEvent, ArchivedEventView,
};
pub use bulk_redrives::{
    BulkRedrive, BulkRedriveForm, BulkRedriveList, BulkRedriveRequest, DlqFilter,
};
pub use error::ErrorBody;
pub use history::{
    Bar, ChangeRef, Incident, IncidentOutcome, IncidentPage, IncidentReplay, IncidentView,
    IncidentViewPage, Outage, OutageView, PartCounters, Timeline, TimelineView, Uptime,
    UptimeWindow,
};
pub use latency::{LatencyPoint, LatencySeries, RecentLatency};
pub use maintenance::{MaintenanceEnd, MaintenanceList, MaintenanceRequest, MaintenanceWindow};
pub use notify::{NotificationChannel, NotificationDelivery, NotificationTest, Notifications};
pub use parts::{
    CheckResult, Override, OverrideRequest, OverrideResult, Overview, Part, UptimeSummary,
    VoucherCounts,
};
pub use replays::{
    Preview, Replay, ReplayList, ReplayPage, ReplayPreview, ReplayProgress, ReplayRequest,
    ReplayView,
};
pub use vouchers::{
    DlqPage, DlqVoucher, LifecycleEntry, SubmittedVoucher, Voucher, VoucherDetail, VoucherForm,
    VoucherListQuery, VoucherRequest, VoucherSearch, VoucherStatus,
};
