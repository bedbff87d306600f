//! Test support for the storage adapters and the crates above them (the
//! `testing` feature, enabled by their dev-dependencies; not in the
//! production library): the backend-neutral contract suite every
//! implementation of the ports must pass, and
//! [`store_contract!`](crate::store_contract), which instantiates every
//! check of it for one backend — so a new check cannot miss a backend; and
//! [`logs::CapturedLogs`], the log capture the tests of requests, commands
//! and AWS calls read their logs and spans from.

use std::any::Any;

use crate::storage::Ports;

pub mod contract;
pub mod logs;

pub use logs::CapturedLogs;

/// Two replicas on one fresh, empty storage, as a contract check needs
/// them. Each check gets its own.
pub struct Replicas {
    /// One replica's ports.
    pub a: Ports,
    /// A second replica's ports on the same storage.
    pub b: Ports,
    /// Whether a change's publication claim excludes other replicas
    /// (storages shared by replicas; SQLite's claims are per process).
    pub exclusive_claims: bool,
    /// Rounds of the status-change race.
    pub status_race_rounds: usize,
    /// Rounds of the voucher-claim race.
    pub claim_race_rounds: usize,
    /// What keeps the storage alive while the check runs (a temporary
    /// directory, a moto server, …).
    pub keep: Box<dyn Any + Send>,
}

/// One `#[tokio::test]` per check of the contract suite for one backend:
/// `store_contract!(|check: &'static str| async move { … Replicas … })`,
/// the closure giving two replicas on a fresh storage for the named check.
/// `store_contract!(ignore = "why", …)` marks them ignored (a backend that
/// needs a service the test run starts on purpose). Invoke it once per
/// backend, in a module of its own: the tests are named after the checks.
#[macro_export]
macro_rules! store_contract {
    (ignore = $why:literal, $fresh:expr) => {
        $crate::store_contract!(@tests [#[ignore = $why]] $fresh);
    };
    ($fresh:expr) => {
        $crate::store_contract!(@tests [] $fresh);
    };
    (@tests [$($attr:tt)*] $fresh:expr) => {
        $crate::store_contract!(@one [$($attr)*] $fresh, status, |r| {
            $crate::testing::contract::check_status(r.a.status.as_ref()).await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, overrides, |r| {
            $crate::testing::contract::check_overrides(r.a.overrides.as_ref(), r.a.status.as_ref())
                .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, status_race, |r| {
            $crate::testing::contract::check_status_race(
                r.a.status.clone(),
                r.b.status.clone(),
                r.status_race_rounds,
                r.exclusive_claims,
            )
            .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, change_replay_claims, |r| {
            $crate::testing::contract::check_change_replay_claims(
                r.a.status.as_ref(),
                r.b.status.as_ref(),
            )
            .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, monitor_lease, |r| {
            $crate::testing::contract::check_monitor_lease(r.a.status.as_ref(), r.b.status.as_ref())
                .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, monitor_history, |r| {
            $crate::testing::contract::check_monitor_history(
                r.a.status.as_ref(),
                r.b.monitor_history.as_ref(),
            )
            .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, latency_rollups, |r| {
            $crate::testing::contract::check_latency_rollups(
                r.a.status.as_ref(),
                r.b.monitor_history.as_ref(),
            )
            .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, voucher_insert_and_find, |r| {
            $crate::testing::contract::check_voucher_insert_and_find(r.a.vouchers.as_ref()).await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, voucher_lists, |r| {
            $crate::testing::contract::check_voucher_lists(r.a.vouchers.as_ref()).await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, voucher_claims, |r| {
            $crate::testing::contract::check_voucher_claims(r.a.vouchers.as_ref()).await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, voucher_holds, |r| {
            $crate::testing::contract::check_voucher_holds(
                r.a.vouchers.as_ref(),
                r.a.status.as_ref(),
                r.a.overrides.as_ref(),
            )
            .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, maintenance_windows, |r| {
            $crate::testing::contract::check_maintenance_windows(
                r.a.maintenance.clone(),
                r.b.maintenance.clone(),
            )
            .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, maintenance_holds, |r| {
            $crate::testing::contract::check_maintenance_holds(
                r.a.maintenance.as_ref(),
                r.a.vouchers.as_ref(),
                r.a.status.as_ref(),
            )
            .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, voucher_dead_letters, |r| {
            $crate::testing::contract::check_voucher_dead_letters(r.a.vouchers.as_ref()).await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, voucher_replicas, |r| {
            $crate::testing::contract::check_voucher_replicas(
                r.a.vouchers.as_ref(),
                r.b.vouchers.as_ref(),
                r.b.status.as_ref(),
            )
            .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, voucher_admit, |r| {
            $crate::testing::contract::check_voucher_admit(r.a.vouchers.as_ref(), r.a.status.as_ref())
                .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, voucher_claim_race, |r| {
            $crate::testing::contract::check_voucher_claim_race(
                r.a.vouchers.clone(),
                r.b.vouchers.clone(),
                r.claim_race_rounds,
            )
            .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, audit, |r| {
            $crate::testing::contract::check_audit(r.a.audit.as_ref()).await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, replays, |r| {
            $crate::testing::contract::check_replays(r.a.replays.as_ref(), r.b.replays.as_ref()).await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, access, |r| {
            $crate::testing::contract::check_access(r.a.access.as_ref(), r.b.access.as_ref()).await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, notifications, |r| {
            $crate::testing::contract::check_notifications(
                r.a.notifications.as_ref(),
                r.b.notifications.as_ref(),
            )
            .await
        });
        $crate::store_contract!(@one [$($attr)*] $fresh, notification_claim_race, |r| {
            $crate::testing::contract::check_notification_claim_race(
                r.a.notifications.clone(),
                r.b.notifications.clone(),
            )
            .await
        });
    };
    (@one [$($attr:tt)*] $fresh:expr, $check:ident, |$r:ident| $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        $($attr)*
        async fn $check() {
            let $r: $crate::testing::Replicas = ($fresh)(stringify!($check)).await;
            $body;
            drop($r);
        }
    };
}
