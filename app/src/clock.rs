//! Which time zone the console shows times in. The server renders every
//! time in UTC (it does not know the reader's zone), and the browser
//! hydrates the same UTC text; then an effect switches to the browser's own
//! zone, unless the reader chose UTC with the navigation's toggle
//! (remembered in `localStorage.tz`: `utc` or `local`). Every time shown
//! names its zone: `2026-01-01 12:00:05 UTC` or `2026-01-01 13:00:05
//! UTC+01:00`.

use leptos::prelude::*;

/// The zone shown, shared through context: `true` for the browser's zone.
#[derive(Debug, Clone, Copy)]
pub struct Zone(RwSignal<bool>);

impl Zone {
    /// UTC until the browser says otherwise; shared with the whole app.
    pub fn provide() -> Self {
        let zone = Zone(RwSignal::new(false));
        provide_context(zone);
        zone
    }

    /// Whether times are shown in the browser's zone (tracked: a view
    /// reading it follows the toggle). `false` outside the app.
    pub fn local() -> bool {
        use_context::<Zone>().is_some_and(|z| z.0.get())
    }
}

/// A time (RFC 3339) shown in the chosen zone and following the toggle
/// ([`fmt_time`] in a reactive closure: one closure type for
/// every such time, which keeps the bundle small).
pub fn time_text(rfc3339: String) -> impl IntoView {
    move || fmt_time(&rfc3339)
}

/// A time as people read it: `2026-01-01 12:00:05 UTC` from RFC 3339
/// (fractions dropped). Other strings are returned unchanged.
///
/// In the browser, once the page has hydrated, the time is shown in the
/// reader's zone instead unless they chose UTC ([`ZoneToggle`]); the
/// zone is read tracked, so a view calling this from a reactive closure
/// follows the choice.
pub fn fmt_time(rfc3339: &str) -> String {
    if Zone::local() {
        if let Some(t) = in_local_zone(rfc3339) {
            return t;
        }
    }
    fmt_utc(rfc3339)
}

/// [`fmt_time`] always in UTC (what the replay and redrive forms take).
pub fn fmt_utc(rfc3339: &str) -> String {
    if rfc3339.len() >= 19 && rfc3339.as_bytes().get(10) == Some(&b'T') {
        format!("{} {} UTC", &rfc3339[..10], &rfc3339[11..19])
    } else {
        rfc3339.to_string()
    }
}

/// The `localStorage` key of the reader's choice.
pub const STORAGE_KEY: &str = "tz";

/// The navigation's switch between the browser's zone and UTC. Reads
/// "Times: UTC" or "Times: local (Europe/Berlin)"; where the navigation is
/// tight only the zone shows ("UTC", "local") and the rest stays its
/// accessible name.
#[component]
pub fn ZoneToggle() -> impl IntoView {
    let zone = use_context::<Zone>().unwrap_or_else(Zone::provide);
    // After hydration: the saved choice (the browser's zone by default).
    Effect::new(move |_| {
        let saved = window()
            .local_storage()
            .ok()
            .flatten()
            .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
        show(zone, saved.as_deref() != Some("utc"));
    });
    let toggle = move |_| {
        let local = !zone.0.get_untracked();
        show(zone, local);
        if let Ok(Some(storage)) = window().local_storage() {
            let _ = storage.set_item(STORAGE_KEY, if local { "local" } else { "utc" });
        }
    };
    view! {
        <button class="zone-toggle" id="zone-toggle" data-zone="utc" on:click=toggle
            title="Show times in your time zone or in UTC">
            <span class="label">"Times: "</span><span id="zone-name">"UTC"</span>
            <span class="label" id="zone-detail"></span>
        </button>
    }
}

/// Switches the zone shown and says so on the toggle.
fn show(zone: Zone, local: bool) {
    zone.0.set(local);
    let doc = document();
    if let Some(button) = doc.get_element_by_id("zone-toggle") {
        let name = browser_zone_name();
        let detail = match (local, name.is_empty()) {
            (true, false) => format!(" ({name})"),
            _ => String::new(),
        };
        if let Some(zone) = doc.get_element_by_id("zone-name") {
            zone.set_text_content(Some(if local { "local" } else { "UTC" }));
        }
        if let Some(d) = doc.get_element_by_id("zone-detail") {
            d.set_text_content(Some(&detail));
        }
        let _ = button.set_attribute("data-zone", if local { "local" } else { "utc" });
    }
}

/// The browser's zone name (`Europe/Berlin`), empty if it gives none.
fn browser_zone_name() -> String {
    #[cfg(feature = "hydrate")]
    {
        let options =
            js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new())
                .resolved_options();
        js_sys::Reflect::get(&options, &"timeZone".into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    String::new()
}

/// `rfc3339` (UTC) in the browser's zone, with its offset that day:
/// `2026-01-01 13:00:05 UTC+01:00`; `None` outside the browser or for a
/// string that is not such a time.
pub fn in_local_zone(rfc3339: &str) -> Option<String> {
    if rfc3339.len() < 19 || rfc3339.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    #[cfg(feature = "hydrate")]
    {
        let d = js_sys::Date::new(&format!("{}Z", &rfc3339[..19]).into());
        if d.get_time().is_nan() {
            return None;
        }
        let east = -(d.get_timezone_offset() as i32);
        let sign = if east < 0 { '-' } else { '+' };
        Some(format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC{sign}{:02}:{:02}",
            d.get_full_year(),
            d.get_month() + 1,
            d.get_date(),
            d.get_hours(),
            d.get_minutes(),
            d.get_seconds(),
            east.abs() / 60,
            east.abs() % 60
        ))
    }
    #[cfg(not(feature = "hydrate"))]
    None
}
