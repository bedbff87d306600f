//! The overview's card of one part, and its buttons' calls.

use super::override_dialog::{OverrideSeed, MAINTENANCE};
use super::replay_dialog::ReplaySeed;
use super::status::{
    circuit_reason, override_setter, threshold_progress, ReplayProgress, StatusPill,
};
use leptos::prelude::*;

use crate::api::replays::cancel_replay;
use crate::api::{fmt_duration, fmt_percent, fmt_time, ApiError, Part};
use crate::latency::Sparkline;
use crate::numbers::thousands;

/// A part's card on the overview. Every block is always rendered (with a
/// placeholder when empty) so live updates never shift the layout.
/// `can_operate` (operator or admin) adds the circuit controls (and
/// "Maintenance…", which asks `on_override` for mode `maintenance`) and,
/// while the part's replay runs, its Cancel button; viewers see the same
/// state.
#[component]
pub fn PartCard(
    part: Part,
    on_replay: Callback<ReplaySeed>,
    on_override: Callback<OverrideSeed>,
    #[prop(optional)] can_operate: bool,
) -> impl IntoView {
    // "since <time> (<age> ago)", the time following the zone shown.
    let since_prefix = if part.since.is_some() {
        "since "
    } else {
        "not checked yet"
    };
    let since_age = part
        .since_secs
        .filter(|_| part.since.is_some())
        .map(|a| format!(" ({} ago)", fmt_duration(a)))
        .unwrap_or_default();
    let since_at = crate::clock::time_text(part.since.clone().unwrap_or_default());
    let progress = threshold_progress(&part).unwrap_or_default();
    // Routine checks (stream topic `check`) move this without a refetch.
    let live = crate::live::use_live();
    let (name, rendered_check) = (part.name.clone(), part.last_check_at.clone());
    let last_check = move || {
        live.last_checked(&name, rendered_check.as_deref())
            .as_deref()
            .map(fmt_time)
            .unwrap_or_else(|| "never".into())
    };
    let last_error = part.last_error.clone().unwrap_or_default();
    let reason = circuit_reason(&part);
    let u = part.uptime.clone();
    let v = part.vouchers.clone();
    let archived = part.archived.map(thousands).unwrap_or_else(|| "—".into());
    let latest = part.latest_replay.clone();
    // Each count links to the list of those vouchers.
    let list = |status: &str| {
        let q = mediator_wire::VoucherListQuery {
            part: Some(part.name.clone()),
            status: Some(status.to_owned()),
            ..Default::default()
        };
        format!("/vouchers?{}", q.to_query())
    };
    // "Check now" and "Cancel replay" call the server through lazy
    // functions: their calls and answers' decoding are fetched on first use.
    let (check, cancel) = CardActions::for_part(&part.name);
    let check_part = part.name.clone();
    let running = latest
        .as_ref()
        .filter(|r| can_operate && r.is_active())
        .map(|r| r.name.clone());
    // Who holds the circuit and since / until when: the override's and the
    // maintenance window's lines share one view (one copy of its code).
    let override_set = match part.override_.clone() {
        Some(o) => held_by(
            "small override-set",
            Some(o.mode),
            None,
            ("Set by ", "override-by", " at ", "override-at"),
            override_setter(o.by.as_deref()),
            o.at,
        )
        .into_any(),
        None => view! { <p class="small override-set muted" data-mode="none">"No override: the checks decide."</p> }
            .into_any(),
    };
    let maintenance = part.maintenance.clone().map(|w| {
        held_by(
            "small maintenance-set",
            None,
            Some(w.id),
            (
                "Maintenance by ",
                "maintenance-by",
                " until ",
                "maintenance-until",
            ),
            w.by,
            w.ended_at.unwrap_or(w.end),
        )
    });
    // The override buttons and "Maintenance…" share one button view.
    let maintenance_button = can_operate.then(|| {
        override_button(
            on_override,
            part.name.clone(),
            MAINTENANCE,
            "Maintenance…",
            "button secondary small maintenance-open",
        )
    });
    let controls = can_operate.then(|| {
        let current = part.override_.as_ref().map(|o| o.mode.clone());
        let actions: Vec<(&'static str, &'static str)> = [
            ("force_open", "Force open…"),
            ("force_closed", "Force closed…"),
            ("disabled", "Disable breaker…"),
            ("none", "Clear override…"),
        ]
        .into_iter()
        .filter(|(mode, _)| match current.as_deref() {
            None => *mode != "none",
            Some(c) => *mode != c,
        })
        .collect();
        let part_name = part.name.clone();
        view! {
            <div class="circuit-controls" role="group" aria-label=format!("Circuit override of {}", part.name)>
                {actions.into_iter().map(|(mode, label)| {
                    override_button(on_override, part_name.clone(), mode, label, "button secondary small")
                }).collect_view()}
            </div>
        }
    });
    let seed = ReplaySeed {
        part: part.name.clone(),
        start: part.suggest_start.clone(),
        end: part.suggest_end.clone(),
        context: format!("Replay a window of {}", part.name),
    };
    view! {
        <article class="card part-card" data-part=part.name.clone() data-status=part.status.clone()
            data-circuit=part.circuit.clone() aria-labelledby=format!("card-{}", part.name)>
            <header class="card-head">
                <h2 id=format!("card-{}", part.name)>{part.name.clone()}</h2>
                <StatusPill status=part.status.clone()/>
            </header>
            <p class="muted since">{since_prefix}{since_at}{since_age}</p>
            <p class="threshold" aria-live="polite">{progress}</p>
            <div class="circuit">
                <span class="label">"Circuit "</span>
                <StatusPill status=part.circuit.clone() secondary=true/>
                {part.override_.as_ref().map(|_| view! { <span class="badge-override">"override"</span> })}
                <p class="small circuit-reason">{reason}</p>
                {override_set}
                {maintenance}
                {controls}
                {maintenance_button}
            </div>
            <table class="mini uptime">
                <caption class="sr-only">"Uptime"</caption>
                <thead><tr><th scope="col">"24 h"</th><th scope="col">"7 d"</th><th scope="col">"30 d"</th><th scope="col">"90 d"</th></tr></thead>
                <tbody><tr>
                    <td>{fmt_percent(u.h24)}</td><td>{fmt_percent(u.d7)}</td>
                    <td>{fmt_percent(u.d30)}</td><td>{fmt_percent(u.d90)}</td>
                </tr></tbody>
            </table>
            <Sparkline part=part.name.clone() latency=part.recent_latency.clone()/>
            <dl class="facts counters">
                <dt>"Pending retries"</dt><dd class="num" data-counter="retry"><a href=list("retry")>{thousands(v.retry)}</a></dd>
                <dt>"Archived"</dt><dd class="num" data-counter="archived">{archived}</dd>
                <dt>"Resubmitted"</dt><dd class="num" data-counter="resubmitted">{thousands(part.resubmitted)}</dd>
                <dt>"Dead-lettered"</dt><dd class="num" data-counter="dead_lettered"><a href=list("dead_lettered")>{thousands(v.dead_lettered)}</a></dd>
                <dt>"Submitted"</dt><dd class="num" data-counter="submitted"><a href=list("submitted")>{thousands(v.submitted)}</a></dd>
            </dl>
            <div class="latest-replay">
                <h3>"Latest replay"</h3>
                {match latest {
                    Some(r) => view! {
                        <p class="small"><a href=format!("/replays?name={}", r.name)>{r.name.clone()}</a></p>
                        <ReplayProgress replay=r/>
                    }.into_any(),
                    None => view! { <p class="small muted">"No replay yet."</p><div class="replay-placeholder"></div> }.into_any(),
                }}
            </div>
            <dl class="facts">
                <dt>"Last check"</dt>
                <dd>{last_check}</dd>
                <dt>"Last error"</dt>
                <dd class="error-text">{if last_error.is_empty() { "—".to_string() } else { last_error }}</dd>
                <dt>"Archive"</dt>
                <dd><code>{part.archive.clone()}</code></dd>
            </dl>
            <p class="small check-result" aria-live="polite">
                {move || check.result.get().map(|r| match r {
                    Ok((ok, words)) => view! {
                        <span class=if ok { "ok-text" } else { "error-text" }>{words}</span>
                    }.into_any(),
                    Err(e) => view! { <span class="error-text" role="alert">{e.to_string()}</span> }.into_any(),
                })}
            </p>
            <div class="card-actions">
                <button class="button secondary" on:click=move |_| on_replay.run(seed.clone())>
                    "Replay a window…"
                </button>
                <button class="button secondary check-now" disabled=move || check.pending.get()
                    on:click=move |_| check.run(Box::pin(card_check_now(check_part.clone())))>
                    "Check now"
                </button>
                {running.map(|name| view! {
                    <button class="button danger cancel-replay" disabled=move || cancel.pending.get()
                        on:click=move |_| cancel.run(Box::pin(card_cancel_replay(name.clone())))>
                        "Cancel replay"
                    </button>
                })}
            </div>
            {move || cancel.result.get().and_then(Result::err).map(|e| view! {
                <p class="small error-text" role="alert">{e.to_string()}</p>
            })}
        </article>
    }
}

