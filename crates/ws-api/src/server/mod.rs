//! The server: `createWebSocketServer()` and `WebSocketServer`.

pub mod events;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use ws_net::server::{Client, Server, ServerConfig};
#[cfg(feature = "tls")]
use ws_net::tls::TlsServerOptions;
use ws_net::Incoming;

use crate::close::{close_arguments, close_on, exact_close_arguments};
pub use crate::close::{CloseResult, WebSocketCloseOptions};
use crate::completion::Completion;
pub use crate::deflate::PermessageDeflate;
use crate::error::{close_reason, code, describe, BusinessError};
use crate::limits::SendLimits;
pub use crate::limits::DEFAULT_MAX_MESSAGE_SIZE;
use crate::listeners::{self, ListenerHandle, Owner};
use crate::lock;
pub use crate::message::MessageData;
use crate::sending::{answered, send_on, sends_so_far, Outgoing};
use crate::trace::info;
pub use events::{ClientClose, ServerEvent, WebSocketConnection, WebSocketMessage};

/// Default of both client limits.
pub const DEFAULT_CLIENT_LIMIT: u32 = 10;
/// How long `stop` waits for the closing handshakes before dropping the rest.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest upgrade request head the server reads, in bytes: the longest URL a client
/// accepts ([`MAX_URL_LENGTH`](crate::limits::MAX_URL_LENGTH)) plus 8 KiB of ordinary headers.
/// A larger head is answered with 431.
pub const MAX_REQUEST_HEAD_SIZE: usize = crate::limits::MAX_URL_LENGTH + 8 * 1024;

/// The bounds on a client's upgrade request.
fn request_limits() -> ws_proto::handshake::HandshakeLimits {
    ws_proto::handshake::HandshakeLimits::default().max_head_size(MAX_REQUEST_HEAD_SIZE)
}

/// `WebSocketServerConfig`.
///
/// ```
/// use ws_api::server::WebSocketServerConfig;
///
/// let config = WebSocketServerConfig {
///     server_ip: Some("127.0.0.1".into()),
///     server_port: 0, // any free port; see `WebSocketServer::local_port`
///     ..Default::default()
/// };
/// assert_eq!(config.max_concurrent_clients_number, 10);
/// ```
#[derive(Debug, Clone)]
pub struct WebSocketServerConfig {
    /// `serverIP`: default `0.0.0.0`; IPv6 literals allowed.
    pub server_ip: Option<String>,
    /// `serverPort`: 0 picks a free port.
    pub server_port: u32,
    /// `serverCert`: serve `wss://`.
    pub server_cert: Option<ServerCert>,
    /// `protocol`: selected when a client offers it.
    pub protocol: Option<String>,
    /// `maxConcurrentClientsNumber`: most distinct client IP addresses at once (default 10, any
    /// positive value).
    pub max_concurrent_clients_number: u32,
    /// `maxConnectionsForOneClient`: most connections from one IP address (default 10, any
    /// positive value).
    pub max_connections_for_one_client: u32,
    /// Extension: ping every client this often, in seconds, and close a connection (1006, then
    /// the `close` event) when no pong arrives within the same time. Default `None`: no
    /// heartbeat; 0 also turns it off.
    pub ping_interval: Option<u64>,
    /// Extension: the most bytes that may wait to be sent to one client (default
    /// [`DEFAULT_SEND_BACKLOG_LIMIT`](crate::sending::DEFAULT_SEND_BACKLOG_LIMIT), 16 MiB, or
    /// three messages of `max_send_size` when that is larger). A `send` that would pass it is refused with
    /// 2302999 and that client, which does not read what it is sent, is closed with 1008 and an
    /// `error` event, so that one slow reader of a broadcast neither grows memory nor holds up
    /// the others. A message larger than the limit by itself is refused with 401 and the
    /// client kept.
    pub send_backlog_limit: Option<usize>,
    /// Extension: the largest message accepted from a client, in bytes (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`], 64 MiB; any size may be set, above or below it). A larger
    /// message closes that client's connection with 1009 and an `error` event.
    pub max_message_size: Option<usize>,
    /// Extension: the largest message `send` accepts, in bytes (default
    /// [`MAX_SEND_SIZE`](crate::limits::MAX_SEND_SIZE), the documented 5,242,864); a larger one
    /// is refused with 401. Raising it lets larger messages go out; unless `send_backlog_limit`
    /// is set, the backlog limit grows to three messages of this size.
    pub max_send_size: Option<usize>,
    /// Extension: accept permessage-deflate (RFC 7692) from clients that offer it, with these
    /// settings; messages to and from those clients are then compressed. Default `None`: offers
    /// are declined, as the documented API does.
    pub permessage_deflate: Option<PermessageDeflate>,
}

