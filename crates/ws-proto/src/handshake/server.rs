//! The server side: checking the client's upgrade request and answering it.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::deflate::negotiate;
use crate::deflate::{DeflateConfig, DeflateParams};

use super::{
    accept_key, check_extra_header, header_slots, is_token, parse_error, HandshakeError,
    HandshakeLimits, HeadBuffer, HeadError, Headers, HttpVersion, InputError, PushError,
    RequestError,
};

/// The server side of an opening handshake.
///
/// Feed everything read from the connection to [`receive_data`](Self::receive_data) until it
/// returns the client's [`Request`] or an error. Answer a request with
/// [`Request::accept_response`] (or refuse it with [`error_response`]); answer an error with
/// [`HandshakeError::response`] and close the connection.
#[derive(Debug)]
pub struct ServerHandshake {
    buffer: HeadBuffer,
}

impl Default for ServerHandshake {
    fn default() -> Self {
        Self::new(HandshakeLimits::default())
    }
}

impl ServerHandshake {
    /// A server handshake that enforces `limits` on the request head.
    pub fn new(limits: HandshakeLimits) -> Self {
        ServerHandshake {
            buffer: HeadBuffer::new(limits),
        }
    }

    /// Whether a request has been received or refused.
    pub fn is_finished(&self) -> bool {
        self.buffer.is_finished()
    }

    /// Feeds bytes read from the client, in any pieces. Returns `Ok(None)` while the request head
    /// is incomplete, then the validated request, or a [`HandshakeError::Request`] saying why it
    /// is not a valid WebSocket upgrade (answer it with [`HandshakeError::response`]). After
    /// either, every call fails with [`InputError::Finished`].
    ///
    /// Checked, in order: method GET, HTTP/1.1, one non-empty `Host`, `Upgrade` listing
    /// `websocket`, `Connection` listing `upgrade`, `Sec-WebSocket-Version: 13`, and one
    /// `Sec-WebSocket-Key` that is base64 of 16 bytes.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::Request`] when the request is not a valid upgrade (answer it with
    /// [`RequestError::response`]), [`HandshakeError::Input`] with [`InputError::Finished`] when
    /// fed after the handshake finished.
    pub fn receive_data(&mut self, data: &[u8]) -> Result<Option<Request>, HandshakeError> {
        let (buf, head_len) = match self.buffer.push(data) {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(None),
            Err(PushError::Head(e)) => return Err(RequestError::Head(e).into()),
            Err(PushError::Finished) => return Err(InputError::Finished.into()),
        };
        self.validate(&buf, head_len)
            .map(Some)
            .map_err(HandshakeError::Request)
    }

    fn validate(&self, buf: &[u8], head_len: usize) -> Result<Request, RequestError> {
        let limits = self.buffer.limits();
        let head = buf.get(..head_len).unwrap_or(buf);
        let mut slots = vec![httparse::EMPTY_HEADER; header_slots(limits, head_len)];
        let mut parsed = httparse::Request::new(&mut slots);
        let parsed_len = match parsed.parse(head).map_err(|e| parse_error(e, limits))? {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => {
                return Err(HeadError::Malformed("incomplete request head".into()).into())
            }
        };
        let parts = RequestParts {
            method: parsed.method.unwrap_or("").to_owned(),
            version: match parsed.version {
                Some(0) => HttpVersion::Http10,
                Some(1) => HttpVersion::Http11,
                // httparse parses HTTP/1.x only; anything else is refused as malformed above.
                _ => HttpVersion::Other,
            },
            target: parsed.path.unwrap_or("/").to_owned(),
            authority: None,
            protocol: None,
            headers: Headers::from_httparse(parsed.headers),
        };
        let mut request = Request::from_parts(parts)?;
        request.leftover = buf.get(parsed_len..).unwrap_or_default().to_vec();
        Ok(request)
    }
}

/// A request head that an HTTP server already parsed, to be checked by [`Request::from_parts`]
/// (the same checks [`ServerHandshake`] runs on the bytes it parses).
///
/// ```
/// use ws_proto::handshake::{Headers, HttpVersion, Request, RequestParts, Upgrade};
/// let mut headers = Headers::new();
/// headers.push("sec-websocket-version", "13");
/// headers.push("sec-websocket-protocol", "chat");
/// let request = Request::from_parts(RequestParts {
///     method: "CONNECT".into(),
///     version: HttpVersion::Http2,
///     target: "/chat".into(),
///     authority: Some("example.com".into()),
///     protocol: Some("websocket".into()),
///     headers,
/// })?;
/// assert_eq!(request.upgrade, Upgrade::ExtendedConnect);
/// assert_eq!(request.host, "example.com");
/// assert_eq!(request.protocols, ["chat"]);
/// # Ok::<(), ws_proto::handshake::RequestError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParts {
    /// The request method (`GET` for HTTP/1.1 upgrades, `CONNECT` for HTTP/2 and HTTP/3).
    pub method: String,
    /// The HTTP version the request came in.
    pub version: HttpVersion,
    /// The request target: path and query (HTTP/2's `:path`).
    pub target: String,
    /// HTTP/2's and HTTP/3's `:authority` pseudo-header; `None` over HTTP/1.1, whose host is the
    /// `Host` header.
    pub authority: Option<String>,
    /// HTTP/2's and HTTP/3's `:protocol` pseudo-header (RFC 8441 §4); `None` over HTTP/1.1.
    pub protocol: Option<String>,
    /// The header fields, pseudo-headers excluded.
    pub headers: Headers,
}

