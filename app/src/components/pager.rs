//! Pagination links of the long lists.

use leptos::prelude::*;

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
