//! A WebSocket server: a listener that accepts clients, runs their handshakes under a timeout
//! and size limits, enforces connection limits, and shuts down gracefully.

mod hook;
mod registry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use ws_proto::handshake::error_response;
use ws_proto::{CloseCode, Role};

use crate::handshake::{answer, read_request, with_deflate, AcceptOptions, Accepted};
#[cfg(feature = "tls")]
use crate::tls::{Peer, TlsAcceptor};
#[cfg(feature = "tls")]
use crate::trace::debug;
use crate::trace::{info, warning};
use crate::{Connection, ConnectionConfig, Error};
use registry::{Registry, Slot};

pub use registry::Limit;

pub use hook::{HookFuture, Refusal, RequestHook, RequestInfo};

/// Settings of a [`Server`].
///
/// ```
/// use std::time::Duration;
/// use ws_net::handshake::AcceptOptions;
/// use ws_net::server::ServerConfig;
///
/// let config = ServerConfig::default()
///     .accept(AcceptOptions::default().protocols(["chat.v2", "chat.v1"]))
///     .max_connections_per_ip(Some(10))
///     .max_client_ips(Some(1000))
///     .handshake_timeout(Duration::from_secs(3));
/// assert_eq!(config.accept.protocols, ["chat.v2", "chat.v1"]);
/// ```
///
/// | setting | default |
/// | --- | --- |
/// | [`accept`](Self::accept) | no subprotocol, 8 KiB heads of at most 64 headers |
/// | [`handshake_timeout`](Self::handshake_timeout) | 5 s |
/// | [`max_connections_per_ip`](Self::max_connections_per_ip) | `None`: unlimited |
/// | [`max_client_ips`](Self::max_client_ips) | `None`: unlimited |
/// | [`tls`](Self::tls) | `None`: plain `ws://` |
/// | [`connection`](Self::connection) | [`ConnectionConfig::default`] |
/// | [`request_hook`](Self::request_hook) | `None`: every valid request is accepted |
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Subprotocols and request-size limits of the handshake.
    pub accept: AcceptOptions,
    /// A client must complete its handshake (TLS included) within this time.
    pub handshake_timeout: Duration,
    /// Most connections one IP address may hold at once (handshakes included); `None`:
    /// unlimited. Clients over the limit are answered with 503.
    pub max_connections_per_ip: Option<usize>,
    /// Most distinct client IP addresses connected at once; `None`: unlimited. Clients over the
    /// limit are answered with 503.
    pub max_client_ips: Option<usize>,
    /// Serve `wss://`: the TLS certificate and key (see [`crate::tls::TlsServerOptions`];
    /// feature `tls`).
    #[cfg(feature = "tls")]
    pub tls: Option<TlsAcceptor>,
    /// Settings of each accepted connection (limits, heartbeat, buffers).
    pub connection: ConnectionConfig,
    /// Inspects each valid upgrade request before it is accepted, and may refuse it.
    pub request_hook: Option<RequestHook>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            accept: AcceptOptions::default(),
            handshake_timeout: Duration::from_secs(5),
            max_connections_per_ip: None,
            max_client_ips: None,
            #[cfg(feature = "tls")]
            tls: None,
            connection: ConnectionConfig::default(),
            request_hook: None,
        }
    }
}

impl ServerConfig {
    /// Sets the subprotocols and request-size limits of the handshake.
    #[must_use]
    pub fn accept(mut self, accept: AcceptOptions) -> Self {
        self.accept = accept;
        self
    }

    /// Sets the time a client has to complete its handshake, TLS included.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the most connections per IP address (`None`: unlimited).
    #[must_use]
    pub fn max_connections_per_ip(mut self, max: Option<usize>) -> Self {
        self.max_connections_per_ip = max;
        self
    }

    /// Sets the most distinct client IP addresses (`None`: unlimited).
    #[must_use]
    pub fn max_client_ips(mut self, max: Option<usize>) -> Self {
        self.max_client_ips = max;
        self
    }