impl Default for WebSocketServerConfig {
    fn default() -> Self {
        WebSocketServerConfig {
            server_ip: None,
            server_port: 0,
            server_cert: None,
            protocol: None,
            max_concurrent_clients_number: DEFAULT_CLIENT_LIMIT,
            max_connections_for_one_client: DEFAULT_CLIENT_LIMIT,
            ping_interval: None,
            send_backlog_limit: None,
            max_message_size: None,
            max_send_size: None,
            permessage_deflate: None,
        }
    }
}

/// `ServerCert`.
#[derive(Debug, Clone)]
pub struct ServerCert {
    /// `certPath`: PEM certificate chain.
    pub cert_path: PathBuf,
    /// `keyPath`: PEM private key.
    pub key_path: PathBuf,
}

/// `webSocket.createWebSocketServer()`: a server that is not started yet.
pub fn create_web_socket_server() -> WebSocketServer {
    WebSocketServer {
        handle: Arc::new(Handle {
            core: Arc::new(Core {
                owner: Owner::new(),
                state: Mutex::default(),
                send_limits: Mutex::new(SendLimits::new(None, None)),
                stopped: Mutex::default(),
                connections: Mutex::default(),
                listeners: events::ServerListeners::default(),
            }),
        }),
    }
}

/// `WebSocketServer`.
///
/// Clones are handles to the same server; when the last one is dropped, a running server
/// stops (its clients get 1001). A listener that needs the server should capture a
/// [`WeakWebSocketServer`] (from [`downgrade`](Self::downgrade)): a clone captured in a
/// listener keeps the server alive for as long as the listener is registered.
///
/// ```no_run
/// use ws_api::server::{events, WebSocketServerConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ws_api::BusinessError> {
/// let server = ws_api::create_web_socket_server();
/// let echo = server.downgrade();
/// server.on(events::MessageReceive, move |m| {
///     if let Some(server) = echo.upgrade() {
///         // Queued at once, in order; a client over its send backlog is closed with 1008.
///         drop(server.send(m.data.clone(), &m.client_connection));
///     }
/// });
/// server.start(WebSocketServerConfig { server_port: 9001, ..Default::default() }).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct WebSocketServer {
    handle: Arc<Handle>,
}

/// A `WebSocketServer` that does not keep it alive: for listeners that need their server.
#[derive(Debug, Clone)]
pub struct WeakWebSocketServer {
    handle: Weak<Handle>,
}

impl WeakWebSocketServer {
    /// The server, unless every handle of it was dropped.
    pub fn upgrade(&self) -> Option<WebSocketServer> {
        self.handle
            .upgrade()
            .map(|handle| WebSocketServer { handle })
    }
}

/// What the user's handles share; dropping it (the last handle) stops the server.
#[derive(Debug)]
struct Handle {
    core: Arc<Core>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let State::Running { stop, .. } = std::mem::take(&mut *self.core.state()) {
            // Nobody waits for the end: the serving task closes every client and finishes.
            let (done, _) = oneshot::channel();
            let _ = stop.send(done);
        }
    }
}

/// The state, connections and listeners, shared by the handles and the serving tasks.
#[derive(Debug)]
struct Core {
    owner: Owner,
    state: Mutex<State>,
    /// The send limits of the last start (the defaults before the first): `send` checks its
    /// argument against them before it looks for the connection, as the reference does.
    send_limits: Mutex<SendLimits>,
    /// Whether the last run has stopped: for [`WebSocketServer::stopped`].
    stopped: Mutex<Option<watch::Receiver<bool>>>,
    connections: Mutex<BTreeMap<WebSocketConnection, Peer>>,
    listeners: events::ServerListeners,
}

