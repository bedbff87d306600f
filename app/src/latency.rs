//! Response time drawn as plain SVG (no chart library: the wasm budget
//! matters): the geometry both drawings share, the overview card's
//! sparkline, and milliseconds in words. The timeline's chart is in its lazy
//! route (`routes/timeline/latency_chart.rs`).

use leptos::prelude::*;

use crate::api::RecentLatency;

/// A latency as people read it: `0 ms`, `340 ms`, `1.25 s`, `12.3 s`.
pub fn fmt_ms(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=9_999 => format!("{:.2} s", ms as f64 / 1000.0),
        _ => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

/// `fmt_ms`, or an em dash without a value.
pub fn fmt_opt_ms(ms: Option<u64>) -> String {
    ms.map(fmt_ms).unwrap_or_else(|| "—".into())
}

/// The top of a chart's scale for values up to `max`: the next of 1, 2, 5
/// × 10ⁿ ms at or above it (at least 1 ms).
pub fn scale_top(max: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if let Some(top) = step.checked_mul(m) {
                if top >= max {
                    return top;
                }
            }
        }
        match step.checked_mul(10) {
            Some(s) => step = s,
            None => return u64::MAX,
        }
    }
}

/// The `points` attributes of the polylines drawing `values` on a
/// `width` × `height` box (y down, `top` at the top edge): one per run of
/// slots with a value, each slot at the middle of its `width / n` column. A
/// lone value is drawn as a short flat dash across its column's middle.
pub fn runs(values: &[Option<u64>], width: f64, height: f64, top: u64) -> Vec<String> {
    let n = values.len().max(1) as f64;
    let column = width / n;
    let y = |v: u64| height - (v.min(top) as f64 / top.max(1) as f64) * height;
    let mut out = Vec::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut flush = |run: &mut Vec<(f64, f64)>| {
        if let [(x, y)] = run.as_slice() {
            let d = column * 0.3;
            *run = vec![(x - d, *y), (x + d, *y)];
        }
        if !run.is_empty() {
            out.push(
                run.iter()
                    .map(|(x, y)| format!("{x:.1},{y:.1}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            run.clear();
        }
    };
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => run.push(((i as f64 + 0.5) * column, y(*v))),
            None => flush(&mut run),
        }
    }
    flush(&mut run);
    out
}

/// The overview card's sparkline: the median per minute over the last
/// hour, and the hour's p50 and p95 in words. Always rendered (empty when
/// nothing was checked), so live updates do not shift the card.
#[component]
pub fn Sparkline(part: String, latency: RecentLatency) -> impl IntoView {
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    let values = latency.p50_ms_per_minute;
    let top = scale_top(values.iter().flatten().copied().max().unwrap_or(0));
    let words = match (latency.p50_ms, latency.p95_ms) {
        (Some(p50), Some(p95)) => format!("p50 {} · p95 {}", fmt_ms(p50), fmt_ms(p95)),
        _ => "no checks in the last hour".to_string(),
    };
    let label = format!("Response time of {part} per minute over the last hour: {words}");
    // The lines as markup (numbers only): one attribute for the bundle to
    // carry instead of an element view per line.
    let lines: String = runs(&values, W, H, top)
        .into_iter()
        .map(|points| {
            format!(r#"<polyline class="p50" points="{points}" vector-effect="non-scaling-stroke"></polyline>"#)
        })
        .collect();
    view! {
        <div class="latency-spark" data-p50=latency.p50_ms.map(|v| v.to_string()) data-p95=latency.p95_ms.map(|v| v.to_string())>
            <span class="label">"Response time (1 h)"</span>
            <svg class="sparkline" viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none"
                role="img" aria-label=label inner_html=lines></svg>
            <span class="small latency-words">{words}</span>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_in_words() {
        assert_eq!(fmt_ms(0), "0 ms");
        assert_eq!(fmt_ms(340), "340 ms");
        assert_eq!(fmt_ms(1_250), "1.25 s");
        assert_eq!(fmt_ms(12_345), "12.3 s");
        assert_eq!(fmt_opt_ms(None), "—");
    }

    #[test]
    fn scales_end_on_round_numbers() {
        assert_eq!(scale_top(0), 1);
        assert_eq!(scale_top(3), 5);
        assert_eq!(scale_top(120), 200);
        assert_eq!(scale_top(500), 500);
        assert_eq!(scale_top(501), 1_000);
        assert_eq!(scale_top(u64::MAX), u64::MAX);
    }

    #[test]
    fn runs_break_at_gaps_and_dash_lone_values() {
        let v = [Some(0), Some(100), None, Some(50), None];
        let r = runs(&v, 50.0, 10.0, 100);
        assert_eq!(r, ["5.0,10.0 15.0,0.0", "32.0,5.0 38.0,5.0"]);
        assert!(runs(&[None, None], 10.0, 10.0, 1).is_empty());
        assert_eq!(
            runs(&[Some(500)], 10.0, 10.0, 100),
            ["2.0,0.0 8.0,0.0"],
            "clamped to the top"
        );
    }

    #[test]
    fn the_sparkline_draws_the_hour_and_says_it() {
        let mut minutes = vec![None; 60];
        minutes[10] = Some(12);
        minutes[11] = Some(30);
        let latency = RecentLatency {
            p50_ms_per_minute: minutes,
            p50_ms: Some(14),
            p95_ms: Some(30),
        };
        let html = view! { <Sparkline part="voucher".to_string() latency/> }.to_html();
        assert!(html.contains("p50 14 ms · p95 30 ms"), "{html}");
        assert_eq!(html.matches("<polyline").count(), 1, "{html}");
        let latency = RecentLatency::default();
        let empty = view! { <Sparkline part="voucher".to_string() latency/> }.to_html();
        assert!(empty.contains("no checks in the last hour"), "{empty}");
        assert!(empty.contains("<svg"), "{empty}");
    }
}
