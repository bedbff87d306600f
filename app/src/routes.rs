//! One module per page.

pub mod archives;
pub mod audit;
pub mod embeds;
pub mod incidents;
pub mod login;
pub mod not_found;
pub mod notifications;
pub mod overview;
pub mod replays;
pub mod timeline;
pub mod vouchers;

use leptos::prelude::*;

/// Marks the page interactive once its route has hydrated: sets
/// `<html data-interactive="<path>">` from an Effect, which runs only in the
/// browser and only after this route's code (a lazy wasm chunk for every
/// page but the overview) has hydrated its view. Until then a form on the
/// page looks ready but its handlers are not attached, so input typed into
/// it is not seen; tests (and anything scripted) wait for this instead of
/// the app-wide `data-hydrated`.
pub fn mark_interactive() {
    Effect::new(move |_| {
        let path = window().location().pathname().unwrap_or_default();
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-interactive", &path);
        }
    });
}
