//! Building blocks shared by the pages.

mod maintenance_dialog;
mod override_dialog;
mod session;

pub use maintenance_dialog::MaintenanceDialogView;
pub use override_dialog::{OverrideDialog, OverrideSeed, MAINTENANCE};
pub use session::Session;

mod voucher_list;
pub use voucher_list::VoucherList;

mod error_page;
mod nav;
mod pager;
mod part_card;
mod replay_dialog;
mod status;

pub use error_page::*;
pub use nav::*;
pub use pager::*;
pub use part_card::*;
pub use replay_dialog::*;
pub use status::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Part;
    use crate::api::{UptimeSummary, VoucherCounts};

    #[test]
    fn a_check_on_request_is_told_in_words() {
        let mut c = crate::api::CheckResult {
            part: "member".into(),
            at: "2026-12-06T10:00:00Z".into(),
            ok: true,
            latency_ms: 12,
            error: None,
            status: "up".into(),
            changed: false,
        };
        assert_eq!(check_summary(&c), "Checked now: healthy in 12 ms (up)");
        c.ok = false;
        c.error = Some("HTTP 503".into());
        c.status = "down".into();
        c.changed = true;
        assert_eq!(
            check_summary(&c),
            "Checked now: failed in 12 ms: HTTP 503 (down, status changed)"
        );
    }

    fn part(status: &str, failures: u32, successes: u32) -> Part {
        Part {
            name: "voucher".into(),
            status: status.into(),
            since: None,
            since_secs: None,
            archive: "LoyaltyVoucherArchive".into(),
            failures,
            failure_threshold: 3,
            successes,
            recovery_threshold: 2,
            last_check_at: None,
            last_error: None,
            circuit: if status == "down" { "open" } else { "closed" }.into(),
            override_: None,
            maintenance: None,
            vouchers: VoucherCounts::default(),
            uptime: UptimeSummary::default(),
            recent_latency: Default::default(),
            archived: None,
            resubmitted: 0,
            latest_replay: None,
            replay_margin_secs: 60,
            suggest_start: String::new(),
            suggest_end: String::new(),
        }
    }

    #[test]
    fn counters_against_thresholds() {
        assert_eq!(
            threshold_progress(&part("pending", 2, 0)).as_deref(),
            Some("2/3 failed checks")
        );
        assert_eq!(
            threshold_progress(&part("down", 3, 1)).as_deref(),
            Some("1/2 good checks")
        );
        assert_eq!(threshold_progress(&part("down", 3, 0)), None);
        assert_eq!(threshold_progress(&part("up", 0, 5)), None);
    }

    #[test]
    fn the_circuit_says_why() {
        assert_eq!(
            circuit_reason(&part("down", 3, 0)),
            "part down after 3 failed checks in a row"
        );
        assert_eq!(circuit_reason(&part("up", 0, 2)), "checks healthy");
        let mut p = part("up", 0, 2);
        p.override_ = Some(crate::api::Override {
            mode: "force_open".into(),
            reason: "vendor maintenance".into(),
            by: Some("ann".into()),
            at: "2026-01-01T00:00:00Z".into(),
        });
        assert_eq!(circuit_reason(&p), "forced open: vendor maintenance");
        assert_eq!(override_setter(Some("ann")), "ann");
        assert_eq!(override_setter(None), "someone (not recorded)");
    }

    #[test]
    fn every_status_has_an_icon() {
        for s in [
            "up",
            "down",
            "pending",
            "unknown",
            "RUNNING",
            "COMPLETED",
            "CANCELLED",
        ] {
            assert!(!status_icon(s).is_empty());
        }
        assert_ne!(status_icon("up"), status_icon("down"));
    }
}
