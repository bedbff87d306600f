//! Timeline: per part, 90 daily bars coloured by time down; a day zooms to
//! its hours, an hour to its minutes (`?at=2026-11-26`, `?at=2026-11-26T10`).
//! Bars come from status-change intervals, so their span never depends on
//! the poll interval. Under each part's bars, the response time of its
//! checks per bar (p50 and p95, [`latency_chart`]).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::{lazy_route, LazyRoute};

use crate::api::history::{get_timelines, Bar, OutageView, TimelineView};
use crate::api::maintenance::{list_maintenance, MaintenanceWindow};
use crate::api::{fmt_duration, fmt_time, fmt_utc};
use crate::components::{ReplayDialog, ReplaySeed};
use crate::live::{use_live, Topic};

mod latency_chart;
use latency_chart::LatencyChart;

/// The timeline page.
#[component]
pub fn TimelinePage() -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let at = move || query.with(|q| q.get("at").unwrap_or_default());
    let timelines = crate::resource::resource(
        move || (at(), live.version(&[Topic::Status])),
        |(at, _)| get_timelines((!at.is_empty()).then_some(at)),
    );
    let windows = Resource::new(
        move || live.version(&[Topic::Override]),
        |_| list_maintenance(None),
    );
    let dialog = RwSignal::new(None::<ReplaySeed>);
    view! {
        <Title text="Timeline"/>
        <section class="page">
            <h1>"Timeline"</h1>
            <nav class="breadcrumb" aria-label="Zoom">{move || breadcrumb(&at())}</nav>
            <p class="legend small">
                <span class="key up" aria-hidden="true"></span>"no downtime "
                <span class="key degraded" aria-hidden="true"></span>"under 1% down "
                <span class="key down" aria-hidden="true"></span>"down "
                <span class="key nodata" aria-hidden="true"></span>"no data "
                <span class="key maintenance" aria-hidden="true"></span>"maintenance"
            </p>
            <Transition fallback=|| view! { <p class="muted timeline-skeleton">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let windows = windows.await.map(|l| l.windows).unwrap_or_default();
                    timelines.await.map(|list| {
                        list.into_iter()
                            .map(|t| {
                                let maintenance: Vec<MaintenanceWindow> = windows
                                    .iter()
                                    .filter(|w| w.part == t.part && w.state != "cancelled")
                                    .cloned()
                                    .collect();
                                view! { <PartTimeline timeline=t dialog maintenance/> }
                            })
                            .collect_view()
                    })
                })}
            </Transition>
            <ReplayDialog seed=dialog/>
        </section>
    }
}

/// Links back out of a zoom level.
fn breadcrumb(at: &str) -> impl IntoView {
    // `at` comes from the address bar: cut only on character boundaries.
    let day = at.get(..10).map(str::to_string);
    let hour = at.get(11..).filter(|h| !h.is_empty()).map(str::to_string);
    view! {
        <a href="/timeline">"90 days"</a>
        {day.map(|d| view! { " › " <a href=format!("/timeline?at={d}")>{d.clone()}</a> })}
        {hour.map(|h| view! { " › " <span aria-current="page">{format!("{h}:00")}</span> })}
    }
}

