//! `ScheduleExpression`s as AWS accepts and runs them: `rate(VALUE UNIT)`
//! and six-field `cron(MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK YEAR)` in
//! UTC, with `*`, `,`, `-`, `/`, `?`, `L`, `W` and `#`. [`Schedule::parse`]
//! decides what PutRule accepts; [`Schedule::next_after`] when a rule fires
//! next (the scheduler in `scheduler.rs` runs them).

use chrono::{Datelike, Duration as Days, NaiveDate, TimeZone, Timelike, Utc};

/// Whether `expr` is a schedule expression AWS accepts.
pub fn is_valid(expr: &str) -> bool {
    Schedule::parse(expr).is_some()
}

/// A parsed `ScheduleExpression`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// `rate(N unit)`: every `period_ms`, counted from when the rule was put.
    Rate {
        /// The period in milliseconds.
        period_ms: i64,
    },
    /// `cron(...)`: the minutes (UTC) the six fields match.
    Cron(Box<Cron>),
}

impl Schedule {
    /// Parses `expr`; `None` for anything AWS refuses.
    pub fn parse(expr: &str) -> Option<Schedule> {
        if let Some(inner) = expr.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            return parse_rate(inner).map(|period_ms| Schedule::Rate { period_ms });
        }
        if let Some(inner) = expr.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            return Cron::parse(inner).map(|c| Schedule::Cron(Box::new(c)));
        }
        None
    }

    /// The first fire time strictly after `after_ms` (epoch milliseconds).
    /// A rate counts its periods from `phase_ms` (when the rule was put, or
    /// its last fire time); a cron matches whole minutes. `None` when a
    /// cron never matches again (its years are over).
    pub fn next_after(&self, after_ms: i64, phase_ms: i64) -> Option<i64> {
        match self {
            Schedule::Rate { period_ms } => {
                if after_ms < phase_ms {
                    return Some(phase_ms + period_ms);
                }
                let periods = (after_ms - phase_ms) / period_ms + 1;
                Some(phase_ms + periods * period_ms)
            }
            Schedule::Cron(c) => c.next_after(after_ms),
        }
    }
}

/// `VALUE UNIT`: a positive whole number and `minute`/`hour`/`day`,
/// singular for 1 and plural otherwise, one space between, no other space.
/// The period in milliseconds.
fn parse_rate(inner: &str) -> Option<i64> {
    let (value, unit) = inner.split_once(' ')?;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = value.parse::<i64>().ok()?;
    let unit_ms: i64 = match unit {
        "minute" | "hour" | "day" if n != 1 => return None,
        "minutes" | "hours" | "days" if n <= 1 => return None,
        "minute" | "minutes" => 60_000,
        "hour" | "hours" => 3_600_000,
        "day" | "days" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One cron field: its bounds and the names it accepts.
struct Field {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Field = Field {
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    min: 1,
    max: 12,
    names: &MONTHS,
};
const DAY_OF_WEEK: Field = Field {
    min: 1,
    max: 7,
    names: &DAYS,
};
const YEAR: Field = Field {
    min: 1970,
    max: 2199,
    names: &[],
};

/// The values of one field that match, indexed by `value - min`.
type Values = Vec<bool>;

impl Field {
    /// A number within bounds, or one of the field's names (any case).
    fn value(&self, s: &str) -> Option<u32> {
        if let Some(i) = self.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Some(self.min + i as u32);
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().filter(|v| (self.min..=self.max).contains(v))
    }

    fn none(&self) -> Values {
        vec![false; (self.max - self.min + 1) as usize]
    }

    /// `*`, a value or a range `A-B` (wrapping past the maximum when
    /// `A > B`), optionally followed by `/STEP`; marks what it matches.
    fn item(&self, item: &str, into: &mut Values) -> Option<()> {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (b, Some(s)),
            None => (item, None),
        };
        let step = match step {
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse::<u32>().ok().filter(|s| *s >= 1)?
            }
            Some(_) => return None,
            None => 1,
        };
        let (from, to) = if base == "*" {
            (self.min, self.max)
        } else {
            match base.split_once('-') {
                Some((a, b)) => (self.value(a)?, self.value(b)?),
                // `5/15`: from 5 to the end; a lone value is itself.
                None => {
                    let v = self.value(base)?;
                    (
                        v,
                        if step > 1 || item.contains('/') {
                            self.max
                        } else {
                            v
                        },
                    )
                }
            }
        };
        let span = self.max - self.min + 1;
        let len = if to >= from {
            to - from
        } else {
            to + span - from
        };
        let mut k = 0;
        while k <= len {
            let v = self.min + (from - self.min + k) % span;
            into[(v - self.min) as usize] = true;
            k += step;
        }
        Some(())
    }

    /// A comma-separated list of plain items.
    fn list(&self, field: &str) -> Option<Values> {
        let mut v = self.none();
        if field.is_empty() {
            return None;
        }
        for item in field.split(',') {
            self.item(item, &mut v)?;
        }
        Some(v)
    }

    fn has(&self, values: &Values, v: u32) -> bool {
        v >= self.min
            && values
                .get((v - self.min) as usize)
                .copied()
                .unwrap_or(false)
    }
}

/// One item of the day-of-month field beyond plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MonthDay {
    /// `L`: the month's last day; `L-N`: N days before it.
    Last(u32),
    /// `LW`: the month's last weekday.
    LastWeekday,
    /// `NW`: the weekday nearest day N, within the month.
    NearestWeekday(u32),
}

