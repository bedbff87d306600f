//! The embedded backend's storage: every port of `mediator-core`
//! ([`mediator_core::storage`]) on the SQLite database of the `store` crate
//! (which owns the connections and the migrations). All of the mediator's
//! SQL outside the embedded event bus lives here.
//!
//! - [`status`]: circuits, checks, roll-ups, status changes and leases
//!   ([`SqliteStore`]: `StatusStore`, `OverrideStore`, `MonitorHistory`);
//! - [`vouchers`]: the DataCache's vouchers ([`SqliteVoucherStore`]);
//! - [`replays`]: replay records and the recovery cursor ([`SqliteReplays`]);
//! - [`audit`]: the audit log ([`SqliteAudit`]);
//! - [`access`]: users, sessions and API tokens ([`SqliteAccess`]);
//! - [`notify`]: the notification outbox ([`SqliteNotifications`]);
//! - [`maintenance`]: the parts' maintenance windows ([`SqliteMaintenance`]);

use std::sync::Arc;

use mediator_core::storage::Ports;
use store::Database;

pub mod access;
pub mod audit;
pub mod db;
mod id_runs;
pub mod maintenance;
pub mod notify;
pub mod replays;
pub mod status;
pub mod vouchers;

pub use access::SqliteAccess;
pub use audit::SqliteAudit;
pub use db::{store_error, Db};
pub use maintenance::SqliteMaintenance;
pub use notify::SqliteNotifications;
pub use replays::SqliteReplays;
pub use status::SqliteStore;
pub use vouchers::SqliteVoucherStore;

/// Every port on `db`, for building the services.
pub fn ports(db: &Database) -> Ports {
    let status = Arc::new(SqliteStore::new(db.clone()));
    Ports {
        status: status.clone(),
        overrides: status.clone(),
        monitor_history: status,
        vouchers: Arc::new(SqliteVoucherStore::new(db.clone())),
        audit: Arc::new(SqliteAudit::new(db.clone())),
        replays: Arc::new(SqliteReplays::new(db.clone())),
        access: Arc::new(SqliteAccess::new(db.clone())),
        maintenance: Arc::new(SqliteMaintenance::new(db.clone())),
        notifications: Arc::new(SqliteNotifications::new(db.clone())),
    }
}
