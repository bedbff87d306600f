//! Security headers and request-size limits of the console's listener.
//!
//! - Console pages (server-rendered Leptos): a `Content-Security-Policy`
//!   whose `script-src` allows only the bundle (`'self'`), the per-response
//!   nonce Leptos puts on its inline hydration and streaming scripts, and
//!   `'wasm-unsafe-eval'` (compiling the wasm bundle); `frame-ancestors
//!   'none'`. Set from inside the render ([`provide_page_csp`]) because the
//!   nonce is only known there.
//! - Every other response without a CSP of its own: [`FALLBACK_CSP`]. The
//!   embeds (`/embed/…`) set their own, whose `frame-ancestors` is the
//!   `--frame-ancestors` allow-list (`crate::embed::embed_csp`).
//! - Every response: `X-Content-Type-Options: nosniff` and
//!   `Referrer-Policy: same-origin` (no referrer leaves for other sites,
//!   while the browser still sends `Origin` on the console's own POSTs).
//! - Request bodies: at most [`MAX_BODY_BYTES`] anywhere (server functions
//!   included), [`API_MAX_BODY_BYTES`] on the JSON API; a larger body is a
//!   413 `{"error", "field": "body"}`.

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

/// Largest request body on the console's listener (server functions,
/// forms), in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Largest JSON body of `/api/v1` requests: a voucher's payload is at most
/// 64 KiB and each of its keys 256 bytes, so this leaves room for JSON
/// escaping.
pub const API_MAX_BODY_BYTES: usize = 256 * 1024;

/// The policy of every response that does not set one: same-origin
/// resources only, no plugins, never framed.
pub const FALLBACK_CSP: &str =
    "default-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

/// The policy of a console page rendered with `nonce`.
pub fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Inside a Leptos render: sets the page's CSP with the nonce Leptos
/// generated for this response. Outside a page render (server functions
/// have no nonce) it does nothing, and the fallback applies.
pub fn provide_page_csp() {
    let (Some(nonce), Some(res)) = (
        leptos::nonce::use_nonce(),
        leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&page_csp(&nonce)) {
        res.insert_header(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// Adds the headers every response carries and the overall body limit;
/// `router` must be complete (these are its outermost layers).
pub fn harden<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        .layer(axum::middleware::map_response(body_too_large_as_json))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
}

/// Turns the plain-text 413 of the body limit into the API's error shape.
async fn body_too_large_as_json(res: Response<Body>) -> Response<Body> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if res.status() != StatusCode::PAYLOAD_TOO_LARGE || is_json {
        return res;
    }
    let body = serde_json::json!({
        "error": format!("body: must be at most {MAX_BODY_BYTES} bytes"),
        "field": "body",
    });
    let mut out = Response::new(Body::from(body.to_string()));
    *out.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_policy_allows_the_nonce_and_wasm_and_forbids_framing() {
        let p = page_csp("abc");
        assert!(p.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"));
        assert!(p.contains("frame-ancestors 'none'"));
        let script_src = p.split(';').find(|d| d.contains("script-src")).unwrap();
        assert!(!script_src.contains("unsafe-inline"), "{script_src}");
        assert!(HeaderValue::from_str(&p).is_ok());
    }
}
