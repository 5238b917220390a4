//! The server's events and their payloads.

use std::sync::Mutex;

use crate::close::CloseResult;
use crate::error::BusinessError;
use crate::listeners::Listeners;
use crate::message::MessageData;

/// `connect`: a client completed its handshake.
#[derive(Debug, Clone, Copy)]
pub struct Connect;
/// `messageReceive`: a complete message from a client.
#[derive(Debug, Clone, Copy)]
pub struct MessageReceive;
/// `close`: a client's connection closed.
#[derive(Debug, Clone, Copy)]
pub struct Close;
/// `error`: something failed (code 200 and a precise message), e.g. a client turned away by a
/// limit.
///
/// For a client the server turned away, `data` is the HTTP status that client was answered
/// with: 503 for the client limits (`maxConcurrentClientsNumber`,
/// `maxConnectionsForOneClient`), 400, 405, 426 or 431 for an invalid upgrade request; `None`
/// when it got no answer (a TLS failure, a handshake that timed out or was abandoned, a failed
/// accept of the listener). Its [`source`](std::error::Error::source) is ws-net's error, e.g.
/// [`ws_net::Error::LimitExceeded`] with the [`ws_net::server::Limit`] hit.
#[derive(Debug, Clone, Copy)]
pub struct Error;

/// `WebSocketConnection`: a client's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebSocketConnection {
    /// `clientIP` (IPv4-mapped IPv6 addresses shown as IPv4).
    pub client_ip: String,
    /// `clientPort`.
    pub client_port: u16,
}

/// `WebSocketMessage`: a message and who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketMessage {
    /// `data`.
    pub data: MessageData,
    /// `clientConnection`.
    pub client_connection: WebSocketConnection,
}

/// The `close` payload (`ClientConnectionCloseCallback`'s two arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientClose {
    /// `clientConnection`.
    pub client_connection: WebSocketConnection,
    /// `closeReason`.
    pub close_reason: CloseResult,
}

/// An event of the server: the marker types of this module.
pub trait ServerEvent: sealed::Sealed + Copy {
    /// What the listeners receive.
    type Payload: 'static;
    /// The event's name in the reference (`"open"`, `"messageReceive"`, ...).
    const NAME: &'static str;
    #[doc(hidden)]
    fn slot(listeners: &ServerListeners) -> &Mutex<Listeners<Self::Payload>>;
}

mod sealed {
    pub trait Sealed {}
}

/// Every server listener, per event (internal).
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct ServerListeners {
    pub(crate) connect: Mutex<Listeners<WebSocketConnection>>,
    pub(crate) message: Mutex<Listeners<WebSocketMessage>>,
    pub(crate) close: Mutex<Listeners<ClientClose>>,
    pub(crate) error: Mutex<Listeners<BusinessError>>,
}

macro_rules! server_event {
    ($event:ident, $payload:ty, $field:ident, $name:literal) => {
        impl sealed::Sealed for $event {}
        impl ServerEvent for $event {
            type Payload = $payload;
            const NAME: &'static str = $name;
            fn slot(listeners: &ServerListeners) -> &Mutex<Listeners<$payload>> {
                &listeners.$field
            }
        }
    };
}

server_event!(Connect, WebSocketConnection, connect, "connect");
server_event!(MessageReceive, WebSocketMessage, message, "messageReceive");
server_event!(Close, ClientClose, close, "close");
server_event!(Error, BusinessError, error, "error");
