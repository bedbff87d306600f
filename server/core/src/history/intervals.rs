//! Status intervals of one part over a range, and the hours it was checked
//! in: what uptime, bars and outages are computed from.

use crate::storage::history::ChangeRow;
use crate::storage::StoreError;

use super::{floor, History, HOUR_MS};

/// Status intervals of one part over a range, and the hours it was checked.
pub(super) struct PartData {
    /// (change id, start ms, status, prev status) in order; each lasts
    /// until the next. Before the first: no status yet (no data).
    pub(super) changes: Vec<(i64, i64, String, String)>,
    /// Runs of consecutive hour buckets with at least one check, as
    /// (first hour, last hour) in ms, in order.
    pub(super) covered: Vec<(i64, i64)>,
    /// The down intervals `(id, start, end)` of `changes`, in order (so
    /// their ends are in order too).
    pub(super) downs: Vec<(i64, i64, Option<i64>)>,
    pub(super) now: i64,
}

/// Seconds up, down and without data.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Split {
    pub(super) up: i64,
    pub(super) down: i64,
    pub(super) none: i64,
}

impl PartData {
    fn checked(&self, hour: i64) -> bool {
        let i = self.covered.partition_point(|r| r.1 < hour);
        self.covered.get(i).is_some_and(|r| r.0 <= hour)
    }

    /// Milliseconds up/down/without data in `[a, b)`. Time counts only in
    /// hours the part was checked in; the current hour counts as checked
    /// while the previous one was (its first check may be due). Walks the
    /// runs of checked hours (a handful), not the hours (2,160 in 90 days).
    pub(super) fn split(&self, a: i64, b: i64) -> Split {
        let mut s = Split::default();
        if b <= a {
            return s;
        }
        let known_end = b.min(self.now).max(a);
        s.none += b - known_end;
        // The current hour counts as checked while the previous one was:
        // it extends the run that ends with the previous hour.
        let current = floor(self.now, HOUR_MS);
        let extends = self.checked(current - HOUR_MS);
        let mut covered = 0;
        // One run earlier too: the run the current hour extends.
        let first = self
            .covered
            .partition_point(|r| r.1 + HOUR_MS <= a)
            .saturating_sub(1);
        for &(run_start, run_end) in &self.covered[first..] {
            if run_start >= known_end {
                break;
            }
            let mut end = run_end + HOUR_MS;
            if extends && run_end == current - HOUR_MS {
                end = current + HOUR_MS;
            }
            let (x, y) = (a.max(run_start), known_end.min(end));
            if y > x {
                self.split_status(x, y, &mut s);
                covered += y - x;
            }
        }
        s.none += (known_end - a) - covered;
        s
    }

    fn split_status(&self, x: i64, y: i64, s: &mut Split) {
        let c = &self.changes;
        // First interval that ends after x.
        let i = c.partition_point(|ch| ch.1 <= x);
        // Before the first change: no status yet.
        if i == 0 {
            let first = c.first().map_or(y, |ch| ch.1.min(y));
            s.none += first - x;
        }
        let mut k = i.saturating_sub(1);
        while k < c.len() && c[k].1 < y {
            let start = c[k].1.max(x);
            let end = c.get(k + 1).map_or(y, |n| n.1.min(y));
            if end > start {
                match c[k].2.as_str() {
                    "down" => s.down += end - start,
                    "up" => s.up += end - start,
                    _ => s.none += end - start,
                }
            }
            k += 1;
        }
    }

    /// Down intervals `(id, start, end)` overlapping `[a, b)`.
    pub(super) fn outages(&self, a: i64, b: i64) -> &[(i64, i64, Option<i64>)] {
        let d = &self.downs;
        let first = d.partition_point(|(_, _, e)| e.is_some_and(|e| e <= a));
        let last = d.partition_point(|(_, s, _)| *s < b).max(first);
        &d[first..last]
    }
}