/// One item of the day-of-week field beyond plain values (1 = SUN).
#[derive(Debug, Clone, PartialEq, Eq)]
enum WeekDay {
    /// `DL` (and `L` alone, Saturday): the month's last such day.
    Last(u32),
    /// `D#N`: the month's Nth such day.
    Nth(u32, u32),
}

/// Which days a cron matches: exactly one of day-of-month and day-of-week is `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DayRule {
    OfMonth {
        values: Values,
        special: Vec<MonthDay>,
    },
    OfWeek {
        values: Values,
        special: Vec<WeekDay>,
    },
}

/// A parsed six-field cron expression (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Values,
    hours: Values,
    months: Values,
    years: Values,
    days: DayRule,
}

impl Cron {
    fn parse(inner: &str) -> Option<Cron> {
        let fields: Vec<&str> = inner.split(' ').collect();
        let [minute, hour, dom, month, dow, year] = fields[..] else {
            return None;
        };
        if (dom == "?") == (dow == "?") {
            return None;
        }
        let days = if dom != "?" {
            let mut values = DAY_OF_MONTH.none();
            let mut special = Vec::new();
            if dom.is_empty() {
                return None;
            }
            for i in dom.split(',') {
                if i == "L" {
                    special.push(MonthDay::Last(0));
                } else if i == "LW" {
                    special.push(MonthDay::LastWeekday);
                } else if let Some(d) = i.strip_prefix("L-") {
                    special.push(MonthDay::Last(DAY_OF_MONTH.value(d)?));
                } else if let Some(d) = i.strip_suffix('W') {
                    special.push(MonthDay::NearestWeekday(DAY_OF_MONTH.value(d)?));
                } else {
                    DAY_OF_MONTH.item(i, &mut values)?;
                }
            }
            DayRule::OfMonth { values, special }
        } else {
            let mut values = DAY_OF_WEEK.none();
            let mut special = Vec::new();
            if dow.is_empty() {
                return None;
            }
            for i in dow.split(',') {
                if i == "L" {
                    special.push(WeekDay::Last(7));
                } else if let Some(d) = i.strip_suffix('L') {
                    special.push(WeekDay::Last(DAY_OF_WEEK.value(d)?));
                } else if let Some((d, n)) = i.split_once('#') {
                    if !matches!(n, "1" | "2" | "3" | "4" | "5") {
                        return None;
                    }
                    special.push(WeekDay::Nth(DAY_OF_WEEK.value(d)?, n.parse().ok()?));
                } else {
                    DAY_OF_WEEK.item(i, &mut values)?;
                }
            }
            DayRule::OfWeek { values, special }
        };
        Some(Cron {
            minutes: MINUTE.list(minute)?,
            hours: HOUR.list(hour)?,
            months: MONTH.list(month)?,
            years: YEAR.list(year)?,
            days,
        })
    }

    /// Whether the cron's day fields match `date`.
    fn day_matches(&self, date: NaiveDate) -> bool {
        let day = date.day();
        let last = last_day(date.year(), date.month());
        match &self.days {
            DayRule::OfMonth { values, special } => {
                DAY_OF_MONTH.has(values, day)
                    || special.iter().any(|s| match s {
                        MonthDay::Last(before) => last > *before && day == last - before,
                        MonthDay::LastWeekday => day == nearest_weekday(date, last, last),
                        MonthDay::NearestWeekday(n) => {
                            *n <= last && day == nearest_weekday(date, *n, last)
                        }
                    })
            }
            DayRule::OfWeek { values, special } => {
                let weekday = date.weekday().num_days_from_sunday() + 1;
                DAY_OF_WEEK.has(values, weekday)
                    || special.iter().any(|s| match s {
                        WeekDay::Last(d) => weekday == *d && day + 7 > last,
                        WeekDay::Nth(d, n) => weekday == *d && (day - 1) / 7 + 1 == *n,
                    })
            }
        }
    }