    /// Serves `wss://` with this acceptor.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(mut self, acceptor: TlsAcceptor) -> Self {
        self.tls = Some(acceptor);
        self
    }

    /// Sets the settings of each accepted connection.
    #[must_use]
    pub fn connection(mut self, connection: ConnectionConfig) -> Self {
        self.connection = connection;
        self
    }

    /// Runs `hook` on each valid upgrade request (path, headers, origin, the client's address)
    /// before the 101 answer: `Ok(())` accepts it, a [`Refusal`] answers the client with its
    /// status, headers and body, and [`Server::accept`] reports [`Error::Refused`]. The hook
    /// may await (a token lookup, say); it runs within [`handshake_timeout`](Self::handshake_timeout)
    /// and after the connection limits. A hook that panics gets the client a 500 and
    /// [`Error::HookPanicked`]; the server goes on.
    ///
    /// ```
    /// use ws_net::server::{Refusal, ServerConfig};
    ///
    /// let config = ServerConfig::default().request_hook(|info| async move {
    ///     if info.request.path.starts_with("/public/") || info.remote_addr.ip().is_loopback() {
    ///         Ok(())
    ///     } else {
    ///         Err(Refusal::new(403).body("only /public/ is open to remote clients\n"))
    ///     }
    /// });
    /// assert!(config.request_hook.is_some());
    /// ```
    #[must_use]
    pub fn request_hook<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(RequestInfo) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), Refusal>> + Send + 'static,
    {
        self.request_hook = Some(RequestHook::new(hook));
        self
    }
}

/// A client whose handshake succeeded.
#[derive(Debug)]
pub struct Client {
    /// The connection.
    pub connection: Connection,
    /// The request and the subprotocol selected.
    pub accepted: Accepted,
    /// The client's address (IPv4-mapped IPv6 addresses shown as IPv4).
    pub remote_addr: SocketAddr,
}

/// A client that did not become a connection, and why.
#[derive(Debug)]
pub struct Rejected {
    /// The client's address, when the failure concerns one client.
    pub remote_addr: Option<SocketAddr>,
    /// What went wrong: a limit (answered with 503), an invalid request (answered with its
    /// HTTP error), a timeout, a TLS failure, an accept error of the listener.
    pub error: Error,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.remote_addr {
            Some(addr) => write!(f, "client {addr}: {}", self.error),
            None => self.error.fmt(f),
        }
    }
}

impl std::error::Error for Rejected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// A listening WebSocket server.
///
/// Accepting, TLS and the handshakes run in a background task, each client in its own task, so
/// a slow or hostile client never delays another. [`accept`](Self::accept) hands out the clients
/// whose handshake succeeded, and reports the ones that failed.
///
/// A server runs until it is told to stop: it takes every client [`accept`](Self::accept) hands
/// out, logs the ones turned away and goes on, then shuts down gracefully.
///
/// ```
/// use std::time::Duration;
/// use ws_net::server::{Client, Server, ServerConfig};
/// use ws_net::{client, CloseCode, Incoming, Message};
///
/// async fn echo(mut client: Client) {
///     while let Some(incoming) = client.connection.recv().await {
///         match incoming {
///             Incoming::Message(message) => {
///                 if client.connection.send(message).await.is_err() {
///                     break; // Failing or closing: nothing more to echo.
///                 }
///             }
///             Incoming::Ping(_) | Incoming::Pong(_) | Incoming::Chunk(_) => {}
///             Incoming::Error(error) => eprintln!("{}: {error}", client.remote_addr),
///             Incoming::Closed(status) => eprintln!("{}: closed {}", client.remote_addr, status.code),
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut server = Server::bind("127.0.0.1:0".parse()?, ServerConfig::default()).await?;
/// let url = format!("ws://{}/echo", server.local_addr());
///
/// // Stands in for the signal a real server stops on, such as `tokio::signal::ctrl_c()`.
/// let (stop, mut stopped) = tokio::sync::oneshot::channel();
/// tokio::spawn(async move {
///     let (mut conn, _response) = client::connect(&url, &client::ClientConfig::default()).await?;
///     conn.ping(b"").await?;
///     conn.send_text("ping?").await?;
///     while let Some(incoming) = conn.recv().await {
///         if let Incoming::Message(Message::Text(text)) = incoming {
///             assert_eq!(text.as_str(), "ping?");
///             conn.close(CloseCode::NORMAL, "").await?;
///         }
///     }
///     let _ = stop.send(());
///     Ok::<_, ws_net::Error>(())
/// });
///
/// loop {
///     tokio::select! {
///         accepted = server.accept() => match accepted {
///             Some(Ok(client)) => {
///                 tokio::spawn(echo(client));
///             }
///             // Already answered (a limit, a bad request, a timeout): nothing to do but log it.
///             Some(Err(rejected)) => eprintln!("{rejected}"),
///             None => break,
///         },
///         _ = &mut stopped => break,
///     }
/// }
/// server.shutdown(Duration::from_secs(1)).await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    incoming: mpsc::Receiver<Result<Client, Rejected>>,
    registry: Arc<Registry>,
    accept_loop: JoinHandle<()>,
}

