//! Number handling shared by patterns and events: which literals can be compared
//! numerically (event-ruler's `ComparableNumber`: the literal must be a finite double
//! whose shortest decimal form has the same value as the literal).

/// Parse a JSON number literal as a comparable `f64`, or return AWS's reason.
pub(crate) fn comparable(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("Cannot compare number : {text}"))?;
    if !v.is_finite() || !same_decimal(text, v) {
        return Err(format!("Cannot compare number : {text}"));
    }
    Ok(if v == 0.0 { 0.0 } else { v })
}

/// Decimal normal form: (negative, significant digits, exponent of the first digit).
fn normal(text: &str) -> Option<(bool, String, i64)> {
    let (neg, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mant, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    let digits: String = format!("{int}{frac}");
    let lead = digits.bytes().take_while(|&b| b == b'0').count();
    let sig = digits[lead..].trim_end_matches('0').to_string();
    if sig.is_empty() {
        return Some((false, String::new(), 0));
    }
    let point = int.len() as i64 - lead as i64 + exp;
    Some((neg, sig, point))
}

fn same_decimal(text: &str, v: f64) -> bool {
    let shortest = format!("{v:e}");
    match (normal(text), normal(&shortest)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparable_numbers() {
        assert_eq!(comparable("300").unwrap(), 300.0);
        assert_eq!(comparable("3.0e2").unwrap(), 300.0);
        assert_eq!(comparable("0.1").unwrap(), 0.1);
        assert_eq!(comparable("-0").unwrap(), 0.0);
        assert_eq!(comparable("1e2").unwrap(), 100.0);
        assert_eq!(comparable("000.5e1").unwrap(), 5.0);
        assert!(comparable("1e400").is_err());
        assert!(comparable("0.30000000000000001").is_err());
        assert!(comparable("123456789012").is_ok());
    }
}
