//! Host names as the listeners' `Host` allow-lists read them: the name of a
//! `Host` header value, and what counts as a DNS host name in a setting.

/// The host name of a `Host` header value: lower case, without the port,
/// the brackets of an IPv6 address or a trailing dot.
pub(crate) fn host_name(value: &str) -> String {
    let value = value.trim();
    let name = if let Some(rest) = value.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        value
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(value, |(h, _)| h)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `name` is made of DNS labels: 1 to 63 letters, digits or `-`
/// each, separated by dots.
pub(crate) fn is_dns_name(name: &str) -> bool {
    name.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}
