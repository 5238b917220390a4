//! Connecting to a WebSocket server: URL, DNS, TCP, proxy tunnel, TLS, handshake.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use ws_proto::deflate::DeflateConfig;
use ws_proto::handshake::{ClientRequest, Response, WsUrl};

use crate::handshake::client_handshake;
use crate::proxy::{tunnel, ProxyConfig, ProxyEndpoint};
#[cfg(feature = "tls")]
use crate::tls::{Peer, TlsClientOptions};
#[cfg(feature = "tls")]
use crate::trace::warning;
use crate::trace::{debug, info, Span};
use crate::{Connection, ConnectionConfig, Error};
use ws_proto::Role;

/// Settings of [`connect`].
///
/// ```
/// use std::time::Duration;
/// use ws_net::client::ClientConfig;
///
/// let config = ClientConfig::default()
///     .protocols(["chat"])
///     .header("Origin", "https://example.com")
///     .connect_timeout(Duration::from_secs(5));
/// assert_eq!(config.handshake_timeout, Duration::from_secs(10));
/// ```
///
/// | setting | default |
/// | --- | --- |
/// | [`protocols`](Self::protocols) | none offered |
/// | [`headers`](Self::headers) | none |
/// | [`connect_timeout`](Self::connect_timeout) | 10 s |
/// | [`handshake_timeout`](Self::handshake_timeout) | 10 s |
/// | [`proxy`](Self::proxy) | [`ProxyConfig::System`]: the environment's |
/// | [`tls`](Self::tls) | the Mozilla roots, TLS 1.2 and 1.3, no client certificate |
/// | [`connection`](Self::connection) | [`ConnectionConfig::default`] |
/// | [`deflate`](Self::deflate) | `None`: no extension offered |
/// | `http2` (feature `http2`) | `Http2::Off`: HTTP/1.1 only |
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Subprotocols to offer, most preferred first (`Sec-WebSocket-Protocol`). A server answer
    /// naming one that was not offered fails the handshake.
    pub protocols: Vec<String>,
    /// Extra request headers, sent after the handshake's own. The handshake's own headers
    /// (`Host`, `Upgrade`, `Sec-WebSocket-*`...) are refused.
    pub headers: Vec<(String, String)>,
    /// Time allowed for DNS and the TCP connection (all addresses together). Default 10 s.
    pub connect_timeout: Duration,
    /// Time allowed for the proxy tunnel, TLS and the WebSocket handshake. Default 10 s.
    pub handshake_timeout: Duration,
    /// Which HTTP CONNECT proxy to use: by default the environment's (`https_proxy` for
    /// `wss://`, `http_proxy` for `ws://`, `all_proxy`, minus `no_proxy`; loopback targets go
    /// direct).
    pub proxy: ProxyConfig,
    /// TLS settings for `wss://`: trust roots, client certificate, minimum version (feature
    /// `tls`).
    #[cfg(feature = "tls")]
    pub tls: TlsClientOptions,
    /// Settings of the connection once open.
    pub connection: ConnectionConfig,
    /// permessage-deflate (RFC 7692) offered with these settings; when the server accepts, the
    /// connection compresses with the agreed parameters
    /// ([`Response::deflate`](ws_proto::handshake::Response::deflate)). `None` (the default):
    /// nothing offered.
    pub deflate: Option<DeflateConfig>,
    /// When to run the WebSocket over HTTP/2 (RFC 8441) instead of HTTP/1.1; see
    /// [`Http2`](crate::http2::Http2). Default [`Http2::Off`](crate::http2::Http2::Off).
    #[cfg(feature = "http2")]
    pub http2: crate::http2::Http2,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            protocols: Vec::new(),
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            proxy: ProxyConfig::default(),
            #[cfg(feature = "tls")]
            tls: TlsClientOptions::default(),
            connection: ConnectionConfig::default(),
            deflate: None,
            #[cfg(feature = "http2")]
            http2: crate::http2::Http2::Off,
        }
    }
}