/// How a client asked to open a WebSocket; each is answered differently
/// ([`Request::answer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// RFC 6455 §4.1: an HTTP/1.1 `GET` with `Upgrade: websocket`, answered with
    /// `101 Switching Protocols` and the `Sec-WebSocket-Accept` derived from this key.
    Http11 {
        /// The `Sec-WebSocket-Key` header: base64 of 16 bytes.
        key: String,
    },
    /// RFC 8441 (HTTP/2) and RFC 9220 (HTTP/3): a `CONNECT` stream with `:protocol` websocket,
    /// answered with `200`; there is no key to answer.
    ExtendedConnect,
}

/// An HTTP answer to an upgrade request, without the framing of any HTTP version: what an HTTP
/// server (hyper, for one) sends for [`Request::answer`] and [`RequestError::answer`].
///
/// ```
/// use ws_proto::handshake::RequestError;
/// let answer = RequestError::UnsupportedWebSocketVersion(Some("8".into())).answer();
/// assert_eq!(answer.status, 426);
/// assert!(answer.headers.contains(&("Sec-WebSocket-Version".into(), "13".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The status code: 101 or 200 accepting, 4xx refusing.
    pub status: u16,
    /// The reason phrase of an HTTP/1.1 status line (HTTP/2 has none).
    pub reason: &'static str,
    /// The header fields, in order (no `Content-Length` or `Content-Type`: the HTTP layer adds
    /// them for the body).
    pub headers: Vec<(String, String)>,
    /// The body: empty when accepting, the error's message (plain UTF-8 text) when refusing.
    pub body: String,
}

/// The one `Sec-WebSocket-Version` this crate speaks, required in every kind of request.
fn check_websocket_version(headers: &Headers) -> Result<(), RequestError> {
    let versions: Vec<&str> = headers.get_all("Sec-WebSocket-Version").collect();
    match versions[..] {
        ["13"] => Ok(()),
        [] => Err(RequestError::UnsupportedWebSocketVersion(None)),
        _ => Err(RequestError::UnsupportedWebSocketVersion(Some(
            versions.join(", "),
        ))),
    }
}

/// The single non-empty value of header `name`.
fn required_single(headers: &Headers, name: &'static str) -> Result<String, HeadError> {
    let value = headers
        .single(name)?
        .ok_or(HeadError::MissingHeader(name))?;
    if value.is_empty() {
        return Err(HeadError::InvalidHeader {
            name,
            reason: "empty".into(),
        });
    }
    Ok(value.to_owned())
}

/// A valid WebSocket upgrade request, as received by [`ServerHandshake`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The request target as sent: path and query (`/chat?room=1`).
    pub path: String,
    /// The `Host` header (over HTTP/2 and HTTP/3, the `:authority`).
    pub host: String,
    /// All header lines, in order.
    pub headers: Headers,
    /// How the client asked: an HTTP/1.1 upgrade (with its key) or an extended CONNECT.
    pub upgrade: Upgrade,
    /// The subprotocols the client offered, in its order of preference (comma-separated elements
    /// of all `Sec-WebSocket-Protocol` headers, trimmed).
    pub protocols: Vec<String>,
    /// The extensions the client offered, each with its parameters (comma-separated elements of
    /// all `Sec-WebSocket-Extensions` headers, trimmed; commas inside quoted strings do not
    /// separate), e.g. `permessage-deflate; client_max_window_bits`, in the client's order of
    /// preference. [`choose_deflate`](Self::choose_deflate) picks among the permessage-deflate
    /// ones.
    pub extensions: Vec<String>,
    /// The `Origin` header, if sent (browsers always send it; check it against the sites you
    /// allow).
    pub origin: Option<String>,
    /// Bytes received after the request head: early frames from the client, to be handed to the
    /// frame decoder after the handshake.
    pub leftover: Vec<u8>,
}

