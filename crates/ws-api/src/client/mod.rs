//! The client: `createWebSocket()` and `WebSocket`.

pub mod events;
mod options;

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::{oneshot, watch};
use ws_net::{CloseCode, Incoming};

use crate::close::{close_arguments, close_on, exact_close_arguments};
pub use crate::close::{CloseResult, WebSocketCloseOptions, DEFAULT_CLOSE_REASON};
use crate::completion::Completion;
pub use crate::deflate::PermessageDeflate;
use crate::error::{close_reason, code, BusinessError};
use crate::limits::SendLimits;
pub use crate::limits::{
    DEFAULT_HEARTBEAT_SECONDS, DEFAULT_MAX_MESSAGE_SIZE, MAX_HEARTBEAT_SECONDS, MAX_SEND_SIZE,
    MAX_URL_LENGTH,
};
use crate::listeners::{self, ListenerHandle, Owner};
use crate::lock;
pub use crate::message::MessageData;
use crate::runtime::report;
pub use crate::sending::DEFAULT_SEND_BACKLOG_LIMIT;
use crate::sending::{answered, send_on, sends_so_far, Outgoing};
pub use events::{ClientEvent, HeaderValue, OpenResult, ResponseHeaders};
pub use options::{
    ClientCert, HttpProxy, ProxyConfiguration, TlsProtocol, WebSocketRequestOptions,
};

/// The largest payload [`WebSocket::ping`] takes, in bytes: RFC 6455's limit on a control frame.
pub const MAX_PING_PAYLOAD: usize = ws_proto::frame::MAX_CONTROL_PAYLOAD;

/// `webSocket.createWebSocket()`: a new, unconnected client.
///
/// Every call works from any thread: inside a tokio runtime the connection runs on it, and
/// where there is none, on a shared background runtime.
///
/// ```
/// let ws = ws_api::create_web_socket();
/// # let _ = ws;
/// ```
pub fn create_web_socket() -> WebSocket {
    WebSocket {
        handle: Arc::new(Handle {
            core: Arc::new(Core {
                owner: Owner::new(),
                state: Mutex::default(),
                send_limits: Mutex::new(SendLimits::new(None, None)),
                ending: Mutex::default(),
                listeners: events::ClientListeners::default(),
            }),
        }),
    }
}

/// `WebSocket`: a client connection that can connect, send, close, and report events.
///
/// Clones are handles to the same connection. When the last one is dropped, an open
/// connection closes with 1001 (going away) and a pending connect is cancelled. A listener
/// that needs its own `WebSocket` should capture a [`WeakWebSocket`] (from
/// [`downgrade`](Self::downgrade)): a clone captured in a listener keeps the object alive for
/// as long as the listener is registered.
///
/// ```no_run
/// use ws_api::client::events;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ws_api::BusinessError> {
/// let ws = ws_api::create_web_socket();
/// ws.on(events::Open, |open| println!("open: {} {}", open.status, open.message));
/// let weak = ws.downgrade();
/// ws.on(events::Message, move |data| {
///     println!("message: {data:?}");
///     if let Some(ws) = weak.upgrade() {
///         drop(ws.send(data.clone())); // queued at once, in order
///     }
/// });
/// ws.on(events::Close, |close| println!("close: {} {}", close.code, close.reason));
/// ws.on(events::Error, |err| println!("error: {err}"));
/// ws.connect_and_wait("ws://127.0.0.1:9001/", None).await?;
/// ws.send_text("hello").await?;
/// ws.close(None).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct WebSocket {
    handle: Arc<Handle>,
}

/// A `WebSocket` that does not keep it alive: for listeners that need their own object.
#[derive(Debug, Clone)]
pub struct WeakWebSocket {
    handle: Weak<Handle>,
}

impl WeakWebSocket {
    /// The `WebSocket`, unless every handle of it was dropped.
    pub fn upgrade(&self) -> Option<WebSocket> {
        self.handle.upgrade().map(|handle| WebSocket { handle })
    }
}

/// What the user's handles share; dropping it (the last handle) lets the connection go.
#[derive(Debug)]
struct Handle {
    core: Arc<Core>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Closing::Open(sender) = self.core.begin_close() {
            // Nobody can use the connection any more: close it, politely.
            let _ = sender.start_close(CloseCode::GOING_AWAY, "");
        }
    }
}

