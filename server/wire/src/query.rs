//! Query strings the console and the API build for links (the voucher
//! list's filter, a voucher's trace): percent-encoding of their values.

/// Percent-encodes a query value: everything but RFC 3986's unreserved
/// characters and the `:` and `,` a query may carry as they are (so times
/// and status lists stay readable in a shared link).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b',' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_encoded_but_times_and_lists_stay_readable() {
        assert_eq!(
            super::encode("2026-12-07T02:00:00+01:00"),
            "2026-12-07T02:00:00%2B01:00"
        );
        assert_eq!(super::encode("retry,dead_lettered"), "retry,dead_lettered");
        assert_eq!(super::encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
