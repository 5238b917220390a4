//! The client side: building the upgrade request and checking the server's response.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::deflate::negotiate::{self, Parsed};
use crate::deflate::{DeflateConfig, DeflateParams};

use super::{
    accept_key, check_extra_header, generate_key, header_slots, is_connection_specific, is_token,
    parse_error, HandshakeError, HandshakeLimits, HeadBuffer, HeadError, Headers, HttpVersion,
    InputError, PushError, ResponseError, WsUrl,
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
    /// The HTTP version the handshake ran over: [`HttpVersion::Http11`] for
    /// [`ClientHandshake`], [`HttpVersion::Http2`] for [`ExtendedConnect`].
    pub version: HttpVersion,
    /// The status code: 101 after a successful HTTP/1.1 handshake, a 2xx (normally 200) after a
    /// successful HTTP/2 one.
    pub status: u16,
    /// The reason phrase, possibly empty (always empty over HTTP/2, which has none).
    pub reason: String,
    /// All header lines, in order (over HTTP/2: the regular header fields, names in lowercase,
    /// without the `:status` pseudo-header).
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
            version: HttpVersion::Http11,
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
        check_protocol(&self.protocols, headers)
    }

    /// Validates the response's `Sec-WebSocket-Extensions` against the offer; returns the agreed
    /// permessage-deflate parameters.
    fn check_extensions(&self, headers: &Headers) -> Result<Option<DeflateParams>, ResponseError> {
        check_extensions(self.deflate.as_ref(), headers)
    }
}

/// Checks the server's `Sec-WebSocket-Protocol` against the offered subprotocols (the same over
/// HTTP/1.1 and HTTP/2); returns the selected one.
fn check_protocol(offered: &[String], headers: &Headers) -> Result<Option<String>, ResponseError> {
    let all: Vec<&str> = headers.get_all("Sec-WebSocket-Protocol").collect();
    match all[..] {
        [] => Ok(None),
        [p] if offered.iter().any(|o| o == p) => Ok(Some(p.to_owned())),
        _ => Err(ResponseError::UnofferedProtocol(all.join(", "))),
    }
}

