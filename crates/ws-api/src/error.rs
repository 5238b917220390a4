//! `BusinessError` and the documented error codes.

use std::fmt;
use std::sync::Arc;

/// The documented error codes.
pub mod code {
    /// Events: "Websocket connect failed" (every `error` event carries this code).
    pub const CONNECT_FAILED: i32 = 200;
    /// "Parameter error": an argument is invalid (a header, a close reason, a message too long).
    pub const PARAMETER_ERROR: i32 = 401;
    /// "Websocket url error".
    pub const URL_ERROR: i32 = 2302001;
    /// "Websocket certificate file does not exist".
    pub const CERT_FILE_NOT_EXIST: i32 = 2302002;
    /// "Websocket connection already exists": connect while connecting, open or closing.
    pub const CONNECTION_ALREADY_EXISTS: i32 = 2302003;
    /// "Can't listen on the given NIC".
    pub const CANNOT_LISTEN_ON_NIC: i32 = 2302004;
    /// "Can't listen on the given Port".
    pub const CANNOT_LISTEN_ON_PORT: i32 = 2302005;
    /// "websocket connection does not exist".
    pub const CONNECTION_NOT_EXIST: i32 = 2302006;
    /// "Websocket port already occupied".
    pub const PORT_OCCUPIED: i32 = 2302007;
    /// "It is not allowed to access this domain".
    pub const DOMAIN_NOT_ALLOWED: i32 = 2302998;
    /// "Websocket other unknown error".
    pub const UNKNOWN: i32 = 2302999;
}

/// The documented message of `code`.
pub fn documented_message(code: i32) -> &'static str {
    match code {
        code::CONNECT_FAILED => "Websocket connect failed",
        code::PARAMETER_ERROR => "Parameter error",
        code::URL_ERROR => "Websocket url error",
        code::CERT_FILE_NOT_EXIST => "Websocket certificate file does not exist",
        code::CONNECTION_ALREADY_EXISTS => "Websocket connection already exists",
        code::CANNOT_LISTEN_ON_NIC => "Can't listen on the given NIC",
        code::CANNOT_LISTEN_ON_PORT => "Can't listen on the given Port",
        code::CONNECTION_NOT_EXIST => "websocket connection does not exist",
        code::PORT_OCCUPIED => "Websocket port already occupied",
        code::DOMAIN_NOT_ALLOWED => "It is not allowed to access this domain",
        _ => "Websocket other unknown error",
    }
}

/// An error with a documented code, as the reference's `BusinessError`.
///
/// `message` starts with the code's documented text; what follows the colon says precisely what
/// went wrong. `data` is the HTTP status of a failed handshake, when there is one.
///
/// ```
/// use ws_api::{code, BusinessError};
///
/// let e = BusinessError::new(code::URL_ERROR, "the scheme must be ws or wss");
/// assert_eq!(e.code, 2302001);
/// assert_eq!(e.message, "Websocket url error: the scheme must be ws or wss");
/// ```
///
/// # The typed cause (extension)
///
/// An error made from a failure of the layer below keeps that [`ws_net::Error`] as its
/// [`source`](std::error::Error::source): a failed connect, an `error` event of a connection
/// or of a client the server turned away, a failed `start`, a failed send or close. Rust code
/// can match its variants instead of reading `message`:
///
/// ```
/// use std::error::Error as _;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A port nobody listens on: bind one, note it, close it.
/// let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
/// let ws = ws_api::create_web_socket();
/// let error = ws
///     .connect_and_wait(&format!("ws://127.0.0.1:{port}/"), None)
///     .await
///     .unwrap_err();
/// assert_eq!(error.code, ws_api::code::CONNECT_FAILED);
/// match error.source().and_then(|s| s.downcast_ref::<ws_api::ws_net::Error>()) {
///     Some(ws_api::ws_net::Error::Connect { target, source }) => {
///         println!("nobody listens on {target}: {source}");
///     }
///     Some(other) => println!("the connect failed: {other}"),
///     None => println!("{error}"),
/// }
/// # }
/// ```
///
/// Two errors are equal when their `code`, `message` and `data` are; the cause is not compared.
#[derive(Debug, Clone)]
pub struct BusinessError {
    /// The documented code.
    pub code: i32,
    /// The documented text, then the details.
    pub message: String,
    /// The HTTP status of a failed handshake, if any.
    pub data: Option<u16>,
    /// The failure of the layer below this error was made from, if any.
    cause: Option<Arc<ws_net::Error>>,
}

impl BusinessError {
    /// An error with `code` and `detail` after the documented text.
    pub fn new(code: i32, detail: impl fmt::Display) -> Self {
        BusinessError {
            code,
            message: format!("{}: {detail}", documented_message(code)),
            data: None,
            cause: None,
        }
    }

    /// An error with `code` made from `error`: the facade's words for it as the detail, and
    /// `error` as its source.
    pub(crate) fn from_net(code: i32, error: impl Into<Arc<ws_net::Error>>) -> Self {
        let error = error.into();
        BusinessError::new(code, describe(&error)).with_cause(error)
    }

    /// The same error with `error` as its source.
    pub(crate) fn with_cause(mut self, error: impl Into<Arc<ws_net::Error>>) -> Self {
        self.cause = Some(error.into());
        self
    }