/// The part's data for a range: the changes that matter for it (the one
/// in force at its start, those inside, the first after) and the hours it
/// was checked in (ascending hour starts).
fn part_data(rows: Vec<ChangeRow>, hours: Vec<i64>, now: i64) -> PartData {
    let changes: Vec<(i64, i64, String, String)> = rows
        .into_iter()
        .map(|r| (r.id, r.at_ms, r.status, r.prev_status))
        .collect();
    // Only the edges of the runs of checked hours are kept.
    let mut covered: Vec<(i64, i64)> = Vec::new();
    for hour in hours {
        match covered.last_mut() {
            Some(run) if hour - run.1 <= HOUR_MS => run.1 = hour,
            _ => covered.push((hour, hour)),
        }
    }
    let downs = changes
        .iter()
        .enumerate()
        .filter(|(_, ch)| ch.2 == "down")
        .map(|(k, ch)| (ch.0, ch.1, changes.get(k + 1).map(|n| n.1)))
        .collect();
    PartData {
        changes,
        covered,
        downs,
        now,
    }
}

impl History {
    /// The changes and checked hours of `part` for `[a, b)`.
    pub(super) async fn load_part(
        &self,
        part: &str,
        a: i64,
        b: i64,
        now: i64,
    ) -> Result<PartData, StoreError> {
        let rows = self.monitor.changes_around(part, a, b).await?;
        // From the hour before `a`: a run of checks reaching into the range.
        let hours = self
            .monitor
            .checked_hours(part, floor(a, HOUR_MS) - HOUR_MS, b)
            .await?;
        Ok(part_data(rows, hours, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::DAY_MS;

    #[test]
    fn splitting_by_runs_matches_hour_by_hour() {
        let h = HOUR_MS;
        let base = 1_800_000_000_000 - 1_800_000_000_000 % DAY_MS;
        let reference = |d: &PartData, a: i64, b: i64| {
            let mut s = Split::default();
            let known_end = b.min(d.now).max(a);
            s.none += b - known_end;
            let mut hr = floor(a, h);
            while hr < known_end {
                let (x, y) = (a.max(hr), known_end.min(hr + h));
                let covered = d.checked(hr) || (hr == floor(d.now, h) && d.checked(hr - h));
                if y > x {
                    if covered {
                        d.split_status(x, y, &mut s);
                    } else {
                        s.none += y - x;
                    }
                }
                hr += h;
            }
            s
        };
        let changes = vec![
            (
                1,
                base + 2 * h + 5_000,
                "up".to_string(),
                "unknown".to_string(),
            ),
            (
                2,
                base + 7 * h + 17_000,
                "down".to_string(),
                "up".to_string(),
            ),
            (
                3,
                base + 9 * h + 1_000,
                "up".to_string(),
                "down".to_string(),
            ),
            (
                4,
                base + 20 * h + 30_000,
                "down".to_string(),
                "up".to_string(),
            ),
        ];
        for (now_hour, covered) in [
            // The current hour (22) not checked yet, 21 was: it counts.
            (
                22,
                vec![(base + h, base + 5 * h), (base + 8 * h, base + 21 * h)],
            ),
            // 21 not checked: the current hour does not count.
            (
                22,
                vec![(base + h, base + 5 * h), (base + 8 * h, base + 20 * h)],
            ),
            // The current hour checked.
            (22, vec![(base, base + 22 * h)]),
            (3, vec![]),
        ] {
            let d = PartData {
                changes: changes.clone(),
                covered,
                downs: vec![],
                now: base + now_hour * h + 1_234_567,
            };
            for a in (0..25 * 4).map(|q| base + q * h / 4 + 7) {
                for len in [1, 60_000, h / 3, h, 5 * h + 11, 30 * h] {
                    assert_eq!(
                        d.split(a, a + len),
                        reference(&d, a, a + len),
                        "[{a}, +{len})"
                    );
                }
            }
        }
    }
}
