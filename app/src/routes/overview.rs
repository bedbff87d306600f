//! Overview: a card per SaaS part, updated live.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::access::Me;
use crate::api::get_overview;
use crate::components::{
    OverrideDialog, OverrideSeed, PartCard, ReplayDialog, ReplaySeed, Session,
};
use crate::live::{use_live, Topic};

/// The landing page: every configured part with its status, circuit,
/// counters, uptime and latest replay; for operators, the circuit controls.
/// Refetched on every pushed change.
#[component]
pub fn OverviewPage() -> impl IntoView {
    let live = use_live();
    let refreshes = RwSignal::new(0u32);
    let overview = crate::resource::resource(
        move || (refreshes.get(), live.version(&Topic::ALL)),
        |_| get_overview(),
    );
    let dialog = RwSignal::new(None::<ReplaySeed>);
    let on_replay = Callback::new(move |seed: ReplaySeed| dialog.set(Some(seed)));
    let override_dialog = RwSignal::new(None::<OverrideSeed>);
    // Mode `maintenance` opens the maintenance dialog.
    let on_override = Callback::new(move |seed: OverrideSeed| override_dialog.set(Some(seed)));
    let session = Session::get();
    view! {
        <Title text="Overview"/>
        <section class="page">
            <div class="page-head">
                <h1>"Overview"</h1>
                <button class="button secondary" id="refresh" on:click=move |_| refreshes.update(|n| *n += 1)>
                    "Refresh"
                </button>
            </div>
            <Transition fallback=|| view! { <div class="cards"><div class="card part-card skeleton" aria-busy="true"></div></div> }>
                {move || Suspend::new(async move {
                    let can_operate = session.me().await.as_ref().is_some_and(Me::can_operate);
                    overview.await.map(|o| {
                        let generated_at = o.generated_at.clone();
                        view! {
                            <div class="cards">
                                {o.parts.into_iter().map(|part| view! { <PartCard part on_replay on_override can_operate/> }).collect_view()}
                            </div>
                            <p class="muted small">
                                "Updated " <time id="generated-at" datetime=generated_at.clone()>{crate::api::fmt_time(&generated_at)}</time>
                            </p>
                        }
                    })
                })}
            </Transition>
            <ReplayDialog seed=dialog/>
            <OverrideDialog seed=override_dialog/>
        </section>
    }
}
