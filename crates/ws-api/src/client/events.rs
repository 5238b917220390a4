//! The client's events and their payloads.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::close::CloseResult;
use crate::error::BusinessError;
use crate::listeners::Listeners;
use crate::message::MessageData;
use crate::Bytes;

/// `open`: the handshake succeeded.
#[derive(Debug, Clone, Copy)]
pub struct Open;
/// `message`: a complete message arrived.
#[derive(Debug, Clone, Copy)]
pub struct Message;
/// `close`: the connection closed (never fired for a connect that failed).
#[derive(Debug, Clone, Copy)]
pub struct Close;
/// `error`: something failed (code 200, a precise message, the HTTP status as `data`).
#[derive(Debug, Clone, Copy)]
pub struct Error;
/// `dataEnd`: fired once after each `message`.
#[derive(Debug, Clone, Copy)]
pub struct DataEnd;
/// `headerReceive`: the server's response headers, before `open`.
#[derive(Debug, Clone, Copy)]
pub struct HeaderReceive;

/// `pong` (extension): a Pong frame arrived, with its application data. Fired for every
/// Pong: the answers to [`WebSocket::ping`](crate::WebSocket::ping) and to the heartbeat's
/// pings (`ping_interval`), and unsolicited ones.
#[derive(Debug, Clone, Copy)]
pub struct Pong;

/// The `open` payload: `{status, message}`, plus the negotiated subprotocol (an extension, as the
/// newest SDK's `openInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenResult {
    /// HTTP status (101).
    pub status: u16,
    /// The reason phrase.
    pub message: String,
    /// The subprotocol the server selected, if any.
    pub protocol: Option<String>,
}

/// A header value: one string, or a list when the header repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// The header appeared once.
    One(String),
    /// The header appeared several times, in order.
    Many(Vec<String>),
}

/// `ResponseHeaders`: lower-cased names.
pub type ResponseHeaders = BTreeMap<String, HeaderValue>;

/// An event of the client: the marker types of this module.
pub trait ClientEvent: sealed::Sealed + Copy {
    /// What the listeners receive.
    type Payload: 'static;
    /// The event's name in the reference (`"open"`, `"messageReceive"`, ...).
    const NAME: &'static str;
    #[doc(hidden)]
    fn slot(listeners: &ClientListeners) -> &Mutex<Listeners<Self::Payload>>;
}

mod sealed {
    pub trait Sealed {}
}

/// Every client listener, per event (internal).
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct ClientListeners {
    pub(crate) open: Mutex<Listeners<OpenResult>>,
    pub(crate) message: Mutex<Listeners<MessageData>>,
    pub(crate) close: Mutex<Listeners<CloseResult>>,
    pub(crate) error: Mutex<Listeners<BusinessError>>,
    pub(crate) data_end: Mutex<Listeners<()>>,
    pub(crate) header_receive: Mutex<Listeners<ResponseHeaders>>,
    pub(crate) pong: Mutex<Listeners<Bytes>>,
}

macro_rules! client_event {
    ($event:ident, $payload:ty, $field:ident, $name:literal) => {
        impl sealed::Sealed for $event {}
        impl ClientEvent for $event {
            type Payload = $payload;
            const NAME: &'static str = $name;
            fn slot(listeners: &ClientListeners) -> &Mutex<Listeners<$payload>> {
                &listeners.$field
            }
        }
    };
}

client_event!(Open, OpenResult, open, "open");
client_event!(Message, MessageData, message, "message");
client_event!(Close, CloseResult, close, "close");
client_event!(Error, BusinessError, error, "error");
client_event!(DataEnd, (), data_end, "dataEnd");
client_event!(
    HeaderReceive,
    ResponseHeaders,
    header_receive,
    "headerReceive"
);
client_event!(Pong, Bytes, pong, "pong");

/// Response headers as the event gives them: lower-cased names, a list where a header repeats.
pub(crate) fn response_headers(headers: &ws_proto::handshake::Headers) -> ResponseHeaders {
    let mut out = ResponseHeaders::new();
    for (name, value) in headers.iter() {
        let value = value.to_owned();
        match out.remove(&name.to_ascii_lowercase()) {
            None => out.insert(name.to_ascii_lowercase(), HeaderValue::One(value)),
            Some(HeaderValue::One(first)) => out.insert(
                name.to_ascii_lowercase(),
                HeaderValue::Many(vec![first, value]),
            ),
            Some(HeaderValue::Many(mut all)) => {
                all.push(value);
                out.insert(name.to_ascii_lowercase(), HeaderValue::Many(all))
            }
        };
    }
    out
}
