//! The client side: building the upgrade request and checking the server's response.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::deflate::negotiate::{self, Parsed};
use crate::deflate::{DeflateConfig, DeflateParams};

use super::{
    accept_key, check_extra_header, generate_key, header_slots, is_token, parse_error,
    HandshakeError, HandshakeLimits, HeadBuffer, HeadError, Headers, InputError, PushError,
    ResponseError, WsUrl,
};

/// What a client asks for: URL, offered subprotocols, extra headers and limits.
///
/// ```
/// use ws_proto::handshake::{ClientRequest, WsUrl};
/// let request = ClientRequest::new(WsUrl::parse("wss://example.com/feed")?)
///     .protocol("v2.feed, v1.feed")?
///     .header("Origin", "https://example.com")?;
/// assert_eq!(request.protocols(), ["v2.feed", "v1.feed"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    url: WsUrl,
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
    limits: HandshakeLimits,
    deflate: Option<DeflateConfig>,
}

impl ClientRequest {
    /// A request for `url` with no subprotocols, no extra headers and default limits.
    pub fn new(url: WsUrl) -> Self {
        ClientRequest {
            url,
            protocols: Vec::new(),
            headers: Vec::new(),
            limits: HandshakeLimits::default(),
            deflate: None,
        }
    }

    /// Parses `url` (see [`WsUrl::parse`]) and makes a request for it.
    ///
    /// # Errors
    ///
    /// [`InputError::Url`] when `url` is not a valid `ws://` or `wss://` URL.
    pub fn from_url(url: &str) -> Result<Self, InputError> {
        Ok(Self::new(WsUrl::parse(url)?))
    }

    /// Offers one subprotocol, or several given as a comma-separated list, after those already
    /// offered (earlier ones are preferred). Repeats are ignored. A name that is not an RFC 7230
    /// token (empty, or with spaces, separators such as `"` or `;`, control characters...) is
    /// refused with [`InputError::InvalidProtocol`].
    ///
    /// # Errors
    ///
    /// [`InputError::InvalidProtocol`] for a name that is not a token.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Result<Self, InputError> {
        let protocol = protocol.into();
        let names: Vec<&str> = protocol.split(',').map(str::trim).collect();
        if let Some(bad) = names.iter().find(|name| !is_token(name)) {
            return Err(InputError::InvalidProtocol((*bad).to_owned()));
        }
        for name in names {
            if !self.protocols.iter().any(|p| p == name) {
                self.protocols.push(name.to_owned());
            }
        }
        Ok(self)
    }

    /// Adds an extra header, sent after the handshake's own in the order added. The name must be a
    /// token and not one of [`HANDSHAKE_HEADERS`](super::HANDSHAKE_HEADERS); the value must not
    /// contain CR, LF or NUL.
    ///
    /// # Errors
    ///
    /// [`InputError`]: [`ForbiddenHeader`](InputError::ForbiddenHeader),
    /// [`InvalidHeaderName`](InputError::InvalidHeaderName) or
    /// [`InvalidHeaderValue`](InputError::InvalidHeaderValue).
    pub fn header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, InputError> {
        let (name, value) = (name.into(), value.into());
        check_extra_header(&name, &value)?;
        self.headers.push((name, value));
        Ok(self)
    }

    /// Offers permessage-deflate (RFC 7692) as `config` describes, or nothing with `None` (the
    /// default): `Sec-WebSocket-Extensions: permessage-deflate` with `client_max_window_bits`
    /// (valued when [`DeflateConfig::client_max_window_bits`] is set), and
    /// `server_no_context_takeover`, `client_no_context_takeover` and `server_max_window_bits=N`
    /// when configured. The server's answer is checked against this offer and the agreed
    /// parameters land in [`Response::deflate`].
    ///
    /// ```
    /// use ws_proto::deflate::DeflateConfig;
    /// use ws_proto::handshake::{ClientHandshake, ClientRequest};
    /// let config = DeflateConfig::default().server_max_window_bits(Some(10));
    /// let request = ClientRequest::from_url("ws://h/")?.deflate(Some(&config));
    /// let bytes = ClientHandshake::new(&request).request_bytes().to_vec();
    /// let text = String::from_utf8(bytes)?;
    /// assert!(text.contains(
    ///     "\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; client_max_window_bits\r\n"
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn deflate(mut self, config: Option<&DeflateConfig>) -> Self {
        self.deflate = config.cloned();
        self
    }

    /// Sets the limits applied to the server's response.
    pub fn with_limits(mut self, limits: HandshakeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The URL requested.
    pub fn url(&self) -> &WsUrl {
        &self.url
    }

    /// The subprotocols offered, most preferred first.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extra headers, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The limits applied to the server's response.
    pub fn limits(&self) -> HandshakeLimits {
        self.limits
    }

    /// The permessage-deflate settings offered, if any.
    pub fn deflate_config(&self) -> Option<&DeflateConfig> {
        self.deflate.as_ref()
    }
}