    /// The first matching whole minute strictly after `after_ms`.
    fn next_after(&self, after_ms: i64) -> Option<i64> {
        let start = Utc
            .timestamp_millis_opt(after_ms.div_euclid(60_000) * 60_000 + 60_000)
            .single()?;
        let mut date = start.date_naive();
        let first = date;
        while date.year() <= YEAR.max as i32 {
            let (y, m) = (date.year(), date.month());
            if y < YEAR.min as i32 || !YEAR.has(&self.years, y as u32) {
                date = NaiveDate::from_ymd_opt(y + 1, 1, 1)?;
                continue;
            }
            if !MONTH.has(&self.months, m) {
                date = if m == 12 {
                    NaiveDate::from_ymd_opt(y + 1, 1, 1)?
                } else {
                    NaiveDate::from_ymd_opt(y, m + 1, 1)?
                };
                continue;
            }
            if self.day_matches(date) {
                let (h0, m0) = if date == first {
                    (start.hour(), start.minute())
                } else {
                    (0, 0)
                };
                for h in h0..24 {
                    if !HOUR.has(&self.hours, h) {
                        continue;
                    }
                    let from = if h == h0 { m0 } else { 0 };
                    if let Some(min) = (from..60).find(|m| MINUTE.has(&self.minutes, *m)) {
                        let t = date.and_hms_opt(h, min, 0)?.and_utc();
                        return Some(t.timestamp_millis());
                    }
                }
            }
            date += Days::days(1);
        }
        None
    }
}

/// The last day of `month` in `year`.
fn last_day(year: i32, month: u32) -> u32 {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.and_then(|d| d.pred_opt()).map_or(31, |d| d.day())
}

/// The weekday nearest day `n` of `date`'s month, never leaving the month
/// (Saturday the 1st moves to Monday the 3rd, Sunday the last to Friday).
fn nearest_weekday(date: NaiveDate, n: u32, last: u32) -> u32 {
    let Some(d) = date.with_day(n) else {
        return 0;
    };
    match d.weekday().num_days_from_sunday() {
        6 if n == 1 => 3,
        6 => n - 1,
        0 if n == last => n - 2,
        0 => n + 1,
        _ => n,
    }
}

#[cfg(test)]
mod tests {
    use super::{is_valid, Schedule};

    fn ms(t: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis()
    }

    /// The next fire times of `expr` after `from`, as RFC 3339.
    fn fires(expr: &str, from: &str, n: usize) -> Vec<String> {
        let s = Schedule::parse(expr).unwrap_or_else(|| panic!("{expr}"));
        let mut t = ms(from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = s.next_after(t, ms(from)).unwrap();
            out.push(crate::Timestamp(t).to_rfc3339());
        }
        out
    }

    #[test]
    fn rates_count_from_their_phase() {
        assert_eq!(
            fires("rate(5 minutes)", "2026-03-01T10:00:30Z", 2),
            ["2026-03-01T10:05:30Z", "2026-03-01T10:10:30Z"]
        );
        let s = Schedule::parse("rate(1 hour)").unwrap();
        let phase = ms("2026-03-01T10:00:00Z");
        // Missed periods are skipped: the next is the first after `after`.
        assert_eq!(
            s.next_after(ms("2026-03-01T13:30:00Z"), phase),
            Some(ms("2026-03-01T14:00:00Z"))
        );
        assert_eq!(
            s.next_after(ms("2026-03-01T14:00:00Z"), phase),
            Some(ms("2026-03-01T15:00:00Z")),
            "strictly after"
        );
    }

