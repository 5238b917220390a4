//! The connect options of the reference, their defaults and limits, and how they become
//! `ws-net` settings.

use std::path::PathBuf;
use std::time::Duration;

use ws_net::client::ClientConfig;
use ws_net::proxy::{HttpProxy as NetHttpProxy, ProxyConfig};
#[cfg(feature = "tls")]
use ws_net::tls::{ClientCert as NetClientCert, TlsClientOptions, TlsVersion};

use crate::deflate::PermessageDeflate;
use crate::error::{code, BusinessError};
use crate::limits::{DEFAULT_HEARTBEAT_SECONDS, MAX_HEARTBEAT_SECONDS};

/// `WebSocketRequestOptions`: what `connect` may be given besides the URL.
///
/// ```
/// use ws_api::client::{ProxyConfiguration, WebSocketRequestOptions};
///
/// let options = WebSocketRequestOptions {
///     header: vec![("Authorization".into(), "Bearer abc".into())],
///     protocol: Some("chat".into()),
///     proxy: Some(ProxyConfiguration::NoProxy),
///     ping_interval: Some(10),
///     ..Default::default()
/// };
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
pub struct WebSocketRequestOptions {
    /// `header`: extra request headers, sent after the handshake's own.
    pub header: Vec<(String, String)>,
    /// `caPath`: a PEM file, or a directory of PEM files, used as the only trust roots. Unset:
    /// the bundled Mozilla roots (feature `webpki-roots`, on by default), or, in a build with
    /// `native-roots` and without `webpki-roots`, the platform's roots.
    pub ca_path: Option<PathBuf>,
    /// `clientCert`: a client certificate.
    pub client_cert: Option<ClientCert>,
    /// `proxy`: default `'system'`.
    pub proxy: Option<ProxyConfiguration>,
    /// `protocol`: `Sec-WebSocket-Protocol` (one name or a comma-separated list).
    pub protocol: Option<String>,
    /// `skipServerCertVerification`: accept any server certificate. **Unsafe**: anyone on the
    /// path can impersonate the server.
    pub skip_server_cert_verification: Option<bool>,
    /// `pingInterval`, seconds: default 30, 0 disables the heartbeat, above 30000 → default.
    pub ping_interval: Option<u64>,
    /// `pongTimeout`, seconds: default 30, 0 = pings without a timeout, above 30000 → default,
    /// above `pingInterval` → clamped to it.
    pub pong_timeout: Option<u64>,
    /// `minSupportTlsProtocol`. rustls speaks only TLS 1.2 and 1.3: 1.0–1.2 all mean
    /// "1.2 and 1.3", 1.3 means "1.3 only".
    pub min_support_tls_protocol: Option<TlsProtocol>,
    /// Extension: the largest message accepted from the server, in bytes (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`](crate::client::DEFAULT_MAX_MESSAGE_SIZE), 64 MiB; any size
    /// may be set, above or below it). A larger message closes the connection with 1009 and an
    /// `error` event.
    pub max_message_size: Option<usize>,
    /// Extension: the most bytes that may wait to be sent on the connection (default
    /// [`DEFAULT_SEND_BACKLOG_LIMIT`](crate::client::DEFAULT_SEND_BACKLOG_LIMIT), 16 MiB, or
    /// three messages of `max_send_size` when that is larger). A
    /// `send` that would pass it is refused with 2302999 and the connection, whose server does
    /// not read what it is sent, is closed with 1008 and an `error` event. A message larger
    /// than the limit by itself is refused with 401 and the connection kept.
    pub send_backlog_limit: Option<usize>,
    /// Extension: the largest message `send` accepts, in bytes (default
    /// [`MAX_SEND_SIZE`](crate::client::MAX_SEND_SIZE), the documented 5,242,864); a larger one
    /// is refused with 401. Raising it lets larger messages go out; unless `send_backlog_limit`
    /// is set, the backlog limit grows to three messages of this size.
    pub max_send_size: Option<usize>,
    /// Extension: offer permessage-deflate (RFC 7692) with these settings; when the server
    /// accepts, messages are compressed both ways. Default `None`: no extension is offered, as
    /// the documented API does.
    pub permessage_deflate: Option<PermessageDeflate>,
}