/// What closing found (see [`Core::begin_close`]).
enum Closing {
    /// An open connection, now closing: send it its Close frame.
    Open(ws_net::Sender),
    /// A connect in progress, now cancelled (its task reports it and lets the connection go).
    Cancelled,
    /// Nothing to close: idle, or closing already.
    NotOpen,
}

/// The state and listeners, shared by the handles and the task that runs the connection.
#[derive(Debug)]
struct Core {
    owner: Owner,
    state: Mutex<State>,
    /// The send limits of the last connect (the defaults before the first): `send` checks its
    /// argument against them before it looks at the state, as the reference does.
    send_limits: Mutex<SendLimits>,
    /// How the last connect ended, once it has: for [`WebSocket::closed`].
    ending: Mutex<Option<watch::Receiver<Option<Ending>>>>,
    listeners: events::ClientListeners,
}

/// How a connection ended: its `close` event, or the error of a connect that never opened.
type Ending = Result<CloseResult, BusinessError>;

/// One connect attempt, as its task sees it.
struct Attempt {
    /// Tells this attempt from a later one (see `State::Connecting`).
    id: u64,
    /// Fires when `close()` or the last handle's drop cancels the attempt.
    cancelled: oneshot::Receiver<()>,
    /// For `connect_and_wait`: the `open` payload or the error.
    outcome: oneshot::Sender<Result<OpenResult, BusinessError>>,
    /// For `closed()`: how the connection ended.
    ended: watch::Sender<Option<Ending>>,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Idle,
    Connecting {
        /// Tells this attempt from a later one, once a cancelled attempt winds down.
        attempt: u64,
        cancel: oneshot::Sender<()>,
    },
    Open {
        sender: ws_net::Sender,
        protocol: Option<String>,
        limits: SendLimits,
    },
    Closing,
}

impl Core {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts closing, for `close()` and the last handle's drop: an open connection moves to
    /// closing, a pending connect is cancelled.
    fn begin_close(&self) -> Closing {
        let mut state = self.state();
        match std::mem::take(&mut *state) {
            State::Open { sender, .. } => {
                *state = State::Closing;
                Closing::Open(sender)
            }
            State::Connecting { cancel, .. } => {
                let _ = cancel.send(());
                Closing::Cancelled
            }
            other => {
                *state = other;
                Closing::NotOpen
            }
        }
    }

    /// Calls the listeners of `E`; a listener that panics is reported as an `error` event.
    fn emit<E: ClientEvent>(&self, payload: &E::Payload) {
        listeners::dispatch(
            E::NAME,
            E::slot(&self.listeners),
            payload,
            &self.listeners.error,
        );
    }

