//! `ws://` and `wss://` URLs (RFC 6455 §3).

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::{authority, bracketed_host, parse_port};

/// The WHATWG URL Standard's query percent-encode set: C0 controls, space, `"`, `#`, `<`, `>`
/// and every non-ASCII byte (`CONTROLS` also has DEL, which the standard encodes as a byte
/// above `~`).
const QUERY: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>');
/// The special-query percent-encode set (`ws` and `wss` are special schemes): the query set and
/// `'`.
const SPECIAL_QUERY: &AsciiSet = &QUERY.add(b'\'');
/// The path percent-encode set: the query set and `?`, `^`, `` ` ``, `{`, `}`.
const PATH: &AsciiSet = &QUERY.add(b'?').add(b'^').add(b'`').add(b'{').add(b'}');

/// A parsed `ws://` or `wss://` URL: what the client needs to connect and to write its request.
///
/// ```
/// use ws_proto::handshake::WsUrl;
/// let url = WsUrl::parse("WSS://[::1]:9000/chat?room=1")?;
/// assert!(url.secure());
/// assert_eq!(url.host(), "::1");
/// assert_eq!(url.port(), 9000);
/// assert_eq!(url.resource(), "/chat?room=1");
/// assert_eq!(url.host_header(), "[::1]:9000");
/// assert_eq!(url.to_string(), "wss://[::1]:9000/chat?room=1");
///
/// // Non-ASCII and spaces in the path and query are percent-encoded, as browsers do.
/// let url = WsUrl::parse("ws://h/café menu?q=ü&x=a b")?;
/// assert_eq!(url.resource(), "/caf%C3%A9%20menu?q=%C3%BC&x=a%20b");
/// # Ok::<(), ws_proto::handshake::UrlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    secure: bool,
    host: String,
    port: u16,
    resource: String,
}

/// Why a string is not a usable WebSocket URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// No `scheme:` at the start.
    MissingScheme,
    /// A scheme other than `ws` or `wss` (the scheme as written).
    UnsupportedScheme(String),
    /// The scheme is not followed by `//`.
    MissingSlashes,
    /// The host is empty.
    MissingHost,
    /// The host contains a character not allowed in a host name (the host as written).
    InvalidHost(String),
    /// A bracketed host is not an IPv6 address, or the brackets are unbalanced (as written).
    InvalidIpv6(String),
    /// The port is empty, not a number, or outside 1..=65535 (the port as written).
    InvalidPort(String),
    /// The URL contains user information (`user@host`).
    UserInfo,
    /// The URL contains a fragment (`#...`).
    Fragment,
    /// A control character (U+0000 to U+001F) at this byte offset.
    InvalidCharacter(usize),
    /// A host with non-ASCII characters (as written): internationalized domain names are not
    /// converted to their ASCII form.
    NonAsciiHost(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingScheme => f.write_str("WebSocket URL must start with ws:// or wss://"),
            Self::UnsupportedScheme(s) => write!(f, "WebSocket URL must start with ws:// or wss://, got {s:?}"),
            Self::MissingSlashes => f.write_str("WebSocket URL needs \"//\" after the scheme, as in ws://host/path"),
            Self::MissingHost => f.write_str("WebSocket URL has no host; write ws://host/path"),
            Self::InvalidHost(h) => write!(
                f,
                "host {h:?} may only contain letters, digits, '-', '.', '_' and %-escapes (IPv6 addresses go in brackets)"
            ),
            Self::InvalidIpv6(h) => write!(f, "{h:?} is not a valid bracketed IPv6 address such as [::1]"),
            Self::InvalidPort(p) => write!(f, "port must be a number from 1 to 65535, got {p:?}"),
            Self::UserInfo => f.write_str("WebSocket URL must not contain user info (user@host); send credentials in a header"),
            Self::Fragment => f.write_str("WebSocket URL must not contain a fragment (#...); remove it or percent-encode '#' as %23"),
            Self::InvalidCharacter(at) => write!(
                f,
                "WebSocket URL contains a control character (such as a tab or a line break) at byte {at}; remove it or percent-encode it"
            ),
            Self::NonAsciiHost(h) => write!(
                f,
                "host {h:?} is not ASCII: internationalized domain names are not supported; write the host in its ASCII form (xn--...)"
            ),
        }
    }
}

