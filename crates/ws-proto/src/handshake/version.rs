//! The HTTP versions an opening handshake can run over.

use std::fmt;

/// The HTTP version of an opening handshake: of a request ([`RequestParts::version`](super::RequestParts::version)) or of the
/// response a client got ([`Response::version`](super::Response::version)).
///
/// ```
/// use ws_proto::handshake::HttpVersion;
/// assert_eq!(HttpVersion::Http2.to_string(), "HTTP/2");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/1.0 (refused: RFC 6455 requires HTTP/1.1 or later).
    Http10,
    /// HTTP/1.1: the `Upgrade: websocket` handshake of RFC 6455 §4.
    Http11,
    /// HTTP/2: extended CONNECT (RFC 8441).
    Http2,
    /// HTTP/3: extended CONNECT, as over HTTP/2 (RFC 9220).
    Http3,
    /// Any other version (HTTP/0.9, or one this crate does not know); refused.
    Other,
}

impl fmt::Display for HttpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
            HttpVersion::Http2 => "HTTP/2",
            HttpVersion::Http3 => "HTTP/3",
            HttpVersion::Other => "an unknown HTTP version",
        })
    }
}
