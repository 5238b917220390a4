//! What the user asks for ([`ProxyConfig`], [`HttpProxy`]) and what a connection uses
//! ([`ProxyEndpoint`]).

use std::fmt;

use super::env::proxy_from_env;
use super::exclusion::explicit_excludes;
use super::host::canonical_host;
use super::ProxyError;
use ws_proto::handshake::authority;

/// How a client reaches its targets: as the environment says, directly, or through a given HTTP
/// proxy.
///
/// ```
/// use ws_net::proxy::{HttpProxy, ProxyConfig, ProxyEndpoint};
///
/// let config = ProxyConfig::Http(
///     HttpProxy::new("proxy.internal", 3128).with_exclusions(["*.corp.example", "localhost"]),
/// );
/// assert_eq!(
///     config.for_target("example.com", 443, true)?,
///     Some(ProxyEndpoint::new("proxy.internal", 3128))
/// );
/// assert_eq!(config.for_target("git.corp.example", 443, true)?, None);
/// assert_eq!(ProxyConfig::None.for_target("example.com", 443, true)?, None);
/// # Ok::<(), ws_net::proxy::ProxyError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub enum ProxyConfig {
    /// Follow the process environment, like curl: `https_proxy` for `wss://` targets,
    /// `http_proxy` for `ws://` ones, then `all_proxy` (each lower case first, then upper case;
    /// blank values count as unset), except for targets that `no_proxy` / `NO_PROXY` covers.
    ///
    /// Proxy URLs look like `http://user:pass@host:port`, `host:port` or `http://host` (port
    /// 80); user information is percent-decoded. Other schemes (`https://`, `socks5://`) are
    /// errors rather than being silently bypassed.
    ///
    /// `no_proxy` is a list separated by commas (or white space) of: `*` (everything); host
    /// names, where `example.com` and `.example.com` both cover `example.com` and its
    /// subdomains; IP addresses (`10.0.0.1`, `::1`, `[::1]`) and CIDR blocks (`10.0.0.0/8`);
    /// each name or address optionally with `:port`. Matching ignores letter case; malformed
    /// entries are skipped.
    #[default]
    System,
    /// Always connect directly.
    None,
    /// Use this proxy, except for the hosts it excludes.
    Http(HttpProxy),
}

impl ProxyConfig {
    /// Which proxy (if any) to use for target `host:port`; `secure` = wss.
    ///
    /// [`ProxyConfig::System`] reads the process environment; see
    /// [`for_target_with_env`](Self::for_target_with_env) for the rules. `host` may be a name, an
    /// IPv4 address, or an IPv6 address with or without brackets.
    ///
    /// # Errors
    ///
    /// As for [`for_target_with_env`](Self::for_target_with_env).
    pub fn for_target(
        &self,
        host: &str,
        port: u16,
        secure: bool,
    ) -> Result<Option<ProxyEndpoint>, ProxyError> {
        // Lossy: a non-UTF-8 proxy URL then fails to parse with a clear error, where
        // `env::var` would silently treat it as unset.
        self.for_target_with_env(host, port, secure, |name| {
            std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
        })
    }