    /// Connects, then delivers the connection's events until it closes.
    async fn run(
        self: Arc<Self>,
        attempt: Attempt,
        url: String,
        config: ws_net::client::ClientConfig,
        limits: SendLimits,
    ) {
        let Attempt {
            id: attempt,
            cancelled,
            outcome,
            ended,
        } = attempt;
        let connecting = ws_net::client::connect(&url, &config);
        let connected = tokio::select! {
            connected = connecting => Some(connected),
            _ = cancelled => None,
        };
        let opened = {
            let mut state = self.state();
            // Not this attempt's any more: `close()` (or the last handle's drop) cancelled it.
            let current = matches!(*state, State::Connecting { attempt: a, .. } if a == attempt);
            let opened = match connected {
                Some(Ok((connection, response))) if current => {
                    let (sender, receiver) = connection.split();
                    *state = State::Open {
                        sender: sender.clone(),
                        protocol: response.protocol.clone(),
                        limits,
                    };
                    Ok((sender, receiver, response))
                }
                Some(Err(error)) => Err(connect_error(error)),
                Some(Ok((connection, _))) => {
                    // The handshake finished as the attempt was cancelled: not wanted.
                    let _ = connection.sender().start_close(CloseCode::GOING_AWAY, "");
                    Err(cancelled_error())
                }
                None => Err(cancelled_error()),
            };
            if opened.is_err() && current {
                *state = State::Idle;
            }
            opened
        };
        let (sender, mut receiver, response) = match opened {
            Ok(open) => open,
            Err(error) => {
                let (code, message) = (error.code, &error.message);
                crate::trace::debug!(code, %message, "WebSocket: connect failed");
                self.emit::<events::Error>(&error);
                let _ = outcome.send(Err(error.clone()));
                ended.send_replace(Some(Err(error)));
                return;
            }
        };
        self.emit::<events::HeaderReceive>(&events::response_headers(&response.headers));
        let open = OpenResult {
            status: response.status,
            message: response.reason.clone(),
            protocol: response.protocol.clone(),
        };
        self.emit::<events::Open>(&open);
        let _ = outcome.send(Ok(open));
        let mut last_error = None;
        while let Some(incoming) = receiver.recv().await {
            match incoming {
                Incoming::Message(message) => {
                    let before = sends_so_far();
                    self.emit::<events::Message>(&MessageData::from_net(message));
                    self.emit::<events::DataEnd>(&());
                    answered(&sender, before).await;
                }
                Incoming::Error(error) => {
                    let error = Arc::new(error);
                    let event = BusinessError::from_net(code::CONNECT_FAILED, Arc::clone(&error));
                    self.emit::<events::Error>(&event);
                    last_error = Some(error);
                }
                Incoming::Closed(status) => {
                    // The object can connect again once the close event is out.
                    *self.state() = State::Idle;
                    let close = CloseResult {
                        code: status.code.as_u16(),
                        reason: close_reason(status.reason, last_error.as_deref()),
                    };
                    self.emit::<events::Close>(&close);
                    // After the listeners: whoever awaits `closed()` sees what they did.
                    ended.send_replace(Some(Ok(close)));
                }
                Incoming::Pong(payload) => self.emit::<events::Pong>(&payload),
                Incoming::Chunk(_) | Incoming::Ping(_) => {}
            }
        }
    }
}

impl WebSocket {
    fn core(&self) -> &Arc<Core> {
        &self.handle.core
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.core().state()
    }

    /// A handle that does not keep this `WebSocket` alive, for its own listeners.
    pub fn downgrade(&self) -> WeakWebSocket {
        WeakWebSocket {
            handle: Arc::downgrade(&self.handle),
        }
    }

    /// `on(type, callback)`: adds a listener; listeners of one event run in the order added.
    ///
    /// A listener that panics is caught and reported as an `error` event (2302999, naming the
    /// event); the connection goes on. Listeners run on the connection's task, so one that
    /// blocks holds up that connection's later events.
    pub fn on<E: ClientEvent>(
        &self,
        _event: E,
        listener: impl Fn(&E::Payload) + Send + Sync + 'static,
    ) -> ListenerHandle<E> {
        let core = self.core();
        listeners::on(core.owner, E::slot(&core.listeners), Arc::new(listener))
    }

    /// `off(type, callback?)`: removes one listener, or all of the event with `None`. A handle
    /// from another object removes nothing.
    pub fn off<E: ClientEvent>(&self, _event: E, handle: Option<ListenerHandle<E>>) {
        let core = self.core();
        listeners::off(core.owner, E::slot(&core.listeners), handle)
    }

    /// `connect(url, options?)`: checks the arguments, starts connecting and resolves `true`;
    /// the outcome arrives as events (`headerReceive` then `open`, or `error`).
    ///
    /// Non-ASCII characters, spaces and the like in the path and query are percent-encoded as
    /// browsers do (UTF-8 bytes as `%XX`); a non-ASCII host is refused (2302001).
    ///
    /// Errors: 2302001 for a bad URL (scheme, host, fragment, user info, over 8196 characters
    /// as given or once percent-encoded),
    /// 401 for a bad header or protocol, 2302002 for a missing certificate file, 2302003 when
    /// already connecting, open or closing.
    ///
    /// The checks and the start happen at the call; the returned [`Completion`] only reports
    /// them (it may be dropped).
    pub fn connect(
        &self,
        url: &str,
        options: Option<WebSocketRequestOptions>,
    ) -> Completion<Result<bool, BusinessError>> {
        Completion::ready(self.start(url, options.unwrap_or_default()).map(|_| true))
    }

