//! Why an opening handshake failed, by who caused it, and what a server answers.
//!
//! - [`RequestError`]: the client's upgrade request is not acceptable. A server answers it with
//!   [`RequestError::response`] (400, 405, 426 or 431) and closes the connection.
//! - [`ResponseError`]: the server's answer to our request is not a valid acceptance.
//! - [`InputError`]: what the caller gave is unusable: a URL, a header, a subprotocol, or bytes
//!   fed to a handshake that already finished.
//! - [`HeadError`]: the HTTP head itself, whichever peer sent it, inside the first two.
//! - [`HandshakeError`]: any of the three, for code that handles them together.

use std::fmt;

use super::{error_response, HttpAnswer, HttpVersion, NegotiationError, Response, UrlError};
use crate::deflate::DeflateParams;

/// What is wrong with an HTTP head, whichever peer sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeadError {
    /// The head did not end within `limit` bytes.
    TooLarge {
        /// The configured [`HandshakeLimits::max_head_size`](super::HandshakeLimits::max_head_size).
        limit: usize,
    },
    /// The head had more than `limit` header lines.
    TooManyHeaders {
        /// The configured [`HandshakeLimits::max_headers`](super::HandshakeLimits::max_headers).
        limit: usize,
    },
    /// The head is not valid HTTP/1.x; the text says what the parser found.
    Malformed(String),
    /// A header the handshake requires is absent.
    MissingHeader(&'static str),
    /// A header the handshake requires has a wrong value, or appears more than once.
    InvalidHeader {
        /// The header's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(
                f,
                "HTTP head is larger than {limit} bytes; raise HandshakeLimits::max_head_size if the peer is legitimate"
            ),
            Self::TooManyHeaders { limit } => write!(
                f,
                "HTTP head has more than {limit} headers; raise HandshakeLimits::max_headers if the peer is legitimate"
            ),
            Self::Malformed(what) => write!(f, "malformed HTTP head: {what}"),
            Self::MissingHeader(name) => {
                write!(f, "the handshake requires a {name} header, but none was sent")
            }
            Self::InvalidHeader { name, reason } => write!(f, "invalid {name} header: {reason}"),
        }
    }
}

impl std::error::Error for HeadError {}

/// Why a server refuses a client's upgrade request. Each kind has the HTTP status it is answered
/// with: [`status`](Self::status), [`response`](Self::response).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The head is too large, malformed, or lacks a valid `Host`, `Upgrade` or `Connection`
    /// header.
    Head(HeadError),
    /// The request method is not GET (HTTP/1.1).
    BadMethod(String),
    /// The request is neither HTTP/1.1 nor HTTP/2 or HTTP/3.
    BadHttpVersion,
    /// Over HTTP/2 or HTTP/3, the request method is not CONNECT (RFC 8441 §4).
    NotConnect(String),
    /// Over HTTP/2 or HTTP/3, a CONNECT whose `:protocol` pseudo-header is absent (`None`) or not
    /// `websocket`.
    BadProtocol(Option<String>),
    /// `Sec-WebSocket-Version` is absent (`None`) or not 13.
    UnsupportedWebSocketVersion(Option<String>),
    /// `Sec-WebSocket-Key` is not base64 of 16 bytes.
    BadKey(String),
}

impl RequestError {
    /// The HTTP status the request is answered with: 431 for a head over the limits, 405 for a
    /// method other than GET (or CONNECT over HTTP/2), 426 for a missing or unsupported
    /// `Sec-WebSocket-Version`, 400 for the rest.
    pub fn status(&self) -> u16 {
        match self {
            Self::Head(HeadError::TooLarge { .. } | HeadError::TooManyHeaders { .. }) => 431,
            Self::BadMethod(_) | Self::NotConnect(_) => 405,
            Self::UnsupportedWebSocketVersion(_) => 426,
            Self::Head(_) | Self::BadHttpVersion | Self::BadProtocol(_) | Self::BadKey(_) => 400,
        }
    }

