//! The support console: Leptos components, routes and server functions.
//!
//! Built twice: as an `rlib` with the `ssr` feature, linked into the server
//! binary for server-side rendering and server functions; and as a `cdylib`
//! with the `hydrate` feature, compiled to wasm32 for the browser.
//!
//! Server-side behaviour is reached only through [`api::ConsoleContext`],
//! which the server provides at start-up; this crate never depends on the
//! server binary.
//!
//! - [`api`]: data shapes shared by both builds and the `#[server]` functions.
//! - [`clock`]: the time zone times are shown in (UTC or the browser's).
//! - [`routes`]: one module per page.
//! - [`components`]: the navigation, part cards, replay dialog and error views.
//! - [`latency`]: response time as plain SVG (the cards' sparkline).
//! - [`live`]: live updates pushed by the server (SSE) as version signals.
//! - [`numbers`]: counts with thousands separators.
//! - [`resource`]: the pages' resources, one JSON reader for page and calls.

pub mod api;
pub mod clock;
pub mod components;
pub mod latency;
pub mod live;
pub mod numbers;
pub mod resource;
pub mod routes;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, Lazy, SsrMode,
};

use components::{ErrorPage, Nav};
use routes::{
    archives::ArchivesRoute, embeds::EmbedsRoute, incidents::IncidentsRoute, not_found::NotFound,
    overview::OverviewPage, replays::ReplaysRoute, timeline::TimelineRoute,
    vouchers::VouchersRoute,
};
use routes::{audit::AuditRoute, login::LoginRoute, notifications::NotificationsRoute};

/// Name of the compiled site bundle (`<name>.js`, `.wasm`, `.css` under
/// `/pkg`); matches `output-name` in the workspace's cargo-leptos metadata.
pub const OUTPUT_NAME: &str = "mediator";

/// Applies the saved colour theme before first paint (no flash): the
/// toggle stores `auto`, `light` or `dark` in `localStorage.theme`.
const THEME_SCRIPT: &str = "try{var t=localStorage.getItem('theme');if(t){document.documentElement.setAttribute('data-theme',t)}}catch(e){}";

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // The bundle's CSS where the server serves it: `/pkg/<name>.css`,
                // or inside the content-hashed directory of a site built into
                // the binary (`LeptosOptions::site_pkg_dir`).
                <link id="leptos" rel="stylesheet" href=options.css_path()/>
                <script nonce=leptos::nonce::use_nonce() inner_html=THEME_SCRIPT></script>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The console: navigation and routed pages. Pages render with
/// `SsrMode::Async`: the server waits for their data, so the first HTML is
/// the complete page (readable before, or without, the wasm bundle).
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let live = live::Live::new();
    provide_context(live);
    components::Session::provide();
    clock::Zone::provide();

    // Effects never run during server rendering: this attribute appears only
    // once the wasm bundle has hydrated the page (tests wait for it), and
    // the live-update stream opens only in the browser.
    Effect::new(move |_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
        #[cfg(feature = "hydrate")]
        live::connect(live);
    });

    view! {
        <Title formatter=|page: String| {
            if page.is_empty() { "Vendor Mediator".to_string() } else { format!("{page} · Vendor Mediator") }
        }/>
        <Router>
            // The first thing Tab reaches: past the navigation to the page
            // (a plain link the router leaves to the browser).
            <a class="skip-link" href="#content" rel="external">"Skip to content"</a>
            <Nav/>
            <main id="content" tabindex="-1">
                <ErrorBoundary fallback=|errors| view! { <ErrorPage errors/> }>
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=OverviewPage ssr=SsrMode::Async/>
                        <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/audit") view={Lazy::<AuditRoute>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/timeline") view={Lazy::<TimelineRoute>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/incidents") view={Lazy::<IncidentsRoute>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/replays") view={Lazy::<ReplaysRoute>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/archives") view={Lazy::<ArchivesRoute>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/vouchers") view={Lazy::<VouchersRoute>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/embeds") view={Lazy::<EmbedsRoute>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/notifications") view={Lazy::<NotificationsRoute>::new()} ssr=SsrMode::Async/>
                    </Routes>
                </ErrorBoundary>
            </main>
        </Router>
    }
}

/// Browser entry point: hydrates the server-rendered page. `hydrate_lazy`
/// first loads the wasm chunk of a lazy route the page was served on
/// (`cargo leptos build --split`), then hydrates.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(App);
}