    /// Like [`connect`](Self::connect) (it starts connecting at the call), but the returned
    /// future waits for the outcome: the `open` payload, or the error the `error` event
    /// carries.
    pub fn connect_and_wait(
        &self,
        url: &str,
        options: Option<WebSocketRequestOptions>,
    ) -> Completion<Result<OpenResult, BusinessError>> {
        match self.start(url, options.unwrap_or_default()) {
            Err(error) => Completion::ready(Err(error)),
            Ok(outcome) => Completion::waiting(async move {
                outcome.await.unwrap_or_else(|_| {
                    Err(BusinessError::new(
                        code::CONNECT_FAILED,
                        "the connection attempt was dropped (its runtime shut down)",
                    ))
                })
            }),
        }
    }

    /// Waits for the end of the connection (Rust-native): the `close` event's [`CloseResult`],
    /// once its listeners have run, or the error of a connect that never opened. It refers to
    /// the last `connect`: if that connection already ended, it resolves at once; before any
    /// connect, it fails with 2302999.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), ws_api::BusinessError> {
    /// let ws = ws_api::create_web_socket();
    /// ws.connect_and_wait("ws://127.0.0.1:9001/", None).await?;
    /// ws.send_text("bye").await?;
    /// ws.close(None).await?;
    /// let closed = ws.closed().await?;
    /// println!("closed: {} {}", closed.code, closed.reason);
    /// # Ok(())
    /// # }
    /// ```
    pub fn closed(&self) -> Completion<Result<CloseResult, BusinessError>> {
        let Some(mut ending) = lock(&self.core().ending).clone() else {
            return Completion::ready(Err(BusinessError::new(
                code::UNKNOWN,
                "this WebSocket was never connected",
            )));
        };
        Completion::waiting(async move {
            let ended = match ending.wait_for(Option::is_some).await {
                Ok(ended) => ended.clone(),
                Err(_) => None,
            };
            ended.unwrap_or_else(|| {
                Err(BusinessError::new(
                    code::UNKNOWN,
                    "the connection's task ended without a close event (its runtime shut down)",
                ))
            })
        })
    }

    /// The callback form of [`connect`](Self::connect).
    pub fn connect_with_callback(
        &self,
        url: &str,
        options: Option<WebSocketRequestOptions>,
        callback: impl FnOnce(Result<bool, BusinessError>) + Send + 'static,
    ) {
        callback(self.start(url, options.unwrap_or_default()).map(|_| true));
    }

    /// The negotiated subprotocol while open.
    pub fn protocol(&self) -> Option<String> {
        match &*self.state() {
            State::Open { protocol, .. } => protocol.clone(),
            _ => None,
        }
    }

    fn start(
        &self,
        url: &str,
        options: WebSocketRequestOptions,
    ) -> Result<oneshot::Receiver<Result<OpenResult, BusinessError>>, BusinessError> {
        if url.chars().count() > MAX_URL_LENGTH {
            return Err(BusinessError::new(
                code::URL_ERROR,
                format!("the URL is longer than {MAX_URL_LENGTH} characters"),
            ));
        }
        let parsed = ws_proto::handshake::WsUrl::parse(url)
            .map_err(|e| BusinessError::new(code::URL_ERROR, e))?;
        // The limit is on the URL as sent: non-ASCII characters take three bytes per UTF-8 byte
        // once percent-encoded, and the server's head limit is sized for this many.
        let sent = parsed.to_string().len();
        if sent > MAX_URL_LENGTH {
            return Err(BusinessError::new(
                code::URL_ERROR,
                format!(
                    "the URL is {sent} characters once percent-encoded, longer than {MAX_URL_LENGTH}"
                ),
            ));
        }
        let config = options.to_config(parsed.secure())?;
        config.request(url).map_err(|e| match e {
            ws_net::Error::Url(ref url) => BusinessError::new(code::URL_ERROR, url).with_cause(e),
            other => BusinessError::from_net(code::PARAMETER_ERROR, other),
        })?;
        #[cfg(feature = "tls")]
        if parsed.secure() {
            config.tls.build().map_err(options::tls_setup_error)?;
        }
        let limits = SendLimits::new(options.max_send_size, options.send_backlog_limit);
        let runtime = crate::runtime::handle()?;
        let (cancel, cancelled) = oneshot::channel();
        let (ended, ending) = watch::channel(None);
        let attempt = crate::fresh_id();
        {
            let mut state = self.state();
            if !matches!(*state, State::Idle) {
                return Err(BusinessError::new(
                    code::CONNECTION_ALREADY_EXISTS,
                    "this WebSocket is already connecting, open or closing",
                ));
            }
            *state = State::Connecting { attempt, cancel };
            *lock(&self.core().send_limits) = limits;
            *lock(&self.core().ending) = Some(ending);
        }
        let (tx, rx) = oneshot::channel();
        let core = Arc::clone(self.core());
        let url = url.to_owned();
        let attempt = Attempt {
            id: attempt,
            cancelled,
            outcome: tx,
            ended,
        };
        runtime.spawn(core.run(attempt, url, config, limits));
        Ok(rx)
    }