    #[test]
    fn crons_fire_on_the_minutes_they_match() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "cron(0 12 * * ? *)",
                "2026-03-01T12:00:00Z",
                &["2026-03-02T12:00:00Z", "2026-03-03T12:00:00Z"],
            ),
            (
                "cron(5,35 14 * * ? *)",
                "2026-03-01T14:10:00Z",
                &["2026-03-01T14:35:00Z", "2026-03-02T14:05:00Z"],
            ),
            (
                "cron(0/15 * * * ? *)",
                "2026-03-01T10:07:59Z",
                &["2026-03-01T10:15:00Z", "2026-03-01T10:30:00Z"],
            ),
            // 2026-03-06 is a Friday.
            (
                "cron(0 18 ? * MON-FRI *)",
                "2026-03-06T18:00:00Z",
                &["2026-03-09T18:00:00Z", "2026-03-10T18:00:00Z"],
            ),
            (
                "cron(0 2 ? * SAT#3 *)",
                "2026-03-01T00:00:00Z",
                &["2026-03-21T02:00:00Z", "2026-04-18T02:00:00Z"],
            ),
            (
                "cron(0 0 L * ? *)",
                "2026-02-01T00:00:00Z",
                &["2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"],
            ),
            (
                "cron(0 0 L-2 * ? *)",
                "2026-02-01T00:00:00Z",
                &["2026-02-26T00:00:00Z", "2026-03-29T00:00:00Z"],
            ),
            // 2026-02-15 is a Sunday, 2026-08-01 a Saturday, 2026-05-31 a Sunday.
            (
                "cron(0 0 15W * ? *)",
                "2026-02-01T00:00:00Z",
                &["2026-02-16T00:00:00Z", "2026-03-16T00:00:00Z"],
            ),
            (
                "cron(0 0 1W 8 ? *)",
                "2026-07-01T00:00:00Z",
                &["2026-08-03T00:00:00Z"],
            ),
            (
                "cron(0 0 LW 5 ? *)",
                "2026-01-01T00:00:00Z",
                &["2026-05-29T00:00:00Z"],
            ),
            // The last Friday of the month.
            (
                "cron(15 10 ? * 6L *)",
                "2026-03-01T00:00:00Z",
                &["2026-03-27T10:15:00Z", "2026-04-24T10:15:00Z"],
            ),
            (
                "cron(0 0 1 JAN ? 2028-2029)",
                "2026-03-01T00:00:00Z",
                &["2028-01-01T00:00:00Z", "2029-01-01T00:00:00Z"],
            ),
            // A range that wraps past Saturday: FRI, SAT, SUN, MON.
            (
                "cron(0 9 ? * FRI-MON *)",
                "2026-03-03T00:00:00Z",
                &[
                    "2026-03-06T09:00:00Z",
                    "2026-03-07T09:00:00Z",
                    "2026-03-08T09:00:00Z",
                    "2026-03-09T09:00:00Z",
                    "2026-03-13T09:00:00Z",
                ],
            ),
            (
                "cron(0 0 29 2 ? *)",
                "2026-01-01T00:00:00Z",
                &["2028-02-29T00:00:00Z"],
            ),
        ];
        for (expr, from, want) in cases {
            assert_eq!(fires(expr, from, want.len()), *want, "{expr} from {from}");
        }
        let over = Schedule::parse("cron(0 0 1 1 ? 2020)").unwrap();
        assert_eq!(over.next_after(ms("2026-01-01T00:00:00Z"), 0), None);
    }

    /// The expressions AWS was recorded accepting and refusing.
    #[test]
    fn accepts_and_refuses_what_aws_does() {
        for ok in [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(1 hour)",
            "rate(12 hours)",
            "rate(1 day)",
            "rate(7 days)",
            "cron(0 2 ? * SAT *)",
            "cron(0 12 * * ? *)",
            "cron(5,35 14 * * ? *)",
            "cron(15 10 ? * 6L 2002-2005)",
            "cron(0 2 ? * SAT#3 *)",
            "cron(* * ? * SAT#3 *)",
            "cron(0/5 5 ? JAN 1-5 2022)",
            "cron(0 10 * * ? *)",
            "cron(15 12 * * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 8 1 * ? *)",
            "cron(0/15 * * * ? *)",
            "cron(0/10 * ? * MON-FRI *)",
            "cron(0/5 8-17 ? * MON-FRI *)",
            "cron(0/30 20-23 ? * MON-FRI *)",
            "cron(0/30 0-2 ? * MON-FRI *)",
            "cron(0 0 L * ? *)",
            "cron(0 0 15W * ? *)",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "rate(10 seconds)",
            "rate(10 years)",
            "rate(1 minutes)",
            "rate(1 hours)",
            "rate(1 days)",
            "rate(10 minute)",
            "rate(10 hour)",
            "rate(10 day)",
            "rate()",
            "rate(10)",
            "rate(10 minutess)",
            "rate(foo minutes)",
            "rate(0 minutes)",
            "rate(-10 minutes)",
            "rate(10 MINUTES)",
            "rate( 10 minutes )",
            " rate(10 minutes)",
            "cron(0 1 * * * *)",
            "cron(7 20 * * NOT *)",
            "cron(INVALID)",
            "cron(0 dummy ? * MON-FRI *)",
            "cron(71 8 1 * ? *)",
            "cron(0 12 * * ?)",
            "cron(0 12 ? * ? *)",
            "at(2030-01-01T00:00:00)",
            "",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