impl Request {
    /// Checks a request that an HTTP server already parsed and makes it a [`Request`] (with no
    /// `leftover`: the server keeps what follows the head).
    ///
    /// Over HTTP/2 and HTTP/3 (RFC 8441 §4, RFC 9220): method `CONNECT`, `:protocol` websocket,
    /// a host from `:authority` (or else one `Host` header), and `Sec-WebSocket-Version: 13`;
    /// `Upgrade`, `Connection` and `Sec-WebSocket-Key` are not used. Otherwise the checks of
    /// [`ServerHandshake::receive_data`]: method GET, HTTP/1.1, one non-empty `Host`, `Upgrade`
    /// listing `websocket`, `Connection` listing `upgrade`, `Sec-WebSocket-Version: 13`, and one
    /// `Sec-WebSocket-Key` that is base64 of 16 bytes.
    ///
    /// # Errors
    ///
    /// The [`RequestError`] that says why the request is no valid upgrade; answer it with
    /// [`RequestError::answer`] (or [`RequestError::response`] over HTTP/1.1).
    pub fn from_parts(parts: RequestParts) -> Result<Request, RequestError> {
        let RequestParts {
            method,
            version,
            target,
            authority,
            protocol,
            headers,
        } = parts;
        let (upgrade, host) = if matches!(version, HttpVersion::Http2 | HttpVersion::Http3) {
            if method != "CONNECT" {
                return Err(RequestError::NotConnect(method));
            }
            if !protocol
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case("websocket"))
            {
                return Err(RequestError::BadProtocol(protocol));
            }
            let host = match authority.filter(|a| !a.is_empty()) {
                Some(authority) => authority,
                None => required_single(&headers, "Host")
                    .map_err(|_| HeadError::MissingHeader(":authority"))?,
            };
            check_websocket_version(&headers)?;
            (Upgrade::ExtendedConnect, host)
        } else {
            if method != "GET" {
                return Err(RequestError::BadMethod(method));
            }
            if version != HttpVersion::Http11 {
                return Err(RequestError::BadHttpVersion);
            }
            let host = required_single(&headers, "Host")?;
            headers.require_token("Upgrade", "websocket")?;
            headers.require_token("Connection", "upgrade")?;
            check_websocket_version(&headers)?;
            let key = headers
                .single("Sec-WebSocket-Key")?
                .ok_or(HeadError::MissingHeader("Sec-WebSocket-Key"))?;
            if !BASE64.decode(key).is_ok_and(|nonce| nonce.len() == 16) {
                return Err(RequestError::BadKey(key.to_owned()));
            }
            let key = key.to_owned();
            (Upgrade::Http11 { key }, host)
        };
        Ok(Request {
            path: if target.is_empty() {
                "/".to_owned()
            } else {
                target
            },
            host,
            upgrade,
            protocols: headers
                .list("Sec-WebSocket-Protocol")
                .map(str::to_owned)
                .collect(),
            extensions: headers
                .get_all("Sec-WebSocket-Extensions")
                .flat_map(negotiate::split_elements)
                .map(str::to_owned)
                .collect(),
            origin: headers.get("Origin").map(str::to_owned),
            leftover: Vec::new(),
            headers,
        })
    }

    /// The `Sec-WebSocket-Key` of an HTTP/1.1 upgrade; `None` for an extended CONNECT.
    pub fn key(&self) -> Option<&str> {
        match &self.upgrade {
            Upgrade::Http11 { key } => Some(key),
            Upgrade::ExtendedConnect => None,
        }
    }

    /// Picks a subprotocol: the first one in the *client's* order of preference that is also in
    /// `supported` (exact, case-sensitive match), or `None` when they share none.
    ///
    /// ```
    /// # use ws_proto::handshake::{ClientHandshake, ClientRequest, ServerHandshake};
    /// # let request = ClientRequest::from_url("ws://h/")?.protocol("b, a")?;
    /// # let client = ClientHandshake::new(&request);
    /// # let req = ServerHandshake::default().receive_data(client.request_bytes())?.unwrap();
    /// assert_eq!(req.protocols, ["b", "a"]);
    /// assert_eq!(req.choose_protocol(&["a", "b"]).as_deref(), Some("b"));
    /// assert_eq!(req.choose_protocol(&["c"]), None);
    /// # Ok::<(), ws_proto::handshake::HandshakeError>(())
    /// ```
    pub fn choose_protocol(&self, supported: &[&str]) -> Option<String> {
        self.protocols
            .iter()
            .find(|p| supported.contains(&p.as_str()))
            .cloned()
    }

    /// Picks permessage-deflate parameters (RFC 7692 §7.1) for a server configured with
    /// `config`: the client's first acceptable permessage-deflate offer wins; `None` when it made
    /// none. An offer is declined (skipped) when it is malformed, repeats a parameter, has an
    /// unknown parameter or an invalid value, or asks for `server_max_window_bits=8` (this
    /// endpoint compresses with 9 to 15 bits).
    ///
    /// The server keeps no context when configured to or asked to, uses the smaller of the
    /// window asked for and the configured one, asks the client for a smaller window only when
    /// the client offered `client_max_window_bits` (keeping to the client's value when smaller),
    /// and the client keeps no context when it declared so or the server is configured to ask.
    ///
    /// ```
    /// # use ws_proto::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake};
    /// use ws_proto::deflate::DeflateConfig;
    /// let offer = DeflateConfig::default().client_no_context_takeover(true);
    /// # let request = ClientRequest::from_url("ws://h/")?.deflate(Some(&offer));
    /// # let client = ClientHandshake::new(&request);
    /// # let req = ServerHandshake::default().receive_data(client.request_bytes())?.unwrap();
    /// let ours = DeflateConfig::default().server_max_window_bits(Some(12));
    /// let params = req.choose_deflate(&ours).expect("the client offered permessage-deflate");
    /// assert_eq!(params.server_max_window_bits, 12);
    /// assert!(params.client_no_context_takeover);
    /// let answer = req.accept(&Accept::default().deflate(Some(params)))?;
    /// # assert!(String::from_utf8(answer).unwrap().contains("server_max_window_bits=12"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn choose_deflate(&self, config: &DeflateConfig) -> Option<DeflateParams> {
        negotiate::offers(&self.extensions)
            .iter()
            .find_map(|offer| negotiate::choose(offer, config))
    }

    /// The `101 Switching Protocols` response accepting this request as `accept` says: the
    /// selected subprotocol, the permessage-deflate answer, then the extra headers in order.
    ///
    /// ```
    /// # use ws_proto::handshake::{ClientHandshake, ClientRequest, ServerHandshake};
    /// use ws_proto::handshake::Accept;
    /// # let request = ClientRequest::from_url("ws://h/")?.protocol("chat")?;
    /// # let client = ClientHandshake::new(&request);
    /// # let req = ServerHandshake::default().receive_data(client.request_bytes())?.unwrap();
    /// let accept = Accept::default()
    ///     .protocol(req.choose_protocol(&["chat"]))
    ///     .header("Server", "example");
    /// let answer = String::from_utf8(req.accept(&accept)?)?;
    /// assert!(answer.contains("\r\nSec-WebSocket-Protocol: chat\r\nServer: example\r\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`InputError::NotHttp11`] for an extended CONNECT (answer it with
    /// [`answer`](Self::answer) through its HTTP/2 server),
    /// [`InputError::UnofferedProtocol`] for a protocol the client did not offer,
    /// [`InputError::UnofferedDeflate`] for permessage-deflate parameters that answer none of
    /// its offers, and the errors of [`ClientRequest::header`](super::ClientRequest::header) for
    /// the extra headers.
    pub fn accept(&self, accept: &Accept) -> Result<Vec<u8>, InputError> {
        if self.upgrade == Upgrade::ExtendedConnect {
            return Err(InputError::NotHttp11);
        }
        let answer = self.answer(accept)?;
        let mut head = format!("HTTP/1.1 {} {}\r\n", answer.status, answer.reason);
        for (name, value) in &answer.headers {
            head += &format!("{name}: {value}\r\n");
        }
        head += "\r\n";
        Ok(head.into_bytes())
    }

    /// The answer accepting this request as `accept` says, for an HTTP server that frames it
    /// itself: `101 Switching Protocols` with `Upgrade`, `Connection` and `Sec-WebSocket-Accept`
    /// for an HTTP/1.1 upgrade, `200` for an extended CONNECT; then the selected subprotocol, the
    /// permessage-deflate answer and the extra headers in order. [`accept`](Self::accept) writes
    /// this answer as HTTP/1.1 bytes.
    ///
    /// ```
    /// # use ws_proto::handshake::{Accept, Headers, HttpVersion, Request, RequestParts};
    /// # let mut headers = Headers::new();
    /// # headers.push("Sec-WebSocket-Version", "13");
    /// # headers.push("Sec-WebSocket-Protocol", "chat");
    /// # let parts = RequestParts { method: "CONNECT".into(), version: HttpVersion::Http2,
    /// #     target: "/".into(), authority: Some("h".into()), protocol: Some("websocket".into()), headers };
    /// let request = Request::from_parts(parts)?;
    /// let answer = request.answer(&Accept::default().protocol(Some("chat")))?;
    /// assert_eq!(answer.status, 200);
    /// assert_eq!(answer.headers, [("Sec-WebSocket-Protocol".to_owned(), "chat".to_owned())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`accept`](Self::accept), but for [`InputError::NotHttp11`].
    pub fn answer(&self, accept: &Accept) -> Result<HttpAnswer, InputError> {
        if let Some(p) = &accept.protocol {
            if !self.protocols.iter().any(|offered| offered == p) {
                return Err(InputError::UnofferedProtocol(p.clone()));
            }
        }
        let deflate = match &accept.deflate {
            None => None,
            Some(params) => Some(
                negotiate::offers(&self.extensions)
                    .iter()
                    .find_map(|offer| negotiate::answer(offer, params))
                    .ok_or(InputError::UnofferedDeflate(*params))?,
            ),
        };
        for (name, value) in &accept.headers {
            check_extra_header(name, value)?;
        }
        let header = |name: &str, value: String| (name.to_owned(), value);
        let (status, reason, mut headers) = match &self.upgrade {
            Upgrade::Http11 { key } => (
                101,
                "Switching Protocols",
                vec![
                    header("Upgrade", "websocket".into()),
                    header("Connection", "Upgrade".into()),
                    header("Sec-WebSocket-Accept", accept_key(key)),
                ],
            ),
            Upgrade::ExtendedConnect => (200, "OK", Vec::new()),
        };
        if let Some(p) = &accept.protocol {
            headers.push(header("Sec-WebSocket-Protocol", p.clone()));
        }
        if let Some(answer) = &deflate {
            headers.push(header(
                "Sec-WebSocket-Extensions",
                negotiate::header_value(answer),
            ));
        }
        headers.extend(accept.headers.iter().cloned());
        Ok(HttpAnswer {
            status,
            reason,
            headers,
            body: String::new(),
        })
    }

    /// The `101 Switching Protocols` response accepting this request, selecting `protocol` (which
    /// must be one the client offered), no extension, and adding `extra_headers` in order
    /// (checked like [`ClientRequest::header`](super::ClientRequest::header)). A shorthand for
    /// [`accept`](Self::accept).
    ///
    /// # Errors
    ///
    /// [`InputError::UnofferedProtocol`] for a protocol the client did not offer; the errors of
    /// [`ClientRequest::header`](super::ClientRequest::header) for the extra headers.
    pub fn accept_response(
        &self,
        protocol: Option<&str>,
        extra_headers: &[(&str, &str)],
    ) -> Result<Vec<u8>, InputError> {
        let mut accept = Accept::default().protocol(protocol);
        for (name, value) in extra_headers {
            accept = accept.header(*name, *value);
        }
        self.accept(&accept)
    }
}

