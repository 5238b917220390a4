//! The `host:port` text of URLs, `Host` headers and proxy requests.

use std::borrow::Cow;

/// `host` as it appears before a `:port`: an IPv6 address in brackets, anything else as given.
///
/// ```
/// use ws_proto::handshake::bracketed_host;
/// assert_eq!(bracketed_host("::1"), "[::1]");
/// assert_eq!(bracketed_host("example.com"), "example.com");
/// ```
pub fn bracketed_host(host: &str) -> Cow<'_, str> {
    // A host name never contains ':' (the URL parser refuses it), so a colon means IPv6.
    if host.contains(':') && !host.starts_with('[') {
        Cow::Owned(format!("[{host}]"))
    } else {
        Cow::Borrowed(host)
    }
}

/// `host:port`, with an IPv6 address in brackets.
///
/// ```
/// use ws_proto::handshake::authority;
/// assert_eq!(authority("::1", 9001), "[::1]:9001");
/// assert_eq!(authority("127.0.0.1", 80), "127.0.0.1:80");
/// ```
pub fn authority(host: &str, port: u16) -> String {
    format!("{}:{port}", bracketed_host(host))
}

/// A port number as written after a host: ASCII digits only (no sign, no space), 1 to 65535.
///
/// ```
/// use ws_proto::handshake::parse_port;
/// assert_eq!(parse_port("8080"), Some(8080));
/// assert_eq!(parse_port("0"), None);
/// assert_eq!(parse_port("+80"), None);
/// assert_eq!(parse_port("65536"), None);
/// ```
pub fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|&port| port != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_only_bare_ipv6() {
        assert_eq!(bracketed_host("[::1]"), "[::1]");
        assert_eq!(authority("fe80::1%25eth0", 1), "[fe80::1%25eth0]:1");
        assert_eq!(parse_port("00080"), Some(80));
        assert_eq!(parse_port(""), None);
    }
}
