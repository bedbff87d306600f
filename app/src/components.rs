//! Building blocks shared by the pages.

mod maintenance_dialog;
mod override_dialog;
mod session;

pub use maintenance_dialog::MaintenanceDialogView;
pub use override_dialog::{OverrideDialog, OverrideSeed, MAINTENANCE};
pub use session::Session;

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::access::Me;
use crate::api::replays::{cancel_replay, get_replay, preview_replay, start_replay, ReplayPreview};
use crate::api::{fmt_duration, fmt_percent, fmt_time, ApiError, Part, ReplayView};
use crate::clock::ZoneToggle;
use crate::latency::Sparkline;
use crate::live::LiveIndicator;
use crate::live::{use_live, Topic};
use crate::numbers::thousands;

mod voucher_list;
pub use voucher_list::VoucherList;

/// Site navigation. On narrow screens the links fold behind a menu button
/// (which works once the page has hydrated).
#[component]
pub fn Nav() -> impl IntoView {
    let open = RwSignal::new(false);
    let close = move |_| open.set(false);
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <img src="/favicon.svg" alt="" width="24" height="24"/>
                <span>"Vendor Mediator"</span>
            </a>
            <button
                class="menu-toggle"
                aria-controls="nav-links"
                aria-expanded=move || open.get().to_string()
                on:click=move |_| open.update(|o| *o = !*o)
            >
                <span class="sr-only">"Menu"</span>
                <span aria-hidden="true">"☰"</span>
            </button>
            <nav aria-label="Main">
                <ul id="nav-links" class:open=move || open.get()>
                    <li><A href="/" exact=true on:click=close>"Overview"</A></li>
                    <li><A href="/timeline" on:click=close>"Timeline"</A></li>
                    <li><A href="/incidents" on:click=close>"Incidents"</A></li>
                    <li><A href="/replays" on:click=close>"Replays"</A></li>
                    <li><A href="/vouchers" on:click=close>"Vouchers"</A></li>
                    <li><A href="/archives" on:click=close>"Archives"</A></li>
                    <li><A href="/embeds" on:click=close>"Embeds"</A></li>
                    <li><A href="/notifications" on:click=close>"Notifications"</A></li>
                    <li><A href="/audit" on:click=close>"Audit"</A></li>
                </ul>
            </nav>
            <LiveIndicator/>
            <UserMenu/>
            <ZoneToggle/>
            <ThemeToggle/>
        </header>
    }
}

/// The signed-in user and role, with a sign-out button (a plain form
/// carrying the session's CSRF token); nothing when sign-in is off or on
/// public pages without a session.
#[component]
pub fn UserMenu() -> impl IntoView {
    let session = Session::get();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                session.me().await.filter(Me::signed_in).map(|m| {
                    let label = format!("{} ({})", m.name, m.role);
                    let csrf = m.csrf.clone();
                    view! {
                        <div class="user-menu">
                            <span class="user" id="signed-in-user" data-role=m.role.clone()>{label}</span>
                            {csrf.map(|token| view! {
                                <form method="post" action="/logout" class="logout">
                                    <input type="hidden" name="csrf_token" value=token/>
                                    <button type="submit" class="link">"Sign out"</button>
                                </form>
                            })}
                        </div>
                    }
                })
            })}
        </Suspense>
    }
}

/// Switches between the system's theme, light and dark; remembered in
/// `localStorage` and applied before first paint by the shell's script.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    // "auto" on the server; the real choice is read once hydrated.
    let theme = RwSignal::new("auto".to_string());
    Effect::new(move |_| {
        let saved = document()
            .document_element()
            .and_then(|r| r.get_attribute("data-theme"))
            .unwrap_or_else(|| "auto".into());
        theme.set(saved);
    });
    let cycle = move |_| {
        let next = match theme.get_untracked().as_str() {
            "auto" => "dark",
            "dark" => "light",
            _ => "auto",
        };
        theme.set(next.to_string());
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-theme", next);
        }
        if let Ok(Some(storage)) = window().local_storage() {
            let _ = storage.set_item("theme", next);
        }
    };
    view! {
        <button class="theme-toggle" id="theme-toggle" on:click=cycle
            title="Colour theme: system, dark or light">
            <span aria-hidden="true">"◐ "</span>
            <span class="label">{move || format!("Theme: {}", theme.get())}</span>
        </button>
    }
}

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
    let check = CardAction::new();
    let check_part = part.name.clone();
    let cancel = CardAction::new();
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