/// One established client, as `send` and `close` need it.
#[derive(Debug, Clone)]
struct Peer {
    sender: ws_net::Sender,
    limits: SendLimits,
    /// Which `start` accepted it: a stopping server clears its own clients only, not those
    /// of a server started again meanwhile.
    run: u64,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Stopped,
    /// `start` was called and binds its listener (on a runtime task).
    Starting { run: u64 },
    Running {
        port: u16,
        stop: oneshot::Sender<oneshot::Sender<()>>,
    },
}

impl Core {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn connections(&self) -> MutexGuard<'_, BTreeMap<WebSocketConnection, Peer>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes a client of run `run` from the established connections.
    fn forget(&self, id: &WebSocketConnection, run: u64) {
        let mut connections = self.connections();
        if connections.get(id).is_some_and(|peer| peer.run == run) {
            connections.remove(id);
        }
    }

    /// Calls the listeners of `E`; a listener that panics is reported as an `error` event.
    fn emit<E: ServerEvent>(&self, payload: &E::Payload) {
        listeners::dispatch(
            E::NAME,
            E::slot(&self.listeners),
            payload,
            &self.listeners.error,
        );
    }
}

impl WebSocketServer {
    fn core(&self) -> &Arc<Core> {
        &self.handle.core
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.core().state()
    }

    /// A handle that does not keep this server alive, for its own listeners.
    pub fn downgrade(&self) -> WeakWebSocketServer {
        WeakWebSocketServer {
            handle: Arc::downgrade(&self.handle),
        }
    }

    /// `on(type, callback)`: adds a listener; listeners of one event run in the order added.
    ///
    /// A listener that panics is caught and reported as an `error` event (2302999, naming the
    /// event); the connection goes on. Listeners run on each connection's task, so one that
    /// blocks holds up that connection's later events.
    pub fn on<E: ServerEvent>(
        &self,
        _event: E,
        listener: impl Fn(&E::Payload) + Send + Sync + 'static,
    ) -> ListenerHandle<E> {
        let core = self.core();
        listeners::on(core.owner, E::slot(&core.listeners), Arc::new(listener))
    }

    /// `off(type, callback?)`: removes one listener, or all of the event with `None`. A handle
    /// from another object removes nothing.
    pub fn off<E: ServerEvent>(&self, _event: E, handle: Option<ListenerHandle<E>>) {
        let core = self.core();
        listeners::off(core.owner, E::slot(&core.listeners), handle)
    }

    /// The port listened on while running (useful with `serverPort: 0`).
    pub fn local_port(&self) -> Option<u16> {
        match &*self.state() {
            State::Running { port, .. } => Some(*port),
            State::Starting { .. } | State::Stopped => None,
        }
    }

    /// `start(config)`: listens and resolves `true`. Errors: 2302004 (not an IP address of this
    /// host), 2302005 (port out of range or not permitted), 2302007 (port in use), 2302002
    /// (certificate or key file missing), 2302999 (already started, a client limit of 0, or an
    /// unreadable certificate or key). These are the codes the reference documents for
    /// `start`; 401 is not among them.
    ///
    /// The arguments are checked at the call and the listener is bound on a runtime task (the
    /// caller's runtime, or the background one); the returned [`Completion`] reports the
    /// outcome. A `stop()` before it listens cancels the start (2302999).
    pub fn start(&self, config: WebSocketServerConfig) -> Completion<Result<bool, BusinessError>> {
        let already = || BusinessError::new(code::UNKNOWN, "the server is already started");
        if !matches!(*self.state(), State::Stopped) {
            return Completion::ready(Err(already()));
        }
        let (listening, runtime) =
            match prepare(config).and_then(|p| Ok((p, crate::runtime::handle()?))) {
                Ok(ready) => ready,
                Err(error) => return Completion::ready(Err(error)),
            };
        let run = crate::fresh_id();
        let (stopped_tx, stopped_rx) = watch::channel(false);
        {
            let mut state = self.state();
            if !matches!(*state, State::Stopped) {
                return Completion::ready(Err(already()));
            }
            *state = State::Starting { run };
            *lock(&self.core().stopped) = Some(stopped_rx);
        }
        let core = Arc::clone(self.core());
        let (tx, rx) = oneshot::channel();
        runtime.spawn(async move {
            let _ = tx.send(core.start(run, listening, stopped_tx).await);
        });
        Completion::waiting(async move {
            rx.await.unwrap_or_else(|_| {
                Err(BusinessError::new(
                    code::UNKNOWN,
                    "the start was abandoned (its runtime shut down)",
                ))
            })
        })
    }

