//! Replays: windowed replays of archived retry events.

use leptos::prelude::*;
use leptos_meta::Title;

/// Every replay with its window, state and outcome.
#[component]
pub fn ReplaysPage() -> impl IntoView {
    view! {
        <Title text="Replays"/>
        <section class="page">
            <h1>"Replays"</h1>
            <p class="muted">"No replays have run. A replay starts when a part comes back up, or from an outage on the Timeline."</p>
        </section>
    }
}
