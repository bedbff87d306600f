//! Leptos's own settings, read as cargo-leptos documents them: the
//! `LEPTOS_*` environment (`LEPTOS_OUTPUT_NAME`, `LEPTOS_SITE_ROOT`,
//! `LEPTOS_SITE_PKG_DIR`, `LEPTOS_SITE_ADDR`, `LEPTOS_ENV`,
//! `LEPTOS_RELOAD_PORT`, …) through [`leptos::config::get_configuration`].
//! `serve`'s own options then set what they govern (the address actually
//! bound, the site's root and bundle directory; see `http::router`).

use leptos::config::LeptosOptions;

/// The one bundle directory the console serves (`/pkg`): the auth layer
/// lets it through without sign-in and the server routes it.
pub const PKG_DIR: &str = "pkg";

/// Leptos's settings from the environment, and whether `LEPTOS_SITE_ADDR`
/// was given (it is then the default of `--listen`).
pub fn from_env() -> anyhow::Result<(LeptosOptions, bool)> {
    let mut options = leptos::config::get_configuration(None)
        .map_err(|e| anyhow::anyhow!("LEPTOS_* environment: {e}"))?
        .leptos_options;
    if options.output_name.is_empty() {
        options.output_name = app::OUTPUT_NAME.into();
    }
    if options.site_pkg_dir.trim_matches('/') != PKG_DIR {
        anyhow::bail!(
            "LEPTOS_SITE_PKG_DIR: only `{PKG_DIR}` is served, got {:?}",
            options.site_pkg_dir
        );
    }
    Ok((options, std::env::var_os("LEPTOS_SITE_ADDR").is_some()))
}
