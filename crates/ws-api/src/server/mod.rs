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
use ws_pubsub::{PubSubError, Subscription, Topics, TopicsConfig};

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
use crate::sending::{answered, count_send, fits_backlog, send_on, sends_so_far, Outgoing};
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

/// The longest topic name [`WebSocketServer::subscribe`] and [`WebSocketServer::publish`]
/// take, in bytes (extension).
pub const MAX_TOPIC_LEN: usize = 256;

/// The most topics that may have subscribers at once on one server (extension).
const MAX_TOPICS: usize = 100_000;

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
#[derive(Clone)]
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
    /// Extension: the Redis server (`redis://HOST:PORT`, `redis://:PASSWORD@HOST:PORT/DB`)
    /// through which [`publish`](WebSocketServer::publish) reaches the subscribers of the
    /// other server instances that use the same one; a message published on any of them
    /// reaches every subscriber of its topic on all of them. Default `None`: topics are this
    /// server's alone. Needs the `redis` feature (else `start` fails with 401 naming it); a URL
    /// the Redis client does not accept fails `start` with 401. A Redis that cannot be reached
    /// does not: the server starts, publishing reaches its own subscribers, and the broker
    /// connects (and reconnects) in the background; see
    /// [`topics_stats`](WebSocketServer::topics_stats) and the delivery guarantees in
    /// [`ws_pubsub`]'s docs (at most once across instances).
    pub broker: Option<String>,
}

impl std::fmt::Debug for WebSocketServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The broker URL may carry a password: only what follows its `@` is shown.
        let broker = self
            .broker
            .as_deref()
            .map(|url| match url.rsplit_once('@') {
                Some((_, host)) => format!("<redacted>@{host}"),
                None => url.to_owned(),
            });
        f.debug_struct("WebSocketServerConfig")
            .field("server_ip", &self.server_ip)
            .field("server_port", &self.server_port)
            .field("server_cert", &self.server_cert)
            .field("protocol", &self.protocol)
            .field(
                "max_concurrent_clients_number",
                &self.max_concurrent_clients_number,
            )
            .field(
                "max_connections_for_one_client",
                &self.max_connections_for_one_client,
            )
            .field("ping_interval", &self.ping_interval)
            .field("send_backlog_limit", &self.send_backlog_limit)
            .field("max_message_size", &self.max_message_size)
            .field("max_send_size", &self.max_send_size)
            .field("permessage_deflate", &self.permessage_deflate)
            .field("broker", &broker)
            .finish()
    }
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
            broker: None,
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