/// What the replay dialog opens with: the part and a proposed window.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplaySeed {
    /// The part.
    pub part: String,
    /// Proposed window start (RFC 3339), editable.
    pub start: String,
    /// Proposed window end (RFC 3339), editable.
    pub end: String,
    /// What the dialog was opened from, shown as its subtitle.
    pub context: String,
}

/// The replay dialog, opened by setting `seed`. Its code (form, preview
/// and launch calls, live progress) is a lazy wasm chunk in a `--split`
/// build, fetched the first time a dialog opens; it then stays mounted
/// ([`ReplayDialogView`]).
#[component]
pub fn ReplayDialog(seed: RwSignal<Option<ReplaySeed>>) -> impl IntoView {
    lazy_dialog(seed, replay_dialog)
}

/// A dialog whose body `load` fetches (a `#[lazy]` function): nothing until
/// `seed` is first set, then the body, loaded once with the signed-in user
/// and kept mounted (setting it up again would build a new dialog while the
/// shown one's handlers are disposed with the old).
pub fn lazy_dialog<T, F, Fut>(seed: RwSignal<Option<T>>, load: F) -> impl IntoView
where
    T: Send + Sync + 'static,
    F: Fn(RwSignal<Option<T>>, Option<Me>) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = AnyView> + Send + 'static,
{
    let opened = RwSignal::new(false);
    let session = Session::get();
    Effect::new(move |_| {
        if seed.with(Option::is_some) && !opened.get_untracked() {
            opened.set(true);
        }
    });
    move || {
        opened.get().then(|| {
            Suspend::new(async move {
                let me = session.me().await;
                load(seed, me).await
            })
        })
    }
}

/// Loads [`ReplayDialogView`] (its own wasm chunk in a `--split` build).
#[lazy]
fn replay_dialog(seed: RwSignal<Option<ReplaySeed>>, me: Option<Me>) -> AnyView {
    view! { <ReplayDialogView seed me/> }.into_any()
}

