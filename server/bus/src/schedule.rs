//! `ScheduleExpression` syntax as AWS accepts it: `rate(VALUE UNIT)` and
//! six-field `cron(MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK YEAR)`.
//! Scheduled rules are stored, never fired: this only decides what PutRule
//! accepts.

/// Whether `expr` is a schedule expression AWS accepts.
pub fn is_valid(expr: &str) -> bool {
    if let Some(inner) = expr.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        return is_valid_rate(inner);
    }
    if let Some(inner) = expr.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        return is_valid_cron(inner);
    }
    false
}

/// `VALUE UNIT`: a positive whole number and `minute`/`hour`/`day`,
/// singular for 1 and plural otherwise, one space between, no other space.
fn is_valid_rate(inner: &str) -> bool {
    let Some((value, unit)) = inner.split_once(' ') else {
        return false;
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(n) = value.parse::<u64>() else {
        return false;
    };
    match unit {
        "minute" | "hour" | "day" => n == 1,
        "minutes" | "hours" | "days" => n > 1,
        _ => false,
    }
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

    /// `*`, a value or a range `A-B`, optionally followed by `/STEP`.
    fn is_valid_item(&self, item: &str) -> bool {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (b, Some(s)),
            None => (item, None),
        };
        if let Some(step) = step {
            let ok = !step.is_empty()
                && step.bytes().all(|b| b.is_ascii_digit())
                && step.parse::<u32>().is_ok_and(|s| s >= 1);
            if !ok {
                return false;
            }
        }
        if base == "*" {
            return true;
        }
        match base.split_once('-') {
            Some((a, b)) => self.value(a).is_some() && self.value(b).is_some(),
            None => self.value(base).is_some(),
        }
    }

    /// A comma-separated list of items, each checked by `item`.
    fn is_valid_list(&self, field: &str, item: impl Fn(&str) -> bool) -> bool {
        !field.is_empty() && field.split(',').all(item)
    }
}

/// Six fields; exactly one of day-of-month and day-of-week is `?`.
fn is_valid_cron(inner: &str) -> bool {
    let fields: Vec<&str> = inner.split(' ').collect();
    let [minute, hour, dom, month, dow, year] = fields[..] else {
        return false;
    };
    if (dom == "?") == (dow == "?") {
        return false;
    }
    let dom_ok = dom == "?"
        || DAY_OF_MONTH.is_valid_list(dom, |i| {
            matches!(i, "L" | "LW")
                || i.strip_suffix('W')
                    .is_some_and(|d| DAY_OF_MONTH.value(d).is_some())
                || i.strip_prefix("L-")
                    .is_some_and(|d| DAY_OF_MONTH.value(d).is_some())
                || DAY_OF_MONTH.is_valid_item(i)
        });
    let dow_ok = dow == "?"
        || DAY_OF_WEEK.is_valid_list(dow, |i| {
            i == "L"
                || i.strip_suffix('L')
                    .is_some_and(|d| DAY_OF_WEEK.value(d).is_some())
                || i.split_once('#').is_some_and(|(d, n)| {
                    DAY_OF_WEEK.value(d).is_some() && matches!(n, "1" | "2" | "3" | "4" | "5")
                })
                || DAY_OF_WEEK.is_valid_item(i)
        });
    dom_ok
        && dow_ok
        && MINUTE.is_valid_list(minute, |i| MINUTE.is_valid_item(i))
        && HOUR.is_valid_list(hour, |i| HOUR.is_valid_item(i))
        && MONTH.is_valid_list(month, |i| MONTH.is_valid_item(i))
        && YEAR.is_valid_list(year, |i| YEAR.is_valid_item(i))
}

#[cfg(test)]
mod tests {
    use super::is_valid;

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
