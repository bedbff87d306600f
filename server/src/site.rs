//! The console's static files: the wasm bundle (JS glue, main module and
//! split chunks, the split loader and manifest, the CSS) under `/pkg`, and
//! the public assets (favicon, images) at the root.
//!
//! Two sources ([`Site`]):
//!
//! - **In the binary** (built with the `embed-site` feature, as
//!   `make build-release` and `make dist` do; see `build.rs`): the bundle is
//!   served from `/pkg/<bundle hash>/…`, where the bundle hash is a SHA-256
//!   over every file of the bundle, so a URL names one content forever and
//!   is answered `Cache-Control: public, max-age=31536000, immutable`. The
//!   files keep their names inside that directory, so the relative imports
//!   the bundle makes of itself (the split loader, the chunks, wasm-bindgen
//!   snippets) need no rewriting of compiled wasm. Other hashes are 404.
//! - **A directory** (`--site-root`, or `target/site` when the binary has no
//!   site): files read on each request from `/pkg/…`, `no-cache` (their
//!   names are not hashed: browsers revalidate against `Last-Modified`).
//!
//! Public assets keep stable names (pages and other portals link to them):
//! one day of caching either way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::leptos::PKG_DIR;

/// Cache policy of the embedded bundle: its URLs carry its content hash.
pub const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";
/// Cache policy of a bundle served from a directory: names are not hashed,
/// so browsers must revalidate (cheap: a 304 against `Last-Modified`).
pub const PKG_CACHE: &str = "no-cache";
/// Cache policy of the other public assets (favicon, images).
pub const ASSET_CACHE: &str = "public, max-age=86400";

/// One file of the site built into the binary.
#[derive(Debug)]
pub struct EmbeddedFile {
    /// Path under the site root, `/`-separated (`pkg/mediator.wasm`,
    /// `favicon.svg`).
    pub path: &'static str,
    /// SHA-256 of the content, hex.
    pub sha256: &'static str,
    /// The content.
    pub bytes: &'static [u8],
}

/// The site built into the binary (`build.rs`).
#[derive(Debug)]
pub struct EmbeddedSite {
    /// Every file, sorted by path.
    pub files: &'static [EmbeddedFile],
    /// SHA-256 over the bundle's (`pkg/`) paths and contents, 20 hex
    /// digits: the directory the bundle is served from.
    pub bundle_hash: &'static str,
    /// The bundle's name (`<name>.js`, `.wasm`, `.css`).
    pub output_name: &'static str,
}

impl EmbeddedSite {
    /// The file at `path` under the site root.
    pub fn file(&self, path: &str) -> Option<&'static EmbeddedFile> {
        self.files
            .binary_search_by(|f| f.path.cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// Bytes of every file together.
    pub fn size(&self) -> usize {
        self.files.iter().map(|f| f.bytes.len()).sum()
    }
}

#[cfg(feature = "embed-site")]
static EMBEDDED: Option<EmbeddedSite> =
    Some(include!(concat!(env!("OUT_DIR"), "/embedded_site.rs")));
#[cfg(not(feature = "embed-site"))]
static EMBEDDED: Option<EmbeddedSite> = None;

/// The site built into this binary, if it was built with one.
pub fn embedded() -> Option<&'static EmbeddedSite> {
    EMBEDDED.as_ref()
}

/// Where the console's static files come from.
#[derive(Debug, Clone)]
pub enum Site {
    /// Files on disk under this root, uncached.
    Disk(Arc<PathBuf>),
    /// The site in the binary.
    Embedded(&'static EmbeddedSite),
}

impl Site {
    /// `--site-root` when given, else the site in the binary, else
    /// `target/site`.
    pub fn choose(site_root: Option<&Path>) -> Site {
        match (site_root, embedded()) {
            (Some(root), _) => Site::Disk(Arc::new(root.to_path_buf())),
            (None, Some(site)) => Site::Embedded(site),
            (None, None) => Site::Disk(Arc::new(PathBuf::from("target/site"))),
        }
    }