impl ClientConfig {
    /// Sets the subprotocols to offer, most preferred first.
    #[must_use]
    pub fn protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Adds an extra request header (checked when connecting).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the time allowed for DNS and the TCP connection.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the time allowed for the proxy tunnel, TLS and the WebSocket handshake.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets which proxy to use.
    #[must_use]
    pub fn proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = proxy;
        self
    }

    /// Sets the TLS settings for `wss://`.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(mut self, tls: TlsClientOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Sets the settings of the connection once open.
    #[must_use]
    pub fn connection(mut self, connection: ConnectionConfig) -> Self {
        self.connection = connection;
        self
    }

    /// Offers permessage-deflate with `config`'s settings, or nothing with `None` (the default).
    ///
    /// Memory: a connection that compresses holds a compressor of about 256 KiB (15-bit window,
    /// zlib memory level 8; less with a smaller `client_max_window_bits`) and an inflater of 32 to
    /// 40 KiB, allocated when the first compressed message is sent or received.
    #[must_use]
    pub fn deflate(mut self, config: Option<DeflateConfig>) -> Self {
        self.deflate = config;
        self
    }

    /// Sets when to run the WebSocket over HTTP/2 (RFC 8441); see
    /// [`Http2`](crate::http2::Http2) for what each mode does over `ws://` and `wss://`.
    #[cfg(feature = "http2")]
    #[must_use]
    pub fn http2(mut self, http2: crate::http2::Http2) -> Self {
        self.http2 = http2;
        self
    }

    /// The upgrade request for `url` with these protocols, headers and permessage-deflate offer,
    /// checked.
    ///
    /// # Errors
    ///
    /// [`Error::Url`] for an invalid URL, [`Error::Input`] for an invalid protocol or header.
    pub fn request(&self, url: &str) -> Result<ClientRequest, Error> {
        let mut request = ClientRequest::from_url(url)?;
        for protocol in &self.protocols {
            request = request.protocol(protocol.as_str())?;
        }
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str())?;
        }
        Ok(request.deflate(self.deflate.as_ref()))
    }
}

/// Connects to a `ws://` or `wss://` URL and completes the opening handshake.
///
/// Every address the host (or the proxy) resolves to is tried in turn (IPv6 and IPv4) until one
/// accepts. Through a proxy, the tunnel is an HTTP CONNECT to the target, and TLS for `wss://`
/// runs inside it, end to end. Returns the open connection and the server's response (HTTP
/// version, status, reason phrase, headers, selected subprotocol). With the `http2` feature,
/// [`ClientConfig::http2`] can make it speak WebSocket over HTTP/2 (RFC 8441) to servers that
/// support it.
///
/// ```no_run
/// use ws_net::client::{connect, ClientConfig};
/// use ws_net::Incoming;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ws_net::Error> {
/// let (mut conn, response) = connect("ws://127.0.0.1:9001/", &ClientConfig::default()).await?;
/// println!("{} {}", response.status, response.reason);
/// conn.send_text("hello").await?;
/// while let Some(incoming) = conn.recv().await {
///     match incoming {
///         Incoming::Message(message) => println!("got {message:?}"),
///         // Pings are answered in the background; pongs answer our own pings.
///         Incoming::Ping(_) | Incoming::Pong(_) => {}
///         // Only with `ReceiveMode::Streaming`.
///         Incoming::Chunk(chunk) => println!("got {} bytes of a message", chunk.data.len()),
///         Incoming::Error(error) => eprintln!("connection failed: {error}"),
///         Incoming::Closed(status) => println!("closed: {} {}", status.code, status.reason),
///     }
/// }
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`Error::Url`] or [`Error::Input`] before any traffic; `Error::Tls` for certificate and key
/// files and the TLS handshake ([`Error::FeatureDisabled`] for `wss://` without the `tls`
/// feature); [`Error::Proxy`] for the tunnel; [`Error::Resolve`] and
/// [`Error::Connect`] for DNS and TCP; [`Error::Timeout`] when a step runs out of time;
/// [`Error::Response`] when the server refuses the upgrade (its HTTP status in
/// [`ResponseError::status`](ws_proto::handshake::ResponseError::status)).
pub async fn connect(url: &str, config: &ClientConfig) -> Result<(Connection, Response), Error> {
    let request = config.request(url)?;
    #[cfg(feature = "http2")]
    if config.http2 != crate::http2::Http2::Off {
        return crate::http2::connect(&request, config).await;
    }
    connect_http1(&request, config).await
}