/// The replay dialog itself: an editable window, the preview counts before
/// confirming, the archive-lag warning, refusal while the part has an
/// active replay, the reason (required, audited with the replay), then the
/// launched replay's live progress and cursor, with a Cancel button while
/// it runs. Who starts it is the signed-in user `me`, shown read-only; a
/// "Started by" field is asked only when sign-in is off.
///
/// Keyboard: focus moves into the dialog when it opens and back to the
/// element that opened it when it closes; Escape closes it.
#[component]
pub fn ReplayDialogView(seed: RwSignal<Option<ReplaySeed>>, me: Option<Me>) -> impl IntoView {
    let start = RwSignal::new(String::new());
    let end = RwSignal::new(String::new());
    let by = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let signed_in_as = me
        .as_ref()
        .filter(|m| m.signed_in())
        .map(|m| m.name.clone());
    let can_cancel = me.as_ref().is_none_or(Me::can_operate);
    let launched = RwSignal::new(None::<String>);
    let first_field = NodeRef::<leptos::html::Input>::new();
    let close_button = NodeRef::<leptos::html::Button>::new();
    // The element focused before opening (browser only: a local value must
    // not be created during server rendering, where it would be dropped on
    // another thread).
    #[cfg(feature = "hydrate")]
    let opener = StoredValue::new_local(None::<leptos::web_sys::Element>);

    let preview = Action::new(|(part, s, e): &(String, String, String)| {
        let (part, s, e) = (part.clone(), s.clone(), e.clone());
        async move { preview_replay(part, s, e).await }
    });
    let launch = Action::new(|ask: &(String, String, String, String, String)| {
        let (part, s, e, who, why) = ask.clone();
        async move { start_replay(part, s, e, who, why).await }
    });
    let part = move || seed.with(|s| s.as_ref().map(|s| s.part.clone()).unwrap_or_default());
    let run_preview = move || {
        preview.dispatch((part(), start.get_untracked(), end.get_untracked()));
    };

    // Opening: fill the window, preview it, move focus in.
    Effect::new(move |_| {
        if let Some(s) = seed.get() {
            start.set(s.start.clone());
            end.set(s.end.clone());
            reason.set(String::new());
            launched.set(None);
            launch.value().set(None);
            preview.value().set(None);
            if !s.start.is_empty() && !s.end.is_empty() {
                preview.dispatch((s.part.clone(), s.start.clone(), s.end.clone()));
            }
            #[cfg(feature = "hydrate")]
            opener.set_value(document().active_element());
            request_animation_frame(move || {
                if let Some(input) = first_field.get_untracked() {
                    let _ = input.focus();
                }
            });
        }
    });
    // A launched replay is remembered to follow its progress.
    Effect::new(move |_| {
        if let Some(Ok(r)) = launch.value().get() {
            launched.set(Some(r.name));
        }
    });
    let close = move || {
        seed.set(None);
        #[cfg(feature = "hydrate")]
        if let Some(el) = opener.get_value() {
            use leptos::wasm_bindgen::JsCast;
            if let Ok(el) = el.dyn_into::<leptos::web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        }
    };
    // Escape closes the dialog wherever focus is (a button that became
    // disabled leaves focus on the body, outside the dialog).
    let escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && seed.with_untracked(Option::is_some) {
            ev.prevent_default();
            close();
        }
    });
    on_cleanup(move || escape.remove());
    let field_error = move |field: &'static str| {
        move || {
            let from_launch = launch
                .value()
                .get()
                .and_then(|r| r.err())
                .and_then(|e| e.for_field(field));
            let from_preview = preview
                .value()
                .get()
                .and_then(|r| r.err())
                .and_then(|e| e.for_field(field));
            from_launch.or(from_preview).map(|m| {
                view! { <span class="field-error" id=format!("replay-{field}-error")>{format!("{field} {m}")}</span> }
            })
        }
    };
    let can_launch = move || {
        matches!(
            preview.value().get(),
            Some(Ok(ReplayPreview {
                active_replay: None,
                ..
            }))
        ) && !launch.pending().get()
            && launched.get().is_none()
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        launch.dispatch((
            part(),
            start.get_untracked(),
            end.get_untracked(),
            by.get_untracked(),
            reason.get_untracked(),
        ));
    };
    // Rebuilt when the dialog is shown again (its children are a function).
    let who = move || match signed_in_as.clone() {
        Some(name) => view! {
            <p class="field readonly">
                <span class="label">"Started by "</span>
                <strong id="replay-actor">{name}</strong>
                <span class="muted small">" (signed in)"</span>
            </p>
        }
        .into_any(),
        None => view! {
            <div class="field">
                <label for="replay-by">"Started by"</label>
                <input id="replay-by" name="by" placeholder="your name" autocomplete="name"
                    prop:value=by on:input=move |ev| by.set(event_target_value(&ev))
                    aria-describedby="replay-by-error"/>
                {field_error("by")}
            </div>
        }
        .into_any(),
    };

    view! {
        <Show when=move || seed.with(Option::is_some)>
            <div class="backdrop" on:click=move |_| close()></div>
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="replay-dialog-title"
                id="replay-dialog">
                // Focus stays inside the modal dialog: these two sentinels
                // send Tab past either end back round to the other end.
                <span class="focus-sentinel" tabindex="0" aria-hidden="true" on:focus=move |_| {
                    if let Some(b) = close_button.get_untracked() { let _ = b.focus(); }
                }></span>
                <h2 id="replay-dialog-title">{move || format!("Replay {}", part())}</h2>
                <p class="muted small">{move || seed.with(|s| s.as_ref().map(|s| s.context.clone()).unwrap_or_default())}</p>
                <form on:submit=on_submit>
                    <div class="field">
                        <label for="replay-start">"Window start (UTC)"</label>
                        <input id="replay-start" name="start" node_ref=first_field
                            prop:value=start on:input=move |ev| start.set(event_target_value(&ev))
                            on:change=move |_| run_preview()
                            aria-describedby="replay-start-error"/>
                        {field_error("start")}
                    </div>
                    <div class="field">
                        <label for="replay-end">"Window end (UTC)"</label>
                        <input id="replay-end" name="end"
                            prop:value=end on:input=move |ev| end.set(event_target_value(&ev))
                            on:change=move |_| run_preview()
                            aria-describedby="replay-end-error"/>
                        {field_error("end")}
                    </div>
                    {who.clone()}
                    <div class="field">
                        <label for="replay-reason">"Reason"</label>
                        <input id="replay-reason" name="reason" aria-required="true"
                            placeholder="why this window is replayed (audited)"
                            prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))
                            aria-describedby="replay-reason-error"/>
                        {field_error("reason")}
                    </div>
                    <div class="preview" aria-live="polite" id="replay-preview">
                        {move || match preview.value().get() {
                            None if preview.pending().get() => view! { <p class="muted">"Counting…"</p> }.into_any(),
                            None => view! { <p class="muted">"Edit the window, then preview."</p> }.into_any(),
                            Some(Err(e)) => view! { <p class="error-text">{e.to_string()}</p> }.into_any(),
                            Some(Ok(p)) => view! {
                                <dl class="facts">
                                    <dt>"Archived events in the window"</dt>
                                    <dd class="num" id="preview-archived">{thousands(p.archived)}</dd>
                                    <dt>"Vouchers still pending"</dt>
                                    <dd class="num" id="preview-pending">{thousands(p.pending)}</dd>
                                    {p.archive_event_count.map(|n| view! {
                                        <dt title="EventBridge reports only the whole archive's count, updated with a delay">"The bus's archive count (whole archive on AWS, approximate)"</dt>
                                        <dd class="num" id="preview-archive-count">{thousands(n)}</dd>
                                    })}
                                </dl>
                                {p.lag_warning.map(|w| view! { <p class="warning" role="note"><span aria-hidden="true">"⚠ "</span>{w}</p> })}
                                {p.active_replay.map(|a| view! {
                                    <p class="error-text" role="alert">
                                        {format!("Launching is refused: {} has an active replay ({a}). Wait for it to end or cancel it on the Replays page.", p.part)}
                                    </p>
                                })}
                            }.into_any(),
                        }}
                    </div>
                    {move || launch.value().get().and_then(|r| r.err()).filter(|e| !matches!(e, ApiError::Invalid { .. })).map(|e| view! {
                        <p class="error-text" role="alert">{e.to_string()}</p>
                    })}
                    <div class="actions">
                        <button type="button" class="button secondary" on:click=move |_| run_preview()>"Preview"</button>
                        <button type="submit" class="button" id="replay-confirm" disabled=move || !can_launch()>
                            {move || if launch.pending().get() { "Starting…" } else { "Replay" }}
                        </button>
                        <button type="button" class="button secondary" node_ref=close_button on:click=move |_| close()>"Close"</button>
                    </div>
                </form>
                {move || launched.get().map(|name| view! { <LiveReplay name can_cancel/> })}
                <span class="focus-sentinel" tabindex="0" aria-hidden="true" on:focus=move |_| {
                    if let Some(i) = first_field.get_untracked() { let _ = i.focus(); }
                }></span>
            </div>
        </Show>
    }
}

