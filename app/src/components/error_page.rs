//! The page shown when a page fails.

use leptos::prelude::*;

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