    /// The answer refusing the request, for an HTTP server that frames it itself (what
    /// [`response`](Self::response) writes as HTTP/1.1 bytes): [`status`](Self::status), its
    /// reason phrase, `Allow: GET` (or `CONNECT`) with a 405, `Sec-WebSocket-Version: 13` and
    /// `Upgrade: websocket` with a 426, and this error's message as the body.
    pub fn answer(&self) -> HttpAnswer {
        let status = self.status();
        let (reason, extra): (&'static str, &[(&str, &str)]) = match self {
            Self::NotConnect(_) => ("Method Not Allowed", &[("Allow", "CONNECT")]),
            _ => match status {
                405 => ("Method Not Allowed", &[("Allow", "GET")]),
                426 => (
                    "Upgrade Required",
                    &[("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket")],
                ),
                431 => ("Request Header Fields Too Large", &[]),
                _ => ("Bad Request", &[]),
            },
        };
        HttpAnswer {
            status,
            reason,
            headers: extra
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: format!("{self}\n"),
        }
    }

    /// The complete HTTP response to send before closing the connection; the body is this
    /// error's message. 405 answers carry `Allow: GET`, 426 answers `Sec-WebSocket-Version: 13`.
    ///
    /// ```
    /// use ws_proto::handshake::ServerHandshake;
    /// let mut server = ServerHandshake::default();
    /// let err = server.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_err();
    /// let answer = err.response().unwrap();
    /// assert!(answer.starts_with(b"HTTP/1.1 405 Method Not Allowed\r\n"));
    /// ```
    #[must_use = "the client should be sent this answer before the connection is closed"]
    pub fn response(&self) -> Vec<u8> {
        let answer = self.answer();
        let headers: Vec<(&str, &str)> = answer
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        error_response(answer.status, answer.reason, &headers, &answer.body)
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Head(e) => e.fmt(f),
            Self::BadMethod(m) => write!(f, "WebSocket handshakes use GET, not {m:?}"),
            Self::BadHttpVersion => f.write_str(
                "WebSocket handshakes require HTTP/1.1 (or extended CONNECT over HTTP/2)",
            ),
            Self::NotConnect(m) => write!(
                f,
                "over HTTP/2, WebSocket handshakes use CONNECT with :protocol websocket (RFC 8441), not {m:?}"
            ),
            Self::BadProtocol(None) => f.write_str(
                "CONNECT without a :protocol pseudo-header; WebSocket handshakes send :protocol websocket (RFC 8441)",
            ),
            Self::BadProtocol(Some(p)) => write!(
                f,
                "CONNECT with :protocol {p:?}; WebSocket handshakes send :protocol websocket (RFC 8441)"
            ),
            Self::UnsupportedWebSocketVersion(None) => {
                f.write_str("missing Sec-WebSocket-Version header; this server supports version 13")
            }
            Self::UnsupportedWebSocketVersion(Some(v)) => write!(
                f,
                "unsupported Sec-WebSocket-Version {v:?}; this server supports version 13"
            ),
            Self::BadKey(k) => write!(f, "Sec-WebSocket-Key {k:?} is not base64 of 16 bytes"),
        }
    }
}

impl std::error::Error for RequestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Head(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HeadError> for RequestError {
    fn from(e: HeadError) -> Self {
        Self::Head(e)
    }
}

/// Why a client refuses the server's answer to its upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseError {
    /// The head is too large, malformed, or lacks a valid `Upgrade`, `Connection` or
    /// `Sec-WebSocket-Accept` header.
    Head(HeadError),
    /// The server answered with a status other than 101 Switching Protocols (over HTTP/2: other
    /// than 2xx).
    UnexpectedStatus(Box<Response>),
    /// The server's `Sec-WebSocket-Accept` does not match the key we sent.
    BadAcceptKey {
        /// The value derived from our `Sec-WebSocket-Key`.
        expected: String,
        /// The value the server sent.
        received: String,
    },
    /// The server selected a subprotocol (or several) that the client did not offer.
    UnofferedProtocol(String),
    /// The server's response names extensions the client did not offer (all of them when it
    /// offered none, or the first one other than permessage-deflate).
    UnrequestedExtension(String),
    /// The server's permessage-deflate answer is not one the client's offer allows (RFC 7692
    /// §7.1): malformed, repeated, with an unknown, repeated or invalid parameter, or a parameter
    /// or value the offer does not allow.
    Deflate(NegotiationError),
}

