//! The crate's error type.

use std::fmt;
use std::io;

use ws_proto::handshake::{HandshakeError, InputError, RequestError, ResponseError, UrlError};
use ws_proto::{ProtocolError, SendError};

/// Everything that can go wrong in `ws-net`, with a message that says what happened.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a valid `ws://` or `wss://` URL.
    Url(UrlError),
    /// The host name could not be resolved.
    Resolve {
        /// The name looked up.
        host: String,
        /// What the resolver said.
        source: io::Error,
    },
    /// No address of the host accepted a TCP connection.
    Connect {
        /// `host:port` as given.
        target: String,
        /// The error of the last address tried.
        source: io::Error,
    },
    /// The server could not listen on the address.
    Listen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why: address in use, not an address of this host, permission denied...
        source: io::Error,
    },
    /// A server limit turned the client away (it was answered with HTTP 503); which one, and
    /// its value.
    LimitExceeded(crate::server::Limit),
    /// The server's request hook refused the client's upgrade request (it was answered with the
    /// refusal's status, headers and body).
    Refused(crate::server::Refusal),
    /// The server's request hook panicked (the text is the panic message); the client was
    /// answered with HTTP 500. Fix the hook: it should return a refusal instead.
    HookPanicked(String),
    /// A step did not finish in time.
    Timeout(&'static str),
    /// The HTTP proxy failed or refused the tunnel (the message quotes its status line).
    Proxy(crate::proxy::ProxyError),
    /// TLS failed: a certificate or key file, the server's certificate (unknown issuer, expired,
    /// wrong name), a version mismatch, an alert from the peer.
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsError),
    /// What was asked needs a Cargo feature this build of ws-net was compiled without, such as
    /// a `wss://` URL without `tls`.
    FeatureDisabled {
        /// The feature to enable (ws-api and ws-cli forward it under the same name).
        feature: &'static str,
        /// What needs it.
        what: &'static str,
    },
    /// A header or subprotocol given for the handshake is invalid (see the text); nothing was
    /// sent.
    Input(InputError),
    /// A server refused the client's upgrade request, and answered it with
    /// [`RequestError::status`].
    Request(RequestError),
    /// The server's answer to our upgrade request is not a valid acceptance: another status than
    /// 101 ([`ResponseError::status`]), a wrong accept key, an unoffered subprotocol...
    Response(ResponseError),
    /// The peer violated the WebSocket protocol.
    Protocol(ProtocolError),
    /// Reading from or writing to the transport failed.
    Io(io::Error),
    /// The connection ended without a closing handshake: the peer went away, stopped answering
    /// pings, or did not answer our Close frame. The text says which.
    ConnectionLost(String),
    /// The connection is closing or closed; nothing more can be sent.
    Closed,
    /// The frame cannot be sent as asked (payload or reason too long, a close code that may not be
    /// sent, a fragment out of order).
    Send(SendError),
    /// A piece of a message arrived (`ReceiveMode::Streaming`) where only whole messages can go:
    /// the `futures` `Stream` of a connection. Receive whole messages (`ReceiveMode::Messages`,
    /// the default), or take the pieces with [`Receiver::recv`](crate::Receiver::recv).
    StreamingMode,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Url(e) => write!(f, "invalid WebSocket URL: {e}"),
            Error::Resolve { host, source } => {
                write!(f, "could not resolve host {host:?}: {source}")
            }
            Error::Connect { target, source } => {
                write!(f, "could not connect to {target}: {source}")
            }
            Error::Listen { addr, source } => write!(f, "could not listen on {addr}: {source}"),
            Error::LimitExceeded(what) => write!(f, "connection refused: {what}"),
            Error::Refused(refusal) => {
                write!(f, "the request hook refused the upgrade: {refusal}")
            }
            Error::HookPanicked(message) => write!(
                f,
                "the request hook panicked ({message}); the client was answered with 500"
            ),
            Error::Timeout(what) => write!(f, "{what} timed out"),
            Error::Proxy(e) => write!(f, "proxy failed: {e}"),
            #[cfg(feature = "tls")]
            Error::Tls(e) => write!(f, "TLS failed: {e}"),
            Error::FeatureDisabled { feature, what } => write!(
                f,
                "{what} needs ws-net's `{feature}` feature, which this build was compiled \
                 without: enable it in Cargo.toml (ws-api and ws-cli have it too)"
            ),
            Error::Input(e) => e.fmt(f),
            Error::Request(e) => write!(f, "the client's upgrade request was refused: {e}"),
            Error::Response(e) => write!(f, "WebSocket handshake failed: {e}"),
            Error::Protocol(e) => write!(f, "WebSocket protocol violation by the peer: {e}"),
            Error::Io(e) => write!(f, "connection failed: {e}"),
            Error::ConnectionLost(reason) => write!(f, "connection lost: {reason}"),
            Error::Closed => {
                f.write_str("the connection is closing or closed; nothing more can be sent")
            }
            Error::Send(e) => e.fmt(f),
            Error::StreamingMode => f.write_str(
                "a message arrived in pieces (ReceiveMode::Streaming), which a stream of whole \
                 messages cannot deliver: receive with ReceiveMode::Messages, or take the pieces \
                 with Receiver::recv",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Url(e) => Some(e),
            Error::Resolve { source, .. }
            | Error::Connect { source, .. }
            | Error::Listen { source, .. } => Some(source),
            Error::Proxy(e) => Some(e),
            #[cfg(feature = "tls")]
            Error::Tls(e) => Some(e),
            Error::Input(e) => Some(e),
            Error::Request(e) => Some(e),
            Error::Response(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Send(e) => Some(e),
            Error::Refused(e) => Some(e),
            Error::Timeout(_)
            | Error::HookPanicked(_)
            | Error::LimitExceeded(_)
            | Error::ConnectionLost(_)
            | Error::FeatureDisabled { .. }
            | Error::Closed
            | Error::StreamingMode => None,
        }
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Closed => Error::Closed,
            other => Error::Send(other),
        }
    }
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        match e {
            InputError::Url(url) => Error::Url(url),
            other => Error::Input(other),
        }
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        match e {
            HandshakeError::Request(e) => Error::Request(e),
            HandshakeError::Response(e) => Error::Response(e),
            HandshakeError::Input(e) => e.into(),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<crate::proxy::ProxyError> for Error {
    fn from(e: crate::proxy::ProxyError) -> Self {
        Error::Proxy(e)
    }
}

#[cfg(feature = "tls")]
impl From<crate::tls::TlsError> for Error {
    fn from(e: crate::tls::TlsError) -> Self {
        Error::Tls(e)
    }
}

#[cfg(feature = "tls")]
impl Error {
    /// An I/O error on a TLS stream may be a TLS failure in disguise (tokio-rustls wraps them):
    /// unwrap it so the message says what failed.
    pub(crate) fn over_tls(self, peer: crate::tls::Peer) -> Error {
        match self {
            Error::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
                Error::Tls(crate::tls::TlsError::from_io(e, peer))
            }
            other => other,
        }
    }
}
