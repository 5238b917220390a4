//! Opening handshake (RFC 6455 §4) for both roles, as byte-fed state machines.
//!
//! Nothing here does I/O: the client side builds its request bytes with [`ClientHandshake`] and
//! feeds whatever it reads back into [`ClientHandshake::receive_data`]; the server side feeds what
//! it reads into [`ServerHandshake::receive_data`] and answers with
//! [`Request::accept`] (or its shorthand [`Request::accept_response`]) or, on failure, with
//! [`RequestError::response`]. A request that another HTTP server parsed (hyper, say; HTTP/1.1,
//! or an RFC 8441 extended CONNECT over HTTP/2) is checked the same way by
//! [`Request::from_parts`] and answered with [`Request::answer`] or [`RequestError::answer`].
//! permessage-deflate (RFC 7692) is offered with
//! [`ClientRequest::deflate`], chosen with [`Request::choose_deflate`], answered with
//! [`Accept::deflate`] and checked by the client into [`Response::deflate`]. Bytes that
//! arrive after the HTTP head (the first frames) are handed back as `leftover`, to be given to
//! the frame codec.
//!
//! ```
//! use ws_proto::handshake::{ClientHandshake, ClientRequest, ServerHandshake, WsUrl};
//!
//! let url = WsUrl::parse("ws://example.com/chat?room=1")?;
//! let request = ClientRequest::new(url).protocol("chat.v2")?.protocol("chat.v1")?;
//! let mut client = ClientHandshake::new(&request);
//!
//! // The server reads the client's request (here all at once; any split works).
//! let mut server = ServerHandshake::default();
//! let req = server.receive_data(client.request_bytes())?.expect("a complete request");
//! assert_eq!(req.path, "/chat?room=1");
//! assert_eq!(req.host, "example.com");
//!
//! // The client prefers chat.v2, which the server also supports.
//! let protocol = req.choose_protocol(&["chat.v1", "chat.v2"]);
//! assert_eq!(protocol.as_deref(), Some("chat.v2"));
//! let mut reply = req.accept_response(protocol.as_deref(), &[])?;
//!
//! // The server's first frame arrives in the same read as its response head.
//! reply.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
//! let done = client.receive_data(&reply)?.expect("a complete response");
//! assert_eq!(done.response.status, 101);
//! assert_eq!(done.response.protocol.as_deref(), Some("chat.v2"));
//! assert_eq!(done.leftover, [0x81, 0x02, b'h', b'i']);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod authority;
mod client;
mod error;
mod headers;
mod server;
mod url;
mod version;

pub use authority::{authority, bracketed_host, parse_port};
pub use client::{ClientHandshake, ClientRequest, ExtendedConnect, Handshaken, Response};
pub use error::{HandshakeError, HeadError, InputError, RequestError, ResponseError};
pub use headers::Headers;
pub use server::{
    error_response, Accept, HttpAnswer, Request, RequestParts, ServerHandshake, Upgrade,
};
pub use url::{is_valid_host_name, UrlError, WsUrl};
pub use version::HttpVersion;

pub use crate::deflate::negotiate::NegotiationError;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rand::RngCore as _;
use sha1::{Digest as _, Sha1};

/// The GUID that RFC 6455 §1.3 appends to `Sec-WebSocket-Key` before hashing.
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Headers that the handshake writes itself; [`ClientRequest::header`] and [`Request::accept`]
/// refuse them as extra headers (compared case-insensitively). Subprotocols are set with
/// [`ClientRequest::protocol`] and [`Accept::protocol`] instead, extensions with
/// [`ClientRequest::deflate`] and [`Accept::deflate`].
pub const HANDSHAKE_HEADERS: &[&str] = &[
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Protocol",
];

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
///
/// ```
/// use ws_proto::handshake::accept_key;
/// assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// A fresh `Sec-WebSocket-Key`: base64 of 16 bytes from the operating system's CSPRNG.
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    BASE64.encode(nonce)
}