    /// The bundle's directory in URLs, without slashes: `pkg`, or
    /// `pkg/<bundle hash>` for the embedded bundle.
    pub fn pkg_dir(&self) -> String {
        match self {
            Site::Disk(_) => PKG_DIR.to_owned(),
            Site::Embedded(site) => format!("{PKG_DIR}/{}", site.bundle_hash),
        }
    }

    /// The site root on disk (what Leptos reads the split manifest from);
    /// the embedded site has none.
    pub fn root(&self) -> Option<&Path> {
        match self {
            Site::Disk(root) => Some(root.as_path()),
            Site::Embedded(_) => None,
        }
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        match self {
            Site::Disk(root) => format!("console files from {} (uncached)", root.display()),
            Site::Embedded(site) => format!(
                "console files built in: /{}/ ({} files, {} bytes)",
                self.pkg_dir(),
                site.files.len(),
                site.size()
            ),
        }
    }

    /// The lazy routes' preloads for the embedded bundle (Leptos reads
    /// them from the site root on disk otherwise): which chunks each lazy
    /// function needs, so a page's first render can ask for its chunks
    /// (`<link rel="preload">`) alongside the main module.
    pub fn split_manifest(&self) -> Option<leptos::WasmSplitManifest> {
        let Site::Embedded(site) = self else {
            return None;
        };
        let manifest = site.file(&format!("{PKG_DIR}/__wasm_split_manifest.json"))?;
        let preloads = serde_json::from_slice(manifest.bytes).ok()?;
        let loader = site
            .files
            .iter()
            .filter_map(|f| f.path.strip_prefix(&format!("{PKG_DIR}/")))
            .find(|p| p.starts_with("__wasm_split.") && p.ends_with(".js"))?;
        Some(leptos::WasmSplitManifest(
            leptos::prelude::ArcStoredValue::new((
                format!("/{}", self.pkg_dir()),
                preloads,
                loader.to_owned(),
            )),
        ))
    }

    /// The service answering under `/pkg` (the path it sees has that
    /// prefix removed).
    pub fn pkg_service(&self) -> Router {
        match self {
            Site::Disk(root) => Router::new().fallback_service(
                tower::ServiceBuilder::new()
                    .layer(SetResponseHeaderLayer::overriding(
                        header::CACHE_CONTROL,
                        HeaderValue::from_static(PKG_CACHE),
                    ))
                    .service(ServeDir::new(root.join(PKG_DIR))),
            ),
            Site::Embedded(site) => Router::new().fallback(embedded_pkg).with_state(*site),
        }
    }

    /// The public asset at the request's path, if there is one (`GET` and
    /// `HEAD` only); `None` lets the caller render the 404 page.
    pub async fn public_asset(&self, parts: &axum::http::request::Parts) -> Option<Response> {
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return None;
        }
        match self {
            Site::Disk(root) => {
                let probe = Request::from_parts(parts.clone(), Body::empty());
                let Ok(mut res) = ServeDir::new(root.as_path())
                    .append_index_html_on_directories(false)
                    .oneshot(probe)
                    .await;
                if !(res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED) {
                    return None;
                }
                res.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE));
                Some(res.map(Body::new))
            }
            Site::Embedded(site) => {
                let path = parts.uri.path().strip_prefix('/')?;
                if path.starts_with(&format!("{PKG_DIR}/")) {
                    return None;
                }
                let file = site.file(path)?;
                Some(file_response(file, &parts.headers, ASSET_CACHE))
            }
        }
    }
}