/// One established client: what `send`, `close` and the topics need. Dropped when the
/// connection closes, and its subscriptions with it.
#[derive(Debug)]
struct Peer {
    sender: ws_net::Sender,
    limits: SendLimits,
    /// Which `start` accepted it: a stopping server clears its own clients only, not those
    /// of a server started again meanwhile.
    run: u64,
    /// The request target of its upgrade request (path and query), all that is kept of the
    /// request.
    path: Arc<str>,
    /// The topics of the run that accepted it.
    topics: Topics,
    /// The topics it is subscribed to; dropping one leaves its topic.
    subscriptions: Vec<Subscription>,
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
        /// This run's topics, for `publish`; the connections hold clones for `subscribe`.
        topics: Topics,
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
        let gone = {
            let mut connections = self.connections();
            if connections.get(id).is_some_and(|peer| peer.run == run) {
                connections.remove(id)
            } else {
                None
            }
        };
        // Its subscriptions end here, outside the lock.
        drop(gone);
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
    /// `start`; 401 is not among them, except for the [`broker`](WebSocketServerConfig::broker)
    /// extension: a URL the Redis client does not accept, or a build without the `redis`
    /// feature, → 401. A Redis that cannot be reached does not fail `start`.
    ///
    /// The arguments are checked at the call and the listener is bound on a runtime task (the
    /// caller's runtime, or the background one); the returned [`Completion`] reports the
    /// outcome. A `stop()` before it listens cancels the start (2302999).
    pub fn start(&self, config: WebSocketServerConfig) -> Completion<Result<bool, BusinessError>> {
        let already = || BusinessError::new(code::UNKNOWN, "the server is already started");
        if !matches!(*self.state(), State::Stopped) {
            return Completion::ready(Err(already()));
        }
        let (listening, runtime) = match prepare(config).and_then(|p| {
            let runtime = crate::runtime::handle()?;
            Ok((p.listening(&runtime)?, runtime))
        }) {
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

    /// What `f` makes of `connection`'s entry; 2302006 when there is none.
    fn with_peer<T>(
        &self,
        connection: &WebSocketConnection,
        f: impl FnOnce(&mut Peer) -> T,
    ) -> Result<T, BusinessError> {
        match self.core().connections().get_mut(connection) {
            Some(peer) => Ok(f(peer)),
            None => Err(BusinessError::new(
                code::CONNECTION_NOT_EXIST,
                format!(
                    "no connection from {}:{}",
                    connection.client_ip, connection.client_port
                ),
            )),
        }
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
            let (sender, backlog_limit) =
                self.with_peer(connection, |p| (p.sender.clone(), p.limits.backlog_limit))?;
            Ok((Outgoing::Message(message), sender, backlog_limit))
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
        match arguments.and_then(|a| Ok((a, self.with_peer(connection, |p| p.sender.clone())?))) {
            Ok(((code, reason), sender)) => close_on(sender, code, &reason),
            Err(error) => Completion::ready(Err(error)),
        }
    }

    /// Extension: the request target `connection` was opened with, as its client sent it: the
    /// path and the query (`/room/rust?token=1`). `None` for a connection that is not
    /// established (never was, or closed). Only this is kept of the upgrade request, until the
    /// connection closes; the `Arc` is shared with the connection's entry, so looking it up for
    /// every message (to publish to the topic of the path) copies nothing.
    ///
    /// ```no_run
    /// use ws_api::server::events;
    ///
    /// let server = ws_api::create_web_socket_server();
    /// let weak = server.downgrade();
    /// server.on(events::Connect, move |connection| {
    ///     if let Some(server) = weak.upgrade() {
    ///         println!("{connection:?} asked for {:?}", server.request_path(connection));
    ///     }
    /// });
    /// ```
    pub fn request_path(&self, connection: &WebSocketConnection) -> Option<Arc<str>> {
        self.with_peer(connection, |p| Arc::clone(&p.path)).ok()
    }

    /// Extension: subscribes `connection` to `topic` (any string up to
    /// [`MAX_TOPIC_LEN`] bytes; the empty one too): from now on, every message
    /// [`publish`](Self::publish)ed to `topic`, on this server or, with the
    /// [`broker`](WebSocketServerConfig::broker) option, on another instance sharing its
    /// broker, is sent to it. Subscribing again to a topic it is subscribed to changes nothing.
    /// The subscription ends with [`unsubscribe`](Self::unsubscribe) or when the connection
    /// closes.
    ///
    /// A subscriber whose unsent bytes are over the send backlog limit
    /// ([`send_backlog_limit`](WebSocketServerConfig::send_backlog_limit)) when a message is
    /// published is closed with 1008 ("subscriber too slow") instead of being sent more; the
    /// others are not held up.
    ///
    /// # Errors
    ///
    /// 401 for a topic longer than [`MAX_TOPIC_LEN`]; 2302006 for a connection that is not
    /// established; 2302999 when 100,000 topics have subscribers already.
    pub fn subscribe(
        &self,
        connection: &WebSocketConnection,
        topic: &str,
    ) -> Result<(), BusinessError> {
        self.with_peer(connection, |peer| {
            if peer.subscriptions.iter().any(|s| s.topic() == topic) {
                return Ok(());
            }
            let subscription = peer
                .topics
                .subscribe(topic, peer.sender.clone())
                .map_err(topic_error)?;
            peer.subscriptions.push(subscription);
            Ok(())
        })?
    }

    /// Extension: ends `connection`'s subscription to `topic`. Returns whether it was
    /// subscribed (`false`: there was nothing to end).
    ///
    /// # Errors
    ///
    /// 2302006 for a connection that is not established.
    pub fn unsubscribe(
        &self,
        connection: &WebSocketConnection,
        topic: &str,
    ) -> Result<bool, BusinessError> {
        let left = self.with_peer(connection, |peer| {
            let at = peer.subscriptions.iter().position(|s| s.topic() == topic)?;
            Some(peer.subscriptions.swap_remove(at))
        })?;
        match left {
            Some(subscription) => {
                // Left outside the lock of the connections.
                subscription.unsubscribe();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Extension: sends `data` to every connection subscribed to `topic`, and, with the
    /// [`broker`](WebSocketServerConfig::broker) option, to the subscribers of the other
    /// instances through it. The message is encoded once and the same bytes are queued on
    /// every subscriber at the call, without waiting for any of them (see
    /// [`subscribe`](Self::subscribe) for the slow ones). Returns how many of this server's
    /// connections it was queued on; a topic nobody subscribes to is not an error (0). An
    /// unreachable broker is not one either: the message then reaches this server's
    /// subscribers only (see [`topics_stats`](Self::topics_stats)).
    ///
    /// Called from a `messageReceive` listener, the sending connection's next message is
    /// delivered once its own write buffer has room, as after a `send`.
    ///
    /// ```no_run
    /// use ws_api::server::{events, WebSocketServerConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ws_api::BusinessError> {
    /// // A chat server: each client joins the room of its path, and what it says reaches
    /// // everyone in that room, itself included.
    /// let server = ws_api::create_web_socket_server();
    /// let joining = server.downgrade();
    /// server.on(events::Connect, move |connection| {
    ///     let Some(server) = joining.upgrade() else { return };
    ///     let room = server.request_path(connection).unwrap_or_default();
    ///     if let Err(e) = server.subscribe(connection, &room) {
    ///         eprintln!("{e}");
    ///         drop(server.close_with_code(connection, 1008, "no such room"));
    ///     }
    /// });
    /// let talking = server.downgrade();
    /// server.on(events::MessageReceive, move |message| {
    ///     let Some(server) = talking.upgrade() else { return };
    ///     let room = server
    ///         .request_path(&message.client_connection)
    ///         .unwrap_or_default();
    ///     if let Err(e) = server.publish(&room, message.data.clone()) {
    ///         eprintln!("{e}");
    ///     }
    /// });
    /// server.start(WebSocketServerConfig { server_port: 9001, ..Default::default() }).await?;
    /// server.stopped().await;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// 401 for a message larger than `max_send_size` (5,242,864 bytes by default) or than the
    /// send backlog limit, or a topic longer than [`MAX_TOPIC_LEN`]; 2302999 when the server
    /// is not running.
    pub fn publish(&self, topic: &str, data: MessageData) -> Result<usize, BusinessError> {
        let limits = *lock(&self.core().send_limits);
        let message = data.into_net(limits)?;
        fits_backlog("message", message.len(), limits.backlog_limit)?;
        let topics = self.running_topics().ok_or_else(not_running)?;
        let delivery = topics.publish(topic, message).map_err(topic_error)?;
        if delivery.local > 0 {
            // For `answered`: the publishing connection (if a listener of its message called
            // this) waits for room in its own write buffer before its next message.
            count_send();
        }
        Ok(delivery.local)
    }

    /// Extension: the counters of this run's topics (messages published, delivered, dropped
    /// for the broker; topics and subscriptions now; whether the broker is connected and how
    /// many of its channels are subscribed), `None` when the server is not running.
    pub fn topics_stats(&self) -> Option<ws_pubsub::Stats> {
        self.running_topics().map(|topics| topics.stats())
    }

    fn running_topics(&self) -> Option<Topics> {
        match &*self.state() {
            State::Running { topics, .. } => Some(topics.clone()),
            State::Starting { .. } | State::Stopped => None,
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
    /// The run's topics, made by `start` once the arguments are checked.
    topics: Topics,
}

/// `start`'s checked arguments, before the topics are made (on the runtime).
struct Prepared {
    addr: SocketAddr,
    net: ServerConfig,
    limits: SendLimits,
    /// The Redis URL of the `broker` option.
    broker: Option<String>,
}

impl Prepared {
    /// What the run listens with: these settings and its topics, made on `runtime` (the
    /// broker's tasks, if any, run where the connections do).
    fn listening(self, runtime: &tokio::runtime::Handle) -> Result<Listening, BusinessError> {
        let topics = {
            let _entered = runtime.enter();
            topics_for(self.broker.as_deref(), self.limits.backlog_limit)?
        };
        Ok(Listening {
            addr: self.addr,
            net: self.net,
            limits: self.limits,
            topics,
        })
    }
}

/// The topics of a run: through the Redis broker at `broker`, else this server's alone. A
/// subscriber over `backlog_limit` unsent bytes is closed with 1008.
fn topics_for(broker: Option<&str>, backlog_limit: usize) -> Result<Topics, BusinessError> {
    let config = TopicsConfig::default()
        .backlog_limit(backlog_limit)
        .max_topic_len(MAX_TOPIC_LEN)
        .max_topics(MAX_TOPICS);
    match broker {
        None => Ok(Topics::new(config)),
        #[cfg(feature = "redis")]
        Some(url) => {
            // The URL is not repeated: it may hold a password.
            Topics::with_redis(config, ws_pubsub::RedisConfig::new(url))
                .map_err(|e| BusinessError::new(code::PARAMETER_ERROR, format!("broker: {e}")))
        }
        #[cfg(not(feature = "redis"))]
        Some(_) => Err(BusinessError::new(
            code::PARAMETER_ERROR,
            "broker needs the `redis` feature of ws-api, which this build was compiled without: \
             enable it in Cargo.toml",
        )),
    }
}

/// A subscribe or publish the topics refused.
fn topic_error(error: PubSubError) -> BusinessError {
    let code = match error {
        PubSubError::TopicTooLong { .. } => code::PARAMETER_ERROR,
        _ => code::UNKNOWN,
    };
    let detail = match &error {
        PubSubError::TopicTooLong { len, max } => {
            format!("the topic name is {len} bytes; at most {max} are allowed (MAX_TOPIC_LEN)")
        }
        PubSubError::TooManyTopics { max } => {
            format!("{max} topics have subscribers already: unsubscribe connections from some")
        }
        other => other.to_string(),
    };
    BusinessError::new(code, detail)
}

/// `publish` while the server is not running.
fn not_running() -> BusinessError {
    BusinessError::new(code::UNKNOWN, "the server is not running: start it first")
}

/// Checks `start`'s arguments and turns them into the `ws-net` settings.
fn prepare(config: WebSocketServerConfig) -> Result<Prepared, BusinessError> {
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
    Ok(Prepared {
        addr: SocketAddr::new(ip, port),
        net,
        limits: SendLimits::new(config.max_send_size, config.send_backlog_limit),
        broker: config.broker,
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
            topics: listening.topics.clone(),
        };
        *lock(&self.send_limits) = listening.limits;
        drop(state);
        let (limits, topics) = (listening.limits, listening.topics);
        tokio::spawn(Arc::clone(&self).serve(server, run, limits, topics, stop_rx, stopped));
        Ok(true)
    }

    /// Accepts clients and runs their connections until `stop`.
    async fn serve(
        self: Arc<Self>,
        mut server: Server,
        run: u64,
        limits: SendLimits,
        topics: Topics,
        mut stop: oneshot::Receiver<oneshot::Sender<()>>,
        stopped: watch::Sender<bool>,
    ) {
        let mut connections = JoinSet::new();
        let done = loop {
            tokio::select! {
                accepted = server.accept() => match accepted {
                    Some(Ok(client)) => {
                        let topics = topics.clone();
                        connections.spawn(
                            Arc::clone(&self).run_connection(client, run, limits, topics),
                        );
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
        // Dropped outside the lock: leaving their topics tells the broker.
        let gone: Vec<Peer> = {
            let mut connections = self.connections();
            let (gone, kept): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut *connections)
                .into_iter()
                .partition(|(_, peer)| peer.run == run);
            *connections = kept;
            gone.into_values().collect()
        };
        drop(gone);
        drop(topics);
        info!(addr = %server_addr, "WebSocketServer: stopped");
        stopped.send_replace(true);
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    /// Delivers one client's events until its connection closes.
    async fn run_connection(
        self: Arc<Self>,
        client: Client,
        run: u64,
        limits: SendLimits,
        topics: Topics,
    ) {
        // Of the request, only its target is kept for the connection's lifetime (for
        // `request_path`), not its headers.
        let Client {
            connection,
            mut accepted,
            remote_addr,
        } = client;
        let path = Arc::from(std::mem::take(&mut accepted.request.path));
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
            path,
            topics,
            subscriptions: Vec::new(),
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
mod config_tests {
    use super::WebSocketServerConfig;

    #[test]
    fn the_debug_form_hides_a_broker_password() {
        let config = WebSocketServerConfig {
            broker: Some("redis://:secret@127.0.0.1:6379/0".into()),
            ..Default::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("<redacted>@127.0.0.1:6379/0"), "{shown}");
        let open = WebSocketServerConfig {
            broker: Some("redis://127.0.0.1:6379".into()),
            ..Default::default()
        };
        assert!(format!("{open:?}").contains("redis://127.0.0.1:6379"));
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
