//! Which HTTP endpoints an API destination may call: public addresses
//! only, unless the bus allows private ones. Checked when a destination is
//! created or updated and again at every call (on the final URL, and on
//! every address its host name resolves to then), so neither a path
//! parameter in the host nor DNS rebinding gets around it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Whether `ip` is an address an API destination must not call unless
/// private destinations are allowed: loopback, unspecified, private (RFC
/// 1918, fc00::/7 — AWS's fd00:ec2::254 metadata service included),
/// link-local (169.254.0.0/16 — cloud metadata —, fe80::/10), carrier-grade
/// NAT (100.64.0.0/10), multicast, broadcast and reserved ranges, also when
/// written as an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6 address.
pub fn is_private_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (b & 0xc0) == 64)
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b & 0xfe) == 18)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                is_private_address(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
            };
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private_address(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[..6] == [0; 6] && embedded(s[6], s[7]))
                || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && embedded(s[6], s[7]))
                || (s[0] == 0x2002 && embedded(s[1], s[2]))
        }
    }
}

/// Refuses an endpoint whose host is a private address or a loopback name;
/// other names are checked when resolved ([`PublicOnly`]).
pub(crate) fn check_public_endpoint(endpoint: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| format!("not a URL ({e})"))?;
    let refused = |what: &str| {
        Err(format!(
            "{what} is a loopback, link-local or private address, which API destinations \
             may not call on this bus (events_allow_private_destinations)"
        ))
    };
    // The URL parser already normalised IPv4 spellings (`2130706433`,
    // `0x7f.1`) to dotted quads.
    let Some(host) = url.host_str() else {
        return Err("has no host".into());
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) if is_private_address(ip) => refused(&ip.to_string()),
        Ok(_) => Ok(()),
        Err(_) => {
            let name = bare.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                refused(&name)
            } else {
                Ok(())
            }
        }
    }
}

/// Resolves API destinations' host names to their public addresses only,
/// at each call, so a name that resolves (or is rebound) to a private
/// address is refused whatever it resolved to when the destination was
/// created.
pub(crate) struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| !is_private_address(a.ip()))
                .collect();
            if public.is_empty() && !all.is_empty() {
                return Err(format!(
                    "{host} resolves only to loopback, link-local or private addresses, which \
                     API destinations may not call on this bus (events_allow_private_destinations)"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_recognised_in_every_spelling() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            assert!(is_private_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn endpoints_on_private_hosts_are_refused() {
        for url in [
            "http://127.0.0.1:8080/x",
            "http://localhost/x",
            "http://api.localhost./x",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:10.0.0.1]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://10.1.2.3/",
        ] {
            let err = check_public_endpoint(url).unwrap_err();
            assert!(
                err.contains("events_allow_private_destinations"),
                "{url}: {err}"
            );
        }
        for url in [
            "https://saas.example/submit",
            "http://8.8.8.8/",
            "https://*/hook",
        ] {
            assert_eq!(check_public_endpoint(url), Ok(()), "{url}");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused() {
        use reqwest::dns::Resolve;
        let err = PublicOnly
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().contains("resolves only to"), "{err}");
    }
}