/// The server's answer to the upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code (101 after a successful handshake).
    pub status: u16,
    /// The reason phrase, possibly empty.
    pub reason: String,
    /// All header lines, in order.
    pub headers: Headers,
    /// The subprotocol the server selected, if any (always one the client offered). `None` in an
    /// [`ResponseError::UnexpectedStatus`] response.
    pub protocol: Option<String>,
    /// The permessage-deflate parameters agreed, when the client offered it
    /// ([`ClientRequest::deflate`]) and the server accepted; `None` otherwise (and in an
    /// [`ResponseError::UnexpectedStatus`] response). Give them to the connection with
    /// [`Deflate::new`](crate::deflate::Deflate::new).
    pub deflate: Option<DeflateParams>,
}

/// A completed client handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshaken {
    /// The server's 101 response.
    pub response: Response,
    /// Bytes received after the response head: the start of the WebSocket stream, to be handed to
    /// the frame decoder.
    pub leftover: Vec<u8>,
}

/// The client side of an opening handshake.
///
/// [`new`](Self::new) builds the request with a fresh key; send
/// [`request_bytes`](Self::request_bytes), then feed everything read from the connection to
/// [`receive_data`](Self::receive_data) until it returns the completed handshake or an error.
#[derive(Debug)]
pub struct ClientHandshake {
    request: Vec<u8>,
    key: String,
    expected_accept: String,
    protocols: Vec<String>,
    deflate: Option<Parsed>,
    buffer: HeadBuffer,
}

impl ClientHandshake {
    /// Starts a handshake for `request` with a random `Sec-WebSocket-Key`.
    pub fn new(request: &ClientRequest) -> Self {
        Self::with_key_string(request, generate_key())
    }

    /// Starts a handshake whose `Sec-WebSocket-Key` is base64 of `nonce` instead of random bytes.
    /// For tests only: real clients must use [`new`](Self::new). RFC 6455 §1.3's example key is
    /// `with_key(request, *b"the sample nonce")`.
    ///
    /// ```
    /// use ws_proto::handshake::{ClientHandshake, ClientRequest};
    /// let request = ClientRequest::from_url("ws://server.example.com/chat")?;
    /// let client = ClientHandshake::with_key(&request, *b"the sample nonce");
    /// assert_eq!(client.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    /// # Ok::<(), ws_proto::handshake::HandshakeError>(())
    /// ```
    pub fn with_key(request: &ClientRequest, nonce: [u8; 16]) -> Self {
        Self::with_key_string(request, BASE64.encode(nonce))
    }

