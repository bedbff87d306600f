//! Keeps a rendered page's reactive owner current for the whole response
//! future, on whichever worker thread polls it.
//!
//! Leptos renders a page under a root owner it creates per request, then,
//! after awaiting the render, reads the page's context again (the lazy
//! routes' chunk preloads, the CSP nonce) through the thread's *current*
//! owner. That thread-local is set only while Leptos polls the render
//! itself; when the request's task resumes on another worker thread the
//! read finds no owner and the page goes out without its
//! `<link rel="preload">` for the lazy route's chunks (about one page in
//! five on two workers). [`remember`] records the root owner from the
//! page's context function; [`keep`] polls the response future with that
//! owner current.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use leptos::prelude::Owner;

type Slot = Arc<Mutex<Option<Owner>>>;

tokio::task_local! {
    static PAGE_OWNER: Slot;
}

/// Records the current owner (the page's root, when called from the
/// page's context function) for [`keep`] to restore.
pub fn remember() {
    let _ = PAGE_OWNER.try_with(|slot| {
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Owner::current();
    });
}

/// Middleware: runs the rest of the request with a slot for [`remember`]
/// and, once it is filled, polls with that owner current.
pub async fn keep(req: Request, next: Next) -> Response {
    let slot = Slot::default();
    PAGE_OWNER
        .scope(
            slot.clone(),
            WithOwner {
                slot,
                inner: Box::pin(next.run(req)),
            },
        )
        .await
}

struct WithOwner<F> {
    slot: Slot,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for WithOwner<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let owner = self.slot.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match owner {
            Some(owner) => owner.with(|| self.inner.as_mut().poll(cx)),
            None => self.inner.as_mut().poll(cx),
        }
    }
}