    /// [`for_target`](Self::for_target) with the environment given as a function from variable
    /// name to value, so that it can be tested without touching the real environment.
    ///
    /// `Ok(None)` means connect directly. Errors: an explicit [`HttpProxy`] with an empty host,
    /// port 0 or a user name containing `:` ([`ProxyError::InvalidProxy`]); an environment
    /// proxy URL that cannot be used ([`ProxyError::InvalidProxyUrl`]; only for targets that
    /// would go through it, so a broken variable does not affect `no_proxy` hosts).
    ///
    /// ```
    /// use ws_net::proxy::{Credentials, ProxyConfig, ProxyEndpoint};
    ///
    /// let env = |name: &str| match name {
    ///     "https_proxy" => Some("http://alice:s%40fe@proxy.example:3128".to_string()),
    ///     "HTTPS_PROXY" => Some("http://ignored:8080".to_string()),
    ///     "no_proxy" => Some("localhost,.internal,[::1]".to_string()),
    ///     _ => None,
    /// };
    /// let config = ProxyConfig::System;
    /// assert_eq!(
    ///     config.for_target_with_env("example.com", 443, true, env)?,
    ///     Some(ProxyEndpoint::new("proxy.example", 3128).with_credentials("alice", "s@fe"))
    /// );
    /// assert_eq!(config.for_target_with_env("db.internal", 443, true, env)?, None);
    /// assert_eq!(config.for_target_with_env("::1", 443, true, env)?, None);
    /// // No http_proxy / all_proxy: ws:// targets connect directly.
    /// assert_eq!(config.for_target_with_env("example.com", 80, false, env)?, None);
    ///
    /// let socks = |name: &str| (name == "all_proxy").then(|| "socks5://proxy:1080".to_string());
    /// let err = config.for_target_with_env("example.com", 443, true, socks).unwrap_err();
    /// assert!(err.to_string().contains("all_proxy"));
    /// # Ok::<(), ws_net::proxy::ProxyError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ProxyError::InvalidProxy`] for an unusable explicit proxy, [`ProxyError::InvalidProxyUrl`]
    /// for an unusable environment proxy URL.
    pub fn for_target_with_env(
        &self,
        host: &str,
        port: u16,
        secure: bool,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ProxyEndpoint>, ProxyError> {
        match self {
            ProxyConfig::None => Ok(None),
            ProxyConfig::Http(proxy) => {
                let endpoint = proxy.endpoint()?;
                Ok((!proxy.excludes(host)).then_some(endpoint))
            }
            ProxyConfig::System => proxy_from_env(host, port, secure, env),
        }
    }
}

/// An HTTP proxy given explicitly, with the hosts to reach without it.
///
/// `exclusions` entries: `*` excludes every host, `*.example.com` the subdomains of
/// `example.com` (not `example.com` itself), anything else exactly that host. Host names compare
/// case-insensitively; IP literals compare as addresses, so `::1` and `[::1]` are the same.
///
/// ```
/// use ws_net::proxy::HttpProxy;
///
/// let proxy = HttpProxy::new("proxy.internal", 3128)
///     .with_credentials("alice", "secret")
///     .with_exclusions(["*.example.com", "::1"]);
/// assert!(proxy.excludes("WWW.Example.com"));
/// assert!(!proxy.excludes("example.com"));
/// assert!(proxy.excludes("[::1]"));
/// assert!(!format!("{proxy:?}").contains("secret"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpProxy {
    /// Host name or IP address of the proxy (IPv6 with or without brackets).
    pub host: String,
    /// Port of the proxy.
    pub port: u16,
    /// Hosts to connect to directly (see the type's documentation).
    pub exclusions: Vec<String>,
    /// Sent as `Proxy-Authorization: Basic ...` when set.
    pub credentials: Option<Credentials>,
}

impl HttpProxy {
    /// A proxy at `host:port`, without exclusions or credentials.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        HttpProxy {
            host: host.into(),
            port,
            exclusions: Vec::new(),
            credentials: None,
        }
    }

    /// Authenticate with Basic credentials.
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some(Credentials::new(username, password));
        self
    }

    /// Add hosts to reach without the proxy.
    pub fn with_exclusions<I, S>(mut self, exclusions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exclusions
            .extend(exclusions.into_iter().map(Into::into));
        self
    }

    /// Is `host` reached without the proxy?
    pub fn excludes(&self, host: &str) -> bool {
        explicit_excludes(&self.exclusions, host)
    }

    /// The endpoint to connect to, after checking the configuration.
    ///
    /// # Errors
    ///
    /// [`ProxyError::InvalidProxy`] for an empty or invalid host, port 0, or a user name containing
    /// `:`.
    pub fn endpoint(&self) -> Result<ProxyEndpoint, ProxyError> {
        let host = canonical_host(&self.host).map_err(|reason| ProxyError::InvalidProxy {
            reason: format!("proxy host {:?}: {reason}", self.host),
        })?;
        let endpoint = ProxyEndpoint {
            host,
            port: self.port,
            credentials: self.credentials.clone(),
        };
        endpoint.check()?;
        Ok(endpoint)
    }
}

/// User name and password for Basic proxy authentication. `Debug` does not show the password.
///
/// ```
/// use ws_net::proxy::Credentials;
///
/// let credentials = Credentials::new("alice", "secret");
/// assert_eq!(
///     format!("{credentials:?}"),
///     r#"Credentials { username: "alice", password: "<redacted>" }"#
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name; must not contain `:`.
    pub username: String,
    /// The password.
    pub password: String,
}

impl Credentials {
    /// Credentials from a user name and a password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The proxy a connection goes through: where to connect, and how to authenticate.
///
/// `host` is a name, an IPv4 address or an IPv6 address without brackets, so that
/// `(host.as_str(), port)` can be passed to `TcpStream::connect`. `Display` shows
/// `http://host:port`, never the credentials.
///
/// ```
/// use ws_net::proxy::ProxyEndpoint;
///
/// let proxy = ProxyEndpoint::new("::1", 3128).with_credentials("alice", "secret");
/// assert_eq!(proxy.authority(), "[::1]:3128");
/// assert_eq!(proxy.to_string(), "http://[::1]:3128");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyEndpoint {
    /// Host name or IP address of the proxy (IPv6 without brackets).
    pub host: String,
    /// Port of the proxy.
    pub port: u16,
    /// Sent as `Proxy-Authorization: Basic ...` when set.
    pub credentials: Option<Credentials>,
}