    /// Waits until the server has stopped (Rust-native): `stop()` finished (every client's
    /// `close` event is out), the last handle was dropped, or the last `start` failed. Resolves
    /// at once when the server is not running or starting.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), ws_api::BusinessError> {
    /// let server = ws_api::create_web_socket_server();
    /// server.start(Default::default()).await?;
    /// // ... a listener calls `server.stop()` when it is time ...
    /// server.stopped().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn stopped(&self) -> Completion<()> {
        let Some(mut stopped) = lock(&self.core().stopped).clone() else {
            return Completion::ready(());
        };
        Completion::waiting(async move {
            // An error means the run is over without saying so (its start failed).
            let _ = stopped.wait_for(|stopped| *stopped).await;
        })
    }

    fn peer(&self, connection: &WebSocketConnection) -> Result<Peer, BusinessError> {
        self.core()
            .connections()
            .get(connection)
            .cloned()
            .ok_or_else(|| {
                BusinessError::new(
                    code::CONNECTION_NOT_EXIST,
                    format!(
                        "no connection from {}:{}",
                        connection.client_ip, connection.client_port
                    ),
                )
            })
    }

    /// `send(data, connection)`: as the client's `send` (queued at the call; the returned
    /// [`Completion`] may be dropped); 2302006 for an unknown connection.
    pub fn send(
        &self,
        data: MessageData,
        connection: &WebSocketConnection,
    ) -> Completion<Result<bool, BusinessError>> {
        let limits = *lock(&self.core().send_limits);
        let checked = data.into_net(limits).and_then(|message| {
            let peer = self.peer(connection)?;
            Ok((
                Outgoing::Message(message),
                peer.sender,
                peer.limits.backlog_limit,
            ))
        });
        let core = Arc::clone(self.core());
        let client = connection.clone();
        Completion::waiting(send_on(checked, move |what| {
            let error = BusinessError::new(
                code::CONNECT_FAILED,
                format!("client {}:{}: {what}", client.client_ip, client.client_port),
            );
            core.emit::<events::Error>(&error)
        }))
    }

    /// `listAllConnections()`: the established connections.
    pub fn list_all_connections(&self) -> Vec<WebSocketConnection> {
        self.core().connections().keys().cloned().collect()
    }

    /// `close(connection, options?)`: defaults 1000 / `"CLOSE_NORMAL"`, the client's code
    /// rules; 2302006 for an unknown connection. The Close frame is queued at the call; the
    /// returned [`Completion`] reports when it is written (it may be dropped).
    pub fn close(
        &self,
        connection: &WebSocketConnection,
        options: Option<WebSocketCloseOptions>,
    ) -> Completion<Result<bool, BusinessError>> {
        self.close_checked(connection, close_arguments(options))
    }

    /// Extension: `close(connection)` with exactly `code`, such as an application's
    /// 3000–4999, where the reference's `close` sends 1000 for any code outside 1000–1015.
    /// The code and reason rules are the client's
    /// [`close_with_code`](crate::WebSocket::close_with_code)'s (a code RFC 6455 does not let
    /// an endpoint send, or a reason over 123 bytes → 401; an empty reason sends none); 2302006
    /// for an unknown connection.
    pub fn close_with_code(
        &self,
        connection: &WebSocketConnection,
        code: u16,
        reason: &str,
    ) -> Completion<Result<bool, BusinessError>> {
        self.close_checked(connection, exact_close_arguments(code, reason))
    }

    /// Closes `connection` with arguments checked by the rules of `close` or `close_with_code`.
    fn close_checked(
        &self,
        connection: &WebSocketConnection,
        arguments: Result<(ws_net::CloseCode, String), BusinessError>,
    ) -> Completion<Result<bool, BusinessError>> {
        match arguments.and_then(|a| Ok((a, self.peer(connection)?.sender))) {
            Ok(((code, reason), sender)) => close_on(sender, code, &reason),
            Err(error) => Completion::ready(Err(error)),
        }
    }

    /// `stop()`: stops listening, closes every client with 1001 "server is going away", waits
    /// (at most 5 s) for the closing handshakes and their `close` events, resolves `true`. The
    /// server can be started again. 2302999 when not running.
    ///
    /// The server stops at the call; the returned [`Completion`] reports when it is done (it
    /// may be dropped; [`stopped`](Self::stopped) waits for the same). While `start` is still
    /// binding, `stop` cancels it and resolves `true` at once.
    pub fn stop(&self) -> Completion<Result<bool, BusinessError>> {
        let stop = match std::mem::take(&mut *self.state()) {
            State::Running { stop, .. } => stop,
            State::Starting { .. } => return Completion::ready(Ok(true)),
            State::Stopped => {
                return Completion::ready(Err(BusinessError::new(
                    code::UNKNOWN,
                    "the server is not running",
                )))
            }
        };
        let (done_tx, done_rx) = oneshot::channel();
        if stop.send(done_tx).is_err() {
            return Completion::ready(Ok(true));
        }
        Completion::waiting(async move {
            let _ = done_rx.await;
            Ok(true)
        })
    }
}