/// A card's line saying who holds the circuit and when: `<lead><by> <mid>
/// <time>`, e.g. "Set by ann at …" (an override) or "Maintenance by ann
/// until …" (a maintenance window); `mode` and `window` are its `data-mode`
/// and `data-window`, `classes` the lead, the class of the name, the words
/// before the time and the class of the time.
fn held_by(
    class: &'static str,
    mode: Option<String>,
    window: Option<String>,
    (lead, by_class, mid, at_class): (&'static str, &'static str, &'static str, &'static str),
    by: String,
    at: String,
) -> impl IntoView {
    let text = crate::clock::time_text(at.clone());
    view! {
        <p class=class data-mode=mode data-window=window>
            {lead} <span class=by_class>{by}</span>
            {mid} <time class=at_class datetime=at>{text}</time>
        </p>
    }
}

/// A card button opening the override dialog (or, for mode
/// `maintenance`, the maintenance dialog) of `part` for `mode`.
fn override_button(
    on_override: Callback<OverrideSeed>,
    part: String,
    mode: &'static str,
    label: &'static str,
    class: &'static str,
) -> impl IntoView {
    let seed = OverrideSeed {
        part,
        mode: mode.into(),
    };
    view! {
        <button class=class data-mode=mode on:click=move |_| on_override.run(seed.clone())>{label}</button>
    }
}