/// One replay, refreshed live on replay changes: its progress, its time
/// cursor (EventBridge's `EventLastReplayedTime`: event time replayed up
/// to) beside the counters, and, while it runs and `can_cancel`, a Cancel
/// button (the cancel command, as on the Replays page).
#[component]
pub fn LiveReplay(name: String, #[prop(optional)] can_cancel: bool) -> impl IntoView {
    let live = use_live();
    let cancel = Action::new(|name: &String| {
        let name = name.clone();
        async move { cancel_replay(name).await }
    });
    let n = name.clone();
    let replay = crate::resource::resource(
        move || {
            (
                n.clone(),
                live.version(&[Topic::Replay]),
                cancel.version().get(),
            )
        },
        |(name, _, _)| get_replay(name),
    );
    view! {
        <section class="live-replay" aria-live="polite">
            <h3>{format!("Replay {name}")}</h3>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    replay.await.map(|r| {
                        let cursor = r.cursor.as_deref().map(fmt_time).unwrap_or_else(|| "—".into());
                        let running = (can_cancel && r.is_active()).then(|| r.name.clone());
                        view! {
                            <ReplayProgress replay=r.clone()/>
                            <dl class="facts">
                                <dt>"Cursor (event time replayed up to)"</dt>
                                <dd id="replay-cursor">{cursor}</dd>
                            </dl>
                            {running.map(|name| view! {
                                <button type="button" class="button danger" id="replay-dialog-cancel"
                                    disabled=move || cancel.pending().get()
                                    on:click=move |_| { cancel.dispatch(name.clone()); }>
                                    "Cancel replay"
                                </button>
                            })}
                            <p class="small">
                                <a href=format!("/replays?name={}", r.name)>"Open on the Replays page"</a>
                            </p>
                        }
                    })
                })}
            </Transition>
            {move || cancel.value().get().and_then(Result::err).map(|e| view! {
                <p class="error-text" role="alert">{e.to_string()}</p>
            })}
        </section>
    }
}