/// What `start` binds and serves with, its arguments checked.
struct Listening {
    addr: SocketAddr,
    net: ServerConfig,
    limits: SendLimits,
}

/// Checks `start`'s arguments and turns them into the `ws-net` settings.
fn prepare(config: WebSocketServerConfig) -> Result<Listening, BusinessError> {
    let ip_text = config.server_ip.as_deref().unwrap_or("0.0.0.0");
    let ip: IpAddr = ip_text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| {
            BusinessError::new(
                code::CANNOT_LISTEN_ON_NIC,
                format!("{ip_text:?} is not an IP address"),
            )
        })?;
    let port = u16::try_from(config.server_port).map_err(|_| {
        BusinessError::new(
            code::CANNOT_LISTEN_ON_PORT,
            format!("port {} is above 65535", config.server_port),
        )
    })?;
    for (limit, name) in [
        (
            config.max_concurrent_clients_number,
            "maxConcurrentClientsNumber (max_concurrent_clients_number)",
        ),
        (
            config.max_connections_for_one_client,
            "maxConnectionsForOneClient (max_connections_for_one_client)",
        ),
    ] {
        if limit == 0 {
            return Err(BusinessError::new(
                code::UNKNOWN,
                format!("{name} must be positive, not 0"),
            ));
        }
    }
    let mut net = ServerConfig::default()
        .max_client_ips(Some(config.max_concurrent_clients_number as usize))
        .max_connections_per_ip(Some(config.max_connections_for_one_client as usize));
    if let Some(seconds) = config.ping_interval.filter(|s| *s > 0) {
        let interval = Duration::from_secs(seconds.min(crate::limits::MAX_HEARTBEAT_SECONDS));
        net.connection.ping_interval = Some(interval);
        net.connection.pong_timeout = Some(interval);
    }
    net.connection.protocol.limits = crate::limits::receive_limits(config.max_message_size);
    net.accept.limits = request_limits();
    net.accept.deflate = config
        .permessage_deflate
        .as_ref()
        .map(PermessageDeflate::to_config);
    if let Some(protocol) = config.protocol.filter(|p| !p.is_empty()) {
        net.accept.protocols = vec![protocol];
    }
    #[cfg(not(feature = "tls"))]
    if config.server_cert.is_some() {
        return Err(BusinessError::new(
            code::UNKNOWN,
            "serverCert (server_cert) needs the `tls` feature of ws-api, which this build was \
             compiled without: enable it in Cargo.toml",
        ));
    }
    #[cfg(feature = "tls")]
    if let Some(cert) = &config.server_cert {
        let tls = TlsServerOptions::new(&cert.cert_path, &cert.key_path)
            .build()
            .map_err(|e| {
                let code = if e.is_file_missing() {
                    code::CERT_FILE_NOT_EXIST
                } else {
                    code::UNKNOWN
                };
                BusinessError::new(code, &e).with_cause(ws_net::Error::Tls(e))
            })?;
        net.tls = Some(tls);
    }
    Ok(Listening {
        addr: SocketAddr::new(ip, port),
        net,
        limits: SendLimits::new(config.max_send_size, config.send_backlog_limit),
    })
}

