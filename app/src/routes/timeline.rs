//! Timeline: per-part status history.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::get_overview;

/// Status history per part. Until checks are recorded each part shows an
/// empty history.
#[component]
pub fn TimelinePage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| get_overview());
    view! {
        <Title text="Timeline"/>
        <section class="page">
            <h1>"Timeline"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    overview.await.map(|o| {
                        o.parts
                            .into_iter()
                            .map(|p| view! {
                                <section class="timeline-part" data-part=p.name.clone()>
                                    <h2>{p.name.clone()}</h2>
                                    <p class="muted">"No status checks recorded yet."</p>
                                </section>
                            })
                            .collect_view()
                    })
                })}
            </Suspense>
        </section>
    }
}