/// One part: its bars, on a track below its outages, and its response
/// time.
#[component]
fn PartTimeline(
    timeline: TimelineView,
    dialog: RwSignal<Option<ReplaySeed>>,
    maintenance: Vec<MaintenanceWindow>,
) -> impl IntoView {
    let TimelineView {
        part,
        granularity,
        start,
        end,
        bars,
        outages,
        latency,
    } = timeline;
    let unit = match granularity.as_str() {
        "day" => "Daily",
        "hour" => "Hourly",
        _ => "Per-minute",
    };
    let count = outages.len();
    let bands: Vec<_> = maintenance
        .into_iter()
        .filter_map(|w| band(&w, &start, &end).map(|pos| (w, pos)))
        .collect();
    view! {
        <section class="timeline-part" data-part=part.clone() data-granularity=granularity.clone()>
            <h2>{part.clone()}</h2>
            <p class="small muted">
                {move || format!("{unit} bars, {} to {} · {count} outage(s)", fmt_time(&start), fmt_time(&end))}
            </p>
            <ol class=format!("bars bars-{granularity}") aria-label=format!("{unit} status of {part}")>
                {bars.into_iter().map(|b| view! { <BarItem bar=b granularity=granularity.clone()/> }).collect_view()}
            </ol>
            <div class="outage-track" aria-label=format!("Outages of {part}") role="group">
                {bands.into_iter().map(|(w, (left, width))| {
                    let until = w.ended_at.clone().unwrap_or_else(|| w.end.clone());
                    let words = format!(
                        "Maintenance of {}: {} to {}, {} (by {})",
                        w.part, fmt_time(&w.start), fmt_time(&until), w.reason, w.by
                    );
                    view! {
                        <span class="maintenance-band" role="img" data-window=w.id.clone()
                            style=format!("left: {left:.3}%; width: max({width:.3}%, 4px)")
                            aria-label=words.clone() title=words></span>
                    }
                }).collect_view()}
                {outages.into_iter().map(|o| view! { <OutageMark outage=o dialog/> }).collect_view()}
            </div>
            <LatencyChart latency/>
        </section>
    }
}

/// Seconds since the epoch of an RFC 3339 time in UTC (`…Z` or `+00:00`,
/// as the server writes them), without a date library (the browser build
/// carries none).
fn epoch_secs(t: &str) -> Option<f64> {
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = t
        .get(19..)
        .and_then(|r| r.strip_prefix('.'))
        .map(|r| {
            r.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|f| format!("0.{f}").parse::<f64>().ok())
        .unwrap_or(0.0);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3_600 + mm * 60 + ss) as f64 + frac)
}

/// Where a maintenance window sits on a track from `start` to `end`: its
/// left edge and width in percent, `None` when it falls outside.
fn band(w: &MaintenanceWindow, start: &str, end: &str) -> Option<(f64, f64)> {
    let (s, e) = (epoch_secs(start)?, epoch_secs(end)?);
    let ws = epoch_secs(&w.start)?;
    let we = epoch_secs(w.ended_at.as_deref().unwrap_or(&w.end))?;
    if e <= s || we <= s || ws >= e {
        return None;
    }
    let left = (ws.max(s) - s) / (e - s) * 100.0;
    let right = (we.min(e) - s) / (e - s) * 100.0;
    Some((left, right - left))
}

/// One bar: a zoom link (days, hours) or a plain mark (minutes), with its
/// time down in words for screen readers and as a tooltip.
#[component]
fn BarItem(bar: Bar, granularity: String) -> impl IntoView {
    let level = bar.level();
    let down = if bar.down_secs == 0 {
        "no downtime".to_string()
    } else {
        format!("{} down", fmt_duration(bar.down_secs))
    };
    let words = match level {
        "nodata" => format!("{}: no data", bar.label),
        _ if bar.outages > 0 => format!("{}: {down}, {} outage(s)", bar.label, bar.outages),
        _ => format!("{}: {down}", bar.label),
    };
    let zoom = match granularity.as_str() {
        "day" => Some(bar.start.get(..10).unwrap_or_default().to_string()),
        "hour" => Some(bar.start.get(..13).unwrap_or_default().to_string()),
        _ => None,
    };
    let class = format!("bar {level}");
    view! {
        <li class="bar-cell">
            {match zoom {
                Some(z) => view! {
                    <a class=class href=format!("/timeline?at={z}") aria-label=words.clone() title=words data-label=bar.label></a>
                }.into_any(),
                None => view! {
                    <span class=class role="img" aria-label=words.clone() title=words data-label=bar.label></span>
                }.into_any(),
            }}
        </li>
    }
}