    fn open_sender(&self) -> Result<(ws_net::Sender, SendLimits), BusinessError> {
        match &*self.state() {
            State::Open { sender, limits, .. } => Ok((sender.clone(), *limits)),
            _ => Err(BusinessError::new(
                code::UNKNOWN,
                "the connection is not open: connect first and wait for the open event",
            )),
        }
    }

    /// `send(data)` with text. See [`send`](Self::send).
    pub fn send_text(&self, text: &str) -> Completion<Result<bool, BusinessError>> {
        self.send(MessageData::Text(text.into()))
    }

    /// `send(data)` with an `ArrayBuffer`. See [`send`](Self::send).
    pub fn send_binary(&self, data: &[u8]) -> Completion<Result<bool, BusinessError>> {
        self.send(MessageData::Binary(ws_proto::Bytes::copy_from_slice(data)))
    }

    /// `send(data)`: sends one message. 2302999 when not open; 401 above 5,242,864 bytes (or
    /// the `max_send_size` extension option).
    ///
    /// The message is queued when `send` is called, as in the reference: messages go out in
    /// the order of the calls even when the returned future is spawned or never awaited (an
    /// event listener can answer the message it was given). The future resolves once the
    /// write buffer has room again, so a sender that awaits it is slowed down by a slow peer.
    ///
    /// A message that would take the bytes waiting to be sent past the send backlog limit
    /// (`WebSocketRequestOptions::send_backlog_limit`, default 16 MiB) is refused with 2302999,
    /// and the connection is closed with 1008 and an `error` event: the server does not read
    /// what it is sent. A message larger than the limit by itself is refused with 401 and the
    /// connection kept.
    pub fn send(&self, data: MessageData) -> Completion<Result<bool, BusinessError>> {
        let core = Arc::clone(self.core());
        let limits = *lock(&self.core().send_limits);
        let checked = data.into_net(limits).and_then(|message| {
            let (sender, limits) = self.open_sender()?;
            Ok((Outgoing::Message(message), sender, limits.backlog_limit))
        });
        Completion::waiting(send_on(checked, move |what| {
            core.emit::<events::Error>(&BusinessError::new(code::CONNECT_FAILED, what))
        }))
    }

