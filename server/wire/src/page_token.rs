//! The page tokens of the voucher lists (search by reference, the
//! dead-letter queue): `<ms>.<loyalty_request_id>` of a page's last
//! voucher, which the next page starts after. Opaque to clients; encoded
//! and read here only.

/// The token of a page whose last voucher is `id`, at `ms` (its received
/// or dead-lettered time, per list).
pub fn encode(ms: i64, id: &str) -> String {
    format!("{ms}.{id}")
}

/// The `(ms, id)` a token stands for; `None` when it is not one.
pub fn decode(token: &str) -> Option<(i64, String)> {
    let (ms, id) = token.split_once('.')?;
    Some((ms.parse().ok()?, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_junk_is_refused() {
        let t = encode(1_765_000_000_123, "v-1.with.dots");
        assert_eq!(
            decode(&t),
            Some((1_765_000_000_123, "v-1.with.dots".into()))
        );
        assert_eq!(decode("12"), None);
        assert_eq!(decode("x.v-1"), None);
    }
}