impl std::error::Error for UrlError {}

impl WsUrl {
    /// Parses a `ws://` or `wss://` URL (scheme in any letter case).
    ///
    /// The resource is the path and query, `/` when empty (`ws://h?x` gives `/?x`). Host names are
    /// lowercased; IPv6 literals go in brackets and are kept in their canonical text form.
    ///
    /// As browsers do (the WHATWG URL Standard), the path and query are percent-encoded: every
    /// non-ASCII character as its UTF-8 bytes (`%XX`, upper-case hex), and space, DEL and
    /// `"`, `<`, `>` in both, `?`, `^`, `` ` ``, `{`, `}` in the path, `'` in the query. `%`
    /// is left alone, so an encoded URL stays as it is.
    ///
    /// Refused: other schemes, user info, fragments, empty hosts, ports outside 1..=65535,
    /// control characters anywhere (browsers drop tabs and line breaks silently; here they are
    /// a mistake to report), spaces and other characters not allowed in a host, and non-ASCII
    /// hosts (no IDNA conversion).
    ///
    /// # Errors
    ///
    /// A [`UrlError`] that names the part at fault.
    pub fn parse(input: &str) -> Result<WsUrl, UrlError> {
        if let Some(at) = input.bytes().position(|b| b < 0x20) {
            return Err(UrlError::InvalidCharacter(at));
        }
        if input.contains('#') {
            return Err(UrlError::Fragment);
        }
        let (scheme, rest) = input.split_once(':').ok_or(UrlError::MissingScheme)?;
        let secure = if scheme.eq_ignore_ascii_case("ws") {
            false
        } else if scheme.eq_ignore_ascii_case("wss") {
            true
        } else {
            return Err(UrlError::UnsupportedScheme(scheme.to_owned()));
        };
        let rest = rest.strip_prefix("//").ok_or(UrlError::MissingSlashes)?;
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, resource) = rest.split_at(split);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        if !authority.is_ascii() {
            let host = authority
                .rsplit_once(':')
                .map_or(authority, |(host, _)| host);
            return Err(UrlError::NonAsciiHost(host.to_owned()));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (literal, after) = bracketed
                .split_once(']')
                .ok_or_else(|| UrlError::InvalidIpv6(authority.to_owned()))?;
            let addr: Ipv6Addr = literal
                .parse()
                .map_err(|_| UrlError::InvalidIpv6(format!("[{literal}]")))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| UrlError::InvalidHost(authority.to_owned()))?,
                ),
            };
            (addr.to_string(), port)
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if host.is_empty() {
                return Err(UrlError::MissingHost);
            }
            if !is_valid_host_name(host) {
                return Err(UrlError::InvalidHost(host.to_owned()));
            }
            (host.to_ascii_lowercase(), port)
        };
        let default_port = if secure { 443 } else { 80 };
        let port = match port {
            None => default_port,
            Some(p) => parse_port(p).ok_or_else(|| UrlError::InvalidPort(p.to_owned()))?,
        };
        let (path, query) = match resource.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (resource, None),
        };
        let mut resource = String::with_capacity(resource.len() + 1);
        match path {
            "" => resource.push('/'),
            path => resource.extend(utf8_percent_encode(path, PATH)),
        }
        if let Some(query) = query {
            resource.push('?');
            resource.extend(utf8_percent_encode(query, SPECIAL_QUERY));
        }
        Ok(WsUrl {
            secure,
            host,
            port,
            resource,
        })
    }

    /// Whether this is a `wss://` URL (TLS).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The host: a lowercased name, an IPv4 address, or an IPv6 address without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, 80 or 443 by default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the port is the scheme's default (80 for `ws`, 443 for `wss`).
    pub fn is_default_port(&self) -> bool {
        self.port == if self.secure { 443 } else { 80 }
    }

    /// The path and query to request, starting with `/`, percent-encoded as browsers send it.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The `Host` header value: IPv6 addresses in brackets, `:port` only when not the default.
    pub fn host_header(&self) -> String {
        if self.is_default_port() {
            bracketed_host(&self.host).into_owned()
        } else {
            authority(&self.host, self.port)
        }
    }
}

