//! Sign-in: a plain HTML form posted to `POST /login` (works before, and
//! without, the wasm bundle). The server sets the session cookies and sends
//! the browser back to `next`; a wrong name or password comes back here
//! with `?error=1`. Since the form needs no wasm, the page is a lazy route:
//! its code stays out of the overview's main module.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::{lazy_route, LazyRoute};

/// The sign-in page.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = query
        .with_untracked(|q| q.get("next"))
        .unwrap_or_else(|| "/".into());
    let failed = query.with_untracked(|q| q.get("error"));
    view! {
        <Title text="Sign in"/>
        <section class="page login">
            <h1>"Sign in"</h1>
            {failed.map(|e| {
                let text = if e == "throttled" {
                    "Too many failed sign-ins for this user from here: try again in 15 minutes."
                } else {
                    "Wrong user name or password."
                };
                view! { <p class="error-text" role="alert" id="login-error">{text}</p> }
            })}
            <form method="post" action="/login" class="login-form">
                <input type="hidden" name="next" value=next/>
                <label>
                    "User name"
                    <input type="text" name="username" autocomplete="username" required autofocus/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <button type="submit" class="button">"Sign in"</button>
            </form>
            <p class="muted small">
                "Accounts are managed on the server: "
                <code>"mediator user add NAME --role viewer|operator|admin"</code>
                " (password on standard input)."
            </p>
        </section>
    }
}

/// The `/login` route, loaded on demand: in a `--split` build its view is a
/// separate wasm chunk (the form works before it arrives).
pub struct LoginRoute;

#[lazy_route]
impl LazyRoute for LoginRoute {
    fn data() -> Self {
        LoginRoute
    }

    fn view(_this: Self) -> AnyView {
        super::mark_interactive();
        view! { <LoginPage/> }.into_any()
    }
}