/// "Newer / Older" links for token-paginated lists.
#[component]
pub fn Pager(
    /// Whether a previous page exists.
    has_prev: bool,
    /// Whether a next page exists.
    has_next: bool,
    /// Go back a page.
    on_prev: Callback<()>,
    /// Go on a page.
    on_next: Callback<()>,
) -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Pages">
            <button class="button secondary" disabled=!has_prev on:click=move |_| on_prev.run(())>"← Previous"</button>
            <button class="button secondary" disabled=!has_next on:click=move |_| on_next.run(())>"Next →"</button>
        </nav>
    }
}

/// [`Pager`] over a token-paginated list: `token` is the page shown
/// (`None` for the first), `tokens` the pages before it, `next` the next
/// page's token from the answer.
#[component]
pub fn TokenPager(
    /// The pages before the one shown.
    tokens: RwSignal<Vec<Option<String>>>,
    /// The page shown.
    token: RwSignal<Option<String>>,
    /// The next page's token, if there is one.
    next: Option<String>,
) -> impl IntoView {
    view! {
        <Pager has_prev=!tokens.with_untracked(Vec::is_empty) has_next=next.is_some()
            on_prev=Callback::new(move |_| {
                let prev = tokens.try_update(|t| t.pop()).flatten().flatten();
                token.set(prev);
            })
            on_next=Callback::new(move |_| {
                tokens.update(|t| t.push(token.get_untracked()));
                token.set(next.clone());
            })/>
    }
}

/// Shown when a page fails: lists what went wrong, keeps the navigation.
#[component]
pub fn ErrorPage(errors: ArcRwSignal<Errors>) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::INTERNAL_SERVER_ERROR);
    }
    view! {
        <section class="page error-page" role="alert">
            <h1>"Something went wrong"</h1>
            <ul>
                {move || {
                    errors
                        .get()
                        .into_iter()
                        .map(|(_, e)| view! { <li>{e.to_string()}</li> })
                        .collect_view()
                }}
            </ul>
            <p><a href="/">"Back to the overview"</a></p>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