/// `/pkg/<bundle hash>/<file>` from the embedded bundle; any other hash or
/// file is 404.
async fn embedded_pkg(
    State(site): State<&'static EmbeddedSite>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let file = uri
        .path()
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(hash, _)| *hash == site.bundle_hash)
        .and_then(|(_, name)| site.file(&format!("{PKG_DIR}/{name}")));
    match file {
        Some(file) => file_response(file, &headers, IMMUTABLE_CACHE),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A file's answer: its bytes with their type, caching and a strong
/// `ETag` (its hash); `304` when the caller already has it.
fn file_response(
    file: &'static EmbeddedFile,
    request: &HeaderMap,
    cache: &'static str,
) -> Response {
    let etag = format!("\"{}\"", &file.sha256[..32]);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mime = mime_guess::from_path(file.path).first_or_octet_stream();
        let mut res = Body::from(file.bytes).into_response();
        if let Ok(v) = HeaderValue::from_str(mime.essence_str()) {
            res.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        res
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use leptos::prelude::GetValue;

    use super::*;

    static SITE: EmbeddedSite = EmbeddedSite {
        files: &[
            EmbeddedFile {
                path: "favicon.svg",
                sha256: "1111111111111111111111111111111111111111111111111111111111111111",
                bytes: b"<svg/>",
            },
            EmbeddedFile {
                path: "pkg/__wasm_split.______________________.js",
                sha256: "2222222222222222222222222222222222222222222222222222222222222222",
                bytes: b"export {}",
            },
            EmbeddedFile {
                path: "pkg/__wasm_split_manifest.json",
                sha256: "3333333333333333333333333333333333333333333333333333333333333333",
                bytes: br#"{"audit": ["split_1"]}"#,
            },
            EmbeddedFile {
                path: "pkg/mediator.wasm",
                sha256: "4444444444444444444444444444444444444444444444444444444444444444",
                bytes: b"\0asm",
            },
        ],
        bundle_hash: "0123456789abcdef0123",
        output_name: "mediator",
    };

    async fn get(router: Router, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        router
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn embedded_bundle_is_immutable_under_its_hash_only() {
        let site = Site::Embedded(&SITE);
        assert_eq!(site.pkg_dir(), "pkg/0123456789abcdef0123");
        let router = Router::new().nest_service("/pkg", site.pkg_service());
        let res = get(
            router.clone(),
            "/pkg/0123456789abcdef0123/mediator.wasm",
            &[],
        )
        .await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(res.headers()["content-type"], "application/wasm");
        let etag = res.headers()["etag"].to_str().unwrap().to_owned();
        let res = get(
            router.clone(),
            "/pkg/0123456789abcdef0123/mediator.wasm",
            &[("if-none-match", &etag)],
        )
        .await;
        assert_eq!(res.status(), 304);
        for path in [
            "/pkg/mediator.wasm",
            "/pkg/ffffffffffffffffffff/mediator.wasm",
            "/pkg/0123456789abcdef0123/missing.js",
            "/pkg/0123456789abcdef0123/../favicon.svg",
        ] {
            assert_eq!(get(router.clone(), path, &[]).await.status(), 404, "{path}");
        }
    }

    #[tokio::test]
    async fn embedded_public_assets_keep_their_names() {
        let site = Site::Embedded(&SITE);
        let parts = |p: &str| Request::get(p).body(()).unwrap().into_parts().0;
        let res = site.public_asset(&parts("/favicon.svg")).await.unwrap();
        assert_eq!(res.headers()["cache-control"], ASSET_CACHE);
        assert_eq!(res.headers()["content-type"], "image/svg+xml");
        assert!(site
            .public_asset(&parts("/pkg/mediator.wasm"))
            .await
            .is_none());
        assert!(site.public_asset(&parts("/nope.png")).await.is_none());
    }

    #[test]
    fn embedded_split_manifest_points_into_the_hashed_directory() {
        let manifest = Site::Embedded(&SITE).split_manifest().unwrap();
        let (root, preloads, loader) = manifest.0.get_value();
        assert_eq!(root, "/pkg/0123456789abcdef0123");
        assert_eq!(preloads["audit"], ["split_1"]);
        assert_eq!(loader, "__wasm_split.______________________.js");
    }
}
