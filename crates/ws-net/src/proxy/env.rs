//! The proxy environment variables (`https_proxy`, `http_proxy`, `all_proxy`, `no_proxy` and
//! their upper-case forms) and the proxy URLs they hold.

use super::exclusion::no_proxy_excludes;
use super::host::canonical_host;
use super::{Credentials, ProxyEndpoint, ProxyError};
use ws_proto::handshake::parse_port;

/// Variables consulted for `wss://` targets, in order of precedence.
const SECURE_VARS: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];
/// Variables consulted for `ws://` targets, in order of precedence.
const PLAIN_VARS: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];
const NO_PROXY_VARS: [&str; 2] = ["no_proxy", "NO_PROXY"];

/// The proxy the environment asks for when connecting to `host:port`.
///
/// `no_proxy` is checked before the proxy URL is parsed: a broken `https_proxy` does not break
/// connections that would not use it anyway. Loopback targets (`localhost`, 127.0.0.0/8, `::1`)
/// never go through an environment proxy, as in Go's `ProxyFromEnvironment`: the proxy would
/// reach its own loopback, not ours.
pub(crate) fn proxy_from_env(
    host: &str,
    port: u16,
    secure: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<ProxyEndpoint>, ProxyError> {
    if is_loopback(host) {
        return Ok(None);
    }
    let vars = if secure { &SECURE_VARS } else { &PLAIN_VARS };
    let Some((variable, value)) = first_set(&env, vars) else {
        return Ok(None);
    };
    if let Some((_, no_proxy)) = first_set(&env, &NO_PROXY_VARS) {
        if no_proxy_excludes(&no_proxy, host, port) {
            return Ok(None);
        }
    }
    parse_proxy_url(&value)
        .map(Some)
        .map_err(|reason| ProxyError::InvalidProxyUrl {
            variable: variable.to_owned(),
            url: redact_userinfo(value.trim()),
            reason,
        })
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.to_canonical().is_loopback())
}

/// The first variable with a non-blank value. Blank counts as unset (as in curl and Go), so an
/// empty `http_proxy=` does not hide `HTTP_PROXY`.
fn first_set(
    env: &impl Fn(&str) -> Option<String>,
    names: &[&'static str],
) -> Option<(&'static str, String)> {
    names.iter().find_map(|&name| {
        env(name)
            .filter(|value| !value.trim().is_empty())
            .map(|value| (name, value))
    })
}

/// Splits what follows `scheme://` into user information and the rest. The last `@` counts, so
/// an unescaped `@`, `/` or `#` in a password still ends up in the password (and is redacted).
fn split_userinfo(rest: &str) -> (Option<&str>, &str) {
    match rest.rsplit_once('@') {
        Some((userinfo, after)) => (Some(userinfo), after),
        None => (None, rest),
    }
}

/// Parses `http://user:pass@host:port`, `host:port`, `http://host` (port 80), `http://[::1]:3128/`
/// and the like. A path, query or fragment after the authority is ignored. `Err` says what is
/// wrong, without repeating the user information.
pub(crate) fn parse_proxy_url(value: &str) -> Result<ProxyEndpoint, String> {
    let value = value.trim();
    let rest = match value.split_once("://") {
        Some((scheme, rest)) => {
            if !scheme.eq_ignore_ascii_case("http") {
                return Err(format!(
                    "unsupported scheme {scheme:?}: only http:// proxies are supported \
                     (no https:// or SOCKS proxies)"
                ));
            }
            rest
        }
        None => value,
    };
    let (userinfo, after) = split_userinfo(rest);
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..authority_end];

    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (literal, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("unclosed '[' in host {authority:?}"))?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(|| {
                format!("unexpected {after:?} after the bracketed address; expected :port")
            })?),
        };
        (&authority[..literal.len() + 2], port)
    } else {
        if authority.matches(':').count() > 1 {
            return Err(format!(
                "{authority:?} has several ':'; IPv6 addresses go in brackets: http://[::1]:3128"
            ));
        }
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the proxy host is empty".into());
    }
    let host = canonical_host(host)
        .map_err(|reason| format!("bad proxy host {host:?}: {reason}"))?
        .to_ascii_lowercase();
    let port = match port {
        None => 80,
        Some(p) => parse_port(p)
            .ok_or_else(|| format!("port must be a number from 1 to 65535, got {p:?}"))?,
    };
    let credentials = match userinfo {
        None => None,
        Some(userinfo) => parse_userinfo(userinfo)?,
    };
    Ok(ProxyEndpoint {
        host,
        port,
        credentials,
    })
}