impl Core {
    /// Binds the listener of run `run` and starts serving, unless the server was stopped (or
    /// its last handle dropped) meanwhile; `stopped` is told when the run is over.
    async fn start(
        self: Arc<Self>,
        run: u64,
        listening: Listening,
        stopped: watch::Sender<bool>,
    ) -> Result<bool, BusinessError> {
        let bound = Server::bind(listening.addr, listening.net).await;
        let mut state = self.state();
        let current = matches!(*state, State::Starting { run: r } if r == run);
        let server = match bound {
            Ok(server) if current => server,
            Ok(_) => {
                return Err(BusinessError::new(
                    code::UNKNOWN,
                    "the server was stopped before it listened",
                ))
            }
            Err(error) => {
                if current {
                    *state = State::Stopped;
                }
                return Err(listen_error(error));
            }
        };
        info!(addr = %server.local_addr(), "WebSocketServer: listening");
        let (stop_tx, stop_rx) = oneshot::channel();
        *state = State::Running {
            port: server.local_addr().port(),
            stop: stop_tx,
        };
        *lock(&self.send_limits) = listening.limits;
        drop(state);
        let limits = listening.limits;
        tokio::spawn(Arc::clone(&self).serve(server, run, limits, stop_rx, stopped));
        Ok(true)
    }

