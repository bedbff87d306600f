//! How a part's state is shown in words and icons: status pills, the
//! circuit's reason, override words, progress bars.

use leptos::prelude::*;

use crate::api::{Part, ReplayView};
use crate::numbers::thousands;

/// The icon shown next to a status word (never colour alone).
pub fn status_icon(status: &str) -> &'static str {
    match status {
        "up" | "COMPLETED" | "submitted" | "resolved" => "✓",
        "down" | "FAILED" | "error" | "dead_lettered" | "needs_attention" | "open" => "✕",
        "pending" | "retry" | "RUNNING" | "STARTING" | "recovering" | "submitting" => "◔",
        "CANCELLED" | "CANCELLING" => "⊘",
        "ongoing" => "!",
        "closed" => "✓",
        _ => "?",
    }
}

/// Status pill: an icon plus the status word (colour is never the only cue).
/// A `secondary` pill (circuit, replay state inside a part's card) has the
/// class `state` instead of `pill`, so `.pill` is always the part's status.
#[component]
pub fn StatusPill(
    #[prop(into)] status: String,
    #[prop(optional)] secondary: bool,
) -> impl IntoView {
    let kind = if secondary { "state" } else { "pill" };
    let class = format!("{kind} pill-{}", status.to_ascii_lowercase());
    let icon = status_icon(&status);
    view! {
        <span class=class>
            <span class="pill-icon" aria-hidden="true">{icon}</span>
            <span class="pill-text">{status.replace('_', " ")}</span>
        </span>
    }
}

/// The circuit's counter against its threshold, e.g. "2/3 failed checks"
/// while pending, "1/2 good checks" while a down part recovers.
pub fn threshold_progress(part: &Part) -> Option<String> {
    match part.status.as_str() {
        "pending" => Some(format!(
            "{}/{} failed checks",
            part.failures, part.failure_threshold
        )),
        "down" if part.successes > 0 => Some(format!(
            "{}/{} good checks",
            part.successes, part.recovery_threshold
        )),
        _ => None,
    }
}

/// Why the circuit is in its state, in words.
pub fn circuit_reason(part: &Part) -> String {
    if let Some(w) = &part.maintenance {
        return format!("held open by maintenance: {}", w.reason);
    }
    if let Some(o) = &part.override_ {
        return format!("{}: {}", override_words(&o.mode), o.reason);
    }
    match (part.circuit.as_str(), part.status.as_str()) {
        ("open", _) => format!(
            "part down after {} failed checks in a row",
            part.failure_threshold
        ),
        (_, "pending") => "checks failing; not yet down".into(),
        (_, "unknown") => "no check yet".into(),
        _ => "checks healthy".into(),
    }
}

/// An override mode in words: `forced open`, `forced closed`, `breaker
/// disabled`.
pub fn override_words(mode: &str) -> &str {
    match mode {
        "force_open" => "forced open",
        "force_closed" => "forced closed",
        "disabled" => "breaker disabled",
        other => other,
    }
}

/// Who set a part's override, in words (`None` only for an override set
/// through the JSON API without `by` while sign-in was off).
pub fn override_setter(by: Option<&str>) -> String {
    by.map_or_else(|| "someone (not recorded)".into(), str::to_owned)
}

/// A labelled progress bar (`role=progressbar` with its value).
#[component]
pub fn ProgressBar(percent: u32, #[prop(into)] label: String) -> impl IntoView {
    let width = format!("width: {percent}%");
    view! {
        <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"
            aria-valuenow=percent.to_string() aria-label=label>
            <div class="progress-fill" style=width></div>
        </div>
    }
}

/// A replay's counters and progress, compact (cards, dialog, detail).
#[component]
pub fn ReplayProgress(replay: ReplayView) -> impl IntoView {
    let pct = replay.percent();
    let label = format!("Progress of {}", replay.name);
    view! {
        <div class="replay-progress" data-replay=replay.name.clone() data-state=replay.state.clone()>
            <div class="replay-line">
                <StatusPill status=replay.state.clone() secondary=true/>
                <span class="replay-count">
                    {format!("{}/{} events · {pct}%", thousands(replay.processed), thousands(replay.expected))}
                </span>
            </div>
            <ProgressBar percent=pct label/>
            <p class="small muted">
                {format!(
                    "{} resubmitted · {} skipped · {} failed",
                    thousands(replay.resubmitted), thousands(replay.skipped), thousands(replay.failed)
                )}
            </p>
        </div>
    }
}