    /// The same error carrying an HTTP status.
    pub fn with_data(mut self, status: Option<u16>) -> Self {
        self.data = status;
        self
    }
}

impl PartialEq for BusinessError {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.message == other.message && self.data == other.data
    }
}

impl Eq for BusinessError {}

impl fmt::Display for BusinessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for BusinessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// What `error` says, in the facade's words: where the lower layers' text names one of their
/// own settings (`Limits::max_frame_size`, `HandshakeLimits`, the `ca` option, `.protocol()`),
/// the facade's option is named instead (`max_message_size`, `ca_path`, `protocol`).
pub(crate) fn describe(error: &ws_net::Error) -> String {
    #[cfg(feature = "tls")]
    use ws_net::tls::{Peer, TlsError};
    use ws_net::Error;
    use ws_proto::handshake::{HeadError, InputError, RequestError, ResponseError};
    use ws_proto::ProtocolError;

    match error {
        Error::Protocol(ProtocolError::FrameTooLarge { size, limit }) => format!(
            "the peer sent a {size}-byte frame, over the {limit}-byte receive limit (raise the \
             max_message_size option to accept it)"
        ),
        Error::Protocol(ProtocolError::MessageTooLarge { limit }) => format!(
            "the peer sent a message over the {limit}-byte receive limit (raise the \
             max_message_size option to accept it)"
        ),
        Error::Protocol(ProtocolError::TooManyFragments { limit }) => format!(
            "the peer sent a message in more than {limit} fragments, more than the receive \
             limit allows (raise the max_message_size option to accept it)"
        ),
        Error::Response(ResponseError::Head(HeadError::TooLarge { limit }))
        | Error::Request(RequestError::Head(HeadError::TooLarge { limit })) => {
            format!("WebSocket handshake failed: the HTTP head is larger than {limit} bytes")
        }
        Error::Response(ResponseError::Head(HeadError::TooManyHeaders { limit }))
        | Error::Request(RequestError::Head(HeadError::TooManyHeaders { limit })) => {
            format!("WebSocket handshake failed: the HTTP head has more than {limit} headers")
        }
        Error::Input(InputError::ForbiddenHeader(name)) => format!(
            "header {name:?} is written by the handshake itself and cannot be set in the \
             header option (subprotocols go in the protocol option)"
        ),
        #[cfg(feature = "tls")]
        Error::Tls(TlsError::UnknownIssuer { peer: Peer::Server }) => {
            "TLS failed: the server's certificate is not trusted: it is not issued by a known \
             certificate authority (unknown issuer); give its CA in the caPath option (ca_path)"
                .to_owned()
        }
        other => other.to_string(),
    }
}

/// The reason of a `close` event, in the facade's words: a connection that ended because of
/// `last_error` may carry that error's lower-layer text as its reason (1006, or the 1009 the
/// peer echoed); it is reworded as the `error` event was.
pub(crate) fn close_reason(reason: String, last_error: Option<&ws_net::Error>) -> String {
    match last_error {
        Some(error @ ws_net::Error::Protocol(inner)) if reason == inner.to_string() => {
            let words = describe(error);
            if words == error.to_string() {
                reason
            } else {
                words
            }
        }
        _ => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::{close_reason, describe};
    #[cfg(feature = "tls")]
    use ws_net::tls::{Peer, TlsError};
    use ws_net::Error;
    use ws_proto::handshake::{HeadError, InputError, RequestError, ResponseError};
    use ws_proto::ProtocolError;

    #[test]
    fn messages_name_the_facade_options_not_the_lower_layers_settings() {
        #[allow(unused_mut)]
        let mut cases = vec![
            (
                Error::Protocol(ProtocolError::FrameTooLarge { size: 9, limit: 8 }),
                "max_message_size",
            ),
            (
                Error::Protocol(ProtocolError::MessageTooLarge { limit: 8 }),
                "max_message_size",
            ),
            (
                Error::Protocol(ProtocolError::TooManyFragments { limit: 8 }),
                "max_message_size",
            ),
            (
                Error::Response(ResponseError::Head(HeadError::TooLarge { limit: 8 })),
                "larger than 8 bytes",
            ),
            (
                Error::Request(RequestError::Head(HeadError::TooManyHeaders { limit: 8 })),
                "more than 8 headers",
            ),
            (
                Error::Input(InputError::ForbiddenHeader("Upgrade".into())),
                "protocol option",
            ),
        ];
        #[cfg(feature = "tls")]
        cases.push((
            Error::Tls(TlsError::UnknownIssuer { peer: Peer::Server }),
            "caPath option (ca_path)",
        ));
        let limit = Error::Protocol(ProtocolError::MessageTooLarge { limit: 8 });
        let reason = ProtocolError::MessageTooLarge { limit: 8 }.to_string();
        assert!(close_reason(reason, Some(&limit)).contains("max_message_size"));
        assert_eq!(close_reason("bye".into(), Some(&limit)), "bye");
        assert_eq!(close_reason("bye".into(), None), "bye");
        for (error, expected) in cases {
            let text = describe(&error);
            assert!(text.contains(expected), "{text}");
            for lower in ["Limits", "`ca`", ".protocol()", "raise HandshakeLimits"] {
                assert!(!text.contains(lower), "{text} names {lower}");
            }
        }
    }
}