/// Bounds on what a peer may make us buffer during the opening handshake.
///
/// ```
/// use ws_proto::handshake::HandshakeLimits;
/// let limits = HandshakeLimits::default().max_head_size(16 * 1024);
/// assert_eq!(limits.max_headers, 64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeLimits {
    /// Largest accepted HTTP head (request or status line, headers and the final empty line), in
    /// bytes. Default 8192.
    pub max_head_size: usize,
    /// Most header lines accepted in the head. Default 64.
    pub max_headers: usize,
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        HandshakeLimits {
            max_head_size: 8192,
            max_headers: 64,
        }
    }
}

impl HandshakeLimits {
    /// Sets the largest accepted HTTP head, in bytes.
    #[must_use]
    pub fn max_head_size(mut self, bytes: usize) -> Self {
        self.max_head_size = bytes;
        self
    }

    /// Sets the most header lines accepted in the head.
    #[must_use]
    pub fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }
}

/// Header fields HTTP/2 (and HTTP/3) forbid (RFC 9113 §8.2.2): they describe an HTTP/1.1
/// connection, which a multiplexed stream does not have. `te` is allowed with the value
/// `trailers` only.
const CONNECTION_SPECIFIC: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Whether a header field may not be sent over HTTP/2 or HTTP/3 (RFC 9113 §8.2.2): one that
/// describes an HTTP/1.1 connection, or `te` with a value other than `trailers`. What a gateway
/// leaves out when it carries an HTTP/1.1 head over a multiplexed stream.
///
/// ```
/// use ws_proto::handshake::is_connection_specific;
/// assert!(is_connection_specific("Keep-Alive", "timeout=5"));
/// assert!(is_connection_specific("te", "gzip"));
/// assert!(!is_connection_specific("te", "trailers"));
/// assert!(!is_connection_specific("origin", "https://example.com"));
/// ```
pub fn is_connection_specific(name: &str, value: &str) -> bool {
    CONNECTION_SPECIFIC
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
        || (name.eq_ignore_ascii_case("te") && !value.trim().eq_ignore_ascii_case("trailers"))
}

/// Checks an extra header a caller wants to send: the name must be an RFC 7230 token and not one
/// of [`HANDSHAKE_HEADERS`], and the value must not contain CR, LF or NUL.
///
/// ```
/// use ws_proto::handshake::{check_extra_header, InputError};
/// assert!(check_extra_header("Origin", "https://example.com").is_ok());
/// assert!(matches!(check_extra_header("upgrade", "x"), Err(InputError::ForbiddenHeader(_))));
/// ```
///
/// # Errors
///
/// [`InputError::InvalidHeaderName`], [`InputError::ForbiddenHeader`] or
/// [`InputError::InvalidHeaderValue`].
pub fn check_extra_header(name: &str, value: &str) -> Result<(), InputError> {
    if !is_token(name) {
        return Err(InputError::InvalidHeaderName(name.to_owned()));
    }
    if HANDSHAKE_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
    {
        return Err(InputError::ForbiddenHeader(name.to_owned()));
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(InputError::InvalidHeaderValue(name.to_owned()));
    }
    Ok(())
}

/// Whether `s` is a non-empty RFC 7230 token (`tchar`s only).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Whether `b` may appear in an RFC 7230 token.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Buffers bytes until the end of an HTTP head (`\r\n\r\n`), enforcing the size limit.
#[derive(Debug)]
pub(crate) struct HeadBuffer {
    buf: Vec<u8>,
    limits: HandshakeLimits,
    finished: bool,
}

impl HeadBuffer {
    pub(crate) fn new(limits: HandshakeLimits) -> Self {
        HeadBuffer {
            buf: Vec::new(),
            limits,
            finished: false,
        }
    }

