//! Which addresses outbound calls (webhooks, push services) may reach: public ones only,
//! unless the tenant allows private ones. A URL's host is checked again at every connection,
//! on the addresses it resolves to then, so a name that later points inside is still refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Loopback, private, link-local, shared (carrier NAT), unspecified, multicast, broadcast,
/// documentation, benchmarking and reserved ranges: none is a public internet host.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10 shared address space
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24 protocol assignments
        || (a == 198 && (18..20).contains(&b)) // 198.18.0.0/15 benchmarking
        || a >= 240 // 240.0.0.0/4 reserved
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_private_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (first & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // 2001:db8::/32 documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // 64:ff9b::/96 NAT64: may reach anything
}

/// Checks a URL for an outbound call: `http` or `https`, a host, no credentials; an IP literal
/// must be public unless `allow_private` (names are checked when resolved). Returns the host.
pub fn check_url(url: &str, allow_private: bool) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("the URL must start with https:// (or http://)".into()),
    }
    let authority = uri.authority().ok_or_else(|| "the URL has no host".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("the URL must not carry credentials".into());
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    if let Ok(ip) = host.parse::<IpAddr>()
        && !allow_private
        && is_private(ip)
    {
        return Err(format!("{ip} is a loopback, private or link-local address"));
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_addresses_are_private() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_credentials_and_literal_addresses() {
        assert_eq!(check_url("https://crm.example.com/hooks", false).unwrap(), "crm.example.com");
        assert!(check_url("ftp://crm.example.com/", false).is_err());
        assert!(check_url("https://user:pw@crm.example.com/", false).is_err());
        assert!(check_url("http://127.0.0.1:8080/hook", false).is_err());
        assert!(check_url("http://[::1]:8080/hook", false).is_err());
        assert!(check_url("http://169.254.169.254/latest/meta-data", false).is_err());
        assert_eq!(check_url("http://127.0.0.1:8080/hook", true).unwrap(), "127.0.0.1");
    }
}