/// The HTTP/1.1 handshake (RFC 6455 §4) on a new connection, over TLS for `wss://`.
pub(crate) async fn connect_http1(
    request: &ClientRequest,
    config: &ClientConfig,
) -> Result<(Connection, Response), Error> {
    let target = request.url();
    // Certificate and key files are checked before any network traffic.
    #[cfg(feature = "tls")]
    let tls = match target.secure() {
        true => Some(config.tls.build()?),
        false => None,
    };
    #[cfg(not(feature = "tls"))]
    if target.secure() {
        return Err(Error::FeatureDisabled {
            feature: "tls",
            what: "a `wss://` URL",
        });
    }
    let mut opened = open_tcp(target, config).await?;
    let (span, deadline) = (opened.span.clone(), opened.deadline);
    let handshake = async move {
        opened.tunnel(target).await?;
        let connection = config.connection.clone();
        #[cfg(not(feature = "tls"))]
        let tls: Option<std::convert::Infallible> = None;
        match tls {
            None => client_handshake(opened.tcp, request, connection).await,
            #[cfg(not(feature = "tls"))]
            Some(never) => match never {},
            #[cfg(feature = "tls")]
            Some(tls) => {
                let stream = tls_connect(&tls, target, opened.tcp).await?;
                client_handshake(stream, request, connection)
                    .await
                    .map_err(|e| e.over_tls(Peer::Server))
                    .inspect_err(|error| {
                        if let Error::Tls(error) = error {
                            warning!(%error, "TLS: the server ended the session");
                        }
                    })
            }
        }
    };
    bounded(deadline, span, config, handshake).await
}

/// A TCP connection to the target, or to the proxy `config` picks for it, before the tunnel,
/// TLS and the handshake.
pub(crate) struct Opened {
    pub(crate) tcp: TcpStream,
    proxy: Option<ProxyEndpoint>,
    /// The connection's span from here on: the handshake's events and the connection's own.
    pub(crate) span: Span,
    /// When the handshake timeout, which started when TCP connected, runs out.
    pub(crate) deadline: Instant,
}

impl Opened {
    /// Logs the attempt and opens the proxy tunnel, if any.
    pub(crate) async fn tunnel(&mut self, target: &WsUrl) -> Result<(), Error> {
        debug!(
            host = target.host(),
            port = target.port(),
            resource = target.resource(),
            secure = target.secure(),
            "connecting"
        );
        if let Some(proxy) = &self.proxy {
            let tunnelled = tunnel(&mut self.tcp, proxy, target.host(), target.port()).await;
            match &tunnelled {
                Ok(()) => debug!(proxy = %proxy.host, "proxy: CONNECT tunnel open"),
                Err(error) => debug!(proxy = %proxy.host, %error, "proxy: CONNECT failed"),
            }
            tunnelled?;
        }
        Ok(())
    }
}

