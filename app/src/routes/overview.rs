//! Overview: a card per SaaS part.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::get_overview;
use crate::components::PartCard;

/// The landing page: every configured part with its status.
#[component]
pub fn OverviewPage() -> impl IntoView {
    let refreshes = RwSignal::new(0u32);
    let overview = Resource::new(move || refreshes.get(), |_| get_overview());
    view! {
        <Title text="Overview"/>
        <section class="page">
            <div class="page-head">
                <h1>"Overview"</h1>
                <button class="button" id="refresh" on:click=move |_| refreshes.update(|n| *n += 1)>
                    "Refresh"
                </button>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    overview.await.map(|o| {
                        let generated_at = o.generated_at.clone();
                        view! {
                            <div class="cards">
                                {o.parts.into_iter().map(|part| view! { <PartCard part/> }).collect_view()}
                            </div>
                            <p class="muted small">
                                "Updated " <time id="generated-at" datetime=generated_at.clone()>{generated_at.clone()}</time>
                            </p>
                        }
                    })
                })}
            </Transition>
        </section>
    }
}