impl Server {
    /// Listens on `addr` (port 0 picks a free port; see [`local_addr`](Self::local_addr)).
    ///
    /// # Errors
    ///
    /// [`Error::Listen`] when the address cannot be listened on (in use, not an address of this
    /// host, permission denied).
    pub async fn bind(addr: SocketAddr, config: ServerConfig) -> Result<Server, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| Error::Listen { addr, source })?;
        Ok(Server::start(listener, local_addr, config))
    }

    /// Serves on a listener the caller set up: bound with socket options of its own, inherited
    /// from a service manager (systemd socket activation), or shared with other code that
    /// needed its address first. Call it within the tokio runtime that owns the listener: the
    /// accept loop is spawned on it.
    ///
    /// ```
    /// use ws_net::server::{Server, ServerConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = listener.local_addr()?;
    /// let server = Server::from_listener(listener, ServerConfig::default())?;
    /// assert_eq!(server.local_addr(), addr);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the listener's address cannot be read (the socket is not bound).
    pub fn from_listener(listener: TcpListener, config: ServerConfig) -> Result<Server, Error> {
        let local_addr = listener.local_addr()?;
        Ok(Server::start(listener, local_addr, config))
    }

    /// Spawns the accept loop; must run within a tokio runtime.
    fn start(listener: TcpListener, local_addr: SocketAddr, config: ServerConfig) -> Server {
        let registry = Arc::new(Registry::new(
            config.max_connections_per_ip.unwrap_or(usize::MAX),
            config.max_client_ips.unwrap_or(usize::MAX),
        ));
        // Handshaken clients wait here for `accept`; when it is full, handshakes wait too.
        let (tx, incoming) = mpsc::channel(64);
        let accept_loop = tokio::spawn(accept_loop(
            listener,
            Arc::new(config),
            Arc::clone(&registry),
            tx,
        ));
        Server {
            local_addr,
            incoming,
            registry,
            accept_loop,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The next client: `Ok` with an established connection, `Err` for one that was turned away
    /// or failed its handshake (already answered; nothing to do but log it). `None` once the
    /// server has shut down.
    pub async fn accept(&mut self) -> Option<Result<Client, Rejected>> {
        self.incoming.recv().await
    }

    /// How many clients are connected or handshaking.
    pub fn connection_count(&self) -> usize {
        self.registry.len()
    }

    /// Shuts down gracefully: stops accepting, cancels handshakes in progress, sends every
    /// connection a Close frame with 1001 ("server is going away"), waits up to `timeout` for
    /// their closing handshakes, then drops whatever is left.
    pub async fn shutdown(mut self, timeout: Duration) {
        self.accept_loop.abort();
        self.incoming.close();
        // Clients handshaken but never taken by `accept` are closed like the others.
        while let Ok(Ok(client)) = self.incoming.try_recv() {
            drop(client);
        }
        self.registry
            .close_all(CloseCode::GOING_AWAY, "server is going away");
        if tokio::time::timeout(timeout, self.registry.wait_empty())
            .await
            .is_err()
        {
            self.registry.abort_all();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Established connections belong to their owners; only accepting stops.
        self.accept_loop.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    registry: Arc<Registry>,
    tx: mpsc::Sender<Result<Client, Rejected>>,
) {
    // Handshakes in progress; aborted with this task when the server shuts down.
    let mut handshakes = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => continue,
        };
        let (tcp, remote_addr) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and the like: report, breathe, go on.
                warning!(%error, "accepting a TCP connection failed; going on in 50 ms");
                let _ = tx.try_send(Err(Rejected {
                    remote_addr: None,
                    error: Error::Io(error),
                }));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let remote_addr = canonical(remote_addr);
        crate::socket::configure(&tcp, config.connection.tcp_keepalive);
        let slot = registry.admit(remote_addr.ip());
        let config = Arc::clone(&config);
        let tx = tx.clone();
        let span = crate::trace::connection_span(Role::Server, Some(remote_addr));
        let handshake = async move {
            let outcome = tokio::time::timeout(
                config.handshake_timeout,
                establish(tcp, remote_addr, slot, &config),
            )
            .await
            .unwrap_or_else(|_| {
                let timeout = config.handshake_timeout;
                info!(?timeout, "limit hit: no complete handshake in time");
                Err(Error::Timeout("the opening handshake"))
            });
            let _ = tx
                .send(outcome.map_err(|error| Rejected {
                    remote_addr: Some(remote_addr),
                    error,
                }))
                .await;
        };
        handshakes.spawn(crate::trace::instrument(handshake, span));
    }
}

/// Takes one client from TCP accept to an established connection.
async fn establish(
    tcp: TcpStream,
    remote_addr: SocketAddr,
    slot: Result<Slot, Limit>,
    config: &ServerConfig,
) -> Result<Client, Error> {
    #[cfg(feature = "tls")]
    if let Some(tls) = &config.tls {
        // Boxed: a TLS session takes kilobytes, and a plain handshake's task (one per client
        // connecting at that moment) should not reserve room for one.
        return Box::pin(establish_tls(tcp, tls, remote_addr, slot, config)).await;
    }
    upgrade(tcp, remote_addr, slot, config).await
}

#[cfg(feature = "tls")]
async fn establish_tls(
    tcp: TcpStream,
    tls: &crate::tls::TlsAcceptor,
    remote_addr: SocketAddr,
    slot: Result<Slot, Limit>,
    config: &ServerConfig,
) -> Result<Client, Error> {
    // Any client can fail its TLS handshake: debug, not a warning.
    let stream = tls.accept(tcp).await.inspect_err(|error| {
        debug!(%error, "TLS: handshake with the client failed");
    })?;
    upgrade(stream, remote_addr, slot, config)
        .await
        .map_err(|e| e.over_tls(Peer::Client))
        .inspect_err(|error| {
            if let Error::Tls(error) = error {
                debug!(%error, "TLS: the client ended the session");
            }
        })
}

async fn upgrade<S>(
    io: S,
    remote_addr: SocketAddr,
    slot: Result<Slot, Limit>,
    config: &ServerConfig,
) -> Result<Client, Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut io, request) = read_request(io, config.accept.limits).await?;
    let slot = match slot {
        Ok(slot) => slot,
        Err(limit) => {
            info!(status = 503, reason = %limit, "limit hit: handshake refused");
            let answer = error_response(503, "Service Unavailable", &[], &format!("{limit}\n"));
            let _ = io.write_all(&answer).await;
            let _ = io.shutdown().await;
            return Err(Error::LimitExceeded(limit));
        }
    };
    if let Some(hook) = &config.request_hook {
        if let Err((answer, error)) = hook.check(&request, remote_addr).await {
            // Best effort: the client may be gone already.
            let _ = io.write_all(&answer).await;
            let _ = io.shutdown().await;
            return Err(error);
        }
    }
    let (protocol, deflate) = answer(&mut io, &request, &config.accept).await?;
    let entry = slot.entry();
    let connection_config = with_deflate(
        config.connection.clone(),
        deflate,
        config.accept.deflate.as_ref(),
    );
    let (connection, task) =
        Connection::start(io, Role::Server, connection_config, &request.leftover, slot);
    entry.established(connection.closer(), task.abort_handle());
    Ok(Client {
        connection,
        accepted: Accepted {
            request,
            protocol,
            deflate,
        },
        remote_addr,
    })
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as the IPv4 addresses they are.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(test)]
mod handshake_task_size {
    /// Every client connecting at the same moment has a handshake task of this size: a burst
    /// of 10,000 connections costs 10,000 of them at once. A TLS session (kilobytes) is
    /// boxed, so plain handshakes do not carry room for one.
    #[tokio::test]
    async fn a_plain_handshake_future_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let config = super::ServerConfig::default();
        let registry = std::sync::Arc::new(super::registry::Registry::new(10, 10));
        let slot = registry.admit(addr.ip());
        let handshake = super::establish(tcp, addr, slot, &config);
        let size = std::mem::size_of_val(&handshake);
        assert!(size <= 3 * 1024, "{size} bytes");
    }
}
