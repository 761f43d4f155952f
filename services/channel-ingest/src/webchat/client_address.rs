//! Who a visitor API request comes from, for the per-address limits: the TCP peer, or, when
//! the peer is one of the configured trusted proxies, the rightmost `X-Forwarded-For` address
//! that is not a trusted proxy (every proxy appends the peer it saw, so entries left of the
//! first untrusted one are the client's to invent). IPv6 clients are counted per /64: one
//! subscriber usually holds a whole /64 and could otherwise take a fresh address per request.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// An address block, `10.0.0.0/8` or `fd00::/8` (a bare address is a block of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr =
            address.parse().map_err(|_| format!("{text:?} is not an address block like 10.0.0.0/8 or fd00::/8"))?;
        let network = canonical(network);
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {bits}"))?,
        };
        Ok(Self { network, prefix })
    }

    /// Comma-separated blocks; blank entries are skipped, so "" is no block.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(Self::parse).collect()
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, canonical(address)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(u128::from(u32::from(net)) << 96, u128::from(u32::from(ip)) << 96, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => same_prefix(u128::from(net), u128::from(ip), self.prefix),
            _ => false,
        }
    }
}

fn same_prefix(a: u128, b: u128, prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
    a & mask == b & mask
}

/// An IPv4 address written as IPv6 (`::ffff:203.0.113.7`) is that IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (some proxies add it).
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip())).map(canonical)
}

/// The client of a request that arrived from `peer` with these `X-Forwarded-For` header
/// values (in the order received), given the trusted proxies.
pub fn client_address<'a>(peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.iter().any(|c| c.contains(peer)) {
        return peer;
    }
    let entries: Vec<&str> =
        forwarded_for.flat_map(|value| value.split(',')).map(str::trim).filter(|e| !e.is_empty()).collect();
    // The nearest hop so far: every address right of here was a trusted proxy.
    let mut nearest = peer;
    for entry in entries.iter().rev() {
        match forwarded_address(entry) {
            Some(address) if trusted.iter().any(|c| c.contains(address)) => nearest = address,
            Some(address) => return address,
            // A trusted proxy passed on something that is not an address: all we know is the
            // hop that passed it.
            None => return nearest,
        }
    }
    nearest
}

/// The key the per-address limits count under: the IPv4 address, or the IPv6 /64.
pub fn rate_key(address: IpAddr) -> String {
    match canonical(address) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64));
            format!("{network}/64")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(text: &str) -> Vec<Cidr> {
        Cidr::parse_list(text).unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let client = client_address(ip("198.51.100.7"), ["203.0.113.1"].into_iter(), &[]);
        assert_eq!(client, ip("198.51.100.7"));
        // Nor when the request does not come from a trusted proxy.
        let client = client_address(ip("198.51.100.7"), ["203.0.113.1"].into_iter(), &proxies("10.0.0.0/8"));
        assert_eq!(client, ip("198.51.100.7"));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = proxies("10.0.0.0/8, 192.168.1.1");
        // The client forged two entries; the ingress appended the real peer, a second proxy
        // appended the ingress.
        let headers = ["1.1.1.1, 2.2.2.2", "203.0.113.9, 10.1.2.3"];
        assert_eq!(client_address(ip("192.168.1.1"), headers.into_iter(), &trusted), ip("203.0.113.9"));
        // One proxy, one entry.
        assert_eq!(client_address(ip("10.0.0.5"), ["203.0.113.9"].into_iter(), &trusted), ip("203.0.113.9"));
        // With a port, and IPv6 in brackets.
        assert_eq!(client_address(ip("10.0.0.5"), ["203.0.113.9:5123"].into_iter(), &trusted), ip("203.0.113.9"));
        assert_eq!(client_address(ip("10.0.0.5"), ["[2001:db8::1]:443"].into_iter(), &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn a_trusted_proxy_with_no_or_a_garbled_header_is_its_own_client() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(client_address(ip("10.0.0.5"), std::iter::empty(), &trusted), ip("10.0.0.5"));
        assert_eq!(client_address(ip("10.0.0.5"), ["10.9.9.9"].into_iter(), &trusted), ip("10.9.9.9"));
        assert_eq!(client_address(ip("10.0.0.5"), ["unknown, 10.2.2.2"].into_iter(), &trusted), ip("10.2.2.2"));
        assert_eq!(client_address(ip("10.0.0.5"), ["1.2.3.4, <script>"].into_iter(), &trusted), ip("10.0.0.5"));
    }

    #[test]
    fn ipv4_written_as_ipv6_is_ipv4() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(
            client_address(ip("::ffff:10.0.0.5"), ["::ffff:203.0.113.9"].into_iter(), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(rate_key(ip("::ffff:203.0.113.9")), "203.0.113.9");
    }

    #[test]
    fn ipv6_clients_are_counted_per_slash_64() {
        assert_eq!(rate_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), "2001:db8:1:2::/64");
        assert_eq!(rate_key(ip("2001:db8:1:2::1")), rate_key(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(rate_key(ip("2001:db8:1:2::1")), rate_key(ip("2001:db8:1:3::1")));
        assert_eq!(rate_key(ip("203.0.113.9")), "203.0.113.9");
    }

    #[test]
    fn blocks_contain_what_their_prefix_covers() {
        let block = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(block.contains(ip("10.255.0.1")) && !block.contains(ip("11.0.0.1")));
        assert!(!block.contains(ip("::a00:1")), "IPv6 is not in an IPv4 block");
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(!Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
        for nonsense in ["10.0.0.0/33", "::/129", "ingress", "10.0.0.0/x", "10.0.0/8"] {
            assert!(Cidr::parse(nonsense).is_err(), "{nonsense}");
        }
        assert_eq!(Cidr::parse_list(" , ").unwrap(), vec![]);
    }
}