/// DNS and TCP (every address tried in turn) within the connect timeout.
pub(crate) async fn open_tcp(target: &WsUrl, config: &ClientConfig) -> Result<Opened, Error> {
    let proxy = config
        .proxy
        .for_target(target.host(), target.port(), target.secure())?;
    let deadline = Instant::now() + config.connect_timeout;
    let tcp = match &proxy {
        None => connect_tcp(target.host(), target.port(), deadline).await?,
        Some(proxy) => connect_tcp(&proxy.host, proxy.port, deadline)
            .await
            .map_err(|error| match error {
                Error::Connect { target, source } => Error::Connect {
                    target: format!("the proxy at {target}"),
                    source,
                },
                other => other,
            })?,
    };
    crate::socket::configure(&tcp, config.connection.tcp_keepalive);
    let span = crate::trace::connection_span(Role::Client, tcp.peer_addr().ok());
    Ok(Opened {
        tcp,
        proxy,
        span,
        deadline: Instant::now() + config.handshake_timeout,
    })
}

/// The TLS handshake with the server for `target`.
#[cfg(feature = "tls")]
pub(crate) async fn tls_connect(
    tls: &crate::tls::TlsConnector,
    target: &WsUrl,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let stream = tls.connect(target.host(), tcp).await.inspect_err(|error| {
        // Our own connection failed: worth a warning (a peer cannot repeat it).
        warning!(%error, "TLS: handshake with the server failed");
    })?;
    debug!("TLS: established");
    Ok(stream)
}

/// Runs `handshake` in `span`, bounded by `deadline` (the handshake timeout).
pub(crate) async fn bounded<T>(
    deadline: Instant,
    span: Span,
    config: &ClientConfig,
    handshake: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let handshake = crate::trace::instrument(handshake, span.clone());
    timeout_at(deadline, handshake).await.unwrap_or_else(|_| {
        span.in_scope(|| {
            let timeout = config.handshake_timeout;
            info!(?timeout, "limit hit: the opening handshake timed out");
        });
        Err(Error::Timeout("the opening handshake"))
    })
}

/// Resolves `host` and connects to the first of its addresses that accepts, before `deadline`.
pub(crate) async fn connect_tcp(
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<TcpStream, Error> {
    let target = ws_proto::handshake::authority(host, port);
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => timeout_at(deadline, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| Error::Timeout("resolving the host name"))?
            .map_err(|source| Error::Resolve {
                host: host.to_owned(),
                source,
            })?
            .collect(),
    };
    connect_any(&addrs, deadline)
        .await
        .map_err(|error| match error {
            Error::Io(source) => Error::Connect { target, source },
            other => other,
        })
}

/// Tries each address in turn; the first to accept wins, else the last error is returned.
async fn connect_any(addrs: &[SocketAddr], deadline: Instant) -> Result<TcpStream, Error> {
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host has no addresses");
    for &addr in addrs {
        match timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => return Ok(tcp),
            Ok(Err(error)) => last_error = error,
            Err(_) => return Err(Error::Timeout("connecting")),
        }
    }
    Err(Error::Io(last_error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_address_is_tried_until_one_accepts() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let tcp = connect_any(&[closed, open], deadline).await.unwrap();
        assert_eq!(tcp.peer_addr().unwrap(), open);
        let err = connect_any(&[closed], deadline).await.unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused),
            "{err}"
        );
    }

    #[cfg(not(feature = "tls"))]
    #[tokio::test]
    async fn wss_without_tls_names_the_feature() {
        // Refused before any traffic: nothing listens on this port.
        let err = connect("wss://127.0.0.1:9/", &ClientConfig::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::FeatureDisabled { feature: "tls", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("`tls` feature"), "{err}");
    }

    #[tokio::test]
    async fn ipv6_literals_connect_without_dns() {
        let Ok(listener) = tokio::net::TcpListener::bind("[::1]:0").await else {
            // No IPv6 loopback on this host: nothing to test.
            return;
        };
        let port = listener.local_addr().unwrap().port();
        let deadline = Instant::now() + Duration::from_secs(5);
        let tcp = connect_tcp("::1", port, deadline).await.unwrap();
        assert!(tcp.peer_addr().unwrap().is_ipv6());
    }
}