/// How [`Request::accept`] answers a request: the subprotocol, the permessage-deflate
/// parameters and extra headers.
///
/// ```
/// use ws_proto::handshake::Accept;
/// let accept = Accept::default().protocol(Some("chat")).header("Server", "example");
/// assert_eq!(accept.protocol.as_deref(), Some("chat"));
/// assert_eq!(accept.deflate, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Accept {
    /// The subprotocol selected, one the client offered ([`Request::choose_protocol`]); `None`:
    /// no `Sec-WebSocket-Protocol` header.
    pub protocol: Option<String>,
    /// The permessage-deflate parameters agreed ([`Request::choose_deflate`]); `None`: no
    /// `Sec-WebSocket-Extensions` header.
    pub deflate: Option<DeflateParams>,
    /// Extra headers, written in order after the handshake's own.
    pub headers: Vec<(String, String)>,
}

impl Accept {
    /// Sets the subprotocol selected.
    #[must_use]
    pub fn protocol<P: Into<String>>(mut self, protocol: Option<P>) -> Self {
        self.protocol = protocol.map(Into::into);
        self
    }

    /// Sets the permessage-deflate parameters agreed.
    #[must_use]
    pub fn deflate(mut self, params: Option<DeflateParams>) -> Self {
        self.deflate = params;
        self
    }