impl ResponseError {
    /// The server's HTTP status when it answered with one other than 101 (over HTTP/2: 2xx).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::UnexpectedStatus(response) => Some(response.status),
            _ => None,
        }
    }
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Head(e) => e.fmt(f),
            Self::UnexpectedStatus(resp) if resp.version == HttpVersion::Http2 => write!(
                f,
                "server answered {} to the HTTP/2 extended CONNECT instead of 200; check the URL and that the server speaks WebSocket over HTTP/2 there",
                resp.status
            ),
            Self::UnexpectedStatus(resp) => write!(
                f,
                "server answered {} {:?} instead of 101 Switching Protocols; check the URL and that the server speaks WebSocket there",
                resp.status, resp.reason
            ),
            Self::BadAcceptKey { expected, received } => write!(
                f,
                "Sec-WebSocket-Accept is {received:?} but should be {expected:?}; the server does not implement RFC 6455 correctly (or a proxy altered the handshake)"
            ),
            Self::UnofferedProtocol(p) => write!(
                f,
                "the server selected subprotocol {p:?}, which the client did not offer"
            ),
            Self::UnrequestedExtension(e) => write!(
                f,
                "server enabled extensions {e:?} that the client did not request; the server must not send them in Sec-WebSocket-Extensions"
            ),
            Self::Deflate(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ResponseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Head(e) => Some(e),
            Self::Deflate(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HeadError> for ResponseError {
    fn from(e: HeadError) -> Self {
        Self::Head(e)
    }
}

/// What the caller gave a handshake that it cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputError {
    /// The WebSocket URL is invalid.
    Url(UrlError),
    /// A subprotocol name given to [`ClientRequest::protocol`](super::ClientRequest::protocol)
    /// is not an RFC 7230 token.
    InvalidProtocol(String),
    /// A subprotocol passed to [`Request::accept_response`](super::Request::accept_response) that
    /// the client did not offer.
    UnofferedProtocol(String),
    /// permessage-deflate parameters passed to [`Accept::deflate`](super::Accept::deflate) that
    /// answer none of the client's offers (it offered none, or they break one of its requests);
    /// [`Request::choose_deflate`](super::Request::choose_deflate) only returns valid ones.
    UnofferedDeflate(DeflateParams),
    /// An extra header would override one the handshake writes itself.
    ForbiddenHeader(String),
    /// An extra header's name is not an RFC 7230 token.
    InvalidHeaderName(String),
    /// An extra header's value (the header is named) contains CR, LF or NUL.
    InvalidHeaderValue(String),
    /// Bytes fed to a handshake that already completed or failed.
    Finished,
    /// [`Request::accept`](super::Request::accept) writes HTTP/1.1 bytes, but the request is an
    /// extended CONNECT (HTTP/2 or HTTP/3), answered through its own HTTP server.
    NotHttp11,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(err) => write!(f, "invalid WebSocket URL: {err}"),
            Self::InvalidProtocol(p) => write!(
                f,
                "subprotocol name {p:?} is not a valid token; use visible ASCII without separators such as spaces, commas or quotes"
            ),
            Self::UnofferedProtocol(p) => write!(
                f,
                "subprotocol {p:?} was not offered by the client; pick one of the offered protocols or none"
            ),
            Self::UnofferedDeflate(params) => write!(
                f,
                "permessage-deflate parameters {params:?} answer none of the client's offers; use Request::choose_deflate"
            ),
            Self::ForbiddenHeader(name) => write!(
                f,
                "header {name:?} is written by the handshake itself and cannot be set as an extra header (subprotocols are set with ClientRequest::protocol)"
            ),
            Self::InvalidHeaderName(name) => write!(
                f,
                "header name {name:?} is not a valid token; use letters, digits and !#$%&'*+-.^_`|~ only"
            ),
            Self::InvalidHeaderValue(name) => {
                write!(f, "value of header {name:?} contains CR, LF or NUL; remove them")
            }
            Self::Finished => f.write_str(
                "the handshake is already finished; pass further bytes to the connection instead",
            ),
            Self::NotHttp11 => f.write_str(
                "the request is an extended CONNECT over HTTP/2 or HTTP/3; answer it with Request::answer through its HTTP server",
            ),
        }
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Url(err) => Some(err),
            _ => None,
        }
    }
}

