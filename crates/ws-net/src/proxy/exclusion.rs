//! Which targets bypass the proxy: explicit exclusion lists ([`HttpProxy::exclusions`]) and
//! the `no_proxy` environment variable.
//!
//! The two follow different conventions on purpose. Explicit lists are written for this crate
//! and say exactly what they mean (`*.example.com` is only the subdomains). `no_proxy` is shared
//! with curl, wget and most other tools, so it follows curl: `example.com` and `.example.com`
//! both cover the domain and its subdomains, and entries may carry a port.
//!
//! [`HttpProxy::exclusions`]: super::HttpProxy::exclusions

use std::net::IpAddr;

use super::host::{is_subdomain, normalize_name, strip_brackets, Host};

/// Does any of the explicit `rules` cover `host`?
///
/// `*` covers every host, `*.example.com` the subdomains of `example.com` (not the domain
/// itself), anything else exactly that host: names case-insensitively, IP literals as addresses.
pub(crate) fn explicit_excludes(rules: &[String], host: &str) -> bool {
    let target = Host::parse(host);
    rules.iter().any(|rule| explicit_rule_covers(rule, &target))
}

fn explicit_rule_covers(rule: &str, target: &Host) -> bool {
    let rule = rule.trim();
    if rule.is_empty() {
        return false;
    }
    if rule == "*" {
        return true;
    }
    if let Some(domain) = rule.strip_prefix("*.") {
        let domain = normalize_name(domain);
        return match target {
            Host::Name(name) => !domain.is_empty() && is_subdomain(name, &domain),
            Host::Ip(_) => false,
        };
    }
    Host::parse(rule) == *target
}

/// One entry of a `no_proxy` list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NoProxyEntry {
    /// `*`
    All,
    /// `example.com`, `.example.com`, `*.example.com`, optionally with `:port`: the domain and
    /// its subdomains.
    Domain { domain: String, port: Option<u16> },
    /// `10.0.0.1`, `::1`, `[::1]`, `10.0.0.1:8080`, `[::1]:8080`.
    Ip { addr: IpAddr, port: Option<u16> },
    /// `10.0.0.0/8`, `fe80::/10` (curl accepts CIDR blocks too).
    Network { addr: IpAddr, prefix: u8 },
}

/// Does the `no_proxy` value cover `host:port`?
///
/// Entries are separated by commas or white space; malformed entries (a bad port, a bad CIDR
/// block) are skipped like curl skips them, rather than failing the connection.
pub(crate) fn no_proxy_excludes(no_proxy: &str, host: &str, port: u16) -> bool {
    let target = Host::parse(host);
    no_proxy
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(parse_no_proxy_entry)
        .any(|entry| no_proxy_entry_covers(&entry, &target, port))
}

fn parse_no_proxy_entry(entry: &str) -> Option<NoProxyEntry> {
    let entry = entry.trim();
    if entry.is_empty() {
        return None;
    }
    if entry == "*" {
        return Some(NoProxyEntry::All);
    }
    if let Some((addr, prefix)) = entry.split_once('/') {
        let addr: IpAddr = strip_brackets(addr).parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = parse_digits::<u8>(prefix).filter(|&p| p <= max)?;
        return Some(NoProxyEntry::Network { addr, prefix });
    }
    if let Some(bracketed) = entry.strip_prefix('[') {
        let (literal, after) = bracketed.split_once(']')?;
        let addr: IpAddr = literal.parse().ok()?;
        let port = match after {
            "" => None,
            _ => Some(parse_digits::<u16>(after.strip_prefix(':')?)?),
        };
        return Some(NoProxyEntry::Ip { addr, port });
    }
    // A whole bare IPv6 address has colons but no port.
    if let Ok(addr) = entry.parse::<IpAddr>() {
        return Some(NoProxyEntry::Ip { addr, port: None });
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) => (host, Some(parse_digits::<u16>(port)?)),
        None => (entry, None),
    };
    if let Ok(addr) = host.parse::<IpAddr>() {
        return Some(NoProxyEntry::Ip { addr, port });
    }
    let domain = host
        .strip_prefix("*.")
        .or_else(|| host.strip_prefix('.'))
        .unwrap_or(host);
    let domain = normalize_name(domain);
    if domain.is_empty() || domain.contains(':') {
        return None;
    }
    Some(NoProxyEntry::Domain { domain, port })
}

