//! Archives: one per part, keeping that part's retry events.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::get_overview;

/// The archive of each part.
#[component]
pub fn ArchivesPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| get_overview());
    view! {
        <Title text="Archives"/>
        <section class="page">
            <h1>"Archives"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    overview.await.map(|o| view! {
                        <table class="table">
                            <thead><tr><th scope="col">"Part"</th><th scope="col">"Archive"</th></tr></thead>
                            <tbody>
                                {o.parts.into_iter().map(|p| view! {
                                    <tr><td>{p.name}</td><td><code>{p.archive}</code></td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    })
                })}
            </Suspense>
        </section>
    }
}