    pub(crate) fn limits(&self) -> HandshakeLimits {
        self.limits
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Appends `data`. Returns the whole buffer and the length of the head once the head is
    /// complete. Any result other than `Ok(None)` finishes the buffer: later calls fail with
    /// [`InputError::Finished`].
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<Option<(Vec<u8>, usize)>, PushError> {
        if self.finished {
            return Err(PushError::Finished);
        }
        let result = self.push_inner(data);
        if !matches!(result, Ok(None)) {
            self.finished = true;
            self.buf = Vec::new();
        }
        result.map_err(PushError::Head)
    }

    fn push_inner(&mut self, data: &[u8]) -> Result<Option<(Vec<u8>, usize)>, HeadError> {
        let limit = self.limits.max_head_size;
        // The terminator may straddle the old and new bytes: look at the last 3 old ones too.
        let start = self.buf.len().saturating_sub(3);
        self.buf.extend_from_slice(data);
        let found = self
            .buf
            .get(start..)
            .and_then(|tail| tail.windows(4).position(|w| w == b"\r\n\r\n"));
        match found {
            Some(pos) if start + pos + 4 <= limit => {
                Ok(Some((std::mem::take(&mut self.buf), start + pos + 4)))
            }
            Some(_) => Err(HeadError::TooLarge { limit }),
            None if self.buf.len() > limit => Err(HeadError::TooLarge { limit }),
            None => Ok(None),
        }
    }
}

/// Header slots to give httparse: the limit, but never more than the head could hold (a header
/// line takes at least 3 bytes), so a huge configured limit does not allocate hugely.
pub(crate) fn header_slots(limits: HandshakeLimits, head_len: usize) -> usize {
    limits.max_headers.min(head_len / 3 + 1)
}

/// Why [`HeadBuffer::push`] took no bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The head broke a limit: the peer's fault.
    Head(HeadError),
    /// The head was complete or refused before: the caller's.
    Finished,
}