    /// Adds an extra header (checked by [`Request::accept`] like
    /// [`ClientRequest::header`](super::ClientRequest::header)).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A complete HTTP/1.1 response refusing a request, for 400, 403, 405, 426, 431, 503 and the like:
/// status line, `extra_headers` in order, `Content-Length`, `Content-Type: text/plain;
/// charset=utf-8` when `body` is not empty, `Connection: close`, then `body`.
///
/// So that caller input cannot inject header lines, CR, LF and NUL in `reason` become spaces, and
/// extra headers with an invalid name or value, or named `Content-Length`, `Content-Type`,
/// `Connection` or `Transfer-Encoding`, are left out.
///
/// ```
/// use ws_proto::handshake::error_response;
/// let answer = error_response(503, "Service Unavailable", &[("Retry-After", "5")], "busy");
/// assert_eq!(
///     answer,
///     b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 4\r\n\
///       Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nbusy"
/// );
/// ```
pub fn error_response(
    status: u16,
    reason: &str,
    extra_headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let reason: String = reason
        .chars()
        .map(|c| {
            if matches!(c, '\r' | '\n' | '\0') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in extra_headers {
        let framing = [
            "Content-Length",
            "Content-Type",
            "Connection",
            "Transfer-Encoding",
        ];
        let valid = is_token(name) && !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
        if valid && !framing.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            head += &format!("{name}: {value}\r\n");
        }
    }
    head += &format!("Content-Length: {}\r\n", body.len());
    if !body.is_empty() {
        head += "Content-Type: text/plain; charset=utf-8\r\n";
    }
    head += "Connection: close\r\n\r\n";
    head += body;
    head.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn valid(extra: &str) -> String {
        format!(
            "GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    }

    fn feed(request: &str) -> Result<Option<Request>, HandshakeError> {
        ServerHandshake::default().receive_data(request.as_bytes())
    }

    fn err(request: &str) -> HandshakeError {
        feed(request).unwrap_err()
    }

    fn answer(err: &HandshakeError) -> String {
        String::from_utf8(err.response().expect("server error has a response")).unwrap()
    }

    #[test]
    fn parses_valid_request() {
        let req = feed(&valid(
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo\r\n",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(req.path, "/chat?x=1");
        assert_eq!(req.host, "server.example.com");
        assert_eq!(req.key(), Some(KEY));
        assert_eq!(req.protocols, ["chat", "superchat"]);
        assert_eq!(
            req.extensions,
            ["permessage-deflate; client_max_window_bits", "x-foo"]
        );
        assert_eq!(req.origin.as_deref(), Some("http://example.com"));
        assert_eq!(req.headers.len(), 8);
        assert!(req.leftover.is_empty());
    }

    #[test]
    fn protocols_from_all_occurrences() {
        let raw = valid("Sec-WebSocket-Protocol: , third\r\nsec-websocket-protocol: fourth\r\n");
        let req = feed(&raw).unwrap().unwrap();
        assert_eq!(req.protocols, ["chat", "superchat", "third", "fourth"]);
        assert_eq!(
            req.choose_protocol(&["fourth", "superchat"]).as_deref(),
            Some("superchat")
        );
        assert_eq!(req.choose_protocol(&["CHAT"]), None);
    }

    #[test]
    fn accept_response_bytes() {
        let req = feed(&valid("")).unwrap().unwrap();
        let resp = req
            .accept_response(Some("chat"), &[("X-Server", "test")])
            .unwrap();
        assert_eq!(
            String::from_utf8(resp).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\nX-Server: test\r\n\r\n"
        );
        let resp = req.accept_response(None, &[]).unwrap();
        assert!(!String::from_utf8(resp)
            .unwrap()
            .contains("Sec-WebSocket-Protocol"));
        assert_eq!(
            req.accept_response(Some("other"), &[]),
            Err(InputError::UnofferedProtocol("other".into()))
        );
    }

    #[test]
    fn accept_response_refuses_bad_headers() {
        let req = feed(&valid("")).unwrap().unwrap();
        for (name, value) in [
            ("sec-websocket-protocol", "chat"),
            ("Sec-WebSocket-Accept", "x"),
            ("Bad Name", "x"),
            ("X-Ok", "a\nb"),
        ] {
            let err = req.accept_response(None, &[(name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn refuses_non_get() {
        let e = err(&valid("").replacen("GET", "POST", 1));
        assert_eq!(
            e,
            HandshakeError::Request(RequestError::BadMethod("POST".into()))
        );
        let a = answer(&e);
        assert!(
            a.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")
                && a.contains("\r\nAllow: GET\r\n"),
            "{a}"
        );
    }

    #[test]
    fn refuses_http_1_0() {
        let e = err(&valid("").replacen("HTTP/1.1", "HTTP/1.0", 1));
        assert_eq!(e, HandshakeError::Request(RequestError::BadHttpVersion));
        assert!(answer(&e).starts_with("HTTP/1.1 400 Bad Request\r\n"));
    }

    #[test]
    fn refuses_missing_or_bad_headers() {
        let v = valid("");
        assert_eq!(
            err(&v.replace("Host: server.example.com\r\n", "")),
            HandshakeError::Request(RequestError::Head(HeadError::MissingHeader("Host")))
        );
        assert!(matches!(
            err(&v.replace("server.example.com", "")),
            HandshakeError::Request(RequestError::Head(HeadError::InvalidHeader {
                name: "Host",
                ..
            }))
        ));
        assert!(matches!(
            err(&valid("Host: b\r\n")),
            HandshakeError::Request(RequestError::Head(HeadError::InvalidHeader {
                name: "Host",
                ..
            }))
        ));
        assert_eq!(
            err(&v.replace("Upgrade: websocket\r\n", "")),
            HandshakeError::Request(RequestError::Head(HeadError::MissingHeader("Upgrade")))
        );
        assert!(matches!(
            err(&v.replace("Upgrade: websocket", "Upgrade: h2c")),
            HandshakeError::Request(RequestError::Head(HeadError::InvalidHeader {
                name: "Upgrade",
                ..
            }))
        ));
        assert_eq!(
            err(&v.replace("Connection: Upgrade\r\n", "")),
            HandshakeError::Request(RequestError::Head(HeadError::MissingHeader("Connection")))
        );
        let ok = v
            .replace("Connection: Upgrade", "Connection: keep-alive, Upgrade")
            .replace("websocket", "WebSocket");
        assert!(feed(&ok).unwrap().is_some());
        let e = err(&v.replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), ""));
        assert_eq!(
            e,
            HandshakeError::Request(RequestError::Head(HeadError::MissingHeader(
                "Sec-WebSocket-Key"
            )))
        );
        assert!(
            answer(&e).starts_with("HTTP/1.1 400 Bad Request\r\n")
                && answer(&e).contains("Sec-WebSocket-Key")
        );
    }

    #[test]
    fn websocket_version_must_be_13() {
        for (from, to, got) in [
            (
                "Sec-WebSocket-Version: 13",
                "Sec-WebSocket-Version: 8",
                Some("8"),
            ),
            ("Sec-WebSocket-Version: 13\r\n", "", None),
            (
                "Sec-WebSocket-Version: 13",
                "Sec-WebSocket-Version: 13, 8",
                Some("13, 8"),
            ),
        ] {
            let e = err(&valid("").replace(from, to));
            assert_eq!(
                e,
                HandshakeError::Request(RequestError::UnsupportedWebSocketVersion(
                    got.map(String::from)
                ))
            );
            let a = answer(&e);
            assert!(a.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{a}");
            assert!(a.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{a}");
        }
    }

    #[test]
    fn key_must_be_16_bytes() {
        for bad in [
            "dGhlIHNhbXBsZSBub25jZQ",
            "dGhlIHNhbXBsZSBub25jZXg=",
            "c2hvcnQ=",
            "!!!!!!!!!!!!!!!!!!!!!!==",
            "",
        ] {
            let e = err(&valid("").replace(KEY, bad));
            assert_eq!(
                e,
                HandshakeError::Request(RequestError::BadKey(bad.into())),
                "{bad}"
            );
            assert!(answer(&e).starts_with("HTTP/1.1 400 "));
        }
        assert!(matches!(
            err(&valid(&format!("Sec-WebSocket-Key: {KEY}\r\n"))),
            HandshakeError::Request(RequestError::Head(HeadError::InvalidHeader { .. }))
        ));
    }

    #[test]
    fn limits() {
        let small = HandshakeLimits {
            max_head_size: 100,
            max_headers: 64,
        };
        let mut s = ServerHandshake::new(small);
        let e = s.receive_data(valid("").as_bytes()).unwrap_err();
        assert_eq!(
            e,
            HandshakeError::Request(RequestError::Head(HeadError::TooLarge { limit: 100 }))
        );
        assert!(answer(&e).starts_with("HTTP/1.1 431 "));
        assert_eq!(
            s.receive_data(b"x"),
            Err(HandshakeError::Input(InputError::Finished))
        );
        assert!(s.is_finished());

        let few = HandshakeLimits {
            max_head_size: 8192,
            max_headers: 6,
        };
        let e = ServerHandshake::new(few)
            .receive_data(valid("").as_bytes())
            .unwrap_err();
        assert_eq!(
            e,
            HandshakeError::Request(RequestError::Head(HeadError::TooManyHeaders { limit: 6 }))
        );
        assert!(answer(&e).starts_with("HTTP/1.1 431 "));
        let exact = HandshakeLimits {
            max_head_size: 8192,
            max_headers: 7,
        };
        assert!(ServerHandshake::new(exact)
            .receive_data(valid("").as_bytes())
            .unwrap()
            .is_some());
        let huge = HandshakeLimits {
            max_head_size: 8192,
            max_headers: usize::MAX,
        };
        assert!(ServerHandshake::new(huge)
            .receive_data(valid("").as_bytes())
            .unwrap()
            .is_some());
    }

    #[test]
    fn one_byte_at_a_time_with_leftover() {
        let head = valid("");
        let frame = [
            0x81,
            0x85,
            1,
            2,
            3,
            4,
            b'h' ^ 1,
            b'e' ^ 2,
            b'l' ^ 3,
            b'l' ^ 4,
            b'o' ^ 1,
        ];
        let mut bytes = head.clone().into_bytes();
        bytes.extend_from_slice(&frame);
        let whole = feed(&head).unwrap().unwrap();

        let mut s = ServerHandshake::default();
        for b in &bytes[..head.len() - 1] {
            assert_eq!(s.receive_data(std::slice::from_ref(b)).unwrap(), None);
        }
        let req = s.receive_data(&bytes[head.len() - 1..]).unwrap().unwrap();
        assert_eq!(req.leftover, frame);
        assert_eq!(
            Request {
                leftover: Vec::new(),
                ..req
            },
            whole
        );
        assert_eq!(
            s.receive_data(&[]),
            Err(HandshakeError::Input(InputError::Finished))
        );
    }

    #[test]
    fn malformed() {
        for raw in [
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "\u{1}\r\n\r\n",
            "\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
        ] {
            let e = err(raw);
            assert!(
                matches!(
                    e,
                    HandshakeError::Request(RequestError::Head(HeadError::Malformed(_)))
                ),
                "{raw:?}: {e:?}"
            );
            assert!(answer(&e).starts_with("HTTP/1.1 400 Bad Request\r\n"));
        }
    }

    #[test]
    fn error_response_format() {
        assert_eq!(
            error_response(400, "Bad Request", &[], ""),
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let r = String::from_utf8(error_response(
            403,
            "No\r\nX-Evil: 1",
            &[
                ("X-Ok", "1"),
                ("Bad Name", "x"),
                ("X-Inject", "a\r\nb"),
                ("content-length", "99"),
            ],
            "nope",
        ))
        .unwrap();
        assert_eq!(
            r,
            "HTTP/1.1 403 No  X-Evil: 1\r\nX-Ok: 1\r\nContent-Length: 4\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Connection: close\r\n\r\nnope"
        );
    }

    fn h2_parts() -> RequestParts {
        let mut headers = Headers::new();
        headers.push("sec-websocket-version", "13");
        headers.push("sec-websocket-protocol", "chat, superchat");
        headers.push("sec-websocket-extensions", "permessage-deflate");
        headers.push("origin", "https://example.com");
        RequestParts {
            method: "CONNECT".into(),
            version: HttpVersion::Http2,
            target: "/chat?x=1".into(),
            authority: Some("server.example.com:443".into()),
            protocol: Some("websocket".into()),
            headers,
        }
    }

    fn h1_parts() -> RequestParts {
        let mut headers = Headers::new();
        for (n, v) in [
            ("Host", "server.example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", KEY),
            ("Origin", "http://example.com"),
            ("Sec-WebSocket-Protocol", "chat, superchat"),
            ("Sec-WebSocket-Version", "13"),
        ] {
            headers.push(n, v);
        }
        RequestParts {
            method: "GET".into(),
            version: HttpVersion::Http11,
            target: "/chat?x=1".into(),
            authority: None,
            protocol: None,
            headers,
        }
    }

    fn without(mut parts: RequestParts, name: &str) -> RequestParts {
        let mut headers = Headers::new();
        for (n, v) in parts
            .headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        {
            headers.push(n, v);
        }
        parts.headers = headers;
        parts
    }

    #[test]
    fn parsed_http11_request_matches_the_byte_parser() {
        let from_parts = Request::from_parts(h1_parts()).unwrap();
        assert_eq!(from_parts, feed(&valid("")).unwrap().unwrap());
        assert_eq!(from_parts.upgrade, Upgrade::Http11 { key: KEY.into() });
        let answer = from_parts
            .answer(&Accept::default().protocol(Some("chat")))
            .unwrap();
        assert_eq!((answer.status, answer.reason), (101, "Switching Protocols"));
        assert!(answer
            .headers
            .contains(&("Sec-WebSocket-Accept".into(), accept_key(KEY))));
        let bytes = from_parts
            .accept(&Accept::default().protocol(Some("chat")))
            .unwrap();
        let mut expected = "HTTP/1.1 101 Switching Protocols\r\n".to_owned();
        for (n, v) in &answer.headers {
            expected += &format!("{n}: {v}\r\n");
        }
        expected += "\r\n";
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn parsed_http11_refusals() {
        let refuse = |parts: RequestParts| Request::from_parts(parts).unwrap_err();
        let mut post = h1_parts();
        post.method = "POST".into();
        assert_eq!(refuse(post), RequestError::BadMethod("POST".into()));
        let mut old = h1_parts();
        old.version = HttpVersion::Http10;
        assert_eq!(refuse(old), RequestError::BadHttpVersion);
        let mut other = h1_parts();
        other.version = HttpVersion::Other;
        assert_eq!(refuse(other), RequestError::BadHttpVersion);
        for name in ["Host", "Upgrade", "Connection", "Sec-WebSocket-Key"] {
            let e = refuse(without(h1_parts(), name));
            assert_eq!(
                e,
                RequestError::Head(HeadError::MissingHeader(name)),
                "{name}"
            );
            assert_eq!(e.answer().status, 400);
        }
        let e = refuse(without(h1_parts(), "Sec-WebSocket-Version"));
        assert_eq!(e, RequestError::UnsupportedWebSocketVersion(None));
        let mut bad_key = without(h1_parts(), "Sec-WebSocket-Key");
        bad_key.headers.push("Sec-WebSocket-Key", "c2hvcnQ=");
        assert_eq!(refuse(bad_key), RequestError::BadKey("c2hvcnQ=".into()));
    }

    #[test]
    fn parsed_http2_extended_connect() {
        let req = Request::from_parts(h2_parts()).unwrap();
        assert_eq!(req.upgrade, Upgrade::ExtendedConnect);
        assert_eq!(req.key(), None);
        assert_eq!(req.path, "/chat?x=1");
        assert_eq!(req.host, "server.example.com:443");
        assert_eq!(req.protocols, ["chat", "superchat"]);
        assert_eq!(req.origin.as_deref(), Some("https://example.com"));
        let params = req.choose_deflate(&DeflateConfig::default()).unwrap();
        let answer = req
            .answer(
                &Accept::default()
                    .protocol(Some("superchat"))
                    .deflate(Some(params))
                    .header("Server", "x"),
            )
            .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, "");
        let names: Vec<&str> = answer.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Sec-WebSocket-Protocol",
                "Sec-WebSocket-Extensions",
                "Server"
            ]
        );
        assert_eq!(answer.headers[1].1, "permessage-deflate");
        assert_eq!(
            req.answer(&Accept::default().protocol(Some("nope"))),
            Err(InputError::UnofferedProtocol("nope".into()))
        );
        assert_eq!(req.accept(&Accept::default()), Err(InputError::NotHttp11));

        // HTTP/3 (RFC 9220) works alike; the host may come from a Host header instead.
        let mut h3 = h2_parts();
        h3.version = HttpVersion::Http3;
        h3.authority = None;
        h3.headers.push("Host", "h3.example");
        let req = Request::from_parts(h3).unwrap();
        assert_eq!(req.host, "h3.example");
        // No key, Upgrade or Connection is needed; a stray key is not used.
        let mut keyed = h2_parts();
        keyed.headers.push("Sec-WebSocket-Key", "not checked");
        assert_eq!(
            Request::from_parts(keyed).unwrap().upgrade,
            Upgrade::ExtendedConnect
        );
    }

    #[test]
    fn parsed_http2_refusals() {
        let refuse = |parts: RequestParts| Request::from_parts(parts).unwrap_err();
        let mut get = h2_parts();
        get.method = "GET".into();
        let e = refuse(get);
        assert_eq!(e, RequestError::NotConnect("GET".into()));
        let a = e.answer();
        assert_eq!((a.status, a.reason), (405, "Method Not Allowed"));
        assert_eq!(a.headers, [("Allow".to_owned(), "CONNECT".to_owned())]);
        assert_eq!(a.body, format!("{e}\n"));

        let mut plain_connect = h2_parts();
        plain_connect.protocol = None;
        let e = refuse(plain_connect);
        assert_eq!(e, RequestError::BadProtocol(None));
        assert_eq!(e.answer().status, 400);
        let mut other = h2_parts();
        other.protocol = Some("webtransport".into());
        assert_eq!(
            refuse(other),
            RequestError::BadProtocol(Some("webtransport".into()))
        );

        let mut no_host = h2_parts();
        no_host.authority = Some(String::new());
        assert_eq!(
            refuse(no_host),
            RequestError::Head(HeadError::MissingHeader(":authority"))
        );

        let e = refuse(without(h2_parts(), "sec-websocket-version"));
        assert_eq!(e, RequestError::UnsupportedWebSocketVersion(None));
        let a = e.answer();
        assert_eq!(a.status, 426);
        assert!(a
            .headers
            .contains(&("Sec-WebSocket-Version".into(), "13".into())));
        let mut v8 = without(h2_parts(), "sec-websocket-version");
        v8.headers.push("Sec-WebSocket-Version", "8");
        assert_eq!(
            refuse(v8),
            RequestError::UnsupportedWebSocketVersion(Some("8".into()))
        );
    }

    #[test]
    fn error_answer_and_response_agree() {
        for e in [
            RequestError::BadMethod("POST".into()),
            RequestError::NotConnect("GET".into()),
            RequestError::UnsupportedWebSocketVersion(None),
            RequestError::Head(HeadError::TooLarge { limit: 1 }),
            RequestError::BadKey("x".into()),
        ] {
            let a = e.answer();
            let headers: Vec<(&str, &str)> = a
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            assert_eq!(
                e.response(),
                error_response(a.status, a.reason, &headers, &a.body)
            );
        }
    }
}