/// An outage on the track: hover or focus shows its facts; click (or Enter)
/// opens the replay dialog with its window plus the margin.
#[component]
fn OutageMark(outage: OutageView, dialog: RwSignal<Option<ReplaySeed>>) -> impl IntoView {
    let OutageView {
        outage,
        replay_start,
        replay_end,
        left_pct,
        width_pct,
    } = outage;
    let end_at = outage.end.clone();
    let end = move || {
        end_at
            .as_deref()
            .map(fmt_time)
            .unwrap_or_else(|| "ongoing".into())
    };
    let facts = {
        let (part, start, end) = (outage.part.clone(), outage.start.clone(), end.clone());
        let (secs, held) = (outage.duration_secs, outage.retries_held);
        move || {
            format!(
                "Outage of {part}: {} to {}, {}, {held} retries held",
                fmt_time(&start),
                end(),
                fmt_duration(secs),
            )
        }
    };
    let style = format!(
        "left: {:.3}%; width: max({:.3}%, 8px)",
        left_pct.clamp(0.0, 100.0),
        width_pct.clamp(0.0, 100.0)
    );
    let tip_left = left_pct > 50.0;
    let seed = ReplaySeed {
        part: outage.part.clone(),
        start: replay_start,
        end: replay_end,
        context: format!(
            "Outage {} → {} plus the replay margin",
            fmt_utc(&outage.start),
            outage
                .end
                .as_deref()
                .map(fmt_utc)
                .unwrap_or_else(|| "ongoing".into())
        ),
    };
    view! {
        <button class="outage" class:ongoing=outage.ongoing class:tip-left=tip_left
            style=style data-outage=outage.id
            aria-label=facts on:click=move |_| dialog.set(Some(seed.clone()))>
            <span class="tip" role="tooltip">
                <strong>"Outage"</strong><br/>
                {let start = outage.start.clone(); move || format!("Start: {}", fmt_time(&start))}<br/>
                {move || format!("End: {}", end())}<br/>
                {format!("Duration: {}", fmt_duration(outage.duration_secs))}<br/>
                {format!("Retries held: {}", outage.retries_held)}
            </span>
        </button>
    }
}

/// The `/timeline` route, loaded on demand: in a `--split` build its view and
/// everything only it uses (server-function clients, decoders) is a separate
/// wasm chunk, fetched on first visit (or preloaded when the page is the one
/// served), so the overview's download stays small.
pub struct TimelineRoute;

#[lazy_route]
impl LazyRoute for TimelineRoute {
    fn data() -> Self {
        TimelineRoute
    }

    fn view(_this: Self) -> AnyView {
        super::mark_interactive();
        view! { <TimelinePage/> }.into_any()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_bands_sit_on_the_track() {
        assert_eq!(epoch_secs("1970-01-02T00:00:01Z"), Some(86_401.0));
        assert_eq!(
            epoch_secs("2026-12-07T06:00:00.500Z"),
            Some(1_796_623_200.5)
        );
        assert_eq!(epoch_secs("soon"), None);
        let w = MaintenanceWindow {
            id: "mw".into(),
            part: "voucher".into(),
            state: "active".into(),
            start: "2026-12-07T06:15:00Z".into(),
            end: "2026-12-07T07:30:00Z".into(),
            ended_at: Some("2026-12-07T06:45:00.000Z".into()),
            reason: "r".into(),
            by: "olga".into(),
            created_at: "2026-12-07T06:00:00Z".into(),
            ended_by: None,
            end_reason: None,
            replay: None,
        };
        assert_eq!(
            band(&w, "2026-12-07T06:00:00Z", "2026-12-07T07:00:00Z"),
            Some((25.0, 50.0))
        );
        assert_eq!(
            band(&w, "2026-12-07T07:00:00Z", "2026-12-07T08:00:00Z"),
            None
        );
    }

    #[test]
    fn the_breadcrumb_cuts_on_character_boundaries() {
        for at in [
            "2026-11-26\u{e9}10",
            "2026-11-2\u{e9}",
            "\u{e9}",
            "2026-11-26T",
            "",
        ] {
            let _ = breadcrumb(at).to_html();
        }
        let html = breadcrumb("2026-11-26T10").to_html();
        assert!(
            html.contains("2026-11-26") && html.contains("10:00"),
            "{html}"
        );
    }
}