impl From<UrlError> for InputError {
    fn from(err: UrlError) -> Self {
        Self::Url(err)
    }
}

/// Any handshake failure, by who caused it: what
/// [`ServerHandshake::receive_data`](super::ServerHandshake::receive_data) and
/// [`ClientHandshake::receive_data`](super::ClientHandshake::receive_data) return (the peer's
/// bytes, or the caller feeding a finished handshake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The client's request is not acceptable (server side).
    Request(RequestError),
    /// The server's response is not a valid acceptance (client side).
    Response(ResponseError),
    /// The caller's input is unusable.
    Input(InputError),
}

impl HandshakeError {
    /// The HTTP response a server sends before closing the connection, for a refused request.
    ///
    /// ```
    /// use ws_proto::handshake::ServerHandshake;
    /// let mut server = ServerHandshake::default();
    /// let err = server.receive_data(b"GET / HTTP/1.1\r\n\r\n").unwrap_err();
    /// assert!(err.response().unwrap().starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    /// ```
    pub fn response(&self) -> Option<Vec<u8>> {
        match self {
            Self::Request(e) => Some(e.response()),
            _ => None,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request(e) => e.fmt(f),
            Self::Response(e) => e.fmt(f),
            Self::Input(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Request(e) => Some(e),
            Self::Response(e) => Some(e),
            Self::Input(e) => Some(e),
        }
    }
}

impl From<RequestError> for HandshakeError {
    fn from(e: RequestError) -> Self {
        Self::Request(e)
    }
}

impl From<ResponseError> for HandshakeError {
    fn from(e: ResponseError) -> Self {
        Self::Response(e)
    }
}

impl From<InputError> for HandshakeError {
    fn from(e: InputError) -> Self {
        Self::Input(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn head(resp: &[u8]) -> String {
        let text = String::from_utf8(resp.to_vec()).unwrap();
        text.split("\r\n\r\n").next().unwrap().to_owned()
    }

    #[test]
    fn refused_requests_map_to_responses() {
        let h = head(&RequestError::BadMethod("POST".into()).response());
        assert!(
            h.starts_with("HTTP/1.1 405 Method Not Allowed\r\n") && h.contains("\r\nAllow: GET"),
            "{h}"
        );
        let h = head(&RequestError::UnsupportedWebSocketVersion(Some("8".into())).response());
        assert!(
            h.starts_with("HTTP/1.1 426 Upgrade Required\r\n")
                && h.contains("\r\nSec-WebSocket-Version: 13"),
            "{h}"
        );
        let h = head(&RequestError::Head(HeadError::TooLarge { limit: 1 }).response());
        assert!(h.starts_with("HTTP/1.1 431 "), "{h}");
        let h = head(&RequestError::BadKey("x".into()).response());
        assert!(h.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{h}");
        let refused = HandshakeError::from(ResponseError::BadAcceptKey {
            expected: "a".into(),
            received: "b".into(),
        });
        assert_eq!(refused.response(), None);
        assert_eq!(HandshakeError::from(InputError::Finished).response(), None);
    }

    #[test]
    fn sources_chain_to_the_cause() {
        let err = InputError::from(UrlError::Fragment);
        assert!(err.source().is_some());
        assert!(err.to_string().contains("fragment"), "{err}");
        let err = HandshakeError::from(RequestError::Head(HeadError::MissingHeader("Host")));
        let request = err.source().unwrap();
        assert!(request.source().unwrap().to_string().contains("Host"));
    }
}