/// `ClientCert`: a client certificate chain and its key.
#[derive(Clone)]
pub struct ClientCert {
    /// `certPath`: PEM certificate chain.
    pub cert_path: PathBuf,
    /// `keyPath`: PEM key (PKCS#8, PKCS#1 or SEC1; encrypted ones, PKCS#8 or OpenSSL's
    /// traditional `Proc-Type: 4,ENCRYPTED`, with `key_password`).
    pub key_path: PathBuf,
    /// `keyPassword`: default empty.
    pub key_password: Option<String>,
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field(
                "key_password",
                &self.key_password.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `ProxyConfiguration`.
#[derive(Debug, Clone, Default)]
pub enum ProxyConfiguration {
    /// `'system'`: the environment's proxy (`https_proxy` for wss, `http_proxy` for ws,
    /// `all_proxy`, minus `no_proxy`).
    #[default]
    System,
    /// `'no-proxy'`: connect directly.
    NoProxy,
    /// An explicit HTTP proxy.
    Http(HttpProxy),
}

/// `HttpProxy`: an HTTP CONNECT proxy.
#[derive(Clone, Default)]
pub struct HttpProxy {
    /// Proxy host.
    pub host: String,
    /// Proxy port.
    pub port: u16,
    /// Hosts reached directly: `*` (all), `*.example.com` (subdomains), or exact names/addresses.
    pub exclusion_list: Vec<String>,
    /// Basic authentication user name.
    pub username: Option<String>,
    /// Basic authentication password.
    pub password: Option<String>,
}

impl std::fmt::Debug for HttpProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("exclusion_list", &self.exclusion_list)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `TlsProtocol`: the lowest TLS version accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsProtocol {
    /// `TLS_V_1_0` (0): treated as TLS 1.2.
    TlsV10 = 0,
    /// `TLS_V_1_1` (1): treated as TLS 1.2.
    TlsV11 = 1,
    /// `TLS_V_1_2` (2).
    TlsV12 = 2,
    /// `TLS_V_1_3` (3).
    TlsV13 = 3,
}

/// The heartbeat as configured: a setting out of range falls back to the default; the pong
/// timeout never exceeds the ping interval.
pub(crate) fn heartbeat(ping: Option<u64>, pong: Option<u64>) -> (Duration, Duration) {
    let in_range = |v: Option<u64>| {
        v.filter(|&s| s <= MAX_HEARTBEAT_SECONDS)
            .unwrap_or(DEFAULT_HEARTBEAT_SECONDS)
    };
    let ping = in_range(ping);
    let pong = in_range(pong).min(ping);
    (Duration::from_secs(ping), Duration::from_secs(pong))
}

impl WebSocketRequestOptions {
    /// The `ws-net` client settings, checked: bad headers and protocols → 401.
    pub(crate) fn to_config(&self, secure: bool) -> Result<ClientConfig, BusinessError> {
        let mut config = ClientConfig::default();
        config.headers = self.header.clone();
        if let Some(protocol) = self.protocol.as_deref().filter(|p| !p.is_empty()) {
            config.protocols = vec![protocol.to_owned()];
        }
        config.proxy = match self.proxy.clone().unwrap_or_default() {
            ProxyConfiguration::System => ProxyConfig::System,
            ProxyConfiguration::NoProxy => ProxyConfig::None,
            ProxyConfiguration::Http(proxy) => {
                let mut http =
                    NetHttpProxy::new(proxy.host, proxy.port).with_exclusions(proxy.exclusion_list);
                if let Some(user) = proxy.username {
                    http = http.with_credentials(user, proxy.password.unwrap_or_default());
                }
                ProxyConfig::Http(http)
            }
        };
        if secure {
            #[cfg(feature = "tls")]
            {
                config.tls = self.tls_options();
            }
            // Refused here rather than by ws-net, which may have TLS through another
            // dependency: it would not be given `caPath` and the other TLS options.
            #[cfg(not(feature = "tls"))]
            return Err(BusinessError::new(
                code::UNKNOWN,
                "wss:// URLs need the `tls` feature of ws-api, which this build was compiled \
                 without: enable it in Cargo.toml",
            ));
        }
        let (ping, pong) = heartbeat(self.ping_interval, self.pong_timeout);
        config.connection.ping_interval = Some(ping).filter(|d| !d.is_zero());
        config.connection.pong_timeout = Some(pong).filter(|d| !d.is_zero());
        config.connection.protocol.limits = crate::limits::receive_limits(self.max_message_size);
        config.deflate = self
            .permessage_deflate
            .as_ref()
            .map(PermessageDeflate::to_config);
        Ok(config)
    }
}

#[cfg(feature = "tls")]
impl WebSocketRequestOptions {
    /// `caPath`, `clientCert`, `skipServerCertVerification` and `minSupportTlsProtocol` as
    /// ws-net TLS settings.
    fn tls_options(&self) -> TlsClientOptions {
        let mut tls =
            TlsClientOptions::default().min_version(match self.min_support_tls_protocol {
                Some(TlsProtocol::TlsV13) => TlsVersion::Tls13,
                _ => TlsVersion::Tls12,
            });
        // Without `caPath`: the Mozilla roots, or the platform's in a build that has only those.
        #[cfg(all(feature = "native-roots", not(feature = "webpki-roots")))]
        {
            tls = tls.native_roots();
        }
        if let Some(cert) = &self.client_cert {
            let mut net = NetClientCert::new(&cert.cert_path, &cert.key_path);
            net.key_password = cert.key_password.clone().filter(|p| !p.is_empty());
            tls = tls.client_cert(net);
        }
        if let Some(ca) = &self.ca_path {
            tls = tls.ca(ca);
        }
        // The reference lets this option win over `caPath`.
        if self.skip_server_cert_verification == Some(true) {
            tls = tls.dangerous().accept_any_server_certificate();
        }
        tls
    }
}

/// Maps a TLS setup failure: missing files → 2302002, key problems → 401, the rest → 2302999.
#[cfg(feature = "tls")]
pub(crate) fn tls_setup_error(error: ws_net::tls::TlsError) -> BusinessError {
    if let ws_net::tls::TlsError::FeatureDisabled {
        feature: "webpki-roots",
        ..
    } = error
    {
        // ws-net's words name its own option; these name the facade's.
        return BusinessError::new(
            code::UNKNOWN,
            "without caPath (ca_path), servers are verified against the Mozilla roots, which \
             need the `webpki-roots` feature of ws-api, and this build was compiled without it: \
             set caPath, or enable `webpki-roots` (or `native-roots`, the platform's roots) in \
             Cargo.toml",
        )
        .with_cause(ws_net::Error::Tls(error));
    }
    let code = if error.is_file_missing() {
        code::CERT_FILE_NOT_EXIST
    } else if error.is_key_error() {
        code::PARAMETER_ERROR
    } else {
        code::UNKNOWN
    };
    BusinessError::new(code, &error).with_cause(ws_net::Error::Tls(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "tls"))]
    #[test]
    fn wss_without_tls_names_the_feature() {
        let err = WebSocketRequestOptions::default()
            .to_config(true)
            .unwrap_err();
        assert_eq!(err.code, code::UNKNOWN);
        assert!(err.message.contains("`tls` feature"), "{err}");
        assert!(WebSocketRequestOptions::default().to_config(false).is_ok());
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_setup_errors_name_the_facade_options() {
        let missing_roots = ws_net::tls::TlsError::FeatureDisabled {
            feature: "webpki-roots",
            what: "verifying servers against the bundled Mozilla roots",
        };
        let err = tls_setup_error(missing_roots);
        assert_eq!(err.code, code::UNKNOWN);
        assert!(err.message.contains("caPath (ca_path)"), "{err}");
        assert!(err.message.contains("`webpki-roots`"), "{err}");
        assert!(!err.message.contains("TlsClientOptions"), "{err}");
        let missing_file = ws_net::tls::TlsError::FileMissing {
            file: ws_net::tls::PemFile::CaCertificates,
            path: "/nonexistent/ca.pem".into(),
        };
        assert_eq!(
            tls_setup_error(missing_file).code,
            code::CERT_FILE_NOT_EXIST
        );
    }

    #[test]
    fn heartbeat_defaults_ranges_and_clamping() {
        let s = Duration::from_secs;
        assert_eq!(heartbeat(None, None), (s(30), s(30)));
        assert_eq!(heartbeat(Some(0), None), (s(0), s(0)));
        assert_eq!(heartbeat(Some(10), Some(20)), (s(10), s(10)));
        assert_eq!(heartbeat(Some(60), Some(5)), (s(60), s(5)));
        assert_eq!(heartbeat(Some(30_001), Some(30_001)), (s(30), s(30)));
        assert_eq!(heartbeat(Some(30_000), Some(0)), (s(30_000), s(0)));
    }
}