    fn with_key_string(request: &ClientRequest, key: String) -> Self {
        let url = &request.url;
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
            url.resource(),
            url.host_header()
        );
        if !request.protocols.is_empty() {
            head += &format!(
                "Sec-WebSocket-Protocol: {}\r\n",
                request.protocols.join(", ")
            );
        }
        let deflate = request.deflate.as_ref().map(negotiate::offer);
        if let Some(offer) = &deflate {
            head += &format!(
                "Sec-WebSocket-Extensions: {}\r\n",
                negotiate::header_value(offer)
            );
        }
        for (name, value) in &request.headers {
            head += &format!("{name}: {value}\r\n");
        }
        head += "\r\n";
        ClientHandshake {
            deflate,
            request: head.into_bytes(),
            expected_accept: accept_key(&key),
            key,
            protocols: request.protocols.clone(),
            buffer: HeadBuffer::new(request.limits),
        }
    }

    /// The complete HTTP request to send to the server.
    pub fn request_bytes(&self) -> &[u8] {
        &self.request
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the handshake has completed or failed.
    pub fn is_finished(&self) -> bool {
        self.buffer.is_finished()
    }

    /// Feeds bytes read from the server, in any pieces. Returns `Ok(None)` while the response
    /// head is incomplete, then the completed handshake, or an error if the server refused or
    /// answered incorrectly ([`HandshakeError::Response`]). After either, every call fails with
    /// [`InputError::Finished`].
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Response`] when the server's answer is not a valid acceptance,
    /// [`HandshakeError::Input`] with [`InputError::Finished`] when fed after the handshake
    /// finished.
    pub fn receive_data(&mut self, data: &[u8]) -> Result<Option<Handshaken>, HandshakeError> {
        let (buf, head_len) = match self.buffer.push(data) {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(None),
            Err(PushError::Head(e)) => return Err(ResponseError::Head(e).into()),
            Err(PushError::Finished) => return Err(InputError::Finished.into()),
        };
        self.validate(&buf, head_len)
            .map(Some)
            .map_err(HandshakeError::Response)
    }

    fn validate(&self, buf: &[u8], head_len: usize) -> Result<Handshaken, ResponseError> {
        let limits = self.buffer.limits();
        let head = buf.get(..head_len).unwrap_or(buf);
        let mut slots = vec![httparse::EMPTY_HEADER; header_slots(limits, head_len)];
        let mut parsed = httparse::Response::new(&mut slots);
        let parsed_len = match parsed.parse(head).map_err(|e| parse_error(e, limits))? {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => {
                return Err(HeadError::Malformed("incomplete response head".into()).into())
            }
        };
        let mut response = Response {
            status: parsed.code.unwrap_or(0),
            reason: parsed.reason.unwrap_or("").to_owned(),
            headers: Headers::from_httparse(parsed.headers),
            protocol: None,
            deflate: None,
        };
        if response.status != 101 {
            return Err(ResponseError::UnexpectedStatus(Box::new(response)));
        }
        response.protocol = self.check(&response.headers)?;
        response.deflate = self.check_extensions(&response.headers)?;
        let leftover = buf.get(parsed_len..).unwrap_or_default().to_vec();
        Ok(Handshaken { response, leftover })
    }

    /// Validates a 101 response's headers; returns the selected subprotocol.
    fn check(&self, headers: &Headers) -> Result<Option<String>, ResponseError> {
        headers.require_token("Upgrade", "websocket")?;
        headers.require_token("Connection", "upgrade")?;
        let received = headers
            .single("Sec-WebSocket-Accept")?
            .ok_or(HeadError::MissingHeader("Sec-WebSocket-Accept"))?;
        if received != self.expected_accept {
            return Err(ResponseError::BadAcceptKey {
                expected: self.expected_accept.clone(),
                received: received.to_owned(),
            });
        }
        let all: Vec<&str> = headers.get_all("Sec-WebSocket-Protocol").collect();
        match all[..] {
            [] => Ok(None),
            [p] if self.protocols.iter().any(|offered| offered == p) => Ok(Some(p.to_owned())),
            _ => Err(ResponseError::UnofferedProtocol(all.join(", "))),
        }
    }

    /// Validates the response's `Sec-WebSocket-Extensions` against the offer; returns the agreed
    /// permessage-deflate parameters.
    fn check_extensions(&self, headers: &Headers) -> Result<Option<DeflateParams>, ResponseError> {
        let elements: Vec<&str> = headers
            .get_all("Sec-WebSocket-Extensions")
            .flat_map(negotiate::split_elements)
            .collect();
        let Some(offer) = &self.deflate else {
            return match elements[..] {
                [] => Ok(None),
                _ => Err(ResponseError::UnrequestedExtension(elements.join(", "))),
            };
        };
        negotiate::check_answer(offer, &elements).map_err(|e| match e {
            Ok(e) => ResponseError::Deflate(e),
            Err(element) => ResponseError::UnrequestedExtension(element),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn request(url: &str) -> ClientRequest {
        ClientRequest::from_url(url).unwrap()
    }

    fn client(req: &ClientRequest) -> ClientHandshake {
        ClientHandshake::with_key(req, *b"the sample nonce")
    }

    fn ok_response(extra: &str) -> String {
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {RFC_ACCEPT}\r\n{extra}\r\n")
    }

    fn feed(req: &ClientRequest, response: &str) -> Result<Option<Handshaken>, HandshakeError> {
        client(req).receive_data(response.as_bytes())
    }

    #[test]
    fn request_bytes_exact() {
        let req = request("ws://server.example.com:8080/chat?x=1")
            .protocol("chat")
            .unwrap()
            .protocol("superchat, chat")
            .unwrap()
            .header("Origin", "http://example.com")
            .unwrap()
            .header("X-Empty", "")
            .unwrap();
        let c = client(&req);
        assert_eq!(
            std::str::from_utf8(c.request_bytes()).unwrap(),
            "GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\nOrigin: http://example.com\r\nX-Empty: \r\n\r\n"
        );
        let plain = client(&request("wss://[::1]"));
        assert_eq!(
            std::str::from_utf8(plain.request_bytes()).unwrap(),
            "GET / HTTP/1.1\r\nHost: [::1]\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
    }

    #[test]
    fn random_keys_differ() {
        let req = request("ws://h");
        let (a, b) = (ClientHandshake::new(&req), ClientHandshake::new(&req));
        assert_ne!(a.key(), b.key());
        assert_eq!(a.key().len(), 24);
    }

    #[test]
    fn builder_refuses_bad_input() {
        for name in [
            "Host",
            "upgrade",
            "CONNECTION",
            "sec-websocket-key",
            "Sec-WebSocket-Version",
            "Sec-WebSocket-Accept",
            "Sec-WebSocket-Extensions",
            "Sec-WebSocket-Protocol",
        ] {
            let err = request("ws://h").header(name, "x").unwrap_err();
            assert_eq!(err, InputError::ForbiddenHeader(name.into()));
            assert!(err.to_string().contains(name), "{err}");
        }
        let err = request("ws://h").header("X Bad", "x").unwrap_err();
        assert!(
            matches!(&err, InputError::InvalidHeaderName(n) if n == "X Bad")
                && err.to_string().contains("X Bad")
        );
        let err = request("ws://h")
            .header("X-Inject", "a\r\nHost: evil")
            .unwrap_err();
        assert!(
            matches!(&err, InputError::InvalidHeaderValue(n) if n == "X-Inject")
                && err.to_string().contains("X-Inject")
        );
        for bad in ["", "a b", "a,,b", "x\r\nEvil: 1", "\"q\""] {
            assert!(
                matches!(
                    request("ws://h").protocol(bad),
                    Err(InputError::InvalidProtocol(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            ClientRequest::from_url("http://h"),
            Err(InputError::Url(_))
        ));
    }

    #[test]
    fn accepts_valid_response() {
        let req = request("ws://server.example.com/chat")
            .protocol("chat, superchat")
            .unwrap();
        let done = feed(&req, &ok_response("Sec-WebSocket-Protocol: superchat\r\n"))
            .unwrap()
            .unwrap();
        assert_eq!(done.response.status, 101);
        assert_eq!(done.response.reason, "Switching Protocols");
        assert_eq!(done.response.protocol.as_deref(), Some("superchat"));
        assert_eq!(done.response.headers.len(), 4);
        assert!(done.leftover.is_empty());
    }

    #[test]
    fn tokens_case_insensitive() {
        let resp = format!(
            "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\nsec-websocket-accept: {RFC_ACCEPT}\r\n\r\n"
        );
        let done = feed(&request("ws://h"), &resp).unwrap().unwrap();
        assert_eq!(done.response.protocol, None);
    }

    #[test]
    fn wrong_status_keeps_status_reason_headers() {
        let resp = "HTTP/1.1 403 Forbidden Here\r\nContent-Length: 3\r\n\r\nno!";
        let Err(HandshakeError::Response(ResponseError::UnexpectedStatus(r))) =
            feed(&request("ws://h"), resp)
        else {
            panic!()
        };
        assert_eq!((r.status, r.reason.as_str()), (403, "Forbidden Here"));
        assert_eq!(r.headers.get("content-length"), Some("3"));
        let err = feed(&request("ws://h"), resp).unwrap_err();
        assert!(
            err.to_string().contains("403") && err.to_string().contains("Forbidden Here"),
            "{err}"
        );
        assert_eq!(err.response(), None);
    }

    #[test]
    fn upgrade_and_connection_required() {
        let req = request("ws://h");
        let without = |skip: &str, replace: &str| {
            let resp = ok_response("").replace(skip, replace);
            feed(&req, &resp).unwrap_err()
        };
        assert_eq!(
            without("Upgrade: websocket\r\n", ""),
            HandshakeError::Response(ResponseError::Head(HeadError::MissingHeader("Upgrade")))
        );
        assert_eq!(
            without("Connection: Upgrade\r\n", ""),
            HandshakeError::Response(ResponseError::Head(HeadError::MissingHeader("Connection")))
        );
        assert!(matches!(
            without("Upgrade: websocket", "Upgrade: h2c"),
            HandshakeError::Response(ResponseError::Head(HeadError::InvalidHeader {
                name: "Upgrade",
                ..
            }))
        ));
        assert!(matches!(
            without("Connection: Upgrade", "Connection: keep-alive"),
            HandshakeError::Response(ResponseError::Head(HeadError::InvalidHeader {
                name: "Connection",
                ..
            }))
        ));
        assert_eq!(
            without(&format!("Sec-WebSocket-Accept: {RFC_ACCEPT}\r\n"), ""),
            HandshakeError::Response(ResponseError::Head(HeadError::MissingHeader(
                "Sec-WebSocket-Accept"
            )))
        );
    }

    #[test]
    fn bad_accept_key() {
        let resp = ok_response("").replace(RFC_ACCEPT, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        let err = feed(&request("ws://h"), &resp).unwrap_err();
        assert!(
            matches!(&err, HandshakeError::Response(ResponseError::BadAcceptKey { expected, .. }) if expected == RFC_ACCEPT)
        );
        let twice = ok_response(&format!("Sec-WebSocket-Accept: {RFC_ACCEPT}\r\n"));
        assert!(matches!(
            feed(&request("ws://h"), &twice),
            Err(HandshakeError::Response(ResponseError::Head(
                HeadError::InvalidHeader { .. }
            )))
        ));
    }

    #[test]
    fn protocol_negotiation_errors() {
        let offered = request("ws://h")
            .protocol("a")
            .unwrap()
            .protocol("b")
            .unwrap();
        let unoffered = ok_response("Sec-WebSocket-Protocol: c\r\n");
        assert_eq!(
            feed(&offered, &unoffered),
            Err(HandshakeError::Response(ResponseError::UnofferedProtocol(
                "c".into()
            )))
        );
        assert_eq!(
            feed(
                &request("ws://h"),
                &ok_response("Sec-WebSocket-Protocol: a\r\n")
            ),
            Err(HandshakeError::Response(ResponseError::UnofferedProtocol(
                "a".into()
            )))
        );
        assert_eq!(
            feed(&offered, &ok_response("Sec-WebSocket-Protocol: a, b\r\n")),
            Err(HandshakeError::Response(ResponseError::UnofferedProtocol(
                "a, b".into()
            )))
        );
        let twice = ok_response("Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: a\r\n");
        assert!(matches!(
            feed(&offered, &twice),
            Err(HandshakeError::Response(ResponseError::UnofferedProtocol(
                _
            )))
        ));
        assert_eq!(
            feed(&offered, &ok_response("Sec-WebSocket-Protocol: A\r\n")),
            Err(HandshakeError::Response(ResponseError::UnofferedProtocol(
                "A".into()
            )))
        );
        assert_eq!(
            feed(&offered, &ok_response(""))
                .unwrap()
                .unwrap()
                .response
                .protocol,
            None
        );
    }

    #[test]
    fn unrequested_extension() {
        let resp = ok_response("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert_eq!(
            feed(&request("ws://h"), &resp),
            Err(HandshakeError::Response(
                ResponseError::UnrequestedExtension("permessage-deflate".into())
            ))
        );
    }

    #[test]
    fn one_byte_at_a_time_with_leftover() {
        let req = request("ws://h").protocol("p").unwrap();
        let mut c = client(&req);
        let mut bytes = ok_response("Sec-WebSocket-Protocol: p\r\n").into_bytes();
        let frames = [0x81, 0x03, b'a', b'b', b'c', 0x88, 0x00];
        let head_len = bytes.len();
        bytes.extend_from_slice(&frames);
        for (i, b) in bytes.iter().enumerate() {
            let out = c.receive_data(std::slice::from_ref(b)).unwrap();
            if i + 1 < head_len {
                assert!(out.is_none() && !c.is_finished());
            } else {
                let done = out.unwrap();
                assert_eq!(done.response.protocol.as_deref(), Some("p"));
                assert!(done.leftover.is_empty());
                break;
            }
        }
        assert_eq!(
            c.receive_data(&frames),
            Err(HandshakeError::Input(InputError::Finished))
        );
        let done = client(&req).receive_data(&bytes).unwrap().unwrap();
        assert_eq!(done.leftover, frames);
    }

    #[test]
    fn limits() {
        let req = request("ws://h").with_limits(HandshakeLimits {
            max_head_size: 64,
            max_headers: 3,
        });
        let mut c = client(&req);
        assert_eq!(c.receive_data(&[b'x'; 64]).unwrap(), None);
        assert_eq!(
            c.receive_data(b"x"),
            Err(HandshakeError::Response(ResponseError::Head(
                HeadError::TooLarge { limit: 64 }
            )))
        );
        assert_eq!(
            c.receive_data(b"\r\n\r\n"),
            Err(HandshakeError::Input(InputError::Finished))
        );
        let req = request("ws://h").with_limits(HandshakeLimits {
            max_head_size: 8192,
            max_headers: 3,
        });
        let err = feed(&req, &ok_response("X-A: 1\r\n")).unwrap_err();
        assert_eq!(
            err,
            HandshakeError::Response(ResponseError::Head(HeadError::TooManyHeaders { limit: 3 }))
        );
        assert!(feed(&req, &ok_response("")).unwrap().is_some());
    }

    #[test]
    fn malformed_and_finished() {
        let req = request("ws://h");
        let mut c = client(&req);
        assert!(matches!(
            c.receive_data(b"HTTP/9 101 x\r\n\r\n"),
            Err(HandshakeError::Response(ResponseError::Head(
                HeadError::Malformed(_)
            )))
        ));
        assert_eq!(
            c.receive_data(b""),
            Err(HandshakeError::Input(InputError::Finished))
        );
        assert!(matches!(
            feed(&req, "\r\n\r\n"),
            Err(HandshakeError::Response(ResponseError::Head(
                HeadError::Malformed(_)
            )))
        ));
    }
}