/// Maps an httparse failure to a head error.
pub(crate) fn parse_error(err: httparse::Error, limits: HandshakeLimits) -> HeadError {
    match err {
        httparse::Error::TooManyHeaders => HeadError::TooManyHeaders {
            limit: limits.max_headers,
        },
        other => HeadError::Malformed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_accept_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn generated_keys_are_16_random_bytes() {
        let (a, b) = (generate_key(), generate_key());
        assert_eq!(BASE64.decode(&a).unwrap().len(), 16);
        assert_ne!(a, b);
    }

    #[test]
    fn extra_header_checks() {
        assert!(check_extra_header("X-Custom", "a value; with: stuff").is_ok());
        for name in ["", "Bad Name", "bad:name", "bad\r\nname"] {
            assert_eq!(
                check_extra_header(name, "v"),
                Err(InputError::InvalidHeaderName(name.into()))
            );
        }
        for name in HANDSHAKE_HEADERS {
            let lower = name.to_ascii_lowercase();
            let err = check_extra_header(&lower, "v").unwrap_err();
            assert_eq!(err, InputError::ForbiddenHeader(lower.clone()));
            assert!(err.to_string().contains(&lower));
        }
        for value in ["a\rb", "a\nb", "a\0b"] {
            let err = check_extra_header("X-Custom", value).unwrap_err();
            assert!(err.to_string().contains("X-Custom"), "{err}");
        }
    }

    #[test]
    fn head_buffer_finds_terminator_across_pushes() {
        let mut buf = HeadBuffer::new(HandshakeLimits::default());
        assert_eq!(buf.push(b"GET / HTTP/1.1\r").unwrap(), None);
        assert_eq!(buf.push(b"\n\r").unwrap(), None);
        let (all, len) = buf.push(b"\nxyz").unwrap().unwrap();
        assert_eq!(len, all.len() - 3);
        assert_eq!(buf.push(b"more"), Err(PushError::Finished));
    }

    #[test]
    fn head_buffer_limit() {
        let limits = HandshakeLimits {
            max_head_size: 8,
            max_headers: 4,
        };
        let mut buf = HeadBuffer::new(limits);
        assert_eq!(buf.push(b"abcd\r\n\r\n").unwrap().map(|(_, n)| n), Some(8));
        let mut buf = HeadBuffer::new(limits);
        assert_eq!(
            buf.push(b"abcde\r\n\r\n"),
            Err(PushError::Head(HeadError::TooLarge { limit: 8 }))
        );
        let mut buf = HeadBuffer::new(limits);
        assert_eq!(buf.push(b"abcdefgh").unwrap(), None);
        assert_eq!(
            buf.push(b"i"),
            Err(PushError::Head(HeadError::TooLarge { limit: 8 }))
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn valid_request() -> Vec<u8> {
        let request = ClientRequest::from_url("ws://example.com:8080/chat?q=1")
            .unwrap()
            .protocol("a, b")
            .unwrap();
        let mut bytes = ClientHandshake::with_key(&request, *b"the sample nonce")
            .request_bytes()
            .to_vec();
        bytes.extend_from_slice(&[0x81, 0x80, 0, 0, 0, 0]);
        bytes
    }

    proptest! {
        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), split in any::<prop::sample::Index>()) {
            let at = split.index(data.len() + 1);
            let (a, b) = data.split_at(at);
            let limits = HandshakeLimits { max_head_size: 300, max_headers: 8 };
            let mut server = ServerHandshake::new(limits);
            if let Ok(None) = server.receive_data(a) {
                let _ = server.receive_data(b);
            }
            let _ = server.receive_data(b);
            let request = ClientRequest::from_url("ws://h/").unwrap().with_limits(limits);
            let mut client = ClientHandshake::new(&request);
            if let Ok(None) = client.receive_data(a) {
                let _ = client.receive_data(b);
            }
            let _ = client.receive_data(b);
        }

        #[test]
        fn http_like_input_never_panics(
            lines in proptest::collection::vec("[ -~]{0,40}", 0..12),
            split in any::<prop::sample::Index>(),
        ) {
            let mut data = format!("GET / HTTP/1.1\r\n{}\r\n\r\n", lines.join("\r\n")).into_bytes();
            data.extend_from_slice(b"tail");
            let at = split.index(data.len() + 1);
            let mut server = ServerHandshake::default();
            let first = server.receive_data(&data[..at]);
            if let Ok(None) = first {
                let _ = server.receive_data(&data[at..]);
            }
            let mut response = data.clone();
            response.splice(..14, b"HTTP/1.1 101 x".iter().copied());
            let mut client = ClientHandshake::new(&ClientRequest::from_url("ws://h/").unwrap());
            if let Ok(None) = client.receive_data(&response[..at]) {
                let _ = client.receive_data(&response[at..]);
            }
        }

        #[test]
        fn mutated_handshakes_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            split in any::<prop::sample::Index>(),
        ) {
            let request = valid_request();
            let key = BASE64.encode(b"the sample nonce");
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: a\r\n\r\n\x02\x00",
                accept_key(&key)
            );
            for mut bytes in [request, response.into_bytes()] {
                for (at, byte) in &edits {
                    let i = at.index(bytes.len());
                    bytes[i] = *byte;
                }
                let at = split.index(bytes.len() + 1);
                let mut server = ServerHandshake::default();
                if let Ok(None) = server.receive_data(&bytes[..at]) {
                    let _ = server.receive_data(&bytes[at..]);
                }
                let client_request = ClientRequest::from_url("ws://h/").unwrap().protocol("a").unwrap();
                let mut client = ClientHandshake::with_key(&client_request, *b"the sample nonce");
                if let Ok(None) = client.receive_data(&bytes[..at]) {
                    let _ = client.receive_data(&bytes[at..]);
                }
            }
        }

        #[test]
        fn valid_request_split_anywhere(split in any::<prop::sample::Index>()) {
            let bytes = valid_request();
            let whole = ServerHandshake::default().receive_data(&bytes).unwrap().unwrap();
            prop_assert_eq!(&whole.leftover, &[0x81, 0x80, 0, 0, 0, 0]);
            let at = split.index(bytes.len() + 1);
            let mut server = ServerHandshake::default();
            let request = match server.receive_data(&bytes[..at]).unwrap() {
                // Complete already: what follows belongs to the stream after the leftover.
                Some(mut request) => {
                    request.leftover.extend_from_slice(&bytes[at..]);
                    request
                }
                None => server.receive_data(&bytes[at..]).unwrap().unwrap(),
            };
            prop_assert_eq!(request, whole);
        }
    }
}
