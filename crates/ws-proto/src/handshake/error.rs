//! Why an opening handshake failed, and what a server answers.

use std::fmt;

use super::{error_response, Response, UrlError};

/// Why an opening handshake failed.
///
/// Errors from [`ServerHandshake`](super::ServerHandshake) carry the HTTP answer to send before
/// closing the connection: see [`HandshakeError::response`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The HTTP head did not end within `limit` bytes.
    HeadTooLarge {
        /// The configured [`HandshakeLimits::max_head_size`](super::HandshakeLimits::max_head_size).
        limit: usize,
    },
    /// The HTTP head had more than `limit` header lines.
    TooManyHeaders {
        /// The configured [`HandshakeLimits::max_headers`](super::HandshakeLimits::max_headers).
        limit: usize,
    },
    /// The HTTP head is not valid HTTP/1.x; the text says what the parser found.
    Malformed(String),
    /// The server answered with a status other than 101 Switching Protocols.
    UnexpectedStatus(Box<Response>),
    /// A header the handshake requires is absent.
    MissingHeader(&'static str),
    /// A header the handshake requires has a wrong value, or appears more than once.
    InvalidHeader {
        /// The header's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The server's `Sec-WebSocket-Accept` does not match the key we sent.
    BadAcceptKey {
        /// The value derived from our `Sec-WebSocket-Key`.
        expected: String,
        /// The value the server sent.
        received: String,
    },
    /// A subprotocol that the client did not offer: selected by the server in its response, or
    /// passed to [`Request::accept_response`](super::Request::accept_response).
    UnofferedProtocol(String),
    /// The server's response names extensions although the client requested none.
    UnrequestedExtension(String),
    /// A subprotocol name given to
    /// [`ClientRequest::protocol`](super::ClientRequest::protocol) is not an RFC 7230
    /// token.
    InvalidProtocol(String),
    /// The request method is not GET.
    BadMethod(String),
    /// The request is not HTTP/1.1.
    BadHttpVersion,
    /// `Sec-WebSocket-Version` is absent (`None`) or not 13.
    UnsupportedWebSocketVersion(Option<String>),
    /// `Sec-WebSocket-Key` is not base64 of 16 bytes.
    BadKey(String),
    /// An extra header would override one the handshake writes itself.
    ForbiddenHeader(String),
    /// An extra header's name is not an RFC 7230 token.
    InvalidHeaderName(String),
    /// An extra header's value (the header is named) contains CR, LF or NUL.
    InvalidHeaderValue(String),
    /// The handshake already completed or failed; no more data is accepted.
    Finished,
    /// The WebSocket URL is invalid.
    Url(UrlError),
}

impl HandshakeError {
    /// The HTTP status a server answers this error with, or `None` for errors only a client or
    /// the local caller causes.
    ///
    /// 400 for malformed or incomplete requests, 405 for a method other than GET, 426 for a
    /// missing or unsupported `Sec-WebSocket-Version`, 431 for a head over the limits. Kinds that
    /// both roles produce (malformed head, limits, missing or invalid headers) have a status
    /// whichever side produced them; a client just doesn't send it.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::HeadTooLarge { .. } | Self::TooManyHeaders { .. } => Some(431),
            Self::Malformed(_)
            | Self::MissingHeader(_)
            | Self::InvalidHeader { .. }
            | Self::BadHttpVersion
            | Self::BadKey(_) => Some(400),
            Self::BadMethod(_) => Some(405),
            Self::UnsupportedWebSocketVersion(_) => Some(426),
            _ => None,
        }
    }

    /// The complete HTTP response a server sends for this error before closing the connection
    /// (see [`status`](Self::status)); the body is this error's message. 405 answers carry
    /// `Allow: GET`, 426 answers `Sec-WebSocket-Version: 13`.
    ///
    /// ```
    /// use ws_proto::handshake::ServerHandshake;
    /// let mut server = ServerHandshake::default();
    /// let err = server.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_err();
    /// let answer = err.response().unwrap();
    /// assert!(answer.starts_with(b"HTTP/1.1 405 Method Not Allowed\r\n"));
    /// ```
    pub fn response(&self) -> Option<Vec<u8>> {
        let status = self.status()?;
        let (reason, extra): (&str, &[(&str, &str)]) = match status {
            405 => ("Method Not Allowed", &[("Allow", "GET")]),
            426 => (
                "Upgrade Required",
                &[("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket")],
            ),
            431 => ("Request Header Fields Too Large", &[]),
            _ => ("Bad Request", &[]),
        };
        Some(error_response(status, reason, extra, &format!("{self}\n")))
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeadTooLarge { limit } => write!(
                f,
                "HTTP head is larger than {limit} bytes; raise HandshakeLimits::max_head_size if the peer is legitimate"
            ),
            Self::TooManyHeaders { limit } => write!(
                f,
                "HTTP head has more than {limit} headers; raise HandshakeLimits::max_headers if the peer is legitimate"
            ),
            Self::Malformed(what) => write!(f, "malformed HTTP head: {what}"),
            Self::UnexpectedStatus(resp) => write!(
                f,
                "server answered {} {:?} instead of 101 Switching Protocols; check the URL and that the server speaks WebSocket there",
                resp.status, resp.reason
            ),
            Self::MissingHeader(name) => write!(f, "the handshake requires a {name} header, but none was sent"),
            Self::InvalidHeader { name, reason } => write!(f, "invalid {name} header: {reason}"),
            Self::BadAcceptKey { expected, received } => write!(
                f,
                "Sec-WebSocket-Accept is {received:?} but should be {expected:?}; the server does not implement RFC 6455 correctly (or a proxy altered the handshake)"
            ),
            Self::UnofferedProtocol(p) => write!(f, "subprotocol {p:?} was not offered by the client; pick one of the offered protocols or none"),
            Self::UnrequestedExtension(e) => write!(
                f,
                "server enabled extensions {e:?} that the client did not request; the server must not send Sec-WebSocket-Extensions here"
            ),
            Self::InvalidProtocol(p) => write!(
                f,
                "subprotocol name {p:?} is not a valid token; use visible ASCII without separators such as spaces, commas or quotes"
            ),
            Self::BadMethod(m) => write!(f, "WebSocket handshakes use GET, not {m:?}"),
            Self::BadHttpVersion => f.write_str("WebSocket handshakes require HTTP/1.1"),
            Self::UnsupportedWebSocketVersion(None) => {
                f.write_str("missing Sec-WebSocket-Version header; this server supports version 13")
            }
            Self::UnsupportedWebSocketVersion(Some(v)) => {
                write!(f, "unsupported Sec-WebSocket-Version {v:?}; this server supports version 13")
            }
            Self::BadKey(k) => write!(f, "Sec-WebSocket-Key {k:?} is not base64 of 16 bytes"),
            Self::ForbiddenHeader(name) => write!(
                f,
                "header {name:?} is written by the handshake itself and cannot be set as an extra header (use .protocol() for subprotocols)"
            ),
            Self::InvalidHeaderName(name) => write!(
                f,
                "header name {name:?} is not a valid token; use letters, digits and !#$%&'*+-.^_`|~ only"
            ),
            Self::InvalidHeaderValue(name) => {
                write!(f, "value of header {name:?} contains CR, LF or NUL; remove them")
            }
            Self::Finished => f.write_str("the handshake is already finished; pass further bytes to the connection instead"),
            Self::Url(err) => write!(f, "invalid WebSocket URL: {err}"),
        }
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Url(err) => Some(err),
            _ => None,
        }
    }
}

