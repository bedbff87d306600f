//! The site built into the binary (`--features embed-site`), over real
//! HTTP from a process started in an empty directory: the page references
//! the bundle under its content-hashed directory, every file it references
//! is served `immutable` with its hash as `ETag`, and `--site-root` still
//! serves a directory instead (uncached).
//!
//! Needs such a binary: `make test-embedded-site` builds one and runs these
//! with `MEDIATOR_EMBEDDED_BIN` pointing at it (they are ignored otherwise).

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::common::client;
use crate::common::process::ServerProcess;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The console's lazily loaded pages (each its own wasm chunks).
const LAZY_PAGES: [&str; 7] = [
    "/timeline",
    "/incidents",
    "/replays",
    "/audit",
    "/archives",
    "/vouchers",
    "/embeds",
];

fn embedded_bin() -> PathBuf {
    PathBuf::from(std::env::var("MEDIATOR_EMBEDDED_BIN").expect(
        "MEDIATOR_EMBEDDED_BIN: a mediator binary built with --features embed-site \
         (make test-embedded-site)",
    ))
}

/// Every `/pkg/…` URL in `html` (attribute values and script arguments).
fn pkg_urls(html: &str) -> Vec<String> {
    let mut urls: Vec<String> = html
        .match_indices("/pkg/")
        .map(|(i, _)| {
            html[i..]
                .chars()
                .take_while(|c| !matches!(c, '"' | '\'' | '\\' | ' ' | '>' | ')'))
                .collect()
        })
        .collect();
    urls.sort();
    urls.dedup();
    urls
}

#[tokio::test]
#[ignore = "needs MEDIATOR_EMBEDDED_BIN (make test-embedded-site)"]
async fn the_binary_serves_its_own_site_immutable_under_hashed_names() {
    let empty = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let app = ServerProcess::start(&embedded_bin(), empty.path(), data.path(), &[], &[]).await;
    let http = client();

    // The overview and a lazy route (whose chunk the page preloads).
    let mut referenced = Vec::new();
    for page in ["/", "/timeline"] {
        let html = http
            .get(app.url(page))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        referenced.extend(pkg_urls(&html));
    }
    referenced.sort();
    referenced.dedup();
    let hash = referenced
        .first()
        .and_then(|u| u.split('/').nth(2))
        .expect("the page references the bundle")
        .to_owned();
    assert!(
        hash.len() == 20 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "bundle directory is a content hash: {referenced:?}"
    );
    for name in ["mediator.js", "mediator.wasm", "mediator.css"] {
        let url = format!("/pkg/{hash}/{name}");
        assert!(referenced.contains(&url), "{url} in {referenced:?}");
    }
    assert!(
        referenced.iter().any(|u| u.contains("/__wasm_split.")),
        "the lazy route's loader is preloaded: {referenced:?}"
    );
    // Every lazy page, every time: the preloads are read after the render
    // is awaited, on whichever worker thread resumes the request.
    for round in 0..5 {
        for page in LAZY_PAGES {
            let html = http
                .get(app.url(page))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let urls = pkg_urls(&html);
            assert!(
                urls.iter().any(|u| u.contains("/__wasm_split."))
                    && urls
                        .iter()
                        .any(|u| u.ends_with(".wasm") && !u.ends_with("/mediator.wasm")),
                "round {round}: {page} preloads its chunks and the loader: {urls:?}"
            );
        }
    }
    assert!(
        referenced
            .iter()
            .all(|u| u.starts_with(&format!("/pkg/{hash}/"))),
        "every bundle URL is under the hash: {referenced:?}"
    );

    for url in &referenced {
        let res = http.get(app.url(url)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(res.headers()["cache-control"], IMMUTABLE, "{url}");
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        let expected = match url.rsplit('.').next() {
            Some("wasm") => "application/wasm",
            Some("js") => "javascript",
            Some("css") => "text/css",
            _ => "",
        };
        assert!(content_type.contains(expected), "{url}: {content_type}");
        let etag = res.headers()["etag"].to_str().unwrap().to_owned();
        let body = res.bytes().await.unwrap();
        let digest: String = Sha256::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            etag,
            format!("\"{}\"", &digest[..32]),
            "{url}: ETag is its content hash"
        );
        if url.ends_with(".wasm") {
            assert!(body.starts_with(b"\0asm"), "{url} is wasm");
        }
        let again = http
            .get(app.url(url))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{url}");
    }

    // Unhashed or other hashes are not this build's files.
    for url in [
        "/pkg/mediator.wasm",
        "/pkg/00000000000000000000/mediator.wasm",
    ] {
        assert_eq!(
            http.get(app.url(url)).send().await.unwrap().status(),
            404,
            "{url}"
        );
    }
    // Public assets keep their names, cached for a day.
    let res = http.get(app.url("/favicon.svg")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "public, max-age=86400");
}

#[tokio::test]
#[ignore = "needs MEDIATOR_EMBEDDED_BIN (make test-embedded-site)"]
async fn site_root_still_serves_a_directory_uncached() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg/mediator.css"), "body{color:red}").unwrap();
    let app = ServerProcess::start(
        &embedded_bin(),
        dir.path(),
        &dir.path().join("data"),
        &["--site-root", site.to_str().unwrap()],
        &[],
    )
    .await;
    let http = client();
    let html = http
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let urls = pkg_urls(&html);
    assert!(urls.contains(&"/pkg/mediator.css".to_owned()), "{urls:?}");
    let res = http.get(app.url("/pkg/mediator.css")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(res.text().await.unwrap(), "body{color:red}");
}