/// A card's button's call: its answer — whether it went well and what to
/// say — and whether it is under way (the button is disabled meanwhile).
/// Like an `Action`, without its machinery.
#[derive(Clone, Copy)]
pub struct CardAction {
    /// The last answer: `(ok, words)` or the error.
    pub result: RwSignal<Option<Result<(bool, String), ApiError>>>,
    /// A call is under way.
    pub pending: RwSignal<bool>,
}

/// The cards' "Check now" and "Cancel replay" answers, per part, kept by
/// the page: a card is built again on each refetch of the overview (and
/// a check on request is itself a change that refetches it), so its own
/// signals would forget the answer it just showed.
#[derive(Clone)]
pub struct CardActions {
    owner: Owner,
    kept: StoredValue<Vec<(String, CardAction, CardAction)>>,
}

impl CardActions {
    /// Keeps the answers for the cards below (the page's owner holds them).
    pub fn provide() {
        if let Some(owner) = Owner::current() {
            provide_context(CardActions {
                owner,
                kept: StoredValue::new(Vec::new()),
            });
        }
    }

    /// `part`'s check and cancel actions: the page's, else the card's own.
    fn for_part(part: &str) -> (CardAction, CardAction) {
        let Some(page) = use_context::<CardActions>() else {
            return (CardAction::new(), CardAction::new());
        };
        let found = page.kept.with_value(|kept| {
            kept.iter()
                .find(|(p, _, _)| p == part)
                .map(|&(_, check, cancel)| (check, cancel))
        });
        found.unwrap_or_else(|| {
            let made = page.owner.with(|| (CardAction::new(), CardAction::new()));
            page.kept
                .update_value(|kept| kept.push((part.to_owned(), made.0, made.1)));
            made
        })
    }
}

/// A card button's call under way.
pub type CardCall =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(bool, String), ApiError>>>>;

impl CardAction {
    /// No call yet.
    pub fn new() -> Self {
        Self {
            result: RwSignal::new(None),
            pending: RwSignal::new(false),
        }
    }

    /// Runs `call`, keeping its answer (unless the card is gone by then).
    pub fn run(self, call: CardCall) {
        self.pending.set(true);
        leptos::task::spawn_local(async move {
            let answer = call.await;
            let _ = self.result.try_set(Some(answer));
            let _ = self.pending.try_set(false);
        });
    }
}

impl Default for CardAction {
    fn default() -> Self {
        Self::new()
    }
}

/// "Check now" of a card, in words (its own wasm chunk in a `--split`
/// build): whether the check went well, and what it found.
#[lazy]
async fn card_check_now(part: String) -> Result<(bool, String), ApiError> {
    let c = crate::api::check_part_now(part).await?;
    Ok((c.ok, check_summary(&c)))
}

/// "Cancel replay" of a card (its own wasm chunk in a `--split` build).
#[lazy]
async fn card_cancel_replay(name: String) -> Result<(bool, String), ApiError> {
    cancel_replay(name).await.map(|_| (true, String::new()))
}

/// A check run on request, in words: `healthy in 12 ms (up)` or
/// `failed in 3 ms: 503 … (down)`.
pub fn check_summary(c: &crate::api::CheckResult) -> String {
    let changed = if c.changed { ", status changed" } else { "" };
    match &c.error {
        None => format!(
            "Checked now: healthy in {} ms ({}{changed})",
            c.latency_ms, c.status
        ),
        Some(e) => format!(
            "Checked now: failed in {} ms: {e} ({}{changed})",
            c.latency_ms, c.status
        ),
    }
}
