//! With the `embed-site` feature, puts the built console (the site that
//! `cargo leptos build --split --frontend-only` writes: the wasm bundle and
//! its split chunks, the JS glue, the CSS, the public assets) into the
//! binary: writes `$OUT_DIR/embedded_site.rs`, one `include_bytes!` per file
//! with its SHA-256, and the bundle hash naming the directory the bundle is
//! served from (`/pkg/<bundle hash>/…`, see `src/site.rs`).
//!
//! The site is read from `MEDIATOR_EMBED_SITE` if set, else from
//! `LEPTOS_SITE_ROOT` (which cargo-leptos sets), else `target/site`;
//! relative paths are taken from the workspace root. Without the feature
//! this script does nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MEDIATOR_EMBED_SITE");
    println!("cargo:rerun-if-env-changed=LEPTOS_SITE_ROOT");
    println!("cargo:rerun-if-env-changed=LEPTOS_OUTPUT_NAME");
    if std::env::var_os("CARGO_FEATURE_EMBED_SITE").is_none() {
        return;
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest
        .parent()
        .expect("the server crate sits in the workspace");
    let dir = std::env::var_os("MEDIATOR_EMBED_SITE")
        .or_else(|| std::env::var_os("LEPTOS_SITE_ROOT"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/site"));
    let dir = if dir.is_absolute() {
        dir
    } else {
        workspace.join(dir)
    };
    let output_name = std::env::var("LEPTOS_OUTPUT_NAME").unwrap_or_else(|_| "mediator".into());
    for needed in [
        format!("pkg/{output_name}.js"),
        format!("pkg/{output_name}.wasm"),
        format!("pkg/{output_name}.css"),
    ] {
        if !dir.join(&needed).is_file() {
            panic!(
                "embed-site: {} has no {needed}: build the site first \
                 (`cargo leptos build --release --split --frontend-only`), or set \
                 MEDIATOR_EMBED_SITE to a built site",
                dir.display()
            );
        }
    }
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut files = Vec::new();
    collect(&dir, &dir, &mut files);
    files.sort();
    let mut bundle = Sha256::new();
    let mut code = String::from("crate::site::EmbeddedSite {\n    files: &[\n");
    for rel in &files {
        let path = dir.join(rel);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("embed-site: cannot read {}: {e}", path.display()));
        let digest = hex(&Sha256::digest(&bytes));
        if rel.starts_with("pkg/") {
            bundle.update(rel.as_bytes());
            bundle.update([0]);
            bundle.update(digest.as_bytes());
        }
        let _ = writeln!(
            code,
            "        crate::site::EmbeddedFile {{ path: {rel:?}, sha256: {digest:?}, bytes: include_bytes!({:?}) }},",
            path.display().to_string()
        );
    }
    let bundle = hex(&bundle.finalize());
    let _ = write!(
        code,
        "    ],\n    bundle_hash: {:?},\n    output_name: {output_name:?},\n}}\n",
        &bundle[..20]
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("embedded_site.rs");
    std::fs::write(&out, code).expect("write embedded_site.rs");
}

/// Every file under `dir`, as paths relative to `root` with `/` separators.
fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("embed-site: cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if path.is_file() {
            let rel = path.strip_prefix(root).expect("under the root");
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(rel.join("/"));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
