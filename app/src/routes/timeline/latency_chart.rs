//! The timeline's response-time chart: p50 and p95 of a part's checks per
//! bar, as plain SVG under the bars (same columns), with the range's p50 and
//! p95 in words. Part of the timeline's lazy chunk.

use leptos::prelude::*;

use crate::api::history::LatencySeries;
use crate::latency::{fmt_ms, fmt_opt_ms, runs, scale_top};

/// Width and height of the chart's drawing box (stretched to the bars).
const W: f64 = 900.0;
const H: f64 = 60.0;

/// One part's response time over the timeline's range.
#[component]
pub fn LatencyChart(latency: LatencySeries) -> impl IntoView {
    let LatencySeries {
        part,
        granularity,
        checks,
        p50_ms,
        p95_ms,
        points,
        ..
    } = latency;
    let per = match granularity.as_str() {
        "day" => "day",
        "hour" => "hour",
        _ => "minute",
    };
    let p50: Vec<Option<u64>> = points.iter().map(|p| p.p50_ms).collect();
    let p95: Vec<Option<u64>> = points.iter().map(|p| p.p95_ms).collect();
    let top = scale_top(p95.iter().chain(&p50).flatten().copied().max().unwrap_or(0));
    let summary = match (p50_ms, p95_ms) {
        (Some(a), Some(b)) => format!(
            "p50 {} · p95 {} over {checks} check(s)",
            fmt_ms(a),
            fmt_ms(b)
        ),
        _ => "no checks in this range".to_string(),
    };
    let label = format!("Response time of {part} per {per}: {summary}");
    let column = W / points.len().max(1) as f64;
    let draw = |values: &[Option<u64>], class: &'static str| {
        runs(values, W, H, top)
            .into_iter()
            .map(|points| view! { <polyline class=class points=points vector-effect="non-scaling-stroke"/> })
            .collect_view()
    };
    view! {
        <figure class="latency-chart" data-part=part.clone() data-p50=p50_ms.map(|v| v.to_string())
            data-p95=p95_ms.map(|v| v.to_string())>
            <figcaption class="small">
                <strong>"Response time"</strong>
                " · p50 " <span class="p50-value">{fmt_opt_ms(p50_ms)}</span>
                " · p95 " <span class="p95-value">{fmt_opt_ms(p95_ms)}</span>
                {format!(" · {checks} check(s)")}
                <span class="legend-key p50" aria-hidden="true"></span>"p50 "
                <span class="legend-key p95" aria-hidden="true"></span>"p95"
            </figcaption>
            <div class="latency-plot">
                <span class="axis-top small muted" aria-hidden="true">{fmt_ms(top)}</span>
                <svg class="latency-svg" viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none"
                    role="img" aria-label=label>
                    <line class="grid" x1="0" y1="0.5" x2=W y2="0.5" vector-effect="non-scaling-stroke"/>
                    <line class="grid" x1="0" y1={H / 2.0} x2=W y2={H / 2.0} vector-effect="non-scaling-stroke"/>
                    {draw(&p95, "p95")}
                    {draw(&p50, "p50")}
                    {points.into_iter().enumerate().map(|(i, p)| {
                        let tip = match (p.p50_ms, p.p95_ms) {
                            (Some(a), Some(b)) => format!(
                                "{}: p50 {}, p95 {} ({} check(s))", p.label, fmt_ms(a), fmt_ms(b), p.checks
                            ),
                            _ => format!("{}: no checks", p.label),
                        };
                        view! {
                            <rect class="slot" x={i as f64 * column} y="0" width=column height=H>
                                <title>{tip}</title>
                            </rect>
                        }
                    }).collect_view()}
                </svg>
                <span class="axis-bottom small muted" aria-hidden="true">"0 ms"</span>
            </div>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::history::LatencyPoint;

    fn point(label: &str, p50: Option<u64>, p95: Option<u64>) -> LatencyPoint {
        LatencyPoint {
            start: String::new(),
            end: String::new(),
            label: label.into(),
            checks: u64::from(p50.is_some()) * 4,
            p50_ms: p50,
            p95_ms: p95,
        }
    }

    #[test]
    fn the_chart_draws_both_percentiles_and_says_them() {
        let latency = LatencySeries {
            part: "voucher".into(),
            granularity: "hour".into(),
            start: String::new(),
            end: String::new(),
            checks: 8,
            p50_ms: Some(12),
            p95_ms: Some(340),
            points: vec![
                point("10:00", Some(10), Some(300)),
                point("11:00", Some(14), Some(340)),
                point("12:00", None, None),
            ],
        };
        let html = view! { <LatencyChart latency/> }.to_html();
        assert!(html.contains("12 ms") && html.contains("340 ms"), "{html}");
        assert_eq!(html.matches("<polyline").count(), 2, "{html}");
        assert!(html.contains("class=\"p95\""), "{html}");
        assert!(
            html.contains("11:00: p50 14 ms, p95 340 ms (4 check(s))"),
            "{html}"
        );
        assert!(html.contains("12:00: no checks"), "{html}");
        assert!(html.contains("500 ms"), "the scale's top: {html}");
    }
}