/// Checks the server's `Sec-WebSocket-Extensions` against the permessage-deflate offer, if any
/// (the same over HTTP/1.1 and HTTP/2); returns the agreed parameters.
fn check_extensions(
    offer: Option<&Parsed>,
    headers: &Headers,
) -> Result<Option<DeflateParams>, ResponseError> {
    let elements: Vec<&str> = headers
        .get_all("Sec-WebSocket-Extensions")
        .flat_map(negotiate::split_elements)
        .collect();
    let Some(offer) = offer else {
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

/// The client side of a WebSocket handshake over HTTP/2 (RFC 8441): what to put in the extended
/// CONNECT request, and the check of the server's answer.
///
/// HTTP/2 itself (framing, HPACK, the `SETTINGS_ENABLE_CONNECT_PROTOCOL` check) is the caller's:
/// it sends a request with the pseudo-headers `:method CONNECT`, `:protocol websocket`
/// ([`PROTOCOL`](Self::PROTOCOL)), `:scheme` ([`scheme`](Self::scheme)), `:path`
/// ([`path`](Self::path)) and `:authority` ([`authority`](Self::authority)), followed by
/// [`headers`](Self::headers), and hands the answer's status and regular header fields to
/// [`check_response`](Self::check_response). The WebSocket then runs in the stream's DATA
/// frames. There is no `Sec-WebSocket-Key` and no `Sec-WebSocket-Accept`: the `:protocol`
/// pseudo-header does their job (RFC 8441 §5).
///
/// ```
/// use ws_proto::handshake::{ClientRequest, ExtendedConnect, Headers, HttpVersion};
///
/// let request = ClientRequest::from_url("wss://example.com/chat?room=1")?
///     .protocol("chat.v2, chat.v1")?
///     .header("Origin", "https://example.com")?;
/// let connect = ExtendedConnect::new(&request);
/// assert_eq!(
///     (connect.scheme(), connect.authority(), connect.path()),
///     ("https", "example.com", "/chat?room=1")
/// );
/// assert_eq!(
///     connect.headers(),
///     [
///         ("sec-websocket-version".to_owned(), "13".to_owned()),
///         ("sec-websocket-protocol".to_owned(), "chat.v2, chat.v1".to_owned()),
///         ("origin".to_owned(), "https://example.com".to_owned()),
///     ]
/// );
///
/// // The server accepts with 200 and picks chat.v1.
/// let mut headers = Headers::new();
/// headers.push("sec-websocket-protocol", "chat.v1");
/// let response = connect.check_response(200, headers)?;
/// assert_eq!(response.version, HttpVersion::Http2);
/// assert_eq!(response.protocol.as_deref(), Some("chat.v1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExtendedConnect {
    scheme: &'static str,
    authority: String,
    path: String,
    headers: Vec<(String, String)>,
    protocols: Vec<String>,
    deflate: Option<Parsed>,
    limits: HandshakeLimits,
}

impl ExtendedConnect {
    /// The value of the `:protocol` pseudo-header (RFC 8441 §5).
    pub const PROTOCOL: &'static str = "websocket";

    /// The extended CONNECT for `request`: its URL, subprotocols, permessage-deflate offer and
    /// extra headers, and its limits for the answer.
    ///
    /// Extra headers that HTTP/2 forbids because they belong to an HTTP/1.1 connection
    /// (`Keep-Alive`, `Proxy-Connection`, `Transfer-Encoding`, and `TE` other than `trailers`;
    /// RFC 9113 §8.2.2) are left out, as an HTTP/1.1-to-HTTP/2 gateway would; the rest are sent
    /// with lowercase names.
    pub fn new(request: &ClientRequest) -> Self {
        let url = &request.url;
        let mut headers = vec![("sec-websocket-version".to_owned(), "13".to_owned())];
        if !request.protocols.is_empty() {
            headers.push((
                "sec-websocket-protocol".to_owned(),
                request.protocols.join(", "),
            ));
        }
        let deflate = request.deflate.as_ref().map(negotiate::offer);
        if let Some(offer) = &deflate {
            headers.push((
                "sec-websocket-extensions".to_owned(),
                negotiate::header_value(offer),
            ));
        }
        for (name, value) in &request.headers {
            if !is_connection_specific(name, value) {
                headers.push((name.to_ascii_lowercase(), value.clone()));
            }
        }
        ExtendedConnect {
            scheme: if url.secure() { "https" } else { "http" },
            authority: url.host_header(),
            path: url.resource().to_owned(),
            headers,
            protocols: request.protocols.clone(),
            deflate,
            limits: request.limits,
        }
    }

    /// The `:scheme` pseudo-header: `https` for `wss://` URLs, `http` for `ws://` ones.
    pub fn scheme(&self) -> &str {
        self.scheme
    }

    /// The `:authority` pseudo-header: the URL's host, and its port unless it is the scheme's
    /// default (as in `Host` over HTTP/1.1).
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The `:path` pseudo-header: the URL's path and query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The regular header fields to send after the pseudo-headers, names in lowercase as HTTP/2
    /// requires: `sec-websocket-version: 13`, then `sec-websocket-protocol` and
    /// `sec-websocket-extensions` when something is offered, then the request's extra headers
    /// (`origin`...) in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The limits for the answer. [`HandshakeLimits::max_headers`] is checked by
    /// [`check_response`](Self::check_response); give
    /// [`HandshakeLimits::max_head_size`] to the HTTP/2 implementation as its maximum header
    /// list size (`SETTINGS_MAX_HEADER_LIST_SIZE`), since only it sees the encoded block.
    pub fn limits(&self) -> HandshakeLimits {
        self.limits
    }

    /// Checks the server's answer: its `:status` and its regular header fields. Any 2xx status
    /// accepts (RFC 8441 §5 uses CONNECT as RFC 9113 §8.5 defines it, where 2xx is success; servers
    /// send 200). The selected subprotocol must be one that was offered and the
    /// `sec-websocket-extensions` answer must fit the permessage-deflate offer, checked exactly as
    /// over HTTP/1.1.
    ///
    /// # Errors
    ///
    /// [`ResponseError::UnexpectedStatus`] for a status other than 2xx (the response, with its
    /// headers, inside), [`ResponseError::Head`] with [`HeadError::TooManyHeaders`] for more
    /// header fields than [`HandshakeLimits::max_headers`],
    /// [`ResponseError::UnofferedProtocol`], [`ResponseError::UnrequestedExtension`] and
    /// [`ResponseError::Deflate`] as for [`ClientHandshake::receive_data`].
    pub fn check_response(&self, status: u16, headers: Headers) -> Result<Response, ResponseError> {
        if headers.len() > self.limits.max_headers {
            return Err(HeadError::TooManyHeaders {
                limit: self.limits.max_headers,
            }
            .into());
        }
        let mut response = Response {
            version: HttpVersion::Http2,
            status,
            reason: String::new(),
            headers,
            protocol: None,
            deflate: None,
        };
        if !(200..300).contains(&status) {
            return Err(ResponseError::UnexpectedStatus(Box::new(response)));
        }
        response.protocol = check_protocol(&self.protocols, &response.headers)?;
        response.deflate = check_extensions(self.deflate.as_ref(), &response.headers)?;
        Ok(response)
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

    fn h2_headers(pairs: &[(&str, &str)]) -> Headers {
        let mut headers = Headers::new();
        for (name, value) in pairs {
            headers.push(*name, *value);
        }
        headers
    }

    #[test]
    fn extended_connect_request() {
        let deflate = DeflateConfig::default().server_max_window_bits(Some(10));
        let req = request("ws://[::1]:8080/a%20b?x=1")
            .protocol("chat, superchat")
            .unwrap()
            .deflate(Some(&deflate))
            .header("Origin", "http://example.com")
            .unwrap()
            .header("X-Mixed-Case", "V")
            .unwrap()
            .header("Keep-Alive", "timeout=5")
            .unwrap()
            .header("TE", "gzip")
            .unwrap()
            .header("te", "trailers")
            .unwrap()
            .header("Transfer-Encoding", "chunked")
            .unwrap()
            .header("Proxy-Connection", "keep-alive")
            .unwrap();
        let connect = ExtendedConnect::new(&req);
        assert_eq!(connect.scheme(), "http");
        assert_eq!(connect.authority(), "[::1]:8080");
        assert_eq!(connect.path(), "/a%20b?x=1");
        assert_eq!(ExtendedConnect::PROTOCOL, "websocket");
        let headers: Vec<(&str, &str)> = connect
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            headers,
            [
                ("sec-websocket-version", "13"),
                ("sec-websocket-protocol", "chat, superchat"),
                (
                    "sec-websocket-extensions",
                    "permessage-deflate; server_max_window_bits=10; client_max_window_bits"
                ),
                ("origin", "http://example.com"),
                ("x-mixed-case", "V"),
                ("te", "trailers"),
            ]
        );
        // No key, no Upgrade or Connection: the :protocol pseudo-header replaces them.
        assert!(!headers.iter().any(|(n, _)| n.contains("key")
            || *n == "upgrade"
            || *n == "connection"
            || *n == "host"));
        let secure = ExtendedConnect::new(&request("wss://example.com:443"));
        assert_eq!(
            (secure.scheme(), secure.authority(), secure.path()),
            ("https", "example.com", "/")
        );
        assert_eq!(
            secure.headers(),
            [("sec-websocket-version".to_owned(), "13".to_owned())]
        );
    }

    #[test]
    fn extended_connect_accepts_any_2xx() {
        let req = request("wss://h/").protocol("a, b").unwrap();
        let connect = ExtendedConnect::new(&req);
        for status in [200, 204, 299] {
            let response = connect
                .check_response(status, h2_headers(&[("sec-websocket-protocol", "b")]))
                .unwrap();
            assert_eq!(response.version, HttpVersion::Http2);
            assert_eq!(response.status, status);
            assert_eq!(response.reason, "");
            assert_eq!(response.protocol.as_deref(), Some("b"));
            assert_eq!(response.deflate, None);
        }
        let response = connect.check_response(200, Headers::new()).unwrap();
        assert_eq!(response.protocol, None);
    }

    #[test]
    fn extended_connect_refusals() {
        let req = request("wss://h/").protocol("a").unwrap();
        let connect = ExtendedConnect::new(&req);
        for status in [101, 199, 300, 400, 404, 501] {
            let err = connect
                .check_response(status, h2_headers(&[("x-why", "no")]))
                .unwrap_err();
            let ResponseError::UnexpectedStatus(response) = &err else {
                panic!("{err:?}")
            };
            assert_eq!(response.status, status);
            assert_eq!(response.version, HttpVersion::Http2);
            assert_eq!(response.headers.get("x-why"), Some("no"));
            assert_eq!(err.status(), Some(status));
            let text = err.to_string();
            assert!(
                text.contains(&status.to_string()) && text.contains("HTTP/2"),
                "{text}"
            );
        }
        assert_eq!(
            connect.check_response(200, h2_headers(&[("sec-websocket-protocol", "c")])),
            Err(ResponseError::UnofferedProtocol("c".into()))
        );
        assert_eq!(
            connect.check_response(
                200,
                h2_headers(&[
                    ("sec-websocket-protocol", "a"),
                    ("sec-websocket-protocol", "a")
                ])
            ),
            Err(ResponseError::UnofferedProtocol("a, a".into()))
        );
        assert_eq!(
            connect.check_response(
                200,
                h2_headers(&[("sec-websocket-extensions", "permessage-deflate")])
            ),
            Err(ResponseError::UnrequestedExtension(
                "permessage-deflate".into()
            ))
        );
        let limited = ExtendedConnect::new(&req.clone().with_limits(HandshakeLimits {
            max_head_size: 8192,
            max_headers: 2,
        }));
        assert_eq!(limited.limits().max_headers, 2);
        assert_eq!(
            limited.check_response(200, h2_headers(&[("a", "1"), ("b", "2"), ("c", "3")])),
            Err(ResponseError::Head(HeadError::TooManyHeaders { limit: 2 }))
        );
        assert!(limited
            .check_response(200, h2_headers(&[("a", "1"), ("b", "2")]))
            .is_ok());
    }

    #[test]
    fn extended_connect_deflate_checked_as_over_http11() {
        let config = DeflateConfig::default();
        let req = request("ws://h/").deflate(Some(&config));
        let connect = ExtendedConnect::new(&req);
        let h1 = |answer: &str| {
            feed(
                &req,
                &ok_response(&format!("Sec-WebSocket-Extensions: {answer}\r\n")),
            )
            .map(|done| done.unwrap().response.deflate)
            .map_err(|e| match e {
                HandshakeError::Response(e) => e,
                other => panic!("{other:?}"),
            })
        };
        for answer in [
            "permessage-deflate",
            "permessage-deflate; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits=9",
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; bogus",
            "permessage-deflate, permessage-deflate",
            "x-other",
        ] {
            let h2 = connect
                .check_response(200, h2_headers(&[("sec-websocket-extensions", answer)]))
                .map(|r| r.deflate);
            assert_eq!(h2, h1(answer), "{answer}");
        }
        let accepted = connect
            .check_response(
                200,
                h2_headers(&[("sec-websocket-extensions", "permessage-deflate")]),
            )
            .unwrap();
        assert_eq!(accepted.deflate, Some(DeflateParams::default()));
    }

    #[test]
    fn http11_responses_say_so() {
        let done = feed(&request("ws://h"), &ok_response("")).unwrap().unwrap();
        assert_eq!(done.response.version, HttpVersion::Http11);
        let err = feed(&request("ws://h"), "HTTP/1.1 404 Not Found\r\n\r\n").unwrap_err();
        assert!(err.to_string().contains("101 Switching Protocols"), "{err}");
    }
}