impl ProxyEndpoint {
    /// A proxy at `host:port`, without credentials.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        ProxyEndpoint {
            host: host.into(),
            port,
            credentials: None,
        }
    }

    /// Authenticate with Basic credentials.
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some(Credentials::new(username, password));
        self
    }

    /// `host:port`, with an IPv6 address in brackets.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }

    /// What [`tunnel`](super::tunnel) needs to hold: a port, and credentials Basic can send.
    pub(crate) fn check(&self) -> Result<(), ProxyError> {
        if self.port == 0 {
            return Err(ProxyError::InvalidProxy {
                reason: "proxy port 0".into(),
            });
        }
        if let Some(credentials) = &self.credentials {
            if credentials.username.contains(':') {
                return Err(ProxyError::InvalidProxy {
                    reason: "the user name contains ':', which Basic authentication cannot send"
                        .into(),
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for ProxyEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn none_never_proxies() {
        let env = |_: &str| Some("http://proxy:3128".to_string());
        assert_eq!(
            ProxyConfig::None
                .for_target_with_env("example.com", 443, true, env)
                .unwrap(),
            None
        );
    }

    #[test]
    fn default_is_system() {
        assert!(matches!(ProxyConfig::default(), ProxyConfig::System));
        let env = |name: &str| (name == "https_proxy").then(|| "proxy:3128".to_string());
        assert_eq!(
            ProxyConfig::default()
                .for_target_with_env("example.com", 443, true, env)
                .unwrap(),
            Some(ProxyEndpoint::new("proxy", 3128))
        );
    }

    #[test]
    fn explicit_proxy_ignores_the_environment() {
        let env = |_: &str| Some("http://other:1".to_string());
        let config = ProxyConfig::Http(HttpProxy::new("proxy", 3128));
        for secure in [true, false] {
            assert_eq!(
                config
                    .for_target_with_env("example.com", 443, secure, env)
                    .unwrap(),
                Some(ProxyEndpoint::new("proxy", 3128))
            );
        }
        // Not even no_proxy applies to an explicit proxy.
        let env = |name: &str| (name == "no_proxy").then(|| "*".to_string());
        assert!(config
            .for_target_with_env("example.com", 443, true, env)
            .unwrap()
            .is_some());
    }

    #[test]
    fn explicit_proxy_exclusions() {
        let config = ProxyConfig::Http(
            HttpProxy::new("proxy", 3128)
                .with_credentials("u", "p")
                .with_exclusions(["*.example.com", "LOCALHOST", "[::1]"]),
        );
        let target = |host: &str| config.for_target_with_env(host, 443, true, no_env).unwrap();
        assert_eq!(target("a.example.com"), None);
        assert_eq!(target("localhost"), None);
        assert_eq!(target("::1"), None);
        assert_eq!(target("[::1]"), None);
        assert_eq!(
            target("example.com"),
            Some(ProxyEndpoint::new("proxy", 3128).with_credentials("u", "p"))
        );
        let all = ProxyConfig::Http(HttpProxy::new("proxy", 3128).with_exclusions(["*"]));
        assert_eq!(
            all.for_target_with_env("example.com", 80, false, no_env)
                .unwrap(),
            None
        );
    }

    #[test]
    fn explicit_proxy_host_is_normalized() {
        let config = ProxyConfig::Http(HttpProxy::new("[0:0::1]", 3128));
        assert_eq!(
            config
                .for_target_with_env("example.com", 443, true, no_env)
                .unwrap(),
            Some(ProxyEndpoint::new("::1", 3128))
        );
    }

    #[test]
    fn explicit_proxy_errors() {
        for proxy in [
            HttpProxy::new("", 3128),
            HttpProxy::new("[]", 3128),
            HttpProxy::new("bad host", 3128),
            HttpProxy::new("proxy", 0),
            HttpProxy::new("proxy", 3128).with_credentials("a:b", "p"),
        ] {
            let err = ProxyConfig::Http(proxy.clone())
                .for_target_with_env("example.com", 443, true, no_env)
                .unwrap_err();
            assert!(
                matches!(err, ProxyError::InvalidProxy { .. }),
                "{proxy:?}: {err:?}"
            );
            assert!(
                err.to_string().starts_with("invalid proxy configuration"),
                "{err}"
            );
        }
    }

    #[test]
    fn debug_hides_passwords() {
        let proxy = HttpProxy::new("proxy", 3128).with_credentials("alice", "hunter2");
        let config = ProxyConfig::Http(proxy.clone());
        let endpoint = proxy.endpoint().unwrap();
        for text in [
            format!("{proxy:?}"),
            format!("{config:?}"),
            format!("{endpoint:?}"),
            format!("{endpoint:#?}"),
            endpoint.to_string(),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert!(format!("{endpoint:?}").contains("alice"));
    }

    #[test]
    fn endpoint_authority_and_display() {
        assert_eq!(ProxyEndpoint::new("proxy", 8080).authority(), "proxy:8080");
        assert_eq!(
            ProxyEndpoint::new("10.0.0.1", 80).to_string(),
            "http://10.0.0.1:80"
        );
        assert_eq!(
            ProxyEndpoint::new("fe80::1", 3128).to_string(),
            "http://[fe80::1]:3128"
        );
    }
}