impl fmt::Display for WsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.resource)
    }
}

impl FromStr for WsUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WsUrl::parse(s)
    }
}

/// Whether `host` is a host name this crate's URLs accept: letters, digits, `-`, `.`, `_` and
/// `%XX` escapes (RFC 3986's reg-name, restricted to what DNS names use).
///
/// ```
/// use ws_proto::handshake::is_valid_host_name;
/// assert!(is_valid_host_name("echo.example-1.com"));
/// assert!(!is_valid_host_name("bad host"));
/// ```
pub fn is_valid_host_name(host: &str) -> bool {
    let bytes = host.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> WsUrl {
        WsUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn defaults() {
        let u = url("ws://Example.COM");
        assert_eq!(
            (u.secure(), u.host(), u.port(), u.resource()),
            (false, "example.com", 80, "/")
        );
        assert!(u.is_default_port());
        assert_eq!(u.host_header(), "example.com");
        assert_eq!(u.to_string(), "ws://example.com/");
        let u = url("wss://example.com/a/b?c=d");
        assert_eq!(
            (u.secure(), u.port(), u.resource()),
            (true, 443, "/a/b?c=d")
        );
        assert_eq!(u.host_header(), "example.com");
    }

    #[test]
    fn explicit_ports() {
        let u = url("ws://h:8080/x");
        assert_eq!((u.port(), u.host_header()), (8080, "h:8080".to_owned()));
        assert!(!u.is_default_port());
        assert_eq!(url("ws://h:80/").host_header(), "h");
        assert_eq!(url("wss://h:443").to_string(), "wss://h/");
        assert_eq!(url("wss://h:80").host_header(), "h:80");
        assert_eq!(url("ws://h:65535").port(), 65535);
        assert_eq!(url("ws://h:00081").port(), 81);
    }

    #[test]
    fn query_without_path() {
        assert_eq!(url("ws://h?x").resource(), "/?x");
        assert_eq!(url("ws://h:90?x=1&y").resource(), "/?x=1&y");
    }

    #[test]
    fn scheme_case_and_ipv4() {
        let u = url("WS://127.0.0.1:9/");
        assert_eq!((u.secure(), u.host(), u.port()), (false, "127.0.0.1", 9));
        assert!(url("wSs://h").secure());
        assert_eq!(url("ws://my_host.local%2D1").host(), "my_host.local%2d1");
    }

    #[test]
    fn ipv6() {
        let u = url("ws://[::1]:9000/x");
        assert_eq!((u.host(), u.port(), u.resource()), ("::1", 9000, "/x"));
        assert_eq!(u.host_header(), "[::1]:9000");
        let u = url("wss://[2001:DB8::1]");
        assert_eq!((u.host(), u.port()), ("2001:db8::1", 443));
        assert_eq!(u.host_header(), "[2001:db8::1]");
        assert_eq!(u.to_string(), "wss://[2001:db8::1]/");
    }

    #[test]
    fn refused() {
        let cases: &[(&str, UrlError)] = &[
            ("http://h/", UrlError::UnsupportedScheme("http".into())),
            ("example.com", UrlError::MissingScheme),
            ("ws:h", UrlError::MissingSlashes),
            ("ws://h/#frag", UrlError::Fragment),
            ("ws://user@h/", UrlError::UserInfo),
            ("ws://user:pw@h/", UrlError::UserInfo),
            ("ws://", UrlError::MissingHost),
            ("ws:///path", UrlError::MissingHost),
            ("ws://:80/", UrlError::MissingHost),
            ("ws://h:0/", UrlError::InvalidPort("0".into())),
            ("ws://h:65536/", UrlError::InvalidPort("65536".into())),
            (
                "ws://h:99999999999999999999/",
                UrlError::InvalidPort("99999999999999999999".into()),
            ),
            ("ws://h:/", UrlError::InvalidPort(String::new())),
            ("ws://h:8a/", UrlError::InvalidPort("8a".into())),
            ("ws://h:+80/", UrlError::InvalidPort("+80".into())),
            ("ws://h:1:2/", UrlError::InvalidPort("1:2".into())),
            ("ws://[::1/", UrlError::InvalidIpv6("[::1".into())),
            ("ws://[::g]/", UrlError::InvalidIpv6("[::g]".into())),
            ("ws://[]/", UrlError::InvalidIpv6("[]".into())),
            ("ws://[::1]x/", UrlError::InvalidHost("[::1]x".into())),
            ("ws://[::1]:/", UrlError::InvalidPort(String::new())),
            ("ws://::1/", UrlError::MissingHost),
            ("ws://h%zz/", UrlError::InvalidHost("h%zz".into())),
            ("ws://h!/", UrlError::InvalidHost("h!".into())),
            ("ws://h/\ta", UrlError::InvalidCharacter(7)),
            ("ws://h/a?\0", UrlError::InvalidCharacter(9)),
            ("ws://h\r\n/", UrlError::InvalidCharacter(6)),
            ("ws://h b/", UrlError::InvalidHost("h b".into())),
            ("ws://h\x7f/", UrlError::InvalidHost("h\x7f".into())),
            (
                "ws://caf\u{e9}.example/",
                UrlError::NonAsciiHost("caf\u{e9}.example".into()),
            ),
            (
                "ws://caf\u{e9}.example:81/",
                UrlError::NonAsciiHost("caf\u{e9}.example".into()),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(WsUrl::parse(input).as_ref(), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn paths_and_queries_are_percent_encoded_as_browsers_do() {
        let cases = [
            // Non-ASCII: the UTF-8 bytes, upper-case hex.
            ("ws://h/caf\u{e9}", "/caf%C3%A9"),
            (
                "ws://h/\u{1F600}?\u{4E2D}=\u{6587}",
                "/%F0%9F%98%80?%E4%B8%AD=%E6%96%87",
            ),
            // Space and DEL in both.
            ("ws://h/a b?c d", "/a%20b?c%20d"),
            ("ws://h/\x7f?\x7f", "/%7F?%7F"),
            // The path set: " < > ? ^ ` { } (a '?' ends the path, so it never is in one).
            ("ws://h/\"<>^`{}|'", "/%22%3C%3E%5E%60%7B%7D|'"),
            // The special-query set: " < > ' but not ^ ` { } | or ?.
            ("ws://h/?\"<>'^`{}|?", "/?%22%3C%3E%27^`{}|?"),
            // Query without a path; escapes already there are kept.
            ("ws://h?q=\u{fc}", "/?q=%C3%BC"),
            ("ws://h/a%20b?x=%C3%BC", "/a%20b?x=%C3%BC"),
            // Unreserved, sub-delims and the like stay.
            (
                "ws://h/a-b_c.d~e!$&()*+,;=:@/x?a=1&b=[2]",
                "/a-b_c.d~e!$&()*+,;=:@/x?a=1&b=[2]",
            ),
        ];
        for (input, resource) in cases {
            let u = url(input);
            assert_eq!(u.resource(), resource, "{input:?}");
            // What goes on the wire parses to itself.
            assert_eq!(url(&u.to_string()), u, "{input:?}");
        }
        assert_eq!(
            url("wss://[::1]:9000/\u{e9}?\u{e9}").to_string(),
            "wss://[::1]:9000/%C3%A9?%C3%A9"
        );
    }

    #[test]
    fn messages_say_what_to_fix() {
        let msg = WsUrl::parse("ws://b\u{fc}cher.example/")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("not ASCII") && msg.contains("xn--"), "{msg}");
        let msg = WsUrl::parse("http://h").unwrap_err().to_string();
        assert_eq!(
            msg,
            "WebSocket URL must start with ws:// or wss://, got \"http\""
        );
        assert!(WsUrl::parse("ws://h:0")
            .unwrap_err()
            .to_string()
            .contains("1 to 65535"));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "ws://h/",
            "wss://h:8443/a?b",
            "ws://[::1]:81/x",
            "ws://10.0.0.1/",
        ] {
            assert_eq!(url(s).to_string(), s);
            assert_eq!(url(&url(s).to_string()), url(s));
        }
        assert_eq!("ws://h".parse::<WsUrl>(), Ok(url("ws://h/")));
    }
}