/// `user:pass` (percent-decoded) into credentials; an empty `@` gives none.
fn parse_userinfo(userinfo: &str) -> Result<Option<Credentials>, String> {
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let username = percent_decode(user).map_err(|e| format!("user name: {e}"))?;
    let password = percent_decode(pass).map_err(|e| format!("password: {e}"))?;
    if username.is_empty() && password.is_empty() {
        return Ok(None);
    }
    if username.contains(':') {
        return Err(
            "the user name contains ':' (as %3A), which Basic authentication cannot send".into(),
        );
    }
    Ok(Some(Credentials { username, password }))
}

/// `%XX` escapes to bytes, the result as UTF-8. Errors never quote the input: it is secret.
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|&c| hex_value(c));
            let lo = bytes.get(i + 2).and_then(|&c| hex_value(c));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err("'%' must be followed by two hex digits".into());
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the %-escapes do not decode to UTF-8".into())
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).map(|d| d as u8)
}

/// The value with its user information replaced by `***`, for error messages.
fn redact_userinfo(value: &str) -> String {
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), value),
    };
    match split_userinfo(rest) {
        (Some(_), after) => format!("{scheme}***@{after}"),
        (None, _) => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn resolve(
        vars: &[(&str, &str)],
        host: &str,
        port: u16,
        secure: bool,
    ) -> Option<ProxyEndpoint> {
        proxy_from_env(host, port, secure, env(vars))
            .unwrap_or_else(|e| panic!("{vars:?} for {host}:{port}: {e}"))
    }

    fn endpoint(host: &str, port: u16) -> ProxyEndpoint {
        ProxyEndpoint::new(host, port)
    }

    fn url(value: &str) -> ProxyEndpoint {
        parse_proxy_url(value).unwrap_or_else(|e| panic!("{value:?}: {e}"))
    }

    #[test]
    fn no_variables_no_proxy() {
        assert_eq!(resolve(&[], "example.com", 443, true), None);
        assert_eq!(resolve(&[], "example.com", 80, false), None);
        assert_eq!(
            resolve(&[("no_proxy", "*")], "example.com", 80, false),
            None
        );
    }

    #[test]
    fn secure_targets_use_https_proxy_plain_ones_http_proxy() {
        let vars = [("https_proxy", "secure:1"), ("http_proxy", "plain:2")];
        assert_eq!(
            resolve(&vars, "example.com", 443, true),
            Some(endpoint("secure", 1))
        );
        assert_eq!(
            resolve(&vars, "example.com", 80, false),
            Some(endpoint("plain", 2))
        );
        // Each scheme only looks at its own variable (then all_proxy).
        assert_eq!(
            resolve(&[("https_proxy", "s:1")], "example.com", 80, false),
            None
        );
        assert_eq!(
            resolve(&[("http_proxy", "p:1")], "example.com", 443, true),
            None
        );
    }

    #[test]
    fn lower_case_wins_over_upper_case() {
        let vars = [
            ("HTTPS_PROXY", "upper:1"),
            ("https_proxy", "lower:2"),
            ("HTTP_PROXY", "upper:3"),
            ("http_proxy", "lower:4"),
        ];
        assert_eq!(
            resolve(&vars, "example.com", 443, true),
            Some(endpoint("lower", 2))
        );
        assert_eq!(
            resolve(&vars, "example.com", 80, false),
            Some(endpoint("lower", 4))
        );
        assert_eq!(
            resolve(&[("HTTPS_PROXY", "upper:1")], "example.com", 443, true),
            Some(endpoint("upper", 1))
        );
        assert_eq!(
            resolve(&[("HTTP_PROXY", "upper:1")], "example.com", 80, false),
            Some(endpoint("upper", 1))
        );
        let all = [("ALL_PROXY", "upper:5"), ("all_proxy", "lower:6")];
        assert_eq!(
            resolve(&all, "example.com", 443, true),
            Some(endpoint("lower", 6))
        );
    }

    #[test]
    fn scheme_specific_variables_win_over_all_proxy() {
        let vars = [("all_proxy", "all:1"), ("HTTPS_PROXY", "upper:2")];
        assert_eq!(
            resolve(&vars, "example.com", 443, true),
            Some(endpoint("upper", 2))
        );
        assert_eq!(
            resolve(&vars, "example.com", 80, false),
            Some(endpoint("all", 1))
        );
        assert_eq!(
            resolve(&[("ALL_PROXY", "all:3")], "example.com", 80, false),
            Some(endpoint("all", 3))
        );
    }

    #[test]
    fn blank_values_count_as_unset() {
        let vars = [("https_proxy", ""), ("HTTPS_PROXY", "upper:1")];
        assert_eq!(
            resolve(&vars, "example.com", 443, true),
            Some(endpoint("upper", 1))
        );
        let vars = [
            ("http_proxy", "  "),
            ("HTTP_PROXY", ""),
            ("all_proxy", "all:2"),
        ];
        assert_eq!(
            resolve(&vars, "example.com", 80, false),
            Some(endpoint("all", 2))
        );
        // A blank no_proxy does not hide NO_PROXY either.
        let vars = [
            ("http_proxy", "p:1"),
            ("no_proxy", ""),
            ("NO_PROXY", "example.com"),
        ];
        assert_eq!(resolve(&vars, "example.com", 80, false), None);
    }

    #[test]
    fn no_proxy_bypasses_the_proxy() {
        let vars = [
            ("https_proxy", "http://proxy:3128"),
            ("no_proxy", "localhost,.internal"),
        ];
        assert_eq!(resolve(&vars, "localhost", 443, true), None);
        assert_eq!(resolve(&vars, "LOCALHOST", 443, true), None);
        assert_eq!(resolve(&vars, "db.internal", 443, true), None);
        assert_eq!(resolve(&vars, "internal", 443, true), None);
        assert_eq!(
            resolve(&vars, "example.com", 443, true),
            Some(endpoint("proxy", 3128))
        );
    }

    #[test]
    fn lower_case_no_proxy_wins_over_upper_case() {
        let vars = [
            ("http_proxy", "p:1"),
            ("no_proxy", "a.test"),
            ("NO_PROXY", "b.test"),
        ];
        assert_eq!(resolve(&vars, "a.test", 80, false), None);
        assert_eq!(resolve(&vars, "b.test", 80, false), Some(endpoint("p", 1)));
        let vars = [("http_proxy", "p:1"), ("NO_PROXY", "b.test")];
        assert_eq!(resolve(&vars, "b.test", 80, false), None);
    }

    #[test]
    fn no_proxy_with_ports_and_ipv6() {
        let vars = [
            ("https_proxy", "p:1"),
            ("no_proxy", "[2001:db8::1]:8443,example.com:443,10.0.0.0/8"),
        ];
        assert_eq!(resolve(&vars, "2001:db8::1", 8443, true), None);
        assert_eq!(resolve(&vars, "[2001:db8::1]", 8443, true), None);
        assert_eq!(
            resolve(&vars, "2001:db8::1", 443, true),
            Some(endpoint("p", 1))
        );
        assert_eq!(resolve(&vars, "www.example.com", 443, true), None);
        assert_eq!(
            resolve(&vars, "example.com", 8443, true),
            Some(endpoint("p", 1))
        );
        assert_eq!(resolve(&vars, "10.9.8.7", 443, true), None);
    }

    #[test]
    fn loopback_targets_never_use_an_environment_proxy() {
        let vars = [("https_proxy", "p:1"), ("http_proxy", "p:1")];
        for host in [
            "localhost",
            "LocalHost",
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert_eq!(resolve(&vars, host, 443, true), None, "{host}");
            assert_eq!(resolve(&vars, host, 80, false), None, "{host}");
        }
        assert_eq!(
            resolve(&vars, "128.0.0.1", 80, false),
            Some(endpoint("p", 1))
        );
    }

    #[test]
    fn excluded_targets_ignore_a_broken_proxy_url() {
        let vars = [
            ("https_proxy", "socks5://p:1080"),
            ("no_proxy", "localhost"),
        ];
        assert_eq!(resolve(&vars, "localhost", 443, true), None);
        assert!(proxy_from_env("example.com", 443, true, env(&vars)).is_err());
    }

    #[test]
    fn url_forms() {
        assert_eq!(
            url("http://proxy.example:3128"),
            endpoint("proxy.example", 3128)
        );
        assert_eq!(
            url("HTTP://Proxy.Example:3128/"),
            endpoint("proxy.example", 3128)
        );
        assert_eq!(url("http://proxy"), endpoint("proxy", 80));
        assert_eq!(url("proxy:8080"), endpoint("proxy", 8080));
        assert_eq!(url("proxy"), endpoint("proxy", 80));
        assert_eq!(url("  http://proxy:1  "), endpoint("proxy", 1));
        assert_eq!(url("http://10.0.0.1:3128"), endpoint("10.0.0.1", 3128));
        assert_eq!(url("http://[::1]:3128"), endpoint("::1", 3128));
        assert_eq!(url("http://[::1]"), endpoint("::1", 80));
        assert_eq!(url("[2001:DB8::1]:8080"), endpoint("2001:db8::1", 8080));
        assert_eq!(
            url("http://proxy:3128/some/path?q#f"),
            endpoint("proxy", 3128)
        );
        assert_eq!(url("http://proxy?x"), endpoint("proxy", 80));
    }

    #[test]
    fn url_credentials_are_percent_decoded() {
        let p = url("http://user:pass@proxy:3128");
        assert_eq!(p, endpoint("proxy", 3128).with_credentials("user", "pass"));
        let p = url("http://us%65r:p%40ss%3Aw%2Fo%25rd@proxy:1");
        assert_eq!(p.credentials, Some(Credentials::new("user", "p@ss:w/o%rd")));
        let p = url("http://j%C3%BCrgen:%F0%9F%94%91@proxy");
        assert_eq!(p.credentials, Some(Credentials::new("jürgen", "🔑")));
        // Unescaped '@' and '/' in a password: the last '@' ends the user information.
        let p = url("http://user:p@ss/word@proxy:3128");
        assert_eq!(
            p,
            endpoint("proxy", 3128).with_credentials("user", "p@ss/word")
        );
        let p = url("http://user@proxy");
        assert_eq!(p.credentials, Some(Credentials::new("user", "")));
        let p = url("http://:secret@proxy");
        assert_eq!(p.credentials, Some(Credentials::new("", "secret")));
        assert_eq!(url("http://@proxy").credentials, None);
        assert_eq!(url("http://:@proxy").credentials, None);
        assert_eq!(
            url("user:pass@proxy:3128").credentials,
            Some(Credentials::new("user", "pass"))
        );
    }

    #[test]
    fn url_errors() {
        for (value, needle) in [
            ("socks5://proxy:1080", "unsupported scheme \"socks5\""),
            ("socks5h://proxy:1080", "unsupported scheme"),
            ("https://proxy:443", "unsupported scheme \"https\""),
            ("ftp://proxy", "unsupported scheme"),
            ("http://", "empty"),
            ("http://:3128", "empty"),
            ("http://user:pass@", "empty"),
            ("http://proxy:", "port"),
            ("http://proxy:0", "port"),
            ("http://proxy:65536", "port"),
            ("http://proxy:http", "port"),
            ("http://proxy:+80", "port"),
            ("http://::1:3128", "brackets"),
            ("::1", "brackets"),
            ("http://[::1", "unclosed"),
            ("http://[::1]3128", "expected :port"),
            ("http://[proxy]:3128", "bad proxy host"),
            ("http://pro xy:3128", "bad proxy host"),
            ("http://münchen:3128", "bad proxy host"),
            ("http://u%zz:p@proxy", "user name"),
            ("http://u:p%4@proxy", "password"),
            ("http://u:%FF@proxy", "UTF-8"),
            ("http://a%3Ab:p@proxy", "':'"),
        ] {
            let err = parse_proxy_url(value).expect_err(value);
            assert!(err.contains(needle), "{value:?}: {err:?} lacks {needle:?}");
        }
    }

    #[test]
    fn invalid_urls_name_the_variable_and_hide_the_password() {
        let vars = [("HTTPS_PROXY", "socks5://user:s3cret@proxy:1080")];
        let err = proxy_from_env("example.com", 443, true, env(&vars)).unwrap_err();
        let ProxyError::InvalidProxyUrl {
            variable,
            url,
            reason,
        } = &err
        else {
            panic!("unexpected error {err:?}");
        };
        assert_eq!(variable, "HTTPS_PROXY");
        assert_eq!(url, "socks5://***@proxy:1080");
        assert!(reason.contains("socks5"), "{reason}");
        let message = err.to_string();
        assert!(message.contains("HTTPS_PROXY"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
        assert!(!format!("{err:?}").contains("s3cret"));

        let vars = [("http_proxy", "http://user:s3c/ret@proxy:x")];
        let err = proxy_from_env("example.com", 80, false, env(&vars)).unwrap_err();
        assert!(!err.to_string().contains("s3c"), "{err}");
        assert!(err.to_string().contains("http_proxy"), "{err}");
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_userinfo("http://u:p@h:1"), "http://***@h:1");
        assert_eq!(redact_userinfo("u:p@h"), "***@h");
        assert_eq!(redact_userinfo("http://h:1"), "http://h:1");
        assert_eq!(redact_userinfo("http://u:p@ss@h"), "http://***@h");
    }
}
