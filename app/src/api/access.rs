//! Who is signed in, the role checks of the server functions, the audit
//! page's data, and the server-function client that sends the CSRF token.
//!
//! The server's sign-in middleware puts the caller (`mediator_core::Principal`)
//! into the request's extensions; server functions read it from the request
//! parts Leptos provides as context. A server function that changes state
//! takes its caller with [`signed_in`](ssr::signed_in) and calls the
//! command (`mediator_core::commands`), which checks the role: a viewer is
//! refused (HTTP 403, [`ApiError::Forbidden`] naming the role) and the
//! refusal is audited. A server function that reads calls
//! [`require_read`](ssr::require_read)
//! with the viewer role first: each checks its caller itself rather than
//! trusting that the router's middleware did (a route added or made public
//! later must not leak data).

use std::future::Future;

use futures::{Sink, Stream};
use leptos::prelude::*;
use leptos::server_fn::client::browser::BrowserClient;
use leptos::server_fn::client::Client;
use leptos::server_fn::error::FromServerFnError;
use leptos::server_fn::request::browser::BrowserRequest;
use leptos::server_fn::response::browser::BrowserResponse;
use leptos::server_fn::Bytes;

use super::ApiError;

/// Cookie holding the session's CSRF token (readable by scripts); named
/// `__Host-mediator_csrf` when it is `Secure`.
pub const CSRF_COOKIE: &str = "mediator_csrf";
/// Header the server expects the CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// Audit entries per page of `/audit`.
pub const AUDIT_PAGE_SIZE: usize = 50;

pub use mediator_wire::console::{AuditPage, AuditRow, Me};

/// The signed-in user (`None` on public pages without a session).
#[server(client = CsrfClient)]
pub async fn current_user() -> Result<Option<Me>, ApiError> {
    Ok(ssr::caller().map(|p| Me {
        name: p.name,
        role: p.role.as_str().into(),
        via: p.via.as_str().into(),
        csrf: p.csrf,
    }))
}

/// A page of the audit log (operator or admin), older than entry `before`.
#[server(client = CsrfClient)]
pub async fn list_audit(before: Option<i64>) -> Result<AuditPage, ApiError> {
    ssr::require_read(mediator_core::Role::Operator)?;
    let ctx = super::context()?;
    ssr::audit_page(&ctx, before).await
}

/// The server-function client: the browser's `fetch`, plus the
/// `X-CSRF-Token` header: the session's CSRF token from the `mediator_csrf`
/// cookie, or `1` without a session (`--auth none`, proxy and setup mode).
/// The server refuses a browser's state-changing request without the
/// header, and a session's without its token.
pub struct CsrfClient;

impl<E, IS, OS> Client<E, IS, OS> for CsrfClient
where
    E: FromServerFnError,
    IS: FromServerFnError,
    OS: FromServerFnError,
{
    type Request = BrowserRequest;
    type Response = BrowserResponse;

    fn send(req: Self::Request) -> impl Future<Output = Result<Self::Response, E>> + Send {
        let token = csrf_cookie().unwrap_or_else(|| "1".into());
        req.headers().set(CSRF_HEADER, &token);
        <BrowserClient as Client<E, IS, OS>>::send(req)
    }

    fn open_websocket(
        path: &str,
    ) -> impl Future<
        Output = Result<
            (
                impl Stream<Item = Result<Bytes, Bytes>> + Send + 'static,
                impl Sink<Bytes> + Send + 'static,
            ),
            E,
        >,
    > + Send {
        <BrowserClient as Client<E, IS, OS>>::open_websocket(path)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        <BrowserClient as Client<E, IS, OS>>::spawn(future)
    }
}

/// The CSRF token from `document.cookie` (browser only).
fn csrf_cookie() -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let doc = document().dyn_into::<web_sys::HtmlDocument>().ok()?;
        let cookies = doc.cookie().ok()?;
        let find = |name: &str| {
            cookies
                .split(';')
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        };
        // `__Host-` prefixed over HTTPS.
        find(&format!("__Host-{CSRF_COOKIE}")).or_else(|| find(CSRF_COOKIE))
    }
    #[cfg(not(feature = "hydrate"))]
    None
}

#[cfg(feature = "ssr")]
pub use ssr::{caller, require_read, signed_in};

#[cfg(feature = "ssr")]
mod ssr {
    //! The caller and role checks, on the server.

    use mediator_core::{CommandError, Principal, Role};

    use super::{AuditPage, AuditRow, AUDIT_PAGE_SIZE};
    use crate::api::ssr::unavailable;
    use crate::api::{ApiError, ConsoleContext};
    use mediator_wire::convert::time_secs;

    /// The caller of the current request, as the sign-in middleware found it.
    pub fn caller() -> Option<Principal> {
        leptos::prelude::use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>().cloned())
    }

    /// `e`, the response's status set from it ([`ApiError::http_status`]),
    /// also when a page render (not a call) meets it.
    fn refuse(e: ApiError) -> ApiError {
        if let (Some(status), Some(resp)) = (
            e.http_status()
                .and_then(|c| http::StatusCode::from_u16(c).ok()),
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
        ) {
            resp.set_status(status);
        }
        e
    }

    /// The caller, who must be signed in (401 otherwise).
    pub fn signed_in() -> Result<Principal, ApiError> {
        caller().ok_or_else(|| refuse(CommandError::Unauthenticated("sign in first".into()).into()))
    }

    /// The caller, who must hold `required` (reads: nothing is audited).
    pub fn require_read(required: Role) -> Result<Principal, ApiError> {
        let who = signed_in()?;
        if !who.role.allows(required) {
            return Err(refuse(CommandError::forbidden(&who, required).into()));
        }
        Ok(who)
    }

    /// A page of the audit log, newest first.
    pub async fn audit_page(
        ctx: &ConsoleContext,
        before: Option<i64>,
    ) -> Result<AuditPage, ApiError> {
        let entries = ctx
            .audit
            .newest(before, AUDIT_PAGE_SIZE)
            .await
            .map_err(unavailable)?;
        let older = (entries.len() == AUDIT_PAGE_SIZE)
            .then(|| entries.last().map(|e| e.id))
            .flatten();
        Ok(AuditPage {
            entries: entries
                .into_iter()
                .map(|e| AuditRow {
                    id: e.id,
                    at: time_secs(e.at),
                    actor: e.actor,
                    role: e.role,
                    via: e.via,
                    action: e.action,
                    target: e.target,
                    reason: e.reason,
                    outcome: e.outcome,
                    detail: e.detail.map(|d| d.to_string()).unwrap_or_default(),
                })
                .collect(),
            older,
        })
    }
}