    /// Extension: sends a Ping frame with `payload`; the server's answer arrives as the
    /// [`events::Pong`] event.
    ///
    /// As [`send`](Self::send), the ping is queued at the call, in order with the messages
    /// sent, and the returned [`Completion`] resolves once the write buffer has room again;
    /// it counts towards the send backlog limit. Errors: 401 for a payload over 125 bytes
    /// (checked first), 2302999 when the connection is not open.
    ///
    /// ```no_run
    /// use ws_api::client::events;
    ///
    /// # async fn f() -> Result<(), ws_api::BusinessError> {
    /// let ws = ws_api::create_web_socket();
    /// ws.on(events::Pong, |payload| println!("pong: {payload:?}"));
    /// ws.connect_and_wait("ws://127.0.0.1:9001/", None).await?;
    /// ws.ping(b"are you there?").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn ping(&self, payload: &[u8]) -> Completion<Result<bool, BusinessError>> {
        if payload.len() > MAX_PING_PAYLOAD {
            return Completion::ready(Err(BusinessError::new(
                code::PARAMETER_ERROR,
                format!(
                    "the ping payload is {} bytes; at most {MAX_PING_PAYLOAD} are allowed",
                    payload.len()
                ),
            )));
        }
        let core = Arc::clone(self.core());
        let checked = self
            .open_sender()
            .map(|(sender, limits)| (Outgoing::Ping(payload), sender, limits.backlog_limit));
        Completion::waiting(send_on(checked, move |what| {
            core.emit::<events::Error>(&BusinessError::new(code::CONNECT_FAILED, what))
        }))
    }

    /// The callback form of [`send`](Self::send) (`send(data, callback)`): the callback gets the
    /// result once the message is handed to the transport, on a runtime task.
    pub fn send_with_callback(
        &self,
        data: MessageData,
        callback: impl FnOnce(Result<bool, BusinessError>) + Send + 'static,
    ) {
        report(self.send(data), callback);
    }

    /// The callback form of [`close`](Self::close) (`close(callback)`, `close(options,
    /// callback)`).
    pub fn close_with_callback(
        &self,
        options: Option<WebSocketCloseOptions>,
        callback: impl FnOnce(Result<bool, BusinessError>) + Send + 'static,
    ) {
        report(self.close(options), callback);
    }

    /// `close(options?)`: starts the closing handshake and resolves once the Close frame is
    /// sent; the `close` event follows when the handshake ends, within the close timeout (5 s)
    /// even when the server never reads or never answers.
    /// Code default 1000 (outside 1000–1015, or 1004/1005/1006/1015 → 1000); reason default
    /// `"CLOSE_NORMAL"`, at most 123 bytes (401). 2302999 when not open.
    ///
    /// While connecting, `close` cancels the attempt: it resolves `true`, the `error` event
    /// says the connect was cancelled, nothing opens, and the object can connect again.
    ///
    /// The Close frame is queued at the call; the returned [`Completion`] only reports when it
    /// is written (it may be dropped: the connection closes all the same). [`closed`](Self::closed)
    /// waits for the end of the closing handshake.
    pub fn close(
        &self,
        options: Option<WebSocketCloseOptions>,
    ) -> Completion<Result<bool, BusinessError>> {
        self.close_checked(close_arguments(options))
    }

    /// Extension: `close` with exactly `code`, such as an application's 3000–4999, where the
    /// reference's `close` sends 1000 for any code outside 1000–1015.
    ///
    /// `code` must be one RFC 6455 lets an endpoint send: 1000–1003, 1007–1014 or 3000–4999;
    /// any other (1005, 1006, 5000...) is refused with 401, never replaced. `reason` is at most
    /// 123 bytes (401); an empty one sends none. The rest is as for [`close`](Self::close):
    /// 2302999 when not open, a connect in progress is cancelled, the Close frame is queued at
    /// the call.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), ws_api::BusinessError> {
    /// let ws = ws_api::create_web_socket();
    /// ws.connect_and_wait("ws://127.0.0.1:9001/", None).await?;
    /// ws.close_with_code(4000, "session over").await?;
    /// let closed = ws.closed().await?;
    /// println!("closed: {} {}", closed.code, closed.reason);
    /// # Ok(())
    /// # }
    /// ```
    pub fn close_with_code(
        &self,
        code: u16,
        reason: &str,
    ) -> Completion<Result<bool, BusinessError>> {
        self.close_checked(exact_close_arguments(code, reason))
    }

    /// Closes with arguments checked by the rules of `close` or `close_with_code`.
    fn close_checked(
        &self,
        arguments: Result<(CloseCode, String), BusinessError>,
    ) -> Completion<Result<bool, BusinessError>> {
        let (code, reason) = match arguments {
            Ok(arguments) => arguments,
            Err(error) => return Completion::ready(Err(error)),
        };
        let sender = match self.core().begin_close() {
            Closing::Open(sender) => sender,
            Closing::Cancelled => return Completion::ready(Ok(true)),
            Closing::NotOpen => {
                return Completion::ready(Err(BusinessError::new(
                    code::UNKNOWN,
                    "the connection is not open (or is already closing)",
                )))
            }
        };
        close_on(sender, code, &reason)
    }
}

/// The `error` event of a connect that `close()` cancelled.
fn cancelled_error() -> BusinessError {
    BusinessError::new(
        code::CONNECT_FAILED,
        "the connect was cancelled by close() before the connection opened",
    )
}

/// The `error` event of a failed connect: code 200, what failed, the HTTP status if any.
fn connect_error(error: ws_net::Error) -> BusinessError {
    let status = match &error {
        ws_net::Error::Response(response) => response.status(),
        _ => None,
    };
    BusinessError::from_net(code::CONNECT_FAILED, error).with_data(status)
}