fn no_proxy_entry_covers(entry: &NoProxyEntry, target: &Host, target_port: u16) -> bool {
    let port_ok = |port: &Option<u16>| port.is_none_or(|p| p == target_port);
    match (entry, target) {
        (NoProxyEntry::All, _) => true,
        (NoProxyEntry::Domain { domain, port }, Host::Name(name)) => {
            (name == domain || is_subdomain(name, domain)) && port_ok(port)
        }
        (NoProxyEntry::Ip { addr, port }, Host::Ip(ip)) => addr == ip && port_ok(port),
        (NoProxyEntry::Network { addr, prefix }, Host::Ip(ip)) => in_network(*ip, *addr, *prefix),
        _ => false,
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Only ASCII digits: `str::parse` would also take a leading `+`.
fn parse_digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn explicit_star_covers_everything() {
        let r = rules(&["*"]);
        for host in ["example.com", "localhost", "127.0.0.1", "::1", "[::1]"] {
            assert!(explicit_excludes(&r, host), "{host}");
        }
    }

    #[test]
    fn explicit_wildcard_covers_only_subdomains() {
        let r = rules(&["*.example.com"]);
        assert!(explicit_excludes(&r, "a.example.com"));
        assert!(explicit_excludes(&r, "deep.a.example.com"));
        assert!(explicit_excludes(&r, "A.Example.COM"));
        assert!(explicit_excludes(&r, "a.example.com."));
        assert!(!explicit_excludes(&r, "example.com"));
        assert!(!explicit_excludes(&r, "badexample.com"));
        assert!(!explicit_excludes(&r, "example.com.evil.org"));
        assert!(!explicit_excludes(&r, "127.0.0.1"));
        assert!(!explicit_excludes(&rules(&["*."]), "example.com"));
    }

    #[test]
    fn explicit_names_match_exactly_and_case_insensitively() {
        let r = rules(&["Example.com", " localhost "]);
        assert!(explicit_excludes(&r, "example.com"));
        assert!(explicit_excludes(&r, "EXAMPLE.COM"));
        assert!(explicit_excludes(&r, "example.com."));
        assert!(explicit_excludes(&r, "LocalHost"));
        assert!(!explicit_excludes(&r, "www.example.com"));
        assert!(!explicit_excludes(&r, "example.org"));
        // No curl-style leading-dot convention here: ".example.com" is a (useless) exact name.
        assert!(!explicit_excludes(
            &rules(&[".example.com"]),
            "a.example.com"
        ));
    }

    #[test]
    fn explicit_ip_literals_compare_as_addresses() {
        let r = rules(&["::1", "10.0.0.1"]);
        assert!(explicit_excludes(&r, "::1"));
        assert!(explicit_excludes(&r, "[::1]"));
        assert!(explicit_excludes(&r, "0:0:0:0:0:0:0:1"));
        assert!(explicit_excludes(&r, "10.0.0.1"));
        assert!(!explicit_excludes(&r, "10.0.0.2"));
        assert!(!explicit_excludes(&r, "::2"));
        assert!(explicit_excludes(&rules(&["[::1]"]), "::1"));
        assert!(explicit_excludes(&rules(&["[2001:DB8::1]"]), "2001:db8::1"));
    }

    #[test]
    fn explicit_empty_lists_and_blank_rules_cover_nothing() {
        assert!(!explicit_excludes(&[], "example.com"));
        assert!(!explicit_excludes(&rules(&["", "  "]), "example.com"));
        assert!(!explicit_excludes(&rules(&[""]), ""));
    }

    #[test]
    fn no_proxy_star_covers_everything() {
        assert!(no_proxy_excludes("*", "example.com", 443));
        assert!(no_proxy_excludes("*", "::1", 80));
        assert!(no_proxy_excludes("example.org, *", "10.1.2.3", 80));
    }

    #[test]
    fn no_proxy_domains_cover_subdomains_with_or_without_leading_dot() {
        for list in [
            "example.com",
            ".example.com",
            "*.example.com",
            "EXAMPLE.com.",
        ] {
            assert!(no_proxy_excludes(list, "example.com", 443), "{list}");
            assert!(no_proxy_excludes(list, "www.example.com", 443), "{list}");
            assert!(no_proxy_excludes(list, "a.b.Example.COM", 443), "{list}");
            assert!(!no_proxy_excludes(list, "badexample.com", 443), "{list}");
            assert!(
                !no_proxy_excludes(list, "example.com.evil.org", 443),
                "{list}"
            );
            assert!(!no_proxy_excludes(list, "example.org", 443), "{list}");
        }
    }

    #[test]
    fn no_proxy_lists_split_on_commas_and_white_space() {
        let list = " localhost,  example.org\t.internal ,,10.0.0.1 ";
        assert!(no_proxy_excludes(list, "localhost", 80));
        assert!(no_proxy_excludes(list, "example.org", 80));
        assert!(no_proxy_excludes(list, "db.internal", 80));
        assert!(no_proxy_excludes(list, "10.0.0.1", 80));
        assert!(!no_proxy_excludes(list, "example.com", 80));
        assert!(!no_proxy_excludes("", "example.com", 80));
        assert!(!no_proxy_excludes(" , ,", "example.com", 80));
    }

    #[test]
    fn no_proxy_ports_restrict_entries() {
        assert!(no_proxy_excludes("example.com:8080", "example.com", 8080));
        assert!(no_proxy_excludes(
            "example.com:8080",
            "api.example.com",
            8080
        ));
        assert!(!no_proxy_excludes("example.com:8080", "example.com", 443));
        assert!(no_proxy_excludes("10.0.0.1:8080", "10.0.0.1", 8080));
        assert!(!no_proxy_excludes("10.0.0.1:8080", "10.0.0.1", 80));
        assert!(no_proxy_excludes("[::1]:8080", "::1", 8080));
        assert!(no_proxy_excludes("[::1]:8080", "[::1]", 8080));
        assert!(!no_proxy_excludes("[::1]:8080", "::1", 9090));
        // A bad port makes the entry malformed: it is skipped, the next one still counts.
        assert!(!no_proxy_excludes("example.com:http", "example.com", 80));
        assert!(!no_proxy_excludes("example.com:99999", "example.com", 80));
        assert!(!no_proxy_excludes("example.com:+80", "example.com", 80));
        assert!(!no_proxy_excludes("example.com:", "example.com", 80));
        assert!(no_proxy_excludes(
            "example.com:x,example.com",
            "example.com",
            80
        ));
    }

    #[test]
    fn no_proxy_ip_addresses_compare_as_addresses() {
        assert!(no_proxy_excludes("127.0.0.1", "127.0.0.1", 80));
        assert!(!no_proxy_excludes("127.0.0.1", "127.0.0.2", 80));
        assert!(no_proxy_excludes("::1", "::1", 80));
        assert!(no_proxy_excludes("::1", "[::1]", 80));
        assert!(no_proxy_excludes("[::1]", "::1", 80));
        assert!(no_proxy_excludes("0:0::1", "[::1]", 443));
        assert!(no_proxy_excludes("2001:DB8::1", "2001:db8::1", 443));
        assert!(!no_proxy_excludes("::1", "::2", 80));
        // Addresses are not names: no subdomain matching, no match against host names.
        assert!(!no_proxy_excludes("0.0.1", "10.0.0.1", 80));
        assert!(!no_proxy_excludes("127.0.0.1", "localhost", 80));
        assert!(!no_proxy_excludes("localhost", "127.0.0.1", 80));
    }

    #[test]
    fn no_proxy_cidr_blocks() {
        assert!(no_proxy_excludes("10.0.0.0/8", "10.200.3.4", 80));
        assert!(!no_proxy_excludes("10.0.0.0/8", "11.0.0.1", 80));
        assert!(no_proxy_excludes("192.168.1.0/24", "192.168.1.77", 80));
        assert!(!no_proxy_excludes("192.168.1.0/24", "192.168.2.1", 80));
        assert!(no_proxy_excludes("0.0.0.0/0", "8.8.8.8", 80));
        assert!(no_proxy_excludes("10.0.0.1/32", "10.0.0.1", 80));
        assert!(!no_proxy_excludes("10.0.0.1/32", "10.0.0.2", 80));
        assert!(no_proxy_excludes("fe80::/10", "fe80::1", 80));
        assert!(no_proxy_excludes("[fe80::]/10", "[febf::1]", 80));
        assert!(!no_proxy_excludes("fe80::/10", "fec0::1", 80));
        assert!(!no_proxy_excludes("10.0.0.0/8", "::ffff:10.0.0.1", 80));
        assert!(!no_proxy_excludes("10.0.0.0/8", "example.com", 80));
        // Malformed blocks are skipped.
        assert!(!no_proxy_excludes("10.0.0.0/33", "10.0.0.1", 80));
        assert!(!no_proxy_excludes("10.0.0.0/", "10.0.0.1", 80));
        assert!(!no_proxy_excludes("example.com/8", "example.com", 80));
    }

    #[test]
    fn no_proxy_malformed_entries_are_skipped() {
        for bad in [
            "[::1",
            "[::1]x",
            "[example.com]",
            "[::1]:",
            ".",
            "*.",
            ":80",
            "a:b:c",
        ] {
            assert_eq!(parse_no_proxy_entry(bad), None, "{bad:?}");
        }
    }
}
