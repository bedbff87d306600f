//! Numbers as the console shows them.

/// A count with thousands separators: `100,000`, `-1,234`, `999`.
pub fn thousands(n: impl std::fmt::Display) -> String {
    grouped(&n.to_string())
}

fn grouped(digits: &str) -> String {
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", digits),
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    out.push_str(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999u64), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(100_000u32), "100,000");
        assert_eq!(thousands(1_234_567i64), "1,234,567");
        assert_eq!(thousands(-1234), "-1,234");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}