impl From<UrlError> for HandshakeError {
    fn from(err: UrlError) -> Self {
        Self::Url(err)
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
    fn server_errors_map_to_responses() {
        let h = head(&HandshakeError::BadMethod("POST".into()).response().unwrap());
        assert!(
            h.starts_with("HTTP/1.1 405 Method Not Allowed\r\n") && h.contains("\r\nAllow: GET"),
            "{h}"
        );
        let h = head(
            &HandshakeError::UnsupportedWebSocketVersion(Some("8".into()))
                .response()
                .unwrap(),
        );
        assert!(
            h.starts_with("HTTP/1.1 426 Upgrade Required\r\n")
                && h.contains("\r\nSec-WebSocket-Version: 13"),
            "{h}"
        );
        let h = head(
            &HandshakeError::HeadTooLarge { limit: 1 }
                .response()
                .unwrap(),
        );
        assert!(h.starts_with("HTTP/1.1 431 "), "{h}");
        let h = head(&HandshakeError::BadKey("x".into()).response().unwrap());
        assert!(h.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{h}");
        assert_eq!(
            HandshakeError::BadAcceptKey {
                expected: "a".into(),
                received: "b".into()
            }
            .response(),
            None
        );
        assert_eq!(HandshakeError::Finished.status(), None);
    }

    #[test]
    fn url_error_is_source() {
        let err = HandshakeError::from(UrlError::Fragment);
        assert!(err.source().is_some());
        assert!(err.to_string().contains("fragment"), "{err}");
    }
}
