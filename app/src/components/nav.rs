//! The navigation: links, the signed-in user's menu, the theme, the time
//! zone and the live-connection indicator.

use super::session::Session;
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::access::Me;
use crate::clock::ZoneToggle;
use crate::live::LiveIndicator;

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
                    <li><A href="/incidents" on:click=close>"Incidents"</A></li>
                    <li><A href="/replays" on:click=close>"Replays"</A></li>
                    <li><A href="/vouchers" on:click=close>"Vouchers"</A></li>
                    <li><A href="/archives" on:click=close>"Archives"</A></li>
                    <li><A href="/embeds" on:click=close>"Embeds"</A></li>
                    <li><A href="/notifications" on:click=close>"Notifications"</A></li>
                    <li><A href="/audit" on:click=close>"Audit"</A></li>
                </ul>
            </nav>
            <LiveIndicator/>
            <UserMenu/>
            <ZoneToggle/>
            <ThemeToggle/>
        </header>
    }
}

/// The signed-in user and role, with a sign-out button (a plain form
/// carrying the session's CSRF token); nothing when sign-in is off or on
/// public pages without a session.
#[component]
pub fn UserMenu() -> impl IntoView {
    let session = Session::get();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                session.me().await.filter(Me::signed_in).map(|m| {
                    let label = format!("{} ({})", m.name, m.role);
                    let csrf = m.csrf.clone();
                    view! {
                        <div class="user-menu">
                            <span class="user" id="signed-in-user" data-role=m.role.clone()>{label}</span>
                            {csrf.map(|token| view! {
                                <form method="post" action="/logout" class="logout">
                                    <input type="hidden" name="csrf_token" value=token/>
                                    <button type="submit" class="link">"Sign out"</button>
                                </form>
                            })}
                        </div>
                    }
                })
            })}
        </Suspense>
    }
}

/// Switches between the system's theme, light and dark; remembered in
/// `localStorage` and applied before first paint by the shell's script.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    // "auto" on the server; the real choice is read once hydrated.
    let theme = RwSignal::new("auto".to_string());
    Effect::new(move |_| {
        let saved = document()
            .document_element()
            .and_then(|r| r.get_attribute("data-theme"))
            .unwrap_or_else(|| "auto".into());
        theme.set(saved);
    });
    let cycle = move |_| {
        let next = match theme.get_untracked().as_str() {
            "auto" => "dark",
            "dark" => "light",
            _ => "auto",
        };
        theme.set(next.to_string());
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-theme", next);
        }
        if let Ok(Some(storage)) = window().local_storage() {
            let _ = storage.set_item("theme", next);
        }
    };
    view! {
        <button class="theme-toggle" id="theme-toggle" on:click=cycle
            title="Colour theme: system, dark or light">
            <span aria-hidden="true">"◐ "</span>
            <span class="label">{move || format!("Theme: {}", theme.get())}</span>
        </button>
    }
}
