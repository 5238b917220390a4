//! Host names and addresses as the proxy code compares and writes them.

use std::net::IpAddr;

/// A host as exclusion rules compare it: an IP address (so `::1`, `[::1]` and `0:0::1` are the
/// same host), or a lowercased name without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Host {
    /// Never fails: anything that is not an IP literal is a name, which at worst matches nothing.
    pub(crate) fn parse(host: &str) -> Host {
        let host = host.trim();
        if let Ok(ip) = strip_brackets(host).parse::<IpAddr>() {
            return Host::Ip(ip);
        }
        Host::Name(normalize_name(host))
    }
}

/// Lowercase, without one trailing dot: `Example.COM.` and `example.com` are the same name.
pub(crate) fn normalize_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// `[::1]` → `::1`; anything else unchanged.
pub(crate) fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Is `name` a strict subdomain of `domain` (`a.example.com` of `example.com`)? Both already
/// normalized.
pub(crate) fn is_subdomain(name: &str, domain: &str) -> bool {
    name.len() > domain.len()
        && name.ends_with(domain)
        && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
}

/// Checks a host for use on the wire or for connecting, and gives it in the form
/// [`ProxyEndpoint`](super::ProxyEndpoint) keeps: IP addresses in canonical text without
/// brackets, names as given. `Err` says why it is unusable.
pub(crate) fn canonical_host(host: &str) -> Result<String, String> {
    let bare = strip_brackets(host);
    if bare.is_empty() {
        return Err("the host is empty".into());
    }
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    if bare.len() != host.len() {
        return Err("brackets may only enclose an IPv6 address".into());
    }
    if bare.contains(':') {
        return Err("not an IPv6 address, and ':' is not allowed in a host name".into());
    }
    // The same rule as ws_proto's URL parser, so every host it accepts can be tunnelled to.
    if !ws_proto::handshake::is_valid_host_name(bare) {
        return Err(
            "a host name may only contain ASCII letters, digits, '-', '.', '_' and %-escapes"
                .into(),
        );
    }
    Ok(bare.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_compare_as_addresses_or_normalized_names() {
        assert_eq!(Host::parse("::1"), Host::parse("[::1]"));
        assert_eq!(Host::parse("0:0::1"), Host::parse("[::1]"));
        assert_eq!(Host::parse("127.0.0.1"), Host::Ip([127, 0, 0, 1].into()));
        assert_eq!(
            Host::parse("Example.COM."),
            Host::Name("example.com".into())
        );
        assert_eq!(
            Host::parse(" example.com "),
            Host::Name("example.com".into())
        );
        assert_ne!(Host::parse("127.0.0.1"), Host::parse("::ffff:127.0.0.1"));
    }

    #[test]
    fn subdomains() {
        assert!(is_subdomain("a.example.com", "example.com"));
        assert!(is_subdomain("b.a.example.com", "example.com"));
        assert!(!is_subdomain("example.com", "example.com"));
        assert!(!is_subdomain("badexample.com", "example.com"));
        assert!(!is_subdomain("com", "example.com"));
    }

    #[test]
    fn canonical_hosts() {
        assert_eq!(canonical_host("[::1]").unwrap(), "::1");
        assert_eq!(canonical_host("0:0::1").unwrap(), "::1");
        assert_eq!(canonical_host("10.0.0.1").unwrap(), "10.0.0.1");
        assert_eq!(canonical_host("Example.com").unwrap(), "Example.com");
        assert_eq!(canonical_host("ex%41mple.com").unwrap(), "ex%41mple.com");
        for bad in [
            "",
            "[]",
            "[example.com]",
            "a:b",
            "fe80::1%eth0",
            "exa mple.com",
            "example.com\r\nX-Evil: 1",
            "bad%zz",
            "bad%4",
            "münchen.de",
            "a/b",
            "user@host",
        ] {
            assert!(canonical_host(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
