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

/// A part's card on the overview.
#[component]
pub fn PartCard(part: PartView) -> impl IntoView {
    let since = part
        .since
        .clone()
        .map(|s| format!("since {s}"))
        .unwrap_or_else(|| "not checked yet".to_string());
    view! {
        <article class="card" data-part=part.name.clone()>
            <header class="card-head">
                <h2>{part.name.clone()}</h2>
                <StatusPill status=part.status.clone()/>
            </header>
            <p class="muted">{since}</p>
            <dl class="facts">
                <dt>"Archive"</dt>
                <dd><code>{part.archive.clone()}</code></dd>
            </dl>
        </article>
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
