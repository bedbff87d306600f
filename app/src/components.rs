//! Building blocks shared by the pages.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::PartView;

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
                    <li><A href="/replays" on:click=close>"Replays"</A></li>
                    <li><A href="/archives" on:click=close>"Archives"</A></li>
                    <li><A href="/vouchers" on:click=close>"Vouchers"</A></li>
                </ul>
            </nav>
        </header>
    }
}

/// Status pill: coloured dot plus the status word (colour is never the only cue).
#[component]
pub fn StatusPill(status: String) -> impl IntoView {
    let class = format!("pill pill-{status}");
    view! { <span class=class>{status}</span> }
}

/// The circuit's counter against its threshold, e.g. "2/3 failed checks"
/// while pending, "1/2 good checks" while a down part recovers.
pub fn threshold_progress(part: &PartView) -> Option<String> {
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

/// A part's card on the overview.
#[component]
pub fn PartCard(part: PartView) -> impl IntoView {
    let since = part
        .since
        .clone()
        .map(|s| format!("since {s}"))
        .unwrap_or_else(|| "not checked yet".to_string());
    let progress = threshold_progress(&part);
    let last_check = part.last_check_at.clone().unwrap_or_else(|| "never".into());
    let last_error = part.last_error.clone();
    view! {
        <article class="card" data-part=part.name.clone() data-status=part.status.clone()>
            <header class="card-head">
                <h2>{part.name.clone()}</h2>
                <StatusPill status=part.status.clone()/>
            </header>
            <p class="muted">{since}</p>
            {progress.map(|p| view! { <p class="threshold">{p}</p> })}
            <dl class="facts">
                <dt>"Last check"</dt>
                <dd>{last_check}</dd>
                {last_error.map(|e| view! { <dt>"Error"</dt><dd class="error-text">{e}</dd> })}
                <dt>"Archive"</dt>
                <dd><code>{part.archive.clone()}</code></dd>
            </dl>
        </article>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(status: &str, failures: u32, successes: u32) -> PartView {
        PartView {
            name: "voucher".into(),
            status: status.into(),
            since: None,
            archive: "LoyaltyVoucherArchive".into(),
            failures,
            failure_threshold: 3,
            successes,
            recovery_threshold: 2,
            last_check_at: None,
            last_error: None,
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