    /// Accepts clients and runs their connections until `stop`.
    async fn serve(
        self: Arc<Self>,
        mut server: Server,
        run: u64,
        limits: SendLimits,
        mut stop: oneshot::Receiver<oneshot::Sender<()>>,
        stopped: watch::Sender<bool>,
    ) {
        let mut connections = JoinSet::new();
        let done = loop {
            tokio::select! {
                accepted = server.accept() => match accepted {
                    Some(Ok(client)) => {
                        connections.spawn(Arc::clone(&self).run_connection(client, run, limits));
                    }
                    Some(Err(rejected)) => self.emit::<events::Error>(&rejected_error(rejected)),
                    None => break None,
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                done = &mut stop => break done.ok(),
            }
        };
        let server_addr = server.local_addr();
        server.shutdown(STOP_TIMEOUT).await;
        // Every connection's close event is out before `stop` resolves.
        let _ = tokio::time::timeout(STOP_TIMEOUT, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        connections.abort_all();
        self.connections().retain(|_, peer| peer.run != run);
        info!(addr = %server_addr, "WebSocketServer: stopped");
        stopped.send_replace(true);
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    /// Delivers one client's events until its connection closes.
    async fn run_connection(self: Arc<Self>, client: Client, run: u64, limits: SendLimits) {
        // The request (its headers) is not needed past the handshake: not kept for the
        // connection's lifetime.
        let Client {
            connection,
            accepted,
            remote_addr,
        } = client;
        drop(accepted);
        let id = WebSocketConnection {
            client_ip: remote_addr.ip().to_string(),
            client_port: remote_addr.port(),
        };
        let (sender, mut receiver) = connection.split();
        let peer = Peer {
            sender: sender.clone(),
            limits,
            run,
        };
        self.connections().insert(id.clone(), peer);
        self.emit::<events::Connect>(&id);
        let mut last_error = None;
        while let Some(incoming) = receiver.recv().await {
            match incoming {
                Incoming::Message(message) => {
                    let before = sends_so_far();
                    self.emit::<events::MessageReceive>(&WebSocketMessage {
                        data: MessageData::from_net(message),
                        client_connection: id.clone(),
                    });
                    answered(&sender, before).await;
                }
                Incoming::Error(error) => {
                    let error = Arc::new(error);
                    let detail = format!(
                        "client {}:{}: {}",
                        id.client_ip,
                        id.client_port,
                        describe(&error)
                    );
                    self.emit::<events::Error>(
                        &BusinessError::new(code::CONNECT_FAILED, detail)
                            .with_cause(Arc::clone(&error)),
                    );
                    last_error = Some(error);
                }
                Incoming::Closed(status) => {
                    self.forget(&id, run);
                    self.emit::<events::Close>(&ClientClose {
                        client_connection: id.clone(),
                        close_reason: CloseResult {
                            code: status.code.as_u16(),
                            reason: close_reason(status.reason, last_error.as_deref()),
                        },
                    });
                }
                Incoming::Chunk(_) | Incoming::Ping(_) | Incoming::Pong(_) => {}
            }
        }
        self.forget(&id, run);
    }
}

/// A failure to listen, by its cause.
fn listen_error(error: ws_net::Error) -> BusinessError {
    let code = match &error {
        ws_net::Error::Listen { source, .. } => match source.kind() {
            ErrorKind::AddrInUse => code::PORT_OCCUPIED,
            ErrorKind::AddrNotAvailable => code::CANNOT_LISTEN_ON_NIC,
            ErrorKind::PermissionDenied => code::CANNOT_LISTEN_ON_PORT,
            _ => code::UNKNOWN,
        },
        _ => code::UNKNOWN,
    };
    BusinessError::from_net(code, error)
}

/// The `error` event of a client the server turned away: the HTTP status that client was
/// answered with as `data`, and ws-net's error as the source.
fn rejected_error(rejected: ws_net::server::Rejected) -> BusinessError {
    use ws_net::Error;
    let status = match &rejected.error {
        Error::LimitExceeded(_) => Some(503),
        Error::Refused(refusal) => Some(refusal.sent_status()),
        Error::HookPanicked(_) => Some(500),
        Error::Request(invalid) => Some(invalid.status()),
        // TLS failures, timeouts, clients that left, listener accept errors: no answer.
        _ => None,
    };
    let what = describe(&rejected.error);
    let detail = match rejected.remote_addr {
        Some(addr) => format!("client {addr}: {what}"),
        None => what,
    };
    BusinessError::new(code::CONNECT_FAILED, detail)
        .with_data(status)
        .with_cause(rejected.error)
}

#[cfg(all(test, not(feature = "tls")))]
mod tests {
    use super::*;

    #[test]
    fn a_server_cert_without_tls_names_the_feature() {
        let config = WebSocketServerConfig {
            server_cert: Some(ServerCert {
                cert_path: "server.pem".into(),
                key_path: "server.key".into(),
            }),
            ..Default::default()
        };
        let Err(err) = prepare(config) else {
            panic!("a server certificate was taken without TLS");
        };
        assert_eq!(err.code, code::UNKNOWN);
        assert!(err.message.contains("`tls` feature"), "{err}");
    }
}

#[cfg(test)]
mod rejection_tests {
    use std::error::Error as _;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use ws_net::server::{Limit, Refusal, Rejected};
    use ws_net::Error;
    use ws_proto::handshake::RequestError;

    use super::rejected_error;

    #[test]
    fn a_rejection_carries_the_status_the_client_was_answered_with_and_its_cause() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let client = Some(SocketAddr::new(ip, 40000));
        let cases = [
            (
                Error::LimitExceeded(Limit::ConnectionsFromOneAddress { ip, limit: 1 }),
                Some(503),
            ),
            (
                Error::LimitExceeded(Limit::ClientAddresses { limit: 3 }),
                Some(503),
            ),
            (Error::Refused(Refusal::new(403)), Some(403)),
            (Error::Refused(Refusal::new(200)), Some(500)),
            (Error::HookPanicked("boom".into()), Some(500)),
            (
                Error::Request(RequestError::BadMethod("POST".into())),
                Some(405),
            ),
            (
                Error::Request(RequestError::UnsupportedWebSocketVersion(None)),
                Some(426),
            ),
            (Error::Timeout("the opening handshake"), None),
            (Error::ConnectionLost("the client left".into()), None),
            (Error::Io(std::io::ErrorKind::Other.into()), None),
        ];
        for (error, status) in cases {
            let text = error.to_string();
            let event = rejected_error(Rejected {
                remote_addr: client,
                error,
            });
            assert_eq!(event.data, status, "{event}");
            assert!(event.message.contains("client 127.0.0.1:40000"), "{event}");
            let cause = event.source().and_then(|s| s.downcast_ref::<Error>());
            assert_eq!(cause.map(ToString::to_string), Some(text));
        }
        let accept_failed = rejected_error(Rejected {
            remote_addr: None,
            error: Error::Io(std::io::ErrorKind::Other.into()),
        });
        assert_eq!(accept_failed.data, None);
        assert!(!accept_failed.message.contains("client"), "{accept_failed}");
    }
}
